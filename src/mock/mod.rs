//! Embedded mock speech server with a known, configurable model.
//!
//! It is the demo target and the ground-truth fixture: because the mock
//! knows when it handed each audio chunk over, a test can assert that what
//! voxload measured matches what really happened (see [`Truth`]).
//!
//! Endpoints:
//!
//! - `GET /health` → `{"status":"ok"}`.
//! - `POST /v1/audio/speech`: OpenAI-compatible TTS (`response_format` `wav`
//!   (default) or `pcm`; `stream_format` `audio` (default), `sse`, or `ndjson`).
//!   The audio carries its text (see [`Voice`]), so the mock's ASR returns
//!   the true text of audio its TTS made, and WER is testable end to end.
//! - `POST /v1/audio/transcriptions` (multipart) and
//!   `POST /v1/audio/transcriptions/raw` (audio body): HTTP ASR (see `asr`).
//! - `GET /v1/realtime/transcribe`: streaming ASR over WebSocket (see
//!   `ws_asr`); `?dialect=vllm` speaks vLLM's realtime transcription socket.
//! - `GET /v1/agent`: a voice agent over WebSocket (see `ws_agent`). The
//!   caller streams 16 kHz PCM16 (binary, or `{"type":"audio","audio":b64}`)
//!   and may send `{"type":"end_of_speech"}`; else energy VAD ends the turn
//!   after `vad_silence`. Per turn the agent sends
//!   `{"type":"transcript","text":…,"final":true}`, then
//!   `{"type":"response_text","text":…}` and paced audio chunks (binary),
//!   then `{"type":"response_end"}`; caller speech during a response stops
//!   it with `{"type":"interrupted"}`. Over capacity: close 1013.
//! - `GET /v1/realtime`: the same agent speaking the OpenAI Realtime API
//!   (GA, or beta with `?dialect=beta` / `OpenAI-Beta: realtime=v1`; see
//!   `realtime`), recording the client's cancels and truncations.
//! - `GET /v1/twilio`: the same agent as a phone bot behind Twilio Media
//!   Streams (μ-law 8 kHz; see `twilio`), recording the client's marks.
//! - `POST /api/offer` (Pipecat's JSON offer/answer) and `POST /whip` +
//!   `DELETE /whip/session/{id}` (WHIP), and `POST /v1/realtime/calls` +
//!   `POST /v1/realtime/calls/{call}/hangup` (OpenAI Realtime's WebRTC
//!   calls, events on the data channel): the same agent over WebRTC (see
//!   `rtc_agent`): Opus both ways, silence packets between replies, energy
//!   end of speech, barge-in; 400 for a bad offer, 503 over capacity.
//! - `GET /metrics`: the mock's in-flight, queue, slot and request
//!   counts in Prometheus text format (see `metrics`), for `--scrape`.
//! - `GET /mock/truth` → [`Truth`]; `POST /mock/reset-truth` clears it.
//! - `POST /mock/stall?ms=N`: pause every response, in flight or new, for N ms.
//!
//! No global state: everything lives in one [`Arc`]'d `Shared` handed to the
//! handlers through axum's `State`.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod agent_model;
mod agent_truth;
mod agent_turn;
mod asr;
mod asr_model;
mod asr_truth;
mod body;
mod faults;
mod metrics;
mod model;
mod plan;
mod queue;
mod realtime;
mod rtc_agent;
mod rtc_events;
mod rtc_reply;
mod rtc_signal;
mod stall;
mod truth;
mod tts;
mod twilio;
mod upload;
mod wire;
mod wire_event;
mod ws_agent;
mod ws_asr;
mod ws_asr_dialect;
mod ws_tts;
pub mod ws_tts_truth;

#[cfg(test)]
mod asr_tests;
#[cfg(test)]
mod rtc_agent_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod ws_agent_tests;
#[cfg(test)]
mod ws_asr_tests;

