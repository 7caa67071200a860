//! Presets: what `--preset NAME` sends is pinned, so a preset cannot drift
//! from the protocol its docs page describes. A recording server takes the
//! first messages of a session verbatim (audio reduced to its length) and
//! they are compared with tests/golden/presets/NAME.txt; after checking a
//! change is intended, rewrite them with `UPDATE_GOLDEN=1 cargo test --test presets`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// Text messages of a session the golden files keep.
const FIRST: usize = 4;

/// Accept one WebSocket, return the handshake's path, the headers named
/// in `headers` and its first [`FIRST`] text messages, normalized.
// (tungstenite's handshake callback returns its large error type by value.)
#[allow(clippy::result_large_err)]
async fn record(listener: TcpListener, headers: &'static [&'static str]) -> Vec<String> {
    // (voxload first checks the port is open: connections that never
    // upgrade are skipped.)
    let (ws, mut seen) = loop {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut seen = Vec::new();
        let upgraded = tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
            seen.push(format!("GET {}", req.uri()));
            for h in headers {
                for v in req.headers().get_all(*h) {
                    seen.push(format!("header {h}: {}", v.to_str().unwrap_or("?")));
                }
            }
            Ok(resp)
        })
        .await;
        if let Ok(ws) = upgraded {
            break (ws, seen);
        }
    };
    let (_tx, mut rx) = ws.split();
    let (mut texts, mut binary) = (0, false);
    while texts < FIRST {
        match tokio::time::timeout(Duration::from_secs(10), rx.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                seen.push(normalize(t.as_str()));
                texts += 1;
            }
            // Binary audio (Deepgram, AssemblyAI): the first frame's size.
            Ok(Some(Ok(Message::Binary(b)))) if !binary => {
                seen.push(format!("binary <{} bytes>", b.len()));
                binary = true;
            }
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    seen
}

/// The message as sorted JSON, base64 audio replaced by its byte count.
fn normalize(text: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(text) else {
        return format!("NOT JSON: {text}");
    };
    let path = if v.get("audio").is_some() {
        "/audio"
    } else {
        "/media/payload"
    };
    if let Some(audio) = v.pointer_mut(path) {
        if let Some(b64) = audio.as_str() {
            let n = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(|b| b.len().to_string())
                .unwrap_or_else(|_| "bad base64".into());
            *audio = serde_json::Value::String(format!("<{n} bytes>"));
        }
    }
    session_ids(&mut v);
    v.to_string()
}

/// Per-call ids (`MZ`/`CA` and 32 hex digits) as `MZ<id>`: they are random.
fn session_ids(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            let hex = s.get(2..).unwrap_or("");
            if s.len() == 34 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                *s = format!("{}<id>", &s[..2]);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(session_ids),
        serde_json::Value::Object(o) => o.values_mut().for_each(session_ids),
        _ => {}
    }
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/presets/{name}.txt"))
}

async fn check(preset: &str, command: &str, headers: &'static [&'static str], extra: &[&str]) {
    check_at(preset, command, "/v1/realtime?model=m", headers, extra).await;
}

