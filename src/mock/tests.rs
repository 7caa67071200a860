//! End-to-end tests of the mock over loopback, with a tiny raw HTTP/1.1
//! client that timestamps every chunk as it arrives.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::*;
use crate::timing_tests::{on_schedule, on_schedule_us, LATE};

/// A response as seen by the client.
#[derive(Debug)]
pub(super) struct Resp {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
    /// When the request was written.
    pub(super) sent: Instant,
    /// Arrival time of each body chunk (chunked encoding), offset from `sent`.
    pub(super) chunk_at: Vec<Duration>,
    /// The body ended properly (terminating chunk or full Content-Length).
    pub(super) complete: bool,
}

impl Resp {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn header_num(&self, name: &str) -> usize {
        self.header(name).unwrap().parse().unwrap()
    }
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn find(buf: &[u8], pat: &[u8]) -> Option<usize> {
    buf.windows(pat.len()).position(|w| w == pat)
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Resp {
    request(addr, method, path, "application/json", body.as_bytes()).await
}

/// Send one request with any body; `Resp` timestamps are from just before sending.
pub(super) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: mock\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut req = head.into_bytes();
    req.extend_from_slice(body);
    let sent = Instant::now();
    s.write_all(&req).await.unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    // Headers.
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut tmp).await.unwrap();
        assert!(n > 0, "EOF before headers");
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
        sent,
        chunk_at: Vec::new(),
        complete: false,
    };
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"));
    let length: Option<usize> = resp.header("content-length").map(|v| v.parse().unwrap());
    loop {
        if chunked {
            // Decode as many whole chunks as the buffer holds.
            while let Some(line_end) = find(&rest, b"\r\n") {
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16)
                        .unwrap();
                if rest.len() < line_end + 2 + size + 2 {
                    break;
                }
                if size == 0 {
                    resp.complete = true;
                    return resp;
                }
                resp.body
                    .extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
                resp.chunk_at.push(sent.elapsed());
                rest.drain(..line_end + 2 + size + 2);
            }
        } else if let Some(len) = length {
            if rest.len() >= len {
                resp.body = rest[..len].to_vec();
                resp.chunk_at.push(sent.elapsed());
                resp.complete = true;
                return resp;
            }
        }
        let n = s.read(&mut tmp).await.unwrap_or(0);
        if n == 0 {
            if !chunked && length.is_none() {
                resp.body = rest;
                resp.complete = true;
            }
            return resp;
        }
        rest.extend_from_slice(&tmp[..n]);
    }
}

pub(super) async fn speech(addr: SocketAddr, body: serde_json::Value) -> Resp {
    http(addr, "POST", "/v1/audio/speech", &body.to_string()).await
}

fn text(chars: usize) -> String {
    "a".repeat(chars)
}

/// A fast model for tests: small audio buffer, seeded.
fn fast() -> MockModel {
    MockModel {
        max_audio: Duration::from_secs(10),
        overhead: Duration::from_millis(5),
        speed: 50.0,
        seed: Some(1),
        ..MockModel::default()
    }
}

