use std::collections::BTreeMap;

use super::*;
use crate::metrics::live::{LiveCounts, RunInfo, ScenarioLive, ScenarioView, StageNow};
use crate::metrics::RequestRecord;
use crate::protocol::{ErrorKind, Kind};

fn record(e2e_ms: u64) -> RequestRecord {
    RequestRecord {
        e2e_us: Some(e2e_ms * 1_000),
        ttfa_us: Some(e2e_ms * 400),
        ttfb_us: Some(e2e_ms * 300),
        schedule_lag_us: Some(5),
        chunk_us: vec![(1, e2e_ms * 450)],
        rtf: Some(0.3),
        stall_count: Some(1),
        ..RequestRecord::default()
    }
}

/// A TTS scenario with 3 successes (30, 120, 2000 ms), 2 HTTP 503s and a
/// timeout; an agent scenario with nothing yet.
fn view() -> LiveView {
    let mut tts = ScenarioLive::new(Kind::HttpTts, &[1]);
    for ms in [30, 120, 2_000] {
        tts.record(&record(ms), false);
    }
    for error in [
        ErrorKind::Http(503),
        ErrorKind::Http(503),
        ErrorKind::Timeout,
    ] {
        let r = RequestRecord {
            error: Some(error),
            schedule_lag_us: Some(7),
            ..RequestRecord::default()
        };
        tts.record(&r, false);
    }
    let agent = ScenarioLive::new(Kind::WsAgent, &[]);
    LiveView {
        run: RunInfo {
            name: "nightly \"big\" run\\1\nend".into(),
            kind: "mixed".into(),
            version: "0.1.0".into(),
            shard: Some("2/8".into()),
        },
        stage: Some(StageNow {
            index: 2,
            labels: vec!["rate=5/s".into(), "c=4".into()],
            base: vec![LiveCounts::default(); 2],
            base_started: vec![0, 0],
            since_s: 0.0,
        }),
        scenarios: vec![
            ScenarioView {
                name: "tts".into(),
                kind: Kind::HttpTts,
                started: 8,
                live: tts,
                offered_rps: Some(4.5),
                achieved_rps: Some(3.0),
            },
            ScenarioView {
                name: "agent".into(),
                kind: Kind::WsAgent,
                started: 1,
                live: agent,
                offered_rps: None,
                achieved_rps: None,
            },
        ],
        finished: false,
    }
}

/// Samples as (series with labels, value), and the families in order of
/// their TYPE lines.
fn parse(text: &str) -> (BTreeMap<String, f64>, Vec<(String, String)>) {
    let mut samples = BTreeMap::new();
    let mut types = Vec::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let (name, kind) = t.split_once(' ').expect("TYPE name kind");
            types.push((name.to_string(), kind.to_string()));
        } else if !line.starts_with('#') {
            let (series, value) = line.rsplit_once(' ').expect("series value");
            let value = if value == "+Inf" {
                f64::INFINITY
            } else {
                value.parse().expect("a number")
            };
            assert!(
                samples.insert(series.to_string(), value).is_none(),
                "twice: {series}"
            );
        }
    }
    (samples, types)
}

fn name_of(series: &str) -> &str {
    series.split('{').next().unwrap_or(series)
}

#[test]
fn families_follow_the_naming_conventions_and_appear_once_before_their_samples() {
    let text = render(&view());
    let (samples, types) = parse(&text);
    let mut seen = std::collections::BTreeSet::new();
    for (name, kind) in &types {
        assert!(seen.insert(name.clone()), "family {name} declared twice");
        assert!(name.starts_with("voxload_"), "{name}");
        assert_eq!(name.ends_with("_total"), kind == "counter", "{name} {kind}");
        assert!(name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    }
    let family = |series: &str| {
        let n = name_of(series);
        let hist = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| n.strip_suffix(s))
            .filter(|base| types.iter().any(|(t, k)| t == base && k == "histogram"));
        hist.unwrap_or(n).to_string()
    };
    for series in samples.keys() {
        assert!(seen.contains(&family(series)), "{series} has no TYPE");
    }
    // Samples of a family are contiguous, after its TYPE line.
    let mut order: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f = family(line.rsplit_once(' ').map_or(line, |p| p.0));
        if order.last() != Some(&f) {
            assert!(!order.contains(&f), "{f} is split");
            order.push(f);
        }
    }
    for name in [
        "voxload_ttfa_seconds",
        "voxload_e2e_seconds",
        "voxload_rtf_ratio",
        "voxload_stalls",
        "voxload_chunk_seconds",
        "voxload_turn_seconds",
        "voxload_agent_first_audio_seconds",
    ] {
        assert!(
            types.iter().any(|(n, k)| n == name && k == "histogram"),
            "{name}"
        );
    }
    // Every family the exposition has, the list of names knows.
    let known = family_names();
    for series in samples.keys() {
        assert!(known.contains(&name_of(series).to_string()), "{series}");
    }
}

