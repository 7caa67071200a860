//! Bad input gives a clear error naming the file, line or flag, and a
//! non-zero exit — never a panic. Runs the built binary.

mod common;

use std::path::Path;
use std::process::Output;

use common::voxload;

/// Exit code, stderr; and no panic message anywhere.
fn failed(out: &Output) -> (i32, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn unreachable_url_is_one_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 1 on loopback: nothing listens there.
    let out = voxload(
        &["tts", "--url", "http://127.0.0.1:1", "-n", "3", "-q"],
        dir.path(),
    );
    let (code, err) = failed(&out);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot connect to http://127.0.0.1:1"),
        "{err}"
    );
}

#[test]
fn malformed_samples_json_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.json"),
        "{\"samples\": [\n  \"one\",\n  two\n]}\n",
    )
    .expect("write");
    let out = voxload(
        &["tts", "--url", "http://127.0.0.1:1", "--texts", "bad.json"],
        dir.path(),
    );
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("bad.json:3"), "file and line: {err}");
}

#[test]
fn empty_samples_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("empty.json"), "{\"samples\": []}").expect("write");
    let out = voxload(
        &[
            "tts",
            "--url",
            "http://127.0.0.1:1",
            "--texts",
            "empty.json",
        ],
        dir.path(),
    );
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(
        err.contains("empty.json") && err.to_lowercase().contains("no"),
        "{err}"
    );
}

#[test]
fn unknown_format_and_conflicting_flags_name_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = voxload(
        &["tts", "--url", "http://127.0.0.1:1", "--format", "aiff"],
        dir.path(),
    );
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("--format") && err.contains("aiff"), "{err}");

    let out = voxload(
        &[
            "tts",
            "--url",
            "http://127.0.0.1:1",
            "--rate",
            "5",
            "--concurrency",
            "2",
        ],
        dir.path(),
    );
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(
        err.contains("--rate") && err.contains("--concurrency"),
        "{err}"
    );

    // clap rejects a malformed level list itself (exit 2), showing the syntax.
    let out = voxload(
        &["tts", "--url", "http://127.0.0.1:1", "--rate", "1:x"],
        dir.path(),
    );
    let (code, err) = failed(&out);
    assert_eq!(code, 2);
    assert!(
        err.contains("--rate") && err.contains("expected e.g."),
        "{err}"
    );
}

#[test]
fn scenario_typo_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("s.toml"),
        "url = \"http://127.0.0.1:1\"\nrequets = 5\n",
    )
    .expect("write");
    let out = voxload(&["tts", "--config", "s.toml"], dir.path());
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(
        err.contains("s.toml") && err.contains("line 2") && err.contains("requets"),
        "{err}"
    );
}

#[test]
fn texts_command_reports_lengths_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("t.txt"),
        "Hello there.\nA somewhat longer second line.\n",
    )
    .expect("write");
    let out = voxload(&["texts", "t.txt"], dir.path());
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains('2'), "count shown: {text}");
    let out = voxload(&["texts", "missing.json"], dir.path());
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("missing.json"), "{err}");
}

#[test]
fn agent_errors_name_the_flag_or_the_script_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = voxload(&["agent", "--url", "http://127.0.0.1:1/agent"], dir.path());
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("--url") && err.contains("ws://"), "{err}");

    let out = voxload(
        &[
            "agent",
            "--url",
            "ws://127.0.0.1:1/agent",
            "--barge-in",
            "2",
        ],
        dir.path(),
    );
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("--barge-in"), "{err}");

    std::fs::write(
        dir.path().join("a.toml"),
        "url = \"ws://127.0.0.1:1/agent\"\n[[script]]\nname = \"call\"\nturns = [\"missing.wav\"]\n",
    )
    .expect("write");
    let out = voxload(&["agent", "--config", "a.toml"], dir.path());
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(err.contains("missing.wav"), "{err}");

    // Nothing listening: one clear error before any call.
    let out = voxload(
        &["agent", "--url", "ws://127.0.0.1:1/agent", "-n", "1", "-q"],
        dir.path(),
    );
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot connect to ws://127.0.0.1:1/agent"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named_once_with_its_cause_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("calls.toml"),
        "[[script]]\nname = \"a\"\nturns = [\"nothere.wav\"]\n",
    )
    .expect("write");
    for args in [
        &[
            "tts",
            "--url",
            "http://127.0.0.1:1",
            "--texts",
            "nothere.txt",
        ][..],
        &[
            "agent",
            "--url",
            "ws://127.0.0.1:1/v1/agent",
            "--config",
            "calls.toml",
        ][..],
    ] {
        let (code, err) = failed(&voxload(args, dir.path()));
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("nothere."), "{err}");
        assert_eq!(err.matches("No such file").count(), 1, "{err}");
    }
}

