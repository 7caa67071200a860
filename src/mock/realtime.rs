//! The OpenAI Realtime API as the mock agent speaks it: `GET /v1/realtime`
//! (GA event names; beta names with `?dialect=beta` or the handshake header
//! `OpenAI-Beta: realtime=v1`). The same agent model, clocks, VAD and truth
//! as `/v1/agent` (see [`super::ws_agent`]); only the messages differ.
//!
//! Client → server:
//! - `session.update`: the input format (GA `session.audio.input.format`
//!   `{"type":"audio/pcm","rate":24000}`; beta `input_audio_format:
//!   "pcm16"`) sets the caller's rate; any other format or rate is an
//!   `error` (`invalid_value`). Its `turn_detection` (GA under
//!   `audio.input`, beta flat) picks server VAD, semantic VAD (the same
//!   energy VAD here) or, when `null`, manual turns. Answered with
//!   `session.updated`.
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
//! - `response.create`: with manual turns, the committed turn is answered
//!   from now on the usual schedule (`response.created` now, audio after
//!   `response_delay`); while an answer is still going, `error`
//!   `conversation_already_has_active_response`. With a VAD every turn is
//!   answered anyway and it is ignored. Arrivals of commits and creates are
//!   recorded;
//! - anything else is `error` `unknown_event`, text that is not JSON
//!   `error` `invalid_json`.
//!
//! Server → client, on the `/v1/agent` schedule (`d` = end of speech detected):
//! - on accept, `session.created` (and after an update `session.updated`)
//!   with the session's formats: GA `session.audio.{input,output}.format`
//!   (`{"type":"audio/pcm","rate":24000}`, the rate a client reads with
//!   `--agent-rate-path session.audio.output.format.rate`), beta
//!   `input_audio_format`/`output_audio_format`;
//! - (with a VAD) the first speech frame of each utterance:
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
//!   `response.audio.done`), `response.done` (`completed`; `failed` on
//!   every Nth answer of a session with `?fail_every=N`) and
//!   `rate_limits.updated` (`requests` remaining: one fewer per answer,
//!   [`rate_limit_left`]).
//!
//! `session.update` may instead ask for G.711 (`audio/pcmu`, `audio/pcma`;
//! beta `g711_ulaw`, `g711_alaw`): the session then runs at 8 kHz, the
//! caller's audio is decoded and the answer encoded in that law.
//!
//! Ids are stable per session and turn: `item_<session>_<turn>_u` (the
//! caller's), `item_<session>_<turn>_a` (the answer's), `resp_<session>_<turn>`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::{Message, Utf8Bytes};

use super::twilio::{TwilioWire, TWILIO_RATE};
pub(super) use super::wire_event::ClientEvent;
use crate::audio::codec::Codec;
use base64::Engine as _;
use serde_json::{json, Value};

/// Which wire a session speaks besides the mock's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// The OpenAI Realtime API, GA event names.
    Ga,
    /// Its beta event names.
    Beta,
    /// Twilio Media Streams (see [`super::twilio`]).
    Twilio,
}

/// One session's wire: its dialect, audio format and event counter.
pub(super) struct Realtime {
    dialect: Dialect,
    session: u64,
    events: AtomicU64,
    /// The session's rate and codec, both ways (set by the client's
    /// session update or Twilio's `start`).
    pub(super) rate: u32,
    pub(super) codec: Codec,
    pub(super) twilio: TwilioWire,
    /// How the session finds the end of the caller's turns (set by
    /// `session.update`).
    pub(super) detection: TurnDetection,
    /// `?fail_every=N`: every Nth response of the session ends `failed`.
    pub(super) fail_every: Option<u64>,
}

/// A realtime session's `turn_detection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum TurnDetection {
    /// `server_vad` (the default): energy VAD, answers every turn.
    #[default]
    ServerVad,
    /// `semantic_vad`: the mock's energy VAD stands in for the model's.
    SemanticVad,
    /// `null`: no VAD events; a turn ends at `input_audio_buffer.commit`
    /// and is answered only on `response.create`.
    Manual,
}

impl TurnDetection {
    /// The API's name for it, for truth.
    pub(super) fn name(self) -> &'static str {
        match self {
            TurnDetection::ServerVad => "server_vad",
            TurnDetection::SemanticVad => "semantic_vad",
            TurnDetection::Manual => "none",
        }
    }

    /// What a session update says (GA nested, beta flat); `None`: nothing
    /// about it, the session keeps its mode.
    fn of_update(session: &Value) -> Option<Self> {
        let d = session
            .pointer("/audio/input/turn_detection")
            .or_else(|| session.get("turn_detection"))?;
        Some(match d.get("type").and_then(Value::as_str) {
            _ if d.is_null() => TurnDetection::Manual,
            Some("semantic_vad") => TurnDetection::SemanticVad,
            _ => TurnDetection::ServerVad,
        })
    }
}

