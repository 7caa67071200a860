//! What the mock's WebSocket TTS sessions saw and did, each instant named
//! by what it was taken at (microseconds from the upgrade's acceptance).

use serde::{Deserialize, Serialize};

/// How many finished sessions are kept.
pub const WS_TTS_RECENT: usize = 1024;

/// One WebSocket TTS session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WsTtsTruth {
    /// `elevenlabs`, `cartesia` or `deepgram`.
    pub dialect: String,
    /// The voice (path or message), if any.
    pub voice: String,
    /// Each text piece as received, with when it was read.
    pub texts: Vec<(u64, String)>,
    /// The end of input (empty text, `continue:false`, `Flush`) was read.
    pub flush_us: Option<u64>,
    /// The first audio message was handed to the socket.
    pub first_audio_us: Option<u64>,
    /// The final message (`isFinal`, `done`, `Flushed`) was handed to the socket.
    pub final_us: Option<u64>,
    /// 16-bit mono samples sent, and at what rate.
    pub audio_samples: usize,
    /// Samples per second of that audio.
    pub sample_rate: u32,
    /// Audio messages sent.
    pub chunks: usize,
    /// An injected failure (`error` event or `close4000`), if one was sent.
    pub fault: Option<String>,
}

impl WsTtsTruth {
    /// All text received, joined as sent.
    pub fn text(&self) -> String {
        self.texts.iter().map(|(_, t)| t.as_str()).collect()
    }
}
