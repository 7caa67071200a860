//! Where finished requests go: stage statistics, a timeline and the live
//! state per scenario, and `requests.jsonl`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::jsonl::JsonlWriter;
use super::judge::JudgeSink;
use super::judge_book::JudgeBook;
use crate::metrics::cold::IdleTracker;
use crate::metrics::goodput::{self, Criterion};
use crate::metrics::judge::JudgeRecord;
use crate::metrics::live::{LiveCounts, LiveView, RunInfo, ScenarioLive, ScenarioView, StageNow};
use crate::metrics::stats::StageStats;
use crate::metrics::timeline::Timeline;
use crate::metrics::RequestRecord;
use crate::protocol::Kind;
use crate::workload::{Arrival, StageSink};

/// What the sink knows of one scenario of the plan.
#[derive(Debug, Clone)]
pub struct ScenarioMeta {
    /// Its name in the plan.
    pub name: String,
    /// Its protocol (which metrics it records).
    pub kind: Kind,
    /// Its configured chunk numbers.
    pub chunk_ks: Vec<u32>,
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
    /// Each scenario's live state over the whole run.
    pub live: Vec<ScenarioLive>,
    /// The running stage, with each scenario's counts at its start.
    pub stage: Option<StageNow>,
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
    /// The run has ended: the live state holds its final numbers.
    ended: AtomicBool,
    /// The final numbers, kept for readers that outlive the sink (a last
    /// Prometheus scrape after the run).
    final_view: Arc<OnceLock<LiveView>>,
    /// The run, as live readers label it.
    info: RunInfo,
    /// The plan's scenarios.
    meta: Vec<ScenarioMeta>,
    /// Per scenario, lock-free counters for the live views (arrivals
    /// sent are the live state's `started`).
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
    /// A sink for run `info` of `stages` stages of `scenarios` whose
    /// records are judged by the `goodput` criteria (one entry per
    /// scenario; empty criteria: no goodput), timing relative to
    /// `run_start`; a request after `cold_after` of idle time is tagged cold.
    pub fn new(
        info: RunInfo,
        stages: usize,
        scenarios: &[ScenarioMeta],
        goodput: Vec<Vec<Criterion>>,
        cold_after: std::time::Duration,
        jsonl: JsonlWriter,
        run_start: Instant,
    ) -> Self {
        let chunk_ks: Vec<Vec<u32>> = scenarios.iter().map(|s| s.chunk_ks.clone()).collect();
        Self {
            aggregate: Mutex::new(Aggregate {
                stats: (0..stages)
                    .map(|_| chunk_ks.iter().map(|ks| StageStats::new(ks)).collect())
                    .collect(),
                timelines: chunk_ks.iter().map(|_| Timeline::new()).collect(),
                live: scenarios
                    .iter()
                    .map(|s| ScenarioLive::new(s.kind, &s.chunk_ks))
                    .collect(),
                stage: None,
            }),
            ended: AtomicBool::new(false),
            final_view: Arc::default(),
            info,
            meta: scenarios.to_vec(),
            scenario_live: scenarios
                .iter()
                .map(|_| ScenarioCounters::default())
                .collect(),
            jsonl,
            run_start,
            goodput,
            idle: scenarios
                .iter()
                .map(|_| IdleTracker::new(cold_after, run_start))
                .collect(),
            judges: JudgeBook::default(),
            chunk_ks,
        }
    }

    /// Stage `index` starts, each scenario's with its label: the live
    /// state's per-stage numbers count from here.
    pub fn begin_stage(&self, index: usize, labels: Vec<String>) {
        let since_s = self.run_start.elapsed().as_secs_f64();
        let base_started = self.started_now();
        self.with_aggregate(|agg| {
            agg.stage = Some(StageNow {
                index,
                labels,
                base: agg.live.iter().map(|l| l.counts).collect(),
                base_started,
                since_s,
            });
        });
    }

    /// The run has ended: live readers see its final numbers, also
    /// through [`RunSink::final_view`] once the sink is gone.
    pub fn end_live(&self) {
        self.ended.store(true, Ordering::Release);
        let _ = self.final_view.set(self.live_view());
    }

    /// Where the run's final live view appears when it ends.
    pub fn final_view(&self) -> Arc<OnceLock<LiveView>> {
        self.final_view.clone()
    }

    fn started_now(&self) -> Vec<u64> {
        // Relaxed: a reader sees them through the lock the requests'
        // records take later.
        self.scenario_live
            .iter()
            .map(|c| c.sent.load(Ordering::Relaxed))
            .collect()
    }

    /// The running stage's counts, every scenario together.
    pub fn stage_counts(&self) -> LiveCounts {
        self.with_aggregate(|agg| {
            let mut sum = LiveCounts::default();
            for (i, l) in agg.live.iter().enumerate() {
                let base = agg.stage.as_ref().and_then(|s| s.base.get(i));
                sum.add(&base.map_or(l.counts, |b| l.counts.since(b)));
            }
            sum
        })
    }