#[tokio::test]
async fn health_answers_ok() {
    let mock = spawn(fast()).await.unwrap();
    let r = http(mock.addr, "GET", "/health", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
}

#[tokio::test]
async fn wav_length_header_and_chunks_are_exact() {
    let mock = spawn(fast()).await.unwrap();
    // 37 chars at 15 chars/s and 24 kHz = 59 200 samples: 25 chunks of 2400 (the last short).
    let r = speech(
        mock.addr,
        serde_json::json!({"model": "m", "voice": "v", "input": text(37)}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.header("content-type"), Some("audio/wav"));
    let samples = (37.0f64 * 24_000.0 / 15.0).round() as usize;
    assert_eq!(r.header_num("x-mock-audio-samples"), samples);
    assert_eq!(r.body.len(), 44 + samples * 2);
    let h = &r.body[..44];
    assert_eq!(&h[0..4], b"RIFF");
    assert_eq!(&h[8..16], b"WAVEfmt ");
    assert_eq!(u32::from_le_bytes(h[24..28].try_into().unwrap()), 24_000);
    assert_eq!(u16::from_le_bytes(h[34..36].try_into().unwrap()), 16);
    assert_eq!(
        u32::from_le_bytes(h[40..44].try_into().unwrap()) as usize,
        samples * 2
    );
    assert_eq!(r.header_num("x-mock-chunks"), 25);
    assert_eq!(
        r.chunk_at.len(),
        25,
        "one HTTP chunk per audio chunk, header in the first"
    );
    let truth = mock.truth().await;
    assert_eq!((truth.requests, truth.ok), (1, 1));
    let rec = &truth.recent[0];
    assert_eq!(
        (rec.audio_samples, rec.chunks, rec.chars),
        (samples, 25, 37)
    );
}

#[tokio::test]
async fn pcm_length_includes_leading_silence_and_tempo() {
    let model = MockModel {
        leading_silence: Duration::from_millis(250),
        ..fast()
    };
    let mock = spawn(model).await.unwrap();
    let r = speech(
        mock.addr,
        serde_json::json!({"input": text(7), "response_format": "pcm", "speed": 2.0}),
    )
    .await;
    // 7 chars / 15 cps / tempo 2 = 0.2333 s = 5600 samples, plus 6000 of silence.
    assert_eq!(r.body.len(), (5_600 + 6_000) * 2);
    assert!(r.body[..12_000].iter().all(|b| *b == 0));
    assert!(r.body[12_000..].iter().any(|b| *b != 0));
}

#[tokio::test]
async fn chunks_arrive_on_the_model_schedule() {
    let model = MockModel {
        overhead: Duration::from_millis(50),
        speed: 4.0,
        seed: Some(1),
        max_audio: Duration::from_secs(5),
        ..MockModel::default()
    };
    let mock = spawn(model).await.unwrap();
    // 15 chars = 1 s of audio = 10 chunks of 100 ms, each 25 ms apart after a 50 ms lead.
    let r = speech(
        mock.addr,
        serde_json::json!({"input": text(15), "response_format": "pcm"}),
    )
    .await;
    assert_eq!(r.chunk_at.len(), 10);
    // Never early, late by at most LATE: since deadlines are absolute the
    // lateness does not accumulate.
    for (i, at) in r.chunk_at.iter().enumerate() {
        let due = Duration::from_millis(50 + 25 * (i as u64 + 1));
        on_schedule(*at, due, LATE, &format!("chunk {i}"));
    }
    // The server's record, from admission (`queue_wait_us` after `t0`).
    let rec = &mock.truth().await.recent[0];
    let first = rec.first_audio_us.unwrap();
    let admitted = rec.queue_wait_us;
    on_schedule_us(first, admitted, Duration::from_millis(75), LATE, "first");
    let client_first = r.chunk_at[0].as_micros() as u64;
    assert!(
        client_first >= first,
        "client TTFA {client_first} µs < server {first} µs"
    );
    let last = rec.last_audio_us.unwrap();
    on_schedule_us(last, admitted, Duration::from_millis(300), LATE, "last");
}

#[tokio::test]
async fn full_slots_and_queue_answer_503_at_once() {
    let model = MockModel {
        slots: 1,
        queue: 0,
        speed: 4.0,
        ..fast()
    };
    let mock = spawn(model).await.unwrap();
    let addr = mock.addr;
    let first =
        tokio::spawn(async move { speech(addr, serde_json::json!({"input": text(15)})).await });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let t = Instant::now();
    let second = speech(addr, serde_json::json!({"input": text(15)})).await;
    assert_eq!(second.status, 503);
    // At once (a connect and one exchange), not when the slot frees ~225 ms on.
    on_schedule(t.elapsed(), Duration::ZERO, 2 * LATE, "503");
    assert_eq!(second.json()["error"]["message"], "queue full");
    assert_eq!(first.await.unwrap().status, 200);
    let truth = mock.truth().await;
    assert_eq!((truth.requests, truth.ok, truth.rejected_503), (2, 1, 1));
    assert_eq!(truth.max_in_flight, 2);
    assert_eq!(truth.in_flight_now, 0);
}

#[tokio::test]
async fn queued_requests_count_in_flight_and_wait() {
    let model = MockModel {
        slots: 2,
        queue: 10,
        ..fast()
    };
    let mock = spawn(model).await.unwrap();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let addr = mock.addr;
            tokio::spawn(async move { speech(addr, serde_json::json!({"input": text(15)})).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().status, 200);
    }
    let truth = mock.truth().await;
    assert_eq!(truth.max_in_flight, 5);
    let waited = truth
        .recent
        .iter()
        .filter(|r| r.queue_wait_us > 10_000)
        .count();
    assert!(
        waited >= 3,
        "{:?}",
        truth
            .recent
            .iter()
            .map(|r| r.queue_wait_us)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn faults_are_applied_and_counted() {
    let body = serde_json::json!({"input": text(30), "response_format": "pcm"});
    let full = 48_000 * 2;
    for (kind, check) in [
        ("reset", 0),
        ("truncate", 1),
        ("error_429", 2),
        ("error_5xx", 3),
        ("stall", 4),
    ] {
        let mut model = MockModel {
            faults: Faults {
                stall_duration: Duration::from_millis(100),
                ..Faults::default()
            },
            ..fast()
        };
        match kind {
            "reset" => model.faults.reset = 1.0,
            "truncate" => model.faults.truncate = 1.0,
            "error_429" => model.faults.error_429 = 1.0,
            "error_5xx" => model.faults.error_5xx = 1.0,
            _ => model.faults.stall = 1.0,
        }
        let mock = spawn(model).await.unwrap();
        let r = speech(mock.addr, body.clone()).await;
        match check {
            0 => {
                assert_eq!(r.status, 200);
                assert!(!r.complete, "reset must not end the body cleanly");
                assert!(r.body.len() <= full / 2);
            }
            1 => {
                assert!(r.complete);
                assert_eq!(r.body.len(), full / 2);
            }
            2 => {
                assert_eq!(r.status, 429);
                assert_eq!(r.header("retry-after"), Some("1"));
            }
            3 => assert_eq!(r.status, 500),
            _ => {
                assert!(r.complete);
                assert_eq!(r.body.len(), full);
                // 20 chunks of 2 ms after 5 ms; from the 11th on, 100 ms later.
                assert_eq!(r.chunk_at.len(), 20);
                for (i, at) in r.chunk_at.iter().enumerate() {
                    let stall = if i >= 10 { 100 } else { 0 };
                    let due = Duration::from_millis(5 + 2 * (i as u64 + 1) + stall);
                    on_schedule(*at, due, LATE, &format!("chunk {i}"));
                }
            }
        }
        let truth = mock.truth().await;
        let counted: Vec<_> = truth.faults.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        assert_eq!(counted, vec![(kind, 1)], "{kind}");
        assert_eq!(truth.recent[0].fault.map(FaultKind::as_str), Some(kind));
        if kind == "stall" {
            assert_eq!(truth.recent[0].stall_us, 100_000);
        }
    }
}

#[tokio::test]
async fn sse_and_ndjson_bodies_parse() {
    let mock = spawn(fast()).await.unwrap();
    let r = speech(
        mock.addr,
        serde_json::json!({"input": text(15), "stream_format": "sse"}),
    )
    .await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let sse = String::from_utf8(r.body.clone()).unwrap();
    let events: Vec<serde_json::Value> = sse
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert_eq!(events.len(), 11);
    let b64 = base64::engine::general_purpose::STANDARD;
    let pcm: usize = events[..10]
        .iter()
        .map(|e| {
            assert_eq!(e["type"], "speech.audio.delta");
            b64.decode(e["audio"].as_str().unwrap()).unwrap().len()
        })
        .sum();
    assert_eq!(pcm, 24_000 * 2, "raw PCM, no WAV header, in SSE");
    assert_eq!(events[10]["type"], "speech.audio.done");
    assert_eq!(events[10]["usage"]["input_tokens"], 15);

    let r = speech(
        mock.addr,
        serde_json::json!({"input": text(15), "stream_format": "ndjson"}),
    )
    .await;
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<serde_json::Value> = String::from_utf8(r.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 11);
    assert_eq!(lines[10], serde_json::json!({"done": true}));
}

#[tokio::test]
async fn buffered_server_sends_everything_at_the_end() {
    let model = MockModel {
        streaming: false,
        overhead: Duration::from_millis(20),
        speed: 10.0,
        ..fast()
    };
    let mock = spawn(model).await.unwrap();
    let r = speech(mock.addr, serde_json::json!({"input": text(15)})).await;
    assert_eq!(r.header_num("content-length"), 44 + 48_000);
    assert_eq!(r.header_num("x-mock-chunks"), 1);
    assert!(r.chunk_at[0] >= Duration::from_millis(120));
    let rec = &mock.truth().await.recent[0];
    assert_eq!(rec.first_audio_us, rec.last_audio_us);
    assert!(rec.first_audio_us.unwrap() >= 120_000);
}

#[tokio::test]
async fn global_stall_pauses_responses_in_flight() {
    let model = MockModel {
        overhead: Duration::from_millis(10),
        speed: 4.0,
        ..fast()
    };
    let mock = spawn(model).await.unwrap();
    let addr = mock.addr;
    let req =
        tokio::spawn(async move { speech(addr, serde_json::json!({"input": text(15)})).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = http(addr, "POST", "/mock/stall?ms=200", "").await;
    assert_eq!(r.status, 200);
    let r = req.await.unwrap();
    // Unstalled the last chunk is due at 10 + 250 ms; the stall adds 200 ms.
    let last = *r.chunk_at.last().unwrap();
    on_schedule(last, Duration::from_millis(460), LATE, "last chunk");
    // A pause mid-stream: every chunk due after the stall began waited
    // 200 ms more, so a gap that long follows the last chunk due before it
    // (however late that one came, up to LATE).
    let gap = r.chunk_at.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(gap + LATE >= Duration::from_millis(200), "{:?}", r.chunk_at);
    let stall = mock.truth().await.recent[0].stall_us;
    assert!((199_000..=201_000).contains(&stall), "{stall}");
}

#[tokio::test]
async fn model_stall_window_delays_first_audio() {
    let stall_all = Some(StallWindow {
        start: Duration::ZERO,
        duration: Duration::from_millis(150),
    });
    let mock = spawn(MockModel {
        stall_all,
        ..fast()
    })
    .await
    .unwrap();
    let r = speech(mock.addr, serde_json::json!({"input": text(3)})).await;
    // The request is admitted some ms into the window, after it was sent,
    // and is paused for the rest: its audio comes after the window.
    let window_end = mock.shared.started + Duration::from_millis(150);
    assert!(r.sent + r.chunk_at[0] >= window_end, "{r:?}");
    let stall = mock.truth().await.recent[0].stall_us;
    let rest = window_end.saturating_duration_since(r.sent);
    assert!(
        stall > 0 && stall <= micros(rest),
        "{stall} µs, {rest:?} left"
    );
}

#[tokio::test]
async fn cold_start_is_paid_once_then_warm() {
    let model = MockModel {
        cold_start: Duration::from_millis(300),
        idle_before_cold: Some(Duration::from_secs(10)),
        ..fast()
    };
    let mock = spawn(model).await.unwrap();
    let health = || async { http(mock.addr, "GET", "/health", "").await };
    // Not loaded before the first request: the health URL says so.
    let r = health().await;
    assert_eq!((r.status, r.json()["status"].clone()), (503, "cold".into()));
    let first = {
        let addr = mock.addr;
        tokio::spawn(async move { speech(addr, serde_json::json!({"input": text(3)})).await })
    };
    tokio::time::sleep(Duration::from_millis(40)).await;
    let r = health().await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (503, "loading".into())
    );
    first.await.unwrap();
    assert_eq!(health().await.status, 200);
    speech(mock.addr, serde_json::json!({"input": text(3)})).await;
    let truth = mock.truth().await;
    assert_eq!(truth.recent[0].cold_start_us, 300_000);
    assert!(truth.recent[0].first_audio_us.unwrap() >= 305_000);
    assert_eq!(truth.recent[1].cold_start_us, 0);
}

#[tokio::test]
async fn bad_requests_get_openai_errors() {
    let mock = spawn(fast()).await.unwrap();
    for body in [
        serde_json::json!({"input": "hi", "response_format": "mp3"}),
        serde_json::json!({"input": ""}),
        serde_json::json!({"voice": "x"}),
        serde_json::json!({"input": "hi", "stream_format": "carrier-pigeon"}),
    ] {
        let r = speech(mock.addr, body).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    }
    let r = http(mock.addr, "POST", "/v1/audio/speech", "{not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(mock.truth().await.bad_request, 5);
}

#[tokio::test]
async fn truth_over_http_and_reset() {
    let mock = spawn(fast()).await.unwrap();
    speech(mock.addr, serde_json::json!({"input": text(5)})).await;
    let t = http(mock.addr, "GET", "/mock/truth", "").await.json();
    assert_eq!(t["requests"], 1);
    assert_eq!(t["model"]["chunk"], "100ms");
    assert_eq!(t["recent"][0]["audio_samples"], 8_000);
    assert_eq!(
        http(mock.addr, "POST", "/mock/reset-truth", "")
            .await
            .status,
        200
    );
    let t = mock.truth().await;
    assert_eq!((t.requests, t.recent.len()), (0, 0));
    assert_eq!(http(mock.addr, "POST", "/mock/stall", "").await.status, 400);
}

#[tokio::test]
async fn serve_stops_on_cancel() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token = CancellationToken::new();
    let task = tokio::spawn(serve(listener, fast(), token.clone()));
    token.cancel();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let bad = MockModel { slots: 0, ..fast() };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = serve(listener, bad, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--slots"));
}

#[tokio::test]
async fn client_leaving_mid_stream_frees_the_slot() {
    let model = MockModel {
        speed: 2.0,
        ..fast()
    };
    let mock = spawn(model).await.unwrap();
    let mut s = TcpStream::connect(mock.addr).await.unwrap();
    let body = serde_json::json!({"input": text(30)}).to_string();
    let req = format!(
        "POST /v1/audio/speech HTTP/1.1\r\nHost: mock\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut tmp = [0u8; 1024];
    assert!(s.read(&mut tmp).await.unwrap() > 0);
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let t = mock.truth().await;
        if t.client_aborted == 1 {
            assert_eq!(t.in_flight_now, 0);
            assert!(t.recent[0].client_aborted);
            break;
        }
        assert!(Instant::now() < deadline, "abort not noticed: {t:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn fault_names_match_in_json() {
    for kind in [FaultKind::Error5xx, FaultKind::Error429, FaultKind::Reset] {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
    }
}
