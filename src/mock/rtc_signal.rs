//! The WebRTC agent's signalling: the offer/answer exchange in both shapes
//! voxload speaks, admission, and the registry a WHIP `DELETE` finds its
//! call in (see `rtc_agent` for the call itself).
//!
//! - Pipecat (`POST /api/offer`): JSON `{"sdp": <offer>, "type": "offer"}`
//!   → 200 JSON `{"sdp": <answer>, "type": "answer", "pc_id": "pc-<id>"}`.
//!   A Pipecat call ends when the caller goes away (its close_notify, ICE
//!   disconnecting, or its packets stopping).
//! - WHIP (`POST /whip`, RFC 9725): body `application/sdp` → 201, the
//!   answer SDP as body, `Location: /whip/session/<id>`;
//!   `DELETE /whip/session/<id>` hangs the call up (200; 404 for no such call).
//! - OpenAI Realtime (`POST /v1/realtime/calls`): body `application/sdp` →
//!   201, the answer SDP, `Location: /v1/realtime/calls/rtc_<id>`;
//!   `POST /v1/realtime/calls/rtc_<id>/hangup` hangs up (200; 404). The
//!   call's events travel on its data channel (see `rtc_agent`).
//!
//! Refusals, each with a short reason in the mock's JSON error body: 400
//! for an offer that is not SDP or offers no Opus (and for a Pipecat body
//! that is not its JSON), 415 for a WHIP body that is not
//! `application/sdp`, 503 when `max_sessions` agent sessions (WebSocket
//! and WebRTC together, as one agent's capacity) are open.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::rtc_agent::Call;
use super::rtc_reply::LazyReply;
use super::tts::error_response;
use super::Shared;
use crate::rtc::{Peer, PeerError};

/// Which signalling shape a call came in by (named in its truth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Pipecat,
    Whip,
    /// OpenAI Realtime's WebRTC calls: the Realtime events (GA names) on
    /// the `oai-events` data channel.
    OpenAi,
}

impl Signal {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Pipecat => "pipecat",
            Signal::Whip => "whip",
            Signal::OpenAi => "openai",
        }
    }
}

/// The WebRTC agent's per-server state, in [`Shared`].
#[derive(Debug, Default)]
pub(crate) struct RtcCalls {
    /// The reply's packets, encoded on the first offer.
    pub(crate) reply: LazyReply,
    /// Open calls by session id: cancelling a call's token ends it. A lock
    /// of its own (not `MockState`'s): it is touched only when a call opens
    /// or closes, never per packet.
    calls: Mutex<HashMap<u64, CancellationToken>>,
}