/// The `requests` limit `rate_limits.updated` reports.
pub const RATE_LIMIT: u64 = 1000;

/// Requests left by `rate_limits.updated` after answer `turn` (0-based) of
/// a session: one fewer per answer, so a client's kept copy tells which
/// answer it came after.
pub fn rate_limit_left(turn: u64) -> u64 {
    RATE_LIMIT.saturating_sub(turn + 1)
}

/// PCM rates a realtime session takes (the API's only PCM rate).
pub(super) const REALTIME_RATE: u32 = 24_000;

/// The rate of the realtime API's G.711 formats (`audio/pcmu`, `audio/pcma`).
const G711_RATE: u32 = 8_000;

impl Realtime {
    pub(super) fn new(dialect: Dialect, session: u64) -> Self {
        let (rate, codec) = match dialect {
            Dialect::Twilio => (TWILIO_RATE, Codec::Mulaw),
            Dialect::Ga | Dialect::Beta => (REALTIME_RATE, Codec::Pcm16),
        };
        Self {
            dialect,
            session,
            events: AtomicU64::new(0),
            rate,
            codec,
            twilio: TwilioWire::default(),
            detection: TurnDetection::default(),
            fail_every: None,
        }
    }

    /// The dialect's name, for truth.
    pub(super) fn dialect(&self) -> &'static str {
        match self.dialect {
            Dialect::Ga => "ga",
            Dialect::Beta => "beta",
            Dialect::Twilio => "twilio",
        }
    }

    fn is_beta(&self) -> bool {
        self.dialect == Dialect::Beta
    }

    fn is_twilio(&self) -> bool {
        self.dialect == Dialect::Twilio
    }

    /// The wire has transcripts and text (a phone line has neither).
    pub(super) fn has_text(&self) -> bool {
        !self.is_twilio()
    }

    /// Read one client message.
    pub(super) fn parse(&mut self, text: &str) -> ClientEvent {
        match self.dialect {
            Dialect::Twilio => self.twilio.parse(text),
            Dialect::Ga | Dialect::Beta => {
                let Ok(v) = serde_json::from_str::<Value>(text) else {
                    return ClientEvent::NotJson;
                };
                let event = parse_value(&v);
                if matches!(event, ClientEvent::Update(Ok(_))) {
                    if let Some(d) = TurnDetection::of_update(&v["session"]) {
                        self.detection = d;
                    }
                }
                event
            }
        }
    }

    /// Turns end only when the client commits, and are answered only when it asks.
    pub(super) fn manual(&self) -> bool {
        self.detection == TurnDetection::Manual
    }

    /// How response `turn` ends when it runs to its end: `failed` on every
    /// `fail_every`-th, else `completed`.
    pub(super) fn final_status(&self, turn: u64) -> &'static str {
        match self.fail_every {
            Some(n) if n > 0 && (turn + 1) % n == 0 => "failed",
            _ => "completed",
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

    /// The id of turn `turn`'s response.
    pub(super) fn response(&self, turn: u64) -> String {
        format!("resp_{}_{turn}", self.session)
    }

    pub(super) fn session_created(&self) -> Option<Message> {
        self.session_event("session.created")
    }

    pub(super) fn session_updated(&self) -> Option<Message> {
        self.session_event("session.updated")
    }

    /// `session.created` / `session.updated` with the session as it is: GA
    /// states its audio formats both ways (`session.audio.output.format`
    /// `{"type":"audio/pcm","rate":24000}`, or `audio/pcmu`/`audio/pcma`
    /// without a rate); beta its `output_audio_format` name.
    fn session_event(&self, kind: &str) -> Option<Message> {
        if self.is_twilio() {
            return None;
        }
        let id = format!("sess_{}", self.session);
        let session = if self.is_beta() {
            let name = match self.codec {
                Codec::Mulaw => "g711_ulaw",
                Codec::Alaw => "g711_alaw",
                Codec::Pcm16 => "pcm16",
            };
            json!({"id": id, "input_audio_format": name, "output_audio_format": name})
        } else {
            let format = match self.codec {
                Codec::Mulaw => json!({"type": "audio/pcmu"}),
                Codec::Alaw => json!({"type": "audio/pcma"}),
                Codec::Pcm16 => json!({"type": "audio/pcm", "rate": self.rate}),
            };
            json!({"id": id, "type": "realtime", "audio": {"input": {"format": format}, "output": {"format": format}}})
        };
        Some(self.event(json!({"type": kind, "session": session})))
    }

    pub(super) fn speech_started(&self, turn: u64, audio_ms: u64) -> Option<Message> {
        (!self.is_twilio()).then(|| self.event(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_ms, "item_id": self.user_item(turn)})))
    }

    /// What goes out at the end of speech: stopped (server VAD only),
    /// committed, the user item, and the response's start.
    pub(super) fn detected(&self, turn: u64, audio_ms: u64, vad: bool) -> Vec<Message> {
        let mut out = self.committed(turn, audio_ms, vad);
        if !self.manual() && !self.is_twilio() {
            out.push(self.response_created(turn));
        }
        out
    }

    /// `response.created` of turn `turn`'s answer.
    pub(super) fn response_created(&self, turn: u64) -> Message {
        self.event(json!({"type": "response.created", "response": {"id": self.response(turn), "status": "in_progress"}}))
    }

    /// The end of the caller's speech (`vad`: found by the VAD) and its item.
    fn committed(&self, turn: u64, audio_ms: u64, vad: bool) -> Vec<Message> {
        let item = self.user_item(turn);
        let added = if self.is_beta() {
            "conversation.item.created"
        } else {
            "conversation.item.added"
        };
        let mut out = Vec::with_capacity(4);
        if self.is_twilio() {
            return out;
        }
        if vad {
            out.push(self.event(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_ms, "item_id": item})));
        }
        out.push(self.event(json!({"type": "input_audio_buffer.committed", "item_id": item, "previous_item_id": null})));
        out.push(self.event(
            json!({"type": added, "item": {"id": item, "type": "message", "role": "user"}}),
        ));
        out
    }

    pub(super) fn transcript(&self, turn: u64, text: &str) -> Utf8Bytes {
        let v = json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": self.user_item(turn), "content_index": 0, "transcript": text});
        match self.event(v) {
            Message::Text(t) => t,
            _ => Utf8Bytes::from_static(""),
        }
    }

    pub(super) fn reply_text(&self, turn: u64, text: &str) -> Option<Message> {
        if self.is_twilio() {
            return None;
        }
        let kind = if self.is_beta() {
            "response.audio_transcript.delta"
        } else {
            "response.output_audio_transcript.delta"
        };
        Some(self.event(json!({"type": kind, "response_id": self.response(turn), "item_id": self.answer_item(turn), "delta": text})))
    }

    /// One answer chunk (16-bit PCM at the session's rate), in the
    /// session's codec.
    pub(super) fn audio_delta(&self, turn: u64, pcm: &[u8]) -> Message {
        let encoded = self.codec.encode(pcm);
        if self.is_twilio() {
            return self.twilio.media(&encoded);
        }
        let kind = if self.is_beta() {
            "response.audio.delta"
        } else {
            "response.output_audio.delta"
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(&encoded);
        self.event(json!({"type": kind, "response_id": self.response(turn), "item_id": self.answer_item(turn), "output_index": 0, "content_index": 0, "delta": b64}))
    }

    /// The end of a completed answer.
    pub(super) fn completed(&self, turn: u64) -> Vec<Message> {
        if self.is_twilio() {
            return vec![self.twilio.mark(turn)];
        }
        let done = if self.is_beta() {
            "response.audio.done"
        } else {
            "response.output_audio.done"
        };
        vec![
            self.event(json!({"type": done, "response_id": self.response(turn), "item_id": self.answer_item(turn)})),
            self.response_done(turn, self.final_status(turn), None),
            self.event(json!({"type": "rate_limits.updated", "rate_limits": [{"name": "requests", "limit": RATE_LIMIT, "remaining": rate_limit_left(turn), "reset_seconds": 60.0}]})),
        ]
    }

    /// An answer stopped because the caller spoke (`reason`): a cancelled
    /// `response.done`, or Twilio's `clear`.
    pub(super) fn cancelled(&self, turn: u64, reason: &str) -> Message {
        if self.is_twilio() {
            return self.twilio.clear();
        }
        self.response_done(turn, "cancelled", Some(reason))
    }

    pub(super) fn response_done(&self, turn: u64, status: &str, reason: Option<&str>) -> Message {
        let details = match (status, reason) {
            ("failed", _) => Some(
                json!({"type": "failed", "error": {"type": "server_error", "code": "server_error"}}),
            ),
            (_, r) => r.map(|r| json!({"type": status, "reason": r})),
        };
        self.event(json!({"type": "response.done", "response": {"id": self.response(turn), "status": status, "status_details": details}}))
    }

    pub(super) fn truncated(&self, item: &str, content_index: u64, audio_end_ms: u64) -> Message {
        self.event(json!({"type": "conversation.item.truncated", "item_id": item, "content_index": content_index, "audio_end_ms": audio_end_ms}))
    }

    pub(super) fn error(&self, code: &str, message: &str) -> Option<Message> {
        (!self.is_twilio()).then(|| self.event(json!({"type": "error", "error": {"type": "invalid_request_error", "code": code, "message": message}})))
    }
}

