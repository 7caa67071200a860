//! ASR runs: raw options (TOML scenario + flags) and the validated plan.
//!
//! A vendor is a scenario file: upload shape, form fields, transcript path,
//! WebSocket message templates. Workload options are the same as for TTS
//! and become stages the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::options::ConfigError;
use super::plan::{
    default_name, headers_with_bearer, invalid, template, DEFAULT_GRACE, DEFAULT_TIMEOUT,
};
use super::workload::{read_scenario, WorkloadOptions};
use crate::input::AudioSet;
use crate::metrics::slo::Slo;
use crate::metrics::wer::{Normalization, Numbers};
use crate::protocol::http_asr::{AsrTarget, Upload};
use crate::protocol::ws_asr::{FrameEncoding, WsAsrTarget};
use crate::workload::StageSpec;

/// Every option of `voxload asr`, from file or flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AsrOptions {
    /// Server base URL (`http://host:port` gets `/v1/audio/transcriptions`) or full
    /// endpoint URL; `ws://`/`wss://` means streaming.
    pub url: Option<String>,
    /// Audio files, folders or `manifest.jsonl` files.
    pub audio: Option<Vec<PathBuf>>,
    /// Model name (multipart field `model`).
    pub model: Option<String>,
    /// Language for every file without one in the manifest.
    pub language: Option<String>,
    /// Multipart `response_format`.
    pub response_format: Option<String>,
    /// `raw` to send the audio as the body instead of multipart.
    pub upload: Option<String>,
    /// Name of the multipart file part.
    pub file_field: Option<String>,
    /// Extra form fields `name=value` (e.g. `model_name=large-v3`).
    pub field: Option<Vec<String>>,
    /// Dotted JSON path of the transcript; empty = the body is the text.
    pub transcript_path: Option<String>,
    /// Convert uploads first: `wav:16000` or `pcm:16000` (16-bit mono), or `none`.
    pub convert: Option<String>,
    /// Extra request headers.
    pub header: Option<Vec<String>>,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Per-request timeout.
    #[serde(default, with = "super::serde_duration::option")]
    pub timeout: Option<Duration>,
    /// Text normalization for WER: numbers as `words` (default), `digits` or `keep`.
    pub numbers: Option<String>,
    /// Streaming: audio per frame.
    #[serde(default, with = "super::serde_duration::option")]
    pub frame: Option<Duration>,
    /// Streaming: sample rate of the PCM sent.
    pub sample_rate: Option<u32>,
    /// Streaming: JSON start message template (`{{sample_rate}}`, `{{language}}`); `""` for none.
    pub start_message: Option<String>,
    /// Streaming: JSON end-of-audio message template; `""` for none.
    pub end_message: Option<String>,
    /// Streaming: `binary`, or a JSON template with `{{audio}}` (base64 PCM).
    pub frame_encoding: Option<String>,
    /// Streaming: dotted path of the transcript text in server messages.
    pub text_path: Option<String>,
    /// Streaming: dotted path of the message type.
    pub type_path: Option<String>,
    /// Streaming: type value of the final transcript.
    pub final_type: Option<String>,
    /// Streaming: dotted path of a boolean "is final" flag (instead of a type).
    pub final_flag_path: Option<String>,
    /// Workload and results options.
    #[serde(flatten)]
    pub workload: WorkloadOptions,
    /// Keys nothing above claimed: a typo must not be ignored.
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, toml::Value>,
}

impl AsrOptions {
    /// Read a TOML scenario; relative audio paths are relative to the file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let mut o = read_scenario(path, |o: &AsrOptions| &o.unknown)?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(audio) = o.audio.as_mut() {
            for a in audio.iter_mut().filter(|a| a.is_relative()) {
                *a = base.join(&*a);
            }
        }
        Ok(o)
    }

    /// `self` overridden by every option `over` sets.
    pub fn merged_with(self, over: AsrOptions) -> AsrOptions {
        macro_rules! pick {
            ($($f:ident),*) => { AsrOptions {
                $($f: over.$f.or(self.$f),)*
                workload: self.workload.merged_with(over.workload),
                unknown: BTreeMap::new(),
            } };
        }
        pick!(
            url,
            audio,
            model,
            language,
            response_format,
            upload,
            file_field,
            field,
            transcript_path,
            convert,
            header,
            api_key_env,
            timeout,
            numbers,
            frame,
            sample_rate,
            start_message,
            end_message,
            frame_encoding,
            text_path,
            type_path,
            final_type,
            final_flag_path
        )
    }
}

