//! Validation of voice-agent options (files are read by `scenario`).

use super::*;
use crate::config::target::HeaderOptions;
use crate::config::{ProtocolOptions, RunOptions};
use crate::protocol::Service;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/agent.toml")
}

/// The agent options of a one-scenario file.
fn read(path: &Path) -> Result<(RunOptions, AgentOptions), String> {
    let run = RunOptions::read(path, Some(Service::Agent)).map_err(|e| e.to_string())?;
    match &run.scenarios[0].protocol {
        ProtocolOptions::Agent(a) => {
            let a = a.clone();
            Ok((run, a))
        }
        other => Err(format!("not an agent scenario: {other:?}")),
    }
}

#[test]
fn the_example_scenario_is_valid() {
    let (run, o) = read(&example()).expect("example parses");
    let (target, inputs) = o.build(&|_| None).expect("example validates");
    assert_eq!(inputs.scripts.len(), 2);
    assert_eq!(inputs.scripts[0].turns.len(), 5);
    assert_eq!(inputs.scripts[1].weight, 2.0);
    assert_eq!(inputs.barge_in, 0.3);
    assert_eq!(run.common.slo.as_ref().map(Vec::len), Some(3));
    assert!(matches!(&target, Target::WsAgent(t) if t.noise_between_turns));
    // The test voice speaks 15 characters a second: 33 characters ≈ 2.2 s.
    let first = inputs.scripts[1].speech_s[0];
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
    let e = read(&path).expect_err("typo");
    assert!(e.contains("scenario.toml"), "{e}");
    assert!(e.contains("line 3") && e.contains("barge_inn"), "{e}");
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
    let (_, o) = read(&path).expect("parses");
    let (_, inputs) = o.build(&|_| None).expect("valid");
    let s = &inputs.scripts[0];
    assert_eq!(s.turns.len(), 2);
    assert_eq!(
        s.turns[0].samples().map(bytes::Bytes::len),
        Some(16_000),
        "0.5 s at 16 kHz, 16-bit"
    );
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
        o.build(&|_| None).expect_err("invalid").to_string()
    };
    assert!(opts(&|o| o.url = None).contains("--url"));
    assert!(opts(&|o| o.url = Some("http://x/a".into())).contains("ws://"));
    assert!(opts(&|o| o.barge_in = Some(1.5)).contains("--barge-in"));
    assert!(opts(&|o| o.answer_timeout = Some(Duration::ZERO)).contains("--answer-timeout"));
    assert!(opts(&|o| o.frame = Some(Duration::ZERO)).contains("--frame"));
    assert!(opts(&|o| o.frame_encoding = Some("base64".into())).contains("--frame-encoding"));
    let e = opts(&|o| o.ws_max_message = Some(0));
    assert!(
        e.contains("--ws-max-message") && e.contains("greater than 0"),
        "{e}"
    );
    let e = opts(&|o| {
        o.script = Some(vec![ScriptOptions {
            name: "empty".into(),
            ..ScriptOptions::default()
        }])
    });
    assert!(e.contains("'empty'") && e.contains("exactly one of"), "{e}");
    let e = opts(&|o| o.headers.api_key_env = Some("VOXLOAD_SURELY_UNSET_VAR".into()));
    assert!(e.contains("VOXLOAD_SURELY_UNSET_VAR"), "{e}");
}

