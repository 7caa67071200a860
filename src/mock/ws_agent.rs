//! A voice agent over WebSocket: `GET /v1/agent`, the ground-truth fixture
//! for per-turn latency, barge-in and leaked-audio measurements.
//!
//! Client → server:
//!
//! - optional `{"type":"start", ...}` (ignored);
//! - caller audio: binary messages of 16-bit little-endian mono PCM at
//!   16 kHz (any size; 20 ms = 640 bytes is typical), or
//!   `{"type":"audio","audio":"<base64 pcm16>"}`;
//! - optional `{"type":"end_of_speech"}`: the caller's utterance ended now;
//! - any other JSON, and text that is not JSON, is ignored.
//!
//! Server → client: with `announce_rate`, on accept
//! `{"type":"session.created","session":{"audio":{"output":{"format":
//! {"type":"audio/pcm","rate":<sample_rate_out>}}}}}` (OpenAI GA's shape);
//! then per caller turn, all from the instant `d` end of speech was detected:
//!
//! 1. end of speech: the `end_of_speech` message's arrival, or (energy VAD)
//!    the arrival of the frame that completes `vad_silence` of consecutive
//!    non-speech audio after at least one speech frame. A frame is speech
//!    when its RMS exceeds `speech_rms`; silence is counted in samples, not
//!    wall time. A session that has sent `end_of_speech` once is in
//!    explicit mode: energy no longer ends an utterance (it still detects
//!    barge-in). An `end_of_speech` right after an energy detection, with no
//!    speech frame between, belongs to the same utterance and is ignored;
//! 2. `d + transcript_delay`: `{"type":"transcript","text":"…","final":true}`
//!    (the caller's mock speech decoded with `transcribe`, else `""`);
//! 3. `d + response_delay`: `{"type":"response_text","text":"…"}`, then
//!    audio chunk 0; chunk *i* at `d + response_delay + i × chunk / speed`,
//!    as binary PCM16 at `sample_rate_out` (or, with `json_audio`,
//!    `{"type":"audio","audio":"<base64>"}`). The audio speaks the response
//!    text (mock speech) and is exactly `response_audio` long. With
//!    `burst`, every chunk is sent at `d + response_delay`, back to back as
//!    fast as the socket takes them;
//! 4. right after the last chunk: `{"type":"response_end"}`.
//!
//! Barge-in: a caller speech frame arriving while the agent speaks — between
//! `d` and `response_end`, or with `burst` until the answer would have
//! finished playing at the caller (first chunk sent + `response_audio`) — is
//! the onset; `barge_stop_delay` later the turn's pending output is dropped
//! (no more chunks, no `response_end`) and, with `interrupt_message` (on by
//! default), `{"type":"interrupted"}` is sent: the caller's cue to drop the
//! audio it has queued. An end of speech detected while the agent still
//! speaks interrupts it at once. Sessions over `max_sessions` are accepted, then
//! closed with code 1013. Faults, one seeded draw per turn (`huge_message`
//! sends a transcript of 16 MiB + 1 bytes instead of the real one): `close` drops
//! the TCP connection without a close frame at `d + response_delay`;
//! `silent` sends nothing for the turn; `malformed` sends
//! `this is not json` instead of the transcript.
//!
//! All times are absolute deadlines from `d` (`sleep_until`), and caller
//! audio costs one RMS per frame (plus decoding with `transcribe`), so 2,000
//! sessions are cheap.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use serde::Deserialize;
use tokio::time::Instant;

use super::agent_truth::{
    AgentEnd, AgentFaultKind, AgentSessionTruth, AgentTurnTruth, EndOfSpeech, RealtimeTruth,
    TruncateTruth,
};
use super::agent_turn::{draw_fault, interrupt, is_speech, send, Ended, Turn, UNANSWERED};
use super::realtime::{self, ClientEvent, Dialect, Realtime, REALTIME_RATE};
use super::upload::DEFAULT_PCM_RATE;
use super::{micros, Shared};
use crate::audio::codec::Codec;
use crate::audio::voice::Decoder;

