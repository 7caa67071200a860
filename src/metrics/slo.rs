//! SLO thresholds (`--slo 'ttfa.p95<300ms'`): parsing and evaluation per stage.
//!
//! Grammar (whitespace is ignored):
//!
//! ```text
//! SLO    := METRIC "." STAT OP VALUE UNIT?      latency metrics: ttfa.p95<300ms, rtf.p99<1
//!         | RATE OP VALUE ("%")?                stage rates: errors<1%, success>=99.5%, rps>=10
//! STAT   := min | mean | p50 | p90 | p95 | p99 | max
//! OP     := < | <= | > | >=
//! UNIT   := us | ms | s                         required for durations, refused for ratios/counts
//! RATE   := errors | success (success_rate) | dropped | stalled | rps | audio_per_wall
//! ```
//!
//! Shares (`errors`, `success`, `dropped`, `stalled`) take a percentage
//! (`1%`) or a fraction in 0..=1 (`0.01`, as in k6); a bare number above 1 is
//! refused, because `errors<5` is ambiguous.
//!
//! Parsing happens when the plan is built, so a misspelled metric is a
//! configuration error before any request is sent — never a silent pass.
//! Evaluation fails a threshold whose value cannot be observed (e.g.
//! `ttfa.p95` on a stage where no request succeeded): an SLO that cannot be
//! checked has not been met.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::metrics::metric::{Metric, Unit};
use crate::metrics::stats::{Percentiles, StageSummary};
use crate::report::StageResult;

/// A statistic of a metric's distribution over a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stat {
    /// Smallest value.
    Min,
    /// Arithmetic mean.
    Mean,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// Largest value.
    Max,
}

impl Stat {
    /// Every statistic, in display order.
    pub const ALL: [Stat; 7] = [
        Stat::Min,
        Stat::Mean,
        Stat::P50,
        Stat::P90,
        Stat::P95,
        Stat::P99,
        Stat::Max,
    ];

    /// Stable name: `min`, `mean`, `p50`, …
    pub fn name(&self) -> &'static str {
        match self {
            Stat::Min => "min",
            Stat::Mean => "mean",
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::Max => "max",
        }
    }

    /// Inverse of [`Stat::name`].
    pub fn parse(s: &str) -> Option<Stat> {
        Stat::ALL.into_iter().find(|x| x.name() == s)
    }

    /// The quantile of a percentile statistic (`p95` → 0.95); `None` for min, mean, max.
    pub fn quantile(&self) -> Option<f64> {
        match self {
            Stat::P50 => Some(0.50),
            Stat::P90 => Some(0.90),
            Stat::P95 => Some(0.95),
            Stat::P99 => Some(0.99),
            Stat::Min | Stat::Mean | Stat::Max => None,
        }
    }

    /// This statistic of a summary's distribution.
    pub fn of(&self, p: &Percentiles) -> f64 {
        match self {
            Stat::Min => p.min,
            Stat::Mean => p.mean,
            Stat::P50 => p.p50,
            Stat::P90 => p.p90,
            Stat::P95 => p.p95,
            Stat::P99 => p.p99,
            Stat::Max => p.max,
        }
    }
}

/// A per-stage number that is not a per-request distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateMetric {
    /// `failed ÷ requests`, in %.
    Errors,
    /// `ok ÷ requests`, in %.
    Success,
    /// `dropped ÷ (requests + dropped)`: share of arrivals dropped at the in-flight cap, in %.
    Dropped,
    /// `stalled_share`, in %.
    Stalled,
    /// `achieved_rps`.
    Rps,
    /// `audio_s_per_wall_s`.
    AudioPerWall,
}

impl RateMetric {
    /// Every rate metric.
    pub const ALL: [RateMetric; 6] = [
        RateMetric::Errors,
        RateMetric::Success,
        RateMetric::Dropped,
        RateMetric::Stalled,
        RateMetric::Rps,
        RateMetric::AudioPerWall,
    ];

    /// Stable name as written in an SLO.
    pub fn name(&self) -> &'static str {
        match self {
            RateMetric::Errors => "errors",
            RateMetric::Success => "success",
            RateMetric::Dropped => "dropped",
            RateMetric::Stalled => "stalled",
            RateMetric::Rps => "rps",
            RateMetric::AudioPerWall => "audio_per_wall",
        }
    }

    /// Inverse of [`RateMetric::name`]; also accepts `success_rate`.
    pub fn parse(s: &str) -> Option<RateMetric> {
        if s == "success_rate" {
            return Some(RateMetric::Success);
        }
        RateMetric::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Whether the value is a share of requests (shown and compared in %).
    pub fn is_share(&self) -> bool {
        !matches!(self, RateMetric::Rps | RateMetric::AudioPerWall)
    }

    /// The observed value (in % for shares), or why there is none.
    pub fn observe(&self, s: &StageSummary) -> Result<f64, String> {
        let share = |num: u64, den: u64, what: &str| {
            if den == 0 {
                Err(format!("no {what} in this stage"))
            } else {
                Ok(num as f64 / den as f64 * 100.0)
            }
        };
        match self {
            RateMetric::Errors => share(s.failed, s.requests, "completed requests"),
            RateMetric::Success => share(s.ok, s.requests, "completed requests"),
            RateMetric::Dropped => share(s.dropped, s.requests + s.dropped, "arrivals"),
            RateMetric::Stalled => s.stalled_share.map(|x| x * 100.0).ok_or_else(|| {
                "no stall information (needs successful streaming PCM/WAV requests)".into()
            }),
            RateMetric::Rps => Ok(s.achieved_rps),
            RateMetric::AudioPerWall => Ok(s.audio_s_per_wall_s),
        }
    }
}

