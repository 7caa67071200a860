//! The protocol-agnostic part of a run: results folder, sink, stages in
//! order — every scenario's stage through the one driver at the same time —
//! live progress, SLOs, and the result files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::executor::AnyExecutor;
use super::jsonl::JsonlWriter;
use super::live::LiveRun;
use super::sink::{RunSink, ScenarioMeta, ScenarioSink};
use super::{host, RunError, RunOptions};
use crate::metrics::generator::GeneratorCpu;
use crate::metrics::metric::Metric;
use crate::metrics::saturation;
use crate::metrics::slo::{evaluate_all, Slo};
use crate::metrics::stats::StageStats;
use crate::metrics::timeline::TimelineRow;
use crate::protocol::Kind;
use crate::report::default_writers;
use crate::report::live::StageBound;
use crate::report::live_table;
use crate::result::{
    Environment, RunKind, RunResult, RunStatus, ScenarioInfo, StageResult, Windows,
};
use crate::result::{SCHEMA, SCHEMA_VERSION};
use crate::units::micros;
use crate::workload::{StageOutcome, StageSpec, Stop, Workload};

/// What the engine needs to know about a run, whatever its protocols.
pub struct RunFrame {
    /// Run name.
    pub name: String,
    /// What the run tests.
    pub kind: RunKind,
    /// Sweeps: the best level keeps at least this success rate.
    pub min_success: f64,
    /// Seed of the run.
    pub seed: u64,
    /// The scenarios as results show them.
    pub scenarios: Vec<ScenarioInfo>,
    /// Thresholds evaluated after each stage.
    pub slo: Vec<Slo>,
    /// The plan, serialized with secrets redacted.
    pub config: serde_json::Value,
    /// Definitions stated in the result.
    pub notes: Vec<String>,
    /// The shard of a sharded run this process is.
    pub shard: Option<crate::result::ShardInfo>,
}

/// Where a run's stages come from: the plan's fixed list, or a search that
/// chooses each stage from the results of the ones before (capacity).
pub trait StageSource: Send {
    /// Every scenario's spec of stage `index` (in plan order), given the
    /// result so far; `None` ends the run.
    fn next(&mut self, index: usize, so_far: &RunResult) -> Option<Vec<StageSpec>>;

    /// Stage `index` has ended (perhaps interrupted) and is in `result`:
    /// add what the source learned, before `result.json` is written, so a
    /// crash later keeps it.
    fn after_stage(&mut self, _index: usize, _result: &mut RunResult) {}

    /// The run is over: add what the source learned to the result (once,
    /// before the result files are written).
    fn finish(&mut self, _result: &mut RunResult) {}

    /// What must happen before stage `index` starts: idle time that lets
    /// the target release what the stage before held (or go cold), a
    /// command that scales it, a wait until it is ready. An error ends the
    /// run there, with the stages so far written (the source says why in
    /// its own part of the result).
    fn before_stage(&mut self, _index: usize) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The plan's stages: per scenario, its list (all of equal length),
/// served in order.
#[derive(Clone)]
pub struct FixedStages {
    /// Per scenario, its stages.
    pub stages: Vec<Vec<StageSpec>>,
    /// End at the first stage marked saturated (`--stop-on-saturation`).
    pub stop_on_saturation: bool,
    /// Stages served so far (the next one's position in the lists).
    served: usize,
    /// The run's index of the first stage served (a scaling test serves
    /// the lists again at each count; saturation ends only its own sweep).
    first: Option<usize>,
}

impl FixedStages {
    /// The plan's stages, from the first.
    pub fn new(stages: Vec<Vec<StageSpec>>, stop_on_saturation: bool) -> Self {
        Self {
            stages,
            stop_on_saturation,
            served: 0,
            first: None,
        }
    }

