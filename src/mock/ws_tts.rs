//! TTS over WebSocket in three vendors' dialects, on the mock's TTS model
//! (overhead, synthesis speed, chunk size, characters per second):
//!
//! - ElevenLabs `GET /v1/text-to-speech/{voice}/stream-input`
//!   (`?output_format=pcm_16000`): init `{"text":" ",…}`, pieces
//!   `{"text":"…"}`, end `{"text":""}`; answers `{"audio":"<b64>"}` and
//!   `{"isFinal":true}`, then close 1000.
//! - Cartesia `GET /tts/websocket`: `{"context_id","transcript","continue":true,
//!   "output_format":{"sample_rate":…}}` pieces, `continue:false` ends;
//!   answers `{"type":"chunk","data":"<b64>","context_id",…}` and
//!   `{"type":"done","done":true,…}`.
//! - Deepgram `GET /v1/speak` (`?sample_rate=24000`): `{"type":"Speak","text"}`,
//!   `{"type":"Flush"}`, `{"type":"Close"}`; answers `Metadata` on connect,
//!   binary PCM frames, `{"type":"Flushed","sequence_id":0}`.
//!
//! Synthesis starts at the end of input: chunk *i* leaves at
//! `flush + overhead + end_of_chunk_i / speed` (absolute deadlines). The
//! audio is a tone of `chars / chars_per_second` seconds. `?fail=error`
//! answers the end of input with the dialect's error event (ElevenLabs then
//! closes 1008); `?fail=close4000` closes with code 4000. Truth:
//! [`WsTtsTruth`] per session.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use base64::Engine as _;
use tokio::time::Instant;

use super::ws_tts_truth::{WsTtsTruth, WS_TTS_RECENT};
use super::{micros, Shared};

/// Longest wait for a client message before the session gives up.
const IDLE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    ElevenLabs,
    Cartesia,
    Deepgram,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::ElevenLabs => "elevenlabs",
            Dialect::Cartesia => "cartesia",
            Dialect::Deepgram => "deepgram",
        }
    }
}

/// ElevenLabs stream-input.
pub(crate) async fn elevenlabs(
    State(shared): State<Arc<Shared>>,
    Path(voice): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    open(shared, ws, Dialect::ElevenLabs, voice, q)
}

/// Cartesia's TTS socket.
pub(crate) async fn cartesia(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    open(shared, ws, Dialect::Cartesia, String::new(), q)
}

/// Deepgram's speak socket.
pub(crate) async fn deepgram(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    open(shared, ws, Dialect::Deepgram, String::new(), q)
}

fn open(
    shared: Arc<Shared>,
    ws: WebSocketUpgrade,
    dialect: Dialect,
    voice: String,
    q: HashMap<String, String>,
) -> Response {
    let rate = q
        .get("output_format")
        .and_then(|f| f.strip_prefix("pcm_"))
        .or(q.get("sample_rate").map(String::as_str))
        .and_then(|r| r.parse().ok())
        .unwrap_or(shared.model.sample_rate);
    let fail = q.get("fail").cloned();
    ws.on_upgrade(move |socket| async move {
        let truth = session(&shared, socket, dialect, voice, rate, fail).await;
        let mut st = shared.lock();
        if st.ws_tts_truth.len() >= WS_TTS_RECENT {
            st.ws_tts_truth.remove(0);
        }
        st.ws_tts_truth.push(truth);
    })
}

/// What one client message means.
enum Input {
    Text(String),
    End,
    Ignore,
    Close,
}

fn read_input(
    dialect: Dialect,
    v: &serde_json::Value,
    rate: &mut u32,
    voice: &mut String,
) -> Input {
    let s = |k: &str| v.get(k).and_then(|x| x.as_str());
    match dialect {
        Dialect::ElevenLabs => match s("text") {
            Some("") => Input::End,
            Some(" ") => Input::Ignore,
            Some(t) => Input::Text(t.to_string()),
            None => Input::Ignore,
        },
        Dialect::Cartesia => {
            if let Some(r) = v
                .pointer("/output_format/sample_rate")
                .and_then(|r| r.as_u64())
            {
                *rate = u32::try_from(r).unwrap_or(*rate);
            }
            if let Some(id) = v.pointer("/voice/id").and_then(|x| x.as_str()) {
                voice.clone_from(&id.to_string());
            }
            let piece = s("transcript").unwrap_or("");
            match v.get("continue").and_then(|c| c.as_bool()) {
                Some(false) if piece.is_empty() => Input::End,
                // A last piece with continue=false: text then end; the mock
                // takes the text (its end arrives with it).
                Some(false) => Input::Text(piece.to_string()),
                _ if piece.is_empty() => Input::Ignore,
                _ => Input::Text(piece.to_string()),
            }
        }
        Dialect::Deepgram => match s("type") {
            Some("Speak") => Input::Text(s("text").unwrap_or("").to_string()),
            Some("Flush") => Input::End,
            Some("Close") => Input::Close,
            _ => Input::Ignore,
        },
    }
}

