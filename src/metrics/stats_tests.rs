//! Worked examples for stage statistics: percentiles, routing of requests to
//! histograms, exact merge and exact save/restore.

use super::*;

/// A successful request with the given TTFA and e2e (ms) and 1 s of audio.
fn ok(seq: u64, ttfa_ms: u64, e2e_ms: u64) -> RequestRecord {
    RequestRecord {
        seq,
        start_us: seq * 1_000,
        end_us: seq * 1_000 + e2e_ms * 1_000,
        ttfb_us: Some(ttfa_ms * 500),
        ttfa_us: Some(ttfa_ms * 1_000),
        chunk_us: vec![(1, ttfa_ms * 1_000)],
        e2e_us: Some(e2e_ms * 1_000),
        audio_us: Some(1_000_000),
        rtf: Some(e2e_ms as f64 / 1_000.0),
        rtfx: Some(1_000.0 / e2e_ms as f64),
        chunks: 1,
        ..RequestRecord::default()
    }
}

fn failed(seq: u64, kind: ErrorKind, detail: &str) -> RequestRecord {
    RequestRecord {
        seq,
        start_us: seq * 1_000,
        end_us: seq * 1_000 + 5_000,
        ttfb_us: Some(5_000),
        e2e_us: Some(5_000),
        schedule_lag_us: Some(3_000),
        error: Some(kind),
        error_detail: Some(detail.into()),
        ..RequestRecord::default()
    }
}

/// Relative closeness, for HDR values (3 significant digits ⇒ ±0.1 %).
fn close(actual: f64, expected: f64, rel: f64) -> bool {
    (actual - expected).abs() <= expected.abs() * rel
}

#[test]
fn percentiles_of_1_to_100_ms() {
    // TTFA = 1, 2, …, 100 ms. Nearest-rank: p50 = 50 ms, p90 = 90, p95 = 95,
    // p99 = 99, min 1, max 100, mean 50.5. HDR with 3 significant digits returns
    // the top of the value's bucket: 50,000 µs lies in a 32 µs bucket → 50.015 ms
    // (+0.03 %); 1,000 µs is below 2,048 and exact.
    let mut s = StageStats::new(&[1]);
    for i in 1..=100 {
        s.record(&ok(i, i, 2 * i));
    }
    let p = s.percentiles(&Metric::Ttfa).expect("ttfa has samples");
    assert_eq!((p.unit, p.count), (Unit::Micros, 100));
    assert_eq!(p.min, 1.0, "1 ms = 1000 µs is exact");
    for (got, want) in [
        (p.p50, 50.0),
        (p.p90, 90.0),
        (p.p95, 95.0),
        (p.p99, 99.0),
        (p.max, 100.0),
        (p.mean, 50.5),
    ] {
        assert!(close(got, want, 0.001), "{got} vs {want}");
    }
    // rtf = e2e / 1 s = 0.002 … 0.2 → shown as plain ratios.
    let rtf = s.percentiles(&Metric::Rtf).expect("rtf");
    assert_eq!(rtf.unit, Unit::Ratio);
    assert!(close(rtf.p50, 0.1, 0.001), "{}", rtf.p50);
    assert!(close(rtf.max, 0.2, 0.001), "{}", rtf.max);
}

#[test]
fn routing_of_requests() {
    let mut s = StageStats::new(&[1, 4]);
    s.record(&ok(1, 100, 500));
    s.record(&RequestRecord {
        warmup: true,
        ..ok(2, 1, 1)
    });
    s.record(&failed(3, ErrorKind::Timeout, "no data for 30 s"));
    s.record(&failed(4, ErrorKind::Timeout, "second detail"));
    s.record(&failed(5, ErrorKind::Http(503), "busy"));
    s.record_dropped(7);

    let c = &s.counters;
    assert_eq!(
        (c.requests, c.ok, c.failed, c.warmup, c.dropped),
        (4, 1, 3, 1, 7)
    );
    assert_eq!(
        (c.first_start_us, c.last_end_us),
        (Some(1_000), Some(501_000))
    );
    // Latency histograms: the one success only (ttfb 50 ms, not the failures' 5 ms).
    // (HDR: 50,000 µs sits in a 32 µs bucket, so min reads 49.984 ms.)
    let ttfb = s.percentiles(&Metric::Ttfb).expect("ttfb");
    assert_eq!(ttfb.count, 1);
    assert!(close(ttfb.min, 50.0, 0.001), "{}", ttfb.min);
    assert_eq!(s.histogram(&Metric::E2e).map(|h| h.len()), Some(1));
    // schedule_lag takes the failures too (the success had no lag).
    assert_eq!(s.histogram(&Metric::ScheduleLag).map(|h| h.len()), Some(3));
    // Absent, not zero: no chunk 4, no stall info, no open-loop e2e_uncorrected.
    assert!(s.histogram(&Metric::Chunk(4)).is_none());
    assert!(s.histogram(&Metric::StallCount).is_none());
    assert!(s.histogram(&Metric::E2eUncorrected).is_none());

    let sum = s.summary(Duration::from_secs(2));
    // 4 completed over 2 s = 2 rps; 1 s of audio over 2 s = 0.5; 1 of 4 ok.
    assert_eq!(sum.achieved_rps, 2.0);
    assert_eq!(sum.audio_s_per_wall_s, 0.5);
    assert_eq!(sum.success_rate, Some(0.25));
    assert_eq!(sum.stalled_share, None);
    assert!(!sum.metrics.contains_key("chunk4"));
    assert!(!sum.metrics.contains_key("stall_count"));
    assert_eq!(sum.metrics["chunk1"].count, 1);
    let labels: Vec<_> = sum
        .errors
        .iter()
        .map(|e| (e.label.as_str(), e.count, e.example.as_deref()))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("timeout", 2, Some("no data for 30 s")),
            ("http_503", 1, Some("busy"))
        ]
    );
    assert_eq!(
        s.metrics(),
        vec![
            Metric::Ttfb,
            Metric::Ttfa,
            Metric::Chunk(1),
            Metric::E2e,
            Metric::AudioDuration,
            Metric::Rtf,
            Metric::Rtfx,
            Metric::ScheduleLag
        ]
    );
}

