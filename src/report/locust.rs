//! Locust-compatible CSVs — `locust_stats.csv`, `locust_failures.csv`,
//! `locust_stats_history.csv` — so spreadsheets and scripts built for
//! Locust's `--csv` output read voxload results unchanged.
//!
//! Mapping (Locust's column names where they overlap):
//! - one row per stage: Type `POST` for HTTP, `WS` for WebSocket protocols
//!   (streaming ASR, voice agents), Name = stage label, plus an
//!   `Aggregated` row over all stages (histograms merged exactly); in a run
//!   of several scenarios each row's Name starts with its scenario, and each
//!   scenario has its own `SCENARIO Aggregated` row (a TTS e2e and an ASR
//!   e2e never share a histogram);
//! - response time = **e2e of successful requests**, in ms; for voice
//!   agents (one row per turn) the **time to the agent's first audio** after
//!   the end of speech (Locust also times failures; voxload keeps failed
//!   requests out of latency, see docs/metrics.md);
//! - Requests/s = achieved rate; Failures/s = failed ÷ stage wall time;
//! - Average Content Size is left empty (voxload counts audio seconds, not bytes);
//! - history: one `Aggregated` row per second of the timeline (one per
//!   scenario and second, named by the scenario, in a run of several), timed
//!   like the stats rows; only 50 % and 95 % are known per second (the
//!   timeline keeps those), the other percentiles and User Count are `N/A`,
//!   as Locust writes for unknowns.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::{write_atomic, ReportError, ReportWriter};
use crate::metrics::metric::Metric;
use crate::metrics::StageStats;
use crate::result::RunResult;
use crate::result::Section;

/// Writes the three Locust CSVs.
#[derive(Debug, Clone, Copy)]
pub struct LocustCsvWriter;

/// Locust's percentile columns.
const QUANTILES: [(&str, f64); 11] = [
    ("50%", 0.50),
    ("66%", 0.66),
    ("75%", 0.75),
    ("80%", 0.80),
    ("90%", 0.90),
    ("95%", 0.95),
    ("98%", 0.98),
    ("99%", 0.99),
    ("99.9%", 0.999),
    ("99.99%", 0.9999),
    ("100%", 1.0),
];

/// `first`, the percentile columns, then `last` if any.
fn header(first: &str, last: Option<&str>) -> String {
    let q: Vec<&str> = QUANTILES.iter().map(|(n, _)| *n).collect();
    match last {
        Some(last) => format!("{first},{},{last}\n", q.join(",")),
        None => format!("{first},{}\n", q.join(",")),
    }
}

/// Quote a field if it needs it (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A number with at most 3 decimals and no float noise.
fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A histogram value (µs) in ms.
fn ms(us: u64) -> String {
    num(us as f64 / 1000.0)
}

/// The Type column and the response-time metric of a section's rows.
fn row_kind(run: &RunResult, section: &Section<'_>) -> (&'static str, Metric) {
    let agent = section.is_agent(run.kind);
    let method = match section.kind {
        Some(kind) => kind.method(),
        None if agent => "WS",
        None => "POST",
    };
    let metric = if agent {
        Metric::AgentFirstAudio
    } else {
        Metric::E2e
    };
    (method, metric)
}

/// A row's Name: the stage label, after the scenario in a run of several.
fn row_name(section: &Section<'_>, label: &str) -> String {
    format!("{}{label}", section.prefix())
}

/// One stats row: counts, `metric`'s summary and percentiles.
fn stats_row(
    out: &mut String,
    (kind, metric): (&str, &Metric),
    name: &str,
    stats: &StageStats,
    wall_s: f64,
) {
    let c = &stats.counters;
    let per_s = |x: u64| {
        if wall_s > 0.0 {
            num(x as f64 / wall_s)
        } else {
            "0".into()
        }
    };
    let _ = write!(
        out,
        "{},{},{},{},",
        field(kind),
        field(name),
        c.requests,
        c.failed
    );
    match stats.histogram(metric).filter(|h| !h.is_empty()) {
        Some(h) => {
            let _ = write!(
                out,
                "{},{},{},{},,{},{}",
                ms(h.value_at_quantile(0.5)),
                num(h.mean() / 1000.0),
                ms(h.min()),
                ms(h.max()),
                per_s(c.requests),
                per_s(c.failed)
            );
            for (_, q) in QUANTILES {
                let _ = write!(out, ",{}", ms(h.value_at_quantile(q)));
            }
        }
        None => {
            let _ = write!(out, "0,0,0,0,,{},{}", per_s(c.requests), per_s(c.failed));
            for _ in QUANTILES {
                out.push_str(",N/A");
            }
        }
    }
    out.push('\n');
}

