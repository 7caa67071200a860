//! *When* requests are sent: the workload options every protocol shares,
//! declared once for flags and scenario files alike, and how they become
//! stages.
//!
//! A flag and its file key are one field here: clap reads the field from
//! the command line, serde from TOML, and [`super::overlay`] lays the flags
//! over the file. Adding a workload option is one field (and its use in
//! [`WorkloadOptions::stages`] or the driver), nothing else.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{invalid, ConfigError};
use super::levels::Levels;
use crate::units::parse_duration;
use crate::workload::{RetryBackoff, RetryPolicy, StageSpec, Workload};

/// Requests per stage when neither `--requests` nor `--duration` is given.
pub const DEFAULT_REQUESTS: u64 = 100;
/// Open loop: requests in flight beyond this are dropped (counted) unless
/// `--max-in-flight` says otherwise, so an overloaded target or generator
/// turns into visible drops instead of running out of sockets.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 10_000;

/// The longest a count-bound open-loop stage may take to issue its
/// arrivals; beyond it a rate is taken for a typo (`1e-9`).
const MAX_STAGE_SPAN: Duration = Duration::from_secs(24 * 3600);

/// When requests start, per stage. Flags and top-level (or per-scenario)
/// keys of a scenario file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct WorkloadOptions {
    /// Closed loop: concurrent users; a list or range is a sweep (`1,2,4,8` or `1:16:1`).
    #[arg(long, value_name = "LEVELS")]
    pub concurrency: Option<Levels>,
    /// Closed loop: users started per second [default: all at once].
    #[arg(long)]
    pub spawn_rate: Option<f64>,
    /// Closed loop: pause of each user between requests.
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub think_time: Option<Duration>,
    /// Open loop: arrivals per second; a list or range is a sweep (`1,3,5,7` or `1:7:2`).
    #[arg(long, value_name = "LEVELS")]
    pub rate: Option<Levels>,
    /// Open loop: gamma shape of inter-arrival times (1 = Poisson, <1 bursty, >1 regular) [default: constant spacing].
    #[arg(long)]
    pub burstiness: Option<f64>,
    /// Open loop: at most this many requests in flight; arrivals over it are counted as dropped [default: 10000].
    #[arg(long)]
    pub max_in_flight: Option<usize>,
    /// Open loop with --burstiness: keep the gamma gaps as drawn, so a
    /// stage's realized rate varies around --rate [default: gaps rescaled
    /// so each stage realizes --rate exactly].
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub raw_arrivals: Option<bool>,
    /// Requests per stage [default: 100 when --duration is not given].
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Length of each stage (e.g. 30s, 5m).
    #[arg(long, short = 'd', value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub duration: Option<Duration>,
    /// Warm-up requests per stage, excluded from statistics.
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Closed loop: a user's pause after connection failures in a row,
    /// doubling from BASE to CAP with jitter (`100ms..5s`), or `off`
    /// [default: 100ms..5s].
    #[arg(long, value_name = "BASE..CAP")]
    pub retry_backoff: Option<RetryBackoff>,
    /// Closed loop: after a 429 or 503 with Retry-After (an HTTP answer or
    /// a refused WebSocket upgrade), a user waits as long as it asks (at
    /// most 60 s).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub honor_retry_after: Option<bool>,
}

/// A level as a label shows it: as written (`2`, `0.5`), or to 4
/// decimals when a weight made it a long fraction (`0.3333`).
fn level_text(v: f64) -> String {
    let short = format!("{v:.4}");
    let short = short.trim_end_matches('0').trim_end_matches('.');
    if short.parse::<f64>() == Ok(v) {
        v.to_string()
    } else {
        short.to_string()
    }
}

impl WorkloadOptions {
    /// The sweep levels, if any: rate levels (open loop) or users (closed).
    pub fn level_count(&self) -> Option<usize> {
        self.rate
            .as_ref()
            .or(self.concurrency.as_ref())
            .map(|l| l.0.len())
    }