    /// Every scenario's stage at position `at` of the lists, unless a
    /// saturated stage of `so_far` from index `since` on ends the sweep.
    pub fn at(&self, at: usize, so_far: &RunResult, since: usize) -> Option<Vec<StageSpec>> {
        let saturated = so_far
            .stages
            .iter()
            .any(|s| s.index >= since && s.saturated.is_some());
        if self.stop_on_saturation && saturated {
            return None;
        }
        let specs: Vec<StageSpec> = self
            .stages
            .iter()
            .filter_map(|s| s.get(at).cloned())
            .collect();
        (!specs.is_empty() && specs.len() == self.stages.len()).then_some(specs)
    }
}

impl StageSource for FixedStages {
    /// The next stage in the lists, whatever the run's stage index (a
    /// scaling test runs the lists again at each worker count).
    fn next(&mut self, index: usize, so_far: &RunResult) -> Option<Vec<StageSpec>> {
        let since = *self.first.get_or_insert(index);
        let specs = self.at(self.served, so_far, since)?;
        self.served += 1;
        Some(specs)
    }
}

/// A results folder opened for writing, with its sink and clock.
pub struct Session {
    /// The folder results go to.
    pub out: PathBuf,
    /// Where records go.
    pub sink: Arc<RunSink>,
    /// Origin of `start_us`/`end_us` in records.
    pub run_start: Instant,
    /// The same instant on the wall clock, µs since the Unix epoch.
    pub epoch_us: u64,
}

impl Session {
    /// Create a fresh results folder under `out_dir` (never overwriting one)
    /// and open `requests.jsonl` for run `info`; `scenarios` and `goodput`
    /// have one entry per scenario; requests after `cold_after` of idle
    /// time are cold. The run clock's zero is now, or `start` (the shards
    /// of a run share it, so their records and seconds line up exactly).
    pub fn open(
        info: crate::metrics::live::RunInfo,
        out_dir: &Path,
        stages: usize,
        scenarios: &[ScenarioMeta],
        goodput: Vec<Vec<crate::metrics::goodput::Criterion>>,
        cold_after: std::time::Duration,
        start: Option<SystemTime>,
    ) -> Result<Self, RunError> {
        let out = fresh_dir(out_dir);
        std::fs::create_dir_all(&out).map_err(|source| RunError::OutDir {
            path: out.clone(),
            source,
        })?;
        let path = out.join("requests.jsonl");
        let jsonl =
            JsonlWriter::create(&path).map_err(|source| RunError::OutDir { path, source })?;
        let (now, wall) = (Instant::now(), SystemTime::now());
        let (run_start, epoch) = match start {
            Some(t) => {
                let at = match t.duration_since(wall) {
                    Ok(ahead) => now + ahead,
                    Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
                };
                (at, t)
            }
            None => (now, wall),
        };
        let epoch_us = epoch.duration_since(UNIX_EPOCH).map_or(0, micros);
        let sink = Arc::new(RunSink::new(
            info, stages, scenarios, goodput, cold_after, jsonl, run_start,
        ));
        Ok(Self {
            out,
            sink,
            run_start,
            epoch_us,
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

/// How a stage ends, for the progress bar: the requests of every scenario
/// if all are counted, else the longest duration.
fn stage_bound(specs: &[&StageSpec]) -> StageBound {
    let counted: Option<u64> = specs.iter().map(|s| s.requests).sum();
    match counted {
        Some(n) => StageBound::Requests(n),
        None => specs
            .iter()
            .filter_map(|s| s.duration)
            .max()
            .map_or(StageBound::Requests(0), StageBound::Duration),
    }
}

/// The label the progress bar shows: the scenarios' common label, else
/// `stage N`.
fn stage_label(specs: &[&StageSpec], index: usize) -> String {
    match specs.split_first() {
        Some((first, rest)) if rest.iter().all(|s| s.label == first.label) => first.label.clone(),
        _ => format!("stage {}", index + 1),
    }
}

/// What runs beside a run's stages, for the whole run.
pub struct Beside {
    /// Scrapes of the target's own metrics (`--scrape`).
    pub scrapes: super::scrape::Scrapes,
    /// The live dashboard (`--web`), bound.
    pub web: Option<super::web::Bound>,
}

/// Run every stage of `frame` through `scenarios` (each scenario's
/// executor, in plan order), writing results as they come.
pub async fn drive(
    frame: RunFrame,
    source: &mut dyn StageSource,
    session: Session,
    scenarios: Vec<AnyExecutor<ScenarioSink>>,
    beside: Beside,
    stop: Stop,
    opts: RunOptions,
) -> Result<(RunResult, PathBuf), RunError> {
    let Beside { mut scrapes, web } = beside;
    let Session {
        out,
        sink,
        epoch_us,
        ..
    } = session;
    let mixed = frame.scenarios.len() > 1;
    let tags: Vec<(Option<String>, Kind)> = frame
        .scenarios
        .iter()
        .map(|s| (s.name.clone().filter(|_| mixed), s.kind))
        .collect();
    let mut result = RunResult {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        voxload_version: env!("CARGO_PKG_VERSION").into(),
        name: frame.name.clone(),
        kind: frame.kind,
        started_at: now_rfc3339(),
        written_at: now_rfc3339(),
        status: RunStatus::InProgress,
        epoch_us,
        min_success: frame.min_success,
        seed: Some(frame.seed),
        scenarios: frame.scenarios.clone(),
        config: frame.config.clone(),
        environment: Environment::current(),
        notes: frame.notes.clone(),
        stages: Vec::new(),
        timeline: Vec::new(),
        windows: Vec::new(),
        slo: Vec::new(),
        capacity: None,
        cold_start: None,
        scale: None,
        shard: frame.shard.clone(),
        merged_from: None,
        target_metrics: Vec::new(),
        warnings: Vec::new(),
    };
    let backstop_done = CancellationToken::new();
    let backstop = {
        let (sink, done) = (sink.clone(), backstop_done.clone());
        tokio::spawn(async move { flush_every(super::jsonl::BACKSTOP, &sink, done).await })
    };
    // Ends the flusher however this function returns.
    let _backstop_guard = backstop_done.clone().drop_guard();
    // What the live views read: the terminal's table, the dashboard.
    let live = Arc::new(LiveRun::new(&frame.name, &tags, sink.clone(), stop.clone()));
    let sampler_done = CancellationToken::new();
    let _sampler_guard = sampler_done.clone().drop_guard();
    let sampler = tokio::spawn(live.clone().sample(sampler_done.clone()));
    let server = web.map(|w| w.serve(live.clone(), stop.clone()));
    for index in 0.. {
        if stop.arrivals.is_cancelled() {
            break;
        }
        let Some(specs) = source.next(index, &result) else {
            break;
        };
        let prepared = tokio::select! {
            r = source.before_stage(index) => r,
            () = stop.arrivals.cancelled() => break,
        };
        if let Err(why) = prepared {
            eprintln!("the run ends before stage {}: {why}", index + 1);
            break;
        }
        let specs: Vec<&StageSpec> = specs.iter().collect();
        sink.begin_stage(index, specs.iter().map(|s| s.label.clone()).collect());
        sink.open_stage(index);
        live.begin_stage(index, stage_label(&specs, index), stage_bound(&specs));
        let live_done = CancellationToken::new();
        let progress = {
            let (live, done, quiet) = (live.clone(), live_done.clone(), opts.quiet);
            tokio::spawn(async move { live_table::show(&*live, quiet, done).await })
        };
        // Every scenario's stage at once, each in its own task.
        let (cpu_start, stage_start) = (host::process_cpu_s(), Instant::now());
        let running: Vec<_> = scenarios
            .iter()
            .zip(&specs)
            .map(|(exec, spec)| exec.spawn_stage(index, (*spec).clone(), stop.clone()))
            .collect();
        let joined = async {
            let mut outcomes = Vec::with_capacity(running.len());
            for task in running {
                outcomes.push(task.await.map_err(|e| RunError::Internal(e.to_string()))?);
            }
            Ok::<_, RunError>(outcomes)
        };
        // A second Ctrl-C: the stage ends here with what it measured, its
        // requests still running are left behind, and the results are
        // written as usual before the process exits.
        let outcomes = tokio::select! {
            outcomes = joined => outcomes?,
            () = stop.exit.cancelled() => {
                let now = Instant::now();
                let cut = |i: usize| {
                    let issued = sink.with_aggregate(|a| {
                        a.stage(index, i).map_or(0, |s| s.counters.requests + s.counters.warmup)
                    });
                    StageOutcome {
                        started: stage_start,
                        arrivals_ended: now,
                        finished: now,
                        issued,
                        dropped: 0,
                        interrupted: true,
                    }
                };
                (0..specs.len()).map(cut).collect()
            }
        };
        live_done.cancel();
        let _ = progress.await;
        sink.flush_jsonl();
        let cpu = GeneratorCpu::new(
            host::process_cpu_s() - cpu_start,
            stage_start.elapsed().as_secs_f64(),
            host::usable_cores(),
        );
        // The stage's judge requests (--judge-asr), after its wall time and
        // CPU were read, so their wait counts in neither; abandoned with
        // the requests in flight (SIGTERM, the end of the grace, Ctrl-C twice).
        let cut = async {
            tokio::select! {
                () = stop.abort.cancelled() => {}
                () = stop.exit.cancelled() => {}
            }
        };
        sink.settle_judges(index, cut).await;
        let first = result.stages.len();
        for (j, (outcome, spec)) in outcomes.iter().zip(&specs).enumerate() {
            let (tag, kind) = tags[j].clone();
            let before = result.stages.iter().rev().find(|p| p.scenario == tag);
            let stage = stage_result(index, j, tag, kind, spec, outcome, cpu, &sink, before);
            result.stages.push(stage);
        }
        let views = result.stages[first..]
            .iter()
            .zip(&tags)
            .map(|(s, (_, kind))| s.view(Some(*kind)));
        let verdicts = evaluate_all(&frame.slo, views);
        result.slo.extend(verdicts);
        source.after_stage(index, &mut result);
        (result.timeline, result.windows) = timeline(&sink, &tags);
        result.target_metrics = scrapes.snapshot();
        result.written_at = now_rfc3339();
        // After every stage, so a crash later keeps the stages done so far.
        crate::report::json::JsonWriter.write_to(&result, &out)?;
    }
    result.status = if stop.arrivals.is_cancelled() {
        RunStatus::Interrupted
    } else {
        RunStatus::Complete
    };
    // The target's metrics end with the stages.
    result.target_metrics = scrapes.finish().await;
    for (exec, (tag, _)) in scenarios.iter().zip(&tags) {
        for w in exec.warnings() {
            let w = match tag {
                Some(name) => format!("{name}: {w}"),
                None => w,
            };
            if !result.warnings.contains(&w) {
                result.warnings.push(w);
            }
        }
    }
    drop(scenarios);
    sink.end_live();
    source.finish(&mut result);
    backstop_done.cancel();
    let _ = backstop.await;
    (result.timeline, result.windows) = timeline(&sink, &tags);
    sampler_done.cancel();
    let _ = sampler.await;
    live.finish();
    match Arc::try_unwrap(sink) {
        Ok(sink) => {
            if let Err(e) = sink.finish().1 {
                eprintln!("warning: requests.jsonl may be incomplete: {e}");
            }
        }
        // A request task still holds it (abandoned at Ctrl-C): write what is pending.
        Err(sink) => sink.flush_jsonl(),
    }
    result.written_at = now_rfc3339();
    for w in &default_writers() {
        w.write(&result, &out)?;
    }
    live.written(result.status, &out);
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(server) = server {
        server.linger(&stop).await;
    }
    Ok((result, out))
}

/// Every scenario's timeline: its rows, each naming its scenario in a run
/// of several, and its windows with their histograms.
fn timeline(sink: &RunSink, tags: &[(Option<String>, Kind)]) -> (Vec<TimelineRow>, Vec<Windows>) {
    sink.with_aggregate(|a| {
        let mut rows = Vec::new();
        let mut windows = Vec::new();
        for (t, (name, _)) in a.timelines.iter().zip(tags) {
            rows.extend(t.rows().into_iter().map(|mut r| {
                r.scenario.clone_from(name);
                r
            }));
            windows.push(Windows {
                scenario: name.clone(),
                seconds: t.clone(),
            });
        }
        (rows, windows)
    })
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

/// The result of stage `index` of scenario `scenario`; `before` is the
/// scenario's previous stage (closed-loop saturation compares with it).
#[allow(clippy::too_many_arguments)]
fn stage_result(
    index: usize,
    scenario: usize,
    tag: Option<String>,
    kind: Kind,
    spec: &StageSpec,
    o: &StageOutcome,
    cpu: GeneratorCpu,
    sink: &RunSink,
    before: Option<&StageResult>,
) -> StageResult {
    let wall = o.finished.saturating_duration_since(o.started);
    let (stats, mut summary) = sink.with_aggregate(|a| {
        let stats = a
            .stage(index, scenario)
            .cloned()
            .unwrap_or_else(|| StageStats::new(&[]));
        let summary = stats.summary(wall);
        (stats, summary)
    });
    summary.generator_cpu = Some(cpu);
    let warnings = summary.generator_warnings();
    let offered_rps = match spec.workload {
        Workload::Open { rate, phase, .. } => {
            let arrivals = o.issued + o.dropped;
            // The window opens at the first arrival: `phase` of a gap in.
            let window = o
                .arrivals_ended
                .saturating_duration_since(o.started)
                .as_secs_f64()
                - phase / rate;
            // n arrivals starting at offset 0 span n − 1 gaps.
            (arrivals > 1 && window > 0.0).then(|| (arrivals - 1) as f64 / window)
        }
        Workload::Closed { .. } => None,
    };
    let saturated = match offered_rps {
        Some(offered) => open_saturation(offered, o, &summary, sink, scenario),
        None => before.and_then(|b| closed_saturation(b, &spec.workload, &summary, kind)),
    };
    StageResult {
        index,
        label: spec.label.clone(),
        scenario: tag,
        workload: spec.workload.clone(),
        issued: o.issued,
        offered_rps,
        wall_s: wall.as_secs_f64(),
        interrupted: o.interrupted,
        summary,
        stats,
        warnings,
        saturated,
    }
}

/// Open loop: the completions of the whole seconds of the arrival
/// window's second half, when a target that keeps up completes as fast
/// as requests arrive. Requests slower than half the window even at
/// their fastest leave nothing to read.
fn open_saturation(
    offered: f64,
    o: &StageOutcome,
    summary: &crate::metrics::StageSummary,
    sink: &RunSink,
    scenario: usize,
) -> Option<String> {
    let (start, end) = (sink.offset(o.started), sink.offset(o.arrivals_ended));
    let half = (end - start) / 2;
    let fastest_ms = [Metric::E2e, Metric::Turn]
        .iter()
        .find_map(|m| summary.metrics.get(&m.name()).map(|p| p.min))?;
    if fastest_ms / 1e3 > half.as_secs_f64() {
        return None;
    }
    let from = (start + half).as_secs_f64().ceil() as u64;
    let to = end.as_secs();
    let completed = sink.with_aggregate(|a| {
        a.timelines
            .get(scenario)
            .map_or(0, |t| t.completed_between(from, to))
    });
    saturation::open_loop(offered, completed, to.saturating_sub(from))
}

/// Closed loop: this stage (`workload`, `summary`) against the previous
/// one of its scenario.
fn closed_saturation(
    before: &StageResult,
    workload: &Workload,
    summary: &crate::metrics::StageSummary,
    kind: Kind,
) -> Option<String> {
    let (metric, what) = crate::metrics::registry::live_metric(kind);
    let level = |workload: &Workload, summary: &crate::metrics::StageSummary| match workload {
        Workload::Closed { concurrency, .. } => Some(saturation::ClosedLevel {
            users: *concurrency,
            rps: summary.achieved_rps,
            p50_ms: summary.metrics.get(&metric.name())?.p50,
        }),
        Workload::Open { .. } => None,
    };
    saturation::closed_loop(
        level(&before.workload, &before.summary)?,
        level(workload, summary)?,
        what,
    )
}
