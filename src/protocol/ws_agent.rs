//! Voice agents over WebSocket: what a conversation sends and how the
//! agent's messages are read. The conversation itself (real-time frames,
//! turns, barge-in) is [`conversation`](super::ws_agent_session).
//!
//! A vendor is configuration: where the message type is, which type values
//! mean audio, transcript, text, end of response or interruption, and where
//! base64 audio sits in a JSON message. Binary messages are always audio.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::events::ErrorEvents;
use super::target::{json_path, rate_at, TargetError};
use super::trace::{list, unknown_type, Ignored};
pub(super) use super::ws::base64_decoded_len;
use super::ws::FrameEncoding;
use super::{ErrorKind, EventCode, ProtocolError};
use crate::audio::codec::Codec;

/// A voice-agent endpoint, how the caller talks to it, and how to read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentTarget {
    /// `ws://` or `wss://` URL.
    #[serde(serialize_with = "super::target::serialize_url_redacted")]
    pub url: String,
    /// Extra handshake headers (secret values redacted on output).
    #[serde(serialize_with = "super::target::serialize_headers_redacted")]
    pub headers: Vec<(String, String)>,
    /// Sample rate of the caller's audio.
    pub sample_rate: u32,
    /// How the samples are encoded, both ways: the caller's frames and the
    /// agent's audio (16-bit PCM, or G.711 for telephony).
    #[serde(default)]
    pub codec: Codec,
    /// Caller audio per frame.
    #[serde(with = "crate::units::serde_duration")]
    pub frame: Duration,
    /// How caller frames are sent.
    pub frames: FrameEncoding,
    /// Sent in order after connecting (`{{sample_rate}}` filled).
    pub start_messages: Vec<String>,
    /// Sent right after each utterance's last frame; `None` relies on the
    /// agent detecting the end of speech from the audio.
    pub end_of_speech_messages: Vec<String>,
    /// Sent, in order, when the agent's interruption message arrives while
    /// the caller speaks over its answer: what a real client does once it
    /// stops its player (OpenAI: `response.cancel`, then
    /// `conversation.item.truncate`). `{{item_id}}` is the answer's item
    /// and `{{audio_end_ms}}` the answer audio the caller's player had
    /// played by then.
    #[serde(default)]
    pub barge_in_messages: Vec<String>,
    /// Sent, in order, before the caller hangs up (Twilio's `stop`).
    #[serde(default)]
    pub end_messages: Vec<String>,
    /// Sent back for each playback mark once the answer audio before it
    /// has played, or at once when the agent clears playback (`{{mark}}`
    /// is its name): how Twilio tells a bot what the caller heard.
    #[serde(default)]
    pub mark_echo_message: Option<String>,
    /// Between utterances, keep streaming low-level noise frames (a live
    /// microphone) instead of going quiet on the wire.
    pub noise_between_turns: bool,
    /// How agent messages are classified.
    pub rules: MessageRules,
    /// Sample rate of the agent's audio (for audio seconds), unless the
    /// agent announces another (`rules.rate_path`).
    pub agent_sample_rate: u32,
    /// A call fails if its WebSocket is not open (TCP connect and upgrade) within this.
    #[serde(with = "crate::units::serde_duration")]
    pub connect_timeout: Duration,
    /// A turn fails if no agent audio arrives this long after the end of speech.
    #[serde(with = "crate::units::serde_duration")]
    pub answer_timeout: Duration,
    /// Without an end-of-response message, a response is over once the
    /// agent has been silent on the wire this long (the end is then its last message).
    #[serde(with = "crate::units::serde_duration")]
    pub response_idle: Duration,
    /// A response still going this long after the end of speech fails the turn.
    #[serde(with = "crate::units::serde_duration")]
    pub response_timeout: Duration,
    /// Barge-in counts as ignored if the caller's player was still playing
    /// the agent's answer within this long before the caller's interrupting
    /// utterance ended.
    #[serde(with = "crate::units::serde_duration")]
    pub barge_in_quiet: Duration,
    /// The largest message (and frame) accepted from the server, bytes
    /// (`--ws-max-message`); a longer one fails as `protocol`.
    #[serde(default = "super::ws::default_max_message")]
    pub max_message_bytes: usize,
}

