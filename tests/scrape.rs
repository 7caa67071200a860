//! The target's own metrics (`--scrape`) against the mock's `GET /metrics`:
//! scrapes on the absolute grid from the run's start, values equal to what
//! the mock's slot/queue model holds, counters against its truth, and
//! scrape failures that are warned about, counted and never end a run.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::timing::{on_schedule, LATE};
use common::{one_text, run_on, voxload, Opts, KNEE_TEXT};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use voxload::config::tts::TtsOptions;
use voxload::config::{CommonOptions, WorkloadOptions};
use voxload::metrics::scraped::{ScrapedSeries, SeriesKind, TargetMetrics};
use voxload::mock::{self, MockModel};
use voxload::protocol::scrape::ScrapeFailureKind;
use voxload::result::RunResult;
use voxload::workload::Stop;

const EVERY: Duration = Duration::from_millis(500);
const USERS: u64 = 4;
const SLOTS: usize = 2;
const STALL: Duration = Duration::from_millis(1200);

fn series<'a>(t: &'a TargetMetrics, name: &str) -> &'a ScrapedSeries {
    t.series
        .iter()
        .find(|s| s.name == name && s.labels.get("pool").map(String::as_str) == Some("tts"))
        .unwrap_or_else(|| panic!("{name}{{pool=\"tts\"}} kept: {:?}", t.series))
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Four closed-loop users against two slots; mid-stage every response is
/// paused (`POST /mock/stall`), so for that window the mock's model says
/// exactly: 4 requests open, 2 of them waiting for a slot, none arriving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_are_on_the_grid_and_equal_the_mocks_state() {
    let mock = mock::spawn(MockModel {
        slots: SLOTS,
        queue: 64,
        speed: 20.0,
        overhead: Duration::from_millis(20),
        seed: Some(1),
        ..MockModel::default()
    })
    .await
    .expect("mock starts");
    let base = mock.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Opts {
        tts: TtsOptions {
            texts: Some(one_text(dir.path(), KNEE_TEXT)),
            ..TtsOptions::default()
        },
        run: WorkloadOptions {
            concurrency: Some(USERS.to_string().parse().expect("levels")),
            duration: Some(Duration::from_secs(3)),
            ..WorkloadOptions::default()
        },
        common: CommonOptions {
            scrape: Some(vec![format!("{base}/metrics")]),
            scrape_every: Some(EVERY),
            scrape_series: Some(
                "voxmock_requests_in_flight,voxmock_queue_waiting,voxmock_requests_total".into(),
            ),
            ..CommonOptions::default()
        },
    };
    // The stall, sent about 1 s into the run; its wall-clock instant maps
    // onto the run clock through the result's epoch_us.
    let addr = mock.addr;
    let stall = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let sent_us = unix_us();
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let req = format!(
            "POST /mock/stall?ms={} HTTP/1.1\r\nHost: mock\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            STALL.as_millis()
        );
        s.write_all(req.as_bytes()).await.expect("stall sent");
        // Read the answer: a client gone before it could cancel the handler.
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.expect("stall answered");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        sent_us
    });
    let ran = run_on(mock, opts, Stop::default()).await;
    let sent_us = stall.await.expect("stall task");
    let r = &ran.result;
    let [t] = r.target_metrics.as_slice() else {
        panic!("one scrape source: {:?}", r.target_metrics)
    };
    assert!(t.failures.is_empty(), "{:?}", t.failures);
    assert_eq!(t.url, format!("{base}/metrics"));
    let in_flight = series(t, "voxmock_requests_in_flight");
    let waiting = series(t, "voxmock_queue_waiting");
    let total = series(t, "voxmock_requests_total");
    assert_eq!(
        (in_flight.kind, total.kind),
        (SeriesKind::Gauge, SeriesKind::Counter)
    );
    // Every scrape answered, each at k × EVERY from the run's start.
    assert!(t.scrapes >= 7, "3 s and the drain at 500 ms: {}", t.scrapes);
    for s in [in_flight, waiting, total] {
        assert_eq!(s.points.len() as u64, t.scrapes, "{}", s.name);
        for (k, p) in s.points.iter().enumerate() {
            on_schedule(
                Duration::from_secs_f64(p[0]),
                EVERY * k as u32,
                LATE,
                &format!("{} scrape {k}", s.name),
            );
        }
    }
    let served = ran.mock.truth().await.metrics_served;
    assert!(
        (t.scrapes..=t.scrapes + 1).contains(&served),
        "the mock served {served} scrapes, {} recorded (the last may be cut at the run's end)",
        t.scrapes
    );
    // While the stall holds every response: the model's exact state.
    let from = (sent_us as f64 - r.epoch_us as f64) / 1e6 + LATE.as_secs_f64();
    let to = from - LATE.as_secs_f64() + STALL.as_secs_f64() - LATE.as_secs_f64();
    let held: Vec<usize> = (0..in_flight.points.len())
        .filter(|&i| (from..=to).contains(&in_flight.points[i][0]))
        .collect();
    assert!(
        held.len() >= 2,
        "scrapes inside the stall {from:.3}..{to:.3} s: {:?}",
        in_flight.points
    );
    for &i in &held {
        let at = in_flight.points[i][0];
        assert_eq!(in_flight.points[i][1], USERS as f64, "in flight at {at}");
        assert_eq!(
            waiting.points[i][1],
            (USERS - SLOTS as u64) as f64,
            "waiting at {at}"
        );
        // Nothing completes, so no user sends: the counter stands still.
        assert_eq!(
            total.points[i][1], total.points[held[0]][1],
            "total at {at}"
        );
    }
    // The counter against the run and the mock's truth.
    let truth = ran.mock.truth().await;
    let issued: u64 = r.stages.iter().map(|s| s.issued).sum();
    assert_eq!(truth.requests, issued);
    let last = total.points.last().map_or(0.0, |p| p[1]);
    assert!(
        last <= truth.requests as f64 && last > 0.0,
        "last {last}, truth {}",
        truth.requests
    );
    let summary = std::fs::read_to_string(ran.out.join("summary.txt")).expect("summary");
    assert!(
        summary.contains("target metrics")
            && summary.contains("voxmock_requests_total{pool=\"tts\"}"),
        "{summary}"
    );
}

