//! The ASR executor: one arrival → an audio file → HTTP upload or streaming
//! session → measured record with WER.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audio::convert::{to_pcm16_mono, wav_file};
use crate::audio::{AudioError, AudioFormat};
use crate::config::asr::{AsrEndpoint, AsrPlan, Convert};
use crate::input::AudioItem;
use crate::metrics::defs_asr::{measure_http, measure_stream, AsrOutcome};
use crate::metrics::RequestRecord;
use crate::protocol::http_asr::{content_type_of, HttpAsr, PreparedUpload};
use crate::protocol::ws_asr::{self, StreamTimes, WsAsrTarget};
use crate::protocol::ws_pacer::Pacer;
use crate::protocol::{ErrorKind, HttpClient, Probe, ProtocolError};
use crate::workload::driver::cancelled_record;
use crate::workload::{Arrival, Executor};

/// Why inputs could not be prepared for sending.
#[derive(Debug, thiserror::Error)]
#[error("cannot convert {path}: {source}")]
pub struct PrepareError {
    /// The input file.
    pub path: String,
    /// What the decoder said.
    pub source: AudioError,
}

/// The adapter with what it sends for each input file, prepared once.
enum Sender {
    Http {
        http: HttpAsr,
        uploads: Vec<PreparedUpload>,
    },
    Ws {
        target: WsAsrTarget,
        pcm: Vec<bytes::Bytes>,
        /// Times and writes every session's frames (threads for the run).
        pacer: Pacer,
    },
}

/// Executes ASR requests for one run.
pub struct AsrExecutor {
    plan: Arc<AsrPlan>,
    sender: Sender,
    /// Audio duration actually sent, per input.
    sent_audio: Vec<Duration>,
    run_start: Instant,
}

fn pcm_duration(bytes: usize, rate: u32) -> Duration {
    Duration::from_nanos((bytes as u64 / 2) * 1_000_000_000 / u64::from(rate.max(1)))
}

impl AsrExecutor {
    /// Prepare every input (conversion, multipart bodies) before the run, so
    /// the load loop only sends.
    pub fn new(
        plan: Arc<AsrPlan>,
        client: HttpClient,
        run_start: Instant,
    ) -> Result<Self, super::RunError> {
        let mut sent_audio = Vec::with_capacity(plan.audio.len());
        let sender = match &plan.endpoint {
            AsrEndpoint::Ws(target) => {
                let mut pcm = Vec::with_capacity(plan.audio.len());
                for item in plan.audio.items() {
                    let bytes = to_pcm16_mono(&item.bytes, Some(item.format), target.sample_rate)
                        .map_err(|source| prepare_error(item, source))?;
                    sent_audio.push(pcm_duration(bytes.len(), target.sample_rate));
                    pcm.push(bytes::Bytes::from(bytes));
                }
                Sender::Ws {
                    target: target.clone(),
                    pcm,
                    pacer: Pacer::new(),
                }
            }
            AsrEndpoint::Http(target) => {
                let http = HttpAsr::new(target.clone(), client)?;
                let mut uploads = Vec::with_capacity(plan.audio.len());
                for item in plan.audio.items() {
                    let (bytes, mime, duration) = converted(item, plan.convert)
                        .map_err(|source| prepare_error(item, source))?;
                    let filename = item
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_else(|| "audio".into());
                    let language = item.language.as_deref().or(plan.language.as_deref());
                    sent_audio.push(duration);
                    uploads.push(http.prepare(&bytes, &filename, &mime, language));
                }
                Sender::Http { http, uploads }
            }
        };
        Ok(Self {
            plan,
            sender,
            sent_audio,
            run_start,
        })
    }

    fn since_start_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.run_start).as_micros() as u64
    }
}

fn prepare_error(item: &AudioItem, source: AudioError) -> PrepareError {
    PrepareError {
        path: item.path.display().to_string(),
        source,
    }
}

