//! Tests for loading samples: every format, every error, the bundled set.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::input::InputError;

/// Write `content` to a temp file named `name`; keep the dir alive.
fn file(name: &str, content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(content.as_bytes()).expect("write");
    (dir, path)
}

fn load(name: &str, content: &str, format: SampleFormat) -> Result<TextSamples, InputError> {
    let (_dir, path) = file(name, content);
    TextSamples::load(&path, format)
}

/// Assert a parse error at `line` whose message names the file and line.
fn assert_parse_error(result: Result<TextSamples, InputError>, name: &str, line: usize) -> String {
    let err = result.expect_err("should fail");
    let shown = err.to_string();
    match &err {
        InputError::Parse { path, line: l, .. } => {
            assert_eq!(*l, line, "{shown}");
            assert!(path.ends_with(name));
        }
        other => panic!("expected Parse, got {other:?}"),
    }
    assert!(shown.contains(name), "{shown}");
    assert!(shown.contains(&format!(":{line}:")), "{shown}");
    shown
}

#[test]
fn format_names_and_guesses() {
    for name in SampleFormat::NAMES {
        let f = SampleFormat::parse(name).expect("known");
        assert_eq!(f.name(), name);
        assert_eq!(f.to_string(), name);
    }
    let e = SampleFormat::parse("yaml").expect_err("unknown");
    assert!(e.to_string().contains("'yaml'") && e.to_string().contains("simple-json"));
    assert_eq!(
        SampleFormat::guess(Path::new("a/b.jsonl")),
        SampleFormat::Jsonl
    );
    assert_eq!(
        SampleFormat::guess(Path::new("b.JSON")),
        SampleFormat::SimpleJson
    );
    assert_eq!(SampleFormat::guess(Path::new("b.txt")), SampleFormat::Lines);
    assert_eq!(SampleFormat::guess(Path::new("texts")), SampleFormat::Lines);
}

#[test]
fn simple_json() {
    let s = load(
        "s.json",
        "\u{feff}{\"samples\": [\"Hello there.\", \"  \", \"Second one?\"], \"extra\": 1}",
        SampleFormat::SimpleJson,
    )
    .expect("valid");
    assert_eq!(s.texts(), ["Hello there.", "Second one?"]);
    assert_eq!(s.len(), 2);
    assert!(!s.is_empty());
}

#[test]
fn simple_json_non_string_entry_names_line() {
    let content = "{\n  \"samples\": [\n    \"ok\",\n    42\n  ]\n}\n";
    let shown = assert_parse_error(
        load("bad.json", content, SampleFormat::SimpleJson),
        "bad.json",
        4,
    );
    assert!(shown.contains("expected a string"), "{shown}");
    assert!(
        !shown.contains(" at line "),
        "position is not repeated: {shown}"
    );
}

#[test]
fn simple_json_syntax_and_shape_errors() {
    assert_parse_error(
        load(
            "s.json",
            "{\"samples\": [\"a\",\n\"b\" \"c\"]}",
            SampleFormat::SimpleJson,
        ),
        "s.json",
        2,
    );
    let shown = assert_parse_error(
        load("s.json", "{\"texts\": []}", SampleFormat::SimpleJson),
        "s.json",
        1,
    );
    assert!(shown.contains("samples"), "{shown}");
}

#[test]
fn id_prompt_json() {
    let content = r#"[{"id": 1, "prompt": "First."}, {"id": "b", "prompt": "Second."}]"#;
    let s = load("p.json", content, SampleFormat::IdPromptJson).expect("valid");
    assert_eq!(s.texts(), ["First.", "Second."]);
    let bad = "[\n {\"id\": 1, \"prompt\": \"x\"},\n {\"id\": 2, \"prompt\": null}\n]";
    assert_parse_error(load("p.json", bad, SampleFormat::IdPromptJson), "p.json", 3);
}

#[test]
fn axolotl_input_output() {
    let content = concat!(
        r#"{"segments": [{"label": false, "text": "User: hi\n"}, {"label": true, "text": "Hello"}, {"label": true, "text": ", friend."}]}"#,
        "\n\n",
        r#"{"segments": [{"label": false, "text": "only input"}]}"#,
        "\n",
        r#"{"segments": [{"label": true, "text": "Second answer."}]}"#,
        "\n"
    );
    let s = load("a.jsonl", content, SampleFormat::AxolotlInputOutput).expect("valid");
    assert_eq!(s.texts(), ["Hello, friend.", "Second answer."]);
    let bad = "{\"segments\": []}\n\n{\"segments\": [{\"label\": \"yes\", \"text\": \"x\"}]}\n";
    let shown = assert_parse_error(
        load("a.jsonl", bad, SampleFormat::AxolotlInputOutput),
        "a.jsonl",
        3,
    );
    assert!(shown.contains("a.jsonl:3:"), "{shown}");
}

