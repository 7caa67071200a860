//! TTS arrivals: which text and voice an arrival sends, and its probe
//! measured into a record.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::executor::{within, Done, FirstWarning};
use super::judge::{Judge, Sample};
use crate::config::tts::TtsInputs;
use crate::metrics::defs::measure;
use crate::protocol::http_tts::{HttpTts, TtsJob};
use crate::protocol::ws_tts::{TextTimes, WsTts};
use crate::protocol::{OwnedConn, Probe};
use crate::workload::{Arrival, StageSpec};

/// Bodies are built up front when there are at most this many (text, voice) pairs.
const MAX_PREBUILT_BODIES: usize = 100_000;

/// What a TTS scenario's arrivals send.
pub struct TtsJobs {
    inputs: TtsInputs,
    seed: u64,
    /// JSON bodies per (text, voice) with the text's character count, built
    /// once: without random prefixes the same pair always encodes the same.
    bodies: Vec<(Bytes, usize)>,
    /// One connection per closed-loop user (index = user), so requests skip
    /// the pool; open-loop arrivals use the pool.
    conns: Vec<Mutex<OwnedConn>>,
    /// The voices as shared strings, so a record's label is a reference
    /// count, not a copy.
    voice_labels: Vec<Arc<str>>,
    /// The quality judge (`--judge-asr`), if any.
    judge: Option<Judge>,
    /// A server that declared a sample rate other than the configured one.
    rate_warning: FirstWarning,
}

