//! Raw options of a TTS run, as they come from a TOML scenario file and
//! from flags. Everything is optional here; [`super::RunPlan`] fills
//! defaults and validates.
//!
//! Precedence (lowest first): built-in defaults, the scenario file
//! (`--config`), then flags. A flag given on the command line replaces the
//! file's value for that option, lists included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::levels::Levels;

/// The `[target]` table of a vendor config: a new vendor is a file, not code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// Full URL of the synthesis endpoint.
    pub url: Option<String>,
    /// JSON body template with `{{text}}`, `{{voice}}`, `{{model}}`, `{{VAR}}`.
    pub body: Option<String>,
    /// `raw`, `sse` or `ndjson`.
    pub framing: Option<String>,
    /// Dotted JSON path of the base64 audio in each SSE event / NDJSON line.
    pub audio_path: Option<String>,
    /// `pcm[:RATE[:CHANNELS]]`, `wav`, `mp3`, `opus` or `flac`.
    pub format: Option<String>,
    /// Model name for `{{model}}`.
    pub model: Option<String>,
    /// Extra `Name: value` headers.
    pub headers: Option<Vec<String>>,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Header that carries the key (default `Authorization`).
    pub api_key_header: Option<String>,
    /// Text before the key in that header (default `Bearer `).
    pub api_key_prefix: Option<String>,
    /// Extra template variables (`max_tokens = 400`, `timestamp_type = "WORD"`).
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
}

/// Every option of `voxload tts`, from file or flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtsOptions {
    /// Run name; results go to `<out>/<name>/`.
    pub name: Option<String>,
    /// Results root folder (default `results`).
    pub out: Option<PathBuf>,
    /// Server base URL or full endpoint URL (OpenAI-compatible).
    pub url: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Voices, used round-robin.
    pub voice: Option<Vec<String>>,
    /// Response audio format.
    pub format: Option<String>,
    /// OpenAI adapter: ask for SSE events instead of raw audio bytes.
    pub sse: Option<bool>,
    /// Templated vendor target (inline table `[target]`).
    pub target: Option<TargetOptions>,
    /// Extra `Name: value` request headers.
    pub header: Option<Vec<String>>,
    /// Environment variable holding the API key (sent as `Authorization: Bearer …`).
    pub api_key_env: Option<String>,
    /// Per-request timeout.
    #[serde(default, with = "super::serde_duration::option")]
    pub timeout: Option<Duration>,
    /// Text samples file.
    pub texts: Option<PathBuf>,
    /// Format of the samples file.
    pub texts_format: Option<String>,
    /// Prepend random words to each text to defeat caches.
    pub random_prefix: Option<bool>,
    /// Seed for arrivals and random prefixes.
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
    /// Open loop: gamma shape of inter-arrival times (1 = Poisson).
    pub burstiness: Option<f64>,
    /// Open loop: cap on requests in flight; arrivals over it are dropped.
    pub max_in_flight: Option<usize>,
    /// Requests per stage.
    pub requests: Option<u64>,
    /// Length of each stage.
    #[serde(default, with = "super::serde_duration::option")]
    pub duration: Option<Duration>,
    /// Warm-up requests per stage, excluded from statistics.
    pub warmup: Option<u64>,
    /// Which audio chunks to time (default 1 and 4).
    pub chunks: Option<Vec<u32>>,
    /// Playback pre-buffer for the stall model.
    #[serde(default, with = "super::serde_duration::option")]
    pub prebuffer: Option<Duration>,
    /// Disable audio sanity checks.
    pub no_sanity: Option<bool>,
    /// After Ctrl-C, how long in-flight requests may finish.
    #[serde(default, with = "super::serde_duration::option")]
    pub grace: Option<Duration>,
    /// Sweeps: the best level is the highest throughput with at least this success rate.
    pub min_success: Option<f64>,
    /// SLO thresholds checked on every stage (`["ttfa.p95<300ms", "errors<1%"]`).
    pub slo: Option<Vec<String>>,
}

/// Why options could not become a plan. Each names the file, line or flag.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A scenario or vendor file is not valid TOML for our options.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names line and column.
        message: String,
    },
    /// Two options that cannot be used together.
    #[error("{0} and {1} cannot be used together")]
    Conflict(&'static str, &'static str),
    /// An option has an invalid value.
    #[error("invalid {option}: {reason}")]
    Invalid {
        /// The flag or key, e.g. `--burstiness`.
        option: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A required option is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The text samples could not be loaded.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
}

impl TtsOptions {
    /// Read a TOML scenario file. Unknown keys are errors (a typo must not be ignored).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut opts: TtsOptions = toml::from_str(&text).map_err(|e| ConfigError::Toml {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_string(),
        })?;
        // Relative paths in a scenario are relative to the scenario file.
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(t) = opts.texts.as_mut() {
            if t.is_relative() {
                *t = base.join(&*t);
            }
        }
        Ok(opts)
    }

    /// Read a vendor file: a TOML file with a `[target]` table.
    pub fn target_from_file(path: &Path) -> Result<TargetOptions, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct VendorFile {
            target: TargetOptions,
        }
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file: VendorFile = toml::from_str(&text).map_err(|e| ConfigError::Toml {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_string(),
        })?;
        Ok(file.target)
    }

    /// `self` overridden by every option `over` sets.
    pub fn merged_with(self, over: TtsOptions) -> TtsOptions {
        macro_rules! pick {
            ($($f:ident),*) => { TtsOptions { $($f: over.$f.or(self.$f)),* } };
        }
        pick!(
            name,
            out,
            url,
            model,
            voice,
            format,
            sse,
            target,
            header,
            api_key_env,
            timeout,
            texts,
            texts_format,
            random_prefix,
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
            chunks,
            prebuffer,
            no_sanity,
            grace,
            slo,
            min_success
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_file_fills_the_rest() {
        let file = TtsOptions {
            url: Some("http://file".into()),
            rate: Some("1,2".parse().expect("levels")),
            requests: Some(50),
            ..Default::default()
        };
        let flags = TtsOptions {
            rate: Some("5".parse().expect("levels")),
            ..Default::default()
        };
        let m = file.merged_with(flags);
        assert_eq!(m.url.as_deref(), Some("http://file"));
        assert_eq!(m.rate.map(|l| l.0), Some(vec![5.0]));
        assert_eq!(m.requests, Some(50));
    }

    #[test]
    fn unknown_key_in_scenario_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "url = \"http://x\"\nconcurency = 4\n").expect("write");
        let err = TtsOptions::from_file(&path)
            .expect_err("typo must fail")
            .to_string();
        assert!(err.contains("s.toml"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("concurency"), "{err}");
    }

    #[test]
    fn scenario_reads_durations_and_levels() {
        let opts: TtsOptions = toml::from_str(
            "rate = \"1:5:2\"\nduration = \"30s\"\ntimeout = \"2m\"\n[target]\nurl = \"http://v\"\nframing = \"ndjson\"\n[target.vars]\nmax_tokens = 400\n",
        )
        .expect("valid");
        assert_eq!(opts.rate.map(|l| l.0), Some(vec![1.0, 3.0, 5.0]));
        assert_eq!(opts.duration, Some(Duration::from_secs(30)));
        assert_eq!(opts.timeout, Some(Duration::from_secs(120)));
        let t = opts.target.expect("target");
        assert_eq!(
            t.vars.get("max_tokens").and_then(|v| v.as_integer()),
            Some(400)
        );
    }
}
