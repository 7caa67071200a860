//! Per-second timeline of a run: what happened in each wall second, so a
//! report can show warm-up effects, saturation and recovery over time.
//!
//! Memory is bounded per *second*, not per request: each second keeps a few
//! counters and two small histograms (TTFA and e2e of successful requests),
//! and seconds more than a few behind the newest are packed into their
//! serialized form (tens of bytes), so a long run stays flat in memory.
//! Those histograms keep 1 significant digit — HDR's 32 sub-buckets per power
//! of two — so a timeline percentile is within about 6 % (1/16) of the true
//! value. Stage statistics, not the timeline, carry the precise numbers.
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

use crate::metrics::RequestRecord;

/// Significant digits of the per-second histograms (see the module doc).
const SIGFIG: u8 = 1;

/// Histogram counts fit in `u32`: no second holds four billion requests.
type SecondHistogram = Histogram<u32>;

fn new_histogram() -> SecondHistogram {
    Histogram::new(SIGFIG).expect("1 significant digit is a valid HDR configuration")
}

/// What happened in one second.
/// A second's histogram: live while its second may still receive records,
/// then packed into its V2 serialization (tens of bytes instead of ~1.6 KB),
/// so a long run's memory does not grow with its length.
#[derive(Debug, Clone, PartialEq)]
enum Hist {
    Live(SecondHistogram),
    Packed(Vec<u8>),
}

impl Hist {
    /// The histogram, decoding a packed one.
    fn live(&self) -> Option<std::borrow::Cow<'_, SecondHistogram>> {
        match self {
            Hist::Live(h) => Some(std::borrow::Cow::Borrowed(h)),
            Hist::Packed(bytes) => unpack(bytes).map(std::borrow::Cow::Owned),
        }
    }

    /// Make it live (for a late record or a merge).
    fn make_live(&mut self) -> &mut SecondHistogram {
        if let Hist::Packed(bytes) = self {
            *self = Hist::Live(unpack(bytes).unwrap_or_else(new_histogram));
        }
        match self {
            Hist::Live(h) => h,
            Hist::Packed(_) => unreachable!("just made live"),
        }
    }

    fn pack(&mut self) {
        if let Hist::Live(h) = self {
            let mut buf = Vec::new();
            if V2Serializer::new().serialize(h, &mut buf).is_ok() {
                *self = Hist::Packed(buf);
            }
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
    ttfa: Option<Hist>,
    e2e: Option<Hist>,
}

fn record_into(slot: &mut Option<Hist>, v: Option<u64>) {
    if let Some(v) = v {
        let h = slot
            .get_or_insert_with(|| Hist::Live(new_histogram()))
            .make_live();
        if h.record(v).is_err() {
            h.saturating_record(v);
        }
    }
}

fn merge_into(slot: &mut Option<Hist>, other: &Option<Hist>) {
    let Some(src) = other.as_ref().and_then(Hist::live) else {
        return;
    };
    let src: &SecondHistogram = &src;
    let dst = slot
        .get_or_insert_with(|| Hist::Live(new_histogram()))
        .make_live();
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
fn p50_p95_ms(h: &Option<Hist>) -> (Option<f64>, Option<f64>) {
    match h.as_ref().and_then(Hist::live).as_deref() {
        Some(h) if !h.is_empty() => {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
            (Some(ms(0.50)), Some(ms(0.95)))
        }
        _ => (None, None),
    }
}

/// The run's per-second timeline. Mergeable (e.g. per worker) and
/// serializable exactly (its histograms are saved like stage histograms).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    seconds: BTreeMap<u64, Second>,
    /// Seconds below this have packed histograms.
    packed_below: u64,
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
        if r.ok() {
            s.ok += 1;
            s.audio_us = s.audio_us.saturating_add(r.audio_us.unwrap_or(0));
            record_into(&mut s.ttfa, r.ttfa_us);
            record_into(&mut s.e2e, r.e2e_us);
        } else {
            s.failed += 1;
        }
    }

    /// Pack the histograms of every second below `limit`.
    fn pack_before(&mut self, limit: u64) {
        if limit <= self.packed_below {
            return;
        }
        for s in self
            .seconds
            .range_mut(self.packed_below..limit)
            .map(|(_, s)| s)
        {
            s.ttfa
                .iter_mut()
                .chain(s.e2e.iter_mut())
                .for_each(Hist::pack);
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

    /// Add another timeline second by second (same run clock assumed).
    pub fn merge(&mut self, other: &Timeline) {
        for (sec, o) in &other.seconds {
            let s = self.seconds.entry(*sec).or_default();
            s.started += o.started;
            s.completed += o.completed;
            s.ok += o.ok;
            s.failed += o.failed;
            s.dropped += o.dropped;
            s.audio_us = s.audio_us.saturating_add(o.audio_us);
            merge_into(&mut s.ttfa, &o.ttfa);
            merge_into(&mut s.e2e, &o.e2e);
        }
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
                let (ttfa_p50_ms, ttfa_p95_ms) = p50_p95_ms(&s.ttfa);
                let (e2e_p50_ms, e2e_p95_ms) = p50_p95_ms(&s.e2e);
                TimelineRow {
                    second: sec,
                    started: s.started,
                    completed: s.completed,
                    ok: s.ok,
                    failed: s.failed,
                    dropped: s.dropped,
                    // The bucket is one second wide, so completions per bucket = rps.
                    rps: s.completed as f64,
                    audio_s: s.audio_us as f64 / 1e6,
                    ttfa_p50_ms,
                    ttfa_p95_ms,
                    e2e_p50_ms,
                    e2e_p95_ms,
                }
            })
            .collect()
    }
}

