//! Sharded runs and `voxload merge`: eight real shard processes against
//! the mock add up to the asked rate and the mock's count, on one absolute
//! schedule; merged histograms are the exact sums of the shards' (checked
//! against the pooled records); SLOs are judged on the whole run; bad
//! shards are refused with the folder named.

mod common;
mod synth;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, SystemTime};

use common::timing::{on_schedule_us, LATE};
use voxload::metrics::slo::SloResult;
use voxload::metrics::{Metric, StageStats, Timeline};
use voxload::result::{RunResult, RunStatus, ShardInfo, Windows};
use voxload::workload::shard::Shard;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_voxload")
}

fn read(dir: &Path) -> RunResult {
    let text = std::fs::read_to_string(dir.join("result.json")).expect("result.json");
    serde_json::from_str(&text).expect("valid result")
}

/// Run `shards` shard processes of `voxload tts --url URL --name soak`
/// in `dir`, shard `i` with `args(i)` too, each bounded to 60 s.
async fn run_shards(
    dir: &Path,
    shards: u32,
    args: impl Fn(u32) -> Vec<String>,
    url: &str,
) -> Vec<Output> {
    let children: Vec<Child> = (1..=shards)
        .map(|i| {
            Command::new(bin())
                .args([
                    "tts", "--url", url, "--name", "soak", "--out", "results", "--quiet",
                ])
                .args(args(i))
                .current_dir(dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("shard starts")
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| common::wait_bounded(c, Duration::from_secs(60), "a shard"))
            .collect()
    })
    .await
    .expect("joined")
}

