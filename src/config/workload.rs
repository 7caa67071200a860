//! Workload options shared by protocols whose scenario files embed them
//! flat (`concurrency = 4`, `duration = "30s"`, …) next to their own keys.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::levels::Levels;
use super::options::{ConfigError, TtsOptions};
use super::plan::stages;
use crate::workload::StageSpec;

/// *When* requests are sent, and where results go: the options every
/// protocol shares. Embedded with `#[serde(flatten)]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadOptions {
    /// Run name.
    pub name: Option<String>,
    /// Results root folder.
    pub out: Option<PathBuf>,
    /// Seed.
    pub seed: Option<u64>,
    /// Closed loop: concurrent users per stage (sweep).
    pub concurrency: Option<Levels>,
    /// Closed loop: users started per second.
    pub spawn_rate: Option<f64>,
    /// Closed loop: pause between a user's requests.
    #[serde(default, with = "super::serde_duration::option")]
    pub think_time: Option<Duration>,
    /// Open loop: arrivals per second per stage (sweep).
    pub rate: Option<Levels>,
    /// Open loop: gamma shape.
    pub burstiness: Option<f64>,
    /// Open loop: cap on requests in flight.
    pub max_in_flight: Option<usize>,
    /// Requests per stage.
    pub requests: Option<u64>,
    /// Length of each stage.
    #[serde(default, with = "super::serde_duration::option")]
    pub duration: Option<Duration>,
    /// Warm-up requests per stage.
    pub warmup: Option<u64>,
    /// After Ctrl-C, how long in-flight requests may finish.
    #[serde(default, with = "super::serde_duration::option")]
    pub grace: Option<Duration>,
    /// SLO thresholds.
    pub slo: Option<Vec<String>>,
    /// Sweeps: the best level is the highest throughput with at least this success rate.
    pub min_success: Option<f64>,
}

impl WorkloadOptions {
    /// `self` overridden by every option `over` sets.
    pub fn merged_with(self, over: WorkloadOptions) -> WorkloadOptions {
        macro_rules! pick {
            ($($f:ident),*) => { WorkloadOptions { $($f: over.$f.or(self.$f)),* } };
        }
        pick!(
            name,
            out,
            seed,
            concurrency,
            spawn_rate,
            think_time,
            rate,
            burstiness,
            max_in_flight,
            requests,
            duration,
            warmup,
            grace,
            slo,
            min_success
        )
    }

    /// The stages these options describe (validated).
    pub fn stages(&self, seed: u64) -> Result<Vec<StageSpec>, ConfigError> {
        let o = TtsOptions {
            concurrency: self.concurrency.clone(),
            spawn_rate: self.spawn_rate,
            think_time: self.think_time,
            rate: self.rate.clone(),
            burstiness: self.burstiness,
            max_in_flight: self.max_in_flight,
            requests: self.requests,
            duration: self.duration,
            warmup: self.warmup,
            ..TtsOptions::default()
        };
        stages(&o, seed)
    }
}
