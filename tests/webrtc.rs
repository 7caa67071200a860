//! WebRTC calls (issue 17, first layer) against an in-process str0m
//! answerer served over both signalling shapes on 127.0.0.1. The answerer
//! records its truth (every caller packet with its arrival, every reply
//! packet with its deadline), and the caller's log is checked against it
//! and against the absolute 20 ms schedule (never one measured instant
//! against another: `src/timing_tests.rs`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use common::timing::{on_schedule_at, LATE};
use tokio::sync::mpsc;
use voxload::audio::opus::{encode_pcm16, OpusStreamDecoder, FRAME, OPUS_RATE};
use voxload::audio::packets::PacketTrack;
use voxload::audio::voice::{decode_text, Voice};
use voxload::protocol::webrtc::{exchange, hang_up, play, CallLog, Signal, SignalError};
use voxload::protocol::ws_pacer::Pacer;
use voxload::protocol::{ErrorKind, HttpClient};
use voxload::rtc::{Peer, PeerError, PeerEvent};

/// The answerer starts its reply this long after the first caller packet
/// arrived.
const REPLY_DELAY: Duration = Duration::from_millis(200);
/// ICE + DTLS on loopback take a few ms; this bounds a broken set-up.
const CONNECT: Duration = Duration::from_secs(5);
/// Longest an answerer lives.
const AGENT_LIFE: Duration = Duration::from_secs(15);
const CALLER_TEXT: &str = "hello agent";
const REPLY_TEXT: &str = "ok got it";
const CPS: f64 = 15.0;

/// What the answerer saw and did, on the shared clock.
#[derive(Debug, Default)]
struct AgentTruth {
    /// Caller packets as they arrived.
    received: Vec<(Instant, Arc<[u8]>)>,
    /// Deadline and send instant of each reply packet.
    replies: Vec<(Instant, Instant)>,
    error: Option<String>,
}

struct Answerer {
    pacer: Pacer,
    reply: PacketTrack,
    /// Caller packets each call sends (the answerer stops after them).
    expect: usize,
    truth: mpsc::UnboundedSender<AgentTruth>,
    deleted: Mutex<Vec<String>>,
    next_id: Mutex<u32>,
}

impl Answerer {
    /// Answer `offer`, then run the call in its own task.
    async fn answer(self: &Arc<Self>, offer: &str) -> Result<String, PeerError> {
        let mut peer = Peer::loopback()
            .await?
            .timed_by(Arc::new(self.pacer.clone()));
        let sdp = peer.answer(offer)?;
        tokio::spawn(agent(peer, self.clone()));
        Ok(sdp)
    }
}

/// The agent side of one call: echo nothing, but after the first caller
/// packet play the known reply on its own absolute 20 ms schedule,
/// starting [`REPLY_DELAY`] after that packet arrived.
async fn agent(mut peer: Peer, s: Arc<Answerer>) {
    let mut truth = AgentTruth::default();
    let result: Result<(), PeerError> = async {
        peer.connect(CONNECT).await?;
        let give_up = Instant::now() + AGENT_LIFE;
        let mut start: Option<Instant> = None;
        let mut k = 0usize;
        loop {
            let due = start.map(|t| t + FRAME * k as u32);
            let wake = match due {
                Some(d) if k < s.reply.packets.len() => d.min(give_up),
                _ => give_up,
            };
            peer.pump_until(wake, true).await?;
            for e in peer.take_events() {
                if let PeerEvent::Audio { at, data, .. } = e {
                    truth.received.push((at, data));
                    start.get_or_insert(at + REPLY_DELAY);
                }
            }
            if let Some(t) = start {
                while k < s.reply.packets.len() && Instant::now() >= t + FRAME * k as u32 {
                    let due = t + FRAME * k as u32;
                    peer.write_audio(due, k as u64 * 960, &s.reply.packets[k].data)?;
                    truth.replies.push((due, Instant::now()));
                    k += 1;
                }
            }
            let done = k == s.reply.packets.len() && truth.received.len() >= s.expect;
            if done || Instant::now() >= give_up {
                break;
            }
        }
        // Let the last packets drain before the socket goes.
        peer.pump_until(Instant::now() + Duration::from_millis(300), false)
            .await
    }
    .await;
    truth.error = result.err().map(|e| e.to_string());
    let _ = s.truth.send(truth);
}