/// What an SLO constrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A statistic of a per-request metric, e.g. `ttfa.p95`.
    Metric {
        /// The metric.
        metric: Metric,
        /// The statistic.
        stat: Stat,
    },
    /// A stage rate, e.g. `errors`.
    Rate(RateMetric),
}

impl Subject {
    /// The unit thresholds and observations are expressed in: `ms`, `ratio`,
    /// `count`, `%`, `req/s` or `s/s`.
    pub fn unit(&self) -> &'static str {
        match self {
            Subject::Metric { metric, .. } => metric.unit().label(),
            Subject::Rate(r) if r.is_share() => "%",
            Subject::Rate(RateMetric::Rps) => "req/s",
            Subject::Rate(_) => "s/s",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// Whether `observed OP threshold` holds.
    pub fn holds(&self, observed: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => observed < threshold,
            Op::Le => observed <= threshold,
            Op::Gt => observed > threshold,
            Op::Ge => observed >= threshold,
        }
    }

    /// Split `s` at its first operator: (left, op, right).
    pub fn split(s: &str) -> Option<(&str, Op, &str)> {
        let i = s.find(['<', '>'])?;
        let gt = s[i..].starts_with('>');
        let (op, len) = match (gt, s[i + 1..].starts_with('=')) {
            (false, false) => (Op::Lt, 1),
            (false, true) => (Op::Le, 2),
            (true, false) => (Op::Gt, 1),
            (true, true) => (Op::Ge, 2),
        };
        Some((&s[..i], op, &s[i + len..]))
    }
}

/// Why an SLO expression was refused. Names the expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("'{expr}': {kind}")]
pub struct SloError {
    /// The expression as given.
    pub expr: String,
    /// What is wrong.
    pub kind: SloErrorKind,
}

/// The ways an SLO expression can be wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SloErrorKind {
    /// No operator, or an unsupported one.
    #[error(
        "expected METRIC.STAT<VALUE (operators <, <=, >, >=), e.g. ttfa.p95<300ms or errors<1%"
    )]
    Syntax,
    /// Not a metric name.
    #[error("unknown metric '{0}'; valid: {valid}", valid = valid_names())]
    UnknownMetric(String),
    /// Not a statistic name.
    #[error("unknown statistic '{0}'; valid: min, mean, p50, p90, p95, p99, max")]
    UnknownStat(String),
    /// A latency metric without `.STAT`.
    #[error("'{0}' needs a statistic, e.g. {0}.p95")]
    MissingStat(String),
    /// A rate metric with `.STAT`.
    #[error("'{0}' is a stage rate and takes no statistic (e.g. {0}<1%)")]
    UnexpectedStat(String),
    /// The value is not a non-negative number.
    #[error("'{0}' is not a non-negative number")]
    BadNumber(String),
    /// A duration metric without a unit.
    #[error("'{0}' is a duration and needs a unit (us, ms or s), e.g. 300ms")]
    MissingUnit(String),
    /// A unit the metric does not take.
    #[error("unit '{unit}' does not fit '{metric}' (expected {expected})")]
    BadUnit {
        /// The metric.
        metric: String,
        /// The unit given.
        unit: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// A share outside 0..=100 %, or a bare number above 1.
    #[error("'{0}' is a share of requests: write a percentage (1%) or a fraction in 0..=1 (0.01)")]
    BadShare(String),
}

/// Every name an SLO accepts, for error messages.
fn valid_names() -> String {
    let mut names: Vec<String> = Metric::all(&[]).iter().map(|m| m.name()).collect();
    names.insert(2, "chunkN".into());
    names.extend(RateMetric::ALL.iter().map(|r| r.name().to_string()));
    names.join(", ")
}

/// One threshold, validated. The threshold is in [`Subject::unit`]
/// (ms for durations, % for shares).
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The expression, whitespace removed (how it is shown and saved).
    pub expr: String,
    /// What is constrained.
    pub subject: Subject,
    /// How.
    pub op: Op,
    /// The bound, in the subject's unit.
    pub threshold: f64,
}

/// Split `300ms` into (`300`, `ms`). The number may have a sign and a decimal point.
pub fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '+' || c == '-'))))
        .map_or(s.len(), |(i, _)| i);
    s.split_at(end)
}

/// A duration value with unit → ms; `None` for an unknown unit.
pub fn duration_ms(value: f64, unit: &str) -> Option<f64> {
    match unit {
        "us" | "µs" => Some(value / 1000.0),
        "ms" => Some(value),
        "s" => Some(value * 1000.0),
        _ => None,
    }
}

