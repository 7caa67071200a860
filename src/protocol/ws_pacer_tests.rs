//! The pacer against real WebSocket servers: tungstenite on the far end of
//! an in-memory pipe (frames written by the session's task) and over
//! loopback TCP (frames written by the pacer thread).

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use std::task::Poll;

use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::player::put_message;
use super::*;
use crate::protocol::ws::{
    connect, FrameAt, FrameEncoding, HandOff, SessionIo, DEFAULT_MAX_MESSAGE,
};
use crate::timing_tests::{on_schedule_at, LATE};

/// Test pipes have no descriptor to hand off: frames go from the task.
impl HandOff for DuplexStream {
    fn hand_off(&mut self) -> Option<std::net::TcpStream> {
        None
    }
    fn take_back(&mut self) {}
}

const FRAME: Duration = Duration::from_millis(20);
const FRAME_BYTES: usize = 640;

/// What the server saw: each message with its arrival time.
type Heard = Vec<(Instant, Message)>;

/// Serve one WebSocket: record messages, run `script` alongside (it may
/// send), stop at a close or the end of the connection.
async fn serve<S, F>(mut ws: WebSocketStream<S>, script: F) -> Heard
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    F: std::future::Future<Output = Vec<Message>>,
{
    tokio::pin!(script);
    let (mut heard, mut scripted) = (Vec::new(), false);
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(m)) => {
                    let close = m.is_close();
                    heard.push((Instant::now(), m));
                    if close {
                        return heard;
                    }
                }
                _ => return heard,
            },
            out = &mut script, if !scripted => {
                scripted = true;
                for m in out {
                    ws.send(m).await.expect("server send");
                }
            }
        }
    }
}

async fn pipe(pacer: &Pacer) -> (PacedWs<DuplexStream>, WebSocketStream<DuplexStream>) {
    let (near, far) = tokio::io::duplex(64 * 1024);
    let client = WebSocketStream::from_raw_socket(near, Role::Client, None).await;
    let server = WebSocketStream::from_raw_socket(far, Role::Server, None).await;
    let ws = PacedWs::new(client, pacer, &FrameEncoding::Binary, FRAME_BYTES, FRAME);
    (ws, server)
}

/// A loopback server; the client side is `ws::connect`'s, so the pacer
/// thread writes its frames.
async fn tcp(
    pacer: &Pacer,
) -> (
    PacedWs<MaybeTlsStream<SessionIo>>,
    WebSocketStream<tokio::net::TcpStream>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("ws://{}/", listener.local_addr().expect("addr"));
    let accept = async {
        let (sock, _) = listener.accept().await.expect("accept");
        tokio_tungstenite::accept_async(sock)
            .await
            .expect("handshake")
    };
    let (client, server) = tokio::join!(connect(&url, &[], DEFAULT_MAX_MESSAGE), accept);
    let ws = PacedWs::new(
        client.expect("connect"),
        pacer,
        &FrameEncoding::Binary,
        FRAME_BYTES,
        FRAME,
    );
    (ws, server)
}

fn speech(frames: usize, byte: u8) -> Bytes {
    Bytes::from(vec![byte; FRAME_BYTES * frames])
}

