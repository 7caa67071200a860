//! Shared test helpers: the mock in-process on 127.0.0.1:0, runs into temp folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use voxload::config::tts::TtsOptions;
use voxload::config::{CommonOptions, ProtocolOptions, RunOptions, RunPlan, WorkloadOptions};
use voxload::metrics::RequestRecord;
use voxload::mock::{self, MockHandle, MockModel};
use voxload::result::RunResult;
use voxload::runner::{self, RunOptions as Presentation};
use voxload::workload::Stop;

/// Timing checks against a schedule (shared with the unit tests).
#[path = "../../src/timing_tests.rs"]
pub mod timing;

pub mod agent;

/// A TTS run's options, as the flags of `voxload tts` set them.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// What is sent and where (`--url`, `--format`, `--texts`, …).
    pub tts: TtsOptions,
    /// When (`--rate`, `--requests`, …).
    pub run: WorkloadOptions,
    /// Name, results folder, SLOs.
    pub common: CommonOptions,
}

/// Run `plan` quietly, read everything back.
pub async fn run_plan(plan: RunPlan, stop: Stop) -> (RunResult, PathBuf) {
    runner::run(plan, stop, Presentation { quiet: true })
        .await
        .expect("run completes")
}

/// Run `options` with `preset` under them, quietly, to its end: the result
/// and every record (the output folder is removed).
pub async fn run_with_preset(options: RunOptions, preset: &str) -> (RunResult, Vec<RequestRecord>) {
    let options = options.with_preset(Some(preset)).expect("one scenario");
    let plan = RunPlan::build(options, &|_| None).expect("valid plan");
    let (result, out) = run_plan(plan, Stop::default()).await;
    let records = read_records(&out.join("requests.jsonl"));
    std::fs::remove_dir_all(&out).expect("clean");
    (result, records)
}

/// Render `texts` (one per line) through the mock's TTS into 16 kHz WAVs
/// in `dir/corpus`, `concurrency` at a time: the corpus manifest, whose
/// references are the texts.
pub async fn mock_corpus(
    mock: &MockHandle,
    dir: &Path,
    texts: &str,
    concurrency: usize,
) -> PathBuf {
    use voxload::cli::corpus::{run_corpus, CorpusArgs};
    use voxload::cli::tts::TargetArgs;
    use voxload::config::tts::TtsEndpointOptions;
    let texts_path = dir.join("texts.txt");
    std::fs::write(&texts_path, texts).expect("write texts");
    let out = dir.join("corpus");
    let args = CorpusArgs {
        target: TargetArgs {
            vendor: None,
            endpoint: TtsEndpointOptions {
                url: Some(mock.url()),
                format: Some("wav".into()),
                ..TtsEndpointOptions::default()
            },
        },
        texts: Some(texts_path),
        texts_format: None,
        out: out.clone(),
        sample_rate: Some(16_000),
        limit: None,
        concurrency,
    };
    assert_eq!(run_corpus(args).await.expect("corpus"), 0);
    out.join("manifest.jsonl")
}

/// A finished run with its folder and the mock that served it.
pub struct Ran {
    pub result: RunResult,
    pub out: PathBuf,
    pub records: Vec<RequestRecord>,
    pub mock: MockHandle,
    _dir: tempfile::TempDir,
}

/// A samples file holding one text, so every request has the same known truth.
pub fn one_text(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("texts.txt");
    std::fs::write(&path, format!("{text}\n")).expect("write texts");
    path
}

/// Start a mock with `model`, run `opts` against it, read everything back.
pub async fn run_against(model: MockModel, opts: Opts) -> Ran {
    let mock = mock::spawn(model).await.expect("mock starts");
    run_on(mock, opts, Stop::default()).await
}

/// Run `opts` against an already started mock.
pub async fn run_on(mock: MockHandle, mut opts: Opts, stop: Stop) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    opts.tts.endpoint.url.get_or_insert_with(|| mock.url());
    opts.common.out = Some(dir.path().to_path_buf());
    opts.common.name.get_or_insert_with(|| "t".into());
    if opts.tts.texts.as_ref().is_some_and(|t| t.is_relative()) {
        panic!("use absolute texts paths in tests");
    }
    let options = RunOptions::single(opts.common, opts.run, ProtocolOptions::Tts(opts.tts));
    let plan = RunPlan::build(options, &|_| None).expect("valid plan");
    let (result, out) = run_plan(plan, stop).await;
    let records = read_records(&out.join("requests.jsonl"));
    Ran {
        result,
        out,
        records,
        mock,
        _dir: dir,
    }
}

/// Parse requests.jsonl; every line must be a valid record.
pub fn read_records(path: &Path) -> Vec<RequestRecord> {
    let text = std::fs::read_to_string(path).expect("requests.jsonl exists");
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}: {l}", i + 1))
        })
        .collect()
}

/// Median of a list.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

/// Run the built binary with `args` in `dir`, to completion.
pub fn voxload(args: &[&str], dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_voxload"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("binary runs")
}

/// Wait for a child, killing it after `limit` so no test can hang;
/// `what` names it in the panic.
pub fn wait_bounded(
    mut child: std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::Output {
    let until = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{what} did not finish within {limit:?}; its output:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// A text of 29 characters: at the mock's 15 per second, 1.933 s of audio.
pub const KNEE_TEXT: &str = "please read me my account bal";

/// A TTS mock with two slots and `queue` waiting places that makes
/// [`KNEE_TEXT`] in 10 ms + 19.3 ms: its knee is [`two_slot_knee`].
pub fn two_slot_mock(queue: usize) -> MockModel {
    MockModel {
        slots: 2,
        queue,
        speed: 100.0,
        overhead: std::time::Duration::from_millis(10),
        seed: Some(1),
        ..MockModel::default()
    }
}

/// Requests per second [`two_slot_mock`] can serve: slots ÷ service time.
pub fn two_slot_knee() -> f64 {
    2.0 / (0.010 + KNEE_TEXT.len() as f64 / 15.0 / 100.0)
}

/// Whether an external program a test needs (Prometheus, Chromium, Slurm)
/// is installed. In CI (`VOXLOAD_CI=1`, set by `.ci/run`, which installs
/// them) a missing one fails the test, so nothing is skipped silently
/// there; elsewhere the test says what it skips and passes.
pub fn external(program: &str, how: &str) -> bool {
    let found = if program.contains('/') {
        Path::new(program).exists()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
    };
    needed(found, &format!("{program} is not installed"), how)
}

/// Whether a service a test needs (a Slurm cluster's daemons) is up, by
/// the rule of [`external`]: `.ci/run` starts it, so in CI a service that
/// is `down` fails the test; elsewhere the test says what it skips.
pub fn external_up(up: bool, down: &str, how: &str) -> bool {
    needed(up, down, how)
}

fn needed(ok: bool, problem: &str, how: &str) -> bool {
    if !ok {
        assert!(
            std::env::var_os("VOXLOAD_CI").is_none(),
            "{problem}, and CI needs it ({how})"
        );
        eprintln!("note: {problem}; skipping this check ({how})");
    }
    ok
}
