//! CSV statistics: `stages.csv` (one row per stage) and `stats.csv` (one
//! row per stage and metric), for spreadsheets and scripts.

use std::fmt::Write as _;
use std::path::Path;

use super::{write_atomic, ReportError, ReportWriter};
use crate::result::{RunResult, StageResult};

/// Writes `stages.csv` and `stats.csv`.
#[derive(Debug, Clone, Copy)]
pub struct CsvWriter;

/// Quote a field if it needs it (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}

/// Numbers with enough digits for µs precision, no float noise.
fn num(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// `stage,label` and, in a run of several scenarios, `scenario`: the
/// columns that say which row is which.
fn key_header(run: &RunResult) -> &'static str {
    if run.is_mixed() {
        "stage,label,scenario"
    } else {
        "stage,label"
    }
}

fn key(run: &RunResult, s: &StageResult) -> String {
    let mut k = format!("{},{}", s.index, field(&s.label));
    if run.is_mixed() {
        k.push(',');
        k.push_str(&field(s.scenario.as_deref().unwrap_or_default()));
    }
    k
}

/// The per-stage table.
pub fn stages_csv(run: &RunResult) -> String {
    let mut out = format!(
        "{},requests,ok,failed,dropped,warmup,success_rate,offered_rps,achieved_rps,audio_s_per_wall_s,stalled_share,wall_s\n",
        key_header(run)
    );
    for s in &run.stages {
        let m = &s.summary;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            key(run, s),
            m.requests,
            m.ok,
            m.failed,
            m.dropped,
            m.warmup,
            opt(m.success_rate),
            opt(s.offered_rps),
            num(m.achieved_rps),
            num(m.audio_s_per_wall_s),
            opt(m.stalled_share),
            num(s.wall_s),
        );
    }
    out
}

/// The per-stage, per-metric table.
pub fn stats_csv(run: &RunResult) -> String {
    let mut out = format!(
        "{},metric,unit,count,min,mean,p50,p90,p95,p99,max\n",
        key_header(run)
    );
    for s in &run.stages {
        for (name, p) in &s.summary.metrics {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{}",
                key(run, s),
                field(name),
                p.unit.label(),
                p.count,
                num(p.min),
                num(p.mean),
                num(p.p50),
                num(p.p90),
                num(p.p95),
                num(p.p99),
                num(p.max),
            );
        }
    }
    out
}

impl ReportWriter for CsvWriter {
    fn write(&self, run: &RunResult, out: &Path) -> Result<(), ReportError> {
        write_atomic(&out.join("stages.csv"), stages_csv(run).as_bytes())?;
        write_atomic(&out.join("stats.csv"), stats_csv(run).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(field("rate=5/s"), "rate=5/s");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
    }

    #[test]
    fn numbers_have_no_float_noise() {
        assert_eq!(num(0.1 + 0.2), "0.3");
        assert_eq!(num(12.0), "12");
        assert_eq!(num(1.23456), "1.2346");
    }
}
