//! The live state of a running test: per scenario, counts and fixed-bucket
//! histograms over the whole run, so every live reader (the terminal
//! progress line, the Prometheus endpoint, a later web dashboard) reads
//! one source instead of keeping its own counters.
//!
//! Fed by the run's sink under the lock it already takes per record (no
//! second lock, no atomics per metric): plain additions. Readers copy a
//! scenario's state under that lock (a few kilobytes) and work on the copy.
//!
//! Which records feed which numbers follows [`crate::metrics::StageStats`]:
//! warm-up records are counted apart; histograms take successful records
//! only, except `schedule_lag` (every record). So a histogram's count is
//! the number of measured successful records that reached the metric, and
//! `ok + failed` is the `requests` of `result.json`'s stages summed.
//!
//! Histogram buckets are fixed per unit (Prometheus histograms must keep
//! their bounds): durations from 1 ms to 60 s, denser where speech
//! latencies live (50–500 ms); ratios (`rtf`, `wer`) from 0.01 to 10.
//! Bounds are kept in the histogram's raw unit (µs, millionths), so a
//! value is placed by integer comparison, exactly as the text shows it.

use std::collections::BTreeMap;

use crate::metrics::metric::{Metric, Unit, RATIO_SCALE};
use crate::metrics::registry;
use crate::metrics::RequestRecord;
use crate::protocol::{ErrorKind, Kind};

/// Upper bounds of duration buckets, µs (1 ms … 60 s).
const SECONDS_BOUNDS_US: [u64; 22] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 75_000, 100_000, 150_000, 200_000, 300_000,
    500_000, 750_000, 1_000_000, 1_500_000, 2_000_000, 3_000_000, 5_000_000, 10_000_000,
    20_000_000, 30_000_000, 60_000_000,
];

/// Upper bounds of ratio buckets, millionths (0.01 … 10).
const RATIO_BOUNDS: [u64; 14] = [
    10_000, 20_000, 50_000, 100_000, 200_000, 300_000, 500_000, 750_000, 1_000_000, 1_500_000,
    2_000_000, 3_000_000, 5_000_000, 10_000_000,
];

/// Upper bounds of count buckets (stalls per request).
const COUNT_BOUNDS: [u64; 8] = [0, 1, 2, 3, 5, 10, 20, 50];

/// The bucket bounds of a unit, in its raw values.
pub fn bounds(unit: Unit) -> &'static [u64] {
    match unit {
        Unit::Micros => &SECONDS_BOUNDS_US,
        Unit::Ratio => &RATIO_BOUNDS,
        Unit::Count | Unit::Percent | Unit::PerSecond | Unit::AudioPerWall => &COUNT_BOUNDS,
    }
}

/// A raw value of `unit` in its base unit: µs → seconds, millionths → ratio.
pub fn base_value(unit: Unit, raw: u64) -> f64 {
    match unit {
        Unit::Micros => raw as f64 / 1e6,
        Unit::Ratio => raw as f64 / RATIO_SCALE,
        Unit::Count | Unit::Percent | Unit::PerSecond | Unit::AudioPerWall => raw as f64,
    }
}

/// One metric's fixed-bucket histogram over the run.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveHistogram {
    /// The metric.
    pub metric: Metric,
    /// Bucket upper bounds, raw unit (see [`bounds`]).
    pub bounds: &'static [u64],
    /// Values in each bucket (not cumulative); one more than `bounds`: the
    /// last holds values above every bound.
    pub counts: Vec<u64>,
    /// Sum of the values, raw unit (exact: integers).
    pub sum: u64,
}

impl LiveHistogram {
    /// An empty histogram of `metric` with its unit's buckets.
    pub fn new(metric: Metric) -> Self {
        let bounds = bounds(metric.unit());
        Self {
            metric,
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0,
        }
    }

    /// Count one raw value.
    pub fn observe(&mut self, v: u64) {
        let i = self.bounds.partition_point(|&b| b < v);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum = self.sum.saturating_add(v);
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Cumulative counts at each bound, then the total (`+Inf`).
    pub fn cumulative(&self) -> Vec<u64> {
        self.counts
            .iter()
            .scan(0u64, |acc, c| {
                *acc += c;
                Some(*acc)
            })
            .collect()
    }
}

/// A scenario's counts over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Requests (workload arrivals; conversations for voice agents) that
    /// ended, warm-up included.
    pub ended: u64,
    /// Records of parts of requests (a conversation's earlier turns).
    pub parts: u64,
    /// Warm-up records.
    pub warmup: u64,
    /// Of which failed.
    pub warmup_failed: u64,
    /// Measured records (requests; turns for voice agents) that succeeded.
    pub ok: u64,
    /// Measured records that failed (every class).
    pub failed: u64,
    /// Arrivals dropped at the in-flight cap.
    pub dropped: u64,
}

