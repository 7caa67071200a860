//! The TTS executor: one arrival → text and voice → adapter → measured record.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::config::RunPlan;
use crate::metrics::defs::measure;
use crate::metrics::RequestRecord;
use crate::protocol::http_tts::{HttpTts, TtsJob};
use crate::protocol::{ErrorKind, OwnedConn, Probe, ProtocolError};
use crate::workload::driver::cancelled_record;
use crate::workload::{Arrival, Executor, Workload};

/// Bodies are built up front when there are at most this many (text, voice) pairs.
const MAX_PREBUILT_BODIES: usize = 100_000;

/// Executes TTS requests for one run.
pub struct TtsExecutor {
    adapter: HttpTts,
    plan: Arc<RunPlan>,
    run_start: Instant,
    /// JSON bodies per (text, voice) with the text's character count, built
    /// once: without random prefixes the same pair always encodes the same.
    bodies: Vec<(Bytes, usize)>,
    /// One connection per closed-loop user (index = user), so requests skip
    /// the pool; open-loop arrivals use the pool.
    conns: Vec<Mutex<OwnedConn>>,
    /// The plan's voices as shared strings, so a record's label is a
    /// reference count, not a copy.
    voice_labels: Vec<Arc<str>>,
}

impl TtsExecutor {
    /// An executor whose records are timed relative to `run_start`.
    pub fn new(adapter: HttpTts, plan: Arc<RunPlan>, run_start: Instant) -> Self {
        let pairs = plan.texts.len() * plan.voices.len();
        let bodies = if plan.random_prefix || pairs > MAX_PREBUILT_BODIES {
            Vec::new()
        } else {
            plan.texts
                .iter()
                .flat_map(|text| {
                    let chars = text.chars().count();
                    plan.voices
                        .iter()
                        .map(|voice| (adapter.body(&TtsJob { text, voice }), chars))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let users = plan
            .stages
            .iter()
            .filter_map(|s| match s.workload {
                Workload::Closed { concurrency, .. } => Some(concurrency),
                Workload::Open { .. } => None,
            })
            .max()
            .unwrap_or(0);
        let voice_labels = plan.voices.iter().map(|v| Arc::from(v.as_str())).collect();
        Self {
            adapter,
            plan,
            run_start,
            bodies,
            voice_labels,
            conns: (0..users)
                .map(|_| Mutex::new(OwnedConn::default()))
                .collect(),
        }
    }

    fn since_start_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.run_start).as_micros() as u64
    }

    /// Text and voice indices for an arrival: samples in order, so each
    /// stage sees the same mix; voices round-robin.
    fn pick(&self, a: &Arrival) -> (usize, usize) {
        let seq = a.seq as usize;
        (
            seq % self.plan.texts.len().max(1),
            seq % self.plan.voices.len().max(1),
        )
    }

    /// The text with random words in front that defeat caches, seeded per
    /// request so a rerun with the same seed sends the same texts.
    fn prefixed(&self, a: &Arrival, base: &str) -> String {
        let seed = self.plan.seed ^ ((a.stage as u64) << 48) ^ a.seq;
        let mut rng = SmallRng::seed_from_u64(seed);
        format!("{}{base}", crate::input::random_prefix(&mut rng))
    }
}

impl Executor for TtsExecutor {
    async fn execute(&self, a: Arrival) -> RequestRecord {
        let (ti, vi) = self.pick(&a);
        let voice = &self.plan.voices[vi];
        let base = &self.plan.texts[ti];
        let (body, chars) = match self.bodies.get(ti * self.plan.voices.len() + vi) {
            Some((body, chars)) => (body.clone(), *chars),
            None => {
                let text = if self.plan.random_prefix {
                    self.prefixed(&a, base)
                } else {
                    base.clone()
                };
                let body = self.adapter.body(&TtsJob { text: &text, voice });
                (body, text.chars().count())
            }
        };
        let mut probe = Probe::new();
        // Take the user's connection out for the request (each user is
        // sequential, so the lock is never contended) and put it back after.
        let slot = a.user.and_then(|u| self.conns.get(u));
        let mut conn =
            slot.map(|m| std::mem::take(&mut *m.lock().unwrap_or_else(|p| p.into_inner())));
        let send = self.adapter.send(body, conn.as_mut(), &mut probe);
        let result = tokio::time::timeout(self.plan.timeout, send).await;
        if let (Some(slot), Some(mut conn)) = (slot, conn) {
            if !matches!(result, Ok(Ok(()))) {
                // A timeout or error may leave a response half read.
                conn.reset();
            }
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = conn;
        }
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
        let chars = chars as u32;
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
        record.voice = self.voice_labels.get(vi).cloned();
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
