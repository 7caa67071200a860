//! A session's sending side: its frame clock, the track it plays, and the
//! bytes on their way to the socket. Run by the pacer thread (handed-off
//! sockets) or by the session's task.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::RngCore;
use tokio_tungstenite::tungstenite::Message;

use super::{Job, Shared, RETRY};
use crate::protocol::ws::{put_frame, FrameAt, FrameEncoder, OpCode};

/// Audio to play on a session's frame clock.
#[derive(Debug, Clone)]
pub struct Track {
    pcm: Bytes,
    looped: bool,
    then: Vec<Message>,
}

impl Track {
    /// Play `pcm` once, one frame per slot (the last frame may be short).
    pub fn once(pcm: Bytes) -> Self {
        Self {
            pcm,
            looped: false,
            then: Vec::new(),
        }
    }

    /// Play the whole frames of `pcm` over and over (noise, silence) until
    /// replaced; never reported as played.
    pub fn looped(pcm: Bytes) -> Self {
        Self {
            pcm,
            looped: true,
            then: Vec::new(),
        }
    }

    /// Send `msg` (text or binary) right after the last frame, e.g. an
    /// end-of-audio message.
    pub fn then(mut self, msg: Message) -> Self {
        self.then.push(msg);
        self
    }

    fn frames(&self, frame_bytes: usize) -> u64 {
        if self.looped {
            u64::MAX
        } else {
            self.pcm.len().div_ceil(frame_bytes) as u64
        }
    }

    fn frame(&self, i: u64, frame_bytes: usize) -> &[u8] {
        let whole = (self.pcm.len() / frame_bytes).max(1) as u64;
        let i = if self.looped { i % whole } else { i } as usize;
        let from = (i * frame_bytes).min(self.pcm.len());
        &self.pcm[from..(from + frame_bytes).min(self.pcm.len())]
    }
}

/// How far a track got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Its first frame was handed to the socket.
    pub first: Option<Instant>,
    /// Its last frame so far (or the `then` message after it) was handed to the socket.
    pub last: Option<Instant>,
    /// Frames sent.
    pub frames: u64,
}

/// A session's sending side: frame clock, current track, bytes not yet
/// taken by the socket, and the lateness of every frame sent.
#[derive(Debug)]
pub(super) struct Player {
    pub(super) encoder: FrameEncoder,
    pub(super) frame_bytes: usize,
    pub(super) frame_ns: u64,
    /// Mask keys (RFC 6455 §5.3: fresh per frame, unpredictable to the
    /// network); seeded from the OS.
    pub(super) rng: SmallRng,
    /// Clock origin, set (on the grid) when the first track starts.
    pub(super) origin: Option<Instant>,
    /// The next slot of the clock not yet used.
    pub(super) next_slot: u64,
    /// Frames written on this connection (numbers counted templates).
    pub(super) frames_sent: u64,
    pub(super) track: Option<(Track, Progress)>,
    /// Frames and messages not yet taken by the socket (`out[written..]`).
    pub(super) out: Vec<u8>,
    pub(super) written: usize,
    /// Written but not flushed (TLS keeps records until flushed).
    pub(super) unflushed: bool,
    pub(super) lags_us: Vec<u32>,
    /// Deadline of a frame the socket took only part of: its lateness is
    /// counted when its last byte is written.
    pub(super) partial: Option<Instant>,
    pub(super) played: Option<Progress>,
    /// The pacer thread's write failure, for the session to report.
    pub(super) error: Option<io::Error>,
    /// The session's task, woken when a track ends or a write fails.
    pub(super) waker: Option<Waker>,
    /// The pacer thread's descriptor of the socket, once handed off.
    pub(super) socket: Option<std::net::TcpStream>,
    /// The instant of this player's one live pacer entry.
    pub(super) scheduled: Option<Instant>,
}

impl Player {
    pub(super) fn deadline(&self, slot: u64) -> Option<Instant> {
        let origin = self.origin?;
        Some(origin + Duration::from_nanos(self.frame_ns.saturating_mul(slot)))
    }

    /// When something must be written next: soon ([`RETRY`]) if bytes wait
    /// for the socket, else the next frame's deadline.
    pub(super) fn next_due(&self, now: Instant) -> Option<Instant> {
        if self.written < self.out.len() || self.unflushed {
            return Some(now + RETRY);
        }
        self.track.as_ref()?;
        self.deadline(self.next_slot)
    }

    pub(super) fn mask(&mut self) -> [u8; 4] {
        self.rng.next_u32().to_ne_bytes()
    }

    /// Replace the track; the new one starts at the next free slot at or
    /// after `now` (a clock that was idle skips the slots that passed).
    /// The clock's origin must be set first.
    pub(super) fn play(&mut self, track: Track, now: Instant) -> Option<Progress> {
        match self.origin {
            None => {}
            Some(origin) if self.track.is_none() => {
                let since = now.saturating_duration_since(origin).as_nanos();
                let slot = since
                    .div_ceil(u128::from(self.frame_ns))
                    .min(u128::from(u64::MAX));
                self.next_slot = self.next_slot.max(slot as u64);
            }
            Some(_) => {}
        }
        let old = self.track.replace((track, Progress::default()));
        // An empty track is over at once: its `then` message goes now.
        let mut out = std::mem::take(&mut self.out);
        self.finish_if_done(now, &mut out);
        self.out = out;
        old.map(|(_, p)| p)
    }

    pub(super) fn stop(&mut self) -> Option<Progress> {
        self.track.take().map(|(_, p)| p)
    }

