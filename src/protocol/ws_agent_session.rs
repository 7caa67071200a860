//! One voice-agent conversation on one WebSocket, in real time.
//!
//! The caller's side is one continuous audio stream on the session's frame
//! clock ([`super::ws_pacer`]): frame `n` leaves at `clock + n × frame`
//! (absolute deadlines, so lateness never accumulates), and each frame is
//! the current utterance's next slice, or low-level noise between
//! utterances. Frames are written by the pacer, so the session's task wakes
//! only for agent messages, finished utterances and its own deadlines
//! (answer timeouts, the barge-in moment, the end of a pause), and message
//! arrival times are not delayed by sending.
//!
//! A turn: the caller speaks its utterance; the end of speech is when the
//! last speech frame (or the end-of-speech message right after it) was sent
//! — the earliest moment the agent can know the caller stopped. The agent's
//! response is every message after that until an end-of-response message
//! or an idle gap. The caller then waits until the response would have
//! finished playing, pauses, and speaks the next turn.
//!
//! Barge-in: for a chosen turn the caller starts its *next* utterance a set
//! time after the response's first audio arrived, over the agent (from the
//! next free frame slot). Agent audio arriving from the moment its first
//! frame left until its last is leaked; the turn's record is finished when
//! the interrupting utterance ends. Whether the response had already ended
//! when the caller barged in is recorded, and so is a planned barge-in that
//! never came (the answer finished playing, and the pause passed, first):
//! what the caller's player still had to play is for `metrics` to work out.
//!
//! This module only timestamps; `metrics::defs_agent` turns the times into numbers.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::trace::{Tracer, Verdict};
use super::ws::{read_error, HandOff};
use super::ws_agent::{AgentMessage, AgentTarget};
use super::ws_pacer::{PacedWs, Pacer, Progress, Track, WsEvent};
use super::{ErrorKind, ProtocolError};
use crate::audio::rate::RateSource;

/// What one conversation says.
#[derive(Debug, Clone, Copy)]
pub struct Conversation<'a> {
    /// The caller's PCM, one utterance per turn.
    pub turns: &'a [Bytes],
    /// Per turn: interrupt the agent's answer this long after its first
    /// audio arrived, with the next turn's utterance (`None`: let it finish).
    pub barge_in: &'a [Option<Duration>],
    /// Pause after a response finished playing before the next utterance.
    pub pause: Duration,
    /// One frame of low-level noise, sent between utterances.
    pub noise: &'a Bytes,
}

/// Raw timestamps of one turn.
#[derive(Debug, Clone, Default)]
pub struct TurnTimes {
    /// 0-based turn index in the conversation.
    pub index: usize,
    /// First frame of the caller's utterance sent.
    pub speech_started: Option<Instant>,
    /// End of speech: the utterance's last frame sent (its end-of-speech messages follow at once).
    pub speech_ended: Option<Instant>,
    /// First agent message after the end of speech.
    pub first_message: Option<Instant>,
    /// First agent audio after the end of speech.
    pub first_audio: Option<Instant>,
    /// The agent's final transcript of the caller.
    pub transcript: Option<Instant>,
    /// The agent said it found the end of the caller's speech.
    pub endpoint: Option<Instant>,
    /// The agent announced its response had begun.
    pub response_start: Option<Instant>,
    /// The id of the response item the agent's audio belongs to (first one read).
    pub item_id: Option<String>,
    /// What the agent heard: its final transcript(s) of the caller, joined by spaces.
    pub heard: Option<String>,
    /// What the agent said in text: its reply pieces, joined as they came.
    pub said: Option<String>,
    /// Agent audio of the response: arrival and duration of each message.
    pub audio: Vec<(Instant, Duration)>,
    /// Bytes of agent audio in the response (as sent: PCM or encoded).
    pub audio_bytes: u64,
    /// The sample rate `audio`'s durations were computed at, and where it
    /// came from: announced by the agent (`rate_path`) or assumed
    /// (`agent_sample_rate`). Set when the turn is handed over.
    pub sample_rate: Option<(u32, RateSource)>,
    /// End of the response: the end message's arrival, or the last message before an idle gap.
    pub response_end: Option<Instant>,
    /// The response ended with an end-of-response message.
    pub end_message: bool,
    /// That message's status (at the rules' `end_status_path`).
    pub end_status: Option<String>,
    /// The latest message of a kept type received on the call before this
    /// turn was handed over (OpenAI's `rate_limits.updated` comes after its
    /// response's end, so a turn holds the one its previous answer brought).
    pub kept: Option<String>,
    /// Lateness of each caller frame sent during this turn, µs.
    pub frame_lag_us: Vec<u32>,
    /// The caller spoke over this turn's response.
    pub barge: Option<BargeTimes>,
    /// Close code, if the agent closed the connection during this turn.
    pub close_code: Option<u16>,
    /// Why the turn failed, if it did.
    pub error: Option<ProtocolError>,
}