/// Holds every connection open and never answers (bounded: 1000 accepts).
async fn silent_listener() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..1000 {
            match l.accept().await {
                Ok((s, _)) => held.push(s),
                Err(_) => return,
            }
        }
    });
    addr
}

/// A dead URL, one that answers no Prometheus text and one that never
/// answers: the run succeeds with every request measured, each kind of
/// failure is warned about once and counted, credentials stay out of
/// everything, and `voxload report` rewrites it all from result.json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_scrapes_are_warnings_counted_in_the_result() {
    let mock = mock::spawn(MockModel {
        seed: Some(1),
        ..MockModel::default()
    })
    .await
    .expect("mock starts");
    let base = mock.url();
    let silent = silent_listener().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().to_path_buf();
    let args: Vec<String> = [
        "tts",
        "--url",
        &base,
        "--concurrency",
        "2",
        "--duration",
        "1500ms",
        "--scrape",
        "http://scraper:hunter2@127.0.0.1:1/metrics",
        "--scrape",
        &format!("{base}/health"),
        "--scrape",
        &format!("http://{silent}/metrics"),
        "--scrape",
        &format!("{base}/metrics"),
        "--scrape-every",
        "250ms",
        "--name",
        "d",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        voxload(&args, &work)
    })
    .await
    .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for kind in ["connect", "parse", "timeout"] {
        let warned = stderr
            .lines()
            .filter(|l| l.starts_with("warning: scrape of") && l.contains(&format!("({kind}:")))
            .count();
        assert_eq!(warned, 1, "one {kind} warning: {stderr}");
    }
    let folder = dir.path().join("results/d");
    let text = std::fs::read_to_string(folder.join("result.json")).expect("result.json");
    let r: RunResult = serde_json::from_str(&text).expect("parses");
    let [dead, health, hung, good] = r.target_metrics.as_slice() else {
        panic!("four sources: {:?}", r.target_metrics)
    };
    assert_eq!(dead.url, "http://scraper:<redacted>@127.0.0.1:1/metrics");
    // 1.5 s and the drain at 250 ms: every source went through the same grid,
    // the never-answering one too (its 200 ms bound kept it on schedule).
    assert!(good.scrapes >= 6, "{}", good.scrapes);
    for (t, kind) in [
        (dead, ScrapeFailureKind::Connect),
        (health, ScrapeFailureKind::Parse),
        (hung, ScrapeFailureKind::Timeout),
    ] {
        assert_eq!(t.failures.get(&kind), Some(&t.scrapes), "{t:?}");
        assert_eq!(t.ok(), 0);
        assert!(t.series.is_empty());
        assert!(
            t.scrapes.abs_diff(good.scrapes) <= 1,
            "{t:?} vs {}",
            good.scrapes
        );
    }
    assert!(
        good.failures.is_empty() && !good.series.is_empty(),
        "{good:?}"
    );
    // The run's own measurements are whole.
    let truth = mock.truth().await;
    assert_eq!(truth.requests, r.stages[0].issued);
    assert_eq!(r.stages[0].summary.failed, 0);
    // `voxload report` rewrites every file, the new section included.
    for f in ["summary.txt", "report.html", "timeline.svg"] {
        std::fs::remove_file(folder.join(f)).expect("written by the run");
    }
    let folder_arg = folder.to_string_lossy().to_string();
    let work = dir.path().to_path_buf();
    let again = tokio::task::spawn_blocking(move || voxload(&["report", &folder_arg], &work))
        .await
        .expect("runs");
    assert!(again.status.success(), "{again:?}");
    let read = |f: &str| std::fs::read_to_string(folder.join(f)).expect(f);
    let summary = read("summary.txt");
    assert!(
        summary.contains("127.0.0.1:1/metrics every 250ms")
            && summary.contains("failed: connect")
            && summary.contains("voxmock_requests_in_flight{pool=\"tts\"}"),
        "{summary}"
    );
    assert!(read("report.html").contains("Target metrics"));
    assert!(read("timeline.svg").contains("target: voxmock_requests_in_flight"));
    // The password never leaves the command line.
    let mut everything = stderr + &String::from_utf8_lossy(&out.stdout);
    for entry in std::fs::read_dir(&folder).expect("folder") {
        let path = entry.expect("entry").path();
        if let Ok(text) = std::fs::read_to_string(&path) {
            everything.push_str(&text);
        }
    }
    assert!(!everything.contains("hunter2"), "a credential leaked");
}
