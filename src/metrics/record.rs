//! One finished request, as written to `requests.jsonl` and fed to stage statistics.

use serde::{Deserialize, Serialize};

use crate::audio::rate::RateSource;
use crate::protocol::ErrorKind;

/// Every measured number of one request. A metric the request never reached
/// (e.g. chunk 4 of a 3-chunk response) is `None` — never zero.
///
/// Durations are whole microseconds (`_us`), measured from the request's time
/// origin: the *scheduled* start in open loop, the actual send in closed loop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Stage index (0-based) within the run.
    pub stage: usize,
    /// Sequence number within the stage.
    pub seq: u64,
    /// Warm-up requests are written but excluded from statistics.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warmup: bool,
    /// It started after an idle period of at least `--cold-after` (see
    /// [`crate::metrics::cold`]); a conversation's first turn only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cold: bool,
    /// The scenario, in a run of several (shared: one string per scenario).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<std::sync::Arc<str>>,
    /// Origin of this request, µs since the run started (for the timeline).
    pub start_us: u64,
    /// When the request ended (success or failure), µs since the run started.
    pub end_us: u64,
    /// Open loop: actual send − scheduled send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_lag_us: Option<u64>,
    /// HTTP status, if a response head arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// A 429 or 503 asked to wait this long (`Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_us: Option<u64>,
    /// Response head arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb_us: Option<u64>,
    /// First byte of decoded audio arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfa_us: Option<u64>,
    /// Arrival of audio chunk k, as `[k, us]` pairs for the configured k's that were reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunk_us: Vec<(u32, u64)>,
    /// Mean gap between consecutive audio chunks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter_chunk_mean_us: Option<u64>,
    /// Largest gap between consecutive audio chunks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter_chunk_max_us: Option<u64>,
    /// Last byte arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_us: Option<u64>,
    /// Number of audio chunks.
    pub chunks: u32,
    /// Audio bytes received (encoded, after unwrapping).
    pub audio_bytes: u64,
    /// Seconds of audio, in µs: for TTS decoded from the response stream;
    /// for ASR the input audio sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_us: Option<u64>,
    /// Samples per second the audio seconds were computed at (raw PCM,
    /// WAV, decoded audio; a voice agent's answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Where `sample_rate` came from: `header`, `url` or `message` (the
    /// server declared it), `wav`, `decoded`, or `assumed` (configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_source: Option<RateSource>,
    /// e2e ÷ audio duration (lower is better).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtf: Option<f64>,
    /// audio duration ÷ e2e (higher is better).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtfx: Option<f64>,
    /// Playback stalls under the configured pre-buffer (streaming, when per-chunk audio is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_count: Option<u32>,
    /// Total stall time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_us: Option<u64>,
    /// Smallest pre-buffer that would have given zero stalls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prebuffer_needed_us: Option<u64>,
    /// Silence at the start of the audio (audio time, not wall time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leading_silence_us: Option<u64>,
    /// When a listener would first hear speech (playback time of the first voiced sample).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perceived_ttfa_us: Option<u64>,
    /// Streaming (WebSocket): connection established.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_us: Option<u64>,
    /// Streaming ASR: first partial transcript, measured from the first audio frame sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_partial_us: Option<u64>,
    /// Streaming ASR: final transcript, measured from the end of the audio (last frame or end message sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_us: Option<u64>,
    /// Streaming ASR: the first final segment after the last audio frame
    /// was sent (TTFS); before `final_us` when the session ends later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfs_us: Option<u64>,
    /// Streaming ASR: mean gap between partial transcripts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_interval_mean_us: Option<u64>,
    /// Real-time audio sending: the latest any frame was sent after its deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_lag_max_us: Option<u64>,
    /// Real-time audio sending: 99th percentile of frame lateness in this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_lag_p99_us: Option<u64>,
    /// TTS over WebSocket: first text message sent → first audio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_first_audio_us: Option<u64>,
    /// TTS over WebSocket: last text (or flush) sent → first audio after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush_first_audio_us: Option<u64>,
    /// TTS over WebSocket: last text (or flush) sent → the final message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush_final_us: Option<u64>,
    /// Voice agent: end of the caller's speech → the agent's first message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_first_message_us: Option<u64>,
    /// Voice agent: end of the caller's speech → the agent's first audio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_first_audio_us: Option<u64>,
    /// Voice agent: end of the caller's speech → the agent's final transcript of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_transcript_us: Option<u64>,
    /// Voice agent: end of the caller's speech → the agent saying it found
    /// the end of speech (its VAD's endpoint event, e.g. `speech_stopped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_endpoint_us: Option<u64>,
    /// Voice agent: end of the caller's speech → the agent announcing its
    /// response (e.g. `response.created`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_response_start_us: Option<u64>,
    /// Voice agent: end of speech → end of the response, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_response_end_us: Option<u64>,
    /// Voice agent: first frame of the caller's utterance → end of the agent's response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_us: Option<u64>,
    /// WebRTC: offer sent → answer read, µs (first turn).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtc_answer_us: Option<u64>,
    /// WebRTC: offer sent → ICE connected, µs (first turn).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtc_ice_us: Option<u64>,
    /// WebRTC: offer sent → DTLS connected, µs (first turn).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtc_dtls_us: Option<u64>,
    /// WebRTC agent: end of speech → first agent packet (any level), µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_first_packet_us: Option<u64>,
    /// WebRTC agent: longest gap between the response's audible packets, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_gap_max_us: Option<u64>,
    /// WebRTC agent: 99th percentile of those gaps, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_gap_p99_us: Option<u64>,
    /// WebRTC: interarrival jitter of the agent's stream at the turn's end, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtc_jitter_us: Option<u64>,
    /// WebRTC: share of the agent's packets lost on the call so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtc_loss: Option<f64>,
    /// Barge-in: the caller starts speaking over the agent → the caller's
    /// player goes silent (last sample of the answer played).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barge_in_silence_us: Option<u64>,
    /// Barge-in: answer audio (audio time) the caller's player played after
    /// the caller started speaking over it (queued, or arrived meanwhile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barge_in_leak_us: Option<u64>,
    /// Barge-in: the caller starts speaking over the agent → the agent's interruption message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barge_in_event_us: Option<u64>,
    /// Barge-in planned but untested: the answer had ended and finished
    /// playing before the caller's onset (or the barge-in never came), so
    /// there was nothing to interrupt; the barge-in figures are absent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub barge_in_untested: bool,
    /// With `--goodput`: whether the request succeeded and met every
    /// criterion that applies to its scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good: Option<bool>,
    /// ASR: word errors (substitutions + deletions + insertions) against the reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word_errors: Option<u32>,
    /// ASR: words in the normalized reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_words: Option<u32>,
    /// ASR: word_errors ÷ ref_words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wer: Option<f64>,
    /// ASR: the (final) transcript as received. Voice agent: the agent's
    /// transcript of the caller (what it heard), scored against the turn's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// Voice agent: the agent's text reply (what it said), as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Voice agent: the status its end-of-response message gave
    /// (OpenAI: `completed`, `cancelled`, `incomplete`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_status: Option<String>,
    /// Voice agent: the latest message of a kept type the call had received
    /// when this turn was written (OpenAI's `rate_limits.updated`), as JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_message: Option<String>,
    /// WebSocket close code, when the server closed the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_close: Option<u16>,
    /// Failure class, if the request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    /// Short, secret-free failure detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// Characters of input text.
    pub text_chars: u32,
    /// ASR: the input file (name only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Voice used (shared: every record of a voice points at one string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<std::sync::Arc<str>>,
    /// Voice agent: the conversation script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Voice agent: turn number in the conversation (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
}

impl RequestRecord {
    /// Whether the request counts as a success.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Chunk k's arrival, if reached.
    pub fn chunk(&self, k: u32) -> Option<u64> {
        self.chunk_us
            .iter()
            .find(|(i, _)| *i == k)
            .map(|(_, us)| *us)
    }
}
