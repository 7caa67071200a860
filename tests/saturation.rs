//! Saturation marks against the mock's own record of its queue: a stage
//! is marked exactly when the server's queue grew during it.

mod common;

use std::time::Duration;

use common::{one_text, run_against, two_slot_mock, Opts, KNEE_TEXT};
use voxload::config::tts::TtsOptions;
use voxload::config::{CommonOptions, WorkloadOptions};

/// A sweep of `run` against the two-slot mock with a long queue (its
/// knee: 68 req/s).
async fn sweep(run: WorkloadOptions, common: CommonOptions) -> common::Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Opts {
        tts: TtsOptions {
            texts: Some(one_text(dir.path(), KNEE_TEXT)),
            ..TtsOptions::default()
        },
        run,
        common,
    };
    run_against(two_slot_mock(10_000), opts).await
}

/// Per stage, the server's queue wait of its last tenth of requests, ms
/// (stages ran one after another, so their requests are consecutive).
fn late_waits_ms(issued: &[u64], truth: &voxload::mock::Truth) -> Vec<f64> {
    let mut at = 0usize;
    issued
        .iter()
        .map(|&n| {
            let n = n as usize;
            let stage = &truth.recent[at..at + n];
            at += n;
            let tail = &stage[n - n / 10..];
            tail.iter().map(|r| r.queue_wait_us).sum::<u64>() as f64 / tail.len() as f64 / 1e3
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_stages_past_the_knee_are_marked_where_the_queue_grows() {
    let run = WorkloadOptions {
        rate: Some("30,50,90,120".parse().expect("levels")),
        // The rule reads whole seconds of each window's second half.
        duration: Some(Duration::from_secs(6)),
        ..WorkloadOptions::default()
    };
    let ran = sweep(run, CommonOptions::default()).await;
    let truth = ran.mock.truth().await;
    let issued: Vec<u64> = ran.result.stages.iter().map(|s| s.issued).collect();
    assert_eq!(truth.requests, issued.iter().sum::<u64>());
    let waits = late_waits_ms(&issued, &truth);
    for (s, wait) in ran.result.stages.iter().zip(&waits) {
        // The server's truth: a queue that grew holds its last requests
        // for more than a few service times; one that kept up, not at all.
        let queued = *wait > 100.0;
        assert!(
            queued || *wait < 20.0,
            "{}: ambiguous wait {wait} ms",
            s.label
        );
        assert_eq!(
            s.saturated.is_some(),
            queued,
            "{}: server wait {wait:.0} ms, voxload says {:?}",
            s.label,
            s.saturated
        );
    }
    let marked: Vec<&str> = ran
        .result
        .stages
        .iter()
        .filter(|s| s.saturated.is_some())
        .map(|s| s.label.as_str())
        .collect();
    assert_eq!(marked, ["rate=90/s", "rate=120/s"]);
    let summary = std::fs::read_to_string(ran.out.join("summary.txt")).expect("summary");
    assert!(summary.contains("rate=90/s SATURATED"), "{summary}");
    assert!(
        summary.contains("SATURATED: completions kept up at"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_users_past_the_slots_are_marked_and_the_sweep_can_stop_there() {
    let run = WorkloadOptions {
        concurrency: Some("1,2,4,8".parse().expect("levels")),
        duration: Some(Duration::from_secs(2)),
        ..WorkloadOptions::default()
    };
    let common = CommonOptions {
        stop_on_saturation: Some(true),
        ..CommonOptions::default()
    };
    let ran = sweep(run, common).await;
    let labels: Vec<&str> = ran.result.stages.iter().map(|s| s.label.as_str()).collect();
    // 1 → 2 users doubles throughput; 2 → 4 queues behind the 2 slots.
    assert_eq!(labels, ["c=1", "c=2", "c=4"], "stops at the first mark");
    let marks: Vec<bool> = ran
        .result
        .stages
        .iter()
        .map(|s| s.saturated.is_some())
        .collect();
    assert_eq!(
        marks,
        [false, false, true],
        "{:?}",
        ran.result.stages[2].saturated
    );
    let truth = ran.mock.truth().await;
    let issued: Vec<u64> = ran.result.stages.iter().map(|s| s.issued).collect();
    let waits = late_waits_ms(&issued, &truth);
    assert!(
        waits[1] < 5.0 && waits[2] > 10.0,
        "server queue waits {waits:?}"
    );
}
