//! One voice-agent conversation, whatever carries it: the turns, their
//! timestamps and the barge-in plan, as a state machine that a transport's
//! loop feeds (a WebSocket in [`super::ws_agent_session`], a WebRTC call in
//! [`super::webrtc::session`]) with what happened and when.
//!
//! The caller's side is one continuous audio stream on the session's frame
//! clock: frame `n` leaves at `clock + n × frame` (absolute deadlines, so
//! lateness never accumulates), and each frame is the current utterance's
//! next slice, or low-level noise between utterances.
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

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::ws_agent::{AgentMessage, AgentTarget};
use super::ws_pacer::Progress;
use super::{ErrorKind, ProtocolError};
use crate::audio::rate::RateSource;
use crate::audio::track::TurnAudio;

/// A voice agent a conversation can be held with, whatever carries it: the
/// one thing the runner knows of a WebSocket or a WebRTC agent.
pub trait AgentLine: Send + Sync + 'static {
    /// One utterance as this transport sends it, made once per file and
    /// shared by every call.
    type Utterance: Send + Sync + 'static;
    /// A call that is connected and ready to talk.
    type Open: Send;

    /// The conversation's settings: timeouts, messages, rules.
    fn agent(&self) -> &AgentTarget;

    /// What the end of the run must say about this transport's calls
    /// (hang-ups that failed, say). None by default.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// A turn's audio as this transport sends it (prepared once per run).
    fn utterance(&self, audio: &TurnAudio) -> Result<Self::Utterance, ProtocolError>;

    /// Connect a call, bounded by the connect timeout.
    fn open(&self) -> impl Future<Output = Result<Self::Open, ProtocolError>> + Send;

    /// Hold the conversation `talk` on `line`, handing each turn's times to
    /// `on_turn` as soon as the turn is over. (A `dyn` callback: a generic
    /// one bound by `'a` trips rustc's proof that the caller's future is
    /// `Send`, issue #100013.)
    fn converse<'a>(
        &'a self,
        line: Self::Open,
        talk: Conversation<'a, Self::Utterance>,
        on_turn: &'a mut (dyn FnMut(TurnTimes) + Send),
    ) -> impl Future<Output = ()> + Send + 'a;
}

/// What one conversation says.
///
/// `U` is one utterance as its transport sends it: PCM frames on a
/// WebSocket, Opus packets encoded once per file on a WebRTC call.
#[derive(Debug)]
pub struct Conversation<'a, U = Bytes> {
    /// The caller's audio, one utterance per turn.
    pub turns: &'a [U],
    /// Per turn: interrupt the agent's answer this long after its first
    /// audio arrived, with the next turn's utterance (`None`: let it finish).
    pub barge_in: &'a [Option<Duration>],
    /// Pause after a response finished playing before the next utterance.
    pub pause: Duration,
    /// Low-level noise, sent between utterances.
    pub noise: &'a U,
}

// (Derived, these would ask `U: Copy`; the conversation holds only references.)
impl<U> Clone for Conversation<'_, U> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<U> Copy for Conversation<'_, U> {}

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
    /// What a WebRTC call adds (`None` on a WebSocket).
    pub link: Option<LinkTimes>,
}

/// What a WebRTC call adds to a turn's times.
#[derive(Debug, Clone, Default)]
pub struct LinkTimes {
    /// The offer went out (first turn only, as the three below).
    pub offer_sent: Option<Instant>,
    /// The answer had been read.
    pub answered: Option<Instant>,
    /// ICE found a working pair.
    pub ice_connected: Option<Instant>,
    /// DTLS was up: media could flow.
    pub dtls_connected: Option<Instant>,
    /// The first agent packet after the end of speech, of any level
    /// (agents send silence between replies: `first_audio` is the first
    /// audible one).
    pub first_packet: Option<Instant>,
    /// Interarrival jitter of the agent's stream when the turn ended, µs.
    pub jitter_us: Option<u64>,
    /// Agent packets lost / expected on the call so far.
    pub loss: Option<f64>,
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
pub(super) enum Phase {
    /// Sending the current turn's utterance.
    Speaking,
    /// Utterance over; reading the response.
    Waiting,
    /// Response over; waiting for it to finish playing, then the pause.
    Pausing { until: Instant },
}

/// A finished conversation: every turn has been handed to `on_turn`.
pub(super) struct Done;

pub(super) struct State<'c, U, F> {
    pub(super) talk: Conversation<'c, U>,
    pub(super) cur: TurnTimes,
    pub(super) phase: Phase,
    /// The previous turn, whose response the current utterance interrupts.
    pub(super) barged: Option<TurnTimes>,
    /// Last agent message of the current response.
    pub(super) last_message: Option<Instant>,
    /// The current turn was already handed over (its response is over and
    /// no barge-in is planned); `cur` only keeps its place.
    pub(super) handed_over: bool,
    /// Lateness of the frames sent since the previous turn's response
    /// ended (or was interrupted), µs: the current turn's so far.
    pub(super) lags: Vec<u32>,
    /// Caller messages to send as soon as the current event is handled.
    pub(super) outbox: Vec<String>,
    /// The call's id, for `{{session_id}}` in the caller's messages.
    pub(super) session_id: String,
    /// When the caller's player will have played every agent audio so far
    /// (the agent clearing playback empties it).
    pub(super) playing_until: Option<Instant>,
    /// Playback marks to echo, with when (in arrival order, so due in order).
    pub(super) marks: Vec<(Instant, String)>,
    /// The agent audio's rate: announced by the agent, else configured.
    pub(super) rate: (u32, RateSource),
    /// The latest message of a kept type on this call.
    pub(super) kept: Option<String>,
    pub(super) on_turn: F,
}