/// Raw timestamps of a barge-in (planned for the turn).
#[derive(Debug, Clone, Default)]
pub struct BargeTimes {
    /// The response had already ended (end message or idle gap) when the
    /// caller started to barge in — or, with no onset, the planned barge-in
    /// never came: the answer finished playing and the pause passed first.
    pub after_response: bool,
    /// First frame of the interrupting utterance sent; `None` if it never
    /// left (the conversation failed first, or see `after_response`).
    pub onset: Option<Instant>,
    /// Its last frame sent: the end of the leak window.
    pub utterance_end: Option<Instant>,
    /// Agent audio that arrived during the interrupting utterance.
    pub leaked: Vec<(Instant, Duration)>,
    /// The agent's interruption message.
    pub interrupted_at: Option<Instant>,
    /// Answer audio the caller's player had played when the interruption
    /// message came and the barge-in messages went out (it stops there).
    pub played: Option<Duration>,
}

/// Where the conversation is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Sending the current turn's utterance.
    Speaking,
    /// Utterance over; reading the response.
    Waiting,
    /// Response over; waiting for it to finish playing, then the pause.
    Pausing { until: Instant },
}

/// A finished conversation: every turn has been handed to `on_turn`.
struct Done;

struct State<'c, F> {
    talk: Conversation<'c>,
    cur: TurnTimes,
    phase: Phase,
    /// The previous turn, whose response the current utterance interrupts.
    barged: Option<TurnTimes>,
    /// Last agent message of the current response.
    last_message: Option<Instant>,
    /// The current turn was already handed over (its response is over and
    /// no barge-in is planned); `cur` only keeps its place.
    handed_over: bool,
    /// Lateness of the frames sent since the previous turn's response
    /// ended (or was interrupted), µs: the current turn's so far.
    lags: Vec<u32>,
    /// Caller messages to send as soon as the current event is handled.
    outbox: Vec<String>,
    /// The call's id, for `{{session_id}}` in the caller's messages.
    session_id: String,
    /// When the caller's player will have played every agent audio so far
    /// (the agent clearing playback empties it).
    playing_until: Option<Instant>,
    /// Playback marks to echo, with when (in arrival order, so due in order).
    marks: Vec<(Instant, String)>,
    /// The agent audio's rate: announced by the agent, else configured.
    rate: (u32, RateSource),
    /// The latest message of a kept type on this call.
    kept: Option<String>,
    on_turn: F,
}

fn new_turn(index: usize) -> TurnTimes {
    TurnTimes {
        index,
        ..TurnTimes::default()
    }
}

