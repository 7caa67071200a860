//! `voxload sample`: one exchange with a target, shown in full — every
//! message with its time and what the current rules make of it (or why
//! they ignored it), secrets redacted, audio elided — then the record a run
//! would write. The first thing to run against a new server: a wrong type
//! path shows here as `ignored:` lines naming the path, not as timeouts in
//! a load run.
//!
//! `voxload sample tts|asr|agent …` takes every option of the run command
//! (presets and scenario files too) and builds the same plan; the exchange
//! is the run's own code for one arrival, with the adapter's trace on.
//! `voxload sample --url … --text …` (no subcommand) is TTS.

mod http_tts;
mod show;

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};

use super::agent::AgentArgs;
use super::asr::AsrArgs;
use super::tts::{TargetArgs, TtsArgs};
use crate::audio::rate::RateSource;
use crate::config::agent::AgentInputs;
use crate::config::tts::TtsOptions;
use crate::config::{Inputs, RunPlan, Scenario};
use crate::metrics::RequestRecord;
use crate::protocol::agent_call::AgentLine;
use crate::protocol::target::{is_secret_header, redact_header, redact_url};
use crate::protocol::trace::Tracer;
use crate::protocol::{Adapter, HttpClient, Target};
use crate::runner::agent::AgentJobs;
use crate::runner::asr::AsrJobs;
use crate::runner::executor::Done;
use crate::runner::tts::TtsJobs;
use crate::workload::Arrival;

/// The text of `voxload sample --url …` without `--text`.
const DEFAULT_TEXT: &str =
    "Hello! This is a short sample from voxload, checking time to first audio.";

/// `voxload sample`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SampleArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub what: Option<SampleCommand>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: TargetArgs,
    /// Text to synthesize.
    #[arg(long, default_value = DEFAULT_TEXT)]
    pub text: String,
}

/// What is sampled.
#[derive(Debug, Subcommand)]
pub enum SampleCommand {
    /// One TTS request, HTTP or WebSocket (every `voxload tts` option, and --text).
    Tts(Box<SampleTtsArgs>),
    /// One ASR request or stream of the first input file (every `voxload asr` option).
    Asr(Box<AsrArgs>),
    /// One call of the first script, all its turns (every `voxload agent` option).
    Agent(Box<AgentArgs>),
}

/// `voxload sample tts`: the run command's options and the text.
#[derive(Debug, Args)]
pub struct SampleTtsArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub tts: TtsArgs,
    /// Text to synthesize [default: the first of --texts].
    #[arg(long)]
    pub text: Option<String>,
}

/// Run one exchange and print everything about it; exit 0 if it succeeded.
pub async fn run_sample(args: SampleArgs) -> anyhow::Result<i32> {
    let (plan, text) = match &args.what {
        Some(SampleCommand::Tts(a)) => (super::tts::plan(&a.tts)?, a.text.clone()),
        Some(SampleCommand::Asr(a)) => (super::asr::plan(a)?, None),
        Some(SampleCommand::Agent(a)) => (super::agent::plan(a)?, None),
        None => {
            let tts = TtsArgs {
                vendor: args.target.vendor.clone(),
                tts: TtsOptions {
                    endpoint: args.target.endpoint.clone(),
                    ..TtsOptions::default()
                },
                ..TtsArgs::default()
            };
            (super::tts::plan(&tts)?, Some(args.text.clone()))
        }
    };
    let ok = sample(plan, text).await?;
    Ok(if ok {
        super::EXIT_OK
    } else {
        super::EXIT_ERROR
    })
}

/// One exchange with the plan's first scenario; whether it succeeded.
async fn sample(plan: RunPlan, text: Option<String>) -> anyhow::Result<bool> {
    let count = plan.scenarios.len();
    let Some(scenario) = plan.scenarios.into_iter().next() else {
        bail!("the plan has no scenario");
    };
    if count > 1 {
        println!("scenario '{}', the first of {count}", scenario.name);
    }
    let tracer = Tracer::on(secrets(&scenario.target));
    show_target(&scenario);
    let client = HttpClient::new(crate::runner::CONNECT_TIMEOUT);
    let mut pacer = None;
    let adapter = Adapter::new(&scenario.target, &client, &mut pacer)
        .context("invalid target")?
        .traced(tracer.clone());
    let arrival = Arrival {
        stage: 0,
        seq: 0,
        intended_at: None,
        warmup: false,
        user: None,
    };
    let seed = plan.common.seed;
    // Each kind's run code for one arrival, and how its audio is read.
    let (records, assumed): (Vec<RequestRecord>, Option<Assumed>) = match (adapter, scenario.inputs)
    {
        (Adapter::HttpTts(tts), Inputs::Tts(inputs)) => {
            // Its exchange is the probe's capture (status, headers, chunks)
            // and the trace of its SSE events or NDJSON lines.
            return http_tts::sample(&tts, &inputs, text.as_deref(), &tracer).await;
        }
        (Adapter::WsTts(ws), Inputs::Tts(mut inputs)) => {
            if let Some(text) = text {
                inputs.texts = Arc::new(vec![text]);
            }
            let format = ws.target().format;
            let done = TtsJobs::for_ws(inputs, seed).speak_ws(&ws, &arrival).await;
            let rate = match format {
                crate::audio::AudioFormat::Pcm { sample_rate, .. } => Some(sample_rate),
                _ => None,
            };
            (
                vec![done.record],
                Some(Assumed {
                    how: format!("as {format}"),
                    rate,
                }),
            )
        }
        (Adapter::HttpAsr(http), Inputs::Asr(mut inputs)) => {
            inputs.audio = inputs.audio.first_only();
            let jobs = AsrJobs::uploads(inputs, &http)?;
            (vec![jobs.upload(&http, &arrival).await.record], None)
        }
        (Adapter::WsAsr(ws), Inputs::Asr(mut inputs)) => {
            inputs.audio = inputs.audio.first_only();
            let jobs = AsrJobs::pcm(inputs, &ws)?;
            (vec![jobs.stream(&ws, &arrival).await.record], None)
        }
        (Adapter::WsAgent(agent), Inputs::Agent(mut inputs)) => {
            inputs.scripts.truncate(1);
            let t = agent.target();
            let assumed = Assumed {
                how: format!(
                    "as {} at {} Hz (agent_sample_rate)",
                    t.codec.name(),
                    t.agent_sample_rate
                ),
                rate: Some(t.agent_sample_rate),
            };
            (
                one_call(&*agent, inputs, seed, &arrival).await?,
                Some(assumed),
            )
        }
        (Adapter::RtcAgent(agent), Inputs::Agent(mut inputs)) => {
            inputs.scripts.truncate(1);
            let codec = agent.target().codec;
            let assumed = Assumed {
                how: format!("as {}, decoded at {} Hz", codec.name(), codec.rate()),
                rate: Some(codec.rate()),
            };
            (
                one_call(&*agent, inputs, seed, &arrival).await?,
                Some(assumed),
            )
        }
        (adapter, _) => bail!(
            "the scenario's inputs do not fit a {} target",
            adapter.kind()
        ),
    };
    show::print_exchange(&tracer.snapshot());
    if let Some(assumed) = &assumed {
        for r in &records {
            audio_facts(assumed, r);
        }
    }
    Ok(show::print_records(&records))
}

