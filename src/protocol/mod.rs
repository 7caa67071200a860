//! Protocol adapters: *what* is sent and how the answer is read.
//!
//! The wire protocols form a closed set, so they are an enum; vendors are
//! configuration (see [`http_tts::TtsTarget`]), not new code.

pub mod adapter;
pub mod agent_call;
pub mod client;
pub mod error;
pub mod events;
pub mod framing;
pub mod http_asr;
pub mod http_tts;
pub mod kind;
pub mod probe;
pub mod prom_text;
pub mod ready;
pub mod scrape;
pub mod target;
pub mod trace;
pub mod webrtc;
pub mod ws;
pub mod ws_agent;
pub mod ws_agent_session;
pub mod ws_asr;
pub mod ws_pacer;
pub mod ws_tts;

#[cfg(test)]
mod message_props;

pub use adapter::{Adapter, Target};
pub use client::{HttpClient, OwnedConn};
pub use error::{ErrorKind, EventCode, ProtocolError};
pub use kind::{Kind, Service};
pub use probe::{AudioChunk, Capture, Probe};
