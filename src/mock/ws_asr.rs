//! Streaming transcription over WebSocket: `GET /v1/realtime/transcribe`.
//!
//! Protocol (client → server):
//!
//! - optional start, before any audio:
//!   `{"type":"start","sample_rate":16000,"language":"en"}` (`sample_rate`
//!   defaults to the `?sample_rate=` query parameter, else 16000);
//! - audio: binary frames of 16-bit little-endian mono PCM (or G.711 with
//!   `?codec=mulaw` / `alaw`), or `{"type":"audio","audio":"<base64>"}`,
//!   in any sizes;
//! - end of audio: `{"type":"end"}`.
//!
//! Server → client:
//!
//! - `{"type":"partial","text":"<decoded so far>"}` each time the received
//!   audio crosses a multiple of `partial_every` (default 200 ms of audio),
//!   `partial_lag` (default 50 ms) after the frame that crossed it; the text
//!   is the true text so far, without injected errors;
//! - after `{"type":"end"}`: `final_delay` (default 100 ms) later,
//!   `{"type":"final","text":"<full text with injected word errors>"}`, then
//!   a close frame 1000. Partials not yet due by then are dropped;
//! - `{"type":"error","message":"…"}` for a message it cannot use (the
//!   session goes on).
//!
//! With `?dialect=vllm` it speaks vLLM's realtime transcription socket
//! instead (the `vllm-realtime` preset), on the same model and clocks:
//!
//! - on accept: `{"type":"session.created","id":"sess-…","created":…}`;
//! - client: `{"type":"session.update","model":"…"}` (recorded, not
//!   checked), `{"type":"input_audio_buffer.commit"}` (starts generation:
//!   audio appended before it is transcribed, but partials only go out
//!   once generation has started), `{"type":"input_audio_buffer.append",
//!   "audio":"<base64 pcm16>"}`, and `{"type":"input_audio_buffer.commit",
//!   "final":true}` (end of audio);
//! - server: each partial as `{"type":"transcription.delta","delta":"…"}`
//!   holding only the text new since the last one (none is sent when
//!   nothing is new), the final as `{"type":"transcription.done",
//!   "text":"…","usage":{…}}`, and no close frame (vLLM leaves closing to
//!   the client);
//! - errors as `{"type":"error","error":"<message>","code":"<code>"}` with
//!   `invalid_json`, `invalid_audio` or `unknown_event`.
//!
//! `?dialect=deepgram`, `?dialect=assemblyai` and `?dialect=openai` speak
//! the vendors' sockets (the `deepgram-listen`, `assemblyai` and
//! `openai-realtime-transcribe` presets; shapes in [`super::ws_asr_dialect`]),
//! on the same model and clocks: the end of the audio is the first of
//! `Finalize`/`CloseStream`, `Terminate` or `input_audio_buffer.commit`
//! (the mock runs no VAD), every control message is recorded in the truth
//! (`controls`), and unknown ones get the dialect's error event
//! (`unknown_event`). Deepgram's final is `Results` (`is_final`) then
//! `Metadata` and a close 1000; AssemblyAI's a `Turn` (`end_of_turn`) then
//! `Termination` and a close; OpenAI's `…transcription.completed`, no close.
//! `?close_code=4000` closes with that code instead of the final.
//!
//! A client that closes without `end` gets no final; the server just closes.
//! Each session holds an ASR slot; with none free the upgrade is refused
//! with HTTP 503 (sessions do not queue). Faults, one seeded draw per
//! session: `ws_abrupt_close` drops the TCP connection without a close frame
//! right after the first partial (or at `end` if none was sent);
//! `ws_never_answer` reads everything and sends nothing until the client
//! closes; `ws_huge_message` sends a final of 16 MiB + 1 bytes (over the
//! clients' message limit) instead of the real one.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use rand::Rng;
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::asr_truth::{AsrFaultKind, WsEnd, WsSessionTruth};
use super::queue::{InFlight, Pool};
use super::tts::error_response;
use super::upload::DEFAULT_PCM_RATE;
use super::ws_asr_dialect::{Control as VendorControl, Dialect};
use super::{micros, Shared};
use crate::audio::codec::Codec;
use crate::audio::voice::Decoder;

