//! The probe: what one request did on the wire, as timestamps.
//!
//! Adapters only write events here; they never compute latencies. The metric
//! definitions in [`crate::metrics::defs`] turn a finished probe into numbers,
//! so each definition exists exactly once.

use std::time::{Duration, Instant};

use crate::audio::rate::DeclaredRate;
use crate::audio::AudioSummary;

/// One application-level audio chunk as it arrived.
///
/// A chunk is an SSE event, an NDJSON line, or one transport read for raw
/// byte streams. Chunks that carried no audio (e.g. a WAV header alone) are
/// not recorded, so `chunks[0]` is always the first *audio*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioChunk {
    /// When the chunk's bytes were handed to us by the transport.
    pub at: Instant,
    /// Encoded audio bytes in this chunk (after unwrapping base64 etc.).
    pub bytes: u32,
    /// Seconds of audio this chunk carries, when the format lets us know it
    /// incrementally (PCM, WAV). `None` for compressed formats.
    pub audio: Option<Duration>,
}

/// Timestamps of one request, filled in by an adapter as things happen.
#[derive(Debug, Clone)]
pub struct Probe {
    /// When the request was actually handed to the connection.
    pub sent_at: Option<Instant>,
    /// When the response head (status + headers) arrived.
    pub headers_at: Option<Instant>,
    /// Audio chunks in arrival order.
    pub chunks: Vec<AudioChunk>,
    /// When the last byte of the response arrived.
    pub finished_at: Option<Instant>,
    /// HTTP status, when one was received.
    pub status: Option<u16>,
    /// The wait a 429 or 503 asked for (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// What the decoded audio stream turned out to be (set at the end).
    pub audio: Option<AudioSummary>,
    /// A sample rate the server declared that the audio was measured at
    /// (raw PCM only: a header, the URL, a message); `None` when nothing
    /// was declared or the audio carries its own (WAV, compressed).
    pub declared: Option<DeclaredRate>,
    /// Extra detail for `voxload sample`; `None` (and free) in load runs.
    pub capture: Option<Capture>,
    /// Every unwrapped audio byte, for a request whose audio is to be
    /// judged afterwards (`--judge-asr`); `None`, so nothing is copied,
    /// for every other request.
    pub kept_audio: Option<Vec<u8>>,
}

/// What `voxload sample` shows beyond timings.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// Response headers, secret values redacted.
    pub headers: Vec<(String, String)>,
    /// The first bytes of the (unwrapped) audio, to detect its format.
    pub audio_head: Vec<u8>,
    /// Keep every audio byte in `audio` (for `voxload corpus`).
    pub keep_audio: bool,
    /// All unwrapped audio bytes, when `keep_audio`.
    pub audio: Vec<u8>,
}

/// How many audio bytes a capture keeps.
pub const CAPTURE_AUDIO_HEAD: usize = 64;

impl Probe {
    /// A probe with nothing recorded yet.
    pub fn new() -> Self {
        Self {
            sent_at: None,
            headers_at: None,
            chunks: Vec::new(),
            finished_at: None,
            status: None,
            retry_after: None,
            audio: None,
            declared: None,
            capture: None,
            kept_audio: None,
        }
    }

    /// A probe that keeps the response's audio bytes in [`Probe::kept_audio`].
    pub fn keeping_audio() -> Self {
        Self {
            kept_audio: Some(Vec::new()),
            ..Self::new()
        }
    }

    /// Keep the first audio bytes when capturing, and all of them when
    /// keeping the audio.
    pub fn capture_audio(&mut self, bytes: &[u8]) {
        if let Some(kept) = self.kept_audio.as_mut() {
            kept.extend_from_slice(bytes);
        }
        if let Some(c) = self.capture.as_mut() {
            let room = CAPTURE_AUDIO_HEAD.saturating_sub(c.audio_head.len());
            c.audio_head
                .extend_from_slice(&bytes[..room.min(bytes.len())]);
            if c.keep_audio {
                c.audio.extend_from_slice(bytes);
            }
        }
    }

    /// The warning for audio configured as `format` that the server
    /// declared at another rate (see [`crate::audio::rate::format_mismatch`]);
    /// `None` when nothing was declared or the rates agree.
    pub fn rate_warning(&self, format: crate::audio::AudioFormat) -> Option<String> {
        crate::audio::rate::format_mismatch(format, self.declared.as_ref())
    }

    /// The format the audio was measured as: `configured`, at the rate the
    /// server declared for raw PCM (what decoding the kept bytes needs).
    pub fn measured_format(
        &self,
        configured: crate::audio::AudioFormat,
    ) -> crate::audio::AudioFormat {
        self.declared
            .as_ref()
            .map_or(configured, |d| d.applied_to(configured))
    }

    /// Record an audio chunk arriving now-ish (the caller passes the instant
    /// it read the bytes, so parsing time is not charged to the server).
    pub fn chunk(&mut self, at: Instant, bytes: usize, audio: Option<Duration>) {
        if bytes == 0 {
            return;
        }
        self.chunks.push(AudioChunk {
            at,
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            audio,
        });
    }
}

impl Default for Probe {
    fn default() -> Self {
        Self::new()
    }
}
