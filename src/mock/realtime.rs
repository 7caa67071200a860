//! The OpenAI Realtime API as the mock agent speaks it: `GET /v1/realtime`
//! (GA event names; beta names with `?dialect=beta` or the handshake header
//! `OpenAI-Beta: realtime=v1`). The same agent model, clocks, VAD and truth
//! as `/v1/agent` (see [`super::ws_agent`]); only the messages differ.
//!
//! Client → server:
//! - `session.update`: the input format (GA `session.audio.input.format`
//!   `{"type":"audio/pcm","rate":24000}`; beta `input_audio_format:
//!   "pcm16"`) sets the caller's rate; any other format or rate is an
//!   `error` (`invalid_value`). Answered with `session.updated`.
//! - `input_audio_buffer.append {"audio":"<base64 pcm16>"}`: caller audio
//!   (bad base64: `error` `invalid_audio`);
//! - `input_audio_buffer.commit`: the caller's end of speech now (as
//!   `end_of_speech` on `/v1/agent`); with nothing spoken since the last
//!   one, `error` `input_audio_buffer_commit_empty`;
//! - `response.cancel`: an answer still going stops now (`response.done`
//!   `cancelled`, reason `client_cancelled`); with none, `error`
//!   `response_cancel_not_active`. The arrival is recorded;
//! - `conversation.item.truncate {item_id,content_index,audio_end_ms}`: for
//!   an answer's item, recorded with the audio sent for it by then and
//!   answered with `conversation.item.truncated`; an unknown item is
//!   `error` `item_not_found`, `audio_end_ms` past the audio sent is
//!   `error` `invalid_value`;
//! - `response.create` is accepted and ignored (server VAD answers every
//!   turn); anything else is `error` `unknown_event`, text that is not
//!   JSON `error` `invalid_json`.
//!
//! Server → client, on the `/v1/agent` schedule (`d` = end of speech detected):
//! - on accept, `session.created`;
//! - the first speech frame of each utterance:
//!   `input_audio_buffer.speech_started` (also the barge-in cue: the answer
//!   then stops `barge_stop_delay` later with `response.done` `cancelled`,
//!   reason `turn_detected`);
//! - at `d`: `input_audio_buffer.speech_stopped`, `input_audio_buffer.committed`,
//!   `conversation.item.added` (beta `conversation.item.created`) and
//!   `response.created`;
//! - at `d + transcript_delay`:
//!   `conversation.item.input_audio_transcription.completed {transcript}`;
//! - audio chunks as `response.output_audio.delta` (beta
//!   `response.audio.delta`) with `response_id`, `item_id` and base64 PCM16
//!   at the session's rate, the first preceded by
//!   `response.output_audio_transcript.delta` (beta
//!   `response.audio_transcript.delta`) holding the reply text;
//! - after the last: `response.output_audio.done` (beta
//!   `response.audio.done`), `response.done` (`completed`) and
//!   `rate_limits.updated`.
//!
//! Ids are stable per session and turn: `item_<session>_<turn>_u` (the
//! caller's), `item_<session>_<turn>_a` (the answer's), `resp_<session>_<turn>`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::{Message, Utf8Bytes};
use base64::Engine as _;
use serde_json::{json, Value};

/// One realtime session's wire: its dialect, rate and event counter.
pub(super) struct Realtime {
    beta: bool,
    session: u64,
    events: AtomicU64,
}

/// PCM rates a realtime session takes (the API's only PCM rate).
pub(super) const REALTIME_RATE: u32 = 24_000;

impl Realtime {
    pub(super) fn new(beta: bool, session: u64) -> Self {
        Self {
            beta,
            session,
            events: AtomicU64::new(0),
        }
    }

