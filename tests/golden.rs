//! Golden files for the text and CSV reports, from a seeded synthetic run.
//! A report change shows up as a diff of files in tests/golden/; after
//! checking it is intended, rewrite them with
//! `UPDATE_GOLDEN=1 cargo test --test golden`.

mod synth;

use std::path::{Path, PathBuf};

use synth::{run, StageSpec};
use voxload::metrics::slo::Slo;
use voxload::report::csv::CsvWriter;
use voxload::report::locust::LocustCsvWriter;
use voxload::report::terminal::SummaryWriter;
use voxload::report::ReportWriter;
use voxload::result::RunResult;

/// Files the writers below produce, each checked against tests/golden/NAME.
const FILES: [&str; 6] = [
    "summary.txt",
    "stages.csv",
    "stats.csv",
    "locust_stats.csv",
    "locust_failures.csv",
    "locust_stats_history.csv",
];

/// Two stages (the second slower), SLOs evaluated on both: one passing,
/// one failing, one that cannot be observed.
fn seeded_run() -> RunResult {
    let mut slow = StageSpec::new("rate=8/s", 22, 320.0);
    slow.rate = 8.0;
    slow.requests = 600;
    let mut run = run("golden", &[StageSpec::new("rate=4/s", 11, 180.0), slow]);
    let slos: Vec<Slo> = ["ttfa.p95<300ms", "errors<1%", "chunk10.p50<1s"]
        .iter()
        .map(|s| s.parse().expect("valid slo"))
        .collect();
    run.slo = voxload::metrics::slo::evaluate_all(&slos, run.views());
    run
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn reports_match_golden_files() {
    let run = seeded_run();
    let dir = tempfile::tempdir().expect("tempdir");
    let writers: [&dyn ReportWriter; 3] = [&CsvWriter, &LocustCsvWriter, &SummaryWriter];
    for w in writers {
        w.write(&run, dir.path()).expect("write reports");
    }
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatched = Vec::new();
    for name in FILES {
        let got = std::fs::read_to_string(dir.path().join(name)).expect("report written");
        let path = golden_dir().join(name);
        if update {
            std::fs::write(&path, &got).expect("update golden file");
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (create it with UPDATE_GOLDEN=1)", path.display()));
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .map_or("line count".to_string(), |i| format!("line {}", i + 1));
            eprintln!("--- {name} differs at {line}; got:\n{got}");
            mismatched.push(name);
        }
    }
    assert!(
        mismatched.is_empty(),
        "reports differ from tests/golden/: {mismatched:?}; if intended, run UPDATE_GOLDEN=1 cargo test --test golden"
    );
}

#[test]
fn seeded_run_is_deterministic() {
    let (a, b) = (seeded_run(), seeded_run());
    assert_eq!(
        serde_json::to_string(&a).expect("json"),
        serde_json::to_string(&b).expect("json")
    );
}
