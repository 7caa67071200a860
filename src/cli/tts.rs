//! `voxload tts` (and the target flags `voxload sample` and `corpus` share).

use std::path::PathBuf;

use clap::Args;

use super::run::RunArgs;
use crate::config::tts::{TtsEndpointOptions, TtsOptions};
use crate::config::ProtocolOptions;
use crate::protocol::Service;

/// Where TTS requests go: the endpoint flags, plus `--target FILE`.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// A vendor file with a `[target]` table (body template, framing, audio path).
    #[arg(long = "target", value_name = "FILE")]
    pub vendor: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub endpoint: TtsEndpointOptions,
}

impl TargetArgs {
    /// The endpoint options these flags set, the vendor file read.
    pub fn endpoint(&self) -> anyhow::Result<TtsEndpointOptions> {
        let mut endpoint = self.endpoint.clone();
        if let Some(path) = &self.vendor {
            endpoint.load_vendor(path)?;
        }
        Ok(endpoint)
    }
}

/// `voxload tts`: load-test a TTS endpoint.
#[derive(Debug, Clone, Default, Args)]
pub struct TtsArgs {
    /// TOML scenario file with the same options (flags override it).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A vendor file with a `[target]` table (body template, framing, audio path).
    #[arg(long = "target", value_name = "FILE")]
    pub vendor: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub tts: TtsOptions,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

/// `voxload tts`.
pub async fn run_tts(args: TtsArgs) -> anyhow::Result<i32> {
    super::run::execute(plan(&args)?, args.run.quiet).await
}

/// The plan these flags (and their scenario file) make.
pub fn plan(args: &TtsArgs) -> anyhow::Result<crate::config::RunPlan> {
    let protocol = protocol(args)?;
    args.run
        .plan(args.config.as_deref(), Some(Service::Tts), Some(protocol))
}

/// The TTS options these flags set, the vendor file read.
pub fn protocol(args: &TtsArgs) -> anyhow::Result<ProtocolOptions> {
    let mut tts = args.tts.clone();
    if let Some(path) = &args.vendor {
        tts.endpoint.load_vendor(path)?;
    }
    Ok(ProtocolOptions::Tts(tts))
}
