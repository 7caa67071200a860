//! Regression gates for `compare --fail-if`, e.g. `'ttfa.p95 > +10%'`.
//!
//! ```text
//! GATE  := (SCENARIO ":")? TERM       e.g. 'tts:ttfa.p95 > +10%'
//! TERM  := METRIC.STAT OP BOUND        STAT: p50 | p90 | p95 | p99 | mean
//!        | FIGURE OP BOUND             errors | success | rps | stalled | wer_pooled | connected
//! OP    := >   (the change is above BOUND)  |  <   (the change is below BOUND)
//! BOUND := [+|-]NUMBER%                relative change of the value (for
//!                                      shares: percentage points)
//!        | [+|-]NUMBER(us|ms|s)        absolute change of a duration
//!        | [+|-]NUMBER                 absolute change of a ratio, count or rps
//! ```
//!
//! A gate trips on a stage when the change is past its bound **and**
//! statistically significant (see [`super`] for the tests), so noise alone
//! never fails a build. `rps` and `wer_pooled` have no confidence interval
//! (one number per run): their gates trip on the bound alone. With a
//! scenario, a gate holds for that scenario's stages only.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::{Comparison, Row};
use crate::metrics::metric::{Metric, Unit};
use crate::metrics::registry::StageMetric;
use crate::metrics::slo::{duration_ms, is_scenario_name, split_number, Op, Stat};

/// What a gate watches.
#[derive(Debug, Clone, PartialEq)]
enum Subject {
    Metric(Metric, Stat),
    /// `errors`: the success row, with the sign turned.
    Errors,
    /// A stage figure `compare` has a row for.
    Stage(StageMetric),
}

/// Stage figures `compare` has rows for.
const COMPARED: [StageMetric; 5] = [
    StageMetric::Success,
    StageMetric::Rps,
    StageMetric::Stalled,
    StageMetric::WerPooled,
    StageMetric::Connected,
];

/// How the bound is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    /// % of the baseline value.
    Relative,
    /// Percentage points (errors, success).
    Points,
    /// In the row's unit (ms for durations).
    Absolute,
}

/// One `--fail-if` gate, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    expr: String,
    scenario: Option<String>,
    subject: Subject,
    above: bool,
    bound: f64,
    kind: Bound,
}

