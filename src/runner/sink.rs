//! Where finished requests go: stage statistics and a timeline per
//! scenario, live counters and `requests.jsonl`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::jsonl::JsonlWriter;
use super::judge::JudgeSink;
use super::judge_book::JudgeBook;
use crate::metrics::cold::IdleTracker;
use crate::metrics::goodput::{self, Criterion};
use crate::metrics::judge::JudgeRecord;
use crate::metrics::stats::StageStats;
use crate::metrics::timeline::Timeline;
use crate::metrics::RequestRecord;
use crate::workload::{Arrival, StageSink};

/// Counters the live view reads without locking.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Requests (workload arrivals) finished in the current stage (warm-up included).
    pub done: AtomicU64,
    /// Records of parts of requests (a conversation's earlier turns).
    pub parts: AtomicU64,
    /// Of which failed.
    pub failed: AtomicU64,
    /// Arrivals dropped in the current stage.
    pub dropped: AtomicU64,
}

impl LiveCounters {
    /// Zero the counters at a stage start.
    pub fn reset(&self) {
        self.done.store(0, Ordering::Relaxed);
        self.parts.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        self.dropped.store(0, Ordering::Relaxed);
    }
}

/// Run-clock seconds the live counters keep apart: a second's arrivals
/// are read (and its slot emptied) just after it ends, long before the
/// slot serves again.
pub const SECOND_SLOTS: usize = 4;

/// One scenario's counters for the live views (`--web`, the terminal
/// table), read without locking; over the whole run, warm-up included.
#[derive(Debug, Default)]
pub struct ScenarioCounters {
    /// Requests (workload arrivals) sent.
    pub sent: AtomicU64,
    /// Requests finished (sent − ended are in flight).
    pub ended: AtomicU64,
    /// Arrivals dropped at the in-flight cap.
    pub dropped: AtomicU64,
    /// Arrivals (sent or dropped) by the run-clock second of their time
    /// origin (the scheduled start in open loop, as the timeline's
    /// `started`), in slot `second % SECOND_SLOTS`.
    pub arrivals_by_second: [AtomicU64; SECOND_SLOTS],
    /// Drops by the second they happened in, likewise.
    pub dropped_by_second: [AtomicU64; SECOND_SLOTS],
}

impl ScenarioCounters {
    /// Second `second`'s arrivals and drops, emptying their slots for
    /// second `second + SECOND_SLOTS`.
    pub fn take_second(&self, second: u64) -> (u64, u64) {
        let slot = (second % SECOND_SLOTS as u64) as usize;
        (
            self.arrivals_by_second[slot].swap(0, Ordering::Relaxed),
            self.dropped_by_second[slot].swap(0, Ordering::Relaxed),
        )
    }

