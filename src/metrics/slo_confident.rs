//! Whether a threshold holds with 95 % confidence, not just on the point
//! estimate: what a capacity search needs before it calls a level good.
//!
//! A stage's p95 of 284 ms from 80 samples says little about the server's
//! p95 — the 95 % interval may reach past 300 ms. So a threshold passes
//! only when the side of the interval that faces the limit is inside it:
//! - percentiles: the order-statistic interval `compare` uses
//!   ([`quantile_ci`]); `ttfa.p95<300ms` needs its *upper* bound under
//!   300 ms, `ttfa.p50>10ms` its *lower* bound over 10 ms;
//! - means: the Student-t interval ([`mean_ci`]);
//! - shares of independent trials (`errors`, `success`, `dropped`,
//!   `stalled`, `connected`, `barge_in_untested`, `goodput`): the Wilson interval
//!   ([`wilson`]): 0 failures in 100 requests does not show `errors<1%`;
//! - everything else (min, max, rates, pooled WER and judge WER, generator CPU): the
//!   observed value, which has no interval from one stage.
//!
//! Too few samples to bound the needed side fails the threshold and says
//! how many are needed ([`min_samples`]).

use super::confidence::{mean_ci, min_samples, quantile_ci, wilson, Interval};
use super::registry::StageMetric;
use super::slo::{Op, Slo, Stat, Subject};
use super::stats::{StageCounters, StageStats};
use super::summary::StageSummary;

/// A threshold's verdict with confidence on one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Confident {
    /// The point estimate, in the subject's unit.
    pub observed: Option<f64>,
    /// The 95 % bound on the side facing the limit (the upper bound for
    /// `<`, the lower for `>`); the observed value where there is no interval.
    pub bound: Option<f64>,
    /// The whole interval, where there is one.
    pub interval: Option<Interval>,
    /// Whether the bound is inside the limit.
    pub passed: bool,
    /// Why it failed without a bound.
    pub reason: Option<String>,
}

/// Upper bound for `<`, `<=`; lower bound for `>`, `>=`.
fn faces_limit(op: Op) -> bool {
    matches!(op, Op::Lt | Op::Le)
}

/// The trials behind a share figure: (hits, trials).
fn trials(figure: StageMetric, c: &StageCounters) -> Option<(u64, u64)> {
    match figure {
        StageMetric::Errors => Some((c.failed, c.requests)),
        StageMetric::Success => Some((c.ok, c.requests)),
        StageMetric::Dropped => Some((c.dropped, c.requests + c.dropped)),
        StageMetric::Stalled => Some((c.stalled_requests, c.requests_with_stall_info)),
        StageMetric::Connected => Some((c.calls_connected, c.calls)),
        StageMetric::BargeInUntested => Some((c.barge_in_untested, c.barge_ins)),
        StageMetric::Goodput => Some((c.good, c.goodput_judged)),
        StageMetric::Rps
        | StageMetric::AudioPerWall
        | StageMetric::WerPooled
        | StageMetric::GeneratorCpu
        | StageMetric::GoodputRps
        | StageMetric::JudgeWerPooled => None,
    }
}

impl Slo {
    /// The fewest successful samples a stage needs before this threshold
    /// can pass with confidence; `None` when it has no such floor (min,
    /// max, stage rates).
    pub fn min_samples(&self) -> Option<u64> {
        match self.subject {
            Subject::Metric { stat, .. } => match stat.quantile() {
                Some(q) => Some(min_samples(q, faces_limit(self.op))),
                None if stat == Stat::Mean => Some(2),
                None => None,
            },
            // A share bound at 0 hits: the Wilson bound z²/(n + z²) under
            // the limit, e.g. 381 trials for errors<1%.
            Subject::Stage(figure) if trials(figure, &StageCounters::default()).is_some() => {
                let limit = self.threshold / 100.0;
                if !faces_limit(self.op) || limit <= 0.0 {
                    return None;
                }
                let z2 = super::confidence::Z95.powi(2);
                Some((z2 * (1.0 - limit) / limit).ceil() as u64)
            }
            Subject::Stage(_) => None,
        }
    }

