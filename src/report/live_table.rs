//! The terminal's live view: a table with a row per scenario (stage,
//! offered and achieved rate, in flight, counts, errors, p50/p95 of the
//! headline latency) redrawn in place on a terminal, and the same columns
//! as plain lines every few seconds otherwise (CI logs). The text comes
//! from pure functions of a [`LiveSnapshot`], tested without a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::fmt;
use super::live::{LiveSnapshot, LiveSource, LiveStage, RunState, ScenarioLive};
use crate::metrics::Unit;

/// Width assumed when the terminal's is unknown.
const DEFAULT_WIDTH: usize = 120;

/// The widest a scenario name or a latency label is shown.
const NAME_MAX: usize = 20;

/// Numeric columns: header and width (right-aligned).
const NUMERIC: [(&str, usize); 8] = [
    ("offered/s", 9),
    ("achieved/s", 10),
    ("in flight", 9),
    ("ok", 8),
    ("failed", 7),
    ("dropped", 7),
    ("p50", 9),
    ("p95", 9),
];

/// Error classes named in a row; more are summed as `+N more`.
const ERROR_CLASSES_SHOWN: usize = 2;

/// The width of stderr's terminal, or [`DEFAULT_WIDTH`].
pub fn terminal_width() -> usize {
    #[cfg(target_os = "linux")]
    if let Ok(size) = rustix::termios::tcgetwinsize(std::io::stderr()) {
        if size.ws_col > 0 {
            return usize::from(size.ws_col);
        }
    }
    DEFAULT_WIDTH
}

/// The table: a status line (stage, progress, CPU, alarms), a header, a
/// row per scenario; every line at most `width` characters, so a redraw
/// moves up exactly as many lines as it drew.
pub fn table(s: &LiveSnapshot, width: usize) -> Vec<String> {
    let name_w = column_width(s.scenarios.iter().map(|c| c.name.as_str()), "scenario");
    let metric_w = column_width(
        s.scenarios.iter().map(|c| c.metric_label.as_str()),
        "latency",
    );
    let mut header = format!("{:<name_w$}  {:<metric_w$}", "scenario", "latency");
    for (title, w) in NUMERIC {
        header.push_str(&format!("  {title:>w$}"));
    }
    header.push_str("  errors");
    let mut lines = vec![status(s), header];
    for c in &s.scenarios {
        let cells = cells(c);
        let mut row = format!(
            "{:<name_w$}  {:<metric_w$}",
            clip(&c.name, name_w),
            clip(&c.metric_label, metric_w)
        );
        for ((_, w), cell) in NUMERIC.iter().zip(&cells) {
            row.push_str(&format!("  {cell:>w$}", w = *w));
        }
        row.push_str("  ");
        row.push_str(&errors(c));
        lines.push(row);
    }
    lines.into_iter().map(|l| clip(&l, width)).collect()
}

/// The numeric cells of a row, in [`NUMERIC`] order.
fn cells(c: &ScenarioLive) -> [String; 8] {
    [
        rate(c.offered_rps),
        rate(c.achieved_rps),
        c.in_flight.to_string(),
        c.ok.to_string(),
        c.failed.to_string(),
        c.dropped.to_string(),
        ms(c.p50_ms),
        ms(c.p95_ms),
    ]
}

