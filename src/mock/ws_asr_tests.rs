//! WebSocket streaming ASR tests over loopback, with a blocking tungstenite
//! client (the async client's `Stream`/`Sink` traits need `futures-util`,
//! which is not a dependency).

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

use super::asr_tests::{model, pcm_bytes};
use super::*;
use crate::timing_tests::{on_schedule_us, LATE};

type Ws = tungstenite::WebSocket<std::net::TcpStream>;

/// A blocking client: run it in `spawn_blocking`.
pub(super) fn ws_connect(addr: SocketAddr, query: &str) -> Result<Ws, tungstenite::Error> {
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    let url = format!("ws://{addr}/v1/realtime/transcribe{query}");
    tungstenite::client(url, tcp)
        .map(|(ws, _)| ws)
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake interrupted"),
        })
}

/// What a client saw after sending its audio.
#[derive(Debug, Default)]
struct Seen {
    messages: Vec<serde_json::Value>,
    close_code: Option<u16>,
    error: Option<String>,
}

/// Read until the connection ends.
fn read_all(ws: &mut Ws) -> Seen {
    let mut seen = Seen::default();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => seen.messages.push(serde_json::from_str(&t).unwrap()),
            Ok(Message::Close(f)) => seen.close_code = f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return seen
            }
            Err(e) => {
                seen.error = Some(e.to_string());
                return seen;
            }
        }
    }
}

