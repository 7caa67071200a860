//! What a scaling test found (`voxload scale`): at each worker count, the
//! stages run there, the rate reached, its latency, and the efficiency
//! against perfect scaling from the first count.

use serde::{Deserialize, Serialize};

use super::capacity::CapacityResult;
use super::cold::ReadyRow;

/// Every worker count of a scaling test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScaleResult {
    /// What `rate` is: `capacity` (a capacity search's answer at each
    /// count) or `throughput` (the highest achieved rate among its stages).
    pub rate_of: String,
    /// The latency shown beside it (the protocol's headline metric).
    pub metric: String,
    /// Per worker count, in the order run.
    pub steps: Vec<ScaleStep>,
    /// Why the test ended early (the scale command failed, or the target
    /// did not become ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One worker count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleStep {
    /// Workers asked for.
    pub workers: u32,
    /// Seconds the scale command ran.
    pub command_s: f64,
    /// With `--ready-url`: the wait until it answered 2xx, from the
    /// command's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<ReadyRow>,
    /// Its stages (indices in `stages`).
    pub stages: Vec<usize>,
    /// Requests (turns) per second: see [`ScaleResult::rate_of`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// The stage the rate and latency come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<usize>,
    /// p50 and p95 of the metric at that stage, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    /// p95, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    /// `rate(n) ÷ (n × rate(first) ÷ first)`: 1 is perfect scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efficiency: Option<f64>,
    /// A capacity search's outcome at this count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityResult>,
}

impl ScaleResult {
    /// Fill in every step's efficiency against the first step with a rate.
    pub fn rate_efficiencies(&mut self) {
        let base = self
            .steps
            .first()
            .and_then(|s| Some(s.rate? / f64::from(s.workers)))
            .filter(|b| *b > 0.0);
        for s in &mut self.steps {
            s.efficiency = match (base, s.rate) {
                (Some(b), Some(r)) => Some(r / (f64::from(s.workers) * b)),
                _ => None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(workers: u32, rate: Option<f64>) -> ScaleStep {
        ScaleStep {
            workers,
            command_s: 0.0,
            ready: None,
            stages: Vec::new(),
            rate,
            stage: None,
            p50_ms: None,
            p95_ms: None,
            efficiency: None,
            capacity: None,
        }
    }

    #[test]
    fn efficiency_is_against_perfect_scaling_from_the_first_count() {
        let mut r = ScaleResult {
            steps: vec![step(2, Some(20.0)), step(4, Some(36.0)), step(8, None)],
            ..ScaleResult::default()
        };
        r.rate_efficiencies();
        let e: Vec<Option<f64>> = r.steps.iter().map(|s| s.efficiency).collect();
        assert_eq!(e, vec![Some(1.0), Some(0.9), None]);
    }
}
