//! ASR end-to-end tests over loopback: the mock's TTS audio transcribes to
//! its own text, and timing, word errors, admission and WebSocket streaming
//! match the model and the truth.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

use super::tests::{request, speech, Resp};
use super::*;
use crate::timing_tests::{on_schedule, on_schedule_us, LATE};

const TEXT: &str = "The quick brown fox jumps over the lazy dog, twice: 2 times!";

/// Fast TTS and ASR, seeded, with leading silence (which ASR must skip).
pub(super) fn model() -> MockModel {
    MockModel {
        max_audio: Duration::from_secs(30),
        overhead: Duration::from_millis(5),
        speed: 50.0,
        seed: Some(3),
        leading_silence: Duration::from_millis(150),
        asr: AsrModel {
            overhead: Duration::from_millis(5),
            rtfx: 200.0,
            seed: Some(11),
            ..AsrModel::default()
        },
        ..MockModel::default()
    }
}

/// A part: (name, file name, content type, bytes).
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

const BOUNDARY: &str = "voxload-test-boundary";

fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, ctype, bytes) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disp = match file {
            Some(f) => {
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n")
            }
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
        };
        out.extend_from_slice(disp.as_bytes());
        if let Some(c) = ctype {
            out.extend_from_slice(format!("Content-Type: {c}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

async fn transcribe(addr: SocketAddr, parts: &[Part<'_>]) -> Resp {
    let ctype = format!("multipart/form-data; boundary={BOUNDARY}");
    request(
        addr,
        "POST",
        "/v1/audio/transcriptions",
        &ctype,
        &multipart(parts),
    )
    .await
}

async fn raw(addr: SocketAddr, ctype: &str, body: &[u8]) -> Resp {
    request(addr, "POST", "/v1/audio/transcriptions/raw", ctype, body).await
}

async fn tts(addr: SocketAddr, text: &str, format: &str) -> Vec<u8> {
    let r = speech(
        addr,
        serde_json::json!({"input": text, "response_format": format}),
    )
    .await;
    assert_eq!(r.status, 200);
    r.body
}

fn wav_of(rate: u32, pcm: &[i16]) -> Vec<u8> {
    let mut out = crate::audio::wav::header(rate, 1, 16, Some((pcm.len() * 2) as u32)).to_vec();
    pcm.iter()
        .for_each(|s| out.extend_from_slice(&s.to_le_bytes()));
    out
}

pub(super) fn pcm_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// PCM16 bytes at `from` → PCM16 bytes at `to`, by naive linear interpolation.
fn resample_pcm(bytes: &[u8], from: u32, to: u32) -> Vec<u8> {
    let x: Vec<f64> = bytes
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let n = x.len() * to as usize / from as usize;
    let y: Vec<i16> = (0..n)
        .map(|j| {
            let pos = j as f64 * f64::from(from) / f64::from(to);
            let i = pos as usize;
            let b = x.get(i + 1).copied().unwrap_or(x[i]);
            (x[i] + (b - x[i]) * (pos - i as f64)) as i16
        })
        .collect();
    pcm_bytes(&y)
}

#[tokio::test]
async fn tts_audio_transcribes_to_its_exact_text() {
    let mock = spawn(model()).await.unwrap();
    let wav = tts(mock.addr, TEXT, "wav").await;
    let expect = TEXT.to_lowercase();
    let file: Part<'_> = ("file", Some("speech.wav"), Some("audio/wav"), &wav);
    let r = transcribe(mock.addr, &[file, ("model", None, None, b"whisper-1")]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), serde_json::json!({"text": expect}));
    let extra: Part<'_> = ("temperature", None, None, b"0");
    let r = transcribe(
        mock.addr,
        &[
            ("model", None, None, b"m"),
            ("response_format", None, None, b"text"),
            extra,
            file,
        ],
    )
    .await;
    assert_eq!(String::from_utf8(r.body).unwrap(), expect);
    let r = transcribe(
        mock.addr,
        &[
            file,
            ("model", None, None, b"m"),
            ("language", None, None, b"de"),
            ("response_format", None, None, b"verbose_json"),
        ],
    )
    .await;
    let v = r.json();
    assert_eq!(
        (v["text"].as_str(), v["language"].as_str()),
        (Some(&*expect), Some("de"))
    );
    let secs = (TEXT.len() as f64 / 15.0) + 0.15;
    assert!((v["duration"].as_f64().unwrap() - secs).abs() < 1e-3, "{v}");
    // Raw WAV body, and raw PCM resampled 24 kHz → 16 kHz by a careless client.
    let r = raw(mock.addr, "audio/wav", &wav).await;
    assert_eq!(
        r.json(),
        serde_json::json!({"result": {"transcript": expect}})
    );
    let pcm16k = resample_pcm(&tts(mock.addr, TEXT, "pcm").await, 24_000, 16_000);
    let r = raw(mock.addr, "audio/pcm;rate=16000", &pcm16k).await;
    assert_eq!(r.json()["result"]["transcript"], expect.as_str());
    let t = mock.truth().await.asr;
    assert_eq!((t.requests, t.ok, t.substituted), (5, 5, 0));
    assert_eq!(t.words, 5 * 12);
    assert_eq!(t.recent[4].endpoint, AsrEndpoint::Raw);
    assert_eq!(t.recent[4].sample_rate, 16_000);
    assert!(t.recent[0].audio_us.abs_diff((secs * 1e6).round() as u64) <= 1);
}

#[tokio::test]
async fn injected_word_errors_match_the_truth_and_grow_with_load() {
    let mut m = model();
    m.asr.word_error_rate = 0.5;
    let mock = spawn(m).await.unwrap();
    let text: String = (0..40).map(|i| format!("w{i} ")).collect();
    let wav = tts(mock.addr, text.trim(), "wav").await;
    let r = raw(mock.addr, "audio/wav", &wav).await;
    let got = r.json()["result"]["transcript"]
        .as_str()
        .unwrap()
        .to_string();
    let rec = mock.truth().await.asr.recent[0].clone();
    let uh = got.split(' ').filter(|w| *w == SUBSTITUTE).count() as u64;
    assert_eq!(rec.substituted, uh, "{got}");
    assert_eq!(rec.words, 40);
    assert!((8..=32).contains(&uh), "{uh} of 40 at p = 0.5");
    for (g, want) in got.split(' ').zip(text.split_whitespace()) {
        assert!(g == want || g == SUBSTITUTE, "{g} vs {want}");
    }

    // Load: p = 0.25 × (in_flight − 1), so 4 concurrent requests see 0..0.75.
    let mut m = model();
    m.asr.word_error_per_load = 0.25;
    m.asr.overhead = Duration::from_millis(150);
    let mock = spawn(m).await.unwrap();
    let wav = tts(mock.addr, "a b c d e f g h", "wav").await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (addr, wav) = (mock.addr, wav.clone());
            tokio::spawn(async move { raw(addr, "audio/wav", &wav).await.status })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let t = mock.truth().await.asr;
    assert_eq!(t.max_in_flight, 4);
    for r in &t.recent {
        assert!((r.error_rate - 0.25 * (r.in_flight - 1) as f64).abs() < 1e-12);
    }
    assert!(t.recent.iter().any(|r| r.in_flight == 4));
    let first = t.recent.iter().find(|r| r.in_flight == 1);
    assert!(first.is_none_or(|r| r.substituted == 0));
}

#[tokio::test]
async fn processing_time_is_overhead_plus_audio_over_rtfx() {
    let mut m = model();
    m.asr.overhead = Duration::from_millis(50);
    m.asr.rtfx = 10.0;
    let mock = spawn(m).await.unwrap();
    // 30 chars at 15 chars/s = 2 s of audio: 50 + 200 ms.
    let pcm = Voice::new(16_000, 15.0).render(&"abcde".repeat(6));
    assert_eq!(pcm.len(), 32_000);
    let t = Instant::now();
    let r = raw(mock.addr, "audio/pcm; rate=16000", &pcm_bytes(&pcm)).await;
    let e2e = t.elapsed();
    assert_eq!(r.status, 200);
    let rec = mock.truth().await.asr.recent[0].clone();
    assert_eq!(rec.audio_us, 2_000_000);
    let due = Duration::from_millis(250);
    on_schedule_us(rec.processing_us, 0, due, LATE, "processing");
    assert!(rec.first_result_us >= rec.processing_us + rec.queue_wait_us);
    on_schedule(e2e, due, LATE, "e2e");
}

#[tokio::test]
async fn full_asr_slots_and_queue_answer_503() {
    let mut m = model();
    m.asr.slots = 1;
    m.asr.queue = 0;
    m.asr.rtfx = 2.0;
    let mock = spawn(m).await.unwrap();
    let wav = wav_of(16_000, &Voice::new(16_000, 15.0).render("one second of it"));
    let (addr, body) = (mock.addr, wav.clone());
    let first = tokio::spawn(async move { raw(addr, "audio/wav", &body).await.status });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    let second = raw(mock.addr, "audio/wav", &wav).await;
    assert_eq!(second.status, 503);
    // At once (a connect and one exchange), not when the slot frees some 0.5 s later.
    on_schedule(t.elapsed(), Duration::ZERO, 2 * LATE, "503");
    let ws = tokio::task::spawn_blocking(move || super::ws_asr_tests::ws_connect(addr, "").err())
        .await
        .unwrap();
    match ws {
        Some(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected HTTP 503 on upgrade, got {other:?}"),
    }
    assert_eq!(first.await.unwrap(), 200);
    let t = mock.truth().await.asr;
    assert_eq!((t.requests, t.ok, t.rejected_503), (2, 1, 1));
    assert_eq!((t.ws_sessions, t.ws_rejected_503), (1, 1));
    assert_eq!((t.max_in_flight, t.in_flight_now), (2, 0));
}

#[tokio::test]
async fn bad_uploads_get_400_or_415() {
    let mock = spawn(model()).await.unwrap();
    let wav = wav_of(16_000, &Voice::new(16_000, 15.0).render("hi"));
    let model_part: Part<'_> = ("model", None, None, b"m");
    let file: Part<'_> = ("file", Some("a.wav"), None, &wav);
    for (parts, status) in [
        (vec![model_part], 400),
        (vec![file], 400),
        (vec![model_part, ("file", Some("a.wav"), None, b"")], 400),
        (
            vec![model_part, file, ("response_format", None, None, b"srt")],
            400,
        ),
        (
            vec![
                model_part,
                ("file", Some("a.mp3"), Some("audio/mpeg"), b"ID3\x03"),
            ],
            415,
        ),
    ] {
        let r = transcribe(mock.addr, &parts).await;
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    }
    assert_eq!(raw(mock.addr, "audio/mpeg", b"ID3").await.status, 415);
    assert_eq!(raw(mock.addr, "audio/wav", b"").await.status, 400);
    assert_eq!(
        raw(mock.addr, "audio/wav", b"RIFF....WAVEjunk")
            .await
            .status,
        415
    );
    let t = mock.truth().await.asr;
    assert_eq!((t.bad_request, t.unsupported_media, t.ok), (5, 3, 0));
}
