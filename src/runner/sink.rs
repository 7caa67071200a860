//! Where finished requests go: stage statistics, the timeline, live
//! counters and `requests.jsonl`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::jsonl::JsonlWriter;
use crate::metrics::stats::StageStats;
use crate::metrics::timeline::Timeline;
use crate::metrics::RequestRecord;
use crate::workload::StageSink;

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

/// Aggregated results, guarded by one short-held lock.
#[derive(Debug)]
pub struct Aggregate {
    /// One entry per stage.
    pub stages: Vec<StageStats>,
    /// Per-second timeline of the whole run.
    pub timeline: Timeline,
}

/// The [`StageSink`] of a run.
#[derive(Debug)]
pub struct RunSink {
    /// Statistics so far.
    pub aggregate: Mutex<Aggregate>,
    /// Lock-free counters for the live view.
    pub live: LiveCounters,
    jsonl: JsonlWriter,
    run_start: Instant,
}

impl RunSink {
    /// A sink for `stages` stages, timing relative to `run_start`.
    pub fn new(stages: usize, chunk_ks: &[u32], jsonl: JsonlWriter, run_start: Instant) -> Self {
        Self {
            aggregate: Mutex::new(Aggregate {
                stages: (0..stages).map(|_| StageStats::new(chunk_ks)).collect(),
                timeline: Timeline::new(),
            }),
            live: LiveCounters::default(),
            jsonl,
            run_start,
        }
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
}

impl RunSink {
    fn add(&self, record: RequestRecord) {
        self.jsonl.write(&record);
        if !record.ok() {
            self.live.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.with_aggregate(|agg| {
            if let Some(stats) = agg.stages.get_mut(record.stage) {
                stats.record(&record);
            }
            if !record.warmup {
                // Counted when the request ends, by the second it started in.
                agg.timeline.record_started(record.start_us / 1_000_000);
            }
            agg.timeline.record(&record);
        });
    }
}

impl StageSink for RunSink {
    fn record(&self, record: RequestRecord) {
        self.live.done.fetch_add(1, Ordering::Relaxed);
        self.add(record);
    }

    fn record_part(&self, record: RequestRecord) {
        self.live.parts.fetch_add(1, Ordering::Relaxed);
        self.add(record);
    }

    fn dropped(&self, stage: usize, at: Instant) {
        self.live.dropped.fetch_add(1, Ordering::Relaxed);
        let second = at.saturating_duration_since(self.run_start).as_secs();
        self.with_aggregate(|agg| {
            if let Some(stats) = agg.stages.get_mut(stage) {
                stats.record_dropped(1);
            }
            agg.timeline.record_dropped(second, 1);
        });
    }
}
