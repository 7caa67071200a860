//! `voxload compare BASE NEW`: two runs, stage by stage and metric by
//! metric, with confidence intervals computed exactly from the saved HDR
//! histograms — and regression gates (`--fail-if`) for CI.
//!
//! Statistics (all at 95 %):
//! - **Percentiles** (p50/p90/p95/p99): a distribution-free interval for
//!   each run's quantile *q* from *n* samples — the order statistics at
//!   ranks ⌊nq − 1.96·√(nq(1−q))⌋ and ⌈nq + 1.96·√(nq(1−q))⌉ (normal
//!   approximation to the binomial), read from the histogram. A rank outside
//!   1..=n leaves that side unbounded. The change is **significant when the
//!   two intervals do not overlap** — a conservative rule (for equal widths
//!   it corresponds to p ≈ 0.006), so "no significant change" is common with
//!   few samples, and a reported change is rarely noise. The interval of the
//!   change is `[new.lo − base.hi, new.hi − base.lo]`, which excludes 0
//!   exactly when the intervals do not overlap.
//! - **Means**: Welch's t-test from each histogram's mean, standard
//!   deviation and count; significant when the 95 % interval of the
//!   difference excludes 0.
//! - **Success rate**: two-proportion z-test (pooled), significant at
//!   p < 0.05; the interval shown is the unpooled Wald interval.
//! - **Achieved rate** (rps): reported without an interval (one number per run).

#[path = "compare_gate.rs"]
pub mod gate;

use std::fmt::Write as _;

use serde::Serialize;

use super::fmt;
use crate::metrics::confidence::{quantile_ci, two_proportion, welch, Interval};
use crate::metrics::metric::{Metric, Unit};
use crate::metrics::registry::{Better, StageMetric};
use crate::metrics::slo::Stat;
use crate::result::{RunResult, StageResult};
pub use gate::{Gate, GateError, GateResult};

/// Statistics compared per metric, in table order.
pub const STATS: [Stat; 5] = [Stat::P50, Stat::P90, Stat::P95, Stat::P99, Stat::Mean];

/// The outcome of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significantly better.
    Better,
    /// Significantly worse.
    Worse,
    /// Significantly different, for a metric with no better direction.
    Changed,
    /// Not significant (or not testable).
    #[serde(rename = "no_significant_change")]
    NoChange,
}

impl Verdict {
    /// From the sign of a significant change (`None` = not significant).
    pub fn from_change(significant_sign: Option<f64>, better: Better) -> Verdict {
        match (significant_sign, better) {
            (None, _) => Verdict::NoChange,
            (Some(_), Better::Neither) => Verdict::Changed,
            (Some(d), Better::Lower) if d < 0.0 => Verdict::Better,
            (Some(d), Better::Higher) if d > 0.0 => Verdict::Better,
            (Some(_), _) => Verdict::Worse,
        }
    }

    /// As shown in the table.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "WORSE",
            Verdict::Changed => "changed",
            Verdict::NoChange => "no significant change",
        }
    }
}

/// One metric × statistic of one stage.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Metric name (`ttfa`), or a stage figure (`success`, `rps`, `stalled`,
    /// `wer_pooled`, `connected`).
    pub metric: String,
    /// `p50`, `p90`, `p95`, `p99`, `mean`, or `rate`.
    pub stat: String,
    /// Unit of every value in this row (`ms`, `ratio`, `count`, `%`, `req/s`).
    pub unit: Unit,
    /// Baseline value.
    pub base: f64,
    /// New value.
    pub new: f64,
    /// `new − base` (percentage points for `success`).
    pub diff: f64,
    /// `diff ÷ base` in %, when base is not 0.
    pub diff_pct: Option<f64>,
    /// Samples behind each value.
    pub n: [u64; 2],
    /// 95 % interval of the baseline value (percentiles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_ci: Option<Interval>,
    /// 95 % interval of the new value (percentiles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_ci: Option<Interval>,
    /// 95 % interval of the difference (absent when it cannot be computed).
    pub diff_ci: Option<Interval>,
    /// Two-sided p-value (success rate only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// `order statistics`, `welch`, `two-proportion z` or `none`.
    pub method: &'static str,
    /// Whether the change is statistically significant.
    pub significant: bool,
    /// Better, worse or no significant change.
    pub verdict: Verdict,
}

/// One matched stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageComparison {
    /// Stage index (both runs).
    pub index: usize,
    /// The scenario, in runs of several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Baseline label.
    pub base_label: String,
    /// New label.
    pub new_label: String,
    /// Every comparison, metrics in display order.
    pub rows: Vec<Row>,
}