/// Where ASR requests go.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum AsrEndpoint {
    /// One HTTP request per file.
    Http(AsrTarget),
    /// One streaming WebSocket session per file.
    Ws(WsAsrTarget),
}

/// Upload conversion for HTTP targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "to")]
pub enum Convert {
    /// Send files as they are.
    None,
    /// 16-bit mono WAV at this rate.
    Wav {
        /// Sample rate.
        rate: u32,
    },
    /// Raw 16-bit mono PCM at this rate.
    Pcm {
        /// Sample rate.
        rate: u32,
    },
}

/// A validated ASR run.
#[derive(Debug, Clone, Serialize)]
pub struct AsrPlan {
    /// Run name.
    pub name: String,
    /// Results folder.
    pub out_dir: PathBuf,
    /// The endpoint.
    pub endpoint: AsrEndpoint,
    /// HTTP upload conversion.
    pub convert: Convert,
    /// Language for files without their own.
    pub language: Option<String>,
    /// Input description (paths) and totals.
    pub inputs: Vec<String>,
    /// Number of audio files.
    pub files: usize,
    /// Their total duration, seconds.
    pub audio_s_total: f64,
    /// The audio itself (not serialized).
    #[serde(skip)]
    pub audio: AudioSet,
    /// WER text normalization.
    pub normalization: Normalization,
    /// Version of the normalization rules (docs/wer.md), so WERs are only compared like for like.
    pub normalization_version: &'static str,
    /// Stages.
    pub stages: Vec<StageSpec>,
    /// SLO thresholds.
    pub slo: Vec<Slo>,
    /// Seed.
    pub seed: u64,
    /// Per-request timeout.
    #[serde(with = "super::serde_duration")]
    pub timeout: Duration,
    /// Drain time after Ctrl-C.
    #[serde(with = "super::serde_duration")]
    pub grace: Duration,
    /// Sweeps: the best level keeps at least this success rate.
    pub min_success: f64,
}

impl AsrPlan {
    /// Validate options into a plan; reads and decodes every audio input now,
    /// so a bad file fails before any request is sent.
    pub fn from_options(
        o: AsrOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let w = &o.workload;
        let seed = w.seed.unwrap_or(1);
        let stages = w.stages(seed)?;
        let slo = crate::metrics::slo::parse_all(w.slo.as_deref().unwrap_or(&[]))
            .map_err(|e| invalid("--slo", e.to_string()))?;
        let url = o.url.clone().ok_or(ConfigError::Missing("--url"))?;
        let inputs = o.audio.clone().unwrap_or_default();
        if inputs.is_empty() {
            return Err(ConfigError::Missing(
                "--audio (audio files, a folder or a manifest.jsonl)",
            ));
        }
        let audio = AudioSet::load(&inputs)?;
        let headers = headers_with_bearer(o.header.as_deref(), o.api_key_env.as_deref(), env)?;
        let ws = url.starts_with("ws://") || url.starts_with("wss://");
        let endpoint = if ws {
            ws_endpoint(&o, url, headers)?
        } else {
            http_endpoint(&o, url, headers)?
        };
        let convert = parse_convert(o.convert.as_deref())?;
        if ws && convert != Convert::None {
            return Err(ConfigError::Conflict(
                "--convert",
                "a ws:// URL (streams are always 16-bit mono PCM at --sample-rate)",
            ));
        }
        let numbers = match o.numbers.as_deref() {
            None | Some("words") => Numbers::Words,
            Some("digits") => Numbers::Digits,
            Some("keep") => Numbers::Keep,
            Some(other) => {
                return Err(invalid(
                    "--numbers",
                    format!("'{other}' (expected words, digits or keep)"),
                ))
            }
        };
        let name = match &w.name {
            Some(n) if n.is_empty() || n.contains(['/', '\\']) || n == "." || n == ".." => {
                return Err(invalid("--name", format!("'{n}' is not a folder name")))
            }
            Some(n) => n.clone(),
            None => default_name("asr"),
        };
        let timeout = o.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(invalid("--timeout", "must be greater than 0"));
        }
        Ok(AsrPlan {
            out_dir: w
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("results"))
                .join(&name),
            name,
            endpoint,
            convert,
            language: o.language.clone(),
            inputs: inputs.iter().map(|p| p.display().to_string()).collect(),
            files: audio.len(),
            audio_s_total: audio.total_duration().as_secs_f64(),
            audio,
            normalization: Normalization { numbers },
            normalization_version: crate::metrics::wer::NORMALIZATION_VERSION,
            stages,
            slo,
            seed,
            timeout,
            grace: w.grace.unwrap_or(DEFAULT_GRACE),
            min_success: super::plan::min_success(w.min_success)?,
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        match &self.endpoint {
            AsrEndpoint::Http(t) => &t.url,
            AsrEndpoint::Ws(t) => &t.url,
        }
    }
}

