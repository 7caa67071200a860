//! `voxload demo`: the embedded mock server plus a real streaming TTS sweep
//! against it. Works with no server and no network.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::corpus::CorpusArgs;
use super::run::execute;
use super::tts::TargetArgs;
use crate::config::agent::{default_scripts, AgentOptions};
use crate::config::asr::AsrOptions;
use crate::config::common::default_name;
use crate::config::tts::{TtsEndpointOptions, TtsOptions};
use crate::config::{CommonOptions, ProtocolOptions, RunOptions, RunPlan, WorkloadOptions};
use crate::mock::{self, AgentModel, AsrModel, MockModel};

/// `voxload demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Results root folder [default: results].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run name [default: demo-DATE-TIME].
    #[arg(long)]
    pub name: Option<String>,
    /// Seconds per TTS stage (3 stages).
    #[arg(long, default_value_t = 10)]
    pub stage_seconds: u64,
    /// SLO threshold checked on every stage, e.g. 'ttfa.p95<300ms' (repeatable).
    /// A failed threshold makes the exit code 3.
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<String>,
    /// Skip the ASR part.
    #[arg(long)]
    pub no_asr: bool,
    /// Skip the voice-agent part (over WebSocket and over WebRTC).
    #[arg(long)]
    pub no_agent: bool,
    /// No live progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The mock the demo runs against (ASR: 2 slots at 10× real time, word
/// errors 1 % + 3 % per extra request in flight): 4 synthesis slots at 3× real time, so
/// with ~6 s of audio per text (~2 s of synthesis), capacity is about
/// 2 requests/s and the sweep's last level shows queueing.
pub fn demo_model() -> MockModel {
    MockModel {
        slots: 4,
        queue: 64,
        speed: 3.0,
        overhead: Duration::from_millis(80),
        jitter: Duration::from_millis(20),
        leading_silence: Duration::from_millis(120),
        seed: Some(7),
        asr: AsrModel {
            overhead: Duration::from_millis(40),
            rtfx: 10.0,
            slots: 2,
            word_error_rate: 0.01,
            word_error_per_load: 0.03,
            seed: Some(7),
            ..AsrModel::default()
        },
        // The agent decodes the callers' speech, so its transcripts are
        // scored (agent-side WER) against what the callers said.
        agent: AgentModel {
            transcribe: true,
            ..AgentModel::default()
        },
        ..MockModel::default()
    }
}

/// The demo's TTS run against a mock at `url`: an open-loop sweep at 1, 2
/// and 3 requests/s of streaming WAV in two voices.
pub fn demo_options(url: String, args: &DemoArgs) -> RunOptions {
    let common = CommonOptions {
        name: Some(args.name.clone().unwrap_or_else(|| default_name("demo"))),
        out: args.out.clone(),
        slo: (!args.slo.is_empty()).then(|| args.slo.clone()),
        ..CommonOptions::default()
    };
    let workload = WorkloadOptions {
        rate: "1,2,3".parse().ok(),
        burstiness: Some(1.0),
        duration: Some(Duration::from_secs(args.stage_seconds.max(1))),
        ..WorkloadOptions::default()
    };
    let tts = TtsOptions {
        endpoint: TtsEndpointOptions {
            url: Some(url),
            format: Some("wav".into()),
            voice: Some(vec!["alloy".into(), "verse".into()]),
            ..TtsEndpointOptions::default()
        },
        ..TtsOptions::default()
    };
    RunOptions::single(common, workload, ProtocolOptions::Tts(tts))
}

/// A demo run of `protocol`: `requests` per stage at each `concurrency`
/// level, results under `--out`.
fn demo_run(
    name: String,
    args: &DemoArgs,
    concurrency: &str,
    requests: u64,
    protocol: ProtocolOptions,
) -> RunOptions {
    let common = CommonOptions {
        name: Some(name),
        out: args.out.clone(),
        ..CommonOptions::default()
    };
    let workload = WorkloadOptions {
        concurrency: concurrency.parse().ok(),
        requests: Some(requests),
        ..WorkloadOptions::default()
    };
    RunOptions::single(common, workload, protocol)
}

/// The demo's ASR run: the corpus rendered by the mock's TTS, transcribed by
/// its ASR at 1, 2 and 4 concurrent requests. The mock's word errors grow with
/// load, so WER against load is visible.
fn demo_asr_options(url: String, manifest: PathBuf, name: String, args: &DemoArgs) -> RunOptions {
    let asr = AsrOptions {
        url: Some(url),
        audio: Some(vec![manifest]),
        ..AsrOptions::default()
    };
    demo_run(name, args, "1,2,4", 16, ProtocolOptions::Asr(asr))
}

/// The demo's voice-agent run: 4 callers each hold seed 003's
/// quick_question conversation (3 turns) with the mock's agent, and barge in
/// on about a third of its answers.
fn demo_agent_options(url: String, name: String, args: &DemoArgs) -> RunOptions {
    let agent = AgentOptions {
        url: Some(format!("{}/v1/agent", url.replacen("http://", "ws://", 1))),
        script: Some(
            default_scripts()
                .into_iter()
                .filter(|s| s.name == "quick_question")
                .collect(),
        ),
        barge_in: Some(0.34),
        ..AgentOptions::default()
    };
    demo_run(name, args, "4", 4, ProtocolOptions::Agent(agent))
}

