//! Runs a plan: every scenario's stages in order through the one driver,
//! results written as they come (`requests.jsonl` per request,
//! `result.json` after each stage) so that a crash, a failing target or
//! Ctrl-C leaves valid partial results.
//!
//! - [`run`]: the one entry point, whatever the plan holds; [`run_with`]
//!   takes its stages from a [`engine::StageSource`] ([`capacity`]'s search).
//! - [`executor`]: the one executor (stamping, timeouts, cancellation);
//!   [`tts`], [`asr`] and [`agent`] say what each protocol's arrivals send
//!   and how they are measured.
//! - [`engine`]: stages × scenarios, live progress, SLOs, result files.
//! - [`live`]: what the live views read; [`web`]: the dashboard's server.
//! - [`sink`], [`jsonl`]: where records go.
//! - [`judge`], [`judge_book`]: the TTS quality judge (`--judge-asr`) and
//!   its bookkeeping.
//! - [`prometheus`]: the live metrics endpoint (`--prometheus`).

pub mod agent;
pub mod asr;
pub mod capacity;
pub mod cold;
pub mod describe;
pub mod engine;
pub mod executor;
mod host;
pub mod jsonl;
pub mod judge;
pub mod judge_book;
pub mod live;
pub mod prometheus;
pub mod scale;
pub mod scrape;
pub mod shard;
pub mod sink;
pub mod tts;
pub mod web;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Inputs, RunPlan};
use crate::protocol::target::TargetError;
use crate::protocol::{Adapter, HttpClient, Kind};
use crate::report::ReportError;
use crate::result::RunResult;
use crate::workload::{StageSpec, Stop, Workload};
use engine::{RunFrame, Session};
use executor::AnyExecutor;

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
    #[error(
        "cannot connect to {}: {reason}",
        crate::protocol::target::redact_url(url)
    )]
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
    /// A script's turn could not be made into what the call sends (Opus
    /// for WebRTC).
    #[error("script '{script}', turn {turn} ({source_file}): {reason}")]
    Utterance {
        /// The script's name.
        script: String,
        /// 1-based turn.
        turn: usize,
        /// Where its audio came from.
        source_file: String,
        /// What went wrong.
        reason: String,
    },
    /// A result file could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A scenario's inputs are not for its protocol (a bug in the plan).
    #[error("internal: the inputs of a {0} scenario are not for its protocol")]
    Mismatch(Kind),
    /// The run needs more sockets than the process may open.
    #[error(
        "this run holds up to {sockets} connections at once, but this process may open only \
         {limit} files; raise the limit (e.g. `ulimit -n {}` in the shell, or LimitNOFILE= \
         for a service) or lower --concurrency",
        sockets + 64
    )]
    OpenFiles {
        /// Sockets the closed-loop users of the busiest stage hold.
        sockets: u64,
        /// The most files the process may open.
        limit: u64,
    },
    /// The shards' start file could not be written or read.
    #[error("start file {path}: {reason}")]
    StartFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The shards' common start is long past.
    #[error("{what} says the shards started {ago_s} s ago: {fix}")]
    StartPassed {
        /// `--start-at`, or the start file.
        what: String,
        /// How long ago.
        ago_s: u64,
        /// What to do.
        fix: &'static str,
    },
    /// The dashboard's address cannot be listened on (taken, not local).
    #[error("--web {addr}: cannot listen there: {source}")]
    Web {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A stage's driver task failed.
    #[error("internal: a stage failed: {0}")]
    Internal(String),
    /// The live metrics endpoint cannot listen at its address.
    #[error("--prometheus {addr}: cannot listen there: {source}")]
    Prometheus {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
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

/// The sockets the busiest stage's closed-loop users hold (all scenarios
/// at once), and what open loop's in-flight caps would allow on top.
fn sockets_held(plan: &RunPlan) -> (u64, u64) {
    let stages = plan.stage_count();
    let at = |i: usize, f: &dyn Fn(&StageSpec) -> Option<usize>| -> u64 {
        plan.scenarios
            .iter()
            .filter_map(|s| s.stages.get(i).and_then(f))
            .map(|n| n as u64)
            .fold(0, u64::saturating_add)
    };
    let in_flight = |s: &StageSpec| match s.workload {
        Workload::Open { max_in_flight, .. } => max_in_flight,
        Workload::Closed { .. } => None,
    };
    (0..stages).fold((0, 0), |(users, open), i| {
        let u = at(i, &StageSpec::active_users);
        (users.max(u), open.max(u.saturating_add(at(i, &in_flight))))
    })
}

/// A TTS scenario's quality judge (`--judge-asr`), if it has one.
fn judge_plan(s: &crate::config::Scenario) -> Option<&crate::config::judge::JudgePlan> {
    match &s.inputs {
        Inputs::Tts(t) => t.judge.as_deref(),
        Inputs::Asr(_) | Inputs::Agent(_) => None,
    }
}

/// Run a plan to the end (or until `stop`), writing every result file.
/// Returns the result and the folder it was written to.
pub async fn run(
    plan: RunPlan,
    stop: Stop,
    opts: RunOptions,
) -> Result<(RunResult, PathBuf), RunError> {
    let stages = engine::FixedStages::new(
        plan.scenarios.iter().map(|s| s.stages.clone()).collect(),
        plan.common.stop_on_saturation,
    );
    if plan.common.cold.gaps.is_empty() {
        let mut stages = stages;
        return run_with(plan, &mut stages, stop, opts).await;
    }
    let kinds: Vec<Kind> = plan.scenarios.iter().map(|s| s.kind()).collect();
    let mut test = cold::ColdStartSource::new(stages, plan.common.cold.clone(), &kinds);
    run_with(plan, &mut test, stop, opts).await
}

/// Run a plan whose stages come from `source` (the plan's own stages
/// serve only the open-file check: give the busiest one).
pub async fn run_with(
    plan: RunPlan,
    source: &mut dyn engine::StageSource,
    stop: Stop,
    opts: RunOptions,
) -> Result<(RunResult, PathBuf), RunError> {
    let (sockets, wanted) = sockets_held(&plan);
    host::ensure_open_files(sockets, wanted)?;
    // Bound first: a port in use ends the run before anything is sent.
    let bound = match &plan.common.prometheus {
        Some(p) => Some(prometheus::bind(p).await?),
        None => None,
    };
    let web = match plan.common.web {
        Some(addr) => Some(web::bind(addr, plan.common.grace).await?),
        None => None,
    };
    let mut checked: Vec<&str> = Vec::new();
    for s in &plan.scenarios {
        let url = s.target.url();
        if !checked.contains(&url) {
            preflight(url).await?;
            checked.push(url);
        }
    }
    let metas: Vec<sink::ScenarioMeta> = plan
        .scenarios
        .iter()
        .map(|s| sink::ScenarioMeta {
            name: s.name.clone(),
            kind: s.kind(),
            chunk_ks: match &s.inputs {
                Inputs::Tts(t) => t.measure.chunk_ks.clone(),
                Inputs::Asr(_) | Inputs::Agent(_) => Vec::new(),
            },
        })
        .collect();
    let goodput = plan
        .scenarios
        .iter()
        .map(|s| {
            let kind = s.kind();
            plan.common
                .goodput
                .iter()
                .filter(|c| c.applies_to(kind))
                .cloned()
                .collect()
        })
        .collect();
    for judge in plan.scenarios.iter().filter_map(judge_plan) {
        preflight(&judge.target.url).await?;
    }
    let shard = plan.common.shard.as_ref();
    let start = match shard.and_then(|s| s.start.as_ref()) {
        Some(at) => Some(shard::start_time(at).await?),
        None => None,
    };
    if let Some(s) = shard {
        eprintln!("{}", shard::announce(s, start));
    }
    let info = crate::metrics::live::RunInfo {
        name: plan.common.name.clone(),
        kind: plan.kind().name().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        shard: shard.map(|s| s.shard.to_string()),
    };
    let session = Session::open(
        info,
        &plan.common.out_dir,
        plan.stage_count(),
        &metas,
        goodput,
        plan.common.cold.after,
        start,
    )?;
    let exporter = bound.map(|b| b.serve(&session.sink));
    let client = HttpClient::new(CONNECT_TIMEOUT);
    // The judges' own client: their requests never take the TTS requests'
    // pooled connections.
    let judge_client = HttpClient::new(CONNECT_TIMEOUT);
    let mut pacer = None;
    let mixed = plan.is_mixed();
    let mut scenarios = Vec::with_capacity(plan.scenarios.len());
    for (j, s) in plan.scenarios.iter().enumerate() {
        let adapter = Adapter::new(&s.target, &client, &mut pacer)?;
        let tag: Option<Arc<str>> = mixed.then(|| Arc::from(s.name.as_str()));
        let sink = session.sink.scenario(j);
        let seed = plan.common.seed ^ ((j as u64) << 40);
        let judge = match judge_plan(s) {
            Some(p) => {
                let path = session.out.join("judge.jsonl");
                (session.sink.judges.enable(&path, p.wait))
                    .map_err(|source| RunError::OutDir { path, source })?;
                let to: Arc<dyn judge::JudgeSink> = sink.clone();
                Some(judge::Judge::start(
                    p,
                    seed,
                    tag.clone(),
                    to,
                    judge_client.clone(),
                )?)
            }
            None => None,
        };
        scenarios.push(AnyExecutor::new(
            s,
            adapter,
            seed,
            tag,
            sink,
            session.run_start,
            judge,
        )?);
    }
    let frame = RunFrame {
        name: plan.common.name.clone(),
        kind: plan.kind(),
        min_success: plan.common.min_success,
        seed: plan.common.seed,
        scenarios: plan
            .scenarios
            .iter()
            .map(|s| describe::info(s, mixed))
            .collect(),
        slo: plan.common.slo.clone(),
        config: serde_json::to_value(&plan).unwrap_or_else(
            |e| serde_json::json!({ "error": format!("the plan could not be recorded: {e}") }),
        ),
        notes: describe::notes(&plan),
        shard: shard.map(|s| crate::result::ShardInfo {
            shard: s.shard,
            run_seed: s.run_seed,
            plan_digest: s.plan_digest.clone(),
            start_at: start.map(|t| humantime::format_rfc3339_millis(t).to_string()),
        }),
    };
    let beside = engine::Beside {
        scrapes: scrape::Scrapes::start(plan.common.scrape.as_ref(), session.run_start),
        web,
    };
    // Shards started together begin each stage at its common time.
    let mut aligned;
    let source: &mut dyn engine::StageSource = match (start, shard) {
        (Some(t), Some(s)) => {
            aligned = shard::Aligned::new(source, t, s.stage_gap);
            &mut aligned
        }
        _ => source,
    };
    let ran = engine::drive(
        frame,
        source,
        session,
        scenarios,
        beside,
        stop.clone(),
        opts,
    )
    .await;
    if let Some(exporter) = exporter {
        match &ran {
            Ok(_) => exporter.finish(&stop).await,
            Err(_) => exporter.close().await,
        }
    }
    ran
}
