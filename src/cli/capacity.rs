//! `voxload capacity tts|asr|agent …` (or `voxload capacity FILE`): the
//! highest load at which every `--slo` holds with 95 % confidence.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};

use super::run::RunArgs;
use crate::config::levels::Levels;
use crate::config::{ProtocolOptions, RunOptions, RunPlan};
use crate::protocol::Service;
use crate::runner::capacity::{CapacitySource, ProbeLength};
use crate::runner::{describe, RunOptions as Presentation};
use crate::workload::search::{Over, SearchSpec};
use crate::workload::Stop;

/// `voxload capacity`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CapacityArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub what: Option<CapacityCommand>,
    /// A scenario file with one scenario (instead of a subcommand).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub search: SearchArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

/// What is searched.
#[derive(Debug, Subcommand)]
pub enum CapacityCommand {
    /// A TTS endpoint (every `voxload tts` option).
    Tts(Box<CapacityOf<super::tts::TtsArgs>>),
    /// An ASR endpoint, HTTP or WebSocket (every `voxload asr` option).
    Asr(Box<CapacityOf<super::asr::AsrArgs>>),
    /// A voice agent (every `voxload agent` option).
    Agent(Box<CapacityOf<super::agent::AgentArgs>>),
}

/// A run command's options plus the search's.
#[derive(Debug, Args)]
pub struct CapacityOf<A: Args> {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub args: A,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub search: SearchArgs,
}

/// How the search runs.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// What to search over: open-loop `rate` (req/s) or closed-loop `concurrency` (users, sessions).
    #[arg(long, value_enum, default_value = "rate")]
    pub over: OverArg,
    /// The first level probed.
    #[arg(long, default_value_t = 1.0)]
    pub start: f64,
    /// The highest level probed; passing it ends the search with "at least".
    #[arg(long, default_value_t = 1000.0)]
    pub max: f64,
    /// Growth factor between levels until the first failure.
    #[arg(long, default_value_t = 2.0)]
    pub growth: f64,
    /// Bisect until the passing and failing levels are this close (`5%` or `0.05`).
    #[arg(long, default_value = "5%", value_parser = parse_share)]
    pub resolution: f64,
    /// The longest a probe runs, however many samples it still needs
    /// (`--duration` is the shortest, default 10s).
    #[arg(long, default_value = "2m", value_parser = crate::units::parse_duration)]
    pub max_probe: Duration,
    /// Idle time between probes, so the target releases what the last
    /// probe held (sessions, queued requests) before the next is measured.
    #[arg(long, default_value = "1s", value_parser = crate::units::parse_duration)]
    pub probe_gap: Duration,
    /// Exit 3 when capacity is below this (`5rps`, `5/s`, or `40` users).
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    pub require: Option<f64>,
}

/// `--over`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OverArg {
    /// Open-loop arrivals per second.
    Rate,
    /// Closed-loop users.
    Concurrency,
}

/// The shortest probe when `--duration` is not given.
const DEFAULT_PROBE: Duration = Duration::from_secs(10);

fn parse_share(s: &str) -> Result<f64, String> {
    let (num, pct) = match s.strip_suffix('%') {
        Some(n) => (n, true),
        None => (s, false),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a share (5% or 0.05)"))?;
    let v = if pct { v / 100.0 } else { v };
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!("'{s}' must lie strictly between 0 and 100 %"))
    }
}

fn parse_level(s: &str) -> Result<f64, String> {
    let num = ["rps", "req/s", "/s", "users", "user"]
        .iter()
        .find_map(|u| s.strip_suffix(u))
        .unwrap_or(s);
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| format!("'{s}' is not a positive level (5rps, 5/s or 40)"))
}

/// Run a capacity search; returns the exit code.
pub async fn run_capacity(args: CapacityArgs) -> anyhow::Result<i32> {
    let (plan, mut source, quiet) = prepare(&args)?;
    let stop = Stop::default();
    crate::shutdown::install(stop.clone(), plan.common.grace);
    eprintln!("{}", describe::banner_of(&plan, "capacity search"));
    eprintln!("{}", announce(&source, args.search_args()));
    let (result, out) =
        crate::runner::run_with(plan, &mut source, stop.clone(), Presentation { quiet })
            .await
            .context("capacity search failed")?;
    Ok(super::run::finish(&result, &out))
}

impl CapacityArgs {
    /// The search options, wherever they were given.
    pub fn search_args(&self) -> &SearchArgs {
        match &self.what {
            Some(CapacityCommand::Tts(c)) => &c.search,
            Some(CapacityCommand::Asr(c)) => &c.search,
            Some(CapacityCommand::Agent(c)) => &c.search,
            None => &self.search,
        }
    }
}