async fn session(
    shared: &Shared,
    mut socket: WebSocket,
    dialect: Dialect,
    mut voice: String,
    mut rate: u32,
    fail: Option<String>,
) -> WsTtsTruth {
    let accepted = Instant::now();
    let us = |at: Instant| micros(at.saturating_duration_since(accepted));
    let mut truth = WsTtsTruth {
        dialect: dialect.name().into(),
        ..WsTtsTruth::default()
    };
    if dialect == Dialect::Deepgram {
        let meta = r#"{"type":"Metadata","request_id":"mock","model_name":"mock"}"#;
        if socket.send(Message::Text(meta.into())).await.is_err() {
            return truth;
        }
    }
    let mut context = String::new();
    loop {
        let msg = match tokio::time::timeout(IDLE, socket.recv()).await {
            Ok(Some(Ok(m))) => m,
            _ => return truth,
        };
        let at = Instant::now();
        let Message::Text(s) = msg else {
            if matches!(msg, Message::Close(_)) {
                return truth;
            }
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(s.as_str()) else {
            continue;
        };
        if let Some(c) = v.get("context_id").and_then(|c| c.as_str()) {
            c.clone_into(&mut context);
        }
        match read_input(dialect, &v, &mut rate, &mut voice) {
            Input::Text(t) => {
                let ends = dialect == Dialect::Cartesia
                    && v.get("continue").and_then(|c| c.as_bool()) == Some(false);
                truth.texts.push((us(at), t));
                if ends {
                    truth.flush_us = Some(us(at));
                    break;
                }
            }
            Input::End => {
                truth.flush_us = Some(us(at));
                break;
            }
            Input::Ignore => {}
            Input::Close => return truth,
        }
    }
    truth.voice = voice;
    truth.sample_rate = rate;
    let flush = accepted + Duration::from_micros(truth.flush_us.unwrap_or(0));
    match fail.as_deref() {
        Some("error") => {
            truth.fault = Some("error".into());
            let event = match dialect {
                Dialect::ElevenLabs => {
                    serde_json::json!({"message":"mock failure","error":"input_timeout_exceeded","code":1008})
                }
                Dialect::Cartesia => {
                    serde_json::json!({"type":"error","context_id":context,"title":"mock","message":"mock failure","error_code":"mock_failure","done":true,"status_code":500})
                }
                Dialect::Deepgram => {
                    serde_json::json!({"type":"Error","description":"mock failure","code":"mock_failure"})
                }
            };
            let _ = socket.send(Message::Text(event.to_string().into())).await;
            if dialect == Dialect::ElevenLabs {
                close(&mut socket, 1008).await;
            }
            return truth;
        }
        Some("close4000") => {
            truth.fault = Some("close4000".into());
            close(&mut socket, 4000).await;
            return truth;
        }
        _ => {}
    }
    let m = &shared.model;
    let chars = truth.text().trim().chars().count() as f64;
    let audio_s = (chars / m.chars_per_second).min(m.max_audio.as_secs_f64());
    let total = (audio_s * f64::from(rate)) as usize;
    let chunk = ((m.chunk.as_secs_f64() * f64::from(rate)) as usize).max(1);
    let mut sent = 0;
    while sent < total {
        let end = (sent + chunk).min(total);
        let work = Duration::from_secs_f64(end as f64 / f64::from(rate) / m.speed);
        tokio::time::sleep_until(flush + m.overhead + work).await;
        let pcm = tone(sent, end, rate);
        let message = match dialect {
            Dialect::Deepgram => Message::Binary(pcm.into()),
            Dialect::ElevenLabs => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&pcm);
                Message::Text(
                    serde_json::json!({"audio": b64, "normalizedAlignment": null})
                        .to_string()
                        .into(),
                )
            }
            Dialect::Cartesia => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&pcm);
                Message::Text(serde_json::json!({"type":"chunk","data":b64,"done":false,"status_code":206,"context_id":context}).to_string().into())
            }
        };
        if socket.send(message).await.is_err() {
            return truth;
        }
        truth
            .first_audio_us
            .get_or_insert_with(|| us(Instant::now()));
        truth.chunks += 1;
        truth.audio_samples = end;
        sent = end;
    }
    let last = match dialect {
        Dialect::ElevenLabs => serde_json::json!({"isFinal": true}),
        Dialect::Cartesia => {
            serde_json::json!({"type":"done","done":true,"status_code":200,"context_id":context})
        }
        Dialect::Deepgram => serde_json::json!({"type":"Flushed","sequence_id":0}),
    };
    if socket
        .send(Message::Text(last.to_string().into()))
        .await
        .is_err()
    {
        return truth;
    }
    truth.final_us = Some(us(Instant::now()));
    if dialect == Dialect::Deepgram {
        // Wait for Close (or the client's close frame).
        let _ = tokio::time::timeout(Duration::from_secs(2), socket.recv()).await;
    }
    close(&mut socket, 1000).await;
    truth
}

async fn close(socket: &mut WebSocket, code: u16) {
    let frame = CloseFrame {
        code,
        reason: "".into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Samples `a..b` of a 220 Hz tone (never silent), 16-bit little-endian.
fn tone(a: usize, b: usize, rate: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((b - a) * 2);
    for k in a..b {
        let t = k as f64 / f64::from(rate);
        let s = (8000.0 * (std::f64::consts::TAU * 220.0 * t).sin()) as i16;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}