/// How long to wait for the client's close reply after ours.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
pub(crate) struct WsQuery {
    sample_rate: Option<u32>,
    dialect: Option<String>,
    /// `mulaw` or `alaw` (any [`Codec`] name or alias): G.711 audio.
    codec: Option<String>,
    /// Instead of the final, close with this code (e.g. 4000: a vendor's
    /// application error), recorded in the truth.
    close_code: Option<u16>,
}

/// A client message the session cannot use: the code (vLLM's error
/// events carry one) and what is wrong.
struct Refused {
    code: &'static str,
    message: String,
}

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

/// A client control message.
#[derive(Deserialize)]
struct Control {
    #[serde(rename = "type")]
    kind: String,
    sample_rate: Option<u32>,
    audio: Option<String>,
    /// vLLM: `input_audio_buffer.commit` with `final: true` ends the audio.
    #[serde(rename = "final")]
    is_final: Option<bool>,
    /// vLLM: the model in `session.update`.
    model: Option<String>,
}

/// The upgrade handler: take an ASR slot or refuse with 503.
pub(crate) async fn transcribe(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.lock().asr_truth.t.ws_sessions += 1;
    let Ok(permit) = Arc::clone(&shared.asr_slots).try_acquire_owned() else {
        shared.lock().asr_truth.t.ws_rejected_503 += 1;
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "ASR slots full");
    };
    let in_flight = InFlight::enter(&shared, Pool::Asr);
    let fault = {
        let f = &shared.model.asr.faults;
        let u: f64 = shared.lock().asr_rng.random();
        if u < f.ws_abrupt_close {
            Some(AsrFaultKind::WsAbruptClose)
        } else if u < f.ws_abrupt_close + f.ws_never_answer {
            Some(AsrFaultKind::WsNeverAnswer)
        } else if u < f.ws_abrupt_close + f.ws_never_answer + f.ws_huge_message {
            Some(AsrFaultKind::WsHugeMessage)
        } else {
            None
        }
    };
    let dialect = Dialect::parse(q.dialect.as_deref());
    let rate = q
        .sample_rate
        .filter(|r| (1_000..=192_000).contains(r))
        .unwrap_or(DEFAULT_PCM_RATE);
    let session = Session {
        rec: WsSessionTruth {
            id,
            sample_rate: rate,
            frames: 0,
            audio_us: 0,
            partials: 0,
            first_partial_us: None,
            final_us: None,
            max_frame_gap_us: 0,
            words: 0,
            substituted: 0,
            error_rate: 0.0,
            fault,
            end: WsEnd::ClientClosed,
            model: None,
            controls: Vec::new(),
            close_code: None,
        },
        shared,
        dialect,
        generating: dialect != Dialect::Vllm,
        close_code: q.close_code.filter(|c| (1000..5000).contains(c)),
        sent_text: 0,
        rate,
        codec: q
            .codec
            .as_deref()
            .and_then(Codec::parse)
            .unwrap_or_default(),
        decoder: None,
        samples: 0,
        odd_byte: None,
        partials_scheduled: 0,
        first_frame: None,
        last_frame: None,
        end_at: None,
        pending: VecDeque::new(),
        abort_now: false,
    };
    // Small read buffer: tungstenite zeroes its 128 KiB default before every
    // read (see `ws_agent::READ_BUFFER`); frames are a few hundred bytes.
    ws.read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| session.run(socket, permit, in_flight))
}

/// A message due at an instant.
enum Out {
    Partial(String),
    Final(String),
    /// The `ws_huge_message` fault, in place of the final.
    Huge,
    /// A reply to a control message.
    Json(serde_json::Value),
    /// `?close_code=`: a close frame with this code, in place of the final.
    Close(u16),
}

