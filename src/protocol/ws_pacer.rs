//! Real-time audio over WebSockets, cheap enough for thousands of sessions
//! on one core: frames leave at absolute deadlines, incoming messages are
//! read between them, and a session can change what it sends at any time.
//!
//! - [`Pacer`]: the threads that time every session's frames, one per core
//!   the process may use (one under `taskset -c 0`). A pacer thread sleeps
//!   until the earliest deadline of its sessions (µs-precise, where tokio's
//!   timer has 1 ms ticks and fires 0–1 ms late by construction) and then
//!   *writes* the due frames itself, back to back, on a second descriptor
//!   of each plain-TCP socket ([`super::ws::HandOff`]): no session task is
//!   woken for a frame.
//! - [`PacedWs`]: one session's socket. It plays [`Track`]s on the
//!   session's frame clock and reports incoming messages and finished
//!   tracks as [`WsEvent`]s. Over TLS (or any stream without a descriptor
//!   to hand off) the same player runs inside the session's task, timed by
//!   the pacer thread's wake-ups.
//!
//! # The contract
//!
//! - **Deadlines.** A session's clock starts on its first
//!   [`PacedWs::play`]; frame slot `k` is due at `origin + k × frame`. A
//!   frame never leaves before its deadline; its lateness (handed to the
//!   socket minus deadline, µs) is kept for every frame
//!   ([`PacedWs::take_lags`]). Lateness never accumulates: a late frame
//!   does not move the next deadline.
//! - **Reading between frames.** [`PacedWs::next_event`] returns each
//!   server message as soon as it is read; sending never blocks reading
//!   (frames are written by the pacer thread, or without waiting by the
//!   task). It is cancel safe, so a session can `select!` it with its own
//!   timers (answer timeouts, a barge-in moment).
//! - **Changing what is sent.** [`PacedWs::play`] replaces the current
//!   track from the next free slot of the same clock: speech, then
//!   [`Track::looped`] noise, then the next utterance over the agent's
//!   answer (a barge-in) — one continuous 20 ms rhythm. A once-track can
//!   carry a message to send right after its last frame
//!   ([`Track::then`], e.g. end of speech), and is reported as
//!   [`WsEvent::Played`] with the times its first and last frames left.
//!   [`PacedWs::send`] sends a control message at once, in order with the
//!   frames.
//!
//! ```no_run
//! # use bytes::Bytes;
//! # use tokio_tungstenite::tungstenite::{Error, Message};
//! # use voxload::protocol::ws::{ClientWs, FrameEncoding};
//! # use voxload::protocol::ws_pacer::{PacedWs, Pacer, Track, WsEvent};
//! # async fn demo(ws: ClientWs, pacer: &Pacer, speech: Bytes, noise: Bytes) -> Result<(), Error> {
//! let frame = std::time::Duration::from_millis(20);
//! let mut ws = PacedWs::new(ws, pacer, &FrameEncoding::Binary, 640, frame);
//! ws.send(&Message::text(r#"{"type":"start"}"#))?; // written at once
//! ws.play(Track::once(speech).then(Message::text(r#"{"type":"end"}"#)));
//! loop {
//!     match ws.next_event().await? {
//!         // The utterance and its end message were sent: fill with noise.
//!         WsEvent::Played(_) => {
//!             ws.play(Track::looped(noise.clone()));
//!         }
//!         // React to the agent; a barge-in is `ws.play(next_utterance)`.
//!         WsEvent::Message(_) => {}
//!         WsEvent::Ended => break,
//!     }
//! }
//! let lateness_us = ws.take_lags(); // one entry per frame sent
//! # Ok(()) }
//! ```
//!
//! Why the pacer writes: a 20 ms frame on loopback costs ~8 µs of kernel
//! time on the benchmark VM (the TCP send, plus the receiver's TCP input,
//! which runs on the sending core), and a session task woken per frame
//! added ~4–5 µs more (task wake-up and poll, timer wheel, tungstenite, all
//! with cold caches). Why the grid ([`Pacer::align`]): frames due together
//! go out back to back after one wake-up of the pacer and of the server.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::Waker;
use std::thread::Thread;
use std::time::{Duration, Instant};

mod paced;
mod player;

pub use paced::{PacedWs, WsEvent};
use player::Player;
pub use player::{Progress, Track};

/// Default grid of clock origins: every session's frames fall on whole
/// milliseconds since the pacer started.
pub const GRID: Duration = Duration::from_millis(1);

/// How soon the pacer retries a socket that took only part of a write.
const RETRY: Duration = Duration::from_millis(1);

/// Longest sleep with nothing due, so an orphaned thread still ends.
const IDLE: Duration = Duration::from_secs(1);

