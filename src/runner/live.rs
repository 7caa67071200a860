//! The run's one live source, which the terminal table and the web
//! dashboard both read: the sink's counters and windows now, the stage
//! running, and a row per whole second of the run per scenario.
//!
//! A sampler wakes just after each run-clock second ends and turns it into
//! a row: arrivals and drops from the sink's per-scenario atomics, counted
//! by second (so arrivals are placed by their time origin, as the
//! timeline's `started`), failures by class from the stage statistics
//! (differences since the last row), and completions and p50/p95 from the
//! timeline's own second (so they equal `result.json`'s timeline rows). Nothing here
//! runs on a request's path; the sampler and the views take the sink's
//! lock as briefly as its writers do.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::host;
use super::sink::RunSink;
use crate::metrics::generator::GeneratorCpu;
use crate::metrics::metric::Metric;
use crate::metrics::registry::live_metric;
use crate::metrics::stats::{ErrorRow, StageCounters, StageStats};
use crate::protocol::{ErrorKind, Kind};
use crate::report::live::{
    ErrorCount, LiveSecond, LiveSnapshot, LiveSource, LiveStage, RunState, ScenarioLive,
    StageBound, LIVE_VERSION,
};
use crate::result::RunStatus;
use crate::workload::Stop;

/// How far back the live rates and latencies reach: the last seconds, so
/// they show the server now, not the stage's average.
pub const LIVE_WINDOW_S: u64 = 10;

/// Per-second rows kept per scenario (15 minutes): the charts' reach, and
/// a bound on memory however long the run.
pub const HISTORY_S: usize = 900;

/// How long after a second ends its row is taken: records of requests
/// that ended just before reach the sink in microseconds.
const SAMPLE_AFTER: Duration = Duration::from_millis(50);

/// A stage starting this close after a second began counts that second
/// as its own for the rates.
const WHOLE_ENOUGH: Duration = Duration::from_millis(50);

/// One scenario's second, read under the sink's lock: records ended in
/// it, their p50 and p95, and the run's failures by class so far.
type Measured = (u64, Option<(f64, f64)>, BTreeMap<ErrorKind, u64>);

/// A scenario as the views name it.
struct Tag {
    name: String,
    kind: Kind,
    metric: Metric,
    label: &'static str,
}

/// The stage running.
struct StageNow {
    index: usize,
    label: String,
    bound: StageBound,
    started: Instant,
    /// The run-clock second it began in.
    since: u64,
    /// The first second the rates count (the first it fills, near enough).
    first_whole: u64,
    /// Requests finished in the run before it (every scenario's).
    ended_before: u64,
}

#[derive(Default)]
struct State {
    stage: Option<StageNow>,
    rows: Vec<VecDeque<LiveSecond>>,
    /// Per scenario, the run's failures by class at the last row.
    last: Vec<BTreeMap<ErrorKind, u64>>,
    /// The first second without a row.
    next_second: u64,
    /// The generator's CPU share over the last second.
    cpu: Option<f64>,
    /// CPU seconds at the last row, and when.
    cpu_mark: Option<(Instant, f64)>,
    /// Once the run is over: its last snapshot, with every row.
    finished: Option<LiveSnapshot>,
}

