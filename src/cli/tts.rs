//! Flags of `voxload tts` (and the target flags `voxload sample` shares).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::config::levels::Levels;
use crate::config::TtsOptions;

/// Parse a humantime duration flag.
pub fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 250ms, 30s, 2m)"))
}

/// Where requests go and how answers are read.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// Server base URL (`http://host:port`, the OpenAI path is added) or full endpoint URL.
    #[arg(long)]
    pub url: Option<String>,
    /// A vendor file with a `[target]` table (body template, framing, audio path).
    #[arg(long, value_name = "FILE")]
    pub target: Option<PathBuf>,
    /// Model name sent to the server [default: tts-1].
    #[arg(long)]
    pub model: Option<String>,
    /// Voice; repeat or comma-separate to use several round-robin [default: alloy].
    #[arg(long, value_delimiter = ',')]
    pub voice: Vec<String>,
    /// Response audio: pcm[:RATE[:CHANNELS]] (pcm = 24 kHz mono), wav, mp3, opus, flac [default: pcm].
    #[arg(long)]
    pub format: Option<String>,
    /// OpenAI adapter: request SSE events (`stream_format: "sse"`) instead of raw audio bytes.
    #[arg(long)]
    pub sse: bool,
    /// Extra request header `Name: value` (repeatable). Secret values are redacted on output.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// Read the API key from this environment variable and send `Authorization: Bearer KEY`.
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    /// Per-request timeout [default: 60s].
    #[arg(long, value_parser = duration)]
    pub timeout: Option<Duration>,
}

/// `voxload tts`: load-test a TTS endpoint.
#[derive(Debug, Clone, Default, Args)]
pub struct TtsArgs {
    /// TOML scenario file with the same options (flags override it).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: TargetArgs,
    /// Text samples file [default: a bundled English set].
    #[arg(long, value_name = "FILE")]
    pub texts: Option<PathBuf>,
    /// Samples format: simple-json, id-prompt-json, axolotl-input-output, lines, jsonl [default: from the extension].
    #[arg(long)]
    pub texts_format: Option<String>,
    /// Prepend random words to each text to defeat server caches.
    #[arg(long)]
    pub random_prefix: bool,
    /// Audio chunks to time, e.g. 1,4,10 [default: 1,4].
    #[arg(long, value_delimiter = ',')]
    pub chunks: Vec<u32>,
    /// Pre-buffer of the playback model before playing starts [default: 0].
    #[arg(long, value_parser = duration)]
    pub prebuffer: Option<Duration>,
    /// Do not count silent, empty or too-short audio as failures.
    #[arg(long)]
    pub no_sanity: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: WorkloadArgs,
}

/// When requests start and where results go: shared by every run command.
#[derive(Debug, Clone, Default, Args)]
pub struct WorkloadArgs {
    /// Closed loop: concurrent users; a list or range is a sweep (`1,2,4,8` or `1:16:1`).
    #[arg(long, value_name = "LEVELS")]
    pub concurrency: Option<Levels>,
    /// Closed loop: users started per second [default: all at once].
    #[arg(long)]
    pub spawn_rate: Option<f64>,
    /// Closed loop: pause of each user between requests.
    #[arg(long, value_parser = duration)]
    pub think_time: Option<Duration>,
    /// Open loop: arrivals per second; a list or range is a sweep (`1,3,5,7` or `1:7:2`).
    #[arg(long, value_name = "LEVELS")]
    pub rate: Option<Levels>,
    /// Open loop: gamma shape of inter-arrival times (1 = Poisson, <1 bursty, >1 regular) [default: constant spacing].
    #[arg(long)]
    pub burstiness: Option<f64>,
    /// Open loop: at most this many requests in flight; arrivals over it are counted as dropped [default: 10000].
    #[arg(long)]
    pub max_in_flight: Option<usize>,
    /// Requests per stage [default: 100 when --duration is not given].
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Length of each stage (e.g. 30s, 5m).
    #[arg(long, short = 'd', value_parser = duration)]
    pub duration: Option<Duration>,
    /// Warm-up requests per stage, excluded from statistics.
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Seed for arrivals (and random prefixes) [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run name; results go to OUT/NAME [default: KIND-DATE-TIME].
    #[arg(long)]
    pub name: Option<String>,
    /// Results root folder [default: results].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// After Ctrl-C, how long requests in flight may finish [default: 10s].
    #[arg(long, value_parser = duration)]
    pub grace: Option<Duration>,
    /// SLO threshold checked on every stage, e.g. 'ttfa.p95<300ms', 'errors<1%', 'rtf.p99<1'
    /// (repeatable). A failed threshold makes the exit code 3.
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<String>,
    /// No live progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Sweeps: report as best the level with the highest throughput whose
    /// success rate is at least this [default: 0.95].
    #[arg(long, value_name = "FRACTION")]
    pub min_success: Option<f64>,
}

/// `Some(v)` unless empty.
pub fn some_vec<T>(v: &[T]) -> Option<Vec<T>>
where
    T: Clone,
{
    (!v.is_empty()).then(|| v.to_vec())
}

impl TargetArgs {
    /// The options these flags set (unset flags stay `None`).
    pub fn options(&self) -> TtsOptions {
        TtsOptions {
            url: self.url.clone(),
            model: self.model.clone(),
            voice: some_vec(&self.voice),
            format: self.format.clone(),
            sse: self.sse.then_some(true),
            header: some_vec(&self.header),
            api_key_env: self.api_key_env.clone(),
            timeout: self.timeout,
            ..TtsOptions::default()
        }
    }
}

impl TtsArgs {
    /// The options these flags set (unset flags stay `None`, so a scenario file can fill them).
    pub fn options(&self) -> TtsOptions {
        TtsOptions {
            concurrency: self.run.concurrency.clone(),
            spawn_rate: self.run.spawn_rate,
            think_time: self.run.think_time,
            rate: self.run.rate.clone(),
            burstiness: self.run.burstiness,
            max_in_flight: self.run.max_in_flight,
            requests: self.run.requests,
            duration: self.run.duration,
            warmup: self.run.warmup,
            texts: self.texts.clone(),
            texts_format: self.texts_format.clone(),
            random_prefix: self.random_prefix.then_some(true),
            seed: self.run.seed,
            chunks: some_vec(&self.chunks),
            prebuffer: self.prebuffer,
            no_sanity: self.no_sanity.then_some(true),
            name: self.run.name.clone(),
            out: self.run.out.clone(),
            grace: self.run.grace,
            slo: some_vec(&self.run.slo),
            min_success: self.run.min_success,
            ..self.target.options()
        }
    }
}
