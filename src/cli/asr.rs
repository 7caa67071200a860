//! `voxload asr`: load-test a transcription service over HTTP or WebSocket.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::tts::{duration, some_vec, WorkloadArgs};
use crate::config::asr::{AsrOptions, AsrPlan};

/// `voxload asr`.
#[derive(Debug, Clone, Default, Args)]
pub struct AsrArgs {
    /// TOML scenario (a vendor is a file: upload shape, fields, transcript path, WS messages).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Server URL: `http://host:port` (OpenAI path added), a full endpoint URL, or `ws://…` for streaming.
    #[arg(long)]
    pub url: Option<String>,
    /// Audio inputs: files, folders, or manifest.jsonl files (path, text, language per line). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub audio: Vec<PathBuf>,
    /// Model (multipart field `model`) [default: whisper-1].
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
    /// Extra multipart field `name=value` (repeatable), e.g. model_name=large-v3.
    #[arg(long, value_name = "NAME=VALUE")]
    pub field: Vec<String>,
    /// Dotted JSON path of the transcript [default: text]; empty string = plain-text body.
    #[arg(long)]
    pub transcript_path: Option<String>,
    /// Convert uploads first: wav:16000, pcm:16000 (16-bit mono) or none [default: none].
    #[arg(long)]
    pub convert: Option<String>,
    /// Extra request header `Name: value` (repeatable). Secret values are redacted on output.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// Read the API key from this environment variable (sent as `Authorization: Bearer KEY`).
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    /// Per-request timeout [default: 60s].
    #[arg(long, value_parser = duration)]
    pub timeout: Option<Duration>,
    /// WER normalization of numbers: words, digits or keep [default: words].
    #[arg(long)]
    pub numbers: Option<String>,
    /// Streaming: audio per frame [default: 20ms].
    #[arg(long, value_parser = duration)]
    pub frame: Option<Duration>,
    /// Streaming: sample rate of the 16-bit mono PCM sent [default: 16000].
    #[arg(long)]
    pub sample_rate: Option<u32>,
    /// Streaming: start message template ({{sample_rate}}, {{language}}); '' for none.
    #[arg(long)]
    pub start_message: Option<String>,
    /// Streaming: end-of-audio message template; '' for none [default: {"type":"end"}].
    #[arg(long)]
    pub end_message: Option<String>,
    /// Streaming: binary, or a JSON template with {{audio}} for base64 frames [default: binary].
    #[arg(long)]
    pub frame_encoding: Option<String>,
    /// Streaming: dotted path of the transcript in server messages [default: text].
    #[arg(long)]
    pub text_path: Option<String>,
    /// Streaming: dotted path of the message type [default: type].
    #[arg(long)]
    pub type_path: Option<String>,
    /// Streaming: type value of the final transcript [default: final].
    #[arg(long)]
    pub final_type: Option<String>,
    /// Streaming: dotted path of a boolean "is final" flag, instead of a type.
    #[arg(long)]
    pub final_flag_path: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: WorkloadArgs,
}

impl AsrArgs {
    /// The options these flags set (unset flags stay `None`).
    pub fn options(&self) -> AsrOptions {
        AsrOptions {
            url: self.url.clone(),
            audio: some_vec(&self.audio),
            model: self.model.clone(),
            language: self.language.clone(),
            response_format: self.response_format.clone(),
            upload: self.upload.clone(),
            file_field: None,
            field: some_vec(&self.field),
            transcript_path: self.transcript_path.clone(),
            convert: self.convert.clone(),
            header: some_vec(&self.header),
            api_key_env: self.api_key_env.clone(),
            timeout: self.timeout,
            numbers: self.numbers.clone(),
            frame: self.frame,
            sample_rate: self.sample_rate,
            start_message: self.start_message.clone(),
            end_message: self.end_message.clone(),
            frame_encoding: self.frame_encoding.clone(),
            text_path: self.text_path.clone(),
            type_path: self.type_path.clone(),
            final_type: self.final_type.clone(),
            final_flag_path: self.final_flag_path.clone(),
            workload: self.run.workload_options(),
            unknown: Default::default(),
        }
    }
}

/// Merge scenario file and flags into a validated plan.
pub fn plan_from_args(args: &AsrArgs) -> anyhow::Result<AsrPlan> {
    let file = match &args.config {
        Some(path) => AsrOptions::from_file(path)?,
        None => AsrOptions::default(),
    };
    let opts = file.merged_with(args.options());
    Ok(AsrPlan::from_options(opts, &|n| std::env::var(n).ok())?)
}