    /// Make sure the pacer thread comes back at `at` (one live entry: an
    /// earlier one already does; a later one goes stale).
    pub(super) fn schedule(
        &mut self,
        at: Option<Instant>,
        cell: &Arc<Mutex<Player>>,
        shard: &Shared,
    ) {
        let Some(at) = at else {
            return;
        };
        if self.socket.is_none() || self.scheduled.is_some_and(|t| t <= at) {
            return;
        }
        self.scheduled = Some(at);
        shard.schedule(at, Job::Play(cell.clone()));
    }

    /// A once-track with every frame sent: frame its `then` message into
    /// `buf` (right behind its last frame) and report it.
    pub(super) fn finish_if_done(&mut self, at: Instant, buf: &mut Vec<u8>) {
        let done = match &self.track {
            Some((t, p)) => p.frames >= t.frames(self.frame_bytes),
            None => false,
        };
        if !done {
            return;
        }
        if let Some((track, mut progress)) = self.track.take() {
            for msg in &track.then {
                let mask = self.mask();
                put_message(buf, msg, mask);
                progress.last = Some(at);
            }
            self.played = Some(progress);
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }

    /// Frame a message into `out`, behind whatever waits there.
    pub(super) fn queue(&mut self, msg: &Message) {
        let mask = self.mask();
        put_message(&mut self.out, msg, mask);
    }

    /// Write `out[written..]`; false if the socket would block.
    pub(super) fn drain(&mut self, w: &mut impl Write) -> io::Result<bool> {
        let n = write_some(w, &self.out[self.written..])?;
        self.written += n;
        self.unflushed |= n > 0;
        if self.written < self.out.len() {
            return Ok(false);
        }
        self.out.clear();
        self.written = 0;
        if let Some(due) = self.partial.take() {
            self.lags_us.push(lag_us(Instant::now(), due));
        }
        if self.unflushed {
            match w.flush() {
                Ok(()) => self.unflushed = false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Write what is queued, then every frame due by `now`, to `w`; stops
    /// (with `Ok`) when `w` would block.
    ///
    /// A frame is framed in `scratch` (one buffer per thread, hot in cache)
    /// and written from there; only what the socket does not take is
    /// copied into the session's own `out`.
    pub(super) fn pump(
        &mut self,
        now: Instant,
        w: &mut impl Write,
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        loop {
            if !self.drain(w)? {
                return Ok(());
            }
            let Some(due) = self.deadline(self.next_slot) else {
                return Ok(());
            };
            let Some((track, progress)) = &self.track else {
                return Ok(());
            };
            if due > now {
                return Ok(());
            }
            scratch.clear();
            let mask = self.rng.next_u32().to_ne_bytes();
            let pcm = track.frame(progress.frames, self.frame_bytes);
            self.frames_sent += 1;
            let at = FrameAt {
                number: self.frames_sent,
                ms: self.frame_ns.saturating_mul(self.next_slot) / 1_000_000,
            };
            self.encoder.put(scratch, pcm, mask, at);
            // Lateness: when the frame is handed to the socket (just below).
            let at = Instant::now();
            self.next_slot += 1;
            if let Some((_, p)) = &mut self.track {
                p.first.get_or_insert(at);
                p.last = Some(at);
                p.frames += 1;
            }
            self.finish_if_done(at, scratch);
            let n = write_some(w, scratch)?;
            self.unflushed |= n > 0;
            if n < scratch.len() {
                self.out.extend_from_slice(&scratch[n..]);
                self.partial = Some(due);
                return Ok(());
            }
            self.lags_us.push(lag_us(at, due));
        }
    }
}

/// Lateness of a frame handed over at `at`, µs.
fn lag_us(at: Instant, due: Instant) -> u32 {
    at.saturating_duration_since(due)
        .as_micros()
        .min(u128::from(u32::MAX)) as u32
}

/// Write as much of `buf` as `w` takes now.
fn write_some(w: &mut impl Write, buf: &[u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match w.write(&buf[n..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

thread_local! {
    /// Where frames are built before the write (see [`Player::pump`]).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        // Not reentrant in practice; a fresh buffer keeps it correct anyway.
        Err(_) => f(&mut Vec::new()),
    })
}

/// Frame a data, ping, pong or close message into `out`.
pub(super) fn put_message(out: &mut Vec<u8>, msg: &Message, mask: [u8; 4]) {
    let close_payload;
    let (op, payload): (OpCode, &[u8]) = match msg {
        Message::Text(t) => (OpCode::Text, t.as_bytes()),
        Message::Binary(b) => (OpCode::Binary, b),
        Message::Ping(b) => (OpCode::Ping, b),
        Message::Pong(b) => (OpCode::Pong, b),
        Message::Close(frame) => {
            close_payload = frame.as_ref().map_or(Vec::new(), |f| {
                let mut p = u16::from(f.code).to_be_bytes().to_vec();
                p.extend_from_slice(f.reason.as_bytes());
                p
            });
            (OpCode::Close, &close_payload)
        }
        Message::Frame(_) => return,
    };
    put_frame(out, op, payload.len(), mask, |p| {
        p.extend_from_slice(payload)
    });
}

impl Player {
    /// Send what is due on the handed-off socket; returns when to come back.
    pub(super) fn pump_handed_off(&mut self) -> Option<Instant> {
        if self.error.is_some() {
            return None;
        }
        let mut socket = self.socket.take()?;
        let now = Instant::now();
        let result = with_scratch(|scratch| self.pump(now, &mut socket, scratch));
        self.socket = Some(socket);
        if let Err(e) = result {
            self.error = Some(e);
            if let Some(w) = self.waker.take() {
                w.wake();
            }
            return None;
        }
        self.next_due(now)
    }
}