/// Read one client text message.
pub(super) fn parse(text: &str) -> ClientEvent {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => parse_value(&v),
        Err(_) => ClientEvent::NotJson,
    }
}

/// [`parse`] of a message already read as JSON.
fn parse_value(v: &Value) -> ClientEvent {
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

/// The input format a session update asks for (GA nested or beta flat):
/// PCM at 24 kHz, or G.711 at 8 kHz; unset is 24 kHz PCM.
fn input_rate(session: &Value) -> Result<(u32, Codec), String> {
    if let Some(f) = session.pointer("/audio/input/format") {
        let kind = f.get("type").and_then(Value::as_str).unwrap_or("audio/pcm");
        let rate = f.get("rate").and_then(Value::as_u64).unwrap_or(24_000);
        return match (kind, rate) {
            ("audio/pcm", 24_000) => Ok((REALTIME_RATE, Codec::Pcm16)),
            ("audio/pcm", r) => Err(format!("audio/pcm is 24000 Hz only (got {r})")),
            ("audio/pcmu", _) => Ok((G711_RATE, Codec::Mulaw)),
            ("audio/pcma", _) => Ok((G711_RATE, Codec::Alaw)),
            (k, _) => Err(format!("unsupported format {k}")),
        };
    }
    match session.get("input_audio_format").and_then(Value::as_str) {
        None | Some("pcm16") => Ok((REALTIME_RATE, Codec::Pcm16)),
        Some("g711_ulaw") => Ok((G711_RATE, Codec::Mulaw)),
        Some("g711_alaw") => Ok((G711_RATE, Codec::Alaw)),
        Some(other) => Err(format!("unsupported format {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_updates_of_both_dialects_set_the_rate_or_are_refused() {
        let ga = r#"{"type":"session.update","session":{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":24000}}}}}"#;
        assert!(matches!(
            parse(ga),
            ClientEvent::Update(Ok((24_000, Codec::Pcm16)))
        ));
        let pcmu = r#"{"type":"session.update","session":{"audio":{"input":{"format":{"type":"audio/pcmu"}}}}}"#;
        assert!(matches!(
            parse(pcmu),
            ClientEvent::Update(Ok((8_000, Codec::Mulaw)))
        ));
        let bad = r#"{"type":"session.update","session":{"audio":{"input":{"format":{"type":"audio/pcm","rate":16000}}}}}"#;
        assert!(matches!(parse(bad), ClientEvent::Update(Err(_))));
        let beta = r#"{"type":"session.update","session":{"input_audio_format":"pcm16"}}"#;
        assert!(matches!(
            parse(beta),
            ClientEvent::Update(Ok((24_000, Codec::Pcm16)))
        ));
        assert!(matches!(parse("nope"), ClientEvent::NotJson));
        assert!(matches!(parse(r#"{"type":"x.y"}"#), ClientEvent::Unknown(k) if k == "x.y"));
    }

    #[test]
    fn events_carry_ids_and_the_dialects_names() {
        let ga = Realtime::new(Dialect::Ga, 7);
        let Message::Text(t) = ga.audio_delta(2, &[0, 0]) else {
            panic!("text")
        };
        let v: Value = serde_json::from_str(t.as_str()).expect("json");
        assert_eq!(v["type"], "response.output_audio.delta");
        assert_eq!(v["item_id"], "item_7_2_a");
        assert_eq!(v["delta"], "AAA=");
        assert_eq!(v["event_id"], "event_7_1");
        let beta = Realtime::new(Dialect::Beta, 7);
        let Message::Text(t) = beta.audio_delta(2, &[0, 0]) else {
            panic!("text")
        };
        assert!(t.as_str().contains(r#""type":"response.audio.delta""#));
    }

    #[test]
    fn session_events_state_the_formats_in_the_ga_shape() {
        let text = |m: Option<Message>| match m {
            Some(Message::Text(t)) => serde_json::from_str::<Value>(t.as_str()).expect("json"),
            other => panic!("a text message, got {other:?}"),
        };
        let mut ga = Realtime::new(Dialect::Ga, 7);
        let v = text(ga.session_created());
        assert_eq!(v["type"], "session.created");
        assert_eq!(
            v.pointer("/session/audio/output/format"),
            Some(&json!({"type": "audio/pcm", "rate": 24_000}))
        );
        (ga.rate, ga.codec) = (G711_RATE, Codec::Mulaw);
        let v = text(ga.session_updated());
        assert_eq!(v["type"], "session.updated");
        assert_eq!(
            v.pointer("/session/audio/output/format"),
            Some(&json!({"type": "audio/pcmu"})),
            "G.711 formats carry no rate"
        );
        let beta = Realtime::new(Dialect::Beta, 7);
        let v = text(beta.session_created());
        assert_eq!(
            v.pointer("/session/output_audio_format"),
            Some(&json!("pcm16"))
        );
        assert!(Realtime::new(Dialect::Twilio, 7)
            .session_created()
            .is_none());
    }
}
