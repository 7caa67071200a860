//! The validated plan the engine runs: every default filled, every shortcut
//! (sweeps, open/closed loop) turned into explicit stages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::options::{ConfigError, TargetOptions, TtsOptions};
use crate::audio::AudioFormat;
use crate::input::{SampleFormat, TextSamples};
use crate::metrics::defs::{MeasureConfig, SanityConfig};
use crate::metrics::slo::Slo;
use crate::protocol::http_tts::{BodyTemplate, Framing, TtsTarget};
use crate::workload::{StageSpec, Workload};

/// Requests per stage when neither `--requests` nor `--duration` is given.
pub const DEFAULT_REQUESTS: u64 = 100;
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Open loop: requests in flight beyond this are dropped (counted) unless
/// `--max-in-flight` says otherwise, so an overloaded target or generator
/// turns into visible drops instead of running out of sockets.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 10_000;
/// Sweeps: default success rate a level must keep to be "best" (seed 004).
pub const DEFAULT_MIN_SUCCESS: f64 = 0.95;

/// Validate `--min-success` (a fraction in 0..=1).
pub(crate) fn min_success(v: Option<f64>) -> Result<f64, ConfigError> {
    match v {
        None => Ok(DEFAULT_MIN_SUCCESS),
        Some(x) if (0.0..=1.0).contains(&x) => Ok(x),
        Some(x) => Err(invalid(
            "--min-success",
            format!("{x} is not a fraction between 0 and 1 (e.g. 0.95)"),
        )),
    }
}

/// Default drain time after the first Ctrl-C.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// A complete, validated TTS run. Serialized into `result.json` (secrets redacted).
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    /// Run name.
    pub name: String,
    /// Folder the results are written to.
    pub out_dir: PathBuf,
    /// Where requests go and how answers are read.
    pub target: TtsTarget,
    /// Voices, used round-robin.
    pub voices: Vec<String>,
    /// Where the texts came from (a path, or `bundled`).
    pub texts_source: String,
    /// How many texts there are.
    pub texts_count: usize,
    /// The texts themselves (not serialized: they can be large).
    #[serde(skip)]
    pub texts: Arc<Vec<String>>,
    /// Random words are prepended to each text.
    pub random_prefix: bool,
    /// Seed of all randomness (arrivals, prefixes).
    pub seed: u64,
    /// The stages, in order.
    pub stages: Vec<StageSpec>,
    /// How requests are measured.
    pub measure: MeasureConfig,
    /// Per-request timeout.
    #[serde(with = "super::serde_duration")]
    pub timeout: Duration,
    /// Drain time after the first Ctrl-C.
    #[serde(with = "super::serde_duration")]
    pub grace: Duration,
    /// Sweeps: the best level keeps at least this success rate.
    pub min_success: f64,
    /// SLO thresholds checked on every stage; any failure makes the exit code 3.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<Slo>,
}

/// An invalid value of `option` (a flag or key), saying what is wrong.
pub(crate) fn invalid(option: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option,
        reason: reason.into(),
    }
}

/// A message template option: `""` means "send nothing".
pub(crate) fn template(value: Option<String>, default: Option<&str>) -> Option<String> {
    match value {
        Some(v) if v.trim().is_empty() => None,
        Some(v) => Some(v),
        None => default.map(str::to_string),
    }
}

/// `--header` values plus, with `--api-key-env NAME`, `Authorization:
/// Bearer <value of NAME>` (an unset variable is an error naming it).
pub(crate) fn headers_with_bearer(
    header: Option<&[String]>,
    api_key_env: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut headers = parse_headers(header.unwrap_or(&[]))?;
    if let Some(var) = api_key_env {
        let key = env(var).ok_or_else(|| {
            invalid(
                "--api-key-env",
                format!("environment variable {var} is not set"),
            )
        })?;
        headers.push(("Authorization".into(), format!("Bearer {key}")));
    }
    Ok(headers)
}

