//! What a stage achieved, in display units: the one summary every report
//! prints and every SLO checks. It is read from the stage statistics, whose
//! histograms stay exact for merges and re-reports.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::metrics::generator::{self, GeneratorCpu};
use crate::metrics::judge::JudgeCounts;
use crate::metrics::metric::{Metric, Unit};
use crate::metrics::outage::Outage;
use crate::protocol::ErrorKind;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Distribution of one metric over a stage, in the metric's display unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Display unit of every number below.
    pub unit: Unit,
    /// Samples.
    pub count: u64,
    /// Smallest sample (to histogram precision).
    pub min: f64,
    /// Mean of the samples.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample (to histogram precision).
    pub max: f64,
}

impl Percentiles {
    /// Read a histogram whose values are stored in `unit`'s raw scale.
    pub fn new(h: &Histogram<u64>, unit: Unit) -> Self {
        let q = |p: f64| unit.display(h.value_at_quantile(p) as f64);
        Self {
            unit,
            count: h.len(),
            min: unit.display(h.min() as f64),
            mean: unit.display(h.mean()),
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            max: unit.display(h.max() as f64),
        }
    }
}

/// One error class in a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRow {
    /// Stable label (`timeout`, `http_503`, …), as in tables and SLO names.
    pub label: String,
    /// The typed class.
    pub kind: ErrorKind,
    /// Failures of this class.
    pub count: u64,
    /// Detail of the first one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// What a stage achieved: the numbers reports print and SLOs check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Completed non-warm-up requests (`ok + failed`).
    pub requests: u64,
    /// Successful requests.
    pub ok: u64,
    /// Failed requests.
    pub failed: u64,
    /// Arrivals dropped at the in-flight cap.
    pub dropped: u64,
    /// Warm-up requests (excluded).
    pub warmup: u64,
    /// Wall time the rates are computed over, µs.
    pub wall_us: u64,
    /// `ok ÷ requests`; absent with no requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    /// Completed requests per wall second (0 if the wall time is zero).
    pub achieved_rps: f64,
    /// Seconds of audio produced by successful requests.
    pub audio_s_total: f64,
    /// Seconds of audio per wall second: throughput in "voices" (0 if the wall time is zero).
    pub audio_s_per_wall_s: f64,
    /// Share of successful requests with stall info that stalled at least once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stalled_share: Option<f64>,
    /// ASR: all word errors ÷ all reference words of the stage (not the mean
    /// of per-request WERs, which over-weights short utterances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wer_pooled: Option<f64>,
    /// Voice agent: conversations started in the stage.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub calls: u64,
    /// Voice agent: share of conversations whose handshake succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_success: Option<f64>,
    /// Voice agent: planned barge-ins measured or found untested.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub barge_ins: u64,
    /// Voice agent: planned barge-ins that found nothing left to interrupt
    /// (the answer was over and had played): counted here, absent from the
    /// barge-in histograms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub barge_in_untested: u64,
    /// With `--goodput`: the share of requests that succeeded and met every
    /// criterion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<f64>,
    /// With `--goodput`: good requests per wall second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_rps: Option<f64>,
    /// With `--judge-asr`: how the stage's judge requests ended.
    #[serde(flatten)]
    pub judge: JudgeCounts,
    /// All word errors ÷ all reference words over the judged requests: the
    /// word error rate of the synthesized speech.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_wer_pooled: Option<f64>,
    /// Failures by class, most frequent first.
    pub errors: Vec<ErrorRow>,
    /// When the target was down (connection-level failures in a row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outages: Vec<Outage>,
    /// The generator's CPU over the stage (the whole process: every
    /// scenario of a stage shares it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_cpu: Option<GeneratorCpu>,
    /// The cold requests' own summary (`--cold-after`), when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold: Option<Box<StageSummary>>,
    /// Distribution of every metric with samples, keyed by [`Metric::name`].
    pub metrics: BTreeMap<String, Percentiles>,
}

impl StageSummary {
    /// Each way the generator limited this stage (see [`generator`]).
    pub fn generator_warnings(&self) -> Vec<String> {
        let p99 = |name: &str| self.metrics.get(name).map(|p| p.p99);
        generator::warnings(generator::Signs {
            schedule_lag_p99_ms: p99(Metric::ScheduleLag.name().as_str()),
            frame_lag_p99_ms: p99(Metric::FrameLagP99.name().as_str()),
            cpu: self.generator_cpu,
            dropped: self.dropped,
        })
    }
}