impl<F: FnMut(TurnTimes)> State<'_, F> {
    /// Hand a finished turn over.
    fn hand(&mut self, mut turn: TurnTimes) {
        turn.sample_rate.get_or_insert(self.rate);
        turn.kept.clone_from(&self.kept);
        (self.on_turn)(turn);
    }

    /// The current turn's frames end here (its response ended or was
    /// interrupted): the pause before its utterance, the utterance, and
    /// the noise while it waited. Later frames belong to the next turn.
    fn close_frames(turn: &mut TurnTimes, lags: &mut Vec<u32>) {
        turn.frame_lag_us = std::mem::take(lags);
    }

    /// Fail the open turns (a barged one first) and end the conversation.
    fn fail(&mut self, error: ProtocolError, close_code: Option<u16>) -> Done {
        if let Some(mut b) = self.barged.take() {
            b.error = Some(error.clone());
            b.close_code = close_code;
            self.hand(b);
        }
        if !self.handed_over {
            let mut cur = std::mem::take(&mut self.cur);
            if cur.response_end.is_none() {
                Self::close_frames(&mut cur, &mut self.lags);
            }
            cur.error = Some(error);
            cur.close_code = close_code;
            self.hand(cur);
        }
        Done
    }

    fn is_last_turn(&self) -> bool {
        self.cur.index + 1 >= self.talk.turns.len()
    }

    /// This long into the current answer's audio, the caller interrupts it.
    fn barge_after(&self) -> Option<Duration> {
        let after = (*self.talk.barge_in.get(self.cur.index)?)?;
        (!self.is_last_turn()).then_some(after)
    }

    /// When the caller interrupts the current answer, if it will.
    fn barge_due(&self) -> Option<Instant> {
        if !matches!(self.phase, Phase::Waiting | Phase::Pausing { .. }) {
            return None;
        }
        Some(self.cur.first_audio? + self.barge_after()?)
    }

    /// The earliest instant at which [`on_time`](Self::on_time) has
    /// something to do.
    /// Echo the playback marks due by `now`.
    fn release_marks(&mut self, now: Instant, t: &AgentTarget) {
        let due = self.marks.partition_point(|(at, _)| *at <= now);
        for (_, name) in self.marks.drain(..due) {
            if let Some(echo) = t.mark_echo(&self.session_id, &name) {
                self.outbox.push(echo);
            }
        }
    }

    fn next_deadline(&self, t: &AgentTarget) -> Option<Instant> {
        let mut next = self.barge_due();
        if let Some(&(due, _)) = self.marks.first() {
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        let mut at = |d: Instant| next = Some(next.map_or(d, |n: Instant| n.min(d)));
        match self.phase {
            Phase::Speaking => {}
            Phase::Waiting => {
                if let Some(eos) = self.cur.speech_ended {
                    if self.cur.first_audio.is_none() {
                        at(eos + t.answer_timeout);
                    } else if let Some(last) = self.last_message {
                        at(last + t.response_idle);
                    }
                    at(eos + t.response_timeout);
                }
            }
            Phase::Pausing { until } => at(until),
        }
        next
    }

    /// The current track is the utterance of the turn being spoken (it
    /// replaces the noise at the next frame slot). Its end-of-speech
    /// messages are not on the track: they leave once its end is seen (see
    /// [`State::on_played`]).
    fn utterance(&self) -> Track {
        Track::once(self.talk.turns[self.cur.index].clone())
    }

    /// Begin the next turn's utterance; the current turn, if barged, waits
    /// for the leak window to close.
    fn start_next(&mut self, barging: bool) {
        let planned = self.barge_after().is_some();
        let next = new_turn(self.cur.index + 1);
        let mut prev = std::mem::replace(&mut self.cur, next);
        let after_response = self.phase != Phase::Waiting;
        if barging {
            if !after_response {
                Self::close_frames(&mut prev, &mut self.lags);
            }
            prev.barge = Some(BargeTimes {
                after_response,
                ..BargeTimes::default()
            });
            self.barged = Some(prev);
        } else if !self.handed_over {
            if planned {
                // The answer was over, and played, before the barge-in was due.
                prev.barge = Some(BargeTimes {
                    after_response: true,
                    ..BargeTimes::default()
                });
            }
            self.hand(prev);
        }
        self.handed_over = false;
        self.phase = Phase::Speaking;
        self.last_message = None;
    }

    /// The utterance went out: the end of speech, and the end of a
    /// barge-in's leak window. Its end-of-speech messages go now, after the
    /// turn waits for its answer: a server answering them at once (manual
    /// turns: `commit`, `response.create`) is heard as this turn's answer,
    /// not as talk while the caller spoke (which it would be were they
    /// sent with the last frame and answered before its end was seen).
    fn on_played(&mut self, p: Progress, now: Instant, t: &AgentTarget) {
        if self.phase != Phase::Speaking {
            return;
        }
        let ended = p.last.unwrap_or(now);
        // (An empty utterance sent no frame: it started where it ended.)
        self.cur.speech_started = p.first.or(Some(ended));
        self.cur.speech_ended = Some(ended);
        self.phase = Phase::Waiting;
        let eos = t.end_of_speech_messages.iter();
        self.outbox.extend(eos.map(|m| t.fill(m, &self.session_id)));
        if let Some(mut b) = self.barged.take() {
            if let Some(bt) = b.barge.as_mut() {
                bt.onset = bt.onset.or(p.first);
                bt.utterance_end = Some(ended);
            }
            self.hand(b);
        }
    }

    /// While an interruption has no onset yet: `first` is when the
    /// interrupting utterance's first frame left, if it has.
    fn interruption_onset(&mut self, first: impl FnOnce() -> Option<Instant>) {
        if let Some(b) = self.barged.as_mut().and_then(|p| p.barge.as_mut()) {
            if b.onset.is_none() {
                b.onset = first();
            }
        }
    }

    /// The response is over: hand the turn over unless a barge-in may
    /// still come, and wait for playback plus the pause.
    fn response_over(&mut self, end: Instant) -> Option<Done> {
        self.cur.response_end = Some(end);
        Self::close_frames(&mut self.cur, &mut self.lags);
        if self.is_last_turn() {
            let cur = std::mem::take(&mut self.cur);
            self.hand(cur);
            return Some(Done);
        }
        if self.barge_after().is_none() {
            self.hand(self.cur.clone());
            self.handed_over = true;
        }
        let until = playback_end(&self.cur.audio).unwrap_or(end).max(end) + self.talk.pause;
        self.phase = Phase::Pausing { until };
        None
    }

    /// State changes due by `now` (timeouts, the barge-in, the pause's end).
    fn on_time(&mut self, now: Instant, t: &AgentTarget) -> Option<Done> {
        self.release_marks(now, t);
        if self.barge_due().is_some_and(|due| now >= due) {
            if self.cur.response_end.is_none() {
                // Still answering: the response so far is what it is.
                self.cur.response_end = self.last_message;
            }
            self.start_next(true);
            return None;
        }
        match self.phase {
            Phase::Speaking => None,
            Phase::Waiting => {
                let eos = self.cur.speech_ended?;
                if self.cur.first_audio.is_none() && now >= eos + t.answer_timeout {
                    let msg = format!(
                        "no agent audio within {} after the end of speech",
                        humantime::format_duration(t.answer_timeout)
                    );
                    return Some(self.fail(ProtocolError::new(ErrorKind::Timeout, msg), None));
                }
                if let Some(last) = self.last_message.filter(|_| self.cur.first_audio.is_some()) {
                    if now >= last + t.response_idle {
                        return self.response_over(last);
                    }
                }
                if now >= eos + t.response_timeout {
                    let msg = format!(
                        "response still going {} after the end of speech",
                        humantime::format_duration(t.response_timeout)
                    );
                    return Some(self.fail(ProtocolError::new(ErrorKind::Timeout, msg), None));
                }
                None
            }
            Phase::Pausing { until } => {
                if now >= until {
                    // (A planned barge-in that never came: the answer was shorter.)
                    self.start_next(false);
                }
                None
            }
        }
    }

    /// One agent message (`item_id`: the response item it names, if read).
    fn on_message(
        &mut self,
        m: AgentMessage,
        item_id: Option<String>,
        text: Option<String>,
        at: Instant,
        t: &AgentTarget,
    ) -> Option<Done> {
        let rate = self.rate.0;
        let agent_audio = |n: usize| t.codec.duration(n, rate);
        match m {
            AgentMessage::Audio(n) => {
                let playing = self.playing_until.map_or(at, |p| p.max(at));
                self.playing_until = Some(playing + agent_audio(n));
            }
            AgentMessage::Mark => {
                let due = self.playing_until.map_or(at, |p| p.max(at));
                self.marks.push((due, text.unwrap_or_default()));
                return None;
            }
            // Not the agent speaking: the server's state, whenever it comes.
            AgentMessage::Kept => {
                self.kept = text;
                return None;
            }
            // Cleared playback: nothing queued plays, every mark is passed.
            AgentMessage::Interrupted => {
                self.playing_until = None;
                for (due, _) in &mut self.marks {
                    *due = at;
                }
                self.release_marks(at, t);
            }
            _ => {}
        }
        if let AgentMessage::Error(code) = m {
            let e = ProtocolError::new(
                ErrorKind::ServerEvent(code),
                format!("the agent sent an error event ({code})"),
            );
            return Some(self.fail(e, None));
        }
        if let Some(prev) = self.barged.as_mut() {
            if let Some(b) = prev.barge.as_mut() {
                match m {
                    // Audio before the caller's first interrupting frame
                    // left is still the answer; after it, leaked.
                    AgentMessage::Audio(n) if b.onset.is_some_and(|o| at >= o) => {
                        b.leaked.push((at, agent_audio(n)));
                    }
                    AgentMessage::Audio(n) => {
                        prev.audio.push((at, agent_audio(n)));
                        prev.audio_bytes += n as u64;
                    }
                    AgentMessage::Interrupted if b.interrupted_at.is_none() => {
                        b.interrupted_at = Some(at);
                        if !t.barge_in_messages.is_empty() {
                            let heard = prev.audio.iter().chain(&b.leaked);
                            let played = played_by(heard, at);
                            b.played = Some(played);
                            let id = prev.item_id.as_deref();
                            self.outbox.extend(
                                t.barge_in_messages
                                    .iter()
                                    .map(|m| t.fill_barge_in(m, &self.session_id, id, played)),
                            );
                        }
                    }
                    _ => {}
                }
                if prev.item_id.is_none() {
                    prev.item_id = item_id;
                }
            }
            return None;
        }
        if self.phase != Phase::Waiting {
            return None;
        }
        self.cur.first_message.get_or_insert(at);
        self.last_message = Some(at);
        match m {
            AgentMessage::Audio(n) => {
                self.cur.first_audio.get_or_insert(at);
                self.cur.audio.push((at, agent_audio(n)));
                self.cur.audio_bytes += n as u64;
                if self.cur.item_id.is_none() {
                    self.cur.item_id = item_id;
                }
            }
            AgentMessage::Transcript => {
                self.cur.transcript.get_or_insert(at);
                if let Some(text) = text {
                    let heard = self.cur.heard.get_or_insert_with(String::new);
                    if !heard.is_empty() && !text.is_empty() {
                        heard.push(' ');
                    }
                    heard.push_str(&text);
                }
            }
            AgentMessage::Reply => {
                if let Some(text) = text {
                    self.cur
                        .said
                        .get_or_insert_with(String::new)
                        .push_str(&text);
                }
            }
            AgentMessage::Endpoint => {
                self.cur.endpoint.get_or_insert(at);
            }
            AgentMessage::ResponseStart => {
                self.cur.response_start.get_or_insert(at);
            }
            AgentMessage::Error(_) => {}
            // Where responses announce their start, an end before this
            // turn's start is an earlier (interrupted) response's late end.
            AgentMessage::End
                if !t.rules.response_start_types.is_empty()
                    && self.cur.response_start.is_none() => {}
            AgentMessage::End => {
                self.cur.end_message = true;
                self.cur.end_status = text;
                return self.response_over(at);
            }
            AgentMessage::Interrupted
            | AgentMessage::Other(_)
            | AgentMessage::Mark
            | AgentMessage::Kept => {}
        }
        None
    }

    /// An event from the socket other than a finished utterance, at `at`;
    /// `onset` tells when the interrupting utterance's first frame left.
    fn heard(
        &mut self,
        event: Result<WsEvent, WsError>,
        at: Instant,
        onset: impl FnOnce() -> Option<Instant>,
        t: &AgentTarget,
        trace: &Tracer,
    ) -> Flow {
        let msg = match event {
            Ok(WsEvent::Message(msg)) => msg,
            // (The caller handles the end of an utterance.)
            Ok(WsEvent::Played(_)) => return Flow::Go,
            Ok(WsEvent::Ended) => {
                let e =
                    ProtocolError::new(ErrorKind::Reset, "connection closed without a close frame");
                self.fail(e, None);
                return Flow::Stop;
            }
            Err(e) => {
                self.fail(read_error(e), None);
                return Flow::Stop;
            }
        };
        let (message, item_id, text) = match &msg {
            Message::Binary(b) => (AgentMessage::Audio(b.len()), None, None),
            Message::Text(text) => match t.rules.read_text(text.as_str()) {
                Ok(c) => {
                    if let Some(rate) = c.rate {
                        self.rate = (rate, RateSource::Message);
                    }
                    (c.message, c.item_id, c.text)
                }
                Err(e) => {
                    trace.with(|tr| tr.received(at, &msg, Verdict::Failed(e.detail.clone())));
                    self.fail(e, None);
                    return Flow::Close;
                }
            },
            Message::Close(frame) => {
                // The close handshake is answered by the socket.
                let code = frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(1005);
                trace.with(|tr| tr.received(at, &msg, Verdict::Close(code)));
                let e = ProtocolError::new(
                    ErrorKind::WsClosed(code),
                    "the agent closed the conversation",
                );
                self.fail(e, Some(code));
                return Flow::Stop;
            }
            _ => {
                let why = || "ping or pong (answered by the socket)".to_string();
                trace.with(|tr| tr.received(at, &msg, Verdict::Ignored(why())));
                return Flow::Go;
            }
        };
        trace.with(|tr| {
            let verdict = verdict(message, text.as_deref(), &msg, t);
            tr.received_aside(at, &msg, verdict, self.not_counted(message));
        });
        self.interruption_onset(onset);
        Flow::after(self.on_message(message, item_id, text, at, t))
    }
}