impl RunPlan {
    /// Validate options into a plan. `env` looks up environment variables
    /// (injected so tests need not touch the process environment).
    pub fn from_options(
        o: TtsOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let seed = o.seed.unwrap_or(1);
        // SLOs first: a misspelled metric must fail before anything else is loaded.
        let slo = crate::metrics::slo::parse_all(o.slo.as_deref().unwrap_or(&[]))
            .map_err(|e| invalid("--slo", e.to_string()))?;
        let stages = stages(&o, seed)?;
        let target = target(&o, env)?;
        let (texts, texts_source) = match &o.texts {
            Some(path) => {
                let format = match &o.texts_format {
                    Some(f) => SampleFormat::parse(f)?,
                    None => SampleFormat::guess(path),
                };
                (TextSamples::load(path, format)?, path.display().to_string())
            }
            None => (TextSamples::bundled(), "bundled".to_string()),
        };
        let texts: Vec<String> = texts.texts().to_vec();
        let voices = o.voice.clone().unwrap_or_else(|| vec!["alloy".to_string()]);
        if voices.is_empty() || voices.iter().any(|v| v.trim().is_empty()) {
            return Err(invalid("--voice", "voices must not be empty"));
        }
        let mut measure = MeasureConfig::default();
        if let Some(ks) = &o.chunks {
            if ks.is_empty() || ks.contains(&0) {
                return Err(invalid(
                    "--chunks",
                    "chunk numbers start at 1, e.g. --chunks 1,4,10",
                ));
            }
            measure.chunk_ks = ks.clone();
        }
        measure.prebuffer = o.prebuffer.unwrap_or_default();
        measure.sanity = SanityConfig {
            enabled: !o.no_sanity.unwrap_or(false),
            ..SanityConfig::default()
        };
        let timeout = o.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(invalid("--timeout", "must be greater than 0"));
        }
        let name = match &o.name {
            Some(n) => {
                if n.is_empty() || n.contains(['/', '\\']) || n == "." || n == ".." {
                    return Err(invalid("--name", format!("'{n}' is not a folder name")));
                }
                n.clone()
            }
            None => default_name("tts"),
        };
        let out_root = o.out.clone().unwrap_or_else(|| PathBuf::from("results"));
        Ok(RunPlan {
            out_dir: out_root.join(&name),
            name,
            target,
            voices,
            texts_count: texts.len(),
            texts: Arc::new(texts),
            texts_source,
            random_prefix: o.random_prefix.unwrap_or(false),
            seed,
            stages,
            measure,
            timeout,
            grace: o.grace.unwrap_or(DEFAULT_GRACE),
            min_success: min_success(o.min_success)?,
            slo,
        })
    }
}

/// `PREFIX-YYYYMMDD-HHMMSS` in UTC.
pub(crate) fn default_name(prefix: &str) -> String {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let digits: String = stamp.chars().filter(|c| c.is_ascii_digit()).collect();
    format!(
        "{prefix}-{}-{}",
        &digits[..8.min(digits.len())],
        &digits[8.min(digits.len())..]
    )
}

