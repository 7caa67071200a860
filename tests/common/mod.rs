//! Shared test helpers: the mock in-process on 127.0.0.1:0, runs into temp folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use voxload::config::{RunPlan, TtsOptions};
use voxload::metrics::RequestRecord;
use voxload::mock::{self, MockHandle, MockModel};
use voxload::report::RunResult;
use voxload::runner::{run_tts, RunOptions};
use voxload::workload::Stop;

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
pub async fn run_against(model: MockModel, opts: TtsOptions) -> Ran {
    let mock = mock::spawn(model).await.expect("mock starts");
    run_on(mock, opts, Stop::default()).await
}

/// Run `opts` against an already started mock.
pub async fn run_on(mock: MockHandle, mut opts: TtsOptions, stop: Stop) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    opts.url.get_or_insert_with(|| mock.url());
    opts.out = Some(dir.path().to_path_buf());
    opts.name.get_or_insert_with(|| "t".into());
    if opts.texts.as_ref().is_some_and(|t| t.is_relative()) {
        panic!("use absolute texts paths in tests");
    }
    let plan = RunPlan::from_options(opts, &|_| None).expect("valid plan");
    let (result, out) = run_tts(plan, stop, RunOptions { quiet: true })
        .await
        .expect("run completes");
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