fn binary(heard: &Heard) -> Vec<(Instant, Bytes)> {
    heard
        .iter()
        .filter_map(|(at, m)| match m {
            Message::Binary(b) => Some((*at, b.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn frames_decode_as_the_messages_they_carry() {
    let (near, far) = tokio::io::duplex(1 << 20);
    let server = WebSocketStream::from_raw_socket(far, Role::Server, None).await;
    let lens = [0usize, 5, 125, 126, 640, 65_535, 65_536, 70_000];
    let json = FrameEncoding::Json {
        template: r#"{"a":"{{audio}}","b":"{{audio}}"}"#.into(),
    };
    let mut wire = Vec::new();
    for (i, &n) in lens.iter().enumerate() {
        let pcm: Vec<u8> = (0..n).map(|k| (k * 7 + i) as u8).collect();
        FrameEncoding::Binary.encoder().put(
            &mut wire,
            &pcm,
            [1, 2, 3, 4 + i as u8],
            FrameAt::default(),
        );
    }
    json.encoder()
        .put(&mut wire, &[1, 2, 3, 4], [9, 8, 7, 6], FrameAt::default());
    // A telephony media template numbers its frames.
    let twilio = FrameEncoding::Json {
        template: r#"{"seq":"{{chunk+1}}","chunk":"{{chunk}}","ts":"{{timestamp}}","p":"{{audio}}","x":"{{other}}"}"#.into(),
    };
    let at = FrameAt { number: 3, ms: 40 };
    twilio
        .encoder()
        .put(&mut wire, &[1, 2, 3, 4], [4, 3, 2, 1], at);
    put_message(&mut wire, &Message::Ping(Bytes::from_static(b"hi")), [5; 4]);
    let close = CloseFrame {
        code: CloseCode::Normal,
        reason: "done".into(),
    };
    put_message(
        &mut wire,
        &Message::Close(Some(close.clone())),
        [0, 0, 0, 1],
    );
    let writer = async move {
        use tokio::io::AsyncWriteExt;
        let mut near = near;
        near.write_all(&wire).await.expect("write");
        near
    };
    let (heard, _near) = tokio::join!(serve(server, async { vec![] }), writer);
    let got: Vec<Message> = heard.into_iter().map(|(_, m)| m).collect();
    assert_eq!(got.len(), lens.len() + 4, "{got:?}");
    for (i, &n) in lens.iter().enumerate() {
        let pcm: Vec<u8> = (0..n).map(|k| (k * 7 + i) as u8).collect();
        assert_eq!(got[i], Message::binary(pcm), "length {n}");
    }
    assert_eq!(
        got[lens.len()],
        Message::text(r#"{"a":"AQIDBA==","b":"AQIDBA=="}"#)
    );
    assert_eq!(
        got[lens.len() + 1],
        Message::text(r#"{"seq":"4","chunk":"3","ts":"40","p":"AQIDBA==","x":"{{other}}"}"#)
    );
    assert_eq!(
        got[lens.len() + 2],
        Message::Ping(Bytes::from_static(b"hi"))
    );
    assert_eq!(got[lens.len() + 3], Message::Close(Some(close)));
}

/// A frame's lateness, µs, as a duration.
fn lag(lags: &[u32], k: usize) -> Duration {
    Duration::from_micros(u64::from(lags[k]))
}

/// Play 10 frames then an end message; the server sees them in order at
/// 20 ms spacing, and the session hears about it once.
async fn plays_on_deadlines<T>(
    mut ws: PacedWs<T>,
    server: WebSocketStream<
        impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    >,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + HandOff + Unpin,
{
    let server = tokio::spawn(serve(server, async { vec![] }));
    let pcm: Bytes = (0..FRAME_BYTES * 10)
        .map(|i| (i / 7) as u8)
        .collect::<Vec<_>>()
        .into();
    let asked = Instant::now();
    ws.play(Track::once(pcm.clone()).then(Message::text("end")));
    let played = match ws.next_event().await.expect("event") {
        WsEvent::Played(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(played.frames, 10);
    let lags = ws.take_lags();
    assert_eq!(lags.len(), 10);
    // A frame left when it was due plus its lateness: the deadlines read
    // back are 20 ms apart to the µs however late the frames left, and the
    // clock started on the grid within a frame of `play`.
    let origin = played.first.expect("first") - lag(&lags, 0);
    let last_due = played.last.expect("last") - lag(&lags, 9);
    let span = last_due.duration_since(origin);
    assert!(
        span.abs_diff(FRAME * 9) <= Duration::from_micros(2),
        "{span:?}"
    );
    on_schedule_at(origin, asked, Duration::ZERO, FRAME + GRID + LATE, "origin");
    assert!(
        lags.iter().all(|&l| u128::from(l) <= LATE.as_micros()),
        "{lags:?}"
    );
    ws.close(None).await.expect("close");
    let heard = server.await.expect("server");
    let frames = binary(&heard);
    let audio: Vec<u8> = frames.iter().flat_map(|(_, b)| b.to_vec()).collect();
    assert_eq!(audio, pcm.to_vec());
    assert_eq!(heard[10].1, Message::text("end"));
    // The server's own clock: frame k arrives at its deadline or after.
    for (k, (at, _)) in frames.iter().enumerate() {
        let due = FRAME * k as u32;
        on_schedule_at(*at, origin, due, LATE, &format!("frame {k} at the server"));
    }
}

#[tokio::test]
async fn frames_leave_on_deadlines_from_the_task() {
    let (ws, server) = pipe(&Pacer::new()).await;
    plays_on_deadlines(ws, server).await;
}

#[tokio::test]
async fn frames_leave_on_deadlines_with_the_tokio_timer() {
    let (ws, server) = pipe(&Pacer::tokio_timer()).await;
    plays_on_deadlines(ws, server).await;
}

#[tokio::test]
async fn frames_leave_on_deadlines_from_the_pacer_thread() {
    let pacer = Pacer::new();
    let (ws, server) = tcp(&pacer).await;
    assert!(ws.handed_off, "plain TCP is written by the pacer thread");
    plays_on_deadlines(ws, server).await;
}

#[tokio::test]
async fn clocks_start_on_the_grid() {
    let pacer = Pacer::new();
    let t = Instant::now() + Duration::from_micros(300);
    let a = pacer.align(t);
    assert!(a >= t && a - t < GRID);
    assert_eq!(pacer.align(a), a);
    assert_eq!(Pacer::tokio_timer().align(t), t);
}

#[tokio::test]
async fn wake_ups_are_never_early() {
    let pacer = Pacer::new();
    let start = Instant::now();
    let mut woken = Vec::new();
    for ms in [7u64, 3, 11, 3, 0] {
        let at = start + Duration::from_millis(ms);
        let mut armed = false;
        std::future::poll_fn(|cx| {
            if armed {
                // Only the pacer wakes this task: it must not be early.
                assert!(Instant::now() >= at, "woken early");
                return Poll::Ready(());
            }
            armed = pacer.wake_at(at, cx.waker());
            Poll::Pending
        })
        .await;
        woken.push(Instant::now() - at);
    }
    assert!(woken.iter().all(|late| *late <= LATE), "{woken:?}");
}

/// A message arriving mid-track is reported at once, and a new track
/// started in reaction takes the very next slot: a barge-in.
async fn barges_in<T>(
    mut ws: PacedWs<T>,
    server: WebSocketStream<
        impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    >,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + HandOff + Unpin,
{
    let began = Instant::now();
    let server = tokio::spawn(serve(server, async {
        tokio::time::sleep(Duration::from_millis(110)).await;
        vec![Message::text("your turn")]
    }));
    ws.play(Track::looped(speech(1, 1)));
    let heard_at = match ws.next_event().await.expect("event") {
        WsEvent::Message(m) if m == Message::text("your turn") => Instant::now(),
        other => panic!("{other:?}"),
    };
    // Sent 110 ms after the server began, read at once.
    let ms = Duration::from_millis;
    on_schedule_at(heard_at, began, ms(110), LATE, "message read");
    let noise = ws
        .play(Track::once(speech(3, 2)))
        .expect("noise was playing");
    let switched = Instant::now();
    // Slots 0, 1, … from within a frame of `began`: never one before it
    // was due, and those due a LATE before the message all left.
    let due_by = |t: Instant| (t.duration_since(began).as_millis() / 20) as u64;
    let (least, most) = (due_by(heard_at - LATE - FRAME - GRID), due_by(switched) + 1);
    assert!((least..=most).contains(&noise.frames), "{noise:?}");
    let speech_first = match ws.next_event().await.expect("event") {
        WsEvent::Played(p) => {
            assert_eq!(p.frames, 3);
            p.first.expect("first")
        }
        other => panic!("{other:?}"),
    };
    // The speech takes the next slot: due within a frame of the switch.
    let lags = ws.take_lags();
    let sent = lags.len();
    assert_eq!(sent as u64, noise.frames + 3, "{lags:?}");
    let origin = noise.first.expect("noise") - lag(&lags, 0);
    let speech_due = speech_first - lag(&lags, sent - 3);
    assert!(
        speech_due <= switched + FRAME,
        "{:?}",
        speech_due - switched
    );
    ws.close(None).await.expect("close");
    let frames = binary(&server.await.expect("server"));
    let kinds: Vec<u8> = frames.iter().map(|(_, b)| b[0]).collect();
    let switch = kinds.iter().position(|&k| k == 2).expect("speech");
    assert!(kinds[..switch].iter().all(|&k| k == 1), "{kinds:?}");
    assert_eq!(&kinds[switch..], &[2, 2, 2], "{kinds:?}");
    // One clock: frame k, noise or speech, arrives at slot k's deadline or after.
    for (k, (at, _)) in frames.iter().enumerate() {
        let due = FRAME * k as u32;
        on_schedule_at(*at, origin, due, LATE, &format!("frame {k} at the server"));
    }
}

#[tokio::test]
async fn a_barge_in_takes_the_next_slot_from_the_task() {
    let (ws, server) = pipe(&Pacer::new()).await;
    barges_in(ws, server).await;
}

#[tokio::test]
async fn a_barge_in_takes_the_next_slot_from_the_pacer_thread() {
    let (ws, server) = tcp(&Pacer::new()).await;
    barges_in(ws, server).await;
}

#[tokio::test]
async fn a_stalled_reader_delays_frames_without_losing_or_reordering_them() {
    // A pipe that holds two frames: the third waits for the reader.
    let (near, far) = tokio::io::duplex(2 * (FRAME_BYTES + 8));
    let client = WebSocketStream::from_raw_socket(near, Role::Client, None).await;
    let mut server = WebSocketStream::from_raw_socket(far, Role::Server, None).await;
    let mut ws = PacedWs::new(
        client,
        &Pacer::new(),
        &FrameEncoding::Binary,
        FRAME_BYTES,
        FRAME,
    );
    let pcm: Bytes = (0..FRAME_BYTES * 8)
        .map(|i| (i / FRAME_BYTES) as u8)
        .collect::<Vec<_>>()
        .into();
    ws.play(Track::once(pcm));
    let reader = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut got = Vec::new();
        while got.len() < 8 {
            match server.next().await {
                Some(Ok(Message::Binary(b))) => got.push(b[0]),
                other => panic!("{other:?}"),
            }
        }
        got
    };
    let session = async {
        match ws.next_event().await.expect("event") {
            WsEvent::Played(p) => p,
            other => panic!("{other:?}"),
        }
    };
    let (got, played) = tokio::join!(reader, session);
    assert_eq!(got, (0..8).collect::<Vec<u8>>());
    assert_eq!(played.frames, 8);
    let lags = ws.take_lags();
    assert_eq!(lags.len(), 8);
    // Frames 0–1 fit; frame 2 left when the reader made room (~150 ms,
    // due at 40 ms), and the frames after it followed back to back.
    assert!(
        lags[..2].iter().all(|&l| u128::from(l) <= LATE.as_micros()),
        "{lags:?}"
    );
    assert!(lags[2] > 80_000, "{lags:?}");
}

#[tokio::test]
async fn pings_are_answered_when_the_pacer_writes() {
    let (mut ws, mut server) = tcp(&Pacer::new()).await;
    server
        .send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .expect("ping");
    match ws.next_event().await.expect("event") {
        WsEvent::Message(Message::Ping(p)) => assert_eq!(&p[..], b"are you there"),
        other => panic!("{other:?}"),
    }
    // The reply is on its way before the ping is reported.
    match server.next().await {
        Some(Ok(Message::Pong(p))) => assert_eq!(&p[..], b"are you there"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_dropped_session_closes_its_socket_at_once() {
    let (mut ws, mut server) = tcp(&Pacer::new()).await;
    ws.play(Track::looped(speech(1, 1)));
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(ws);
    // The pacer thread's descriptor must not keep the connection open.
    let ended = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match server.next().await {
                Some(Ok(Message::Binary(_))) => continue,
                other => return other,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server still saw an open connection");
}
