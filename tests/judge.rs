//! The TTS quality judge (`--judge-asr`) against the mock, which serves TTS
//! and ASR on one port: its TTS voice carries the text, its ASR decodes it
//! and substitutes words at a known rate, recording exactly how many. So
//! the judge's word errors are ground truth, request by request.

mod common;

use std::path::Path;
use std::time::Duration;

use common::timing::{on_schedule, LATE};
use common::{run_on, Opts, Ran};
use voxload::config::judge::JudgeOptions;
use voxload::config::WorkloadOptions;
use voxload::metrics::judge::JudgeRecord;
use voxload::mock::{self, AsrModel, Faults, MockModel};
use voxload::workload::Stop;

/// Texts of plain words (letters and spaces): the mock's voice carries
/// them exactly and normalization leaves their words as the mock counts
/// them, so its substitutions are exactly our word errors.
const TEXTS: &[&str] = &[
    "please read me my account balance",
    "the quick brown fox jumps over the lazy dog",
    "call me back tomorrow morning",
    "thank you for waiting on the line",
];

fn mock_model(word_error_rate: f64, truncate: f64) -> MockModel {
    MockModel {
        speed: 50.0,
        overhead: Duration::from_millis(5),
        seed: Some(1),
        faults: Faults {
            truncate,
            ..Faults::default()
        },
        asr: AsrModel {
            word_error_rate,
            seed: Some(7),
            ..AsrModel::default()
        },
        ..MockModel::default()
    }
}

fn texts(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("texts.txt");
    std::fs::write(&path, TEXTS.join("\n") + "\n").expect("texts");
    path
}

/// Open loop at `rate` for `n` requests, the judge at `share` on the mock.
fn opts(url: &str, dir: &Path, rate: &str, n: u64, share: f64) -> Opts {
    let mut o = Opts::default();
    o.tts.texts = Some(texts(dir));
    o.tts.texts_format = Some("lines".into());
    o.tts.judge = JudgeOptions {
        judge_asr: Some(url.to_string()),
        judge_share: Some(share),
        ..JudgeOptions::default()
    };
    o.run = WorkloadOptions {
        rate: Some(rate.parse().expect("levels")),
        requests: Some(n),
        ..WorkloadOptions::default()
    };
    o
}