/// Which agent messages mean what. A text message is JSON; its type is read
/// at `type_path` and looked up in the lists below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRules {
    /// Dotted path of the message type.
    pub type_path: String,
    /// Types of JSON messages carrying base64 audio.
    pub audio_types: Vec<String>,
    /// Dotted path of the base64 audio in those messages.
    pub audio_path: String,
    /// Types of the agent's transcript of the caller.
    pub transcript_types: Vec<String>,
    /// Dotted path of a boolean "final" flag on transcripts; `None`: every
    /// transcript message counts as final.
    pub transcript_final_path: Option<String>,
    /// Types of the agent's own text: its reply, kept in the turn's record
    /// (pieces joined as they come, so deltas make the whole reply).
    pub text_types: Vec<String>,
    /// Dotted paths of the text in transcript and text messages, the first
    /// present wins (`transcript`, `text`, `delta`).
    #[serde(default = "default_text_paths")]
    pub text_paths: Vec<String>,
    /// Types that end a response.
    pub end_types: Vec<String>,
    /// Types that announce the agent stopped because the caller spoke.
    pub interrupt_types: Vec<String>,
    /// Types by which the agent says it found the end of the caller's
    /// speech (OpenAI's `input_audio_buffer.speech_stopped`).
    #[serde(default)]
    pub endpoint_types: Vec<String>,
    /// Types that announce a response has begun (OpenAI's `response.created`).
    #[serde(default)]
    pub response_start_types: Vec<String>,
    /// Error events: each fails its turn, counted by its code.
    #[serde(flatten)]
    pub errors: ErrorEvents,
    /// Dotted path of the response item's id in audio messages, for
    /// `{{item_id}}` in the barge-in messages; `None`: no id is read.
    #[serde(default)]
    pub item_id_path: Option<String>,
    /// Types of playback marks (Twilio's `mark`): the caller echoes each
    /// once the audio before it has played (see `mark_echo_message`).
    #[serde(default)]
    pub mark_types: Vec<String>,
    /// Dotted path of a mark's name.
    #[serde(default = "default_mark_name_path")]
    pub mark_name_path: String,
    /// Dotted path of the agent audio's sample rate in any server message
    /// (OpenAI GA: `session.audio.output.format.rate` in `session.created`
    /// and `session.updated`); once announced, it is the call's rate for
    /// audio seconds instead of `agent_sample_rate`. `None`: not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_path: Option<String>,
    /// Dotted path of a status in end-of-response messages (OpenAI's
    /// `response.status`), kept in the turn's record; `None`: not read.
    #[serde(default)]
    pub end_status_path: Option<String>,
    /// Statuses at `end_status_path` that fail the turn (OpenAI: `failed`),
    /// counted as the event code `response_<status>`: a response the server
    /// gave up on is not an answer, though it ends like one.
    #[serde(default)]
    pub end_failed_statuses: Vec<String>,
    /// Types of messages kept verbatim in the turn records (OpenAI's
    /// `rate_limits.updated`): what the server says about its own state.
    #[serde(default)]
    pub keep_types: Vec<String>,
}

fn default_mark_name_path() -> String {
    "mark.name".into()
}

fn default_text_paths() -> Vec<String> {
    ["transcript", "text", "delta"].map(String::from).to_vec()
}

impl Default for MessageRules {
    /// The shapes `voxload mock` speaks.
    fn default() -> Self {
        let one = |s: &str| vec![s.to_string()];
        Self {
            type_path: "type".into(),
            audio_types: one("audio"),
            audio_path: "audio".into(),
            transcript_types: one("transcript"),
            transcript_final_path: None,
            text_types: one("response_text"),
            text_paths: default_text_paths(),
            end_types: one("response_end"),
            interrupt_types: one("interrupted"),
            endpoint_types: Vec::new(),
            response_start_types: Vec::new(),
            errors: ErrorEvents::default(),
            item_id_path: None,
            mark_types: Vec::new(),
            mark_name_path: default_mark_name_path(),
            rate_path: None,
            end_status_path: None,
            end_failed_statuses: Vec::new(),
            keep_types: Vec::new(),
        }
    }
}

/// What one agent message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentMessage {
    /// Audio: this many bytes of 16-bit PCM.
    Audio(usize),
    /// The agent found the end of the caller's speech.
    Endpoint,
    /// A response has begun.
    ResponseStart,
    /// An error event with this code (not a benign one).
    Error(EventCode),
    /// A final transcript of the caller.
    Transcript,
    /// A piece of the agent's own text reply.
    Reply,
    /// Anything else that counts as the agent speaking up (text, partials,
    /// unknown types), and why the rules found nothing more in it.
    Other(Ignored),
    /// End of the response.
    End,
    /// The agent stopped because the caller spoke.
    Interrupted,
    /// A playback mark (its name is the classified text).
    Mark,
    /// A message of a kept type (the message itself is the classified text).
    Kept,
}

