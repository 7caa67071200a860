//! The voice-agent executor: one arrival → one conversation → one record
//! per turn.
//!
//! The driver counts conversations (a "request" of the workload is a call);
//! statistics count turns. A turn that went well and is not the script's
//! last is handed to the sink the moment it is over, so `requests.jsonl`
//! has it even if the call is cut short (Ctrl-C, SIGTERM, the call's time
//! limit); the turn that ends the call (the last, or a failure) is the
//! driver's record of the arrival.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::agent::{AgentPlan, Script};
use crate::metrics::defs_agent::{measure_turn, TurnContext};
use crate::metrics::RequestRecord;
use crate::protocol::ws::connect;
use crate::protocol::ws_agent_session::{converse, Conversation, TurnTimes};
use crate::protocol::ws_pacer::Pacer;
use crate::protocol::{ErrorKind, ProtocolError};
use crate::workload::driver::cancelled_record;
use crate::workload::{Arrival, Executor, StageSink};

/// Peak amplitude of the noise between utterances (about −60 dBFS): a live
/// microphone in a quiet room, well below any voice activity threshold.
const NOISE_AMPLITUDE: i16 = 32;

/// Executes conversations for one run.
pub struct AgentExecutor<S> {
    plan: Arc<AgentPlan>,
    sink: Arc<S>,
    /// Cumulative script weights, for a weighted choice.
    cumulative: Vec<f64>,
    noise: Bytes,
    /// Times every call's frames.
    pacer: Pacer,
    run_start: Instant,
}

/// One frame of deterministic low-level noise.
fn noise_frame(bytes: usize) -> Bytes {
    let mut rng = SmallRng::seed_from_u64(0x6e6f697365);
    let samples = bytes / 2;
    let pcm: Vec<u8> = (0..samples)
        .flat_map(|_| {
            rng.random_range(-NOISE_AMPLITUDE..=NOISE_AMPLITUDE)
                .to_le_bytes()
        })
        .collect();
    Bytes::from(pcm)
}

impl<S: StageSink> AgentExecutor<S> {
    /// An executor that hands finished turns to `sink` (the run's sink).
    pub fn new(plan: Arc<AgentPlan>, sink: Arc<S>, run_start: Instant) -> Self {
        let mut total = 0.0;
        let cumulative = plan
            .scripts
            .iter()
            .map(|s| {
                total += s.weight;
                total
            })
            .collect();
        let noise = noise_frame(plan.target.frame_bytes());
        Self {
            plan,
            sink,
            cumulative,
            noise,
            pacer: Pacer::new(),
            run_start,
        }
    }

    fn since_start_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.run_start).as_micros() as u64
    }

    /// The script and barge-in plan of one arrival: drawn from the seed,
    /// the stage and the arrival's number, so a run is reproducible.
    fn choose(&self, a: &Arrival) -> (&Script, Vec<Option<Duration>>) {
        let mix = self.plan.seed ^ ((a.stage as u64) << 48) ^ a.seq.wrapping_mul(0x9e37_79b9);
        let mut rng = SmallRng::seed_from_u64(mix);
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.random::<f64>() * total;
        let i = self
            .cumulative
            .iter()
            .position(|c| x < *c)
            .unwrap_or(self.cumulative.len().saturating_sub(1));
        let script = &self.plan.scripts[i];
        let barge = (0..script.turns.len())
            .map(|_| (rng.random::<f64>() < self.plan.barge_in).then_some(self.plan.barge_in_after))
            .collect();
        (script, barge)
    }

    /// A finished turn's record, labelled with its conversation.
    fn turn_record(
        &self,
        a: &Arrival,
        script: &Script,
        t: &TurnTimes,
        c: &TurnContext,
    ) -> RequestRecord {
        let mut r = measure_turn(t, c);
        r.stage = a.stage;
        r.seq = a.seq;
        r.warmup = a.warmup;
        r.script = Some(script.name.clone());
        let start = if t.index == 0 {
            a.intended_at.unwrap_or(c.started)
        } else {
            t.speech_started.unwrap_or(c.started)
        };
        r.start_us = self.since_start_us(start);
        r.end_us = self.since_start_us(t.response_end.unwrap_or_else(Instant::now));
        r
    }
}

