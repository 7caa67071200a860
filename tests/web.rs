//! The live dashboard (`--web`) of the built binary against the in-process
//! mock: GET /api/live while the run goes, checked against the run's own
//! result.json and the mock's truth afterwards; a taken port or a bad
//! address refused before any request; and headless Chromium (when
//! installed; `.ci/run` installs it) showing the run and stopping it with
//! the page's Stop button.

mod common;
mod devtools;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use voxload::mock::{self, Faults, MockModel};
use voxload::result::{RunResult, RunStatus};

/// A port nothing listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// One HTTP/1.1 request to 127.0.0.1:`port`: (status, body), or `None`
/// if nothing answers.
async fn http(port: u16, method: &str, path: &str, headers: &str) -> Option<(u16, String)> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// GET /api/live, parsed, if the dashboard answers.
async fn live(port: u16) -> Option<Value> {
    let (status, body) = http(port, "GET", "/api/live", "").await?;
    assert_eq!(status, 200, "{body}");
    Some(serde_json::from_str(&body).expect("/api/live is JSON"))
}

/// `voxload tts` against `url` with the dashboard on `port`.
fn start(url: &str, port: u16, out: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_voxload"))
        .args(["tts", "--url", url, "--name", "run", "-q"])
        .args(["--web", &format!("127.0.0.1:{port}")])
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts")
}

/// Whether the process has exited (its code), without waiting.
fn exited(child: &mut Child) -> Option<Option<i32>> {
    child.try_wait().expect("wait").map(|s| s.code())
}

