//! Voice-agent arrivals: one arrival → one conversation → one record per
//! turn.
//!
//! The driver counts conversations (a "request" of the workload is a call);
//! statistics count turns. A turn that went well and is not the script's
//! last is handed on (to the sink) the moment it is over, so
//! `requests.jsonl` has it even if the call is cut short (Ctrl-C, SIGTERM,
//! the call's time limit); the turn that ends the call (the last, or a
//! failure) is the driver's record of the arrival.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::executor::{within, Done, FirstWarning};
use super::RunError;
use crate::audio::codec::Codec;
use crate::audio::rate::{mismatch_warning, DeclaredRate, RateSource};
use crate::audio::track::TurnAudio;
use crate::config::agent::{AgentInputs, Script};
use crate::metrics::defs_agent::{measure_turn, TurnContext};
use crate::metrics::wer::{word_errors, Normalization};
use crate::protocol::agent_call::{AgentLine, Conversation, TurnTimes};
use crate::protocol::{ErrorKind, ProtocolError};
use crate::workload::Arrival;

/// Peak amplitude of the noise between utterances (about −60 dBFS): a live
/// microphone in a quiet room, well below any voice activity threshold.
const NOISE_AMPLITUDE: i16 = 32;

/// What a voice-agent scenario's arrivals say, `U` being one utterance as
/// the agent's transport sends it ([`AgentLine::Utterance`]).
pub struct AgentJobs<U = Bytes> {
    inputs: AgentInputs,
    /// Cumulative script weights, for a weighted choice.
    cumulative: Vec<f64>,
    /// Per script, its turns as sent.
    turns: Vec<Vec<U>>,
    noise: U,
    seed: u64,
    barge_in_quiet: Duration,
    /// The configured agent audio rate and the path an announced one is
    /// read at, for the warning when they disagree.
    agent_rate: u32,
    rate_path: Option<String>,
    rate_warning: FirstWarning,
}

/// One frame of deterministic low-level noise, `samples` long, in `codec`.
fn noise_frame(samples: usize, codec: Codec) -> Bytes {
    let mut rng = SmallRng::seed_from_u64(0x6e6f697365);
    let pcm: Vec<u8> = (0..samples)
        .flat_map(|_| {
            rng.random_range(-NOISE_AMPLITUDE..=NOISE_AMPLITUDE)
                .to_le_bytes()
        })
        .collect();
    Bytes::from(codec.encode(&pcm))
}

