//! The mock voice agent's model: when it answers a caller's turn, how much
//! audio it speaks and how fast, how it detects end of speech and barge-in,
//! how many sessions it holds, and its faults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{MockError, MAX_AUDIO_LIMIT};

/// Longest delay the agent accepts for any of its timers, so a deadline
/// `now + delay` can never overflow an `Instant`.
const MAX_DELAY: Duration = Duration::from_secs(3_600);

/// How the voice agent (`GET /v1/agent`) behaves. Nested in
/// [`MockModel`](super::MockModel) as `agent`.
///
/// Timing of one turn, all from the instant end of speech is detected
/// (`d`): the transcript at `d + transcript_delay`; the response text and
/// audio chunk 0 at `first = d + response_delay`; chunk *i* at
/// `first + i × chunk / speed` (with `burst`, every chunk at `first`, back
/// to back); `response_end` right after the last chunk. Every deadline is
/// absolute, so the agent's timers never drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentModel {
    /// End of speech detected → response text and first audio chunk.
    #[serde(with = "crate::units::serde_duration")]
    pub response_delay: Duration,
    /// End of speech detected → final transcript of the caller's turn.
    #[serde(with = "crate::units::serde_duration")]
    pub transcript_delay: Duration,
    /// Energy end-of-speech: this much consecutive non-speech caller audio
    /// (counted in samples, not wall time) after at least one speech frame.
    #[serde(with = "crate::units::serde_duration")]
    pub vad_silence: Duration,
    /// A caller frame is speech when its RMS exceeds this, in 16-bit PCM
    /// units (full scale 32767). The default, 500 (≈ −36 dBFS), sits far
    /// above low-level noise (amplitude ≲ 100) and far below mock speech
    /// (RMS ≈ 11 600).
    pub speech_rms: f64,
    /// Audio per response (16-bit mono PCM, never silent).
    #[serde(with = "crate::units::serde_duration")]
    pub response_audio: Duration,
    /// Sample rate of the response audio.
    pub sample_rate_out: u32,
    /// `/v1/agent`: announce `sample_rate_out` on accept, in the OpenAI GA
    /// shape (`{"type":"session.created","session":{"audio":{"output":
    /// {"format":{"type":"audio/pcm","rate":N}}}}}`), for clients that read
    /// the rate (`--agent-rate-path session.audio.output.format.rate`)
    /// rather than assume it.
    pub announce_rate: bool,
    /// Audio per response chunk (one WebSocket message each).
    #[serde(with = "crate::units::serde_duration")]
    pub chunk: Duration,
    /// Pacing of response chunks in audio seconds per wall-clock second
    /// (1 = real time, 2 = twice real time).
    pub speed: f64,
    /// Send each answer's whole audio at once at `first` (every chunk as
    /// fast as the socket takes it, `speed` ignored), as agents that leave
    /// the pacing to the caller's player do. The answer then counts as
    /// speaking until it would have finished playing at the caller (first
    /// chunk sent + `response_audio`): caller speech before that is a barge-in.
    pub burst: bool,
    /// Barge-in: first caller speech frame during a response → audio stops
    /// (and, with `interrupt_message`, `interrupted` is sent) this much later.
    #[serde(with = "crate::units::serde_duration")]
    pub barge_stop_delay: Duration,
    /// On barge-in, send `{"type":"interrupted"}`: the caller's cue to drop
    /// the audio it has queued (Twilio's `clear`). Off, the agent only stops
    /// sending, and a `burst` answer is not stopped at all.
    pub interrupt_message: bool,
    /// Sessions held at once; one more is accepted, then closed with 1013.
    pub max_sessions: usize,
    /// Send response audio as `{"type":"audio","audio":"<base64>"}` text
    /// messages instead of binary messages.
    pub json_audio: bool,
    /// Decode the caller's audio (mock speech, see
    /// [`decode_text`](super::decode_text)) into the transcript text. Off
    /// by default because decoding is not cheap (≈ 80 µs of CPU per
    /// character, ≈ 1.2 ms per second of caller speech: more than a core
    /// for 2,000 talking sessions); off, the transcript text is empty and a
    /// caller frame costs one RMS (≈ 0.1 µs per 20 ms frame).
    pub transcribe: bool,
    /// Faults, each for a share of turns.
    pub faults: AgentFaults,
    /// Seed for fault choice; `None` draws one from the OS.
    pub seed: Option<u64>,
}

