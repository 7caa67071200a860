//! Sharded runs: one run's load spread over several generator processes
//! (`--shard 2/8`, or a scheduler's array index), each taking its share of
//! every rate and user count, all starting at one wall time so the merged
//! schedule is the one asked for (`voxload merge` adds them up exactly).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::error::{invalid, ConfigError};
pub use crate::workload::shard::Shard;

/// Where the shard came from, said once at the start of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShardSource {
    /// `--shard I/N`.
    #[default]
    Flag,
    /// Slurm's `SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT`.
    Slurm,
    /// Kubernetes Indexed Jobs' `JOB_COMPLETION_INDEX` and `--shards`/`VOXLOAD_SHARDS`.
    Kubernetes,
}

/// Environment variables a scheduler sets for each task of an array.
pub mod env {
    /// Slurm job arrays: the task's id.
    pub const SLURM_TASK_ID: &str = "SLURM_ARRAY_TASK_ID";
    /// Slurm job arrays: the lowest task id.
    pub const SLURM_TASK_MIN: &str = "SLURM_ARRAY_TASK_MIN";
    /// Slurm job arrays: the number of tasks.
    pub const SLURM_TASK_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
    /// Kubernetes Indexed Jobs: the pod's completion index, from 0.
    pub const K8S_INDEX: &str = "JOB_COMPLETION_INDEX";
    /// The shard count where the scheduler does not tell it (Kubernetes).
    pub const SHARDS: &str = "VOXLOAD_SHARDS";
}

/// The shard of this process: `--shard`, else the scheduler's array
/// variables (Slurm, then Kubernetes with `--shards` or `VOXLOAD_SHARDS`),
/// else none.
pub fn detect(
    flag: Option<Shard>,
    shards: Option<u32>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Shard, ShardSource)>, ConfigError> {
    if let Some(s) = flag {
        if shards.is_some_and(|n| n != s.count) {
            return Err(invalid(
                "--shards",
                format!(
                    "says {} shards but --shard {s} says {}",
                    shards.unwrap_or(0),
                    s.count
                ),
            ));
        }
        return Ok(Some((s, ShardSource::Flag)));
    }
    let number = |name: &str| -> Result<Option<u32>, ConfigError> {
        match lookup(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u32>().map(Some).map_err(|_| {
                invalid(
                    "shard environment",
                    format!("{name}='{v}' is not a whole number"),
                )
            }),
        }
    };
    let from_env = |what: &str, index0: u32, count: u32| {
        let index = index0
            .checked_add(1)
            .ok_or_else(|| invalid("shard environment", "index too large"))?;
        Shard::new(index, count)
            .map_err(|why| invalid("shard environment", format!("{what}: {why}")))
    };
    if let (Some(id), Some(count)) = (number(env::SLURM_TASK_ID)?, number(env::SLURM_TASK_COUNT)?) {
        let min = number(env::SLURM_TASK_MIN)?.unwrap_or(0);
        let index0 = id.checked_sub(min).ok_or_else(|| {
            invalid(
                "shard environment",
                format!(
                    "{}={id} is below {}={min}",
                    env::SLURM_TASK_ID,
                    env::SLURM_TASK_MIN
                ),
            )
        })?;
        let count = shards.unwrap_or(count);
        return Ok(Some((
            from_env("Slurm array", index0, count)?,
            ShardSource::Slurm,
        )));
    }
    if let Some(index0) = number(env::K8S_INDEX)? {
        let count = match (shards, number(env::SHARDS)?) {
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => {
                return Err(invalid(
                    "--shards",
                    format!(
                        "{} is set (a Kubernetes Indexed Job), but not how many shards there are: \
                         give --shards N (the Job's completions) or set {}",
                        env::K8S_INDEX,
                        env::SHARDS
                    ),
                ))
            }
        };
        return Ok(Some((
            from_env("Kubernetes Indexed Job", index0, count)?,
            ShardSource::Kubernetes,
        )));
    }
    match shards {
        Some(1) | None => Ok(None),
        Some(n) => Err(invalid(
            "--shards",
            format!(
                "says {n} shards, but which one this is is unknown: give --shard I/{n}, or run as \
                 a Slurm array task or a Kubernetes Indexed Job pod"
            ),
        )),
    }
}

/// When every shard starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// At this wall time (`--start-at`).
    At(#[serde(with = "rfc3339")] SystemTime),
    /// At the time a file on shared storage holds; the first shard to
    /// arrive writes it, `lead` ahead of its own clock (`--start-file`).
    File {
        /// The file.
        path: PathBuf,
        /// How far ahead the first shard sets the start.
        #[serde(with = "crate::units::serde_duration")]
        lead: Duration,
    },
}

