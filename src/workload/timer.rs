//! Waiting for an arrival's deadline to the microsecond.
//!
//! Tokio's timer has 1 ms ticks, and a parked worker's timeout is a whole
//! number of milliseconds counted from the *start* of the current tick, so a
//! `sleep_until` can wake up to ~2 ms after its deadline depending on when
//! the worker went idle. For open-loop arrivals that lateness is schedule
//! lag, added to every latency by definition (measured: half of all arrivals
//! 0.15–0.55 ms late at 200 req/s in some runs, ~0.01 ms in others).
//!
//! So on Linux an arrival waits on a `timerfd` (a kernel high-resolution
//! timer, registered with the runtime like a socket) until [`MARGIN`]
//! before its deadline, then yields to other tasks until the deadline
//! passes. Elsewhere, or if no timerfd can be made, it sleeps on tokio's
//! timer until [`COARSE_MARGIN`] before and yields for the rest, which is
//! exact but keeps a core busy for that part of every gap.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// How long before a deadline a timerfd wakes the scheduler: what a
/// worker's wake-up takes, with room to spare.
pub const MARGIN: Duration = Duration::from_micros(200);

/// How long before a deadline tokio's timer must wake the scheduler: two
/// ticks, so its lateness can never pass the deadline.
pub const COARSE_MARGIN: Duration = Duration::from_millis(2);

/// Sleeps until instants with microsecond precision.
#[derive(Debug)]
pub struct DeadlineTimer {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl DeadlineTimer {
    /// A timer for one schedule. Must be called inside the runtime.
    pub fn new() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            fd: linux::timerfd().ok(),
        }
    }

    /// Wait until `at`; false if `stop` fired first. `&mut`: one timer
    /// serves one wait at a time (a second would re-arm the first's timer).
    pub async fn wait_until(&mut self, at: Instant, stop: &CancellationToken) -> bool {
        if stop.is_cancelled() {
            return false;
        }
        tokio::select! {
            () = self.sleep_before(at) => {}
            () = stop.cancelled() => return false,
        }
        // The last stretch: other tasks keep running between our checks.
        while Instant::now() < at {
            tokio::task::yield_now().await;
        }
        !stop.is_cancelled()
    }

    /// Sleep until shortly before `at`: [`MARGIN`] on a timerfd, else
    /// [`COARSE_MARGIN`] on tokio's timer. Returns at once if that is past.
    async fn sleep_before(&mut self, at: Instant) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            match at.checked_sub(MARGIN) {
                Some(wake) => {
                    if linux::sleep_until(fd, wake).await.is_ok() {
                        return;
                    }
                    // A timerfd that fails once is not trusted again.
                    self.fd = None;
                }
                None => return,
            }
        }
        if let Some(wake) = at.checked_sub(COARSE_MARGIN) {
            if wake > Instant::now() {
                tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
            }
        }
    }

    /// How early the coarse sleep ends.
    #[cfg(test)]
    fn margin(&self) -> Duration {
        #[cfg(target_os = "linux")]
        if self.fd.is_some() {
            return MARGIN;
        }
        COARSE_MARGIN
    }
}

impl Default for DeadlineTimer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::OwnedFd;
    use std::time::Instant;

    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
        TimerfdTimerFlags, Timespec,
    };
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    /// A non-blocking monotonic timerfd registered with the runtime.
    pub fn timerfd() -> io::Result<AsyncFd<OwnedFd>> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // Deprecated because a general `T` could report a different descriptor
        // later; an `OwnedFd` owned by the `AsyncFd` cannot, and the
        // replacement is `unsafe`, which this crate forbids.
        #[allow(deprecated)]
        AsyncFd::with_interest(fd, Interest::READABLE)
    }

    /// Arm the timer for `wake` and wait for it to expire.
    pub async fn sleep_until(fd: &AsyncFd<OwnedFd>, wake: Instant) -> io::Result<()> {
        let left = wake.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let value = Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        // Re-arming also clears an expiry nobody read (a cancelled wait).
        timerfd_settime(
            fd.get_ref(),
            TimerfdTimerFlags::empty(),
            &Itimerspec {
                it_interval: zero,
                it_value: value,
            },
        )?;
        let mut expirations = [0u8; 8];
        loop {
            let mut ready = fd.readable().await?;
            match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
                Ok(result) => return result.map(|_| ()),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_until_the_deadline_and_not_much_longer() {
        let mut timer = DeadlineTimer::new();
        let stop = CancellationToken::new();
        for gap_us in [0u64, 300, 3_000, 12_345] {
            let at = Instant::now() + Duration::from_micros(gap_us);
            assert!(timer.wait_until(at, &stop).await);
            let now = Instant::now();
            assert!(now >= at, "woke before the deadline");
            // Only an upper bound a loaded test machine cannot break;
            // precision is benchmark 5's job (BENCHMARKS.md).
            assert!(now - at < Duration::from_millis(500), "{:?} late", now - at);
        }
    }

    #[tokio::test]
    async fn a_stop_ends_the_wait() {
        let mut timer = DeadlineTimer::new();
        let stop = CancellationToken::new();
        let at = Instant::now() + Duration::from_secs(60);
        let cancel = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            cancel.cancel();
        });
        let started = Instant::now();
        assert!(!timer.wait_until(at, &stop).await);
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn linux_uses_a_timerfd_with_a_short_margin() {
        let timer = DeadlineTimer::new();
        assert!(timer.fd.is_some(), "timerfd_create failed");
        assert_eq!(timer.margin(), MARGIN);
    }

    /// The coarse sleep itself never ends early: not on a re-armed timer,
    /// nor after a wait that was abandoned (its expiry may be pending).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_timerfd_never_wakes_early() {
        let fd = linux::timerfd().expect("timerfd");
        for gap_ms in [3u64, 5] {
            let wake = Instant::now() + Duration::from_millis(gap_ms);
            linux::sleep_until(&fd, wake).await.expect("sleep");
            assert!(Instant::now() >= wake, "woke early");
        }
        // Abandon a wait, let its expiry happen unread, then wait again.
        let abandoned = Instant::now() + Duration::from_millis(1);
        let _ = tokio::time::timeout(
            Duration::from_micros(100),
            linux::sleep_until(&fd, abandoned),
        )
        .await;
        std::thread::sleep(Duration::from_millis(3));
        let wake = Instant::now() + Duration::from_millis(20);
        linux::sleep_until(&fd, wake).await.expect("sleep");
        assert!(Instant::now() >= wake, "a stale expiry ended the wait");
    }
}
