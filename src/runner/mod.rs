//! Runs a plan: stages in order through the one driver, results written as
//! they come (`requests.jsonl` per request, `result.json` after each stage)
//! so that a crash, a failing target or Ctrl-C leaves valid partial results.

pub mod agent;
pub mod asr;
pub mod engine;
pub mod jsonl;
pub mod sink;
pub mod tts;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::RunPlan;
use crate::protocol::http_tts::{HttpTts, TargetError};
use crate::protocol::HttpClient;
use crate::report::{ReportError, RunResult};
use crate::workload::Stop;
use engine::{RunFrame, Session};
use tts::TtsExecutor;

/// TCP connect timeout of the HTTP client.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a run could not start or finish writing.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The results folder could not be created.
    #[error("cannot create results folder {path}: {source}")]
    OutDir {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Nothing listens at the target: no point in a load test.
    #[error("cannot connect to {url}: {reason}")]
    Unreachable {
        /// The target URL.
        url: String,
        /// What the connect attempt said.
        reason: String,
    },
    /// An input could not be converted for sending.
    #[error(transparent)]
    Prepare(#[from] asr::PrepareError),
    /// The target is not usable.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A result file could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// How a run presents itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// No live progress (tests, `--quiet`).
    pub quiet: bool,
}

/// Check that something accepts TCP connections at the target before
/// starting a run, so a typo in the URL is one clear error, not a run of
/// connect failures.
pub async fn preflight(url: &str) -> Result<(), RunError> {
    let unreachable = |reason: String| RunError::Unreachable {
        url: url.to_string(),
        reason,
    };
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| unreachable(e.to_string()))?;
    let host = uri
        .host()
        .ok_or_else(|| unreachable("no host in URL".into()))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") | Some("wss") => 443,
        _ => 80,
    });
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer within {}",
            humantime::format_duration(CONNECT_TIMEOUT)
        ))),
    }
}

/// Notes stated once in every TTS result, so a reader knows what was measured.
fn tts_notes() -> Vec<String> {
    vec![
        "durations in ms; latencies are measured from the scheduled start in open loop (no coordinated omission) and from the actual send in closed loop".into(),
        "a chunk is one SSE event or NDJSON line, or one transport read for raw audio bodies".into(),
        "latency histograms hold successful requests; schedule_lag holds all sent requests".into(),
        "stalls: playback starts at first audio plus the pre-buffer and runs in real time; a stall is waiting for audio that has not arrived".into(),
    ]
}

/// Run a TTS plan to the end (or until `stop`), writing every result file.
/// Returns the result and the folder it was written to.
pub async fn run_tts(
    plan: RunPlan,
    stop: Stop,
    opts: RunOptions,
) -> Result<(RunResult, PathBuf), RunError> {
    preflight(&plan.target.url).await?;
    let adapter = HttpTts::new(plan.target.clone(), HttpClient::new(CONNECT_TIMEOUT))?;
    let session = Session::open(&plan.out_dir, plan.stages.len(), &plan.measure.chunk_ks)?;
    let plan = Arc::new(plan);
    let exec = Arc::new(TtsExecutor::new(adapter, plan.clone(), session.run_start));
    let frame = RunFrame {
        name: &plan.name,
        kind: "tts",
        stages: &plan.stages,
        slo: &plan.slo,
        chunk_ks: &plan.measure.chunk_ks,
        config: serde_json::to_value(&*plan).unwrap_or(serde_json::Value::Null),
        notes: tts_notes(),
    };
    engine::drive(frame, session, exec, stop, opts).await
}

/// Notes stated once in every ASR result.
fn asr_notes() -> Vec<String> {
    vec![
        "durations in ms; latencies from the scheduled start in open loop, from the actual start in closed loop".into(),
        "audio = input audio sent; rtf = e2e / audio; rtfx = audio / e2e".into(),
        "streaming: first_partial is measured from the first audio frame sent, final from the end of the audio".into(),
        "wer per request against the normalized reference; the stage's wer_pooled = all word errors / all reference words".into(),
    ]
}

/// Run an ASR plan to the end (or until `stop`), writing every result file.
pub async fn run_asr(
    plan: crate::config::asr::AsrPlan,
    stop: Stop,
    opts: RunOptions,
) -> Result<(RunResult, PathBuf), RunError> {
    preflight(plan.url()).await?;
    let plan = Arc::new(plan);
    let client = HttpClient::new(CONNECT_TIMEOUT);
    let session = Session::open(&plan.out_dir, plan.stages.len(), &[])?;
    let exec = Arc::new(asr::AsrExecutor::new(
        plan.clone(),
        client,
        session.run_start,
    )?);
    let frame = RunFrame {
        name: &plan.name,
        kind: "asr",
        stages: &plan.stages,
        slo: &plan.slo,
        chunk_ks: &[],
        config: serde_json::to_value(&*plan).unwrap_or(serde_json::Value::Null),
        notes: asr_notes(),
    };
    engine::drive(frame, session, exec, stop, opts).await
}

/// Notes stated once in every voice-agent result.
fn agent_notes() -> Vec<String> {
    vec![
        "durations in ms; one record per turn; a workload request is one conversation".into(),
        "agent_first_message, agent_first_audio and agent_transcript are measured from the end of the caller's speech (last speech frame, or the end-of-speech message, sent)".into(),
        "turn = caller's first frame to the end of the agent's response; audio = agent audio seconds in the response".into(),
        "barge-in: from the first frame of the caller's interrupting utterance; barge_in_silence = to the last agent audio received during it (no quiet window added); barge_in_leak = agent audio time received during it".into(),
        "connect and schedule_lag are on the first turn of each conversation".into(),
    ]
}

/// Run a voice-agent plan to the end (or until `stop`), writing every result file.
pub async fn run_agent(
    plan: crate::config::agent::AgentPlan,
    stop: Stop,
    opts: RunOptions,
) -> Result<(RunResult, PathBuf), RunError> {
    preflight(&plan.target.url).await?;
    let plan = Arc::new(plan);
    let session = Session::open(&plan.out_dir, plan.stages.len(), &[])?;
    let exec = Arc::new(agent::AgentExecutor::new(
        plan.clone(),
        session.sink.clone(),
        session.run_start,
    ));
    let frame = RunFrame {
        name: &plan.name,
        kind: "agent",
        stages: &plan.stages,
        slo: &plan.slo,
        chunk_ks: &[],
        config: serde_json::to_value(&*plan).unwrap_or(serde_json::Value::Null),
        notes: agent_notes(),
    };
    engine::drive(frame, session, exec, stop, opts).await
}
