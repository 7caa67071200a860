//! Plots and the self-contained HTML report, from a real run against the
//! in-process mock: the files exist, the images are the right size and not
//! blank, the HTML loads nothing from the network and escapes what the
//! server sent, and headless Chromium renders it (when installed; `.ci/run`
//! installs Debian's `chromium`).
//!
//! Set `VOXLOAD_TEST_ARTIFACTS=DIR` to keep the report, plots and the
//! Chromium screenshot for a look.

mod common;
mod synth;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{one_text, run_against, Opts, Ran};
use voxload::config::tts::TtsOptions;
use voxload::config::WorkloadOptions;
use voxload::metrics::slo::SloResult;
use voxload::metrics::stats::ErrorRow;
use voxload::metrics::{RequestRecord, StageStats, Timeline};
use voxload::mock::{Faults, MockModel};
use voxload::protocol::ErrorKind;
use voxload::protocol::Kind;
use voxload::report::html::{self, HtmlWriter};
use voxload::report::plot::{self, PlotWriter};
use voxload::report::ReportWriter;
use voxload::result::{RunKind, RunResult, ScenarioInfo, StageResult};
use voxload::workload::Workload;

const TEXT_1S: &str = "Fifteen chars..";
const CORE_PLOTS: [&str; 4] = ["plot_2x2", "plot_p50", "load_latency", "timeline"];

/// Two closed-loop stages (c=1, c=2), 6 requests each; a seeded share of
/// HTTP 500s so the errors table and the failure line have something to show.
async fn two_stage_run() -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = MockModel {
        faults: Faults {
            error_5xx: 0.2,
            ..Faults::default()
        },
        seed: Some(7),
        ..MockModel::default()
    };
    let o = Opts {
        tts: TtsOptions {
            texts: Some(one_text(dir.path(), TEXT_1S)),
            ..TtsOptions::default()
        },
        run: WorkloadOptions {
            concurrency: Some("1,2".parse().expect("levels")),
            requests: Some(6),
            ..WorkloadOptions::default()
        },
        ..Opts::default()
    };
    run_against(model, o).await
}

/// Decode a PNG: (width, height, RGB(A) bytes).
fn decode_png(path: &Path) -> (u32, u32, Vec<u8>, usize) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size().expect("size fits")];
    let info = reader.next_frame(&mut buf).expect("one frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, info.color_type.samples())
}

/// Variance of pixel luminance: 0 for a blank (single-colour) image.
fn luminance_variance(rgb: &[u8], samples: usize) -> f64 {
    let lum: Vec<f64> = rgb
        .chunks_exact(samples)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let mean = lum.iter().sum::<f64>() / lum.len() as f64;
    lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lum.len() as f64
}

