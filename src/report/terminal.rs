//! The summary table printed at the end of a run and saved as `summary.txt`.
//! A run of several scenarios shows each one's stages and sweep apart,
//! every line naming its scenario; a run of one reads as it always has.

use std::fmt::Write as _;
use std::path::Path;

use super::fmt::{share, value};
use super::{write_atomic, ReportError, ReportWriter};
use crate::metrics::outage::Outage;
use crate::metrics::registry::{ordered, StageMetric};
use crate::metrics::stats::Percentiles;
use crate::metrics::{Metric, Unit};
use crate::result::{RunResult, RunStatus, Section, StageResult};

/// Writes `summary.txt`.
#[derive(Debug, Clone, Copy)]
pub struct SummaryWriter;

impl ReportWriter for SummaryWriter {
    fn write(&self, run: &RunResult, out: &Path) -> Result<(), ReportError> {
        write_atomic(&out.join("summary.txt"), summary(run).as_bytes())
    }
}

const TABLE_HEADER: [&str; 8] = ["metric", "min", "mean", "p50", "p90", "p95", "p99", "max"];

fn metric_row(out: &mut String, cells: [&str; 8]) {
    let [name, rest @ ..] = cells;
    let _ = write!(out, "    {name:<21}");
    for c in rest {
        let _ = write!(out, "{c:>9}");
    }
    let _ = writeln!(out);
}

fn percentiles_row(out: &mut String, name: &str, p: &Percentiles) {
    let v = |x: f64| value(x, p.unit);
    let cells = [p.min, p.mean, p.p50, p.p90, p.p95, p.p99, p.max].map(v);
    let [a, b, c, d, e, f, g] = &cells;
    metric_row(out, [name, a, b, c, d, e, f, g]);
}

/// The rate labels of a section: what is counted and what arrives.
fn rate_units(section: &Section<'_>, run: &RunResult) -> (&'static str, &'static str) {
    // Voice agents: statistics count turns, arrivals are calls.
    if section.is_agent(run.kind) {
        ("turns", "calls")
    } else {
        ("req", "req")
    }
}

/// Which part of a sharded run this is: one shard, or the merge of some.
pub fn shard_line(run: &RunResult) -> Option<String> {
    if let Some(s) = &run.shard {
        return Some(format!(
            "shard {} of a sharded run: its share of every rate and user count (merge the shards with `voxload merge`)",
            s.shard
        ));
    }
    let m = run.merged_from.as_ref()?;
    let missing = match m.missing.as_slice() {
        [] => String::new(),
        list => {
            let list: Vec<String> = list.iter().map(u32::to_string).collect();
            format!(" — missing: {}", list.join(", "))
        }
    };
    Some(format!(
        "merged from {} of {} shards (exact sums){missing}",
        m.shards.len(),
        m.count
    ))
}

/// The whole summary as text.
pub fn summary(run: &RunResult) -> String {
    let mut out = String::new();
    let status = match run.status {
        RunStatus::Complete => "complete",
        RunStatus::Interrupted => "INTERRUPTED (partial results)",
        RunStatus::InProgress => "in progress",
        RunStatus::Partial => "PARTIAL (shards missing)",
    };
    let _ = writeln!(out, "voxload {} — run '{}' ({status})", run.kind, run.name);
    if let Some(line) = shard_line(run) {
        let _ = writeln!(out, "{line}");
    }
    let sections = run.sections();
    for s in &sections {
        match (s.name, s.url) {
            (Some(name), Some(url)) => {
                let kind = s.kind.map(|k| k.to_string()).unwrap_or_default();
                let _ = writeln!(out, "scenario {name}: {kind} → {url}");
            }
            (None, Some(url)) => {
                let _ = writeln!(out, "target: {url}");
            }
            _ => {}
        }
    }
    for s in &sections {
        for stage in &s.stages {
            stage_block(&mut out, run, s, stage);
        }
    }
    for s in &sections {
        if s.stages.len() > 1 {
            sweep_table(&mut out, run, s);
        }
    }
    if !run.slo.is_empty() {
        slo_section(&mut out, run);
    }
    if let Some(c) = &run.capacity {
        capacity_section(&mut out, c);
    }
    if let Some(c) = &run.cold_start {
        out.push_str(&super::cold_start::section(c));
    }
    if let Some(s) = &run.scale {
        out.push_str(&super::scale::section(s));
    }
    out.push_str(&super::target::section(&run.target_metrics));
    let limited: Vec<String> = run
        .stages
        .iter()
        .filter(|s| !s.warnings.is_empty())
        .map(|s| format!("{} [{}]", s.index + 1, s.label))
        .collect();
    if !limited.is_empty() {
        let _ = writeln!(
            out,
            "\nWARNING the generator limited stage {}: its figures may describe this machine, not the server (see the WARNING lines above; gate with --slo 'generator_cpu<90%', 'schedule_lag.p99<1ms' or 'frame_lag_p99.p99<2ms')",
            limited.join(", ")
        );
    }
    out
}

