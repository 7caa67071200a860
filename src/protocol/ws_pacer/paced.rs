//! [`PacedWs`]: one session's WebSocket on the pacer.

use std::future::{poll_fn, Future};
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use futures_util::{Sink, Stream};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::player::{with_scratch, Player, Progress, Track};
use super::{lock, Job, Pacer, Phase, Shared};
use crate::protocol::ws::{FrameEncoding, HandOff};

/// What [`PacedWs::next_event`] reports.
#[derive(Debug)]
pub enum WsEvent {
    /// A message from the server. Pings are answered before it is reported.
    Message(Message),
    /// A [`Track::once`] was sent to its end (with its `then` message).
    Played(Progress),
    /// The connection ended without a close frame.
    Ended,
}

/// A session's tokio stream seen as `std::io::Write`: `Pending` becomes
/// `WouldBlock` (the task's waker is registered for writability).
struct TaskWriter<'a, 'b, T> {
    io: &'a mut T,
    cx: &'a mut Context<'b>,
}

impl<T: AsyncWrite + Unpin> Write for TaskWriter<'_, '_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// Notes that the socket became readable, then wakes the task: the reader
/// is polled only after this fired (tungstenite zero-fills its 8 KiB read
/// buffer on every read attempt, which was half of all instructions when
/// it was polled at every frame).
#[derive(Debug, Default)]
struct ReadFlag {
    ready: AtomicBool,
    task: AtomicWaker,
}

impl Wake for ReadFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// A client WebSocket that plays [`Track`]s on a clock of absolute frame
/// deadlines (frame `k` of the session at `origin + k × frame`, the origin
/// on the pacer's grid) and reports what it hears. See the module docs.
///
/// Sending never waits: [`send`](Self::send) and [`play`](Self::play) take
/// effect at once, and bytes the socket does not take yet are written as
/// soon as it does. A frame never queues behind a stalled one: while bytes
/// wait, no further frame is sent, and the stall shows up as the next
/// frames' lateness.
#[derive(Debug)]
pub struct PacedWs<T: HandOff> {
    ws: WebSocketStream<T>,
    player: Arc<Mutex<Player>>,
    /// For the grid.
    pacer: Pacer,
    /// The pacer thread serving this session, if any.
    shard: Option<Arc<Shared>>,
    /// The clock phase this session holds on its pacer thread.
    phase: Option<Phase>,
    /// The pacer thread writes this socket (else this task does).
    pub(super) handed_off: bool,
    /// In-task mode: tungstenite may hold a reply of its own (pong, close) to write.
    flush_ws: bool,
    /// In-task mode: armed for this deadline and task.
    armed: Option<(Instant, Waker)>,
    /// In-task mode without a pacer thread.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    read: Arc<ReadFlag>,
    read_waker: Waker,
}

