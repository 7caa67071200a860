//! The mock's model: every knob that shapes its latency, audio and faults.
//!
//! The model is plain data (`Serialize`), so a test or the demo can print the
//! exact truth it ran against next to what the client measured.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{AgentModel, AsrModel, MockError};

/// Longest audio the mock will pre-generate. The tone is built once at startup
/// and sliced per request, so this bounds startup time and memory (10 min at
/// 48 kHz is 55 MB).
pub const MAX_AUDIO_LIMIT: Duration = Duration::from_secs(600);

/// How a raw PCM answer declares its sample rate, as servers in the field do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateDeclaration {
    /// Not at all (`Content-Type: audio/pcm`): the client must know it.
    #[default]
    None,
    /// An `x-sample-rate: N` header.
    Header,
    /// `Content-Type: audio/L16; rate=N; channels=1` (RFC 2586's shape;
    /// the samples stay little-endian, as Gemini sends them).
    ContentType,
}

impl RateDeclaration {
    /// Parse `none`, `header` or `content-type`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "header" | "x-sample-rate" => Some(Self::Header),
            "content-type" | "l16" => Some(Self::ContentType),
            _ => None,
        }
    }
}

/// How the mock synthesizes: a realistic, fast streaming TTS by default.
///
/// Timing of one request (all offsets from the moment the handler got it):
/// queue wait for a slot, then cold start (if the server was idle), then
/// `overhead ± jitter`, then audio chunk *i* is ready once the synthesis
/// clock reaches `end_of_chunk_i / speed`. Each deadline is computed from the
/// absolute admission instant, so the mock's own timers never drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockModel {
    /// Output sample rate of the 16-bit mono PCM (OpenAI `pcm` is 24 kHz).
    pub sample_rate: u32,
    /// How raw PCM answers declare `sample_rate` (WAV has its header).
    pub declare_rate: RateDeclaration,
    /// Speaking rate: input characters per second of audio. Sets how much
    /// audio a text implies, which is what RTF tests compare against.
    pub chars_per_second: f64,
    /// Synthesis speed in audio seconds per wall-clock second (4.0 = 4× real time).
    pub speed: f64,
    /// Audio per streamed chunk.
    #[serde(with = "crate::units::serde_duration")]
    pub chunk: Duration,
    /// Fixed time before the first audio (model warm-up per request, text processing).
    #[serde(with = "crate::units::serde_duration")]
    pub overhead: Duration,
    /// Uniform jitter added to `overhead`, in `[-jitter, +jitter]` (clamped at zero).
    #[serde(with = "crate::units::serde_duration")]
    pub jitter: Duration,
    /// Silence emitted before the tone, to exercise "first voiced audio" metrics.
    /// Added on top of the audio the text implies.
    #[serde(with = "crate::units::serde_duration")]
    pub leading_silence: Duration,
    /// Cap on the audio the text implies (silence excluded).
    #[serde(with = "crate::units::serde_duration")]
    pub max_audio: Duration,
    /// Concurrent synthesis slots (like a server's MAX_CONCURRENT_REQUESTS).
    pub slots: usize,
    /// Requests allowed to wait for a slot; beyond that the mock answers 503 at once.
    pub queue: usize,
    /// Extra delay paid when the server is cold (at startup and after idling).
    #[serde(with = "crate::units::serde_duration")]
    pub cold_start: Duration,
    /// Idle time after which the server goes cold again; `None` disables cold starts.
    #[serde(with = "crate::units::serde_duration::option")]
    pub idle_before_cold: Option<Duration>,
    /// Stream audio as it is synthesized; `false` mimics a buffered server that
    /// sends everything once synthesis is done.
    pub streaming: bool,
    /// Injected faults, each for a share of requests.
    pub faults: Faults,
    /// A window, relative to server start, during which every response is
    /// paused (to test coordinated omission).
    pub stall_all: Option<StallWindow>,
    /// Seed for jitter and fault choice; `None` draws one from the OS.
    pub seed: Option<u64>,
    /// The transcription (ASR) model: HTTP and WebSocket.
    pub asr: AsrModel,
    /// The voice agent (`GET /v1/agent`).
    pub agent: AgentModel,
}

