//! Tests for loading audio inputs: folders, manifests, sidecar references,
//! and every error naming its file (and manifest line).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::audio::generate::tone_pcm16;
use crate::audio::{wav, AudioFormat};

/// A mono 16 kHz WAV of `ms` milliseconds of tone.
fn wav_bytes(ms: u64) -> Vec<u8> {
    let pcm = tone_pcm16(
        16_000,
        Duration::from_millis(ms),
        Duration::ZERO,
        440.0,
        0.5,
    );
    let mut f = wav::header(16_000, 1, 16, Some(pcm.len() as u32)).to_vec();
    f.extend_from_slice(&pcm);
    f
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, bytes).expect("write");
    path
}

fn load_err(inputs: &[PathBuf]) -> (InputError, String) {
    let err = AudioSet::load(inputs).expect_err("should fail");
    let shown = err.to_string();
    (err, shown)
}

#[test]
fn folder_is_walked_sorted_with_sidecar_references() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    write(d, "b.wav", &wav_bytes(250));
    write(d, "a.WAV", &wav_bytes(500));
    write(d, "a.txt", b"  Hello there.\n");
    write(d, "sub/c.wav", &wav_bytes(1_000));
    write(d, "sub/c.txt", b"   \n"); // blank: no reference
    write(d, "notes.md", b"# not audio");
    write(d, "raw.pcm", &[0; 320]); // no rate: skipped in folders
    let set = AudioSet::load(&[d.to_path_buf()]).expect("folder");
    let names: Vec<String> = set
        .items()
        .iter()
        .map(|i| {
            i.path
                .strip_prefix(d)
                .expect("inside")
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["a.WAV", "b.wav", "sub/c.wav"]);
    assert_eq!(set.len(), 3);
    assert!(!set.is_empty());
    assert_eq!(set.total_duration(), Duration::from_millis(1_750));
    let a = &set.items()[0];
    assert_eq!(a.duration, Duration::from_millis(500));
    assert_eq!(a.format, AudioFormat::Wav);
    assert_eq!(a.reference.as_deref(), Some("Hello there."));
    assert_eq!(a.language, None);
    assert_eq!(a.bytes.len(), 44 + 16_000);
    assert_eq!(set.items()[2].reference, None);
    // Conversion from an item: 500 ms at 8 kHz is 4,000 samples.
    assert_eq!(a.pcm16_mono(8_000).expect("convert").len(), 8_000);
}

#[test]
fn manifest_entries_resolve_relative_to_the_manifest() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    write(d, "audio/one.wav", &wav_bytes(300));
    write(d, "audio/one.txt", b"ignored: the manifest has text");
    let two = write(d, "elsewhere/two.wav", &wav_bytes(700));
    write(d, "elsewhere/two.txt", b"from the sidecar");
    let manifest = format!(
        "{}\n\n{}\n",
        r#"{"path": "audio/one.wav", "text": "One, two.", "language": "en", "duration": 0.3}"#,
        serde_json::json!({ "audio_filepath": two, "reference": null }),
    );
    let m = write(d, "sets/../manifest.jsonl", manifest.as_bytes());
    let set = AudioSet::load(&[m, two.clone()]).expect("manifest");
    assert_eq!(set.len(), 3);
    let one = &set.items()[0];
    assert!(one.path.ends_with("audio/one.wav"));
    assert_eq!(one.reference.as_deref(), Some("One, two."));
    assert_eq!(one.language.as_deref(), Some("en"));
    assert_eq!(one.duration, Duration::from_millis(300));
    let second = &set.items()[1];
    assert_eq!(second.path, two);
    assert_eq!(second.reference.as_deref(), Some("from the sidecar"));
    assert_eq!(set.items()[2].path, two, "a plain file input");
    assert_eq!(set.total_duration(), Duration::from_millis(1_700));
}

#[test]
fn unreadable_file_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("nope.wav");
    let (err, shown) = load_err(&[missing]);
    assert!(matches!(err, InputError::Io { .. }), "{err:?}");
    assert!(shown.contains("nope.wav"), "{shown}");
}