impl<T: AsyncRead + AsyncWrite + HandOff + Unpin> PacedWs<T> {
    /// Wrap an open client WebSocket whose audio frames carry `frame_bytes`
    /// of PCM (`frame` of audio), sent as `encoding`, timed by `pacer`.
    pub fn new(
        mut ws: WebSocketStream<T>,
        pacer: &Pacer,
        encoding: &FrameEncoding,
        frame_bytes: usize,
        frame: Duration,
    ) -> Self {
        let shard = pacer.shard();
        let socket = match shard {
            Some(_) => ws.get_mut().hand_off(),
            None => None,
        };
        let rng = SmallRng::try_from_os_rng().unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            SmallRng::seed_from_u64(nanos ^ (u64::from(std::process::id()) << 32))
        });
        let read = Arc::new(ReadFlag {
            // Poll once, so the reader registers interest in the socket.
            ready: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Self {
            ws,
            handed_off: socket.is_some(),
            player: Arc::new(Mutex::new(Player {
                encoder: encoding.encoder(),
                frame_bytes: frame_bytes.max(1),
                frame_ns: frame.as_nanos().clamp(1, u128::from(u64::MAX)) as u64,
                rng,
                origin: None,
                next_slot: 0,
                frames_sent: 0,
                track: None,
                out: Vec::new(),
                written: 0,
                unflushed: false,
                lags_us: Vec::new(),
                partial: None,
                played: None,
                error: None,
                waker: None,
                socket,
                scheduled: None,
            })),
            pacer: pacer.clone(),
            shard,
            phase: None,
            flush_ws: false,
            armed: None,
            sleep: None,
            read_waker: Waker::from(read.clone()),
            read,
        }
    }

    /// Play `track` from the next free frame slot, replacing the current
    /// track (whose progress is returned). A clock left idle skips the slots
    /// that passed, so frames stay on their absolute deadlines.
    ///
    /// The first call starts the session's clock on the pacer's grid, at
    /// the least busy phase within one frame from now (so the first frame
    /// may wait up to one frame; see [`Pacer::align`]).
    pub fn play(&mut self, track: Track) -> Option<Progress> {
        let now = Instant::now();
        let old = {
            let mut p = lock(&self.player);
            if p.origin.is_none() {
                let earliest = self.pacer.align(now);
                let (origin, phase) = match &self.shard {
                    Some(shard) => shard.start_clock(earliest, &self.pacer, p.frame_ns),
                    None => (earliest, None),
                };
                p.origin = Some(origin);
                self.phase = phase;
            }
            p.play(track, now)
        };
        // An empty track queued its `then` message already.
        let _ = self.push();
        old
    }

    /// Send a text, binary, ping or pong message now, in order with the
    /// frames (use [`close`](Self::close) to close).
    pub fn send(&mut self, msg: &Message) -> Result<(), WsError> {
        if matches!(msg, Message::Close(_) | Message::Frame(_)) {
            return Err(WsError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "PacedWs::send takes data, ping and pong messages; use close()",
            )));
        }
        self.queue_and_push(msg)
    }

    fn queue_and_push(&mut self, msg: &Message) -> Result<(), WsError> {
        lock(&self.player).queue(msg);
        self.push()
    }

    /// Write what is queued or due now, and have the rest written when due.
    fn push(&mut self) -> Result<(), WsError> {
        if self.handed_off {
            let mut p = lock(&self.player);
            let next = p.pump_handed_off();
            if let Some(e) = p.error.take() {
                return Err(WsError::Io(e));
            }
            if let Some(shard) = &self.shard {
                p.schedule(next, &self.player, shard);
            }
            return Ok(());
        }
        // This task's own poll re-arms its timer; no waker is needed here.
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_write_in_task(&mut cx) {
            Poll::Ready(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Write what is queued, then close the WebSocket with `frame`.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), WsError> {
        if self.handed_off {
            // Take the socket back from the pacer thread and let tungstenite
            // run the close handshake on its own stream.
            let mut p = lock(&self.player);
            p.stop();
            p.socket = None;
            drop(p);
            self.handed_off = false;
            self.ws.get_mut().take_back();
        }
        poll_fn(|cx| self.poll_write_in_task(cx)).await?;
        self.ws.close(frame).await
    }

    /// The next message, finished track, or end of the connection. Cancel
    /// safe: usable in `select!` next to the session's own timers.
    pub async fn next_event(&mut self) -> Result<WsEvent, WsError> {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Poll form of [`next_event`](Self::next_event).
    pub fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<WsEvent, WsError>> {
        if !self.handed_off {
            match self.poll_write_in_task(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(Some(at))) => self.arm(at, cx),
                _ => {}
            }
        }
        {
            let mut p = lock(&self.player);
            if let Some(e) = p.error.take() {
                return Poll::Ready(Err(WsError::Io(e)));
            }
            if let Some(done) = p.played.take() {
                return Poll::Ready(Ok(WsEvent::Played(done)));
            }
            if self.handed_off {
                match &p.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => p.waker = Some(cx.waker().clone()),
                }
            }
        }
        self.read.task.register(cx.waker());
        if self.read.ready.swap(false, Ordering::Acquire) {
            let mut rcx = Context::from_waker(&self.read_waker);
            if let Poll::Ready(item) = Pin::new(&mut self.ws).poll_next(&mut rcx) {
                // More may be buffered without a new readiness event.
                self.read.ready.store(true, Ordering::Release);
                return Poll::Ready(match item {
                    Some(Ok(msg)) => self.heard(msg),
                    Some(Err(e)) => Err(e),
                    None => Ok(WsEvent::Ended),
                });
            }
        }
        Poll::Pending
    }

    /// Answer pings and closes; tungstenite does it itself unless the
    /// socket was handed off (then its writes are dropped).
    fn heard(&mut self, msg: Message) -> Result<WsEvent, WsError> {
        match &msg {
            Message::Ping(payload) if self.handed_off => {
                self.queue_and_push(&Message::Pong(payload.clone()))?;
            }
            Message::Close(frame) if self.handed_off => {
                lock(&self.player).stop();
                let _ = self.queue_and_push(&Message::Close(frame.clone()));
            }
            Message::Ping(_) | Message::Close(_) => self.flush_ws = true,
            _ => {}
        }
        Ok(WsEvent::Message(msg))
    }

    /// In-task mode: write what is queued and every frame due now; returns
    /// the next frame's deadline. `Pending` while bytes wait for the socket
    /// (the task is woken when it takes more).
    fn poll_write_in_task(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Instant>, WsError>> {
        if self.flush_ws {
            std::task::ready!(Pin::new(&mut self.ws).poll_flush(cx))?;
            self.flush_ws = false;
        }
        let now = Instant::now();
        let mut p = lock(&self.player);
        let mut w = TaskWriter {
            io: self.ws.get_mut(),
            cx,
        };
        with_scratch(|scratch| p.pump(now, &mut w, scratch))?;
        if p.written < p.out.len() || p.unflushed {
            return Poll::Pending;
        }
        Poll::Ready(Ok(p.next_due(now)))
    }

    /// In-task mode: wake this task at `at` (pacer thread, else tokio's timer).
    fn arm(&mut self, at: Instant, cx: &mut Context<'_>) {
        let fresh = match &self.armed {
            Some((t, w)) => *t != at || !w.will_wake(cx.waker()),
            None => true,
        };
        if !fresh {
            return;
        }
        if let Some(shard) = &self.shard {
            shard.schedule(at, Job::Wake(cx.waker().clone()));
            self.armed = Some((at, cx.waker().clone()));
            return;
        }
        let due = tokio::time::Instant::from_std(at);
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if sleep.deadline() != due {
            sleep.as_mut().reset(due);
        }
        // Registers the waker; if already due, poll again at once.
        if sleep.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
    }
}

impl<T: HandOff> PacedWs<T> {
    /// Stop the current track (its progress is returned); the clock keeps running.
    pub fn stop(&mut self) -> Option<Progress> {
        lock(&self.player).stop()
    }

    /// How far the current track got.
    pub fn progress(&self) -> Option<Progress> {
        lock(&self.player).track.as_ref().map(|(_, p)| *p)
    }

    /// The lateness, µs, of every frame sent since the last call, in order.
    /// A frame's lateness is the time it was handed to the socket minus its
    /// deadline; it is never negative (frames never leave early).
    pub fn take_lags(&mut self) -> Vec<u32> {
        std::mem::take(&mut lock(&self.player).lags_us)
    }

    /// Move the lateness, µs, of every frame sent since the last call to the
    /// end of `out`. Unlike [`take_lags`](Self::take_lags) it keeps this
    /// session's buffer, so a session that collects often does not allocate.
    pub fn append_lags(&mut self, out: &mut Vec<u32>) {
        out.append(&mut lock(&self.player).lags_us);
    }

    /// Reserve room for the lateness of `frames` more frames.
    pub fn reserve_lags(&mut self, frames: usize) {
        lock(&self.player).lags_us.reserve(frames);
    }
}

impl<T: HandOff> Drop for PacedWs<T> {
    fn drop(&mut self) {
        // Close the pacer thread's descriptor now; its queued entries go stale.
        let mut p = lock(&self.player);
        p.socket = None;
        p.scheduled = None;
        p.track = None;
        drop(p);
        if let (Some(shard), Some(phase)) = (&self.shard, self.phase) {
            shard.end_clock(phase);
        }
    }
}