/// One second of the timeline, as written to `result.json` and CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineRow {
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
    /// Median TTFA of successful requests ending here (±6 %).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfa_p50_ms: Option<f64>,
    /// 95th-percentile TTFA (±6 %).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfa_p95_ms: Option<f64>,
    /// Median e2e (±6 %).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_p50_ms: Option<f64>,
    /// 95th-percentile e2e (±6 %).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_p95_ms: Option<f64>,
}

/// On-disk form of one second: counters plus base64 HdrHistogram V2 blobs.
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
    #[serde(skip_serializing_if = "Option::is_none", default)]
    ttfa: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    e2e: Option<String>,
}

fn encode(h: &Option<Hist>) -> Result<Option<String>, String> {
    let h = match h {
        None => return Ok(None),
        Some(Hist::Packed(bytes)) => {
            return Ok(Some(
                base64::engine::general_purpose::STANDARD.encode(bytes),
            ))
        }
        Some(Hist::Live(h)) => h,
    };
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| format!("timeline histogram: {e}"))?;
    Ok(Some(base64::engine::general_purpose::STANDARD.encode(buf)))
}

fn decode(text: &Option<String>) -> Result<Option<Hist>, String> {
    let Some(text) = text else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("timeline histogram is not base64: {e}"))?;
    let mut h: SecondHistogram = HdrDeserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("timeline histogram cannot be decoded: {e}"))?;
    h.auto(true);
    Ok(Some(Hist::Live(h)))
}