#[test]
fn an_slo_the_run_cannot_measure_is_refused_before_any_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on port 1: the SLO must fail first, before any connection.
    let out = voxload(
        &[
            "asr",
            "--url",
            "ws://127.0.0.1:1/v1/realtime/transcribe",
            "--text",
            "hello there",
            "--slo",
            "ttfa.p95<300ms",
        ],
        dir.path(),
    );
    let (code, err) = failed(&out);
    assert_eq!(code, 1);
    assert!(
        err.contains("--slo") && err.contains("ttfa cannot be measured") && err.contains("ws_asr"),
        "{err}"
    );
    assert!(!err.contains("cannot connect"), "{err}");
}

#[test]
fn scenario_files_say_how_to_run_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mixed = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mixed.toml");
    let mixed = mixed.to_str().expect("utf-8 path");
    let (code, err) = failed(&voxload(&["tts", "--config", mixed], dir.path()));
    assert_eq!(code, 1);
    assert!(
        err.contains("3 scenarios") && err.contains("voxload run"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("one.toml"),
        "url = \"http://127.0.0.1:1\"\n",
    )
    .expect("write");
    let (code, err) = failed(&voxload(&["run", "one.toml"], dir.path()));
    assert_eq!(code, 1);
    assert!(err.contains("one.toml") && err.contains("kind"), "{err}");
    let (code, err) = failed(&voxload(
        &["run", mixed, "--slo", "nope:errors<1%"],
        dir.path(),
    ));
    assert_eq!(code, 1);
    assert!(
        err.contains("no scenario named 'nope'") && err.contains("tts, asr, agent"),
        "{err}"
    );
}