impl LiveCounts {
    /// What was counted since `base` (an earlier copy of these counts).
    pub fn since(&self, base: &LiveCounts) -> LiveCounts {
        LiveCounts {
            ended: self.ended.saturating_sub(base.ended),
            parts: self.parts.saturating_sub(base.parts),
            warmup: self.warmup.saturating_sub(base.warmup),
            warmup_failed: self.warmup_failed.saturating_sub(base.warmup_failed),
            ok: self.ok.saturating_sub(base.ok),
            failed: self.failed.saturating_sub(base.failed),
            dropped: self.dropped.saturating_sub(base.dropped),
        }
    }

    /// Add `other`'s counts (several scenarios together).
    pub fn add(&mut self, other: &LiveCounts) {
        self.ended += other.ended;
        self.parts += other.parts;
        self.warmup += other.warmup;
        self.warmup_failed += other.warmup_failed;
        self.ok += other.ok;
        self.failed += other.failed;
        self.dropped += other.dropped;
    }

    /// Measured records (`ok + failed`): `result.json`'s `requests`.
    pub fn measured(&self) -> u64 {
        self.ok + self.failed
    }

    /// Records that failed, warm-up included.
    pub fn failed_records(&self) -> u64 {
        self.failed + self.warmup_failed
    }
}

/// One scenario's live state: counts, failures by class, histograms.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioLive {
    /// Counts over the run.
    pub counts: LiveCounts,
    /// Measured failures by class.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// One histogram per metric the scenario's protocol records (the
    /// registry's, in display order; one per configured chunk number).
    pub hists: Vec<LiveHistogram>,
}

impl ScenarioLive {
    /// Empty state for a scenario of protocol `kind` whose chunk numbers are `chunk_ks`.
    pub fn new(kind: Kind, chunk_ks: &[u32]) -> Self {
        let hists = registry::in_order(chunk_ks)
            .into_iter()
            .filter(|m| m.def().kinds.has(kind) && *m != Metric::JudgeWer)
            .map(LiveHistogram::new)
            .collect();
        Self {
            counts: LiveCounts::default(),
            errors: BTreeMap::new(),
            hists,
        }
    }

    /// Count one record; `part` when the request it belongs to goes on
    /// (a conversation's earlier turn), else it ends its request.
    pub fn record(&mut self, r: &RequestRecord, part: bool) {
        let c = &mut self.counts;
        if part {
            c.parts += 1;
        } else {
            c.ended += 1;
        }
        if r.warmup {
            c.warmup += 1;
            c.warmup_failed += u64::from(!r.ok());
            return;
        }
        if let Some(kind) = r.error {
            c.failed += 1;
            *self.errors.entry(kind).or_default() += 1;
        } else {
            c.ok += 1;
        }
        for h in &mut self.hists {
            // Like stage statistics: schedule lag of every record, the
            // rest of successful ones only.
            if r.ok() || h.metric == Metric::ScheduleLag {
                if let Some(v) = h.metric.value(r) {
                    h.observe(v);
                }
            }
        }
    }

    /// Count `n` arrivals dropped at the in-flight cap.
    pub fn dropped(&mut self, n: u64) {
        self.counts.dropped += n;
    }
}

/// What the run is, for readers that label it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInfo {
    /// Run name.
    pub name: String,
    /// What it tests (`tts`, `asr`, `agent`, `mixed`).
    pub kind: String,
    /// voxload's version.
    pub version: String,
    /// In a sharded run, which shard (`2/8`): every shard serves its own.
    pub shard: Option<String>,
}

/// The running stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageNow {
    /// Its index in the run (0-based, as in `result.json`).
    pub index: usize,
    /// Per scenario, its stage label (`rate=5/s`, `c=8`).
    pub labels: Vec<String>,
    /// Per scenario, its counts when the stage started.
    pub base: Vec<LiveCounts>,
    /// Per scenario, arrivals started when the stage started.
    pub base_started: Vec<u64>,
    /// Seconds on the run clock when the stage started.
    pub since_s: f64,
}