impl FromStr for Slo {
    type Err = SloError;

    fn from_str(raw: &str) -> Result<Self, SloError> {
        let expr: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        let fail = |kind| SloError {
            expr: raw.trim().to_string(),
            kind,
        };
        let (lhs, op, rhs) = Op::split(&expr).ok_or_else(|| fail(SloErrorKind::Syntax))?;
        if lhs.is_empty() || rhs.is_empty() || rhs.contains(['<', '>', '=']) {
            return Err(fail(SloErrorKind::Syntax));
        }
        let (name, stat) = match lhs.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (lhs, None),
        };
        let subject = if let Some(rate) = RateMetric::parse(name) {
            if stat.is_some() {
                return Err(fail(SloErrorKind::UnexpectedStat(name.into())));
            }
            Subject::Rate(rate)
        } else {
            let metric = Metric::parse(name)
                .ok_or_else(|| fail(SloErrorKind::UnknownMetric(name.into())))?;
            let stat = stat.ok_or_else(|| fail(SloErrorKind::MissingStat(name.into())))?;
            let stat =
                Stat::parse(stat).ok_or_else(|| fail(SloErrorKind::UnknownStat(stat.into())))?;
            Subject::Metric { metric, stat }
        };
        let (num, unit) = split_number(rhs);
        let value: f64 = num
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| fail(SloErrorKind::BadNumber(rhs.into())))?;
        let bad_unit = |expected| {
            fail(SloErrorKind::BadUnit {
                metric: name.into(),
                unit: unit.into(),
                expected,
            })
        };
        let threshold = match subject {
            Subject::Metric { metric, .. } => match metric.unit() {
                Unit::Micros if unit.is_empty() => {
                    return Err(fail(SloErrorKind::MissingUnit(name.into())))
                }
                Unit::Micros => duration_ms(value, unit).ok_or_else(|| bad_unit("us, ms or s"))?,
                Unit::Ratio | Unit::Count if unit.is_empty() => value,
                Unit::Ratio | Unit::Count => return Err(bad_unit("no unit")),
            },
            Subject::Rate(r) if r.is_share() => {
                let pct = match unit {
                    "%" => value,
                    "" if value <= 1.0 => value * 100.0,
                    "" => return Err(fail(SloErrorKind::BadShare(rhs.into()))),
                    _ => return Err(bad_unit("% or a fraction")),
                };
                if pct > 100.0 {
                    return Err(fail(SloErrorKind::BadShare(rhs.into())));
                }
                pct
            }
            Subject::Rate(RateMetric::Rps) if unit.is_empty() || unit == "/s" => value,
            Subject::Rate(RateMetric::Rps) => return Err(bad_unit("no unit or /s")),
            Subject::Rate(_) if unit.is_empty() => value,
            Subject::Rate(_) => return Err(bad_unit("no unit")),
        };
        Ok(Slo {
            expr,
            subject,
            op,
            threshold,
        })
    }
}

/// Parse every expression; the first bad one is the error.
pub fn parse_all(exprs: &[String]) -> Result<Vec<Slo>, SloError> {
    exprs.iter().map(|e| e.parse()).collect()
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl Serialize for Slo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expr)
    }
}

impl<'de> Deserialize<'de> for Slo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Slo {
    /// The observed value on a stage, in [`Subject::unit`], or why there is none.
    pub fn observe(&self, stage: &StageResult) -> Result<f64, String> {
        match self.subject {
            Subject::Metric { metric, stat } => stage
                .summary
                .metrics
                .get(&metric.name())
                .map(|p| stat.of(p))
                .ok_or_else(|| {
                    format!("no {metric} samples in this stage: no successful request reached it")
                }),
            Subject::Rate(r) => r.observe(&stage.summary),
        }
    }

    /// Check this threshold on one stage. A value that cannot be observed fails.
    pub fn evaluate(&self, stage: &StageResult) -> SloResult {
        let (observed, passed, reason) = match self.observe(stage) {
            Ok(v) => (Some(v), self.op.holds(v, self.threshold), None),
            Err(why) => (None, false, Some(why)),
        };
        SloResult {
            slo: self.expr.clone(),
            stage: stage.index,
            label: stage.label.clone(),
            observed,
            threshold: self.threshold,
            unit: self.subject.unit().to_string(),
            passed,
            reason,
        }
    }
}

/// One threshold's verdict on one stage. (`Default` lets tests build one
/// with only the fields they care about.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    /// The threshold as the user wrote it (whitespace removed).
    pub slo: String,
    /// Stage index.
    pub stage: usize,
    /// Stage label.
    #[serde(default)]
    pub label: String,
    /// Observed value in `unit` (absent if the stage has no such value).
    pub observed: Option<f64>,
    /// The bound, in `unit`.
    #[serde(default)]
    pub threshold: f64,
    /// `ms`, `ratio`, `count`, `%`, `req/s` or `s/s`.
    #[serde(default)]
    pub unit: String,
    /// Whether it held.
    pub passed: bool,
    /// Why it failed without an observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
#[path = "slo_tests.rs"]
mod tests;
