//! The mock's ASR model: processing speed, admission, word errors that grow
//! with load, WebSocket streaming cadence and faults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::MockError;

/// How the mock transcribes. Nested in [`MockModel`](super::MockModel) as `asr`.
///
/// HTTP timing of one request (offsets from admission to an ASR slot): the
/// response is sent at `admitted + overhead + audio / rtfx`, an absolute
/// deadline (stretched by global stall windows like TTS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsrModel {
    /// Fixed processing time per HTTP request.
    #[serde(with = "crate::units::serde_duration")]
    pub overhead: Duration,
    /// Speed: audio seconds transcribed per wall-clock second (20 = 20× real time).
    pub rtfx: f64,
    /// Concurrent ASR slots, shared by HTTP requests and WebSocket sessions.
    pub slots: usize,
    /// HTTP requests allowed to wait for a slot; beyond that, 503 at once.
    /// WebSocket sessions never queue: with no free slot the upgrade gets 503.
    pub queue: usize,
    /// Share of words substituted at no load (0..=1).
    pub word_error_rate: f64,
    /// Extra substitution probability per concurrent ASR request beyond the
    /// first: `p = word_error_rate + word_error_per_load × (in_flight − 1)`,
    /// clamped to 0..=1 ("accuracy degrades under load").
    pub word_error_per_load: f64,
    /// WebSocket: a partial transcript per this much received audio.
    #[serde(with = "crate::units::serde_duration")]
    pub partial_every: Duration,
    /// WebSocket: processing lag from receiving the audio that triggers a
    /// partial to sending it.
    #[serde(with = "crate::units::serde_duration")]
    pub partial_lag: Duration,
    /// WebSocket: delay from the end-of-audio message to the final transcript.
    #[serde(with = "crate::units::serde_duration")]
    pub final_delay: Duration,
    /// WebSocket: a minimal sink for generator benchmarks — frames are
    /// counted, not decoded, and the final transcript is empty, so the mock
    /// spends almost no CPU per frame.
    #[serde(default)]
    pub ws_sink: bool,
    /// WebSocket faults, each for a share of sessions.
    pub faults: AsrFaults,
    /// Seed for word errors and fault choice; `None` draws one from the OS.
    pub seed: Option<u64>,
}

impl Default for AsrModel {
    fn default() -> Self {
        Self {
            overhead: Duration::from_millis(30),
            rtfx: 20.0,
            slots: 64,
            queue: 256,
            word_error_rate: 0.0,
            word_error_per_load: 0.0,
            partial_every: Duration::from_millis(200),
            partial_lag: Duration::from_millis(50),
            final_delay: Duration::from_millis(100),
            ws_sink: false,
            faults: AsrFaults::default(),
            seed: None,
        }
    }
}

/// Shares (0..=1) of WebSocket sessions that get each fault; exclusive (one
/// uniform draw per session), so they must sum to ≤ 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsrFaults {
    /// Drop the TCP connection without a close frame, right after the first
    /// partial (or at end of audio if no partial was sent yet).
    pub ws_abrupt_close: f64,
    /// Read everything, send nothing, stay open until the client closes.
    pub ws_never_answer: f64,
    /// Instead of the final transcript, a final message of
    /// [`HUGE_MESSAGE_BYTES`](super::HUGE_MESSAGE_BYTES) (16 MiB + 1).
    pub ws_huge_message: f64,
}

impl AsrModel {
    /// Check every knob; the error names the setting as its `voxload mock` flag.
    pub fn validate(&self) -> Result<(), MockError> {
        let bad =
            |setting: &'static str, reason: String| Err(MockError::Invalid { setting, reason });
        if !(self.rtfx.is_finite() && self.rtfx > 0.0) {
            return bad("--asr-rtfx", format!("must be > 0 (got {})", self.rtfx));
        }
        if self.slots == 0 {
            return bad("--asr-slots", "must be at least 1".to_string());
        }
        for (setting, rate) in [
            ("--asr-word-error-rate", self.word_error_rate),
            ("--asr-word-error-per-load", self.word_error_per_load),
            ("--ws-abrupt-close", self.faults.ws_abrupt_close),
            ("--ws-never-answer", self.faults.ws_never_answer),
            ("--ws-huge-message", self.faults.ws_huge_message),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return bad(setting, format!("must be in 0..=1 (got {rate})"));
            }
        }
        let f = &self.faults;
        let sum = f.ws_abrupt_close + f.ws_never_answer + f.ws_huge_message;
        if sum > 1.0 + 1e-9 {
            return bad(
                "--ws-abrupt-close/--ws-never-answer/--ws-huge-message",
                format!("fault shares are exclusive and must sum to at most 1 (got {sum})"),
            );
        }
        if self.partial_every < Duration::from_millis(1) {
            return bad("--ws-partial-every", "must be at least 1ms".to_string());
        }
        Ok(())
    }

    /// Substitution probability with `in_flight` ASR requests open (this one included).
    pub fn error_probability(&self, in_flight: u64) -> f64 {
        let extra = in_flight.saturating_sub(1) as f64;
        (self.word_error_rate + self.word_error_per_load * extra).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_errors_name_the_flag() {
        AsrModel::default().validate().unwrap();
        for (m, flag) in [
            (
                AsrModel {
                    rtfx: 0.0,
                    ..Default::default()
                },
                "--asr-rtfx",
            ),
            (
                AsrModel {
                    slots: 0,
                    ..Default::default()
                },
                "--asr-slots",
            ),
            (
                AsrModel {
                    word_error_per_load: -0.1,
                    ..Default::default()
                },
                "--asr-word-error-per-load",
            ),
            (
                AsrModel {
                    partial_every: Duration::ZERO,
                    ..Default::default()
                },
                "--ws-partial-every",
            ),
            (
                AsrModel {
                    faults: AsrFaults {
                        ws_abrupt_close: 0.7,
                        ws_never_answer: 0.7,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                "--ws-abrupt-close/--ws-never-answer/--ws-huge-message",
            ),
        ] {
            let err = m.validate().unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
    }

    #[test]
    fn error_probability_grows_with_load_and_clamps() {
        let m = AsrModel {
            word_error_rate: 0.1,
            word_error_per_load: 0.05,
            ..Default::default()
        };
        assert_eq!(m.error_probability(0), 0.1);
        assert_eq!(m.error_probability(1), 0.1);
        assert!((m.error_probability(5) - 0.3).abs() < 1e-12);
        assert_eq!(m.error_probability(100), 1.0);
    }
}