    /// The dialect's name, for truth.
    pub(super) fn dialect(&self) -> &'static str {
        if self.beta {
            "beta"
        } else {
            "ga"
        }
    }

    fn event(&self, mut v: Value) -> Message {
        let n = self.events.fetch_add(1, Ordering::Relaxed) + 1;
        v["event_id"] = Value::String(format!("event_{}_{n}", self.session));
        Message::Text(Utf8Bytes::from(v.to_string()))
    }

    /// The answer item of turn `turn`.
    pub(super) fn answer_item(&self, turn: u64) -> String {
        format!("item_{}_{turn}_a", self.session)
    }

    fn user_item(&self, turn: u64) -> String {
        format!("item_{}_{turn}_u", self.session)
    }

    fn response(&self, turn: u64) -> String {
        format!("resp_{}_{turn}", self.session)
    }

    pub(super) fn session_created(&self) -> Message {
        self.event(
            json!({"type": "session.created", "session": {"id": format!("sess_{}", self.session)}}),
        )
    }

    pub(super) fn session_updated(&self) -> Message {
        self.event(
            json!({"type": "session.updated", "session": {"id": format!("sess_{}", self.session)}}),
        )
    }

    pub(super) fn speech_started(&self, turn: u64, audio_ms: u64) -> Message {
        self.event(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_ms, "item_id": self.user_item(turn)}))
    }

    /// What goes out at the end of speech: stopped (server VAD only),
    /// committed, the user item, and the response's start.
    pub(super) fn detected(&self, turn: u64, audio_ms: u64, vad: bool) -> Vec<Message> {
        let item = self.user_item(turn);
        let added = if self.beta {
            "conversation.item.created"
        } else {
            "conversation.item.added"
        };
        let mut out = Vec::with_capacity(4);
        if vad {
            out.push(self.event(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_ms, "item_id": item})));
        }
        out.push(self.event(json!({"type": "input_audio_buffer.committed", "item_id": item, "previous_item_id": null})));
        out.push(self.event(
            json!({"type": added, "item": {"id": item, "type": "message", "role": "user"}}),
        ));
        out.push(self.event(json!({"type": "response.created", "response": {"id": self.response(turn), "status": "in_progress"}})));
        out
    }

    pub(super) fn transcript(&self, turn: u64, text: &str) -> Utf8Bytes {
        let v = json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": self.user_item(turn), "content_index": 0, "transcript": text});
        match self.event(v) {
            Message::Text(t) => t,
            _ => Utf8Bytes::from_static(""),
        }
    }

    pub(super) fn reply_text(&self, turn: u64, text: &str) -> Message {
        let kind = if self.beta {
            "response.audio_transcript.delta"
        } else {
            "response.output_audio_transcript.delta"
        };
        self.event(json!({"type": kind, "response_id": self.response(turn), "item_id": self.answer_item(turn), "delta": text}))
    }

    pub(super) fn audio_delta(&self, turn: u64, pcm: &[u8]) -> Message {
        let kind = if self.beta {
            "response.audio.delta"
        } else {
            "response.output_audio.delta"
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(pcm);
        self.event(json!({"type": kind, "response_id": self.response(turn), "item_id": self.answer_item(turn), "output_index": 0, "content_index": 0, "delta": b64}))
    }

    /// The end of a completed answer.
    pub(super) fn completed(&self, turn: u64) -> Vec<Message> {
        let done = if self.beta {
            "response.audio.done"
        } else {
            "response.output_audio.done"
        };
        vec![
            self.event(json!({"type": done, "response_id": self.response(turn), "item_id": self.answer_item(turn)})),
            self.response_done(turn, "completed", None),
            self.event(json!({"type": "rate_limits.updated", "rate_limits": [{"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 60.0}]})),
        ]
    }

    pub(super) fn response_done(&self, turn: u64, status: &str, reason: Option<&str>) -> Message {
        let details = reason.map(|r| json!({"type": status, "reason": r}));
        self.event(json!({"type": "response.done", "response": {"id": self.response(turn), "status": status, "status_details": details}}))
    }

    pub(super) fn truncated(&self, item: &str, content_index: u64, audio_end_ms: u64) -> Message {
        self.event(json!({"type": "conversation.item.truncated", "item_id": item, "content_index": content_index, "audio_end_ms": audio_end_ms}))
    }

    pub(super) fn error(&self, code: &str, message: &str) -> Message {
        self.event(json!({"type": "error", "error": {"type": "invalid_request_error", "code": code, "message": message}}))
    }
}

/// A client event the session reads.
pub(super) enum ClientEvent {
    /// `session.update` with this input rate (`Err`: a format the mock refuses).
    Update(Result<u32, String>),
    Append(Option<Vec<u8>>),
    Commit,
    Cancel,
    Truncate {
        item: String,
        content_index: u64,
        audio_end_ms: u64,
    },
    CreateResponse,
    Unknown(String),
    NotJson,
}

/// Read one client text message.
pub(super) fn parse(text: &str) -> ClientEvent {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return ClientEvent::NotJson;
    };
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "session.update" | "transcription_session.update" => {
            ClientEvent::Update(input_rate(&v["session"]))
        }
        "input_audio_buffer.append" => {
            let pcm = v
                .get("audio")
                .and_then(Value::as_str)
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
            ClientEvent::Append(pcm)
        }
        "input_audio_buffer.commit" => ClientEvent::Commit,
        "response.cancel" => ClientEvent::Cancel,
        "response.create" => ClientEvent::CreateResponse,
        "conversation.item.truncate" => ClientEvent::Truncate {
            item: v
                .get("item_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            content_index: v.get("content_index").and_then(Value::as_u64).unwrap_or(0),
            audio_end_ms: v.get("audio_end_ms").and_then(Value::as_u64).unwrap_or(0),
        },
        other => ClientEvent::Unknown(other.to_string()),
    }
}

/// The input rate a session update asks for (GA nested or beta flat);
/// unset is 24 kHz PCM.
fn input_rate(session: &Value) -> Result<u32, String> {
    if let Some(f) = session.pointer("/audio/input/format") {
        let kind = f.get("type").and_then(Value::as_str).unwrap_or("audio/pcm");
        let rate = f.get("rate").and_then(Value::as_u64).unwrap_or(24_000);
        return match (kind, rate) {
            ("audio/pcm", 24_000) => Ok(REALTIME_RATE),
            ("audio/pcm", r) => Err(format!("audio/pcm is 24000 Hz only (got {r})")),
            (k, _) => Err(format!("the mock speaks audio/pcm only (got {k})")),
        };
    }
    match session.get("input_audio_format").and_then(Value::as_str) {
        None | Some("pcm16") => Ok(REALTIME_RATE),
        Some(other) => Err(format!("the mock speaks pcm16 only (got {other})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_updates_of_both_dialects_set_the_rate_or_are_refused() {
        let ga = r#"{"type":"session.update","session":{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":24000}}}}}"#;
        assert!(matches!(parse(ga), ClientEvent::Update(Ok(24_000))));
        let bad = r#"{"type":"session.update","session":{"audio":{"input":{"format":{"type":"audio/pcm","rate":16000}}}}}"#;
        assert!(matches!(parse(bad), ClientEvent::Update(Err(_))));
        let beta = r#"{"type":"session.update","session":{"input_audio_format":"pcm16"}}"#;
        assert!(matches!(parse(beta), ClientEvent::Update(Ok(24_000))));
        assert!(matches!(parse("nope"), ClientEvent::NotJson));
        assert!(matches!(parse(r#"{"type":"x.y"}"#), ClientEvent::Unknown(k) if k == "x.y"));
    }

    #[test]
    fn events_carry_ids_and_the_dialects_names() {
        let ga = Realtime::new(false, 7);
        let Message::Text(t) = ga.audio_delta(2, &[0, 0]) else {
            panic!("text")
        };
        let v: Value = serde_json::from_str(t.as_str()).expect("json");
        assert_eq!(v["type"], "response.output_audio.delta");
        assert_eq!(v["item_id"], "item_7_2_a");
        assert_eq!(v["delta"], "AAA=");
        assert_eq!(v["event_id"], "event_7_1");
        let beta = Realtime::new(true, 7);
        let Message::Text(t) = beta.audio_delta(2, &[0, 0]) else {
            panic!("text")
        };
        assert!(t.as_str().contains(r#""type":"response.audio.delta""#));
    }
}
