//! The per-second timeline: rows, merges, packing and its saved form.

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
    // within 1/16 (they are within 1/128 at 2 significant digits).
    let near = |got: Option<f64>, want: f64| {
        let got = got.expect("has samples");
        assert!((got - want).abs() <= want / 16.0, "{got} vs {want}");
    };
    near(r0.p50_ms(Metric::Ttfa), 500.0);
    near(r0.p95_ms(Metric::Ttfa), 1_000.0);
    near(r0.p50_ms(Metric::E2e), 1_000.0);
    near(r0.p95_ms(Metric::E2e), 2_000.0);

    let r1 = &rows[1];
    assert_eq!(
        (r1.second, r1.completed, r1.p50_ms(Metric::Ttfa)),
        (1, 0, None)
    );
    let r2 = &rows[2];
    assert_eq!((r2.completed, r2.dropped), (1, 2));
    near(r2.p50_ms(Metric::Ttfa), 40.0);
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
        .filter(|s| matches!(s.hists[1], Some(Hist::Packed { .. })))
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

#[test]
fn completions_are_counted_by_the_second_they_ended_in() {
    let mut t = Timeline::new();
    for end_ms in [900, 1_200, 1_900, 2_500] {
        t.record(&req(end_ms, 50, 100));
    }
    assert_eq!(t.completed_between(0, 1), 1);
    assert_eq!(t.completed_between(1, 3), 3);
    // An empty or reversed range counts nothing (a probe too short to judge).
    assert_eq!(t.completed_between(2, 2), 0);
    assert_eq!(t.completed_between(3, 1), 0);
}