    /// These options with a single level (or none: one user) repeated `n`
    /// times, so a scenario at one level runs in every stage of a sweep.
    pub fn repeated(mut self, n: usize) -> WorkloadOptions {
        if self.level_count().unwrap_or(1) != 1 || n <= 1 {
            return self;
        }
        if let Some(rate) = &self.rate {
            self.rate = Some(Levels(vec![rate.0[0]; n]));
        } else {
            let users = self.concurrency.as_ref().map_or(1.0, |c| c.0[0]);
            self.concurrency = Some(Levels(vec![users; n]));
        }
        self
    }

    /// These options without the keys that `own`'s choice of loop
    /// excludes: a scenario with its own rate drops the shared users,
    /// spawn rate and think time; one with its own users drops the shared
    /// rate, burstiness and in-flight cap.
    pub fn for_level_of(&self, own: &WorkloadOptions) -> WorkloadOptions {
        let mut base = self.clone();
        if own.rate.is_some() {
            (base.concurrency, base.spawn_rate, base.think_time) = (None, None, None);
            (base.retry_backoff, base.honor_retry_after) = (None, None);
        }
        if own.concurrency.is_some() {
            (base.rate, base.burstiness, base.max_in_flight) = (None, None, None);
            base.raw_arrivals = None;
        }
        base
    }

    /// The request count of each stage: `--requests`, else the default
    /// unless a `--duration` bounds the stage instead.
    fn requests_per_stage(&self) -> Option<u64> {
        match (self.requests, self.duration) {
            (None, None) => Some(DEFAULT_REQUESTS),
            (r, _) => r,
        }
    }

    /// Whether these options choose open or closed loop themselves.
    pub fn sets_level(&self) -> bool {
        self.rate.is_some() || self.concurrency.is_some()
    }

