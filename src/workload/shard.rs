//! A shard's part of a stage: one run's load spread over several
//! generator processes, each with its share of every rate and user count
//! and its own seed, whose arrivals add up to the run's.

use serde::{Deserialize, Serialize};

use super::{StageSpec, Workload};

/// Which part of a run this process is; written `I/N` in flags, files
/// and results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based: shard 1 of `count` is the first.
    pub index: u32,
    /// How many shards the run has.
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N` with 1 ≤ I ≤ N.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not I/N (e.g. 2/8: the second of eight shards)"))?;
        let parse = |x: &str, what: &str| {
            x.trim()
                .parse::<u32>()
                .map_err(|_| format!("'{s}': {what} '{x}' is not a whole number"))
        };
        let (index, count) = (parse(i, "index")?, parse(n, "count")?);
        Shard::new(index, count).map_err(|why| format!("'{s}': {why}"))
    }
}

impl Serialize for Shard {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Shard {
    /// Shard `index` (1-based) of `count`.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 {
            return Err("the shard count must be at least 1".into());
        }
        if index == 0 || index > count {
            return Err(format!(
                "shard {index} is out of range 1..={count} (shards count from 1)"
            ));
        }
        Ok(Self { index, count })
    }

    /// The shard's part of `total` things (users, requests): the total
    /// divided evenly, the remainder going one each to the first shards,
    /// so the parts add up to the total exactly.
    pub fn share(&self, total: u64) -> u64 {
        let (n, i) = (u64::from(self.count), u64::from(self.index - 1));
        total / n + u64::from(i < total % n)
    }

    /// [`Shard::share`] of a count of `usize`.
    fn share_usize(&self, total: usize) -> usize {
        usize::try_from(self.share(total as u64)).unwrap_or(usize::MAX)
    }

    /// The shard's own seed: the first keeps the run's (a run of one shard
    /// is the run), the others get distinct, well-mixed ones.
    pub fn seed(&self, run_seed: u64) -> u64 {
        run_seed.wrapping_add(u64::from(self.index - 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The shard's folder name under the run's: `shard-2-of-8`.
    pub fn folder(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// This shard's part of a stage: its share of the rate (evenly spaced
    /// arrivals get the phase that interleaves them with the other
    /// shards', so the merged arrivals are the asked-for grid), of the
    /// users (and their spawn rate), of the requests, warm-up and
    /// in-flight cap. The label stays the run's level.
    pub fn stage(&self, spec: &StageSpec) -> StageSpec {
        let n = f64::from(self.count);
        let mut out = spec.clone();
        out.requests = spec.requests.map(|r| self.share(r));
        out.warmup = self.share(spec.warmup);
        out.workload = match &spec.workload {
            Workload::Open {
                rate,
                burstiness,
                seed,
                max_in_flight,
                raw_arrivals,
                phase,
            } => Workload::Open {
                rate: rate / n,
                burstiness: *burstiness,
                seed: self.seed(*seed),
                max_in_flight: max_in_flight.map(|m| self.share_usize(m).max(1)),
                raw_arrivals: *raw_arrivals,
                phase: match burstiness {
                    None => (phase + f64::from(self.index - 1)) / n,
                    Some(_) => *phase,
                },
            },
            Workload::Closed {
                concurrency,
                spawn_rate,
                think_time,
                retry,
            } => {
                let users = self.share_usize(*concurrency);
                let part = users as f64 / (*concurrency).max(1) as f64;
                Workload::Closed {
                    concurrency: users,
                    spawn_rate: spawn_rate.map(|r| r * part).filter(|r| *r > 0.0),
                    think_time: *think_time,
                    retry: *retry,
                }
            }
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::RetryPolicy;
    use std::time::Duration;

    #[test]
    fn shares_add_up_to_the_total_with_the_remainder_spread() {
        for count in 1..=9u32 {
            for total in [0u64, 1, 7, 8, 9, 100, 1001] {
                let parts: Vec<u64> = (1..=count)
                    .map(|i| Shard::new(i, count).expect("in range").share(total))
                    .collect();
                assert_eq!(parts.iter().sum::<u64>(), total, "{total} over {count}");
                let (lo, hi) = (parts.iter().min(), parts.iter().max());
                assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{parts:?}");
            }
        }
    }

    #[test]
    fn flags_parse_and_out_of_range_is_refused() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { index: 2, count: 8 }));
        for bad in ["0/8", "9/8", "1/0", "2", "a/8", "2/b"] {
            let e = bad.parse::<Shard>().expect_err(bad);
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn stages_split_rates_users_and_counts() {
        let open = StageSpec {
            label: "rate=40/s".into(),
            workload: Workload::Open {
                rate: 40.0,
                burstiness: None,
                seed: 7,
                max_in_flight: Some(10),
                raw_arrivals: false,
                phase: 0.0,
            },
            requests: Some(203),
            duration: None,
            warmup: 5,
        };
        let shards: Vec<StageSpec> = (1..=8)
            .map(|i| Shard::new(i, 8).expect("in range").stage(&open))
            .collect();
        let rate: f64 = shards
            .iter()
            .map(|s| match s.workload {
                Workload::Open { rate, .. } => rate,
                Workload::Closed { .. } => 0.0,
            })
            .sum();
        assert!((rate - 40.0).abs() < 1e-9, "{rate}");
        assert_eq!(shards.iter().filter_map(|s| s.requests).sum::<u64>(), 203);
        assert_eq!(shards.iter().map(|s| s.warmup).sum::<u64>(), 5);
        assert!(shards.iter().all(|s| s.label == "rate=40/s"));
        // Shard i's arrivals j sit at (j + phase) / (R/8) = (8j + i − 1) / R.
        let phases: Vec<f64> = shards
            .iter()
            .map(|s| match s.workload {
                Workload::Open { phase, .. } => phase * 8.0,
                Workload::Closed { .. } => -1.0,
            })
            .collect();
        assert_eq!(phases, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let closed = StageSpec {
            workload: Workload::Closed {
                concurrency: 10,
                spawn_rate: Some(5.0),
                think_time: Duration::ZERO,
                retry: RetryPolicy::off(),
            },
            ..open
        };
        let users: Vec<(usize, Option<f64>)> = (1..=4)
            .map(
                |i| match Shard::new(i, 4).expect("in range").stage(&closed).workload {
                    Workload::Closed {
                        concurrency,
                        spawn_rate,
                        ..
                    } => (concurrency, spawn_rate),
                    Workload::Open { .. } => (0, None),
                },
            )
            .collect();
        assert_eq!(
            users,
            vec![
                (3, Some(1.5)),
                (3, Some(1.5)),
                (2, Some(1.0)),
                (2, Some(1.0))
            ]
        );
    }

    #[test]
    fn seeds_differ_and_the_first_keeps_the_runs() {
        let seeds: Vec<u64> = (1..=8)
            .map(|i| Shard::new(i, 8).expect("in range").seed(1))
            .collect();
        assert_eq!(seeds[0], 1);
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 8);
    }
}