/// [`check`] with the handshake going to `path`.
async fn check_at(
    preset: &str,
    command: &str,
    path: &str,
    headers: &'static [&'static str],
    extra: &[&str],
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let recorder = tokio::spawn(record(listener, headers));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("ws://127.0.0.1:{port}{path}");
    let out = dir.path().to_str().expect("utf-8").to_string();
    let args: Vec<String> = [
        command,
        "--preset",
        preset,
        "--url",
        &url,
        "--concurrency",
        "1",
        "-n",
        "1",
        "--name",
        "golden",
        "--out",
        &out,
        "-q",
    ]
    .iter()
    .chain(extra)
    .map(|a| a.to_string())
    .collect();
    let child = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::voxload(&args, std::path::Path::new("/"))
    });
    // voxload's own timeouts bound its run; the recorder is done once it
    // has its messages or the socket closes.
    let output = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("voxload ended in time")
        .expect("joins");
    let seen = tokio::time::timeout(Duration::from_secs(5), recorder)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "voxload never connected: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .expect("recorder");
    assert!(
        output.status.code().is_some(),
        "voxload ran to an end: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got = seen.join("\n") + "\n";
    let path = golden(preset);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("update golden file");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (create it with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(
        got,
        want,
        "{preset}: first messages differ from {}",
        path.display()
    );
}

#[tokio::test]
async fn openai_realtime_sends_the_ga_session_update_then_24khz_appends() {
    check(
        "openai-realtime",
        "agent",
        &["authorization", "openai-beta"],
        &["--answer-timeout", "1s"],
    )
    .await;
}

#[tokio::test]
async fn openai_realtime_beta_sends_its_header_and_the_flat_session() {
    check(
        "openai-realtime-beta",
        "agent",
        &["authorization", "openai-beta"],
        &["--answer-timeout", "1s"],
    )
    .await;
}

#[tokio::test]
async fn twilio_connects_starts_then_numbers_its_mulaw_media() {
    check(
        "twilio",
        "agent",
        &["authorization"],
        &["--answer-timeout", "1s"],
    )
    .await;
}

#[tokio::test]
async fn vllm_realtime_names_the_model_then_commits_before_any_audio() {
    let extra = [
        "--model",
        "mistralai/Voxtral-Mini-4B-Realtime-2602",
        "--timeout",
        "2s",
        "--text",
        "hello there",
    ];
    check("vllm-realtime", "asr", &["authorization"], &extra).await;
}

/// TTS over WebSocket: the first bundled text goes out word by word at
/// 40 tok/s.
const TTS_WS: [&str; 6] = [
    "--text-stream",
    "40tok/s",
    "--voice",
    "v1",
    "--timeout",
    "2s",
];

#[tokio::test]
async fn elevenlabs_sends_the_space_init_then_words_then_the_empty_text() {
    check_at(
        "elevenlabs",
        "tts",
        "/v1/text-to-speech/{{voice}}/stream-input?model_id={{model}}&output_format=pcm_16000",
        &["xi-api-key"],
        &[
            &TTS_WS[..],
            &[
                "--model",
                "eleven_flash_v2_5",
                "-H",
                "xi-api-key: sk-golden",
            ],
        ]
        .concat(),
    )
    .await;
}

#[tokio::test]
async fn cartesia_sends_transcript_pieces_in_one_context_then_continue_false() {
    check_at(
        "cartesia",
        "tts",
        "/tts/websocket",
        &["x-api-key", "cartesia-version"],
        &[
            &TTS_WS[..],
            &["--model", "sonic-3", "-H", "Cartesia-Version: 2026-08-14"],
        ]
        .concat(),
    )
    .await;
}

#[tokio::test]
async fn deepgram_speak_sends_speak_per_word_then_flush() {
    check_at(
        "deepgram-speak",
        "tts",
        "/v1/speak?model=aura-2-thalia-en&encoding=linear16&sample_rate=24000",
        &["authorization"],
        &TTS_WS,
    )
    .await;
}

/// The key comes from an environment variable cargo always sets for tests
/// (`CARGO_PKG_NAME` = voxload), so the golden files show its header.
const KEY: [&str; 2] = ["--api-key-env", "CARGO_PKG_NAME"];

#[tokio::test]
async fn deepgram_listen_sends_binary_pcm_then_finalize_and_closestream_with_a_token() {
    let extra = [KEY[0], KEY[1], "--timeout", "2s", "--text", "hello there"];
    check("deepgram-listen", "asr", &["authorization"], &extra).await;
}

#[tokio::test]
async fn assemblyai_sends_50ms_binary_frames_then_terminate_with_the_bare_key() {
    let extra = [KEY[0], KEY[1], "--timeout", "2s", "--text", "hello there"];
    check("assemblyai", "asr", &["authorization"], &extra).await;
}

#[tokio::test]
async fn openai_realtime_transcribe_sends_a_transcription_session_then_24khz_appends() {
    let extra = [KEY[0], KEY[1], "--timeout", "2s", "--text", "hello there"];
    check(
        "openai-realtime-transcribe",
        "asr",
        &["authorization"],
        &extra,
    )
    .await;
}

#[test]
fn presets_lists_every_preset_and_prints_one_that_reads_as_a_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = common::voxload(&["presets"], dir.path());
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    for p in voxload::config::preset::PRESETS {
        assert!(text.contains(p.name), "{} listed:\n{text}", p.name);
    }
    let one = common::voxload(&["presets", "openai-realtime"], dir.path());
    assert!(one.status.success());
    let file = dir.path().join("rt.toml");
    std::fs::write(&file, &one.stdout).expect("write");
    // The printed preset is a scenario file `voxload run` reads (it fails
    // only for want of a URL).
    let run = common::voxload(
        &["run", file.to_str().expect("utf-8"), "--name", "x"],
        dir.path(),
    );
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("missing --url"), "{err}");
    let bad = common::voxload(
        &["agent", "--preset", "nope", "--url", "ws://127.0.0.1:9"],
        dir.path(),
    );
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--preset") && err.contains("openai-realtime"),
        "{err}"
    );
}
