//! `--prometheus`: the real Prometheus (Debian's `prometheus` package)
//! scrapes a run of the voxload binary against the mock, and PromQL gives
//! back the counts that result.json and the mock's truth hold; `promtool
//! check metrics` accepts what the endpoint serves; the Grafana dashboard
//! asks only for families the exporter has.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use voxload::mock::{self, Faults, MockModel};
use voxload::result::RunResult;

/// A free loopback port (bound and released; nothing else here takes ports).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `GET path` over HTTP/1.0 (the connection closes after the answer):
/// the status and the body; `None` if nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Percent-encode a query parameter.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server in a temp folder, killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Prometheus {
    /// Start one scraping `127.0.0.1:target` every second; wait (≤ 30 s) until it is ready.
    fn start(dir: &Path, target: u16) -> Self {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: voxload\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .expect("write config");
        let port = free_port();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("prometheus starts");
        let p = Prometheus { child, port, log };
        p.wait_for("ready", Duration::from_secs(30), || {
            get(p.port, "/-/ready").is_some_and(|(status, _)| status == 200)
        });
        p
    }

    /// Poll `done` every 100 ms; past `limit`, fail with Prometheus's log.
    fn wait_for(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > limit {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("Prometheus: no '{what}' within {limit:?}; its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The instant query's samples as (labels JSON, value).
    fn query(&self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let Some((200, body)) = get(self.port, &path) else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON answer");
        v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let value = s["value"][1].as_str()?.parse().ok()?;
                Some((s["metric"].clone(), value))
            })
            .collect()
    }

    /// Prometheus's verdict on a query: `success`, or its error.
    fn verdict(&self, promql: &str) -> String {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let body = get(self.port, &path).map(|(_, b)| b).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match v["status"].as_str() {
            Some("success") => "success".into(),
            _ => format!("{}: {body}", v["error"]),
        }
    }

    /// The one value of `promql`, waiting (≤ 15 s) until it equals `want`.
    fn assert_value(&self, promql: &str, want: f64) {
        let start = Instant::now();
        loop {
            let last = self.query(promql);
            if last.len() == 1 && last[0].1 == want {
                return;
            }
            if start.elapsed() > Duration::from_secs(15) {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("{promql}: {last:?}, want {want}; Prometheus log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 40 requests at 20/s against a mock that answers 20 % of them with HTTP
/// 500: Prometheus scraping every second ends with exactly the counts of
/// result.json and of the mock's truth, by class, and the histograms'
/// counts equal the successes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reads_the_counts_result_json_and_the_mock_have() {
    if !common::external("prometheus", "tests/prometheus.rs scrapes a run with it")
        || !common::external("promtool", "tests/prometheus.rs checks the exposition")
    {
        return;
    }
    let mock = mock::spawn(MockModel {
        overhead: Duration::from_millis(20),
        speed: 50.0,
        faults: Faults {
            error_5xx: 0.2,
            ..Faults::default()
        },
        seed: Some(7),
        ..MockModel::default()
    })
    .await
    .expect("mock starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = free_port();
    let prom = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || Prometheus::start(&dir, exporter)
    })
    .await
    .expect("prometheus task");
    let out = dir.path().join("out");
    let mut run = tokio::process::Command::new(env!("CARGO_BIN_EXE_voxload"))
        .args(["tts", "--url", &mock.url(), "--rate", "20", "-n", "40"])
        .args(["--prometheus", &format!("127.0.0.1:{exporter}")])
        .args(["--prometheus-linger", "20s", "-q", "--name", "prom"])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("voxload runs");
    // While it runs: what the endpoint serves passes promtool.
    let exposition = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            if let Some((200, body)) = get(exporter, "/metrics") {
                if body.contains("voxload_stage_info{") {
                    return body;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no exposition");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("scrape task");
    let stdout = run.stdout.take();
    let stderr = run.stderr.take();
    let status = tokio::time::timeout(Duration::from_secs(60), run.wait())
        .await
        .expect("the run ends within 60 s")
        .expect("voxload exit status");
    let mut err_text = String::new();
    if let Some(mut e) = stderr {
        use tokio::io::AsyncReadExt as _;
        let _ = e.read_to_string(&mut err_text).await;
    }
    drop(stdout);
    assert!(status.success(), "voxload failed: {err_text}");
    assert!(err_text.contains("until scraped"), "{err_text}");
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write exposition");
    let checked = check.wait_with_output().expect("promtool ends");
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let text = std::fs::read_to_string(out.join("prom/result.json")).expect("result.json");
    let result: RunResult = serde_json::from_str(&text).expect("result parses");
    let s = &result.stages[0].summary;
    let truth = mock.truth().await;
    assert_eq!(s.requests, 40);
    assert_eq!(truth.requests, 40);
    assert!(s.failed > 0 && s.ok > 0, "{} ok, {} failed", s.ok, s.failed);
    assert_eq!(truth.ok, s.ok);
    let failed_500 = s
        .errors
        .iter()
        .find(|e| e.label == "http_500")
        .map_or(0, |e| e.count);
    assert_eq!(failed_500, s.failed, "{:?}", s.errors);
    tokio::task::spawn_blocking(move || {
        prom.assert_value(
            "sum(voxload_requests_finished_total{job=\"voxload\"})",
            truth.requests as f64,
        );
        prom.assert_value(
            "sum(voxload_requests_ok_total) + sum(voxload_requests_failed_total)",
            s_requests(&result),
        );
        prom.assert_value(
            "voxload_requests_ok_total{scenario=\"tts\"}",
            truth.ok as f64,
        );
        prom.assert_value(
            "voxload_requests_failed_total{scenario=\"tts\",class=\"http_500\"}",
            failed_500 as f64,
        );
        prom.assert_value(
            "voxload_e2e_seconds_count{scenario=\"tts\"}",
            truth.ok as f64,
        );
        prom.assert_value("voxload_run_finished", 1.0);
        prom.assert_value("voxload_requests_in_flight", 0.0);
        // The median from the buckets lies near the run's own.
        let p50 = prom.query(
            "histogram_quantile(0.5, sum by (le) (voxload_ttfa_seconds_bucket{scenario=\"tts\"}))",
        );
        let own = result.stages[0].summary.metrics["ttfa"].p50 / 1e3;
        assert!(
            p50.len() == 1 && p50[0].1 > own * 0.5 && p50[0].1 < own * 2.0,
            "{p50:?} against {own} s"
        );
        // Every query of the Grafana dashboard is valid PromQL; those
        // without a rate (which needs more scrapes than this short run
        // gives) find this run's data.
        for e in dashboard_queries() {
            let q = e
                .replace("$__rate_interval", "1m")
                .replace("$scenario", ".*");
            assert_eq!(prom.verdict(&q), "success", "{q}");
            if !q.contains("rate(") {
                assert!(!prom.query(&q).is_empty(), "no data for {q}");
            }
        }
    })
    .await
    .expect("queries");
}

/// Every stage's measured requests, summed (what the PromQL sum must give).
fn s_requests(result: &RunResult) -> f64 {
    result
        .stages
        .iter()
        .map(|s| s.summary.requests)
        .sum::<u64>() as f64
}

/// deploy/grafana/voxload-dashboard.json, parsed.
fn dashboard() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/voxload-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("dashboard exists");
    serde_json::from_str(&text).expect("dashboard is JSON")
}

/// The PromQL of every panel of the dashboard.
fn dashboard_queries() -> Vec<String> {
    let board = dashboard();
    let mut exprs = Vec::new();
    for panel in board["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(e) = target["expr"].as_str() {
                exprs.push(e.to_string());
            }
        }
    }
    exprs
}

/// The dashboard parses, reads from a Prometheus data source variable, and
/// every `voxload_…` name in its queries is one the exporter serves.
#[test]
fn the_grafana_dashboard_asks_for_families_the_exporter_has() {
    let board = dashboard();
    let vars = board["templating"]["list"].as_array().expect("variables");
    assert!(
        vars.iter()
            .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"),
        "no Prometheus data source variable"
    );
    let known = voxload::report::prometheus::family_names();
    let exprs = dashboard_queries();
    assert!(exprs.len() >= 6, "{exprs:?}");
    let mut names = 0;
    for e in &exprs {
        let bytes = e.as_bytes();
        let mut i = 0;
        while let Some(at) = e[i..].find("voxload_") {
            let start = i + at;
            let end = bytes[start..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                .map_or(e.len(), |n| start + n);
            let name = &e[start..end];
            assert!(
                known.iter().any(|k| k == name),
                "{name} in '{e}' is not exposed"
            );
            names += 1;
            i = end;
        }
    }
    assert!(
        names >= exprs.len(),
        "queries without voxload metrics: {exprs:?}"
    );
    for want in [
        "voxload_offered_requests_per_second",
        "voxload_requests_failed_total",
        "voxload_requests_in_flight",
        "voxload_stage_info",
        "voxload_ttfa_seconds_bucket",
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(want)),
            "no panel asks for {want}"
        );
    }
}

/// The binary's run of `n` requests at 20/s against `url` with
/// `--prometheus 127.0.0.1:port` and a long linger, its stderr lines sent
/// to the returned channel as they come.
fn linger_run(url: &str, port: u16, out: &Path) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxload"))
        .args(["tts", "--url", url, "--rate", "20", "-n", "5", "-q"])
        .args(["--prometheus", &format!("127.0.0.1:{port}")])
        .args(["--prometheus-linger", "60s", "--name", "linger"])
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("voxload runs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Wait (≤ 30 s) for the line saying the run ended and the endpoint lingers.
fn wait_for_linger(rx: &std::sync::mpsc::Receiver<String>) {
    let end = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < end {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            if line.contains("until scraped") {
                return;
            }
            seen.push(line);
        }
    }
    panic!("no linger line within 30 s: {seen:?}");
}

/// Exit code within `limit`, or fail.
fn exit_within(child: &mut Child, limit: Duration) -> Option<i32> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("voxload did not exit within {limit:?}");
}