/// The first line: the stage and how far it is, the generator's CPU, and
/// what needs attention.
fn status(s: &LiveSnapshot) -> String {
    let mut out = match &s.stage {
        Some(st) => {
            let mut t = stage_name(st);
            match (st.duration_s, st.requests) {
                (Some(d), _) if st.left_s.is_some_and(|l| l > 0.0) => t.push_str(&format!(
                    " | {:.0}s of {:.0}s, {:.0}s left",
                    st.elapsed_s,
                    d,
                    st.left_s.unwrap_or(0.0)
                )),
                (Some(d), _) => t.push_str(&format!(
                    " | {:.0}s of {:.0}s, finishing the requests in flight",
                    st.elapsed_s, d
                )),
                (None, Some(n)) => t.push_str(&format!(
                    " | {}/{} requests, {:.0}s",
                    st.done, n, st.elapsed_s
                )),
                (None, None) => t.push_str(&format!(" | {:.0}s", st.elapsed_s)),
            }
            t
        }
        None => format!("{:.0}s", s.elapsed_s),
    };
    if let Some(cpu) = s.generator_cpu {
        out.push_str(&format!(" | cpu {:.0}%", cpu * 100.0));
        if cpu > crate::metrics::generator::MAX_CPU_SHARE {
            out.push_str(" GENERATOR SATURATED");
        }
    }
    if let Some(since) = s.down_since_s {
        out.push_str(&format!(" | TARGET DOWN since {since:.1}s"));
    }
    match s.state {
        RunState::Running => {}
        RunState::Stopping => out.push_str(" | STOPPING: finishing the requests in flight"),
        RunState::Finished => out.push_str(" | finished"),
    }
    out
}

/// `stage 2 rate=10/s`, or `stage 2` when that is its label (scenarios
/// with different labels).
fn stage_name(st: &LiveStage) -> String {
    let number = format!("stage {}", st.index + 1);
    if st.label == number {
        number
    } else {
        format!("{number} {}", st.label)
    }
}

/// The widest of `values` and `title`, capped at [`NAME_MAX`].
fn column_width<'a>(values: impl Iterator<Item = &'a str>, title: &str) -> usize {
    values
        .map(|v| v.chars().count())
        .chain([title.len()])
        .max()
        .unwrap_or(0)
        .min(NAME_MAX)
}

/// At most `width` characters of `s`.
fn clip(s: &str, width: usize) -> String {
    s.chars().take(width).collect()
}

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.1}"))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| fmt::value(v, Unit::Micros))
}

/// The stage's failures by class, most first: `http_503 4, timeout 1 +2 more`.
fn errors(c: &ScenarioLive) -> String {
    if c.errors.is_empty() {
        return "-".into();
    }
    let shown: Vec<String> = c
        .errors
        .iter()
        .take(ERROR_CLASSES_SHOWN)
        .map(|e| format!("{} {}", e.class, e.count))
        .collect();
    let rest: u64 = c
        .errors
        .iter()
        .skip(ERROR_CLASSES_SHOWN)
        .map(|e| e.count)
        .sum();
    let mut text = shown.join(", ");
    if rest > 0 {
        text.push_str(&format!(" +{rest} more"));
    }
    text
}

