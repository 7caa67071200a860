//! What the mock actually did: counters and a bounded log of recent requests.
//!
//! Load-generator measurements are asserted against these numbers, so every
//! field says exactly which instant it was taken at.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{AgentTruth, AsrTruth, MockModel};

/// How many finished requests `recent` keeps.
pub const RECENT_CAPACITY: usize = 10_000;

/// An injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// HTTP 500.
    #[serde(rename = "error_5xx")]
    Error5xx,
    /// HTTP 429 with `Retry-After`.
    #[serde(rename = "error_429")]
    Error429,
    /// Connection aborted mid-body.
    Reset,
    /// Pause mid-stream.
    Stall,
    /// Body ends early but cleanly.
    Truncate,
    /// A response head over 64 KiB.
    OversizedHead,
    /// A first chunk size line that is not hex.
    BadChunk,
}

impl FaultKind {
    /// The name used in JSON and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Error5xx => "error_5xx",
            FaultKind::Error429 => "error_429",
            FaultKind::Reset => "reset",
            FaultKind::Stall => "stall",
            FaultKind::Truncate => "truncate",
            FaultKind::OversizedHead => "oversized_head",
            FaultKind::BadChunk => "bad_chunk",
        }
    }

    /// Whether a 200 with this fault is no usable response (not counted in
    /// [`Truth::ok`]).
    pub fn spoils_response(self) -> bool {
        matches!(
            self,
            FaultKind::Reset | FaultKind::OversizedHead | FaultKind::BadChunk
        )
    }
}

/// The mock's ground truth, as served by `GET /mock/truth`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    /// The model the server runs.
    pub model: MockModel,
    /// Time since the server started.
    pub uptime_us: u64,
    /// Speech requests received (every `POST /v1/audio/speech`).
    pub requests: u64,
    /// Requests answered 200 whose body was fully handed over (including
    /// `stall` and `truncate` faults, which are HTTP-level successes; not
    /// `reset`, `oversized_head` or `bad_chunk`).
    pub ok: u64,
    /// Requests answered 400.
    pub bad_request: u64,
    /// Requests answered 503 because slots and queue were full.
    pub rejected_503: u64,
    /// Requests whose client went away before the body was finished.
    pub client_aborted: u64,
    /// Faults applied, by kind.
    pub faults: BTreeMap<FaultKind, u64>,
    /// Most speech requests open at once, counting queued ones (not 400/429).
    pub max_in_flight: u64,
    /// Speech requests open now, counting queued ones.
    pub in_flight_now: u64,
    /// `GET /metrics` answers served.
    #[serde(default)]
    pub metrics_served: u64,
    /// The last [`RECENT_CAPACITY`] finished requests, oldest first.
    pub recent: Vec<RequestTruth>,
    /// Transcription (HTTP and WebSocket) truth; the fields above are TTS only.
    #[serde(default)]
    pub asr: AsrTruth,
    /// Voice-agent (`/v1/agent`) truth.
    #[serde(default)]
    pub agent: AgentTruth,
    /// WebSocket TTS sessions (ElevenLabs, Cartesia, Deepgram dialects), oldest first.
    #[serde(default)]
    pub tts_ws: Vec<super::ws_tts_truth::WsTtsTruth>,
}

/// One finished speech request. Offsets (`*_us`) are microseconds from the
/// moment the handler got the request (headers parsed, before the JSON body
/// was read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestTruth {
    /// Also sent as the `x-mock-request-id` header.
    pub id: u64,
    /// HTTP status returned.
    pub status: u16,
    /// Input characters (Unicode scalar values).
    pub chars: usize,
    /// Audio samples sent (also `x-mock-audio-samples`); less than
    /// `intended_samples` under `truncate` and `reset`.
    pub audio_samples: usize,
    /// Samples the text implies (leading silence included).
    pub intended_samples: usize,
    /// Sample rate of the audio.
    pub sample_rate: u32,
    /// Body frames that carried audio (also `x-mock-chunks`); 1 for a buffered server.
    pub chunks: usize,
    /// Time waiting for a synthesis slot.
    pub queue_wait_us: u64,
    /// Cold-start delay paid.
    pub cold_start_us: u64,
    /// When the first audio frame was handed to the response body channel.
    /// The client sees it later by at least the loopback and parsing time.
    pub first_audio_us: Option<u64>,
    /// When the last audio frame was handed to the body channel.
    pub last_audio_us: Option<u64>,
    /// Pause added by the `stall` fault plus global stall windows.
    pub stall_us: u64,
    /// The fault applied, if any.
    pub fault: Option<FaultKind>,
    /// The client closed the connection before the body was finished.
    pub client_aborted: bool,
}

/// Running counters behind [`Truth`].
#[derive(Debug, Default)]
pub(crate) struct TruthLog {
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) bad_request: u64,
    pub(crate) rejected_503: u64,
    pub(crate) client_aborted: u64,
    pub(crate) faults: BTreeMap<FaultKind, u64>,
    pub(crate) max_in_flight: u64,
    pub(crate) in_flight: u64,
    pub(crate) metrics_served: u64,
    recent: VecDeque<RequestTruth>,
}

impl TruthLog {
    /// One more open speech request.
    pub(crate) fn enter(&mut self) {
        self.in_flight += 1;
        self.max_in_flight = self.max_in_flight.max(self.in_flight);
    }

    /// One open speech request fewer.
    pub(crate) fn leave(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Record a finished request (any status) and count it by outcome.
    pub(crate) fn finish(&mut self, r: RequestTruth) {
        if let Some(kind) = r.fault {
            *self.faults.entry(kind).or_default() += 1;
        }
        match r.status {
            _ if r.client_aborted => self.client_aborted += 1,
            200 if !r.fault.is_some_and(FaultKind::spoils_response) => self.ok += 1,
            400 => self.bad_request += 1,
            503 => self.rejected_503 += 1,
            _ => {}
        }
        if self.recent.len() == RECENT_CAPACITY {
            self.recent.pop_front();
        }
        self.recent.push_back(r);
    }

    /// Clear counters; requests still open stay counted as in flight.
    pub(crate) fn reset(&mut self) {
        *self = TruthLog {
            in_flight: self.in_flight,
            max_in_flight: self.in_flight,
            ..TruthLog::default()
        };
    }

    /// A snapshot.
    pub(crate) fn snapshot(&self, model: &MockModel, uptime_us: u64) -> Truth {
        Truth {
            model: model.clone(),
            uptime_us,
            requests: self.requests,
            ok: self.ok,
            bad_request: self.bad_request,
            rejected_503: self.rejected_503,
            client_aborted: self.client_aborted,
            faults: self.faults.clone(),
            max_in_flight: self.max_in_flight,
            in_flight_now: self.in_flight,
            metrics_served: self.metrics_served,
            recent: self.recent.iter().cloned().collect(),
            asr: AsrTruth::default(),
            agent: AgentTruth::default(),
            tts_ws: Vec::new(),
        }
    }
}
