//! Typed failure classes of one request.
//!
//! Failures are counted by [`ErrorKind`], never by message text, so the
//! summary groups them reliably and a reworded message cannot split a class.

use serde::{Deserialize, Serialize};

/// Why one request failed. Serialized in `requests.jsonl` and `result.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "class", content = "status")]
pub enum ErrorKind {
    /// TCP/TLS connection could not be established.
    Connect,
    /// The request did not finish within `--timeout`.
    Timeout,
    /// The server answered with a non-success HTTP status.
    Http(u16),
    /// The connection was closed or reset before the response was complete.
    Reset,
    /// The response broke the protocol or one of voxload's size limits: an
    /// unparsable HTTP head or one over 64 KiB, a bad chunk size line, an
    /// SSE event or NDJSON line over 16 MiB, a WebSocket message over
    /// `--ws-max-message` or an invalid WebSocket frame. Not [`Reset`]
    /// (the server did answer) nor [`Decode`] (the framing itself, not the
    /// content inside it, is wrong).
    ///
    /// [`Reset`]: ErrorKind::Reset
    /// [`Decode`]: ErrorKind::Decode
    Protocol,
    /// The server closed the WebSocket (with this close code) before the answer was complete.
    WsClosed(u16),
    /// The response could not be parsed (bad SSE/NDJSON/JSON/base64/audio header).
    Decode,
    /// The audio ended before the length its own header declared (e.g. a
    /// WAV `data` size larger than the bytes that arrived).
    Truncated,
    /// Sanity: the response carried no audio at all.
    NoAudio,
    /// Sanity: the audio was silence from start to end.
    SilentAudio,
    /// Sanity: far less audio than the text implies.
    ShortAudio,
    /// Voice agent: the agent's answer kept playing at the caller (audio it
    /// kept sending, or had queued and did not drop) while the caller spoke
    /// over it (barge-in), until the caller's utterance ended.
    BargeInIgnored,
    /// The run was stopped (Ctrl-C grace expired) before the request finished.
    Cancelled,
}

impl ErrorKind {
    /// Short stable label used in tables, CSV and SLO names.
    pub fn label(&self) -> String {
        match self {
            ErrorKind::Connect => "connect".into(),
            ErrorKind::Timeout => "timeout".into(),
            ErrorKind::Http(s) => format!("http_{s}"),
            ErrorKind::Reset => "reset".into(),
            ErrorKind::Protocol => "protocol".into(),
            ErrorKind::WsClosed(code) => format!("ws_close_{code}"),
            ErrorKind::Decode => "decode".into(),
            ErrorKind::Truncated => "truncated".into(),
            ErrorKind::NoAudio => "no_audio".into(),
            ErrorKind::SilentAudio => "silent_audio".into(),
            ErrorKind::ShortAudio => "short_audio".into(),
            ErrorKind::BargeInIgnored => "barge_in_ignored".into(),
            ErrorKind::Cancelled => "cancelled".into(),
        }
    }

    /// The target could not be reached or dropped the connection: what a
    /// closed-loop user backs off after, and what marks a target as down.
    pub fn is_connection_level(&self) -> bool {
        matches!(self, ErrorKind::Connect | ErrorKind::Reset)
    }

    /// Audio sanity failures: the request "worked" on the wire but the audio is wrong.
    pub fn is_sanity(&self) -> bool {
        matches!(
            self,
            ErrorKind::NoAudio | ErrorKind::SilentAudio | ErrorKind::ShortAudio
        )
    }
}

/// A failed request as the adapter reports it: the class plus a short,
/// secret-free detail (e.g. the first bytes of an error body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", kind.label())]
pub struct ProtocolError {
    /// The class it is counted under.
    pub kind: ErrorKind,
    /// At most a few hundred characters of context.
    pub detail: String,
    /// The wait a refusal asked for (`Retry-After` on a 429 or 503), kept
    /// where the answer carrying it is gone before a record is built: a
    /// WebSocket handshake's.
    pub retry_after: Option<std::time::Duration>,
}

impl ProtocolError {
    /// Build an error, cutting the detail to [`DETAIL_MAX`] characters.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        let mut detail: String = detail.into();
        if detail.chars().count() > DETAIL_MAX {
            detail = detail.chars().take(DETAIL_MAX).collect::<String>() + "…";
        }
        Self {
            kind,
            detail,
            retry_after: None,
        }
    }
}

/// Longest detail kept per error, so a huge HTML error page cannot bloat results.
pub const DETAIL_MAX: usize = 200;
