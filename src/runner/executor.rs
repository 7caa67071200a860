//! The one executor: an arrival of a scenario → its adapter → measured
//! record(s). Whatever the protocol, this is where a record gets its stage,
//! sequence number, warm-up flag, scenario and run-clock times, where a
//! cancelled request is recorded, and where records are handed to the sink.
//! What differs per protocol — which input an arrival sends and how its
//! probe becomes a record — is in [`super::tts`], [`super::asr`] and
//! [`super::agent`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use bytes::Bytes;
use futures_util::FutureExt as _;

use super::agent::AgentJobs;
use super::asr::AsrJobs;
use super::judge::Judge;
use super::tts::TtsJobs;
use super::RunError;
use crate::audio::packets::PacketTrack;
use crate::config::{Inputs, Scenario};
use crate::metrics::RequestRecord;
use crate::protocol::adapter::WsAgent;
use crate::protocol::agent_call::AgentLine;
use crate::protocol::http_asr::{HttpAsr, PreparedUpload};
use crate::protocol::http_tts::HttpTts;
use crate::protocol::webrtc::RtcAgent;
use crate::protocol::ws_asr::WsAsr;
use crate::protocol::ws_tts::WsTts;
use crate::protocol::{Adapter, ErrorKind, ProtocolError};
use crate::units::micros;
use crate::workload::driver::cancelled_record;
use crate::workload::{run_stage, Arrival, Executor, StageOutcome, StageSink, StageSpec, Stop};

/// A measured record with the instants its run-clock times come from.
pub struct Done {
    /// The record, measured but not yet stamped.
    pub record: RequestRecord,
    /// Its time origin (scheduled start in open loop, actual send in closed).
    pub origin: Instant,
    /// When it ended.
    pub end: Instant,
}

/// What one protocol does with an arrival: send what it is to send and
/// measure the answer into [`Done`] records (a call hands each turn but the
/// last to `part` as it ends). The [`ScenarioExecutor`] does the rest.
pub trait Call: Send + Sync + 'static {
    /// Execute arrival `a`.
    fn call<'a>(
        &'a self,
        a: &'a Arrival,
        part: &'a (dyn Fn(Done) + Sync),
    ) -> impl Future<Output = Done> + Send + 'a;

    /// The script of arrival `a`, for protocols that choose one per arrival.
    fn script(&self, _a: &Arrival) -> Option<String> {
        None
    }

    /// What the run's end must say about this scenario's calls so far
    /// (a declared sample rate other than the configured one), each once.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The first warning of a scenario's calls: noted once, however many
/// calls would say the same (a server declaring another sample rate says
/// so on every answer).
#[derive(Debug, Default)]
pub struct FirstWarning(std::sync::OnceLock<String>);

impl FirstWarning {
    /// Keep what `make` says, unless a warning is kept already (then
    /// `make` is not called).
    pub fn note(&self, make: impl FnOnce() -> Option<String>) {
        if self.0.get().is_none() {
            if let Some(w) = make() {
                let _ = self.0.set(w);
            }
        }
    }

    /// The warning kept, if any.
    pub fn get(&self) -> Vec<String> {
        self.0.get().cloned().into_iter().collect()
    }
}

/// An adapter bound to what its arrivals send.
pub struct Bound<A, J> {
    adapter: A,
    jobs: J,
}

impl Call for Bound<HttpTts, TtsJobs> {
    fn call<'a>(
        &'a self,
        a: &'a Arrival,
        _: &'a (dyn Fn(Done) + Sync),
    ) -> impl Future<Output = Done> + Send + 'a {
        self.jobs.speak(&self.adapter, a)
    }

    fn warnings(&self) -> Vec<String> {
        self.jobs.warnings()
    }
}

impl Call for Bound<WsTts, TtsJobs> {
    fn call<'a>(
        &'a self,
        a: &'a Arrival,
        _: &'a (dyn Fn(Done) + Sync),
    ) -> impl Future<Output = Done> + Send + 'a {
        self.jobs.speak_ws(&self.adapter, a)
    }

    fn warnings(&self) -> Vec<String> {
        self.jobs.warnings()
    }
}

impl Call for Bound<HttpAsr, AsrJobs<PreparedUpload>> {
    fn call<'a>(
        &'a self,
        a: &'a Arrival,
        _: &'a (dyn Fn(Done) + Sync),
    ) -> impl Future<Output = Done> + Send + 'a {
        self.jobs.upload(&self.adapter, a)
    }
}