/// The same calls over WebRTC: Opus over RTP to the mock's Pipecat-style
/// `/api/offer`, the agent's audio decoded and heard from −40 dBFS.
fn demo_webrtc_options(url: String, name: String, args: &DemoArgs) -> RunOptions {
    let mut opts = demo_agent_options(url.clone(), name, args);
    if let ProtocolOptions::Agent(agent) = &mut opts.scenarios[0].protocol {
        agent.url = Some(format!("{url}/api/offer"));
        agent.transport = Some("webrtc".into());
    }
    opts
}

/// Run the demo's voice-agent stage and print the mock agent's truth.
async fn run_demo_agent(
    handle: &mock::MockHandle,
    name: &str,
    args: &DemoArgs,
) -> anyhow::Result<i32> {
    eprintln!("\nVoice agent: 4 callers in real time, 3 turns each, barging in on some answers");
    let opts = demo_agent_options(handle.url(), format!("{name}-agent"), args);
    let plan = RunPlan::build(opts, &|_| None)?;
    let code = execute(plan, args.quiet).await?;
    let truth = handle.truth().await.agent;
    println!(
        "mock agent truth: {} calls, {} turns, {} answers completed, {} interrupted by barge-in, max {} concurrent",
        truth.sessions, truth.turns, truth.responses_completed, truth.interrupted, truth.max_concurrent
    );
    if code == crate::shutdown::EXIT_INTERRUPTED {
        return Ok(code);
    }
    eprintln!("\nVoice agent over WebRTC: the same calls as Opus over RTP (Pipecat's /api/offer)");
    let opts = demo_webrtc_options(handle.url(), format!("{name}-webrtc"), args);
    let plan = RunPlan::build(opts, &|_| None)?;
    let rtc_code = execute(plan, args.quiet).await?;
    let after = handle.truth().await.agent;
    let turns = after.turns.saturating_sub(truth.turns);
    // No `interrupted` message on this transport: the stop is the truth.
    let stopped = after
        .recent_turns
        .iter()
        .rev()
        .take(turns as usize)
        .filter(|t| t.audio_stopped_us.is_some())
        .count();
    println!(
        "mock agent truth over WebRTC: {} calls, {turns} turns, {} answers completed, {stopped} stopped by barge-in",
        after.sessions.saturating_sub(truth.sessions),
        after.responses_completed.saturating_sub(truth.responses_completed),
    );
    Ok(if code == super::EXIT_OK {
        rtc_code
    } else {
        code
    })
}

/// Start the mock, run the TTS sweep and the ASR sweep, print the summaries
/// and the mock's truth.
pub async fn run_demo(args: DemoArgs) -> anyhow::Result<i32> {
    let handle = mock::spawn(demo_model()).await?;
    eprintln!("mock speech server listening on {}", handle.url());
    let plan = RunPlan::build(demo_options(handle.url(), &args), &|_| None)?;
    let name = plan.common.name.clone();
    let out_root = args.out.clone().unwrap_or_else(|| PathBuf::from("results"));
    let code = execute(plan, args.quiet).await?;
    let truth = handle.truth().await;
    println!(
        "mock truth: {} requests, {} ok, {} rejected (503), max {} in flight",
        truth.requests, truth.ok, truth.rejected_503, truth.max_in_flight
    );
    if code == crate::shutdown::EXIT_INTERRUPTED {
        handle.stop();
        return Ok(code);
    }
    let asr_code = if args.no_asr {
        super::EXIT_OK
    } else {
        run_demo_asr(&handle, &name, &out_root, &args).await?
    };
    let agent_code = if args.no_agent || asr_code == crate::shutdown::EXIT_INTERRUPTED {
        super::EXIT_OK
    } else {
        run_demo_agent(&handle, &name, &args).await?
    };
    handle.stop();
    Ok([code, asr_code, agent_code]
        .into_iter()
        .find(|c| *c != super::EXIT_OK)
        .unwrap_or(super::EXIT_OK))
}

/// Render a corpus with the mock's TTS and run the demo's ASR sweep on it.
async fn run_demo_asr(
    handle: &mock::MockHandle,
    name: &str,
    out_root: &std::path::Path,
    args: &DemoArgs,
) -> anyhow::Result<i32> {
    eprintln!(
        "\nASR: rendering a test corpus with the mock's TTS, then transcribing it under load"
    );
    let corpus_dir = out_root.join(format!("{name}-corpus"));
    let corpus = CorpusArgs {
        target: TargetArgs {
            vendor: None,
            endpoint: TtsEndpointOptions {
                url: Some(handle.url()),
                format: Some("wav".into()),
                ..TtsEndpointOptions::default()
            },
        },
        texts: None,
        texts_format: None,
        out: corpus_dir.clone(),
        sample_rate: Some(16_000),
        limit: Some(8),
        concurrency: 4,
    };
    super::corpus::run_corpus(corpus).await?;
    let asr = demo_asr_options(
        handle.url(),
        corpus_dir.join("manifest.jsonl"),
        format!("{name}-asr"),
        args,
    );
    let asr_plan = RunPlan::build(asr, &|_| None)?;
    let asr_code = execute(asr_plan, args.quiet).await?;
    let truth = handle.truth().await.asr;
    println!(
        "mock ASR truth: {} requests, {} words, {} substituted ({:.2}%), max {} in flight",
        truth.requests,
        truth.words,
        truth.substituted,
        100.0 * truth.substituted as f64 / truth.words.max(1) as f64,
        truth.max_in_flight
    );
    Ok(asr_code)
}
