//! Twilio Media Streams as the mock's voice agent speaks it: `GET
//! /v1/twilio`. The client plays Twilio (the caller's side of a phone
//! call); the mock is the bot. The same agent model, clocks, VAD and truth
//! as `/v1/agent`; only the messages and the audio differ: μ-law at 8 kHz,
//! base64 in JSON, both ways.
//!
//! Client → server (Twilio's events):
//! - `connected`, then `start` whose `start.mediaFormat` must be
//!   `audio/x-mulaw` at 8000 Hz mono (anything else is recorded as the
//!   error `invalid_media_format`; Twilio bots have no error event to send);
//! - `media` with `media.payload` (base64 μ-law) every 20 ms; the mock
//!   checks that `media.chunk` counts up from 1 and `media.timestamp` is
//!   the frame's place on a 20 ms grid, and counts the frames that are not;
//! - `mark` echoes (the name and arrival are recorded), `stop` (recorded),
//!   `dtmf` (ignored); any other event is recorded as `unknown_event`.
//!
//! Server → client: each answer chunk as `{"event":"media","streamSid":…,
//! "media":{"payload":"<base64 μ-law>"}}`, a `mark` named `turn-<n>` right
//! after an answer's last chunk, and `{"event":"clear","streamSid":…}` when
//! the caller barges in (Twilio's only interruption signal). No transcript
//! or text is sent: a phone line carries audio only.

use axum::extract::ws::{Message, Utf8Bytes};
use base64::Engine as _;
use serde_json::{json, Value};

use super::wire_event::ClientEvent;

/// The rate of a Twilio media stream.
pub(super) const TWILIO_RATE: u32 = 8_000;

/// One Twilio stream's wire state: its `streamSid` (from `start`) and the
/// numbering of the media frames received.
#[derive(Debug, Default)]
pub(super) struct TwilioWire {
    stream_sid: String,
    /// Media frames received, and those whose `chunk`/`timestamp` were off.
    pub(super) media: u64,
    pub(super) misnumbered: u64,
}

impl TwilioWire {
    fn text(v: Value) -> Message {
        Message::Text(Utf8Bytes::from(v.to_string()))
    }

    /// One answer chunk (already μ-law).
    pub(super) fn media(&self, mulaw: &[u8]) -> Message {
        let b64 = base64::engine::general_purpose::STANDARD.encode(mulaw);
        Self::text(
            json!({"event": "media", "streamSid": self.stream_sid, "media": {"payload": b64}}),
        )
    }

    /// The mark after answer `turn`'s last chunk.
    pub(super) fn mark(&self, turn: u64) -> Message {
        Self::text(
            json!({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": mark_name(turn)}}),
        )
    }

    /// Empty the caller's playback queue: the bot was interrupted.
    pub(super) fn clear(&self) -> Message {
        Self::text(json!({"event": "clear", "streamSid": self.stream_sid}))
    }

    /// Read one client event.
    pub(super) fn parse(&mut self, text: &str) -> ClientEvent {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return ClientEvent::NotJson;
        };
        let event = v.get("event").and_then(Value::as_str).unwrap_or("");
        match event {
            "connected" | "dtmf" => ClientEvent::CreateResponse,
            "start" => {
                let sid = v.pointer("/start/streamSid").or_else(|| v.get("streamSid"));
                self.stream_sid = sid.and_then(Value::as_str).unwrap_or("").to_string();
                let f = v.pointer("/start/mediaFormat").unwrap_or(&Value::Null);
                let encoding = f.get("encoding").and_then(Value::as_str);
                let rate = f.get("sampleRate").and_then(Value::as_u64);
                ClientEvent::Update(match (encoding, rate) {
                    (Some("audio/x-mulaw"), Some(8_000)) => {
                        Ok((TWILIO_RATE, crate::audio::codec::Codec::Mulaw))
                    }
                    _ => Err(format!("media format {f} is not audio/x-mulaw at 8000 Hz")),
                })
            }
            "media" => {
                self.media += 1;
                let m = &v["media"];
                let number = |k: &str| m.get(k).and_then(Value::as_str)?.parse::<u64>().ok();
                let expected_ms = (self.media - 1) * 20;
                if number("chunk") != Some(self.media) || number("timestamp") != Some(expected_ms) {
                    self.misnumbered += 1;
                }
                let payload = m
                    .get("payload")
                    .and_then(Value::as_str)
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
                ClientEvent::Append(payload)
            }
            "mark" => ClientEvent::Mark(
                v.pointer("/mark/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            "stop" => ClientEvent::Stop,
            other => ClientEvent::Unknown(other.to_string()),
        }
    }
}

/// The name of answer `turn`'s mark.
pub(super) fn mark_name(turn: u64) -> String {
    format!("turn-{turn}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_events_are_read_and_media_numbering_is_checked() {
        let mut w = TwilioWire::default();
        let start = r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ1","start":{"streamSid":"MZ1","callSid":"CA1","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#;
        assert!(matches!(
            w.parse(start),
            ClientEvent::Update(Ok((8_000, _)))
        ));
        let media = |chunk: u64, ts: u64| {
            format!(
                r#"{{"event":"media","sequenceNumber":"{}","media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{ts}","payload":"//8="}}}}"#,
                chunk + 1
            )
        };
        assert!(matches!(w.parse(&media(1, 0)), ClientEvent::Append(Some(p)) if p == [0xFF, 0xFF]));
        w.parse(&media(2, 20));
        w.parse(&media(4, 60));
        assert_eq!((w.media, w.misnumbered), (3, 1));
        let Message::Text(t) = w.clear() else {
            panic!("text")
        };
        assert_eq!(t.as_str(), r#"{"event":"clear","streamSid":"MZ1"}"#);
        assert!(
            matches!(w.parse(r#"{"event":"mark","mark":{"name":"turn-0"}}"#), ClientEvent::Mark(n) if n == "turn-0")
        );
        assert!(matches!(w.parse(r#"{"event":"stop"}"#), ClientEvent::Stop));
        let pcmu = r#"{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-alaw","sampleRate":8000}}}"#;
        assert!(matches!(w.parse(pcmu), ClientEvent::Update(Err(_))));
    }
}