impl Default for MockModel {
    fn default() -> Self {
        Self {
            sample_rate: 24_000,
            declare_rate: RateDeclaration::None,
            chars_per_second: 15.0,
            speed: 4.0,
            chunk: Duration::from_millis(100),
            overhead: Duration::from_millis(50),
            jitter: Duration::ZERO,
            leading_silence: Duration::ZERO,
            max_audio: Duration::from_secs(60),
            slots: 64,
            queue: 256,
            cold_start: Duration::ZERO,
            idle_before_cold: None,
            streaming: true,
            faults: Faults::default(),
            stall_all: None,
            seed: None,
            asr: AsrModel::default(),
            agent: AgentModel::default(),
        }
    }
}

/// Shares (0..=1) of requests that get each fault. They are exclusive: one
/// uniform draw per request picks at most one, so the shares must sum to ≤ 1
/// and the observed rates converge on exactly these numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// HTTP 500 after the normal time to first audio.
    pub error_5xx: f64,
    /// HTTP 429 with `Retry-After: 1`, at once (before queueing).
    pub error_429: f64,
    /// Half the audio, then the connection is aborted without ending the body.
    pub reset: f64,
    /// A pause of `stall_duration` after half the audio.
    pub stall: f64,
    /// The body ends cleanly after half the audio (WAV header still claims all of it).
    pub truncate: f64,
    /// A 200 whose head is longer than any client's limit
    /// ([`OVERSIZED_HEAD_BYTES`] of padding header), when the first audio
    /// would have come.
    pub oversized_head: f64,
    /// A chunked 200 whose first chunk size line is not hex (`z…`).
    pub bad_chunk: f64,
    /// Length of the `stall` fault's pause.
    #[serde(with = "crate::units::serde_duration")]
    pub stall_duration: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            error_5xx: 0.0,
            error_429: 0.0,
            reset: 0.0,
            stall: 0.0,
            truncate: 0.0,
            oversized_head: 0.0,
            bad_chunk: 0.0,
            stall_duration: Duration::from_secs(1),
        }
    }
}

/// Bytes of the padding header of the `oversized_head` fault: 80 KiB, over
/// voxload's 64 KiB head limit (and nginx's and hyper's defaults).
pub const OVERSIZED_HEAD_BYTES: usize = 80 * 1024;

/// Bytes of the WebSocket message of the `ws_huge_message` and agent
/// `huge_message` faults: one over the 16 MiB that clients (voxload's
/// default `--ws-max-message`, tungstenite's frame limit) accept.
pub const HUGE_MESSAGE_BYTES: usize = (16 << 20) + 1;

/// A JSON message `{"type":kind,"text":"aaa…"}` of exactly
/// [`HUGE_MESSAGE_BYTES`], so a client that did accept it would read a
/// well-formed message of that type.
pub(crate) fn huge_message(kind: &str, extra: &str) -> String {
    let head = format!(r#"{{"type":"{kind}"{extra},"text":""#);
    let tail = br#""}"#;
    let mut m = vec![b'a'; HUGE_MESSAGE_BYTES];
    m[..head.len()].copy_from_slice(head.as_bytes());
    m[HUGE_MESSAGE_BYTES - tail.len()..].copy_from_slice(tail);
    // ASCII throughout, so the conversion cannot fail.
    String::from_utf8(m).unwrap_or_default()
}

/// A global pause window: `[server_start + start, + duration)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallWindow {
    /// Offset from server start.
    #[serde(with = "crate::units::serde_duration")]
    pub start: Duration,
    /// How long every response is paused.
    #[serde(with = "crate::units::serde_duration")]
    pub duration: Duration,
}

