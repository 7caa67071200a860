//! One voice-agent conversation on one WebSocket, in real time: the
//! transport loop around the conversation of [`super::agent_call`].
//!
//! Frames are written by the run's pacer ([`super::ws_pacer`]), so the
//! session's task wakes only for agent messages, finished utterances and
//! its own deadlines (answer timeouts, the barge-in moment, the end of a
//! pause), and message arrival times are not delayed by sending.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

pub use super::agent_call::{playback_end, played_by, BargeTimes, Conversation, TurnTimes};
use super::agent_call::{Flow, Phase, State};
use super::trace::{Tracer, Verdict};
use super::ws::{read_error, HandOff};
use super::ws_agent::{AgentMessage, AgentTarget};
use super::ws_pacer::{PacedWs, Pacer, Progress, Track, WsEvent};
use super::{ErrorKind, ProtocolError};
use crate::audio::rate::RateSource;

/// The current track is the utterance of the turn being spoken (it
/// replaces the noise at the next frame slot). Its end-of-speech
/// messages are not on the track: they leave once its end is seen (see
/// `State::on_played`).
fn utterance<F>(st: &State<'_, Bytes, F>) -> Track {
    Track::once(st.talk.turns[st.cur.index].clone())
}

impl<F: FnMut(TurnTimes)> State<'_, Bytes, F> {
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

/// What the rules made of agent message `msg`, for the trace.
pub(crate) fn verdict(
    m: AgentMessage,
    text: Option<&str>,
    msg: &Message,
    t: &AgentTarget,
) -> Verdict {
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

/// Record the utterance just played: its frames (one shown; its
/// end-of-speech messages are sent, and recorded, from the outbox).
fn played<F>(
    tr: &mut super::trace::Trace,
    st: &State<'_, Bytes, F>,
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
    let mut st = State::new(talk, t, on_turn);
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
            ws.play(utterance(&st));
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
