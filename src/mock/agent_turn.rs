//! One voice-agent turn: the response built once per server, the turn's
//! deadlines, and what happens when each comes due (see `ws_agent` for the
//! protocol).

use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use base64::Engine as _;
use bytes::BytesMut;
use rand::Rng;
use tokio::time::Instant;

use super::agent_model::AgentModel;
use super::agent_truth::{AgentEnd, AgentFaultKind, AgentTurnTruth};
use super::realtime::Realtime;
use super::{micros, Shared};
use crate::audio::voice::{symbols, Voice};

/// What the agent says, built once per server: every response is the same,
/// so a turn only clones reference-counted messages.
pub(crate) struct Reply {
    /// `{"type":"response_text","text":"…"}`.
    text_msg: Utf8Bytes,
    /// One message per chunk, binary or JSON.
    chunks: Vec<Message>,
    /// Each chunk's PCM (for dialects that wrap it in their own message).
    pcm: Vec<bytes::Bytes>,
    /// The reply text.
    text: String,
    /// The PCM's sample rate.
    rate: u32,
    /// Samples per chunk (the last may be shorter) and in total.
    chunk_samples: usize,
    total_samples: usize,
}

/// What the response audio says, repeated to fill `response_audio`.
const REPLY_PHRASE: &str = "sure, i can help with that. ";

/// The response's text and its mock speech: exactly `response_audio` of
/// PCM16 LE at `sample_rate_out`, never silent. Shared by every transport
/// (the WebRTC agent renders it at 48 kHz and encodes it to Opus once).
pub(crate) fn render(m: &AgentModel, chars_per_second: f64) -> (String, bytes::Bytes) {
    let total_samples = m.response_samples();
    // Enough characters to cover every sample, so no sample is silent.
    let chars = (m.response_audio.as_secs_f64() * chars_per_second).ceil() as usize;
    let text: String = REPLY_PHRASE.chars().cycle().take(chars.max(1)).collect();
    let mut pcm = BytesMut::with_capacity(total_samples * 2);
    Voice::new(m.sample_rate_out, chars_per_second).render_span(
        &symbols(&text),
        1.0,
        0,
        0..total_samples,
        &mut pcm,
    );
    (text, pcm.freeze())
}

