//! TTS scenarios: their options (flags and file keys, declared once) and
//! what they become — the HTTP target and the texts and voices to send.
//!
//! A vendor is a `[target]` table, not code: a JSON body template, the
//! framing of the response and where the audio sits in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{invalid, positive, ConfigError};
use super::file::read_file;
use super::judge::{JudgeOptions, JudgePlan};
use super::target::{headers_with_key, with_default_path, ApiKey, HeaderOptions};
use crate::audio::AudioFormat;
use crate::input::{SampleFormat, TextSamples};
use crate::metrics::defs::{MeasureConfig, SanityConfig};
use crate::protocol::http_tts::{placeholders, BodyTemplate, Framing, TtsTarget};
use crate::protocol::Target;
use crate::units::parse_duration;

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The `[target]` table of a vendor config: a new vendor is a file, not code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetOptions {
    /// Full URL of the synthesis endpoint.
    pub url: Option<String>,
    /// Body template with `{{text}}`, `{{voice}}`, `{{model}}`, `{{VAR}}`.
    pub body: Option<String>,
    /// What `body` is: `json` (the default), `text` (sent as written,
    /// `text/plain`) or `form` (values form-urlencoded).
    pub body_type: Option<String>,
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

/// Where TTS requests go and how answers are read (`voxload tts`,
/// `sample` and `corpus` share these).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct TtsEndpointOptions {
    /// Server base URL (`http://host:port`, the OpenAI path is added) or full endpoint URL.
    #[arg(long)]
    pub url: Option<String>,
    /// Model name sent to the server [default: tts-1].
    #[arg(long)]
    pub model: Option<String>,
    /// Voice; repeat or comma-separate to use several round-robin [default: alloy].
    #[arg(long, value_delimiter = ',')]
    pub voice: Option<Vec<String>>,
    /// Response audio: pcm[:RATE[:CHANNELS]] (pcm = 24 kHz mono), wav, mp3, opus, flac [default: pcm].
    #[arg(long)]
    pub format: Option<String>,
    /// OpenAI adapter: request SSE events (`stream_format: "sse"`) instead of raw audio bytes.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub sse: Option<bool>,
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub headers: HeaderOptions,
    /// Per-request timeout [default: 60s].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub timeout: Option<Duration>,
    /// A templated vendor target (`[target]` in a file; `--target FILE` reads one).
    #[arg(skip)]
    pub target: Option<TargetOptions>,
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub ws: super::tts_ws::WsTtsOptions,
}

/// Every option of a TTS scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct TtsOptions {
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub endpoint: TtsEndpointOptions,
    /// Text samples file [default: a bundled English set].
    #[arg(long, value_name = "FILE")]
    pub texts: Option<PathBuf>,
    /// Samples format: simple-json, id-prompt-json, axolotl-input-output, lines, jsonl [default: from the extension].
    #[arg(long)]
    pub texts_format: Option<String>,
    /// Prepend random words to each text to defeat server caches.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub random_prefix: Option<bool>,
    /// Audio chunks to time, e.g. 1,4,10 [default: 1,4].
    #[arg(long, value_delimiter = ',')]
    pub chunks: Option<Vec<u32>>,
    /// Pre-buffer of the playback model before playing starts [default: 0].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub prebuffer: Option<Duration>,
    /// Do not count silent, empty or too-short audio as failures.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub no_sanity: Option<bool>,
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub judge: JudgeOptions,
}

/// What TTS requests send, and how they are measured.
#[derive(Debug, Clone, Serialize)]
pub struct TtsInputs {
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
    /// How requests are measured.
    pub measure: MeasureConfig,
    /// Per-request timeout.
    #[serde(with = "crate::units::serde_duration")]
    pub timeout: Duration,
    /// The quality judge (`--judge-asr`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<Box<JudgePlan>>,
}

impl TtsOptions {
    /// Relative paths in a scenario file are relative to the file's folder.
    pub fn rebase(&mut self, dir: &Path) {
        if let Some(t) = self.texts.as_mut().filter(|t| t.is_relative()) {
            *t = dir.join(&*t);
        }
    }