pub use crate::audio::voice::{decode_text, Voice, SYMBOLS, UNKNOWN_CHAR};
pub use agent_model::{AgentFaults, AgentModel};
pub use agent_truth::{
    AgentEnd, AgentFaultKind, AgentSessionTruth, AgentTruth, AgentTurnTruth, EndOfSpeech,
    RealtimeTruth, RtcTruth, TruncateTruth,
};
pub use asr::{SUBSTITUTE, SUBSTITUTE_ALT};
pub use asr_model::{AsrFaults, AsrModel};
pub use asr_truth::{AsrEndpoint, AsrFaultKind, AsrRequestTruth, AsrTruth, WsEnd, WsSessionTruth};
pub use model::{
    Faults, MockModel, RateDeclaration, StallWindow, HUGE_MESSAGE_BYTES, MAX_AUDIO_LIMIT,
    OVERSIZED_HEAD_BYTES,
};
pub use realtime::{rate_limit_left, RATE_LIMIT};
pub use truth::{FaultKind, RequestTruth, Truth, RECENT_CAPACITY};

/// Caller PCM (16-bit) realigned on sample boundaries across WebSocket
/// frames of odd length: a byte left over from the previous frame (`odd`)
/// goes first, and an odd trailing byte is kept for the next one.
pub(crate) fn sample_aligned<'a>(
    odd: &mut Option<u8>,
    pcm: &'a [u8],
) -> std::borrow::Cow<'a, [u8]> {
    let pcm = match odd.take() {
        Some(b) => std::borrow::Cow::Owned([&[b][..], pcm].concat()),
        None => std::borrow::Cow::Borrowed(pcm),
    };
    if pcm.len() % 2 == 1 {
        *odd = pcm.last().copied();
    }
    pcm
}

