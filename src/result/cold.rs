//! What a cold-start test found (`--idle-gap`): for each idle gap and
//! scenario, the first request after it and the next few against the warm
//! stage before, when latency was warm again, and when a health URL
//! answered. Every probe is also an ordinary stage with its statistics.

use serde::{Deserialize, Serialize};

use super::StageResult;
use crate::protocol::ready::Readiness;

/// A probe is warm again when its latency is within this share above the
/// warm stage's p50 (a single request is never exactly the median).
pub const WARM_AGAIN_MARGIN: f64 = 0.10;

/// Every gap of a cold-start test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColdStartResult {
    /// A request after this much idle time is tagged cold, seconds.
    pub cold_after_s: f64,
    /// Per idle gap and scenario.
    pub gaps: Vec<ColdGap>,
}

/// The probes after one idle gap, for one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdGap {
    /// The idle time before the first probe, seconds.
    pub idle_s: f64,
    /// The scenario, in a run of several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The latency compared (the protocol's headline metric).
    pub metric: String,
    /// The warm stage compared with (index in `stages`).
    pub warm_stage: usize,
    /// Its p50 of `metric`, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_p50_ms: Option<f64>,
    /// The probes' stage indices, in order.
    pub probe_stages: Vec<usize>,
    /// Each probe's `metric`, ms (`None`: it failed or was not measured).
    pub probes_ms: Vec<Option<f64>>,
    /// The first probe within [`WARM_AGAIN_MARGIN`] of the warm p50 (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_again_probe: Option<usize>,
    /// From the first probe's start to that probe's start, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_again_after_s: Option<f64>,
    /// With `--ready-url`: how the wait for it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<ReadyRow>,
}

/// The health URL after an idle gap (or a scale step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadyRow {
    /// Seconds from the wait's start to the first 2xx answer; `None`: none came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_s: Option<f64>,
    /// Polls sent.
    pub polls: u64,
    /// Without a 2xx: what the last poll got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

impl ReadyRow {
    /// The row of a wait that has ended.
    pub fn of(r: &Readiness) -> Self {
        match r {
            Readiness::Ready { after, polls } => Self {
                after_s: Some(after.as_secs_f64()),
                polls: *polls,
                last: None,
            },
            Readiness::NotReady { polls, last, .. } => Self {
                after_s: None,
                polls: *polls,
                last: Some(last.clone()),
            },
        }
    }
}

impl ColdGap {
    /// The gap's figures from its warm stage and probes (in order), reading
    /// `metric` of each.
    pub fn new(idle_s: f64, metric: &str, warm: &StageResult, probes: &[&StageResult]) -> Self {
        let value = |s: &StageResult| s.summary.metrics.get(metric).map(|p| p.p50);
        let warm_p50_ms = value(warm);
        let probes_ms: Vec<Option<f64>> = probes.iter().map(|s| value(s)).collect();
        let warm_again = warm_p50_ms.and_then(|p50| {
            probes_ms
                .iter()
                .position(|v| v.is_some_and(|v| v <= p50 * (1.0 + WARM_AGAIN_MARGIN)))
        });
        let start = |s: &StageResult| s.stats.counters.first_start_us;
        let warm_again_after_s = warm_again.and_then(|i| {
            let (first, then) = (start(probes.first()?)?, start(probes.get(i)?)?);
            Some(then.saturating_sub(first) as f64 / 1e6)
        });
        Self {
            idle_s,
            scenario: warm.scenario.clone(),
            metric: metric.to_string(),
            warm_stage: warm.index,
            warm_p50_ms,
            probe_stages: probes.iter().map(|s| s.index).collect(),
            probes_ms,
            warm_again_probe: warm_again.map(|i| i + 1),
            warm_again_after_s,
            ready: None,
        }
    }
}