#[test]
fn counters_and_gauges_hold_the_live_counts() {
    let (samples, _) = parse(&render(&view()));
    let at = |s: &str| {
        samples
            .get(s)
            .copied()
            .unwrap_or_else(|| panic!("{s} missing"))
    };
    assert_eq!(at("voxload_requests_ok_total{scenario=\"tts\"}"), 3.0);
    assert_eq!(
        at("voxload_requests_failed_total{scenario=\"tts\",class=\"http_503\"}"),
        2.0
    );
    assert_eq!(
        at("voxload_requests_failed_total{scenario=\"tts\",class=\"timeout\"}"),
        1.0
    );
    assert_eq!(at("voxload_requests_finished_total{scenario=\"tts\"}"), 6.0);
    assert_eq!(at("voxload_requests_started_total{scenario=\"tts\"}"), 8.0);
    assert_eq!(at("voxload_requests_in_flight{scenario=\"tts\"}"), 2.0);
    assert_eq!(at("voxload_requests_in_flight{scenario=\"agent\"}"), 1.0);
    assert_eq!(
        at("voxload_offered_requests_per_second{scenario=\"tts\"}"),
        4.5
    );
    assert!(!samples.contains_key("voxload_offered_requests_per_second{scenario=\"agent\"}"));
    assert_eq!(at("voxload_stage_index"), 2.0);
    assert_eq!(
        at("voxload_stage_info{scenario=\"agent\",stage=\"c=4\"}"),
        1.0
    );
    assert_eq!(at("voxload_run_finished"), 0.0);
}

#[test]
fn label_values_are_escaped() {
    let text = render(&view());
    let line = text
        .lines()
        .find(|l| l.starts_with("voxload_run_info{"))
        .expect("run info");
    assert_eq!(
        line,
        r#"voxload_run_info{version="0.1.0",kind="mixed",name="nightly \"big\" run\\1\nend",shard="2/8"} 1"#
    );
    assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

#[test]
fn histogram_buckets_are_cumulative_and_count_equals_the_ok_counter() {
    let (samples, _) = parse(&render(&view()));
    let buckets = |family: &str, extra: &str| -> Vec<(f64, f64)> {
        let prefix = format!("{family}_bucket{{scenario=\"tts\",{extra}le=\"");
        let mut b: Vec<(f64, f64)> = samples
            .iter()
            .filter_map(|(s, v)| {
                let le = s.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, *v))
            })
            .collect();
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        b
    };
    let e2e = buckets("voxload_e2e_seconds", "");
    assert!(e2e.len() > 10, "{e2e:?}");
    assert!(
        e2e.windows(2).all(|w| w[0].1 <= w[1].1),
        "not cumulative: {e2e:?}"
    );
    let at = |le: f64| e2e.iter().find(|b| b.0 == le).map(|b| b.1);
    // 30 ms ≤ 0.05; 120 ms ≤ 0.15; 2 s is on the 2 s bound.
    assert_eq!(at(0.025), Some(0.0));
    assert_eq!(at(0.05), Some(1.0));
    assert_eq!(at(0.15), Some(2.0));
    assert_eq!(at(1.5), Some(2.0));
    assert_eq!(at(2.0), Some(3.0));
    assert_eq!(at(f64::INFINITY), Some(3.0));
    let ok = samples["voxload_requests_ok_total{scenario=\"tts\"}"];
    assert_eq!(samples["voxload_e2e_seconds_count{scenario=\"tts\"}"], ok);
    assert!((samples["voxload_e2e_seconds_sum{scenario=\"tts\"}"] - 2.15).abs() < 1e-9);
    // Schedule lag takes failed requests too: 6 measured.
    assert_eq!(
        samples["voxload_schedule_lag_seconds_count{scenario=\"tts\"}"],
        6.0
    );
    let chunk = buckets("voxload_chunk_seconds", "chunk=\"1\",");
    assert_eq!(chunk.last().map(|b| b.1), Some(3.0));
    let rtf = buckets("voxload_rtf_ratio", "");
    assert_eq!(rtf.iter().find(|b| b.0 == 0.3).map(|b| b.1), Some(3.0));
    assert_eq!(rtf.iter().find(|b| b.0 == 0.2).map(|b| b.1), Some(0.0));
    // The agent scenario exposes its empty histograms with zero counts.
    assert_eq!(
        samples["voxload_turn_seconds_count{scenario=\"agent\"}"],
        0.0
    );
}
