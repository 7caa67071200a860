//! Measurements against a mock whose true latency, chunking and audio
//! length are known: what voxload reports must match what the server did.

mod common;

use std::time::Duration;

use common::timing::{on_schedule_ms, LATE};
use common::{median, one_text, run_against, Opts};
use voxload::config::tts::{TtsEndpointOptions, TtsOptions};
use voxload::config::WorkloadOptions;
use voxload::mock::MockModel;
use voxload::protocol::ErrorKind;

/// 45 characters at 15 chars/s: exactly 3 s of audio, 30 chunks of 100 ms.
const TEXT_3S: &str = "The quick brown fox jumps over the lazy dog!!";

fn opts(texts: std::path::PathBuf) -> Opts {
    Opts {
        tts: TtsOptions {
            texts: Some(texts),
            endpoint: TtsEndpointOptions {
                format: Some("wav".into()),
                ..TtsEndpointOptions::default()
            },
            ..TtsOptions::default()
        },
        ..Opts::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_ttfa_e2e_audio_and_chunks_match_the_server_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = MockModel {
        overhead: Duration::from_millis(40),
        speed: 6.0,
        chunk: Duration::from_millis(100),
        ..MockModel::default()
    };
    // SSE: a chunk is an event, so the count must match the server exactly.
    // (For raw bodies a chunk is one transport read, which TCP may split.)
    let mut o = opts(one_text(dir.path(), TEXT_3S));
    o.tts.endpoint.sse = Some(true);
    o.tts.endpoint.format = Some("pcm".into());
    o.run.concurrency = Some("2".parse().expect("levels"));
    o.run.requests = Some(16);
    let ran = run_against(model.clone(), o).await;
    let truth = ran.mock.truth().await;
    assert_eq!(ran.records.len(), 16);
    assert_eq!(truth.ok, 16);
    let server = &truth.recent;
    let samples = server[0].audio_samples;
    assert_eq!(samples, 72_000, "3 s at 24 kHz");
    for r in &ran.records {
        assert!(r.ok(), "{r:?}");
        // Audio is decoded from the stream: exact to the sample.
        assert_eq!(r.audio_us, Some(3_000_000), "{r:?}");
        assert_eq!(r.chunks as usize, server[0].chunks, "chunk count");
        // Chunk 4 and 1 are both reached and ordered.
        assert!(r.chunk(4) > r.chunk(1));
        let rtf = r.rtf.expect("rtf");
        let e2e = r.e2e_us.expect("e2e") as f64;
        assert!((rtf - e2e / 3e6).abs() < 1e-6, "rtf = e2e / audio");
    }
    // Client TTFA = server time to first audio + loopback/parse overhead: at
    // most a few ms apart in the median, never less than the server's.
    let client_ttfa = median(
        ran.records
            .iter()
            .map(|r| r.ttfa_us.expect("ttfa") as f64)
            .collect(),
    );
    let server_ttfa = median(
        server
            .iter()
            .map(|t| t.first_audio_us.expect("first audio") as f64)
            .collect(),
    );
    let client_e2e = median(
        ran.records
            .iter()
            .map(|r| r.e2e_us.expect("e2e") as f64)
            .collect(),
    );
    let server_e2e = median(
        server
            .iter()
            .map(|t| t.last_audio_us.expect("last audio") as f64)
            .collect(),
    );
    // The model says: 40 ms overhead + one 100 ms chunk at 6× = 56.7 ms.
    let due = Duration::from_micros(56_667);
    on_schedule_ms(server_ttfa / 1e3, due, LATE, "server ttfa");
    // The client's figures are the server's plus loopback and parsing.
    let late_us = LATE.as_secs_f64() * 1e6;
    assert!(
        client_ttfa >= server_ttfa - 500.0 && client_ttfa - server_ttfa <= late_us,
        "{client_ttfa} vs {server_ttfa}"
    );
    assert!(
        client_e2e >= server_e2e - 500.0 && client_e2e - server_e2e <= late_us,
        "{client_e2e} vs {server_e2e}"
    );
    // Audio arrives 6× faster than real time: no stalls, nothing to pre-buffer.
    assert!(ran.records.iter().all(|r| r.stall_count == Some(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_and_prebuffer_match_a_server_slower_than_real_time() {
    // 1.5 s of audio (22.5 chars → use 22 chars + '.' = 23? we want exact: 15 chars = 1 s).
    // 30 chars = 2 s = 20 chunks of 100 ms; at 0.8× each chunk takes 125 ms, so
    // every chunk after the first arrives 25 ms after the previous one ran out:
    // 19 stalls, 475 ms in all, and 475 ms of pre-buffer would have avoided them.
    let dir = tempfile::tempdir().expect("tempdir");
    let model = MockModel {
        overhead: Duration::from_millis(10),
        speed: 0.8,
        ..MockModel::default()
    };
    let mut o = opts(one_text(dir.path(), "Thirty characters of speech..."));
    o.run.requests = Some(3);
    let ran = run_against(model, o).await;
    let truth = ran.mock.truth().await;
    assert_eq!(truth.recent[0].chunks, 20, "{:?}", truth.recent[0]);
    for r in &ran.records {
        assert!(r.ok(), "{r:?}");
        // 19 separate stalls when every chunk is read as it arrives. On a busy
        // machine a late read leaves audio queued that covers the next gaps:
        // fewer, longer stalls, same total. None is longer than the longest
        // wait between chunks.
        let count = u64::from(r.stall_count.expect("stall count"));
        let longest = r.inter_chunk_max_us.expect("gaps");
        let fewest = r.stall_us.expect("stall time").div_ceil(longest);
        assert!((fewest..=19).contains(&count), "{r:?}");
        // The total runs from the first chunk's arrival to the last's: each
        // may be late, so it may be off either way.
        let late_ms = LATE.as_secs_f64() * 1e3;
        let stall_ms = r.stall_us.expect("stall time") as f64 / 1000.0;
        let prebuffer_ms = r.prebuffer_needed_us.expect("prebuffer") as f64 / 1000.0;
        assert!((stall_ms - 475.0).abs() <= late_ms, "stall {stall_ms} ms");
        assert!(
            (prebuffer_ms - 475.0).abs() <= late_ms,
            "prebuffer {prebuffer_ms} ms"
        );
    }
    assert_eq!(ran.result.stages[0].summary.stalled_share, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_never_exceeds_its_concurrency() {
    let model = MockModel {
        overhead: Duration::from_millis(20),
        speed: 20.0,
        ..MockModel::default()
    };
    let o = Opts {
        run: WorkloadOptions {
            concurrency: Some("4".parse().expect("levels")),
            requests: Some(60),
            ..WorkloadOptions::default()
        },
        ..Opts::default()
    };
    let ran = run_against(model, o).await;
    let truth = ran.mock.truth().await;
    assert_eq!(
        truth.max_in_flight, 4,
        "the server saw at most and at least 4 at once"
    );
    assert_eq!(ran.records.len(), 60);
    assert_eq!(ran.result.stages[0].summary.ok, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_reaches_200_per_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = MockModel {
        overhead: Duration::from_millis(2),
        speed: 100.0,
        ..MockModel::default()
    };
    let mut o = opts(one_text(dir.path(), "Short."));
    o.run.rate = Some("200".parse().expect("levels"));
    o.run.duration = Some(Duration::from_secs(3));
    o.tts.no_sanity = Some(true);
    let ran = run_against(model, o).await;
    let stage = &ran.result.stages[0];
    assert_eq!(stage.issued, 600, "3 s at 200/s");
    let offered = stage
        .offered_rps
        .expect("open loop reports its offered rate");
    assert!((offered / 200.0 - 1.0).abs() < 0.02, "offered {offered}/s");
    let truth = ran.mock.truth().await;
    assert_eq!(truth.requests, 600, "the server received every arrival");
    assert_eq!(stage.summary.ok, 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_server_stall_shows_in_open_loop_p99() {
    // 50/s for 4 s; the server pauses everything for 1 s starting at 1.5 s.
    // Requests scheduled in the pause wait for its end, so ~1/4 of them are
    // up to 1 s late: p99 must show the stall (no coordinated omission).
    let dir = tempfile::tempdir().expect("tempdir");
    let model = MockModel {
        overhead: Duration::from_millis(5),
        speed: 50.0,
        stall_all: Some(voxload::mock::StallWindow {
            start: Duration::from_millis(1500),
            duration: Duration::from_secs(1),
        }),
        ..MockModel::default()
    };
    let mut o = opts(one_text(dir.path(), "A short line."));
    o.run.rate = Some("50".parse().expect("levels"));
    o.run.duration = Some(Duration::from_secs(4));
    let ran = run_against(model, o).await;
    let e2e = &ran.result.stages[0].summary.metrics["e2e"];
    assert!(
        e2e.p50 < 200.0,
        "most requests are unaffected: p50 {} ms",
        e2e.p50
    );
    assert!(
        e2e.p99 > 850.0,
        "p99 {} ms must show the 1 s stall",
        e2e.p99
    );
    assert!(e2e.max > 950.0 && e2e.max < 1_300.0, "max {} ms", e2e.max);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_full_resets_and_truncation_land_in_their_classes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One slot, no queue, four users: most requests get 503.
    let model = MockModel {
        slots: 1,
        queue: 0,
        overhead: Duration::from_millis(30),
        speed: 20.0,
        ..MockModel::default()
    };
    let mut o = opts(one_text(dir.path(), TEXT_3S));
    o.run.concurrency = Some("4".parse().expect("levels"));
    o.run.requests = Some(20);
    let ran = run_against(model, o).await;
    let s = &ran.result.stages[0].summary;
    let rejected = s
        .errors
        .iter()
        .find(|e| e.kind == ErrorKind::Http(503))
        .expect("503 class");
    assert_eq!(rejected.count, ran.mock.truth().await.rejected_503);
    assert!(
        rejected.example.as_deref().unwrap_or("").contains("queue"),
        "{rejected:?}"
    );
    assert_eq!(s.ok + s.failed, 20);
    assert!(ran.out.join("result.json").exists() && ran.out.join("summary.txt").exists());

    // Every response reset mid-stream.
    let model = MockModel {
        faults: voxload::mock::Faults {
            reset: 1.0,
            ..Default::default()
        },
        speed: 20.0,
        ..MockModel::default()
    };
    let mut o = opts(one_text(dir.path(), TEXT_3S));
    o.run.requests = Some(5);
    let ran = run_against(model, o).await;
    let s = &ran.result.stages[0].summary;
    assert_eq!(s.failed, 5);
    assert_eq!(s.errors.len(), 1);
    assert_eq!(s.errors[0].kind, ErrorKind::Reset, "{:?}", s.errors);

    // Every response cut to half its audio, with a WAV header that claims all of it.
    let model = MockModel {
        faults: voxload::mock::Faults {
            truncate: 1.0,
            ..Default::default()
        },
        speed: 20.0,
        ..MockModel::default()
    };
    let mut o = opts(one_text(dir.path(), TEXT_3S));
    o.run.requests = Some(5);
    let ran = run_against(model, o).await;
    let s = &ran.result.stages[0].summary;
    assert_eq!(s.failed, 5, "{:?}", s.errors);
    assert_eq!(s.errors[0].kind, ErrorKind::Truncated, "{:?}", s.errors);

    // Every response stalls for 5 s mid-stream; a 400 ms timeout ends each
    // request as a timeout, with what arrived before it kept.
    let model = MockModel {
        faults: voxload::mock::Faults {
            stall: 1.0,
            stall_duration: Duration::from_secs(5),
            ..Default::default()
        },
        speed: 20.0,
        ..MockModel::default()
    };
    let mut o = opts(one_text(dir.path(), TEXT_3S));
    o.run.requests = Some(2);
    o.tts.endpoint.timeout = Some(Duration::from_millis(400));
    let ran = run_against(model, o).await;
    let s = &ran.result.stages[0].summary;
    assert_eq!(s.failed, 2, "{:?}", s.errors);
    assert_eq!(s.errors[0].kind, ErrorKind::Timeout, "{:?}", s.errors);
    for r in &ran.records {
        assert!(
            r.chunks > 0 && r.ttfa_us.is_some(),
            "audio before the stall is kept: {r:?}"
        );
    }
}

/// A response head over 64 KiB and a bad chunk size line are malformed
/// answers, not closed connections: each is counted as `protocol`, with a
/// detail saying what was wrong, once per fault the mock applied. SSE too:
/// the chunked decoder sits under every framing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_responses_are_protocol_errors_not_resets() {
    use voxload::mock::{FaultKind, Faults};
    let dir = tempfile::tempdir().expect("tempdir");
    for (faults, kind, sse, detail) in [
        (
            Faults {
                oversized_head: 1.0,
                ..Faults::default()
            },
            FaultKind::OversizedHead,
            false,
            "response head longer than 65536 bytes",
        ),
        (
            Faults {
                bad_chunk: 1.0,
                ..Faults::default()
            },
            FaultKind::BadChunk,
            false,
            "bad chunk size line",
        ),
        (
            Faults {
                bad_chunk: 1.0,
                ..Faults::default()
            },
            FaultKind::BadChunk,
            true,
            "bad chunk size line",
        ),
    ] {
        let model = MockModel {
            faults,
            speed: 20.0,
            ..MockModel::default()
        };
        let mut o = opts(one_text(dir.path(), TEXT_3S));
        if sse {
            o.tts.endpoint.sse = Some(true);
            o.tts.endpoint.format = Some("pcm".into());
        }
        o.run.requests = Some(4);
        let ran = run_against(model, o).await;
        let s = &ran.result.stages[0].summary;
        assert_eq!(s.failed, 4, "{kind:?}: {:?}", s.errors);
        assert_eq!(s.errors.len(), 1, "{kind:?}: {:?}", s.errors);
        assert_eq!(s.errors[0].kind, ErrorKind::Protocol, "{:?}", s.errors);
        let example = s.errors[0].example.as_deref().unwrap_or("");
        assert!(example.contains(detail), "{kind:?}: {example}");
        // The mock records a response when its producer sees the client gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut truth = ran.mock.truth().await;
        while truth.faults.get(&kind).copied() != Some(4) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            truth = ran.mock.truth().await;
        }
        assert_eq!(
            truth.faults.get(&kind).copied(),
            Some(4),
            "{:?}",
            truth.faults
        );
        assert_eq!(truth.ok, 0);
        assert!(ran
            .records
            .iter()
            .all(|r| r.error == Some(ErrorKind::Protocol)));
    }
}
