//! Live progress while a stage runs. Reads snapshots on a timer and never
//! blocks the engine: a progress bar on a terminal, a plain line every few
//! seconds otherwise (CI logs).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

/// What the live view shows about the running stage.
#[derive(Debug, Clone, Default)]
pub struct LiveSnapshot {
    /// Requests finished (warm-up included).
    pub done: u64,
    /// Records of parts of requests still running (earlier turns of a conversation).
    pub parts: u64,
    /// Records (requests and parts) that failed.
    pub failed: u64,
    /// Arrivals dropped.
    pub dropped: u64,
    /// Per scenario with samples in the last seconds: its lead latency
    /// (`ttfa`, `first audio`, `e2e`, named with the scenario in a run of
    /// several) with its p50 and p95 over those seconds, ms (±1 %: the
    /// timeline's windows).
    pub latency: Vec<(String, f64, f64)>,
    /// The run has several scenarios: requests and turns are counted together.
    pub mixed: bool,
    /// The target has not answered since this run-clock second (connection
    /// failures in a row; see `metrics::outage`).
    pub down_since_s: Option<f64>,
    /// The generator's CPU since the last snapshot, as a share of its cores.
    pub generator_cpu: Option<f64>,
}

/// Something the live view can poll.
pub trait LiveSource: Send + Sync {
    /// The running stage's numbers now.
    fn snapshot(&self) -> LiveSnapshot;
}

/// How the stage ends, for the bar's length.
#[derive(Debug, Clone, Copy)]
pub enum StageBound {
    /// A count of requests.
    Requests(u64),
    /// A length of time.
    Duration(Duration),
}

/// Show progress for one stage until `done` is cancelled.
pub async fn show(
    source: &dyn LiveSource,
    label: &str,
    bound: StageBound,
    quiet: bool,
    done: CancellationToken,
) {
    if quiet {
        done.cancelled().await;
        return;
    }
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    // Progress is arrivals of a count-bound stage, seconds of a timed one.
    let (len, unit) = match bound {
        StageBound::Requests(n) => (n, ""),
        StageBound::Duration(d) => (d.as_secs().max(1), "s"),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!("{{prefix:>14}} [{{bar:28}}] {{pos}}/{{len}}{unit} {{msg}}");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    let tick = if tty {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(5)
    };
    loop {
        let finished = tokio::select! {
            () = tokio::time::sleep(tick) => false,
            () = done.cancelled() => true,
        };
        let snap = source.snapshot();
        let elapsed = started.elapsed();
        let pos = match bound {
            StageBound::Requests(_) => snap.done,
            StageBound::Duration(_) => elapsed.as_secs().min(len),
        };
        let msg = line(&snap, elapsed);
        if tty {
            bar.set_position(pos);
            bar.set_message(msg);
        } else if !finished {
            eprintln!("{label:>14} {pos}/{len}{unit} {msg}");
        }
        if finished {
            break;
        }
    }
    if tty {
        bar.finish_and_clear();
    }
}

/// One line of live numbers.
pub fn line(s: &LiveSnapshot, elapsed: Duration) -> String {
    let records = s.done + s.parts;
    // Voice agents record turns as parts: their rate is turns, like the
    // summary's; a mixed run counts requests and turns together.
    let (count, unit) = match (s.parts > 0, s.mixed) {
        (_, true) => (records, "records/s"),
        (true, false) => (records, "turns/s"),
        (false, false) => (s.done, "req/s"),
    };
    let rate = count as f64 / elapsed.as_secs_f64().max(1e-3);
    let mut msg = String::new();
    if let Some(since) = s.down_since_s {
        msg.push_str(&format!("TARGET DOWN since {since:.1}s | "));
    }
    msg.push_str(&format!(
        "ok {} fail {}",
        records - s.failed.min(records),
        s.failed
    ));
    if s.dropped > 0 {
        msg.push_str(&format!(" drop {}", s.dropped));
    }
    msg.push_str(&format!(" | {rate:.1} {unit}"));
    if let Some(cpu) = s.generator_cpu {
        let saturated = if cpu > crate::metrics::generator::MAX_CPU_SHARE {
            " GENERATOR SATURATED"
        } else {
            ""
        };
        msg.push_str(&format!(" | cpu {:.0}%{saturated}", cpu * 100.0));
    }
    for (name, p50, p95) in &s.latency {
        msg.push_str(&format!(" | {name} p50 {p50:.0}ms p95 {p95:.0}ms"));
    }
    msg
}
