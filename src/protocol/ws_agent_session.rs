//! One voice-agent conversation on one WebSocket, in real time.
//!
//! The caller's side is one continuous audio stream: frame `n` leaves at
//! `clock + n × frame` (absolute deadlines, so lateness never accumulates),
//! and each frame is the current utterance's next slice, or low-level noise
//! between utterances. Agent messages are read between frames, so their
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
//! time after the response's first audio arrived, over the agent. Agent
//! audio arriving while that utterance is spoken is leaked; the turn's
//! record is finished when the interrupting utterance ends.
//!
//! This module only timestamps; `metrics::defs_agent` turns the times into numbers.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::ws_agent::{AgentMessage, AgentTarget};
use super::{ErrorKind, ProtocolError};

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
    /// End of speech: last speech frame (or the end-of-speech message) sent.
    pub speech_ended: Option<Instant>,
    /// First agent message after the end of speech.
    pub first_message: Option<Instant>,
    /// First agent audio after the end of speech.
    pub first_audio: Option<Instant>,
    /// The agent's final transcript of the caller.
    pub transcript: Option<Instant>,
    /// Agent audio of the response: arrival and duration of each message.
    pub audio: Vec<(Instant, Duration)>,
    /// End of the response: the end message's arrival, or the last message before an idle gap.
    pub response_end: Option<Instant>,
    /// The response ended with an end-of-response message.
    pub end_message: bool,
    /// Lateness of each caller frame sent during this turn, µs.
    pub frame_lag_us: Vec<u32>,
    /// The caller spoke over this turn's response.
    pub barge: Option<BargeTimes>,
    /// Close code, if the agent closed the connection during this turn.
    pub close_code: Option<u16>,
    /// Why the turn failed, if it did.
    pub error: Option<ProtocolError>,
}

/// Raw timestamps of a barge-in.
#[derive(Debug, Clone, Default)]
pub struct BargeTimes {
    /// First frame of the interrupting utterance sent.
    pub onset: Option<Instant>,
    /// Its last frame sent: the end of the leak window.
    pub utterance_end: Option<Instant>,
    /// Agent audio that arrived during the interrupting utterance.
    pub leaked: Vec<(Instant, Duration)>,
    /// The agent's interruption message.
    pub interrupted_at: Option<Instant>,
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
    /// Frames of the current utterance sent.
    offset: usize,
    phase: Phase,
    /// The previous turn, whose response the current utterance interrupts.
    barged: Option<TurnTimes>,
    /// Last agent message of the current response.
    last_message: Option<Instant>,
    /// The current turn was already handed over (its response is over and
    /// no barge-in is planned); `cur` only keeps its place.
    handed_over: bool,
    on_turn: F,
}

fn new_turn(index: usize) -> TurnTimes {
    TurnTimes {
        index,
        ..TurnTimes::default()
    }
}

