//! Runs a plan: stages in order through the one driver, results written as
//! they come (`requests.jsonl` per request, `result.json` after each stage)
//! so that a crash, a failing target or Ctrl-C leaves valid partial results.

pub mod jsonl;
pub mod sink;
pub mod tts;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::config::RunPlan;
use crate::metrics::metric::Metric;
use crate::metrics::stats::StageStats;
use crate::protocol::http_tts::{HttpTts, TargetError};
use crate::protocol::HttpClient;
use crate::report::live::{self, LiveSnapshot, LiveSource, StageBound};
use crate::report::result::{Environment, SCHEMA, SCHEMA_VERSION};
use crate::report::{default_writers, ReportError, RunResult, RunStatus, StageResult};
use crate::workload::{run_stage, StageOutcome, Stop, Workload};
use jsonl::JsonlWriter;
use sink::RunSink;
use tts::TtsExecutor;

/// TCP connect timeout of the HTTP client.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a run could not start or finish writing.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The results folder could not be created.
    #[error("cannot create results folder {path}: {source}")]
    OutDir {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Nothing listens at the target: no point in a load test.
    #[error("cannot connect to {url}: {reason}")]
    Unreachable {
        /// The target URL.
        url: String,
        /// What the connect attempt said.
        reason: String,
    },
    /// The target is not usable.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A result file could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// How a run presents itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// No live progress (tests, `--quiet`).
    pub quiet: bool,
}

/// Notes stated once in every result, so a reader knows what was measured.
fn notes() -> Vec<String> {
    vec![
        "durations in ms; latencies are measured from the scheduled start in open loop (no coordinated omission) and from the actual send in closed loop".into(),
        "a chunk is one SSE event or NDJSON line, or one transport read for raw audio bodies".into(),
        "latency histograms hold successful requests; schedule_lag holds all sent requests".into(),
        "stalls: playback starts at first audio plus the pre-buffer and runs in real time; a stall is waiting for audio that has not arrived".into(),
    ]
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Pick a results folder that does not exist yet: `name`, `name-2`, …
fn fresh_dir(base: &std::path::Path) -> PathBuf {
    if !base.exists() {
        return base.to_path_buf();
    }
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    (2..)
        .map(|i| base.with_file_name(format!("{name}-{i}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| base.to_path_buf())
}

impl LiveSource for RunSink {
    fn snapshot(&self, stage: usize) -> LiveSnapshot {
        use std::sync::atomic::Ordering::Relaxed;
        let (ttfa_ms, e2e_ms) = self.with_aggregate(|agg| {
            agg.stages
                .get(stage)
                .map(|s| (p50_p95(s, &Metric::Ttfa), p50_p95(s, &Metric::E2e)))
                .unwrap_or_default()
        });
        LiveSnapshot {
            done: self.live.done.load(Relaxed),
            failed: self.live.failed.load(Relaxed),
            dropped: self.live.dropped.load(Relaxed),
            ttfa_ms,
            e2e_ms,
        }
    }
}

/// Check that something accepts TCP connections at the target before
/// starting a run, so a typo in the URL is one clear error, not a run of
/// connect failures.
pub async fn preflight(url: &str) -> Result<(), RunError> {
    let unreachable = |reason: String| RunError::Unreachable {
        url: url.to_string(),
        reason,
    };
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| unreachable(e.to_string()))?;
    let host = uri
        .host()
        .ok_or_else(|| unreachable("no host in URL".into()))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer within {}",
            humantime::format_duration(CONNECT_TIMEOUT)
        ))),
    }
}

/// p50 and p95 of a metric so far, in its display unit.
fn p50_p95(stats: &StageStats, metric: &Metric) -> Option<(f64, f64)> {
    stats.percentiles(metric).map(|p| (p.p50, p.p95))
}

