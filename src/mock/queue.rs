//! Admission: slots, a bounded wait queue, in-flight accounting and cold
//! starts.
//!
//! Like a real inference server with `MAX_CONCURRENT_REQUESTS`, a request
//! takes a slot if one is free, waits (FIFO, tokio's semaphore is fair) if the
//! queue has room, and is rejected with 503 at once otherwise. TTS and ASR
//! are separate pools (separate models on separate GPUs, as it were), each
//! with its own slots, queue and in-flight count.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{MockState, Shared};

/// Which model a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pool {
    /// `POST /v1/audio/speech`.
    Tts,
    /// HTTP transcription and WebSocket streaming sessions.
    Asr,
}

impl Shared {
    pub(crate) fn pool_slots(&self, pool: Pool) -> &Arc<Semaphore> {
        match pool {
            Pool::Tts => &self.slots,
            Pool::Asr => &self.asr_slots,
        }
    }

    fn pool_queue(&self, pool: Pool) -> usize {
        match pool {
            Pool::Tts => self.model.queue,
            Pool::Asr => self.model.asr.queue,
        }
    }
}

impl MockState {
    fn waiting_mut(&mut self, pool: Pool) -> &mut usize {
        match pool {
            Pool::Tts => &mut self.waiting,
            Pool::Asr => &mut self.asr_waiting,
        }
    }
}

/// Counts one open request (queued or running) while alive, so the count
/// stays right whatever way the request ends, including the client going
/// away while it waits in the queue (axum then drops the handler).
pub(crate) struct InFlight(Arc<Shared>, Pool);

impl InFlight {
    pub(crate) fn enter(shared: &Arc<Shared>, pool: Pool) -> Self {
        let mut st = shared.lock();
        match pool {
            Pool::Tts => st.truth.enter(),
            Pool::Asr => st.asr_truth.enter(),
        }
        Self(Arc::clone(shared), pool)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        match self.1 {
            Pool::Tts => st.truth.leave(),
            Pool::Asr => st.asr_truth.leave(),
        }
    }
}

/// Leaves the wait queue when dropped, for the same reason.
struct Waiting<'a>(&'a Shared, Pool);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        let w = st.waiting_mut(self.1);
        *w = w.saturating_sub(1);
    }
}

/// A slot of `pool`, or `None` when its slots and queue are full (→ 503).
pub(crate) async fn admit(shared: &Shared, pool: Pool) -> Option<OwnedSemaphorePermit> {
    let slots = shared.pool_slots(pool);
    let waiting = {
        let mut st = shared.lock();
        if let Ok(permit) = Arc::clone(slots).try_acquire_owned() {
            return Some(permit);
        }
        let w = st.waiting_mut(pool);
        if *w >= shared.pool_queue(pool) {
            return None;
        }
        *w += 1;
        Waiting(shared, pool)
    };
    let permit = Arc::clone(slots).acquire_owned().await.ok();
    drop(waiting);
    permit
}

/// When the model was last used and, while it is loading, when it is ready.
#[derive(Debug, Default)]
pub(crate) struct Warmth {
    /// Last time a synthesis started or ended; `None` means never (starts cold).
    last_active: Option<Instant>,
    /// A cold start in progress ends here; requests admitted meanwhile wait for it too.
    ready_at: Option<Instant>,
}

impl Shared {
    /// Cold-start delay for a request admitted at `now` (which holds a slot).
    ///
    /// The server starts cold and goes cold again after `idle_before_cold`
    /// with no synthesis running. Requests admitted while the model is loading
    /// wait for the same load rather than paying it again.
    pub(crate) fn cold_delay(&self, now: Instant) -> Duration {
        let (Some(idle), cold) = (self.model.idle_before_cold, self.model.cold_start) else {
            return Duration::ZERO;
        };
        let others_busy = self.model.slots - self.slots.available_permits() > 1;
        let mut st = self.lock();
        let w = &mut st.warmth;
        let delay = match w.ready_at {
            Some(ready) if ready > now => ready - now,
            _ if !others_busy
                && w.last_active
                    .is_none_or(|t| now.saturating_duration_since(t) >= idle) =>
            {
                w.ready_at = Some(now + cold);
                cold
            }
            _ => Duration::ZERO,
        };
        w.last_active = Some(now + delay);
        delay
    }

    /// Whether the model is loaded at `now`: always without cold starts;
    /// with them, not while loading and not after `idle_before_cold` with
    /// nothing running (the health endpoint says so, like a server that
    /// unloads its model or scales to zero).
    pub(crate) fn is_warm(&self, now: Instant) -> bool {
        let Some(idle) = self.model.idle_before_cold else {
            return true;
        };
        let busy = self.model.slots > self.slots.available_permits();
        let st = self.lock();
        let w = &st.warmth;
        match w.ready_at {
            Some(ready) if ready > now => false,
            _ => {
                busy || w
                    .last_active
                    .is_some_and(|t| now.saturating_duration_since(t) < idle)
            }
        }
    }

    /// Whether a cold start is in progress at `now`.
    pub(crate) fn cold_loading(&self, now: Instant) -> bool {
        self.lock().warmth.ready_at.is_some_and(|r| r > now)
    }

    /// Note that a synthesis ended at `now` (idle time counts from here).
    pub(crate) fn touch(&self, now: Instant) {
        let mut st = self.lock();
        st.warmth.last_active = Some(st.warmth.last_active.map_or(now, |t| t.max(now)));
    }
}
