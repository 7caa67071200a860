//! TTS over WebSocket against the mock speaking each vendor's dialect
//! (ElevenLabs, Cartesia, Deepgram), through the built-in presets: the
//! client's clocks must match what the server did (its truth), the audio
//! length must be exact, and streamed text must leave on its absolute
//! schedule as the server read it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::timing::LATE;
use voxload::config::tts::{TtsEndpointOptions, TtsOptions};
use voxload::config::tts_ws::WsTtsOptions;
use voxload::config::{CommonOptions, ProtocolOptions, RunOptions, WorkloadOptions};
use voxload::metrics::record::RequestRecord;
use voxload::mock::{MockHandle, MockModel};

/// 45 characters at 15 chars/s: 3 s of audio; 9 words.
const TEXT_3S: &str = "The quick brown fox jumps over the lazy dog!!";

fn model() -> MockModel {
    MockModel {
        overhead: Duration::from_millis(40),
        speed: 6.0,
        chunk: Duration::from_millis(100),
        ..MockModel::default()
    }
}

async fn run_preset(
    dir: &Path,
    preset: &str,
    url: String,
    ws: WsTtsOptions,
    requests: u64,
) -> Vec<RequestRecord> {
    let texts = common::one_text(dir, TEXT_3S);
    let tts = TtsOptions {
        texts: Some(texts),
        endpoint: TtsEndpointOptions {
            url: Some(url),
            model: Some("m1".into()),
            voice: Some(vec!["v1".into()]),
            timeout: Some(Duration::from_secs(10)),
            ws,
            ..TtsEndpointOptions::default()
        },
        ..TtsOptions::default()
    };
    let run = WorkloadOptions {
        concurrency: Some("1".parse().expect("levels")),
        requests: Some(requests),
        ..WorkloadOptions::default()
    };
    let common = CommonOptions {
        out: Some(dir.join("results")),
        name: Some("ws".into()),
        ..CommonOptions::default()
    };
    let options = RunOptions::single(common, run, ProtocolOptions::Tts(tts));
    common::run_with_preset(options, preset).await.1
}

fn near(client_us: u64, server_us: u64, what: &str) {
    let diff = client_us.abs_diff(server_us);
    assert!(
        diff <= LATE.as_micros() as u64,
        "{what}: client {client_us} µs vs server {server_us} µs"
    );
}

/// Run `preset` with text streamed at 20 tok/s after 100 ms and check
/// every clock against the mock's truth.
async fn streamed_matches_truth(preset: &str, path: &str, rate: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock: MockHandle = voxload::mock::spawn(model()).await.expect("mock");
    let ws = WsTtsOptions {
        text_stream: Some("20tok/s".into()),
        first_token_delay: Some(Duration::from_millis(100)),
        ..WsTtsOptions::default()
    };
    let url = format!("ws://{}{path}", mock.addr);
    let records = run_preset(dir.path(), preset, url, ws, 3).await;
    let truth = mock.truth().await;
    assert_eq!(records.len(), 3);
    assert_eq!(truth.tts_ws.len(), 3, "{:?}", truth.tts_ws);
    for (r, t) in records.iter().zip(&truth.tts_ws) {
        assert!(r.ok(), "{preset}: {r:?}");
        assert_eq!(t.text().trim(), TEXT_3S, "text received whole");
        assert_eq!(t.sample_rate, rate);
        assert_eq!(t.audio_samples, 3 * rate as usize, "3 s of audio");
        assert_eq!(r.audio_us, Some(3_000_000), "decoded audio = truth");
        assert_eq!(r.chunks as usize, t.chunks, "a chunk is a message");
        let flush = t.flush_us.expect("flush read");
        let first = t.first_audio_us.expect("audio sent");
        let fin = t.final_us.expect("final sent");
        near(
            r.flush_first_audio_us.expect("ttfa_flush"),
            first - flush,
            "ttfa_flush",
        );
        near(
            r.flush_final_us.expect("flush_final"),
            fin - flush,
            "flush_final",
        );
        // The first text left at 100 ms; the server's model answers the
        // flush (400 ms later) after its overhead.
        let (t0, _) = t.texts[0];
        near(
            r.text_first_audio_us.expect("ttfa_text"),
            first - t0,
            "ttfa_text",
        );
        // Absolute deadlines: word i is read i × 50 ms after word 0.
        assert_eq!(t.texts.len(), 9, "one message per word");
        for (i, (at, _)) in t.texts.iter().enumerate() {
            near(at - t0, i as u64 * 50_000, &format!("word {i} received"));
        }
        // Synthesis starts at the flush: TTFA-from-flush = overhead + one
        // chunk of synthesis (100 ms / 6).
        let model_ttfa = 40_000 + 100_000 / 6;
        near(first - flush, model_ttfa, "mock keeps its model");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elevenlabs_streamed_text_clocks_and_audio_match_the_mock() {
    streamed_matches_truth(
        "elevenlabs",
        "/v1/text-to-speech/{{voice}}/stream-input?model_id={{model}}&output_format=pcm_16000",
        16_000,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cartesia_streamed_text_clocks_and_audio_match_the_mock() {
    streamed_matches_truth("cartesia", "/tts/websocket", 24_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepgram_speak_streamed_text_clocks_and_audio_match_the_mock() {
    streamed_matches_truth(
        "deepgram-speak",
        "/v1/speak?model=aura&encoding=linear16&sample_rate=24000",
        24_000,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_events_and_close_4000_are_classified_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = voxload::mock::spawn(model()).await.expect("mock");
    let cases = [
        (
            "cartesia",
            "/tts/websocket?fail=error",
            "event_mock_failure",
        ),
        (
            "deepgram-speak",
            "/v1/speak?fail=close4000",
            "ws_close_4000",
        ),
        (
            "elevenlabs",
            "/v1/text-to-speech/v1/stream-input?output_format=pcm_16000&fail=error",
            "event_input_timeout_exceeded",
        ),
    ];
    for (preset, path, label) in cases {
        let url = format!("ws://{}{path}", mock.addr);
        let started = std::time::Instant::now();
        let records = run_preset(dir.path(), preset, url, WsTtsOptions::default(), 2).await;
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{preset}: no hang"
        );
        assert_eq!(records.len(), 2);
        for r in &records {
            let kind = r.error.as_ref().expect("failed");
            assert_eq!(kind.label(), label, "{preset}: {r:?}");
        }
    }
}