/// One scenario as live readers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioView {
    /// Its name in the plan (`tts` when alone).
    pub name: String,
    /// Its protocol.
    pub kind: Kind,
    /// Arrivals sent (warm-up included).
    pub started: u64,
    /// Its state.
    pub live: ScenarioLive,
    /// Arrivals sent per second in the running stage, dropped ones included.
    pub offered_rps: Option<f64>,
    /// Measured records per second in the running stage.
    pub achieved_rps: Option<f64>,
}

impl ScenarioView {
    /// Requests in flight: started and not ended.
    pub fn in_flight(&self) -> u64 {
        self.started.saturating_sub(self.live.counts.ended)
    }
}

/// A copy of the whole live state at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveView {
    /// The run.
    pub run: RunInfo,
    /// The running stage (the last one, after the run ended); `None` before the first.
    pub stage: Option<StageNow>,
    /// Every scenario, in plan order.
    pub scenarios: Vec<ScenarioView>,
    /// The run has ended: these are its final numbers.
    pub finished: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(e2e_ms: u64) -> RequestRecord {
        RequestRecord {
            e2e_us: Some(e2e_ms * 1000),
            ttfa_us: Some(e2e_ms * 500),
            schedule_lag_us: Some(10),
            rtf: Some(0.25),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn a_value_on_a_bound_is_in_that_bucket_and_counts_are_cumulative() {
        let mut h = LiveHistogram::new(Metric::E2e);
        for us in [1_000, 1_001, 60_000_000, 60_000_001, 0] {
            h.observe(us);
        }
        // 0 and 1000 ≤ 1 ms; 1001 in (1 ms, 2.5 ms]; 60 s in the last
        // bound; 60 s + 1 µs only in +Inf.
        assert_eq!(h.counts[0], 2);
        assert_eq!(h.counts[1], 1);
        assert_eq!(h.counts[SECONDS_BOUNDS_US.len() - 1], 1);
        assert_eq!(h.counts[SECONDS_BOUNDS_US.len()], 1);
        let cum = h.cumulative();
        assert!(cum.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(cum.last().copied(), Some(5));
        assert_eq!(h.count(), 5);
        assert_eq!(h.sum, 1_000 + 1_001 + 60_000_000 + 60_000_001);
    }

    #[test]
    fn records_feed_counts_like_stage_statistics() {
        let mut s = ScenarioLive::new(Kind::HttpTts, &[4]);
        let names: Vec<String> = s.hists.iter().map(|h| h.metric.name()).collect();
        assert!(names.contains(&"chunk4".to_string()) && names.contains(&"ttfa".into()));
        // Agent and ASR-only metrics are not kept for TTS.
        assert!(!names.contains(&"turn".to_string()) && !names.contains(&"wer".into()));
        s.record(&ok(100), false);
        s.record(&ok(300), false);
        let failed = RequestRecord {
            error: Some(ErrorKind::Http(503)),
            e2e_us: Some(5_000),
            schedule_lag_us: Some(20),
            ..RequestRecord::default()
        };
        s.record(&failed, false);
        s.record(
            &RequestRecord {
                warmup: true,
                ..ok(50)
            },
            false,
        );
        s.dropped(2);
        assert_eq!(
            s.counts,
            LiveCounts {
                ended: 4,
                parts: 0,
                warmup: 1,
                warmup_failed: 0,
                ok: 2,
                failed: 1,
                dropped: 2,
            }
        );
        assert_eq!(s.errors.get(&ErrorKind::Http(503)), Some(&1));
        let hist = |m: Metric| s.hists.iter().find(|h| h.metric == m).expect("kept");
        // e2e of the successful two only; schedule lag of all three measured.
        assert_eq!(hist(Metric::E2e).count(), 2);
        assert_eq!(hist(Metric::E2e).sum, 400_000);
        assert_eq!(hist(Metric::ScheduleLag).count(), 3);
        assert_eq!(hist(Metric::Rtf).sum, 500_000);
        let later = LiveCounts { ok: 5, ..s.counts };
        assert_eq!(later.since(&s.counts).ok, 3);
        assert_eq!(later.since(&s.counts).measured(), 3);
    }
}
