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
    let mut names: Vec<String> = FAMILIES.iter().map(|f| f.name.to_string()).collect();
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

/// A sample's value.
enum Value {
    /// A count (exact integer).
    Count(u64),
    /// A rate.
    Real(f64),
}

/// A family's samples: labels and value each.
type Samples = Vec<(Vec<(&'static str, String)>, Value)>;

/// A counter or gauge family and how its samples are read from a view.
struct Family {
    name: &'static str,
    /// `counter` or `gauge`.
    kind: &'static str,
    help: &'static str,
    samples: fn(&LiveView) -> Samples,
}

/// One sample per scenario, labelled with its name, where `f` has a value.
fn per_scenario(view: &LiveView, f: impl Fn(&ScenarioView) -> Option<Value>) -> Samples {
    view.scenarios
        .iter()
        .filter_map(|s| Some((vec![("scenario", s.name.clone())], f(s)?)))
        .collect()
}

/// The families besides the histograms, in exposition order.
const FAMILIES: [Family; 13] = [
    Family {
        name: "voxload_run_info",
        kind: "gauge",
        help: "The run: voxload version, what it tests (tts, asr, agent, mixed), its name and, in a sharded run, the shard (I/N); always 1.",
        samples: |v| {
            let mut labels = vec![
                ("version", v.run.version.clone()),
                ("kind", v.run.kind.clone()),
                ("name", v.run.name.clone()),
            ];
            if let Some(shard) = &v.run.shard {
                labels.push(("shard", shard.clone()));
            }
            vec![(labels, Value::Count(1))]
        },
    },
    Family {
        name: "voxload_run_finished",
        kind: "gauge",
        help: "1 once the run has ended and these are its final numbers, else 0.",
        samples: |v| vec![(vec![], Value::Count(u64::from(v.finished)))],
    },
    Family {
        name: "voxload_stage_index",
        kind: "gauge",
        help: "Index of the running stage (0-based, as in result.json); the last one after the run.",
        samples: |v| {
            v.stage
                .iter()
                .map(|st| (vec![], Value::Count(st.index as u64)))
                .collect()
        },
    },
    Family {
        name: "voxload_stage_info",
        kind: "gauge",
        help: "The running stage's label per scenario (rate=5/s, c=8); always 1.",
        samples: |v| {
            let labels = v.stage.iter().flat_map(|st| &st.labels);
            v.scenarios
                .iter()
                .zip(labels)
                .map(|(s, label)| {
                    let labels = vec![("scenario", s.name.clone()), ("stage", label.clone())];
                    (labels, Value::Count(1))
                })
                .collect()
        },
    },
    Family {
        name: "voxload_requests_started_total",
        kind: "counter",
        help: "Requests sent, warm-up included (voice agents: calls).",
        samples: |v| per_scenario(v, |s| Some(Value::Count(s.started))),
    },
    Family {
        name: "voxload_requests_finished_total",
        kind: "counter",
        help: "Requests that ended, warm-up included (voice agents: calls).",
        samples: |v| per_scenario(v, |s| Some(Value::Count(s.live.counts.ended))),
    },
    Family {
        name: "voxload_requests_ok_total",
        kind: "counter",
        help: "Measured requests that succeeded, warm-up excluded (voice agents: turns), as result.json counts them.",
        samples: |v| per_scenario(v, |s| Some(Value::Count(s.live.counts.ok))),
    },
    Family {
        name: "voxload_requests_failed_total",
        kind: "counter",
        help: "Measured requests that failed, by error class, warm-up excluded (voice agents: turns).",
        samples: |v| {
            let mut out = Samples::new();
            for s in &v.scenarios {
                for (kind, n) in &s.live.errors {
                    let labels = vec![("scenario", s.name.clone()), ("class", kind.label())];
                    out.push((labels, Value::Count(*n)));
                }
            }
            out
        },
    },
    Family {
        name: "voxload_warmup_requests_total",
        kind: "counter",
        help: "Warm-up requests (voice agents: turns), excluded from every other measure.",
        samples: |v| per_scenario(v, |s| Some(Value::Count(s.live.counts.warmup))),
    },
    Family {
        name: "voxload_arrivals_dropped_total",
        kind: "counter",
        help: "Open-loop arrivals dropped because --max-in-flight requests were running (never sent).",
        samples: |v| per_scenario(v, |s| Some(Value::Count(s.live.counts.dropped))),
    },
    Family {
        name: "voxload_requests_in_flight",
        kind: "gauge",
        help: "Requests sent and not ended (voice agents: calls).",
        samples: |v| per_scenario(v, |s| Some(Value::Count(s.in_flight()))),
    },
    Family {
        name: "voxload_offered_requests_per_second",
        kind: "gauge",
        help: "Arrivals per second in the running stage so far, dropped ones included.",
        samples: |v| per_scenario(v, |s| s.offered_rps.map(Value::Real)),
    },
    Family {
        name: "voxload_achieved_requests_per_second",
        kind: "gauge",
        help: "Measured requests (voice agents: turns) completed per second in the running stage so far.",
        samples: |v| per_scenario(v, |s| s.achieved_rps.map(Value::Real)),
    },
];

/// The exposition text of `view`.
pub fn render(view: &LiveView) -> String {
    let mut out = Text::default();
    for family in &FAMILIES {
        out.family(family.name, family.kind, family.help);
        for (labels, value) in (family.samples)(view) {
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            match value {
                Value::Count(n) => out.sample(family.name, &labels, n),
                Value::Real(x) => out.sample_f64(family.name, &labels, x),
            }
        }
    }
    histograms(&mut out, view);
    out.0
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
