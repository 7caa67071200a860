//! The target's own metrics beside the client's (`--scrape`): which series
//! of a Prometheus scrape are kept, the points they collect over a run,
//! and what a report shows of each (first, last, min, max, and for a
//! counter its rate per second).
//!
//! Kept: counters (a `# TYPE … counter` family, or an untyped name ending
//! in `_total`), gauges (and untyped samples), and the `_sum` and `_count`
//! of histograms and summaries, as counters: their rates give the server's
//! own mean (rate of `_sum` ÷ rate of `_count`). Not kept: histogram
//! `_bucket`s (many series for one distribution), summary quantiles (the
//! server's own sliding window, not the run's) and `_created` timestamps.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::protocol::prom_text::{Exposition, MetricType};
use crate::protocol::scrape::ScrapeFailureKind;

/// Series kept when `--scrape-series` is not given: what says whether a
/// speech or LLM server is saturating, from the servers voxload is pointed
/// at. Process memory and CPU (every Prometheus client library); vLLM's
/// running and waiting requests and KV-cache use (both names it has had);
/// Triton's pending requests, cumulative queue time and GPU use; TGI's
/// queue and batch; SGLang's running and queued requests; and the mock's
/// own. All series of a big server (vLLM serves hundreds, mostly histogram
/// buckets per model) would swamp the report; `--scrape-series all` keeps
/// everything up to [`MAX_SERIES`].
pub const DEFAULT_SERIES: &[&str] = &[
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:gpu_cache_usage_perc",
    "vllm:kv_cache_usage_perc",
    "nv_inference_pending_request_count",
    "nv_inference_queue_duration_us",
    "nv_gpu_utilization",
    "tgi_queue_size",
    "tgi_batch_current_size",
    "sglang:num_running_reqs",
    "sglang:num_queue_reqs",
    "voxmock_requests_in_flight",
    "voxmock_queue_waiting",
    "voxmock_requests_total",
];

/// Most series kept per scrape URL; the ones beyond are counted in
/// [`TargetMetrics::left_out`]. 500 series at one scrape every 5 s for an
/// hour is 360 000 points, a few MB of `result.json`.
pub const MAX_SERIES: usize = 500;

/// Which series a scrape keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesChoice {
    /// Every series (up to [`MAX_SERIES`]).
    All,
    /// Series of these metric names, every label set of each. A histogram
    /// or summary family name keeps its `_sum` and `_count`; a counter
    /// family name (`x`) matches its `x_total` samples.
    Names(Vec<String>),
}

impl SeriesChoice {
    /// [`DEFAULT_SERIES`].
    pub fn default_names() -> Self {
        SeriesChoice::Names(DEFAULT_SERIES.iter().map(|s| s.to_string()).collect())
    }

    fn wants(&self, sample: &str, family: &str) -> bool {
        match self {
            SeriesChoice::All => true,
            SeriesChoice::Names(names) => names.iter().any(|n| n == sample || n == family),
        }
    }
}

/// How a kept series reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// Only goes up: reports show its rate per second.
    Counter,
    /// A level: reports show it as it is.
    Gauge,
}

/// The family of sample `name` and how it reads, or `None` for samples
/// that are not kept (buckets, quantiles, `_created`).
pub fn classify<'a>(
    name: &'a str,
    types: &BTreeMap<String, MetricType>,
) -> Option<(&'a str, SeriesKind)> {
    match types.get(name) {
        Some(MetricType::Counter) => return Some((name, SeriesKind::Counter)),
        Some(MetricType::Gauge | MetricType::Untyped) => return Some((name, SeriesKind::Gauge)),
        // A summary's quantile samples carry the family's own name.
        Some(MetricType::Histogram | MetricType::Summary) => return None,
        None => {}
    }
    for suffix in ["_total", "_sum", "_count", "_bucket", "_created"] {
        let Some(family) = name.strip_suffix(suffix) else {
            continue;
        };
        match (types.get(family), suffix) {
            (_, "_created") => return None,
            (Some(MetricType::Counter), "_total") => return Some((family, SeriesKind::Counter)),
            (Some(MetricType::Histogram | MetricType::Summary), "_sum" | "_count") => {
                return Some((family, SeriesKind::Counter))
            }
            (Some(MetricType::Histogram), "_bucket") => return None,
            _ => {}
        }
    }
    let kind = match name.ends_with("_total") {
        true => SeriesKind::Counter,
        false => SeriesKind::Gauge,
    };
    Some((name, kind))
}

/// One kept series: a metric name with one label set, and its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrapedSeries {
    /// The sample's metric name.
    pub name: String,
    /// Its labels (absent when it has none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Counter or gauge.
    pub kind: SeriesKind,
    /// `[t, value]`: `t` in run-clock seconds (from `epoch_us`) when the
    /// scrape was sent; NaN and ±Inf values are left out.
    pub points: Vec<[f64; 2]>,
}

/// What reports show of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesSummary {
    /// Its first value.
    pub first: f64,
    /// Its last value.
    pub last: f64,
    /// Its lowest value.
    pub min: f64,
    /// Its highest value.
    pub max: f64,
    /// Counters: increase per second from the first point to the last
    /// (a drop is a restart: the value after it counts as the increase).
    pub rate: Option<f64>,
}

