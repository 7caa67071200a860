//! The summary table printed at the end of a run and saved as `summary.txt`.

use std::fmt::Write as _;
use std::path::Path;

use super::{write_atomic, ReportError, ReportWriter, RunResult, RunStatus};
use crate::metrics::stats::Percentiles;

/// Writes `summary.txt`.
#[derive(Debug, Clone, Copy)]
pub struct SummaryWriter;

impl ReportWriter for SummaryWriter {
    fn write(&self, run: &RunResult, out: &Path) -> Result<(), ReportError> {
        write_atomic(&out.join("summary.txt"), summary(run).as_bytes())
    }
}

/// Metrics the summary table leaves to the JSON and HTML report: a reader
/// at a terminal wants the headline numbers.
const HIDDEN: &[&str] = &["inter_chunk_mean", "e2e_uncorrected", "stall_count"];

fn value(v: f64, unit: &str) -> String {
    match unit {
        "ms" if v >= 10_000.0 => format!("{:.2}s", v / 1000.0),
        "ms" if v >= 100.0 => format!("{v:.0}ms"),
        "ms" if v >= 10.0 => format!("{v:.1}ms"),
        "ms" => format!("{v:.2}ms"),
        "ratio" => format!("{v:.3}"),
        _ => format!("{v:.0}"),
    }
}

fn metric_row(out: &mut String, name: &str, p: &Percentiles) {
    let u = p.unit.label();
    let _ = writeln!(
        out,
        "    {:<21}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
        name,
        value(p.min, u),
        value(p.mean, u),
        value(p.p50, u),
        value(p.p90, u),
        value(p.p95, u),
        value(p.p99, u),
        value(p.max, u),
    );
}

/// The whole summary as text.
pub fn summary(run: &RunResult) -> String {
    let mut out = String::new();
    let status = match run.status {
        RunStatus::Complete => "complete",
        RunStatus::Interrupted => "INTERRUPTED (partial results)",
        RunStatus::InProgress => "in progress",
    };
    let _ = writeln!(out, "voxload {} — run '{}' ({status})", run.kind, run.name);
    if let Some(url) = run.config.pointer("/target/url").and_then(|v| v.as_str()) {
        let _ = writeln!(out, "target: {url}");
    }
    for s in &run.stages {
        let m = &s.summary;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "stage {} [{}]{}",
            s.index + 1,
            s.label,
            if s.interrupted { " (interrupted)" } else { "" }
        );
        let mut line = format!(
            "  requests {}  ok {} ({:.1}%)  failed {}  dropped {}",
            m.requests,
            m.ok,
            m.success_rate.unwrap_or(0.0) * 100.0,
            m.failed,
            m.dropped
        );
        if m.warmup > 0 {
            let _ = write!(line, "  warm-up {} (excluded)", m.warmup);
        }
        let _ = writeln!(out, "{line}");
        // Voice agents: statistics count turns, arrivals are calls.
        let (done, arriving) = if run.kind == "agent" {
            ("turns", "calls")
        } else {
            ("req", "req")
        };
        let mut rates = format!("  throughput {:.2} {done}/s", m.achieved_rps);
        if let Some(o) = s.offered_rps {
            let _ = write!(rates, "  offered {o:.2} {arriving}/s");
        }
        let _ = write!(
            rates,
            "  audio {:.2} s per wall s  wall {:.1}s",
            m.audio_s_per_wall_s, s.wall_s
        );
        if let Some(share) = m.connect_success {
            let _ = write!(rates, "  calls {} connected {:.1}%", m.calls, share * 100.0);
        }
        if let Some(share) = m.stalled_share {
            let _ = write!(rates, "  stalled {:.1}% of requests", share * 100.0);
        }
        if let Some(wer) = m.wer_pooled {
            let _ = write!(rates, "  WER {:.2}% (pooled)", wer * 100.0);
        }
        let _ = writeln!(out, "{rates}");
        if !m.metrics.is_empty() {
            let _ = writeln!(
                out,
                "    {:<21}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
                "metric", "min", "mean", "p50", "p90", "p95", "p99", "max"
            );
            let shown = super::METRIC_ORDER.iter().filter(|n| !HIDDEN.contains(n));
            for name in shown {
                if let Some(p) = m.metrics.get(*name) {
                    metric_row(&mut out, name, p);
                }
            }
            for (name, p) in &m.metrics {
                if name.starts_with("chunk") && !super::METRIC_ORDER.contains(&name.as_str()) {
                    metric_row(&mut out, name, p);
                }
            }
        }
        for e in &m.errors {
            let example = e
                .example
                .as_deref()
                .map(|x| format!(" — {x}"))
                .unwrap_or_default();
            let _ = writeln!(out, "  error {:<14} ×{}{example}", e.label, e.count);
        }
    }
    if run.stages.len() > 1 {
        sweep_table(&mut out, run);
    }
    if !run.slo.is_empty() {
        slo_section(&mut out, run);
    }
    out
}