/// How long to wait for the client's close reply after a 1013 close.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// WebSocket read buffer per session. tungstenite's default (128 KiB) is
/// zeroed up to its capacity before every socket read: with 20 ms frames
/// that memset was a third of the agent's CPU at 2,000 sessions, and the
/// buffers alone 256 MB. A 640-byte frame needs far less; larger messages
/// still work (the buffer grows for them).
const READ_BUFFER: usize = 4 * 1024;

/// A client text message; only `type` and `audio` matter.
#[derive(Deserialize)]
struct Control {
    #[serde(rename = "type")]
    kind: Option<String>,
    audio: Option<String>,
}

/// Keeps an admitted session counted as active until dropped (also when
/// the upgrade never completes).
struct Admitted(Arc<Shared>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.lock().agent_truth.leave();
    }
}

/// `/v1/realtime`: `?dialect=beta` (or the beta header) picks the beta
/// names; `?fail_every=N` ends every Nth answer of a session `failed`.
#[derive(Deserialize)]
pub(crate) struct RealtimeQuery {
    dialect: Option<String>,
    fail_every: Option<u64>,
}

/// The upgrade handler of `/v1/realtime`: the same agent on the realtime API's wire.
pub(crate) async fn realtime(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<RealtimeQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let beta = q.dialect.as_deref() == Some("beta")
        || headers
            .get("openai-beta")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("realtime=v1"));
    let dialect = if beta { Dialect::Beta } else { Dialect::Ga };
    open(shared, ws, Some(dialect), q.fail_every)
}

/// The upgrade handler of `/v1/twilio`: the same agent behind a phone line.
pub(crate) async fn twilio(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    open(shared, ws, Some(Dialect::Twilio), None)
}

/// The upgrade handler: admit, or accept and close with 1013 over capacity.
pub(crate) async fn agent(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    open(shared, ws, None, None)
}

/// Admit a session (`realtime`: on that wire instead of the mock's own).
fn open(
    shared: Arc<Shared>,
    ws: WebSocketUpgrade,
    realtime: Option<Dialect>,
    fail_every: Option<u64>,
) -> Response {
    let accepted = Instant::now();
    let ws = ws.read_buffer_size(READ_BUFFER);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let max = shared.model.agent.max_sessions;
    if !shared.lock().agent_truth.admit(max) {
        return ws.on_upgrade(reject);
    }
    let admitted = Admitted(Arc::clone(&shared));
    let wire = realtime.map(|dialect| {
        let mut w = Realtime::new(dialect, id);
        w.fail_every = fail_every;
        w
    });
    let rate = wire.as_ref().map_or(DEFAULT_PCM_RATE, |w| w.rate);
    let decoder = shared
        .model
        .agent
        .transcribe
        .then(|| Decoder::new(rate, shared.model.chars_per_second));
    let rt_truth = wire.as_ref().map(|w| RealtimeTruth {
        dialect: w.dialect().into(),
        ..RealtimeTruth::default()
    });
    let session = Session {
        id,
        rate,
        wire,
        rt_truth,
        answers: Vec::new(),
        accepted,
        shared,
        frames: 0,
        samples: 0,
        odd_byte: None,
        vad: Vad::default(),
        explicit: false,
        decoder,
        turns: 0,
        turn: None,
    };
    ws.on_upgrade(move |socket| session.run(socket, admitted))
}

async fn reject(mut socket: WebSocket) {
    let close = Message::Close(Some(CloseFrame {
        code: 1013,
        reason: Utf8Bytes::from_static("try again later"),
    }));
    if socket.send(close).await.is_ok() {
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(_)) = socket.recv().await {}
        })
        .await;
    }
}

/// Energy VAD state of the current utterance.
#[derive(Default)]
struct Vad {
    /// A speech frame arrived since the last end of speech.
    speech_seen: bool,
    /// Consecutive non-speech samples since the last speech frame.
    silence: u64,
    last_speech: Option<Instant>,
    /// The last end of speech was an energy detection and no speech frame
    /// followed: an `end_of_speech` now is a duplicate.
    closed_by_energy: bool,
}

