//! SLO thresholds (`--slo 'ttfa.p95<300ms'`): parsing and evaluation per stage.
//!
//! Grammar (whitespace is ignored):
//!
//! ```text
//! SLO    := (SCENARIO ":")? TERM
//! TERM   := METRIC "." STAT OP VALUE UNIT?      latency metrics: ttfa.p95<300ms, rtf.p99<1
//!         | STAGE OP VALUE ("%")?               stage figures: errors<1%, success>=99.5%, rps>=10
//! STAT   := min | mean | p50 | p90 | p95 | p99 | max
//! OP     := < | <= | > | >=
//! UNIT   := us | ms | s                         required for durations, refused for ratios/counts
//! STAGE  := errors | success (success_rate) | dropped | stalled | rps | audio_per_wall
//!         | wer_pooled | connected | judge_wer_pooled
//! ```
//!
//! Shares (`errors`, `success`, `dropped`, `stalled`, `wer_pooled`,
//! `connected`, `judge_wer_pooled`) take a percentage (`1%`) or a fraction in 0..=1 (`0.01`, as
//! in k6); a bare number above 1 is refused, because `errors<5` is ambiguous.
//!
//! `tts:ttfa.p95<300ms` holds only for the scenario named `tts`; without a
//! scenario a threshold holds for every scenario whose protocol can measure
//! it (`ttfa` for TTS scenarios, `errors` for all).
//!
//! Parsing happens when the plan is built, and so does [`Slo::check`]: a
//! misspelled metric, an unknown scenario or a metric the run cannot
//! produce (`ttfa.p95` on an ASR run) is a configuration error before any
//! request is sent — never a silent pass. Evaluation fails a threshold
//! whose value cannot be observed (e.g. `ttfa.p95` on a stage where no
//! request succeeded): an SLO that cannot be checked has not been met.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::metrics::metric::{Metric, Unit};
use crate::metrics::registry::{Kinds, StageMetric, STAGE_METRICS};
use crate::metrics::stats::{Percentiles, StageSummary};
use crate::protocol::Kind;

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
    /// A stage figure, e.g. `errors`.
    Stage(StageMetric),
}

impl Subject {
    /// The unit thresholds and observations are expressed in: ms for
    /// durations, % for shares.
    pub fn unit(&self) -> Unit {
        match self {
            Subject::Metric { metric, .. } => metric.unit(),
            Subject::Stage(m) => m.def().unit,
        }
    }

    /// The protocols that can produce it.
    pub fn kinds(&self) -> Kinds {
        match self {
            Subject::Metric { metric, .. } => metric.def().kinds,
            Subject::Stage(m) => m.def().kinds,
        }
    }

