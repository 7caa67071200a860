//! The live state as Prometheus text exposition (format 0.0.4), what
//! `--prometheus ADDR` serves at `/metrics`.
//!
//! Names follow Prometheus's conventions: a `voxload_` prefix, counters
//! end in `_total`, durations are histograms in seconds (`_seconds`),
//! ratios in `_ratio`; labels are few and bounded: `scenario` (the plan's
//! scenario names), `class` (error classes), `stage` (the running stage's
//! label, on the info metric only), `chunk` (configured chunk numbers).
//! Nothing here holds a URL, a header or a key: secrets cannot leak.
//! Hand-written rather than a crate: one function per family kind, and
//! `promtool check metrics` judges it in `tests/prometheus.rs`.
//! docs/prometheus.md lists every family.

use std::fmt::Write as _;

use crate::metrics::live::{base_value, LiveHistogram, LiveView, ScenarioView};
use crate::metrics::metric::{Metric, Unit};

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prefix of every family.
const PREFIX: &str = "voxload_";

/// The family name of a metric's histogram: `voxload_ttfa_seconds`,
/// `voxload_rtf_ratio`, `voxload_stalls` (a count per request; every
/// `chunkN` shares `voxload_chunk_seconds`, told apart by `chunk`).
pub fn histogram_name(m: &Metric) -> String {
    let def = m.def();
    match def.unit {
        Unit::Micros => format!("{PREFIX}{}_seconds", def.name),
        Unit::Ratio => format!("{PREFIX}{}_ratio", def.name),
        // `_count` is the histogram's own sample suffix.
        _ => match def.name.strip_suffix("_count") {
            Some(stem) => format!("{PREFIX}{stem}s"),
            None => format!("{PREFIX}{}", def.name),
        },
    }
}

/// Every family name a run of any protocol can expose (the histograms'
/// with `_bucket`, `_sum` and `_count`), for checking what refers to them
/// (the Grafana dashboard).
pub fn family_names() -> Vec<String> {
    let mut names: Vec<String> = FAMILIES.iter().map(|(n, _, _)| n.to_string()).collect();
    for d in crate::metrics::registry::METRICS.iter() {
        if d.metric == Metric::JudgeWer {
            continue;
        }
        let base = histogram_name(&d.metric);
        for suffix in ["_bucket", "_sum", "_count"] {
            names.push(format!("{base}{suffix}"));
        }
    }
    names
}

/// The families besides the histograms: name, type, help.
const FAMILIES: [(&str, &str, &str); 13] = [
    (
        "voxload_run_info",
        "gauge",
        "The run: voxload version, what it tests (tts, asr, agent, mixed) and its name; always 1.",
    ),
    (
        "voxload_run_finished",
        "gauge",
        "1 once the run has ended and these are its final numbers, else 0.",
    ),
    (
        "voxload_stage_index",
        "gauge",
        "Index of the running stage (0-based, as in result.json); the last one after the run.",
    ),
    (
        "voxload_stage_info",
        "gauge",
        "The running stage's label per scenario (rate=5/s, c=8); always 1.",
    ),
    (
        "voxload_requests_started_total",
        "counter",
        "Requests sent, warm-up included (voice agents: calls).",
    ),
    (
        "voxload_requests_finished_total",
        "counter",
        "Requests that ended, warm-up included (voice agents: calls).",
    ),
    (
        "voxload_requests_ok_total",
        "counter",
        "Measured requests that succeeded, warm-up excluded (voice agents: turns), as result.json counts them.",
    ),
    (
        "voxload_requests_failed_total",
        "counter",
        "Measured requests that failed, by error class, warm-up excluded (voice agents: turns).",
    ),
    (
        "voxload_warmup_requests_total",
        "counter",
        "Warm-up requests (voice agents: turns), excluded from every other measure.",
    ),
    (
        "voxload_arrivals_dropped_total",
        "counter",
        "Open-loop arrivals dropped because --max-in-flight requests were running (never sent).",
    ),
    (
        "voxload_requests_in_flight",
        "gauge",
        "Requests sent and not ended (voice agents: calls).",
    ),
    (
        "voxload_offered_requests_per_second",
        "gauge",
        "Arrivals per second in the running stage so far, dropped ones included.",
    ),
    (
        "voxload_achieved_requests_per_second",
        "gauge",
        "Measured requests (voice agents: turns) completed per second in the running stage so far.",
    ),
];