impl<U: Send + Sync + 'static> AgentJobs<U> {
    /// Prepare `inputs` for calls to `line` (each turn's audio made into
    /// what it sends, once); `seed` drives the script and barge-in choices.
    pub fn new<L: AgentLine<Utterance = U>>(
        inputs: AgentInputs,
        line: &L,
        seed: u64,
    ) -> Result<Self, RunError> {
        let target = line.agent();
        let turns = inputs
            .scripts
            .iter()
            .map(|s| {
                let made = s.turns.iter().enumerate().map(|(i, audio)| {
                    line.utterance(audio).map_err(|e| RunError::Utterance {
                        script: s.name.clone(),
                        turn: i + 1,
                        source_file: s.sources.get(i).cloned().unwrap_or_default(),
                        reason: e.detail,
                    })
                });
                made.collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let noise = noise_frame(
            target.frame_bytes() / target.codec.bytes_per_sample(),
            target.codec,
        );
        let noise =
            line.utterance(&TurnAudio::Samples(noise))
                .map_err(|e| RunError::Utterance {
                    script: "(noise between turns)".into(),
                    turn: 0,
                    source_file: String::new(),
                    reason: e.detail,
                })?;
        let mut total = 0.0;
        let cumulative = inputs
            .scripts
            .iter()
            .map(|s| {
                total += s.weight;
                total
            })
            .collect();
        Ok(Self {
            turns,
            noise,
            inputs,
            cumulative,
            seed,
            barge_in_quiet: target.barge_in_quiet,
            agent_rate: target.agent_sample_rate,
            rate_path: target.rules.rate_path.clone(),
            rate_warning: FirstWarning::default(),
        })
    }

    /// What the end of the run must say (an announced rate other than the
    /// configured one).
    pub fn warnings(&self) -> Vec<String> {
        self.rate_warning.get()
    }

    /// The script and barge-in plan of one arrival: drawn from the seed,
    /// the stage and the arrival's number, so a run is reproducible.
    fn choose(&self, a: &Arrival) -> (usize, &Script, Vec<Option<Duration>>) {
        let mix = self.seed ^ ((a.stage as u64) << 48) ^ a.seq.wrapping_mul(0x9e37_79b9);
        let mut rng = SmallRng::seed_from_u64(mix);
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.random::<f64>() * total;
        let i = self
            .cumulative
            .iter()
            .position(|c| x < *c)
            .unwrap_or(self.cumulative.len().saturating_sub(1));
        let script = &self.inputs.scripts[i];
        let barge = (0..script.turns.len())
            .map(|_| {
                (rng.random::<f64>() < self.inputs.barge_in).then_some(self.inputs.barge_in_after)
            })
            .collect();
        (i, script, barge)
    }

    /// The name of the script arrival `a` speaks.
    pub fn script_name(&self, a: &Arrival) -> String {
        self.choose(a).1.name.clone()
    }

    /// A finished turn's record, labelled with its conversation.
    fn turn(&self, a: &Arrival, script: &Script, t: &TurnTimes, c: &TurnContext) -> Done {
        let mut record = measure_turn(t, c);
        self.rate_warning.note(|| match t.sample_rate {
            Some((rate, RateSource::Message)) => {
                let declared = DeclaredRate {
                    rate,
                    channels: None,
                    source: RateSource::Message,
                    by: self.rate_path.clone().unwrap_or_default().into(),
                };
                mismatch_warning(self.agent_rate, &declared)
            }
            _ => None,
        });
        record.script = Some(script.name.clone());
        let reference = script.references.get(t.index).and_then(Option::as_deref);
        if let (Some(reference), Some(heard), None) = (reference, &record.transcript, &record.error)
        {
            let we = word_errors(reference, heard, &Normalization::default());
            if we.ref_words > 0 {
                record.word_errors = Some(we.errors());
                record.ref_words = Some(we.ref_words);
                record.wer = we.wer();
            }
        }
        let origin = if t.index == 0 {
            a.intended_at.unwrap_or(c.started)
        } else {
            t.speech_started.unwrap_or(c.started)
        };
        Done {
            record,
            origin,
            end: t.response_end.unwrap_or_else(Instant::now),
        }
    }

    /// Hold arrival `a`'s conversation with `agent`. Every turn but the
    /// one that ends the call goes to `part` as soon as it is over; that
    /// one is returned.
    pub async fn call<L: AgentLine<Utterance = U>>(
        &self,
        agent: &L,
        a: &Arrival,
        part: &(dyn Fn(Done) + Sync),
    ) -> Done {
        let (chosen, script, barge) = self.choose(a);
        let mut ctx = TurnContext {
            started: Instant::now(),
            scheduled: a.intended_at,
            connected_at: None,
            barge_in_quiet: self.barge_in_quiet,
        };
        // A turn that ends the call is held back: it becomes the arrival's
        // record. If the call is abandoned instead, the guard hands it on.
        let held = HeldTurn {
            done: Mutex::new(None),
            part,
        };
        let turns_done = Mutex::new(0usize);
        let call = async {
            let ws = match agent.open().await {
                Ok(ws) => ws,
                Err(e) => {
                    let failed = TurnTimes {
                        error: Some(e),
                        ..TurnTimes::default()
                    };
                    held.hold(self.turn(a, script, &failed, &ctx));
                    return Ok(());
                }
            };
            ctx.connected_at = Some(Instant::now());
            let talk = Conversation {
                turns: &self.turns[chosen],
                barge_in: &barge,
                pause: self.inputs.pause,
                noise: &self.noise,
            };
            let ctx = ctx;
            let mut on_turn = |t: TurnTimes| {
                let ends_call = t.error.is_some() || t.index + 1 >= script.turns.len();
                let done = self.turn(a, script, &t, &ctx);
                *turns_done.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                if ends_call {
                    held.hold(done);
                } else {
                    part(done);
                }
            };
            agent.converse(ws, talk, &mut on_turn).await;
            Ok(())
        };
        let limit = self.inputs.session_limit(agent.agent(), script);
        if let Err(e) = within(limit, "conversation", call).await {
            // Bounded whatever the agent does; the open turn fails.
            let done = *turns_done.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(previous) = held.take() {
                part(previous);
            }
            let t = TurnTimes {
                index: done,
                error: Some(ProtocolError::new(
                    e.kind,
                    format!(
                        "conversation exceeded its limit of {}",
                        humantime::format_duration(limit)
                    ),
                )),
                ..TurnTimes::default()
            };
            return self.turn(a, script, &t, &ctx);
        }
        held.take().unwrap_or_else(|| {
            let t = TurnTimes {
                error: Some(ProtocolError::new(
                    ErrorKind::Reset,
                    "conversation ended before its first turn",
                )),
                ..TurnTimes::default()
            };
            self.turn(a, script, &t, &ctx)
        })
    }
}

/// The turn that ended a call, until the call returns it. Dropped with a
/// turn still inside (the call was abandoned by Ctrl-C or SIGTERM while
/// saying goodbye), it hands the turn on.
struct HeldTurn<'a> {
    done: Mutex<Option<Done>>,
    part: &'a (dyn Fn(Done) + Sync),
}

impl HeldTurn<'_> {
    /// Hold `done`; one held before (a barged turn failed together with
    /// the turn after it) is handed on.
    fn hold(&self, done: Done) {
        let previous = self
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(done);
        if let Some(previous) = previous {
            (self.part)(previous);
        }
    }

    fn take(&self) -> Option<Done> {
        self.done.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Drop for HeldTurn<'_> {
    fn drop(&mut self) {
        if let Some(done) = self.take() {
            (self.part)(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_quiet_and_deterministic() {
        let a = noise_frame(320, Codec::Pcm16);
        assert_eq!(a, noise_frame(320, Codec::Pcm16));
        assert_eq!(a.len(), 640);
        // G.711: one byte a sample, and as quiet once decoded.
        let m = noise_frame(160, Codec::Mulaw);
        assert_eq!(m.len(), 160);
        let decoded = Codec::Mulaw.decode(&m);
        assert!(decoded
            .chunks_exact(2)
            .all(|b| i16::from_le_bytes([b[0], b[1]]).abs() <= 2 * NOISE_AMPLITUDE));
        let peak = a
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs())
            .max();
        assert!(peak.is_some_and(|p| p > 0 && p <= NOISE_AMPLITUDE as u16));
    }
}
