//! The command line: clap types and [`run`]. The only module that knows clap;
//! everything below it takes validated library types.

pub mod agent;
pub mod asr;
pub mod corpus;
pub mod demo;
pub mod mock;
pub mod report;
pub mod sample;
pub mod tts;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::{RunPlan, TtsOptions};
use crate::runner::{run_tts, RunOptions};
use crate::workload::Stop;

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
    /// Load-test a TTS endpoint (closed or open loop, sweeps).
    Tts(Box<tts::TtsArgs>),
    /// Load-test an ASR endpoint over HTTP or WebSocket, with WER when references exist.
    Asr(Box<asr::AsrArgs>),
    /// Load-test a voice agent over WebSocket: multi-turn calls in real time, barge-in.
    Agent(Box<agent::AgentArgs>),
    /// Render texts through a TTS endpoint into audio files and a manifest.jsonl.
    Corpus(Box<corpus::CorpusArgs>),
    /// Serve the embedded mock speech server.
    Mock(Box<mock::MockArgs>),
    /// Send one request and show what came back (status, headers, chunks, audio).
    Sample(sample::SampleArgs),
    /// Show length statistics of a text samples file.
    Texts(TextsArgs),
    /// Regenerate summary, CSV, plots and HTML from a results folder.
    Report(report::ReportArgs),
    /// Compare two runs metric by metric, with confidence intervals.
    Compare(report::CompareArgs),
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
        Command::Tts(args) => run_tts_command(*args).await,
        Command::Corpus(args) => corpus::run_corpus(*args).await,
        Command::Asr(args) => run_asr_command(*args).await,
        Command::Agent(args) => run_agent_command(*args).await,
        Command::Mock(args) => mock::run_mock(*args).await.map(|()| EXIT_OK),
        Command::Sample(args) => sample::run_sample(args).await,
        Command::Texts(args) => texts(args),
        Command::Report(args) => report::run_report(args).await,
        Command::Compare(args) => report::run_compare(args).await,
    }
}

/// Merge the scenario file, a vendor file and flags into a plan.
pub fn plan_from_args(args: &tts::TtsArgs) -> anyhow::Result<RunPlan> {
    let mut opts = match &args.config {
        Some(path) => TtsOptions::from_file(path)?,
        None => TtsOptions::default(),
    };
    if let Some(path) = &args.target.target {
        opts.target = Some(TtsOptions::target_from_file(path)?);
    }
    let opts = opts.merged_with(args.options());
    let plan = RunPlan::from_options(opts, &|name| std::env::var(name).ok())?;
    Ok(plan)
}

async fn run_tts_command(args: tts::TtsArgs) -> anyhow::Result<i32> {
    let plan = plan_from_args(&args)?;
    execute_plan(plan, args.run.quiet).await
}

async fn run_asr_command(args: asr::AsrArgs) -> anyhow::Result<i32> {
    let plan = asr::plan_from_args(&args)?;
    execute_asr_plan(plan, args.run.quiet).await
}

async fn run_agent_command(args: agent::AgentArgs) -> anyhow::Result<i32> {
    let plan = agent::plan_from_args(&args)?;
    execute_agent_plan(plan, args.run.quiet).await
}

/// Run a voice-agent plan with Ctrl-C handling, print the summary, choose the exit code.
pub async fn execute_agent_plan(
    plan: crate::config::agent::AgentPlan,
    quiet: bool,
) -> anyhow::Result<i32> {
    let stop = Stop::default();
    crate::shutdown::install(stop.clone(), plan.grace);
    let scripts: Vec<String> = plan
        .scripts
        .iter()
        .map(|s| format!("{} ({} turns)", s.name, s.turns.len()))
        .collect();
    eprintln!(
        "voxload: {} → {} ({} stage{}, scripts: {}, barge-in on {:.0}% of turns)",
        plan.name,
        plan.target.url,
        plan.stages.len(),
        if plan.stages.len() == 1 { "" } else { "s" },
        scripts.join(", "),
        plan.barge_in * 100.0
    );
    let (result, out) = crate::runner::run_agent(plan, stop.clone(), RunOptions { quiet })
        .await
        .context("run failed")?;
    finish(&result, &out, &stop)
}

/// Run an ASR plan with Ctrl-C handling, print the summary, choose the exit code.
pub async fn execute_asr_plan(
    plan: crate::config::asr::AsrPlan,
    quiet: bool,
) -> anyhow::Result<i32> {
    let stop = Stop::default();
    crate::shutdown::install(stop.clone(), plan.grace);
    eprintln!(
        "voxload: {} → {} ({} stage{}, {} audio files, {:.1} s of audio)",
        plan.name,
        plan.url(),
        plan.stages.len(),
        if plan.stages.len() == 1 { "" } else { "s" },
        plan.files,
        plan.audio_s_total
    );
    let (result, out) = crate::runner::run_asr(plan, stop.clone(), RunOptions { quiet })
        .await
        .context("run failed")?;
    finish(&result, &out, &stop)
}

/// Run a plan with Ctrl-C handling, print the summary, and choose the exit code.
pub async fn execute_plan(plan: RunPlan, quiet: bool) -> anyhow::Result<i32> {
    let stop = Stop::default();
    crate::shutdown::install(stop.clone(), plan.grace);
    let stages = plan.stages.len();
    eprintln!(
        "voxload: {} → {} ({} stage{}, texts: {} × {})",
        plan.name,
        plan.target.url,
        stages,
        if stages == 1 { "" } else { "s" },
        plan.texts_count,
        plan.texts_source
    );
    let (result, out) = run_tts(plan, stop.clone(), RunOptions { quiet })
        .await
        .context("run failed")?;
    finish(&result, &out, &stop)
}

/// Print the summary and choose the exit code: interrupted, thresholds failed, or ok.
fn finish(
    result: &crate::report::RunResult,
    out: &std::path::Path,
    stop: &Stop,
) -> anyhow::Result<i32> {
    println!("{}", crate::report::terminal::summary(result));
    println!("results: {}", out.display());
    Ok(if stop.arrivals.is_cancelled() {
        crate::shutdown::EXIT_INTERRUPTED
    } else if result.slo.iter().any(|r| !r.passed) {
        EXIT_THRESHOLDS
    } else {
        EXIT_OK
    })
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