/// Every probe of a capacity search with its bounds, then the verdict.
fn capacity_section(out: &mut String, c: &crate::result::capacity::CapacityResult) {
    let _ = writeln!(
        out,
        "\ncapacity search over {} (each probe: every SLO's 95 % bound inside its limit; \
         at least {} successful samples)",
        c.over.noun(),
        c.min_samples
    );
    for p in &c.probes {
        let slos: Vec<String> = p
            .slo
            .iter()
            .map(|v| {
                let bound = v.bound.map_or("no bound".to_string(), |b| {
                    format!("bound {}", fmt_bound(b))
                });
                format!(
                    "{} {} ({bound})",
                    v.slo,
                    if v.passed { "ok" } else { "FAIL" }
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  stage {:>2} {:<8} {:>14}  {}  {}",
            p.stage + 1,
            format!("{:?}", p.phase).to_lowercase(),
            c.over.show(p.level),
            if p.passed { "pass" } else { "FAIL" },
            slos.join(", ")
        );
    }
    let _ = writeln!(out, "{}", c.verdict());
    if let Some(least) = c.require {
        let _ = writeln!(
            out,
            "require {}: {}",
            c.over.show(least),
            if c.meets_requirement() {
                "met"
            } else {
                "NOT MET"
            }
        );
    }
}

fn fmt_bound(v: f64) -> String {
    crate::workload::search::round_level(v).to_string()
}

fn stage_block(out: &mut String, run: &RunResult, section: &Section<'_>, s: &StageResult) {
    let m = &s.summary;
    let _ = writeln!(out);
    let scenario = section.name.map(|n| format!(" {n}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "stage {} [{}]{scenario}{}",
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
    let (done, arriving) = rate_units(section, run);
    let mut rates = format!("  throughput {:.2} {done}/s", m.achieved_rps);
    if let Some(o) = s.offered_rps {
        let _ = write!(rates, "  offered {o:.2} {arriving}/s");
    }
    let _ = write!(
        rates,
        "  audio {:.2} s per wall s  wall {:.1}s",
        m.audio_s_per_wall_s, s.wall_s
    );
    if let Some(connected) = m.connect_success {
        let _ = write!(
            rates,
            "  calls {} connected {:.1}%",
            m.calls,
            connected * 100.0
        );
    }
    if m.barge_ins > 0 {
        let _ = write!(
            rates,
            "  barge-ins {} untested {}",
            m.barge_ins, m.barge_in_untested
        );
    }
    if let Some(stalled) = m.stalled_share {
        let _ = write!(rates, "  stalled {:.1}% of requests", stalled * 100.0);
    }
    if let Some(wer) = m.wer_pooled {
        let _ = write!(rates, "  WER {:.2}% (pooled)", wer * 100.0);
    }
    if let (Some(share), Some(rate)) = (m.goodput, m.goodput_rps) {
        let _ = write!(
            rates,
            "  goodput {:.1}% ({rate:.2} {done}/s)",
            share * 100.0
        );
    }
    let _ = writeln!(out, "{rates}");
    if let Some(line) = judge_line(m) {
        let _ = writeln!(out, "{line}");
    }
    if !m.metrics.is_empty() {
        metric_row(out, TABLE_HEADER);
        headline_rows(out, m, "");
    }
    if let Some(cold) = &m.cold {
        let _ = writeln!(
            out,
            "  cold: {} requests after --cold-after idle, ok {}, failed {} (counted above too)",
            cold.requests, cold.ok, cold.failed
        );
        headline_rows(out, cold, "cold ");
    }
    for o in &m.outages {
        let _ = writeln!(out, "  {}", outage_line(o));
    }
    for w in &s.warnings {
        let _ = writeln!(out, "  WARNING {w}");
    }
    if let Some(why) = &s.saturated {
        let _ = writeln!(out, "  SATURATED: {why}");
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

/// A row per headline metric with samples, its name after `prefix`.
fn headline_rows(out: &mut String, m: &crate::metrics::StageSummary, prefix: &str) {
    for metric in ordered(m.metrics.keys().map(String::as_str)) {
        let name = metric.name();
        match m.metrics.get(&name) {
            Some(p) if metric.def().headline => percentiles_row(out, &format!("{prefix}{name}"), p),
            _ => {}
        }
    }
}

/// The TTS quality judge's figures of a stage (`--judge-asr`), if it had one:
/// `  judge: 40 judged  judge_wer_pooled 3.21%  failed 0  skipped 2  unfinished 0`.
fn judge_line(m: &crate::metrics::StageSummary) -> Option<String> {
    let j = &m.judge;
    (j.chosen() > 0).then(|| {
        format!(
            "  judge: {} judged  {} {}  failed {}  skipped {}  unfinished {}",
            j.judged,
            StageMetric::JudgeWerPooled.name(),
            m.judge_wer_pooled
                .map_or_else(|| "-".to_string(), |w| format!("{:.2}%", w * 100.0)),
            j.judge_failed,
            j.judge_skipped,
            j.judge_unfinished
        )
    })
}

/// When the target was down, in run time: `target down 12.3 s → 18.0 s
/// (5.7 s, 41 connection failures)`.
pub fn outage_line(o: &Outage) -> String {
    let (from, to) = (o.from_us as f64 / 1e6, o.to_us as f64 / 1e6);
    let end = if o.ongoing {
        ", still down at the stage's end"
    } else {
        ""
    };
    format!(
        "target down {from:.1} s → {to:.1} s ({:.1} s, {} connection failures{end})",
        to - from,
        o.failures
    )
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
    let stages: Vec<String> = run
        .slo
        .iter()
        .map(|r| {
            let scenario = r
                .scenario
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default();
            format!("stage {} [{}]{scenario}", r.stage + 1, r.label)
        })
        .collect();
    let stage_w = stages
        .iter()
        .map(|s| s.chars().count() + 1)
        .max()
        .unwrap_or(0)
        .max(22);
    for (r, stage) in run.slo.iter().zip(&stages) {
        let observed = match (r.observed, Unit::parse(&r.unit)) {
            (Some(v), Some(unit)) => value(v, unit),
            (Some(v), None) => format!("{v:.2}"),
            (None, _) => "-".into(),
        };
        let verdict = match (&r.reason, r.passed) {
            (_, true) => "pass".to_string(),
            (Some(why), false) => format!("FAIL ({why})"),
            (None, false) => "FAIL".to_string(),
        };
        let _ = writeln!(
            out,
            "  {:<width$}{stage:<stage_w$}{observed:>10}  {verdict}",
            r.slo
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
/// throughput among `stages` whose success rate is at least the run's
/// `min_success`, not saturated when any such stage is not (past the
/// knee, throughput stays high while latency runs away). `None` when no
/// stage qualifies.
pub fn best_level<'a>(
    run: &RunResult,
    stages: &[&'a StageResult],
) -> Option<(&'a StageResult, f64)> {
    let threshold = run.min_success;
    let kept: Vec<&StageResult> = stages
        .iter()
        .copied()
        .filter(|s| s.summary.requests > 0 && s.summary.success_rate.unwrap_or(0.0) >= threshold)
        .collect();
    let unsaturated = kept.iter().any(|s| s.saturated.is_none());
    kept.into_iter()
        .filter(|s| !unsaturated || s.saturated.is_none())
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

/// One line per stage of a section, to read a sweep at a glance. The
/// columns follow what it measured. TTS: TTFA p50/p95/p99, e2e p95, rtf
/// p50 and the stalled share. Streaming ASR: the final transcript instead
/// of TTFA and pooled WER instead of stalls (without a lead latency: e2e
/// and audio s per wall s). Voice agents: first agent audio p50/p95, then
/// turn and barge-in silence p50 when the run has them (no TTS columns: an
/// agent has no rtf or stalls).
fn sweep_table(out: &mut String, run: &RunResult, section: &Section<'_>) {
    let stages = &section.stages;
    let has = |metric: Metric| {
        let name = metric.name();
        stages.iter().any(|s| s.summary.metrics.contains_key(&name))
    };
    let agent = section.is_agent(run.kind)
        || has(Metric::AgentFirstAudio)
        || has(Metric::AgentFirstMessage);
    let lead = if agent {
        [Metric::AgentFirstAudio, Metric::AgentFirstMessage]
            .into_iter()
            .find(|m| has(*m))
            .unwrap_or(Metric::AgentFirstAudio)
    } else {
        [Metric::Ttfa, Metric::Final]
            .into_iter()
            .find(|m| has(*m))
            .unwrap_or(Metric::E2e)
    };
    let asr = section.service(run.kind) == Some(crate::protocol::Service::Asr);
    let mut cols = vec![
        Column::new(format!("{}stage", section.prefix()), 14, true),
        Column::new(if agent { "turns/s" } else { "req/s" }, 9, false),
        Column::new("ok%", 8, false),
    ];
    // (header, metric, statistic)
    type Stat = fn(&Percentiles) -> f64;
    let lead_name = lead.name();
    let mut stats: Vec<(String, Metric, Stat)> = vec![
        (format!("{lead_name} p50"), lead, |p| p.p50),
        (format!("{lead_name} p95"), lead, |p| p.p95),
    ];
    if agent {
        for m in [Metric::Turn, Metric::BargeInSilence] {
            if has(m) {
                stats.push((format!("{} p50", m.name()), m, |p| p.p50));
            }
        }
    } else {
        stats.push((format!("{lead_name} p99"), lead, |p| p.p99));
        if lead != Metric::E2e {
            stats.push(("e2e p95".into(), Metric::E2e, |p| p.p95));
        }
    }
    for (header, ..) in &stats {
        cols.push(Column::new(header.clone(), 10, false));
    }
    let audio_rate = !agent && lead == Metric::E2e;
    if audio_rate {
        cols.push(Column::new("audio/s", 10, false));
    }
    if !agent {
        cols.push(Column::new("rtf p50", 8, false));
        cols.push(Column::new(if asr { "WER" } else { "stalled" }, 9, false));
    }
    let judged = !agent && stages.iter().any(|s| s.summary.judge_wer_pooled.is_some());
    if judged {
        cols.push(Column::new(StageMetric::JudgeWerPooled.name(), 17, false));
    }
    for s in stages {
        let m = &s.summary;
        let get = |metric: Metric, f: Stat| {
            m.metrics
                .get(&metric.name())
                .map(|p| value(f(p), p.unit))
                .unwrap_or_else(|| "-".into())
        };
        let label = section.stage_label(s);
        let mut cells = vec![
            if s.saturated.is_some() {
                format!("{label} SATURATED")
            } else {
                label
            },
            format!("{:.2}", m.achieved_rps),
            format!("{:.1}", m.success_rate.unwrap_or(0.0) * 100.0),
        ];
        cells.extend(stats.iter().map(|(_, metric, f)| get(*metric, *f)));
        if audio_rate {
            cells.push(format!("{:.2}", m.audio_s_per_wall_s));
        }
        if !agent {
            cells.push(get(Metric::Rtf, |p| p.p50));
            cells.push(share(if asr { m.wer_pooled } else { m.stalled_share }));
        }
        if judged {
            cells.push(share(m.judge_wer_pooled));
        }
        for (col, cell) in cols.iter_mut().zip(cells) {
            col.cells.push(cell);
        }
    }
    let _ = writeln!(out);
    render_columns(out, &cols);
    if run.capacity.is_some() || run.cold_start.is_some() || run.scale.is_some() {
        // A capacity search, a cold-start or a scaling test states its own answer.
        return;
    }
    let prefix = section.prefix();
    let (done, _) = rate_units(section, run);
    match best_level(run, stages) {
        Some((s, threshold)) => {
            let _ = writeln!(
                out,
                "{prefix}best level: {} — {:.2} {done}/s with {:.1}% success (highest throughput keeping success ≥ {:.0}%{})",
                s.label,
                s.summary.achieved_rps,
                s.summary.success_rate.unwrap_or(0.0) * 100.0,
                threshold * 100.0,
                if stages.iter().any(|s| s.saturated.is_some()) {
                    ", not saturated"
                } else {
                    ""
                }
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{prefix}best level: none (no stage kept the required success rate)"
            );
        }
    }
}