    fn count(slots: &[AtomicU64; SECOND_SLOTS], second: u64) {
        slots[(second % SECOND_SLOTS as u64) as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests sent and not finished yet.
    pub fn in_flight(&self) -> u64 {
        // Ended first: a request ending between the two reads is not
        // counted as ended but not sent.
        let ended = self.ended.load(Ordering::Relaxed);
        self.sent.load(Ordering::Relaxed).saturating_sub(ended)
    }
}

/// Aggregated results, guarded by one short-held lock.
#[derive(Debug)]
pub struct Aggregate {
    /// Statistics per stage and scenario: `stats[stage][scenario]`.
    pub stats: Vec<Vec<StageStats>>,
    /// Per-second timeline of each scenario over the whole run.
    pub timelines: Vec<Timeline>,
}

impl Aggregate {
    /// Statistics of `scenario` in `stage`.
    pub fn stage(&self, stage: usize, scenario: usize) -> Option<&StageStats> {
        self.stats.get(stage).and_then(|s| s.get(scenario))
    }
}

/// Where every record of a run goes.
#[derive(Debug)]
pub struct RunSink {
    /// Statistics so far.
    pub aggregate: Mutex<Aggregate>,
    /// Lock-free counters for the live view.
    pub live: LiveCounters,
    /// Per scenario, lock-free counters for the live views.
    pub scenario_live: Vec<ScenarioCounters>,
    jsonl: JsonlWriter,
    run_start: Instant,
    /// Per scenario, its chunk numbers (a stage opened later needs them).
    chunk_ks: Vec<Vec<u32>>,
    /// Per scenario, the `--goodput` criteria that apply to it.
    goodput: Vec<Vec<Criterion>>,
    /// Per scenario, what was in flight when (cold requests, `--cold-after`).
    idle: Vec<IdleTracker>,
    /// The TTS quality judges' pending requests and `judge.jsonl`.
    pub judges: JudgeBook,
}

/// The [`StageSink`] of one scenario: its records go to its own
/// statistics and timeline in the run's sink.
#[derive(Debug)]
pub struct ScenarioSink {
    run: Arc<RunSink>,
    scenario: usize,
}

impl RunSink {
    /// A sink for `stages` stages of scenarios whose configured chunk
    /// numbers are `chunk_ks` and whose records are judged by the
    /// `goodput` criteria (one entry each per scenario; empty criteria: no
    /// goodput), timing relative to `run_start`; a request after
    /// `cold_after` of idle time is tagged cold.
    pub fn new(
        stages: usize,
        chunk_ks: &[Vec<u32>],
        goodput: Vec<Vec<Criterion>>,
        cold_after: std::time::Duration,
        jsonl: JsonlWriter,
        run_start: Instant,
    ) -> Self {
        Self {
            aggregate: Mutex::new(Aggregate {
                stats: (0..stages)
                    .map(|_| chunk_ks.iter().map(|ks| StageStats::new(ks)).collect())
                    .collect(),
                timelines: chunk_ks.iter().map(|_| Timeline::new()).collect(),
            }),
            live: LiveCounters::default(),
            scenario_live: chunk_ks
                .iter()
                .map(|_| ScenarioCounters::default())
                .collect(),
            jsonl,
            run_start,
            chunk_ks: chunk_ks.to_vec(),
            goodput,
            idle: chunk_ks
                .iter()
                .map(|_| IdleTracker::new(cold_after, run_start))
                .collect(),
            judges: JudgeBook::default(),
        }
    }

    /// Run `f` on scenario `scenario`'s idle tracker.
    fn with_idle<T>(&self, scenario: usize, f: impl FnOnce(&IdleTracker) -> T) -> Option<T> {
        self.idle.get(scenario).map(f)
    }

    /// Wait (bounded by `--judge-wait`, cut short when `cut` completes) for
    /// stage `index`'s judge requests, then count what is still running as
    /// unfinished: after this the stage's judge figures are final. At once
    /// for a run without judges.
    pub async fn settle_judges(&self, index: usize, cut: impl std::future::Future<Output = ()>) {
        self.judges
            .settle(index, cut, |scenario, n| {
                self.with_stats(index, scenario, |s| s.record_judge_missed(0, n));
            })
            .await;
    }

    /// Run `f` on the statistics of `scenario` in `stage`, if they exist.
    fn with_stats(&self, stage: usize, scenario: usize, f: impl FnOnce(&mut StageStats)) {
        self.with_aggregate(|agg| {
            if let Some(stats) = agg.stats.get_mut(stage).and_then(|s| s.get_mut(scenario)) {
                f(stats);
            }
        });
    }

    /// Make room for stage `index`'s statistics: a run whose stages are
    /// chosen as it goes (a capacity search) has more than it was opened with.
    pub fn open_stage(&self, index: usize) {
        self.with_aggregate(|agg| {
            while agg.stats.len() <= index {
                agg.stats
                    .push(self.chunk_ks.iter().map(|ks| StageStats::new(ks)).collect());
            }
        });
    }

    /// The sink of scenario `scenario` (its index in the plan).
    pub fn scenario(self: &Arc<Self>, scenario: usize) -> Arc<ScenarioSink> {
        Arc::new(ScenarioSink {
            run: self.clone(),
            scenario,
        })
    }

    /// Scenario `scenario`'s live counters, if it exists.
    fn counters(&self, scenario: usize) -> Option<&ScenarioCounters> {
        self.scenario_live.get(scenario)
    }

    /// The instant the run clock counts from.
    pub fn run_start(&self) -> Instant {
        self.run_start
    }

    /// An instant on the run clock (the timeline's).
    pub fn offset(&self, at: Instant) -> std::time::Duration {
        at.saturating_duration_since(self.run_start)
    }

    /// The run-clock second now (the timeline's clock).
    pub fn run_second(&self) -> u64 {
        self.run_start.elapsed().as_secs()
    }

    /// Run `f` on the aggregate (a poisoned lock still holds valid counts).
    pub fn with_aggregate<T>(&self, f: impl FnOnce(&mut Aggregate) -> T) -> T {
        let mut guard = self.aggregate.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Write the `requests.jsonl` lines still pending.
    pub fn flush_jsonl(&self) {
        self.jsonl.flush();
    }

    /// Close `requests.jsonl`, returning the number of lines written.
    pub fn finish(self) -> (Aggregate, std::io::Result<u64>) {
        let lines = self.jsonl.finish();
        let aggregate = self
            .aggregate
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        (aggregate, lines)
    }

    fn add(&self, scenario: usize, mut record: RequestRecord) {
        if let Some(criteria) = self.goodput.get(scenario).filter(|c| !c.is_empty()) {
            record.good = Some(goodput::is_good(criteria, &record));
        }
        record.cold = self
            .with_idle(scenario, |idle| idle.take_cold(record.stage, record.seq))
            .unwrap_or(false);
        self.jsonl.write(&record);
        if !record.ok() {
            self.live.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.with_aggregate(|agg| {
            if let Some(stats) = agg
                .stats
                .get_mut(record.stage)
                .and_then(|s| s.get_mut(scenario))
            {
                stats.record(&record);
                if record.cold {
                    stats.record_cold(&record);
                }
            }
            if let Some(timeline) = agg.timelines.get_mut(scenario) {
                if !record.warmup {
                    // Counted when the request ends, by the second it started in.
                    timeline.record_started(record.start_us / 1_000_000);
                }
                timeline.record(&record);
            }
        });
    }
}

impl JudgeSink for ScenarioSink {
    fn judge_queued(&self, stage: usize) {
        self.run.judges.queued(stage, self.scenario);
    }

    fn judge_skipped(&self, stage: usize) {
        let run = &self.run;
        run.judges.skipped(stage, self.scenario, || {
            run.with_stats(stage, self.scenario, |s| s.record_judge_missed(1, 0));
        });
    }

    fn judged(&self, record: JudgeRecord) {
        let run = &self.run;
        run.judges.answered(self.scenario, record, |r| {
            run.with_stats(r.stage, self.scenario, |s| s.record_judge(r));
        });
    }
}

impl StageSink for ScenarioSink {
    fn record(&self, record: RequestRecord) {
        self.run.live.done.fetch_add(1, Ordering::Relaxed);
        self.run.add(self.scenario, record);
        if let Some(c) = self.run.counters(self.scenario) {
            c.ended.fetch_add(1, Ordering::Relaxed);
        }
        self.run
            .with_idle(self.scenario, |idle| idle.end(Instant::now()));
    }

    fn started(&self, arrival: &Arrival) {
        if let Some(c) = self.run.counters(self.scenario) {
            c.sent.fetch_add(1, Ordering::Relaxed);
            let origin = arrival.intended_at.unwrap_or_else(Instant::now);
            ScenarioCounters::count(&c.arrivals_by_second, self.run.offset(origin).as_secs());
        }
        self.run.with_idle(self.scenario, |idle| {
            idle.start(Instant::now(), arrival.stage, arrival.seq)
        });
    }

    fn record_part(&self, record: RequestRecord) {
        self.run.live.parts.fetch_add(1, Ordering::Relaxed);
        self.run.add(self.scenario, record);
    }

    fn dropped(&self, stage: usize, at: Instant) {
        let run = &self.run;
        run.live.dropped.fetch_add(1, Ordering::Relaxed);
        let second = at.saturating_duration_since(run.run_start).as_secs();
        if let Some(c) = run.counters(self.scenario) {
            c.dropped.fetch_add(1, Ordering::Relaxed);
            ScenarioCounters::count(&c.arrivals_by_second, second);
            ScenarioCounters::count(&c.dropped_by_second, second);
        }
        run.with_aggregate(|agg| {
            if let Some(stats) = agg
                .stats
                .get_mut(stage)
                .and_then(|s| s.get_mut(self.scenario))
            {
                stats.record_dropped(1);
            }
            if let Some(timeline) = agg.timelines.get_mut(self.scenario) {
                timeline.record_dropped(second, 1);
            }
        });
    }
}