/// Send `pcm` (16-bit mono at 16 kHz) as 20 ms binary frames, paced at real
/// time from absolute deadlines when `paced`, then `end`.
fn stream(ws: &mut Ws, pcm: &[u8], paced: bool) {
    let start = std::time::Instant::now();
    for (i, frame) in pcm.chunks(640).enumerate() {
        if paced {
            let due = start + Duration::from_millis(20 * i as u64);
            std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        }
        ws.send(Message::binary(frame.to_vec())).unwrap();
    }
    ws.send(Message::text(r#"{"type":"end"}"#)).unwrap();
}

/// 100 ms of silence then `text`, as 16 kHz PCM16 bytes.
fn utterance(text: &str) -> Vec<u8> {
    let mut pcm = vec![0i16; 1_600];
    pcm.extend(Voice::new(16_000, 15.0).render(text));
    pcm_bytes(&pcm)
}

async fn session_truth(mock: &MockHandle) -> WsSessionTruth {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(s) = mock.truth().await.asr.ws_recent.first() {
            return s.clone();
        }
        assert!(Instant::now() < deadline, "session never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn ws_session_streams_partials_then_the_final() {
    let mock = spawn(model()).await.unwrap();
    let addr = mock.addr;
    let pcm = utterance("Hello world");
    let samples = pcm.len() as u64 / 2;
    let seen = tokio::task::spawn_blocking(move || {
        let mut ws = ws_connect(addr, "").unwrap();
        let start = r#"{"type":"start","sample_rate":16000,"language":"en"}"#;
        ws.send(Message::text(start)).unwrap();
        stream(&mut ws, &pcm, true);
        read_all(&mut ws)
    })
    .await
    .unwrap();
    // 833 ms of audio: partials at 200, 400, 600 and 800 ms, then the final.
    let kinds: Vec<_> = seen
        .messages
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["partial", "partial", "partial", "partial", "final"],
        "{seen:?}"
    );
    assert_eq!(seen.messages[4]["text"], "hello world");
    let last_partial = seen.messages[3]["text"].as_str().unwrap();
    assert!("hello world".starts_with(last_partial) && last_partial.len() >= 8);
    assert_eq!((seen.close_code, seen.error), (Some(1000), None));
    let s = session_truth(&mock).await;
    assert_eq!(
        (s.frames, s.partials, s.words, s.substituted),
        (42, 4, 2, 0)
    );
    assert_eq!(s.audio_us, samples * 1_000_000 / 16_000);
    assert_eq!(s.end, WsEnd::Final);
    // 200 ms of audio is in after the 10th frame (due 180 ms after the
    // first), + 50 ms lag: counted from the first frame's arrival, which
    // may itself be late, so the figure may shrink by as much as it grows.
    let first = Duration::from_micros(s.first_partial_us.unwrap());
    let due = Duration::from_millis(230);
    assert!(first.abs_diff(due) <= LATE, "first partial {first:?}");
    let fin = s.final_us.unwrap();
    on_schedule_us(fin, 0, Duration::from_millis(100), LATE, "final");
    // 20 ms frames: the largest gap is at least the mean (≥ 15 ms even if
    // the first frame came LATE), at most a frame plus one late frame.
    let gap = Duration::from_micros(s.max_frame_gap_us);
    let frame = Duration::from_millis(20);
    assert!(
        gap >= Duration::from_millis(15) && gap <= frame + LATE,
        "{gap:?}"
    );
}

#[tokio::test]
async fn ws_json_audio_at_the_query_rate() {
    let mock = spawn(model()).await.unwrap();
    let addr = mock.addr;
    let pcm = pcm_bytes(&Voice::new(24_000, 15.0).render("json, too"));
    let seen = tokio::task::spawn_blocking(move || {
        let mut ws = ws_connect(addr, "?sample_rate=24000").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        for chunk in pcm.chunks(4_801) {
            let msg = serde_json::json!({"type": "audio", "audio": b64.encode(chunk)});
            ws.send(Message::text(msg.to_string())).unwrap();
        }
        ws.send(Message::text(r#"{"type":"nonsense"}"#)).unwrap();
        ws.send(Message::text(r#"{"type":"end"}"#)).unwrap();
        read_all(&mut ws)
    })
    .await
    .unwrap();
    let last = seen.messages.last().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["text"].as_str()),
        (Some("final"), Some("json, too"))
    );
    assert!(seen.messages.iter().any(|m| m["type"] == "error"));
    assert_eq!(session_truth(&mock).await.sample_rate, 24_000);
}

#[tokio::test]
async fn ws_faults_abrupt_close_and_never_answer() {
    let mut m = model();
    m.asr.faults.ws_abrupt_close = 1.0;
    let mock = spawn(m).await.unwrap();
    let addr = mock.addr;
    let seen = tokio::task::spawn_blocking(move || {
        let mut ws = ws_connect(addr, "").unwrap();
        stream(&mut ws, &utterance("cut short"), false);
        read_all(&mut ws)
    })
    .await
    .unwrap();
    assert_eq!(seen.close_code, None, "{seen:?}");
    assert!(
        seen.error.is_some(),
        "an abrupt close is an error: {seen:?}"
    );
    assert!(seen.messages.iter().all(|m| m["type"] == "partial"));
    let s = session_truth(&mock).await;
    assert_eq!(
        (s.end, s.fault),
        (WsEnd::AbruptClose, Some(AsrFaultKind::WsAbruptClose))
    );

    let mut m = model();
    m.asr.faults.ws_never_answer = 1.0;
    let mock = spawn(m).await.unwrap();
    let addr = mock.addr;
    let (quiet, after_close) = tokio::task::spawn_blocking(move || {
        let mut ws = ws_connect(addr, "").unwrap();
        stream(&mut ws, &utterance("anyone there"), false);
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let quiet = ws.read();
        ws.close(None).unwrap();
        (quiet, read_all(&mut ws))
    })
    .await
    .unwrap();
    match quiet {
        Err(tungstenite::Error::Io(e)) => assert!(matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        other => panic!("expected silence, got {other:?}"),
    }
    assert!(after_close.messages.is_empty(), "{after_close:?}");
    let s = session_truth(&mock).await;
    assert_eq!(
        (s.end, s.partials, s.final_us),
        (WsEnd::ClientClosed, 0, None)
    );
    assert_eq!(
        mock.truth().await.asr.faults[&AsrFaultKind::WsNeverAnswer],
        1
    );
}