/// An SLO observation in its unit (`ms`, `ratio`, `count`, `%`, `req/s`, `s/s`).
fn slo_value(v: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{v:.2}%"),
        "req/s" => format!("{v:.2}/s"),
        "s/s" => format!("{v:.2}"),
        _ => value(v, unit),
    }
}

/// Every threshold × stage: observed value and pass/FAIL.
fn slo_section(out: &mut String, run: &RunResult) {
    let _ = writeln!(out);
    let _ = writeln!(out, "SLO");
    let width = run
        .slo
        .iter()
        .map(|r| r.slo.len())
        .max()
        .unwrap_or(0)
        .max(9)
        + 2;
    for r in &run.slo {
        let stage = format!("stage {} [{}]", r.stage + 1, r.label);
        let observed = r
            .observed
            .map(|v| slo_value(v, &r.unit))
            .unwrap_or_else(|| "-".into());
        let verdict = match (&r.reason, r.passed) {
            (_, true) => "pass".to_string(),
            (Some(why), false) => format!("FAIL ({why})"),
            (None, false) => "FAIL".to_string(),
        };
        let _ = writeln!(
            out,
            "  {:<width$}{:<22}{:>10}  {verdict}",
            r.slo, stage, observed
        );
    }
    let failed = run.slo.iter().filter(|r| !r.passed).count();
    let _ = writeln!(
        out,
        "  {}",
        if failed == 0 {
            format!("all {} passed", run.slo.len())
        } else {
            format!("{failed} of {} FAILED", run.slo.len())
        }
    );
}

/// The sweep's best level (seed 004's search): the highest achieved
/// throughput among stages whose success rate is at least the run's
/// `min_success` (from its config; 0.95 if absent). `None` when no stage qualifies.
pub fn best_level(run: &RunResult) -> Option<(&crate::report::StageResult, f64)> {
    let threshold = run
        .config
        .get("min_success")
        .and_then(|v| v.as_f64())
        .unwrap_or(crate::config::plan::DEFAULT_MIN_SUCCESS);
    run.stages
        .iter()
        .filter(|s| s.summary.requests > 0 && s.summary.success_rate.unwrap_or(0.0) >= threshold)
        .max_by(|a, b| a.summary.achieved_rps.total_cmp(&b.summary.achieved_rps))
        .map(|s| (s, threshold))
}

/// One column of a text table: header, cells, alignment and the width it
/// never shrinks below (the widths the TTS and ASR tables always had).
struct Column {
    header: String,
    cells: Vec<String>,
    left: bool,
    min: usize,
}

impl Column {
    fn new(header: impl Into<String>, min: usize, left: bool) -> Self {
        Self {
            header: header.into(),
            cells: Vec::new(),
            left,
            min,
        }
    }

    /// The widest of header and cells plus one space of separation, or
    /// `min` if that is wider: long names never run together.
    fn width(&self) -> usize {
        let widest = std::iter::once(&self.header)
            .chain(&self.cells)
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0);
        self.min.max(widest + 1)
    }
}

/// Header and rows of `cols`, each column as wide as [`Column::width`].
fn render_columns(out: &mut String, cols: &[Column]) {
    let widths: Vec<usize> = cols.iter().map(Column::width).collect();
    let rows = cols.iter().map(|c| c.cells.len()).max().unwrap_or(0);
    let line = |out: &mut String, cell: &dyn Fn(&Column) -> &str| {
        for (c, &w) in cols.iter().zip(&widths) {
            if c.left {
                let _ = write!(out, "{:<w$}", cell(c));
            } else {
                let _ = write!(out, "{:>w$}", cell(c));
            }
        }
        let _ = writeln!(out);
    };
    line(out, &|c| c.header.as_str());
    for i in 0..rows {
        line(out, &|c| c.cells.get(i).map_or("-", String::as_str));
    }
}