impl ScrapedSeries {
    /// `name{label="value",…}`, as Prometheus writes it.
    pub fn display_name(&self) -> String {
        if self.labels.is_empty() {
            return self.name.clone();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }

    /// First, last, min, max and (counters) rate; `None` without points.
    pub fn summary(&self) -> Option<SeriesSummary> {
        let (first, last) = (self.points.first()?, self.points.last()?);
        let values = self.points.iter().map(|p| p[1]);
        let min = values.clone().fold(f64::INFINITY, f64::min);
        let max = values.fold(f64::NEG_INFINITY, f64::max);
        let span = last[0] - first[0];
        let rate = match self.kind {
            SeriesKind::Counter if span > 0.0 => Some(self.increase() / span),
            _ => None,
        };
        Some(SeriesSummary {
            first: first[1],
            last: last[1],
            min,
            max,
            rate,
        })
    }

    /// A counter's increase over its points, restarts counted as in
    /// Prometheus's `increase()`.
    fn increase(&self) -> f64 {
        self.points.windows(2).map(|w| step(w[0][1], w[1][1])).sum()
    }

    /// The series as a report plots it: a gauge's points, or a counter's
    /// rate per second between each point and the one before (at the later
    /// one's time).
    pub fn plotted(&self) -> Vec<(f64, f64)> {
        match self.kind {
            SeriesKind::Gauge => self.points.iter().map(|p| (p[0], p[1])).collect(),
            SeriesKind::Counter => self
                .points
                .windows(2)
                .filter(|w| w[1][0] > w[0][0])
                .map(|w| (w[1][0], step(w[0][1], w[1][1]) / (w[1][0] - w[0][0])))
                .collect(),
        }
    }
}

/// A counter's increase from `a` to `b`: a drop is a restart from zero.
fn step(a: f64, b: f64) -> f64 {
    if b >= a {
        b - a
    } else {
        b
    }
}

/// One scrape URL's part of `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetMetrics {
    /// The URL scraped, credentials redacted.
    pub url: String,
    /// Scrape period, seconds: scrape *k* is due at `k × every_s` on the run clock.
    pub every_s: f64,
    /// Scrapes sent.
    pub scrapes: u64,
    /// Failed scrapes by kind (`connect`, `timeout`, `status`, `body`, `parse`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<ScrapeFailureKind, u64>,
    /// Due scrapes skipped because the generator woke after the next one
    /// was due (a stalled process, not the target).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missed: u64,
    /// Series seen but not kept, over [`MAX_SERIES`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_out: u64,
    /// The kept series, in the order first seen.
    pub series: Vec<ScrapedSeries>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TargetMetrics {
    /// Scrapes that succeeded.
    pub fn ok(&self) -> u64 {
        self.scrapes - self.failures.values().sum::<u64>().min(self.scrapes)
    }
}

/// Collects one URL's scrapes into its [`TargetMetrics`].
#[derive(Debug, Clone)]
pub struct Recorder {
    choice: SeriesChoice,
    kept: TargetMetrics,
    /// Series index by (name, labels).
    index: HashMap<(String, BTreeMap<String, String>), usize>,
    /// Series left out, so each is counted once.
    dropped: std::collections::HashSet<(String, BTreeMap<String, String>)>,
}

impl Recorder {
    /// Nothing recorded yet from `url` (already redacted), scraped every `every_s`.
    pub fn new(url: String, every_s: f64, choice: SeriesChoice) -> Self {
        Self {
            choice,
            kept: TargetMetrics {
                url,
                every_s,
                scrapes: 0,
                failures: BTreeMap::new(),
                missed: 0,
                left_out: 0,
                series: Vec::new(),
            },
            index: HashMap::new(),
            dropped: Default::default(),
        }
    }

    /// A scrape sent at run-clock second `t` answered `e`; returns how many
    /// of its samples were kept.
    pub fn record(&mut self, t: f64, e: &Exposition) -> usize {
        self.kept.scrapes += 1;
        let mut kept = 0;
        for s in &e.samples {
            let Some((family, kind)) = classify(&s.name, &e.types) else {
                continue;
            };
            if !self.choice.wants(&s.name, family) || !s.value.is_finite() {
                continue;
            }
            let key = (s.name.clone(), s.labels.clone());
            let i = match self.index.get(&key) {
                Some(&i) => i,
                None if self.kept.series.len() >= MAX_SERIES => {
                    if self.dropped.insert(key) {
                        self.kept.left_out += 1;
                    }
                    continue;
                }
                None => {
                    self.kept.series.push(ScrapedSeries {
                        name: s.name.clone(),
                        labels: s.labels.clone(),
                        kind,
                        points: Vec::new(),
                    });
                    self.index.insert(key, self.kept.series.len() - 1);
                    self.kept.series.len() - 1
                }
            };
            self.kept.series[i].points.push([t, s.value]);
            kept += 1;
        }
        kept
    }