/// A start time as RFC 3339 text.
mod rfc3339 {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*t))
    }
}

/// Parse `--start-at`: an RFC 3339 time in UTC, e.g. `2026-12-01T10:00:00Z`.
pub fn parse_start_at(s: &str) -> Result<SystemTime, ConfigError> {
    humantime::parse_rfc3339_weak(s.trim().trim_end_matches('Z')).map_err(|e| {
        invalid(
            "--start-at",
            format!("'{s}' is not a UTC time like 2026-12-01T10:00:00Z: {e}"),
        )
    })
}

/// `--start-at` or `--start-file`, validated.
pub(crate) fn start(o: &super::CommonOptions) -> Result<Option<StartAt>, ConfigError> {
    match (&o.start_at, &o.start_file) {
        (Some(_), Some(_)) => Err(ConfigError::Conflict("--start-at", "--start-file")),
        (Some(t), None) => Ok(Some(StartAt::At(parse_start_at(t)?))),
        (None, Some(path)) => Ok(Some(StartAt::File {
            path: path.clone(),
            lead: DEFAULT_START_LEAD,
        })),
        (None, None) => Ok(None),
    }
}

/// How a sharded run is spread and started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardPlan {
    /// This process's part.
    pub shard: Shard,
    /// Where it came from (said at the start of the run).
    #[serde(skip)]
    pub source: ShardSource,
    /// The seed of the whole run (the shard's own is the plan's `seed`).
    pub run_seed: u64,
    /// A digest of the plan before it was split: every shard of one run
    /// has the same, so `merge` can refuse shards of different runs.
    pub plan_digest: String,
    /// When the shards start, if they are to start together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<StartAt>,
    /// With a start time: stage *k* begins at start + Σ (duration + this)
    /// of the stages before, so every shard begins each stage together.
    #[serde(with = "crate::units::serde_duration")]
    pub stage_gap: Duration,
}

/// Default `--stage-gap`: time for a stage's last requests to end before
/// the next stage starts on every shard at once.
pub const DEFAULT_STAGE_GAP: Duration = Duration::from_secs(5);

/// Default lead of a `--start-file` start: time for the other shards to
/// start up and read it.
pub const DEFAULT_START_LEAD: Duration = Duration::from_secs(10);

/// A stable 64-bit FNV-1a digest of `text`, as 16 hex digits (not for
/// security: it tells plans apart).
pub fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn schedulers_tell_the_shard() {
        let vars = |pairs: &[(&str, &str)]| {
            let m: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |k: &str| m.get(k).cloned()
        };
        let slurm = vars(&[
            (env::SLURM_TASK_ID, "12"),
            (env::SLURM_TASK_MIN, "10"),
            (env::SLURM_TASK_COUNT, "4"),
        ]);
        assert_eq!(
            detect(None, None, &slurm).ok().flatten(),
            Some((Shard { index: 3, count: 4 }, ShardSource::Slurm))
        );
        let k8s = vars(&[(env::K8S_INDEX, "0"), (env::SHARDS, "8")]);
        assert_eq!(
            detect(None, None, &k8s).ok().flatten(),
            Some((Shard { index: 1, count: 8 }, ShardSource::Kubernetes))
        );
        let k8s_flag = vars(&[(env::K8S_INDEX, "7")]);
        assert_eq!(
            detect(None, Some(8), &k8s_flag).ok().flatten().map(|s| s.0),
            Some(Shard { index: 8, count: 8 })
        );
        let e = detect(None, None, &k8s_flag)
            .expect_err("count unknown")
            .to_string();
        assert!(e.contains("--shards") && e.contains(env::SHARDS), "{e}");
        let e = detect(None, Some(4), &k8s_flag)
            .expect_err("index 8 of 4")
            .to_string();
        assert!(e.contains("out of range"), "{e}");
        let flag = Shard { index: 2, count: 8 };
        assert_eq!(
            detect(Some(flag), None, &slurm).ok().flatten(),
            Some((flag, ShardSource::Flag))
        );
        assert!(detect(Some(flag), Some(4), &no_env).is_err());
        assert_eq!(detect(None, None, &no_env).ok().flatten(), None);
        assert!(detect(None, Some(8), &no_env).is_err());
    }

    #[test]
    fn start_times_are_utc_rfc3339() {
        let t = parse_start_at("2026-12-01T10:00:00Z").expect("valid");
        assert_eq!(
            humantime::format_rfc3339_seconds(t).to_string(),
            "2026-12-01T10:00:00Z"
        );
        let e = parse_start_at("tomorrow")
            .expect_err("not a time")
            .to_string();
        assert!(e.contains("--start-at") && e.contains("tomorrow"), "{e}");
    }
}