impl Call for Bound<WsAsr, AsrJobs<Bytes>> {
    fn call<'a>(
        &'a self,
        a: &'a Arrival,
        _: &'a (dyn Fn(Done) + Sync),
    ) -> impl Future<Output = Done> + Send + 'a {
        self.jobs.stream(&self.adapter, a)
    }
}

impl<L: AgentLine> Call for Bound<L, AgentJobs<L::Utterance>> {
    fn call<'a>(
        &'a self,
        a: &'a Arrival,
        part: &'a (dyn Fn(Done) + Sync),
    ) -> impl Future<Output = Done> + Send + 'a {
        self.jobs.call(&self.adapter, a, part)
    }

    fn script(&self, a: &Arrival) -> Option<String> {
        Some(self.jobs.script_name(a))
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = self.jobs.warnings();
        w.extend(self.adapter.warnings());
        w
    }
}

/// A WebRTC agent's arrivals: their turns as Opus, encoded once.
type RtcJobs = AgentJobs<Arc<PacketTrack>>;

/// Executes one scenario's arrivals for one run: the one executor, generic
/// over the protocol's [`Call`] so that each request's future is exactly
/// its protocol's size.
pub struct ScenarioExecutor<C, S> {
    call: C,
    /// The scenario's name in a run of several (every record carries it).
    tag: Option<Arc<str>>,
    sink: Arc<S>,
    run_start: Instant,
}

/// A scenario's executor, whatever its protocol: one variant per
/// [`Adapter`] variant. Matched once per stage, never per request.
pub enum AnyExecutor<S> {
    /// TTS over HTTP.
    HttpTts(Arc<ScenarioExecutor<Bound<HttpTts, TtsJobs>, S>>),
    /// ASR over HTTP.
    HttpAsr(Arc<ScenarioExecutor<Bound<HttpAsr, AsrJobs<PreparedUpload>>, S>>),
    /// Streaming ASR over WebSocket.
    WsAsr(Arc<ScenarioExecutor<Bound<WsAsr, AsrJobs<Bytes>>, S>>),
    /// A voice agent over WebSocket.
    WsAgent(Arc<ScenarioExecutor<Bound<WsAgent, AgentJobs>, S>>),
    /// A voice agent over WebRTC.
    RtcAgent(Arc<ScenarioExecutor<Bound<RtcAgent, RtcJobs>, S>>),
    /// TTS over WebSocket.
    WsTts(Arc<ScenarioExecutor<Bound<WsTts, TtsJobs>, S>>),
}

/// `fut` bounded by `limit`; running out is a timeout failure that says
/// what did not complete. A combinator, not an `async fn`: an async fn
/// would keep its argument beside the timeout that holds it, doubling the
/// size of every request's future (a conversation's is tens of KiB).
pub fn within<T, F>(
    limit: Duration,
    what: &'static str,
    fut: F,
) -> impl Future<Output = Result<T, ProtocolError>>
where
    F: Future<Output = Result<T, ProtocolError>>,
{
    tokio::time::timeout(limit, fut).map(move |r| {
        r.unwrap_or_else(|_| {
            Err(ProtocolError::new(
                ErrorKind::Timeout,
                format!(
                    "no complete {what} within {}",
                    humantime::format_duration(limit)
                ),
            ))
        })
    })
}

