//! The TTS executor: one arrival → text and voice → adapter → measured record.

use std::sync::Arc;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::config::RunPlan;
use crate::metrics::defs::measure;
use crate::metrics::RequestRecord;
use crate::protocol::http_tts::{HttpTts, TtsJob};
use crate::protocol::{ErrorKind, Probe, ProtocolError};
use crate::workload::driver::cancelled_record;
use crate::workload::{Arrival, Executor};

/// Executes TTS requests for one run.
pub struct TtsExecutor {
    adapter: HttpTts,
    plan: Arc<RunPlan>,
    run_start: Instant,
}

impl TtsExecutor {
    /// An executor whose records are timed relative to `run_start`.
    pub fn new(adapter: HttpTts, plan: Arc<RunPlan>, run_start: Instant) -> Self {
        Self {
            adapter,
            plan,
            run_start,
        }
    }

    fn since_start_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.run_start).as_micros() as u64
    }

    /// Text for an arrival: samples in order, so each stage sees the same
    /// mix, optionally behind random words that defeat caches.
    fn text(&self, a: &Arrival) -> String {
        let texts = &self.plan.texts;
        let base = &texts[(a.seq as usize) % texts.len().max(1)];
        if self.plan.random_prefix {
            // Seeded per request, so a rerun with the same seed sends the same texts.
            let seed = self.plan.seed ^ ((a.stage as u64) << 48) ^ a.seq;
            let mut rng = SmallRng::seed_from_u64(seed);
            format!("{}{base}", crate::input::random_prefix(&mut rng))
        } else {
            base.clone()
        }
    }
}

impl Executor for TtsExecutor {
    async fn execute(&self, a: Arrival) -> RequestRecord {
        let text = self.text(&a);
        let voice = &self.plan.voices[(a.seq as usize) % self.plan.voices.len()];
        let job = TtsJob { text: &text, voice };
        let mut probe = Probe::new();
        let result =
            tokio::time::timeout(self.plan.timeout, self.adapter.execute(&job, &mut probe)).await;
        let failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(ProtocolError::new(
                ErrorKind::Timeout,
                format!(
                    "no complete response within {}",
                    humantime::format_duration(self.plan.timeout)
                ),
            )),
        };
        let end = Instant::now();
        let origin = a.intended_at.or(probe.sent_at).unwrap_or(end);
        let chars = text.chars().count() as u32;
        let mut record = measure(
            origin,
            a.intended_at,
            &probe,
            failure.as_ref(),
            chars,
            &self.plan.measure,
        );
        record.stage = a.stage;
        record.seq = a.seq;
        record.warmup = a.warmup;
        record.voice = Some(voice.clone());
        record.start_us = self.since_start_us(origin);
        record.end_us = self.since_start_us(end);
        record
    }

    fn cancelled(&self, a: Arrival, started: Instant) -> RequestRecord {
        cancelled_record(
            a,
            self.since_start_us(started),
            self.since_start_us(Instant::now()),
        )
    }
}
