//! Worked examples pinning every definition in `defs.rs`.

use super::*;
use crate::protocol::AudioChunk;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` chunks of `audio_ms` audio, the i-th (0-based) arriving at `first_ms + i × every_ms`.
fn regular(n: u64, audio_ms: u64, first_ms: u64, every_ms: u64) -> Vec<(Duration, Duration)> {
    (0..n)
        .map(|i| (ms(first_ms + i * every_ms), ms(audio_ms)))
        .collect()
}

// ---------------------------------------------------------------- stalls

#[test]
fn stalls_slower_than_real_time() {
    // 20 chunks of 100 ms arriving every 125 ms (a_i = 125·(i−1)).
    // Chunk 1 plays 0..100; chunk 2 arrives at 125 > 100 → stall 25, plays 125..225;
    // chunk 3 arrives 250 > 225 → stall 25; … every chunk after the first stalls 25 ms.
    // count = 19, total = 19 × 25 = 475 ms.
    // prebuffer needed = max_i (a_i − a_1 − Σ_{j<i} d_j) = (i=20) 19·125 − 19·100 = 475 ms.
    let chunks = regular(20, 100, 0, 125);
    let r = stalls(&chunks, Duration::ZERO);
    assert_eq!(
        r,
        StallReport {
            count: 19,
            total: ms(475),
            prebuffer_needed: ms(475)
        }
    );
}

#[test]
fn stalls_vanish_with_the_needed_prebuffer() {
    // Same stream, player starts at 0 + 475. Chunk 20 arrives at 2375 and
    // chunk 19 ends at 475 + 19·100 = 2375: not late (a stall needs a_i > end).
    let chunks = regular(20, 100, 0, 125);
    let r = stalls(&chunks, ms(475));
    assert_eq!(r.count, 0);
    assert_eq!(r.total, Duration::ZERO);
    assert_eq!(
        r.prebuffer_needed,
        ms(475),
        "independent of the prebuffer used"
    );
}

#[test]
fn stalls_with_a_partial_prebuffer() {
    // Prebuffer 200: end_{i−1} = 200 + 100·(i−1), a_i = 125·(i−1);
    // late when 25·(i−1) > 200 ⇔ i ≥ 10 → chunks 10..=20 = 11 stalls of 25 ms = 275 ms
    // (= 475 needed − 200 given).
    let chunks = regular(20, 100, 0, 125);
    let r = stalls(&chunks, ms(200));
    assert_eq!((r.count, r.total), (11, ms(275)));
}

#[test]
fn stalls_faster_than_real_time() {
    // 10 chunks of 100 ms every 50 ms: audio piles up, never runs dry.
    // a_i − a_1 − Σ_{j<i} d_j = 50(i−1) − 100(i−1) ≤ 0 → prebuffer 0.
    let r = stalls(&regular(10, 100, 0, 50), Duration::ZERO);
    assert_eq!(r, StallReport::default());
}

#[test]
fn stalls_single_late_chunk() {
    // 100 ms chunks at 0, 100, 200, 500, 600, 700.
    // Chunk 4: end_3 = 300, arrives 500 → one stall of 200 ms; plays 500..600.
    // Chunks 5, 6 arrive exactly when the previous ends → no stall.
    // needed: chunk 4: 500 − 0 − 300 = 200 (chunks 5, 6 give 200 too).
    let chunks: Vec<_> = [0, 100, 200, 500, 600, 700]
        .iter()
        .map(|&a| (ms(a), ms(100)))
        .collect();
    let r = stalls(&chunks, Duration::ZERO);
    assert_eq!(
        r,
        StallReport {
            count: 1,
            total: ms(200),
            prebuffer_needed: ms(200)
        }
    );
}

#[test]
fn stalls_are_shift_invariant_and_empty_is_zero() {
    // The origin of the arrival offsets does not matter: shift everything by 300 ms.
    let shifted = regular(20, 100, 300, 125);
    assert_eq!(stalls(&shifted, Duration::ZERO).total, ms(475));
    assert_eq!(stalls(&[], ms(100)), StallReport::default());
}

// -------------------------------------------------------- perceived TTFA

#[test]
fn perceived_ttfa_adds_leading_silence() {
    // TTFA 250 ms, 100 ms chunks arriving in real time (250, 350, 450, …),
    // 300 ms of leading silence → voiced audio starts in chunk 4 (offset 300),
    // which plays at 250 + 300 = 550 = ttfa + 300.
    let chunks = regular(10, 100, 250, 100);
    assert_eq!(
        perceived_ttfa(&chunks, Duration::ZERO, ms(300)),
        Some(ms(550))
    );
}

#[test]
fn perceived_ttfa_adds_stalls_before_speech() {
    // As above, but chunk 3 arrives 200 ms late: end_2 = 450, a_3 = 650 → stall 200.
    // Chunk 3 plays 650..750, chunk 4 (arrived 750) plays at 750 = ttfa + 300 + 200.
    let chunks: Vec<_> = [250, 350, 650, 750, 850]
        .iter()
        .map(|&a| (ms(a), ms(100)))
        .collect();
    assert_eq!(
        perceived_ttfa(&chunks, Duration::ZERO, ms(300)),
        Some(ms(750))
    );
}

#[test]
fn perceived_ttfa_inside_a_chunk_with_prebuffer() {
    // first_voiced = 150 ms lies 50 ms into chunk 2 (offsets 100..200).
    // Prebuffer 100: chunk 1 plays 350..450, chunk 2 450..550 → heard at 450 + 50 = 500.
    let chunks = regular(5, 100, 250, 100);
    assert_eq!(perceived_ttfa(&chunks, ms(100), ms(150)), Some(ms(500)));
    // Voiced from the first sample: heard when playback starts, ttfa + prebuffer.
    assert_eq!(
        perceived_ttfa(&chunks, ms(100), Duration::ZERO),
        Some(ms(350))
    );
    // first_voiced beyond the 500 ms of audio: undefined.
    assert_eq!(perceived_ttfa(&chunks, ms(100), ms(500)), None);
}

// ------------------------------------------------------- small formulas

#[test]
fn rtf_and_rtfx() {
    // 2 s to produce 4 s of speech: rtf = 2/4 = 0.5, rtfx = 4/2 = 2.
    assert_eq!(rtf(ms(2000), ms(4000)), Some(0.5));
    assert_eq!(rtfx(ms(2000), ms(4000)), Some(2.0));
    assert_eq!(rtf(ms(2000), Duration::ZERO), None);
    assert_eq!(rtfx(ms(2000), Duration::ZERO), None);
    assert_eq!(rtfx(Duration::ZERO, ms(1)), None);
}

#[test]
fn inter_chunk_gaps() {
    // Arrivals 100, 150, 400: gaps 50 and 250 → mean (400−100)/2 = 150, max 250.
    let g = inter_chunk(&[ms(100), ms(150), ms(400)]).expect("two gaps");
    assert_eq!((g.mean, g.max), (ms(150), ms(250)));
    assert_eq!(inter_chunk(&[ms(100)]), None);
    assert_eq!(inter_chunk(&[]), None);
}

#[test]
fn schedule_lag_saturates() {
    let t0 = Instant::now();
    assert_eq!(schedule_lag(t0, t0 + ms(7)), ms(7));
    assert_eq!(schedule_lag(t0 + ms(7), t0), Duration::ZERO);
}

// ---------------------------------------------------------------- sanity

fn summary(duration_ms: Option<u64>, voiced_ms: Option<u64>, inspected: bool) -> AudioSummary {
    AudioSummary {
        duration: duration_ms.map(ms),
        bytes: 1000,
        sample_rate: Some(24_000),
        rate_source: None,
        channels: Some(1),
        first_voiced: voiced_ms.map(ms),
        samples_inspected: inspected,
    }
}

fn kind(e: Option<ProtocolError>) -> Option<ErrorKind> {
    e.map(|e| e.kind)
}

#[test]
fn sanity_classes() {
    let cfg = SanityConfig::default();
    let ok = summary(Some(5000), Some(0), true);
    assert_eq!(
        kind(sanity(0, Some(&ok), 10, &cfg)),
        Some(ErrorKind::NoAudio)
    );
    let silent = summary(Some(5000), None, true);
    assert_eq!(
        kind(sanity(3, Some(&silent), 10, &cfg)),
        Some(ErrorKind::SilentAudio)
    );
    // Not inspected (e.g. mp3 without decoding): None means unknown, not silent.
    assert_eq!(
        sanity(3, Some(&summary(Some(5000), None, false)), 10, &cfg),
        None
    );
    // 300 chars at 15 chars/s, ratio 0.2 → at least 0.2 × 300 / 15 = 4.0 s.
    let short = summary(Some(3999), Some(0), true);
    let e = sanity(3, Some(&short), 300, &cfg).expect("3.999 s < 4.0 s");
    assert_eq!(e.kind, ErrorKind::ShortAudio);
    assert!(
        e.detail.contains("expected at least 4.00 s"),
        "{}",
        e.detail
    );
    assert_eq!(
        sanity(3, Some(&summary(Some(4000), Some(0), true)), 300, &cfg),
        None
    );
    // Unknown duration: cannot judge length.
    assert_eq!(
        sanity(3, Some(&summary(None, Some(0), true)), 300, &cfg),
        None
    );
    let off = SanityConfig {
        enabled: false,
        ..cfg
    };
    assert_eq!(sanity(0, None, 300, &off), None);
}

// --------------------------------------------------------------- measure

/// A PCM response: origin t0 (scheduled), sent at +5 ms, headers at +50 ms,
/// five 100 ms chunks at 100, 200, 300, 400, 500 ms, finished at 520 ms.
fn pcm_probe(t0: Instant) -> Probe {
    let mut p = Probe::new();
    p.sent_at = Some(t0 + ms(5));
    p.headers_at = Some(t0 + ms(50));
    p.status = Some(200);
    for a in [100, 200, 300, 400, 500] {
        p.chunk(t0 + ms(a), 4800, Some(ms(100)));
    }
    p.finished_at = Some(t0 + ms(520));
    p.audio = Some(AudioSummary {
        bytes: 24_000,
        ..summary(Some(500), Some(0), true)
    });
    p
}

#[test]
fn measure_streamed_pcm_open_loop() {
    let t0 = Instant::now();
    let r = measure(
        t0,
        Some(t0),
        &pcm_probe(t0),
        None,
        5,
        &MeasureConfig::default(),
    );
    assert_eq!(r.schedule_lag_us, Some(5_000));
    assert_eq!(r.status, Some(200));
    assert_eq!(r.ttfb_us, Some(50_000));
    assert_eq!(r.ttfa_us, Some(100_000));
    assert_eq!(r.chunk_us, vec![(1, 100_000), (4, 400_000)]);
    assert_eq!(r.inter_chunk_mean_us, Some(100_000));
    assert_eq!(r.inter_chunk_max_us, Some(100_000));
    assert_eq!(r.e2e_us, Some(520_000));
    assert_eq!(
        (r.chunks, r.audio_bytes, r.audio_us),
        (5, 24_000, Some(500_000))
    );
    // rtf = 0.52 / 0.5 = 1.04; rtfx = 0.5 / 0.52.
    assert!((r.rtf.expect("rtf") - 1.04).abs() < 1e-9);
    assert!((r.rtfx.expect("rtfx") - 0.5 / 0.52).abs() < 1e-9);
    // Real-time arrival: no stalls.
    assert_eq!(
        (r.stall_count, r.stall_us, r.prebuffer_needed_us),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(r.leading_silence_us, Some(0));
    assert_eq!(r.perceived_ttfa_us, Some(100_000));
    assert_eq!((r.error, r.error_detail.as_deref()), (None, None));
    assert_eq!(r.text_chars, 5);
    // Left for the driver.
    assert_eq!((r.stage, r.seq, r.start_us, r.end_us), (0, 0, 0, 0));
}

#[test]
fn measure_closed_loop_with_prebuffer_and_silence() {
    let t0 = Instant::now();
    let mut p = pcm_probe(t0);
    p.audio = Some(summary(Some(500), Some(250), true));
    let cfg = MeasureConfig {
        prebuffer: ms(50),
        ..MeasureConfig::default()
    };
    let r = measure(t0, None, &p, None, 5, &cfg);
    assert_eq!(r.schedule_lag_us, None, "closed loop has no schedule");
    assert_eq!(r.leading_silence_us, Some(250_000));
    // Playback starts 100 + 50 = 150; offset 250 is 50 ms into chunk 3,
    // which starts at 150 + 200 = 350 → heard at 400 ms.
    assert_eq!(r.perceived_ttfa_us, Some(400_000));
}

#[test]
fn measure_absent_never_zero() {
    let t0 = Instant::now();
    let mut p = Probe::new();
    p.sent_at = Some(t0);
    p.headers_at = Some(t0 + ms(10));
    // Three chunks of compressed audio: per-chunk duration unknown.
    for a in [100, 150, 300] {
        p.chunk(t0 + ms(a), 500, None);
    }
    p.chunk(t0 + ms(310), 0, None); // empty reads are not chunks
    p.finished_at = Some(t0 + ms(310));
    p.audio = Some(summary(Some(2000), None, false));
    let cfg = MeasureConfig {
        chunk_ks: vec![0, 1, 1, 4],
        ..MeasureConfig::default()
    };
    let r = measure(t0, None, &p, None, 20, &cfg);
    assert_eq!(r.chunks, 3);
    assert_eq!(r.audio_bytes, 1000, "decoder's byte count preferred");
    assert_eq!(
        r.chunk_us,
        vec![(1, 100_000)],
        "k=0 ignored, dup ignored, chunk 4 absent"
    );
    assert_eq!(r.inter_chunk_mean_us, Some(100_000)); // (300 − 100) / 2
    assert_eq!(r.inter_chunk_max_us, Some(150_000));
    assert_eq!(r.stall_count, None, "compressed: stalls unknown");
    assert_eq!(r.prebuffer_needed_us, None);
    assert_eq!(r.perceived_ttfa_us, None);
    assert_eq!(r.leading_silence_us, None, "samples not inspected");
    assert_eq!(r.error, None, "uninspected audio is not 'silent'");
}

#[test]
fn measure_failure_keeps_reached_metrics() {
    let t0 = Instant::now();
    let mut p = Probe::new();
    p.sent_at = Some(t0);
    p.headers_at = Some(t0 + ms(10));
    p.chunk(t0 + ms(100), 4800, Some(ms(100)));
    // Timed out: no finish, no audio summary.
    let err = ProtocolError::new(ErrorKind::Timeout, "no data for 30 s");
    let r = measure(t0, None, &p, Some(&err), 50, &MeasureConfig::default());
    assert_eq!(r.error, Some(ErrorKind::Timeout));
    assert_eq!(r.error_detail.as_deref(), Some("no data for 30 s"));
    assert_eq!(r.ttfa_us, Some(100_000));
    assert_eq!(r.e2e_us, None);
    assert_eq!((r.rtf, r.rtfx, r.audio_us), (None, None, None));
    assert_eq!(r.audio_bytes, 4800, "falls back to chunk bytes");
    assert_eq!(r.stall_count, Some(0), "one chunk with known audio");
    assert_eq!(r.inter_chunk_mean_us, None);
}

#[test]
fn measure_applies_sanity_only_without_failure() {
    let t0 = Instant::now();
    let mut p = Probe::new();
    p.sent_at = Some(t0);
    p.finished_at = Some(t0 + ms(30));
    p.status = Some(200);
    let r = measure(t0, None, &p, None, 50, &MeasureConfig::default());
    assert_eq!(r.error, Some(ErrorKind::NoAudio));
    assert_eq!(r.ttfa_us, None);

    let err = ProtocolError::new(ErrorKind::Http(503), "busy");
    let r = measure(t0, None, &p, Some(&err), 50, &MeasureConfig::default());
    assert_eq!(
        r.error,
        Some(ErrorKind::Http(503)),
        "the adapter's error wins"
    );
}

#[test]
fn measure_config_serde_uses_micros() {
    let json = serde_json::to_value(MeasureConfig::default()).expect("serialize");
    assert_eq!(json["prebuffer_us"], 0);
    assert_eq!(json["chunk_ks"], serde_json::json!([1, 4]));
    let cfg: MeasureConfig =
        serde_json::from_str(r#"{"prebuffer_us": 250000}"#).expect("partial config");
    assert_eq!(cfg.prebuffer, ms(250));
    assert_eq!(cfg.sanity, SanityConfig::default());
    assert!(serde_json::from_str::<MeasureConfig>(r#"{"prebuffer": 1}"#).is_err());
}

#[test]
fn chunk_helper_is_used_by_probe() {
    // Guard the assumption measure relies on: chunks[0] is the first audio.
    let t0 = Instant::now();
    let mut p = Probe::new();
    p.chunk(t0, 0, None);
    p.chunk(t0 + ms(1), 2, Some(ms(1)));
    assert_eq!(
        p.chunks,
        vec![AudioChunk {
            at: t0 + ms(1),
            bytes: 2,
            audio: Some(ms(1))
        }]
    );
}
