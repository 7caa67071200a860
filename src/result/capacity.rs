//! What a capacity search found (`voxload capacity`): the answer, why the
//! next level failed, and every probe with each SLO's 95 % bound. Each
//! probe is also an ordinary stage of the result, with its statistics.

use serde::{Deserialize, Serialize};

use crate::workload::search::{round_level, Ending, Over, Phase};

/// One SLO on one probe, judged with 95 % confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundVerdict {
    /// The threshold as written.
    pub slo: String,
    /// The point estimate, in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    /// The 95 % bound facing the limit (upper for `<`, lower for `>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
    /// The whole 95 % interval, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<(Option<f64>, Option<f64>)>,
    /// The limit, in `unit`.
    pub threshold: f64,
    /// `ms`, `%`, …
    pub unit: String,
    /// Whether the bound is inside the limit.
    pub passed: bool,
    /// Why it failed without a bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One probed level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityProbe {
    /// Its stage index in `stages`.
    pub stage: usize,
    /// The level probed.
    pub level: f64,
    /// Why it was probed.
    pub phase: Phase,
    /// Whether every SLO held with confidence.
    pub passed: bool,
    /// Each SLO's verdict.
    pub slo: Vec<BoundVerdict>,
}

/// The search's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityResult {
    /// What was varied.
    pub over: Over,
    /// The SLOs every level had to hold.
    pub slo: Vec<String>,
    /// Bisection resolution (`hi / lo − 1`).
    pub resolution: f64,
    /// Successful samples a probe needs for the strictest SLO's bound.
    pub min_samples: u64,
    /// The highest level that held every SLO (the capacity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<f64>,
    /// The lowest level that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<f64>,
    /// How the search ended; absent when it was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ending: Option<Ending>,
    /// `--require`: the least capacity the run must find.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<f64>,
    /// Every probe, in order.
    pub probes: Vec<CapacityProbe>,
}

fn show_value(v: f64, unit: &str) -> String {
    let v = round_level(v);
    match unit {
        "%" => format!("{v}%"),
        "" | "ratio" | "count" => format!("{v}"),
        u => format!("{v} {u}"),
    }
}

impl CapacityResult {
    /// Whether `--require` is met (true without one). An interrupted or
    /// failed search meets no requirement.
    pub fn meets_requirement(&self) -> bool {
        match self.require {
            None => true,
            Some(least) => self.answer.is_some_and(|a| a >= least),
        }
    }

    /// The probe of the answer (its last passing probe) and of the first failure.
    fn probe_at(&self, level: Option<f64>, passed: bool) -> Option<&CapacityProbe> {
        let level = level?;
        self.probes
            .iter()
            .rev()
            .find(|p| p.level == level && p.passed == passed)
    }

    /// The SLO that failed at the first failing level (the binding one).
    pub fn binding(&self) -> Option<&BoundVerdict> {
        self.probe_at(self.first_failure, false)
            .and_then(|p| p.slo.iter().find(|v| !v.passed))
    }

    /// The verdict line: `capacity 6.2 req/s: ttfa.p95 284 ms [271, 297]
    /// at 6.2, fails at 6.6 on ttfa.p95 331 ms`.
    pub fn verdict(&self) -> String {
        let over = self.over;
        let Some(answer) = self.answer else {
            let lowest = self
                .probes
                .iter()
                .map(|p| p.level)
                .fold(f64::INFINITY, f64::min);
            return match self.ending {
                None => "capacity: search interrupted before any level passed".into(),
                _ => format!(
                    "capacity: below {} (every level probed failed{})",
                    over.show(lowest),
                    self.binding()
                        .map(|b| format!(", on {}", describe(b)))
                        .unwrap_or_default()
                ),
            };
        };
        let mut line = format!("capacity {}", over.show(answer));
        if matches!(self.ending, Some(Ending::AtMax)) {
            line = format!(
                "capacity at least {} (the highest level probed)",
                over.show(answer)
            );
        }
        // The SLO closest to its limit at the answer.
        let closest = self.probe_at(Some(answer), true).and_then(|p| {
            p.slo.iter().filter(|v| v.bound.is_some()).max_by(|a, b| {
                let near =
                    |v: &BoundVerdict| v.bound.unwrap_or(0.0) / v.threshold.max(f64::MIN_POSITIVE);
                near(a).total_cmp(&near(b))
            })
        });
        if let Some(v) = closest {
            line.push_str(&format!(": {} at {}", describe(v), round_level(answer)));
        }
        if let (Some(fail), Some(b)) = (self.first_failure, self.binding()) {
            line.push_str(&format!(
                ", fails at {} on {}",
                round_level(fail),
                describe(b)
            ));
        }
        match self.ending {
            Some(Ending::Unconfirmed) => {
                line.push_str(" (not confirmed: a repeat at the answer failed)")
            }
            None => line.push_str(" (search interrupted)"),
            _ => {}
        }
        line
    }
}

/// `ttfa.p95 284 ms [271, 297]`, or `ttfa.p95: too few samples …`.
fn describe(v: &BoundVerdict) -> String {
    let name = v
        .slo
        .split(['<', '>'])
        .next()
        .unwrap_or(v.slo.as_str())
        .to_string();
    match (v.observed, &v.interval) {
        (Some(o), Some((lo, hi))) => {
            let side = |x: &Option<f64>| x.map_or("?".to_string(), |x| round_level(x).to_string());
            format!(
                "{name} {} [{}, {}]",
                show_value(o, &v.unit),
                side(lo),
                side(hi)
            )
        }
        (Some(o), None) => format!("{name} {}", show_value(o, &v.unit)),
        (None, _) => format!("{name} ({})", v.reason.as_deref().unwrap_or("not observed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(slo: &str, observed: f64, lo: f64, hi: f64, passed: bool) -> BoundVerdict {
        BoundVerdict {
            slo: slo.into(),
            observed: Some(observed),
            bound: Some(hi),
            interval: Some((Some(lo), Some(hi))),
            threshold: 300.0,
            unit: "ms".into(),
            passed,
            reason: None,
        }
    }

    fn probe(stage: usize, level: f64, phase: Phase, v: BoundVerdict) -> CapacityProbe {
        CapacityProbe {
            stage,
            level,
            phase,
            passed: v.passed,
            slo: vec![v],
        }
    }

    #[test]
    fn the_verdict_names_the_answer_its_bound_and_the_binding_slo() {
        let r = CapacityResult {
            over: Over::Rate,
            slo: vec!["ttfa.p95<300ms".into()],
            resolution: 0.05,
            min_samples: 73,
            answer: Some(6.2),
            first_failure: Some(6.6),
            ending: Some(Ending::Found),
            require: Some(5.0),
            probes: vec![
                probe(
                    0,
                    6.6,
                    Phase::Bisect,
                    verdict("ttfa.p95<300ms", 331.0, 310.0, 352.0, false),
                ),
                probe(
                    1,
                    6.2,
                    Phase::Confirm,
                    verdict("ttfa.p95<300ms", 284.0, 271.0, 297.0, true),
                ),
            ],
        };
        assert_eq!(
            r.verdict(),
            "capacity 6.2 req/s: ttfa.p95 284 ms [271, 297] at 6.2, fails at 6.6 on ttfa.p95 331 ms [310, 352]"
        );
        assert!(r.meets_requirement());
        let r = CapacityResult {
            require: Some(7.0),
            ..r
        };
        assert!(!r.meets_requirement());
    }
}