/// Why a `--fail-if` expression was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--fail-if '{expr}': {reason}")]
pub struct GateError {
    /// The expression as given.
    pub expr: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl FromStr for Gate {
    type Err = GateError;

    fn from_str(raw: &str) -> Result<Self, GateError> {
        let expr: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        let fail = |reason: String| GateError {
            expr: raw.trim().to_string(),
            reason,
        };
        let syntax = || {
            fail("expected METRIC.STAT > BOUND or < BOUND, e.g. 'ttfa.p95 > +10%', 'e2e.p99 > +50ms', 'errors > +1%'".into())
        };
        let (lhs, op, rhs) = Op::split(&expr).ok_or_else(syntax)?;
        let (scenario, lhs) = match lhs.split_once(':') {
            Some((name, rest)) if is_scenario_name(name) => (Some(name.to_string()), rest),
            Some(_) => return Err(syntax()),
            None => (None, lhs),
        };
        let above = match op {
            Op::Gt => true,
            Op::Lt => false,
            Op::Ge | Op::Le => return Err(fail("use > or < (changes are continuous)".into())),
        };
        if lhs.is_empty() || rhs.is_empty() || rhs.contains(['<', '>', '=']) {
            return Err(syntax());
        }
        let figure = StageMetric::parse(lhs);
        let subject = match figure {
            Some(StageMetric::Errors) => Subject::Errors,
            Some(f) if COMPARED.contains(&f) => Subject::Stage(f),
            Some(f) => return Err(fail(format!("'{}' is not compared", f.name()))),
            None => {
                let (name, stat) = lhs
                    .split_once('.')
                    .ok_or_else(|| fail(format!("'{lhs}' needs a statistic, e.g. {lhs}.p95")))?;
                let metric = Metric::parse(name).ok_or_else(|| {
                    fail(format!(
                        "unknown metric '{name}'; valid: {}, chunkN, errors, success, rps, stalled, wer_pooled, connected",
                        Metric::all(&[])
                            .iter()
                            .map(|m| m.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                let stat = Stat::parse(stat)
                    .filter(|s| super::STATS.contains(s))
                    .ok_or_else(|| {
                        fail(format!(
                            "statistic '{stat}' is not compared; use p50, p90, p95, p99 or mean"
                        ))
                    })?;
                Subject::Metric(metric, stat)
            }
        };
        let (num, unit) = split_number(rhs);
        let value: f64 = num
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| fail(format!("'{rhs}' is not a number with a unit")))?;
        let share = match &subject {
            Subject::Errors => true,
            Subject::Stage(f) => f.is_share(),
            Subject::Metric(..) => false,
        };
        let (bound, kind) =
            match (&subject, unit) {
                (_, "%" | "pp") if share => (value, Bound::Points),
                _ if share => return Err(fail(
                    "shares (errors, success, stalled, connected) take percentage points, e.g. +1%"
                        .into(),
                )),
                (_, "%") => (value, Bound::Relative),
                (Subject::Stage(_), "") => (value, Bound::Absolute),
                (Subject::Metric(m, _), u) => match (m.unit(), u) {
                    (Unit::Micros, "") => {
                        return Err(fail(format!("'{rhs}' needs % or a unit (us, ms, s)")))
                    }
                    (Unit::Micros, u) => (
                        duration_ms(value, u).ok_or_else(|| {
                            fail(format!("unknown unit '{u}' (expected %, us, ms or s)"))
                        })?,
                        Bound::Absolute,
                    ),
                    (_, "") => (value, Bound::Absolute),
                    (_, u) => {
                        return Err(fail(format!(
                            "unit '{u}' does not fit {m} (use % or a plain number)"
                        )))
                    }
                },
                (Subject::Stage(f), u) => {
                    return Err(fail(format!(
                        "unit '{u}' does not fit {} (use % or a plain number)",
                        f.name()
                    )));
                }
                // Errors is a share: handled above.
                (Subject::Errors, _) => return Err(syntax()),
            };
        Ok(Gate {
            expr,
            scenario,
            subject,
            above,
            bound,
            kind,
        })
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl Serialize for Gate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expr)
    }
}

/// One gate on one stage.
#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    /// The gate expression.
    pub gate: String,
    /// Stage index.
    pub stage: usize,
    /// The scenario, in runs of several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Stage label (new run).
    pub label: String,
    /// The change in the gate's unit (`unit`); absent when the metric is not in both runs.
    pub change: Option<f64>,
    /// `%` (relative), `pp` (percentage points), or the metric's unit.
    pub unit: String,
    /// Whether the change is statistically significant.
    pub significant: bool,
    /// Past the bound and significant: the build should fail.
    pub tripped: bool,
}

impl Gate {
    fn row<'a>(&self, rows: &'a [Row]) -> Option<&'a Row> {
        rows.iter().find(|r| match &self.subject {
            Subject::Metric(m, s) => r.metric == m.name() && r.stat == s.name(),
            Subject::Errors => r.metric == StageMetric::Success.name(),
            Subject::Stage(f) => r.metric == f.name(),
        })
    }

    /// Whether the watched value has no confidence interval: its gate
    /// trips on the bound alone.
    fn without_ci(&self) -> bool {
        matches!(
            self.subject,
            Subject::Stage(StageMetric::Rps | StageMetric::WerPooled)
        )
    }

    /// This gate on every stage of a comparison (of its scenario, if it names one).
    pub fn evaluate(&self, cmp: &Comparison) -> Vec<GateResult> {
        cmp.stages
            .iter()
            .filter(|st| self.scenario.is_none() || st.scenario == self.scenario)
            .map(|st| {
                let row = self.row(&st.rows);
                let sign = if self.subject == Subject::Errors {
                    -1.0
                } else {
                    1.0
                };
                let change = row.and_then(|r| match self.kind {
                    Bound::Relative => r.diff_pct,
                    Bound::Points | Bound::Absolute => Some(sign * r.diff),
                });
                let significant = row.is_some_and(|r| r.significant || self.without_ci());
                let beyond = change.is_some_and(|c| {
                    if self.above {
                        c > self.bound
                    } else {
                        c < self.bound
                    }
                });
                GateResult {
                    gate: self.expr.clone(),
                    stage: st.index,
                    scenario: st.scenario.clone(),
                    label: st.new_label.clone(),
                    change,
                    unit: match (self.kind, row) {
                        (Bound::Relative, _) => "%".into(),
                        (Bound::Points, _) => "pp".into(),
                        (Bound::Absolute, Some(r)) => r.unit.label().into(),
                        (Bound::Absolute, None) => String::new(),
                    },
                    significant,
                    tripped: beyond && significant,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(s: &str) -> Gate {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn valid_gates() {
        let g = gate("ttfa.p95 > +10%");
        assert_eq!(g.subject, Subject::Metric(Metric::Ttfa, Stat::P95));
        assert!(g.above && g.bound == 10.0 && g.kind == Bound::Relative);
        assert_eq!(g.to_string(), "ttfa.p95>+10%");
        let g = gate("e2e.p99 > +50ms");
        assert_eq!((g.bound, g.kind), (50.0, Bound::Absolute));
        assert_eq!(gate("e2e.mean>0.5s").bound, 500.0);
        let g = gate("errors > +1%");
        assert_eq!(
            (g.subject, g.kind, g.bound),
            (Subject::Errors, Bound::Points, 1.0)
        );
        let g = gate("rps < -10%");
        assert!(!g.above && g.bound == -10.0);
        assert_eq!(
            gate("success > +1pp").subject,
            Subject::Stage(StageMetric::Success)
        );
        let g = gate("tts:stalled > +2%");
        assert_eq!(g.scenario.as_deref(), Some("tts"));
        assert_eq!(
            (g.subject, g.kind),
            (Subject::Stage(StageMetric::Stalled), Bound::Points)
        );
        assert_eq!(gate("rtf.p99 > 0.1").kind, Bound::Absolute);
        assert_eq!(gate("success < -0.5pp").kind, Bound::Points);
    }

    #[test]
    fn invalid_gates_name_the_problem() {
        for (bad, needle) in [
            ("ttfa.p95 >= +10%", "use > or <"),
            ("ttfa.p95", "expected"),
            ("ttfx.p95 > 10%", "unknown metric 'ttfx'"),
            ("ttfa > 10%", "needs a statistic"),
            ("ttfa.max > 10%", "not compared"),
            ("ttfa.p95 > 10", "needs % or a unit"),
            ("ttfa.p95 > 10min", "unknown unit"),
            ("rtf.p99 > 1ms", "does not fit"),
            ("errors > 1", "percentage points"),
            ("dropped > +1%", "not compared"),
            ("rps > 5ms", "does not fit rps"),
            ("ttfa.p95 > lots", "not a number"),
        ] {
            let e = bad.parse::<Gate>().expect_err(bad).to_string();
            assert!(e.contains(needle), "{bad}: {e}");
            assert!(e.contains("--fail-if"), "{e}");
        }
    }
}