/// Copy `files` into `$VOXLOAD_TEST_ARTIFACTS`, names prefixed with `prefix`
/// so tests running side by side do not overwrite each other's files.
fn keep_artifacts(prefix: &str, files: &[PathBuf]) {
    let Some(dir) = std::env::var_os("VOXLOAD_TEST_ARTIFACTS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("artifact dir");
    for f in files {
        let name = f.file_name().expect("file name");
        let mut kept = std::ffi::OsString::from(prefix);
        kept.push(name);
        std::fs::copy(f, dir.join(kept)).expect("copy artifact");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_plots_and_a_self_contained_report() {
    let ran = two_stage_run().await;
    let figures = plot::figures(&ran.result);
    let stems: Vec<&str> = figures.iter().map(|f| f.stem.as_str()).collect();
    for core in CORE_PLOTS {
        assert!(stems.contains(&core), "{core} missing from {stems:?}");
    }
    let mut kept = Vec::new();
    for fig in &figures {
        let png = ran.out.join(format!("{}.png", fig.stem));
        let (w, h, pixels, samples) = decode_png(&png);
        assert_eq!((w, h), fig.size, "{}", png.display());
        let var = luminance_variance(&pixels, samples);
        assert!(
            var > 100.0,
            "{} looks blank (variance {var})",
            png.display()
        );
        let svg_path = ran.out.join(format!("{}.svg", fig.stem));
        let svg = std::fs::read_to_string(&svg_path).expect("svg written");
        assert!(svg.starts_with("<svg"), "{}", svg_path.display());
        assert!(svg.contains("<polyline") || svg.contains("<path") || svg.contains("<rect"));
        kept.extend([png, svg_path]);
    }

    let report = ran.out.join("report.html");
    let text = std::fs::read_to_string(&report).expect("report.html written");
    assert_self_contained(&text, &ran.result);
    for stem in &stems {
        assert!(
            text.contains(&format!("id=\"chart-{stem}\"")),
            "{stem} not inline"
        );
    }
    let failed: u64 = ran.result.stages.iter().map(|s| s.summary.failed).sum();
    assert!(failed > 0, "the seeded mock fails some requests");
    assert!(
        text.contains("http_500"),
        "failures appear in the errors table"
    );
    kept.push(report.clone());

    if let Some(shot) = render_in_chromium(&report, &stems) {
        kept.push(shot);
    }
    keep_artifacts("", &kept);
}

/// No scripts and no network references: the only URL is the target's, as text.
fn assert_self_contained(html: &str, run: &RunResult) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "no scripts at all");
    assert!(!lower.contains("<link"), "no external stylesheets");
    assert!(
        !lower.contains("import") && !lower.contains("url("),
        "no CSS loads"
    );
    let url = &run.scenarios[0].url;
    assert!(html.contains(&html::escape(url)), "target URL shown");
    let rest = html.replace(&html::escape(url), "");
    assert!(
        !rest.contains("http://") && !rest.contains("https://"),
        "no other URL in the report"
    );
}

/// Screenshot and DOM dump in headless Chromium, if it is installed.
fn render_in_chromium(report: &Path, stems: &[&str]) -> Option<PathBuf> {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        eprintln!("note: /usr/bin/chromium not installed; skipping the browser rendering check");
        return None;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let shot = report.with_file_name("chromium.png");
    let url = format!("file://{}", report.display());
    let profile = format!("--user-data-dir={}", tmp.path().display());
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        profile.as_str(),
    ];
    let screenshot = format!("--screenshot={}", shot.display());
    let (_, log) = chromium_run(
        chromium,
        &base,
        &[
            &screenshot,
            "--window-size=1200,2000",
            "--enable-logging=stderr",
            "--v=0",
            &url,
        ],
    );
    assert!(
        !log.contains(":CONSOLE"),
        "console messages while rendering:\n{log}"
    );
    let (w, h, pixels, samples) = decode_png(&shot);
    assert_eq!((w, h), (1200, 2000), "screenshot size");
    let var = luminance_variance(&pixels, samples);
    assert!(var > 100.0, "screenshot looks blank (variance {var})");

    let (dom, _) = chromium_run(chromium, &base, &["--dump-dom", &url]);
    for stem in stems {
        assert!(
            dom.contains(&format!("id=\"chart-{stem}\"")),
            "{stem} not in the DOM"
        );
    }
    assert!(
        dom.matches("<svg").count() >= stems.len(),
        "charts parsed as SVG"
    );
    Some(shot)
}

