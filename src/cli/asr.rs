//! `voxload asr`: load-test a transcription service over HTTP or WebSocket.

use std::path::PathBuf;

use clap::Args;

use super::run::RunArgs;
use crate::config::asr::AsrOptions;
use crate::config::ProtocolOptions;
use crate::protocol::Service;

/// `voxload asr`.
#[derive(Debug, Clone, Default, Args)]
pub struct AsrArgs {
    /// TOML scenario (a vendor is a file: upload shape, fields, transcript path, WS messages).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub asr: AsrOptions,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

/// `voxload asr`.
pub async fn run_asr(args: AsrArgs) -> anyhow::Result<i32> {
    super::run::execute(plan(&args)?, args.run.quiet).await
}

/// The plan these flags (and their scenario file) make.
pub fn plan(args: &AsrArgs) -> anyhow::Result<crate::config::RunPlan> {
    let protocol = ProtocolOptions::Asr(args.asr.clone());
    args.run
        .plan(args.config.as_deref(), Some(Service::Asr), Some(protocol))
}