/// The whole comparison, as printed and as written with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Baseline run name.
    pub base: String,
    /// New run name.
    pub new: String,
    /// Matched stages.
    pub stages: Vec<StageComparison>,
    /// Things a reader should know (label mismatch, missing stages or metrics).
    pub warnings: Vec<String>,
    /// Gate outcomes (`--fail-if`), one per gate × stage.
    pub gates: Vec<GateResult>,
}

impl Comparison {
    /// Whether any gate tripped.
    pub fn failed(&self) -> bool {
        self.gates.iter().any(|g| g.tripped)
    }
}

fn pct(diff: f64, base: f64) -> Option<f64> {
    (base != 0.0).then(|| diff / base * 100.0)
}

/// Compare two runs. `metrics` limits the metrics shown (empty = all);
/// success rate and rps are always compared.
pub fn compare(
    base: &RunResult,
    new: &RunResult,
    metrics: &[String],
    gates: &[Gate],
) -> Comparison {
    let mut warnings = Vec::new();
    for (which, run) in [("base", base), ("new", new)] {
        if run.status != crate::result::RunStatus::Complete {
            warnings.push(format!(
                "{which} run '{}' is not complete ({:?})",
                run.name, run.status
            ));
        }
    }
    let same = |b: &StageResult, n: &StageResult| b.index == n.index && b.scenario == n.scenario;
    let named = |s: &StageResult| match &s.scenario {
        Some(name) => format!("stage {} of scenario {name}", s.index + 1),
        None => format!("stage {}", s.index + 1),
    };
    if base.stages.len() != new.stages.len() {
        warnings.push(format!(
            "base has {} stages, new has {}: comparing the stages both have",
            base.stages.len(),
            new.stages.len()
        ));
    }
    for (which, run, other) in [("base", base, new), ("new", new, base)] {
        for s in &run.stages {
            if !other.stages.iter().any(|o| same(s, o)) {
                warnings.push(format!("{} only in {which}", named(s)));
            }
        }
    }
    let mut stages = Vec::new();
    for n in &new.stages {
        let Some(b) = base.stages.iter().find(|b| same(b, n)) else {
            continue;
        };
        let place = named(n);
        if b.label != n.label {
            warnings.push(format!(
                "{place}: labels differ ('{}' vs '{}'); compared by position",
                b.label, n.label
            ));
        }
        let mut rows = Vec::new();
        let new_metrics = n.stats.metrics();
        for m in b.stats.metrics() {
            if !metrics.is_empty() && !metrics.contains(&m.name()) {
                continue;
            }
            if !new_metrics.contains(&m) {
                warnings.push(format!("{place}: {m} only in base"));
                continue;
            }
            let (Some(hb), Some(hn)) = (b.stats.histogram(&m), n.stats.histogram(&m)) else {
                continue;
            };
            for stat in STATS {
                rows.push(metric_row(&m, stat, hb, hn));
            }
        }
        for m in new_metrics {
            let shown = metrics.is_empty() || metrics.contains(&m.name());
            if shown && b.stats.histogram(&m).is_none() {
                warnings.push(format!("{place}: {m} only in new"));
            }
        }
        rows.extend(stage_rows(b, n));
        stages.push(StageComparison {
            index: n.index,
            scenario: n.scenario.clone(),
            base_label: b.label.clone(),
            new_label: n.label.clone(),
            rows,
        });
    }
    let mut cmp = Comparison {
        base: base.name.clone(),
        new: new.name.clone(),
        stages,
        warnings,
        gates: Vec::new(),
    };
    cmp.gates = gates.iter().flat_map(|g| g.evaluate(&cmp)).collect();
    cmp
}

