//! The TTS quality judge at run time: which requests are judged, and the
//! judge requests themselves, off the measured path.
//!
//! - Choice: a seeded draw per (stage, sequence number), so a rerun with
//!   the same `--seed` judges the same requests ([`Judge::chosen`]). Only
//!   chosen requests keep their audio bytes (the probe copies nothing for
//!   the others), and only successful ones with audio are handed over.
//! - Hand-over: a bounded queue ([`JudgePlan::queue`] samples). A full
//!   queue never blocks a TTS request: the sample is skipped and counted
//!   (`judge_skipped`).
//! - Judge requests run in tasks of their own, at most
//!   [`JudgePlan::concurrency`] at once, through the HTTP ASR adapter on a
//!   client of their own (so they never take the TTS requests' pooled
//!   connections). Their answers go to a [`JudgeSink`]: the stage's
//!   figures and `judge.jsonl`.

use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, Semaphore};

use super::executor::within;
use crate::audio::convert::{to_pcm16_mono, wav_file};
use crate::audio::AudioFormat;
use crate::config::judge::JudgePlan;
use crate::metrics::judge::{score, JudgeRecord};
use crate::protocol::http_asr::{content_type_of, HttpAsr};
use crate::protocol::target::TargetError;
use crate::protocol::{ErrorKind, HttpClient, Probe, ProtocolError};
use crate::units::micros;

/// Where the judge's bookkeeping and answers go (the run's sink).
pub trait JudgeSink: Send + Sync + 'static {
    /// A sample of `stage` entered the queue: that stage's end waits for it.
    fn judge_queued(&self, stage: usize);
    /// A sample of `stage` counted as queued did not fit: the queue was
    /// full. It is skipped, and no longer waited for.
    fn judge_skipped(&self, stage: usize);
    /// The judge answered, or failed, for a queued sample.
    fn judged(&self, record: JudgeRecord);
}

/// What a judged TTS request hands over once it has ended.
#[derive(Debug)]
pub struct Sample {
    /// Stage of the TTS request.
    pub stage: usize,
    /// Its sequence number in the stage.
    pub seq: u64,
    /// The text it sent: the reference.
    pub text: String,
    /// The audio it received, unwrapped (SSE/NDJSON/base64 removed).
    pub audio: Vec<u8>,
    /// That audio's format.
    pub format: AudioFormat,
}

/// One TTS scenario's judge: the choice of requests and the queue into
/// the task that runs judge requests.
pub struct Judge {
    share: f64,
    seed: u64,
    tx: mpsc::Sender<Sample>,
    sink: Arc<dyn JudgeSink>,
}

/// Mixed into the run seed so the judge's draws differ from the other
/// seeded choices of the same request (prefixes, scripts).
const SALT: u64 = 0x6a75_6467_655f_7474; // "judge_tt"

/// SplitMix64's finalizer: a fixed, well-mixed hash, so the choice is the
/// same in every voxload version (a library RNG's stream may change).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether request `seq` of stage `stage` is judged at `share` under `seed`.
pub fn chosen(seed: u64, share: f64, stage: usize, seq: u64) -> bool {
    if share >= 1.0 {
        return true;
    }
    let h = mix(mix(seed ^ SALT) ^ mix(((stage as u64) << 40) ^ seq));
    // The top 53 bits as a uniform draw in [0, 1).
    ((h >> 11) as f64 / (1u64 << 53) as f64) < share
}

impl Judge {
    /// Start the judge of a scenario: its task that runs judge requests
    /// (spawned on the current runtime, ending when the judge is dropped
    /// and its queue drained). `seed` is the scenario's seed.
    pub fn start(
        plan: &JudgePlan,
        seed: u64,
        tag: Option<Arc<str>>,
        sink: Arc<dyn JudgeSink>,
        client: HttpClient,
    ) -> Result<Self, TargetError> {
        let asr = HttpAsr::new(plan.target.clone(), client)?;
        let (tx, rx) = mpsc::channel(plan.queue.max(1));
        let run = Runner {
            asr,
            plan: plan.clone(),
            tag,
            sink: Arc::downgrade(&sink),
        };
        tokio::spawn(run.serve(rx));
        Ok(Self {
            share: plan.share,
            seed,
            tx,
            sink,
        })
    }

    /// Whether arrival `seq` of `stage` is judged (its audio kept).
    pub fn chosen(&self, stage: usize, seq: u64) -> bool {
        chosen(self.seed, self.share, stage, seq)
    }

    /// Hand a judged request's audio over, without waiting: a full queue
    /// skips it (counted).
    pub fn submit(&self, sample: Sample) {
        let stage = sample.stage;
        // Counted before it can be answered, so the stage's end waits for it.
        self.sink.judge_queued(stage);
        if self.tx.try_send(sample).is_err() {
            // Full (or the run is ending): not judged, and not waited for.
            self.sink.judge_skipped(stage);
        }
    }
}