/// The bytes, MIME type and duration an HTTP upload of `item` sends.
fn converted(
    item: &AudioItem,
    convert: Convert,
) -> Result<(Vec<u8>, String, Duration), AudioError> {
    Ok(match convert {
        Convert::None => (
            item.bytes.to_vec(),
            content_type_of(&item.format),
            item.duration,
        ),
        Convert::Wav { rate } => {
            let pcm = to_pcm16_mono(&item.bytes, Some(item.format), rate)?;
            let d = pcm_duration(pcm.len(), rate);
            (wav_file(&pcm, rate), "audio/wav".to_string(), d)
        }
        Convert::Pcm { rate } => {
            let pcm = to_pcm16_mono(&item.bytes, Some(item.format), rate)?;
            let d = pcm_duration(pcm.len(), rate);
            let fmt = AudioFormat::Pcm {
                sample_rate: rate,
                channels: 1,
            };
            (pcm, content_type_of(&fmt), d)
        }
    })
}

/// A timed adapter call as (failure, transcript).
fn split(
    result: Result<Result<String, ProtocolError>, tokio::time::error::Elapsed>,
    limit: Duration,
) -> (Option<ProtocolError>, Option<String>) {
    match result {
        Ok(Ok(text)) => (None, Some(text)),
        Ok(Err(e)) => (Some(e), None),
        Err(_) => (Some(timed_out(limit)), None),
    }
}

fn timed_out(limit: Duration) -> ProtocolError {
    ProtocolError::new(
        ErrorKind::Timeout,
        format!(
            "no complete answer within {}",
            humantime::format_duration(limit)
        ),
    )
}

impl Executor for AsrExecutor {
    async fn execute(&self, a: Arrival) -> RequestRecord {
        let items = self.plan.audio.items();
        let i = (a.seq as usize) % items.len().max(1);
        let item = &items[i];
        let language = item.language.as_deref().or(self.plan.language.as_deref());
        let started = Instant::now();
        let outcome = |origin, failure, transcript| AsrOutcome {
            origin,
            scheduled: a.intended_at,
            failure,
            audio: self.sent_audio[i],
            transcript,
            reference: item.reference.as_deref(),
            normalization: &self.plan.normalization,
        };
        let mut record = match &self.sender {
            Sender::Http { http, uploads } => {
                let mut probe = Probe::new();
                let result =
                    tokio::time::timeout(self.plan.timeout, http.execute(&uploads[i], &mut probe))
                        .await;
                let (failure, text) = split(result.map(|r| r.map(|t| t.text)), self.plan.timeout);
                let origin = a.intended_at.or(probe.sent_at).unwrap_or(started);
                let mut r =
                    measure_http(&outcome(origin, failure.as_ref(), text.as_deref()), &probe);
                r.start_us = self.since_start_us(origin);
                r
            }
            Sender::Ws { target, pcm, pacer } => {
                let mut times = StreamTimes::default();
                let session = ws_asr::execute(target, pacer, &pcm[i], language, &mut times);
                let result = tokio::time::timeout(self.plan.timeout, session).await;
                let (failure, text) = split(result, self.plan.timeout);
                let origin = a.intended_at.unwrap_or(started);
                let o = outcome(origin, failure.as_ref(), text.as_deref());
                let mut r = measure_stream(&o, Some(started), &times);
                r.start_us = self.since_start_us(origin);
                r
            }
        };
        record.stage = a.stage;
        record.seq = a.seq;
        record.warmup = a.warmup;
        record.input = item
            .path
            .file_name()
            .map(|n| n.to_string_lossy().to_string());
        record.end_us = self.since_start_us(Instant::now());
        record
    }

    fn cancelled(&self, a: Arrival, started: Instant) -> RequestRecord {
        cancelled_record(
            a,
            self.since_start_us(started),
            self.since_start_us(Instant::now()),
        )
    }
}