/// After the run the endpoint stays up (60 s linger) until one scrape has
/// read the final numbers, then the process exits at once; in another run
/// Ctrl-C ends the wait at once. Both exit 0: the runs were complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_lingers_until_the_final_scrape_or_ctrl_c() {
    let mock = mock::spawn(MockModel {
        speed: 50.0,
        seed: Some(3),
        ..MockModel::default()
    })
    .await
    .expect("mock starts");
    let url = mock.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let port = free_port();
        let (mut child, rx) = linger_run(&url, port, &out.join("a"));
        wait_for_linger(&rx);
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            child.try_wait().expect("status").is_none(),
            "exited without a final scrape"
        );
        let (status, body) = get(port, "/metrics").expect("final scrape");
        assert_eq!(status, 200);
        assert!(body.contains("\nvoxload_run_finished 1\n"), "{body}");
        assert!(
            body.contains("voxload_requests_ok_total{scenario=\"tts\"} 5\n"),
            "{body}"
        );
        assert_eq!(exit_within(&mut child, Duration::from_secs(3)), Some(0));

        let (mut child, rx) = linger_run(&url, free_port(), &out.join("b"));
        wait_for_linger(&rx);
        let ok = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success());
        assert_eq!(exit_within(&mut child, Duration::from_secs(3)), Some(0));
        let result = std::fs::read_to_string(out.join("b/linger/result.json")).expect("result");
        assert!(result.contains("\"status\": \"complete\""), "{result}");
    })
    .await
    .expect("runs");
}

/// `--prometheus nonsense` and an address in use: exit 1 naming the flag,
/// before any request reaches the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_address_is_an_error_before_any_request() {
    let mock = mock::spawn(MockModel::default())
        .await
        .expect("mock starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let in_use = taken.local_addr().expect("addr").to_string();
    for (addr, says) in [
        ("nonsense", "'nonsense' is not an address"),
        (in_use.as_str(), "cannot listen there"),
    ] {
        let args: Vec<String> = [
            "tts",
            "--url",
            &mock.url(),
            "-n",
            "3",
            "-q",
            "--prometheus",
            addr,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let path = dir.path().to_path_buf();
        let run = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::voxload(&args, &path)
        })
        .await
        .expect("runs");
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{err}");
        assert!(err.contains("--prometheus") && err.contains(says), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(mock.truth().await.requests, 0);
    assert!(!dir.path().join("results").exists());
    drop(taken);
}