impl TtsJobs {
    /// Prepare `inputs` for `adapter`; `stages` size the per-user
    /// connections, `seed` the random prefixes.
    pub fn new(adapter: &HttpTts, inputs: TtsInputs, stages: &[StageSpec], seed: u64) -> Self {
        let pairs = inputs.texts.len() * inputs.voices.len();
        let bodies = if inputs.random_prefix || pairs > MAX_PREBUILT_BODIES {
            Vec::new()
        } else {
            inputs
                .texts
                .iter()
                .flat_map(|text| {
                    let chars = text.chars().count();
                    inputs
                        .voices
                        .iter()
                        .map(|voice| (adapter.body(&TtsJob { text, voice }), chars))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let users = stages
            .iter()
            .filter_map(StageSpec::active_users)
            .max()
            .unwrap_or(0);
        Self {
            bodies,
            conns: (0..users)
                .map(|_| Mutex::new(OwnedConn::default()))
                .collect(),
            ..Self::for_ws(inputs, seed)
        }
    }

    /// Prepare `inputs` for a WebSocket target: no prebuilt bodies and no
    /// per-user HTTP connections (each request opens its own socket).
    pub fn for_ws(inputs: TtsInputs, seed: u64) -> Self {
        let voice_labels = inputs
            .voices
            .iter()
            .map(|v| Arc::from(v.as_str()))
            .collect();
        Self {
            inputs,
            seed,
            bodies: Vec::new(),
            voice_labels,
            conns: Vec::new(),
            judge: None,
            rate_warning: FirstWarning::default(),
        }
    }

    /// What the end of the run must say (a mismatched declared rate).
    pub fn warnings(&self) -> Vec<String> {
        self.rate_warning.get()
    }

    /// Hand the audio of a share of the requests to `judge`.
    pub fn with_judge(mut self, judge: Option<Judge>) -> Self {
        self.judge = judge;
        self
    }

    /// Text and voice indices for an arrival: samples in order, so each
    /// stage sees the same mix; voices round-robin.
    fn pick(&self, a: &Arrival) -> (usize, usize) {
        let seq = a.seq as usize;
        (
            seq % self.inputs.texts.len().max(1),
            seq % self.inputs.voices.len().max(1),
        )
    }

    /// The text with random words in front that defeat caches, seeded per
    /// request so a rerun with the same seed sends the same texts.
    fn prefixed(&self, a: &Arrival, base: &str) -> String {
        let seed = self.seed ^ ((a.stage as u64) << 48) ^ a.seq;
        let mut rng = SmallRng::seed_from_u64(seed);
        format!("{}{base}", crate::input::random_prefix(&mut rng))
    }

    /// Send arrival `a`'s text over a WebSocket and measure the answer
    /// with the same definitions as HTTP TTS, plus the text-stream clocks.
    pub async fn speak_ws(&self, adapter: &WsTts, a: &Arrival) -> Done {
        let (ti, vi) = self.pick(a);
        let voice = &self.inputs.voices[vi];
        let base = &self.inputs.texts[ti];
        let text = if self.inputs.random_prefix {
            self.prefixed(a, base)
        } else {
            base.clone()
        };
        let mut probe = Probe::new();
        let mut times = TextTimes::default();
        // Text deadlines count from the scheduled start (open loop) or now.
        let start = a.intended_at.unwrap_or_else(Instant::now);
        let job = TtsJob { text: &text, voice };
        let send = adapter.execute(&job, start, &mut probe, &mut times);
        let result = within(self.inputs.timeout, "response", send).await;
        let end = Instant::now();
        let origin = a.intended_at.or(probe.sent_at).unwrap_or(end);
        let mut record = measure(
            origin,
            a.intended_at,
            &probe,
            result.err().as_ref(),
            text.chars().count() as u32,
            &self.inputs.measure,
        );
        crate::metrics::defs_tts_ws::text_clocks(&mut record, &probe, &times);
        (self.rate_warning).note(|| probe.rate_warning(adapter.target().format));
        record.voice = self.voice_labels.get(vi).cloned();
        Done {
            record,
            origin,
            end,
        }
    }

    /// Send arrival `a`'s text and measure the answer.
    pub async fn speak(&self, adapter: &HttpTts, a: &Arrival) -> Done {
        let (ti, vi) = self.pick(a);
        let voice = &self.inputs.voices[vi];
        let base = &self.inputs.texts[ti];
        let (body, chars, built) = match self.bodies.get(ti * self.inputs.voices.len() + vi) {
            Some((body, chars)) => (body.clone(), *chars, None),
            None => {
                let text = if self.inputs.random_prefix {
                    self.prefixed(a, base)
                } else {
                    base.clone()
                };
                let body = adapter.body(&TtsJob { text: &text, voice });
                (body, text.chars().count(), Some(text))
            }
        };
        // Only a request to be judged keeps its audio bytes.
        let judge = (self.judge.as_ref()).filter(|j| !a.warmup && j.chosen(a.stage, a.seq));
        let built = built.filter(|_| judge.is_some());
        let mut probe = match judge {
            Some(_) => Probe::keeping_audio(),
            None => Probe::new(),
        };
        // Take the user's connection out for the request (each user is
        // sequential, so the lock is never contended) and put it back after.
        let slot = a.user.and_then(|u| self.conns.get(u));
        let mut conn =
            slot.map(|m| std::mem::take(&mut *m.lock().unwrap_or_else(|p| p.into_inner())));
        let send = adapter.send(body, conn.as_mut(), &mut probe);
        let result = within(self.inputs.timeout, "response", send).await;
        if let (Some(slot), Some(mut conn)) = (slot, conn) {
            if result.is_err() {
                // A timeout or error may leave a response half read.
                conn.reset();
            }
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = conn;
        }
        let end = Instant::now();
        let origin = a.intended_at.or(probe.sent_at).unwrap_or(end);
        let mut record = measure(
            origin,
            a.intended_at,
            &probe,
            result.err().as_ref(),
            chars as u32,
            &self.inputs.measure,
        );
        record.voice = self.voice_labels.get(vi).cloned();
        let format = adapter.target().format;
        (self.rate_warning).note(|| probe.rate_warning(format));
        if let Some(judge) = judge {
            let audio = probe.kept_audio.take().filter(|b| !b.is_empty());
            if let Some(audio) = audio.filter(|_| record.ok() && record.audio_us > Some(0)) {
                judge.submit(Sample {
                    stage: a.stage,
                    seq: a.seq,
                    text: built.unwrap_or_else(|| base.clone()),
                    audio,
                    format: probe.measured_format(format),
                });
            }
        }
        Done {
            record,
            origin,
            end,
        }
    }
}
