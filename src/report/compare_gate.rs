//! Regression gates for `compare --fail-if`, e.g. `'ttfa.p95 > +10%'`.
//!
//! ```text
//! GATE  := METRIC.STAT OP BOUND        STAT: p50 | p90 | p95 | p99 | mean
//!        | errors OP BOUND | success OP BOUND | rps OP BOUND
//! OP    := >   (the change is above BOUND)  |  <   (the change is below BOUND)
//! BOUND := [+|-]NUMBER%                relative change of the value (for
//!                                      errors/success: percentage points)
//!        | [+|-]NUMBER(us|ms|s)        absolute change of a duration
//!        | [+|-]NUMBER                 absolute change of a ratio, count or rps
//! ```
//!
//! A gate trips on a stage when the change is past its bound **and**
//! statistically significant (see [`super`] for the tests), so noise alone
//! never fails a build. `rps` has no confidence interval (one number per
//! run): an rps gate trips on the bound alone.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::{Comparison, Row};
use crate::metrics::metric::{Metric, Unit};
use crate::metrics::slo::{duration_ms, split_number, Op, Stat};

/// What a gate watches.
#[derive(Debug, Clone, PartialEq)]
enum Subject {
    Metric(Metric, Stat),
    Errors,
    Success,
    Rps,
}

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
        let above = match op {
            Op::Gt => true,
            Op::Lt => false,
            Op::Ge | Op::Le => return Err(fail("use > or < (changes are continuous)".into())),
        };
        if lhs.is_empty() || rhs.is_empty() || rhs.contains(['<', '>', '=']) {
            return Err(syntax());
        }
        let subject = match lhs {
            "errors" => Subject::Errors,
            "success" | "success_rate" => Subject::Success,
            "rps" => Subject::Rps,
            _ => {
                let (name, stat) = lhs
                    .split_once('.')
                    .ok_or_else(|| fail(format!("'{lhs}' needs a statistic, e.g. {lhs}.p95")))?;
                let metric = Metric::parse(name).ok_or_else(|| {
                    fail(format!(
                        "unknown metric '{name}'; valid: {}, chunkN, errors, success, rps",
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
        let (bound, kind) = match (&subject, unit) {
            (Subject::Errors | Subject::Success, "%" | "pp") => (value, Bound::Points),
            (Subject::Errors | Subject::Success, _) => {
                return Err(fail(
                    "errors and success take percentage points, e.g. +1%".into(),
                ))
            }
            (_, "%") => (value, Bound::Relative),
            (Subject::Rps, "") => (value, Bound::Absolute),
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
            (Subject::Rps, u) => {
                return Err(fail(format!(
                    "unit '{u}' does not fit rps (use % or a plain number)"
                )))
            }
        };
        Ok(Gate {
            expr,
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
            Subject::Errors | Subject::Success => r.metric == "success",
            Subject::Rps => r.metric == "rps",
        })
    }

    /// This gate on every stage of a comparison.
    pub fn evaluate(&self, cmp: &Comparison) -> Vec<GateResult> {
        cmp.stages
            .iter()
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
                let significant =
                    row.is_some_and(|r| r.significant || self.subject == Subject::Rps);
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
                    label: st.new_label.clone(),
                    change,
                    unit: match (self.kind, row) {
                        (Bound::Relative, _) => "%".into(),
                        (Bound::Points, _) => "pp".into(),
                        (Bound::Absolute, Some(r)) => r.unit.clone(),
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
            ("ttfa.p95 > lots", "not a number"),
        ] {
            let e = bad.parse::<Gate>().expect_err(bad).to_string();
            assert!(e.contains(needle), "{bad}: {e}");
            assert!(e.contains("--fail-if"), "{e}");
        }
    }
}