struct Session {
    shared: Arc<Shared>,
    rec: WsSessionTruth,
    dialect: Dialect,
    /// vLLM: a first commit has started generation (partials go out).
    generating: bool,
    /// vLLM: bytes of the transcript already sent as deltas.
    sent_text: usize,
    rate: u32,
    /// How the client's samples are encoded (`?codec=`; 16-bit PCM by default).
    codec: Codec,
    /// Created at the first audio, with the rate then in force.
    decoder: Option<Decoder>,
    samples: u64,
    odd_byte: Option<u8>,
    partials_scheduled: u64,
    first_frame: Option<Instant>,
    last_frame: Option<Instant>,
    end_at: Option<Instant>,
    /// Outgoing messages in due order.
    pending: VecDeque<(Instant, Out)>,
    /// The abrupt-close fault fires now (end of audio before any partial).
    abort_now: bool,
    /// `?close_code=`.
    close_code: Option<u16>,
}

impl Session {
    async fn run(
        mut self,
        mut socket: WebSocket,
        permit: OwnedSemaphorePermit,
        in_flight: InFlight,
    ) {
        self.rec.end = self.serve(&mut socket).await;
        if matches!(self.rec.end, WsEnd::Final | WsEnd::Closed) {
            // Let the client's close reply arrive so the close is clean.
            let _ = tokio::time::timeout(CLOSE_WAIT, async {
                while let Some(Ok(_)) = socket.recv().await {}
            })
            .await;
        }
        self.rec.audio_us = micros(Duration::from_secs_f64(
            self.samples as f64 / f64::from(self.rate),
        ));
        drop((permit, in_flight));
        let rec = self.rec.clone();
        self.shared.lock().asr_truth.finish_session(rec);
        // `socket` drops here: for `AbruptClose` that is the TCP close
        // without a close frame.
    }

    async fn serve(&mut self, socket: &mut WebSocket) -> WsEnd {
        let shutdown = self.shared.shutdown.clone();
        if let Some(greeting) = self.dialect.greeting(self.rec.id) {
            if send_json(socket, greeting).await.is_err() {
                return WsEnd::Error;
            }
        }
        loop {
            let due = self.pending.front().map(|(at, _)| *at);
            tokio::select! {
                () = shutdown.cancelled() => return WsEnd::Shutdown,
                () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    if let Some(end) = self.send_due(socket).await {
                        return end;
                    }
                }
                msg = socket.recv() => {
                    let now = Instant::now();
                    match msg {
                        None | Some(Ok(Message::Close(_))) => return WsEnd::ClientClosed,
                        Some(Err(_)) => return WsEnd::Error,
                        Some(Ok(Message::Binary(b))) => self.audio(&b, now),
                        Some(Ok(Message::Text(t))) => {
                            if let Err(e) = self.control(t.as_str(), now) {
                                let msg = self.dialect.error(e.code, &e.message);
                                if !self.silent() && send_json(socket, msg).await.is_err() {
                                    return WsEnd::Error;
                                }
                            }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    }
                    if self.abort_now {
                        return WsEnd::AbruptClose;
                    }
                }
            }
        }
    }

    fn silent(&self) -> bool {
        self.rec.fault == Some(AsrFaultKind::WsNeverAnswer)
    }

