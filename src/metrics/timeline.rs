//! Per-second timeline of a run: what happened in each wall second, so a
//! report can show warm-up effects, saturation and recovery over time.
//!
//! Each second keeps counters, the pooled word error counts, and a small
//! histogram of each metric the registry keeps per second
//! ([`TIMELINE`]: every family's lead latency — TTFA, e2e, agent first
//! audio, turn, ASR final) over the successful requests that ended in it.
//! Memory is bounded per *second*, not per request: seconds more than a
//! few behind the newest are packed into their serialized form (tens of
//! bytes), so a long run stays flat in memory.
//! Those histograms keep 2 significant digits — HDR's 256 sub-buckets per
//! power of two — so a timeline percentile is within about 1 % (1/128) of
//! the true value: close enough for a live view and a per-second chart.
//! Stage statistics, not the timeline, carry the precise numbers.
//!
//! Requests are placed in the second they *ended* (`end_us`), starts in the
//! second they started, drops in the second they were dropped. Warm-up
//! records are skipped, like in [`crate::metrics::StageStats`]; the driver
//! should not report warm-up starts either.

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer as HdrDeserializer, Serializer as _, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::metrics::registry::TIMELINE;
use crate::metrics::{Metric, RequestRecord};

/// Significant digits of the per-second histograms (see the module doc).
const SIGFIG: u8 = 2;

/// Histogram counts fit in `u32`: no second holds four billion requests.
type SecondHistogram = Histogram<u32>;

fn new_histogram() -> SecondHistogram {
    Histogram::new(SIGFIG).expect("2 significant digits is a valid HDR configuration")
}

/// A second's histogram: live while its second may still receive records,
/// then packed into its V2 serialization (tens of bytes instead of ~1.6 KB)
/// at the end of the timeline's one byte arena, so a long run's memory
/// grows by tens of bytes per second, in one block.
///
/// Why an arena: a soak at 50 req/s grew the generator's resident memory
/// by ~1.7 KB/s while its live heap grew ~0.5 KB/s; two small long-lived
/// allocations per second, scattered among each request's short-lived
/// ones, keep whole pages resident (`malloc_trim` gave nothing back).
/// A live histogram is boxed so an empty or packed slot stays 16 bytes.
#[derive(Debug, Clone, PartialEq)]
enum Hist {
    Live(Box<SecondHistogram>),
    /// `arena[at..at + len]`.
    Packed {
        at: u32,
        len: u32,
    },
}

impl Hist {
    /// The histogram, decoding a packed one from `arena`.
    fn live<'a>(&'a self, arena: &[u8]) -> Option<std::borrow::Cow<'a, SecondHistogram>> {
        match self {
            Hist::Live(h) => Some(std::borrow::Cow::Borrowed(&**h)),
            Hist::Packed { at, len } => {
                unpack(arena.get(*at as usize..(*at + *len) as usize)?).map(std::borrow::Cow::Owned)
            }
        }
    }

    /// Make it live (for a late record or a merge); its packed bytes stay
    /// in the arena, unused.
    fn make_live(&mut self, arena: &[u8]) -> &mut SecondHistogram {
        if let Hist::Packed { .. } = self {
            let h = self.live(arena).map(std::borrow::Cow::into_owned);
            *self = Hist::Live(Box::new(h.unwrap_or_else(new_histogram)));
        }
        match self {
            Hist::Live(h) => h,
            Hist::Packed { .. } => unreachable!("just made live"),
        }
    }

    fn pack(&mut self, arena: &mut Vec<u8>) {
        if let Hist::Live(h) = self {
            let at = arena.len();
            if V2Serializer::new().serialize(&**h, arena).is_ok() {
                if let (Ok(at), Ok(len)) = (u32::try_from(at), u32::try_from(arena.len() - at)) {
                    *self = Hist::Packed { at, len };
                    return;
                }
            }
            // Left live (a 4 GiB arena, or a histogram that cannot be written).
            arena.truncate(at);
        }
    }
}

