//! `voxload sample tts|asr|agent`: one exchange against the mock, every
//! message shown with what the current rules made of it, checked against
//! the mock's own truth — and a wrong rule shown as `ignored:` lines that
//! name it, failing in bounded time. All traffic to 127.0.0.1.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use voxload::mock::{self, AgentModel, MockHandle, MockModel};

/// What one `voxload sample` run printed.
struct Sampled {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Sampled {
    /// Lines of received messages the rules read as `verdict` (a prefix).
    fn received(&self, verdict: &str) -> Vec<&str> {
        let mark = format!("→ {verdict}");
        self.stdout
            .lines()
            .filter(|l| l.starts_with('<') && l.contains(&mark))
            .collect()
    }

    /// Bytes of every line classified as audio.
    fn audio_bytes(&self) -> usize {
        self.received("audio ")
            .iter()
            .map(|l| {
                let tail = &l[l.rfind("→ audio ").expect("audio verdict") + "→ audio ".len()..];
                tail.trim_end_matches(" B")
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .expect("audio byte count")
            })
            .sum()
    }

    /// The quoted texts of lines with `verdict` (`final`, `transcript`).
    fn texts(&self, verdict: &str) -> Vec<String> {
        self.received(&format!("{verdict} \""))
            .iter()
            .map(|l| {
                let at = l.rfind(&format!("→ {verdict} ")).expect("verdict");
                let quoted = &l[at + "→ ".len() + verdict.len() + 1..];
                serde_json::from_str::<String>(quoted).expect("a quoted text")
            })
            .collect()
    }

    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Run `voxload sample ARGS` (with `env` set) in `dir`, bounded.
async fn sample(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Sampled {
    let args: Vec<String> = std::iter::once("sample")
        .chain(args.iter().copied())
        .map(str::to_string)
        .collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let dir = dir.to_path_buf();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_voxload"))
            .args(&args)
            .envs(env)
            .current_dir(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("binary runs");
        common::wait_bounded(child, Duration::from_secs(60), "voxload sample")
    })
    .await
    .expect("joins");
    Sampled {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

fn ws(mock: &MockHandle, path: &str) -> String {
    format!("ws://{}{path}", mock.addr)
}

/// A mock agent that transcribes the test voice and answers briefly.
async fn agent_mock() -> MockHandle {
    mock::spawn(MockModel {
        agent: AgentModel {
            transcribe: true,
            seed: Some(3),
            response_audio: Duration::from_millis(400),
            ..AgentModel::default()
        },
        ..MockModel::default()
    })
    .await
    .expect("mock")
}

/// A scenario file with one script of `texts`.
fn script(dir: &Path, texts: &[&str]) -> String {
    let path = dir.join("agent.toml");
    let texts: Vec<String> = texts.iter().map(|t| format!("{t:?}")).collect();
    let toml = format!(
        "[[script]]\nname = \"short\"\ntexts = [{}]\n",
        texts.join(", ")
    );
    std::fs::write(&path, toml).expect("write scenario");
    path.to_str().expect("utf-8").to_string()
}

/// `voxload sample agent --preset PRESET --url URL` with two turns ("hello
/// there", "thank you") and 100 ms pauses.
async fn two_turns(preset: &str, url: &str, dir: &Path) -> Sampled {
    let config = script(dir, &["hello there", "thank you"]);
    let args = [
        "agent", "--preset", preset, "--url", url, "-c", &config, "--pause", "100ms",
    ];
    sample(&args, &[], dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_realtime_call_shows_every_event_against_the_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = agent_mock().await;
    let url = ws(&mock, "/v1/realtime");
    let s = two_turns("openai-realtime", &url, dir.path()).await;
    assert_eq!(s.code, Some(0), "{}", s.all());
    // The first message sent is the session's set-up.
    let first_sent = s.stdout.lines().find(|l| l.starts_with('>')).expect("sent");
    assert!(
        first_sent.contains(r#""type":"session.update""#),
        "{first_sent}"
    );
    // Caller frames are summarised, their audio elided.
    assert!(
        s.stdout
            .contains(r#"{"type":"input_audio_buffer.append","audio":"<base64 "#),
        "{}",
        s.stdout
    );
    let truth = mock.truth().await.agent;
    assert_eq!(truth.turns, 2, "{truth:?}");
    // Every audio delta the mock sent is a line classified as audio, and
    // their bytes are its audio: 24 kHz 16-bit PCM.
    let chunks: u64 = truth.recent_turns.iter().map(|t| t.chunks).sum();
    assert_eq!(s.received("audio ").len() as u64, chunks, "{}", s.stdout);
    let audio_us: u64 = truth.recent_turns.iter().map(|t| t.audio_us).sum();
    assert_eq!(s.audio_bytes() as u64, audio_us * 48 / 1000, "{}", s.stdout);
    // The agent's transcripts of the caller: the words the script spoke.
    let mut heard = s.texts("transcript");
    assert_eq!(heard, ["hello there", "thank you"], "{}", s.stdout);
    let mut said: Vec<String> = truth
        .recent_turns
        .iter()
        .map(|t| t.transcript.clone())
        .collect();
    heard.sort();
    said.sort();
    assert_eq!(heard, said, "{}", s.stdout);
    assert_eq!(s.received("end of response").len(), 2, "{}", s.stdout);
    // Events no rule names are shown with the lists checked.
    assert!(
        s.stdout.contains("→ ignored: type 'session.created' is in none of audio_types [response.output_audio.delta]"),
        "{}",
        s.stdout
    );
    // One record per turn, as requests.jsonl has them.
    assert_eq!(s.stdout.matches("\"turn\":").count(), 2, "{}", s.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_webrtc_call_shows_its_set_up_and_every_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = agent_mock().await;
    let url = format!("http://{}/v1/realtime/calls", mock.addr);
    let s = two_turns("openai-realtime-webrtc", &url, dir.path()).await;
    assert_eq!(s.code, Some(0), "{}", s.all());
    assert!(s.stdout.starts_with("agent WebRTC "), "{}", s.stdout);
    // The set-up, in its order, then the hang-up.
    let mut at = 0;
    for step in [
        "offer (openai) to ",
        "answer (",
        "ICE connected",
        "DTLS connected",
        "data channel 'oai-events' open",
        // voxload's own hang-up, the whole note ("the agent hung up" is
        // the agent's).
        " ms  hung up\n",
    ] {
        let found = s.stdout[at..].find(step);
        assert!(found.is_some(), "{step:?} after byte {at}:\n{}", s.stdout);
        at += found.unwrap_or(0);
    }
    // The session's set-up went out on the channel once it was open.
    let first_sent = s.stdout.lines().find(|l| l.starts_with('>')).expect("sent");
    assert!(
        first_sent.contains(r#""type":"session.update""#),
        "{first_sent}"
    );
    // The caller's packets: one line per utterance.
    assert_eq!(
        s.stdout.matches("(audio frame 1 of ").count(),
        2,
        "{}",
        s.stdout
    );
    // Each answer: its endpoint, start, first audible packet, text, end.
    for verdict in [
        "endpoint",
        "response start",
        "audio ",
        "reply text",
        "end of response",
    ] {
        assert_eq!(s.received(verdict).len(), 2, "{verdict}: {}", s.stdout);
    }
    // The mock logs the call as its task ends, just after the hang-up.
    let until = Instant::now() + Duration::from_secs(5);
    let mut truth = mock.truth().await.agent;
    while truth.recent_sessions.is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        truth = mock.truth().await.agent;
    }
    assert_eq!(truth.turns, 2, "{truth:?}");
    let session = truth.recent_sessions.first().expect("the call");
    assert_eq!(session.realtime.as_ref().map(|r| r.updates), Some(1));
    assert_eq!(session.end, voxload::mock::AgentEnd::Deleted, "{session:?}");
    assert_eq!(s.stdout.matches("\"turn\":").count(), 2, "{}", s.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_call_shows_its_numbered_frames_and_the_echoed_mark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = agent_mock().await;
    let config = script(dir.path(), &["hello there"]);
    let url = ws(&mock, "/v1/twilio");
    let s = sample(
        &["agent", "--preset", "twilio", "--url", &url, "-c", &config],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(s.code, Some(0), "{}", s.all());
    // The first media frame as the pacer numbers it, its μ-law elided.
    assert!(
        s.stdout
            .contains(r#""chunk":"1","timestamp":"0","payload":"<base64 160 bytes>"}"#),
        "{}",
        s.stdout
    );
    let marks = s.received("mark \"");
    assert_eq!(marks.len(), 1, "{}", s.stdout);
    // Echoed once the audio before it had played.
    assert!(
        s.stdout
            .lines()
            .any(|l| l.starts_with('>') && l.contains(r#""event":"mark""#)),
        "{}",
        s.stdout
    );
    let truth = mock.truth().await.agent;
    let chunks: u64 = truth.recent_turns.iter().map(|t| t.chunks).sum();
    assert_eq!(s.received("audio ").len() as u64, chunks, "{}", s.stdout);
}

/// A one-line OpenAI Realtime call sampled with `rule` replacing a
/// preset rule and a 1 s answer timeout.
async fn sample_realtime_with(rule: &[&str]) -> Sampled {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = agent_mock().await;
    let config = script(dir.path(), &["hello there"]);
    let url = ws(&mock, "/v1/realtime");
    let mut args = vec![
        "agent",
        "--preset",
        "openai-realtime",
        "--url",
        &url,
        "-c",
        &config,
    ];
    args.extend_from_slice(rule);
    args.extend(["--answer-timeout", "1s"]);
    sample(&args, &[], dir.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_type_path_is_named_on_every_message_and_fails_in_time() {
    let s = sample_realtime_with(&["--type-path", "kind"]).await;
    assert_eq!(s.code, Some(1), "{}", s.all());
    let ignored = s.received("ignored: no string at type path 'kind'");
    assert!(ignored.len() >= 3, "{}", s.stdout);
    assert!(s.received("audio").is_empty(), "{}", s.stdout);
    assert!(
        s.stderr
            .contains("failed: timeout: no agent audio within 1s"),
        "{}",
        s.all()
    );
    // One utterance, the answer timeout, and the goodbye: well bounded.
    assert!(s.took < Duration::from_secs(20), "{:?}", s.took);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_audio_type_is_shown_beside_the_lists_checked() {
    let s = sample_realtime_with(&["--audio-types", "response.audio.delta"]).await;
    assert_eq!(s.code, Some(1), "{}", s.all());
    let why = "ignored: type 'response.output_audio.delta' is in none of \
               audio_types [response.audio.delta]";
    assert!(!s.received(why).is_empty(), "{}", s.stdout);
    assert!(s.stderr.contains("failed: timeout"), "{}", s.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deepgram_stream_shows_partials_and_finals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(MockModel::default()).await.expect("mock");
    let url = ws(&mock, "/v1/realtime/transcribe?dialect=deepgram");
    let text = "the quick brown fox";
    let s = sample(
        &[
            "asr",
            "--preset",
            "deepgram-listen",
            "--url",
            &url,
            "--text",
            text,
        ],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(s.code, Some(0), "{}", s.all());
    let truth = mock.truth().await.asr;
    let session = truth.ws_recent.first().expect("a session");
    assert!(session.partials > 0, "{session:?}");
    assert_eq!(
        s.received("partial \"").len() as u64,
        session.partials,
        "{}",
        s.stdout
    );
    assert_eq!(s.texts("final").join(" "), text, "{}", s.stdout);
    assert_eq!(s.received("done").len(), 1, "{}", s.stdout);
    // The end messages follow the last frame.
    assert!(
        s.stdout.contains(r#"B  {"type":"CloseStream"}"#),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout.contains(&format!("\"transcript\": \"{text}\"")),
        "{}",
        s.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_upload_shows_status_and_transcript() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(MockModel::default()).await.expect("mock");
    let url = format!("{}/v1/audio/transcriptions", mock.url());
    let s = sample(
        &["asr", "--url", &url, "--text", "hello world"],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(s.code, Some(0), "{}", s.all());
    assert!(s.stdout.contains("< status 200"), "{}", s.stdout);
    assert_eq!(s.texts("final"), ["hello world"], "{}", s.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_tts_presets_show_every_audio_chunk() {
    let cases = [
        (
            "elevenlabs",
            "/v1/text-to-speech/{{voice}}/stream-input?output_format=pcm_16000",
        ),
        ("cartesia", "/tts/websocket"),
        (
            "deepgram-speak",
            "/v1/speak?encoding=linear16&sample_rate=24000",
        ),
    ];
    for (preset, path) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let mock = mock::spawn(MockModel::default()).await.expect("mock");
        let url = ws(&mock, path);
        let s = sample(
            &[
                "tts",
                "--preset",
                preset,
                "--url",
                &url,
                "--text",
                "Hello there, how are you?",
            ],
            &[],
            dir.path(),
        )
        .await;
        assert_eq!(s.code, Some(0), "{preset}: {}", s.all());
        let truth = mock.truth().await;
        let t = truth.tts_ws.first().expect("a request");
        assert_eq!(
            s.received("audio ").len(),
            t.chunks,
            "{preset}: {}",
            s.stdout
        );
        assert!(
            !s.received("done").is_empty() || preset == "deepgram-speak",
            "{preset}: {}",
            s.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_form_still_samples_http_tts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(MockModel::default()).await.expect("mock");
    let url = mock.url();
    let s = sample(
        &["--url", &url, "--format", "wav", "--text", "Hi there"],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(s.code, Some(0), "{}", s.all());
    for want in [
        "< status 200",
        "detected audio format: wav",
        "audio chunks:",
        "\"ttfa_us\"",
    ] {
        assert!(s.stdout.contains(want), "{want}: {}", s.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_events_are_shown_with_how_the_audio_path_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(MockModel::default()).await.expect("mock");
    let url = mock.url();
    let args = [
        "--url", &url, "--sse", "--format", "pcm", "--text", "Hi there",
    ];
    let s = sample(&args, &[], dir.path()).await;
    assert_eq!(s.code, Some(0), "{}", s.all());
    let chunks: usize = s
        .stdout
        .lines()
        .find_map(|l| l.strip_suffix(" audio chunks:"))
        .and_then(|n| n.parse().ok())
        .expect("a chunk count");
    assert!(chunks > 0, "{}", s.stdout);
    // Every chunk is an event read as audio; the closing event has none.
    assert_eq!(s.received("audio ").len(), chunks, "{}", s.stdout);
    assert!(
        !s.received("ignored: no string at audio path 'audio'")
            .is_empty(),
        "{}",
        s.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_never_shows() {
    const KEY: &str = "sk-voxload-sample-secret-4f2a9c";
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = agent_mock().await;
    let config = script(dir.path(), &["hello there"]);
    let env = [("VOXLOAD_SAMPLE_KEY", KEY)];
    let url = ws(&mock, &format!("/v1/realtime?api_key={KEY}"));
    let agent = sample(
        &[
            "agent",
            "--preset",
            "openai-realtime",
            "--url",
            &url,
            "-c",
            &config,
            "--api-key-env",
            "VOXLOAD_SAMPLE_KEY",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_eq!(agent.code, Some(0), "{}", agent.all());
    let http = format!("{}/v1/audio/transcriptions", mock.url());
    let upload = sample(
        &[
            "asr",
            "--url",
            &http,
            "--text",
            "hello",
            "--api-key-env",
            "VOXLOAD_SAMPLE_KEY",
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_eq!(upload.code, Some(0), "{}", upload.all());
    for s in [&agent, &upload] {
        assert!(!s.all().contains(KEY), "the key leaked:\n{}", s.all());
        assert!(
            !s.all().contains("4f2a9c"),
            "part of the key leaked:\n{}",
            s.all()
        );
        assert!(
            s.stdout
                .to_ascii_lowercase()
                .contains("authorization: <redacted>"),
            "{}",
            s.stdout
        );
    }
}

/// An agent that announces 22,050 Hz while 16 kHz is configured: the
/// sample counts its audio at the announced rate, the mock's true 1 s,
/// and says so in a warning naming both rates; told the true rate, it is
/// silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_rate_other_than_the_configured_one_is_warned_of() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(MockModel {
        agent: AgentModel {
            sample_rate_out: 22_050,
            announce_rate: true,
            response_audio: Duration::from_millis(1_000),
            seed: Some(3),
            ..AgentModel::default()
        },
        ..MockModel::default()
    })
    .await
    .expect("mock");
    let url = ws(&mock, "/v1/agent");
    let base = [
        "agent",
        "--url",
        &url,
        "--turn-text",
        "hello there",
        "--agent-rate-path",
        "session.audio.output.format.rate",
    ];
    let s = sample(&base, &[], dir.path()).await;
    assert_eq!(s.code, Some(0), "{}", s.all());
    assert!(
        s.stdout.contains("turn 1: audio: 1.000 s")
            && s.stdout.contains("counted at 22050 Hz (message)"),
        "{}",
        s.stdout
    );
    let warning = s
        .stdout
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_else(|| panic!("a warning: {}", s.stdout));
    assert!(
        warning.contains("22050 Hz") && warning.contains("16000 Hz"),
        "{warning}"
    );
    let mut told = base.to_vec();
    told.extend(["--agent-sample-rate", "22050"]);
    let s = sample(&told, &[], dir.path()).await;
    assert_eq!(s.code, Some(0), "{}", s.all());
    assert!(!s.stdout.contains("warning:"), "{}", s.stdout);
}
