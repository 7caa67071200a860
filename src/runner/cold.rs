//! A cold-start test on the one engine (`--idle-gap`): for each gap, the
//! plan's stages (warm traffic), then idle for the gap, then probes sent
//! one at a time, each its own stage so every probe's latency is kept in
//! order. With `--ready-url`, a health URL is polled from the gap's end
//! until it answers 2xx or the probes are over.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::engine::{FixedStages, StageSource};
use crate::config::ColdStarts;
use crate::protocol::ready::{wait_ready, Readiness};
use crate::protocol::{HttpClient, Kind};
use crate::result::cold::{ColdGap, ColdStartResult, ReadyRow};
use crate::result::{RunResult, StageResult};
use crate::workload::backoff::RetryPolicy;
use crate::workload::{StageSpec, Workload};

/// The longest the health URL is polled after a gap when the probes are
/// still running.
const READY_WITHIN: Duration = Duration::from_secs(600);

/// Where a stage of the test stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Warm traffic before gap `gap`: the plan's stage `stage`.
    Warm { gap: usize, stage: usize },
    /// Probe `k` (from 0) after gap `gap`.
    Probe { gap: usize, k: u64 },
}

/// The polling of one gap's health URL: its stop, where it is, and how
/// it ended.
struct ReadyPoll {
    stop: CancellationToken,
    start: Instant,
    state: Arc<Mutex<PollState>>,
}

/// Failed polls so far and the last answer; the outcome once known.
#[derive(Default)]
struct PollState {
    polls: u64,
    last: String,
    outcome: Option<Readiness>,
}

impl ReadyPoll {
    /// Stop polling: a wait still going is not ready (what it saw so far).
    fn end(&self) {
        self.stop.cancel();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.outcome.is_none() {
            st.outcome = Some(Readiness::NotReady {
                waited: self.start.elapsed(),
                polls: st.polls,
                last: std::mem::take(&mut st.last),
            });
        }
    }
}

/// The stages of a cold-start test.
pub struct ColdStartSource {
    fixed: FixedStages,
    cold: ColdStarts,
    steps: Vec<Step>,
    /// Per scenario: its headline metric's name.
    metrics: Vec<String>,
    client: HttpClient,
    /// Per gap, once its probes began.
    ready: Vec<Option<ReadyPoll>>,
}

impl ColdStartSource {
    /// The test of `cold`'s gaps around `fixed`'s stages, for scenarios
    /// of `kinds` (in plan order).
    pub fn new(fixed: FixedStages, cold: ColdStarts, kinds: &[Kind]) -> Self {
        let warm = fixed.stages.first().map_or(0, Vec::len);
        let steps = (0..cold.gaps.len())
            .flat_map(|gap| {
                let warm = (0..warm).map(move |stage| Step::Warm { gap, stage });
                warm.chain((0..cold.probes).map(move |k| Step::Probe { gap, k }))
            })
            .collect();
        let metrics = kinds
            .iter()
            .map(|k| crate::metrics::registry::live_metric(*k).0.name())
            .collect();
        Self {
            ready: cold.gaps.iter().map(|_| None).collect(),
            fixed,
            cold,
            steps,
            metrics,
            client: HttpClient::new(super::CONNECT_TIMEOUT),
        }
    }

    /// One probe per scenario: a single request from a single user.
    fn probe(&self, gap: usize, k: u64) -> StageSpec {
        let idle = humantime::format_duration(self.cold.gaps[gap]);
        StageSpec {
            label: format!("after {idle} idle: probe {}", k + 1),
            workload: Workload::Closed {
                concurrency: 1,
                spawn_rate: None,
                think_time: Duration::ZERO,
                retry: RetryPolicy::off(),
            },
            requests: Some(1),
            duration: None,
            warmup: 0,
        }
    }