/// Times (and on plain TCP, writes) the frames of every session of a run.
/// One thread per core the process may use (one under `taskset -c 0`);
/// each session is served by one of them, taken in turn. Cheap to clone;
/// the threads end when the last clone and session are dropped. If no
/// thread can be started, sessions fall back to tokio's timer (1 ms ticks)
/// and write from their own tasks.
#[derive(Debug, Clone)]
pub struct Pacer {
    shards: Arc<[Arc<Shared>]>,
    turn: Arc<AtomicUsize>,
    /// Clocks start on this grid (see [`Pacer::align`]).
    epoch: Instant,
    grid: Duration,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    thread: OnceLock<Thread>,
}

#[derive(Debug, Default)]
struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
    /// What the thread does, so a registration unparks it only when needed.
    asleep: Asleep,
    /// Sessions per clock phase (grid step within the frame period), by
    /// frame length in ns: where new clocks start (see [`Shared::start_clock`]).
    phases: std::collections::HashMap<u64, Vec<u32>>,
}

/// A session's clock phase: its frame length (ns) and grid step within it.
type Phase = (u64, usize);

/// Most grid steps in a frame period for which phases are balanced.
const MAX_PHASES: u64 = 1000;

#[derive(Debug, Default, Clone, Copy)]
enum Asleep {
    /// Running: it looks at the heap again before it sleeps.
    #[default]
    No,
    /// Parked until this instant (`None`: until unparked).
    Until(Option<Instant>),
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    job: Job,
}

#[derive(Debug)]
enum Job {
    /// Wake a task.
    Wake(Waker),
    /// Send what a handed-off player has due (skipped unless the player
    /// still expects this instant: it keeps one live entry at a time).
    Play(Arc<Mutex<Player>>),
}

// Earliest first (BinaryHeap is a max-heap), then in scheduling order.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}

impl Drop for Shared {
    fn drop(&mut self) {
        // Let the thread see that it is no longer needed.
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pacer {
    /// Start one pacer thread per available core, with clocks aligned to a
    /// 1 ms [`GRID`].
    pub fn new() -> Self {
        Self::with_grid(GRID)
    }

    /// Start one pacer thread per available core, with clocks aligned to
    /// `grid` (zero: none).
    pub fn with_grid(grid: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_threads(cores, grid)
    }

    /// Start `threads` pacer threads, with clocks aligned to `grid`.
    pub fn with_threads(threads: usize, grid: Duration) -> Self {
        let mut shards = Vec::with_capacity(threads);
        for i in 0..threads {
            let shared = Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                thread: OnceLock::new(),
            });
            let weak = Arc::downgrade(&shared);
            match std::thread::Builder::new()
                .name(format!("voxload-pacer-{i}"))
                .spawn(move || run_pacer(weak))
            {
                Ok(handle) => {
                    // Set before anyone can schedule: this has not returned.
                    let _ = shared.thread.set(handle.thread().clone());
                    shards.push(shared);
                }
                Err(e) => {
                    tracing::warn!("cannot start a pacer thread: {e}");
                    break;
                }
            }
        }
        if shards.is_empty() {
            tracing::warn!("no pacer thread: frames are timed by tokio's 1 ms timer");
        }
        Self {
            shards: shards.into(),
            turn: Arc::new(AtomicUsize::new(0)),
            epoch: Instant::now(),
            grid,
        }
    }

    /// No thread: every session times its frames with tokio's timer (1 ms
    /// ticks) and writes them from its own task, with no grid: the design
    /// this replaced, kept for comparison and tests.
    pub fn tokio_timer() -> Self {
        Self {
            shards: Arc::new([]),
            turn: Arc::new(AtomicUsize::new(0)),
            epoch: Instant::now(),
            grid: Duration::ZERO,
        }
    }

    /// The thread that serves the next session, in turn.
    fn shard(&self) -> Option<Arc<Shared>> {
        if self.shards.is_empty() {
            return None;
        }
        let i = self.turn.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        Some(self.shards[i].clone())
    }

    /// The first grid instant at or after `t`.
    ///
    /// Why a grid: a frame on loopback also runs the receiver's TCP input
    /// and wakes the receiving thread, and waking an idle thread (an IPI, a
    /// VM exit under a hypervisor) costs as much again. With every
    /// session's deadlines on whole milliseconds, the frames due together
    /// leave back to back after one wake-up of the pacer and of the server,
    /// instead of one each per frame (measured, 1,000 sessions: 17 µs of
    /// generator CPU per frame with exact but scattered deadlines, 13 with
    /// the grid, the server's CPU down from 69 to 39 %). It only moves where
    /// a session's clock starts, by less than one step; each frame's
    /// lateness is measured against its own deadline.
    pub fn align(&self, t: Instant) -> Instant {
        let grid = self.grid.as_nanos();
        if grid == 0 {
            return t;
        }
        let since = t.saturating_duration_since(self.epoch).as_nanos();
        let offset = since.div_ceil(grid).saturating_mul(grid);
        self.epoch + Duration::from_nanos(offset.min(u128::from(u64::MAX)) as u64)
    }