struct Session {
    shared: Arc<Shared>,
    id: u64,
    /// The caller's sample rate.
    rate: u32,
    /// The realtime API's wire, on `/v1/realtime`.
    wire: Option<Realtime>,
    rt_truth: Option<RealtimeTruth>,
    /// Per turn: answer samples sent and its first chunk's send time (µs).
    answers: Vec<(usize, Option<u64>)>,
    accepted: Instant,
    frames: u64,
    /// Caller samples received (16 kHz).
    samples: u64,
    odd_byte: Option<u8>,
    vad: Vad,
    /// The client has sent `end_of_speech`: energy no longer ends utterances.
    explicit: bool,
    /// The current utterance's decoder, with `transcribe`.
    decoder: Option<Decoder>,
    turns: u64,
    turn: Option<Turn>,
}

impl Session {
    async fn run(mut self, mut socket: WebSocket, admitted: Admitted) {
        let end = self.serve(&mut socket).await;
        let now = Instant::now();
        let s = AgentSessionTruth {
            id: self.id,
            accepted_us: self.us(self.accepted),
            ended_us: self.us(now),
            frames: self.frames,
            caller_audio_us: micros(Duration::from_secs_f64(
                self.samples as f64 / f64::from(self.rate),
            )),
            turns: self.turns,
            end,
            realtime: self.rt_truth.take().map(|mut t| {
                if let Some(w) = &self.wire {
                    t.codec = w.codec.name().into();
                    t.media = w.twilio.media;
                    t.misnumbered_media = w.twilio.misnumbered;
                }
                t
            }),
            rtc: None,
        };
        let turn = self.turn.take();
        {
            let mut st = self.shared.lock();
            if let Some(t) = turn {
                st.agent_truth.finish_turn(t.rec);
            }
            st.agent_truth.finish_session(s);
        }
        drop(admitted);
        // `socket` drops here: for `FaultClose` that is the TCP close
        // without a close frame.
    }

    async fn serve(&mut self, socket: &mut WebSocket) -> AgentEnd {
        let shutdown = self.shared.shutdown.clone();
        let cancelled = shutdown.cancelled();
        // One timer, re-armed only when the next deadline changes, so a
        // listening session costs no timer churn per frame.
        let sleep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(cancelled, sleep);
        let mut armed: Option<Instant> = None;
        let hello = match &self.wire {
            Some(w) => w.session_created(),
            None if self.shared.model.agent.announce_rate => {
                let rate = self.shared.model.agent.sample_rate_out;
                let v = serde_json::json!({"type": "session.created", "session": {"audio": {"output": {"format": {"type": "audio/pcm", "rate": rate}}}}});
                Some(Message::Text(v.to_string().into()))
            }
            None => None,
        };
        if send(socket, hello).await.is_err() {
            return AgentEnd::Error;
        }
        loop {
            let due = self.next_due();
            if due != armed {
                if let Some(at) = due {
                    sleep.as_mut().reset(at);
                }
                armed = due;
            }
            let result = tokio::select! {
                biased;
                () = &mut cancelled => return AgentEnd::Shutdown,
                () = &mut sleep, if armed.is_some() => {
                    armed = None;
                    self.fire(socket).await
                }
                msg = socket.recv() => {
                    let now = Instant::now();
                    match msg {
                        None | Some(Ok(Message::Close(_))) => return AgentEnd::ClientClosed,
                        Some(Err(_)) => return AgentEnd::Error,
                        Some(Ok(Message::Binary(b))) => self.audio(socket, &b, now).await,
                        Some(Ok(Message::Text(t))) => self.control(socket, t.as_str(), now).await,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    }
                }
            };
            if let Err(end) = result {
                return end;
            }
        }
    }

    fn us(&self, at: Instant) -> u64 {
        self.shared.at_us(at)
    }

    fn next_due(&self) -> Option<Instant> {
        let turn = self.turn.as_ref()?;
        turn.next(&self.shared.model.agent).map(|(at, _)| at)
    }

    /// Do every action that is due, in deadline order.
    async fn fire(&mut self, socket: &mut WebSocket) -> Ended {
        let shared = Arc::clone(&self.shared);
        while let Some(mut turn) = self.turn.take() {
            let due = turn
                .next(&shared.model.agent)
                .filter(|(at, _)| *at <= Instant::now());
            let Some((_, action)) = due else {
                self.turn = Some(turn);
                break;
            };
            let acted = turn.act(action, socket, &shared, self.wire.as_ref()).await;
            self.note_answer(&turn);
            if turn.done() {
                shared.lock().agent_truth.finish_turn(turn.rec);
            } else {
                // Also after an error: `run` logs the unfinished turn.
                self.turn = Some(turn);
            }
            acted?;
        }
        Ok(())
    }

