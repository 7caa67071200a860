//! Sample rates are read, not assumed: against a mock whose audio is truly
//! sampled at 22,050 Hz and says so (a header, a content type, a URL, a
//! session message), voxload configured for another rate must measure the
//! mock's true audio length, say where the rate came from, and warn once.
//! With nothing declared, the configured rate is used, and nothing is said.

mod common;

use std::time::Duration;

use common::{one_text, run_against, voxload, wait_bounded, Opts};
use voxload::audio::rate::RateSource;
use voxload::config::agent::{AgentOptions, ScriptOptions};
use voxload::config::tts::{TtsEndpointOptions, TtsOptions};
use voxload::config::tts_ws::WsTtsOptions;
use voxload::config::{CommonOptions, ProtocolOptions, RunOptions, RunPlan, WorkloadOptions};
use voxload::metrics::RequestRecord;
use voxload::mock::{self, AgentModel, MockModel, RateDeclaration};

/// 45 characters at 15 chars/s: exactly 3 s of audio.
const TEXT_3S: &str = "The quick brown fox jumps over the lazy dog!!";

/// The mock's true rate in these tests, and what voxload is told.
const TRUE_RATE: u32 = 22_050;
const CONFIGURED: u32 = 24_000;

fn mock_at(rate: u32, declare: RateDeclaration) -> MockModel {
    MockModel {
        sample_rate: rate,
        declare_rate: declare,
        overhead: Duration::from_millis(20),
        speed: 8.0,
        chunk: Duration::from_millis(100),
        ..MockModel::default()
    }
}

fn tts_opts(texts: std::path::PathBuf, requests: u64) -> Opts {
    Opts {
        tts: TtsOptions {
            texts: Some(texts),
            endpoint: TtsEndpointOptions {
                format: Some(format!("pcm:{CONFIGURED}")),
                ..TtsEndpointOptions::default()
            },
            ..TtsOptions::default()
        },
        run: WorkloadOptions {
            concurrency: Some("2".parse().expect("levels")),
            requests: Some(requests),
            ..WorkloadOptions::default()
        },
        ..Opts::default()
    }
}