    /// Check this threshold on a stage with 95 % confidence.
    pub fn evaluate_confident(&self, stats: &StageStats, summary: &StageSummary) -> Confident {
        let upper = faces_limit(self.op);
        let interval: Result<Option<Interval>, String> = match self.subject {
            Subject::Metric { metric, stat } => match stats.histogram(&metric) {
                None => Err(format!(
                    "no {metric} samples in this stage: no successful request reached it"
                )),
                Some(h) => Ok(match stat.quantile() {
                    Some(q) => Some(quantile_ci(h, q, metric.unit())),
                    None if stat == Stat::Mean => mean_ci(h, metric.unit()),
                    None => None,
                }),
            },
            Subject::Stage(figure) => {
                Ok(trials(figure, &stats.counters).and_then(|(k, n)| wilson(k, n)))
            }
        };
        let observed = self.observe(summary);
        let (interval, observed) = match (interval, observed) {
            (Ok(i), Ok(v)) => (i, v),
            (Err(why), _) | (_, Err(why)) => {
                return Confident {
                    observed: None,
                    bound: None,
                    interval: None,
                    passed: false,
                    reason: Some(why),
                }
            }
        };
        let bound = match &interval {
            Some(i) if upper => i.hi,
            Some(i) => i.lo,
            None => Some(observed),
        };
        let reason = bound.is_none().then(|| {
            let need = self.min_samples().unwrap_or(0);
            format!("too few samples for a 95 % bound (needs at least {need})")
        });
        Confident {
            observed: Some(observed),
            bound,
            passed: bound.is_some_and(|b| self.op.holds(b, self.threshold)),
            interval,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::RequestRecord;
    use crate::protocol::ErrorKind;

    fn stage(ttfa_ms: impl IntoIterator<Item = u64>, failed: u64) -> StageStats {
        let mut s = StageStats::new(&[]);
        for v in ttfa_ms {
            s.record(&RequestRecord {
                ttfa_us: Some(v * 1000),
                e2e_us: Some(v * 1000),
                ..RequestRecord::default()
            });
        }
        for _ in 0..failed {
            s.record(&RequestRecord {
                error: Some(ErrorKind::Http(503)),
                ..RequestRecord::default()
            });
        }
        s
    }

    fn judge(expr: &str, s: &StageStats) -> Confident {
        let slo: Slo = expr.parse().expect("slo");
        slo.evaluate_confident(s, &s.summary(Duration::from_secs(10)))
    }

    #[test]
    fn a_p95_just_under_the_limit_whose_interval_crosses_it_fails() {
        // 100 samples of 1..=100 ms: p95 = 95 ms; its upper bound is rank
        // ⌈95 + 1.96·√4.75⌉ = 100, i.e. 100 ms.
        let s = stage(1..=100, 0);
        let point: Slo = "ttfa.p95<96ms".parse().expect("slo");
        assert!(
            point
                .evaluate(&crate::metrics::slo::StageView {
                    index: 0,
                    label: "",
                    scenario: None,
                    kind: None,
                    summary: &s.summary(Duration::from_secs(10)),
                })
                .passed
        );
        let c = judge("ttfa.p95<96ms", &s);
        // HDR keeps 3 digits: 95 ms reads back as 95.039 ms.
        assert!((c.observed.expect("p95") - 95.0).abs() < 0.1, "{c:?}");
        assert!(!c.passed, "{c:?}");
        assert!((c.bound.expect("bound") - 100.0).abs() < 0.1, "{c:?}");
        assert!(judge("ttfa.p95<101ms", &s).passed);
    }

    #[test]
    fn too_few_samples_fail_and_say_how_many_are_needed() {
        let c = judge("ttfa.p99<1s", &stage(1..=100, 0));
        assert!(!c.passed);
        assert_eq!(c.bound, None);
        assert!(
            c.reason.as_deref().unwrap_or_default().contains("381"),
            "{c:?}"
        );
        let c = judge("ttfa.p95<1s", &stage(1..=73, 0));
        assert!(c.passed, "{c:?}");
    }

    #[test]
    fn shares_pass_only_when_the_wilson_bound_is_under_the_limit() {
        // 0 of 300 failed: the upper bound is 1.26 %, over 1 %.
        assert!(!judge("errors<1%", &stage(vec![10; 300], 0)).passed);
        assert!(judge("errors<2%", &stage(vec![10; 300], 0)).passed);
        let slo: Slo = "errors<1%".parse().expect("slo");
        let n = slo.min_samples().expect("a floor");
        assert!(judge("errors<1%", &stage(vec![10; n as usize], 0)).passed);
        assert!(!judge("errors<1%", &stage(vec![10; n as usize - 2], 0)).passed);
        // 2 % observed in 1,000: bound over 2 %, so `errors<2.5%` fails too.
        let c = judge("errors<2.5%", &stage(vec![10; 980], 20));
        assert_eq!(c.observed, Some(2.0));
        assert!(!c.passed, "{c:?}");
    }

    #[test]
    fn lower_limits_use_the_lower_bound_and_figures_without_intervals_their_value() {
        let s = stage(1..=100, 0);
        let c = judge("ttfa.p50>39ms", &s);
        assert!(c.passed && c.bound.expect("lo") < 50.0, "{c:?}");
        assert!(!judge("ttfa.p50>45ms", &s).passed);
        let c = judge("ttfa.max<101ms", &s);
        assert_eq!(c.bound, c.observed);
        assert!(c.passed);
        let c = judge("rps>5", &s);
        assert_eq!(c.bound, Some(10.0));
    }
}
