//! Mixed workloads: TTS, streaming ASR and a voice agent in one run against
//! the mock, each scenario's figures checked against what the mock did, and
//! every output naming its scenarios.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::timing::{on_schedule_ms, LATE};
use voxload::config::{CommonOptions, RunOptions, RunPlan, WorkloadOptions};
use voxload::metrics::{Metric, RequestRecord};
use voxload::mock::{self, AgentModel, AsrModel, MockHandle, MockModel};
use voxload::result::{RunKind, RunResult, StageResult};
use voxload::workload::Workload;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mixed.toml")
}

/// A copy of `file` in `dir` aimed at `mock` instead of port 8000.
fn aimed_at(file: &Path, dir: &Path, mock: &MockHandle) -> PathBuf {
    let text = std::fs::read_to_string(file).expect("example");
    let path = dir.join("mixed.toml");
    std::fs::write(
        &path,
        text.replace("127.0.0.1:8000", &mock.addr.to_string()),
    )
    .expect("write");
    path
}

fn model() -> MockModel {
    MockModel {
        overhead: Duration::from_millis(40),
        speed: 6.0,
        chunk: Duration::from_millis(100),
        asr: AsrModel {
            final_delay: Duration::from_millis(100),
            word_error_rate: 0.0,
            ..AsrModel::default()
        },
        agent: AgentModel {
            vad_silence: Duration::from_millis(240),
            response_delay: Duration::from_millis(300),
            response_audio: Duration::from_millis(600),
            seed: Some(3),
            ..AgentModel::default()
        },
        ..MockModel::default()
    }
}

/// Run `file` with stages of `seconds`, results under `dir`.
async fn run(file: &Path, dir: &Path, seconds: u64) -> (RunResult, PathBuf, Vec<RequestRecord>) {
    let common = CommonOptions {
        out: Some(dir.join("results")),
        ..CommonOptions::default()
    };
    let workload = WorkloadOptions {
        duration: Some(Duration::from_secs(seconds)),
        ..WorkloadOptions::default()
    };
    let options = RunOptions::read(file, None)
        .expect("the file reads")
        .with_flags(&common, &workload, None)
        .expect("flags apply");
    let plan = RunPlan::build(options, &|_| None).expect("valid plan");
    let (result, out) = common::run_plan(plan, Default::default()).await;
    let records = common::read_records(&out.join("requests.jsonl"));
    (result, out, records)
}

fn by_scenario(records: &[RequestRecord]) -> BTreeMap<String, Vec<&RequestRecord>> {
    let mut out: BTreeMap<String, Vec<&RequestRecord>> = BTreeMap::new();
    for r in records {
        let name = r
            .scenario
            .as_deref()
            .expect("every record names its scenario");
        out.entry(name.to_string()).or_default().push(r);
    }
    out
}

fn stage<'a>(run: &'a RunResult, index: usize, scenario: &str) -> &'a StageResult {
    run.stages
        .iter()
        .find(|s| s.index == index && s.scenario.as_deref() == Some(scenario))
        .unwrap_or_else(|| panic!("stage {index} of {scenario}"))
}

