//! Stage statistics: one HDR histogram per metric plus counters, mergeable
//! exactly and serializable, so `result.json` can be re-reported, compared
//! and merged without losing precision (latte's `SerializableHistogram`).
//!
//! Which requests feed which numbers:
//! - warm-up records only bump [`StageCounters::warmup`];
//! - `schedule_lag` takes every completed request, ok or failed, because a
//!   lagging generator matters whatever the outcome;
//! - every other histogram takes **successful requests only**: a timeout's
//!   "e2e" is the timeout, and a 503's TTFB is how fast the server refused —
//!   mixing them in would make an overloaded server look fast;
//! - a metric with no samples has no histogram and is absent from the
//!   summary, never zero.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer as HdrDeserializer, Serializer as _, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::metrics::judge::{JudgeCounts, JudgeRecord};
use crate::metrics::outage::Outages;
use crate::metrics::RequestRecord;
use crate::protocol::ErrorKind;

pub use crate::metrics::metric::{Metric, Unit};
pub use crate::metrics::summary::{ErrorRow, Percentiles, StageSummary};

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Significant digits of stage histograms: values are kept to ±0.1 %.
const SIGFIG: u8 = 3;

/// Why saved statistics could not be restored (or saved).
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// A histogram key that is not a metric name.
    #[error("unknown metric '{0}' in saved histograms")]
    UnknownMetric(String),
    /// The histogram text is not valid base64.
    #[error("histogram '{metric}' is not valid base64: {source}")]
    Base64 {
        /// Metric whose histogram failed.
        metric: String,
        /// Decoder error.
        source: base64::DecodeError,
    },
    /// The bytes are not an HdrHistogram V2 serialization.
    #[error("histogram '{metric}' cannot be decoded: {source}")]
    Decode {
        /// Metric whose histogram failed.
        metric: String,
        /// Deserializer error.
        source: hdrhistogram::serialization::DeserializeError,
    },
    /// A histogram could not be serialized.
    #[error("histogram '{metric}' cannot be serialized: {source}")]
    Encode {
        /// Metric whose histogram failed.
        metric: String,
        /// Serializer error.
        source: hdrhistogram::serialization::V2SerializeError,
    },
}

/// Counts of one stage. Completed = `ok + failed`; dropped and warm-up
/// requests are counted apart and never enter histograms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageCounters {
    /// Completed non-warm-up requests (`ok + failed`).
    pub requests: u64,
    /// Successful requests.
    pub ok: u64,
    /// Failed requests (including audio sanity failures).
    pub failed: u64,
    /// Arrivals dropped because the in-flight cap was reached (never sent).
    pub dropped: u64,
    /// Warm-up requests, excluded from everything else.
    pub warmup: u64,
    /// Successful requests whose playback stalled at least once.
    pub stalled_requests: u64,
    /// Successful requests for which stalls could be computed (per-chunk audio known).
    pub requests_with_stall_info: u64,
    /// Audio produced (TTS) or processed (ASR) by successful requests, µs.
    pub audio_us_total: u64,
    /// ASR: word errors over successful requests with a reference.
    #[serde(default)]
    pub word_errors: u64,
    /// ASR: reference words over those requests (the pooled WER's denominator).
    #[serde(default)]
    pub ref_words: u64,
    /// Voice agent: conversations (records of first turns, ok or failed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub calls: u64,
    /// Voice agent: conversations whose WebSocket handshake succeeded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub calls_connected: u64,
    /// Voice agent: planned barge-ins that were measured or found untested
    /// (turns ok or failed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub barge_ins: u64,
    /// Voice agent: of those, untested (nothing left to interrupt).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub barge_in_untested: u64,
    /// With `--goodput`: requests judged (ok or failed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub goodput_judged: u64,
    /// Of those, good: succeeded and met every criterion.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub good: u64,
    /// With `--judge-asr`: how the stage's judge requests ended.
    #[serde(flatten)]
    pub judge: JudgeCounts,
    /// Word errors over judged requests (the pooled judge WER's numerator).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub judge_word_errors: u64,
    /// Reference words over judged requests (its denominator).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub judge_ref_words: u64,
    /// Earliest `start_us` of a counted request (µs since run start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_start_us: Option<u64>,
    /// Latest `end_us` of a counted request (µs since run start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_end_us: Option<u64>,
}

