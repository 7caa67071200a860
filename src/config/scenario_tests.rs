//! Scenario files: one scenario at the top level, or `[[scenario]]`
//! blocks; every error names the file and its line.

use super::*;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("s.toml");
    std::fs::write(&path, text).expect("write");
    path
}

fn read(text: &str, service: Option<Service>) -> Result<RunOptions, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    RunOptions::read(&write(dir.path(), text), service).map_err(|e| e.to_string())
}

const MIXED: &str = r#"name = "mixed"
rate = [2, 4]
duration = "5s"
slo = ["errors<1%"]

[[scenario]]
kind = "tts"
weight = 2
url = "http://127.0.0.1:8000"
texts = "texts.txt"
[scenario.target]
framing = "raw"

[[scenario]]
kind = "asr"
name = "listen"
url = "ws://127.0.0.1:8000/v1/realtime/transcribe"
audio = ["corpus/manifest.jsonl"]
slo = ["final.p95<1s"]

[[scenario]]
kind = "agent"
concurrency = 2
url = "ws://127.0.0.1:8000/v1/agent"
[[scenario.script]]
name = "hi"
texts = ["hello there"]
"#;

#[test]
fn a_one_scenario_file_reads_as_before() {
    let o = read(
        "url = \"http://h\"\nrate = \"1:3:1\"\nname = \"n\"\nvoice = [\"a\", \"b\"]\n",
        Some(Service::Tts),
    )
    .expect("valid");
    assert_eq!(o.common.name.as_deref(), Some("n"));
    assert_eq!(o.workload.level_count(), Some(3));
    let [s] = o.scenarios.as_slice() else {
        panic!("one scenario")
    };
    let ProtocolOptions::Tts(t) = &s.protocol else {
        panic!("tts")
    };
    assert_eq!(t.endpoint.voice.as_ref().map(Vec::len), Some(2));
}

#[test]
fn blocks_hold_their_kind_weight_workload_tables_and_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), MIXED);
    let o = RunOptions::read(&path, None).expect("valid");
    assert_eq!(o.common.name.as_deref(), Some("mixed"));
    assert_eq!(o.workload.level_count(), Some(2));
    let services: Vec<Service> = o.scenarios.iter().map(|s| s.protocol.service()).collect();
    assert_eq!(services, [Service::Tts, Service::Asr, Service::Agent]);
    let [tts, asr, agent] = o.scenarios.as_slice() else {
        panic!("three")
    };
    assert_eq!((tts.weight, tts.name.as_deref()), (Some(2.0), None));
    assert_eq!(asr.name.as_deref(), Some("listen"));
    assert_eq!(asr.slo.as_ref().map(Vec::len), Some(1));
    assert_eq!(
        agent.workload.concurrency.as_ref().map(|c| c.0.clone()),
        Some(vec![2.0])
    );
    let ProtocolOptions::Tts(t) = &tts.protocol else {
        panic!("tts")
    };
    assert_eq!(
        t.endpoint
            .target
            .as_ref()
            .and_then(|t| t.framing.as_deref()),
        Some("raw")
    );
    assert_eq!(
        t.texts.as_deref(),
        Some(dir.path().join("texts.txt").as_path())
    );
    let ProtocolOptions::Agent(a) = &agent.protocol else {
        panic!("agent")
    };
    assert_eq!(a.script.as_ref().map(|s| s[0].name.as_str()), Some("hi"));
}

#[test]
fn errors_in_blocks_name_their_line() {
    let cases = [
        (
            MIXED.replace("weight = 2", "wieght = 2"),
            "line 8",
            "unknown key 'wieght'",
        ),
        (
            MIXED.replace("concurrency = 2", "concurrency = \"many\""),
            "line 23",
            "many",
        ),
        (
            MIXED.replace("kind = \"asr\"", "kind = \"stt\""),
            "line 15",
            "kind 'stt'",
        ),
        (
            MIXED.replace("kind = \"agent\"\n", ""),
            "line 21",
            "needs kind",
        ),
        (
            MIXED.replace("name = \"hi\"", "nmae = \"hi\""),
            "line 26",
            "nmae",
        ),
        (
            format!("url = \"http://h\"\n{MIXED}"),
            "line 1",
            "unknown key 'url'",
        ),
    ];
    for (text, line, word) in cases {
        let e = read(&text, None).expect_err(word);
        assert!(
            e.contains("s.toml") && e.contains(line) && e.contains(word),
            "{word}: {e}"
        );
    }
}