    /// The stages these options describe (validated). `seed` seeds the
    /// first stage's arrivals; each later stage takes the next seed.
    pub fn stages(&self, seed: u64) -> Result<Vec<StageSpec>, ConfigError> {
        if self.rate.is_some() && self.concurrency.is_some() {
            return Err(ConfigError::Conflict("--rate", "--concurrency"));
        }
        if self.requests == Some(0) {
            return Err(invalid("--requests", "must be at least 1"));
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return Err(invalid("--duration", "must be greater than 0"));
        }
        let requests = self.requests_per_stage();
        let stage = |label: String, workload: Workload| StageSpec {
            label,
            workload,
            requests,
            duration: self.duration,
            warmup: self.warmup.unwrap_or(0),
        };
        if let Some(rate) = &self.rate {
            self.check_open_loop()?;
            if let (Some(n), None) = (requests, self.duration) {
                // Arrivals are i / rate: -n 100 at 1e-9/s would wait 3,000 years.
                if let Some(&slow) = rate
                    .0
                    .iter()
                    .find(|&&r| (n.saturating_sub(1)) as f64 / r > MAX_STAGE_SPAN.as_secs_f64())
                {
                    return Err(invalid(
                        "--rate",
                        format!(
                            "{slow}/s spreads {n} requests over {:.0} days; give --duration or a higher rate",
                            (n - 1) as f64 / slow / 86_400.0
                        ),
                    ));
                }
            }
            return Ok(rate
                .0
                .iter()
                .enumerate()
                .map(|(i, &r)| {
                    let workload = Workload::Open {
                        rate: r,
                        burstiness: self.burstiness,
                        seed: seed.wrapping_add(i as u64),
                        max_in_flight: Some(self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT)),
                        raw_arrivals: self.raw_arrivals.unwrap_or(false),
                        phase: 0.0,
                    };
                    stage(format!("rate={}/s", level_text(r)), workload)
                })
                .collect());
        }
        self.check_closed_loop()?;
        let levels = self
            .concurrency
            .clone()
            .map(|l| l.0)
            .unwrap_or_else(|| vec![1.0]);
        levels
            .iter()
            .map(|&c| {
                let workload = Workload::Closed {
                    concurrency: whole_users(c)?,
                    spawn_rate: self.spawn_rate,
                    think_time: self.think_time.unwrap_or_default(),
                    retry: RetryPolicy {
                        backoff: self.retry_backoff.unwrap_or_default().0,
                        honor_retry_after: self.honor_retry_after.unwrap_or(false),
                    },
                };
                Ok(stage(format!("c={c}"), workload))
            })
            .collect()
    }

    fn check_open_loop(&self) -> Result<(), ConfigError> {
        if self.spawn_rate.is_some() {
            return Err(ConfigError::Conflict("--rate", "--spawn-rate"));
        }
        if self.think_time.is_some() {
            return Err(ConfigError::Conflict("--rate", "--think-time"));
        }
        // Open loop keeps its schedule whatever the target does.
        if self.retry_backoff.is_some() {
            return Err(ConfigError::Conflict("--rate", "--retry-backoff"));
        }
        if self.honor_retry_after.is_some() {
            return Err(ConfigError::Conflict("--rate", "--honor-retry-after"));
        }
        if let Some(b) = self.burstiness {
            if !(b.is_finite() && b > 0.0) {
                return Err(invalid(
                    "--burstiness",
                    "must be a positive number (1 = Poisson)",
                ));
            }
        }
        if self.max_in_flight == Some(0) {
            return Err(invalid("--max-in-flight", "must be at least 1"));
        }
        Ok(())
    }

    fn check_closed_loop(&self) -> Result<(), ConfigError> {
        if self.burstiness.is_some() {
            return Err(ConfigError::Conflict(
                "--burstiness",
                "closed loop (--concurrency); use --rate",
            ));
        }
        if self.max_in_flight.is_some() {
            return Err(ConfigError::Conflict(
                "--max-in-flight",
                "closed loop (--concurrency); use --rate",
            ));
        }
        if self.raw_arrivals.is_some() {
            return Err(ConfigError::Conflict(
                "--raw-arrivals",
                "closed loop (--concurrency); use --rate",
            ));
        }
        if let Some(s) = self.spawn_rate {
            if !(s.is_finite() && s > 0.0) {
                return Err(invalid(
                    "--spawn-rate",
                    "must be a positive number of users per second",
                ));
            }
        }
        Ok(())
    }

    /// The share `weights[i] ÷ Σ weights` of these options for each
    /// weighted scenario: rates are scaled, while users and the request
    /// count are split into whole numbers that add up exactly (largest
    /// remainder). A scenario left with no user or no request is an error:
    /// its share is too small for the level.
    pub fn split(&self, weights: &[f64]) -> Result<Vec<WorkloadOptions>, ConfigError> {
        let total: f64 = weights.iter().sum();
        let mut parts: Vec<WorkloadOptions> = weights.iter().map(|_| self.clone()).collect();
        if let Some(rate) = &self.rate {
            for (part, w) in parts.iter_mut().zip(weights) {
                part.rate = Some(Levels(rate.0.iter().map(|r| r * w / total).collect()));
            }
        }
        if let Some(users) = &self.concurrency {
            let mut per_part = vec![Vec::new(); weights.len()];
            for &c in &users.0 {
                let whole = whole_users(c)? as u64;
                for (i, n) in largest_remainder(whole, weights).into_iter().enumerate() {
                    if n == 0 {
                        return Err(invalid(
                            "--concurrency",
                            format!("{c} users cannot be split by weights {weights:?}: a scenario gets none (raise the level or a weight)"),
                        ));
                    }
                    per_part[i].push(n as f64);
                }
            }
            for (part, levels) in parts.iter_mut().zip(per_part) {
                part.concurrency = Some(Levels(levels));
            }
        }
        if let Some(n) = self.requests_per_stage() {
            for (part, share) in parts.iter_mut().zip(largest_remainder(n, weights)) {
                if share == 0 {
                    return Err(invalid(
                        "--requests",
                        format!("{n} requests cannot be split by weights {weights:?}: a scenario gets none"),
                    ));
                }
                part.requests = Some(share);
            }
        }
        Ok(parts)
    }
}

/// A `--concurrency` level as a number of users: whole and at least 1.
fn whole_users(c: f64) -> Result<usize, ConfigError> {
    if c.fract() != 0.0 || c < 1.0 {
        return Err(invalid(
            "--concurrency",
            format!("{c} is not a whole number of users"),
        ));
    }
    Ok(c as usize)
}