fn merge(args: &[&str], dir: &Path) -> Output {
    Command::new(bin())
        .arg("merge")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("voxload merge runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_shards_add_up_to_the_asked_rate_on_one_schedule() {
    let mock = voxload::mock::spawn(voxload::mock::MockModel::default())
        .await
        .expect("mock");
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("{}/v1/audio/speech", mock.url());
    let (rate, seconds, shards) = (40.0, 5u64, 8u32);
    // Far enough ahead for eight processes to start on a busy machine.
    let start = SystemTime::now() + Duration::from_secs(4);
    let start_text = humantime::format_rfc3339_seconds(start).to_string();
    let start = humantime::parse_rfc3339(&start_text).expect("own time");
    let outputs = run_shards(
        dir.path(),
        shards,
        |i| {
            let shard = format!("{i}/{shards}");
            let args = ["--rate", "40", "--duration", "5s", "--shard", &shard];
            let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            v.extend(["--start-at", &start_text, "--slo", "rps<30"].map(String::from));
            v
        },
        &url,
    )
    .await;
    for (i, o) in outputs.iter().enumerate() {
        // Each shard does 5 req/s: its own rps<30 holds.
        assert_eq!(
            o.status.code(),
            Some(0),
            "shard {}: {}",
            i + 1,
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&format!("shard {}/{shards}", i + 1)),
            "announces itself"
        );
    }
    let run_dir = dir.path().join("results/soak");
    let epoch_us = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as u64;
    let mut starts = Vec::new();
    let mut issued = 0;
    for i in 1..=shards {
        let shard = read(&run_dir.join(format!("shard-{i}-of-{shards}")));
        let info = shard.shard.as_ref().expect("a shard says so");
        assert_eq!(info.shard, Shard::new(i, shards).expect("in range"));
        assert_eq!(
            shard.epoch_us, epoch_us,
            "every shard's clock starts at --start-at"
        );
        issued += shard.stages[0].summary.requests;
        let records = common::read_records(
            &run_dir
                .join(format!("shard-{i}-of-{shards}"))
                .join("requests.jsonl"),
        );
        starts.extend(
            records
                .iter()
                .map(|r| r.start_us + r.schedule_lag_us.unwrap_or(0)),
        );
    }
    // The merged arrivals are the asked-for grid: arrival k at k / 40 s
    // from the common start, whichever shard sent it.
    starts.sort_unstable();
    let total = (rate * seconds as f64) as usize;
    assert_eq!(starts.len(), total);
    for (k, at) in starts.iter().enumerate() {
        let due = Duration::from_secs_f64(k as f64 / rate);
        on_schedule_us(*at, 0, due, LATE, &format!("merged arrival {k}"));
    }
    // Merging: exit 3, since the run as a whole does 40 req/s (rps<30 fails).
    let out = merge(
        &["results/soak", "--out", "results/soak/merged"],
        dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = read(&run_dir.join("merged"));
    let stage = &merged.stages[0];
    let truth = mock.truth().await;
    assert_eq!(stage.summary.requests, total as u64);
    assert_eq!(stage.summary.requests, truth.requests, "the mock's count");
    assert_eq!(stage.summary.requests, issued);
    let offered = stage.offered_rps.expect("open loop");
    assert!((offered - rate).abs() <= rate * 0.01, "offered {offered}");
    assert_eq!(merged.status, RunStatus::Complete);
    assert_eq!(merged.epoch_us, epoch_us);
    let from = merged.merged_from.as_ref().expect("says what it merged");
    assert_eq!((from.count, from.shards.len()), (shards, shards as usize));
    assert!(merged.slo.iter().all(|s| !s.passed && s.slo == "rps<30"));
    // The merged timeline's seconds hold every request once.
    let started: u64 = merged.timeline.iter().map(|r| r.started).sum();
    assert_eq!(started, total as u64);
    assert!(run_dir.join("merged/report.html").is_file());
    assert!(run_dir.join("merged/summary.txt").is_file());
}

/// Shard `i` of `n` of a synthetic run: its own seed and latency, and the
/// records it was folded from.
fn synthetic_shard(
    i: u32,
    n: u32,
    slo: &[(&str, bool)],
) -> (RunResult, Vec<voxload::metrics::RequestRecord>) {
    let mut spec =
        synth::StageSpec::new("rate=16/s", 100 + u64::from(i), 80.0 + 60.0 * f64::from(i));
    spec.requests = 300;
    let mut run = synth::run("soak", &[spec.clone()]);
    let records = synth::records(0, &spec, 0);
    let mut seconds = Timeline::new();
    for r in &records {
        seconds.record_started(r.start_us / 1_000_000);
        seconds.record(r);
    }
    run.windows = vec![Windows {
        scenario: None,
        seconds,
    }];
    run.seed = Some(u64::from(i));
    run.shard = Some(ShardInfo {
        shard: Shard::new(i, n).expect("in range"),
        run_seed: 1,
        plan_digest: "0123456789abcdef".into(),
        start_at: None,
    });
    run.slo = slo
        .iter()
        .map(|(expr, passed)| SloResult {
            slo: expr.to_string(),
            stage: 0,
            label: "rate=16/s".into(),
            scenario: None,
            observed: None,
            threshold: 0.0,
            unit: String::new(),
            passed: *passed,
            reason: None,
        })
        .collect();
    (run, records)
}

fn write_shard(root: &Path, run: &RunResult) -> PathBuf {
    let info = run.shard.as_ref().expect("shard");
    let dir = root.join(format!(
        "shard-{}-of-{}",
        info.shard.index, info.shard.count
    ));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let text = serde_json::to_string(run).expect("serializes");
    std::fs::write(dir.join("result.json"), text).expect("write");
    dir
}

#[test]
fn merged_histograms_are_the_pooled_samples_and_slos_hold_globally() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("soak");
    let mut pooled = StageStats::new(&[1, 4]);
    let mut pooled_seconds = Timeline::new();
    // Each shard does 4 req/s (300 requests over 75 s): `rps<10` holds on
    // each (as the shards said) but not on the run (16 req/s), and
    // `rps>10` fails on each but holds on the run.
    for i in 1..=4 {
        let slo = [("rps<10", true), ("rps>10", false)];
        let (run, records) = synthetic_shard(i, 4, &slo);
        for r in &records {
            pooled.record(r);
            pooled_seconds.record_started(r.start_us / 1_000_000);
            pooled_seconds.record(r);
        }
        write_shard(&root, &run);
    }
    let out = merge(&["soak", "--out", "merged"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = read(&dir.path().join("merged"));
    let verdicts: Vec<(&str, bool)> = merged
        .slo
        .iter()
        .map(|s| (s.slo.as_str(), s.passed))
        .collect();
    assert_eq!(verdicts, vec![("rps<10", false), ("rps>10", true)]);
    let stage = &merged.stages[0];
    for m in [Metric::Ttfa, Metric::E2e, Metric::Rtf] {
        assert_eq!(
            stage.stats.histogram(&m),
            pooled.histogram(&m),
            "{} histogram is the pooled samples'",
            m.name()
        );
        assert_eq!(
            stage.summary.metrics.get(&m.name()),
            pooled.percentiles(&m).as_ref(),
            "{} percentiles",
            m.name()
        );
    }
    assert_eq!(stage.summary.requests, 1200);
    assert_eq!(stage.stats.counters, pooled.counters);
    assert_eq!(
        stage.summary.errors.len(),
        pooled.summary(Duration::ZERO).errors.len()
    );
    assert_eq!(merged.windows[0].seconds.rows(), pooled_seconds.rows());
    assert_eq!(merged.seed, Some(1), "the run's seed, not a shard's");
    // A --slo given to merge is judged too.
    let out = merge(
        &["soak", "--out", "merged-2", "--slo", "rps>100"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3));
    let merged = read(&dir.path().join("merged-2"));
    assert!(merged.slo.iter().any(|s| s.slo == "rps>100" && !s.passed));
}

#[test]
fn shards_of_another_run_missing_or_twice_are_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("soak");
    for i in 1..=3 {
        write_shard(&root, &synthetic_shard(i, 4, &[("rps>1", true)]).0);
    }
    // Shard 4 of 4 is missing: merged anyway, marked partial, exit 1.
    let out = merge(&["soak", "--out", "partial"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("shards 4 of 4 are missing"), "{stderr}");
    let partial = read(&dir.path().join("partial"));
    assert_eq!(partial.status, RunStatus::Partial);
    assert_eq!(
        partial.merged_from.as_ref().map(|m| m.missing.clone()),
        Some(vec![4])
    );
    assert_eq!(partial.stages[0].summary.requests, 900);
    // The other run's shard 4: another plan.
    let other = dir.path().join("other");
    let (mut odd, _) = synthetic_shard(4, 4, &[]);
    if let Some(info) = odd.shard.as_mut() {
        info.plan_digest = "fedcba9876543210".into();
    }
    let odd_dir = write_shard(&other, &odd);
    let out = merge(
        &["soak", odd_dir.to_str().expect("utf-8"), "--out", "x"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("plan") && stderr.contains("shard-4-of-4"),
        "{stderr}"
    );
    // The same shard twice.
    let out = merge(&["soak", "soak/shard-2-of-4", "--out", "x"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("shard 2 is given twice"), "{stderr}");
    // A result of an unsharded run.
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).expect("mkdir");
    let text = serde_json::to_string(&synth::run("soak", &[])).expect("json");
    std::fs::write(plain.join("result.json"), text).expect("write");
    let out = merge(&["plain", "--out", "x"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("plain") && stderr.contains("not a shard"),
        "{stderr}"
    );
    // A folder with nothing to merge.
    let out = merge(&["partial/nothing-here", "--out", "x"], dir.path());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bad_shard_flags_name_the_flag() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(bin())
            .args([
                "tts",
                "--url",
                "http://127.0.0.1:9/v1/audio/speech",
                "-n",
                "1",
            ])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--shard", "9/8", "--name", "x"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--shard") && err.contains("out of range"),
        "{err}"
    );
    let (code, err) = run(&["--shard", "2/8"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--name"), "{err}");
    let (code, err) = run(&["--name", "x"], &[("JOB_COMPLETION_INDEX", "3")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--shards") && err.contains("VOXLOAD_SHARDS"),
        "{err}"
    );
    let (code, err) = run(
        &["--name", "x", "--shards", "4"],
        &[("JOB_COMPLETION_INDEX", "4")],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("out of range"), "{err}");
    let (code, err) = run(&["--name", "x", "--start-at", "2026-12-01T10:00:00Z"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--start-at") && err.contains("--shard"),
        "{err}"
    );
    let (code, err) = run(
        &["--shard", "1/2", "--name", "x", "--start-at", "noon"],
        &[],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--start-at") && err.contains("noon"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_file_starts_every_shard_and_stage_together() {
    let mock = voxload::mock::spawn(voxload::mock::MockModel::default())
        .await
        .expect("mock");
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("{}/v1/audio/speech", mock.url());
    let start_file = dir.path().join("soak.start");
    let file = start_file.display().to_string();
    let outputs = run_shards(
        dir.path(),
        2,
        |i| {
            let shard = format!("{i}/2");
            let args = ["--rate", "4,8", "--duration", "2s", "--shard", &shard];
            let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            v.extend(["--stage-gap", "1s", "--start-file", &file].map(String::from));
            v
        },
        &url,
    )
    .await;
    for o in &outputs {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // The first shard wrote the start, the other read it: one clock.
    let text = std::fs::read_to_string(&start_file).expect("the start file");
    let start = humantime::parse_rfc3339(text.trim()).expect("an RFC 3339 time");
    let epoch_us = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as u64;
    let mut by_stage: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for i in 1..=2 {
        let folder = dir.path().join(format!("results/soak/shard-{i}-of-2"));
        assert_eq!(read(&folder).epoch_us, epoch_us);
        for r in common::read_records(&folder.join("requests.jsonl")) {
            by_stage[r.stage].push(r.start_us + r.schedule_lag_us.unwrap_or(0));
        }
    }
    // Stage 1 (4/s) from the start; stage 2 (8/s) at 2 s + 1 s gap, on
    // both shards, whenever each finished draining stage 1.
    for (stage, (rate, begins)) in [(4.0, 0.0), (8.0, 3.0)].into_iter().enumerate() {
        let starts = &mut by_stage[stage];
        starts.sort_unstable();
        assert_eq!(starts.len(), (rate * 2.0) as usize, "stage {}", stage + 1);
        for (k, at) in starts.iter().enumerate() {
            let due = Duration::from_secs_f64(begins + k as f64 / rate);
            on_schedule_us(
                *at,
                0,
                due,
                LATE,
                &format!("stage {} arrival {k}", stage + 1),
            );
        }
    }
}

#[test]
fn shards_on_later_clocks_line_up_on_the_earliest() {
    use voxload::result::merge::{merge, ShardRun};
    // Shard 2's clock started 2 s after shard 1's: its second s is the
    // run's second s + 2, and its instants 2,000,000 µs later.
    let (one, rec1) = synthetic_shard(1, 2, &[]);
    let (mut two, rec2) = synthetic_shard(2, 2, &[]);
    two.epoch_us = one.epoch_us + 2_000_000;
    let mut pooled = Timeline::new();
    let mut stats = StageStats::new(&[1, 4]);
    for r in rec1
        .iter()
        .cloned()
        .chain(rec2.iter().cloned().map(|mut r| {
            r.start_us += 2_000_000;
            r.end_us += 2_000_000;
            r
        }))
    {
        pooled.record_started(r.start_us / 1_000_000);
        pooled.record(&r);
        stats.record(&r);
    }
    let shard = |run: &RunResult, name: &str| ShardRun {
        folder: name.into(),
        run: run.clone(),
    };
    // Either order: the earlier clock wins, whichever comes first.
    for order in [[&one, &two], [&two, &one]] {
        let merged = merge(order.map(|r| shard(r, "s"))).expect("merges");
        assert_eq!(merged.epoch_us, one.epoch_us);
        assert_eq!(merged.windows[0].seconds.rows(), pooled.rows());
        let c = &merged.stages[0].stats.counters;
        assert_eq!(
            (c.first_start_us, c.last_end_us),
            (stats.counters.first_start_us, stats.counters.last_end_us)
        );
        let from = merged.merged_from.expect("merged");
        assert_eq!(
            from.shards.iter().map(|s| s.index).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
}

#[tokio::test]
async fn a_start_long_past_is_refused_before_any_request() {
    let mock = voxload::mock::spawn(voxload::mock::MockModel::default())
        .await
        .expect("mock");
    let dir = tempfile::tempdir().expect("tmp");
    let stale = dir.path().join("old.start");
    std::fs::write(&stale, "2026-01-01T00:00:00Z\n").expect("write");
    let url = format!("{}/v1/audio/speech", mock.url());
    let out = Command::new(bin())
        .args(["tts", "--url", &url, "-n", "1"])
        .args(["--name", "x", "--shard", "1/2", "--start-file"])
        .arg(&stale)
        .current_dir(dir.path())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("old.start") && err.contains("delete it"),
        "{err}"
    );
    assert_eq!(mock.truth().await.requests, 0, "nothing was sent");
}

#[test]
fn the_targets_metrics_are_the_lowest_shards_on_the_merged_clock() {
    use std::collections::BTreeMap;
    use voxload::metrics::scraped::{ScrapedSeries, SeriesKind, TargetMetrics};
    use voxload::result::merge::{merge, ShardRun};
    // Shard 1 started 2 s after shard 2: its scrape at its second 1 is the
    // run's second 3.
    let (mut one, _) = synthetic_shard(1, 2, &[]);
    let (two, _) = synthetic_shard(2, 2, &[]);
    one.epoch_us = two.epoch_us + 2_000_000;
    one.target_metrics = vec![TargetMetrics {
        url: "http://127.0.0.1:8000/metrics".into(),
        every_s: 1.0,
        scrapes: 1,
        failures: BTreeMap::new(),
        missed: 0,
        left_out: 0,
        series: vec![ScrapedSeries {
            name: "voxmock_queue_waiting".into(),
            labels: BTreeMap::new(),
            kind: SeriesKind::Gauge,
            points: vec![[1.0, 7.0]],
        }],
    }];
    let runs = [one, two].map(|run| ShardRun {
        folder: "s".into(),
        run,
    });
    let merged = merge(runs).expect("merges");
    let points: Vec<[f64; 2]> = merged
        .target_metrics
        .iter()
        .flat_map(|t| t.series.iter().flat_map(|s| s.points.clone()))
        .collect();
    assert_eq!(points, vec![[3.0, 7.0]]);
}