fn ms(us: Option<u64>) -> f64 {
    us.expect("measured") as f64 / 1e3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mixed_example_matches_the_mock_truth_per_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model()).await.expect("mock");
    let file = aimed_at(&example(), dir.path(), &mock);
    let (result, out, records) = run(&file, dir.path(), 3).await;
    let truth = mock.truth().await;
    assert_eq!(result.kind, RunKind::Mixed);
    assert_eq!(result.stages.len(), 6, "2 stages × 3 scenarios");
    let groups = by_scenario(&records);
    let names: Vec<&str> = groups.keys().map(String::as_str).collect();
    assert_eq!(names, ["agent", "asr", "tts"]);

    // Weights split the shared rate 3:1, and the agent runs its own callers.
    let rate = |s: &StageResult| match s.workload {
        Workload::Open { rate, .. } => rate,
        Workload::Closed { .. } => f64::NAN,
    };
    assert_eq!(
        (
            rate(stage(&result, 0, "tts")),
            rate(stage(&result, 1, "tts"))
        ),
        (1.5, 3.0)
    );
    assert_eq!(
        (
            rate(stage(&result, 0, "asr")),
            rate(stage(&result, 1, "asr"))
        ),
        (0.5, 1.0)
    );
    assert!(matches!(
        stage(&result, 1, "agent").workload,
        Workload::Closed { concurrency: 2, .. }
    ));

    // TTS: every request the mock served, timed as the mock timed it.
    let tts = &groups["tts"];
    assert_eq!(tts.len() as u64, truth.requests);
    assert!(tts.iter().all(|r| r.ok()), "{tts:?}");
    let client = common::median(tts.iter().map(|r| ms(r.ttfa_us)).collect());
    let server = common::median(
        truth
            .recent
            .iter()
            .map(|t| t.first_audio_us.expect("first audio") as f64 / 1e3)
            .collect(),
    );
    // Ours is the server's plus loopback and parsing.
    let late_ms = LATE.as_secs_f64() * 1e3;
    assert!(
        client >= server - 0.5 && client - server <= late_ms,
        "ttfa {client} vs server {server}"
    );

    // ASR: one session per record, transcripts exact, final after the mock's delay.
    let asr = &groups["asr"];
    assert_eq!(asr.len() as u64, truth.asr.ws_sessions);
    assert_eq!(truth.asr.ws_finals, truth.asr.ws_sessions);
    for r in asr {
        assert!(r.ok() && r.word_errors == Some(0), "{r:?}");
        let due = Duration::from_millis(100);
        on_schedule_ms(ms(r.final_us), due, LATE, "final");
    }
    assert_eq!(stage(&result, 0, "asr").summary.wer_pooled, Some(0.0));

    // Agent: one record per turn the mock answered; first audio after its
    // end-of-speech detection plus its answer delay.
    let agent = &groups["agent"];
    assert_eq!(agent.len() as u64, truth.agent.turns);
    let calls: u64 = result
        .stages
        .iter()
        .filter(|s| s.scenario.as_deref() == Some("agent"))
        .map(|s| s.summary.calls)
        .sum();
    assert_eq!(calls, truth.agent.sessions);
    let first = agent
        .iter()
        .filter(|r| r.ok())
        .map(|r| ms(r.agent_first_audio_us))
        .collect::<Vec<_>>();
    // From our last speech frame, whose own lateness shortens the figure.
    let first = common::median(first);
    assert!(
        (first - 540.0).abs() <= late_ms,
        "first audio {first} ms (240 + 300)"
    );

    // Each scenario has its own histograms: no TTS e2e shares an ASR one.
    let has = |s: &StageResult, m: Metric| s.summary.metrics.contains_key(&m.name());
    let (t, a, g) = (
        stage(&result, 0, "tts"),
        stage(&result, 0, "asr"),
        stage(&result, 0, "agent"),
    );
    assert!(has(t, Metric::Ttfa) && !has(t, Metric::Final));
    assert!(has(a, Metric::Final) && !has(a, Metric::Ttfa));
    assert!(has(g, Metric::AgentFirstAudio) && !has(g, Metric::E2e));
    let e2e = |s: &StageResult| s.stats.histogram(&Metric::E2e).map_or(0, |h| h.len());
    assert_eq!(e2e(t) + e2e(stage(&result, 1, "tts")), tts.len() as u64);

    // SLOs: shared ones on every stage, a scenario's own on its stages only.
    let on = |expr: &str| -> Vec<&str> {
        result
            .slo
            .iter()
            .filter(|r| r.slo == expr)
            .filter_map(|r| r.scenario.as_deref())
            .collect()
    };
    assert_eq!(on("errors<5%").len(), 6);
    assert_eq!(on("tts:ttfa.p95<1s"), ["tts", "tts"]);
    assert_eq!(on("asr:wer_pooled<10%"), ["asr", "asr"]);
    assert!(result.slo.iter().all(|r| r.passed), "{:?}", result.slo);

    // Every output names the scenarios.
    let read = |name: &str| std::fs::read_to_string(out.join(name)).expect(name);
    let summary = read("summary.txt");
    for line in [
        "stage 1 [rate=1.5/s] tts",
        "stage 2 [rate=1/s] asr",
        "stage 2 [c=2] agent",
    ] {
        assert!(summary.contains(line), "{line} missing:\n{summary}");
    }
    assert!(summary.contains("tts best level"), "{summary}");
    assert!(read("stages.csv").starts_with("stage,label,scenario,"));
    let locust = read("locust_stats.csv");
    assert!(locust.contains("\nPOST,tts rate=1.5/s,"), "{locust}");
    assert!(locust.contains("\nWS,asr rate=0.5/s,"), "{locust}");
    assert!(locust.contains(",agent Aggregated,"), "{locust}");
    let history = read("locust_stats_history.csv");
    assert!(
        history.contains(",,agent,") && history.contains(",,tts,"),
        "{history}"
    );
    // Timelines per scenario, each with its own family's latency.
    let row_with = |scenario: &str, m: Metric| {
        result
            .timeline
            .iter()
            .any(|r| r.scenario.as_deref() == Some(scenario) && r.p95_ms(m).is_some())
    };
    assert!(row_with("tts", Metric::Ttfa) && row_with("asr", Metric::Final));
    assert!(row_with("agent", Metric::AgentFirstAudio) && !row_with("agent", Metric::E2e));
    // The windows saved with their histograms give the same rows back.
    let saved: RunResult = voxload::report::json::read(&out).expect("result.json");
    assert_eq!(saved.windows.len(), 3);
    for w in &saved.windows {
        let rows: Vec<_> = result
            .timeline
            .iter()
            .filter(|r| r.scenario == w.scenario)
            .collect();
        let again = w.seconds.rows();
        assert_eq!(rows.len(), again.len());
        for (a, b) in rows.iter().zip(&again) {
            assert_eq!(
                (a.second, a.completed, &a.latency),
                (b.second, b.completed, &b.latency)
            );
        }
    }
    for stem in [
        "plot_2x2_tts",
        "plot_2x2_asr",
        "plot_2x2_agent",
        "timeline_agent",
    ] {
        assert!(out.join(format!("{stem}.png")).exists(), "{stem}.png");
    }
    let html = read("report.html");
    assert!(html.contains("Scenario asr") && html.contains("chart-timeline_tts"));
    mock.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tts_targets_are_measured_apart_with_their_own_slos() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fast = mock::spawn(MockModel {
        overhead: Duration::from_millis(20),
        speed: 10.0,
        ..MockModel::default()
    })
    .await
    .expect("fast mock");
    let slow = mock::spawn(MockModel {
        overhead: Duration::from_millis(250),
        speed: 10.0,
        ..MockModel::default()
    })
    .await
    .expect("slow mock");
    let file = dir.path().join("two.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"two\"\nconcurrency = 2\nrequests = 12\n\
             slo = [\"fast:ttfa.p50<150ms\", \"slow:ttfa.p50<150ms\"]\n\
             [[scenario]]\nkind = \"tts\"\nname = \"fast\"\nurl = \"{}\"\n\
             [[scenario]]\nkind = \"tts\"\nname = \"slow\"\nurl = \"{}\"\n",
            fast.url(),
            slow.url()
        ),
    )
    .expect("write");
    let (result, _, records) = run(&file, dir.path(), 30).await;
    assert_eq!(result.kind, RunKind::Tts, "one service, two scenarios");
    let groups = by_scenario(&records);
    // Weights 1:1 split the users and the requests.
    assert_eq!((groups["fast"].len(), groups["slow"].len()), (6, 6));
    assert_eq!(
        (fast.truth().await.requests, slow.truth().await.requests),
        (6, 6)
    );
    let p50 = |name: &str| common::median(groups[name].iter().map(|r| ms(r.ttfa_us)).collect());
    assert!(
        p50("fast") < 150.0 && p50("slow") > 250.0,
        "{} {}",
        p50("fast"),
        p50("slow")
    );
    let verdict = |name: &str| {
        result
            .slo
            .iter()
            .find(|r| r.scenario.as_deref() == Some(name))
            .map(|r| r.passed)
    };
    assert_eq!(
        (verdict("fast"), verdict("slow")),
        (Some(true), Some(false))
    );
    fast.stop();
    slow.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_scenario_slo_sets_the_exit_code_of_voxload_run() {
    use clap::Parser as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model()).await.expect("mock");
    let file = aimed_at(&example(), dir.path(), &mock);
    let out = dir.path().join("results");
    let argv = [
        "voxload",
        "run",
        file.to_str().expect("utf-8 path"),
        "--duration",
        "2s",
        "--rate",
        "2",
        "--quiet",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--slo",
        "tts:ttfa.p50<1ms",
    ];
    let code = voxload::run(voxload::Cli::parse_from(argv))
        .await
        .expect("runs");
    assert_eq!(code, 3, "the tts threshold cannot hold");
    mock.stop();
}