impl<F> State<'_, F> {
    /// Why a message of a response would not count where the
    /// conversation is (`voxload sample` shows it beside the message).
    fn not_counted(&self, m: AgentMessage) -> Option<&'static str> {
        let of_response = matches!(
            m,
            AgentMessage::Audio(_)
                | AgentMessage::Transcript
                | AgentMessage::Reply
                | AgentMessage::End
                | AgentMessage::Endpoint
                | AgentMessage::ResponseStart
        );
        if !of_response || self.barged.is_some() {
            return None;
        }
        match self.phase {
            Phase::Waiting => None,
            Phase::Speaking => Some("not counted: before the end of the caller's speech"),
            Phase::Pausing { .. } => Some("not counted: after the response ended"),
        }
    }
}

/// What the rules made of agent message `msg`, for the trace.
fn verdict(m: AgentMessage, text: Option<&str>, msg: &Message, t: &AgentTarget) -> Verdict {
    let text = || text.unwrap_or("").to_string();
    match m {
        AgentMessage::Audio(n) => Verdict::Audio(n),
        AgentMessage::Endpoint => Verdict::Endpoint,
        AgentMessage::ResponseStart => Verdict::ResponseStart,
        AgentMessage::Error(code) => Verdict::Error(code.as_str().to_string()),
        AgentMessage::Transcript => Verdict::Transcript(text()),
        AgentMessage::Reply => Verdict::Reply(text()),
        AgentMessage::End => Verdict::End,
        AgentMessage::Interrupted => Verdict::Interruption,
        AgentMessage::Mark => Verdict::Mark(text()),
        AgentMessage::Kept => Verdict::Kept,
        AgentMessage::Other(why) => {
            let raw = match msg {
                Message::Text(s) => s.as_str(),
                _ => "",
            };
            Verdict::Ignored(t.rules.explain(why, raw))
        }
    }
}