impl Reply {
    pub(crate) fn new(m: &AgentModel, chars_per_second: f64) -> Self {
        let rate = m.sample_rate_out;
        let total_samples = m.response_samples();
        let (text, pcm) = render(m, chars_per_second);
        let chunk_samples = m.chunk_samples().max(1);
        let b64 = base64::engine::general_purpose::STANDARD;
        let pcm_chunks: Vec<bytes::Bytes> = (0..total_samples)
            .step_by(chunk_samples)
            .map(|s| pcm.slice(s * 2..(s + chunk_samples).min(total_samples) * 2))
            .collect();
        let chunks = pcm_chunks
            .iter()
            .cloned()
            .map(|bytes| {
                if m.json_audio {
                    let msg = format!(r#"{{"type":"audio","audio":"{}"}}"#, b64.encode(&bytes));
                    Message::Text(Utf8Bytes::from(msg))
                } else {
                    Message::Binary(bytes)
                }
            })
            .collect();
        Self {
            text_msg: Utf8Bytes::from(format!(
                r#"{{"type":"response_text","text":{}}}"#,
                serde_json::Value::String(text.clone())
            )),
            chunks,
            pcm: pcm_chunks,
            text,
            rate,
            chunk_samples,
            total_samples,
        }
    }

    /// Samples in chunk `i`.
    fn samples_in_chunk(&self, i: usize) -> usize {
        self.total_samples
            .saturating_sub(i * self.chunk_samples)
            .min(self.chunk_samples)
    }
}

/// The turn being answered.
pub(super) struct Turn {
    pub(super) rec: AgentTurnTruth,
    /// When the transcript is due; `None` once sent (or never, `silent`).
    pub(super) transcript_at: Option<Instant>,
    /// The transcript message (or the `malformed` text).
    pub(super) transcript: Utf8Bytes,
    /// `d + response_delay` (manual turns: `response.create` + `response_delay`).
    pub(super) first_audio: Instant,
    /// A manual turn waiting for `response.create`: `first_audio` is
    /// [`UNANSWERED`] away until it comes.
    pub(super) awaiting_create: bool,
    /// Between detection and `response_end` (chunks still to send).
    pub(super) responding: bool,
    pub(super) next_chunk: usize,
    pub(super) samples_sent: usize,
    /// When the first chunk was sent.
    pub(super) first_sent: Option<Instant>,
    /// `burst`: every chunk is sent, and the answer plays at the caller
    /// until this instant (first chunk sent + `response_audio`).
    pub(super) playing_until: Option<Instant>,
    /// Barge-in onset + `barge_stop_delay`.
    pub(super) stop_at: Option<Instant>,
}

/// How far off a manual turn's answer stands until the client asks for it.
pub(super) const UNANSWERED: Duration = Duration::from_secs(24 * 3600);

/// The next thing a turn does; variant order is the tie-break order.
#[derive(Clone, Copy)]
pub(super) enum Action {
    Stop,
    Transcript,
    Close,
    Chunk,
    /// A `burst` answer has finished playing at the caller.
    Played,
}

impl Turn {
    pub(super) fn next(&self, model: &AgentModel) -> Option<(Instant, Action)> {
        let mut best: Option<(Instant, Action)> = None;
        let mut consider = |at: Instant, a: Action| {
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, a));
            }
        };
        if let Some(at) = self.stop_at {
            consider(at, Action::Stop);
        }
        if let Some(at) = self.transcript_at {
            consider(at, Action::Transcript);
        }
        if self.responding {
            if self.rec.fault == Some(AgentFaultKind::Close) {
                consider(self.first_audio, Action::Close);
            } else {
                consider(
                    self.first_audio + model.chunk_offset(self.next_chunk),
                    Action::Chunk,
                );
            }
        }
        if let Some(at) = self.playing_until {
            consider(at, Action::Played);
        }
        best
    }

    pub(super) fn done(&self) -> bool {
        !self.speaking() && self.transcript_at.is_none()
    }

    /// Caller speech now is a barge-in: chunks are still to be sent, or a
    /// `burst` answer is still playing at the caller.
    pub(super) fn speaking(&self) -> bool {
        self.responding || self.playing_until.is_some()
    }

    /// Do `action` (due now).
    pub(super) async fn act(
        &mut self,
        action: Action,
        socket: &mut WebSocket,
        shared: &Shared,
        wire: Option<&Realtime>,
    ) -> Ended {
        let reply = match wire {
            Some(w) if w.rate == super::twilio::TWILIO_RATE => &shared.agent_reply_8k,
            Some(_) => &shared.agent_reply_realtime,
            None => &shared.agent_reply,
        };
        match action {
            Action::Stop => {
                if self.responding {
                    self.rec.audio_stopped_us = Some(shared.at_us(Instant::now()));
                }
                interrupt(socket, self, shared, wire, "turn_detected").await
            }
            Action::Played => {
                self.playing_until = None;
                self.stop_at = None;
                Ok(())
            }
            Action::Transcript => {
                self.transcript_at = None;
                send(socket, Message::Text(self.transcript.clone())).await?;
                self.rec.transcript_us = Some(shared.at_us(Instant::now()));
                Ok(())
            }
            Action::Close => Err(AgentEnd::FaultClose),
            Action::Chunk => {
                let i = self.next_chunk;
                let Some(chunk) = reply.chunks.get(i) else {
                    self.responding = false;
                    return Ok(());
                };
                let turn = self.rec.turn;
                if i == 0 {
                    let text = match wire {
                        Some(w) => w.reply_text(turn, &reply.text),
                        None => Some(Message::Text(reply.text_msg.clone())),
                    };
                    send(socket, text).await?;
                }
                let chunk = match wire {
                    Some(w) => w.audio_delta(turn, &reply.pcm[i]),
                    None => chunk.clone(),
                };
                send(socket, chunk).await?;
                let now = Instant::now();
                self.first_sent.get_or_insert(now);
                let sent = shared.at_us(now);
                self.rec.first_audio_us.get_or_insert(sent);
                self.rec.last_audio_us = Some(sent);
                self.rec.chunks += 1;
                self.samples_sent += reply.samples_in_chunk(i);
                let rate = f64::from(reply.rate);
                self.rec.audio_us =
                    micros(Duration::from_secs_f64(self.samples_sent as f64 / rate));
                self.next_chunk += 1;
                if self.next_chunk == reply.chunks.len() {
                    self.responding = false;
                    if shared.model.agent.burst {
                        let until =
                            self.first_sent.unwrap_or(now) + shared.model.agent.response_audio;
                        self.playing_until = Some(until);
                        self.rec.speaking_until_us = Some(shared.at_us(until));
                    } else {
                        self.stop_at = None;
                    }
                    match wire {
                        Some(w) => {
                            self.rec.response_status = Some(w.final_status(turn).into());
                            for m in w.completed(turn) {
                                send(socket, m).await?;
                            }
                        }
                        None => send(socket, text_static(r#"{"type":"response_end"}"#)).await?,
                    }
                    self.rec.response_end_us = Some(shared.at_us(Instant::now()));
                }
                Ok(())
            }
        }
    }
}

/// A socket write failed or the session must end: how it ended.
pub(super) type Ended = Result<(), AgentEnd>;

impl Shared {
    /// `at` in µs since the server started: the agent truth's clock.
    pub(super) fn at_us(&self, at: Instant) -> u64 {
        micros(at.saturating_duration_since(self.started))
    }
}

/// Barge-in took effect: drop the turn's pending output, and send
/// `interrupted` (with `interrupt_message`), or on the realtime wire a
/// cancelled `response.done` saying why (`reason`).
pub(super) async fn interrupt(
    socket: &mut WebSocket,
    turn: &mut Turn,
    shared: &Shared,
    wire: Option<&Realtime>,
    reason: &str,
) -> Ended {
    turn.responding = false;
    turn.playing_until = None;
    turn.stop_at = None;
    turn.transcript_at = None;
    if let Some(w) = wire {
        send(socket, w.cancelled(turn.rec.turn, reason)).await?;
        turn.rec.interrupted_us = Some(shared.at_us(Instant::now()));
        return Ok(());
    }
    if !shared.model.agent.interrupt_message {
        return Ok(());
    }
    send(socket, text_static(r#"{"type":"interrupted"}"#)).await?;
    turn.rec.interrupted_us = Some(shared.at_us(Instant::now()));
    Ok(())
}

/// One uniform draw against the cumulative shares (as the other faults).
pub(super) fn draw_fault(shared: &Shared) -> Option<AgentFaultKind> {
    let f = &shared.model.agent.faults;
    if f.close + f.silent + f.malformed + f.huge_message <= 0.0 {
        return None;
    }
    let u: f64 = shared.lock().agent_rng.random();
    let mut upper = 0.0;
    for (kind, share) in [
        (AgentFaultKind::Close, f.close),
        (AgentFaultKind::Silent, f.silent),
        (AgentFaultKind::Malformed, f.malformed),
        (AgentFaultKind::HugeMessage, f.huge_message),
    ] {
        upper += share;
        if u < upper {
            return Some(kind);
        }
    }
    None
}

/// RMS of PCM16 LE `pcm` above `threshold` (compared squared: no sqrt).
pub(super) fn is_speech(pcm: &[u8], threshold: f64) -> bool {
    let n = pcm.len() / 2;
    if n == 0 {
        return false;
    }
    let sum: i64 = pcm
        .chunks_exact(2)
        .map(|b| {
            let x = i64::from(i16::from_le_bytes([b[0], b[1]]));
            x * x
        })
        .sum();
    sum as f64 > threshold * threshold * n as f64
}

fn text_static(s: &'static str) -> Message {
    Message::Text(Utf8Bytes::from_static(s))
}

/// Send `msg` (nothing, where a wire has no such message).
pub(super) async fn send(socket: &mut WebSocket, msg: impl Into<Option<Message>>) -> Ended {
    match msg.into() {
        Some(msg) => socket.send(msg).await.map_err(|_| AgentEnd::Error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_threshold_separates_noise_from_speech() {
        let bytes = |v: &[i16]| -> Vec<u8> { v.iter().flat_map(|s| s.to_le_bytes()).collect() };
        let noise: Vec<i16> = (0..320)
            .map(|i| if i % 2 == 0 { 100 } else { -100 })
            .collect();
        assert!(!is_speech(&bytes(&noise), 500.0));
        let speech = Voice::new(16_000, 15.0).render("hello");
        assert!(is_speech(&bytes(&speech[..320]), 500.0));
        assert!(!is_speech(&[], 0.0));
    }

    #[test]
    fn reply_is_exactly_response_audio_and_never_silent() {
        let m = AgentModel {
            response_audio: Duration::from_millis(1_010),
            ..AgentModel::default()
        };
        let r = Reply::new(&m, 15.0);
        assert_eq!(r.total_samples, 16_160);
        assert_eq!(r.chunks.len(), 26);
        let total: usize = (0..r.chunks.len()).map(|i| r.samples_in_chunk(i)).sum();
        assert_eq!(total, 16_160);
        assert_eq!(r.samples_in_chunk(25), 160);
        for c in &r.chunks {
            let Message::Binary(b) = c else {
                panic!("binary expected")
            };
            assert!(is_speech(b, 2_000.0));
        }
        let json = AgentModel {
            json_audio: true,
            ..m
        };
        assert!(matches!(
            Reply::new(&json, 15.0).chunks[0],
            Message::Text(_)
        ));
    }
}