impl<S: StageSink> AnyExecutor<S> {
    /// Prepare every input of `scenario` for `adapter` (bodies, uploads,
    /// PCM), so the load loop only sends. Its records go to `sink`, timed
    /// from `run_start`; `tag` names the scenario in a run of several; a
    /// TTS scenario's `judge` gets a share of its audio.
    pub fn new(
        scenario: &Scenario,
        adapter: Adapter,
        seed: u64,
        tag: Option<Arc<str>>,
        sink: Arc<S>,
        run_start: Instant,
        judge: Option<Judge>,
    ) -> Result<Self, RunError> {
        macro_rules! exec {
            ($variant:ident, $adapter:expr, $jobs:expr) => {
                AnyExecutor::$variant(Arc::new(ScenarioExecutor {
                    call: Bound {
                        adapter: $adapter,
                        jobs: $jobs,
                    },
                    tag,
                    sink,
                    run_start,
                }))
            };
        }
        Ok(match (adapter, &scenario.inputs) {
            (Adapter::HttpTts(tts), Inputs::Tts(inputs)) => {
                let jobs =
                    TtsJobs::new(&tts, inputs.clone(), &scenario.stages, seed).with_judge(judge);
                exec!(HttpTts, tts, jobs)
            }
            (Adapter::WsTts(ws), Inputs::Tts(inputs)) => {
                let jobs = TtsJobs::for_ws(inputs.clone(), seed);
                exec!(WsTts, ws, jobs)
            }
            (Adapter::HttpAsr(http), Inputs::Asr(inputs)) => {
                let jobs = AsrJobs::uploads(inputs.clone(), &http)?;
                exec!(HttpAsr, http, jobs)
            }
            (Adapter::WsAsr(ws), Inputs::Asr(inputs)) => {
                let jobs = AsrJobs::pcm(inputs.clone(), &ws)?;
                exec!(WsAsr, ws, jobs)
            }
            (Adapter::WsAgent(agent), Inputs::Agent(inputs)) => {
                let jobs = AgentJobs::new(inputs.clone(), &*agent, seed)?;
                exec!(WsAgent, *agent, jobs)
            }
            (Adapter::RtcAgent(agent), Inputs::Agent(inputs)) => {
                let jobs = AgentJobs::new(inputs.clone(), &*agent, seed)?;
                exec!(RtcAgent, *agent, jobs)
            }
            (adapter, _) => return Err(RunError::Mismatch(adapter.kind())),
        })
    }

    /// Run stage `index` (`spec`) of this scenario in a task of its own.
    pub fn spawn_stage(
        &self,
        index: usize,
        spec: StageSpec,
        stop: Stop,
    ) -> JoinHandle<StageOutcome> {
        fn spawn<C: Call, S: StageSink>(
            exec: &Arc<ScenarioExecutor<C, S>>,
            index: usize,
            spec: StageSpec,
            stop: Stop,
        ) -> JoinHandle<StageOutcome> {
            let (exec, sink) = (exec.clone(), exec.sink.clone());
            tokio::spawn(async move { run_stage(index, &spec, exec, sink, &stop).await })
        }
        match self {
            AnyExecutor::HttpTts(e) => spawn(e, index, spec, stop),
            AnyExecutor::HttpAsr(e) => spawn(e, index, spec, stop),
            AnyExecutor::WsAsr(e) => spawn(e, index, spec, stop),
            AnyExecutor::WsAgent(e) => spawn(e, index, spec, stop),
            AnyExecutor::RtcAgent(e) => spawn(e, index, spec, stop),
            AnyExecutor::WsTts(e) => spawn(e, index, spec, stop),
        }
    }
}

impl<S: StageSink> AnyExecutor<S> {
    /// The scenario's warnings for the end of the run (see [`Call::warnings`]).
    pub fn warnings(&self) -> Vec<String> {
        match self {
            AnyExecutor::HttpTts(e) => e.call.warnings(),
            AnyExecutor::HttpAsr(e) => e.call.warnings(),
            AnyExecutor::WsAsr(e) => e.call.warnings(),
            AnyExecutor::WsAgent(e) => e.call.warnings(),
            AnyExecutor::RtcAgent(e) => e.call.warnings(),
            AnyExecutor::WsTts(e) => e.call.warnings(),
        }
    }
}

impl<C: Call, S: StageSink> ScenarioExecutor<C, S> {
    fn since_start_us(&self, at: Instant) -> u64 {
        micros(at.saturating_duration_since(self.run_start))
    }

    /// `done` as the record of arrival `a`.
    fn stamp(&self, a: &Arrival, done: Done) -> RequestRecord {
        let mut r = done.record;
        r.stage = a.stage;
        r.seq = a.seq;
        r.warmup = a.warmup;
        r.scenario.clone_from(&self.tag);
        r.start_us = self.since_start_us(done.origin);
        r.end_us = self.since_start_us(done.end);
        r
    }
}

impl<C: Call, S: StageSink> Executor for ScenarioExecutor<C, S> {
    async fn execute(&self, a: Arrival) -> RequestRecord {
        // A finished turn that does not end a call is on disk at once.
        let part = |turn: Done| self.sink.record_part(self.stamp(&a, turn));
        let done = self.call.call(&a, &part).await;
        self.stamp(&a, done)
    }

    fn cancelled(&self, a: Arrival, started: Instant) -> RequestRecord {
        let script = self.call.script(&a);
        let mut r = cancelled_record(
            a,
            self.since_start_us(started),
            self.since_start_us(Instant::now()),
        );
        r.scenario.clone_from(&self.tag);
        // The script is known from the arrival (the choice is seeded).
        r.script = script;
        r
    }
}
