//! The templated adapter reads vendors from config files: SSE and NDJSON
//! framing, audio at a JSON path, typed template variables.

mod common;

use common::{one_text, run_against, Opts};
use voxload::config::target::HeaderOptions;
use voxload::config::tts::{TtsEndpointOptions, TtsOptions};
use voxload::config::WorkloadOptions;
use voxload::mock::MockModel;

const TEXT_2S: &str = "Thirty characters of speech...";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templated_sse_target_from_the_example_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mock-sse.toml");
    let mut target = voxload::config::tts::read_vendor(&example).expect("example parses");
    // The example points at port 8000; aim it at this test's mock instead.
    target.url = None;
    let mock = voxload::mock::spawn(MockModel::default())
        .await
        .expect("mock");
    let mut o = Opts {
        tts: TtsOptions {
            texts: Some(one_text(dir.path(), TEXT_2S)),
            endpoint: TtsEndpointOptions {
                target: Some(target),
                ..TtsEndpointOptions::default()
            },
            ..TtsOptions::default()
        },
        run: WorkloadOptions {
            requests: Some(4),
            ..WorkloadOptions::default()
        },
        ..Opts::default()
    };
    o.tts.endpoint.url = Some(format!("{}/v1/audio/speech", mock.url()));
    let ran = common::run_on(mock, o, Default::default()).await;
    let truth = ran.mock.truth().await;
    for r in &ran.records {
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.audio_us, Some(2_000_000));
        assert_eq!(r.chunks as usize, truth.recent[0].chunks);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templated_ndjson_target_with_vars() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vendor = dir.path().join("vendor.toml");
    std::fs::write(
        &vendor,
        r#"
[target]
body = '{"model": "{{model}}", "input": "{{text}}", "voice": "{{voice}}", "response_format": "pcm", "stream_format": "ndjson", "speed": "{{speed}}"}'
framing = "ndjson"
audio_path = "audio"
format = "pcm:24000:1"
[target.vars]
speed = 1.0
"#,
    )
    .expect("write");
    let target = voxload::config::tts::read_vendor(&vendor).expect("vendor parses");
    let mock = voxload::mock::spawn(MockModel::default())
        .await
        .expect("mock");
    let o = Opts {
        tts: TtsOptions {
            texts: Some(one_text(dir.path(), TEXT_2S)),
            endpoint: TtsEndpointOptions {
                url: Some(format!("{}/v1/audio/speech", mock.url())),
                target: Some(target),
                ..TtsEndpointOptions::default()
            },
            ..TtsOptions::default()
        },
        run: WorkloadOptions {
            requests: Some(3),
            ..WorkloadOptions::default()
        },
        ..Opts::default()
    };
    let ran = common::run_on(mock, o, Default::default()).await;
    assert_eq!(ran.records.len(), 3);
    for r in &ran.records {
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.audio_us, Some(2_000_000));
        assert_eq!(r.chunks, 20);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sse_and_raw_agree_on_audio() {
    let dir = tempfile::tempdir().expect("tempdir");
    for sse in [false, true] {
        let o = Opts {
            tts: TtsOptions {
                texts: Some(one_text(dir.path(), TEXT_2S)),
                endpoint: TtsEndpointOptions {
                    sse: Some(sse),
                    format: Some("pcm".into()),
                    ..TtsEndpointOptions::default()
                },
                ..TtsOptions::default()
            },
            run: WorkloadOptions {
                requests: Some(2),
                ..WorkloadOptions::default()
            },
            ..Opts::default()
        };
        let ran = run_against(MockModel::default(), o).await;
        for r in &ran.records {
            assert!(r.ok(), "sse={sse}: {r:?}");
            assert_eq!(r.audio_us, Some(2_000_000), "sse={sse}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_json_round_trips_and_keeps_histograms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Opts {
        tts: TtsOptions {
            texts: Some(one_text(dir.path(), TEXT_2S)),
            endpoint: TtsEndpointOptions {
                headers: HeaderOptions {
                    header: Some(vec![
                        "Authorization: Bearer sk-do-not-leak".into(),
                        "X-Trace: on".into(),
                    ]),
                    api_key_env: None,
                    api_key_prefix: None,
                },
                ..TtsEndpointOptions::default()
            },
            ..TtsOptions::default()
        },
        run: WorkloadOptions {
            concurrency: Some("1,2".parse().expect("levels")),
            requests: Some(6),
            ..WorkloadOptions::default()
        },
        ..Opts::default()
    };
    let ran = run_against(MockModel::default(), o).await;
    let text = std::fs::read_to_string(ran.out.join("result.json")).expect("result.json");
    assert!(
        !text.contains("sk-do-not-leak"),
        "secrets never reach results"
    );
    assert!(text.contains("X-Trace"));
    let back = voxload::report::json::read(&ran.out).expect("parses back");
    assert_eq!(back.stages.len(), 2);
    assert_eq!(back.schema_version, voxload::result::SCHEMA_VERSION);
    for (a, b) in back.stages.iter().zip(&ran.result.stages) {
        assert_eq!(a.summary.requests, b.summary.requests);
        // Histograms survive the round trip: percentiles recomputed from them agree.
        let ttfa = voxload::metrics::Metric::Ttfa;
        assert_eq!(
            a.stats.percentiles(&ttfa).map(|p| p.p99),
            b.stats.percentiles(&ttfa).map(|p| p.p99)
        );
    }
    for f in ["summary.txt", "stages.csv", "stats.csv", "requests.jsonl"] {
        let body = std::fs::read_to_string(ran.out.join(f)).expect(f);
        assert!(!body.contains("sk-do-not-leak"), "{f} leaks the key");
    }
}
