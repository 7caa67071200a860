//! Audio: formats, incremental decoding of response streams, durations,
//! silence detection, whole-file decoding and conversion (ASR inputs), and
//! test-audio generation (for the mock).
//!
//! Durations are always decoded from the stream (WAV header, PCM length ÷
//! rate, or decoding compressed frames), never guessed from byte counts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod codec;
mod compressed;
pub mod convert;
mod detect;
pub mod g711;
pub mod generate;
mod ogg;
pub mod ogg_packets;
pub mod opus;
pub mod packets;
pub mod rate;
pub mod silence;
pub mod stream;
pub mod track;
pub mod voice;
pub mod wav;

pub use detect::{detect_format, probe_file_duration};
pub use stream::{PushedAudio, StreamAudio};

/// The audio encoding a target returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "codec")]
pub enum AudioFormat {
    /// Raw little-endian signed 16-bit PCM.
    Pcm {
        /// Samples per second.
        sample_rate: u32,
        /// Interleaved channels.
        channels: u16,
    },
    /// RIFF/WAVE (PCM 16-bit, or IEEE float 32-bit); header read from the stream.
    Wav,
    /// MPEG-1/2 layer III.
    Mp3,
    /// Opus in an Ogg container.
    Opus,
    /// FLAC.
    Flac,
}

impl AudioFormat {
    /// Parse a user-facing name: `pcm`, `pcm:24000`, `pcm:16000:1`, `wav`, `mp3`, `opus`, `flac`.
    pub fn parse(s: &str) -> Result<Self, AudioError> {
        let lower = s.trim().to_ascii_lowercase();
        let mut parts = lower.split(':');
        let name = parts.next().unwrap_or_default();
        let fmt = match name {
            "pcm" | "pcm16" | "s16le" => {
                let rate = match parts.next() {
                    Some(r) => r
                        .parse()
                        .map_err(|_| AudioError::UnknownFormat(s.to_string()))?,
                    None => DEFAULT_PCM_RATE,
                };
                let channels = match parts.next() {
                    Some(c) => c
                        .parse()
                        .map_err(|_| AudioError::UnknownFormat(s.to_string()))?,
                    None => 1,
                };
                if rate == 0 || channels == 0 {
                    return Err(AudioError::UnknownFormat(s.to_string()));
                }
                AudioFormat::Pcm {
                    sample_rate: rate,
                    channels,
                }
            }
            "wav" | "wave" => AudioFormat::Wav,
            "mp3" | "mpeg" => AudioFormat::Mp3,
            "opus" | "ogg" => AudioFormat::Opus,
            "flac" => AudioFormat::Flac,
            _ => return Err(AudioError::UnknownFormat(s.to_string())),
        };
        if parts.next().is_some() {
            return Err(AudioError::UnknownFormat(s.to_string()));
        }
        Ok(fmt)
    }

    /// The OpenAI `response_format` value for this format.
    pub fn openai_name(&self) -> &'static str {
        match self {
            AudioFormat::Pcm { .. } => "pcm",
            AudioFormat::Wav => "wav",
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Opus => "opus",
            AudioFormat::Flac => "flac",
        }
    }
}

impl std::fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AudioFormat::Pcm {
                sample_rate,
                channels,
            } => write!(f, "pcm:{sample_rate}:{channels}"),
            other => f.write_str(other.openai_name()),
        }
    }
}

/// OpenAI's `pcm` response format: 24 kHz, 16-bit, mono.
pub const DEFAULT_PCM_RATE: u32 = 24_000;

/// What a finished audio stream turned out to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioSummary {
    /// Total audio duration, decoded. `None` if it could not be determined.
    pub duration: Option<Duration>,
    /// Encoded audio bytes seen (headers excluded where known).
    pub bytes: u64,
    /// Sample rate the duration was computed at.
    pub sample_rate: Option<u32>,
    /// Where that rate came from (declared by the server, the WAV header,
    /// decoding, or assumed from the configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_source: Option<rate::RateSource>,
    /// Channels learnt from the stream.
    pub channels: Option<u16>,
    /// Audio time of the first sample above the silence threshold.
    /// `None` if all audio was silent or samples were not available.
    pub first_voiced: Option<Duration>,
    /// Whether sample values were inspected (PCM/WAV, or decoded compressed audio).
    /// When false, `first_voiced == None` means "unknown", not "silent".
    pub samples_inspected: bool,
}

/// Why audio could not be understood.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AudioError {
    /// A format name we do not know.
    #[error("unknown audio format '{0}' (expected pcm[:RATE[:CHANNELS]], wav, mp3, opus or flac)")]
    UnknownFormat(String),
    /// The stream's header is malformed.
    #[error("bad {format} header: {reason}")]
    BadHeader {
        /// Format being parsed.
        format: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The stream ended before the length its header declared.
    #[error(
        "{format} audio truncated: its header declares {missing_bytes} more bytes than arrived"
    )]
    Truncated {
        /// Format whose header declared the length.
        format: &'static str,
        /// Declared bytes that never arrived.
        missing_bytes: u64,
    },
    /// A compressed stream could not be decoded.
    #[error("cannot decode {format} audio: {reason}")]
    Undecodable {
        /// Format being decoded.
        format: &'static str,
        /// What the decoder said.
        reason: String,
    },
}
