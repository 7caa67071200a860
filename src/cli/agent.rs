//! `voxload agent`: load-test a voice agent over WebSocket with multi-turn
//! conversations in real time, optionally barging in.

use std::path::PathBuf;

use clap::Args;

use super::run::RunArgs;
use crate::config::agent::{AgentOptions, ScriptOptions};
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
    /// The caller's turns as audio files, one per turn in order (repeat or comma-separate): one script instead of the file's [[script]].
    #[arg(long = "turn", value_name = "AUDIO", value_delimiter = ',', conflicts_with_all = ["turn_text", "manifest"])]
    pub turns: Vec<PathBuf>,
    /// The caller's turns as texts in the built-in test voice (repeat for more turns; the mock understands it, a real agent needs --turn audio).
    #[arg(long = "turn-text", value_name = "TEXT", conflicts_with = "manifest")]
    pub turn_text: Vec<String>,
    /// The caller's turns from a `voxload corpus` manifest.jsonl, its lines in order (references give the agent-side WER).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
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
    if let Some(script) = flag_script(args) {
        agent.script = Some(vec![script]);
    }
    ProtocolOptions::Agent(agent)
}

fn nonempty<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// The one conversation `--turn`, `--turn-text` or `--manifest` give, if any.
fn flag_script(args: &AgentArgs) -> Option<ScriptOptions> {
    let script = ScriptOptions {
        name: "turns".into(),
        turns: nonempty(&args.turns),
        texts: nonempty(&args.turn_text),
        manifest: args.manifest.clone(),
        ..ScriptOptions::default()
    };
    let given = script.turns.is_some() || script.texts.is_some() || script.manifest.is_some();
    given.then_some(script)
}