impl Serialize for Timeline {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let saved = self
            .seconds
            .iter()
            .map(|(sec, s)| {
                Ok(SavedSecond {
                    second: *sec,
                    started: s.started,
                    completed: s.completed,
                    ok: s.ok,
                    failed: s.failed,
                    dropped: s.dropped,
                    audio_us: s.audio_us,
                    ttfa: encode(&s.ttfa)?,
                    e2e: encode(&s.e2e)?,
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
            let second = Second {
                started: s.started,
                completed: s.completed,
                ok: s.ok,
                failed: s.failed,
                dropped: s.dropped,
                audio_us: s.audio_us,
                ttfa: decode(&s.ttfa).map_err(serde::de::Error::custom)?,
                e2e: decode(&s.e2e).map_err(serde::de::Error::custom)?,
            };
            t.seconds.insert(s.second, second);
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorKind;

    fn req(end_ms: u64, ttfa_ms: u64, e2e_ms: u64) -> RequestRecord {
        RequestRecord {
            end_us: end_ms * 1_000,
            ttfa_us: Some(ttfa_ms * 1_000),
            e2e_us: Some(e2e_ms * 1_000),
            audio_us: Some(500_000),
            ..RequestRecord::default()
        }
    }

    fn sample() -> Timeline {
        let mut t = Timeline::new();
        // Second 0: ten requests, TTFA 100..=1000 ms step 100; one failure.
        for i in 1..=10 {
            t.record_started(0);
            t.record(&req(100 * i - 1, 100 * i, 200 * i));
        }
        t.record(&RequestRecord {
            end_us: 999_999,
            error: Some(ErrorKind::Timeout),
            ..RequestRecord::default()
        });
        // Second 1: quiet. Second 2: one request, two drops; warm-up ignored.
        t.record(&req(2_500, 40, 80));
        t.record_dropped(2, 2);
        t.record(&RequestRecord {
            warmup: true,
            ..req(2_600, 1, 1)
        });
        t
    }

    #[test]
    fn rows_per_second() {
        let rows = sample().rows();
        assert_eq!(rows.len(), 3, "seconds 0, 1 (quiet) and 2");
        let r0 = &rows[0];
        assert_eq!(
            (r0.started, r0.completed, r0.ok, r0.failed, r0.rps),
            (10, 11, 10, 1, 11.0)
        );
        // 10 ok requests × 0.5 s of audio = 5 s.
        assert_eq!(r0.audio_s, 5.0);
        // TTFA 100, 200, …, 1000 ms: p50 = 500 ms, p95 = 1000 ms, each
        // within 1/16 at 1 significant digit.
        let near = |got: Option<f64>, want: f64| {
            let got = got.expect("has samples");
            assert!((got - want).abs() <= want / 16.0, "{got} vs {want}");
        };
        near(r0.ttfa_p50_ms, 500.0);
        near(r0.ttfa_p95_ms, 1_000.0);
        near(r0.e2e_p50_ms, 1_000.0);
        near(r0.e2e_p95_ms, 2_000.0);

        let r1 = &rows[1];
        assert_eq!((r1.second, r1.completed, r1.ttfa_p50_ms), (1, 0, None));
        let r2 = &rows[2];
        assert_eq!((r2.completed, r2.dropped), (1, 2));
        near(r2.ttfa_p50_ms, 40.0);
        assert!(Timeline::new().rows().is_empty());
    }

    #[test]
    fn merge_and_round_trip() {
        let whole = sample();
        let mut a = Timeline::new();
        let mut b = Timeline::new();
        for i in 1..=10 {
            let t = if i % 2 == 0 { &mut a } else { &mut b };
            t.record_started(0);
            t.record(&req(100 * i - 1, 100 * i, 200 * i));
        }
        b.record(&RequestRecord {
            end_us: 999_999,
            error: Some(ErrorKind::Timeout),
            ..RequestRecord::default()
        });
        b.record(&req(2_500, 40, 80));
        a.record_dropped(2, 2);
        a.merge(&b);
        assert_eq!(a.rows(), whole.rows());

        let json = serde_json::to_string(&whole).expect("serialize");
        let back: Timeline = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back.rows(), whole.rows());
        let rows_json = serde_json::to_string(&whole.rows()).expect("rows");
        assert!(rows_json.contains(r#""ttfa_p50_ms""#), "{rows_json}");
    }

    #[test]
    fn old_seconds_are_packed_without_changing_rows() {
        // 20 seconds of records in end order: seconds more than 3 behind the
        // newest get packed; rows must equal a timeline built without packing
        // (one timeline per second, merged).
        let mut packed = Timeline::new();
        let mut merged = Timeline::new();
        for sec in 0..20u64 {
            let mut one = Timeline::new();
            for i in 0..50u64 {
                let r = req(sec * 1_000 + i * 7, 40 + (i * sec) % 90, 200 + i * 3);
                packed.record(&r);
                one.record(&r);
            }
            merged.merge(&one);
        }
        let packed_count = packed
            .seconds
            .values()
            .filter(|s| matches!(s.e2e, Some(Hist::Packed(_))))
            .count();
        assert_eq!(packed_count, 16, "seconds 0..=15 are packed, 16..=19 live");
        assert_eq!(packed.rows(), merged.rows());
        // A straggler for a packed second still counts, exactly.
        let late = req(2_500, 60, 300);
        packed.record(&late);
        merged.record(&late);
        assert_eq!(packed.rows(), merged.rows());
        let json = serde_json::to_string(&packed).expect("serialize");
        let back: Timeline = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back.rows(), packed.rows());
    }
}