impl<S: StageSink> Executor for AgentExecutor<S> {
    async fn execute(&self, a: Arrival) -> RequestRecord {
        let (script, barge) = self.choose(&a);
        let target = &self.plan.target;
        let mut ctx = TurnContext {
            started: Instant::now(),
            scheduled: a.intended_at,
            connected_at: None,
            barge_in_quiet: target.barge_in_quiet,
        };
        // A turn that ends the call is held back: it becomes the arrival's
        // record. If the call is abandoned instead, the guard writes it.
        let held = HeldTurn {
            record: Mutex::new(None),
            sink: &*self.sink,
        };
        let turns_done = Mutex::new(0usize);
        let call = async {
            let opened = tokio::time::timeout(
                target.connect_timeout,
                connect(&target.url, &target.headers),
            )
            .await
            .unwrap_or_else(|_| {
                Err(ProtocolError::new(
                    ErrorKind::Timeout,
                    format!(
                        "no WebSocket connection within {} (TCP connect and upgrade)",
                        humantime::format_duration(target.connect_timeout)
                    ),
                ))
            });
            let ws = match opened {
                Ok(ws) => ws,
                Err(e) => {
                    let failed = TurnTimes {
                        error: Some(e),
                        ..TurnTimes::default()
                    };
                    held.hold(self.turn_record(&a, script, &failed, &ctx));
                    return;
                }
            };
            ctx.connected_at = Some(Instant::now());
            let talk = Conversation {
                turns: &script.turns,
                barge_in: &barge,
                pause: self.plan.pause,
                noise: &self.noise,
            };
            let ctx = ctx;
            converse(ws, &self.pacer, target, talk, |t: TurnTimes| {
                let ends_call = t.error.is_some() || t.index + 1 >= script.turns.len();
                let record = self.turn_record(&a, script, &t, &ctx);
                *turns_done.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                if ends_call {
                    held.hold(record);
                } else {
                    self.sink.record_part(record);
                }
            })
            .await;
        };
        let limit = self.plan.session_limit(script);
        if tokio::time::timeout(limit, call).await.is_err() {
            // Bounded whatever the agent does; the open turn fails.
            let done = *turns_done.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(previous) = held.take() {
                self.sink.record_part(previous);
            }
            let t = TurnTimes {
                index: done,
                error: Some(ProtocolError::new(
                    ErrorKind::Timeout,
                    format!(
                        "conversation exceeded its limit of {}",
                        humantime::format_duration(limit)
                    ),
                )),
                ..TurnTimes::default()
            };
            return self.turn_record(&a, script, &t, &ctx);
        }
        held.take().unwrap_or_else(|| {
            let t = TurnTimes {
                error: Some(ProtocolError::new(
                    ErrorKind::Reset,
                    "conversation ended before its first turn",
                )),
                ..TurnTimes::default()
            };
            self.turn_record(&a, script, &t, &ctx)
        })
    }

    fn cancelled(&self, a: Arrival, started: Instant) -> RequestRecord {
        // The script is known from the arrival (the choice is seeded).
        let script = self.choose(&a).0.name.clone();
        let mut r = cancelled_record(
            a,
            self.since_start_us(started),
            self.since_start_us(Instant::now()),
        );
        r.script = Some(script);
        r
    }
}

/// The record of the turn that ended a call, until the call returns it.
/// Dropped with a record still inside (the call was abandoned by Ctrl-C or
/// SIGTERM while saying goodbye), it hands the record to the sink.
struct HeldTurn<'a, S: StageSink> {
    record: Mutex<Option<RequestRecord>>,
    sink: &'a S,
}

impl<S: StageSink> HeldTurn<'_, S> {
    /// Hold `record`; one held before (a barged turn failed together with
    /// the turn after it) goes to the sink.
    fn hold(&self, record: RequestRecord) {
        let previous = self
            .record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(record);
        if let Some(previous) = previous {
            self.sink.record_part(previous);
        }
    }

    fn take(&self) -> Option<RequestRecord> {
        self.record.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl<S: StageSink> Drop for HeldTurn<'_, S> {
    fn drop(&mut self) {
        if let Some(record) = self.take() {
            self.sink.record_part(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_quiet_and_deterministic() {
        let a = noise_frame(640);
        assert_eq!(a, noise_frame(640));
        assert_eq!(a.len(), 640);
        let peak = a
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs())
            .max();
        assert!(peak.is_some_and(|p| p > 0 && p <= NOISE_AMPLITUDE as u16));
    }
}