async fn run(model: MockModel, f: impl FnOnce(&str, &Path) -> Opts) -> (Ran, tempfile::TempDir) {
    let server = mock::spawn(model).await.expect("mock starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let o = f(&server.url(), dir.path());
    (run_on(server, o, Stop::default()).await, dir)
}

fn judge_lines(out: &Path) -> Vec<JudgeRecord> {
    let text = std::fs::read_to_string(out.join("judge.jsonl")).expect("judge.jsonl");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judged_wer_is_the_errors_the_mock_injected() {
    let (ran, _dir) = run(mock_model(0.1, 0.0), |url, dir| {
        opts(url, dir, "20", 40, 0.5)
    })
    .await;
    let stage = &ran.result.stages[0];
    let c = &stage.stats.counters;
    let lines = judge_lines(&ran.out);
    // The requests judged are the seeded draw's, nothing else (the run's
    // seed is 1, and its one scenario takes it as it is).
    let chosen: Vec<u64> = (0..40)
        .filter(|&q| voxload::runner::judge::chosen(1, 0.5, 0, q))
        .collect();
    let mut seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, chosen, "judged the chosen requests");
    assert!(ran.records.iter().all(|r| r.ok()), "every TTS request ok");
    assert_eq!(c.judge.judged, chosen.len() as u64);
    assert_eq!(
        (
            c.judge.judge_failed,
            c.judge.judge_skipped,
            c.judge.judge_unfinished
        ),
        (0, 0, 0)
    );
    // Ground truth: what the mock's ASR substituted, request by request.
    let truth = ran.mock.truth().await.asr;
    assert_eq!(truth.ok, c.judge.judged, "one ASR request per judged one");
    assert!(truth.substituted > 0, "the mock injected errors: {truth:?}");
    assert_eq!(c.judge_word_errors, truth.substituted);
    assert_eq!(c.judge_ref_words, truth.words);
    let mut ours: Vec<(u32, u32)> = lines
        .iter()
        .map(|l| (l.ref_words.unwrap_or(0), l.word_errors.unwrap_or(0)))
        .collect();
    let mut theirs: Vec<(u32, u32)> = truth
        .recent
        .iter()
        .map(|r| (r.words as u32, r.substituted as u32))
        .collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs, "per request");
    let pooled = stage.summary.judge_wer_pooled.expect("pooled");
    assert_eq!(pooled, truth.substituted as f64 / truth.words as f64);
    // The per-request distribution is kept, and the judge never touched
    // the TTS records.
    assert!(stage.summary.metrics.contains_key("judge_wer"));
    let json = std::fs::read_to_string(ran.out.join("result.json")).expect("result.json");
    assert!(json.contains("\"judge_wer_pooled\""), "saved");

    // Without injected errors the judge hears every word.
    let (clean, _dir) = run(mock_model(0.0, 0.0), |url, dir| {
        opts(url, dir, "20", 20, 1.0)
    })
    .await;
    let s = &clean.result.stages[0];
    assert_eq!(s.stats.counters.judge.judged, 20);
    assert_eq!(s.summary.judge_wer_pooled, Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_speech_is_heard_as_missing_words() {
    let (clean, _d1) = run(mock_model(0.0, 0.0), |url, dir| {
        opts(url, dir, "20", 16, 1.0)
    })
    .await;
    let (cut, _d2) = run(mock_model(0.0, 1.0), |url, dir| {
        opts(url, dir, "20", 16, 1.0)
    })
    .await;
    let clean_wer = clean.result.stages[0]
        .summary
        .judge_wer_pooled
        .expect("clean");
    let s = &cut.result.stages[0];
    // Raw PCM cut to half its audio is no TTS error: only listening tells.
    assert!(cut.records.iter().all(|r| r.ok()), "{:?}", cut.records);
    assert_eq!(cut.mock.truth().await.faults.values().sum::<u64>(), 16);
    assert_eq!(s.stats.counters.judge.judged, 16);
    let cut_wer = s.summary.judge_wer_pooled.expect("cut");
    // Half of each text's characters are gone: about half its words.
    assert_eq!(clean_wer, 0.0);
    assert!(cut_wer > 0.35 && cut_wer <= 0.75, "truncated WER {cut_wer}");
}

/// Judge requests that take 400 ms on the mock, every request judged,
/// at most 2 TTS requests in flight: a judge awaited in the request's task
/// would keep ~10 in flight and drop arrivals; waited for in the stage's
/// wall time, it would add its 400 ms there. The TTS answers take at most
/// 5 ms + 2.9 s ÷ 200 = 19 ms, a fifth of the 100 ms two slots allow at
/// 20 req/s: the judge's decoding on a loaded 2-core machine must not
/// push them over (at 50× real time, 62 ms, it did in CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_never_moves_the_tts_schedule() {
    let mut model = mock_model(0.0, 0.0);
    model.speed = 200.0;
    model.asr.overhead = Duration::from_millis(400);
    let (rate, n) = (20.0, 30u64);
    let (ran, _dir) = run(model, |url, dir| {
        let mut o = opts(url, dir, "20", n, 1.0);
        o.run.max_in_flight = Some(2);
        o.tts.judge.judge_concurrency = Some(16);
        o
    })
    .await;
    let stage = &ran.result.stages[0];
    assert_eq!(stage.summary.dropped, 0, "no arrival dropped");
    assert_eq!(stage.stats.counters.judge.judged, n, "every request judged");
    let mut records = ran.records.clone();
    records.sort_by_key(|r| r.seq);
    let first = records[0].start_us;
    for r in &records {
        // Its schedule: constant spacing from the stage's first arrival
        // (start_us is the scheduled instant in open loop)…
        let due_us = (r.seq as f64 * 1e6 / rate).round() as u64;
        assert!(
            r.start_us.abs_diff(first + due_us) <= 1,
            "request {} scheduled at {} µs, not {}",
            r.seq,
            r.start_us - first,
            due_us
        );
        // …and it was sent on time.
        let lag = Duration::from_micros(r.schedule_lag_us.expect("open loop"));
        on_schedule(
            lag,
            Duration::ZERO,
            LATE,
            &format!("request {} sent", r.seq),
        );
    }
    // The stage ends when its last TTS request does: (n − 1) ÷ rate, plus
    // that request's synthesis (about 2.3 s of audio at 50× + 5 ms), never
    // the 400 ms + of the judge answers it waited for after.
    let last_audio = records
        .iter()
        .filter_map(|r| r.audio_us)
        .max()
        .expect("audio");
    let synth = Duration::from_millis(5) + Duration::from_micros(last_audio).div_f64(50.0);
    let due = Duration::from_secs_f64((n - 1) as f64 / rate);
    let wall = Duration::from_secs_f64(stage.wall_s);
    on_schedule(wall, due, synth + 3 * LATE, "stage wall time");
    // The judge ran beside the TTS requests, several at once.
    assert!(ran.mock.truth().await.asr.max_in_flight > 1);
}

async fn tts(args: &[&str]) -> anyhow::Result<i32> {
    let mut argv = vec!["voxload", "tts", "-q", "-n", "12", "--rate", "20"];
    argv.extend_from_slice(args);
    voxload::run(<voxload::Cli as clap::Parser>::parse_from(argv)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_wer_slo_passes_on_clean_speech_and_fails_on_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let texts = texts(dir.path());
    let out = dir.path().display().to_string();
    for (truncate, name, code) in [(0.0, "clean", 0), (0.5, "cut", 3)] {
        let server = mock::spawn(mock_model(0.0, truncate)).await.expect("mock");
        let url = server.url();
        // A credential in the judge's URL never reaches an output.
        let judge = format!("{url}/v1/audio/transcriptions?api_key=sekrit42");
        let args = [
            "--url",
            url.as_str(),
            "--texts",
            texts.to_str().expect("utf-8"),
            "--texts-format",
            "lines",
            "--judge-asr",
            judge.as_str(),
            "--judge-share",
            "1",
            "--slo",
            "judge_wer_pooled<5%",
            "--out",
            out.as_str(),
            "--name",
            name,
        ];
        assert_eq!(tts(&args).await.expect("runs"), code, "{name}");
        let saved = voxload::report::json::read(&dir.path().join(name)).expect("result.json");
        let verdict = &saved.slo[0];
        assert_eq!(verdict.slo, "judge_wer_pooled<5%");
        assert_eq!(verdict.passed, code == 0, "{verdict:?}");
        assert!(verdict.observed.is_some(), "{verdict:?}");
        for file in ["result.json", "summary.txt", "judge.jsonl"] {
            let text = std::fs::read_to_string(dir.path().join(name).join(file)).expect(file);
            assert!(!text.contains("sekrit42"), "{file} shows the key");
        }
        let summary =
            std::fs::read_to_string(dir.path().join(name).join("summary.txt")).expect("summary");
        assert!(summary.contains("judge: 12 judged"), "{summary}");
        server.stop();
    }
}

/// `voxload capacity tts` takes the judge and gates on it like any SLO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_searches_with_a_judge_wer_slo() {
    let server = mock::spawn(mock_model(0.0, 0.0)).await.expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    texts(dir.path());
    let url = server.url();
    let args: Vec<String> = [
        "capacity",
        "tts",
        "--url",
        &url,
        "--texts",
        "texts.txt",
        "--texts-format",
        "lines",
        "--judge-asr",
        &url,
        "--judge-share",
        "1",
        "--slo",
        "judge_wer_pooled<5%",
        "--start",
        "4",
        "--max",
        "8",
        "-d",
        "1s",
        "--out",
        "out",
        "--name",
        "cap",
        "-q",
    ]
    .map(String::from)
    .to_vec();
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::voxload(&args, &path)
    })
    .await
    .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("capacity at least 8"), "{stdout}");
    let text = std::fs::read_to_string(dir.path().join("out/cap/result.json")).expect("result");
    let run: voxload::result::RunResult = serde_json::from_str(&text).expect("valid");
    assert!(run
        .stages
        .iter()
        .all(|s| s.summary.judge_wer_pooled == Some(0.0)));
    assert!(run.stages.iter().all(|s| s.summary.judge.judged > 0));
}
