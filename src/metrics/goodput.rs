//! Goodput (`--goodput 'ttfa<300ms' --goodput 'rtf<1'`): the requests
//! (turns) that succeeded *and* met every per-request criterion, as a share
//! of the stage's requests and as a rate (vLLM's goodput). Throughput
//! counts answers; goodput counts the answers a user would accept.
//!
//! A criterion is `METRIC OP VALUE` on one request's own value (no
//! statistic: `ttfa<300ms`, not `ttfa.p95<300ms`). A request lacking a
//! criterion's metric (e.g. a failure, or `chunk10` on a short answer)
//! is not good. Criteria on metrics a scenario's protocol cannot produce
//! do not apply to it; a scenario none applies to has no goodput.

use std::fmt;
use std::str::FromStr;

use super::metric::{Metric, Unit};
use super::slo::{duration_ms, split_number, Op};
use super::RequestRecord;
use crate::protocol::Kind;

/// One per-request criterion, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// As written, whitespace removed.
    pub expr: String,
    /// The metric of each request.
    pub metric: Metric,
    /// How it compares.
    pub op: Op,
    /// The bound in the metric's display unit (ms for durations).
    pub limit: f64,
}

/// Why a criterion was refused; names it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--goodput '{expr}': {why}")]
pub struct CriterionError {
    /// As given.
    pub expr: String,
    /// What is wrong.
    pub why: String,
}

impl FromStr for Criterion {
    type Err = CriterionError;

    fn from_str(raw: &str) -> Result<Self, CriterionError> {
        let expr: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        let fail = |why: String| CriterionError {
            expr: raw.trim().to_string(),
            why,
        };
        let (name, op, rhs) = Op::split(&expr)
            .ok_or_else(|| fail("expected METRIC<VALUE, e.g. ttfa<300ms or rtf<1".into()))?;
        if name.contains('.') {
            return Err(fail(
                "a criterion is on each request's own value: write ttfa<300ms, not ttfa.p95<300ms"
                    .into(),
            ));
        }
        let metric = Metric::parse(name).ok_or_else(|| fail(format!("unknown metric '{name}'")))?;
        let (num, unit) = split_number(rhs);
        let value: f64 = num
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| fail(format!("'{rhs}' is not a non-negative number")))?;
        let limit = match metric.unit() {
            Unit::Micros => duration_ms(value, unit)
                .ok_or_else(|| fail(format!("'{name}' is a duration: give a unit (us, ms, s)")))?,
            _ if unit.is_empty() => value,
            _ => return Err(fail(format!("'{name}' takes no unit"))),
        };
        Ok(Criterion {
            expr,
            metric,
            op,
            limit,
        })
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl serde::Serialize for Criterion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expr)
    }
}

impl Criterion {
    /// Whether a scenario of protocol `kind` produces the metric.
    pub fn applies_to(&self, kind: Kind) -> bool {
        self.metric.def().kinds.has(kind)
    }

    /// Whether one request meets it.
    pub fn holds(&self, r: &RequestRecord) -> bool {
        self.metric.value(r).is_some_and(|v| {
            self.op
                .holds(self.metric.unit().display(v as f64), self.limit)
        })
    }
}

/// Whether a request is good: it succeeded and meets every criterion.
pub fn is_good(criteria: &[Criterion], r: &RequestRecord) -> bool {
    r.ok() && criteria.iter().all(|c| c.holds(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorKind;

    fn rec(ttfa_ms: u64) -> RequestRecord {
        RequestRecord {
            ttfa_us: Some(ttfa_ms * 1000),
            e2e_us: Some(ttfa_ms * 3000),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn a_good_request_succeeded_and_met_every_criterion() {
        let c: Vec<Criterion> = ["ttfa<300ms", "e2e <= 1s"]
            .iter()
            .map(|s| s.parse().expect("criterion"))
            .collect();
        assert!(is_good(&c, &rec(200)));
        assert!(is_good(&c, &rec(300 / 3 * 3 - 1)));
        assert!(!is_good(&c, &rec(300)), "ttfa 300 is not < 300");
        assert!(!is_good(&c, &rec(334)), "e2e 1002 ms");
        let failed = RequestRecord {
            error: Some(ErrorKind::Http(503)),
            ..rec(10)
        };
        assert!(!is_good(&c, &failed));
        let no_ttfa = RequestRecord {
            ttfa_us: None,
            ..rec(10)
        };
        assert!(!is_good(&c, &no_ttfa), "a missing value is not good");
        let rtf: Criterion = "rtf<1".parse().expect("ratio");
        assert_eq!(rtf.limit, 1.0);
        assert!(rtf.applies_to(Kind::HttpTts) && !c[0].applies_to(Kind::HttpAsr));
    }

    #[test]
    fn bad_criteria_name_the_flag_and_say_why() {
        for (bad, why) in [
            ("ttfa.p95<300ms", "each request's own value"),
            ("ttfa<300", "give a unit"),
            ("nope<1", "unknown metric"),
            ("ttfa", "expected METRIC<VALUE"),
            ("rtf<1ms", "takes no unit"),
        ] {
            let e = bad.parse::<Criterion>().expect_err(bad).to_string();
            assert!(
                e.starts_with("--goodput '") && e.contains(why),
                "{bad}: {e}"
            );
        }
    }
}
