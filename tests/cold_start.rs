//! Cold starts: requests after an idle period are tagged `cold`, and a
//! cold-start test (`--idle-gap`) finds the mock's cold start after idle
//! with its true delay, when it was warm again, and when its health URL
//! said ready.

mod common;

use std::time::Duration;

use common::timing::{on_schedule, LATE};
use common::{one_text, run_against, Opts};
use voxload::config::tts::TtsOptions;
use voxload::config::{CommonOptions, WorkloadOptions};
use voxload::mock::MockModel;

/// Loads its model for 400 ms at start and after 1 s with nothing to do;
/// a warm first audio takes 500 ms.
fn cold_mock() -> MockModel {
    MockModel {
        overhead: Duration::from_millis(500),
        cold_start: Duration::from_millis(400),
        idle_before_cold: Some(Duration::from_secs(1)),
        speed: 50.0,
        seed: Some(3),
        ..MockModel::default()
    }
}

fn texts(dir: &std::path::Path) -> TtsOptions {
    TtsOptions {
        texts: Some(one_text(dir, "A short sentence.")),
        ..TtsOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_request_after_idle_pays_the_mocks_cold_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = voxload::mock::spawn(cold_mock()).await.expect("mock");
    let health = format!("{}/health", mock.url());
    let opts = Opts {
        tts: texts(dir.path()),
        run: WorkloadOptions {
            rate: Some("10".parse().expect("levels")),
            duration: Some(Duration::from_secs(2)),
            // The mock starts cold: its first requests wait for that load.
            warmup: Some(6),
            ..WorkloadOptions::default()
        },
        common: CommonOptions {
            idle_gap: Some(vec!["1500ms".into()]),
            cold_probes: Some(3),
            ready_url: Some(health),
            ..CommonOptions::default()
        },
    };
    let ran = common::run_on(mock, opts, voxload::workload::Stop::default()).await;
    let cold = ran.result.cold_start.as_ref().expect("a cold-start result");
    assert_eq!(cold.cold_after_s, 1.5, "the gap, below the 60 s default");
    let [gap] = cold.gaps.as_slice() else {
        panic!("one gap: {:?}", cold.gaps)
    };
    assert_eq!((gap.idle_s, gap.metric.as_str()), (1.5, "ttfa"));
    assert_eq!(gap.probe_stages, vec![1, 2, 3]);
    assert_eq!(ran.result.stages.len(), 4);

    // The mock's truth of the three probes, the last requests it served.
    let truth = ran.mock.truth().await;
    let probes = &truth.recent[truth.recent.len() - 3..];
    let paid: Vec<u64> = probes.iter().map(|p| p.cold_start_us).collect();
    assert_eq!(
        paid,
        vec![400_000, 0, 0],
        "the mock went cold once, for probe 1"
    );
    // Each probe's record is its own stage; its TTFA matches the mock's.
    for (k, (p, stage)) in probes.iter().zip(&gap.probe_stages).enumerate() {
        let record = ran
            .records
            .iter()
            .find(|r| r.stage == *stage)
            .expect("a probe record");
        let ttfa = Duration::from_micros(record.ttfa_us.expect("ttfa"));
        let due = Duration::from_micros(p.first_audio_us.expect("truth"));
        on_schedule(ttfa, due, LATE, &format!("probe {} ttfa", k + 1));
        // Only the request after the idle period is cold.
        assert_eq!(record.cold, k == 0, "probe {}", k + 1);
        let shown = gap.probes_ms[k].expect("measured");
        assert!(
            (shown - ttfa.as_secs_f64() * 1e3).abs() < 1.0,
            "{shown} vs {ttfa:?}"
        );
    }
    assert_eq!(ran.records.iter().filter(|r| r.cold).count(), 1);
    let first = gap.probes_ms[0].expect("first");
    assert!(first >= 900.0, "cold start + overhead: {first} ms");
    let warm = gap.warm_p50_ms.expect("warm p50");
    on_schedule(
        Duration::from_secs_f64(warm / 1e3),
        Duration::from_millis(500),
        LATE,
        "warm p50",
    );
    assert_eq!(gap.warm_again_probe, Some(2));
    // The cold request has its own row in its stage.
    let s = &ran.result.stages[1].summary;
    assert_eq!(s.cold.as_ref().map(|c| c.requests), Some(1));
    assert!(ran.result.stages[2].summary.cold.is_none());
    // Health: 503 "cold" from the gap's end until the load ends 400 ms
    // into the first probe; polled every 100 ms from the gap's end, so
    // the first 2xx comes up to one poll later.
    let ready = gap.ready.as_ref().expect("ready polled");
    let after = Duration::from_secs_f64(ready.after_s.expect("ready"));
    let poll = voxload::protocol::ready::POLL_EVERY;
    on_schedule(after, Duration::from_millis(400), poll + LATE, "ready");
    assert!(ready.polls >= 4, "503 at 0, 100, 200 and 300 ms: {ready:?}");
    let text = voxload::report::terminal::summary(&ran.result);
    assert!(text.contains("cold starts"), "{text}");
    assert!(text.contains("warm again at probe 2"), "{text}");
    assert!(text.contains("cold ttfa"), "{text}");
    let html = std::fs::read_to_string(ran.out.join("report.html")).expect("report.html");
    assert!(html.contains("<h2 id=\"cold\">Cold starts</h2>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_run_tags_requests_after_idle_and_only_those() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = MockModel {
        overhead: Duration::from_millis(20),
        ..cold_mock()
    };
    // Back to back: nothing is cold.
    let busy = Opts {
        tts: texts(dir.path()),
        run: WorkloadOptions {
            concurrency: Some("2".parse().expect("levels")),
            requests: Some(20),
            ..WorkloadOptions::default()
        },
        common: CommonOptions {
            cold_after: Some(Duration::from_millis(500)),
            ..CommonOptions::default()
        },
    };
    let ran = run_against(model.clone(), busy).await;
    assert_eq!(ran.records.len(), 20);
    assert!(ran.records.iter().all(|r| !r.cold));
    assert!(ran.result.stages[0].summary.cold.is_none());
    let text = voxload::report::terminal::summary(&ran.result);
    assert!(!text.contains("cold"), "{text}");

    // One user thinking 1.2 s between requests: each after the first
    // follows 1.2 s of idle time, over the mock's 1 s — and over ours.
    let idle = Opts {
        tts: texts(dir.path()),
        run: WorkloadOptions {
            concurrency: Some("1".parse().expect("levels")),
            requests: Some(3),
            think_time: Some(Duration::from_millis(1200)),
            ..WorkloadOptions::default()
        },
        common: CommonOptions {
            cold_after: Some(Duration::from_secs(1)),
            ..CommonOptions::default()
        },
    };
    let ran = run_against(model, idle).await;
    let truth = ran.mock.truth().await;
    let paid: Vec<bool> = truth.recent.iter().map(|r| r.cold_start_us > 0).collect();
    assert_eq!(
        paid,
        vec![true, true, true],
        "the mock starts cold, then idles"
    );
    let tagged: Vec<bool> = ran.records.iter().map(|r| r.cold).collect();
    assert_eq!(
        tagged,
        vec![false, true, true],
        "the first has no idle time before it"
    );
    let cold = ran.result.stages[0]
        .summary
        .cold
        .as_ref()
        .expect("cold row");
    assert_eq!((cold.requests, cold.ok), (2, 2));
    let ttfa = cold.metrics.get("ttfa").expect("cold ttfa");
    assert!(ttfa.min >= 420.0, "cold start + overhead: {} ms", ttfa.min);
}