/// Every record measured the server's true audio (`samples ÷ rate`, to
/// the microsecond) at `rate` from `source`, with RTF = e2e ÷ that.
fn measured_truly(records: &[RequestRecord], truth_us: u64, rate: u32, source: RateSource) {
    assert!(!records.is_empty());
    for r in records {
        assert!(r.ok(), "{r:?}");
        let audio = r.audio_us.expect("audio measured");
        // Within one chunk's rounding (1 ms): here, exact.
        assert!(
            audio.abs_diff(truth_us) <= 1_000,
            "{audio} µs vs truth {truth_us} µs"
        );
        assert_eq!(
            (r.sample_rate, r.rate_source),
            (Some(rate), Some(source)),
            "{r:?}"
        );
        let rtf = r.rtf.expect("rtf");
        let e2e = r.e2e_us.expect("e2e") as f64;
        let want = e2e / audio as f64;
        assert!(
            (rtf - want).abs() <= want * 1e-5,
            "rtf {rtf} = e2e ÷ true audio {want}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_header_beats_the_configured_rate_and_warns_once() {
    for declare in [RateDeclaration::Header, RateDeclaration::ContentType] {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = tts_opts(one_text(dir.path(), TEXT_3S), 6);
        let ran = run_against(mock_at(TRUE_RATE, declare), o).await;
        let truth = ran.mock.truth().await;
        assert_eq!(truth.ok, 6);
        let t = &truth.recent[0];
        assert_eq!(
            (t.sample_rate, t.audio_samples),
            (TRUE_RATE, 3 * TRUE_RATE as usize)
        );
        let truth_us = t.audio_samples as u64 * 1_000_000 / u64::from(t.sample_rate);
        measured_truly(&ran.records, truth_us, TRUE_RATE, RateSource::Header);
        // One warning for the run, naming both rates and the header.
        assert_eq!(ran.result.warnings.len(), 1, "{:?}", ran.result.warnings);
        let w = &ran.result.warnings[0];
        let header = match declare {
            RateDeclaration::Header => "x-sample-rate",
            _ => "content-type",
        };
        assert!(
            w.contains("22050 Hz") && w.contains("24000 Hz") && w.contains(header),
            "{w}"
        );
        let saved: serde_json::Value = serde_json::from_slice(
            &std::fs::read(ran.out.join("result.json")).expect("result.json"),
        )
        .expect("json");
        assert_eq!(saved["warnings"][0].as_str(), Some(w.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_declared_the_configured_rate_is_assumed_and_nothing_said() {
    // A server at the configured rate: exact, assumed, silent.
    let dir = tempfile::tempdir().expect("tempdir");
    let o = tts_opts(one_text(dir.path(), TEXT_3S), 4);
    let ran = run_against(mock_at(CONFIGURED, RateDeclaration::None), o).await;
    measured_truly(&ran.records, 3_000_000, CONFIGURED, RateSource::Assumed);
    assert!(ran.result.warnings.is_empty(), "{:?}", ran.result.warnings);
    let saved = std::fs::read_to_string(ran.out.join("result.json")).expect("result.json");
    assert!(!saved.contains("\"warnings\""), "no empty list is written");
    // One that says nothing about its 22,050 Hz: measured at the assumed
    // 24 kHz, 8 % short, as before (nothing to read it from).
    let dir = tempfile::tempdir().expect("tempdir");
    let o = tts_opts(one_text(dir.path(), TEXT_3S), 2);
    let ran = run_against(mock_at(TRUE_RATE, RateDeclaration::None), o).await;
    let wrong = 3 * u64::from(TRUE_RATE) * 1_000_000 / u64::from(CONFIGURED);
    measured_truly(&ran.records, wrong, CONFIGURED, RateSource::Assumed);
    assert!(ran.result.warnings.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_the_mismatch_warning_once_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(mock_at(TRUE_RATE, RateDeclaration::Header))
        .await
        .expect("mock");
    let texts = one_text(dir.path(), TEXT_3S);
    let url = mock.url();
    let texts = texts.to_string_lossy().to_string();
    let args = [
        "tts",
        "--url",
        &url,
        "--texts",
        &texts,
        "--format",
        "pcm:24000",
        "-n",
        "5",
        "--concurrency",
        "2",
        "--out",
        "out",
        "--name",
        "rates",
        "-q",
    ];
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_voxload"))
        .args(args)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    let out = tokio::task::spawn_blocking(move || {
        wait_bounded(child, Duration::from_secs(60), "voxload tts")
    })
    .await
    .expect("joins");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:") && l.contains("22050 Hz"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("24000 Hz") && warnings[0].contains("x-sample-rate"));
    // `voxload` with the mock's CLI flag is the same server.
    let help = voxload(&["mock", "--help"], dir.path());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--declare-rate"));
}

fn agent_plan(url: String, rate_path: Option<&str>, dir: &std::path::Path) -> RunPlan {
    let agent = AgentOptions {
        url: Some(url),
        script: Some(vec![ScriptOptions {
            name: "two".into(),
            texts: Some(vec!["hello there".into(), "thanks a lot".into()]),
            ..ScriptOptions::default()
        }]),
        pause: Some(Duration::from_millis(100)),
        agent_rate_path: rate_path.map(String::from),
        ..AgentOptions::default()
    };
    let run = WorkloadOptions {
        concurrency: Some("2".parse().expect("levels")),
        requests: Some(2),
        ..WorkloadOptions::default()
    };
    let common = CommonOptions {
        name: Some("agent".into()),
        out: Some(dir.join("results")),
        ..CommonOptions::default()
    };
    let options = RunOptions::single(common, run, ProtocolOptions::Agent(agent));
    RunPlan::build(options, &|_| None).expect("valid plan")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_announces_its_rate_is_measured_at_it() {
    let model = MockModel {
        agent: AgentModel {
            sample_rate_out: TRUE_RATE,
            announce_rate: true,
            response_audio: Duration::from_millis(1_000),
            seed: Some(3),
            ..AgentModel::default()
        },
        ..MockModel::default()
    };
    let mock = mock::spawn(model).await.expect("mock");
    let url = format!("{}/v1/agent", mock.url().replacen("http://", "ws://", 1));
    // Told 16 kHz (the default), reading the GA path: the true 1 s.
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = agent_plan(
        url.clone(),
        Some("session.audio.output.format.rate"),
        dir.path(),
    );
    let (result, out) = common::run_plan(plan, Default::default()).await;
    let records = common::read_records(&out.join("requests.jsonl"));
    let truth = mock.truth().await.agent;
    assert_eq!(records.len(), 4, "2 calls × 2 turns: {records:?}");
    let sent = truth.recent_turns[0].audio_us;
    assert_eq!(sent, 1_000_000, "the mock's truth: 1 s at 22,050 Hz");
    measured_agent(&records, sent, TRUE_RATE, RateSource::Message);
    assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
    let w = &result.warnings[0];
    assert!(
        w.contains("22050 Hz")
            && w.contains("16000 Hz")
            && w.contains("session.audio.output.format.rate"),
        "{w}"
    );
    // Without the path the announcement is not read: 16 kHz is assumed
    // (and 1 s of 22,050 Hz audio counts as 1.378 s), nothing is said.
    let dir = tempfile::tempdir().expect("tempdir");
    let (result, out) =
        common::run_plan(agent_plan(url, None, dir.path()), Default::default()).await;
    let records = common::read_records(&out.join("requests.jsonl"));
    let wrong = u64::from(TRUE_RATE) * 1_000_000 / 16_000;
    measured_agent(&records, wrong, 16_000, RateSource::Assumed);
    assert!(result.warnings.is_empty(), "{:?}", result.warnings);
}

fn measured_agent(records: &[RequestRecord], audio_us: u64, rate: u32, source: RateSource) {
    for r in records {
        assert!(r.ok(), "{r:?}");
        let audio = r.audio_us.expect("audio");
        // Each 40 ms chunk rounds to the microsecond: 25 chunks, < 25 µs.
        assert!(
            audio.abs_diff(audio_us) <= 1_000,
            "{audio} µs vs {audio_us} µs"
        );
        assert_eq!(
            (r.sample_rate, r.rate_source),
            (Some(rate), Some(source)),
            "{r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_url_declares_the_rate_its_query_asks_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(mock_at(24_000, RateDeclaration::None))
        .await
        .expect("mock");
    // The preset says pcm:16000; the URL asks ElevenLabs for 22,050 Hz.
    let url = format!(
        "ws://{}/v1/text-to-speech/{{{{voice}}}}/stream-input?model_id=m&output_format=pcm_22050",
        mock.addr
    );
    let tts = TtsOptions {
        texts: Some(one_text(dir.path(), TEXT_3S)),
        endpoint: TtsEndpointOptions {
            url: Some(url),
            voice: Some(vec!["v1".into()]),
            timeout: Some(Duration::from_secs(10)),
            ws: WsTtsOptions::default(),
            ..TtsEndpointOptions::default()
        },
        ..TtsOptions::default()
    };
    let run = WorkloadOptions {
        concurrency: Some("1".parse().expect("levels")),
        requests: Some(2),
        ..WorkloadOptions::default()
    };
    let common = CommonOptions {
        out: Some(dir.path().join("results")),
        name: Some("ws".into()),
        ..CommonOptions::default()
    };
    let options = RunOptions::single(common, run, ProtocolOptions::Tts(tts))
        .with_preset(Some("elevenlabs"))
        .expect("one scenario");
    let plan = RunPlan::build(options, &|_| None).expect("valid plan");
    let (result, out) = common::run_plan(plan, Default::default()).await;
    let records = common::read_records(&out.join("requests.jsonl"));
    let truth = mock.truth().await;
    assert_eq!(truth.tts_ws.len(), 2);
    assert_eq!(truth.tts_ws[0].sample_rate, TRUE_RATE);
    measured_truly(&records, 3_000_000, TRUE_RATE, RateSource::Url);
    assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
    let w = &result.warnings[0];
    assert!(
        w.contains("22050 Hz") && w.contains("16000 Hz") && w.contains("output_format"),
        "{w}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_message_declares_the_rate_at_the_rate_path() {
    use base64::Engine as _;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use voxload::protocol::http_tts::TtsJob;
    use voxload::protocol::ws_tts::WsTts;
    use voxload::protocol::Probe;

    // A server that states its format first, then sends 1 s of 22,050 Hz
    // PCM in two messages and ends.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("upgrade");
        // Wait for the text, then answer.
        while let Some(Ok(m)) = ws.next().await {
            if m.is_text() {
                break;
            }
        }
        let half = base64::engine::general_purpose::STANDARD.encode(vec![0x10u8; 22_050]);
        for m in [
            r#"{"type":"metadata","format":{"sample_rate":22050}}"#.to_string(),
            format!(r#"{{"type":"chunk","data":"{half}"}}"#),
            format!(r#"{{"type":"chunk","data":"{half}"}}"#),
            r#"{"type":"done"}"#.to_string(),
        ] {
            ws.send(Message::text(m)).await.expect("send");
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.next()).await;
    });
    let ws = WsTtsOptions {
        ws_audio: Some("data".into()),
        final_types: Some(vec!["done".into()]),
        ws_rate_path: Some("format.sample_rate".into()),
        ..WsTtsOptions::default()
    };
    let target = ws
        .target(
            format!("ws://{addr}/tts"),
            vec![],
            String::new(),
            voxload::audio::AudioFormat::Pcm {
                sample_rate: 16_000,
                channels: 1,
            },
        )
        .expect("target");
    let tts = WsTts::new(target).expect("valid");
    let mut probe = Probe::new();
    let mut times = Default::default();
    let job = TtsJob {
        text: "hello",
        voice: "v",
    };
    let sent = tokio::time::timeout(
        Duration::from_secs(10),
        tts.execute(&job, std::time::Instant::now(), &mut probe, &mut times),
    )
    .await
    .expect("bounded");
    sent.expect("answered");
    server.await.expect("server");
    let audio = probe.audio.as_ref().expect("audio");
    assert_eq!(
        audio.duration,
        Some(Duration::from_secs(1)),
        "1 s at 22,050 Hz"
    );
    assert_eq!(
        (audio.sample_rate, audio.rate_source),
        (Some(TRUE_RATE), Some(RateSource::Message))
    );
    let w = probe
        .rate_warning(tts.target().format)
        .expect("16 kHz was configured");
    assert!(w.contains("format.sample_rate in a server message"), "{w}");
}