/// Run Chromium with a 60 s bound, so it can never hang CI; (stdout, stderr).
fn chromium_run(exe: &Path, base: &[&str], args: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(exe)
        .args(base)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let (stdout, stderr) = (read(&out), read(&err));
    assert!(status.success(), "chromium failed: {status}\n{stderr}");
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_escapes_server_text_and_shows_slos() {
    let ran = two_stage_run().await;
    let mut run = ran.result.clone();
    run.stages[0].label = "c=1 <b>bold</b>".into();
    run.stages[0].summary.errors.push(ErrorRow {
        label: "http_500".into(),
        kind: ErrorKind::Http(500),
        count: 1,
        example: Some("<script>alert('x')</script> & more".into()),
    });
    run.slo = vec![
        SloResult {
            slo: "ttfa.p95<300ms".into(),
            stage: 0,
            observed: Some(123.4),
            passed: true,
            ..SloResult::default()
        },
        SloResult {
            slo: "errors<1%".into(),
            stage: 1,
            observed: Some(20.0),
            passed: false,
            ..SloResult::default()
        },
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    HtmlWriter.write(&run, dir.path()).expect("report written");
    let text = std::fs::read_to_string(dir.path().join("report.html")).expect("read");
    assert!(
        !text.contains("<script>alert"),
        "error example must be escaped"
    );
    assert!(text.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(!text.contains("<b>bold</b>") && text.contains("c=1 &lt;b&gt;bold&lt;/b&gt;"));
    assert!(text.contains("ttfa.p95&lt;300ms") && text.contains("class=\"fail\""));
    assert_self_contained(&text, &run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plots_are_deterministic_fast_and_skip_missing_data() {
    let ran = two_stage_run().await;
    let run = &ran.result;
    for fig in plot::figures(run) {
        let stem = fig.stem.clone();
        assert_eq!(plot::render_svg(&fig), plot::render_svg(&fig), "{stem} svg");
        assert_eq!(plot::render_png(&fig), plot::render_png(&fig), "{stem} png");
    }
    // Rendering every chart of a run (PNG + SVG) stays well under a second
    // in release builds; the bound here allows for unoptimized test builds.
    let dir = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();
    PlotWriter.write(run, dir.path()).expect("plots");
    let took = start.elapsed();
    eprintln!("plots for one run: {took:?}");
    assert!(took < Duration::from_secs(5), "plots took {took:?}");

    // One stage still gets every chart.
    let mut single = run.clone();
    single.stages.truncate(1);
    let single_figs = plot::figures(&single);
    let stems: Vec<&str> = single_figs.iter().map(|f| f.stem.as_str()).collect();
    for core in CORE_PLOTS {
        assert!(
            stems.contains(&core),
            "single stage: {core} missing from {stems:?}"
        );
    }
    // No stages and no timeline: no chart, no file, no error.
    let mut empty = run.clone();
    empty.stages.clear();
    empty.timeline.clear();
    assert!(plot::figures(&empty).is_empty());
    let dir = tempfile::tempdir().expect("tempdir");
    PlotWriter
        .write(&empty, dir.path())
        .expect("nothing to plot is fine");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    HtmlWriter
        .write(&empty, dir.path())
        .expect("report without data");
}

/// A synthetic streaming ASR run: three open-loop stages at 2, 4 and 8
/// sessions/s whose word errors and final-transcript latency grow with load
/// (word error probability 3 %, 8 %, 16 %).
fn asr_run() -> RunResult {
    let mut run = synth::run("asr-sweep", &[]);
    run.kind = RunKind::Asr;
    run.config =
        serde_json::json!({"scenarios": [{"target": {"url": "ws://127.0.0.1:8000/v1/realtime"}}]});
    run.scenarios = vec![ScenarioInfo {
        name: None,
        kind: Kind::WsAsr,
        url: "ws://127.0.0.1:8000/v1/realtime".into(),
        facts: vec![(
            "target URL".into(),
            "ws://127.0.0.1:8000/v1/realtime".into(),
        )],
    }];
    let mut timeline = Timeline::new();
    let mut offset = 0u64;
    for (index, (rate, error_p, final_ms)) in
        [(2.0, 0.03, 180.0), (4.0, 0.08, 260.0), (8.0, 0.16, 420.0)]
            .into_iter()
            .enumerate()
    {
        let mut rng = synth::Rng::new(100 + index as u64);
        let gap_us = (1e6 / rate) as u64;
        let audio_us = 3_000_000u64;
        let mut stats = StageStats::new(&[]);
        for i in 0..60u64 {
            let ref_words = 20 + (rng.next_u64() % 20) as u32;
            let errors = (0..ref_words).filter(|_| rng.uniform() < error_p).count() as u32;
            let final_us = (final_ms * 1000.0 * (0.3 * rng.normal()).exp()) as u64;
            let e2e = 10_000 + audio_us + final_us;
            let start = offset + i * gap_us;
            let r = RequestRecord {
                stage: index,
                seq: i,
                start_us: start,
                end_us: start + e2e,
                connect_us: Some(5_000),
                first_partial_us: Some((300_000.0 * (0.2 * rng.normal()).exp()) as u64),
                final_us: Some(final_us),
                e2e_us: Some(e2e),
                audio_us: Some(audio_us),
                rtf: Some(e2e as f64 / audio_us as f64),
                rtfx: Some(audio_us as f64 / e2e as f64),
                word_errors: Some(errors),
                ref_words: Some(ref_words),
                wer: Some(f64::from(errors) / f64::from(ref_words)),
                ..RequestRecord::default()
            };
            stats.record(&r);
            timeline.record_started(start / 1_000_000);
            timeline.record(&r);
        }
        let end = offset + 59 * gap_us + 3_500_000;
        let wall = Duration::from_micros(end - offset);
        offset = end;
        run.stages.push(StageResult {
            index,
            label: format!("rate={rate}/s"),
            scenario: None,
            workload: Workload::Open {
                rate,
                burstiness: None,
                seed: 1,
                max_in_flight: None,
                raw_arrivals: false,
                phase: 0.0,
            },
            issued: 60,
            offered_rps: Some(rate),
            wall_s: wall.as_secs_f64(),
            interrupted: false,
            summary: stats.summary(wall),
            stats,
            warnings: Vec::new(),
            saturated: None,
        });
    }
    run.timeline = timeline.rows();
    run
}

#[test]
fn asr_run_gets_wer_against_load_and_asr_latency_charts() {
    let run = asr_run();
    let pooled: Vec<f64> = run
        .stages
        .iter()
        .map(|s| s.summary.wer_pooled.expect("pooled WER"))
        .collect();
    assert!(
        pooled.windows(2).all(|w| w[0] < w[1]),
        "WER rises: {pooled:?}"
    );
    let figures = plot::figures(&run);
    let stems: Vec<&str> = figures.iter().map(|f| f.stem.as_str()).collect();
    for stem in [
        "plot_2x2",
        "plot_p50",
        "load_latency",
        "timeline",
        "wer_load",
    ] {
        assert!(stems.contains(&stem), "{stem} missing from {stems:?}");
    }
    assert!(!stems.contains(&"stalls"), "no TTS stall chart for ASR");
    // The latency charts show the ASR metrics.
    let titles = |stem: &str| -> Vec<String> {
        let fig = figures.iter().find(|f| f.stem == stem).expect("figure");
        fig.panels.iter().map(|p| p.title.clone()).collect()
    };
    assert_eq!(
        titles("plot_2x2"),
        [
            "first partial (ms)",
            "final after audio end (ms)",
            "e2e (ms)",
            "RTF (e2e ÷ audio)"
        ]
    );
    assert_eq!(titles("load_latency").len(), 2, "final and e2e");
    // wer_load: pooled WER (%) and per-request p95 at the offered rates,
    // one label per stage.
    let wer = &figures
        .iter()
        .find(|f| f.stem == "wer_load")
        .expect("wer_load")
        .panels[0];
    assert_eq!(wer.series.len(), 2);
    let xs: Vec<f64> = wer.series[0].points.iter().map(|p| p.0).collect();
    assert_eq!(xs, [2.0, 4.0, 8.0]);
    for ((_, y), p) in wer.series[0].points.iter().zip(&pooled) {
        assert!((y - 100.0 * p).abs() < 1e-9);
    }
    let labels: Vec<&str> = wer.point_labels.iter().map(|l| l.2.as_str()).collect();
    assert_eq!(labels, ["rate=2/s", "rate=4/s", "rate=8/s"]);

    let dir = tempfile::tempdir().expect("tempdir");
    PlotWriter.write(&run, dir.path()).expect("plots");
    HtmlWriter.write(&run, dir.path()).expect("report");
    let mut kept = Vec::new();
    for fig in &figures {
        let png = dir.path().join(format!("{}.png", fig.stem));
        let (w, h, pixels, samples) = decode_png(&png);
        assert_eq!((w, h), fig.size, "{}", png.display());
        let var = luminance_variance(&pixels, samples);
        assert!(
            var > 100.0,
            "{} looks blank (variance {var})",
            png.display()
        );
        let svg = dir.path().join(format!("{}.svg", fig.stem));
        assert!(svg.exists(), "{}", svg.display());
        kept.extend([png, svg]);
    }
    let wer_fig = figures
        .iter()
        .find(|f| f.stem == "wer_load")
        .expect("wer_load");
    assert_eq!(
        plot::render_png(wer_fig),
        plot::render_png(wer_fig),
        "deterministic"
    );
    let report = dir.path().join("report.html");
    let text = std::fs::read_to_string(&report).expect("report.html");
    assert_self_contained(&text, &run);
    for stem in &stems {
        assert!(
            text.contains(&format!("id=\"chart-{stem}\"")),
            "{stem} not inline"
        );
    }
    assert!(text.contains("word error rate against load"));
    kept.push(report);
    keep_artifacts("asr_", &kept);

    // Without reference texts there is no WER, and no WER chart.
    let mut no_refs = run.clone();
    for s in &mut no_refs.stages {
        s.summary.wer_pooled = None;
        s.summary.metrics.remove("wer");
    }
    let no_ref_figs = plot::figures(&no_refs);
    let stems: Vec<&str> = no_ref_figs.iter().map(|f| f.stem.as_str()).collect();
    assert!(!stems.contains(&"wer_load"), "{stems:?}");
}
