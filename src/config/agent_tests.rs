//! Scenario files and validation of `voxload agent` options.

use super::*;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/agent.toml")
}

#[test]
fn the_example_scenario_is_valid() {
    let o = AgentOptions::from_file(&example()).expect("example parses");
    let plan = AgentPlan::from_options(o, &|_| None).expect("example validates");
    assert_eq!(plan.scripts.len(), 2);
    assert_eq!(plan.scripts[0].turns.len(), 5);
    assert_eq!(plan.scripts[1].weight, 2.0);
    assert_eq!(plan.barge_in, 0.3);
    assert_eq!(plan.slo.len(), 3);
    assert!(plan.target.noise_between_turns);
    // The test voice speaks 15 characters a second: 33 characters ≈ 2.2 s.
    let first = plan.scripts[1].speech_s[0];
    assert!((first - 33.0 / 15.0).abs() < 0.01, "{first}");
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn an_unknown_key_names_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "url = \"ws://127.0.0.1:9/a\"\nconcurrency = 2\nbarge_inn = 0.5\n",
    );
    let e = AgentOptions::from_file(&path)
        .expect_err("typo")
        .to_string();
    assert!(e.contains("scenario.toml"), "{e}");
    assert!(e.contains("line 3") && e.contains("barge_inn"), "{e}");
}

#[test]
fn flags_override_the_file_and_workload_keys_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "url = \"ws://127.0.0.1:9/a\"\nconcurrency = 2\nrequests = 7\nbarge_in = 0.5\n",
    );
    let file = AgentOptions::from_file(&path).expect("parses");
    let flags = AgentOptions {
        barge_in: Some(0.25),
        workload: WorkloadOptions {
            requests: Some(3),
            ..WorkloadOptions::default()
        },
        ..AgentOptions::default()
    };
    let plan = AgentPlan::from_options(file.merged_with(flags), &|_| None).expect("valid");
    assert_eq!(plan.barge_in, 0.25);
    assert_eq!(plan.stages.len(), 1);
    assert_eq!(plan.stages[0].requests, Some(3));
    assert_eq!(plan.scripts.len(), 2, "seed 003's default conversations");
}

#[test]
fn scripts_load_audio_files_relative_to_the_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 0.5 s of 8 kHz WAV, converted to the 16 kHz the caller sends.
    let pcm: Vec<u8> = (0..4000i16)
        .flat_map(|i| ((i % 50) * 300).to_le_bytes())
        .collect();
    std::fs::write(
        dir.path().join("a.wav"),
        crate::audio::convert::wav_file(&pcm, 8000),
    )
    .expect("wav");
    let path = write(
        dir.path(),
        "url = \"ws://127.0.0.1:9/a\"\n[[script]]\nname = \"s\"\nturns = [\"a.wav\", \"a.wav\"]\n",
    );
    let o = AgentOptions::from_file(&path).expect("parses");
    let plan = AgentPlan::from_options(o, &|_| None).expect("valid");
    let s = &plan.scripts[0];
    assert_eq!(s.turns.len(), 2);
    assert_eq!(s.turns[0].len(), 16_000, "0.5 s at 16 kHz, 16-bit");
    assert!((s.speech_s[1] - 0.5).abs() < 1e-9);
}

#[test]
fn bad_options_are_named() {
    let opts = |f: &dyn Fn(&mut AgentOptions)| {
        let mut o = AgentOptions {
            url: Some("ws://127.0.0.1:9/a".into()),
            ..AgentOptions::default()
        };
        f(&mut o);
        AgentPlan::from_options(o, &|_| None)
            .expect_err("invalid")
            .to_string()
    };
    assert!(opts(&|o| o.url = None).contains("--url"));
    assert!(opts(&|o| o.url = Some("http://x/a".into())).contains("ws://"));
    assert!(opts(&|o| o.barge_in = Some(1.5)).contains("--barge-in"));
    assert!(opts(&|o| o.answer_timeout = Some(Duration::ZERO)).contains("--answer-timeout"));
    assert!(opts(&|o| o.frame_encoding = Some("base64".into())).contains("--frame-encoding"));
    let e = opts(&|o| {
        o.script = Some(vec![ScriptOptions {
            name: "empty".into(),
            ..ScriptOptions::default()
        }])
    });
    assert!(e.contains("'empty'") && e.contains("exactly one of"), "{e}");
    let e = opts(&|o| o.api_key_env = Some("VOXLOAD_SURELY_UNSET_VAR".into()));
    assert!(e.contains("VOXLOAD_SURELY_UNSET_VAR"), "{e}");
}

#[test]
fn the_api_key_never_reaches_the_recorded_config() {
    let o = AgentOptions {
        url: Some("ws://127.0.0.1:9/a".into()),
        api_key_env: Some("KEY".into()),
        header: Some(vec!["X-Api-Key: hunter2-header".into()]),
        ..AgentOptions::default()
    };
    let plan = AgentPlan::from_options(o, &|_| Some("sk-secret-agent".into())).expect("valid");
    assert!(plan
        .target
        .headers
        .iter()
        .any(|(_, v)| v.contains("sk-secret-agent")));
    let json = serde_json::to_string(&plan).expect("serialize");
    assert!(
        !json.contains("sk-secret-agent") && !json.contains("hunter2"),
        "{json}"
    );
}
