//! The message shapes of each socket protocol the streaming ASR mock
//! speaks (`?dialect=`), apart from the session logic in [`super::ws_asr`]:
//! one model and one set of clocks, several vendors' wire formats, so every
//! ASR preset is checked against the same ground truth.

use serde_json::{json, Value};

/// Which socket protocol a session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// The mock's own (`start`, `audio`, `end`; `partial`, `final`).
    Voxload,
    /// vLLM's realtime transcription.
    Vllm,
    /// Deepgram `/v1/listen`: binary audio, `Results`, `Metadata`.
    Deepgram,
    /// AssemblyAI Universal-Streaming v3: `Begin`, `Turn`, `Termination`.
    AssemblyAi,
    /// OpenAI Realtime with `intent=transcription` (GA and beta session updates).
    OpenAi,
}

impl Dialect {
    /// The dialect named by `?dialect=` (unknown names: the mock's own).
    pub(super) fn parse(name: Option<&str>) -> Self {
        match name {
            Some("vllm") => Self::Vllm,
            Some("deepgram") => Self::Deepgram,
            Some("assemblyai") => Self::AssemblyAi,
            Some("openai") => Self::OpenAi,
            _ => Self::Voxload,
        }
    }

    /// Whether partials are sent as only the text new since the last one
    /// (deltas) rather than the whole text so far.
    pub(super) fn deltas(self) -> bool {
        matches!(self, Self::Vllm | Self::OpenAi)
    }

    /// Whether the server closes (1000) after the final: vLLM and OpenAI
    /// leave closing to the client.
    pub(super) fn closes(self) -> bool {
        !matches!(self, Self::Vllm | Self::OpenAi)
    }

    /// The message sent on accept, if the protocol has one.
    pub(super) fn greeting(self, id: u64) -> Option<Value> {
        match self {
            Self::Vllm => Some(json!({
                "type": "session.created",
                "id": format!("sess-{id}"),
                "created": 1_760_000_000u64 + id,
            })),
            Self::AssemblyAi => Some(json!({
                "type": "Begin",
                "id": format!("sess-{id}"),
                "expires_at": 1_760_003_600u64 + id,
            })),
            Self::OpenAi => Some(json!({
                "type": "session.created",
                "session": {"id": format!("sess_{id}"), "type": "transcription"},
            })),
            Self::Voxload | Self::Deepgram => None,
        }
    }

    /// A partial holding `text` (the whole text so far, or a delta).
    pub(super) fn partial(self, text: &str) -> Value {
        match self {
            Self::Voxload => json!({"type": "partial", "text": text}),
            Self::Vllm => json!({"type": "transcription.delta", "delta": text}),
            Self::Deepgram => results(text, false),
            Self::AssemblyAi => turn(text, false),
            Self::OpenAi => json!({
                "type": "conversation.item.input_audio_transcription.delta",
                "item_id": "item_1",
                "content_index": 0,
                "delta": text,
            }),
        }
    }

    /// The messages that carry the final transcript and end the session,
    /// in order.
    pub(super) fn finals(self, text: &str, audio_s: f64) -> Vec<Value> {
        let words = text.split_whitespace().count();
        match self {
            Self::Voxload => vec![json!({"type": "final", "text": text})],
            Self::Vllm => vec![json!({
                "type": "transcription.done",
                "text": text,
                "usage": {"prompt_tokens": 0, "completion_tokens": words, "total_tokens": words},
            })],
            Self::Deepgram => vec![
                results(text, true),
                json!({"type": "Metadata", "request_id": "req-mock", "duration": audio_s}),
            ],
            Self::AssemblyAi => vec![
                turn(text, true),
                json!({
                    "type": "Termination",
                    "audio_duration_seconds": audio_s,
                    "session_duration_seconds": audio_s,
                }),
            ],
            Self::OpenAi => vec![json!({
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": "item_1",
                "content_index": 0,
                "transcript": text,
            })],
        }
    }

    /// An error event with `code`.
    pub(super) fn error(self, code: &str, message: &str) -> Value {
        match self {
            Self::Voxload => json!({"type": "error", "message": message}),
            Self::Vllm => json!({"type": "error", "error": message, "code": code}),
            // Deepgram reports most faults as close frames; this shape is
            // the mock's (unverified against the service).
            Self::Deepgram => json!({"type": "Error", "err_code": code, "err_msg": message}),
            Self::AssemblyAi => json!({"type": "Error", "error_code": code, "error": message}),
            Self::OpenAi => json!({
                "type": "error",
                "error": {"type": "invalid_request_error", "code": code, "message": message},
            }),
        }
    }

    /// What a vendor control message of type `kind` does, `None` if the
    /// dialect does not know it.
    pub(super) fn control(self, kind: &str) -> Option<Control> {
        Some(match (self, kind) {
            (Self::Deepgram, "KeepAlive") => Control::Note,
            (Self::Deepgram, "Finalize" | "CloseStream") => Control::End,
            (Self::AssemblyAi, "KeepAlive" | "ForceEndpoint" | "UpdateConfiguration") => {
                Control::Note
            }
            (Self::AssemblyAi, "Terminate") => Control::End,
            (Self::OpenAi, "session.update") => Control::Reply("session.updated"),
            (Self::OpenAi, "transcription_session.update") => {
                Control::Reply("transcription_session.updated")
            }
            (Self::OpenAi, "input_audio_buffer.append") => Control::Audio,
            (Self::OpenAi, "input_audio_buffer.commit") => Control::End,
            _ => return None,
        })
    }
}

/// A vendor control message's effect on the session; each is recorded in
/// the session's truth (`controls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Control {
    /// Recorded only (keep-alives).
    Note,
    /// The end of the audio (the first one; later ones are recorded only).
    End,
    /// Answered at once by a message of this type.
    Reply(&'static str),
    /// Base64 audio in `audio`.
    Audio,
}

fn results(text: &str, is_final: bool) -> Value {
    json!({
        "type": "Results",
        "channel_index": [0, 1],
        "is_final": is_final,
        "speech_final": is_final,
        "from_finalize": is_final,
        "channel": {"alternatives": [{"transcript": text, "confidence": 0.99}]},
    })
}

fn turn(text: &str, end_of_turn: bool) -> Value {
    json!({
        "type": "Turn",
        "turn_order": 0,
        "turn_is_formatted": false,
        "end_of_turn": end_of_turn,
        "transcript": text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_ends_with_its_own_messages() {
        let last_type = |d: Dialect| {
            d.finals("a b", 1.0)
                .last()
                .and_then(|m| m["type"].as_str().map(str::to_string))
        };
        assert_eq!(last_type(Dialect::Deepgram).as_deref(), Some("Metadata"));
        assert_eq!(
            last_type(Dialect::AssemblyAi).as_deref(),
            Some("Termination")
        );
        assert_eq!(
            Dialect::Deepgram.finals("a b", 1.0)[0]["channel"]["alternatives"][0]["transcript"],
            "a b"
        );
        assert_eq!(Dialect::Deepgram.control("KeepAlive"), Some(Control::Note));
        assert_eq!(Dialect::Deepgram.control("Terminate"), None);
        assert_eq!(Dialect::AssemblyAi.control("Terminate"), Some(Control::End));
        assert_eq!(Dialect::parse(Some("openai")), Dialect::OpenAi);
        assert!(Dialect::OpenAi.deltas() && !Dialect::OpenAi.closes());
    }
}