#[test]
fn stalls_and_open_loop_metrics() {
    let mut s = StageStats::new(&[]);
    // Open loop: e2e 500 ms from the schedule, sent 200 ms late → uncorrected 300 ms.
    for (i, stalls) in [0u32, 0, 2, 5].into_iter().enumerate() {
        s.record(&RequestRecord {
            schedule_lag_us: Some(200_000),
            stall_count: Some(stalls),
            stall_us: Some(u64::from(stalls) * 10_000),
            ..ok(i as u64, 100, 500)
        });
    }
    s.record(&ok(9, 100, 500)); // no stall info (compressed audio)
    let sum = s.summary(Duration::from_secs(1));
    // 2 of the 4 requests with stall info stalled.
    assert_eq!(sum.stalled_share, Some(0.5));
    assert_eq!(sum.metrics["stall_count"].unit, Unit::Count);
    assert_eq!(sum.metrics["stall_count"].max, 5.0);
    assert_eq!(sum.metrics["stall_time"].p50, 0.0);
    assert!(close(sum.metrics["e2e_uncorrected"].p50, 300.0, 0.001));
    assert_eq!(sum.metrics["e2e_uncorrected"].count, 4);
    assert!(close(sum.metrics["schedule_lag"].max, 200.0, 0.001));
}

#[test]
fn empty_stage_summary() {
    let sum = StageStats::new(&[1, 4]).summary(Duration::ZERO);
    assert_eq!(
        (sum.requests, sum.success_rate, sum.achieved_rps),
        (0, None, 0.0)
    );
    assert!(sum.metrics.is_empty());
    assert!(sum.errors.is_empty());
}

fn sample_records() -> Vec<RequestRecord> {
    let mut v: Vec<_> = (1..=200).map(|i| ok(i, 50 + i % 37, 400 + i * 7)).collect();
    v.push(failed(201, ErrorKind::Decode, "bad base64"));
    v.push(failed(202, ErrorKind::Http(429), "slow down"));
    v
}

#[test]
fn merge_of_halves_equals_whole() {
    let records = sample_records();
    let mut whole = StageStats::new(&[1, 4]);
    records.iter().for_each(|r| whole.record(r));
    whole.record_dropped(3);

    let (a, b) = records.split_at(77);
    let mut left = StageStats::new(&[1, 4]);
    let mut right = StageStats::new(&[1, 4]);
    a.iter().for_each(|r| left.record(r));
    b.iter().for_each(|r| right.record(r));
    right.record_dropped(3);
    left.merge(&right);

    assert_eq!(left, whole);
    let wall = Duration::from_secs(10);
    assert_eq!(left.summary(wall), whole.summary(wall));
}