pub(super) fn new_turn(index: usize) -> TurnTimes {
    TurnTimes {
        index,
        ..TurnTimes::default()
    }
}

impl<'c, U, F: FnMut(TurnTimes)> State<'c, U, F> {
    /// A conversation about to start on a call to `t`.
    pub(super) fn new(talk: Conversation<'c, U>, t: &AgentTarget, on_turn: F) -> Self {
        State {
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
        }
    }
}

impl<U, F: FnMut(TurnTimes)> State<'_, U, F> {
    /// Hand a finished turn over.
    pub(super) fn hand(&mut self, mut turn: TurnTimes) {
        turn.sample_rate.get_or_insert(self.rate);
        turn.kept.clone_from(&self.kept);
        (self.on_turn)(turn);
    }

    /// The current turn's frames end here (its response ended or was
    /// interrupted): the pause before its utterance, the utterance, and
    /// the noise while it waited. Later frames belong to the next turn.
    pub(super) fn close_frames(turn: &mut TurnTimes, lags: &mut Vec<u32>) {
        turn.frame_lag_us = std::mem::take(lags);
    }

    /// Fail the open turns (a barged one first) and end the conversation.
    pub(super) fn fail(&mut self, error: ProtocolError, close_code: Option<u16>) -> Done {
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

    pub(super) fn is_last_turn(&self) -> bool {
        self.cur.index + 1 >= self.talk.turns.len()
    }

    /// This long into the current answer's audio, the caller interrupts it.
    pub(super) fn barge_after(&self) -> Option<Duration> {
        let after = (*self.talk.barge_in.get(self.cur.index)?)?;
        (!self.is_last_turn()).then_some(after)
    }

    /// When the caller interrupts the current answer, if it will.
    pub(super) fn barge_due(&self) -> Option<Instant> {
        if !matches!(self.phase, Phase::Waiting | Phase::Pausing { .. }) {
            return None;
        }
        Some(self.cur.first_audio? + self.barge_after()?)
    }

    /// Echo the playback marks due by `now`.
    pub(super) fn release_marks(&mut self, now: Instant, t: &AgentTarget) {
        let due = self.marks.partition_point(|(at, _)| *at <= now);
        for (_, name) in self.marks.drain(..due) {
            if let Some(echo) = t.mark_echo(&self.session_id, &name) {
                self.outbox.push(echo);
            }
        }
    }

    /// The earliest instant at which [`on_time`](Self::on_time) has
    /// something to do.
    pub(super) fn next_deadline(&self, t: &AgentTarget) -> Option<Instant> {
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

    /// Begin the next turn's utterance; the current turn, if barged, waits
    /// for the leak window to close.
    pub(super) fn start_next(&mut self, barging: bool) {
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
    pub(super) fn on_played(&mut self, p: Progress, now: Instant, t: &AgentTarget) {
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
    pub(super) fn interruption_onset(&mut self, first: impl FnOnce() -> Option<Instant>) {
        if let Some(b) = self.barged.as_mut().and_then(|p| p.barge.as_mut()) {
            if b.onset.is_none() {
                b.onset = first();
            }
        }
    }

    /// The response is over: hand the turn over unless a barge-in may
    /// still come, and wait for playback plus the pause.
    pub(super) fn response_over(&mut self, end: Instant) -> Option<Done> {
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
    pub(super) fn on_time(&mut self, now: Instant, t: &AgentTarget) -> Option<Done> {
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
    pub(super) fn on_message(
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
}

impl<U, F> State<'_, U, F> {
    /// Why a message of a response would not count where the
    /// conversation is (`voxload sample` shows it beside the message).
    pub(super) fn not_counted(&self, m: AgentMessage) -> Option<&'static str> {
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

/// What the conversation does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Go on.
    Go,
    /// Over: say goodbye.
    Close,
    /// Over, and the connection with it.
    Stop,
}

impl Flow {
    pub(super) fn after(done: Option<Done>) -> Self {
        match done {
            Some(Done) => Flow::Close,
            None => Flow::Go,
        }
    }
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