/// What the conversation does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Go,
    /// Over: say goodbye.
    Close,
    /// Over, and the connection with it.
    Stop,
}

impl Flow {
    fn after(done: Option<Done>) -> Self {
        match done {
            Some(Done) => Flow::Close,
            None => Flow::Go,
        }
    }
}

/// Record the utterance just played: its frames (one shown; its
/// end-of-speech messages are sent, and recorded, from the outbox).
fn played<F>(
    tr: &mut super::trace::Trace,
    st: &State<'_, F>,
    p: Progress,
    now: Instant,
    t: &AgentTarget,
    frames: &super::ws::FrameEncoding,
) {
    let pcm = &st.talk.turns[st.cur.index];
    let one = pcm.slice(..t.frame_bytes().min(pcm.len()));
    let last = p.last.unwrap_or(now);
    tr.frames(
        p.first.unwrap_or(last),
        p.last,
        p.frames,
        &frames.first_message(one),
    );
}

/// When audio arriving as `(arrival, duration)` would finish playing, if
/// playback starts at the first arrival and waits whenever it runs dry.
pub fn playback_end(audio: &[(Instant, Duration)]) -> Option<Instant> {
    let mut iter = audio.iter();
    let &(first, d) = iter.next()?;
    Some(iter.fold(first + d, |t, &(at, d)| t.max(at) + d))
}