/// Failures of one class: how many, and the first detail seen, so the
/// report can show what went wrong without storing every message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// Failures of this class.
    pub count: u64,
    /// Detail of the first failure of this class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// Statistics of one stage: counters, errors by class, and one HDR histogram
/// per metric (µs for durations, micro-units for ratios, plain counts).
///
/// Serializes as counters, errors and base64 HdrHistogram V2 blobs, so a
/// restored `StageStats` is identical to the original.
#[derive(Debug, Clone, PartialEq)]
pub struct StageStats {
    /// Which `chunk_k` metrics are configured (for display order).
    pub chunk_ks: Vec<u32>,
    /// Request counts.
    pub counters: StageCounters,
    /// Failures by class.
    pub errors: BTreeMap<ErrorKind, ErrorSummary>,
    /// When the target was down.
    pub outages: Outages,
    /// The cold requests among these (`--cold-after`), counted again on
    /// their own so they get their own row; `None` when there were none.
    pub cold: Option<Box<StageStats>>,
    hists: Hists,
}

/// Slots of the metrics every record is read for: [`Metric::PER_REQUEST`],
/// then schedule lag.
const FIXED: usize = Metric::PER_REQUEST.len() + 1;
const LAG_SLOT: usize = FIXED - 1;

/// One histogram per metric with samples. Each metric read from every
/// record has a fixed slot, so counting a request looks nothing up;
/// `chunk_k` (and any metric without a slot) are kept by key.
#[derive(Debug, Clone, PartialEq)]
struct Hists {
    fixed: [Option<Histogram<u64>>; FIXED],
    keyed: BTreeMap<Metric, Histogram<u64>>,
}

impl Hists {
    fn new() -> Self {
        Self {
            fixed: std::array::from_fn(|_| None),
            keyed: BTreeMap::new(),
        }
    }

    fn slot(m: &Metric) -> Option<usize> {
        match m {
            Metric::ScheduleLag => Some(LAG_SLOT),
            Metric::Chunk(_) => None,
            _ => Metric::PER_REQUEST.iter().position(|p| p == m),
        }
    }

    fn slot_metric(i: usize) -> Metric {
        Metric::PER_REQUEST
            .get(i)
            .copied()
            .unwrap_or(Metric::ScheduleLag)
    }

    fn get(&self, m: &Metric) -> Option<&Histogram<u64>> {
        match Self::slot(m) {
            Some(i) => self.fixed[i].as_ref(),
            None => self.keyed.get(m),
        }
    }

    fn entry(&mut self, m: Metric) -> &mut Histogram<u64> {
        match Self::slot(&m) {
            Some(i) => self.slot_entry(i),
            None => self.keyed.entry(m).or_insert_with(new_histogram),
        }
    }

    fn slot_entry(&mut self, i: usize) -> &mut Histogram<u64> {
        self.fixed[i].get_or_insert_with(new_histogram)
    }

    fn insert(&mut self, m: Metric, h: Histogram<u64>) {
        *self.entry(m) = h;
    }

    /// Every histogram with its metric (order: slots, then keyed).
    fn iter(&self) -> impl Iterator<Item = (Metric, &Histogram<u64>)> {
        let fixed = self.fixed.iter().enumerate();
        fixed
            .filter_map(|(i, h)| h.as_ref().map(|h| (Self::slot_metric(i), h)))
            .chain(self.keyed.iter().map(|(m, h)| (*m, h)))
    }
}

/// An empty auto-resizing histogram at stage precision.
fn new_histogram() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("3 significant digits is a valid HDR configuration")
}

