//! Which requests follow an idle period (`--cold-after`): a server that
//! scales to zero, unloads its model or lets caches go cold after some
//! idle time makes the first request after it slow, and that request
//! should not hide among warm ones.
//!
//! A request is *cold* when, at the instant it starts, none of its
//! scenario's requests is in flight and the last one ended at least
//! `cold_after` before. The run's first request is never cold: how long
//! the target was idle before the run is not known.

use std::time::{Duration, Instant};

/// Tracks a scenario's requests in flight and when the last one ended.
#[derive(Debug, Clone)]
pub struct IdleTracker {
    cold_after: Duration,
    in_flight: u64,
    last_end: Option<Instant>,
    /// Requests (stage, seq) started cold whose first record has not come yet.
    pending: Vec<(usize, u64)>,
}

impl IdleTracker {
    /// A tracker tagging requests after `cold_after` of idle time.
    pub fn new(cold_after: Duration) -> Self {
        Self {
            cold_after,
            in_flight: 0,
            last_end: None,
            pending: Vec::new(),
        }
    }

    /// Request `(stage, seq)` starts at `at`; returns whether it is cold.
    pub fn start(&mut self, at: Instant, stage: usize, seq: u64) -> bool {
        let cold = self.in_flight == 0
            && self
                .last_end
                .is_some_and(|end| at.saturating_duration_since(end) >= self.cold_after);
        self.in_flight += 1;
        if cold {
            self.pending.push((stage, seq));
        }
        cold
    }

    /// A request ended at `at` (its last record).
    pub fn end(&mut self, at: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.last_end = Some(self.last_end.map_or(at, |t| t.max(at)));
    }

    /// Whether this is the first record of a cold request (a conversation's
    /// first turn, or a one-record request); later records of it are warm.
    pub fn take_cold(&mut self, stage: usize, seq: u64) -> bool {
        match self.pending.iter().position(|&p| p == (stage, seq)) {
            Some(i) => {
                self.pending.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_start_after_the_idle_time_with_nothing_in_flight_is_cold() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut idle = IdleTracker::new(Duration::from_secs(1));
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