impl Default for AgentModel {
    fn default() -> Self {
        Self {
            response_delay: Duration::from_millis(400),
            transcript_delay: Duration::from_millis(100),
            vad_silence: Duration::from_millis(300),
            speech_rms: 500.0,
            response_audio: Duration::from_millis(1_500),
            sample_rate_out: 16_000,
            announce_rate: false,
            chunk: Duration::from_millis(40),
            speed: 1.0,
            burst: false,
            barge_stop_delay: Duration::from_millis(150),
            interrupt_message: true,
            max_sessions: 1_000,
            json_audio: false,
            transcribe: false,
            faults: AgentFaults::default(),
            seed: None,
        }
    }
}

/// Shares (0..=1) of turns that get each fault; exclusive (one uniform draw
/// per turn, in this order), so they must sum to ≤ 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentFaults {
    /// Drop the TCP connection without a close frame when the response
    /// would start (the transcript, if due earlier, is sent).
    pub close: f64,
    /// Never answer the turn: no transcript, no response.
    pub silent: f64,
    /// Send the text `this is not json` instead of the transcript, then
    /// answer normally.
    pub malformed: f64,
    /// Send a transcript message of
    /// [`HUGE_MESSAGE_BYTES`](super::HUGE_MESSAGE_BYTES) (16 MiB + 1)
    /// instead of the transcript, then answer normally.
    pub huge_message: f64,
}

impl AgentFaults {
    /// The shares in draw order, with the flag that sets each.
    pub(crate) fn shares(&self) -> [(&'static str, f64); 4] {
        [
            ("--agent-fault-close", self.close),
            ("--agent-fault-silent", self.silent),
            ("--agent-fault-malformed", self.malformed),
            ("--agent-fault-huge-message", self.huge_message),
        ]
    }
}

impl AgentModel {
    /// Check every knob; the error names the setting as its `voxload mock` flag.
    pub fn validate(&self) -> Result<(), MockError> {
        let bad =
            |setting: &'static str, reason: String| Err(MockError::Invalid { setting, reason });
        for (setting, d) in [
            ("--agent-response-delay", self.response_delay),
            ("--agent-transcript-delay", self.transcript_delay),
            ("--agent-vad-silence", self.vad_silence),
            ("--agent-barge-stop", self.barge_stop_delay),
        ] {
            if d > MAX_DELAY {
                return bad(
                    setting,
                    format!(
                        "must be at most {} (got {})",
                        humantime::format_duration(MAX_DELAY),
                        humantime::format_duration(d)
                    ),
                );
            }
        }
        if self.vad_silence < Duration::from_millis(1) {
            return bad("--agent-vad-silence", "must be at least 1ms".to_string());
        }
        if !(self.speech_rms.is_finite() && self.speech_rms >= 0.0) {
            return bad(
                "--agent-speech-rms",
                format!("must be >= 0 (got {})", self.speech_rms),
            );
        }
        if !(1_000..=192_000).contains(&self.sample_rate_out) {
            return bad(
                "--agent-sample-rate",
                format!("must be 1000..=192000 Hz (got {})", self.sample_rate_out),
            );
        }
        if self.response_audio.is_zero() || self.response_audio > MAX_AUDIO_LIMIT {
            return bad(
                "--agent-response-audio",
                format!(
                    "must be > 0 and at most {}",
                    humantime::format_duration(MAX_AUDIO_LIMIT)
                ),
            );
        }
        if self.chunk_samples() == 0 || self.chunk > MAX_AUDIO_LIMIT {
            return bad(
                "--agent-chunk",
                "must hold at least one sample and be at most 10m".to_string(),
            );
        }
        // Bounded so `response_audio / speed` stays a sane duration.
        if !(self.speed.is_finite() && (0.01..=1_000.0).contains(&self.speed)) {
            return bad(
                "--agent-speed",
                format!("must be in 0.01..=1000 (got {})", self.speed),
            );
        }
        if self.max_sessions == 0 {
            return bad("--agent-max-sessions", "must be at least 1".to_string());
        }
        for (setting, share) in self.faults.shares() {
            if !(0.0..=1.0).contains(&share) {
                return bad(setting, format!("share must be in 0..=1 (got {share})"));
            }
        }
        let sum: f64 = self.faults.shares().iter().map(|(_, s)| s).sum();
        if sum > 1.0 + 1e-9 {
            return bad(
                "--agent-fault-close/--agent-fault-silent/--agent-fault-malformed/--agent-fault-huge-message",
                format!("fault shares are exclusive and must sum to at most 1 (got {sum})"),
            );
        }
        Ok(())
    }