    /// A copy of the live state now (one short hold of the lock).
    pub fn live_view(&self) -> LiveView {
        let finished = self.ended.load(Ordering::Acquire);
        let now_s = self.run_start.elapsed().as_secs_f64();
        let (live, stage) = self.with_aggregate(|agg| (agg.live.clone(), agg.stage.clone()));
        // Read after the counts: a request counted as ended has been
        // counted as started, so in flight never goes below zero.
        let started = self.started_now();
        let scenarios = self
            .meta
            .iter()
            .zip(live)
            .zip(started)
            .enumerate()
            .map(|(i, ((meta, live), started))| {
                let rates = stage.as_ref().and_then(|st| {
                    let wall = now_s - st.since_s;
                    let base = st.base.get(i)?;
                    let since = live.counts.since(base);
                    let sent = started.saturating_sub(st.base_started.get(i).copied()?);
                    (wall > 0.05).then(|| {
                        (
                            (sent + since.dropped) as f64 / wall,
                            since.measured() as f64 / wall,
                        )
                    })
                });
                ScenarioView {
                    name: meta.name.clone(),
                    kind: meta.kind,
                    started,
                    live,
                    offered_rps: rates.map(|r| r.0),
                    achieved_rps: rates.map(|r| r.1),
                }
            })
            .collect();
        LiveView {
            run: self.info.clone(),
            stage,
            scenarios,
            finished,
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

    fn add(&self, scenario: usize, mut record: RequestRecord, part: bool) {
        if let Some(criteria) = self.goodput.get(scenario).filter(|c| !c.is_empty()) {
            record.good = Some(goodput::is_good(criteria, &record));
        }
        record.cold = self
            .with_idle(scenario, |idle| idle.take_cold(record.stage, record.seq))
            .unwrap_or(false);
        self.jsonl.write(&record);
        self.with_aggregate(|agg| {
            if let Some(live) = agg.live.get_mut(scenario) {
                live.record(&record, part);
            }
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
        self.run.add(self.scenario, record, false);
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
        self.run.add(self.scenario, record, true);
    }

    fn dropped(&self, stage: usize, at: Instant) {
        let run = &self.run;
        let second = at.saturating_duration_since(run.run_start).as_secs();
        if let Some(c) = run.counters(self.scenario) {
            c.dropped.fetch_add(1, Ordering::Relaxed);
            ScenarioCounters::count(&c.arrivals_by_second, second);
            ScenarioCounters::count(&c.dropped_by_second, second);
        }
        run.with_aggregate(|agg| {
            if let Some(live) = agg.live.get_mut(self.scenario) {
                live.dropped(1);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(dir: &std::path::Path) -> Arc<RunSink> {
        let jsonl = JsonlWriter::create(&dir.join("requests.jsonl")).expect("jsonl");
        let meta = ScenarioMeta {
            name: "tts".into(),
            kind: Kind::HttpTts,
            chunk_ks: vec![1],
        };
        let idle = std::time::Duration::from_secs(60);
        let info = RunInfo::default();
        Arc::new(RunSink::new(
            info,
            2,
            &[meta],
            vec![Vec::new()],
            idle,
            jsonl,
            Instant::now(),
        ))
    }

    fn arrival(stage: usize, seq: u64) -> Arrival {
        Arrival {
            stage,
            seq,
            intended_at: None,
            warmup: false,
            user: None,
        }
    }

    /// The live state counts the whole run; the terminal's per-stage counts
    /// start again at each stage; in flight is started − ended.
    #[test]
    fn live_state_counts_the_run_and_the_running_stage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = sink(dir.path());
        let s = run.scenario(0);
        run.begin_stage(0, vec!["rate=1/s".into()]);
        for seq in 0..3 {
            s.started(&arrival(0, seq));
            let failed = seq == 2;
            s.record(RequestRecord {
                stage: 0,
                seq,
                e2e_us: Some(1_000),
                error: failed.then_some(crate::protocol::ErrorKind::Timeout),
                ..RequestRecord::default()
            });
        }
        s.dropped(0, Instant::now());
        run.begin_stage(1, vec!["rate=2/s".into()]);
        s.started(&arrival(1, 0));
        s.started(&arrival(1, 1));
        s.record(RequestRecord {
            stage: 1,
            e2e_us: Some(2_000),
            ..RequestRecord::default()
        });
        let stage = run.stage_counts();
        assert_eq!(
            (stage.ended, stage.ok, stage.failed, stage.dropped),
            (1, 1, 0, 0)
        );
        let view = run.live_view();
        let tts = &view.scenarios[0];
        assert_eq!(tts.started, 5);
        assert_eq!(tts.in_flight(), 1);
        let c = tts.live.counts;
        assert_eq!((c.ended, c.ok, c.failed, c.dropped), (4, 3, 1, 1));
        assert_eq!(view.stage.as_ref().map(|st| st.index), Some(1));
        assert!(!view.finished);
        // The same counts as the stages' statistics, summed.
        let stats = run.with_aggregate(|a| {
            let (x, y) = (&a.stats[0][0].counters, &a.stats[1][0].counters);
            (x.ok + y.ok, x.failed + y.failed, x.dropped + y.dropped)
        });
        assert_eq!(stats, (c.ok, c.failed, c.dropped));
        run.end_live();
        let last = run.final_view().get().cloned().expect("final view");
        assert!(last.finished && last.scenarios[0].live.counts.ok == 3);
    }
}