/// Turn rate/concurrency levels into stages.
pub(crate) fn stages(o: &TtsOptions, seed: u64) -> Result<Vec<StageSpec>, ConfigError> {
    if o.rate.is_some() && o.concurrency.is_some() {
        return Err(ConfigError::Conflict("--rate", "--concurrency"));
    }
    let requests = o.requests;
    if requests == Some(0) {
        return Err(invalid("--requests", "must be at least 1"));
    }
    if o.duration.is_some_and(|d| d.is_zero()) {
        return Err(invalid("--duration", "must be greater than 0"));
    }
    let requests = match (requests, o.duration) {
        (None, None) => Some(DEFAULT_REQUESTS),
        (r, _) => r,
    };
    let warmup = o.warmup.unwrap_or(0);
    if let Some(rate) = &o.rate {
        if o.spawn_rate.is_some() {
            return Err(ConfigError::Conflict("--rate", "--spawn-rate"));
        }
        if o.think_time.is_some() {
            return Err(ConfigError::Conflict("--rate", "--think-time"));
        }
        if let Some(b) = o.burstiness {
            if !(b.is_finite() && b > 0.0) {
                return Err(invalid(
                    "--burstiness",
                    "must be a positive number (1 = Poisson)",
                ));
            }
        }
        if o.max_in_flight == Some(0) {
            return Err(invalid("--max-in-flight", "must be at least 1"));
        }
        return Ok(rate
            .0
            .iter()
            .enumerate()
            .map(|(i, &r)| StageSpec {
                label: format!("rate={r}/s"),
                workload: Workload::Open {
                    rate: r,
                    burstiness: o.burstiness,
                    seed: seed.wrapping_add(i as u64),
                    max_in_flight: Some(o.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT)),
                },
                requests,
                duration: o.duration,
                warmup,
            })
            .collect());
    }
    if o.burstiness.is_some() {
        return Err(ConfigError::Conflict(
            "--burstiness",
            "closed loop (--concurrency); use --rate",
        ));
    }
    if o.max_in_flight.is_some() {
        return Err(ConfigError::Conflict(
            "--max-in-flight",
            "closed loop (--concurrency); use --rate",
        ));
    }
    if let Some(s) = o.spawn_rate {
        if !(s.is_finite() && s > 0.0) {
            return Err(invalid(
                "--spawn-rate",
                "must be a positive number of users per second",
            ));
        }
    }
    let levels = o
        .concurrency
        .clone()
        .map(|l| l.0)
        .unwrap_or_else(|| vec![1.0]);
    levels
        .iter()
        .map(|&c| {
            if c.fract() != 0.0 || c < 1.0 {
                return Err(invalid(
                    "--concurrency",
                    format!("{c} is not a whole number of users"),
                ));
            }
            Ok(StageSpec {
                label: format!("c={c}"),
                workload: Workload::Closed {
                    concurrency: c as usize,
                    spawn_rate: o.spawn_rate,
                    think_time: o.think_time.unwrap_or_default(),
                },
                requests,
                duration: o.duration,
                warmup,
            })
        })
        .collect()
}

/// Build the target: OpenAI-compatible from `--url`, or templated from `[target]`.
fn target(o: &TtsOptions, env: &dyn Fn(&str) -> Option<String>) -> Result<TtsTarget, ConfigError> {
    let t = o.target.clone().unwrap_or_default();
    let url = o
        .url
        .clone()
        .or(t.url.clone())
        .ok_or(ConfigError::Missing("--url (or url in [target])"))?;
    let format_name = o
        .format
        .clone()
        .or(t.format.clone())
        .unwrap_or_else(|| "pcm".into());
    let format =
        AudioFormat::parse(&format_name).map_err(|e| invalid("--format", e.to_string()))?;
    let model = o
        .model
        .clone()
        .or(t.model.clone())
        .unwrap_or_else(|| "tts-1".into());
    let mut headers = parse_headers(o.header.as_deref().or(t.headers.as_deref()).unwrap_or(&[]))?;
    if let Some(var) = o.api_key_env.as_ref().or(t.api_key_env.as_ref()) {
        let key = env(var).ok_or_else(|| {
            invalid(
                "--api-key-env",
                format!("environment variable {var} is not set"),
            )
        })?;
        let name = t
            .api_key_header
            .clone()
            .unwrap_or_else(|| "Authorization".into());
        let prefix = t.api_key_prefix.clone().unwrap_or_else(|| "Bearer ".into());
        headers.push((name, format!("{prefix}{key}")));
    }
    let sse = o.sse.unwrap_or(false);
    let (body, framing, audio_path) = match &t.body {
        Some(body) => templated(&t, body)?,
        None => {
            if t.framing.is_some() || t.audio_path.is_some() {
                return Err(invalid(
                    "[target]",
                    "framing/audio_path need a body template",
                ));
            }
            if sse {
                (
                    BodyTemplate::OpenAi { sse: true },
                    Framing::Sse,
                    Some("audio".to_string()),
                )
            } else {
                (BodyTemplate::OpenAi { sse: false }, Framing::Raw, None)
            }
        }
    };
    if sse && !matches!(body, BodyTemplate::OpenAi { .. }) {
        return Err(ConfigError::Conflict(
            "--sse",
            "a [target] body template (set its framing)",
        ));
    }
    Ok(TtsTarget {
        url: openai_url(&url, matches!(body, BodyTemplate::OpenAi { .. })),
        model,
        body,
        framing,
        audio_path,
        format,
        headers,
    })
}