    /// Keep what truncation checks need of `turn`'s answer.
    fn note_answer(&mut self, turn: &Turn) {
        let i = turn.rec.turn as usize;
        if self.answers.len() <= i {
            self.answers.resize(i + 1, (0, None));
        }
        self.answers[i] = (turn.samples_sent, turn.rec.first_audio_us);
    }

    /// A realtime API error event, recorded.
    /// `response.create`: a manual turn's answer starts `response_delay`
    /// from now; with server VAD every turn is answered anyway.
    async fn create_response(&mut self, socket: &mut WebSocket, now: Instant) -> Ended {
        let shared = Arc::clone(&self.shared);
        if let Some(t) = self.rt_truth.as_mut() {
            t.response_creates.push(shared.at_us(now));
        }
        let Some(w) = self.wire.as_ref().filter(|w| w.manual()) else {
            return Ok(());
        };
        match self.turn.as_mut() {
            Some(turn) if turn.awaiting_create => {
                turn.awaiting_create = false;
                turn.first_audio = now + shared.model.agent.response_delay;
                send(socket, w.response_created(turn.rec.turn)).await
            }
            Some(turn) if turn.speaking() => {
                let why = "a response is in progress";
                self.rt_error(socket, "conversation_already_has_active_response", why)
                    .await
            }
            // Nothing committed to answer: the mock has no conversation to go on.
            _ => Ok(()),
        }
    }

    async fn rt_error(&mut self, socket: &mut WebSocket, code: &str, message: &str) -> Ended {
        let Some(w) = &self.wire else {
            return Ok(());
        };
        let msg = w.error(code, message);
        if let Some(t) = self.rt_truth.as_mut() {
            t.errors.push(code.to_string());
        }
        send(socket, msg).await
    }