#[test]
fn json_round_trip_is_exact() {
    let mut s = StageStats::new(&[1, 4]);
    sample_records().iter().for_each(|r| s.record(r));
    let json = serde_json::to_string(&s).expect("serialize");
    let back: StageStats = serde_json::from_str(&json).expect("deserialize");
    let wall = Duration::from_millis(12_345);
    assert_eq!(back.summary(wall), s.summary(wall));
    assert_eq!(back.counters, s.counters);
    assert_eq!(back.errors, s.errors);

    // A restored histogram must keep growing when merged with larger values.
    let mut grown = back.clone();
    let mut big = StageStats::new(&[1, 4]);
    big.record(&ok(1, 1_000_000, 3_600_000));
    grown.merge(&big);
    let p = grown.percentiles(&Metric::Ttfa).expect("ttfa");
    assert!(close(p.max, 1_000_000.0, 0.001), "{}", p.max);

    // The summary round-trips too, up to float parsing (serde_json without
    // `float_roundtrip` may differ in the last bit; the saved histograms above are exact).
    let sum = s.summary(wall);
    let text = serde_json::to_string(&sum).expect("summary");
    let again: StageSummary = serde_json::from_str(&text).expect("back");
    assert_eq!(
        (again.requests, again.errors.len()),
        (sum.requests, sum.errors.len())
    );
    for (name, p) in &sum.metrics {
        let q = &again.metrics[name];
        assert_eq!((q.unit, q.count), (p.unit, p.count));
        assert!(
            close(q.mean, p.mean, 1e-12) && close(q.p99, p.p99, 1e-12),
            "{name}"
        );
    }
    assert!(text.contains(r#""unit":"ms""#), "{text}");
}

#[test]
fn from_serialized_rejects_bad_input() {
    let mut hists = BTreeMap::new();
    hists.insert("nope".to_string(), String::new());
    let err = StageStats::from_serialized(&[], StageCounters::default(), BTreeMap::new(), &hists);
    assert!(matches!(err, Err(StatsError::UnknownMetric(_))));

    hists.clear();
    hists.insert("ttfa".to_string(), "***".to_string());
    let err = StageStats::from_serialized(&[], StageCounters::default(), BTreeMap::new(), &hists);
    assert!(matches!(err, Err(StatsError::Base64 { .. })));

    hists.insert("ttfa".to_string(), "AAAA".to_string());
    let err = StageStats::from_serialized(&[], StageCounters::default(), BTreeMap::new(), &hists);
    assert!(matches!(err, Err(StatsError::Decode { .. })), "{err:?}");
}

#[test]
fn calls_and_connection_success_count_first_turns_only() {
    let turn =
        |seq: u64, turn: u32, connect: Option<u64>, error: Option<ErrorKind>| RequestRecord {
            seq,
            turn: Some(turn),
            connect_us: connect,
            error,
            ..RequestRecord::default()
        };
    let mut s = StageStats::new(&[]);
    // Call 0 connected and took 2 turns; call 1 was refused at the handshake;
    // call 2 connected and failed on its first turn.
    s.record(&turn(0, 1, Some(900), None));
    s.record(&turn(0, 2, None, None));
    s.record(&turn(1, 1, None, Some(ErrorKind::Http(503))));
    s.record(&turn(2, 1, Some(800), Some(ErrorKind::Timeout)));
    let sum = s.summary(Duration::from_secs(1));
    assert_eq!((sum.requests, sum.calls), (4, 3));
    assert!(close(sum.connect_success.expect("calls"), 2.0 / 3.0, 1e-12));
    // Not a conversation: nothing about calls.
    let mut tts = StageStats::new(&[]);
    tts.record(&ok(0, 10, 20));
    assert_eq!(
        (
            tts.summary(Duration::from_secs(1)).calls,
            tts.summary(Duration::from_secs(1)).connect_success
        ),
        (0, None)
    );
}

#[test]
fn untested_barge_ins_are_counted_apart_from_the_barge_in_figures() {
    use crate::metrics::registry::StageMetric;
    let turn =
        |seq: u64, leak: Option<u64>, untested: bool, error: Option<ErrorKind>| RequestRecord {
            seq,
            turn: Some(2),
            barge_in_leak_us: leak,
            barge_in_silence_us: leak,
            barge_in_untested: untested,
            error,
            ..RequestRecord::default()
        };
    let mut s = StageStats::new(&[]);
    // Two measured barge-ins (one ignored), one untested, one turn without.
    s.record(&turn(0, Some(150_000), false, None));
    s.record(&turn(
        1,
        Some(3_000_000),
        false,
        Some(ErrorKind::BargeInIgnored),
    ));
    s.record(&turn(2, None, true, None));
    s.record(&turn(3, None, false, None));
    let mut merged = StageStats::new(&[]);
    merged.merge(&s);
    for stats in [&s, &merged] {
        let sum = stats.summary(Duration::from_secs(1));
        assert_eq!((sum.barge_ins, sum.barge_in_untested), (3, 1));
        // The untested turn is ok but adds no 0 to the barge-in figures.
        assert_eq!(sum.ok, 3);
        assert_eq!(sum.metrics["barge_in_leak"].count, 1);
        let share = StageMetric::BargeInUntested.observe(&sum).expect("planned");
        assert!(close(share, 100.0 / 3.0, 1e-9), "{share}");
    }
    let back: StageStats =
        serde_json::from_value(serde_json::to_value(&s).expect("save")).expect("restore");
    assert_eq!(back, s);
    // No barge-in planned: no figure.
    let none = StageStats::new(&[]).summary(Duration::from_secs(1));
    assert!(StageMetric::BargeInUntested.observe(&none).is_err());
}