/// The exposition text of `view`.
pub fn render(view: &LiveView) -> String {
    let mut out = Text::default();
    for (name, kind, help) in FAMILIES {
        out.family(name, kind, help);
        match name {
            "voxload_run_info" => out.sample(
                name,
                &[
                    ("version", &view.run.version),
                    ("kind", &view.run.kind),
                    ("name", &view.run.name),
                ],
                1,
            ),
            "voxload_run_finished" => out.sample(name, &[], u64::from(view.finished)),
            "voxload_stage_index" => {
                if let Some(stage) = &view.stage {
                    out.sample(name, &[], stage.index as u64);
                }
            }
            "voxload_stage_info" => {
                for (s, label) in view
                    .scenarios
                    .iter()
                    .zip(view.stage.iter().flat_map(|st| &st.labels))
                {
                    out.sample(name, &[("scenario", &s.name), ("stage", label)], 1);
                }
            }
            "voxload_requests_failed_total" => {
                for s in &view.scenarios {
                    for (kind, n) in &s.live.errors {
                        out.sample(name, &[("scenario", &s.name), ("class", &kind.label())], *n);
                    }
                }
            }
            _ => {
                for s in &view.scenarios {
                    per_scenario(&mut out, name, s);
                }
            }
        }
    }
    histograms(&mut out, view);
    out.0
}

/// One scenario's sample of a counter or gauge family.
fn per_scenario(out: &mut Text, name: &str, s: &ScenarioView) {
    let c = &s.live.counts;
    let labels = [("scenario", s.name.as_str())];
    let count = match name {
        "voxload_requests_started_total" => s.started,
        "voxload_requests_finished_total" => c.ended,
        "voxload_requests_ok_total" => c.ok,
        "voxload_warmup_requests_total" => c.warmup,
        "voxload_arrivals_dropped_total" => c.dropped,
        "voxload_requests_in_flight" => s.in_flight(),
        "voxload_offered_requests_per_second" => {
            if let Some(r) = s.offered_rps {
                out.sample_f64(name, &labels, r);
            }
            return;
        }
        "voxload_achieved_requests_per_second" => {
            if let Some(r) = s.achieved_rps {
                out.sample_f64(name, &labels, r);
            }
            return;
        }
        _ => return,
    };
    out.sample(name, &labels, count);
}

/// Every histogram family, each once with the samples of every scenario
/// that keeps it.
fn histograms(out: &mut Text, view: &LiveView) {
    let mut families: Vec<String> = Vec::new();
    for s in &view.scenarios {
        for h in &s.live.hists {
            let name = histogram_name(&h.metric);
            if !families.contains(&name) {
                families.push(name);
            }
        }
    }
    for family in families {
        let mut header = false;
        for s in &view.scenarios {
            for h in s
                .live
                .hists
                .iter()
                .filter(|h| histogram_name(&h.metric) == family)
            {
                if !header {
                    out.family(&family, "histogram", &histogram_help(&h.metric));
                    header = true;
                }
                histogram(out, &family, &s.name, h);
            }
        }
    }
}

/// The HELP text of a metric's histogram: its registry title and unit.
fn histogram_help(m: &Metric) -> String {
    let def = m.def();
    let unit = match def.unit {
        Unit::Micros => "seconds",
        Unit::Ratio => "ratio",
        _ => "count",
    };
    let which = match m {
        Metric::ScheduleLag => "every measured request",
        _ => "successful measured requests",
    };
    format!(
        "{} per request, {unit}, of {which} (voxload metric '{}').",
        def.title, def.name
    )
}

fn histogram(out: &mut Text, family: &str, scenario: &str, h: &LiveHistogram) {
    let chunk = match h.metric {
        Metric::Chunk(k) => Some(k.to_string()),
        _ => None,
    };
    let mut labels: Vec<(&str, &str)> = vec![("scenario", scenario)];
    if let Some(k) = &chunk {
        labels.push(("chunk", k));
    }
    let unit = h.metric.unit();
    let cumulative = h.cumulative();
    let bucket = format!("{family}_bucket");
    for (i, n) in cumulative.iter().enumerate() {
        let le = match h.bounds.get(i) {
            Some(&b) => number(base_value(unit, b)),
            None => "+Inf".to_string(),
        };
        let mut with_le = labels.clone();
        with_le.push(("le", &le));
        out.sample(&bucket, &with_le, *n);
    }
    out.sample_f64(&format!("{family}_sum"), &labels, base_value(unit, h.sum));
    out.sample(
        &format!("{family}_count"),
        &labels,
        cumulative.last().copied().unwrap_or(0),
    );
}

/// A float as Prometheus reads it (never NaN here; infinities spelled out).
fn number(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    format!("{x}")
}

/// Escape a label value: backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Escape a HELP text: backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The text being written.
#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn labels(&mut self, labels: &[(&str, &str)]) {
        if labels.is_empty() {
            return;
        }
        self.0.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
        }
        self.0.push('}');
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        self.0.push_str(name);
        self.labels(labels);
        let _ = writeln!(self.0, " {v}");
    }

    fn sample_f64(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.0.push_str(name);
        self.labels(labels);
        let _ = writeln!(self.0, " {}", number(v));
    }
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