/// The task behind a [`Judge`].
struct Runner {
    asr: HttpAsr,
    plan: JudgePlan,
    /// The scenario's name in a run of several (every record carries it).
    tag: Option<Arc<str>>,
    /// Weak: the run's sink must be free to close once the run is over,
    /// whatever judge request is still out (its answer is then dropped).
    sink: Weak<dyn JudgeSink>,
}

impl Runner {
    /// Take samples off the queue, at most `concurrency` judge requests at once.
    async fn serve(self, mut rx: mpsc::Receiver<Sample>) {
        let slots = Arc::new(Semaphore::new(self.plan.concurrency.max(1)));
        let me = Arc::new(self);
        while let Some(sample) = rx.recv().await {
            // A closed semaphore cannot happen (never closed); stop if it does.
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let me = me.clone();
            tokio::spawn(async move {
                let mut record = me.judge(sample).await;
                record.scenario.clone_from(&me.tag);
                if let Some(sink) = me.sink.upgrade() {
                    sink.judged(record);
                }
                drop(permit);
            });
        }
    }

    /// Send one sample's audio to the judge and score its answer.
    async fn judge(&self, s: Sample) -> JudgeRecord {
        let key = (s.stage, s.seq);
        let (bytes, name, mime) = match upload_audio(s.audio, s.format) {
            Ok(u) => u,
            Err(e) => return score(key, &s.text, Err(&e), &self.plan.normalization, None),
        };
        let upload = self.asr.prepare(&bytes, name, &mime, None);
        drop(bytes);
        let mut probe = Probe::new();
        let call = within(
            self.plan.timeout,
            "judge answer",
            self.asr.execute(&upload, &mut probe),
        )
        .await;
        let latency = probe
            .sent_at
            .zip(probe.finished_at)
            .map(|(sent, done)| micros(done.saturating_duration_since(sent)));
        let answer = call.as_ref().map(|t| t.text.as_str());
        score(key, &s.text, answer, &self.plan.normalization, latency)
    }
}

/// The file a judge request uploads: WAV as it came (and compressed
/// formats with their MIME type); raw PCM wrapped in a WAV header (mixed
/// down to mono if need be), since transcription APIs take files.
fn upload_audio(
    audio: Vec<u8>,
    format: AudioFormat,
) -> Result<(Vec<u8>, &'static str, String), ProtocolError> {
    let decode = |e: crate::audio::AudioError| ProtocolError::new(ErrorKind::Decode, e.to_string());
    Ok(match format {
        AudioFormat::Pcm {
            sample_rate,
            channels,
        } => {
            let pcm = if channels == 1 {
                audio
            } else {
                to_pcm16_mono(&audio, Some(format), sample_rate).map_err(decode)?
            };
            (
                wav_file(&pcm, sample_rate),
                "speech.wav",
                "audio/wav".into(),
            )
        }
        AudioFormat::Wav => (audio, "speech.wav", "audio/wav".into()),
        AudioFormat::Mp3 => (audio, "speech.mp3", content_type_of(&format)),
        AudioFormat::Opus => (audio, "speech.ogg", content_type_of(&format)),
        AudioFormat::Flac => (audio, "speech.flac", content_type_of(&format)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_is_seeded_and_near_the_share() {
        let pick = |seed| -> Vec<u64> { (0..2000).filter(|&q| chosen(seed, 0.2, 1, q)).collect() };
        let a = pick(7);
        assert_eq!(a, pick(7), "same seed, same requests");
        assert_ne!(a, pick(8), "another seed, others");
        // 2000 draws at 0.2: 400 ± 4.5 σ (σ ≈ 17.9).
        assert!((320..=480).contains(&a.len()), "{}", a.len());
        assert!((0..100).all(|q| chosen(3, 1.0, 0, q)));
        // Stages draw apart.
        let other: Vec<u64> = (0..2000).filter(|&q| chosen(7, 0.2, 2, q)).collect();
        assert_ne!(a, other);
    }

    #[test]
    fn pcm_is_uploaded_as_wav_and_wav_as_it_is() {
        let pcm = vec![0u8, 1, 2, 3];
        let fmt = AudioFormat::Pcm {
            sample_rate: 24_000,
            channels: 1,
        };
        let (wav, name, mime) = upload_audio(pcm.clone(), fmt).expect("pcm");
        assert_eq!((name, mime.as_str()), ("speech.wav", "audio/wav"));
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(&wav[44..], &pcm[..]);
        let (same, _, _) = upload_audio(wav.clone(), AudioFormat::Wav).expect("wav");
        assert_eq!(same, wav);
    }
}