    /// A client event of the realtime API.
    async fn realtime_control(
        &mut self,
        socket: &mut WebSocket,
        text: &str,
        now: Instant,
    ) -> Ended {
        let shared = Arc::clone(&self.shared);
        let event = match self.wire.as_mut() {
            Some(w) => w.parse(text),
            None => realtime::parse(text),
        };
        match event {
            ClientEvent::Update(format) => {
                if let Some(t) = self.rt_truth.as_mut() {
                    t.updates += 1;
                }
                match format {
                    Ok((rate, codec)) => {
                        if rate != self.rate && self.samples == 0 {
                            let cps = shared.model.chars_per_second;
                            self.decoder = self.decoder.take().map(|_| Decoder::new(rate, cps));
                        }
                        self.rate = rate;
                        match self.wire.as_mut() {
                            Some(w) => {
                                (w.rate, w.codec) = (rate, codec);
                                if let Some(t) = self.rt_truth.as_mut() {
                                    t.turn_detection = w.detection.name().into();
                                }
                                send(socket, w.session_updated()).await
                            }
                            None => Ok(()),
                        }
                    }
                    Err(why) => self.rt_error(socket, "invalid_value", &why).await,
                }
            }
            ClientEvent::Append(Some(pcm)) => self.audio(socket, &pcm, now).await,
            ClientEvent::Append(None) => {
                self.rt_error(socket, "invalid_audio", "audio is not base64")
                    .await
            }
            ClientEvent::Commit => {
                if !self.vad.speech_seen {
                    return self
                        .rt_error(
                            socket,
                            "input_audio_buffer_commit_empty",
                            "nothing to commit",
                        )
                        .await;
                }
                if let Some(t) = self.rt_truth.as_mut() {
                    t.commits.push(shared.at_us(now));
                }
                self.explicit = true;
                self.end_of_speech(socket, EndOfSpeech::Explicit, now).await
            }
            ClientEvent::Cancel => {
                let active = self.turn.as_ref().is_some_and(Turn::speaking);
                if let Some(t) = self.rt_truth.as_mut() {
                    t.cancels.push((shared.at_us(now), active));
                }
                if !active {
                    return self
                        .rt_error(socket, "response_cancel_not_active", "no active response")
                        .await;
                }
                let Some(mut turn) = self.turn.take() else {
                    return Ok(());
                };
                if turn.responding {
                    turn.rec.audio_stopped_us = Some(shared.at_us(now));
                }
                let sent = interrupt(
                    socket,
                    &mut turn,
                    &shared,
                    self.wire.as_ref(),
                    "client_cancelled",
                )
                .await;
                self.note_answer(&turn);
                if turn.done() {
                    shared.lock().agent_truth.finish_turn(turn.rec);
                } else {
                    self.turn = Some(turn);
                }
                sent
            }
            ClientEvent::Truncate {
                item,
                content_index,
                audio_end_ms,
            } => {
                let found = self.wire.as_ref().and_then(|w| {
                    (0..self.answers.len()).find(|&i| w.answer_item(i as u64) == item)
                });
                let Some(i) = found else {
                    return self
                        .rt_error(socket, "item_not_found", "no such item")
                        .await;
                };
                let (samples, first_audio_us) = self.answers[i];
                let out_rate = self.wire.as_ref().map_or(REALTIME_RATE, |w| w.rate);
                let sent_ms = samples as u64 * 1000 / u64::from(out_rate);
                if audio_end_ms > sent_ms {
                    let why = format!("audio_end_ms {audio_end_ms} is past the {sent_ms} ms sent");
                    return self.rt_error(socket, "invalid_value", &why).await;
                }
                if let Some(t) = self.rt_truth.as_mut() {
                    t.truncates.push(TruncateTruth {
                        item_id: item.clone(),
                        turn: i as u64,
                        audio_end_ms,
                        at_us: shared.at_us(now),
                        sent_audio_ms: sent_ms,
                        first_audio_us,
                    });
                }
                match &self.wire {
                    Some(w) => send(socket, w.truncated(&item, content_index, audio_end_ms)).await,
                    None => Ok(()),
                }
            }
            ClientEvent::CreateResponse => self.create_response(socket, now).await,
            ClientEvent::Mark(name) => {
                if let Some(t) = self.rt_truth.as_mut() {
                    t.marks.push((name, shared.at_us(now)));
                }
                Ok(())
            }
            ClientEvent::Stop => {
                if let Some(t) = self.rt_truth.as_mut() {
                    t.stopped = true;
                }
                Ok(())
            }
            ClientEvent::Unknown(kind) => {
                let why = format!("unknown event type '{kind}'");
                self.rt_error(socket, "unknown_event", &why).await
            }
            ClientEvent::NotJson => self.rt_error(socket, "invalid_json", "not JSON").await,
        }
    }

