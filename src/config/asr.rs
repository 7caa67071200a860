//! ASR scenarios: their options (flags and file keys, declared once) and
//! what they become — an HTTP or WebSocket target and the audio to send.
//!
//! A vendor is configuration: upload shape, form fields, transcript path,
//! WebSocket message templates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{invalid, positive, ws_max_message, ConfigError};
use super::target::{parse_codec, templates, with_default_path, ErrorEventOptions, HeaderOptions};
use super::tts::DEFAULT_TIMEOUT;
use crate::input::AudioSet;
use crate::metrics::wer::{Normalization, Numbers};
use crate::protocol::http_asr::{AsrTarget, Upload};
use crate::protocol::ws_asr::{FrameEncoding, KeepAlive, WsAsrTarget};
use crate::protocol::Target;
use crate::units::{parse_bytes, parse_duration};

/// Every option of an ASR scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct AsrOptions {
    /// Server URL: `http://host:port` (OpenAI path added), a full endpoint URL, or `ws://…` for streaming.
    #[arg(long)]
    pub url: Option<String>,
    /// Audio inputs: files, folders, or manifest.jsonl files (path, text, language per line). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub audio: Option<Vec<PathBuf>>,
    /// Instead of audio files: a text spoken by the built-in test voice, its own reference
    /// (repeatable). The voice is tones voxload's mock transcribes; a real ASR needs real
    /// speech (render texts with `voxload corpus`).
    #[arg(long = "text", value_name = "TEXT")]
    pub texts: Option<Vec<String>>,
    /// Model (multipart field `model`; {{model}} in streaming messages) [default: whisper-1 over HTTP].
    #[arg(long)]
    pub model: Option<String>,
    /// Language for files without one in the manifest.
    #[arg(long)]
    pub language: Option<String>,
    /// Multipart response_format: json, text, verbose_json [default: json].
    #[arg(long)]
    pub response_format: Option<String>,
    /// Upload shape: multipart (OpenAI) or raw (the audio is the body).
    #[arg(long)]
    pub upload: Option<String>,
    /// Name of the multipart file part [default: file].
    #[arg(long)]
    pub file_field: Option<String>,
    /// Extra multipart field `name=value` (repeatable), e.g. model_name=large-v3.
    #[arg(long, value_name = "NAME=VALUE")]
    pub field: Option<Vec<String>>,
    /// Dotted JSON path of the transcript [default: text]; empty string = plain-text body.
    #[arg(long)]
    pub transcript_path: Option<String>,
    /// Convert uploads first: wav:16000, pcm:16000 (16-bit mono) or none [default: none].
    #[arg(long)]
    pub convert: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub headers: HeaderOptions,
    /// Per-request timeout [default: 60s].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub timeout: Option<Duration>,
    /// WER normalization of numbers: words, digits or keep [default: words].
    #[arg(long)]
    pub numbers: Option<String>,
    /// Streaming: audio per frame [default: 20ms].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub frame: Option<Duration>,
    /// Streaming: sample rate of the audio sent (and of spoken texts) [default: 16000].
    #[arg(long)]
    pub sample_rate: Option<u32>,
    /// Streaming: sample encoding: pcm16, mulaw or alaw (G.711, e.g. 8 kHz telephony) [default: pcm16].
    #[arg(long)]
    pub codec: Option<String>,
    /// Streaming: start message template ({{sample_rate}}, {{language}}), repeat for several in order; '' for none.
    #[arg(long)]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub start_message: Option<Vec<String>>,
    /// Streaming: end-of-audio message template, repeat for several; '' for none [default: {"type":"end"}].
    #[arg(long)]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub end_message: Option<Vec<String>>,
    /// Streaming: binary, or a JSON template with {{audio}} for base64 frames [default: binary].
    #[arg(long)]
    pub frame_encoding: Option<String>,
    /// Streaming: dotted path(s) of the transcript in server messages, the first present wins (e.g. text,delta) [default: text].
    #[arg(long, value_delimiter = ',')]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub text_path: Option<Vec<String>>,
    /// Streaming: dotted path of the message type [default: type].
    #[arg(long)]
    pub type_path: Option<String>,
    /// Streaming: type value of the final transcript [default: final].
    #[arg(long)]
    pub final_type: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub errors: ErrorEventOptions,
    /// Streaming: dotted path of a boolean "is final" flag, instead of a type.
    #[arg(long)]
    pub final_flag_path: Option<String>,
    /// Streaming: type(s) of the message that ends the session (e.g. Metadata); with them
    /// a final is one segment, the transcript is the finals joined [default: none, the
    /// first final after the audio ends the session].
    #[arg(long, value_delimiter = ',')]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub done_type: Option<Vec<String>>,
    /// Streaming: a keep-alive message sent every --keepalive-every from the end of the
    /// audio until the session ends (e.g. {"type":"KeepAlive"}) [default: none].
    #[arg(long)]
    pub keepalive_message: Option<String>,
    /// Streaming: period of --keepalive-message [default: 5s].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub keepalive_every: Option<Duration>,
    /// Streaming: Largest message accepted from the server, e.g. 16MiB, 64KiB or bytes
    /// (a longer one fails as `protocol`) [default: 16MiB].
    #[arg(long, value_parser = parse_bytes)]
    #[serde(default, with = "crate::units::serde_bytes_option")]
    pub ws_max_message: Option<u64>,
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