    /// Validate into the target and the inputs. `env` looks up
    /// environment variables (injected so tests need not touch them).
    pub fn build(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(TtsTarget, TtsInputs), ConfigError> {
        let target = self.endpoint.target(env)?;
        Ok((target, self.inputs(env)?))
    }

    /// Like [`TtsOptions::build`], over HTTP or WebSocket by the URL's scheme.
    pub fn build_any(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Target, TtsInputs), ConfigError> {
        let target = self.endpoint.any_target(env)?;
        Ok((target, self.inputs(env)?))
    }

    /// The texts, voices and measurement settings of the scenario.
    fn inputs(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<TtsInputs, ConfigError> {
        let (texts, texts_source) = match &self.texts {
            Some(path) => {
                let format = match &self.texts_format {
                    Some(f) => SampleFormat::parse(f)?,
                    None => SampleFormat::guess(path),
                };
                (TextSamples::load(path, format)?, path.display().to_string())
            }
            None => (TextSamples::bundled(), "bundled".to_string()),
        };
        let texts: Vec<String> = texts.texts().to_vec();
        let voices = (self.endpoint.voice.clone()).unwrap_or_else(|| vec!["alloy".to_string()]);
        if voices.is_empty() || voices.iter().any(|v| v.trim().is_empty()) {
            return Err(invalid("--voice", "voices must not be empty"));
        }
        let mut measure = MeasureConfig::default();
        if let Some(ks) = &self.chunks {
            if ks.is_empty() || ks.contains(&0) {
                return Err(invalid(
                    "--chunks",
                    "chunk numbers start at 1, e.g. --chunks 1,4,10",
                ));
            }
            measure.chunk_ks = ks.clone();
        }
        measure.prebuffer = self.prebuffer.unwrap_or_default();
        measure.sanity = SanityConfig {
            enabled: !self.no_sanity.unwrap_or(false),
            ..SanityConfig::default()
        };
        let timeout = positive(self.endpoint.timeout, DEFAULT_TIMEOUT, "--timeout")?;
        let judge = self.judge.build(timeout, env)?.map(Box::new);
        let inputs = TtsInputs {
            voices,
            texts_count: texts.len(),
            texts: Arc::new(texts),
            texts_source,
            random_prefix: self.random_prefix.unwrap_or(false),
            measure,
            timeout,
            judge,
        };
        Ok(inputs)
    }
}

impl TtsEndpointOptions {
    /// Read a vendor file (see [`read_vendor`]) into `target`.
    pub fn load_vendor(&mut self, path: &Path) -> Result<(), ConfigError> {
        self.target = Some(read_vendor(path)?);
        Ok(())
    }

    /// The target: over WebSocket for a `ws://` or `wss://` URL (message
    /// rules from [`super::tts_ws::WsTtsOptions`]), else over HTTP.
    pub fn any_target(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Target, ConfigError> {
        let url = self
            .url
            .clone()
            .or(self.target.as_ref().and_then(|t| t.url.clone()));
        let Some(url) = url.filter(|u| u.starts_with("ws://") || u.starts_with("wss://")) else {
            return Ok(Target::HttpTts(self.target(env)?));
        };
        let format = self.format.clone().unwrap_or_else(|| "pcm".into());
        let format = AudioFormat::parse(&format).map_err(|e| invalid("--format", e.to_string()))?;
        let headers = self.headers.resolve(env)?;
        let model = self.model.clone().unwrap_or_default();
        Ok(Target::WsTts(self.ws.target(url, headers, model, format)?))
    }

    /// The target: OpenAI-compatible from `--url`, or templated from `[target]`.
    pub fn target(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<TtsTarget, ConfigError> {
        let t = self.target.clone().unwrap_or_default();
        let url = self
            .url
            .clone()
            .or(t.url.clone())
            .ok_or(ConfigError::Missing("--url (or url in [target])"))?;
        let format_name = self
            .format
            .clone()
            .or(t.format.clone())
            .unwrap_or_else(|| "pcm".into());
        let format =
            AudioFormat::parse(&format_name).map_err(|e| invalid("--format", e.to_string()))?;
        let model = self
            .model
            .clone()
            .or(t.model.clone())
            .unwrap_or_else(|| "tts-1".into());
        let key = self
            .headers
            .api_key_env
            .as_deref()
            .or(t.api_key_env.as_deref())
            .map(|env_var| ApiKey {
                env_var,
                header: t.api_key_header.as_deref().unwrap_or("Authorization"),
                prefix: t.api_key_prefix.as_deref().unwrap_or("Bearer "),
            });
        let headers = headers_with_key(
            self.headers.header.as_deref().or(t.headers.as_deref()),
            key,
            env,
        )?;
        let sse = self.sse.unwrap_or(false);
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
            // A bare host means the OpenAI speech endpoint on it.
            url: match body {
                BodyTemplate::OpenAi { .. } => with_default_path(&url, "/v1/audio/speech"),
                BodyTemplate::Json { .. } | BodyTemplate::Text { .. } => url,
            },
            model,
            body,
            framing,
            audio_path,
            format,
            headers,
        })
    }
}

/// Read a vendor file: a TOML file with a `[target]` table.
pub fn read_vendor(path: &Path) -> Result<TargetOptions, ConfigError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct VendorFile {
        target: TargetOptions,
    }
    let file: VendorFile = read_file(path)?;
    Ok(file.target)
}

fn templated(
    t: &TargetOptions,
    body: &str,
) -> Result<(BodyTemplate, Framing, Option<String>), ConfigError> {
    let form = match t.body_type.as_deref().map(str::trim) {
        None | Some("json") => None,
        Some("text") => Some(false),
        Some("form") => Some(true),
        Some(other) => {
            return Err(invalid(
                "[target] body_type",
                format!("'{other}' (expected json, text or form)"),
            ))
        }
    };
    let template: serde_json::Value = match form {
        Some(_) => serde_json::Value::String(body.to_string()),
        None => serde_json::from_str(body).map_err(|e| {
            invalid(
                "[target] body",
                format!(
                    "not valid JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ),
            )
        })?,
    };
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
    let vars = t
        .vars
        .iter()
        .map(|(k, v)| {
            serde_json::to_value(v)
                .map(|json| (k.clone(), json))
                .map_err(|e| invalid("[target.vars]", format!("{k}: {e}")))
        })
        .collect::<Result<BTreeMap<String, serde_json::Value>, ConfigError>>()?;
    let known = |name: &str| matches!(name, "text" | "voice" | "model") || vars.contains_key(name);
    let mut missing = Vec::new();
    collect_placeholders(&template, &mut missing);
    if let Some(unknown) = missing.iter().find(|n| !known(n)) {
        return Err(invalid(
            "[target] body",
            format!("placeholder {{{{{unknown}}}}} has no value (define it under [target.vars])"),
        ));
    }
    let body = match form {
        Some(form) => BodyTemplate::Text {
            template: body.to_string(),
            vars,
            form,
        },
        None => BodyTemplate::Json { template, vars },
    };
    Ok((body, framing, t.audio_path.clone()))
}

fn collect_placeholders(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.extend(placeholders(s)),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_placeholders(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| collect_placeholders(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn opts(url: &str) -> TtsOptions {
        TtsOptions {
            endpoint: TtsEndpointOptions {
                url: Some(url.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn bare_host_gets_the_openai_path() {
        let (t, _) = opts("http://127.0.0.1:8000").build(&no_env).expect("plan");
        assert_eq!(t.url, "http://127.0.0.1:8000/v1/audio/speech");
        let (t, _) = opts("http://h/custom/tts").build(&no_env).expect("plan");
        assert_eq!(t.url, "http://h/custom/tts");
    }

    #[test]
    fn invalid_options_are_named() {
        let mut o = opts("http://h");
        o.endpoint.format = Some("aiff".into());
        let e = o.build(&no_env).expect_err("format").to_string();
        assert!(e.contains("--format") && e.contains("aiff"), "{e}");
        let e = TtsOptions::default()
            .build(&no_env)
            .expect_err("no url")
            .to_string();
        assert!(e.contains("--url"), "{e}");
    }

    #[test]
    fn api_key_comes_from_env_and_is_redacted_in_json() {
        let mut o = opts("http://h");
        o.endpoint.headers.api_key_env = Some("MY_KEY".into());
        let env = |k: &str| (k == "MY_KEY").then(|| "sk-secret-123".to_string());
        let (t, _) = o.build(&env).expect("plan");
        assert!(t
            .headers
            .iter()
            .any(|(n, v)| n == "Authorization" && v == "Bearer sk-secret-123"));
        let json = serde_json::to_string(&t).expect("serialize");
        assert!(!json.contains("sk-secret-123"), "{json}");
        let e = o.build(&no_env).expect_err("unset").to_string();
        assert!(e.contains("MY_KEY"), "{e}");
    }

    #[test]
    fn template_placeholders_must_be_defined() {
        let mut o = opts("http://h/v1/tts");
        o.endpoint.target = Some(TargetOptions {
            body: Some(r#"{"text": "{{text}}", "max": "{{max_tokens}}"}"#.into()),
            ..Default::default()
        });
        let e = o.build(&no_env).expect_err("undefined var").to_string();
        assert!(e.contains("max_tokens"), "{e}");
        if let Some(t) = o.endpoint.target.as_mut() {
            t.vars
                .insert("max_tokens".into(), toml::Value::Integer(400));
        }
        let (t, _) = o.build(&no_env).expect("plan");
        assert!(matches!(t.body, BodyTemplate::Json { .. }));
    }

    #[test]
    fn text_and_form_bodies_are_sent_as_written_with_their_content_type() {
        use crate::protocol::http_tts::{HttpTts, TtsJob};
        let body = |body_type: &str, template: &str| {
            let mut o = opts("http://h/v1/tts");
            o.endpoint.target = Some(TargetOptions {
                body: Some(template.into()),
                body_type: Some(body_type.into()),
                ..Default::default()
            });
            o.endpoint.headers.header = None;
            let (t, _) = o.build(&no_env).expect("plan");
            let ct = t.body.content_type();
            let tts = HttpTts::new(t, crate::protocol::HttpClient::new(Duration::from_secs(1)))
                .expect("adapter");
            let job = TtsJob {
                text: "Hi & \"bye\"",
                voice: "alloy",
            };
            (String::from_utf8_lossy(&tts.body(&job)).to_string(), ct)
        };
        assert_eq!(
            body("text", "{{text}} ({{voice}})"),
            (
                "Hi & \"bye\" (alloy)".to_string(),
                "text/plain; charset=utf-8"
            )
        );
        assert_eq!(
            body("form", "text={{text}}&voice={{voice}}"),
            (
                "text=Hi+%26+%22bye%22&voice=alloy".to_string(),
                "application/x-www-form-urlencoded"
            )
        );
        let mut o = opts("http://h/v1/tts");
        o.endpoint.target = Some(TargetOptions {
            body: Some("{{text}}".into()),
            body_type: Some("xml".into()),
            ..Default::default()
        });
        let e = o.build(&no_env).expect_err("xml").to_string();
        assert!(e.contains("body_type") && e.contains("xml"), "{e}");
        // Placeholders are checked as for JSON templates.
        if let Some(t) = o.endpoint.target.as_mut() {
            t.body_type = Some("text".into());
            t.body = Some("{{text}} {{speed}}".into());
        }
        let e = o.build(&no_env).expect_err("undefined").to_string();
        assert!(e.contains("speed"), "{e}");
    }

    #[test]
    fn a_scenario_file_sets_the_judge_and_flags_override_it() {
        use crate::config::judge::JudgeOptions;
        use crate::config::{
            CommonOptions, Inputs, ProtocolOptions, RunOptions, RunPlan, WorkloadOptions,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "url = \"http://h:1\"\njudge_asr = \"http://h:2\"\njudge_share = 0.5\njudge_wait = \"5s\"\n",
        )
        .expect("write");
        let read = RunOptions::read(&path, Some(crate::protocol::Service::Tts)).expect("read");
        let flags = ProtocolOptions::Tts(TtsOptions {
            judge: JudgeOptions {
                judge_share: Some(1.0),
                ..Default::default()
            },
            ..Default::default()
        });
        let merged = read
            .with_flags(
                &CommonOptions::default(),
                &WorkloadOptions::default(),
                Some(&flags),
            )
            .expect("flags");
        let plan = RunPlan::build(merged, &no_env).expect("plan");
        let Inputs::Tts(inputs) = &plan.scenarios[0].inputs else {
            panic!("a TTS scenario");
        };
        let judge = inputs.judge.as_ref().expect("judge from the file");
        assert_eq!(judge.target.url, "http://h:2/v1/audio/transcriptions");
        assert_eq!((judge.share, judge.wait), (1.0, Duration::from_secs(5)));
    }

    #[test]
    fn scenario_reads_durations_and_vendor_tables() {
        let opts: TtsOptions = toml::from_str(
            "timeout = \"2m\"\nsse = true\n[target]\nurl = \"http://v\"\nframing = \"ndjson\"\n[target.vars]\nmax_tokens = 400\n",
        )
        .expect("valid");
        assert_eq!(opts.endpoint.timeout, Some(Duration::from_secs(120)));
        assert_eq!(opts.endpoint.sse, Some(true));
        let t = opts.endpoint.target.expect("target");
        assert_eq!(
            t.vars.get("max_tokens").and_then(|v| v.as_integer()),
            Some(400)
        );
    }
}