impl MockModel {
    /// Check every knob; the error names the setting as its `voxload mock` flag.
    pub fn validate(&self) -> Result<(), MockError> {
        let bad =
            |setting: &'static str, reason: String| Err(MockError::Invalid { setting, reason });
        if self.sample_rate < 1_000 || self.sample_rate > 192_000 {
            return bad(
                "--sample-rate",
                format!("must be 1000..=192000 Hz (got {})", self.sample_rate),
            );
        }
        if !(self.chars_per_second.is_finite() && self.chars_per_second > 0.0) {
            return bad(
                "--chars-per-second",
                format!("must be > 0 (got {})", self.chars_per_second),
            );
        }
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return bad("--speed", format!("must be > 0 (got {})", self.speed));
        }
        if super::plan::samples_per_chunk(self) == 0 {
            return bad("--chunk", "must hold at least one sample".to_string());
        }
        if self.max_audio > MAX_AUDIO_LIMIT || self.max_audio.is_zero() {
            return bad(
                "--max-audio",
                format!(
                    "must be > 0 and at most {}",
                    humantime::format_duration(MAX_AUDIO_LIMIT)
                ),
            );
        }
        if self.leading_silence > MAX_AUDIO_LIMIT {
            return bad(
                "--leading-silence",
                format!(
                    "must be at most {}",
                    humantime::format_duration(MAX_AUDIO_LIMIT)
                ),
            );
        }
        if self.slots == 0 {
            return bad("--slots", "must be at least 1".to_string());
        }
        if self.idle_before_cold.is_some_and(|d| d.is_zero()) {
            return bad("--idle-before-cold", "must be > 0".to_string());
        }
        self.faults.validate()?;
        self.asr.validate()?;
        self.agent.validate()
    }
}

impl Faults {
    /// The shares in draw order, with the flag that sets each.
    pub(crate) fn shares(&self) -> [(&'static str, f64); 7] {
        [
            ("--error-5xx", self.error_5xx),
            ("--error-429", self.error_429),
            ("--reset", self.reset),
            ("--stall", self.stall),
            ("--truncate", self.truncate),
            ("--oversized-head", self.oversized_head),
            ("--bad-chunk", self.bad_chunk),
        ]
    }

    fn validate(&self) -> Result<(), MockError> {
        for (setting, share) in self.shares() {
            if !(0.0..=1.0).contains(&share) {
                return Err(MockError::Invalid {
                    setting,
                    reason: format!("share must be in 0..=1 (got {share})"),
                });
            }
        }
        let sum: f64 = self.shares().iter().map(|(_, s)| s).sum();
        if sum > 1.0 + 1e-9 {
            return Err(MockError::Invalid {
                setting: "--error-5xx/--error-429/--reset/--stall/--truncate/--oversized-head/--bad-chunk",
                reason: format!("fault shares are exclusive and must sum to at most 1 (got {sum})"),
            });
        }
        Ok(())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_round_trips_through_json() {
        let m = MockModel::default();
        m.validate().unwrap();
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["overhead"], "50ms");
        assert_eq!(json["asr"]["overhead"], "30ms");
        let back: MockModel = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn the_huge_message_is_json_of_exactly_its_size() {
        let m = huge_message("final", r#","final":true"#);
        assert_eq!(m.len(), HUGE_MESSAGE_BYTES);
        let v: serde_json::Value = serde_json::from_str(&m).expect("json");
        assert_eq!(v["type"], "final");
        assert_eq!(v["final"], true);
    }

    #[test]
    fn errors_name_the_flag() {
        let m = MockModel {
            speed: 0.0,
            ..Default::default()
        };
        assert!(m.validate().unwrap_err().to_string().contains("--speed"));
        let mut m = MockModel::default();
        m.faults.reset = 1.5;
        assert!(m.validate().unwrap_err().to_string().contains("--reset"));
        let mut m = MockModel::default();
        m.faults.reset = 0.6;
        m.faults.stall = 0.6;
        assert!(m.validate().unwrap_err().to_string().contains("sum"));
        let m = MockModel {
            chunk: Duration::from_nanos(1),
            ..Default::default()
        };
        assert!(m.validate().unwrap_err().to_string().contains("--chunk"));
    }
}
