//! A target that fails: closed-loop users back off instead of spinning,
//! honour Retry-After when asked, and the run says when the target was down
//! — every attempt still counted.

mod common;

use std::time::{Duration, Instant};

use common::{one_text, read_records, run_plan};
use voxload::config::tts::{TtsEndpointOptions, TtsOptions};
use voxload::config::{CommonOptions, ProtocolOptions, RunOptions, RunPlan, WorkloadOptions};
use voxload::mock::{self, Faults, MockModel};
use voxload::protocol::ErrorKind;
use voxload::workload::Stop;

fn plan(url: String, dir: &std::path::Path, run: WorkloadOptions) -> RunPlan {
    let tts = TtsOptions {
        texts: Some(one_text(dir, "A short sentence to speak.")),
        endpoint: TtsEndpointOptions {
            url: Some(url),
            format: Some("wav".into()),
            ..TtsEndpointOptions::default()
        },
        ..TtsOptions::default()
    };
    let common = CommonOptions {
        out: Some(dir.join("out")),
        name: Some("faults".into()),
        ..CommonOptions::default()
    };
    RunPlan::build(
        RunOptions::single(common, run, ProtocolOptions::Tts(tts)),
        &|_| None,
    )
    .expect("valid plan")
}

fn fast() -> MockModel {
    MockModel {
        speed: 20.0,
        overhead: Duration::from_millis(5),
        ..MockModel::default()
    }
}

/// The target dies 0.6 s into a 3 s closed-loop stage and comes back on the
/// same port at 1.8 s. Without backoff, two users made tens of thousands
/// of connection attempts in such a gap; with it, a handful.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_dies_and_returns_is_backed_off_and_reported_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = mock::spawn(fast()).await.expect("mock starts");
    let addr = first.addr;
    let run = WorkloadOptions {
        concurrency: Some("2".parse().expect("levels")),
        duration: Some(Duration::from_secs(3)),
        ..WorkloadOptions::default()
    };
    let plan = plan(first.url(), dir.path(), run);
    let t0 = Instant::now();
    let running = tokio::spawn(run_plan(plan, Stop::default()));
    tokio::time::sleep_until((t0 + Duration::from_millis(600)).into()).await;
    let before = first.shutdown().await.expect("first mock stops");
    let down_at = t0.elapsed();
    tokio::time::sleep_until((t0 + Duration::from_millis(1800)).into()).await;
    let up_at = t0.elapsed();
    let second = mock::spawn_on(&addr.to_string(), fast())
        .await
        .expect("mock comes back on its port");
    let (result, out) = running.await.expect("run task");
    let after = second.shutdown().await.expect("second mock stops");

    let records = read_records(&out.join("requests.jsonl"));
    let s = &result.stages[0].summary;
    // Every attempt is a record, counted once.
    assert_eq!(records.len() as u64, s.requests, "{s:?}");
    let ok = records.iter().filter(|r| r.ok()).count() as u64;
    assert_eq!(
        ok,
        before.ok + after.ok,
        "successes match the servers' count"
    );
    assert!(
        before.ok > 0 && after.ok > 0,
        "served before and after: {} {}",
        before.ok,
        after.ok
    );
    let unreachable: Vec<_> = records
        .iter()
        .filter(|r| r.error.is_some_and(|e| e.is_connection_level()))
        .collect();
    assert_eq!(unreachable.len() as u64, s.failed, "{:?}", s.errors);
    // Backoff: pauses of at least 50, 100, 200, 400 ms … per user bound the
    // attempts in a 1.2 s gap to about 5 each (a slow machine makes fewer).
    assert!(
        (2..=16).contains(&unreachable.len()),
        "{} connection failures in a {:?} outage",
        unreachable.len(),
        up_at - down_at
    );
    // One outage, over by the end, no longer than the target was away.
    assert_eq!(s.outages.len(), 1, "{:?}", s.outages);
    let o = s.outages[0];
    assert!(!o.ongoing);
    assert_eq!(o.failures, unreachable.len() as u64);
    let span = Duration::from_micros(o.to_us - o.from_us);
    assert!(
        span <= up_at - down_at + Duration::from_millis(300),
        "{span:?}"
    );
    let summary = std::fs::read_to_string(out.join("summary.txt")).expect("summary");
    assert!(summary.contains("target down"), "{summary}");
    let saved = std::fs::read_to_string(out.join("result.json")).expect("result.json");
    assert!(
        saved.contains("\"outages\""),
        "result.json keeps the outage"
    );
}