    /// Every gap whose probes have begun, from the stages in `result`.
    fn outcome(&self, result: &RunResult) -> ColdStartResult {
        let mut gaps = Vec::new();
        let scenarios = self.metrics.len();
        let stages_of = |pick: &dyn Fn(&Step) -> bool| -> Vec<usize> {
            (0..self.steps.len())
                .filter(|i| pick(&self.steps[*i]))
                .collect()
        };
        for (g, idle) in self.cold.gaps.iter().enumerate() {
            let probes = stages_of(&|s| matches!(s, Step::Probe { gap, .. } if *gap == g));
            let Some(warm) = stages_of(&|s| matches!(s, Step::Warm { gap, .. } if *gap == g))
                .last()
                .copied()
            else {
                continue;
            };
            for j in 0..scenarios {
                // Stage i of scenario j, when it ran.
                let stage = |i: usize| -> Option<&StageResult> {
                    result.stages.iter().filter(|s| s.index == i).nth(j)
                };
                let ran: Vec<&StageResult> = probes.iter().filter_map(|&i| stage(i)).collect();
                let Some(warm) = stage(warm).filter(|_| !ran.is_empty()) else {
                    continue;
                };
                let mut row = ColdGap::new(idle.as_secs_f64(), &self.metrics[j], warm, &ran);
                row.ready = self.ready_row(g);
                gaps.push(row);
            }
        }
        ColdStartResult {
            cold_after_s: self.cold.after.as_secs_f64(),
            gaps,
        }
    }

    fn ready_row(&self, gap: usize) -> Option<ReadyRow> {
        let poll = self.ready.get(gap)?.as_ref()?;
        let st = poll.state.lock().unwrap_or_else(|p| p.into_inner());
        Some(match st.outcome.as_ref() {
            Some(ended) => ReadyRow::of(ended),
            None => ReadyRow {
                after_s: None,
                polls: st.polls,
                last: Some(format!("still waiting ({})", st.last)),
            },
        })
    }

    /// Start polling the health URL of gap `gap` now.
    fn start_ready_poll(&mut self, gap: usize) {
        let Some(uri) = self
            .cold
            .ready_url
            .as_deref()
            .and_then(|u| crate::protocol::target::parse_http_uri(u).ok())
        else {
            return;
        };
        let poll = ReadyPoll {
            stop: CancellationToken::new(),
            start: Instant::now(),
            state: Arc::default(),
        };
        let (client, stop, state, start) = (
            self.client.clone(),
            poll.stop.clone(),
            poll.state.clone(),
            poll.start,
        );
        tokio::spawn(async move {
            let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
            let progress = |polls: u64, last: &str| {
                let mut st = lock();
                st.polls = polls;
                last.clone_into(&mut st.last);
            };
            let r = wait_ready(&client, &uri, start, READY_WITHIN, &stop, progress).await;
            // A wait ended by the probes' end has its outcome already.
            lock().outcome.get_or_insert(r);
        });
        if let Some(slot) = self.ready.get_mut(gap) {
            *slot = Some(poll);
        }
    }
}

impl StageSource for ColdStartSource {
    fn next(&mut self, index: usize, so_far: &RunResult) -> Option<Vec<StageSpec>> {
        match *self.steps.get(index)? {
            Step::Warm { stage, .. } => self.fixed.at(stage, so_far, 0),
            Step::Probe { gap, k } => Some(
                (0..self.fixed.stages.len())
                    .map(|_| self.probe(gap, k))
                    .collect(),
            ),
        }
    }

    fn before_stage(&mut self, index: usize) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if let Some(&Step::Probe { gap, k: 0 }) = self.steps.get(index) {
                let idle = self.cold.gaps[gap];
                eprintln!(
                    "cold start: idle for {} before the probes",
                    humantime::format_duration(idle)
                );
                tokio::time::sleep(idle).await;
                self.start_ready_poll(gap);
            }
            Ok(())
        })
    }

    fn after_stage(&mut self, index: usize, result: &mut RunResult) {
        if let Some(&Step::Probe { gap, k }) = self.steps.get(index) {
            if k + 1 == self.cold.probes {
                if let Some(Some(poll)) = self.ready.get(gap) {
                    poll.end();
                }
            }
        }
        result.cold_start = Some(self.outcome(result));
    }

    fn finish(&mut self, result: &mut RunResult) {
        for poll in self.ready.iter().flatten() {
            poll.end();
        }
        result.cold_start = Some(self.outcome(result));
    }
}
