//! The vendor ASR presets (`deepgram-listen`, `assemblyai`,
//! `openai-realtime-transcribe`) against the mock speaking each dialect:
//! clocks against the mock's recorded truth (within LATE), transcripts at
//! WER 0 against the mock's text, and the end messages the mock saw.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::timing::{on_schedule_ms, LATE};
use voxload::config::asr::AsrOptions;
use voxload::config::{CommonOptions, ProtocolOptions, RunOptions, WorkloadOptions};
use voxload::metrics::RequestRecord;
use voxload::mock::{self, AsrModel, MockHandle, MockModel, WsEnd};
use voxload::protocol::ErrorKind;
use voxload::result::RunResult;

/// Plain words only, so the mock's word count equals the normalized reference's.
const TEXTS: &str = "the quick brown fox jumps over the lazy dog\n\
                     please call me back after lunch today\n";

/// The mock's final delay: end of audio → final.
const FINAL_DELAY: Duration = Duration::from_millis(100);

async fn corpus(mock: &MockHandle, dir: &Path) -> PathBuf {
    common::mock_corpus(mock, dir, TEXTS, 2).await
}

async fn mock() -> MockHandle {
    mock::spawn(MockModel {
        speed: 50.0,
        asr: AsrModel {
            partial_every: Duration::from_millis(200),
            partial_lag: Duration::from_millis(50),
            final_delay: FINAL_DELAY,
            ..AsrModel::default()
        },
        ..MockModel::default()
    })
    .await
    .expect("mock")
}

fn options(url: String, manifest: &Path) -> AsrOptions {
    AsrOptions {
        url: Some(url),
        audio: Some(vec![manifest.to_path_buf()]),
        ..AsrOptions::default()
    }
}

async fn run_preset(dir: &Path, preset: &str, o: AsrOptions) -> (RunResult, Vec<RequestRecord>) {
    let workload = WorkloadOptions {
        concurrency: Some("2".parse().expect("levels")),
        requests: Some(2),
        ..WorkloadOptions::default()
    };
    let common = CommonOptions {
        out: Some(dir.join("results")),
        name: Some("asr".into()),
        ..CommonOptions::default()
    };
    let options = RunOptions::single(common, workload, ProtocolOptions::Asr(o));
    common::run_with_preset(options, preset).await
}

/// Every request ok, WER 0, TTFS and final at the mock's final delay, and
/// each session's control messages as `controls`.
async fn check(preset: &str, query: &str, controls: &[&str], end: WsEnd) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock().await;
    let manifest = corpus(&mock, dir.path()).await;
    let url = format!("ws://{}/v1/realtime/transcribe?{query}", mock.addr);
    let (result, records) = run_preset(dir.path(), preset, options(url, &manifest)).await;
    assert_eq!(records.len(), 2);
    assert_eq!(result.stages[0].summary.wer_pooled, Some(0.0), "{preset}");
    let late_ms = LATE.as_secs_f64() * 1e3;
    for r in &records {
        assert!(r.ok(), "{preset}: {r:?}");
        // End of audio → the final segment: the mock's final delay (its
        // clock starts at the first end message, sent right after the
        // last frame).
        let ttfs = r.ttfs_us.expect("ttfs") as f64 / 1000.0;
        on_schedule_ms(ttfs, FINAL_DELAY, LATE, "ttfs");
        let fin = r.final_us.expect("final") as f64 / 1000.0;
        assert!(
            fin >= ttfs && fin <= ttfs + late_ms,
            "{preset}: final {fin} ttfs {ttfs}"
        );
        let first = r.first_partial_us.expect("a partial") as f64 / 1000.0;
        assert!(
            first <= 230.0 + late_ms,
            "{preset}: first partial {first} ms"
        );
    }
    let truth = mock.truth().await.asr;
    assert_eq!(truth.ws_recent.len(), 2);
    for s in &truth.ws_recent {
        assert_eq!(s.controls, controls, "{preset}: {s:?}");
        assert_eq!(s.end, end, "{preset}: {s:?}");
        assert!(s.partials > 0 && s.frames > 0, "{s:?}");
        // The mock's own clock of its final agrees with the client's TTFS.
        let final_ms = s.final_us.expect("final sent") as f64 / 1000.0;
        on_schedule_ms(final_ms, FINAL_DELAY, LATE, "mock final");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepgram_listen_finalizes_then_closes_the_stream() {
    check(
        "deepgram-listen",
        "dialect=deepgram&encoding=linear16&sample_rate=16000",
        &["Finalize", "CloseStream"],
        WsEnd::Final,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keepalive_goes_out_periodically_while_the_final_is_awaited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock().await;
    let manifest = corpus(&mock, dir.path()).await;
    let url = format!("ws://{}/v1/realtime/transcribe?dialect=deepgram", mock.addr);
    let mut o = options(url, &manifest);
    o.keepalive_message = Some(r#"{"type":"KeepAlive"}"#.into());
    o.keepalive_every = Some(Duration::from_millis(30));
    let (_, records) = run_preset(dir.path(), "deepgram-listen", o).await;
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    let truth = mock.truth().await.asr;
    for s in &truth.ws_recent {
        // The end messages first, then keep-alives every 30 ms until the
        // final (100 ms later): 3 due, at least 2 however late the timer.
        assert_eq!(s.controls[..2], ["Finalize", "CloseStream"], "{s:?}");
        let keepalives = &s.controls[2..];
        assert!(keepalives.iter().all(|c| c == "KeepAlive"), "{s:?}");
        assert!((2..=4).contains(&keepalives.len()), "{s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assemblyai_terminates_and_reads_the_end_of_turn() {
    check(
        "assemblyai",
        "dialect=assemblyai&sample_rate=16000&encoding=pcm_s16le",
        &["Terminate"],
        WsEnd::Final,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_realtime_transcribe_updates_the_session_and_reads_completed() {
    check(
        "openai-realtime-transcribe",
        "dialect=openai&sample_rate=24000",
        &["session.update", "input_audio_buffer.commit"],
        WsEnd::Final,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_with_4000_and_an_unknown_event_fail_by_kind_never_hang() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock().await;
    let manifest = corpus(&mock, dir.path()).await;
    // The server closes with an application code instead of the final.
    let url = format!(
        "ws://{}/v1/realtime/transcribe?dialect=deepgram&close_code=4000",
        mock.addr
    );
    let o = options(url, &manifest);
    let (result, records) = run_preset(dir.path(), "deepgram-listen", o).await;
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.error == Some(ErrorKind::WsClosed(4000))),
        "{records:?}"
    );
    assert_eq!(result.stages[0].summary.failed, 2);
    let truth = mock.truth().await.asr;
    assert!(truth
        .ws_recent
        .iter()
        .all(|s| s.close_code == Some(4000) && s.end == WsEnd::Closed));

    // A message Deepgram does not know is answered by an error event,
    // counted by its code (and the session fails at once).
    let url = format!("ws://{}/v1/realtime/transcribe?dialect=deepgram", mock.addr);
    let mut o = options(url, &manifest);
    o.end_message = Some(vec![r#"{"type":"Finish"}"#.into()]);
    let (result, records) = run_preset(dir.path(), "deepgram-listen", o).await;
    let kind = ErrorKind::ServerEvent(voxload::protocol::EventCode::new("unknown_event"));
    assert!(records.iter().all(|r| r.error == Some(kind)), "{records:?}");
    assert_eq!(result.stages[0].summary.failed, 2);
}
