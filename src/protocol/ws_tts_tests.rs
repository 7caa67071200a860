use std::time::Duration;

use super::*;
use crate::protocol::trace::Ignored;

fn target(audio: WsAudio) -> WsTtsTarget {
    WsTtsTarget {
        url: "ws://127.0.0.1:1/v1/text-to-speech/{{voice}}/stream-input?model_id={{model}}".into(),
        headers: vec![("xi-api-key".into(), "secret".into())],
        model: "m1".into(),
        format: AudioFormat::Pcm {
            sample_rate: 16_000,
            channels: 1,
        },
        start_messages: vec![r#"{"text":" "}"#.into()],
        text_messages: vec![r#"{"text":"{{text}}","try_trigger_generation":true}"#.into()],
        flush_messages: vec![r#"{"text":""}"#.into()],
        close_messages: vec![],
        audio,
        type_path: Some("type".into()),
        final_types: vec!["done".into()],
        final_flag_path: Some("isFinal".into()),
        rate_path: None,
        errors: ErrorEvents {
            error_types: vec!["error".into()],
            error_code_path: "error".into(),
            benign_errors: vec![],
            error_path: None,
        },
        text_stream: TextStream::Whole,
        connect_timeout: Duration::from_secs(1),
        max_message_bytes: 1 << 20,
    }
}

#[test]
fn tokens_are_due_at_absolute_deadlines() {
    let s = TextStream::parse("40tok/s", Duration::from_millis(300)).unwrap();
    let plan = s.schedule("Hello there  big\nworld");
    let at: Vec<u128> = plan.iter().map(|(d, _)| d.as_millis()).collect();
    assert_eq!(at, [300, 325, 350, 375]);
    let text: Vec<&str> = plan.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text, ["Hello ", "there ", "big ", "world "]);
}

#[test]
fn whole_text_is_one_message_at_zero() {
    let s = TextStream::parse("whole", Duration::from_millis(300)).unwrap();
    assert_eq!(s.schedule("a b\n"), [(Duration::ZERO, "a b ".to_string())]);
    assert!(s.schedule("  ").is_empty());
    assert_eq!(TextStream::parse("0tok/s", Duration::ZERO), None);
    assert_eq!(TextStream::parse("fast", Duration::ZERO), None);
    assert_eq!(
        TextStream::parse("12.5", Duration::ZERO),
        Some(TextStream::Tokens {
            rate: 12.5,
            first_delay: Duration::ZERO
        })
    );
}

#[test]
fn render_escapes_text_and_fills_nested_strings() {
    let out = render(
        r#"{"transcript":"{{text}}","voice":{"id":"{{voice}}"},"n":1}"#,
        &[("text", "say \"hi\"\n"), ("voice", "v9")],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["transcript"], "say \"hi\"\n");
    assert_eq!(v["voice"]["id"], "v9");
    assert_eq!(v["n"], 1);
}

#[test]
fn base64_audio_final_flag_and_error_events() {
    let t = target(WsAudio::Base64 {
        path: "audio".into(),
    });
    let audio = serde_json::json!({"audio": "AAEC", "normalizedAlignment": {}});
    assert_eq!(
        t.read(&audio).unwrap(),
        Reading::Audio(vec![0, 1, 2], false)
    );
    let last = serde_json::json!({"audio": "AAEC", "isFinal": true});
    assert_eq!(t.read(&last).unwrap(), Reading::Audio(vec![0, 1, 2], true));
    assert_eq!(
        t.read(&serde_json::json!({"isFinal": true})).unwrap(),
        Reading::Final
    );
    assert_eq!(
        t.read(&serde_json::json!({"audio": null, "isFinal": null}))
            .unwrap(),
        Reading::Other(Ignored::NoAudio)
    );
    assert_eq!(
        t.explain(Ignored::NoAudio, &serde_json::json!({"type": "meta"})),
        "no audio at 'audio', and type 'meta' is in none of final_types [done] \
         (final flag at 'isFinal' is missing)"
    );
    let bad = serde_json::json!({"audio": "!!not base64"});
    assert_eq!(t.read(&bad).unwrap_err().kind, ErrorKind::Decode);
    let err = serde_json::json!({"type": "error", "error": "input_timeout_exceeded"});
    match t.read(&err).unwrap() {
        Reading::Error(e) => assert_eq!(e.kind.label(), "event_input_timeout_exceeded"),
        other => panic!("not an error: {other:?}"),
    }
}

#[test]
fn binary_audio_reads_json_only_for_control() {
    let t = target(WsAudio::Binary);
    let flushed = serde_json::json!({"type": "done", "audio": "AAEC"});
    assert_eq!(t.read(&flushed).unwrap(), Reading::Final);
}

#[test]
fn validate_names_bad_templates_and_urls() {
    let mut t = target(WsAudio::Binary);
    assert!(t.validate().is_ok());
    assert_eq!(
        t.url_for("v1"),
        "ws://127.0.0.1:1/v1/text-to-speech/v1/stream-input?model_id=m1"
    );
    t.flush_messages = vec!["{not json".into()];
    assert!(t.validate().is_err());
    t.flush_messages.clear();
    t.url = "http://x".into();
    assert!(t.validate().is_err());
}

#[test]
fn secrets_are_redacted_when_serialized() {
    let mut t = target(WsAudio::Binary);
    t.url.push_str("&api_key=topsecret");
    let json = serde_json::to_string(&t).unwrap();
    assert!(!json.contains("secret"), "{json}");
}
