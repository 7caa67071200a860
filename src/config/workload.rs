//! Workload options shared by protocols whose scenario files embed them
//! flat (`concurrency = 4`, `duration = "30s"`, …) next to their own keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
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

/// Read a TOML scenario whose options embed [`WorkloadOptions`] with
/// `#[serde(flatten)]` next to their own keys, plus a flattened `unknown`
/// map that catches every other key (serde's `deny_unknown_fields` does not
/// combine with `flatten`). A key nothing claimed is an error naming the
/// file and its line, so a typo is never ignored.
pub(crate) fn read_scenario<T: DeserializeOwned>(
    path: &Path,
    unknown: fn(&T) -> &BTreeMap<String, toml::Value>,
) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let toml_error = |message: String| ConfigError::Toml {
        path: path.to_path_buf(),
        message,
    };
    let parse_error = |e: toml::de::Error| toml_error(e.to_string().trim().to_string());
    // Flattened keys are read back from a buffer, so a bad value among them
    // would be reported without its place: read them on their own first.
    toml::from_str::<WorkloadOptions>(&text).map_err(parse_error)?;
    let o: T = toml::from_str(&text).map_err(parse_error)?;
    let first = unknown(&o)
        .keys()
        .map(|key| (key_line(&text, key), key))
        .min_by_key(|(line, _)| line.unwrap_or(usize::MAX));
    if let Some((line, key)) = first {
        let line = line.map(|n| format!("line {n}: ")).unwrap_or_default();
        return Err(toml_error(format!("{line}unknown key '{key}'")));
    }
    Ok(o)
}

/// The 1-based line that sets top-level `key` (`key = …`, `"key" = …`,
/// `key.sub = …`) or opens it as a table (`[key]`, `[[key]]`).
fn key_line(text: &str, key: &str) -> Option<usize> {
    let sets_key = |line: &str| {
        let l = line.trim_start().trim_start_matches('[').trim_start();
        let l = l.strip_prefix(['"', '\'']).unwrap_or(l);
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(['=', '.', ']', '"', '\'']))
    };
    text.lines().position(sets_key).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_line_finds_keys_tables_and_quoted_keys_not_prefixes() {
        let text = "concurrency = 2\nconc = 1\n\"quoted\" = 1\ndotted.x = 1\n[table]\n[[list]]\n";
        assert_eq!(key_line(text, "conc"), Some(2));
        assert_eq!(key_line(text, "quoted"), Some(3));
        assert_eq!(key_line(text, "dotted"), Some(4));
        assert_eq!(key_line(text, "table"), Some(5));
        assert_eq!(key_line(text, "list"), Some(6));
        assert_eq!(key_line(text, "missing"), None);
    }
}