#[test]
fn judge_flags_are_checked_and_only_tts_has_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tts = |extra: &[&str]| {
        let mut args = vec!["tts", "--url", "http://127.0.0.1:1", "-q"];
        args.extend_from_slice(extra);
        failed(&voxload(&args, dir.path()))
    };
    for share in ["0", "1.5", "-0.2"] {
        let share = format!("--judge-share={share}");
        let (code, err) = tts(&["--judge-asr", "http://127.0.0.1:1", &share]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("--judge-share") && err.contains("(0, 1]"),
            "{err}"
        );
    }
    let (code, err) = tts(&["--judge-asr", "ftp://127.0.0.1/asr"]);
    assert_eq!(code, 1);
    assert!(err.contains("--judge-asr") && err.contains("http"), "{err}");
    // A bad URL is named without its password.
    let (code, err) = tts(&["--judge-asr", "http://me:hunter2@127.0.0.1:99999"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--judge-asr") && !err.contains("hunter2"),
        "{err}"
    );
    let (code, err) = tts(&["--judge-share", "0.5"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--judge-share") && err.contains("needs --judge-asr"),
        "{err}"
    );
    let (code, err) = tts(&[
        "--judge-asr",
        "http://127.0.0.1:1",
        "--judge-concurrency",
        "0",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--judge-concurrency"), "{err}");
    let (code, err) = tts(&["--slo", "judge_wer_pooled<5%"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("judge_wer_pooled") && err.contains("--judge-asr"),
        "{err}"
    );
    // The judge listens to synthesized speech: asr and agent do not offer it.
    for cmd in [
        vec!["asr", "--url", "http://127.0.0.1:1", "--text", "hi"],
        vec!["agent", "--url", "ws://127.0.0.1:1/v1/agent"],
    ] {
        let mut args = cmd.clone();
        args.extend(["--judge-asr", "http://127.0.0.1:1"]);
        let (code, err) = failed(&voxload(&args, dir.path()));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--judge-asr"), "{err}");
    }
    // A scenario file sets them as keys; bad values are named the same way.
    std::fs::write(
        dir.path().join("s.toml"),
        "url = \"http://127.0.0.1:1\"\njudge_asr = \"http://127.0.0.1:1\"\njudge_share = 2.0\n",
    )
    .expect("write");
    let (code, err) = failed(&voxload(&["tts", "--config", "s.toml"], dir.path()));
    assert_eq!(code, 1);
    assert!(err.contains("--judge-share"), "{err}");
    std::fs::write(
        dir.path().join("s.toml"),
        "url = \"http://127.0.0.1:1\"\njudge_asr = \"http://127.0.0.1:1\"\njudge_share = \"lots\"\n",
    )
    .expect("write");
    let (code, err) = failed(&voxload(&["tts", "--config", "s.toml"], dir.path()));
    assert_eq!(code, 1);
    assert!(err.contains("s.toml") && err.contains("line 3"), "{err}");
}

#[test]
fn scrape_flags_are_checked_before_the_run_naming_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |cmd: &[&str], extra: &[&str]| {
        let mut args = cmd.to_vec();
        args.extend(extra);
        failed(&voxload(&args, dir.path()))
    };
    let tts = ["tts", "--url", "http://127.0.0.1:1"];
    let ok_url = ["--scrape", "http://127.0.0.1:1/metrics"];
    for (extra, flag, what) in [
        (&["--scrape-every", "0s"][..], "--scrape-every", "above 0"),
        (&["--scrape-series", ""][..], "--scrape-series", "empty"),
        (&["--scrape-series", " , "][..], "--scrape-series", "empty"),
        (
            &["--scrape-series", "a,b-c"][..],
            "--scrape-series",
            "'b-c'",
        ),
    ] {
        let (code, err) = run(&tts, &[&ok_url[..], extra].concat());
        assert_eq!(code, 1, "{extra:?}: {err}");
        assert!(err.contains(flag) && err.contains(what), "{extra:?}: {err}");
    }
    let (code, err) = run(&tts, &["--scrape", "ftp://127.0.0.1/metrics"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--scrape") && err.contains("http://"), "{err}");
    // A credential in a refused URL is not echoed.
    let (code, err) = run(&tts, &["--scrape", "ftp://me:hunter2@127.0.0.1/metrics"]);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let (code, err) = run(&tts, &["--scrape-every", "1s"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--scrape-every") && err.contains("--scrape "),
        "{err}"
    );
    // Every run command has them (run-wide options), parsed by clap first.
    let (code, err) = run(
        &["asr", "--url", "http://127.0.0.1:1", "--text", "hi"],
        &[&ok_url[..], &["--scrape-every", "soon"]].concat(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--scrape-every"), "{err}");
    let (code, err) = run(
        &["agent", "--url", "ws://127.0.0.1:1/v1/agent"],
        &[&ok_url[..], &["--scrape-every", "0s"]].concat(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--scrape-every"), "{err}");
    // As file keys, named the same way.
    std::fs::write(
        dir.path().join("s.toml"),
        "url = \"http://127.0.0.1:1\"\nscrape = [\"http://127.0.0.1:1/metrics\"]\nscrape_every = \"0s\"\n",
    )
    .expect("write");
    let (code, err) = failed(&voxload(&["tts", "--config", "s.toml"], dir.path()));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--scrape-every"), "{err}");
}
