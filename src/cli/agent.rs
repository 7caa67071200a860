//! `voxload agent`: load-test a voice agent over WebSocket with multi-turn
//! conversations in real time, optionally barging in.

use std::path::PathBuf;

use clap::Args;

use super::run::RunArgs;
use crate::config::agent::AgentOptions;
use crate::config::ProtocolOptions;
use crate::protocol::Service;

/// `voxload agent`.
#[derive(Debug, Clone, Default, Args)]
pub struct AgentArgs {
    /// TOML scenario: [[script]] conversations (turn audio files, a corpus manifest, or texts), message shapes, workload.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Send nothing between utterances instead of low-level noise frames.
    #[arg(long)]
    pub no_noise: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub agent: AgentOptions,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

/// `voxload agent`.
pub async fn run_agent(args: AgentArgs) -> anyhow::Result<i32> {
    super::run::execute(plan(&args)?, args.run.quiet).await
}

/// The plan these flags (and their scenario file) make.
pub fn plan(args: &AgentArgs) -> anyhow::Result<crate::config::RunPlan> {
    let protocol = protocol(args);
    args.run
        .plan(args.config.as_deref(), Some(Service::Agent), Some(protocol))
}

/// The agent options these flags set.
pub fn protocol(args: &AgentArgs) -> ProtocolOptions {
    let mut agent = args.agent.clone();
    if args.no_noise {
        agent.noise = Some(false);
    }
    ProtocolOptions::Agent(agent)
}