    /// Send the next due message; `Some` ends the session.
    async fn send_due(&mut self, socket: &mut WebSocket) -> Option<WsEnd> {
        let (_, out) = self.pending.pop_front()?;
        let now = Instant::now();
        match out {
            Out::Partial(text) => {
                let msg = if self.dialect.deltas() {
                    let new = text.get(self.sent_text..).unwrap_or(&text);
                    if new.is_empty() {
                        return None;
                    }
                    self.sent_text = text.len();
                    self.dialect.partial(new)
                } else {
                    self.dialect.partial(&text)
                };
                if send_json(socket, msg).await.is_err() {
                    return Some(WsEnd::Error);
                }
                self.rec.partials += 1;
                let first = self.first_frame.unwrap_or(now);
                self.rec
                    .first_partial_us
                    .get_or_insert(micros(now.saturating_duration_since(first)));
                (self.rec.fault == Some(AsrFaultKind::WsAbruptClose)).then_some(WsEnd::AbruptClose)
            }
            Out::Huge => {
                let msg = super::model::huge_message("final", "");
                // The client drops the connection on reading the frame header.
                let _ = socket.send(Message::Text(Utf8Bytes::from(msg))).await;
                None
            }
            Out::Json(msg) => send_json(socket, msg)
                .await
                .is_err()
                .then_some(WsEnd::Error),
            Out::Close(code) => {
                self.rec.close_code = Some(code);
                let close = Message::Close(Some(CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static("mock close_code"),
                }));
                let _ = socket.send(close).await;
                Some(WsEnd::Closed)
            }
            Out::Final(text) => {
                let audio_s = self.samples as f64 / f64::from(self.rate);
                let end = self.end_at.unwrap_or(now);
                // The final (the first message) is what the truth times.
                for (i, msg) in self.dialect.finals(&text, audio_s).into_iter().enumerate() {
                    if send_json(socket, msg).await.is_err() {
                        return Some(WsEnd::Error);
                    }
                    if i == 0 {
                        self.rec.final_us = Some(micros(now.saturating_duration_since(end)));
                    }
                }
                if !self.dialect.closes() {
                    // vLLM and OpenAI leave the close to the client.
                    return Some(WsEnd::Final);
                }
                let close = Message::Close(Some(CloseFrame {
                    code: 1000,
                    reason: Utf8Bytes::from_static(""),
                }));
                let _ = socket.send(close).await;
                Some(WsEnd::Final)
            }
        }
    }

    /// A text message: start, audio or end.
    fn control(&mut self, text: &str, now: Instant) -> Result<(), Refused> {
        let c: Control = serde_json::from_str(text)
            .map_err(|e| refused("invalid_json", format!("invalid JSON message: {e}")))?;
        if self.dialect == Dialect::Vllm {
            return self.vllm_control(c, now);
        }
        if self.dialect != Dialect::Voxload {
            return self.vendor_control(c, now);
        }
        let bad = |m: String| refused("invalid_event", m);
        match c.kind.as_str() {
            "start" => {
                if let Some(rate) = c.sample_rate {
                    if !(1_000..=192_000).contains(&rate) {
                        return Err(bad(format!(
                            "sample_rate must be 1000..=192000 (got {rate})"
                        )));
                    }
                    if self.decoder.is_some() {
                        return Err(bad("start after audio: sample_rate ignored".into()));
                    }
                    self.rate = rate;
                    self.rec.sample_rate = rate;
                }
                Ok(())
            }
            "audio" => self.b64_audio(c.audio, now),
            "end" => {
                self.end(now);
                Ok(())
            }
            other => Err(refused(
                "unknown_event",
                format!("unknown message type '{other}' (use start, audio or end)"),
            )),
        }
    }

    /// vLLM's client events.
    fn vllm_control(&mut self, c: Control, now: Instant) -> Result<(), Refused> {
        match c.kind.as_str() {
            "session.update" => {
                self.rec.model = c.model.or(self.rec.model.take());
                Ok(())
            }
            "input_audio_buffer.append" => self.b64_audio(c.audio, now),
            "input_audio_buffer.commit" if c.is_final == Some(true) => {
                self.end(now);
                Ok(())
            }
            "input_audio_buffer.commit" => {
                self.generating = true;
                Ok(())
            }
            other => Err(refused(
                "unknown_event",
                format!("Unknown event type: {other}"),
            )),
        }
    }

    /// Deepgram's, AssemblyAI's and OpenAI's client events, each recorded.
    fn vendor_control(&mut self, c: Control, now: Instant) -> Result<(), Refused> {
        let Some(what) = self.dialect.control(&c.kind) else {
            return Err(refused(
                "unknown_event",
                format!("Unknown event type: {}", c.kind),
            ));
        };
        if what != VendorControl::Audio {
            self.rec.controls.push(c.kind.clone());
        }
        match what {
            VendorControl::Note => Ok(()),
            VendorControl::End => {
                self.end(now);
                Ok(())
            }
            VendorControl::Reply(kind) => {
                self.pending
                    .push_front((now, Out::Json(serde_json::json!({"type": kind}))));
                Ok(())
            }
            VendorControl::Audio => self.b64_audio(c.audio, now),
        }
    }

    /// Base64 audio from a JSON message.
    fn b64_audio(&mut self, b64: Option<String>, now: Instant) -> Result<(), Refused> {
        let b64 = b64.ok_or_else(|| refused("invalid_audio", "audio message without 'audio'"))?;
        let pcm = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| refused("invalid_audio", format!("'audio' is not base64: {e}")))?;
        self.audio(&pcm, now);
        Ok(())
    }

    /// An audio frame arrived at `now`.
    fn audio(&mut self, wire: &[u8], now: Instant) {
        if self.end_at.is_some() {
            return;
        }
        let decoded;
        let pcm = if self.codec == Codec::Pcm16 {
            wire
        } else {
            decoded = self.codec.decode(wire);
            &decoded[..]
        };
        self.rec.frames += 1;
        if let Some(last) = self.last_frame {
            let gap = micros(now.saturating_duration_since(last));
            self.rec.max_frame_gap_us = self.rec.max_frame_gap_us.max(gap);
        }
        self.last_frame = Some(now);
        self.first_frame.get_or_insert(now);
        if self.shared.model.asr.ws_sink {
            self.samples += (pcm.len() / 2) as u64;
            return;
        }
        let (rate, cps) = (self.rate, self.shared.model.chars_per_second);
        let silent = self.silent();
        let decoder = self.decoder.get_or_insert_with(|| Decoder::new(rate, cps));
        let pcm = super::sample_aligned(&mut self.odd_byte, pcm);
        let pcm = &pcm[..];
        decoder.push_pcm16(pcm);
        self.samples += (pcm.len() / 2) as u64;
        if silent {
            return;
        }
        let asr = &self.shared.model.asr;
        let every = asr.partial_every.as_secs_f64() * f64::from(rate);
        let crossed = (self.samples as f64 / every) as u64;
        if crossed > self.partials_scheduled && self.generating {
            self.partials_scheduled = crossed;
            let text = decoder.text().to_owned();
            self.pending
                .push_back((now + asr.partial_lag, Out::Partial(text)));
        }
    }

    /// End of audio at `now`: schedule the final (unless a fault says not to).
    fn end(&mut self, now: Instant) {
        if self.end_at.is_some() {
            return;
        }
        self.end_at = Some(now);
        if self.rec.fault == Some(AsrFaultKind::WsHugeMessage) {
            let at = now + self.shared.model.asr.final_delay;
            self.pending.retain(|(due, _)| *due <= at);
            self.pending.push_back((at, Out::Huge));
            return;
        }
        if let Some(code) = self.close_code {
            let at = now + self.shared.model.asr.final_delay;
            self.pending.retain(|(due, _)| *due <= at);
            self.pending.push_back((at, Out::Close(code)));
            return;
        }
        if self.rec.fault.is_some() {
            self.abort_now = self.rec.fault == Some(AsrFaultKind::WsAbruptClose);
            return;
        }
        let asr = &self.shared.model.asr;
        let in_flight = self.shared.lock().asr_truth.in_flight;
        let p = asr.error_probability(in_flight);
        let text = self.decoder.as_ref().map_or("", Decoder::text);
        let t = self.shared.inject_errors(text, p);
        self.rec.error_rate = p;
        self.rec.words = t.words;
        self.rec.substituted = t.substituted;
        let at = now + asr.final_delay;
        self.pending.retain(|(due, _)| *due <= at);
        self.pending.push_back((at, Out::Final(t.text)));
    }
}

async fn send_json(socket: &mut WebSocket, v: serde_json::Value) -> Result<(), axum::Error> {
    socket
        .send(Message::Text(Utf8Bytes::from(v.to_string())))
        .await
}