impl<F: FnMut(TurnTimes)> State<'_, F> {
    /// Fail the open turns (a barged one first) and end the conversation.
    fn fail(&mut self, error: ProtocolError, close_code: Option<u16>) -> Done {
        if let Some(mut b) = self.barged.take() {
            b.error = Some(error.clone());
            b.close_code = close_code;
            (self.on_turn)(b);
        }
        if !self.handed_over {
            let mut cur = std::mem::take(&mut self.cur);
            cur.error = Some(error);
            cur.close_code = close_code;
            (self.on_turn)(cur);
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

    fn barge_due(&self) -> Option<Instant> {
        Some(self.cur.first_audio? + self.barge_after()?)
    }

    /// Begin the next turn's utterance; the current turn, if barged, waits
    /// for the leak window to close.
    fn start_next(&mut self, barging: bool) {
        let next = new_turn(self.cur.index + 1);
        let mut prev = std::mem::replace(&mut self.cur, next);
        if barging {
            prev.barge = Some(BargeTimes::default());
            self.barged = Some(prev);
        } else if !self.handed_over {
            (self.on_turn)(prev);
        }
        self.handed_over = false;
        self.offset = 0;
        self.phase = Phase::Speaking;
        self.last_message = None;
    }

    /// The response is over: hand the turn over unless a barge-in may
    /// still come, and wait for playback plus the pause.
    fn response_over(&mut self, end: Instant) -> Option<Done> {
        self.cur.response_end = Some(end);
        if self.is_last_turn() {
            let cur = std::mem::take(&mut self.cur);
            (self.on_turn)(cur);
            return Some(Done);
        }
        if self.barge_after().is_none() {
            (self.on_turn)(self.cur.clone());
            self.handed_over = true;
        }
        let until = playback_end(&self.cur.audio).unwrap_or(end).max(end) + self.talk.pause;
        self.phase = Phase::Pausing { until };
        None
    }

    /// State changes due at a frame tick, before its frame is sent.
    fn on_tick(&mut self, now: Instant, t: &AgentTarget) -> Option<Done> {
        if let Some(due) = self.barge_due() {
            if now >= due && matches!(self.phase, Phase::Waiting | Phase::Pausing { .. }) {
                if self.cur.response_end.is_none() {
                    // Still answering: the response so far is what it is.
                    self.cur.response_end = self.last_message;
                }
                self.start_next(true);
                return None;
            }
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

    /// One agent message.
    fn on_message(&mut self, m: AgentMessage, at: Instant, t: &AgentTarget) -> Option<Done> {
        if let Some(b) = self.barged.as_mut().and_then(|p| p.barge.as_mut()) {
            match m {
                AgentMessage::Audio(n) => b.leaked.push((at, t.agent_audio(n))),
                AgentMessage::Interrupted => {
                    b.interrupted_at.get_or_insert(at);
                }
                _ => {}
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
                self.cur.audio.push((at, t.agent_audio(n)));
            }
            AgentMessage::Transcript => {
                self.cur.transcript.get_or_insert(at);
            }
            AgentMessage::End => {
                self.cur.end_message = true;
                return self.response_over(at);
            }
            AgentMessage::Interrupted | AgentMessage::Other => {}
        }
        None
    }
}

/// When audio arriving as `(arrival, duration)` would finish playing, if
/// playback starts at the first arrival and waits whenever it runs dry.
pub fn playback_end(audio: &[(Instant, Duration)]) -> Option<Instant> {
    let mut iter = audio.iter();
    let &(first, d) = iter.next()?;
    Some(iter.fold(first + d, |t, &(at, d)| t.max(at) + d))
}

/// Run one conversation on an open WebSocket, handing each turn's times to
/// `on_turn` as soon as the turn is over (so a long conversation's early
/// turns are recorded even if it is cut short).
pub async fn converse<S, R>(
    mut sink: S,
    mut stream: R,
    t: &AgentTarget,
    talk: Conversation<'_>,
    on_turn: impl FnMut(TurnTimes),
) where
    S: Sink<Message> + Unpin,
    S::Error: std::fmt::Display,
    R: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let mut st = State {
        talk,
        cur: new_turn(0),
        offset: 0,
        phase: Phase::Speaking,
        barged: None,
        last_message: None,
        handed_over: false,
        on_turn,
    };
    if talk.turns.is_empty() {
        return;
    }
    let send_err = |e: S::Error| ProtocolError::new(ErrorKind::Reset, format!("send failed: {e}"));
    if let Some(start) = &t.start_message {
        if let Err(e) = sink.send(Message::text(t.fill(start))).await {
            st.fail(send_err(e), None);
            return;
        }
    }
    let frame_bytes = t.frame_bytes();
    let clock = Instant::now();
    let mut n: u32 = 0;
    // One timer, re-armed per frame.
    let timer = tokio::time::sleep_until(tokio::time::Instant::from_std(clock));
    tokio::pin!(timer);
    loop {
        let deadline = clock + t.frame.saturating_mul(n);
        let due = tokio::time::Instant::from_std(deadline);
        if timer.deadline() != due {
            timer.as_mut().reset(due);
        }
        let incoming = tokio::select! {
            biased;
            msg = stream.next() => Some(msg),
            () = &mut timer => None,
        };
        let Some(msg) = incoming else {
            // A frame slot: state changes first, then its frame.
            let now = Instant::now();
            if st.on_tick(now, t).is_some() {
                close(&mut sink).await;
                return;
            }
            let pcm = match st.phase {
                Phase::Speaking => {
                    let speech = &st.talk.turns[st.cur.index];
                    let from = st.offset * frame_bytes;
                    Some(speech.slice(from..(from + frame_bytes).min(speech.len())))
                }
                _ if t.noise_between_turns => Some(st.talk.noise.clone()),
                _ => None,
            };
            n += 1;
            let Some(pcm) = pcm else { continue };
            let sent_at = Instant::now();
            st.cur.frame_lag_us.push(lag_us(sent_at, deadline));
            if let Err(e) = sink.send(t.frames.message(pcm)).await {
                st.fail(send_err(e), None);
                return;
            }
            if st.phase != Phase::Speaking {
                continue;
            }
            if st.offset == 0 {
                st.cur.speech_started = Some(sent_at);
                if let Some(b) = st.barged.as_mut().and_then(|p| p.barge.as_mut()) {
                    b.onset = Some(sent_at);
                }
            }
            st.offset += 1;
            if st.offset * frame_bytes >= st.talk.turns[st.cur.index].len() {
                if let Some(eos) = &t.end_of_speech_message {
                    if let Err(e) = sink.send(Message::text(t.fill(eos))).await {
                        st.fail(send_err(e), None);
                        return;
                    }
                }
                let ended = Instant::now();
                st.cur.speech_ended = Some(ended);
                st.phase = Phase::Waiting;
                if let Some(mut b) = st.barged.take() {
                    if let Some(bt) = b.barge.as_mut() {
                        bt.utterance_end = Some(ended);
                    }
                    (st.on_turn)(b);
                }
            }
            continue;
        };
        let at = Instant::now();
        let message = match msg {
            None => {
                let e =
                    ProtocolError::new(ErrorKind::Reset, "connection closed without a close frame");
                st.fail(e, None);
                return;
            }
            Some(Err(e)) => {
                st.fail(ProtocolError::new(ErrorKind::Reset, e.to_string()), None);
                return;
            }
            Some(Ok(Message::Binary(b))) => AgentMessage::Audio(b.len()),
            Some(Ok(Message::Text(text))) => match t.rules.classify_text(text.as_str()) {
                Ok(m) => m,
                Err(e) => {
                    st.fail(e, None);
                    close(&mut sink).await;
                    return;
                }
            },
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                let e = ProtocolError::new(
                    ErrorKind::WsClosed(code),
                    "the agent closed the conversation",
                );
                st.fail(e, Some(code));
                return;
            }
            Some(Ok(_)) => continue,
        };
        if st.on_message(message, at, t).is_some() {
            close(&mut sink).await;
            return;
        }
    }
}

/// Say goodbye; the connection may already be gone, which is fine.
async fn close<S: Sink<Message> + Unpin>(sink: &mut S) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "done".into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

fn lag_us(sent: Instant, deadline: Instant) -> u32 {
    sent.saturating_duration_since(deadline)
        .as_micros()
        .min(u128::from(u32::MAX)) as u32
}

#[cfg(test)]
#[path = "ws_agent_session_tests.rs"]
mod tests;
