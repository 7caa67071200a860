//! Which requests follow an idle period (`--cold-after`): a server that
//! scales to zero, unloads its model or lets caches go cold after some
//! idle time makes the first request after it slow, and that request
//! should not hide among warm ones.
//!
//! A request is *cold* when, at the instant it starts, none of its
//! scenario's requests is in flight and the last one ended at least
//! `cold_after` before. The run's first request is never cold: how long
//! the target was idle before the run is not known.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tracks a scenario's requests in flight and when the last one ended.
/// Shared by every request task of the scenario, so the common path (a
/// warm request) takes no lock: two atomic counters, and a lock only for
/// the rare cold request.
#[derive(Debug)]
pub struct IdleTracker {
    cold_after_us: u64,
    /// The clock's origin: instants are kept as µs since it.
    origin: Instant,
    in_flight: AtomicU64,
    /// µs since `origin` of the latest end, plus 1 (0: none yet).
    last_end: AtomicU64,
    /// Whether `pending` may hold anything (skips its lock when not).
    any_pending: AtomicBool,
    /// Requests (stage, seq) started cold whose first record has not come yet.
    pending: Mutex<Vec<(usize, u64)>>,
}

impl IdleTracker {
    /// A tracker tagging requests after `cold_after` of idle time, its
    /// clock starting at `origin` (no instant it is given is earlier).
    pub fn new(cold_after: Duration, origin: Instant) -> Self {
        Self {
            cold_after_us: u64::try_from(cold_after.as_micros()).unwrap_or(u64::MAX),
            origin,
            in_flight: AtomicU64::new(0),
            last_end: AtomicU64::new(0),
            any_pending: AtomicBool::new(false),
            pending: Mutex::new(Vec::new()),
        }
    }

    fn us(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_micros()).unwrap_or(u64::MAX)
    }

    /// Request `(stage, seq)` starts at `at`; returns whether it is cold.
    pub fn start(&self, at: Instant, stage: usize, seq: u64) -> bool {
        // An end stores its instant before leaving the in-flight count, so
        // with nothing in flight every earlier end is visible here.
        let idle = self.in_flight.fetch_add(1, SeqCst) == 0;
        let last = self.last_end.load(SeqCst);
        let cold = idle && last > 0 && self.us(at).saturating_sub(last - 1) >= self.cold_after_us;
        if cold {
            self.lock().push((stage, seq));
            self.any_pending.store(true, SeqCst);
        }
        cold
    }

    /// A request ended at `at` (its last record).
    pub fn end(&self, at: Instant) {
        self.last_end
            .fetch_max(self.us(at).saturating_add(1), SeqCst);
        // Never below zero: an end without a start (cannot happen through
        // the driver) is ignored.
        let _ = self
            .in_flight
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
    }

    /// Whether this is the first record of a cold request (a conversation's
    /// first turn, or a one-record request); later records of it are warm.
    pub fn take_cold(&self, stage: usize, seq: u64) -> bool {
        if !self.any_pending.load(SeqCst) {
            return false;
        }
        let mut pending = self.lock();
        let found = pending.iter().position(|&p| p == (stage, seq));
        if let Some(i) = found {
            pending.swap_remove(i);
        }
        if pending.is_empty() {
            self.any_pending.store(false, SeqCst);
        }
        found.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(usize, u64)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_start_after_the_idle_time_with_nothing_in_flight_is_cold() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let idle = IdleTracker::new(Duration::from_secs(1), t0);
        // The run's first request: unknown idle before, not cold.
        assert!(!idle.start(ms(0), 0, 0));
        idle.end(ms(100));
        // 999 ms idle: warm.
        assert!(!idle.start(ms(1099), 0, 1));
        idle.end(ms(1200));
        // Exactly 1 s idle: cold, and only its first record says so.
        assert!(idle.start(ms(2200), 0, 2));
        // Started while the cold one is in flight: warm, however long ago the last ended.
        assert!(!idle.start(ms(2300), 0, 3));
        assert!(idle.take_cold(0, 2));
        assert!(!idle.take_cold(0, 2));
        assert!(!idle.take_cold(0, 3));
        idle.end(ms(2400));
        idle.end(ms(2500));
        // Idle counts from the last end (2500), not the first (2400).
        assert!(!idle.start(ms(3450), 1, 0));
        idle.end(ms(3460));
        assert!(idle.start(ms(4460), 1, 1));
    }
}
