//! `voxload scale --workers 1,2,3 --scale-cmd './scale.sh {n}' tts|asr|agent|run|capacity …`:
//! the same stages (or a capacity search) at each worker count, and how
//! well throughput scales.

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};

use crate::config::RunPlan;
use crate::runner::engine::{FixedStages, StageSource};
use crate::runner::scale::{MakeSource, ScaleSource, ScaleSpec};
use crate::runner::{describe, RunOptions as Presentation};
use crate::workload::Stop;

/// `voxload scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Worker counts, in the order run (e.g. 1,2,3).
    #[arg(long, value_delimiter = ',', required = true, value_name = "N,N,…")]
    pub workers: Vec<u32>,
    /// The command that scales the target to {n} workers, run with `sh -c`
    /// ({n} replaced; also in $VOXLOAD_WORKERS), e.g. 'docker compose up -d
    /// --scale tts={n}' or 'kubectl scale deploy/tts --replicas={n}'.
    /// voxload never scales anything itself.
    #[arg(long, value_name = "CMD")]
    pub scale_cmd: String,
    /// A health URL (GET; any 2xx is ready) polled after each scale command.
    #[arg(long, value_name = "URL")]
    pub ready_url: Option<String>,
    /// The longest wait for --ready-url after a scale command.
    #[arg(long, default_value = "5m", value_parser = crate::units::parse_duration)]
    pub ready_timeout: Duration,
    /// Idle time after ready, before the count's first stage (caches,
    /// autoscaler, load balancer catching up).
    #[arg(long, default_value = "0s", value_parser = crate::units::parse_duration)]
    pub settle: Duration,
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub what: ScaleCommand,
}

/// What runs at each worker count.
#[derive(Debug, Subcommand)]
pub enum ScaleCommand {
    /// The stages of `voxload tts` (every option).
    Tts(Box<super::tts::TtsArgs>),
    /// The stages of `voxload asr`.
    Asr(Box<super::asr::AsrArgs>),
    /// The stages of `voxload agent`.
    Agent(Box<super::agent::AgentArgs>),
    /// The stages of a scenario file.
    Run(Box<super::run::RunFileArgs>),
    /// A capacity search (every `voxload capacity` option).
    Capacity(Box<super::capacity::CapacityArgs>),
}

/// Validate the scale options into a spec.
fn spec(args: &ScaleArgs) -> anyhow::Result<ScaleSpec> {
    if args.workers.is_empty() || args.workers.contains(&0) {
        bail!("--workers: give counts above 0, e.g. --workers 1,2,3");
    }
    if !args.scale_cmd.contains("{n}") {
        bail!("--scale-cmd: the command must say where the count goes, as {{n}} (e.g. './scale.sh {{n}}')");
    }
    let ready_url = args
        .ready_url
        .as_deref()
        .map(crate::protocol::target::parse_http_uri)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--ready-url: {e}"))?;
    Ok(ScaleSpec {
        workers: args.workers.clone(),
        command: args.scale_cmd.clone(),
        ready_url,
        ready_timeout: args.ready_timeout,
        settle: args.settle,
    })
}

/// A plan's fixed stages, afresh at each count: the parts
/// [`run_scale`] runs.
fn fixed(plan: RunPlan, quiet: bool) -> anyhow::Result<(MakeSource, bool, bool, RunPlan)> {
    if !plan.common.cold.gaps.is_empty() {
        bail!("--idle-gap cannot run inside scale: run the cold-start test at one worker count");
    }
    let stages = FixedStages::new(
        plan.scenarios.iter().map(|s| s.stages.clone()).collect(),
        plan.common.stop_on_saturation,
    );
    let make: MakeSource = Box::new(move || Box::new(stages.clone()) as Box<dyn StageSource>);
    Ok((make, false, quiet, plan))
}

/// Run a scaling test; returns the exit code.
pub async fn run_scale(args: ScaleArgs) -> anyhow::Result<i32> {
    let spec = spec(&args)?;
    let (make, capacity, quiet, plan): (MakeSource, bool, bool, RunPlan) = match &args.what {
        ScaleCommand::Tts(a) => fixed(super::tts::plan(a)?, a.run.quiet)?,
        ScaleCommand::Asr(a) => fixed(super::asr::plan(a)?, a.run.quiet)?,
        ScaleCommand::Agent(a) => fixed(super::agent::plan(a)?, a.run.quiet)?,
        ScaleCommand::Run(a) => fixed(a.run.plan(Some(&a.file), None, None)?, a.run.quiet)?,
        ScaleCommand::Capacity(a) => {
            let (plan, search, quiet) = super::capacity::prepare(a)?;
            eprintln!("{}", super::capacity::announce(&search, a.search_args()));
            let make: MakeSource =
                Box::new(move || Box::new(search.clone()) as Box<dyn StageSource>);
            (make, true, quiet, plan)
        }
    };
    if plan.common.shard.is_some() {
        anyhow::bail!("--shard: a scaling test restarts the target between counts, which shards cannot share; run it unsharded");
    }
    let metric = plan
        .scenarios
        .first()
        .map(|s| crate::metrics::registry::live_metric(s.kind()).0.name())
        .unwrap_or_default();
    let stop = Stop::default();
    crate::shutdown::install(stop.clone(), plan.common.grace);
    let counts: Vec<String> = spec.workers.iter().map(u32::to_string).collect();
    eprintln!(
        "{}",
        describe::banner_of(
            &plan,
            &format!("scaling over {} workers", counts.join(", "))
        )
    );
    let mut source = ScaleSource::new(spec, make, capacity, metric);
    let (result, out) =
        crate::runner::run_with(plan, &mut source, stop.clone(), Presentation { quiet })
            .await
            .context("scaling test failed")?;
    let code = super::run::finish(&result, &out);
    match result.scale.as_ref().and_then(|s| s.error.as_deref()) {
        Some(why) => {
            eprintln!("error: {why}");
            Ok(super::EXIT_ERROR)
        }
        None => Ok(code),
    }
}
