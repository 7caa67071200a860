//! The command line: subcommands and [`run()`]. The only module that parses
//! a command line; options are declared with their file keys in `config`
//! (clap derives there only describe them), and everything below takes
//! validated library types.

pub mod agent;
pub mod asr;
pub mod capacity;
pub mod corpus;
pub mod demo;
pub mod merge;
pub mod mock;
pub mod presets;
pub mod report;
pub mod run;
pub mod sample;
pub mod scale;
pub mod tts;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit code: the run finished (whatever the server answered).
pub const EXIT_OK: i32 = 0;
/// Exit code: voxload itself failed (bad input, unreachable output folder, …).
pub const EXIT_ERROR: i32 = 1;

/// An error and its causes as one line, `outer: inner: …`, leaving out a
/// cause whose text the line already holds (our typed errors name their
/// source in their own message, e.g. "cannot read FILE: No such file").
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
/// Exit code: the command line could not be parsed (clap's own code).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the run worked but an SLO threshold (`--slo`) or a
/// regression gate (`compare --fail-if`) failed.
pub const EXIT_THRESHOLDS: i32 = 3;

/// voxload: load tests and benchmarks for speech AI services.
#[derive(Debug, Parser)]
#[command(name = "voxload", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the embedded mock server and run a short TTS sweep, ASR sweep and voice-agent stage against it.
    Demo(demo::DemoArgs),
    /// Run a scenario file: one scenario, or TTS, ASR and voice-agent scenarios together.
    Run(Box<run::RunFileArgs>),
    /// Load-test a TTS endpoint (closed or open loop, sweeps).
    Tts(Box<tts::TtsArgs>),
    /// Load-test an ASR endpoint over HTTP or WebSocket, with WER when references exist.
    Asr(Box<asr::AsrArgs>),
    /// Load-test a voice agent over WebSocket: multi-turn calls in real time, barge-in.
    Agent(Box<agent::AgentArgs>),
    /// Find the highest load at which every --slo holds (95 % confidence): tts, asr, agent or a FILE.
    Capacity(Box<capacity::CapacityArgs>),
    /// Run the same stages or capacity search at each worker count (your --scale-cmd scales the target) and report scaling efficiency.
    Scale(Box<scale::ScaleArgs>),
    /// Render texts through a TTS endpoint into audio files and a manifest.jsonl.
    Corpus(Box<corpus::CorpusArgs>),
    /// Serve the embedded mock speech server.
    Mock(Box<mock::MockArgs>),
    /// One exchange shown in full, each message with how the rules read it: sample tts|asr|agent [options], or --url for TTS.
    Sample(Box<sample::SampleArgs>),
    /// List the built-in protocol presets (OpenAI Realtime, …), or print one: `voxload presets NAME`.
    Presets(presets::PresetsArgs),
    /// Show length statistics of a text samples file.
    Texts(TextsArgs),
    /// Regenerate summary, CSV, plots and HTML from a results folder.
    Report(report::ReportArgs),
    /// Compare two runs metric by metric, with confidence intervals.
    Compare(report::CompareArgs),
    /// Merge the shards of a sharded run (--shard) into one result, exactly; SLOs judged on the whole.
    Merge(merge::MergeArgs),
}

/// `voxload texts`.
#[derive(Debug, clap::Args)]
pub struct TextsArgs {
    /// The samples file.
    pub file: PathBuf,
    /// simple-json, id-prompt-json, axolotl-input-output, lines, jsonl [default: from the extension].
    #[arg(long)]
    pub format: Option<String>,
}

/// Run a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Demo(args) => demo::run_demo(args).await,
        Command::Run(args) => run::run_file(*args).await,
        Command::Tts(args) => tts::run_tts(*args).await,
        Command::Corpus(args) => corpus::run_corpus(*args).await,
        Command::Asr(args) => asr::run_asr(*args).await,
        Command::Agent(args) => agent::run_agent(*args).await,
        Command::Capacity(args) => capacity::run_capacity(*args).await,
        Command::Scale(args) => scale::run_scale(*args).await,
        Command::Mock(args) => mock::run_mock(*args).await.map(|()| EXIT_OK),
        Command::Sample(args) => sample::run_sample(*args).await,
        Command::Texts(args) => texts(args),
        Command::Presets(args) => presets::run_presets(&args),
        Command::Report(args) => report::run_report(args).await,
        Command::Compare(args) => report::run_compare(args).await,
        Command::Merge(args) => merge::run_merge(args).await,
    }
}

fn texts(args: TextsArgs) -> anyhow::Result<i32> {
    use crate::input::{SampleFormat, TextSamples, TextStats};
    let format = match &args.format {
        Some(f) => SampleFormat::parse(f)?,
        None => SampleFormat::guess(&args.file),
    };
    let samples = TextSamples::load(&args.file, format)?;
    println!("{}", TextStats::of(&samples));
    Ok(EXIT_OK)
}
