//! The protocol-agnostic part of a run: results folder, sink, stages in
//! order through the one driver, live progress, SLOs, and the result files.
//! Protocol runners ([`super::run_tts`], [`super::run_asr`]) only build an
//! executor and the config to record.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::jsonl::JsonlWriter;
use super::sink::RunSink;
use super::{RunError, RunOptions};
use crate::metrics::metric::Metric;
use crate::metrics::slo::Slo;
use crate::metrics::stats::StageStats;
use crate::report::live::{self, LiveSnapshot, LiveSource, StageBound};
use crate::report::result::{Environment, SCHEMA, SCHEMA_VERSION};
use crate::report::{default_writers, RunResult, RunStatus, StageResult};
use crate::workload::{run_stage, Executor, StageOutcome, StageSpec, Stop, Workload};

/// What the engine needs to know about a run, whatever the protocol.
pub struct RunFrame<'a> {
    /// Run name.
    pub name: &'a str,
    /// `tts`, `asr`, …
    pub kind: &'a str,
    /// The stages, in order.
    pub stages: &'a [StageSpec],
    /// Thresholds evaluated after each stage.
    pub slo: &'a [Slo],
    /// Chunk numbers that get histograms.
    pub chunk_ks: &'a [u32],
    /// The plan, serialized with secrets redacted.
    pub config: serde_json::Value,
    /// Definitions stated in the result.
    pub notes: Vec<String>,
}

/// A results folder opened for writing, with its sink and clock.
pub struct Session {
    /// The folder results go to.
    pub out: PathBuf,
    /// Where records go.
    pub sink: Arc<RunSink>,
    /// Origin of `start_us`/`end_us` in records.
    pub run_start: Instant,
}

impl Session {
    /// Create a fresh results folder under `out_dir` (never overwriting one)
    /// and open `requests.jsonl`.
    pub fn open(out_dir: &Path, stages: usize, chunk_ks: &[u32]) -> Result<Self, RunError> {
        let out = fresh_dir(out_dir);
        std::fs::create_dir_all(&out).map_err(|source| RunError::OutDir {
            path: out.clone(),
            source,
        })?;
        let path = out.join("requests.jsonl");
        let jsonl =
            JsonlWriter::create(&path).map_err(|source| RunError::OutDir { path, source })?;
        let run_start = Instant::now();
        let sink = Arc::new(RunSink::new(stages, chunk_ks, jsonl, run_start));
        Ok(Self {
            out,
            sink,
            run_start,
        })
    }
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
        let (first_ms, e2e_ms) = self.with_aggregate(|agg| {
            agg.stages
                .get(stage)
                .map(|s| {
                    // The first latency a run of this kind has: TTFA (TTS) or
                    // the agent's first audio; else e2e (ASR).
                    let first = [
                        ("ttfa", Metric::Ttfa),
                        ("first audio", Metric::AgentFirstAudio),
                    ]
                    .into_iter()
                    .find_map(|(name, m)| p50_p95(s, &m).map(|(a, b)| (name, a, b)));
                    (first, p50_p95(s, &Metric::E2e))
                })
                .unwrap_or_default()
        });
        LiveSnapshot {
            done: self.live.done.load(Relaxed),
            parts: self.live.parts.load(Relaxed),
            failed: self.live.failed.load(Relaxed),
            dropped: self.live.dropped.load(Relaxed),
            first_ms,
            e2e_ms,
        }
    }
}

/// p50 and p95 of a metric so far, in its display unit.
fn p50_p95(stats: &StageStats, metric: &Metric) -> Option<(f64, f64)> {
    stats.percentiles(metric).map(|p| (p.p50, p.p95))
}

/// Run every stage of `frame` through `exec`, writing results as they come.
pub async fn drive<E: Executor>(
    frame: RunFrame<'_>,
    session: Session,
    exec: Arc<E>,
    stop: Stop,
    opts: RunOptions,
) -> Result<(RunResult, PathBuf), RunError> {
    let Session { out, sink, .. } = session;
    let mut result = RunResult {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        voxload_version: env!("CARGO_PKG_VERSION").into(),
        name: frame.name.to_string(),
        kind: frame.kind.to_string(),
        started_at: now_rfc3339(),
        written_at: now_rfc3339(),
        status: RunStatus::InProgress,
        config: frame.config,
        environment: Environment::current(),
        notes: frame.notes,
        stages: Vec::new(),
        timeline: Vec::new(),
        slo: Vec::new(),
    };
    let backstop_done = CancellationToken::new();
    let backstop = {
        let (sink, done) = (sink.clone(), backstop_done.clone());
        tokio::spawn(async move { flush_every(super::jsonl::BACKSTOP, &sink, done).await })
    };
    // Ends the flusher however this function returns.
    let _backstop_guard = backstop_done.clone().drop_guard();
    for (index, spec) in frame.stages.iter().enumerate() {
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
        sink.flush_jsonl();
        let stage = stage_result(index, spec, &outcome, &sink);
        result
            .slo
            .extend(frame.slo.iter().map(|slo| slo.evaluate(&stage)));
        result.stages.push(stage);
        result.timeline = sink.with_aggregate(|a| a.timeline.rows());
        result.written_at = now_rfc3339();
        // After every stage, so a crash later keeps the stages done so far.
        crate::report::json::JsonWriter.write_to(&result, &out)?;
    }
    result.status = if stop.arrivals.is_cancelled() {
        RunStatus::Interrupted
    } else {
        RunStatus::Complete
    };
    drop(exec);
    backstop_done.cancel();
    let _ = backstop.await;
    if let Ok(sink) = Arc::try_unwrap(sink) {
        let (aggregate, lines) = sink.finish();
        result.timeline = aggregate.timeline.rows();
        if let Err(e) = lines {
            eprintln!("warning: requests.jsonl may be incomplete: {e}");
        }
    }
    result.written_at = now_rfc3339();
    for w in &default_writers() {
        w.write(&result, &out)?;
    }
    Ok((result, out))
}

/// Write pending `requests.jsonl` lines every `period` until `done`, so a
/// line waits at most that long even when no worker goes idle.
async fn flush_every(period: std::time::Duration, sink: &RunSink, done: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => sink.flush_jsonl(),
            () = done.cancelled() => return,
        }
    }
}

fn stage_result(index: usize, spec: &StageSpec, o: &StageOutcome, sink: &RunSink) -> StageResult {
    let wall = o.finished.saturating_duration_since(o.started);
    let (stats, summary) = sink.with_aggregate(|a| {
        let stats = a
            .stages
            .get(index)
            .cloned()
            .unwrap_or_else(|| StageStats::new(&[]));
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