/// `--retry-backoff off` is the old hot loop, still available: a target
/// that dies 0.3 s into a 1.3 s stage takes far more attempts than with
/// the default backoff, and both runs say it stayed down to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_off_retries_at_once_and_a_dead_target_is_down_to_the_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dies = |backoff: &'static str| {
        let dir = dir.path().join(backoff.replace('.', "_"));
        async move {
            std::fs::create_dir_all(&dir).expect("dir");
            let server = mock::spawn(fast()).await.expect("mock starts");
            let run = WorkloadOptions {
                concurrency: Some("1".parse().expect("levels")),
                duration: Some(Duration::from_millis(1300)),
                retry_backoff: Some(backoff.parse().expect("backoff")),
                ..WorkloadOptions::default()
            };
            let t0 = Instant::now();
            let running = tokio::spawn(run_plan(plan(server.url(), &dir, run), Stop::default()));
            tokio::time::sleep_until((t0 + Duration::from_millis(300)).into()).await;
            server.shutdown().await.expect("mock stops");
            running.await.expect("run task").0
        }
    };
    let backed_off = dies("100ms..5s").await;
    let hot = dies("off").await;
    let (slow, fast) = (&backed_off.stages[0].summary, &hot.stages[0].summary);
    let failed = |s: &voxload::metrics::StageSummary| {
        s.errors
            .iter()
            .filter(|e| e.kind.is_connection_level())
            .map(|e| e.count)
            .sum::<u64>()
    };
    assert!(failed(slow) <= 8, "{} failures with backoff", failed(slow));
    assert!(
        failed(fast) > 10 * failed(slow),
        "{} vs {}",
        failed(fast),
        failed(slow)
    );
    for s in [slow, fast] {
        assert!(
            s.outages.len() == 1 && s.outages[0].ongoing,
            "{:?}",
            s.outages
        );
    }
}

/// Every answer is a 429 with `Retry-After: 1`: with `--honor-retry-after`
/// the user's next request starts no earlier than a second after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honour_retry_after_waits_as_long_as_the_server_asks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = MockModel {
        faults: Faults {
            error_429: 1.0,
            ..Faults::default()
        },
        ..fast()
    };
    let server = mock::spawn(model).await.expect("mock starts");
    let run = WorkloadOptions {
        concurrency: Some("1".parse().expect("levels")),
        requests: Some(3),
        honor_retry_after: Some(true),
        ..WorkloadOptions::default()
    };
    let (_, out) = run_plan(plan(server.url(), dir.path(), run), Stop::default()).await;
    let records = read_records(&out.join("requests.jsonl"));
    assert_eq!(records.len(), 3);
    for pair in records.windows(2) {
        assert_eq!(pair[0].error, Some(ErrorKind::Http(429)));
        assert_eq!(pair[0].retry_after_us, Some(1_000_000));
        // A sleep never ends early; 2 ms covers reading the clocks.
        let gap = pair[1].start_us.saturating_sub(pair[0].end_us);
        assert!(
            gap >= 998_000,
            "next request {gap} µs after a Retry-After of 1 s"
        );
    }
}

/// A stage the generator limited says so, naming the figure, in the
/// result and the summary, and its CPU share can gate the run: here one
/// request may be in flight at 200/s, so nearly every arrival is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_the_generator_limited_carries_a_warning_and_its_cpu() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = MockModel {
        overhead: Duration::from_millis(50),
        ..fast()
    };
    let server = mock::spawn(model).await.expect("mock starts");
    let run = WorkloadOptions {
        rate: Some("200".parse().expect("levels")),
        max_in_flight: Some(1),
        duration: Some(Duration::from_millis(800)),
        ..WorkloadOptions::default()
    };
    let mut plan = plan(server.url(), dir.path(), run);
    plan.common.slo = vec!["generator_cpu<100%".parse().expect("slo")];
    let (result, out) = run_plan(plan, Stop::default()).await;
    let stage = &result.stages[0];
    assert!(stage.summary.dropped > 100, "{}", stage.summary.dropped);
    assert!(
        stage
            .warnings
            .iter()
            .any(|w| w.contains("arrivals dropped")),
        "{:?}",
        stage.warnings
    );
    let cpu = stage.summary.generator_cpu.expect("CPU read");
    assert!(
        cpu.cpu_s > 0.0 && cpu.share > 0.0 && cpu.cores >= 1,
        "{cpu:?}"
    );
    assert!(result.slo[0].passed, "{:?}", result.slo);
    let summary = std::fs::read_to_string(out.join("summary.txt")).expect("summary");
    assert!(
        summary.contains("WARNING the generator limited stage 1"),
        "{summary}"
    );
}
