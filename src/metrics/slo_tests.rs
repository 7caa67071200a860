use std::time::Duration;

use super::*;
use crate::metrics::registry::StageMetric;
use crate::metrics::{RequestRecord, StageStats};
use crate::protocol::ErrorKind;
use crate::result::StageResult;
use crate::workload::Workload;

fn slo(s: &str) -> Slo {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn kind(s: &str) -> SloErrorKind {
    s.parse::<Slo>().expect_err(s).kind
}

/// A stage of 100 requests over 10 s: ttfa 1..=98 ms for the 98 that
/// succeeded, 2 timeouts, 5 drops; 10 of the ok requests stalled.
fn stage() -> StageResult {
    let mut stats = StageStats::new(&[1]);
    for i in 1..=100u64 {
        let ok = i <= 98;
        stats.record(&RequestRecord {
            seq: i,
            start_us: i * 100_000,
            end_us: i * 100_000 + 50_000,
            ttfa_us: ok.then_some(i * 1000),
            e2e_us: ok.then_some(i * 2000),
            audio_us: ok.then_some(1_000_000),
            rtf: ok.then_some(i as f64 / 100.0),
            stall_count: ok.then_some(u32::from(i <= 10)),
            error: (!ok).then_some(ErrorKind::Timeout),
            ..RequestRecord::default()
        });
    }
    stats.record_dropped(5);
    let summary = stats.summary(Duration::from_secs(10));
    StageResult {
        index: 0,
        label: "c=4".into(),
        scenario: None,
        workload: Workload::Closed {
            concurrency: 4,
            spawn_rate: None,
            think_time: Duration::ZERO,
            retry: crate::workload::RetryPolicy::off(),
        },
        issued: 100,
        offered_rps: None,
        wall_s: 10.0,
        interrupted: false,
        summary,
        stats,
        warnings: Vec::new(),
        saturated: None,
    }
}

#[test]
fn valid_forms_parse_into_subject_op_and_threshold_in_display_units() {
    let s = slo("ttfa.p95<300ms");
    assert_eq!(
        s.subject,
        Subject::Metric {
            metric: Metric::Ttfa,
            stat: Stat::P95
        }
    );
    assert_eq!((s.op, s.threshold), (Op::Lt, 300.0));
    // Units: everything becomes ms.
    assert_eq!(slo("e2e.p99<=2s").threshold, 2000.0);
    assert_eq!(slo("e2e.p99<=2s").op, Op::Le);
    assert_eq!(slo("ttfb.mean<1500us").threshold, 1.5);
    assert_eq!(slo("ttfb.max<0.5s").threshold, 500.0);
    // Ratios and counts are unitless.
    assert_eq!(slo("rtf.p99<1").threshold, 1.0);
    assert_eq!(slo("rtfx.p50>=2.5").op, Op::Ge);
    assert_eq!(slo("stall_count.max<=0").threshold, 0.0);
    assert!(matches!(
        slo("chunk4.p50<500ms").subject,
        Subject::Metric {
            metric: Metric::Chunk(4),
            ..
        }
    ));
    // Whitespace is ignored and removed from the saved form.
    let spaced = slo("  ttfa.p95 < 300 ms ");
    assert_eq!(spaced.expr, "ttfa.p95<300ms");
    assert_eq!(spaced, slo("ttfa.p95<300ms"));
    // Every statistic.
    for st in Stat::ALL {
        let s = slo(&format!("e2e.{}>1ms", st.name()));
        assert_eq!(s.op, Op::Gt);
    }
}

#[test]
fn rates_take_percentages_or_fractions() {
    assert_eq!(slo("errors<1%").threshold, 1.0);
    assert_eq!(slo("errors<0.01").threshold, 1.0);
    assert_eq!(
        slo("success>99%").subject,
        Subject::Stage(StageMetric::Success)
    );
    assert_eq!(
        slo("success_rate>=0.995").subject,
        Subject::Stage(StageMetric::Success)
    );
    assert!((slo("success_rate>=0.995").threshold - 99.5).abs() < 1e-9);
    assert_eq!(
        slo("dropped<1%").subject,
        Subject::Stage(StageMetric::Dropped)
    );
    assert_eq!(slo("stalled<5%").threshold, 5.0);
    assert_eq!(slo("rps>=10").threshold, 10.0);
    assert_eq!(slo("rps>=10/s").threshold, 10.0);
    assert_eq!(slo("audio_per_wall>1").op, Op::Gt);
    // Edges: 0 % and 100 % are valid shares; a bare 1 is the fraction 1.
    assert_eq!(slo("errors<=0%").threshold, 0.0);
    assert_eq!(slo("success>=100%").threshold, 100.0);
    assert_eq!(slo("success>=1").threshold, 100.0);
}

#[test]
fn every_error_form_is_named() {
    assert_eq!(kind("ttfa.p95"), SloErrorKind::Syntax);
    assert_eq!(kind("ttfa.p95=300ms"), SloErrorKind::Syntax);
    assert_eq!(kind("ttfa.p95==300ms"), SloErrorKind::Syntax);
    assert_eq!(kind("<300ms"), SloErrorKind::Syntax);
    assert_eq!(kind("ttfa.p95<"), SloErrorKind::Syntax);
    assert_eq!(kind("ttfa.p95<<3ms"), SloErrorKind::Syntax);
    assert_eq!(kind("ttfa.p95<=>3ms"), SloErrorKind::Syntax);
    assert_eq!(
        kind("ttfx.p95<300ms"),
        SloErrorKind::UnknownMetric("ttfx".into())
    );
    assert_eq!(
        kind("error<1%"),
        SloErrorKind::UnknownMetric("error".into())
    );
    assert_eq!(
        kind("chunk0.p50<1ms"),
        SloErrorKind::UnknownMetric("chunk0".into())
    );
    assert_eq!(
        kind("ttfa.p999<300ms"),
        SloErrorKind::UnknownStat("p999".into())
    );
    assert_eq!(kind("ttfa.<300ms"), SloErrorKind::UnknownStat("".into()));
    assert_eq!(kind("ttfa<300ms"), SloErrorKind::MissingStat("ttfa".into()));
    assert_eq!(
        kind("errors.p95<1%"),
        SloErrorKind::UnexpectedStat("errors".into())
    );
    assert_eq!(
        kind("ttfa.p95<300"),
        SloErrorKind::MissingUnit("ttfa".into())
    );
    assert!(matches!(
        kind("ttfa.p95<300min"),
        SloErrorKind::BadUnit { .. }
    ));
    assert!(matches!(kind("ttfa.p95<30%"), SloErrorKind::BadUnit { .. }));
    assert!(matches!(kind("rtf.p99<1ms"), SloErrorKind::BadUnit { .. }));
    assert!(matches!(kind("rps>10%"), SloErrorKind::BadUnit { .. }));
    assert!(matches!(kind("errors<1ms"), SloErrorKind::BadUnit { .. }));
    assert_eq!(kind("errors<5"), SloErrorKind::BadShare("5".into()));
    assert_eq!(kind("errors<101%"), SloErrorKind::BadShare("101%".into()));
    assert_eq!(
        kind("ttfa.p95<-3ms"),
        SloErrorKind::BadNumber("-3ms".into())
    );
    assert_eq!(kind("ttfa.p95<ms"), SloErrorKind::BadNumber("ms".into()));
    assert_eq!(
        kind("ttfa.p95<1.2.3ms"),
        SloErrorKind::BadNumber("1.2.3ms".into())
    );
}

#[test]
fn misspelled_metric_lists_the_valid_names() {
    let e = "tffa.p95<300ms"
        .parse::<Slo>()
        .expect_err("typo")
        .to_string();
    assert!(e.contains("'tffa.p95<300ms'"), "{e}");
    assert!(e.contains("unknown metric 'tffa'"), "{e}");
    for name in ["ttfa", "chunkN", "e2e", "rtf", "errors", "success", "rps"] {
        assert!(e.contains(name), "{name} missing from: {e}");
    }
}

#[test]
fn evaluation_reads_the_stage_in_display_units() {
    let st = stage();
    // ttfa 1..=98 ms, p95 = the 94th of 98 values (ceil(0.95 × 98) = 94),
    // to HDR precision (the top of its 3-significant-digit bucket: 94.015).
    let r = slo("ttfa.p95<100ms").evaluate(&st.view(None));
    let p95 = r.observed.expect("ttfa p95");
    assert!((p95 - 94.0).abs() < 0.1, "{p95}");
    assert!(r.passed);
    assert_eq!(
        (r.stage, r.label.as_str(), r.unit.as_str()),
        (0, "c=4", "ms")
    );
    // Edge values: the bound equal to the observation.
    let at = |op: &str| {
        slo(&format!("ttfa.p95{op}{p95}ms"))
            .evaluate(&st.view(None))
            .passed
    };
    assert!(!at("<") && at("<=") && at(">=") && !at(">"));
    // 2 of 100 failed: errors = 2 %, success = 98 %.
    let e = slo("errors<1%").evaluate(&st.view(None));
    assert_eq!((e.observed, e.passed), (Some(2.0), false));
    assert!(slo("errors<=2%").evaluate(&st.view(None)).passed);
    assert!(slo("success>=98%").evaluate(&st.view(None)).passed);
    assert!(!slo("success>98%").evaluate(&st.view(None)).passed);
    // 5 dropped of 105 arrivals.
    let d = slo("dropped<5%").evaluate(&st.view(None));
    assert!((d.observed.expect("dropped") - 500.0 / 105.0).abs() < 1e-9);
    assert!(d.passed);
    // 10 of 98 ok requests stalled.
    let s = slo("stalled<10%").evaluate(&st.view(None));
    assert!((s.observed.expect("stalled") - 1000.0 / 98.0).abs() < 1e-9);
    assert!(!s.passed);
    // 100 requests in 10 s; 98 s of audio in 10 s.
    assert_eq!(slo("rps>=10").evaluate(&st.view(None)).observed, Some(10.0));
    assert!(slo("audio_per_wall>9.7").evaluate(&st.view(None)).passed);
    // rtf = i/100 → p99 = ceil(0.99 × 98) = 98th value = 0.98.
    let rtf = slo("rtf.p99<1").evaluate(&st.view(None));
    assert!((rtf.observed.expect("rtf") - 0.98).abs() < 0.001, "{rtf:?}");
    assert!(rtf.passed && rtf.unit == "ratio");
}

#[test]
fn an_unobservable_threshold_fails_with_a_reason() {
    let st = stage();
    let r = slo("chunk4.p50<1s").evaluate(&st.view(None));
    assert_eq!(r.observed, None);
    assert!(!r.passed);
    assert!(
        r.reason.as_deref().is_some_and(|x| x.contains("chunk4")),
        "{r:?}"
    );
    let mut empty = stage();
    empty.stats = StageStats::new(&[]);
    empty.summary = empty.stats.summary(Duration::from_secs(1));
    let r = slo("errors<1%").evaluate(&empty.view(None));
    assert!(!r.passed && r.observed.is_none(), "{r:?}");
    let r = slo("stalled<1%").evaluate(&empty.view(None));
    assert!(!r.passed && r.reason.is_some(), "{r:?}");
}

#[test]
fn serializes_as_its_expression_and_round_trips() {
    let s = slo("e2e.p99 <= 2s");
    let json = serde_json::to_string(&s).expect("serialize");
    assert_eq!(json, "\"e2e.p99<=2s\"");
    assert_eq!(serde_json::from_str::<Slo>(&json).expect("deserialize"), s);
    assert!(serde_json::from_str::<Slo>("\"nope<1\"").is_err());
    let all = parse_all(&["errors<1%".into(), "rtf.p99<1".into()]).expect("valid");
    assert_eq!(all.len(), 2);
    assert!(parse_all(&["errors<1%".into(), "bad".into()]).is_err());
}