#[test]
fn zero_length_file_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let empty = write(dir.path(), "empty.wav", b"");
    let (err, shown) = load_err(&[empty]);
    assert!(matches!(err, InputError::EmptyFile { .. }), "{err:?}");
    assert!(
        shown.contains("empty.wav") && shown.contains("0 bytes"),
        "{shown}"
    );
}

#[test]
fn wrong_format_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let html = write(d, "page.mp3", b"<html>not audio at all</html>");
    let (err, shown) = load_err(&[html]);
    assert!(matches!(err, InputError::NotAudio { .. }), "{err:?}");
    assert!(
        shown.contains("page.mp3") && shown.contains("not usable audio"),
        "{shown}"
    );
    // A WAV header with no samples is not something to transcribe.
    let hollow = write(d, "hollow.wav", &wav::header(16_000, 1, 16, Some(0)));
    let (_, shown) = load_err(&[hollow]);
    assert!(
        shown.contains("hollow.wav") && shown.contains("no audio"),
        "{shown}"
    );
    // Raw PCM given explicitly: no rate, so not usable.
    let raw = write(d, "raw.pcm", &[1; 640]);
    let (_, shown) = load_err(&[raw]);
    assert!(
        shown.contains("raw.pcm") && shown.contains("pcm"),
        "{shown}"
    );
}

#[test]
fn manifest_line_errors_name_file_and_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    write(d, "ok.wav", &wav_bytes(100));
    let cases: [(&str, &str, usize, &str); 5] = [
        (
            "bad.jsonl",
            "{\"path\": \"ok.wav\"}\n{not json\n",
            2,
            "not JSON",
        ),
        ("nopath.jsonl", "{\"text\": \"hi\"}\n", 1, "missing `path`"),
        ("array.jsonl", "\n[1, 2]\n", 2, "JSON object"),
        ("num.jsonl", "{\"path\": 7}\n", 1, "must be a string"),
        (
            "txt.jsonl",
            "{\"path\": \"ok.wav\", \"text\": 5}\n",
            1,
            "`text`",
        ),
    ];
    for (name, body, line, what) in cases {
        let m = write(d, name, body.as_bytes());
        let (err, shown) = load_err(&[m]);
        assert!(
            matches!(&err, InputError::Parse { line: l, .. } if *l == line),
            "{name}: {err:?}"
        );
        assert!(shown.contains(&format!("{name}:{line}:")), "{shown}");
        assert!(shown.contains(what), "{shown}");
    }
}

#[test]
fn manifest_entry_errors_name_manifest_line_and_audio_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    write(d, "ok.wav", &wav_bytes(100));
    write(d, "zero.wav", b"");
    write(d, "junk.wav", b"RIFF....JUNKJUNK");
    let cases = [
        ("gone.wav", "cannot read"),
        ("zero.wav", "0 bytes"),
        ("junk.wav", "not usable audio"),
    ];
    for (audio, what) in cases {
        let body = format!("{{\"path\": \"ok.wav\"}}\n{{\"path\": \"{audio}\"}}\n");
        let m = write(d, "m.jsonl", body.as_bytes());
        let (err, shown) = load_err(&[m]);
        assert!(
            matches!(&err, InputError::ManifestEntry { line: 2, .. }),
            "{err:?}"
        );
        assert!(shown.contains("m.jsonl:2:"), "{shown}");
        assert!(shown.contains(audio) && shown.contains(what), "{shown}");
    }
}

#[test]
fn nothing_found_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let empty_dir = d.join("empty");
    std::fs::create_dir(&empty_dir).expect("mkdir");
    write(d, "empty/readme.txt", b"no audio here");
    let (err, shown) = load_err(&[empty_dir]);
    assert!(matches!(err, InputError::NoAudio { .. }), "{err:?}");
    assert!(shown.contains("empty") && shown.contains(".wav"), "{shown}");
    let blank = write(d, "blank.jsonl", b"\n\n");
    let (err, shown) = load_err(&[blank]);
    assert!(matches!(err, InputError::NoAudio { .. }), "{err:?}");
    assert!(shown.contains("blank.jsonl"), "{shown}");
    assert!(matches!(AudioSet::load(&[]), Err(InputError::NoInputs)));
}