    /// Its name as written in an SLO (`ttfa`, `errors`).
    pub fn name(&self) -> String {
        match self {
            Subject::Metric { metric, .. } => metric.name(),
            Subject::Stage(m) => m.name().to_string(),
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
    /// The scenario prefix is not a scenario of the run.
    #[error("no scenario named '{name}' in this run (scenarios: {valid})")]
    UnknownScenario {
        /// The prefix given.
        name: String,
        /// The run's scenario names.
        valid: String,
    },
    /// The metric cannot be produced where the threshold applies.
    #[error("{metric} cannot be measured {place}: {why}")]
    NotProduced {
        /// The metric or stage figure.
        metric: String,
        /// `on this run`, or `by scenario 'x'`.
        place: String,
        /// Which protocols do produce it.
        why: String,
    },
}

/// Every name an SLO accepts, for error messages.
fn valid_names() -> String {
    let mut names: Vec<String> = Metric::all(&[]).iter().map(|m| m.name()).collect();
    names.insert(2, "chunkN".into());
    names.extend(STAGE_METRICS.iter().map(|r| r.name.to_string()));
    names.join(", ")
}

/// One threshold, validated. The threshold is in [`Subject::unit`]
/// (ms for durations, % for shares).
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The expression, whitespace removed (how it is shown and saved).
    pub expr: String,
    /// `tts:` in `tts:ttfa.p95<300ms`: the one scenario it holds for.
    pub scenario: Option<String>,
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
        let (scenario, lhs) = match lhs.split_once(':') {
            Some((name, rest)) if is_scenario_name(name) => (Some(name.to_string()), rest),
            Some(_) => return Err(fail(SloErrorKind::Syntax)),
            None => (None, lhs),
        };
        if lhs.is_empty() || rhs.is_empty() || rhs.contains(['<', '>', '=']) {
            return Err(fail(SloErrorKind::Syntax));
        }
        let (name, stat) = match lhs.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (lhs, None),
        };
        let subject = if let Some(figure) = StageMetric::parse(name) {
            if stat.is_some() {
                return Err(fail(SloErrorKind::UnexpectedStat(name.into())));
            }
            Subject::Stage(figure)
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
                _ if unit.is_empty() => value,
                _ => return Err(bad_unit("no unit")),
            },
            Subject::Stage(r) if r.is_share() => {
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
            Subject::Stage(StageMetric::Rps) if unit.is_empty() || unit == "/s" => value,
            Subject::Stage(StageMetric::Rps) => return Err(bad_unit("no unit or /s")),
            Subject::Stage(_) if unit.is_empty() => value,
            Subject::Stage(_) => return Err(bad_unit("no unit")),
        };
        Ok(Slo {
            expr,
            scenario,
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

/// A scenario name as an SLO prefix may give it: letters, digits, `_`, `-`.
pub fn is_scenario_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What an SLO is evaluated on: one stage of one scenario.
#[derive(Debug, Clone, Copy)]
pub struct StageView<'a> {
    /// Stage index.
    pub index: usize,
    /// Stage label.
    pub label: &'a str,
    /// The scenario's name, in a run of several scenarios.
    pub scenario: Option<&'a str>,
    /// The scenario's protocol, when known (results before 0.2 do not say).
    pub kind: Option<Kind>,
    /// The stage's figures.
    pub summary: &'a StageSummary,
}

impl Slo {
    /// Whether this threshold holds for `stage`: its scenario, if it names
    /// one, and otherwise every stage whose protocol can measure it.
    pub fn applies_to(&self, stage: &StageView<'_>) -> bool {
        match &self.scenario {
            Some(name) => stage.scenario == Some(name.as_str()),
            None => stage.kind.is_none_or(|k| self.subject.kinds().has(k)),
        }
    }

    /// Refuse a threshold no stage of the run could ever meet: an unknown
    /// scenario, or a metric that the scenarios' protocols cannot produce.
    /// `scenarios` holds the run's scenarios; one unnamed scenario is a run
    /// of one protocol.
    pub fn check(&self, scenarios: &[(Option<&str>, Kind)]) -> Result<(), SloError> {
        let fail = |kind| SloError {
            expr: self.expr.clone(),
            kind,
        };
        let kinds = self.subject.kinds();
        let producers = || {
            let names: Vec<&str> = Kind::ALL
                .iter()
                .filter(|k| kinds.has(**k))
                .map(Kind::name)
                .collect();
            format!("it comes from {} scenarios", names.join(", "))
        };
        match &self.scenario {
            Some(name) => {
                let Some((_, kind)) = scenarios.iter().find(|(n, _)| *n == Some(name.as_str()))
                else {
                    let valid: Vec<&str> = scenarios.iter().filter_map(|(n, _)| *n).collect();
                    return Err(fail(SloErrorKind::UnknownScenario {
                        name: name.clone(),
                        valid: if valid.is_empty() {
                            "none: this run has one unnamed scenario, so write the threshold without a prefix".into()
                        } else {
                            valid.join(", ")
                        },
                    }));
                };
                if !kinds.has(*kind) {
                    return Err(fail(SloErrorKind::NotProduced {
                        metric: self.subject.name(),
                        place: format!("by scenario '{name}' ({kind})"),
                        why: producers(),
                    }));
                }
            }
            None if !scenarios.iter().any(|(_, k)| kinds.has(*k)) => {
                let run: Vec<&str> = scenarios.iter().map(|(_, k)| k.name()).collect();
                return Err(fail(SloErrorKind::NotProduced {
                    metric: self.subject.name(),
                    place: format!("on this run ({})", run.join(", ")),
                    why: producers(),
                }));
            }
            None => {}
        }
        Ok(())
    }

    /// The observed value on a stage, in [`Subject::unit`], or why there is none.
    pub fn observe(&self, stage: &StageSummary) -> Result<f64, String> {
        match self.subject {
            Subject::Metric { metric, stat } => stage
                .metrics
                .get(&metric.name())
                .map(|p| stat.of(p))
                .ok_or_else(|| {
                    format!("no {metric} samples in this stage: no successful request reached it")
                }),
            Subject::Stage(r) => r.observe(stage),
        }
    }

    /// Check this threshold on one stage. A value that cannot be observed fails.
    pub fn evaluate(&self, stage: &StageView<'_>) -> SloResult {
        let (observed, passed, reason) = match self.observe(stage.summary) {
            Ok(v) => (Some(v), self.op.holds(v, self.threshold), None),
            Err(why) => (None, false, Some(why)),
        };
        SloResult {
            slo: self.expr.clone(),
            stage: stage.index,
            label: stage.label.to_string(),
            scenario: stage.scenario.map(str::to_string),
            observed,
            threshold: self.threshold,
            unit: self.subject.unit().label().to_string(),
            passed,
            reason,
        }
    }
}

/// Every threshold on every stage it applies to, stage by stage.
pub fn evaluate_all<'a>(
    slos: &[Slo],
    stages: impl IntoIterator<Item = StageView<'a>>,
) -> Vec<SloResult> {
    stages
        .into_iter()
        .flat_map(|st| {
            slos.iter()
                .filter(move |s| s.applies_to(&st))
                .map(move |s| s.evaluate(&st))
        })
        .collect()
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
    /// The scenario, in a run of several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
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