#[test]
fn a_one_scenario_file_needs_a_kind_for_run_and_the_right_command() {
    let e = read("url = \"http://h\"\n", None).expect_err("no kind");
    assert!(e.contains("kind"), "{e}");
    let o = read(
        "kind = \"asr\"\nurl = \"http://h\"\naudio = [\"a.wav\"]\n",
        None,
    )
    .expect("kind");
    assert_eq!(o.scenarios[0].protocol.service(), Service::Asr);
    let e = read("kind = \"asr\"\nurl = \"http://h\"\n", Some(Service::Tts)).expect_err("wrong");
    assert!(e.contains("voxload asr"), "{e}");
    let e = read(MIXED, Some(Service::Tts)).expect_err("several");
    assert!(
        e.contains("3 scenarios") && e.contains("voxload run"),
        "{e}"
    );
    let e = read("url = \"http://h\"\nconcurency = 4\n", Some(Service::Tts)).expect_err("typo");
    assert!(e.contains("line 2") && e.contains("concurency"), "{e}");
    let e = read("url = \"http://h\"\nrequests = \"x\"\n", Some(Service::Tts)).expect_err("bad");
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn flags_lay_over_the_file() {
    let o = read(
        "url = \"http://file\"\nrate = [1, 2]\nrequests = 50\n",
        Some(Service::Tts),
    )
    .expect("valid");
    let flags = WorkloadOptions {
        rate: Some("5".parse().expect("levels")),
        ..WorkloadOptions::default()
    };
    let tts = ProtocolOptions::Tts(TtsOptions {
        endpoint: crate::config::tts::TtsEndpointOptions {
            model: Some("m".into()),
            ..Default::default()
        },
        ..TtsOptions::default()
    });
    let o = o
        .with_flags(&CommonOptions::default(), &flags, Some(&tts))
        .expect("merges");
    assert_eq!(o.workload.rate.map(|l| l.0), Some(vec![5.0]));
    assert_eq!(o.workload.requests, Some(50));
    let ProtocolOptions::Tts(t) = &o.scenarios[0].protocol else {
        panic!("tts")
    };
    assert_eq!(t.endpoint.url.as_deref(), Some("http://file"));
    assert_eq!(t.endpoint.model.as_deref(), Some("m"));
}

#[test]
fn key_line_finds_keys_tables_and_quoted_keys_not_prefixes() {
    let text = "concurrency = 2\nconc = 1\n\"quoted\" = 1\ndotted.x = 1\n[table]\n[[list]]\n";
    assert_eq!(key_line(text, "conc"), Some(2));
    assert_eq!(key_line(text, "quoted"), Some(3));
    assert_eq!(key_line(text, "dotted"), Some(4));
    assert_eq!(key_line(text, "table"), Some(5));
    assert_eq!(key_line(text, "list"), Some(6));
    assert_eq!(key_line(text, "missing"), None);
}

#[test]
fn a_message_template_key_takes_one_string_or_a_list() {
    let one =
        "kind = \"agent\"\nurl = \"ws://h:1\"\nend_of_speech_message = '{\"type\":\"commit\"}'\n";
    let many = "kind = \"agent\"\nurl = \"ws://h:1\"\nend_of_speech_message = ['{\"type\":\"commit\"}', '{\"type\":\"go\"}']\n";
    for (text, want) in [(one, 1), (many, 2)] {
        let o = read(text, Some(Service::Agent)).expect("valid");
        let ProtocolOptions::Agent(a) = &o.scenarios[0].protocol else {
            panic!("agent")
        };
        assert_eq!(a.end_of_speech_message.as_ref().map(Vec::len), Some(want));
    }
    let e = read(
        "kind = \"agent\"\nurl = \"ws://h:1\"\nstart_message = 3\n",
        None,
    )
    .expect_err("a number");
    assert!(e.contains("s.toml") && e.contains("line 3"), "{e}");
}
