//! `compare` on synthetic runs with a known difference and with none;
//! regression gates and SLO thresholds driving the exit code (through the
//! built binary and in-process against the mock); `report` from result.json.

mod synth;

use std::path::Path;
use std::process::{Command, Output};

use clap::Parser as _;
use synth::{run, StageSpec};
use voxload::report::compare::{compare, Gate, Verdict};
use voxload::report::json::JsonWriter;
use voxload::report::ReportWriter;
use voxload::result::RunResult;

fn voxload(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voxload"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn code(out: &Output) -> i32 {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    out.status.code().unwrap_or(-1)
}

fn spec(label: &'static str, seed: u64, ttfa_ms: f64) -> StageSpec {
    let mut s = StageSpec::new(label, seed, ttfa_ms);
    s.requests = 2000;
    s.rate = 20.0;
    s
}

fn save(run: &RunResult, dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("mkdir");
    JsonWriter.write(run, dir).expect("write result.json");
    dir.display().to_string()
}

fn gates(exprs: &[&str]) -> Vec<Gate> {
    exprs
        .iter()
        .map(|g| g.parse().expect("valid gate"))
        .collect()
}

#[test]
fn a_30_percent_ttfa_regression_is_detected_and_fails_the_gate() {
    let base = run("base", &[spec("c=4", 1, 200.0)]);
    let new = run("new", &[spec("c=4", 2, 260.0)]);
    let cmp = compare(&base, &new, &[], &gates(&["ttfa.p95 > +10%"]));
    let row = |metric: &str, stat: &str| {
        cmp.stages[0]
            .rows
            .iter()
            .find(|r| r.metric == metric && r.stat == stat)
            .unwrap_or_else(|| panic!("{metric}.{stat} compared"))
    };
    for stat in ["p50", "p90", "p95", "p99", "mean"] {
        let r = row("ttfa", stat);
        assert_eq!(r.verdict, Verdict::Worse, "ttfa.{stat}: {r:?}");
        let pct = r.diff_pct.expect("relative change");
        assert!((20.0..40.0).contains(&pct), "ttfa.{stat} +30 %: {pct}");
        let ci = r.diff_ci.as_ref().expect("interval");
        assert!(ci.lo.expect("lo") > 0.0 && ci.lo <= Some(r.diff) && ci.hi >= Some(r.diff));
    }
    // e2e = ttfa + synthesis also got worse; the audio length did not change.
    assert_eq!(row("e2e", "p50").verdict, Verdict::Worse);
    assert_eq!(row("audio", "p50").verdict, Verdict::NoChange);
    // rtfx is higher-is-better: it dropped, which is worse.
    assert_eq!(row("rtfx", "p50").verdict, Verdict::Worse);
    assert!(cmp.failed(), "{:?}", cmp.gates);
    assert!(cmp.gates[0].tripped && cmp.gates[0].significant);
    // A bound the change does not reach does not trip.
    let loose = compare(
        &base,
        &new,
        &[],
        &gates(&["ttfa.p95 > +50%", "errors > +1%"]),
    );
    assert!(!loose.failed(), "{:?}", loose.gates);

    let dir = tempfile::tempdir().expect("tempdir");
    let (b, n) = (
        save(&base, &dir.path().join("b")),
        save(&new, &dir.path().join("n")),
    );
    let json = dir.path().join("cmp.json");
    let out = voxload(&[
        "compare",
        &b,
        &n,
        "--fail-if",
        "ttfa.p95 > +10%",
        "--json",
        &json.display().to_string(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 3, "{stdout}");
    assert!(
        stdout.contains("WORSE") && stdout.contains("FAILED"),
        "{stdout}"
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("--json written"))
            .expect("valid JSON");
    assert_eq!(saved["gates"][0]["tripped"], true);
    assert_eq!(saved["stages"][0]["rows"][0]["metric"], "ttfb");
    // Same comparison, gate loose enough: exit 0; JSON on stdout.
    let out = voxload(&[
        "compare",
        &b,
        &n,
        "--fail-if",
        "ttfa.p95>+50%",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["gates"][0]["tripped"], false);
    // A malformed gate is a command-line error (2), naming the flag.
    let out = voxload(&["compare", &b, &n, "--fail-if", "ttfx.p95 > 10%"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ttfx"));
    // A missing results folder is voxload failing (1), naming the file.
    let out = voxload(&["compare", &b, "/nonexistent/run"]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/run"));
}

#[test]
fn two_samples_of_one_distribution_show_no_significant_change() {
    let base = run("base", &[spec("c=4", 3, 200.0), spec("c=8", 5, 400.0)]);
    let new = run("new", &[spec("c=4", 4, 200.0), spec("c=8", 6, 400.0)]);
    let cmp = compare(
        &base,
        &new,
        &[],
        &gates(&["ttfa.p95 > +1%", "e2e.mean > +1ms", "errors > +0.1%"]),
    );
    assert!(cmp.warnings.is_empty(), "{:?}", cmp.warnings);
    for st in &cmp.stages {
        for r in &st.rows {
            if ["p50", "p95", "mean", "rate"].contains(&r.stat.as_str()) {
                assert_eq!(r.verdict, Verdict::NoChange, "stage {}: {r:?}", st.index);
            }
        }
    }
    assert!(!cmp.failed(), "{:?}", cmp.gates);
    let dir = tempfile::tempdir().expect("tempdir");
    let (b, n) = (
        save(&base, &dir.path().join("b")),
        save(&new, &dir.path().join("n")),
    );
    let out = voxload(&[
        "compare",
        &b,
        &n,
        "--fail-if",
        "ttfa.p95 > +1%",
        "--metrics",
        "ttfa",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}");
    assert!(stdout.contains("no gate tripped"), "{stdout}");
    assert!(!stdout.contains("e2e "), "--metrics filters: {stdout}");
}

#[test]
fn compare_warns_when_stages_do_not_line_up() {
    let base = run("base", &[spec("c=4", 1, 200.0), spec("c=8", 2, 200.0)]);
    let new = run("new", &[spec("c=6", 1, 200.0)]);
    let cmp = compare(&base, &new, &[], &[]);
    assert_eq!(cmp.stages.len(), 1);
    assert!(
        cmp.warnings.iter().any(|w| w.contains("2 stages")),
        "{:?}",
        cmp.warnings
    );
    assert!(
        cmp.warnings.iter().any(|w| w.contains("labels differ")),
        "{:?}",
        cmp.warnings
    );
}

#[test]
fn report_rewrites_every_file_from_result_json_and_checks_slos() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = save(&run("r", &[spec("c=4", 1, 200.0)]), &dir.path().join("run"));
    let out_dir = dir.path().join("again");
    let out = voxload(&["report", &src, "--out", &out_dir.display().to_string()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}");
    assert!(stdout.contains("stage 1 [c=4]"), "{stdout}");
    for f in [
        "result.json",
        "summary.txt",
        "stages.csv",
        "stats.csv",
        "locust_stats.csv",
        "locust_failures.csv",
        "locust_stats_history.csv",
    ] {
        assert!(out_dir.join(f).is_file(), "{f} written");
    }
    // Thresholds on a saved run: ttfa p95 ≈ 300 ms here.
    let out = voxload(&["report", &src, "--slo", "ttfa.p95<1s", "--slo", "errors<5%"]);
    assert_eq!(code(&out), 0);
    let out = voxload(&["report", &src, "--slo", "ttfa.p95<100ms"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 3, "{stdout}");
    assert!(
        stdout.contains("SLO") && stdout.contains("FAIL"),
        "{stdout}"
    );
    let out = voxload(&["report", &src, "--slo", "ttfa.p95<100"]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a unit"));
}

async fn tts(args: &[&str]) -> anyhow::Result<i32> {
    let mut argv = vec!["voxload", "tts", "-q", "-n", "6", "--concurrency", "2"];
    argv.extend_from_slice(args);
    voxload::run(voxload::Cli::parse_from(argv)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_thresholds_set_the_exit_code_of_a_run() {
    let mock = voxload::mock::spawn(voxload::mock::MockModel {
        speed: 50.0,
        overhead: std::time::Duration::from_millis(5),
        ..voxload::mock::MockModel::default()
    })
    .await
    .expect("mock starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, out) = (mock.url(), dir.path().display().to_string());
    let common = [
        "--url",
        url.as_str(),
        "--out",
        out.as_str(),
        "--format",
        "wav",
    ];
    // A misspelled metric fails before any request is sent.
    let mut args = common.to_vec();
    args.extend(["--name", "typo", "--slo", "ttfx.p95<300ms"]);
    let err = tts(&args).await.expect_err("config error").to_string();
    assert!(err.contains("--slo") && err.contains("ttfx"), "{err}");
    assert_eq!(mock.truth().await.requests, 0, "no request sent");
    // Thresholds that hold: exit 0, results saved in result.json.
    let mut args = common.to_vec();
    args.extend([
        "--name",
        "ok",
        "--slo",
        "errors<50%",
        "--slo",
        "ttfa.p95<10s",
    ]);
    assert_eq!(tts(&args).await.expect("run"), 0);
    let saved = voxload::report::json::read(&dir.path().join("ok")).expect("result.json");
    assert_eq!(saved.slo.len(), 2);
    assert!(saved.slo.iter().all(|r| r.passed), "{:?}", saved.slo);
    assert_eq!(saved.config["common"]["slo"][0], "errors<50%");
    // A threshold that fails: exit 3.
    let mut args = common.to_vec();
    args.extend(["--name", "fail", "--slo", "ttfa.p50<1us"]);
    assert_eq!(tts(&args).await.expect("run"), 3);
    mock.stop();
}

#[test]
fn slo_in_a_scenario_file_is_validated_like_the_flag() {
    use voxload::config::{CommonOptions, RunOptions, RunPlan, WorkloadOptions};
    use voxload::protocol::Service;
    let read = |path: &std::path::Path| RunOptions::read(path, Some(Service::Tts));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.toml");
    std::fs::write(
        &path,
        "url = \"http://h\"\nslo = [\"ttfa.p95 < 300ms\", \"errors<1%\"]\n",
    )
    .expect("write");
    let opts = read(&path).expect("valid scenario");
    let plan = RunPlan::build(opts.clone(), &|_| None).expect("plan");
    assert_eq!(plan.common.slo.len(), 2);
    // A flag replaces the file's list.
    let flags = CommonOptions {
        slo: Some(vec!["rtf.p99<1".into()]),
        ..CommonOptions::default()
    };
    let merged = opts
        .with_flags(&flags, &WorkloadOptions::default(), None)
        .expect("flags apply");
    let merged = RunPlan::build(merged, &|_| None).expect("plan");
    assert_eq!(merged.common.slo.len(), 1);
    std::fs::write(&path, "url = \"http://h\"\nslo = [\"e2e.p99<2\"]\n").expect("write");
    let opts = read(&path).expect("valid TOML");
    let err = RunPlan::build(opts, &|_| None)
        .expect_err("duration without unit")
        .to_string();
    assert!(
        err.contains("--slo") && err.contains("needs a unit"),
        "{err}"
    );
}
