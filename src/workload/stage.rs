//! What one stage of a run is: its workload and when it ends.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::backoff::RetryPolicy;

/// How arrivals are generated within a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Workload {
    /// Open loop: arrivals follow a schedule, whatever the server does.
    Open {
        /// Mean arrivals per second.
        rate: f64,
        /// Gamma shape of inter-arrival times (1 = Poisson; `None` = constant spacing).
        burstiness: Option<f64>,
        /// Seed of the arrival RNG, so a run can be repeated.
        seed: u64,
        /// Arrivals while this many requests are in flight are dropped (counted, never delayed).
        max_in_flight: Option<usize>,
        /// Gamma gaps as drawn, so the realized rate varies around `rate`;
        /// otherwise they are rescaled to realize it exactly.
        #[serde(default = "raw_before_rescaling")]
        raw_arrivals: bool,
        /// Evenly spaced arrivals: arrival *i* comes at `(i + phase) /
        /// rate`, a fraction of a gap late, so the shards of a run
        /// interleave theirs into one even grid (0 for a run of one).
        #[serde(default, skip_serializing_if = "is_zero")]
        phase: f64,
    },
    /// Closed loop: `concurrency` users, each sending its next request when the last ends.
    Closed {
        /// Number of concurrent users.
        concurrency: usize,
        /// Users started per second (`None`: all at once).
        spawn_rate: Option<f64>,
        /// Pause of each user between requests.
        #[serde(with = "crate::units::serde_duration")]
        think_time: Duration,
        /// How a user waits after a failure before its next request.
        #[serde(default = "RetryPolicy::off")]
        retry: RetryPolicy,
    },
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// Results written before rescaling existed drew raw gaps.
fn raw_before_rescaling() -> bool {
    true
}

/// One stage: a workload level with its own statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    /// Human label, e.g. `rate=5/s` or `c=8`.
    pub label: String,
    /// When requests start.
    pub workload: Workload,
    /// Stop after this many requests (warm-up included).
    pub requests: Option<u64>,
    /// Stop starting requests after this long.
    #[serde(with = "crate::units::serde_duration::option")]
    pub duration: Option<Duration>,
    /// The first `warmup` requests of the stage are excluded from statistics.
    pub warmup: u64,
}

impl StageSpec {
    /// Closed loop: the users that can have work, never more than the
    /// stage's requests, so `-c 10000000 -n 4` starts 4 users, not ten
    /// million idle ones. `None` in open loop.
    pub fn active_users(&self) -> Option<usize> {
        match self.workload {
            Workload::Closed { concurrency, .. } => Some(self.requests.map_or(concurrency, |n| {
                concurrency.min(usize::try_from(n).unwrap_or(usize::MAX))
            })),
            Workload::Open { .. } => None,
        }
    }
}