/// `locust_stats.csv`: one row per stage and an `Aggregated` row (per scenario).
pub fn stats_csv(run: &RunResult) -> String {
    let mut out = header(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s",
        None,
    );
    for section in run.sections() {
        let (kind, metric) = row_kind(run, &section);
        let mut all = StageStats::new(&[]);
        let mut wall = 0.0;
        for s in &section.stages {
            let name = row_name(&section, &section.stage_label(s));
            stats_row(&mut out, (kind, &metric), &name, &s.stats, s.wall_s);
            all.merge(&s.stats);
            // Stages run one after another, so the run's wall time is their sum.
            wall += s.wall_s;
        }
        stats_row(
            &mut out,
            ("", &metric),
            &row_name(&section, "Aggregated"),
            &all,
            wall,
        );
    }
    out
}

/// `locust_failures.csv`: one row per stage and error class.
pub fn failures_csv(run: &RunResult) -> String {
    let mut out = String::from("Method,Name,Error,Occurrences\n");
    for section in run.sections() {
        let (kind, _) = row_kind(run, &section);
        for s in &section.stages {
            for e in &s.summary.errors {
                let error = match &e.example {
                    Some(x) => format!("{}: {x}", e.label),
                    None => e.label.clone(),
                };
                let _ = writeln!(
                    out,
                    "{kind},{},{},{}",
                    field(&row_name(&section, &section.stage_label(s))),
                    field(&error),
                    e.count
                );
            }
        }
    }
    out
}

/// `locust_stats_history.csv`: one row per timeline second (and scenario).
pub fn history_csv(run: &RunResult) -> String {
    let mut out = header(
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s",
        Some("Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size"),
    );
    let start = humantime::parse_rfc3339_weak(&run.started_at)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let opt = |v: Option<f64>| v.map_or_else(|| "N/A".to_string(), num);
    for section in run.sections() {
        let (_, metric) = row_kind(run, &section);
        let name = section.name.unwrap_or("Aggregated");
        let (mut total, mut failed) = (0u64, 0u64);
        for row in &section.timeline {
            total += row.completed;
            failed += row.failed;
            let _ = write!(
                out,
                "{},N/A,,{},{},{}",
                start + row.second,
                field(name),
                num(row.rps),
                row.failed
            );
            for (q, _) in QUANTILES {
                let v = match q {
                    "50%" => opt(row.p50_ms(metric)),
                    "95%" => opt(row.p95_ms(metric)),
                    _ => "N/A".into(),
                };
                let _ = write!(out, ",{v}");
            }
            let _ = writeln!(out, ",{total},{failed},N/A,N/A,N/A,N/A,");
        }
    }
    out
}

impl ReportWriter for LocustCsvWriter {
    fn write(&self, run: &RunResult, out: &Path) -> Result<(), ReportError> {
        write_atomic(&out.join("locust_stats.csv"), stats_csv(run).as_bytes())?;
        write_atomic(
            &out.join("locust_failures.csv"),
            failures_csv(run).as_bytes(),
        )?;
        write_atomic(
            &out.join("locust_stats_history.csv"),
            history_csv(run).as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_use_locust_column_names() {
        let stats = header(
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s",
            None,
        );
        assert_eq!(
            stats,
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
        );
    }

    #[test]
    fn numbers_are_plain() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(0.1 + 0.2), "0.3");
        assert_eq!(num(1.23456), "1.235");
        assert_eq!(field("a,b"), "\"a,b\"");
    }
}