    /// A text message: audio, end of speech, or anything else (ignored).
    async fn control(&mut self, socket: &mut WebSocket, text: &str, now: Instant) -> Ended {
        if self.wire.is_some() {
            return self.realtime_control(socket, text, now).await;
        }
        let Ok(c) = serde_json::from_str::<Control>(text) else {
            return Ok(());
        };
        match c.kind.as_deref() {
            Some("audio") => {
                let pcm = c.audio.and_then(|b64| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b64.as_bytes())
                        .ok()
                });
                match pcm {
                    Some(pcm) => self.audio(socket, &pcm, now).await,
                    None => Ok(()),
                }
            }
            Some("end_of_speech") => {
                if self.vad.closed_by_energy {
                    return Ok(());
                }
                self.explicit = true;
                self.end_of_speech(socket, EndOfSpeech::Explicit, now).await
            }
            _ => Ok(()),
        }
    }

    /// A caller audio frame arrived at `now`.
    async fn audio(&mut self, socket: &mut WebSocket, wire: &[u8], now: Instant) -> Ended {
        self.frames += 1;
        let decoded;
        let pcm = match self.wire.as_ref().map(|w| w.codec) {
            Some(codec) if codec != Codec::Pcm16 => {
                decoded = codec.decode(wire);
                &decoded[..]
            }
            _ => wire,
        };
        let pcm = super::sample_aligned(&mut self.odd_byte, pcm);
        let pcm = &pcm[..];
        let n = (pcm.len() / 2) as u64;
        self.samples += n;
        if let Some(d) = self.decoder.as_mut() {
            d.push_pcm16(pcm);
        }
        let model = &self.shared.model.agent;
        if is_speech(pcm, model.speech_rms) {
            let vad_events = self.wire.as_ref().filter(|w| !w.manual());
            if let (Some(w), false) = (vad_events, self.vad.speech_seen) {
                let ms = self.samples * 1000 / u64::from(self.rate);
                send(socket, w.speech_started(self.turns, ms)).await?;
            }
            self.vad.speech_seen = true;
            self.vad.silence = 0;
            self.vad.last_speech = Some(now);
            self.vad.closed_by_energy = false;
            if let Some(turn) = self.turn.as_mut() {
                if turn.speaking() && turn.rec.barge_in_us.is_none() {
                    turn.rec.barge_in_us = Some(self.shared.at_us(now));
                    turn.stop_at = Some(now + model.barge_stop_delay);
                }
            }
            return Ok(());
        }
        let manual = self.wire.as_ref().is_some_and(Realtime::manual);
        if self.vad.speech_seen && !self.explicit && !manual {
            self.vad.silence += n;
            let window = crate::audio::generate::samples_in(model.vad_silence, self.rate);
            if self.vad.silence >= window as u64 {
                self.end_of_speech(socket, EndOfSpeech::Energy, now).await?;
                self.vad.closed_by_energy = true;
            }
        }
        Ok(())
    }

    /// End of the caller's utterance detected at `now`: start a turn.
    async fn end_of_speech(
        &mut self,
        socket: &mut WebSocket,
        how: EndOfSpeech,
        now: Instant,
    ) -> Ended {
        let shared = Arc::clone(&self.shared);
        if let Some(mut old) = self.turn.take() {
            // The caller finished a new utterance over a running response.
            let now_us = self.us(now);
            if old.speaking() {
                old.rec.barge_in_us.get_or_insert(now_us);
                if old.responding {
                    old.rec.audio_stopped_us = Some(now_us);
                }
                let sent = interrupt(
                    socket,
                    &mut old,
                    &shared,
                    self.wire.as_ref(),
                    "turn_detected",
                )
                .await;
                self.note_answer(&old);
                shared.lock().agent_truth.finish_turn(old.rec);
                sent?;
            } else {
                shared.lock().agent_truth.finish_turn(old.rec);
            }
        }
        let model = &shared.model.agent;
        let text = match self.decoder.as_mut() {
            Some(d) => std::mem::replace(d, Decoder::new(self.rate, shared.model.chars_per_second))
                .into_text(),
            None => String::new(),
        };
        let fault = draw_fault(&shared);
        let vad = std::mem::take(&mut self.vad);
        let last_speech = vad.last_speech.map(|at| self.us(at));
        let rec = AgentTurnTruth {
            transcript: text,
            ..AgentTurnTruth::detected(self.id, self.turns, last_speech, self.us(now), how, fault)
        };
        self.turns += 1;
        if fault == Some(AgentFaultKind::Silent) {
            shared.lock().agent_truth.finish_turn(rec);
            return Ok(());
        }
        let transcript = if fault == Some(AgentFaultKind::Malformed) {
            Utf8Bytes::from_static("this is not json")
        } else if fault == Some(AgentFaultKind::HugeMessage) {
            Utf8Bytes::from(super::model::huge_message("transcript", r#","final":true"#))
        } else if let Some(w) = &self.wire {
            w.transcript(rec.turn, &rec.transcript)
        } else {
            Utf8Bytes::from(format!(
                r#"{{"type":"transcript","text":{},"final":true}}"#,
                serde_json::Value::String(rec.transcript.clone())
            ))
        };
        let manual = self.wire.as_ref().is_some_and(Realtime::manual);
        if let Some(w) = &self.wire {
            let heard_ms = self.samples * 1000 / u64::from(self.rate);
            let vad = how == EndOfSpeech::Energy;
            for m in w.detected(rec.turn, heard_ms, vad) {
                send(socket, m).await?;
            }
        }
        self.turn = Some(Turn {
            rec,
            transcript_at: (self.wire.as_ref().is_none_or(Realtime::has_text))
                .then(|| now + model.transcript_delay),
            transcript,
            first_audio: now
                + if manual {
                    UNANSWERED
                } else {
                    model.response_delay
                },
            awaiting_create: manual,
            responding: true,
            next_chunk: 0,
            samples_sent: 0,
            first_sent: None,
            playing_until: None,
            stop_at: None,
        });
        Ok(())
    }
}