/// The live state of one run.
pub struct LiveRun {
    name: String,
    tags: Vec<Tag>,
    mixed: bool,
    stop: Stop,
    run_start: Instant,
    /// The sink, until the run is over (then the last snapshot stands, and
    /// the engine may take the sink back to close `requests.jsonl`).
    sink: Mutex<Option<Arc<RunSink>>>,
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LiveRun {
    /// The live state of run `name`, whose scenarios are `scenarios`
    /// (each with its name in a run of several, and its protocol).
    pub fn new(
        name: &str,
        scenarios: &[(Option<String>, Kind)],
        sink: Arc<RunSink>,
        stop: Stop,
    ) -> Self {
        let tags: Vec<Tag> = scenarios
            .iter()
            .map(|(name, kind)| {
                let (metric, label) = live_metric(*kind);
                Tag {
                    name: name
                        .clone()
                        .unwrap_or_else(|| kind.service().name().to_string()),
                    kind: *kind,
                    metric,
                    label,
                }
            })
            .collect();
        let state = State {
            rows: tags.iter().map(|_| VecDeque::new()).collect(),
            last: vec![BTreeMap::new(); tags.len()],
            next_second: sink.run_second(),
            cpu_mark: Some((Instant::now(), host::process_cpu_s())),
            ..State::default()
        };
        Self {
            name: name.to_string(),
            mixed: tags.len() > 1,
            tags,
            stop,
            run_start: sink.run_start(),
            sink: Mutex::new(Some(sink)),
            state: Mutex::new(state),
        }
    }

    fn sink(&self) -> Option<Arc<RunSink>> {
        lock(&self.sink).clone()
    }

    /// Stage `index` begins now.
    pub fn begin_stage(&self, index: usize, label: String, bound: StageBound) {
        let Some(sink) = self.sink() else { return };
        let started = Instant::now();
        let offset = sink.offset(started);
        let since = offset.as_secs();
        let into = offset - Duration::from_secs(since);
        let ended_before = sink
            .scenario_live
            .iter()
            .map(|c| c.ended.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        lock(&self.state).stage = Some(StageNow {
            index,
            label,
            bound,
            started,
            since,
            first_whole: if into < WHOLE_ENOUGH {
                since
            } else {
                since + 1
            },
            ended_before,
        });
    }

    /// Take a row after every run-clock second until `done`, a moment
    /// after it ends: its records are placed by the instant they ended
    /// and reach the sink just after.
    pub async fn sample(self: Arc<Self>, done: CancellationToken) {
        loop {
            let next = lock(&self.state).next_second;
            let at = self.run_start + Duration::from_secs(next + 1) + SAMPLE_AFTER;
            tokio::select! {
                () = tokio::time::sleep_until(at.into()) => {}
                () = done.cancelled() => return,
            }
            let Some(sink) = self.sink() else { return };
            let mut st = lock(&self.state);
            self.rows_until(&sink, &mut st, next + 1);
        }
    }

    /// Rows for every second before `end` without one.
    fn rows_until(&self, sink: &RunSink, st: &mut State, end: u64) {
        if st.next_second >= end {
            return;
        }
        while st.next_second < end {
            let second = st.next_second;
            self.row(sink, st, second);
            st.next_second += 1;
        }
        let (now, cpu) = (Instant::now(), host::process_cpu_s());
        if let Some((at, was)) = st.cpu_mark {
            let wall = now.saturating_duration_since(at).as_secs_f64();
            st.cpu = (wall > 0.05)
                .then(|| GeneratorCpu::new(cpu - was, wall, host::usable_cores()).share);
        }
        st.cpu_mark = Some((now, cpu));
    }

    /// Second `second`'s row of every scenario.
    fn row(&self, sink: &RunSink, st: &mut State, second: u64) {
        let stage = st.stage.as_ref().map_or(0, |s| s.index);
        let measured: Vec<Measured> = sink.with_aggregate(|agg| {
            self.tags
                .iter()
                .enumerate()
                .map(|(j, tag)| {
                    let mut errors: BTreeMap<ErrorKind, u64> = BTreeMap::new();
                    for stats in agg.stats.iter().filter_map(|s| s.get(j)) {
                        for (kind, e) in &stats.errors {
                            *errors.entry(*kind).or_default() += e.count;
                        }
                    }
                    let timeline = agg.timelines.get(j);
                    let achieved = timeline.map_or(0, |t| t.completed_between(second, second + 1));
                    let latency = timeline.and_then(|t| t.window(tag.metric, second, second));
                    (achieved, latency, errors)
                })
                .collect()
        });
        for (j, (achieved, latency, errors)) in measured.into_iter().enumerate() {
            let Some(counters) = sink.scenario_live.get(j) else {
                continue;
            };
            let (offered, dropped) = counters.take_second(second);
            let last = &st.last[j];
            let new_errors: BTreeMap<String, u64> = errors
                .iter()
                .filter_map(|(kind, n)| {
                    let d = n.saturating_sub(last.get(kind).copied().unwrap_or(0));
                    (d > 0).then(|| (kind.label(), d))
                })
                .collect();
            let row = LiveSecond {
                second,
                stage,
                offered,
                achieved,
                failed: new_errors.values().sum(),
                dropped,
                errors: new_errors,
                p50_ms: latency.map(|l| l.0),
                p95_ms: latency.map(|l| l.1),
            };
            let rows = &mut st.rows[j];
            rows.push_back(row);
            if rows.len() > HISTORY_S {
                rows.pop_front();
            }
            st.last[j] = errors;
        }
    }

    /// No request runs any more: the last rows (the current second's,
    /// partial, as the saved timeline has it) are taken, the last snapshot
    /// is kept for the views that still ask, and the sink is let go.
    pub fn finish(&self) {
        let Some(sink) = self.sink() else { return };
        {
            let mut st = lock(&self.state);
            self.rows_until(&sink, &mut st, sink.run_second() + 1);
        }
        let mut last = self.now(&sink, Some(0));
        last.state = RunState::Finished;
        lock(&self.state).finished = Some(last);
        *lock(&self.sink) = None;
    }

    /// The result files are written, in `out`, with `status`.
    pub fn written(&self, status: RunStatus, out: &Path) {
        if let Some(last) = lock(&self.state).finished.as_mut() {
            last.status = Some(status);
            last.results = Some(out.display().to_string());
        }
    }

    /// The snapshot now, from `sink`.
    fn now(&self, sink: &RunSink, seconds_from: Option<u64>) -> LiveSnapshot {
        let now_s = sink.run_second();
        let kept = self.kept(sink, seconds_from);
        // The latency window: the stage's last seconds, the current one included.
        let from = kept.since.max(now_s.saturating_sub(LIVE_WINDOW_S - 1));
        let (measured, down_since_us) = sink.with_aggregate(|agg| {
            let stage = agg.stats.get(kept.stage_index);
            let down = stage.and_then(|s| s.iter().filter_map(|s| s.outages.down_since_us()).min());
            let measured: Vec<StageSoFar> = (self.tags.iter().enumerate())
                .map(|(j, tag)| {
                    let stats = stage.and_then(|s| s.get(j));
                    StageSoFar {
                        counters: stats.map(|s| s.counters.clone()).unwrap_or_default(),
                        errors: stats.map(StageStats::error_rows).unwrap_or_default(),
                        latency: (agg.timelines.get(j))
                            .and_then(|t| t.window(tag.metric, from, now_s)),
                    }
                })
                .collect();
            (measured, down)
        });
        let scenarios = (self.tags.iter().zip(measured).zip(kept.scenarios))
            .zip(&sink.scenario_live)
            .map(|(((tag, m), k), counters)| ScenarioLive {
                name: tag.name.clone(),
                kind: tag.kind,
                metric: tag.metric.name(),
                metric_label: tag.label.to_string(),
                unit: match tag.kind {
                    Kind::WsAgent | Kind::RtcAgent => "turn",
                    Kind::HttpTts | Kind::HttpAsr | Kind::WsAsr | Kind::WsTts => "request",
                },
                requests: m.counters.requests,
                ok: m.counters.ok,
                failed: m.counters.failed,
                dropped: m.counters.dropped,
                warmup: m.counters.warmup,
                in_flight: counters.in_flight(),
                offered_rps: k.rates.offered,
                achieved_rps: k.rates.achieved,
                window_s: k.rates.seconds,
                p50_ms: m.latency.map(|l| l.0),
                p95_ms: m.latency.map(|l| l.1),
                errors: (m.errors.into_iter())
                    .map(|e| ErrorCount {
                        class: e.label,
                        count: e.count,
                    })
                    .collect(),
                seconds: k.rows,
            })
            .collect();
        LiveSnapshot {
            version: LIVE_VERSION,
            run: self.name.clone(),
            state: if self.stop.arrivals.is_cancelled() {
                RunState::Stopping
            } else {
                RunState::Running
            },
            status: None,
            results: None,
            elapsed_s: Instant::now()
                .saturating_duration_since(self.run_start)
                .as_secs_f64(),
            stage: kept.stage,
            down_since_s: down_since_us.map(|us| us as f64 / 1e6),
            generator_cpu: kept.cpu,
            mixed: self.mixed,
            scenarios,
        }
    }

    /// What the sampler kept that a snapshot shows: the stage, each
    /// scenario's recent rates and its rows from `seconds_from` on.
    fn kept(&self, sink: &RunSink, seconds_from: Option<u64>) -> Kept {
        let ended: u64 = (sink.scenario_live.iter())
            .map(|c| c.ended.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        let st = lock(&self.state);
        let (index, since, first_whole) =
            (st.stage.as_ref()).map_or((0, 0, 0), |s| (s.index, s.since, s.first_whole));
        let scenarios = (st.rows.iter())
            .map(|rows| KeptScenario {
                rates: window_rates(rows, index, first_whole),
                rows: match seconds_from {
                    Some(from) => rows.iter().filter(|r| r.second >= from).cloned().collect(),
                    None => Vec::new(),
                },
            })
            .collect();
        Kept {
            stage: st.stage.as_ref().map(|s| stage_view(s, ended)),
            stage_index: index,
            since,
            cpu: st.cpu,
            scenarios,
        }
    }
}

/// A scenario's stage so far, read under the sink's lock.
struct StageSoFar {
    counters: StageCounters,
    errors: Vec<ErrorRow>,
    latency: Option<(f64, f64)>,
}

/// What a snapshot takes from the sampler's state.
struct Kept {
    stage: Option<LiveStage>,
    stage_index: usize,
    /// The run-clock second the stage began in.
    since: u64,
    cpu: Option<f64>,
    scenarios: Vec<KeptScenario>,
}

struct KeptScenario {
    rates: Rates,
    rows: Vec<LiveSecond>,
}

/// Offered and achieved per second over a stage's last whole seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rates {
    offered: Option<f64>,
    achieved: Option<f64>,
    /// How many seconds they cover.
    seconds: u64,
}

/// The stage as the views show it; `ended` is the run's finished requests.
fn stage_view(s: &StageNow, ended: u64) -> LiveStage {
    let elapsed = s.started.elapsed();
    let (duration_s, left_s, requests) = match s.bound {
        StageBound::Duration(d) => (
            Some(d.as_secs_f64()),
            Some(d.saturating_sub(elapsed).as_secs_f64()),
            None,
        ),
        StageBound::Requests(n) => (None, None, Some(n)),
    };
    LiveStage {
        index: s.index,
        label: s.label.clone(),
        elapsed_s: elapsed.as_secs_f64(),
        duration_s,
        left_s,
        requests,
        done: ended.saturating_sub(s.ended_before),
    }
}

/// The rates over stage `stage`'s last whole seconds (from `first_whole`,
/// up to [`LIVE_WINDOW_S`]).
fn window_rates(rows: &VecDeque<LiveSecond>, stage: usize, first_whole: u64) -> Rates {
    let recent: Vec<&LiveSecond> = rows
        .iter()
        .rev()
        .take_while(|r| r.stage == stage && r.second >= first_whole)
        .take(LIVE_WINDOW_S as usize)
        .collect();
    let n = recent.len() as f64;
    let mean = |f: fn(&LiveSecond) -> u64| {
        (!recent.is_empty()).then(|| recent.iter().map(|r| f(r)).sum::<u64>() as f64 / n)
    };
    Rates {
        offered: mean(|r| r.offered),
        achieved: mean(|r| r.achieved),
        seconds: recent.len() as u64,
    }
}

impl LiveSource for LiveRun {
    fn snapshot(&self, seconds_from: Option<u64>) -> LiveSnapshot {
        let sink = self.sink();
        if let Some(sink) = sink {
            return self.now(&sink, seconds_from);
        }
        let st = lock(&self.state);
        let mut last = st.finished.clone().unwrap_or_default();
        for s in &mut last.scenarios {
            match seconds_from {
                Some(from) => s.seconds.retain(|r| r.second >= from),
                None => s.seconds.clear(),
            }
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(second: u64, stage: usize, offered: u64, achieved: u64) -> LiveSecond {
        LiveSecond {
            second,
            stage,
            offered,
            achieved,
            ..LiveSecond::default()
        }
    }

    #[test]
    fn rates_cover_the_stage_s_last_whole_seconds() {
        let mut rows: VecDeque<LiveSecond> = (0..5).map(|s| row(s, 0, 100, 90)).collect();
        rows.extend((5..20).map(|s| row(s, 1, 10 + s % 2, 10)));
        // Stage 1 began in second 5, late in it: its rates start at 6.
        let r = window_rates(&rows, 1, 6);
        assert_eq!(r.seconds, 10, "the last 10 of seconds 6..20");
        assert_eq!(r.offered, Some(10.5));
        assert_eq!(r.achieved, Some(10.0));
        let r = window_rates(&rows, 1, 18);
        assert_eq!((r.offered, r.seconds), (Some(10.5), 2));
        let none = Rates {
            offered: None,
            achieved: None,
            seconds: 0,
        };
        assert_eq!(window_rates(&rows, 1, 20), none, "none yet");
        assert_eq!(window_rates(&rows, 2, 0), none, "not this stage's");
    }
}
