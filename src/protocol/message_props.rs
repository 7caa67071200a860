//! Property tests of what reads a server's messages: dotted JSON paths,
//! the streaming ASR message classifier and the voice-agent classifier,
//! fed arbitrary text, arbitrary JSON (nested up to 6 deep), deeply nested
//! arrays and random paths. Nothing may panic or overflow the stack; text
//! that is not JSON is a `decode` error; JSON always classifies. 256 cases
//! each (proptest's default).

use base64::Engine as _;
use proptest::prelude::*;
use serde_json::Value;

use super::target::json_path;
use super::ws_agent::{base64_decoded_len, AgentMessage, MessageRules};
use super::ws_asr::{classify, FrameEncoding, Heard, WsAsrTarget};
use super::ErrorKind;

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "final",
            "partial",
            "audio",
            "transcript",
            "response_end",
            "0",
            ""
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "type", "text", "final", "audio", "is_final", "0", "a.b", "x"
                ])
                .prop_map(String::from),
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "type", "text", "final", "audio", "0", "1", "", "a", "b", "x",
        ]),
        0..5,
    )
    .prop_map(|p| p.join("."))
}

fn asr_target(text_path: String, type_path: Option<String>, flag: Option<String>) -> WsAsrTarget {
    WsAsrTarget {
        url: "ws://127.0.0.1:9/x".into(),
        headers: vec![],
        sample_rate: 16_000,
        codec: Default::default(),
        frame: std::time::Duration::from_millis(20),
        start_messages: vec![],
        frames: FrameEncoding::Binary,
        end_messages: vec![],
        text_paths: vec![text_path],
        model: String::new(),
        errors: Default::default(),
        type_path,
        final_type: "final".into(),
        final_flag_path: flag,
        done_types: vec![],
        keepalive: None,
        max_message_bytes: super::ws::DEFAULT_MAX_MESSAGE,
    }
}

fn rules(type_path: String, audio_path: String, final_path: Option<String>) -> MessageRules {
    MessageRules {
        type_path,
        audio_path,
        transcript_final_path: final_path,
        ..MessageRules::default()
    }
}

proptest! {
    #![proptest_config(crate::proptest_config(256))]

    #[test]
    fn json_paths_never_panic_and_find_what_is_there(v in json(), p in path()) {
        let found = json_path(&v, &p);
        // Walking the found value by an empty path gives it back.
        if let Some(f) = found {
            prop_assert_eq!(json_path(f, ""), Some(f));
        }
        let wrapped = serde_json::json!({ "x": [v.clone()] });
        prop_assert_eq!(json_path(&wrapped, "x.0"), Some(&v));
    }

    #[test]
    fn json_messages_always_classify(v in json(), tp in path(), ap in path(), fp in prop::option::of(path())) {
        let text = v.to_string();
        let t = asr_target(tp.clone(), Some(ap.clone()), fp.clone());
        prop_assert!(classify(&text, &t).is_ok());
        let t = asr_target(tp.clone(), None, None);
        prop_assert!(classify(&text, &t).is_ok());
        prop_assert!(rules(tp, ap, fp).classify_text(&text).is_ok());
    }

    #[test]
    fn arbitrary_text_is_a_message_or_a_decode_error(text in ".{0,40}", depth in 0usize..5_000) {
        let t = asr_target("text".into(), Some("type".into()), None);
        let r = MessageRules::default();
        // Deep nesting is refused by the JSON parser's depth limit, not by the stack.
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for text in [text.as_str(), nested.as_str()] {
            let json = serde_json::from_str::<Value>(text).is_ok();
            match classify(text, &t) {
                Ok(_) => prop_assert!(json),
                Err(e) => prop_assert_eq!(e.kind, ErrorKind::Decode),
            }
            match r.classify_text(text) {
                Ok(_) => prop_assert!(json),
                Err(e) => prop_assert_eq!(e.kind, ErrorKind::Decode),
            }
        }
    }

    #[test]
    fn agent_audio_length_is_the_decoded_length(pcm in prop::collection::vec(any::<u8>(), 0..200), pad in any::<bool>()) {
        let b64 = if pad {
            base64::engine::general_purpose::STANDARD.encode(&pcm)
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(&pcm)
        };
        prop_assert_eq!(base64_decoded_len(&b64), pcm.len());
        let msg = serde_json::json!({"type": "audio", "audio": b64}).to_string();
        prop_assert_eq!(MessageRules::default().classify_text(&msg).ok(), Some(AgentMessage::Audio(pcm.len())));
    }

    #[test]
    fn base64_length_never_panics(s in ".{0,40}") {
        prop_assert!(base64_decoded_len(&s) <= s.len());
    }
}

/// A final needs both a transcript and the final mark; both readings agree.
#[test]
fn final_needs_text_and_mark() {
    let t = asr_target("text".into(), Some("type".into()), None);
    assert_eq!(
        classify(r#"{"type":"final","text":"a"}"#, &t).ok(),
        Some(Heard::Final("a".into()))
    );
    assert_eq!(
        classify(r#"{"type":"final"}"#, &t).ok(),
        Some(Heard::Other(crate::protocol::trace::Ignored::UnknownType))
    );
}