#[test]
fn webrtc_calls_are_checked_and_named_by_flag() {
    let rtc = |f: &dyn Fn(&mut AgentOptions)| {
        let mut o = AgentOptions {
            url: Some("http://127.0.0.1:9/api/offer".into()),
            transport: Some("webrtc".into()),
            ..AgentOptions::default()
        };
        f(&mut o);
        o.build(&|_| None).map(|(t, _)| t)
    };
    let Ok(Target::RtcAgent(t)) = rtc(&|_| {}) else {
        panic!("a WebRTC target");
    };
    assert_eq!(t.signal, Signal::Pipecat);
    assert_eq!(t.audible_dbfs, DEFAULT_AUDIBLE_DBFS);
    // Agent audio is decoded Opus: 48 kHz, whatever the caller's rate.
    assert_eq!(
        (t.agent.agent_sample_rate, t.agent.sample_rate),
        (48_000, 16_000)
    );
    let Ok(Target::RtcAgent(t)) = rtc(&|o| {
        o.signal = Some("whip".into());
        o.audible_level = Some(-50.0);
        o.data_channel = Some("oai-events".into());
    }) else {
        panic!("a WebRTC target");
    };
    assert_eq!(t.signal, Signal::Whip);
    assert_eq!(t.audible_dbfs, -50.0);
    assert_eq!(t.channel.as_deref(), Some("oai-events"));
    // OpenAI's calls carry their events on `oai-events` unless told.
    let Ok(Target::RtcAgent(t)) = rtc(&|o| o.signal = Some("openai".into())) else {
        panic!("an OpenAI WebRTC target");
    };
    assert_eq!(
        (t.signal, t.channel.as_deref()),
        (Signal::OpenAi, Some("oai-events"))
    );
    let Ok(Target::RtcAgent(t)) = rtc(&|o| {
        o.signal = Some("openai".into());
        o.data_channel = Some(String::new());
    }) else {
        panic!("an OpenAI WebRTC target");
    };
    assert_eq!(t.channel, None, "an empty --data-channel: none");
    let err = |f: &dyn Fn(&mut AgentOptions)| rtc(f).expect_err("invalid").to_string();
    assert!(err(&|o| o.transport = Some("sip".into())).contains("--transport"));
    assert!(err(&|o| o.signal = Some("livekit".into())).contains("--signal"));
    assert!(err(&|o| o.audible_level = Some(3.0)).contains("--audible-level"));
    assert!(err(&|o| o.codec = Some("alaw".into())).contains("--codec"));
    assert!(err(&|o| o.codec = Some("pcm16".into())).contains("--codec"));
    assert_eq!(t.codec, PacketCodec::Opus);
    // μ-law at 8 kHz instead, by any of its names; the scripts stay PCM.
    for name in ["pcmu", "mulaw", "PCMU"] {
        let Ok(Target::RtcAgent(t)) = rtc(&|o| o.codec = Some(name.into())) else {
            panic!("a PCMU WebRTC target for {name}");
        };
        assert_eq!(t.codec, PacketCodec::Pcmu);
        assert_eq!(
            (t.agent.agent_sample_rate, t.agent.codec),
            (8_000, Codec::Pcm16)
        );
    }
    let Ok(Target::RtcAgent(t)) = rtc(&|o| o.codec = Some("opus".into())) else {
        panic!("an Opus WebRTC target");
    };
    assert_eq!(t.codec, PacketCodec::Opus);
    assert!(err(&|o| o.url = Some("ws://127.0.0.1:9/a".into())).contains("--url"));
    // WebRTC flags on a WebSocket call are a mistake, not ignored.
    assert!(err(&|o| {
        o.transport = None;
        o.url = Some("ws://127.0.0.1:9/a".into());
        o.signal = Some("whip".into());
    })
    .contains("--signal"));
}

#[test]
fn an_ogg_opus_turn_is_loaded_as_packets_only_for_a_webrtc_opus_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let packets = vec![vec![31 << 3, 1, 2, 3]; 3];
    let file = crate::audio::ogg_packets::tests::ogg_file(&packets, 312, 2 * 960 + 480);
    std::fs::write(dir.path().join("a.opus"), file).expect("opus");
    let load = |head: &str| {
        let text = format!("{head}[[script]]\nname = \"s\"\nturns = [\"a.opus\"]\n");
        let (_, o) = read(&write(dir.path(), &text))?;
        o.build(&|_| None).map_err(|e| e.to_string())
    };
    let webrtc = "transport = \"webrtc\"\nurl = \"http://127.0.0.1:9/api/offer\"\n";
    let (_, inputs) = load(webrtc).expect("a WebRTC call over Opus");
    let s = &inputs.scripts[0];
    let TurnAudio::OpusPackets(track) = &s.turns[0] else {
        panic!("kept as packets: {:?}", s.turns[0]);
    };
    assert_eq!(track.packets.len(), 3);
    assert_eq!(track.packets[1].data[..], packets[1][..], "as they were");
    assert!(
        (s.speech_s[0] - 0.05).abs() < 1e-9,
        "granules: {:?}",
        s.speech_s
    );
    // Every other transport needs samples, and Opus is not decoded for
    // them: the file is named.
    for head in [
        "url = \"ws://127.0.0.1:9/a\"\n".to_string(),
        format!("{webrtc}codec = \"pcmu\"\n"),
    ] {
        let e = load(&head).expect_err("not samples");
        assert!(e.contains("a.opus"), "{head}: {e}");
    }
}

#[test]
fn the_api_key_never_reaches_the_recorded_config() {
    let o = AgentOptions {
        url: Some("ws://127.0.0.1:9/a".into()),
        headers: HeaderOptions {
            api_key_env: Some("KEY".into()),
            header: Some(vec!["X-Api-Key: hunter2-header".into()]),
            api_key_prefix: None,
        },
        ..AgentOptions::default()
    };
    let (target, _) = o.build(&|_| Some("sk-secret-agent".into())).expect("valid");
    assert!(target
        .headers()
        .iter()
        .any(|(_, v)| v.contains("sk-secret-agent")));
    let json = serde_json::to_string(&target).expect("serialize");
    assert!(
        !json.contains("sk-secret-agent") && !json.contains("hunter2"),
        "{json}"
    );
}