    /// Samples in one response chunk (the last may be shorter).
    pub(crate) fn chunk_samples(&self) -> usize {
        crate::audio::generate::samples_in(self.chunk, self.sample_rate_out)
    }

    /// Samples in one response.
    pub(crate) fn response_samples(&self) -> usize {
        crate::audio::generate::samples_in(self.response_audio, self.sample_rate_out)
    }

    /// Wall time from the first chunk to chunk `i`: `i × chunk / speed`
    /// (none with `burst`: every chunk is due at once).
    pub(crate) fn chunk_offset(&self, i: usize) -> Duration {
        if self.burst {
            return Duration::ZERO;
        }
        // ≤ 10 min of audio / 0.01 ≈ 17 h: far from `Duration`'s limits.
        Duration::from_secs_f64(self.chunk.as_secs_f64() * i as f64 / self.speed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_errors_name_the_flag() {
        AgentModel::default().validate().unwrap();
        let d = AgentModel::default;
        for (m, flag) in [
            (AgentModel { speed: 0.0, ..d() }, "--agent-speed"),
            (
                AgentModel {
                    chunk: Duration::from_nanos(10),
                    ..d()
                },
                "--agent-chunk",
            ),
            (
                AgentModel {
                    response_audio: Duration::ZERO,
                    ..d()
                },
                "--agent-response-audio",
            ),
            (
                AgentModel {
                    vad_silence: Duration::ZERO,
                    ..d()
                },
                "--agent-vad-silence",
            ),
            (
                AgentModel {
                    response_delay: Duration::from_secs(86_400),
                    ..d()
                },
                "--agent-response-delay",
            ),
            (
                AgentModel {
                    max_sessions: 0,
                    ..d()
                },
                "--agent-max-sessions",
            ),
            (
                AgentModel {
                    faults: AgentFaults {
                        silent: 1.5,
                        ..Default::default()
                    },
                    ..d()
                },
                "--agent-fault-silent",
            ),
            (
                AgentModel {
                    faults: AgentFaults {
                        close: 0.6,
                        malformed: 0.6,
                        ..Default::default()
                    },
                    ..d()
                },
                "sum to at most 1",
            ),
        ] {
            let err = m.validate().unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
    }

    #[test]
    fn sizes_and_offsets() {
        let m = AgentModel {
            speed: 2.0,
            ..AgentModel::default()
        };
        assert_eq!((m.chunk_samples(), m.response_samples()), (640, 24_000));
        assert_eq!(m.chunk_offset(0), Duration::ZERO);
        assert_eq!(m.chunk_offset(5), Duration::from_millis(100));
        let burst = AgentModel { burst: true, ..m };
        assert_eq!(burst.chunk_offset(5), Duration::ZERO);
    }
}
