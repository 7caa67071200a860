//! Global stall windows: while one is open, no response makes progress.
//!
//! Each response has a *synthesis clock* that only runs outside windows, so
//! a chunk that needs `work` of synthesis is ready at the wall instant where
//! `work` of un-paused time has passed since admission. This is what a real
//! server does during a GC pause or a GPU hiccup, and it is the scenario that
//! exposes coordinated omission in a load generator.

use std::time::Duration;

use tokio::time::Instant;

/// Most windows kept; the oldest-ending are forgotten first. Bounds memory if
/// `POST /mock/stall` is called in a loop.
const MAX_WINDOWS: usize = 1024;

/// Disjoint, sorted pause windows `[start, end)`.
#[derive(Debug, Default)]
pub(crate) struct StallWindows {
    windows: Vec<(Instant, Instant)>,
}

impl StallWindows {
    /// Add `[start, end)`, merging with any window it touches.
    pub(crate) fn add(&mut self, start: Instant, end: Instant) {
        if end <= start {
            return;
        }
        let (mut s, mut e) = (start, end);
        self.windows.retain(|&(ws, we)| {
            let touches = ws <= e && s <= we;
            if touches {
                s = s.min(ws);
                e = e.max(we);
            }
            !touches
        });
        let at = self.windows.partition_point(|&(ws, _)| ws < s);
        self.windows.insert(at, (s, e));
        if self.windows.len() > MAX_WINDOWS {
            self.windows.remove(0);
        }
    }

    /// The wall instant at which `work` of synthesis started at `base` is done,
    /// given the windows known now. Windows are disjoint and sorted, so one
    /// pass suffices: each window that starts before the (growing) deadline
    /// pushes it back by the part of the window after `base`.
    pub(crate) fn deadline(&self, base: Instant, work: Duration) -> Instant {
        let mut at = base + work;
        for &(ws, we) in &self.windows {
            if ws >= at {
                break;
            }
            let from = ws.max(base);
            if we > from {
                at += we - from;
            }
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_windows_means_no_delay() {
        let t = Instant::now();
        assert_eq!(StallWindows::default().deadline(t, ms(100)), t + ms(100));
    }

    #[test]
    fn windows_pause_the_synthesis_clock() {
        let t = Instant::now();
        let mut w = StallWindows::default();
        // Window entirely inside the work: push back by its full length.
        w.add(t + ms(10), t + ms(30));
        assert_eq!(w.deadline(t, ms(100)), t + ms(120));
        // Window that started before admission: only the part after base counts.
        assert_eq!(w.deadline(t + ms(20), ms(100)), t + ms(130));
        // Window after the deadline: no effect.
        assert_eq!(w.deadline(t, ms(5)), t + ms(5));
        // A second window reached only because the first pushed us back.
        w.add(t + ms(110), t + ms(140));
        assert_eq!(w.deadline(t, ms(100)), t + ms(150));
    }

    #[test]
    fn overlapping_windows_merge() {
        let t = Instant::now();
        let mut w = StallWindows::default();
        w.add(t + ms(10), t + ms(30));
        w.add(t + ms(20), t + ms(50));
        w.add(t + ms(0), t + ms(5));
        assert_eq!(w.windows.len(), 2);
        assert_eq!(w.deadline(t, ms(100)), t + ms(145));
    }
}