/// How a target's configuration says its audio is read: in words, and
/// the rate of raw audio (none for formats that carry their own).
struct Assumed {
    how: String,
    rate: Option<u32>,
}

/// One call of the first script with `agent`: every turn's record.
async fn one_call<L: AgentLine>(
    agent: &L,
    inputs: AgentInputs,
    seed: u64,
    arrival: &Arrival,
) -> anyhow::Result<Vec<RequestRecord>> {
    let jobs = AgentJobs::new(inputs, agent, seed)?;
    // Every turn but the last is handed on as it ends.
    let turns: Mutex<Vec<RequestRecord>> = Mutex::new(Vec::new());
    let keep = |d: Done| {
        turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(d.record)
    };
    let last = jobs.call(agent, arrival, &keep).await;
    let mut records = turns.into_inner().unwrap_or_else(PoisonError::into_inner);
    records.push(last.record);
    Ok(records)
}

/// The audio a record measured and how it was read, and a warning when
/// the server declared a rate other than the configured one.
fn audio_facts(assumed: &Assumed, r: &RequestRecord) {
    let secs = r
        .audio_us
        .map_or("unknown".into(), |u| format!("{:.3} s", u as f64 / 1e6));
    let turn = r.turn.map_or(String::new(), |t| format!("turn {t}: "));
    let rate = match (r.sample_rate, &r.rate_source) {
        (Some(hz), Some(source)) => format!("; counted at {hz} Hz ({})", source.name()),
        (Some(hz), None) => format!("; counted at {hz} Hz"),
        _ => String::new(),
    };
    println!(
        "{turn}audio: {secs}, {} bytes in {} chunks, configured {}{rate}",
        r.audio_bytes, r.chunks, assumed.how
    );
    let declared = matches!(
        r.rate_source,
        Some(RateSource::Header | RateSource::Url | RateSource::Message)
    );
    if let (true, Some(hz), Some(configured)) = (declared, r.sample_rate, assumed.rate) {
        if hz != configured {
            println!(
                "warning: the server declared {hz} Hz ({}) but {configured} Hz was configured: \
                 counted at {hz} Hz (fix the configured rate to silence this)",
                r.rate_source.map_or("", |s| s.name())
            );
        }
    }
}

/// Where the exchange goes, secrets redacted.
fn show_target(s: &Scenario) {
    let how = match &s.target {
        Target::HttpTts(_) | Target::HttpAsr(_) => "HTTP",
        Target::RtcAgent(_) => "WebRTC",
        _ => "WebSocket",
    };
    let preset = s
        .preset
        .as_deref()
        .map_or(String::new(), |p| format!(" (preset {p})"));
    println!(
        "{} {how} {}{preset}",
        s.kind().service(),
        redact_url(s.target.url())
    );
    if !matches!(s.target, Target::HttpTts(_) | Target::HttpAsr(_)) {
        for (n, v) in s.target.headers() {
            println!("> {n}: {}", redact_header(n, v));
        }
    }
}

/// The values no line may show: secret headers' values, the key after a
/// scheme word (`Bearer KEY`, `Token KEY`), and the URL's credentials
/// (those [`redact_url`] hides), wherever a message might echo them.
fn secrets(t: &Target) -> Vec<String> {
    let url = t.url();
    let redacted = redact_url(url);
    let mut out: Vec<String> = url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(""))
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(n, _)| redacted.contains(&format!("{n}=<redacted>")))
        .map(|(_, v)| v.to_string())
        .collect();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split('/').next().unwrap_or("");
        if let Some((user, _)) = authority.rsplit_once('@') {
            out.extend(user.split_once(':').map(|(_, pw)| pw.to_string()));
        }
    }
    for (n, v) in t.headers() {
        if is_secret_header(n) {
            out.push(v.clone());
            if let Some((_, key)) = v.split_once(' ') {
                out.push(key.trim().to_string());
            }
        }
    }
    out
}