    /// A scrape failed.
    pub fn fail(&mut self, kind: ScrapeFailureKind) {
        self.kept.scrapes += 1;
        *self.kept.failures.entry(kind).or_default() += 1;
    }

    /// `n` due scrapes were skipped.
    pub fn miss(&mut self, n: u64) {
        self.kept.missed += n;
    }

    /// What was recorded so far.
    pub fn result(&self) -> &TargetMetrics {
        &self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::prom_text::parse;

    const VLLM: &str = "# TYPE vllm:num_requests_waiting gauge\n\
        vllm:num_requests_waiting{model_name=\"m\"} 3\n\
        # TYPE vllm:num_preemptions counter\n\
        vllm:num_preemptions_total{model_name=\"m\"} 7\n\
        vllm:num_preemptions_created{model_name=\"m\"} 1.7e9\n\
        # TYPE vllm:e2e_request_latency_seconds histogram\n\
        vllm:e2e_request_latency_seconds_bucket{le=\"1\"} 4\n\
        vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\"} 5\n\
        vllm:e2e_request_latency_seconds_sum 6.5\n\
        vllm:e2e_request_latency_seconds_count 5\n\
        # TYPE rpc summary\n\
        rpc{quantile=\"0.5\"} 0.2\n\
        rpc_sum 10\n\
        rpc_count 40\n\
        process_resident_memory_bytes 1.5e8\n\
        untyped_total 2\n\
        broken NaN\n";

    fn names(r: &Recorder) -> Vec<(String, SeriesKind)> {
        r.result()
            .series
            .iter()
            .map(|s| (s.display_name(), s.kind))
            .collect()
    }

    #[test]
    fn all_keeps_counters_gauges_and_sums_but_not_buckets_or_quantiles() {
        let e = parse(VLLM).expect("parses");
        let mut r = Recorder::new("u".into(), 1.0, SeriesChoice::All);
        assert_eq!(r.record(0.0, &e), 8);
        use SeriesKind::{Counter as C, Gauge as G};
        let want: Vec<(String, SeriesKind)> = [
            ("vllm:num_requests_waiting{model_name=\"m\"}", G),
            ("vllm:num_preemptions_total{model_name=\"m\"}", C),
            ("vllm:e2e_request_latency_seconds_sum", C),
            ("vllm:e2e_request_latency_seconds_count", C),
            ("rpc_sum", C),
            ("rpc_count", C),
            ("process_resident_memory_bytes", G),
            ("untyped_total", C),
        ]
        .into_iter()
        .map(|(n, k)| (n.to_string(), k))
        .collect();
        assert_eq!(names(&r), want);
    }

    #[test]
    fn names_match_samples_and_families() {
        let e = parse(VLLM).expect("parses");
        let choice = SeriesChoice::Names(vec![
            "vllm:num_preemptions".into(),
            "vllm:e2e_request_latency_seconds".into(),
            "process_resident_memory_bytes".into(),
        ]);
        let mut r = Recorder::new("u".into(), 1.0, choice);
        r.record(0.5, &e);
        let got: Vec<String> = names(&r).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            got,
            [
                "vllm:num_preemptions_total{model_name=\"m\"}",
                "vllm:e2e_request_latency_seconds_sum",
                "vllm:e2e_request_latency_seconds_count",
                "process_resident_memory_bytes"
            ]
        );
        assert_eq!(r.result().series[3].points, vec![[0.5, 1.5e8]]);
    }

    #[test]
    fn series_over_the_cap_are_counted_once() {
        let text: String = (0..MAX_SERIES + 3)
            .map(|i| format!("g{{i=\"{i}\"}} 1\n"))
            .collect();
        let e = parse(&text).expect("parses");
        let mut r = Recorder::new("u".into(), 1.0, SeriesChoice::All);
        r.record(0.0, &e);
        r.record(1.0, &e);
        r.fail(ScrapeFailureKind::Timeout);
        let t = r.result();
        assert_eq!((t.series.len(), t.left_out), (MAX_SERIES, 3));
        assert_eq!((t.scrapes, t.ok()), (3, 2));
        assert_eq!(t.series[0].points.len(), 2);
    }

    #[test]
    fn counters_read_as_rates_with_restarts() {
        let s = ScrapedSeries {
            name: "x_total".into(),
            labels: BTreeMap::new(),
            kind: SeriesKind::Counter,
            points: vec![[0.0, 10.0], [2.0, 30.0], [4.0, 5.0], [5.0, 15.0]],
        };
        // 20 over 2 s, a restart (5 counted), 10 over 1 s: 35 over 5 s.
        assert_eq!(s.plotted(), vec![(2.0, 10.0), (4.0, 2.5), (5.0, 10.0)]);
        let sum = s.summary().expect("points");
        assert_eq!(
            (sum.first, sum.last, sum.min, sum.max),
            (10.0, 15.0, 5.0, 30.0)
        );
        assert_eq!(sum.rate, Some(7.0));
        let g = ScrapedSeries {
            kind: SeriesKind::Gauge,
            ..s
        };
        assert_eq!(g.summary().and_then(|s| s.rate), None);
        assert_eq!(g.plotted().len(), 4);
    }
}
