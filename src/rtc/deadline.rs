//! Sleeping until an instant to the microsecond, for frame deadlines.
//!
//! Tokio's timer has 1 ms ticks and fires 0–2 ms late (see
//! `workload/timer.rs`); a run's frame pacer threads wake a waker at an
//! instant to the µs, so a WebRTC call's frames use them, as WebSocket
//! calls' frames do. They reach a peer as a [`WakeAt`] (the pacer lives
//! above this module). Without one this falls back to tokio's timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Something that wakes a waker at an instant, to the µs (the run's frame
/// pacer threads).
pub trait WakeAt: Send + Sync {
    /// Wake `waker` at `at` or later, never before; false when it cannot
    /// (then another timer is used).
    fn wake_at(&self, at: Instant, waker: &Waker) -> bool;
}

/// A future that is ready at `at` or later, never before.
pub(super) struct Until<'a> {
    at: Instant,
    pacer: Option<&'a dyn WakeAt>,
    /// The waker handed to the pacer (re-registered if the task's changes).
    registered: Option<Waker>,
    fallback: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Ready at `at`: woken by `pacer`, or by tokio's timer.
pub(super) fn until(at: Instant, pacer: Option<&dyn WakeAt>) -> Until<'_> {
    Until {
        at,
        pacer,
        registered: None,
        fallback: None,
    }
}

impl Future for Until<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        if let Some(sleep) = self.fallback.as_mut() {
            return sleep.as_mut().poll(cx);
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let at = self.at;
        if self.pacer.is_some_and(|p| p.wake_at(at, cx.waker())) {
            self.registered = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut sleep = Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(at)));
        let poll = sleep.as_mut().poll(cx);
        self.fallback = Some(sleep);
        poll
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Wakes from a thread of its own (as the pacer's threads do).
    struct Thread;

    impl WakeAt for Thread {
        fn wake_at(&self, at: Instant, waker: &Waker) -> bool {
            let waker = waker.clone();
            std::thread::spawn(move || {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                waker.wake();
            });
            true
        }
    }

    #[tokio::test]
    async fn never_ready_before_its_instant() {
        for p in [Some(&Thread as &dyn WakeAt), None] {
            let at = Instant::now() + Duration::from_millis(5);
            until(at, p).await;
            assert!(Instant::now() >= at);
        }
    }
}
