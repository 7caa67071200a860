//! Which wire protocol a scenario speaks, and which service that tests.
//! Every layer above `protocol/` names protocols with these types, never
//! with strings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One wire protocol: a closed set, one [`super::Adapter`] variant each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// TTS over HTTP (OpenAI-compatible or a templated vendor).
    HttpTts,
    /// ASR over HTTP: one upload per file.
    HttpAsr,
    /// Streaming ASR over WebSocket: real-time frames, partials and a final.
    WsAsr,
    /// A voice agent over WebSocket: multi-turn calls in real time.
    WsAgent,
    /// TTS over WebSocket: text in messages (whole or streamed), audio back.
    WsTts,
    /// A voice agent over WebRTC: the same calls as [`Kind::WsAgent`],
    /// Opus over RTP, messages on a data channel.
    RtcAgent,
}

/// What a protocol tests: the command that runs it alone (`voxload tts`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Text to speech.
    Tts,
    /// Speech to text.
    Asr,
    /// Voice agents.
    Agent,
}

impl Kind {
    /// Every protocol.
    pub const ALL: [Kind; 6] = [
        Kind::HttpTts,
        Kind::HttpAsr,
        Kind::WsAsr,
        Kind::WsAgent,
        Kind::WsTts,
        Kind::RtcAgent,
    ];

    /// The service this protocol tests.
    pub fn service(&self) -> Service {
        match self {
            Kind::HttpTts | Kind::WsTts => Service::Tts,
            Kind::HttpAsr | Kind::WsAsr => Service::Asr,
            Kind::WsAgent | Kind::RtcAgent => Service::Agent,
        }
    }

    /// The request method Locust-style tables show: `POST`, `WS` or `RTC`.
    pub fn method(&self) -> &'static str {
        match self {
            Kind::HttpTts | Kind::HttpAsr => "POST",
            Kind::WsAsr | Kind::WsAgent | Kind::WsTts => "WS",
            Kind::RtcAgent => "RTC",
        }
    }

    /// Stable name, as serialized: `http_tts`, `http_asr`, `ws_asr`,
    /// `ws_agent`, `ws_tts`, `rtc_agent`.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::HttpTts => "http_tts",
            Kind::HttpAsr => "http_asr",
            Kind::WsAsr => "ws_asr",
            Kind::WsAgent => "ws_agent",
            Kind::WsTts => "ws_tts",
            Kind::RtcAgent => "rtc_agent",
        }
    }
}

impl Service {
    /// Stable name: `tts`, `asr`, `agent` (the subcommand and a scenario's `kind`).
    pub fn name(&self) -> &'static str {
        match self {
            Service::Tts => "tts",
            Service::Asr => "asr",
            Service::Agent => "agent",
        }
    }

    /// Inverse of [`Service::name`].
    pub fn parse(s: &str) -> Option<Service> {
        [Service::Tts, Service::Asr, Service::Agent]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