    /// Wake `waker` at `at` or later (never before). Returns false when
    /// there is no pacer thread (use another timer).
    pub fn wake_at(&self, at: Instant, waker: &Waker) -> bool {
        match self.shard() {
            Some(shard) => {
                shard.schedule(at, Job::Wake(waker.clone()));
                true
            }
            None => false,
        }
    }
}

/// A WebRTC peer's deadlines, met by the pacer's threads.
impl crate::rtc::WakeAt for Pacer {
    fn wake_at(&self, at: Instant, waker: &Waker) -> bool {
        Pacer::wake_at(self, at, waker)
    }
}

impl Shared {
    /// Where a new clock of `frame_ns` frames starts: at the least used
    /// phase among the grid instants from `earliest` (on the grid) to one
    /// frame later.
    ///
    /// Sessions started together (a spawn rate of 500/s puts them 2 ms
    /// apart) would otherwise crowd a few phases, and every frame due in
    /// the same instant waits for the ones written before it: measured at
    /// 1,000 sessions, batches of ~100 frames instead of 50. The price is a
    /// session's audio starting up to one frame later.
    fn start_clock(
        &self,
        earliest: Instant,
        pacer: &Pacer,
        frame_ns: u64,
    ) -> (Instant, Option<Phase>) {
        let grid = pacer.grid.as_nanos() as u64;
        if grid == 0 || frame_ns % grid != 0 || frame_ns / grid > MAX_PHASES {
            return (earliest, None);
        }
        let steps = (frame_ns / grid) as usize;
        let index = earliest.saturating_duration_since(pacer.epoch).as_nanos() / u128::from(grid);
        let first = (index % steps as u128) as usize;
        let mut q = lock(&self.queue);
        let load = q.phases.entry(frame_ns).or_insert_with(|| vec![0; steps]);
        let wait = (0..steps)
            .min_by_key(|&k| (load[(first + k) % steps], k))
            .unwrap_or(0);
        let phase = (first + wait) % steps;
        load[phase] += 1;
        let origin = earliest + Duration::from_nanos(grid * wait as u64);
        (origin, Some((frame_ns, phase)))
    }

    fn end_clock(&self, (frame_ns, phase): Phase) {
        if let Some(n) = lock(&self.queue)
            .phases
            .get_mut(&frame_ns)
            .and_then(|load| load.get_mut(phase))
        {
            *n = n.saturating_sub(1);
        }
    }

    fn schedule(&self, at: Instant, job: Job) {
        let unpark = {
            let mut q = lock(&self.queue);
            q.seq += 1;
            let seq = q.seq;
            q.heap.push(Entry { at, seq, job });
            match q.asleep {
                Asleep::No => false,
                Asleep::Until(None) => true,
                Asleep::Until(Some(t)) => at < t,
            }
        };
        if unpark {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Self::new()
    }
}

/// The pacer thread: run everything due, sleep until the next deadline. It
/// holds only a weak reference while asleep, so dropping the last [`Pacer`]
/// ends it.
fn run_pacer(weak: Weak<Shared>) {
    let mut due: Vec<(Instant, Job)> = Vec::with_capacity(256);
    let mut again: Vec<(Instant, Arc<Mutex<Player>>)> = Vec::with_capacity(256);
    loop {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let now = Instant::now();
        let next = {
            let mut q = lock(&shared.queue);
            for (at, cell) in again.drain(..) {
                q.seq += 1;
                let seq = q.seq;
                q.heap.push(Entry {
                    at,
                    seq,
                    job: Job::Play(cell),
                });
            }
            while q.heap.peek().is_some_and(|e| e.at <= now) {
                if let Some(e) = q.heap.pop() {
                    due.push((e.at, e.job));
                }
            }
            let next = q.heap.peek().map(|e| e.at);
            q.asleep = if due.is_empty() {
                Asleep::Until(next)
            } else {
                Asleep::No
            };
            next
        };
        if due.is_empty() {
            drop(shared);
            let wait = next.map_or(IDLE, |at| at.saturating_duration_since(now).min(IDLE));
            std::thread::park_timeout(wait);
            continue;
        }
        // Outside the queue lock: sends take time, wake-ups take the
        // runtime's locks. Players due again go back in one batch.
        for (at, job) in due.drain(..) {
            match job {
                Job::Wake(w) => w.wake(),
                Job::Play(cell) => {
                    let mut p = lock(&cell);
                    if p.scheduled != Some(at) {
                        continue; // superseded
                    }
                    p.scheduled = p.pump_handed_off().filter(|_| p.socket.is_some());
                    if let Some(next) = p.scheduled {
                        drop(p);
                        again.push((next, cell));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "ws_pacer_tests.rs"]
mod tests;