/// The line that says how the search goes.
pub fn announce(source: &CapacitySource, search: &SearchArgs) -> String {
    let (over, length) = source.describe();
    format!(
        "capacity search over {}: from {} up to {}, ×{} until a level fails, then bisect to {}%; \
         a level passes when every SLO's 95 % bound is inside its limit, so each probe runs until \
         about {} successful samples ({}–{})",
        over.noun(),
        source.start(),
        search.max,
        search.growth,
        search.resolution * 100.0,
        source.min_samples(),
        humantime::format_duration(length.min),
        humantime::format_duration(length.max),
    )
}

/// The plan, the search and whether to stay quiet, from the command line.
pub fn prepare(args: &CapacityArgs) -> anyhow::Result<(RunPlan, CapacitySource, bool)> {
    let (run, config, service, protocol, search) = match &args.what {
        Some(CapacityCommand::Tts(c)) => (
            &c.args.run,
            c.args.config.clone(),
            Some(Service::Tts),
            Some(super::tts::protocol(&c.args)?),
            &c.search,
        ),
        Some(CapacityCommand::Asr(c)) => (
            &c.args.run,
            c.args.config.clone(),
            Some(Service::Asr),
            Some(ProtocolOptions::Asr(c.args.asr.clone())),
            &c.search,
        ),
        Some(CapacityCommand::Agent(c)) => (
            &c.args.run,
            c.args.config.clone(),
            Some(Service::Agent),
            Some(super::agent::protocol(&c.args)),
            &c.search,
        ),
        None => match &args.file {
            Some(file) => (&args.run, Some(file.clone()), None, None, &args.search),
            None => bail!("say what to search: voxload capacity tts|asr|agent [options], or voxload capacity FILE"),
        },
    };
    let options = run.options(config.as_deref(), service, protocol)?;
    let (plan, source) = search_plan(options, search)?;
    Ok((plan, source, run.quiet))
}

/// The plan (built at the highest level, so the open-file check sees the
/// busiest probe) and the search that chooses its stages.
fn search_plan(
    mut options: RunOptions,
    search: &SearchArgs,
) -> anyhow::Result<(RunPlan, CapacitySource)> {
    if options.scenarios.len() != 1 {
        bail!(
            "capacity searches one scenario; this file has {} (search each on its own)",
            options.scenarios.len()
        );
    }
    let workload =
        crate::config::overlay::overlay(&options.workload, &options.scenarios[0].workload)?;
    if workload.rate.is_some() || workload.concurrency.is_some() {
        bail!("capacity chooses the load itself: remove --rate/--concurrency and give --start and --max");
    }
    if workload.requests.is_some() {
        bail!("capacity probes are timed: remove --requests (--duration is the shortest probe, --max-probe the longest)");
    }
    if search.growth.is_nan() || search.growth <= 1.0 {
        bail!("--growth must be above 1 (got {})", search.growth);
    }
    if !(search.start > 0.0 && search.start <= search.max) {
        bail!(
            "--start must be above 0 and at most --max (got {} and {})",
            search.start,
            search.max
        );
    }
    let over = match search.over {
        OverArg::Rate => Over::Rate,
        OverArg::Concurrency => Over::Concurrency,
    };
    let min = workload.duration.unwrap_or(DEFAULT_PROBE);
    if search.max_probe < min {
        bail!(
            "--max-probe ({}) is shorter than --duration ({})",
            humantime::format_duration(search.max_probe),
            humantime::format_duration(min)
        );
    }
    let busiest = Some(Levels(vec![search.max]));
    match over {
        Over::Rate => options.workload.rate = busiest,
        Over::Concurrency => options.workload.concurrency = busiest,
    }
    options.workload.duration = Some(min);
    let mut plan = RunPlan::build(options, &|name| std::env::var(name).ok())?;
    if plan.common.shard.is_some() {
        bail!(
            "--shard: a capacity search chooses each probe from the results before it, which one \
             shard cannot see; search unsharded, then run the level it finds with --shard"
        );
    }
    let slo = std::mem::take(&mut plan.common.slo);
    if slo.is_empty() {
        bail!("capacity needs at least one --slo to hold (e.g. --slo 'ttfa.p95<300ms' --slo 'errors<1%')");
    }
    let spec = SearchSpec {
        over,
        start: search.start,
        max: search.max,
        growth: search.growth,
        resolution: search.resolution,
    };
    let length = ProbeLength {
        min,
        max: search.max_probe,
        gap: search.probe_gap,
    };
    let source = CapacitySource::new(
        spec,
        slo,
        workload,
        plan.common.seed,
        length,
        search.require,
    );
    Ok((plan, source))
}
