//! `voxload agent`: load-test a voice agent over WebSocket with multi-turn
//! conversations in real time, optionally barging in.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::tts::{duration, some_vec, WorkloadArgs};
use crate::config::agent::{AgentOptions, AgentPlan};
use crate::config::workload::WorkloadOptions;

/// `voxload agent`.
#[derive(Debug, Clone, Default, Args)]
pub struct AgentArgs {
    /// TOML scenario: [[script]] conversations (turn audio files, a corpus manifest, or texts), message shapes, workload.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Agent WebSocket URL (ws:// or wss://).
    #[arg(long)]
    pub url: Option<String>,
    /// Extra handshake header `Name: value` (repeatable). Secret values are redacted on output.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// Read the API key from this environment variable (sent as `Authorization: Bearer KEY`).
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    /// Share of turns (0..1) whose answer the caller interrupts with its next utterance [default: 0].
    #[arg(long, value_name = "SHARE", allow_negative_numbers = true)]
    pub barge_in: Option<f64>,
    /// How far into the answer's audio the caller interrupts [default: 500ms].
    #[arg(long, value_parser = duration)]
    pub barge_in_after: Option<Duration>,
    /// Barge-in counts as ignored if agent audio arrived this close to the end of the interruption [default: 200ms].
    #[arg(long, value_parser = duration)]
    pub barge_in_quiet: Option<Duration>,
    /// Pause after an answer finished playing before the next utterance [default: 500ms].
    #[arg(long, value_parser = duration)]
    pub pause: Option<Duration>,
    /// Send this message after each utterance (e.g. '{"type":"end_of_speech"}') [default: none, the agent detects silence].
    #[arg(long, value_name = "JSON")]
    pub end_of_speech_message: Option<String>,
    /// Start message template ({{sample_rate}}); '' for none [default: {"type":"start","sample_rate":…}].
    #[arg(long, value_name = "JSON")]
    pub start_message: Option<String>,
    /// Send nothing between utterances instead of low-level noise frames.
    #[arg(long)]
    pub no_noise: bool,
    /// Caller frames: binary, or a JSON template with {{audio}} for base64 PCM [default: binary].
    #[arg(long)]
    pub frame_encoding: Option<String>,
    /// Caller audio per frame [default: 20ms].
    #[arg(long, value_parser = duration)]
    pub frame: Option<Duration>,
    /// Sample rate of the caller's 16-bit mono PCM [default: 16000].
    #[arg(long)]
    pub sample_rate: Option<u32>,
    /// Sample rate of the agent's 16-bit mono PCM, for audio seconds [default: 16000].
    #[arg(long)]
    pub agent_sample_rate: Option<u32>,
    /// Dotted path of the type in agent messages [default: type].
    #[arg(long)]
    pub type_path: Option<String>,
    /// Type(s) of JSON audio messages, comma-separated [default: audio].
    #[arg(long, value_delimiter = ',')]
    pub audio_types: Vec<String>,
    /// Dotted path of the base64 audio in them [default: audio].
    #[arg(long)]
    pub audio_path: Option<String>,
    /// Type(s) of the agent's transcript of the caller [default: transcript].
    #[arg(long, value_delimiter = ',')]
    pub transcript_types: Vec<String>,
    /// Type(s) of agent text messages [default: response_text].
    #[arg(long, value_delimiter = ',')]
    pub text_types: Vec<String>,
    /// Type(s) that end a response [default: response_end].
    #[arg(long, value_delimiter = ',')]
    pub end_types: Vec<String>,
    /// Type(s) of the interruption message [default: interrupted].
    #[arg(long, value_delimiter = ',')]
    pub interrupt_types: Vec<String>,
    /// A call fails if the WebSocket is not open (TCP connect and upgrade) within this [default: 10s].
    #[arg(long, value_parser = duration)]
    pub connect_timeout: Option<Duration>,
    /// A turn fails without agent audio this long after the end of speech [default: 5s].
    #[arg(long, value_parser = duration)]
    pub answer_timeout: Option<Duration>,
    /// Without an end message, a response is over after this long without agent messages [default: 1s].
    #[arg(long, value_parser = duration)]
    pub response_idle: Option<Duration>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: WorkloadArgs,
}

impl WorkloadArgs {
    /// The workload options these flags set (unset flags stay `None`).
    pub fn workload_options(&self) -> WorkloadOptions {
        WorkloadOptions {
            name: self.name.clone(),
            out: self.out.clone(),
            seed: self.seed,
            concurrency: self.concurrency.clone(),
            spawn_rate: self.spawn_rate,
            think_time: self.think_time,
            rate: self.rate.clone(),
            burstiness: self.burstiness,
            max_in_flight: self.max_in_flight,
            requests: self.requests,
            duration: self.duration,
            warmup: self.warmup,
            grace: self.grace,
            slo: some_vec(&self.slo),
            min_success: self.min_success,
        }
    }
}

impl AgentArgs {
    /// The options these flags set (unset flags stay `None`).
    pub fn options(&self) -> AgentOptions {
        AgentOptions {
            url: self.url.clone(),
            header: some_vec(&self.header),
            api_key_env: self.api_key_env.clone(),
            sample_rate: self.sample_rate,
            frame: self.frame,
            frame_encoding: self.frame_encoding.clone(),
            start_message: self.start_message.clone(),
            end_of_speech_message: self.end_of_speech_message.clone(),
            noise: self.no_noise.then_some(false),
            type_path: self.type_path.clone(),
            audio_types: some_vec(&self.audio_types),
            audio_path: self.audio_path.clone(),
            transcript_types: some_vec(&self.transcript_types),
            transcript_final_path: None,
            text_types: some_vec(&self.text_types),
            end_types: some_vec(&self.end_types),
            interrupt_types: some_vec(&self.interrupt_types),
            agent_sample_rate: self.agent_sample_rate,
            connect_timeout: self.connect_timeout,
            answer_timeout: self.answer_timeout,
            response_idle: self.response_idle,
            response_timeout: None,
            barge_in: self.barge_in,
            barge_in_after: self.barge_in_after,
            barge_in_quiet: self.barge_in_quiet,
            pause: self.pause,
            script: None,
            workload: self.run.workload_options(),
            unknown: Default::default(),
        }
    }
}

/// Merge scenario file and flags into a validated plan.
pub fn plan_from_args(args: &AgentArgs) -> anyhow::Result<AgentPlan> {
    let file = match &args.config {
        Some(path) => AgentOptions::from_file(path)?,
        None => AgentOptions::default(),
    };
    let opts = file.merged_with(args.options());
    Ok(AgentPlan::from_options(opts, &|n| std::env::var(n).ok())?)
}