impl RtcCalls {
    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<u64, CancellationToken>> {
        // Every update is one insert or remove: a poisoned map is still whole.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps an admitted call counted as an active agent session, and findable
/// by `DELETE`, until dropped (when its task ends, however it ends).
pub(crate) struct Admitted {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.shared.rtc.calls().remove(&self.id);
        self.shared.lock().agent_truth.leave();
    }
}

/// A Pipecat offer body; other fields (`pc_id`, `restart_pc`) are ignored.
#[derive(Deserialize)]
struct PipecatOffer {
    sdp: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `POST /api/offer`: Pipecat's `SmallWebRTCTransport` shape.
pub(crate) async fn pipecat(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(offer) = serde_json::from_slice::<PipecatOffer>(&body) else {
        let why = r#"expected JSON {"sdp": "<offer SDP>", "type": "offer"}"#;
        return error_response(StatusCode::BAD_REQUEST, why);
    };
    if offer.kind != "offer" {
        return error_response(StatusCode::BAD_REQUEST, r#"type must be "offer""#);
    }
    match open(&shared, &offer.sdp, Signal::Pipecat).await {
        Ok((id, sdp)) => {
            let pc_id = format!("pc-{id}");
            Json(serde_json::json!({"sdp": sdp, "type": "answer", "pc_id": pc_id})).into_response()
        }
        Err(refused) => refused,
    }
}

/// `POST /whip`: the offer as `application/sdp`, answered with 201.
pub(crate) async fn whip(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sdp_offer(&shared, &headers, &body, Signal::Whip).await
}

/// `POST /v1/realtime/calls`: OpenAI's shape of WHIP's exchange.
pub(crate) async fn openai(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sdp_offer(&shared, &headers, &body, Signal::OpenAi).await
}

/// A raw SDP offer (WHIP or OpenAI), answered with 201 and the call's
/// `Location`.
async fn sdp_offer(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: &[u8],
    signal: Signal,
) -> Response {
    let sdp_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/sdp"));
    if !sdp_type {
        let why = "an SDP offer's Content-Type is application/sdp";
        return error_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, why);
    }
    let Ok(offer) = std::str::from_utf8(body) else {
        return error_response(StatusCode::BAD_REQUEST, "the offer is not UTF-8 text");
    };
    match open(shared, offer, signal).await {
        Ok((id, sdp)) => {
            let location = match signal {
                Signal::OpenAi => format!("/v1/realtime/calls/rtc_{id}"),
                Signal::Whip | Signal::Pipecat => format!("/whip/session/{id}"),
            };
            let mut resp = (StatusCode::CREATED, sdp).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/sdp"),
            );
            if let Ok(v) = HeaderValue::from_str(&location) {
                h.insert(header::LOCATION, v);
            }
            resp
        }
        Err(refused) => refused,
    }
}

/// `DELETE /whip/session/{id}`: hang the call up (its task ends at once).
pub(crate) async fn whip_delete(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    end_call(&shared, &id, "no such WHIP session")
}

/// `POST /v1/realtime/calls/{call_id}/hangup`: OpenAI's hang-up.
pub(crate) async fn openai_hangup(
    State(shared): State<Arc<Shared>>,
    Path(call): Path<String>,
) -> Response {
    let id = call.strip_prefix("rtc_").unwrap_or_default();
    end_call(&shared, id, "no such call")
}

/// End call `id` (its task ends at once): 200, or 404 saying `missing`.
fn end_call(shared: &Shared, id: &str, missing: &str) -> Response {
    let call = id
        .parse::<u64>()
        .ok()
        .and_then(|id| shared.rtc.calls().remove(&id));
    match call {
        Some(token) => {
            token.cancel();
            StatusCode::OK.into_response()
        }
        None => error_response(StatusCode::NOT_FOUND, missing),
    }
}

/// Answer `offer` and start its call: the session id and the answer SDP,
/// or the refusal to send back.
async fn open(
    shared: &Arc<Shared>,
    offer: &str,
    signal: Signal,
) -> Result<(u64, String), Response> {
    let accepted = Instant::now();
    let model = &shared.model;
    let reply = shared
        .rtc
        .reply
        .get(&model.agent, model.chars_per_second)
        .await
        .map_err(|why| error_response(StatusCode::INTERNAL_SERVER_ERROR, &why))?;
    let mut peer = Peer::loopback()
        .await
        .map_err(|e| error_response(StatusCode::INTERNAL_SERVER_ERROR, &format!("peer: {e}")))?;
    let answer = peer.answer(offer).map_err(|e| {
        let status = match e {
            PeerError::Socket(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        error_response(status, &short(&e.to_string()))
    })?;
    if !shared
        .lock()
        .agent_truth
        .admit(shared.model.agent.max_sessions)
    {
        let why = "over capacity: max_sessions agent sessions are open";
        return Err(error_response(StatusCode::SERVICE_UNAVAILABLE, why));
    }
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let admitted = Admitted {
        shared: Arc::clone(shared),
        id,
    };
    let hang_up = shared.shutdown.child_token();
    shared.rtc.calls().insert(id, hang_up.clone());
    let call = Call::new(Arc::clone(shared), id, signal, reply, accepted);
    tokio::spawn(call.run(peer, hang_up, admitted));
    Ok((id, answer))
}

/// At most a line of a parser's message: a reason, not a dump of the offer.
fn short(why: &str) -> String {
    const MAX: usize = 200;
    let line = why.lines().next().unwrap_or_default();
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}