#[derive(serde::Deserialize)]
struct PipecatOffer {
    sdp: String,
    #[serde(rename = "type")]
    kind: String,
}

async fn pipecat(State(s): State<Arc<Answerer>>, Json(offer): Json<PipecatOffer>) -> Response {
    if offer.kind != "offer" {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match s.answer(&offer.sdp).await {
        Ok(sdp) => {
            Json(serde_json::json!({"sdp": sdp, "type": "answer", "pc_id": "pc-1"})).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn whip(
    State(s): State<Arc<Answerer>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    let sdp_type = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/sdp");
    if !sdp_type {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    match s.answer(&body).await {
        Ok(sdp) => {
            let id = {
                let mut n = s.next_id.lock().expect("lock");
                *n += 1;
                *n
            };
            (
                StatusCode::CREATED,
                [
                    (header::CONTENT_TYPE, "application/sdp".to_string()),
                    (header::LOCATION, format!("/whip/session/{id}")),
                ],
                sdp,
            )
                .into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn whip_delete(State(s): State<Arc<Answerer>>, Path(id): Path<String>) -> StatusCode {
    s.deleted.lock().expect("lock").push(id);
    StatusCode::OK
}

/// A pipecat-shaped answer that is not SDP.
async fn not_sdp() -> Json<serde_json::Value> {
    Json(serde_json::json!({"sdp": "hello", "type": "answer"}))
}

/// A WHIP 201 with SDP but no Location.
async fn no_location() -> Response {
    (StatusCode::CREATED, "v=0\r\n").into_response()
}

/// A server that takes the offer and never answers.
async fn hang() -> StatusCode {
    tokio::time::sleep(Duration::from_secs(60)).await;
    StatusCode::OK
}

struct Server {
    url: String,
    state: Arc<Answerer>,
    truths: mpsc::UnboundedReceiver<AgentTruth>,
    reply_text: String,
}

async fn serve(expect: usize) -> Server {
    let (tx, rx) = mpsc::unbounded_channel();
    let reply = encode_pcm16(&Voice::new(48_000, CPS).render(REPLY_TEXT), 48_000).expect("encode");
    let state = Arc::new(Answerer {
        pacer: Pacer::new(),
        reply,
        expect,
        truth: tx,
        deleted: Mutex::new(Vec::new()),
        next_id: Mutex::new(0),
    });
    let app = Router::new()
        .route("/api/offer", post(pipecat))
        .route("/whip", post(whip))
        .route("/whip/session/{id}", delete(whip_delete))
        .route("/bad/not-sdp", post(not_sdp))
        .route("/bad/no-location", post(no_location))
        .route("/bad/hang", post(hang))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        url,
        state,
        truths: rx,
        reply_text: REPLY_TEXT.to_string(),
    }
}

fn caller_track() -> PacketTrack {
    encode_pcm16(&Voice::new(16_000, CPS).render(CALLER_TEXT), 16_000).expect("encode")
}

/// One whole call over `signal` at `path`, checked against the answerer's
/// truth and the schedule.
async fn call_checks(signal: Signal, path: &str) {
    let track = caller_track();
    let mut server = serve(track.packets.len()).await;
    let client = HttpClient::new(Duration::from_secs(2));
    let pacer = Pacer::new();

    let mut peer = Peer::loopback()
        .await
        .expect("socket")
        .timed_by(Arc::new(pacer.clone()));
    let (offer, pending) = peer.offer(None).expect("offer");
    assert!(offer.contains("opus/48000/2"), "{offer}");
    assert!(offer.contains("a=sendrecv"), "{offer}");
    assert!(
        offer.contains("127.0.0.1"),
        "host candidate on loopback: {offer}"
    );
    let url = format!("{}{path}", server.url);
    let sent_at = Instant::now();
    let answer = exchange(&client, signal, &url, &[], &offer, Duration::from_secs(5))
        .await
        .expect("answer");
    assert!(answer.at >= sent_at);
    peer.accept_answer(pending, &answer.sdp).expect("accept");
    peer.connect(CONNECT).await.expect("connected");
    let times = peer.times();
    let (ice, dtls) = (
        times.ice_connected.expect("ice"),
        times.dtls_connected.expect("dtls"),
    );
    assert!(answer.at <= ice && ice <= dtls, "{times:?}");

    let origin = pacer.align(Instant::now() + Duration::from_millis(20));
    let listen = origin
        + track.duration()
        + REPLY_DELAY
        + server.state.reply.duration()
        + Duration::from_millis(500);
    let mut log = CallLog::default();
    let rtp_end = play(&mut peer, &track.packets, origin, 0, listen, &mut log)
        .await
        .expect("call");
    assert_eq!(rtp_end, track.packets.len() as u64 * 960);
    hang_up(&client, &answer, &url, &[], Duration::from_secs(2))
        .await
        .expect("hang-up");
    peer.close();

    // The caller's packets left on the absolute 20 ms schedule.
    assert_eq!(log.sent.len(), track.packets.len());
    for (k, s) in log.sent.iter().enumerate() {
        assert_eq!(s.deadline, origin + FRAME * k as u32);
        on_schedule_at(s.sent, origin, FRAME * k as u32, LATE, "caller packet sent");
    }

    let truth = tokio::time::timeout(Duration::from_secs(20), server.truths.recv())
        .await
        .expect("the answerer ends")
        .expect("its truth");
    assert_eq!(truth.error, None);
    // Every caller packet arrived, in order, intact, after it left.
    assert_eq!(truth.received.len(), track.packets.len());
    for (k, (at, data)) in truth.received.iter().enumerate() {
        assert_eq!(&data[..], &track.packets[k].data[..], "packet {k}");
        on_schedule_at(
            *at,
            log.sent[k].sent,
            Duration::ZERO,
            LATE,
            "caller packet arrived",
        );
    }
    // The reply: sent on its own schedule, received whole, first packet
    // within LATE of its known send time.
    let reply = &server.state.reply;
    assert_eq!(truth.replies.len(), reply.packets.len());
    let (first_due, _) = truth.replies[0];
    on_schedule_at(
        first_due,
        truth.received[0].0,
        REPLY_DELAY,
        Duration::ZERO,
        "reply start",
    );
    for (k, (due, sent)) in truth.replies.iter().enumerate() {
        on_schedule_at(
            *sent,
            first_due,
            FRAME * k as u32,
            LATE,
            "reply packet sent",
        );
        assert_eq!(*due, first_due + FRAME * k as u32);
    }
    assert_eq!(
        log.received.len(),
        reply.packets.len(),
        "every reply packet"
    );
    on_schedule_at(
        log.received[0].at,
        first_due,
        Duration::ZERO,
        LATE,
        "first reply packet",
    );
    for (k, p) in log.received.iter().enumerate() {
        assert_eq!(&p.data[..], &reply.packets[k].data[..], "reply packet {k}");
        assert_eq!(p.rtp_time - log.received[0].rtp_time, k as u64 * 960);
    }
    // …and it decodes to the known words.
    let mut dec = OpusStreamDecoder::new().expect("decoder");
    let mut pcm = Vec::new();
    for p in &log.received {
        dec.decode(&p.data, &mut pcm).expect("decode");
    }
    let samples: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    assert_eq!(decode_text(&samples, OPUS_RATE, CPS), server.reply_text);

    if signal == Signal::Whip {
        let deleted = server.state.deleted.lock().expect("lock").clone();
        assert_eq!(deleted, vec!["1".to_string()], "the session was DELETEd");
        assert!(answer
            .resource
            .as_deref()
            .is_some_and(|r| r.ends_with("/whip/session/1")));
    } else {
        assert_eq!(answer.pc_id.as_deref(), Some("pc-1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipecat_call_sends_on_schedule_and_hears_the_known_reply() {
    tokio::time::timeout(
        Duration::from_secs(30),
        call_checks(Signal::Pipecat, "/api/offer"),
    )
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whip_call_sends_on_schedule_hears_the_reply_and_deletes_its_session() {
    tokio::time::timeout(Duration::from_secs(30), call_checks(Signal::Whip, "/whip"))
        .await
        .expect("bounded");
}

/// The offer for the error cases (a real one, so only the server is wrong).
async fn an_offer() -> String {
    let mut peer = Peer::loopback().await.expect("socket");
    peer.offer(None).expect("offer").0
}

#[tokio::test]
async fn bad_urls_statuses_and_answers_fail_clearly_and_never_hang() {
    let server = serve(0).await;
    let client = HttpClient::new(Duration::from_secs(1));
    let offer = an_offer().await;
    let go = |signal, url: String| {
        let (client, offer) = (client.clone(), offer.clone());
        async move {
            tokio::time::timeout(
                Duration::from_secs(5),
                exchange(
                    &client,
                    signal,
                    &url,
                    &[],
                    &offer,
                    Duration::from_millis(500),
                ),
            )
            .await
            .expect("bounded by the exchange's own timeout")
        }
    };

    let e = go(Signal::Pipecat, "ftp://127.0.0.1/x".into())
        .await
        .expect_err("bad url");
    assert!(matches!(e, SignalError::BadUrl { .. }), "{e}");

    // Nothing listens on port 1 of loopback.
    let e = go(Signal::Whip, "http://127.0.0.1:1/whip".into())
        .await
        .expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.to_string().contains("http://127.0.0.1:1/whip"), "{e}");

    for signal in [Signal::Pipecat, Signal::Whip] {
        let url = format!("{}/nowhere?token=s3cret", server.url);
        let e = go(signal, url).await.expect_err("404");
        assert!(matches!(e, SignalError::Status { status: 404, .. }), "{e}");
        let shown = e.to_string();
        assert!(
            shown.contains("/nowhere") && shown.contains("HTTP 404"),
            "{shown}"
        );
        assert!(!shown.contains("s3cret"), "the token is redacted: {shown}");
    }

    let e = go(Signal::Pipecat, format!("{}/bad/not-sdp", server.url))
        .await
        .expect_err("not sdp");
    assert!(
        matches!(e, SignalError::BadAnswer { status: 200, .. }),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Decode);

    // Pipecat's answer to WHIP's shape: 200 is not 201.
    let e = go(Signal::Whip, format!("{}/api/offer", server.url))
        .await
        .expect_err("wrong shape");
    assert!(matches!(e, SignalError::Status { .. }), "{e}");

    let e = go(Signal::Whip, format!("{}/bad/no-location", server.url))
        .await
        .expect_err("no location");
    assert!(e.to_string().contains("Location"), "{e}");

    let started = Instant::now();
    let e = go(Signal::Pipecat, format!("{}/bad/hang", server.url))
        .await
        .expect_err("timeout");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    on_schedule_at(
        Instant::now(),
        started,
        Duration::from_millis(500),
        LATE,
        "timeout",
    );
}

#[tokio::test]
async fn an_answer_that_is_not_sdp_or_lacks_opus_is_refused() {
    let mut peer = Peer::loopback().await.expect("socket");
    let (_, pending) = peer.offer(None).expect("offer");
    let e = peer.accept_answer(pending, "hello").expect_err("not sdp");
    assert!(matches!(e, PeerError::BadSdp { what: "answer", .. }), "{e}");

    let mut answerer = Peer::loopback().await.expect("socket");
    let e = answerer.answer("v=0\r\n").expect_err("not an offer");
    assert!(matches!(e, PeerError::BadSdp { what: "offer", .. }), "{e}");
}

#[tokio::test]
async fn a_peer_that_never_answers_ice_times_out() {
    // A real answer, but the answering peer is never driven: ICE cannot
    // complete, and connect gives up at its timeout.
    let mut caller = Peer::loopback().await.expect("socket");
    let (offer, pending) = caller.offer(None).expect("offer");
    let mut silent = Peer::loopback().await.expect("socket");
    let answer = silent.answer(&offer).expect("answer");
    caller.accept_answer(pending, &answer).expect("accept");
    let started = Instant::now();
    let timeout = Duration::from_millis(400);
    let e = caller.connect(timeout).await.expect_err("no ICE");
    assert!(matches!(e, PeerError::ConnectTimeout(..)), "{e}");
    on_schedule_at(Instant::now(), started, timeout, LATE, "ICE timeout");
}