fn unpack(bytes: &[u8]) -> Option<SecondHistogram> {
    let mut h: SecondHistogram = HdrDeserializer::new().deserialize(&mut &bytes[..]).ok()?;
    h.auto(true);
    Some(h)
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Second {
    started: u64,
    completed: u64,
    ok: u64,
    failed: u64,
    dropped: u64,
    audio_us: u64,
    word_errors: u64,
    ref_words: u64,
    /// One histogram per [`TIMELINE`] metric with samples, by position.
    hists: [Option<Hist>; TIMELINE.len()],
}

fn record_into(slot: &mut Option<Hist>, v: Option<u64>, arena: &[u8]) {
    if let Some(v) = v {
        let h = slot
            .get_or_insert_with(|| Hist::Live(Box::new(new_histogram())))
            .make_live(arena);
        if h.record(v).is_err() {
            h.saturating_record(v);
        }
    }
}

/// Add `other` (packed in `other_arena`) into `slot` (packed in `arena`).
fn merge_into(slot: &mut Option<Hist>, arena: &[u8], other: &Option<Hist>, other_arena: &[u8]) {
    let Some(src) = other.as_ref().and_then(|h| h.live(other_arena)) else {
        return;
    };
    let src: &SecondHistogram = &src;
    let dst = slot
        .get_or_insert_with(|| Hist::Live(Box::new(new_histogram())))
        .make_live(arena);
    if dst.add(src).is_err() {
        for v in src.iter_recorded() {
            if dst
                .record_n(v.value_iterated_to(), v.count_at_value())
                .is_err()
            {
                dst.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }
}

/// p50 and p95 in ms, or `None` without samples.
fn p50_p95_ms(h: &SecondHistogram) -> Option<(f64, f64)> {
    (!h.is_empty()).then(|| {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
        (ms(0.50), ms(0.95))
    })
}

/// The run's per-second timeline. Mergeable (e.g. per worker or shard)
/// and serializable exactly (its histograms are saved like stage
/// histograms).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    seconds: BTreeMap<u64, Second>,
    /// Seconds below this have packed histograms.
    packed_below: u64,
    /// The packed histograms' bytes, back to back.
    arena: Vec<u8>,
}

/// Seconds this far behind the newest record are packed: records arrive
/// in about the order they end, so an older second is complete.
const PACK_AFTER_S: u64 = 3;

/// The second since run start that a µs offset falls in.
pub fn second_of(us: u64) -> u64 {
    us / 1_000_000
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Count a finished request in the second it ended. Warm-up is skipped.
    /// Latencies come from successful requests only, as in stage statistics.
    pub fn record(&mut self, r: &RequestRecord) {
        if r.warmup {
            return;
        }
        let sec = second_of(r.end_us);
        self.pack_before(sec.saturating_sub(PACK_AFTER_S));
        let s = self.seconds.entry(sec).or_default();
        s.completed += 1;
        if !r.ok() {
            s.failed += 1;
            return;
        }
        s.ok += 1;
        s.audio_us = s.audio_us.saturating_add(r.audio_us.unwrap_or(0));
        if let (Some(errors), Some(words)) = (r.word_errors, r.ref_words) {
            s.word_errors += u64::from(errors);
            s.ref_words += u64::from(words);
        }
        for (slot, m) in s.hists.iter_mut().zip(&TIMELINE) {
            record_into(slot, m.value(r), &self.arena);
        }
    }

    /// Pack the histograms of every second below `limit`.
    fn pack_before(&mut self, limit: u64) {
        if limit <= self.packed_below {
            return;
        }
        let arena = &mut self.arena;
        for s in self
            .seconds
            .range_mut(self.packed_below..limit)
            .map(|(_, s)| s)
        {
            s.hists.iter_mut().flatten().for_each(|h| h.pack(arena));
        }
        self.packed_below = limit;
    }

    /// Count `n` arrivals dropped at the in-flight cap during `second`.
    pub fn record_dropped(&mut self, second: u64, n: u64) {
        self.seconds.entry(second).or_default().dropped += n;
    }

    /// Count one request sent (its time origin) during `second`.
    pub fn record_started(&mut self, second: u64) {
        self.seconds.entry(second).or_default().started += 1;
    }

    /// The same seconds `by` later: a shard's timeline on the clock of a
    /// run that started `by` seconds before it.
    pub fn shift(&mut self, by: u64) {
        if by == 0 {
            return;
        }
        let seconds = std::mem::take(&mut self.seconds);
        self.seconds = seconds.into_iter().map(|(s, v)| (s + by, v)).collect();
        self.packed_below += by;
    }

    /// Add another timeline second by second (same clock assumed: for
    /// runs with different epochs, shift one first).
    pub fn merge(&mut self, other: &Timeline) {
        for (sec, o) in &other.seconds {
            let s = self.seconds.entry(*sec).or_default();
            s.started += o.started;
            s.completed += o.completed;
            s.ok += o.ok;
            s.failed += o.failed;
            s.dropped += o.dropped;
            s.audio_us = s.audio_us.saturating_add(o.audio_us);
            s.word_errors += o.word_errors;
            s.ref_words += o.ref_words;
            for (dst, src) in s.hists.iter_mut().zip(&o.hists) {
                merge_into(dst, &self.arena, src, &other.arena);
            }
        }
    }

    /// Requests that ended in the seconds `from..to` (none when `to <= from`).
    pub fn completed_between(&self, from: u64, to: u64) -> u64 {
        if to <= from {
            return 0;
        }
        self.seconds.range(from..to).map(|(_, s)| s.completed).sum()
    }

    /// p50 and p95 (ms) of `metric` over the seconds `from..=to`: the
    /// window a live view shows. `None` without samples or for a metric
    /// the timeline does not keep.
    pub fn window(&self, metric: Metric, from: u64, to: u64) -> Option<(f64, f64)> {
        let i = TIMELINE.iter().position(|m| *m == metric)?;
        let mut merged: Option<Hist> = None;
        for s in self.seconds.range(from..=to).map(|(_, s)| s) {
            merge_into(&mut merged, &[], &s.hists[i], &self.arena);
        }
        let merged = merged?;
        let live = merged.live(&[])?;
        p50_p95_ms(&live)
    }

    /// One row per second from second 0 to the last second with activity;
    /// quiet seconds appear as zero rows so plots have no gaps.
    pub fn rows(&self) -> Vec<TimelineRow> {
        let Some(&last) = self.seconds.keys().next_back() else {
            return Vec::new();
        };
        let quiet = Second::default();
        (0..=last)
            .map(|sec| {
                let s = self.seconds.get(&sec).unwrap_or(&quiet);
                let mut latency = BTreeMap::new();
                for (h, m) in s.hists.iter().zip(&TIMELINE) {
                    let Some((p50, p95)) = h
                        .as_ref()
                        .and_then(|h| h.live(&self.arena))
                        .and_then(|h| p50_p95_ms(&h))
                    else {
                        continue;
                    };
                    latency.insert(format!("{}_p50_ms", m.name()), p50);
                    latency.insert(format!("{}_p95_ms", m.name()), p95);
                }
                TimelineRow {
                    scenario: None,
                    second: sec,
                    started: s.started,
                    completed: s.completed,
                    ok: s.ok,
                    failed: s.failed,
                    dropped: s.dropped,
                    // The bucket is one second wide, so completions per bucket = rps.
                    rps: s.completed as f64,
                    audio_s: s.audio_us as f64 / 1e6,
                    wer_pooled: (s.ref_words > 0)
                        .then(|| s.word_errors as f64 / s.ref_words as f64),
                    latency,
                }
            })
            .collect()
    }
}

/// One second of the timeline, as written to `result.json` and CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineRow {
    /// The scenario, in a run of several (each has its own rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Seconds since run start (this row covers `[second, second + 1)`).
    pub second: u64,
    /// Requests whose time origin fell in this second.
    pub started: u64,
    /// Requests that ended in this second (`ok + failed`).
    pub completed: u64,
    /// Successful requests that ended in this second.
    pub ok: u64,
    /// Failed requests that ended in this second.
    pub failed: u64,
    /// Arrivals dropped at the in-flight cap in this second.
    pub dropped: u64,
    /// Completions per second (= `completed`; the last second may be partial).
    pub rps: f64,
    /// Seconds of audio delivered by successful requests ending in this second.
    pub audio_s: f64,
    /// ASR: word errors ÷ reference words of the requests ending here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wer_pooled: Option<f64>,
    /// p50 and p95 (±1 %) of each [`TIMELINE`] metric with samples in this
    /// second, keyed `{metric}_p50_ms` and `{metric}_p95_ms` (`ttfa_p95_ms`).
    #[serde(flatten)]
    pub latency: BTreeMap<String, f64>,
}

impl TimelineRow {
    /// The median of `metric` in this second, ms.
    pub fn p50_ms(&self, metric: Metric) -> Option<f64> {
        self.latency
            .get(&format!("{}_p50_ms", metric.name()))
            .copied()
    }

    /// The 95th percentile of `metric` in this second, ms.
    pub fn p95_ms(&self, metric: Metric) -> Option<f64> {
        self.latency
            .get(&format!("{}_p95_ms", metric.name()))
            .copied()
    }
}

/// On-disk form of one second: counters plus base64 HdrHistogram V2 blobs
/// keyed by metric name.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedSecond {
    second: u64,
    started: u64,
    completed: u64,
    ok: u64,
    failed: u64,
    dropped: u64,
    audio_us: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    word_errors: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    ref_words: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    hists: BTreeMap<String, String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn encode(h: &Hist, arena: &[u8]) -> Result<String, String> {
    let h = match h {
        Hist::Packed { at, len } => {
            let bytes = arena
                .get(*at as usize..(*at + *len) as usize)
                .ok_or("timeline histogram outside its arena")?;
            return Ok(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        Hist::Live(h) => h,
    };
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(&**h, &mut buf)
        .map_err(|e| format!("timeline histogram: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// A saved histogram, checked and appended to `arena` (packed: a saved
/// timeline may hold hours of seconds).
fn decode(text: &str, arena: &mut Vec<u8>) -> Result<Hist, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("timeline histogram is not base64: {e}"))?;
    let _: SecondHistogram = HdrDeserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("timeline histogram cannot be decoded: {e}"))?;
    let too_big = || "timeline histograms over 4 GiB".to_string();
    let at = u32::try_from(arena.len()).map_err(|_| too_big())?;
    let len = u32::try_from(bytes.len()).map_err(|_| too_big())?;
    arena.extend_from_slice(&bytes);
    Ok(Hist::Packed { at, len })
}

impl Serialize for Timeline {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let saved = self
            .seconds
            .iter()
            .map(|(sec, s)| {
                let mut hists = BTreeMap::new();
                for (h, m) in s.hists.iter().zip(&TIMELINE) {
                    if let Some(h) = h {
                        hists.insert(m.name(), encode(h, &self.arena)?);
                    }
                }
                Ok(SavedSecond {
                    second: *sec,
                    started: s.started,
                    completed: s.completed,
                    ok: s.ok,
                    failed: s.failed,
                    dropped: s.dropped,
                    audio_us: s.audio_us,
                    word_errors: s.word_errors,
                    ref_words: s.ref_words,
                    hists,
                })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(serde::ser::Error::custom)?;
        saved.serialize(ser)
    }
}

impl<'de> Deserialize<'de> for Timeline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let saved = Vec::<SavedSecond>::deserialize(d)?;
        let mut t = Timeline::new();
        for s in saved {
            let mut second = Second {
                started: s.started,
                completed: s.completed,
                ok: s.ok,
                failed: s.failed,
                dropped: s.dropped,
                audio_us: s.audio_us,
                word_errors: s.word_errors,
                ref_words: s.ref_words,
                hists: Default::default(),
            };
            for (name, text) in &s.hists {
                // A metric this version does not keep per second is skipped.
                if let Some(i) = TIMELINE.iter().position(|m| m.name() == *name) {
                    second.hists[i] =
                        Some(decode(text, &mut t.arena).map_err(serde::de::Error::custom)?);
                }
            }
            t.seconds.insert(s.second, second);
        }
        Ok(t)
    }
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
