//! Goodput (`--goodput`): requests that succeeded and met every criterion,
//! counted against the mock's truth and the records themselves.

mod common;

use std::time::Duration;

use common::{one_text, run_against, Opts};
use voxload::config::tts::TtsOptions;
use voxload::config::{CommonOptions, WorkloadOptions};
use voxload::mock::{Faults, MockModel};

fn opts(dir: &std::path::Path, goodput: &[&str], slo: &[&str]) -> Opts {
    Opts {
        tts: TtsOptions {
            texts: Some(one_text(dir, "A short sentence to speak.")),
            ..TtsOptions::default()
        },
        run: WorkloadOptions {
            concurrency: Some("2".parse().expect("levels")),
            requests: Some(120),
            ..WorkloadOptions::default()
        },
        common: CommonOptions {
            goodput: Some(goodput.iter().map(|s| s.to_string()).collect()),
            slo: Some(slo.iter().map(|s| s.to_string()).collect()),
            ..CommonOptions::default()
        },
    }
}

/// 20 % of answers are 500s and time to first audio is 20–80 ms (50 ms
/// overhead ± 30 ms jitter): with `ttfa<1s` the good requests are exactly
/// the ones the server answered; with `ttfa<50ms` exactly the ok records
/// under 50 ms, and a goodput SLO gates on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_requests_are_the_ok_ones_that_meet_every_criterion() {
    let model = MockModel {
        overhead: Duration::from_millis(50),
        jitter: Duration::from_millis(30),
        speed: 50.0,
        faults: Faults {
            error_5xx: 0.2,
            ..Faults::default()
        },
        seed: Some(4),
        ..MockModel::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let ran = run_against(model.clone(), opts(dir.path(), &["ttfa<1s"], &[])).await;
    let truth = ran.mock.truth().await;
    let s = &ran.result.stages[0].summary;
    assert!(truth.ok > 60 && truth.ok < 120, "{} ok", truth.ok);
    assert_eq!(
        ran.records.iter().filter(|r| r.good == Some(true)).count() as u64,
        truth.ok
    );
    assert_eq!(s.goodput, Some(truth.ok as f64 / 120.0));
    let rate = s.goodput_rps.expect("rate");
    // Good requests over the stage's wall time (wall_us is rounded to the µs).
    let expected = truth.ok as f64 / (s.wall_us as f64 / 1e6);
    assert!((rate / expected - 1.0).abs() < 1e-4, "{rate} vs {expected}");

    let ran = run_against(
        model,
        opts(
            dir.path(),
            &["ttfa<50ms", "e2e<5s"],
            &["goodput>90%", "goodput_rps>0.5"],
        ),
    )
    .await;
    let under: usize = ran
        .records
        .iter()
        .filter(|r| {
            r.ok()
                && r.ttfa_us.is_some_and(|t| t < 50_000)
                && r.e2e_us.is_some_and(|e| e < 5_000_000)
        })
        .count();
    let good = ran.records.iter().filter(|r| r.good == Some(true)).count();
    assert_eq!(good, under);
    assert!(good > 10 && good < 100, "{good} under 50 ms");
    assert!(
        ran.records.iter().all(|r| r.good.is_some()),
        "every record is judged"
    );
    let verdicts: Vec<(&str, bool)> = ran
        .result
        .slo
        .iter()
        .map(|v| (v.slo.as_str(), v.passed))
        .collect();
    assert_eq!(
        verdicts,
        [("goodput>90%", false), ("goodput_rps>0.5", true)]
    );
    let summary = std::fs::read_to_string(ran.out.join("summary.txt")).expect("summary");
    assert!(summary.contains("goodput "), "{summary}");
}