impl AgentTarget {
    /// Bytes of caller audio in one frame.
    pub fn frame_bytes(&self) -> usize {
        self.codec.frame_bytes(self.sample_rate, self.frame)
    }

    /// Check the URL scheme and durations early, so a typo is a config error.
    pub fn validate(&self) -> Result<(), TargetError> {
        let bad = |reason: &str| TargetError::BadUrl {
            url: self.url.clone(),
            reason: reason.into(),
        };
        if !(self.url.starts_with("ws://") || self.url.starts_with("wss://")) {
            return Err(bad("expected ws:// or wss://"));
        }
        if let Some(reason) = super::target::bad_port(&self.url) {
            return Err(bad(&reason));
        }
        if self.frame.is_zero() {
            return Err(TargetError::ZeroFrame);
        }
        Ok(())
    }

    /// Fill a caller message template: `{{sample_rate}}`, and the call's
    /// own 32-hex-digit `{{session_id}}` (telephony stream and call ids).
    pub fn fill(&self, template: &str, session_id: &str) -> String {
        template
            .replace("{{sample_rate}}", &self.sample_rate.to_string())
            .replace("{{session_id}}", session_id)
    }

    /// Fill a barge-in message template: the answer's item id (inside a
    /// JSON string, escaped; empty if none was read) and the audio played.
    pub fn fill_barge_in(
        &self,
        template: &str,
        session_id: &str,
        item_id: Option<&str>,
        played: Duration,
    ) -> String {
        self.fill(template, session_id)
            .replace("{{item_id}}", &json_string_body(item_id.unwrap_or("")))
            .replace("{{audio_end_ms}}", &played.as_millis().to_string())
    }

    /// The echo of playback mark `name`, if the target echoes marks.
    pub fn mark_echo(&self, session_id: &str, name: &str) -> Option<String> {
        let template = self.mark_echo_message.as_deref()?;
        Some(
            self.fill(template, session_id)
                .replace("{{mark}}", &json_string_body(name)),
        )
    }
}

/// `s` as the inside of a JSON string (escaped, without the quotes).
fn json_string_body(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// A classified text message, and the response item it belongs to when
/// the rules read one (audio messages only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// What it is.
    pub message: AgentMessage,
    /// The response item's id (at `item_id_path`).
    pub item_id: Option<String>,
    /// A transcript's or reply's text (at the first of `text_paths` present),
    /// an end's status, a mark's name, or a kept message as it came.
    pub text: Option<String>,
    /// The agent audio's sample rate, when the message announces one (at
    /// `rate_path`, whatever the message's type).
    pub rate: Option<u32>,
}

impl MessageRules {
    /// Classify a text message; non-JSON is a decode failure of the turn.
    pub fn classify_text(&self, text: &str) -> Result<AgentMessage, ProtocolError> {
        self.read_text(text).map(|c| c.message)
    }

