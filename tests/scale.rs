//! `voxload scale` against a scale command that restarts the mock with
//! `--slots n`: the mock's throughput is known from its model (n slots,
//! each serving a request in 50 ms + its audio ÷ 20), so each count's rate
//! and the efficiency are checked against it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use voxload::result::RunResult;

/// The text sent: 17 characters, 1.133 s of audio at the mock's 15 per second.
const TEXT: &str = "A short sentence.";

/// Requests per second one slot serves: 1 ÷ (50 ms + 1.133 s ÷ 20).
fn per_slot() -> f64 {
    1.0 / (0.050 + TEXT.len() as f64 / 15.0 / 20.0)
}

/// Restarts the mock on $PORT with the given number of slots.
const SCALE_SH: &str = r#"#!/bin/sh
set -e
dir=$(dirname "$0")
if [ -f "$dir/mock.pid" ]; then
  pid=$(cat "$dir/mock.pid")
  kill "$pid" 2>/dev/null || true
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
fi
"$VOXLOAD_BIN" mock --port "$PORT" --slots "$1" --queue 100 --overhead 50ms --speed 20 --seed 1 \
  >"$dir/mock-$1.log" 2>&1 &
echo $! > "$dir/mock.pid"
"#;

/// Kills the mock the script started, however the test ends.
struct MockProcess(PathBuf);

impl Drop for MockProcess {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join("mock.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_voxload")
}

/// Run the script by hand (the target is up before the test starts) and
/// wait until the mock answers.
fn start_mock(dir: &Path, port: u16, slots: u32) {
    let ok = Command::new("sh")
        .arg(dir.join("scale.sh"))
        .arg(slots.to_string())
        .env("VOXLOAD_BIN", bin())
        .env("PORT", port.to_string())
        .status()
        .expect("script runs");
    assert!(ok.success());
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("the mock did not start on {port}");
}

fn scale(
    dir: &Path,
    port: u16,
    name: &str,
    script: &str,
    workers: &str,
) -> (std::process::Output, RunResult) {
    let url = format!("http://127.0.0.1:{port}");
    let texts = dir.join("texts.txt");
    let out = Command::new(bin())
        .args([
            "scale",
            "--workers",
            workers,
            "--scale-cmd",
            &format!("sh {} {{n}}", dir.join(script).display()),
            "--ready-url",
            &format!("{url}/health"),
            "tts",
            "--url",
            &format!("{url}/v1/audio/speech"),
            "--texts",
            texts.to_str().expect("utf-8 path"),
            "--concurrency",
            "12",
            "--duration",
            "5s",
            "-q",
            "--out",
            dir.to_str().expect("utf-8 path"),
            "--name",
            name,
        ])
        .env("VOXLOAD_BIN", bin())
        .env("PORT", port.to_string())
        .current_dir(dir)
        .output()
        .expect("voxload runs");
    let text = std::fs::read_to_string(dir.join(name).join("result.json"))
        .unwrap_or_else(|e| panic!("result.json: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
    let result: RunResult = serde_json::from_str(&text).expect("result.json parses");
    (out, result)
}

#[test]
fn each_count_serves_its_slots_and_efficiency_matches_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("scale.sh"), SCALE_SH).expect("script");
    std::fs::write(d.join("texts.txt"), format!("{TEXT}\n")).expect("texts");
    let _mock = MockProcess(d.to_path_buf());
    let port = free_port();
    start_mock(d, port, 1);

    let (out, result) = scale(d, port, "s", "scale.sh", "1,2,3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = result.scale.as_ref().expect("a scale result");
    assert_eq!(s.rate_of, "throughput");
    let workers: Vec<u32> = s.steps.iter().map(|st| st.workers).collect();
    assert_eq!(workers, vec![1, 2, 3]);
    assert_eq!(result.stages.len(), 3, "one stage per count");
    for (i, st) in s.steps.iter().enumerate() {
        assert_eq!(st.stages, vec![i]);
        assert!(result.stages[i]
            .label
            .starts_with(&format!("{} workers", st.workers)));
        // The mock the script restarted really had n slots.
        let log =
            std::fs::read_to_string(d.join(format!("mock-{}.log", st.workers))).expect("mock log");
        assert!(!log.is_empty());
        let model = per_slot() * f64::from(st.workers);
        let rate = st.rate.expect("rate");
        assert!(
            (rate / model - 1.0).abs() < 0.10,
            "{} workers: {rate:.2}/s, model {model:.2}/s",
            st.workers
        );
        let e = st.efficiency.expect("efficiency");
        assert!(
            (e - 1.0).abs() < 0.10,
            "{} workers: efficiency {e:.3}",
            st.workers
        );
        let ready = st.ready.as_ref().expect("ready polled");
        assert!(ready.after_s.is_some() && ready.polls >= 1, "{ready:?}");
        assert!(st.p50_ms.is_some());
    }
    assert!(stdout.contains("scaling (highest throughput"), "{stdout}");
    assert!(d.join("s").join("scaling.svg").exists());
    let html = std::fs::read_to_string(d.join("s").join("report.html")).expect("report.html");
    assert!(html.contains("<h2 id=\"scaling\">Scaling</h2>") && html.contains("chart-scaling"));

    // A scale command that fails at 2 workers: the run ends there, with
    // exit 1, the first count kept and the failure said.
    std::fs::write(
        d.join("fail.sh"),
        format!("#!/bin/sh\n[ \"$1\" = 2 ] && {{ echo 'no capacity left' >&2; exit 3; }}\nexec sh {} \"$1\"\n", d.join("scale.sh").display()),
    )
    .expect("script");
    let (out, result) = scale(d, port, "f", "fail.sh", "1,2,3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the scale command for 2 workers failed"),
        "{stderr}"
    );
    assert!(stderr.contains("no capacity left"), "{stderr}");
    let s = result.scale.as_ref().expect("a scale result");
    assert_eq!(s.steps.len(), 1);
    assert!(s.error.as_deref().is_some_and(|e| e.contains("2 workers")));
    assert_eq!(result.stages.len(), 1);
}

#[test]
fn bad_scale_options_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, says) in [
        (
            vec!["--workers", "0,1", "--scale-cmd", "x {n}"],
            "--workers",
        ),
        (vec!["--workers", "1,2", "--scale-cmd", "x"], "{n}"),
        (
            vec![
                "--workers",
                "1",
                "--scale-cmd",
                "x {n}",
                "--ready-url",
                "ftp://h/",
            ],
            "--ready-url",
        ),
    ] {
        let mut all = vec!["scale"];
        all.extend(args);
        all.extend([
            "tts",
            "--url",
            "http://127.0.0.1:9/v1/audio/speech",
            "-n",
            "1",
        ]);
        let out = common::voxload(&all, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{all:?}: {stderr}");
        assert!(stderr.contains(says), "{all:?}: {stderr}");
    }
}
