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

use bytes::Bytes;

use super::agent::AgentJobs;
use super::asr::AsrJobs;
use super::tts::TtsJobs;
use super::RunError;
use crate::config::{Inputs, Scenario};
use crate::metrics::RequestRecord;
use crate::protocol::adapter::WsAgent;
use crate::protocol::http_asr::{HttpAsr, PreparedUpload};
use crate::protocol::http_tts::HttpTts;
use crate::protocol::ws_asr::WsAsr;
use crate::protocol::{Adapter, ErrorKind, ProtocolError};
use crate::units::micros;
use crate::workload::driver::cancelled_record;
use crate::workload::{Arrival, Executor, StageSink};

/// A measured record with the instants its run-clock times come from.
pub struct Done {
    /// The record, measured but not yet stamped.
    pub record: RequestRecord,
    /// Its time origin (scheduled start in open loop, actual send in closed).
    pub origin: Instant,
    /// When it ended.
    pub end: Instant,
}

/// A scenario's adapter with what its arrivals send, prepared before the
/// run: one variant per [`Adapter`] variant.
enum Calls {
    HttpTts(HttpTts, TtsJobs),
    HttpAsr(HttpAsr, AsrJobs<PreparedUpload>),
    WsAsr(WsAsr, AsrJobs<Bytes>),
    WsAgent(WsAgent, AgentJobs),
}

/// Executes one scenario's arrivals for one run.
pub struct ScenarioExecutor<S> {
    calls: Calls,
    /// The scenario's name in a run of several (every record carries it).
    tag: Option<Arc<str>>,
    sink: Arc<S>,
    run_start: Instant,
}

/// `fut` bounded by `limit`; running out is a timeout failure that says
/// what did not complete.
pub async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, ProtocolError>>,
) -> Result<T, ProtocolError> {
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
        Err(ProtocolError::new(
            ErrorKind::Timeout,
            format!(
                "no complete {what} within {}",
                humantime::format_duration(limit)
            ),
        ))
    })
}

impl<S: StageSink> ScenarioExecutor<S> {
    /// Prepare every input of `scenario` for `adapter` (bodies, uploads,
    /// PCM), so the load loop only sends. Its records go to `sink`, timed
    /// from `run_start`; `tag` names the scenario in a run of several.
    pub fn new(
        scenario: &Scenario,
        adapter: Adapter,
        seed: u64,
        tag: Option<Arc<str>>,
        sink: Arc<S>,
        run_start: Instant,
    ) -> Result<Self, RunError> {
        let calls = match (adapter, &scenario.inputs) {
            (Adapter::HttpTts(tts), Inputs::Tts(inputs)) => {
                let jobs = TtsJobs::new(&tts, inputs.clone(), &scenario.stages, seed);
                Calls::HttpTts(tts, jobs)
            }
            (Adapter::HttpAsr(http), Inputs::Asr(inputs)) => {
                let jobs = AsrJobs::uploads(inputs.clone(), &http)?;
                Calls::HttpAsr(http, jobs)
            }
            (Adapter::WsAsr(ws), Inputs::Asr(inputs)) => {
                let jobs = AsrJobs::pcm(inputs.clone(), &ws)?;
                Calls::WsAsr(ws, jobs)
            }
            (Adapter::WsAgent(agent), Inputs::Agent(inputs)) => {
                let jobs = AgentJobs::new(inputs.clone(), agent.target(), seed);
                Calls::WsAgent(agent, jobs)
            }
            (adapter, _) => return Err(RunError::Mismatch(adapter.kind())),
        };
        Ok(Self {
            calls,
            tag,
            sink,
            run_start,
        })
    }

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

impl<S: StageSink> Executor for ScenarioExecutor<S> {
    async fn execute(&self, a: Arrival) -> RequestRecord {
        let done = match &self.calls {
            Calls::HttpTts(tts, jobs) => jobs.speak(tts, &a).await,
            Calls::HttpAsr(http, jobs) => jobs.upload(http, &a).await,
            Calls::WsAsr(ws, jobs) => jobs.stream(ws, &a).await,
            Calls::WsAgent(agent, jobs) => {
                // A finished turn that does not end the call is on disk at once.
                let part = |turn: Done| self.sink.record_part(self.stamp(&a, turn));
                jobs.call(agent, &a, &part).await
            }
        };
        self.stamp(&a, done)
    }

    fn cancelled(&self, a: Arrival, started: Instant) -> RequestRecord {
        let mut r = cancelled_record(
            a,
            self.since_start_us(started),
            self.since_start_us(Instant::now()),
        );
        r.scenario.clone_from(&self.tag);
        if let Calls::WsAgent(_, jobs) = &self.calls {
            // The script is known from the arrival (the choice is seeded).
            r.script = Some(jobs.script_name(&a));
        }
        r
    }
}
