//! What the mock's ASR actually did, served as `asr` inside `GET /mock/truth`.
//!
//! Every `*_us` field says which two instants it spans; "sent" means handed
//! to hyper (HTTP) or written to the WebSocket (WS), so a client sees it
//! later by at least the loopback time.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::RECENT_CAPACITY;

/// ASR counters and a bounded log of recent requests and sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AsrTruth {
    /// HTTP transcription requests received (both endpoints).
    pub requests: u64,
    /// HTTP requests answered 200.
    pub ok: u64,
    /// HTTP requests answered 400 (no file, empty audio, no model, bad field).
    pub bad_request: u64,
    /// HTTP requests answered 415 (audio neither WAV nor raw PCM16).
    pub unsupported_media: u64,
    /// HTTP requests answered 503 (ASR slots and queue full).
    pub rejected_503: u64,
    /// WebSocket upgrade requests received.
    pub ws_sessions: u64,
    /// WebSocket upgrades refused with 503 (no free ASR slot).
    pub ws_rejected_503: u64,
    /// WebSocket sessions that sent a final transcript.
    pub ws_finals: u64,
    /// WebSocket faults applied, by kind.
    pub faults: BTreeMap<AsrFaultKind, u64>,
    /// Most ASR requests open at once (HTTP queued or processing, plus WS sessions).
    pub max_in_flight: u64,
    /// ASR requests open now.
    pub in_flight_now: u64,
    /// Words in transcripts returned (HTTP 200 and WS finals).
    pub words: u64,
    /// Of those, words substituted by injected errors. `substituted / words`
    /// is the exact pooled WER of what the mock returned.
    pub substituted: u64,
    /// The last [`RECENT_CAPACITY`] finished HTTP requests, oldest first.
    pub recent: Vec<AsrRequestTruth>,
    /// The last [`RECENT_CAPACITY`] finished WebSocket sessions, oldest first.
    pub ws_recent: Vec<WsSessionTruth>,
}

/// Which HTTP endpoint a transcription request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsrEndpoint {
    /// `POST /v1/audio/transcriptions` (multipart).
    Multipart,
    /// `POST /v1/audio/transcriptions/raw` (audio body).
    Raw,
}

/// A WebSocket fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsrFaultKind {
    /// TCP connection dropped without a close frame.
    WsAbruptClose,
    /// Nothing ever sent.
    WsNeverAnswer,
    /// A 16 MiB + 1 byte message instead of the final transcript.
    WsHugeMessage,
}

/// One finished HTTP transcription request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsrRequestTruth {
    /// Also sent as the `x-mock-request-id` header.
    pub id: u64,
    /// Endpoint used.
    pub endpoint: AsrEndpoint,
    /// HTTP status returned.
    pub status: u16,
    /// Uploaded audio duration (frames / rate), 0 if it could not be decoded.
    pub audio_us: u64,
    /// Sample rate of the upload.
    pub sample_rate: u32,
    /// ASR requests open when this one was admitted, itself included.
    pub in_flight: u64,
    /// Substitution probability applied to each word.
    pub error_rate: f64,
    /// Words in the returned transcript.
    pub words: u64,
    /// Words substituted (so this request's WER is `substituted / words`).
    pub substituted: u64,
    /// Handler entry → admitted to an ASR slot.
    pub queue_wait_us: u64,
    /// Admitted → response sent: `overhead + audio / rtfx` plus stalls.
    pub processing_us: u64,
    /// Handler entry (headers parsed, before the upload was read) → response sent.
    pub first_result_us: u64,
}

/// How a WebSocket session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WsEnd {
    /// Final sent, then a normal close (1000).
    Final,
    /// The client closed (close frame or EOF) before a final.
    ClientClosed,
    /// The `ws_abrupt_close` fault dropped the connection.
    AbruptClose,
    /// A socket error.
    Error,
    /// The server shut down.
    Shutdown,
    /// `?close_code=` closed the session with that code instead of a final.
    Closed,
}

/// One finished WebSocket streaming session. Offsets are from the instants
/// named on each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WsSessionTruth {
    /// Session id (shares the id counter with HTTP requests).
    pub id: u64,
    /// Sample rate the audio was read at.
    pub sample_rate: u32,
    /// Audio messages received (binary or JSON `audio`).
    pub frames: u64,
    /// Audio received (samples / rate).
    pub audio_us: u64,
    /// Partial transcripts sent.
    pub partials: u64,
    /// First audio frame received → first partial sent.
    pub first_partial_us: Option<u64>,
    /// End-of-audio message received → final sent.
    pub final_us: Option<u64>,
    /// Largest gap between consecutive audio frame arrivals: the server's
    /// view of the client's pacing.
    pub max_frame_gap_us: u64,
    /// Words in the final transcript.
    pub words: u64,
    /// Words substituted in the final transcript.
    pub substituted: u64,
    /// Substitution probability applied to the final.
    pub error_rate: f64,
    /// The fault applied, if any.
    pub fault: Option<AsrFaultKind>,
    /// How the session ended.
    pub end: WsEnd,
    /// `?dialect=vllm`: the model named in `session.update`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Vendor dialects: the control messages received, in order
    /// (`KeepAlive`, `Finalize`, `CloseStream`, `Terminate`, `session.update`,
    /// `input_audio_buffer.commit`), so a test sees how the client ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    /// `?close_code=`: the code the session was closed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_code: Option<u16>,
}

/// Running counters behind [`AsrTruth`].
#[derive(Debug, Default)]
pub(crate) struct AsrTruthLog {
    pub(crate) t: AsrTruth,
    pub(crate) in_flight: u64,
    recent: VecDeque<AsrRequestTruth>,
    ws_recent: VecDeque<WsSessionTruth>,
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T) {
    if q.len() == RECENT_CAPACITY {
        q.pop_front();
    }
    q.push_back(item);
}

impl AsrTruthLog {
    pub(crate) fn enter(&mut self) {
        self.in_flight += 1;
        self.t.max_in_flight = self.t.max_in_flight.max(self.in_flight);
    }

    pub(crate) fn leave(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Record a finished HTTP request and count it by status.
    pub(crate) fn finish(&mut self, r: AsrRequestTruth) {
        match r.status {
            200 => {
                self.t.ok += 1;
                self.t.words += r.words;
                self.t.substituted += r.substituted;
            }
            400 => self.t.bad_request += 1,
            415 => self.t.unsupported_media += 1,
            503 => self.t.rejected_503 += 1,
            _ => {}
        }
        push_bounded(&mut self.recent, r);
    }

    /// Record a finished WebSocket session.
    pub(crate) fn finish_session(&mut self, s: WsSessionTruth) {
        if let Some(f) = s.fault {
            *self.t.faults.entry(f).or_default() += 1;
        }
        if s.final_us.is_some() {
            self.t.ws_finals += 1;
            self.t.words += s.words;
            self.t.substituted += s.substituted;
        }
        push_bounded(&mut self.ws_recent, s);
    }

    /// Clear counters; requests still open stay counted as in flight.
    pub(crate) fn reset(&mut self) {
        *self = AsrTruthLog {
            in_flight: self.in_flight,
            ..AsrTruthLog::default()
        };
        self.t.max_in_flight = self.in_flight;
    }

    pub(crate) fn snapshot(&self) -> AsrTruth {
        AsrTruth {
            in_flight_now: self.in_flight,
            recent: self.recent.iter().cloned().collect(),
            ws_recent: self.ws_recent.iter().cloned().collect(),
            ..self.t.clone()
        }
    }
}