fn metric_row(
    m: &Metric,
    stat: Stat,
    hb: &hdrhistogram::Histogram<u64>,
    hn: &hdrhistogram::Histogram<u64>,
) -> Row {
    let unit = m.unit();
    let (base, new, base_ci, new_ci, diff_ci, method) = match stat.quantile() {
        Some(q) => {
            let at = |h: &hdrhistogram::Histogram<u64>| unit.display(h.value_at_quantile(q) as f64);
            let (cb, cn) = (quantile_ci(hb, q, unit), quantile_ci(hn, q, unit));
            let diff_ci = cn.minus(&cb);
            (
                at(hb),
                at(hn),
                Some(cb),
                Some(cn),
                Some(diff_ci),
                "order statistics",
            )
        }
        None => {
            let (mb, mn) = (unit.display(hb.mean()), unit.display(hn.mean()));
            (mb, mn, None, None, welch(hb, hn, unit), "welch")
        }
    };
    let diff = new - base;
    let significant = diff_ci.as_ref().is_some_and(Interval::excludes_zero);
    Row {
        metric: m.name(),
        stat: stat.name().into(),
        unit,
        base,
        new,
        diff,
        diff_pct: pct(diff, base),
        n: [hb.len(), hn.len()],
        base_ci,
        new_ci,
        diff_ci,
        p_value: None,
        method,
        significant,
        verdict: Verdict::from_change(significant.then_some(diff), m.def().better),
    }
}

/// A stage figure that is a share of trials (requests, calls): compared
/// with the two-proportion z-test.
fn proportion_row(metric: StageMetric, (kb, nb): (u64, u64), (kn, nn): (u64, u64)) -> Row {
    let rate = |k: u64, n: u64| {
        if n > 0 {
            k as f64 / n as f64 * 100.0
        } else {
            0.0
        }
    };
    let (base, new) = (rate(kb, nb), rate(kn, nn));
    let test = two_proportion(kb, nb, kn, nn);
    let significant = test.as_ref().is_some_and(|t| t.1 < 0.05);
    Row {
        metric: metric.name().into(),
        stat: "rate".into(),
        unit: Unit::Percent,
        base,
        new,
        diff: new - base,
        diff_pct: None,
        n: [nb, nn],
        base_ci: None,
        new_ci: None,
        diff_ci: test.as_ref().map(|t| t.0.clone()),
        p_value: test.map(|t| t.1),
        method: "two-proportion z",
        significant,
        verdict: Verdict::from_change(significant.then_some(new - base), metric.def().better),
    }
}

/// A stage figure with one number per run: shown, never significant.
fn plain_row(metric: StageMetric, base: f64, new: f64, n: [u64; 2]) -> Row {
    Row {
        metric: metric.name().into(),
        stat: "rate".into(),
        unit: metric.def().unit,
        base,
        new,
        diff: new - base,
        diff_pct: pct(new - base, base),
        n,
        base_ci: None,
        new_ci: None,
        diff_ci: None,
        p_value: None,
        method: "none",
        significant: false,
        verdict: Verdict::NoChange,
    }
}

/// The stage figures both stages have: success (always), throughput, and
/// stalls, pooled WER and connected calls where both measured them.
fn stage_rows(b: &StageResult, n: &StageResult) -> Vec<Row> {
    let (sb, sn) = (&b.summary, &n.summary);
    let (cb, cn) = (&b.stats.counters, &n.stats.counters);
    let mut rows = vec![
        proportion_row(
            StageMetric::Success,
            (sb.ok, sb.requests),
            (sn.ok, sn.requests),
        ),
        plain_row(
            StageMetric::Rps,
            sb.achieved_rps,
            sn.achieved_rps,
            [sb.requests, sn.requests],
        ),
    ];
    if sb.stalled_share.is_some() && sn.stalled_share.is_some() {
        rows.push(proportion_row(
            StageMetric::Stalled,
            (cb.stalled_requests, cb.requests_with_stall_info),
            (cn.stalled_requests, cn.requests_with_stall_info),
        ));
    }
    if let (Some(wb), Some(wn)) = (sb.wer_pooled, sn.wer_pooled) {
        let words = [cb.ref_words, cn.ref_words];
        rows.push(plain_row(
            StageMetric::WerPooled,
            wb * 100.0,
            wn * 100.0,
            words,
        ));
    }
    if sb.connect_success.is_some() && sn.connect_success.is_some() {
        rows.push(proportion_row(
            StageMetric::Connected,
            (cb.calls_connected, cb.calls),
            (cn.calls_connected, cn.calls),
        ));
    }
    rows
}

/// A value in its unit (`245ms`, `99.50%`), or a signed change (`+12ms`, `-0.25pp`).
fn fmt_value(v: f64, unit: Unit, signed: bool) -> String {
    if signed {
        fmt::signed(v, unit)
    } else {
        fmt::value(v + 0.0, unit)
    }
}

fn fmt_interval(ci: &Option<Interval>, unit: Unit) -> String {
    match ci {
        None => "-".into(),
        Some(i) => format!(
            "[{}, {}]",
            i.lo.map_or("-inf".into(), |v| fmt_value(v, unit, true)),
            i.hi.map_or("+inf".into(), |v| fmt_value(v, unit, true)),
        ),
    }
}

