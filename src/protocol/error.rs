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
    /// The server sent an error event (a JSON message of an error type,
    /// e.g. OpenAI Realtime's `error`) with this code.
    ServerEvent(EventCode),
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
            ErrorKind::ServerEvent(code) => format!("event_{code}"),
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

/// An error event's code, as a server sent it, kept inline so that
/// [`ErrorKind`] stays `Copy` and hashable without an allocation per
/// failure. Longer codes are cut at [`EventCode::MAX`] bytes (on a
/// character boundary); characters outside `[A-Za-z0-9_.-]` become `_`,
/// so a code is safe in a table, a CSV column and an SLO name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventCode {
    len: u8,
    bytes: [u8; EventCode::MAX],
}

impl EventCode {
    /// Longest code kept, bytes.
    pub const MAX: usize = 40;

    /// The code `raw`, cleaned as described on the type; an empty code is `unknown`.
    pub fn new(raw: &str) -> Self {
        let raw = if raw.is_empty() { "unknown" } else { raw };
        let mut bytes = [0u8; Self::MAX];
        let mut len = 0;
        for c in raw.chars() {
            if len == Self::MAX {
                break;
            }
            let ok = c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
            bytes[len] = if ok { c as u8 } else { b'_' };
            len += 1;
        }
        Self {
            len: len as u8,
            bytes,
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("unknown")
    }
}

impl std::fmt::Display for EventCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for EventCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Serialize for EventCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Self::new(&s))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_are_cleaned_cut_and_round_trip_through_json() {
        assert_eq!(
            EventCode::new("rate_limit_exceeded").as_str(),
            "rate_limit_exceeded"
        );
        assert_eq!(EventCode::new("bad code/é").as_str(), "bad_code__");
        assert_eq!(EventCode::new("").as_str(), "unknown");
        let long = "x".repeat(100);
        assert_eq!(EventCode::new(&long).as_str().len(), EventCode::MAX);
        let kind = ErrorKind::ServerEvent(EventCode::new("invalid_value"));
        assert_eq!(kind.label(), "event_invalid_value");
        let json = serde_json::to_string(&kind).expect("serializes");
        assert_eq!(json, r#"{"class":"server_event","status":"invalid_value"}"#);
        let back: ErrorKind = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, kind);
    }
}