/// `n` split in proportion to `weights` into whole numbers summing to `n`:
/// each gets the floor of its share, then the largest remainders one more
/// (ties to the earlier).
pub fn largest_remainder(n: u64, weights: &[f64]) -> Vec<u64> {
    let total: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| n as f64 * w / total).collect();
    let mut out: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = n.saturating_sub(out.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in order {
        if left == 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(rate: Option<&str>, concurrency: Option<&str>) -> WorkloadOptions {
        WorkloadOptions {
            rate: rate.map(|r| r.parse().expect("levels")),
            concurrency: concurrency.map(|c| c.parse().expect("levels")),
            ..WorkloadOptions::default()
        }
    }

    #[test]
    fn rate_sweep_becomes_open_loop_stages() {
        let mut o = opts(Some("1:5:2"), None);
        o.burstiness = Some(0.5);
        o.requests = Some(10);
        let stages = o.stages(1).expect("stages");
        assert_eq!(stages.len(), 3);
        assert!(matches!(
            stages[2].workload,
            Workload::Open { rate, burstiness: Some(b), seed: 3, .. } if rate == 5.0 && b == 0.5
        ));
        assert_eq!(
            (stages[0].requests, stages[0].label.as_str()),
            (Some(10), "rate=1/s")
        );
    }

    #[test]
    fn conflicting_and_invalid_options_are_named() {
        let e = opts(Some("1"), Some("2"))
            .stages(1)
            .expect_err("conflict")
            .to_string();
        assert!(e.contains("--rate") && e.contains("--concurrency"), "{e}");
        let e = opts(None, Some("1.5"))
            .stages(1)
            .expect_err("fraction")
            .to_string();
        assert!(e.contains("--concurrency"), "{e}");
        // A typo'd rate would wait for ever between arrivals.
        let e = opts(Some("1e-9"), None)
            .stages(1)
            .expect_err("slow")
            .to_string();
        assert!(e.contains("--rate") && e.contains("days"), "{e}");
        let mut o = opts(Some("1e-9"), None);
        o.duration = Some(Duration::from_secs(1));
        assert!(o.stages(1).is_ok(), "a duration bounds it");
        let mut o = opts(None, Some("2"));
        o.burstiness = Some(1.0);
        assert!(o
            .stages(1)
            .expect_err("closed")
            .to_string()
            .contains("--burstiness"));
    }

    #[test]
    fn weights_split_rates_users_and_requests_exactly() {
        assert_eq!(largest_remainder(10, &[2.0, 1.0]), vec![7, 3]);
        assert_eq!(largest_remainder(5, &[1.0, 1.0, 1.0]), vec![2, 2, 1]);
        assert_eq!(largest_remainder(100, &[1.0]), vec![100]);
        let parts = opts(Some("3,6"), None).split(&[2.0, 1.0]).expect("split");
        assert_eq!(
            parts[0].rate.as_ref().map(|l| l.0.clone()),
            Some(vec![2.0, 4.0])
        );
        assert_eq!(
            parts[1].rate.as_ref().map(|l| l.0.clone()),
            Some(vec![1.0, 2.0])
        );
        assert_eq!((parts[0].requests, parts[1].requests), (Some(67), Some(33)));
        let users = opts(None, Some("3,4")).split(&[1.0, 1.0]).expect("split");
        assert_eq!(
            users[0].concurrency.as_ref().map(|l| l.0.clone()),
            Some(vec![2.0, 2.0])
        );
        assert_eq!(
            users[1].concurrency.as_ref().map(|l| l.0.clone()),
            Some(vec![1.0, 2.0])
        );
        let e = opts(None, Some("1"))
            .split(&[1.0, 1.0])
            .expect_err("one user for two");
        assert!(e.to_string().contains("--concurrency"), "{e}");
        // A fraction of a user is refused before it is split, as in stages().
        let e = opts(None, Some("2.5"))
            .split(&[1.0, 1.0])
            .expect_err("half a user")
            .to_string();
        assert!(e.contains("2.5 is not a whole number"), "{e}");
        assert_eq!(level_text(1.0 / 3.0), "0.3333");
        assert_eq!(level_text(2.0), "2");
        assert_eq!(level_text(0.25), "0.25");
    }
}