/// `none`, `wav`, `wav:RATE`, `pcm` or `pcm:RATE` (16-bit mono; default 16 kHz).
fn parse_convert(spec: Option<&str>) -> Result<Convert, ConfigError> {
    let Some(spec) = spec.map(str::trim) else {
        return Ok(Convert::None);
    };
    let bad = || {
        invalid(
            "--convert",
            format!("'{spec}' (expected wav:RATE, pcm:RATE or none)"),
        )
    };
    let (kind, rate) = spec
        .split_once(':')
        .map_or((spec, None), |(k, r)| (k, Some(r)));
    let rate = match rate {
        None => 16_000,
        Some(r) => r.parse::<u32>().ok().filter(|r| *r > 0).ok_or_else(bad)?,
    };
    match kind {
        "none" | "" => Ok(Convert::None),
        "wav" => Ok(Convert::Wav { rate }),
        "pcm" => Ok(Convert::Pcm { rate }),
        _ => Err(bad()),
    }
}

fn http_endpoint(
    o: &AsrOptions,
    url: String,
    headers: Vec<(String, String)>,
) -> Result<AsrEndpoint, ConfigError> {
    let raw = match o.upload.as_deref() {
        None | Some("multipart") => false,
        Some("raw") => true,
        Some(other) => {
            return Err(invalid(
                "--upload",
                format!("'{other}' (expected multipart or raw)"),
            ))
        }
    };
    let trimmed = url.trim_end_matches('/');
    let has_path = trimmed
        .split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'));
    let url = if has_path || raw {
        url
    } else {
        format!("{trimmed}/v1/audio/transcriptions")
    };
    let upload = if raw {
        Upload::Raw
    } else {
        let mut fields = vec![
            (
                "model".to_string(),
                o.model.clone().unwrap_or_else(|| "whisper-1".into()),
            ),
            ("language".to_string(), "{{language}}".to_string()),
            (
                "response_format".to_string(),
                o.response_format.clone().unwrap_or_else(|| "json".into()),
            ),
        ];
        for f in o.field.as_deref().unwrap_or(&[]) {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| invalid("--field", format!("'{f}' is not name=value")))?;
            fields.retain(|(name, _)| name != k.trim());
            fields.push((k.trim().to_string(), v.to_string()));
        }
        Upload::Multipart {
            file_field: o.file_field.clone().unwrap_or_else(|| "file".into()),
            fields,
        }
    };
    let text_format = o.response_format.as_deref().is_some_and(|f| f == "text");
    let transcript_path = o.transcript_path.clone().unwrap_or_else(|| {
        if text_format {
            String::new()
        } else {
            "text".into()
        }
    });
    Ok(AsrEndpoint::Http(AsrTarget {
        url,
        upload,
        transcript_path,
        headers,
    }))
}

