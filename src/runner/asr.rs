//! ASR arrivals: which audio file an arrival sends, as an HTTP upload or
//! a real-time stream, and the answer measured into a record with WER.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::executor::{within, Done};
use crate::audio::convert::{to_pcm16_mono, wav_file};
use crate::audio::{AudioError, AudioFormat};
use crate::config::asr::{AsrInputs, Convert};
use crate::input::AudioItem;
use crate::metrics::defs_asr::{measure_http, measure_stream, AsrOutcome};
use crate::metrics::RequestRecord;
use crate::protocol::http_asr::{content_type_of, HttpAsr, PreparedUpload};
use crate::protocol::ws_asr::{StreamTimes, WsAsr};
use crate::protocol::{Probe, ProtocolError};
use crate::workload::Arrival;

/// Why inputs could not be prepared for sending.
#[derive(Debug, thiserror::Error)]
#[error("cannot convert {path}: {source}")]
pub struct PrepareError {
    /// The input file.
    pub path: String,
    /// What the decoder said.
    pub source: AudioError,
}

/// What an ASR scenario's arrivals send: per input, a payload `P` (an
/// upload body for HTTP, PCM for streams), prepared once.
pub struct AsrJobs<P> {
    inputs: AsrInputs,
    payloads: Vec<P>,
    /// Audio duration actually sent, per input.
    sent_audio: Vec<Duration>,
}

fn pcm_duration(bytes: usize, rate: u32) -> Duration {
    Duration::from_nanos((bytes as u64 / 2) * 1_000_000_000 / u64::from(rate.max(1)))
}

impl<P> AsrJobs<P> {
    /// The input arrival `a` sends: files in order, so each stage sees the same mix.
    fn pick(&self, a: &Arrival) -> (usize, &AudioItem) {
        let items = self.inputs.audio.items();
        let i = (a.seq as usize) % items.len().max(1);
        (i, &items[i])
    }

    fn outcome<'a>(
        &'a self,
        a: &Arrival,
        i: usize,
        origin: Instant,
        failure: Option<&'a ProtocolError>,
        transcript: Option<&'a str>,
    ) -> AsrOutcome<'a> {
        AsrOutcome {
            origin,
            scheduled: a.intended_at,
            failure,
            audio: self.sent_audio[i],
            transcript,
            reference: self.inputs.audio.items()[i].reference.as_deref(),
            normalization: &self.inputs.normalization,
        }
    }

    /// Split a timed call into (failure, transcript).
    fn split(result: Result<String, ProtocolError>) -> (Option<ProtocolError>, Option<String>) {
        match result {
            Ok(text) => (None, Some(text)),
            Err(e) => (Some(e), None),
        }
    }
}

fn done(mut record: RequestRecord, item: &AudioItem, origin: Instant) -> Done {
    record.input = item
        .path
        .file_name()
        .map(|n| n.to_string_lossy().to_string());
    Done {
        record,
        origin,
        end: Instant::now(),
    }
}

impl AsrJobs<PreparedUpload> {
    /// Prepare every input (conversion, multipart bodies) for `http`
    /// before the run, so the load loop only sends.
    pub fn uploads(inputs: AsrInputs, http: &HttpAsr) -> Result<Self, PrepareError> {
        let items = inputs.audio.items();
        let mut sent_audio = Vec::with_capacity(items.len());
        let mut payloads = Vec::with_capacity(items.len());
        for item in items {
            let (bytes, mime, duration) =
                converted(item, inputs.convert).map_err(|source| prepare_error(item, source))?;
            let filename = item
                .path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "audio".into());
            let language = item.language.as_deref().or(inputs.language.as_deref());
            sent_audio.push(duration);
            payloads.push(http.prepare(&bytes, &filename, &mime, language));
        }
        Ok(Self {
            inputs,
            payloads,
            sent_audio,
        })
    }

    /// Upload arrival `a`'s file and measure the answer.
    pub async fn upload(&self, http: &HttpAsr, a: &Arrival) -> Done {
        let (i, item) = self.pick(a);
        let started = Instant::now();
        let mut probe = Probe::new();
        let call = async {
            http.execute(&self.payloads[i], &mut probe)
                .await
                .map(|t| t.text)
        };
        let (failure, text) = Self::split(within(self.inputs.timeout, "answer", call).await);
        let origin = a.intended_at.or(probe.sent_at).unwrap_or(started);
        let o = self.outcome(a, i, origin, failure.as_ref(), text.as_deref());
        done(measure_http(&o, &probe), item, origin)
    }
}

impl AsrJobs<Bytes> {
    /// Convert every input to the stream's audio (rate, then codec) before the run.
    pub fn pcm(inputs: AsrInputs, ws: &WsAsr) -> Result<Self, PrepareError> {
        let rate = ws.target().sample_rate;
        let items = inputs.audio.items();
        let mut sent_audio = Vec::with_capacity(items.len());
        let mut payloads = Vec::with_capacity(items.len());
        for item in items {
            let bytes = to_pcm16_mono(&item.bytes, Some(item.format), rate)
                .map_err(|source| prepare_error(item, source))?;
            sent_audio.push(pcm_duration(bytes.len(), rate));
            payloads.push(Bytes::from(ws.target().codec.encode(&bytes)));
        }
        Ok(Self {
            inputs,
            payloads,
            sent_audio,
        })
    }

    /// Stream arrival `a`'s file in real time and measure the answer.
    pub async fn stream(&self, ws: &WsAsr, a: &Arrival) -> Done {
        let (i, item) = self.pick(a);
        let started = Instant::now();
        let language = item.language.as_deref().or(self.inputs.language.as_deref());
        let mut times = StreamTimes::default();
        let session = ws.execute(&self.payloads[i], language, &mut times);
        let (failure, text) = Self::split(within(self.inputs.timeout, "answer", session).await);
        let origin = a.intended_at.unwrap_or(started);
        let o = self.outcome(a, i, origin, failure.as_ref(), text.as_deref());
        done(measure_stream(&o, Some(started), &times), item, origin)
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