/// What ASR requests send, and how transcripts are scored.
#[derive(Debug, Clone, Serialize)]
pub struct AsrInputs {
    /// HTTP upload conversion.
    pub convert: Convert,
    /// Language for files without their own.
    pub language: Option<String>,
    /// Input description (paths, or `N texts spoken by the test voice`).
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
    /// Per-request timeout.
    #[serde(with = "crate::units::serde_duration")]
    pub timeout: Duration,
}

impl AsrOptions {
    /// Relative audio paths in a scenario file are relative to its folder.
    pub fn rebase(&mut self, dir: &Path) {
        for a in self.audio.iter_mut().flatten().filter(|a| a.is_relative()) {
            *a = dir.join(&*a);
        }
    }

    /// Validate into the target and the inputs; reads and decodes every
    /// audio input now, so a bad file fails before any request is sent.
    pub fn build(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Target, AsrInputs), ConfigError> {
        let o = self;
        let url = o.url.clone().ok_or(ConfigError::Missing("--url"))?;
        let ws = url.starts_with("ws://") || url.starts_with("wss://");
        let sample_rate = o.sample_rate.unwrap_or(16_000);
        if sample_rate == 0 {
            return Err(invalid("--sample-rate", "must be greater than 0"));
        }
        let (audio, inputs) = match (&o.audio, &o.texts) {
            (Some(_), Some(_)) => return Err(ConfigError::Conflict("--audio", "--text")),
            (Some(paths), None) if !paths.is_empty() => (
                AudioSet::load(paths)?,
                paths.iter().map(|p| p.display().to_string()).collect(),
            ),
            (None, Some(texts)) if !texts.is_empty() => (
                AudioSet::spoken(texts, sample_rate),
                vec![format!("{} texts spoken by the test voice", texts.len())],
            ),
            _ => {
                return Err(ConfigError::Missing(
                    "--audio (audio files, a folder or a manifest.jsonl) or --text",
                ))
            }
        };
        let headers = o.headers.resolve(env)?;
        let convert = parse_convert(o.convert.as_deref())?;
        if ws && convert != Convert::None {
            return Err(ConfigError::Conflict(
                "--convert",
                "a ws:// URL (streams are always mono at --sample-rate, in --codec)",
            ));
        }
        if !ws && o.codec.is_some() {
            return Err(ConfigError::Conflict(
                "--codec",
                "an http:// URL (uploads are files; see --convert)",
            ));
        }
        let target = if ws {
            Target::WsAsr(ws_target(o, url, headers, sample_rate)?)
        } else {
            Target::HttpAsr(http_target(o, url, headers)?)
        };
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
        let timeout = positive(o.timeout, DEFAULT_TIMEOUT, "--timeout")?;
        let inputs = AsrInputs {
            convert,
            language: o.language.clone(),
            inputs,
            files: audio.len(),
            audio_s_total: audio.total_duration().as_secs_f64(),
            audio,
            normalization: Normalization { numbers },
            normalization_version: crate::metrics::wer::NORMALIZATION_VERSION,
            timeout,
        };
        Ok((target, inputs))
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

fn http_target(
    o: &AsrOptions,
    url: String,
    headers: Vec<(String, String)>,
) -> Result<AsrTarget, ConfigError> {
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
    let url = if raw {
        url
    } else {
        with_default_path(&url, "/v1/audio/transcriptions")
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
    Ok(AsrTarget {
        url,
        upload,
        transcript_path,
        headers,
    })
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

/// The keep-alive: a message, and a period only with one.
fn keepalive(o: &AsrOptions) -> Result<Option<KeepAlive>, ConfigError> {
    let every = positive(
        o.keepalive_every,
        Duration::from_secs(5),
        "--keepalive-every",
    )?;
    match (
        o.keepalive_message.as_deref().filter(|m| !m.is_empty()),
        o.keepalive_every,
    ) {
        (Some(m), _) => Ok(Some(KeepAlive {
            message: m.to_string(),
            every,
        })),
        (None, Some(_)) => Err(invalid(
            "--keepalive-every",
            "needs --keepalive-message (what to send)".to_string(),
        )),
        (None, None) => Ok(None),
    }
}

fn ws_target(
    o: &AsrOptions,
    url: String,
    headers: Vec<(String, String)>,
    sample_rate: u32,
) -> Result<WsAsrTarget, ConfigError> {
    let frames = parse_frame_encoding(o.frame_encoding.as_deref())?;
    let target = WsAsrTarget {
        url,
        headers,
        sample_rate,
        codec: parse_codec(o.codec.as_deref())?,
        frame: positive(o.frame, Duration::from_millis(20), "--frame")?,
        start_messages: templates(
            o.start_message.clone(),
            Some(r#"{"type":"start","sample_rate":{{sample_rate}},"language":"{{language}}"}"#),
        ),
        frames,
        end_messages: templates(o.end_message.clone(), Some(r#"{"type":"end"}"#)),
        text_paths: o.text_path.clone().unwrap_or_else(|| vec!["text".into()]),
        model: o.model.clone().unwrap_or_default(),
        errors: o.errors.build(),
        type_path: Some(o.type_path.clone().unwrap_or_else(|| "type".into())),
        final_type: o.final_type.clone().unwrap_or_else(|| "final".into()),
        final_flag_path: o.final_flag_path.clone(),
        done_types: o.done_type.clone().unwrap_or_default(),
        keepalive: keepalive(o)?,
        max_message_bytes: ws_max_message(o.ws_max_message)?,
    };
    let names_model = target
        .start_messages
        .iter()
        .chain(&target.end_messages)
        .any(|m| m.contains("{{model}}"));
    if names_model && target.model.is_empty() {
        return Err(ConfigError::Missing(
            "--model (the streaming messages name the model: {{model}})",
        ));
    }
    target
        .validate()
        .map_err(|e| invalid("--url", e.to_string()))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoken_texts_are_inputs_with_their_references() {
        let o = AsrOptions {
            url: Some("http://h".into()),
            texts: Some(vec!["hello there".into(), "good morning".into()]),
            ..AsrOptions::default()
        };
        let (target, inputs) = o.build(&|_| None).expect("valid");
        assert!(
            matches!(target, Target::HttpAsr(ref t) if t.url == "http://h/v1/audio/transcriptions")
        );
        assert_eq!(inputs.files, 2);
        let second = &inputs.audio.items()[1];
        assert_eq!(second.reference.as_deref(), Some("good morning"));
        // 11 characters at the test voice's 15 per second.
        let first = inputs.audio.items()[0].duration.as_secs_f64();
        assert!((first - 11.0 / 15.0).abs() < 0.01, "{first}");
    }

    #[test]
    fn bad_options_are_named() {
        let base = AsrOptions {
            url: Some("ws://h/x".into()),
            texts: Some(vec!["a".into()]),
            ..AsrOptions::default()
        };
        let cases = [
            (
                AsrOptions {
                    frame: Some(Duration::ZERO),
                    ..base.clone()
                },
                "--frame",
            ),
            (
                AsrOptions {
                    sample_rate: Some(0),
                    ..base.clone()
                },
                "--sample-rate",
            ),
            (
                AsrOptions {
                    convert: Some("wav".into()),
                    ..base.clone()
                },
                "--convert",
            ),
            (
                AsrOptions {
                    numbers: Some("roman".into()),
                    ..base.clone()
                },
                "--numbers",
            ),
            (
                AsrOptions {
                    texts: None,
                    ..base.clone()
                },
                "--audio",
            ),
            (
                AsrOptions {
                    ws_max_message: Some(0),
                    ..base.clone()
                },
                "--ws-max-message",
            ),
            (
                AsrOptions {
                    audio: Some(vec!["a.wav".into()]),
                    ..base.clone()
                },
                "--text",
            ),
        ];
        for (o, flag) in cases {
            let e = o.build(&|_| None).expect_err(flag).to_string();
            assert!(e.contains(flag), "{flag}: {e}");
        }
    }

    #[test]
    fn the_ws_message_limit_is_a_size_in_files_and_on_the_command_line() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            asr: AsrOptions,
        }
        let cli = Cli::try_parse_from(["x", "--ws-max-message", "64KiB"]).expect("flag");
        assert_eq!(cli.asr.ws_max_message, Some(64 << 10));
        assert!(Cli::try_parse_from(["x", "--ws-max-message", "lots"]).is_err());
        for (text, bytes) in [
            (r#"ws_max_message = "1MiB""#, 1 << 20),
            ("ws_max_message = 5000", 5000),
        ] {
            let o: AsrOptions = toml::from_str(text).expect(text);
            assert_eq!(o.ws_max_message, Some(bytes), "{text}");
        }
        let o = AsrOptions {
            url: Some("ws://h/x".into()),
            texts: Some(vec!["a".into()]),
            ws_max_message: Some(2 << 20),
            ..AsrOptions::default()
        };
        let Target::WsAsr(t) = o.build(&|_| None).expect("valid").0 else {
            panic!("a WebSocket target");
        };
        assert_eq!(t.max_message_bytes, 2 << 20);
        let Target::WsAsr(t) = AsrOptions {
            ws_max_message: None,
            ..o
        }
        .build(&|_| None)
        .expect("valid")
        .0
        else {
            panic!("a WebSocket target");
        };
        assert_eq!(t.max_message_bytes, 16 << 20);
    }
}