/// `--frame-encoding`: `binary`, or a JSON template with `{{audio}}`.
pub(crate) fn parse_frame_encoding(spec: Option<&str>) -> Result<FrameEncoding, ConfigError> {
    FrameEncoding::parse(spec).ok_or_else(|| {
        invalid(
            "--frame-encoding",
            format!(
                "'{}' (expected binary or a JSON template with {{{{audio}}}})",
                spec.unwrap_or_default()
            ),
        )
    })
}

fn ws_endpoint(
    o: &AsrOptions,
    url: String,
    headers: Vec<(String, String)>,
) -> Result<AsrEndpoint, ConfigError> {
    let frames = parse_frame_encoding(o.frame_encoding.as_deref())?;
    let target = WsAsrTarget {
        url,
        headers,
        sample_rate: o.sample_rate.unwrap_or(16_000),
        frame: o.frame.unwrap_or(Duration::from_millis(20)),
        start_message: template(
            o.start_message.clone(),
            Some(r#"{"type":"start","sample_rate":{{sample_rate}},"language":"{{language}}"}"#),
        ),
        frames,
        end_message: template(o.end_message.clone(), Some(r#"{"type":"end"}"#)),
        text_path: o.text_path.clone().unwrap_or_else(|| "text".into()),
        type_path: Some(o.type_path.clone().unwrap_or_else(|| "type".into())),
        final_type: o.final_type.clone().unwrap_or_else(|| "final".into()),
        final_flag_path: o.final_flag_path.clone(),
    };
    if target.sample_rate == 0 {
        return Err(invalid("--sample-rate", "must be greater than 0"));
    }
    target
        .validate()
        .map_err(|e| invalid("--url", e.to_string()))?;
    Ok(AsrEndpoint::Ws(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` as a scenario in a fresh folder: the folder, and what
    /// `from_file` made of it.
    fn scenario(text: &str) -> (tempfile::TempDir, Result<AsrOptions, String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("asr.toml");
        std::fs::write(&path, text).expect("write");
        let parsed = AsrOptions::from_file(&path).map_err(|e| e.to_string());
        (dir, parsed)
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_file_and_line() {
        for (text, line, word) in [
            (
                "url = \"http://h\"\nconcurrency = 2\nconcurency = 3\n",
                "line 3",
                "concurency",
            ),
            ("url = \"http://h\"\n[vendor]\nx = 1\n", "line 2", "vendor"),
            ("url = \"http://h\"\nrequests = \"x\"\n", "line 2", "u64"),
            ("url = \"http://h\"\nsample_rate = \"x\"\n", "line 2", "u32"),
        ] {
            let e = scenario(text).1.expect_err(text);
            assert!(e.contains("asr.toml"), "{e}");
            assert!(e.contains(line) && e.contains(word), "{e}");
        }
    }

    #[test]
    fn workload_keys_stay_top_level_and_flags_override_the_file() {
        let (dir, parsed) = scenario(
            "url = \"http://h\"\naudio = [\"a.wav\"]\nname = \"n\"\nseed = 7\n\
             concurrency = [1, 2]\nrequests = 5\nduration = \"2s\"\nslo = [\"e2e.p95<2s\"]\n",
        );
        let file = parsed.expect("parses");
        assert_eq!(file.audio, Some(vec![dir.path().join("a.wav")]));
        assert_eq!(file.workload.seed, Some(7));
        assert_eq!(file.workload.duration, Some(Duration::from_secs(2)));
        let json = serde_json::to_value(&file).expect("serialize");
        assert_eq!(json["requests"], 5, "{json}");
        assert!(json.get("workload").is_none() && json.get("unknown").is_none());
        let flags = AsrOptions {
            model: Some("m".into()),
            workload: WorkloadOptions {
                requests: Some(3),
                ..WorkloadOptions::default()
            },
            ..AsrOptions::default()
        };
        let o = file.merged_with(flags);
        assert_eq!(o.model.as_deref(), Some("m"));
        assert_eq!(o.workload.requests, Some(3));
        assert_eq!(o.workload.name.as_deref(), Some("n"));
        assert_eq!(o.workload.stages(1).expect("stages").len(), 2);
    }
}