/// One line per stage, to read a sweep at a glance. The columns follow what
/// the run measured. TTS: TTFA p50/p95/p99, e2e p95, rtf p50 and the stalled
/// share. Streaming ASR: the final transcript instead of TTFA and pooled WER
/// instead of stalls (without a lead latency: e2e and audio s per wall s).
/// Voice agents: first agent audio p50/p95, then turn and barge-in silence
/// p50 when the run has them (no TTS columns: an agent has no rtf or stalls).
fn sweep_table(out: &mut String, run: &RunResult) {
    let has = |metric: &str| {
        run.stages
            .iter()
            .any(|s| s.summary.metrics.contains_key(metric))
    };
    let agent = run.kind == "agent" || has("agent_first_audio") || has("agent_first_message");
    let lead = if agent {
        ["agent_first_audio", "agent_first_message"]
            .into_iter()
            .find(|m| has(m))
            .unwrap_or("agent_first_audio")
    } else {
        ["ttfa", "final"]
            .into_iter()
            .find(|m| has(m))
            .unwrap_or("e2e")
    };
    let asr = run.kind == "asr";
    let mut cols = vec![
        Column::new("stage", 14, true),
        Column::new(if agent { "turns/s" } else { "req/s" }, 9, false),
        Column::new("ok%", 8, false),
    ];
    // (header, metric, statistic)
    type Stat = fn(&Percentiles) -> f64;
    let mut stats: Vec<(String, &str, Stat)> = vec![
        (format!("{lead} p50"), lead, |p| p.p50),
        (format!("{lead} p95"), lead, |p| p.p95),
    ];
    if agent {
        for m in ["turn", "barge_in_silence"] {
            if has(m) {
                stats.push((format!("{m} p50"), m, |p| p.p50));
            }
        }
    } else {
        stats.push((format!("{lead} p99"), lead, |p| p.p99));
        if lead != "e2e" {
            stats.push(("e2e p95".into(), "e2e", |p| p.p95));
        }
    }
    for (header, ..) in &stats {
        cols.push(Column::new(header.clone(), 10, false));
    }
    let audio_rate = !agent && lead == "e2e";
    if audio_rate {
        cols.push(Column::new("audio/s", 10, false));
    }
    if !agent {
        cols.push(Column::new("rtf p50", 8, false));
        cols.push(Column::new(if asr { "WER" } else { "stalled" }, 9, false));
    }
    for s in &run.stages {
        let m = &s.summary;
        let get = |metric: &str, f: Stat| {
            m.metrics
                .get(metric)
                .map(|p| value(f(p), p.unit.label()))
                .unwrap_or_else(|| "-".into())
        };
        let mut cells = vec![
            s.label.clone(),
            format!("{:.2}", m.achieved_rps),
            format!("{:.1}", m.success_rate.unwrap_or(0.0) * 100.0),
        ];
        cells.extend(stats.iter().map(|(_, metric, f)| get(metric, *f)));
        if audio_rate {
            cells.push(format!("{:.2}", m.audio_s_per_wall_s));
        }
        if !agent {
            cells.push(get("rtf", |p| p.p50));
            let last = if asr { m.wer_pooled } else { m.stalled_share };
            cells.push(
                last.map(|x| format!("{:.1}%", x * 100.0))
                    .unwrap_or_else(|| "-".into()),
            );
        }
        for (col, cell) in cols.iter_mut().zip(cells) {
            col.cells.push(cell);
        }
    }
    let _ = writeln!(out);
    render_columns(out, &cols);
    match best_level(run) {
        Some((s, threshold)) => {
            let _ = writeln!(
                out,
                "best level: {} — {:.2} req/s with {:.1}% success (highest throughput keeping success ≥ {:.0}%)",
                s.label,
                s.summary.achieved_rps,
                s.summary.success_rate.unwrap_or(0.0) * 100.0,
                threshold * 100.0
            );
        }
        None => {
            let _ = writeln!(
                out,
                "best level: none (no stage kept the required success rate)"
            );
        }
    }
}