/// Run a TTS plan to the end (or until `stop`), writing every result file.
/// Returns the result and the folder it was written to.
pub async fn run_tts(
    plan: RunPlan,
    stop: Stop,
    opts: RunOptions,
) -> Result<(RunResult, PathBuf), RunError> {
    preflight(&plan.target.url).await?;
    let out = fresh_dir(&plan.out_dir);
    std::fs::create_dir_all(&out).map_err(|source| RunError::OutDir {
        path: out.clone(),
        source,
    })?;
    let client = HttpClient::new(CONNECT_TIMEOUT);
    let adapter = HttpTts::new(plan.target.clone(), client)?;
    let plan = Arc::new(plan);
    let run_start = Instant::now();
    let jsonl =
        JsonlWriter::create(&out.join("requests.jsonl")).map_err(|source| RunError::OutDir {
            path: out.join("requests.jsonl"),
            source,
        })?;
    let sink = Arc::new(RunSink::new(
        plan.stages.len(),
        &plan.measure.chunk_ks,
        jsonl,
        run_start,
    ));
    let exec = Arc::new(TtsExecutor::new(adapter, plan.clone(), run_start));
    let config = serde_json::to_value(&*plan).unwrap_or(serde_json::Value::Null);
    let mut result = RunResult {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        voxload_version: env!("CARGO_PKG_VERSION").into(),
        name: plan.name.clone(),
        kind: "tts".into(),
        started_at: now_rfc3339(),
        written_at: now_rfc3339(),
        status: RunStatus::InProgress,
        config,
        environment: Environment::current(),
        notes: notes(),
        stages: Vec::new(),
        timeline: Vec::new(),
        slo: Vec::new(),
    };
    let writers = default_writers();
    for (index, spec) in plan.stages.iter().enumerate() {
        if stop.arrivals.is_cancelled() {
            break;
        }
        sink.live.reset();
        let bound = match (spec.requests, spec.duration) {
            (Some(n), _) => StageBound::Requests(n),
            (None, Some(d)) => StageBound::Duration(d),
            (None, None) => StageBound::Requests(0),
        };
        let live_done = CancellationToken::new();
        let progress = {
            let (sink, label, done) = (sink.clone(), spec.label.clone(), live_done.clone());
            let quiet = opts.quiet;
            tokio::spawn(async move { live::show(&*sink, index, &label, bound, quiet, done).await })
        };
        let outcome = run_stage(index, spec, exec.clone(), sink.clone(), &stop).await;
        live_done.cancel();
        let _ = progress.await;
        let stage = stage_result(index, spec, &outcome, &sink);
        result
            .slo
            .extend(plan.slo.iter().map(|slo| slo.evaluate(&stage)));
        result.stages.push(stage);
        result.timeline = sink.with_aggregate(|a| a.timeline.rows());
        result.written_at = now_rfc3339();
        // After every stage, so a crash later keeps the stages done so far.
        crate::report::json::JsonWriter.write_to(&result, &out)?;
    }
    let interrupted = stop.arrivals.is_cancelled();
    result.status = if interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Complete
    };
    let sink = Arc::try_unwrap(sink).ok();
    if let Some(sink) = sink {
        let (aggregate, lines) = sink.finish();
        result.timeline = aggregate.timeline.rows();
        if let Err(e) = lines {
            eprintln!("warning: requests.jsonl may be incomplete: {e}");
        }
    }
    result.written_at = now_rfc3339();
    for w in &writers {
        w.write(&result, &out)?;
    }
    Ok((result, out))
}

fn stage_result(
    index: usize,
    spec: &crate::workload::StageSpec,
    o: &StageOutcome,
    sink: &RunSink,
) -> StageResult {
    let wall = o.finished.saturating_duration_since(o.started);
    let (stats, summary) = sink.with_aggregate(|a| {
        let stats = a
            .stages
            .get(index)
            .cloned()
            .unwrap_or_else(|| crate::metrics::stats::StageStats::new(&[]));
        let summary = stats.summary(wall);
        (stats, summary)
    });
    let offered_rps = match spec.workload {
        Workload::Open { .. } => {
            let arrivals = o.issued + o.dropped;
            let window = o
                .arrivals_ended
                .saturating_duration_since(o.started)
                .as_secs_f64();
            // n arrivals starting at offset 0 span n − 1 gaps.
            (arrivals > 1 && window > 0.0).then(|| (arrivals - 1) as f64 / window)
        }
        Workload::Closed { .. } => None,
    };
    StageResult {
        index,
        label: spec.label.clone(),
        workload: spec.workload.clone(),
        issued: o.issued,
        offered_rps,
        wall_s: wall.as_secs_f64(),
        interrupted: o.interrupted,
        summary,
        stats,
    }
}