/// Wait for exit, at most `limit`.
async fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let end = Instant::now() + limit;
    loop {
        if let Some(code) = exited(child) {
            return code;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("voxload did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read_result(dir: &Path) -> RunResult {
    let text = std::fs::read_to_string(dir.join("run/result.json")).expect("result.json");
    serde_json::from_str(&text).expect("valid result.json")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_numbers_agree_with_the_result_and_the_mock() {
    // Fast synthesis, so a second's requests end within it; a seeded share
    // of 500s so errors by class have something to show.
    let server = mock::spawn(MockModel {
        speed: 200.0,
        faults: Faults {
            error_5xx: 0.15,
            ..Faults::default()
        },
        seed: Some(3),
        ..MockModel::default()
    })
    .await
    .expect("mock");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    // Credentials in the URL: the live JSON must never carry them.
    let addr = server.url().trim_start_matches("http://").to_string();
    let url = format!("http://user:pw-web-secret@{addr}/v1/audio/speech?api_key=sk-web-secret");
    let mut child = start(
        &url,
        port,
        dir.path(),
        &["--rate", "10", "--duration", "8s"],
    );

    let mut snaps: Vec<Value> = Vec::new();
    let mut bodies = String::new();
    let end = Instant::now() + Duration::from_secs(40);
    while exited(&mut child).is_none() {
        assert!(Instant::now() < end, "the run did not end in 40 s");
        if let Some((200, body)) = http(port, "GET", "/api/live", "").await {
            snaps.push(serde_json::from_str(&body).expect("JSON"));
            bodies.push_str(&body);
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let code = wait_exit(&mut child, Duration::from_secs(1)).await;
    assert_eq!(code, Some(0), "a complete run exits 0");
    assert!(
        !bodies.contains("web-secret"),
        "a credential reached /api/live"
    );

    let result = read_result(dir.path());
    let stage = &result.stages[0];
    let sum = &stage.summary;
    let final_errors: BTreeMap<String, u64> = sum
        .errors
        .iter()
        .map(|e| (e.label.clone(), e.count))
        .collect();
    assert!(sum.failed > 0, "the seeded mock fails some requests");
    let truth = server.truth().await;
    assert_eq!(
        truth.requests,
        sum.requests + stage.summary.warmup,
        "the mock saw every request the run counted"
    );

    let running: Vec<&Value> = snaps.iter().filter(|s| s["state"] == "running").collect();
    assert!(
        running.len() >= 8,
        "{} snapshots while running",
        running.len()
    );
    let mut last_requests = 0;
    for s in &snaps {
        assert_eq!(s["version"], 1);
        assert_eq!(s["run"], "run");
        let st = &s["stage"];
        assert_eq!(st["index"], 0);
        assert_eq!(st["label"].as_str(), Some(stage.label.as_str()));
        let c = &s["scenarios"][0];
        assert_eq!(c["name"], "tts");
        assert_eq!(c["metric"], "ttfa");
        let requests = u(&c["requests"]);
        assert!(requests >= last_requests, "counts only grow");
        last_requests = requests;
        assert!(
            requests <= sum.requests,
            "{requests} > final {}",
            sum.requests
        );
        assert!(u(&c["ok"]) <= sum.ok && u(&c["failed"]) <= sum.failed);
        assert_eq!(u(&c["ok"]) + u(&c["failed"]), requests);
        assert!(u(&c["in_flight"]) <= 10, "at 10/s with fast answers: {c}");
        for e in c["errors"].as_array().expect("errors") {
            let class = e["class"].as_str().expect("class");
            assert!(u(&e["count"]) <= final_errors[class], "{class}");
        }
    }
    // Late in the run the last seconds' rates are the asked rate.
    let late = running
        .iter()
        .rev()
        .find(|s| u(&s["scenarios"][0]["window_s"]) >= 5)
        .expect("a snapshot with 5 whole seconds");
    let c = &late["scenarios"][0];
    let (offered, achieved) = (c["offered_rps"].as_f64(), c["achieved_rps"].as_f64());
    assert!(offered.is_some_and(|r| (9.0..=11.0).contains(&r)), "{c}");
    assert!(achieved.is_some_and(|r| (8.0..=12.0).contains(&r)), "{c}");
    assert!(c["p50_ms"].as_f64().is_some() && c["p95_ms"].as_f64() >= c["p50_ms"].as_f64());

    // The final state, served after the run: per-second rows equal the
    // saved timeline, and they add up to the stage's counts.
    let last = snaps.last().expect("snapshots");
    assert_eq!(
        last["state"], "finished",
        "the dashboard lingers after the run"
    );
    assert_eq!(last["status"], "complete");
    let results = last["results"].as_str().expect("results folder");
    assert!(results.ends_with("run"), "{results}");
    let rows = last["scenarios"][0]["seconds"].as_array().expect("rows");
    let timeline: BTreeMap<u64, &voxload::metrics::timeline::TimelineRow> =
        result.timeline.iter().map(|r| (r.second, r)).collect();
    let (mut offered, mut failed) = (0, 0);
    let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows {
        let second = u(&r["second"]);
        let saved = timeline.get(&second);
        assert_eq!(
            u(&r["achieved"]),
            saved.map_or(0, |t| t.completed),
            "second {second}"
        );
        let p50 = saved.and_then(|t| t.p50_ms(voxload::metrics::Metric::Ttfa));
        assert_eq!(r["p50_ms"].as_f64(), p50, "second {second}");
        // Arrivals by their scheduled second, as the timeline places starts.
        assert_eq!(
            u(&r["offered"]),
            saved.map_or(0, |t| t.started + t.dropped),
            "second {second}"
        );
        offered += u(&r["offered"]);
        failed += u(&r["failed"]);
        for (class, n) in r["errors"].as_object().into_iter().flatten() {
            *by_class.entry(class.clone()).or_default() += u(n);
        }
    }
    assert_eq!(
        offered,
        stage.issued + sum.dropped,
        "every arrival in some second"
    );
    assert_eq!(failed, sum.failed);
    assert_eq!(by_class, final_errors);
    for r in rows.iter().filter(|r| (1..=6).contains(&u(&r["second"]))) {
        let n = u(&r["offered"]);
        assert!(
            (9..=11).contains(&n),
            "second {}: {n} arrivals at 10/s",
            r["second"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_or_a_bad_address_stops_the_run_before_any_request() {
    let server = mock::spawn(MockModel::default()).await.expect("mock");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |web: String| {
        Command::new(env!("CARGO_BIN_EXE_voxload"))
            .args(["tts", "--url", &server.url(), "--requests", "5", "-q"])
            .args(["--web", &web, "--out"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("runs")
    };
    // Blocking is fine: the runs end before sending anything.
    let out = run(format!("127.0.0.1:{port}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("--web 127.0.0.1:{port}")),
        "{stderr}"
    );
    let out = run("127.0.0.1".into());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--web") && stderr.contains("8089"),
        "{stderr}"
    );
    assert_eq!(server.truth().await.requests, 0, "no load was sent");
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_without_its_header_is_refused() {
    let server = mock::spawn(MockModel::default()).await.expect("mock");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = start(
        &server.url(),
        port,
        dir.path(),
        &["--rate", "5", "--duration", "30s"],
    );
    let end = Instant::now() + Duration::from_secs(20);
    while live(port).await.is_none() {
        assert!(Instant::now() < end, "the dashboard never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What a page of another origin could send without asking first.
    let (status, body) = http(port, "POST", "/api/stop", "Content-Type: text/plain\r\n")
        .await
        .expect("answers");
    assert_eq!(status, 403, "{body}");
    let snap = live(port).await.expect("still serving");
    assert_eq!(snap["state"], "running");
    let (status, body) = http(port, "POST", "/api/stop", "X-Voxload: stop\r\n")
        .await
        .expect("answers");
    assert_eq!((status, body.as_str()), (202, r#"{"stop":"stopping"}"#));
    let code = wait_exit(&mut child, Duration::from_secs(30)).await;
    assert_eq!(code, Some(130), "stopped runs exit like Ctrl-C");
    assert_eq!(read_result(dir.path()).status, RunStatus::Interrupted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_run_and_its_stop_button_ends_it() {
    let chromium = Path::new("/usr/bin/chromium");
    if !common::external("/usr/bin/chromium", "the dashboard in a real browser") {
        return;
    }
    let server = mock::spawn(MockModel {
        speed: 200.0,
        seed: Some(5),
        ..MockModel::default()
    })
    .await
    .expect("mock");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = start(
        &server.url(),
        port,
        dir.path(),
        &["--rate", "5", "--duration", "60s", "--grace", "5s"],
    );
    let end = Instant::now() + Duration::from_secs(20);
    while live(port).await.is_none() {
        assert!(Instant::now() < end, "the dashboard never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut page = devtools::Browser::start(chromium).await;
    page.navigate(&format!("http://127.0.0.1:{port}/")).await;
    let card = r#"document.querySelector('[data-scenario="tts"]')"#;
    let requests =
        format!(r#"Number({card}?.querySelector('[data-field="requests"]').textContent)"#);
    let achieved_points = format!(
        r#"({card}?.querySelector('polyline[data-series="achieved"]')?.getAttribute('points') || '').split(' ').filter(Boolean).length"#
    );
    page.wait_for(
        &format!("{requests} >= 10 && {achieved_points} >= 2"),
        Duration::from_secs(30),
    )
    .await;
    // What the page shows is what the run measured: read the page, then
    // the API; counts only grow, so the page's are at most the API's.
    let shown = page
        .eval(&format!(
            r#"({{ requests: {requests}, stage: document.getElementById('stage').textContent,
                  state: document.getElementById('state').textContent,
                  p50: {card}.querySelector('[data-field="p50_title"]').textContent }})"#
        ))
        .await;
    let snap = live(port).await.expect("serving");
    let c = &snap["scenarios"][0];
    assert!(u(&shown["requests"]) <= u(&c["requests"]), "{shown} vs {c}");
    let label = snap["stage"]["label"].as_str().expect("label");
    assert_eq!(shown["stage"], format!("stage 1: {label}"));
    assert_eq!(shown["state"], "running");
    assert_eq!(shown["p50"], "ttfa p50");

    if let Some(keep) = std::env::var_os("VOXLOAD_TEST_ARTIFACTS") {
        let shot = page
            .call(
                "Page.captureScreenshot",
                serde_json::json!({ "format": "png" }),
            )
            .await;
        let png = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            shot["data"].as_str().expect("png data"),
        )
        .expect("base64");
        std::fs::create_dir_all(&keep).expect("artifact dir");
        std::fs::write(Path::new(&keep).join("dashboard.png"), png).expect("write png");
    }

    page.eval("document.getElementById('stop').click()").await;
    // The run stops, writes its results, and the page shows the final
    // state while the dashboard lingers.
    page.wait_for(
        "document.getElementById('state').textContent === 'interrupted'",
        Duration::from_secs(20),
    )
    .await;
    let note = page
        .eval("document.getElementById('note').textContent")
        .await;
    assert!(
        note.as_str().is_some_and(|n| n.contains("results in")),
        "{note}"
    );
    let complaints = page.complaints();
    assert!(
        complaints.is_empty(),
        "the page complained: {complaints:#?}"
    );
    let code = wait_exit(&mut child, Duration::from_secs(20)).await;
    assert_eq!(code, Some(130), "the Stop button interrupts like Ctrl-C");
    let result = read_result(dir.path());
    assert_eq!(result.status, RunStatus::Interrupted);
    let stage = &result.stages[0];
    assert!(
        stage.interrupted && stage.wall_s < 50.0,
        "ended early: {}",
        stage.wall_s
    );
    assert!(stage.summary.requests >= u(&c["requests"]));
    assert_eq!(server.truth().await.requests, stage.summary.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_the_lingering_dashboard_at_once() {
    let server = mock::spawn(MockModel {
        speed: 200.0,
        ..MockModel::default()
    })
    .await
    .expect("mock");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = start(
        &server.url(),
        port,
        dir.path(),
        &["--rate", "5", "--duration", "2s"],
    );
    // Watch until the run is over and its results are written.
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < end, "no final state in 30 s");
        if let Some(s) = live(port).await {
            if s["status"] == "complete" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(exited(&mut child).is_none(), "the dashboard lingers");
    let sent = Instant::now();
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success());
    let code = wait_exit(&mut child, Duration::from_secs(3)).await;
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(
        code,
        Some(0),
        "the run was complete: Ctrl-C after it changes nothing"
    );
    assert_eq!(read_result(dir.path()).status, RunStatus::Complete);
}