    /// Classify a text message and read its item id; non-JSON is a decode
    /// failure of the turn.
    pub fn read_text(&self, text: &str) -> Result<Classified, ProtocolError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            let excerpt: String = text.chars().take(60).collect();
            ProtocolError::new(
                ErrorKind::Decode,
                format!("agent message is not JSON ({e}): {excerpt}"),
            )
        })?;
        let mut c = self.classify_value(&v);
        c.rate = rate_at(&v, self.rate_path.as_deref());
        Ok(c)
    }

    /// What a parsed message is (its rate aside).
    fn classify_value(&self, v: &serde_json::Value) -> Classified {
        let only = |message| Classified {
            message,
            item_id: None,
            text: None,
            rate: None,
        };
        let Some(kind) = json_path(v, &self.type_path).and_then(|t| t.as_str()) else {
            return only(AgentMessage::Other(Ignored::NoType));
        };
        let is = |list: &[String]| list.iter().any(|t| t == kind);
        if is(&self.audio_types) {
            let b64 = json_path(v, &self.audio_path)
                .and_then(|a| a.as_str())
                .unwrap_or("");
            let item_id = self.item_id_path.as_ref().and_then(|p| {
                json_path(v, p).and_then(|id| match id {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
            });
            return Classified {
                message: AgentMessage::Audio(base64_decoded_len(b64)),
                item_id,
                ..only(AgentMessage::Other(Ignored::UnknownType))
            };
        }
        if is(&self.mark_types) {
            let name = json_path(v, &self.mark_name_path).and_then(|n| n.as_str());
            return Classified {
                text: Some(name.unwrap_or("").to_string()),
                ..only(AgentMessage::Mark)
            };
        }
        if self.errors.is_error_type(kind) {
            return only(match self.errors.code(kind, v) {
                Some(code) => AgentMessage::Error(code),
                None => AgentMessage::Other(Ignored::BenignError),
            });
        }
        let text = || {
            self.text_paths
                .iter()
                .find_map(|p| json_path(v, p).and_then(|x| x.as_str()))
                .map(str::to_string)
        };
        if is(&self.transcript_types) {
            let is_final = match &self.transcript_final_path {
                Some(p) => json_path(v, p).and_then(|f| f.as_bool()).unwrap_or(false),
                None => true,
            };
            if is_final {
                return Classified {
                    text: text(),
                    ..only(AgentMessage::Transcript)
                };
            }
            return only(AgentMessage::Other(Ignored::NotFinal));
        }
        if is(&self.text_types) {
            return Classified {
                text: text(),
                ..only(AgentMessage::Reply)
            };
        }
        if is(&self.end_types) {
            let status = self
                .end_status_path
                .as_ref()
                .and_then(|p| json_path(v, p))
                .and_then(|s| s.as_str());
            if let Some(s) = status.filter(|s| self.end_failed_statuses.iter().any(|f| f == s)) {
                let code = EventCode::new(&format!("response_{s}"));
                return only(AgentMessage::Error(code));
            }
            return Classified {
                text: status.map(str::to_string),
                ..only(AgentMessage::End)
            };
        }
        if is(&self.keep_types) {
            return Classified {
                text: Some(v.to_string()),
                ..only(AgentMessage::Kept)
            };
        }
        only(if is(&self.interrupt_types) {
            AgentMessage::Interrupted
        } else if is(&self.endpoint_types) {
            AgentMessage::Endpoint
        } else if is(&self.response_start_types) {
            AgentMessage::ResponseStart
        } else {
            AgentMessage::Other(Ignored::UnknownType)
        })
    }

    /// Why the text message `text` was ignored (`why`, from
    /// [`MessageRules::read_text`]), naming the paths and lists checked so
    /// the rule to fix is plain. Only `voxload sample` asks.
    pub fn explain(&self, why: Ignored, text: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let kind = json_path(&v, &self.type_path)
            .and_then(|t| t.as_str())
            .unwrap_or("");
        match why {
            Ignored::NoType => format!("no string at type path '{}'", self.type_path),
            Ignored::NotFinal => {
                let path = self.transcript_final_path.as_deref().unwrap_or("");
                let flag = match json_path(&v, path) {
                    Some(serde_json::Value::Bool(b)) => b.to_string(),
                    Some(_) => "not a boolean".into(),
                    None => "missing".into(),
                };
                format!("transcript not final (final flag at '{path}' is {flag})")
            }
            Ignored::BenignError => format!(
                "error '{kind}' with a benign code ({})",
                list("benign_errors", &self.errors.benign_errors)
            ),
            Ignored::UnknownType => unknown_type(
                kind,
                &[
                    ("audio_types", &self.audio_types),
                    ("transcript_types", &self.transcript_types),
                    ("text_types", &self.text_types),
                    ("end_types", &self.end_types),
                    ("keep_types", &self.keep_types),
                    ("interrupt_types", &self.interrupt_types),
                    ("endpoint_types", &self.endpoint_types),
                    ("response_start_types", &self.response_start_types),
                    ("mark_types", &self.mark_types),
                    ("error_types", &self.errors.error_types),
                ],
            ),
            other => format!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn base64_length_matches_the_decoder() {
        for n in 0..50 {
            let data = vec![7u8; n];
            let padded = base64::engine::general_purpose::STANDARD.encode(&data);
            assert_eq!(base64_decoded_len(&padded), n, "padded {n}");
            let bare = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&data);
            assert_eq!(base64_decoded_len(&bare), n, "unpadded {n}");
        }
    }

    #[test]
    fn messages_are_classified_by_type() {
        let r = MessageRules::default();
        let b64 = base64::engine::general_purpose::STANDARD.encode([0u8; 640]);
        let audio = format!(r#"{{"type":"audio","audio":"{b64}"}}"#);
        assert_eq!(r.classify_text(&audio).ok(), Some(AgentMessage::Audio(640)));
        for (msg, want) in [
            (
                r#"{"type":"transcript","text":"hi"}"#,
                AgentMessage::Transcript,
            ),
            (
                r#"{"type":"response_text","text":"x"}"#,
                AgentMessage::Reply,
            ),
            (r#"{"type":"response_end"}"#, AgentMessage::End),
            (r#"{"type":"interrupted"}"#, AgentMessage::Interrupted),
            (r#"{"kind":"x"}"#, AgentMessage::Other(Ignored::NoType)),
            (
                r#"{"type":"response.audio.delta"}"#,
                AgentMessage::Other(Ignored::UnknownType),
            ),
        ] {
            assert_eq!(r.classify_text(msg).ok(), Some(want), "{msg}");
        }
        let e = r.classify_text("this is not json").expect_err("malformed");
        assert_eq!(e.kind, ErrorKind::Decode);
        assert!(e.detail.contains("this is not json"), "{}", e.detail);
        let flagged = MessageRules {
            transcript_final_path: Some("final".into()),
            ..MessageRules::default()
        };
        assert_eq!(
            flagged
                .classify_text(r#"{"type":"transcript","final":false}"#)
                .ok(),
            Some(AgentMessage::Other(Ignored::NotFinal))
        );
        assert_eq!(
            flagged.explain(Ignored::NotFinal, r#"{"type":"transcript","final":false}"#),
            "transcript not final (final flag at 'final' is false)"
        );
        assert_eq!(
            r.explain(Ignored::NoType, r#"{"kind":"x"}"#),
            "no string at type path 'type'"
        );
        assert_eq!(
            r.explain(Ignored::UnknownType, r#"{"type":"response.audio.delta"}"#),
            "type 'response.audio.delta' is in none of audio_types [audio], \
             transcript_types [transcript], text_types [response_text], end_types [response_end], \
             interrupt_types [interrupted]"
        );
        assert_eq!(
            flagged
                .classify_text(r#"{"type":"transcript","final":true}"#)
                .ok(),
            Some(AgentMessage::Transcript)
        );
    }

    #[test]
    fn an_announced_rate_is_read_from_any_message_at_the_rate_path() {
        let r = MessageRules {
            rate_path: Some("session.audio.output.format.rate".into()),
            ..MessageRules::default()
        };
        let created = r#"{"type":"session.created","session":{"audio":{"output":{"format":{"type":"audio/pcm","rate":22050}}}}}"#;
        let c = r.read_text(created).expect("json");
        assert_eq!(
            (c.message, c.rate),
            (AgentMessage::Other(Ignored::UnknownType), Some(22_050))
        );
        // Any type, even audio; garbage or no field: nothing announced.
        let audio = r#"{"type":"audio","audio":"AAAA","session":{"audio":{"output":{"format":{"rate":"16000"}}}}}"#;
        let c = r.read_text(audio).expect("json");
        assert_eq!((c.message, c.rate), (AgentMessage::Audio(3), Some(16_000)));
        for none in [
            r#"{"type":"session.created","session":{"audio":{"output":{"format":{"rate":-1}}}}}"#,
            r#"{"type":"session.created","session":{"audio":{"output":{"format":{"rate":"fast"}}}}}"#,
            r#"{"type":"session.created","session":{"audio":{"output":{"format":{"type":"audio/pcmu"}}}}}"#,
            r#"{"type":"session.created","session":[1,2]}"#,
            r#"[]"#,
        ] {
            assert_eq!(r.read_text(none).expect("json").rate, None, "{none}");
        }
        // Without a path, nothing is read.
        let plain = MessageRules::default().read_text(created).expect("json");
        assert_eq!(plain.rate, None);
    }

    #[test]
    fn events_of_a_realtime_api_are_read_with_their_ids_and_codes() {
        let r = MessageRules {
            audio_types: vec!["response.output_audio.delta".into()],
            audio_path: "delta".into(),
            endpoint_types: vec!["input_audio_buffer.speech_stopped".into()],
            response_start_types: vec!["response.created".into()],
            errors: ErrorEvents {
                error_types: vec!["error".into()],
                benign_errors: vec!["response_cancel_not_active".into()],
                ..ErrorEvents::default()
            },
            item_id_path: Some("item_id".into()),
            ..MessageRules::default()
        };
        let delta = r#"{"type":"response.output_audio.delta","item_id":"item_7","delta":"AAAA"}"#;
        assert_eq!(
            r.read_text(delta).ok(),
            Some(Classified {
                message: AgentMessage::Audio(3),
                item_id: Some("item_7".into()),
                text: None,
                rate: None,
            })
        );
        let stopped = r#"{"type":"input_audio_buffer.speech_stopped","audio_end_ms":900}"#;
        assert_eq!(r.classify_text(stopped).ok(), Some(AgentMessage::Endpoint));
        let created = r#"{"type":"response.created","response":{"id":"r"}}"#;
        assert_eq!(
            r.classify_text(created).ok(),
            Some(AgentMessage::ResponseStart)
        );
        let err =
            r#"{"type":"error","error":{"type":"invalid_request_error","code":"invalid_value"}}"#;
        assert_eq!(
            r.classify_text(err).ok(),
            Some(AgentMessage::Error(EventCode::new("invalid_value")))
        );
        let benign = r#"{"type":"error","error":{"code":"response_cancel_not_active"}}"#;
        assert_eq!(
            r.classify_text(benign).ok(),
            Some(AgentMessage::Other(Ignored::BenignError))
        );
        let no_code = r#"{"type":"error","error":"Invalid audio data"}"#;
        assert_eq!(
            r.classify_text(no_code).ok(),
            Some(AgentMessage::Error(EventCode::new("unknown")))
        );
    }

    #[test]
    fn barge_in_templates_get_the_item_and_the_audio_played() {
        let t = AgentTarget {
            url: "ws://127.0.0.1:9/v1/realtime".into(),
            headers: vec![],
            sample_rate: 24_000,
            codec: Default::default(),
            frame: Duration::from_millis(20),
            frames: FrameEncoding::Binary,
            start_messages: vec![],
            end_of_speech_messages: vec![],
            barge_in_messages: vec![],
            end_messages: vec![],
            mark_echo_message: None,
            noise_between_turns: true,
            rules: MessageRules::default(),
            agent_sample_rate: 24_000,
            connect_timeout: Duration::from_secs(1),
            answer_timeout: Duration::from_secs(1),
            response_idle: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            barge_in_quiet: Duration::from_millis(100),
            max_message_bytes: super::super::ws::DEFAULT_MAX_MESSAGE,
        };
        let m = t.fill_barge_in(
            r#"{"item_id":"{{item_id}}","audio_end_ms":{{audio_end_ms}},"s":"MZ{{session_id}}"}"#,
            "ab12",
            Some("it\"em"),
            Duration::from_micros(1_340_900),
        );
        assert_eq!(
            m,
            r#"{"item_id":"it\"em","audio_end_ms":1340,"s":"MZab12"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&m).expect("still JSON");
        assert_eq!(v["item_id"], "it\"em");
        assert_eq!(t.mark_echo("ab12", "r1"), None, "no echo template");
        let t = AgentTarget {
            mark_echo_message: Some(
                r#"{"event":"mark","streamSid":"MZ{{session_id}}","mark":{"name":"{{mark}}"}}"#
                    .into(),
            ),
            ..t
        };
        assert_eq!(
            t.mark_echo("ab12", "r\"1").as_deref(),
            Some(r#"{"event":"mark","streamSid":"MZab12","mark":{"name":"r\"1"}}"#)
        );
    }

    #[test]
    fn marks_are_read_with_their_names_where_the_rules_name_them() {
        let twilio = MessageRules {
            type_path: "event".into(),
            audio_types: vec!["media".into()],
            audio_path: "media.payload".into(),
            interrupt_types: vec!["clear".into()],
            mark_types: vec!["mark".into()],
            ..MessageRules::default()
        };
        let c = twilio
            .read_text(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"turn-3"}}"#)
            .expect("json");
        assert_eq!(c.message, AgentMessage::Mark);
        assert_eq!(c.text.as_deref(), Some("turn-3"));
        let c = twilio
            .read_text(r#"{"event":"media","media":{"payload":"/////w=="}}"#)
            .expect("json");
        assert_eq!(c.message, AgentMessage::Audio(4));
        assert_eq!(
            twilio.classify_text(r#"{"event":"clear"}"#).ok(),
            Some(AgentMessage::Interrupted)
        );
        // Without mark types a mark is just another message.
        assert_eq!(
            MessageRules::default()
                .classify_text(r#"{"type":"mark","mark":{"name":"x"}}"#)
                .ok(),
            Some(AgentMessage::Other(Ignored::UnknownType))
        );
    }
}