/// A row's metric, stat, base, new, change and interval, as printed.
pub(super) fn row_cells(r: &Row) -> [String; 6] {
    let mut change = fmt_value(r.diff, r.unit, true);
    if let Some(p) = r.diff_pct {
        let _ = write!(change, " ({p:+.1}%)");
    }
    let ci = match (r.method, r.p_value) {
        ("none", _) => "(no CI)".to_string(),
        (_, Some(p)) => format!("{} p={p:.3}", fmt_interval(&r.diff_ci, r.unit)),
        _ => fmt_interval(&r.diff_ci, r.unit),
    };
    [
        r.metric.clone(),
        r.stat.clone(),
        fmt_value(r.base, r.unit, false),
        fmt_value(r.new, r.unit, false),
        change,
        ci,
    ]
}

/// The comparison as a readable table.
pub fn table(cmp: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "compare: base '{}' → new '{}'", cmp.base, cmp.new);
    let _ = writeln!(
        out,
        "95% intervals; percentiles: order statistics (significant when the two intervals do not overlap); means: Welch; success: two-proportion z"
    );
    for w in &cmp.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    // Every row's cells first, so that each column is as wide as its widest
    // cell (at least as wide as it always was) in every stage alike.
    let cells: Vec<Vec<[String; 6]>> = cmp
        .stages
        .iter()
        .map(|st| st.rows.iter().map(row_cells).collect())
        .collect();
    let header = [
        "metric",
        "stat",
        "base",
        "new",
        "change",
        "95% CI of change",
    ]
    .map(String::from);
    let len = |s: &String| s.chars().count();
    let widest = |i: usize| {
        cells
            .iter()
            .flatten()
            .chain(std::iter::once(&header))
            .map(|c| len(&c[i]))
            .max()
            .unwrap_or(0)
    };
    // At least one space between any two cells; two after a metric name.
    let w = [
        (widest(0) + 2).max(18),
        (widest(1) + 2).max(6),
        (widest(2) + 1).max(10),
        (widest(3) + 1).max(10),
        (widest(4) + 1).max(22),
        (widest(5) + 1).max(32),
    ];
    let line = |out: &mut String, c: &[String; 6], verdict: &str| {
        let _ = writeln!(
            out,
            "  {:<w0$}{:<w1$}{:>w2$}{:>w3$}{:>w4$}  {:<w5$}{verdict}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5],
        );
    };
    for (st, rows) in cmp.stages.iter().zip(&cells) {
        let _ = writeln!(out);
        let label = if st.base_label == st.new_label {
            st.new_label.clone()
        } else {
            format!("{} → {}", st.base_label, st.new_label)
        };
        let scenario = st
            .scenario
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        let _ = writeln!(out, "stage {} [{label}]{scenario}", st.index + 1);
        line(&mut out, &header, "verdict");
        for (r, c) in st.rows.iter().zip(rows) {
            let verdict = if r.method == "none" {
                ""
            } else {
                r.verdict.label()
            };
            line(&mut out, c, verdict);
        }
    }
    if !cmp.gates.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "gates");
        let gate_w = cmp
            .gates
            .iter()
            .map(|g| g.gate.chars().count())
            .max()
            .unwrap_or(0)
            .max(24);
        for g in &cmp.gates {
            // Normalize −0 so an unchanged value does not print as "-0.00".
            let change =
                g.change
                    .map(|c| c + 0.0)
                    .map_or("absent".into(), |c| match Unit::parse(&g.unit) {
                        _ if g.unit == "%" || g.unit == "pp" => format!("{c:+.2}{}", g.unit),
                        Some(unit) => fmt_value(c, unit, true),
                        None => format!("{c:+.2}"),
                    });
            let sig = if g.significant {
                "significant"
            } else {
                "not significant"
            };
            let outcome = if g.tripped { "FAILED" } else { "ok" };
            let _ = writeln!(
                out,
                "  {:<gate_w$} stage {} [{}]: {change}, {sig} → {outcome}",
                g.gate,
                g.stage + 1,
                g.label
            );
        }
        let tripped = cmp.gates.iter().filter(|g| g.tripped).count();
        let _ = writeln!(
            out,
            "  {}",
            if tripped == 0 {
                "no gate tripped".to_string()
            } else {
                format!("{tripped} gate result(s) FAILED")
            }
        );
    }
    out
}
