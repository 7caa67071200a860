//! What every run command shares: its flags (defined once), how a plan is
//! made from a scenario file and flags, and how a plan is run to an exit
//! code. `voxload run FILE` is this and nothing else; `tts`, `asr` and
//! `agent` add their protocol's flags.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::{EXIT_OK, EXIT_THRESHOLDS};
use crate::config::{CommonOptions, ProtocolOptions, RunOptions, RunPlan, WorkloadOptions};
use crate::protocol::Service;
use crate::result::RunResult;
use crate::runner::{describe, RunOptions as Presentation};
use crate::workload::Stop;

/// When requests start, where results go and what the run is judged by:
/// the flags of every run command.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub workload: WorkloadOptions,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonOptions,
    /// Start from a built-in preset's protocol options (a file's keys and flags override it); `voxload presets` lists them.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// No live progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `voxload run`.
#[derive(Debug, Clone, Args)]
pub struct RunFileArgs {
    /// A scenario file: one scenario, or several `[[scenario]]` blocks that run together.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

impl RunArgs {
    /// The plan: the scenario file `config` (if any) with these flags and
    /// the command's protocol flags over it. `service` is the command's.
    pub fn plan(
        &self,
        config: Option<&Path>,
        service: Option<Service>,
        protocol: Option<ProtocolOptions>,
    ) -> anyhow::Result<RunPlan> {
        let options = self.options(config, service, protocol)?;
        Ok(RunPlan::build(options, &|name| std::env::var(name).ok())?)
    }

    /// The options [`RunArgs::plan`] builds its plan from.
    pub fn options(
        &self,
        config: Option<&Path>,
        service: Option<Service>,
        protocol: Option<ProtocolOptions>,
    ) -> anyhow::Result<RunOptions> {
        let options = match (config, protocol) {
            (Some(path), protocol) => RunOptions::read(path, service)?.with_flags(
                &self.common,
                &self.workload,
                protocol.as_ref(),
            )?,
            (None, Some(protocol)) => {
                RunOptions::single(self.common.clone(), self.workload.clone(), protocol)
            }
            (None, None) => anyhow::bail!("a scenario file is needed"),
        };
        Ok(options.with_preset(self.preset.as_deref())?)
    }
}

/// `voxload run FILE`.
pub async fn run_file(args: RunFileArgs) -> anyhow::Result<i32> {
    let plan = args.run.plan(Some(&args.file), None, None)?;
    execute(plan, args.run.quiet).await
}

/// Run a plan with Ctrl-C handling, print the summary, choose the exit code.
pub async fn execute(plan: RunPlan, quiet: bool) -> anyhow::Result<i32> {
    let stop = Stop::default();
    crate::shutdown::install(stop.clone(), plan.common.grace);
    eprintln!("{}", describe::banner(&plan));
    let (result, out) = crate::runner::run(plan, stop.clone(), Presentation { quiet })
        .await
        .context("run failed")?;
    Ok(finish(&result, &out))
}

/// Print the summary and choose the exit code: interrupted, thresholds failed, or ok.
pub fn finish(result: &RunResult, out: &Path) -> i32 {
    println!("{}", crate::report::terminal::summary(result));
    println!("results: {}", out.display());
    // The run's own verdict: a Ctrl-C while the dashboard or --prometheus lingers after a
    // complete run does not make it interrupted.
    if result.status == crate::result::RunStatus::Interrupted {
        crate::shutdown::EXIT_INTERRUPTED
    } else if result.slo.iter().any(|r| !r.passed)
        || result
            .capacity
            .as_ref()
            .is_some_and(|c| !c.meets_requirement())
    {
        EXIT_THRESHOLDS
    } else {
        EXIT_OK
    }
}