/// A bare `http://host:port` means the OpenAI speech endpoint on it.
fn openai_url(url: &str, openai: bool) -> String {
    let trimmed = url.trim_end_matches('/');
    let has_path = trimmed
        .split_once("://")
        .map(|(_, rest)| rest.contains('/'))
        .unwrap_or(false);
    if openai && !has_path {
        format!("{trimmed}/v1/audio/speech")
    } else {
        url.to_string()
    }
}

fn templated(
    t: &TargetOptions,
    body: &str,
) -> Result<(BodyTemplate, Framing, Option<String>), ConfigError> {
    let template: serde_json::Value = serde_json::from_str(body).map_err(|e| {
        invalid(
            "[target] body",
            format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let framing = match &t.framing {
        Some(f) => Framing::parse(f).ok_or_else(|| {
            invalid(
                "[target] framing",
                format!("'{f}' (expected raw, sse or ndjson)"),
            )
        })?,
        None => Framing::Raw,
    };
    if framing != Framing::Raw && t.audio_path.is_none() {
        return Err(invalid(
            "[target] audio_path",
            "sse/ndjson framing needs the JSON path of the base64 audio",
        ));
    }
    let vars: BTreeMap<String, serde_json::Value> = t
        .vars
        .iter()
        .map(|(k, v)| {
            let json = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
            (k.clone(), json)
        })
        .collect();
    let known = |name: &str| matches!(name, "text" | "voice" | "model") || vars.contains_key(name);
    let mut missing = Vec::new();
    collect_placeholders(&template, &mut missing);
    if let Some(unknown) = missing.iter().find(|n| !known(n)) {
        return Err(invalid(
            "[target] body",
            format!("placeholder {{{{{unknown}}}}} has no value (define it under [target.vars])"),
        ));
    }
    Ok((
        BodyTemplate::Json { template, vars },
        framing,
        t.audio_path.clone(),
    ))
}

fn collect_placeholders(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.extend(crate::protocol::http_tts::placeholders(s)),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_placeholders(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| collect_placeholders(x, out)),
        _ => {}
    }
}

/// `Name: value` strings into pairs.
pub fn parse_headers(raw: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    raw.iter()
        .map(|h| {
            let (n, v) = h.split_once(':').ok_or_else(|| {
                invalid(
                    "--header",
                    format!(
                        "'{}' is not 'Name: value'",
                        crate::protocol::http_tts::redact_header(h, h)
                    ),
                )
            })?;
            if n.trim().is_empty() {
                return Err(invalid("--header", "empty header name"));
            }
            Ok((n.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn opts(url: &str) -> TtsOptions {
        TtsOptions {
            url: Some(url.into()),
            ..Default::default()
        }
    }

    #[test]
    fn bare_host_gets_the_openai_path() {
        let p = RunPlan::from_options(opts("http://127.0.0.1:8000"), &no_env).expect("plan");
        assert_eq!(p.target.url, "http://127.0.0.1:8000/v1/audio/speech");
        let p = RunPlan::from_options(opts("http://h/custom/tts"), &no_env).expect("plan");
        assert_eq!(p.target.url, "http://h/custom/tts");
    }

    #[test]
    fn rate_sweep_becomes_open_loop_stages() {
        let mut o = opts("http://h");
        o.rate = Some("1:5:2".parse().expect("levels"));
        o.burstiness = Some(0.5);
        o.requests = Some(10);
        let p = RunPlan::from_options(o, &no_env).expect("plan");
        assert_eq!(p.stages.len(), 3);
        assert!(
            matches!(p.stages[2].workload, Workload::Open { rate, burstiness: Some(b), .. } if rate == 5.0 && b == 0.5)
        );
        assert_eq!(p.stages[0].requests, Some(10));
    }

    #[test]
    fn conflicting_and_invalid_flags_are_named() {
        let mut o = opts("http://h");
        o.rate = Some("1".parse().expect("levels"));
        o.concurrency = Some("2".parse().expect("levels"));
        let e = RunPlan::from_options(o, &no_env)
            .expect_err("conflict")
            .to_string();
        assert!(e.contains("--rate") && e.contains("--concurrency"), "{e}");

        let mut o = opts("http://h");
        o.concurrency = Some("1.5".parse().expect("levels"));
        let e = RunPlan::from_options(o, &no_env)
            .expect_err("fractional users")
            .to_string();
        assert!(e.contains("--concurrency"), "{e}");

        let mut o = opts("http://h");
        o.format = Some("aiff".into());
        let e = RunPlan::from_options(o, &no_env)
            .expect_err("format")
            .to_string();
        assert!(e.contains("--format") && e.contains("aiff"), "{e}");

        let e = RunPlan::from_options(TtsOptions::default(), &no_env)
            .expect_err("no url")
            .to_string();
        assert!(e.contains("--url"), "{e}");
    }

    #[test]
    fn api_key_comes_from_env_and_is_redacted_in_json() {
        let mut o = opts("http://h");
        o.api_key_env = Some("MY_KEY".into());
        let env = |k: &str| (k == "MY_KEY").then(|| "sk-secret-123".to_string());
        let p = RunPlan::from_options(o.clone(), &env).expect("plan");
        assert!(p
            .target
            .headers
            .iter()
            .any(|(n, v)| n == "Authorization" && v == "Bearer sk-secret-123"));
        let json = serde_json::to_string(&p).expect("serialize");
        assert!(!json.contains("sk-secret-123"), "{json}");
        let e = RunPlan::from_options(o, &no_env)
            .expect_err("unset")
            .to_string();
        assert!(e.contains("MY_KEY"), "{e}");
    }

    #[test]
    fn slo_thresholds_are_validated_at_plan_time() {
        let mut o = opts("http://h");
        o.slo = Some(vec!["ttfa.p95 < 300ms".into(), "errors<1%".into()]);
        let p = RunPlan::from_options(o.clone(), &no_env).expect("plan");
        assert_eq!(p.slo.len(), 2);
        let json = serde_json::to_value(&p).expect("serialize");
        assert_eq!(json["slo"][0], "ttfa.p95<300ms");
        o.slo = Some(vec!["ttfx.p95<300ms".into()]);
        let e = RunPlan::from_options(o, &no_env)
            .expect_err("misspelled metric")
            .to_string();
        assert!(e.contains("--slo") && e.contains("ttfx"), "{e}");
    }

    #[test]
    fn template_placeholders_must_be_defined() {
        let mut o = opts("http://h/v1/tts");
        o.target = Some(TargetOptions {
            body: Some(r#"{"text": "{{text}}", "max": "{{max_tokens}}"}"#.into()),
            ..Default::default()
        });
        let e = RunPlan::from_options(o.clone(), &no_env)
            .expect_err("undefined var")
            .to_string();
        assert!(e.contains("max_tokens"), "{e}");
        if let Some(t) = o.target.as_mut() {
            t.vars
                .insert("max_tokens".into(), toml::Value::Integer(400));
        }
        let p = RunPlan::from_options(o, &no_env).expect("plan");
        assert!(matches!(p.target.body, BodyTemplate::Json { .. }));
    }

    #[test]
    fn min_success_is_a_fraction() {
        assert_eq!(min_success(None).ok(), Some(DEFAULT_MIN_SUCCESS));
        assert_eq!(min_success(Some(0.9)).ok(), Some(0.9));
        let e = min_success(Some(95.0))
            .expect_err("percent, not fraction")
            .to_string();
        assert!(e.contains("--min-success") && e.contains("0.95"), "{e}");
    }
}