/// Move the cursor up over the `previous` lines drawn, clear from there
/// down, and draw `lines`: a redraw in place.
pub fn redraw(previous: usize, lines: &[String]) -> String {
    let mut out = clear(previous);
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Remove the `previous` lines drawn (the table at a stage's end, before
/// the summary).
pub fn clear(previous: usize) -> String {
    if previous == 0 {
        return String::new();
    }
    format!("\x1b[{previous}A\r\x1b[J")
}

/// The same columns as plain lines, one per scenario, for logs: the
/// stage's progress, then each scenario's numbers as `name value` pairs.
pub fn plain(s: &LiveSnapshot) -> Vec<String> {
    let progress = match &s.stage {
        Some(st) => match (st.duration_s, st.requests) {
            (Some(d), _) => format!(
                "{:>14} {:.0}/{:.0}s",
                st.label,
                st.elapsed_s.min(d).floor(),
                d
            ),
            (None, Some(n)) => format!("{:>14} {}/{}", st.label, st.done, n),
            (None, None) => format!("{:>14} {:.0}s", st.label, st.elapsed_s),
        },
        None => format!("{:>14}", ""),
    };
    let mut tail = String::new();
    if let Some(cpu) = s.generator_cpu {
        tail.push_str(&format!(" | cpu {:.0}%", cpu * 100.0));
        if cpu > crate::metrics::generator::MAX_CPU_SHARE {
            tail.push_str(" GENERATOR SATURATED");
        }
    }
    if s.state == RunState::Stopping {
        tail.push_str(" | STOPPING");
    }
    s.scenarios
        .iter()
        .map(|c| {
            let mut l = progress.clone();
            if let Some(since) = s.down_since_s {
                l.push_str(&format!(" TARGET DOWN since {since:.1}s |"));
            }
            if s.mixed {
                l.push_str(&format!(" {}:", c.name));
            }
            l.push_str(&format!(
                " ok {} fail {} drop {} | offered {}/s achieved {} {}s/s | in flight {} | {} p50 {} p95 {} | errors {}",
                c.ok,
                c.failed,
                c.dropped,
                rate(c.offered_rps),
                rate(c.achieved_rps),
                c.unit,
                c.in_flight,
                c.metric_label,
                ms(c.p50_ms),
                ms(c.p95_ms),
                errors(c),
            ));
            l.push_str(&tail);
            l
        })
        .collect()
}

/// How often a terminal's table is redrawn.
const TTY_TICK: Duration = Duration::from_millis(250);

/// How often plain lines are written when stderr is not a terminal.
const PLAIN_TICK: Duration = Duration::from_secs(5);

/// Show the running stage on stderr until `done` is cancelled: a table
/// redrawn in place on a terminal, plain lines every few seconds
/// otherwise; nothing when `quiet`.
pub async fn show(source: &dyn LiveSource, quiet: bool, done: CancellationToken) {
    if quiet {
        done.cancelled().await;
        return;
    }
    let tty = std::io::stderr().is_terminal();
    let tick = if tty { TTY_TICK } else { PLAIN_TICK };
    let mut drawn = 0;
    loop {
        let finished = tokio::select! {
            () = tokio::time::sleep(tick) => false,
            () = done.cancelled() => true,
        };
        let snap = source.snapshot(None);
        let mut err = std::io::stderr().lock();
        if tty {
            let out = if finished {
                clear(drawn)
            } else {
                let lines = table(&snap, terminal_width());
                let out = redraw(drawn, &lines);
                drawn = lines.len();
                out
            };
            let _ = err.write_all(out.as_bytes());
        } else if !finished {
            for line in plain(&snap) {
                let _ = writeln!(err, "{line}");
            }
        }
        let _ = err.flush();
        if finished {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Kind;
    use crate::report::live::ErrorCount;

    fn scenario(name: &str, metric: &str) -> ScenarioLive {
        ScenarioLive {
            name: name.into(),
            kind: Kind::HttpTts,
            metric: "ttfa".into(),
            metric_label: metric.into(),
            unit: "request",
            requests: 120,
            ok: 118,
            failed: 2,
            dropped: 0,
            warmup: 0,
            in_flight: 3,
            offered_rps: Some(10.0),
            achieved_rps: Some(9.75),
            window_s: 10,
            p50_ms: Some(12.34),
            p95_ms: Some(250.0),
            errors: vec![
                ErrorCount {
                    class: "http_503".into(),
                    count: 1,
                },
                ErrorCount {
                    class: "timeout".into(),
                    count: 1,
                },
            ],
            seconds: Vec::new(),
        }
    }

    fn snapshot(scenarios: Vec<ScenarioLive>) -> LiveSnapshot {
        LiveSnapshot {
            version: 1,
            run: "r".into(),
            mixed: scenarios.len() > 1,
            scenarios,
            stage: Some(LiveStage {
                index: 1,
                label: "rate=10".into(),
                elapsed_s: 12.2,
                duration_s: Some(30.0),
                left_s: Some(17.8),
                requests: None,
                done: 120,
            }),
            generator_cpu: Some(0.125),
            ..LiveSnapshot::default()
        }
    }

    /// The start of each header column, by its title (right-aligned
    /// columns end where their title ends).
    fn column_end(header: &str, title: &str) -> usize {
        header.find(title).expect("column") + title.len()
    }

    #[test]
    fn rows_line_up_under_their_headers() {
        let s = snapshot(vec![
            scenario("tts", "ttfa"),
            scenario("agent", "first audio"),
        ]);
        let lines = table(&s, 200);
        assert_eq!(lines.len(), 4, "status, header, one row per scenario");
        assert_eq!(lines[0], "stage 2 rate=10 | 12s of 30s, 18s left | cpu 12%");
        let header = &lines[1];
        for row in &lines[2..] {
            for (title, value) in [
                ("offered/s", "10.0"),
                ("achieved/s", "9.8"),
                ("in flight", "3"),
                ("ok", "118"),
                ("failed", "2"),
                ("p50", "12.3ms"),
                ("p95", "250ms"),
            ] {
                let end = column_end(header, title);
                assert_eq!(&row[end - value.len()..end], value, "{title} in {row:?}");
            }
            assert!(row.ends_with("  http_503 1, timeout 1"), "{row}");
        }
        assert!(
            lines[3].starts_with("agent     first audio "),
            "{}",
            lines[3]
        );
    }

    #[test]
    fn the_status_line_says_how_far_the_stage_is() {
        let mut s = snapshot(vec![scenario("tts", "ttfa")]);
        let stage = s.stage.as_mut().expect("stage");
        stage.label = "stage 2".into();
        stage.elapsed_s = 31.4;
        stage.left_s = Some(0.0);
        s.generator_cpu = Some(0.95);
        assert_eq!(
            status(&s),
            "stage 2 | 31s of 30s, finishing the requests in flight | cpu 95% GENERATOR SATURATED"
        );
        let stage = s.stage.as_mut().expect("stage");
        (stage.duration_s, stage.requests, stage.done) = (None, Some(500), 120);
        s.generator_cpu = None;
        s.state = RunState::Stopping;
        assert_eq!(
            status(&s),
            "stage 2 | 120/500 requests, 31s | STOPPING: finishing the requests in flight"
        );
    }

    #[test]
    fn lines_fit_the_width_and_a_redraw_moves_up_over_them() {
        let s = snapshot(vec![scenario("a-very-long-scenario-name-indeed", "ttfa")]);
        let lines = table(&s, 40);
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:?}");
        assert!(
            lines[2].starts_with("a-very-long-scenario"),
            "names clip at 20"
        );
        let first = redraw(0, &lines);
        assert!(!first.contains('\x1b'), "nothing to move over at first");
        assert_eq!(first.matches('\n').count(), 3);
        let again = redraw(lines.len(), &lines);
        assert!(again.starts_with("\x1b[3A\r\x1b[J"), "{again:?}");
        assert_eq!(clear(3), "\x1b[3A\r\x1b[J");
        assert_eq!(clear(0), "");
    }

    #[test]
    fn missing_numbers_show_as_dashes_and_more_errors_are_summed() {
        let mut c = scenario("tts", "ttfa");
        c.offered_rps = None;
        c.p95_ms = None;
        c.errors.push(ErrorCount {
            class: "connect".into(),
            count: 4,
        });
        let lines = table(&snapshot(vec![c]), 200);
        let header = &lines[1];
        let end = column_end(header, "offered/s");
        assert_eq!(&lines[2][end - 2..end], " -");
        assert!(
            lines[2].ends_with("http_503 1, timeout 1 +4 more"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn plain_lines_carry_the_same_columns() {
        let mut s = snapshot(vec![scenario("tts", "ttfa"), scenario("asr", "e2e")]);
        s.down_since_s = Some(3.31);
        s.state = RunState::Stopping;
        let lines = plain(&s);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1],
            "       rate=10 12/30s TARGET DOWN since 3.3s | asr: ok 118 fail 2 drop 0 | offered 10.0/s \
             achieved 9.8 requests/s | in flight 3 | e2e p50 12.3ms p95 250ms | errors http_503 1, \
             timeout 1 | cpu 12% | STOPPING"
        );
        s.mixed = false;
        s.scenarios.truncate(1);
        assert!(plain(&s)[0].contains("12/30s TARGET DOWN since 3.3s | ok 118"));
    }
}