#[test]
fn lines() {
    let s = load(
        "t.txt",
        "first line\r\n\n   \n  second line  \n",
        SampleFormat::Lines,
    )
    .expect("valid");
    assert_eq!(s.texts(), ["first line", "second line"]);
}

#[test]
fn jsonl() {
    let content = concat!(
        "\"a plain string\"\n",
        "{\"text\": \"from text\", \"voice\": \"x\"}\n",
        "\n",
        "{\"input\": \"from input\"}\n",
        "{\"prompt\": \"from prompt\"}\n",
    );
    let s = load("j.jsonl", content, SampleFormat::Jsonl).expect("valid");
    assert_eq!(
        s.texts(),
        ["a plain string", "from text", "from input", "from prompt"]
    );

    let cases = [
        ("\"ok\"\n{\"text\": 5}\n", 2, "not a string"),
        ("\"ok\"\n\n[1, 2]\n", 3, "expected a JSON string"),
        ("{\"voice\": \"x\"}\n", 1, "no \"text\""),
        ("\"ok\"\n\"unterminated\n", 2, "EOF"),
    ];
    for (content, line, needle) in cases {
        let shown = assert_parse_error(
            load("j.jsonl", content, SampleFormat::Jsonl),
            "j.jsonl",
            line,
        );
        assert!(shown.contains(needle), "{shown}");
    }
}

#[test]
fn empty_files_and_blank_samples() {
    for (content, format) in [
        ("", SampleFormat::Lines),
        ("  \n\n", SampleFormat::Jsonl),
        ("{\"samples\": []}", SampleFormat::SimpleJson),
        ("{\"samples\": [\"\", \"  \"]}", SampleFormat::SimpleJson),
        ("[]", SampleFormat::IdPromptJson),
    ] {
        let err = load("e.json", content, format).expect_err("empty");
        assert!(matches!(err, InputError::Empty { .. }), "{err:?}");
        assert!(err.to_string().contains("e.json"), "{err}");
    }
}

#[test]
fn unreadable_file_is_io_error_with_path() {
    let err = TextSamples::load(
        Path::new("/nonexistent/voxload/texts.json"),
        SampleFormat::SimpleJson,
    )
    .expect_err("missing");
    assert!(matches!(err, InputError::Io { .. }));
    assert!(
        err.to_string().contains("/nonexistent/voxload/texts.json"),
        "{err}"
    );
}

#[test]
fn bundled_set_is_valid_and_varied() {
    let s = TextSamples::bundled();
    assert!(s.len() >= 50, "{}", s.len());
    for t in s.texts() {
        let n = t.chars().count();
        assert!((20..=400).contains(&n), "{n}: {t}");
    }
    assert!(s.texts().iter().any(|t| t.ends_with('?')));
    assert!(s
        .texts()
        .iter()
        .any(|t| t.chars().any(|c| c.is_ascii_digit())));
    assert!(s.texts().iter().any(|t| t.chars().count() > 300));
}

#[test]
fn from_texts_drops_blanks() {
    assert!(TextSamples::from_texts(vec![" ".to_string()]).is_none());
    let s = TextSamples::from_texts(vec!["a b".into(), String::new()]).expect("one left");
    assert_eq!(s.texts(), ["a b"]);
}

#[test]
fn random_prefix_is_seeded_and_shaped() {
    let a: Vec<String> = {
        let mut rng = StdRng::seed_from_u64(1);
        (0..5).map(|_| random_prefix(&mut rng)).collect()
    };
    let b: Vec<String> = {
        let mut rng = StdRng::seed_from_u64(1);
        (0..5).map(|_| random_prefix(&mut rng)).collect()
    };
    assert_eq!(a, b);
    assert!(a.iter().any(|p| p != &a[0]), "varies: {a:?}");
    for p in &a {
        assert!(p.ends_with(' '));
        assert_eq!(p.split_whitespace().count(), 3);
        assert!(p.split_whitespace().all(|w| WORDS.contains(&w)));
    }
}