/// Record one value. `saturating_record` would clamp instead of resizing, so
/// try the resizing path first; it only fails beyond 2^62.
fn record_value(h: &mut Histogram<u64>, v: u64) {
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// Add `src` into `dst` exactly; falls back to value-by-value recording if
/// the fast path cannot resize (only possible on tiny `usize`).
fn add_histogram(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    if dst.add(src).is_err() {
        for v in src.iter_recorded() {
            let value = v.value_iterated_to();
            if dst.record_n(value, v.count_at_value()).is_err() {
                dst.saturating_record_n(value, v.count_at_value());
            }
        }
    }
}

impl StageStats {
    /// Empty statistics; `chunk_ks` are the configured chunk indices.
    pub fn new(chunk_ks: &[u32]) -> Self {
        Self {
            chunk_ks: chunk_ks.to_vec(),
            counters: StageCounters::default(),
            errors: BTreeMap::new(),
            outages: Outages::default(),
            cold: None,
            hists: Hists::new(),
        }
    }

    /// Count a cold request again in the cold requests' own statistics
    /// (it is counted with the stage's by [`StageStats::record`]).
    pub fn record_cold(&mut self, r: &RequestRecord) {
        let chunk_ks = &self.chunk_ks;
        self.cold
            .get_or_insert_with(|| Box::new(StageStats::new(chunk_ks)))
            .record(r);
    }

    fn add(&mut self, m: Metric, v: u64) {
        record_value(self.hists.entry(m), v);
    }

    /// Count one finished request (see the module doc for which requests
    /// feed which histograms).
    pub fn record(&mut self, r: &RequestRecord) {
        // The target's state is read from warm-up requests too.
        self.outages.record(r);
        let c = &mut self.counters;
        if r.warmup {
            c.warmup += 1;
            return;
        }
        c.requests += 1;
        c.first_start_us = Some(c.first_start_us.map_or(r.start_us, |s| s.min(r.start_us)));
        c.last_end_us = Some(c.last_end_us.map_or(r.end_us, |e| e.max(r.end_us)));
        if r.turn == Some(1) {
            c.calls += 1;
            c.calls_connected += u64::from(r.connect_us.is_some());
        }
        c.barge_ins += u64::from(r.barge_in_untested || r.barge_in_leak_us.is_some());
        c.barge_in_untested += u64::from(r.barge_in_untested);
        if let Some(good) = r.good {
            c.goodput_judged += 1;
            c.good += u64::from(good);
        }
        if let Some(lag) = r.schedule_lag_us {
            record_value(self.hists.slot_entry(LAG_SLOT), lag);
        }
        if let Some(kind) = r.error {
            self.counters.failed += 1;
            let e = self.errors.entry(kind).or_default();
            e.count += 1;
            if e.example.is_none() {
                e.example.clone_from(&r.error_detail);
            }
            return;
        }
        let c = &mut self.counters;
        c.ok += 1;
        c.audio_us_total = c.audio_us_total.saturating_add(r.audio_us.unwrap_or(0));
        if let (Some(errors), Some(words)) = (r.word_errors, r.ref_words) {
            c.word_errors += u64::from(errors);
            c.ref_words += u64::from(words);
        }
        if let Some(n) = r.stall_count {
            c.requests_with_stall_info += 1;
            if n > 0 {
                c.stalled_requests += 1;
            }
        }
        for (i, m) in Metric::PER_REQUEST.iter().enumerate() {
            if let Some(v) = m.value(r) {
                record_value(self.hists.slot_entry(i), v);
            }
        }
        for &(k, us) in &r.chunk_us {
            self.add(Metric::Chunk(k), us);
        }
    }

    /// Count arrivals dropped at the in-flight cap.
    pub fn record_dropped(&mut self, n: u64) {
        self.counters.dropped += n;
    }

    /// Count one judge answer (see [`crate::metrics::judge`]): a failure,
    /// or a judged request with its word errors.
    pub fn record_judge(&mut self, j: &JudgeRecord) {
        let c = &mut self.counters;
        if !j.ok() {
            c.judge.judge_failed += 1;
            return;
        }
        c.judge.judged += 1;
        c.judge_word_errors += u64::from(j.word_errors.unwrap_or(0));
        c.judge_ref_words += u64::from(j.ref_words.unwrap_or(0));
        if let Some(v) = j.wer.and_then(crate::metrics::metric::scale_ratio) {
            self.add(Metric::JudgeWer, v);
        }
    }

    /// Count chosen samples the judge skipped (queue full) and judge
    /// requests left unfinished at the stage's end.
    pub fn record_judge_missed(&mut self, skipped: u64, unfinished: u64) {
        self.counters.judge.judge_skipped += skipped;
        self.counters.judge.judge_unfinished += unfinished;
    }

    /// Add another stage's statistics (another worker, or another run of the
    /// same stage). Exact: histograms are added bucket by bucket.
    pub fn merge(&mut self, other: &StageStats) {
        for &k in &other.chunk_ks {
            if !self.chunk_ks.contains(&k) {
                self.chunk_ks.push(k);
            }
        }
        let (a, b) = (&mut self.counters, &other.counters);
        a.requests += b.requests;
        a.ok += b.ok;
        a.failed += b.failed;
        a.dropped += b.dropped;
        a.warmup += b.warmup;
        a.stalled_requests += b.stalled_requests;
        a.requests_with_stall_info += b.requests_with_stall_info;
        a.audio_us_total = a.audio_us_total.saturating_add(b.audio_us_total);
        a.word_errors += b.word_errors;
        a.ref_words += b.ref_words;
        a.calls += b.calls;
        a.calls_connected += b.calls_connected;
        a.barge_ins += b.barge_ins;
        a.barge_in_untested += b.barge_in_untested;
        a.goodput_judged += b.goodput_judged;
        a.good += b.good;
        a.judge.add(&b.judge);
        a.judge_word_errors += b.judge_word_errors;
        a.judge_ref_words += b.judge_ref_words;
        a.first_start_us = min_opt(a.first_start_us, b.first_start_us);
        a.last_end_us = a.last_end_us.max(b.last_end_us);
        for (kind, e) in &other.errors {
            let mine = self.errors.entry(*kind).or_default();
            mine.count += e.count;
            if mine.example.is_none() {
                mine.example.clone_from(&e.example);
            }
        }
        self.outages.merge(&other.outages);
        if let Some(cold) = &other.cold {
            match &mut self.cold {
                Some(mine) => mine.merge(cold),
                None => self.cold = Some(cold.clone()),
            }
        }
        for (m, h) in other.hists.iter() {
            add_histogram(self.hists.entry(m), h);
        }
    }

    /// The same statistics on a clock whose zero is `by_us` earlier: a
    /// shard's instants on the merged run's clock (durations are unchanged).
    pub fn shift_clock(&mut self, by_us: u64) {
        let c = &mut self.counters;
        c.first_start_us = c.first_start_us.map(|t| t + by_us);
        c.last_end_us = c.last_end_us.map(|t| t + by_us);
        self.outages.shift(by_us);
        if let Some(cold) = self.cold.as_mut() {
            cold.shift_clock(by_us);
        }
    }

    /// The histogram of a metric, if it has any samples.
    pub fn histogram(&self, m: &Metric) -> Option<&Histogram<u64>> {
        self.hists.get(m)
    }

    /// Summary numbers of one metric, in its display unit; `None` without samples.
    pub fn percentiles(&self, m: &Metric) -> Option<Percentiles> {
        self.hists.get(m).map(|h| Percentiles::new(h, m.unit()))
    }

    /// Metrics that have samples, in display order (configured chunks first
    /// among chunk metrics, then any others recorded).
    pub fn metrics(&self) -> Vec<Metric> {
        let mut ks = self.chunk_ks.clone();
        for (m, _) in self.hists.iter() {
            if let Metric::Chunk(k) = m {
                if !ks.contains(&k) {
                    ks.push(k);
                }
            }
        }
        Metric::all(&ks)
            .into_iter()
            .filter(|m| self.hists.get(m).is_some())
            .collect()
    }

    /// The failures by class, most first (the summary's order, which the
    /// live views show too).
    pub fn error_rows(&self) -> Vec<ErrorRow> {
        let mut errors: Vec<ErrorRow> = self
            .errors
            .iter()
            .map(|(kind, e)| ErrorRow {
                label: kind.label(),
                kind: *kind,
                count: e.count,
                example: e.example.clone(),
            })
            .collect();
        errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
        errors
    }

    /// The stage summary over `wall` time (the stage's duration).
    pub fn summary(&self, wall: Duration) -> StageSummary {
        let c = &self.counters;
        let wall_s = wall.as_secs_f64();
        let per_wall = |x: f64| if wall_s > 0.0 { x / wall_s } else { 0.0 };
        let errors = self.error_rows();
        StageSummary {
            requests: c.requests,
            ok: c.ok,
            failed: c.failed,
            dropped: c.dropped,
            warmup: c.warmup,
            wall_us: super::defs::micros(wall),
            success_rate: ratio(c.ok, c.requests),
            achieved_rps: per_wall(c.requests as f64),
            audio_s_total: c.audio_us_total as f64 / 1e6,
            audio_s_per_wall_s: per_wall(c.audio_us_total as f64 / 1e6),
            stalled_share: ratio(c.stalled_requests, c.requests_with_stall_info),
            wer_pooled: ratio(c.word_errors, c.ref_words),
            calls: c.calls,
            connect_success: ratio(c.calls_connected, c.calls),
            barge_ins: c.barge_ins,
            barge_in_untested: c.barge_in_untested,
            goodput: ratio(c.good, c.goodput_judged),
            goodput_rps: (c.goodput_judged > 0).then(|| per_wall(c.good as f64)),
            judge: c.judge,
            judge_wer_pooled: ratio(c.judge_word_errors, c.judge_ref_words),
            errors,
            outages: self.outages.list(),
            generator_cpu: None,
            cold: self.cold.as_ref().map(|c| Box::new(c.summary(wall))),
            metrics: self
                .hists
                .iter()
                .map(|(m, h)| (m.name(), Percentiles::new(h, m.unit())))
                .collect(),
        }
    }

    /// Every histogram as base64 of its HdrHistogram V2 serialization, keyed
    /// by metric name: portable and exact.
    pub fn histograms(&self) -> Result<BTreeMap<String, String>, StatsError> {
        let mut ser = V2Serializer::new();
        let mut out = BTreeMap::new();
        for (m, h) in self.hists.iter() {
            let mut buf = Vec::new();
            ser.serialize(h, &mut buf)
                .map_err(|source| StatsError::Encode {
                    metric: m.name(),
                    source,
                })?;
            out.insert(
                m.name(),
                base64::engine::general_purpose::STANDARD.encode(buf),
            );
        }
        Ok(out)
    }

    /// Restore statistics saved with [`StageStats::histograms`] and the counters.
    pub fn from_serialized(
        chunk_ks: &[u32],
        counters: StageCounters,
        errors: BTreeMap<ErrorKind, ErrorSummary>,
        histograms: &BTreeMap<String, String>,
    ) -> Result<Self, StatsError> {
        let mut de = HdrDeserializer::new();
        let mut hists = Hists::new();
        for (name, text) in histograms {
            let m = Metric::parse(name).ok_or_else(|| StatsError::UnknownMetric(name.clone()))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|source| StatsError::Base64 {
                    metric: name.clone(),
                    source,
                })?;
            let mut h: Histogram<u64> =
                de.deserialize(&mut bytes.as_slice())
                    .map_err(|source| StatsError::Decode {
                        metric: name.clone(),
                        source,
                    })?;
            // Saved histograms come back fixed-size; later merges must grow them.
            h.auto(true);
            hists.insert(m, h);
        }
        Ok(Self {
            chunk_ks: chunk_ks.to_vec(),
            counters,
            errors,
            outages: Outages::default(),
            cold: None,
            hists,
        })
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// One error class in a saved [`StageStats`] (JSON maps need string keys).
#[derive(Serialize, Deserialize)]
struct SavedError {
    kind: ErrorKind,
    count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    example: Option<String>,
}

/// The on-disk form of [`StageStats`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedStageStats {
    chunk_ks: Vec<u32>,
    counters: StageCounters,
    errors: Vec<SavedError>,
    #[serde(default, skip_serializing_if = "is_default")]
    outages: Outages,
    histograms: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cold: Option<Box<StageStats>>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl Serialize for StageStats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let saved = SavedStageStats {
            chunk_ks: self.chunk_ks.clone(),
            counters: self.counters.clone(),
            errors: self
                .errors
                .iter()
                .map(|(kind, e)| SavedError {
                    kind: *kind,
                    count: e.count,
                    example: e.example.clone(),
                })
                .collect(),
            outages: self.outages.clone(),
            histograms: self.histograms().map_err(serde::ser::Error::custom)?,
            cold: self.cold.clone(),
        };
        saved.serialize(s)
    }
}

impl<'de> Deserialize<'de> for StageStats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let saved = SavedStageStats::deserialize(d)?;
        let errors = saved
            .errors
            .into_iter()
            .map(|e| {
                let summary = ErrorSummary {
                    count: e.count,
                    example: e.example,
                };
                (e.kind, summary)
            })
            .collect();
        let mut stats =
            StageStats::from_serialized(&saved.chunk_ks, saved.counters, errors, &saved.histograms)
                .map_err(serde::de::Error::custom)?;
        stats.outages = saved.outages;
        stats.cold = saved.cold;
        Ok(stats)
    }
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