/// How much of the audio arriving as `(arrival, duration)` had played by
/// `at`, with the player of [`playback_end`].
pub fn played_by<'a>(
    audio: impl IntoIterator<Item = &'a (Instant, Duration)>,
    at: Instant,
) -> Duration {
    let mut played = Duration::ZERO;
    let mut free: Option<Instant> = None;
    for &(arrival, d) in audio {
        let start = free.map_or(arrival, |f| f.max(arrival));
        if at <= start {
            break;
        }
        played += d.min(at - start);
        free = Some(start + d);
    }
    played
}

/// Run one conversation on an open WebSocket, its frames timed by `pacer`
/// (one per run, shared by its calls), handing each turn's times to
/// `on_turn` as soon as the turn is over (so a long conversation's early
/// turns are recorded even if it is cut short).
///
/// Generic over the byte stream under the WebSocket, so it is tested over
/// an in-memory pipe with a real WebSocket server on the other end.
pub async fn converse<T>(
    ws: WebSocketStream<T>,
    pacer: &Pacer,
    t: &AgentTarget,
    talk: Conversation<'_>,
    on_turn: impl FnMut(TurnTimes),
    trace: &Tracer,
) where
    T: AsyncRead + AsyncWrite + HandOff + Unpin,
{
    let mut st = State {
        talk,
        cur: new_turn(0),
        phase: Phase::Speaking,
        barged: None,
        last_message: None,
        handed_over: false,
        lags: Vec::new(),
        outbox: Vec::new(),
        session_id: format!("{:032x}", rand::random::<u128>()),
        playing_until: None,
        marks: Vec::new(),
        rate: (t.agent_sample_rate, RateSource::Assumed),
        kept: None,
        on_turn,
    };
    if talk.turns.is_empty() {
        return;
    }
    let frames = t.frames.filled(|s| t.fill(s, &st.session_id));
    let mut ws = PacedWs::new(ws, pacer, &frames, t.frame_bytes(), t.frame);
    let send_err = |e: WsError| ProtocolError::new(ErrorKind::Reset, format!("send failed: {e}"));
    let sent = |msg: &Message| trace.with(|tr| tr.sent(Instant::now(), msg));
    for start in &t.start_messages {
        let msg = Message::text(t.fill(start, &st.session_id));
        if let Err(e) = ws.send(&msg) {
            st.fail(send_err(e), None);
            return;
        }
        sent(&msg);
    }
    let noise = t
        .noise_between_turns
        .then(|| Track::looped(talk.noise.clone()));
    // The turn whose utterance is on the clock.
    let mut spoken: Option<usize> = None;
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    loop {
        if st.phase == Phase::Speaking && spoken != Some(st.cur.index) {
            ws.play(st.utterance());
            spoken = Some(st.cur.index);
        }
        let wake = st.next_deadline(t);
        if let Some(at) = wake {
            let due = tokio::time::Instant::from_std(at);
            if timer.deadline() != due {
                timer.as_mut().reset(due);
            }
        }
        let event = tokio::select! {
            biased;
            e = ws.next_event() => Some(e),
            () = &mut timer, if wake.is_some() => None,
        };
        let now = Instant::now();
        ws.append_lags(&mut st.lags);
        let flow = match event {
            // The timer never fires early; `max` keeps it so whatever the clocks' rounding.
            None => Flow::after(st.on_time(wake.map_or(now, |w| now.max(w)), t)),
            Some(Ok(WsEvent::Played(p))) => {
                // The pacer reports the end as soon as it is written;
                // messages already waiting came while the caller still
                // spoke (the old single-task loop read them first too).
                let mut flow = Flow::Go;
                while flow == Flow::Go {
                    match ws.next_event().now_or_never() {
                        None | Some(Ok(WsEvent::Played(_))) => break,
                        Some(e) => {
                            let onset = || ws.progress().and_then(|p| p.first);
                            flow = st.heard(e, Instant::now(), onset, t, trace);
                        }
                    }
                }
                if flow == Flow::Go {
                    if st.phase == Phase::Speaking {
                        trace.with(|tr| played(tr, &st, p, now, t, &frames));
                    }
                    st.on_played(p, now, t);
                    if let Some(noise) = noise.as_ref().filter(|_| st.phase == Phase::Waiting) {
                        ws.play(noise.clone());
                        trace.with(|tr| {
                            let what = "noise frames between utterances from here (not shown)";
                            tr.note(Instant::now(), what);
                        });
                    }
                }
                flow
            }
            Some(e) => st.heard(e, now, || ws.progress().and_then(|p| p.first), t, trace),
        };
        // (Messages due when the conversation just ended are not sent.)
        for text in std::mem::take(&mut st.outbox) {
            if flow == Flow::Go {
                let msg = Message::text(text);
                if let Err(e) = ws.send(&msg) {
                    st.fail(send_err(e), None);
                    return;
                }
                sent(&msg);
            }
        }
        match flow {
            Flow::Go => {}
            Flow::Stop => return,
            Flow::Close => {
                // The caller hangs up: its goodbye (Twilio's `stop`), then
                // the close; the connection may already be gone.
                for end in &t.end_messages {
                    let msg = Message::text(t.fill(end, &st.session_id));
                    let _ = ws.send(&msg);
                    sent(&msg);
                }
                let frame = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "done".into(),
                };
                sent(&Message::Close(Some(frame.clone())));
                // The connection may already be gone, which is fine.
                let _ = ws.close(Some(frame)).await;
                return;
            }
        }
    }
}

#[cfg(test)]
#[path = "ws_agent_session_tests.rs"]
mod tests;