/// Why the mock could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// A model setting is out of range; `setting` is its `voxload mock` flag.
    #[error("invalid mock setting {setting}: {reason}")]
    Invalid {
        /// The flag (e.g. `--speed`).
        setting: &'static str,
        /// What is wrong and what was given.
        reason: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("mock server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The server task panicked or was aborted.
    #[error("mock server task ended abnormally: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// State shared by all handlers of one server.
pub(crate) struct Shared {
    pub(crate) model: MockModel,
    /// Per-symbol tone segments, generated once and copied per request so the
    /// mock never spends per-request CPU on synthesis (it must not be the bottleneck).
    pub(crate) voice: crate::audio::voice::Voice,
    /// The voice agent's response, built once (see `ws_agent`).
    pub(crate) agent_reply: agent_turn::Reply,
    /// The same at the realtime API's 24 kHz.
    pub(crate) agent_reply_realtime: agent_turn::Reply,
    /// The same at telephony's 8 kHz (Twilio, G.711 realtime sessions).
    pub(crate) agent_reply_8k: agent_turn::Reply,
    /// The WebRTC agent's Opus reply (made on its first call) and open calls.
    pub(crate) rtc: rtc_signal::RtcCalls,
    pub(crate) started: Instant,
    pub(crate) slots: Arc<Semaphore>,
    /// ASR slots: HTTP transcriptions and WebSocket sessions.
    pub(crate) asr_slots: Arc<Semaphore>,
    pub(crate) next_id: AtomicU64,
    pub(crate) shutdown: CancellationToken,
    pub(crate) state: Mutex<MockState>,
}

/// Mutable state, behind one lock: critical sections are a few field updates
/// and never await, so one lock is simpler than several and as fast.
pub(crate) struct MockState {
    pub(crate) waiting: usize,
    pub(crate) rng: StdRng,
    pub(crate) warmth: queue::Warmth,
    pub(crate) stalls: stall::StallWindows,
    pub(crate) truth: truth::TruthLog,
    /// ASR requests waiting for an ASR slot.
    pub(crate) asr_waiting: usize,
    /// Word errors and WebSocket faults, seeded by `asr.seed`.
    pub(crate) asr_rng: StdRng,
    pub(crate) asr_truth: asr_truth::AsrTruthLog,
    /// Voice-agent fault choice, seeded by `agent.seed`.
    pub(crate) agent_rng: StdRng,
    pub(crate) agent_truth: agent_truth::AgentTruthLog,
    /// WebSocket TTS sessions, the last [`ws_tts_truth::WS_TTS_RECENT`].
    pub(crate) ws_tts_truth: Vec<ws_tts_truth::WsTtsTruth>,
}

impl MockState {
    fn reset_truth(&mut self) {
        self.truth.reset();
        self.asr_truth.reset();
        self.agent_truth.reset();
        self.ws_tts_truth.clear();
    }
}

impl Shared {
    fn new(model: MockModel, shutdown: CancellationToken) -> Result<Arc<Self>, MockError> {
        model.validate()?;
        let voice = crate::audio::voice::Voice::new(model.sample_rate, model.chars_per_second);
        let agent_reply = agent_turn::Reply::new(&model.agent, model.chars_per_second);
        let realtime_model = AgentModel {
            sample_rate_out: realtime::REALTIME_RATE,
            ..model.agent.clone()
        };
        let agent_reply_realtime = agent_turn::Reply::new(&realtime_model, model.chars_per_second);
        let phone_model = AgentModel {
            sample_rate_out: twilio::TWILIO_RATE,
            ..model.agent.clone()
        };
        let agent_reply_8k = agent_turn::Reply::new(&phone_model, model.chars_per_second);
        // "Server start" is when it is ready, so `stall_all` offsets don't
        // shrink by the time taken to generate the tones.
        let started = Instant::now();
        let seeded = |seed: Option<u64>| match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let rng = seeded(model.seed);
        let asr_rng = seeded(model.asr.seed);
        let agent_rng = seeded(model.agent.seed);
        let mut stalls = stall::StallWindows::default();
        if let Some(w) = model.stall_all {
            stalls.add(started + w.start, started + w.start + w.duration);
        }
        Ok(Arc::new(Self {
            slots: Arc::new(Semaphore::new(model.slots)),
            asr_slots: Arc::new(Semaphore::new(model.asr.slots)),
            voice,
            agent_reply,
            agent_reply_realtime,
            agent_reply_8k,
            rtc: rtc_signal::RtcCalls::default(),
            started,
            next_id: AtomicU64::new(1),
            shutdown,
            state: Mutex::new(MockState {
                waiting: 0,
                rng,
                warmth: queue::Warmth::default(),
                stalls,
                truth: truth::TruthLog::default(),
                asr_waiting: 0,
                asr_rng,
                asr_truth: asr_truth::AsrTruthLog::default(),
                agent_rng,
                agent_truth: agent_truth::AgentTruthLog::default(),
                ws_tts_truth: Vec::new(),
            }),
            model,
        }))
    }

    /// Lock the state. A panic while holding it cannot leave it inconsistent
    /// (every update is a plain assignment), so a poisoned lock is still usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn truth(&self) -> Truth {
        let uptime_us = micros(self.started.elapsed());
        let st = self.lock();
        let mut truth = st.truth.snapshot(&self.model, uptime_us);
        truth.asr = st.asr_truth.snapshot();
        truth.agent = st.agent_truth.snapshot();
        truth.tts_ws.clone_from(&st.ws_tts_truth);
        truth
    }

    fn stall_for(&self, d: Duration) {
        let now = Instant::now();
        self.lock().stalls.add(now, now + d);
    }
}

/// Microseconds, saturating (a `u64` of µs is 584 000 years).
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Serve the mock on `listener` until `shutdown` is cancelled, returning
/// its final truth (what a soak compares the client's records with).
///
/// The caller binds the listener (so tests use `127.0.0.1:0` and learn the
/// port first). On shutdown, open responses are aborted and the call returns
/// once connections are closed.
pub async fn serve(
    listener: TcpListener,
    model: MockModel,
    shutdown: CancellationToken,
) -> Result<Truth, MockError> {
    let shared = Shared::new(model, shutdown.clone())?;
    run(listener, Arc::clone(&shared), shutdown).await?;
    Ok(shared.truth())
}

async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> Result<(), MockError> {
    let listener = wire::MockListener::new(listener, shared.model.faults.bad_chunk > 0.0);
    axum::serve(listener, router(shared))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(MockError::Serve)
}

fn router(shared: Arc<Shared>) -> Router {
    use axum::extract::DefaultBodyLimit;
    let upload_limit = DefaultBodyLimit::max(asr::MAX_UPLOAD_BYTES);
    Router::new()
        .route("/health", get(health))
        .route("/v1/audio/speech", post(tts::speech))
        .route(
            "/v1/audio/transcriptions",
            post(asr::transcriptions).layer(upload_limit),
        )
        .route(
            "/v1/audio/transcriptions/raw",
            post(asr::transcriptions_raw).layer(upload_limit),
        )
        .route("/v1/realtime/transcribe", get(ws_asr::transcribe))
        .route("/v1/agent", get(ws_agent::agent))
        .route(
            "/v1/text-to-speech/{voice}/stream-input",
            get(ws_tts::elevenlabs),
        )
        .route("/tts/websocket", get(ws_tts::cartesia))
        .route("/v1/speak", get(ws_tts::deepgram))
        .route("/v1/realtime", get(ws_agent::realtime))
        .route("/v1/twilio", get(ws_agent::twilio))
        .route("/api/offer", post(rtc_signal::pipecat))
        .route("/whip", post(rtc_signal::whip))
        .route("/whip/session/{id}", delete(rtc_signal::whip_delete))
        .route("/v1/realtime/calls", post(rtc_signal::openai))
        .route(
            "/v1/realtime/calls/{call}/hangup",
            post(rtc_signal::openai_hangup),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/mock/truth", get(get_truth))
        .route("/mock/reset-truth", post(reset_truth))
        .route("/mock/stall", post(stall_now))
        .with_state(shared)
}

/// Start a mock on `127.0.0.1:<free port>` on the current runtime.
///
/// For tests and `voxload demo`: the returned handle knows the address, reads
/// the truth without HTTP, and stops the server when dropped.
pub async fn spawn(model: MockModel) -> Result<MockHandle, MockError> {
    spawn_on("127.0.0.1:0", model).await
}

/// Start a mock on `addr` on the current runtime: a test that stops a mock
/// brings it back on the same port with this, as a restarted server would.
pub async fn spawn_on(addr: &str, model: MockModel) -> Result<MockHandle, MockError> {
    let token = CancellationToken::new();
    let shared = Shared::new(model, token.clone())?;
    let bind_err = |source| MockError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let task = tokio::spawn(run(listener, Arc::clone(&shared), token.clone()));
    Ok(MockHandle {
        addr,
        shared,
        token,
        task: Some(task),
    })
}

/// A running mock started by [`spawn`]. Dropping it stops the server.
pub struct MockHandle {
    /// Where the mock listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    token: CancellationToken,
    task: Option<JoinHandle<Result<(), MockError>>>,
}

impl MockHandle {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The truth so far, read directly (same content as `GET /mock/truth`).
    pub async fn truth(&self) -> Truth {
        self.shared.truth()
    }

    /// Clear the counters (same as `POST /mock/reset-truth`).
    pub fn reset_truth(&self) {
        self.shared.lock().reset_truth();
    }

    /// Pause every response for `d` from now (same as `POST /mock/stall`).
    pub fn stall_for(&self, d: Duration) {
        self.shared.stall_for(d);
    }

    /// Stop the server without waiting for it.
    pub fn stop(self) {
        self.token.cancel();
    }

    /// Stop the server, wait until its connections are closed, and return
    /// its final truth (a test that kills a server still counts what it served).
    pub async fn shutdown(mut self) -> Result<Truth, MockError> {
        self.token.cancel();
        if let Some(task) = self.task.take() {
            task.await.map_err(MockError::Task)??;
        }
        Ok(self.shared.truth())
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// `200 ok` when the model is loaded; `503 cold` (unloaded after idling,
/// or not loaded yet) or `503 loading` with cold starts configured.
async fn health(State(shared): State<Arc<Shared>>) -> (StatusCode, Json<serde_json::Value>) {
    let now = tokio::time::Instant::now();
    if shared.is_warm(now) {
        return (StatusCode::OK, Json(serde_json::json!({"status": "ok"})));
    }
    let status = if shared.cold_loading(now) {
        "loading"
    } else {
        "cold"
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "status": status })),
    )
}

async fn get_truth(State(shared): State<Arc<Shared>>) -> Json<Truth> {
    Json(shared.truth())
}

async fn reset_truth(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    shared.lock().reset_truth();
    Json(serde_json::json!({"status": "ok"}))
}

#[derive(Deserialize)]
struct StallQuery {
    ms: Option<u64>,
}

async fn stall_now(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<StallQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query.ok().and_then(|Query(q)| q.ms) {
        Some(ms) => {
            shared.stall_for(Duration::from_millis(ms));
            Json(serde_json::json!({"status": "ok", "stall_ms": ms})).into_response()
        }
        None => tts::error_response(
            StatusCode::BAD_REQUEST,
            "query parameter ms=<milliseconds> is required",
        ),
    }
}
