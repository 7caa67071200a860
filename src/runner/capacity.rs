//! Capacity search on the one engine: each probe is an ordinary stage,
//! chosen after the one before from its SLO verdicts with 95 % confidence
//! ([`crate::workload::search`] decides the level, [`Slo::evaluate_confident`]
//! the verdict). Any protocol the engine runs can be searched.

use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::config::levels::Levels;
use crate::config::{ConfigError, WorkloadOptions};
use crate::metrics::slo::Slo;
use crate::result::capacity::{BoundVerdict, CapacityProbe, CapacityResult};
use crate::result::{RunResult, StageResult};
use crate::workload::search::{Over, Search, SearchSpec};
use crate::workload::StageSpec;

use super::engine::StageSource;

/// How long each probe runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeLength {
    /// Open loop: at least this long (`--duration`).
    pub min: Duration,
    /// At most this long, whatever the samples need (`--max-probe`).
    pub max: Duration,
    /// Idle between probes (`--probe-gap`).
    pub gap: Duration,
}

/// Probes get this many more samples than the bound strictly needs, so
/// the failures and warm-up of a probe do not leave it just short.
const SAMPLE_MARGIN: f64 = 1.25;

/// The stages of a capacity search: every probe's spec comes from the
/// scenario's workload options with the level and length filled in.
#[derive(Clone)]
pub struct CapacitySource {
    search: Search,
    slo: Vec<Slo>,
    workload: WorkloadOptions,
    seed: u64,
    length: ProbeLength,
    min_samples: u64,
    require: Option<f64>,
    probes: Vec<CapacityProbe>,
}

impl CapacitySource {
    /// A search over `spec` holding every one of `slo`, each probe built
    /// from `workload` (its rate or users replaced by the probe's level).
    pub fn new(
        spec: SearchSpec,
        slo: Vec<Slo>,
        workload: WorkloadOptions,
        seed: u64,
        length: ProbeLength,
        require: Option<f64>,
    ) -> Self {
        let min_samples = slo.iter().filter_map(Slo::min_samples).max().unwrap_or(1);
        let mut spec = spec;
        if spec.over == Over::Rate {
            // Below this rate a probe cannot gather its samples within the
            // longest probe, and would fail for want of data, not of capacity.
            let lowest = min_samples as f64 * SAMPLE_MARGIN / length.max.as_secs_f64();
            spec.start = spec.start.max(round_up(lowest)).min(spec.max);
        }
        Self {
            search: Search::new(spec),
            slo,
            workload,
            seed,
            length,
            min_samples,
            require,
            probes: Vec::new(),
        }
    }

    /// The first level probed (raised to the lowest open-loop rate whose
    /// probe can gather its samples within the longest probe).
    pub fn start(&self) -> f64 {
        self.search.spec().start
    }

    /// What is searched, and how long each probe may run.
    pub fn describe(&self) -> (Over, ProbeLength) {
        (self.search.spec().over, self.length)
    }

    /// The successful samples the strictest SLO needs per probe.
    pub fn min_samples(&self) -> u64 {
        self.min_samples
    }

    /// The probe's spec at `level`, long enough for the samples needed.
    /// Open loop knows its arrivals: `min_samples × margin ÷ rate`, within
    /// the probe length. Closed loop does not know its throughput before it
    /// runs, so its users stop after that many requests (or at the longest
    /// probe length, whichever comes first).
    pub fn spec_at(&self, index: usize, level: f64) -> Result<StageSpec, ConfigError> {
        let samples =
            self.min_samples as f64 * SAMPLE_MARGIN + self.workload.warmup.unwrap_or(0) as f64;
        let mut w = self.workload.clone();
        let levels = Some(Levels(vec![level]));
        match self.search.spec().over {
            Over::Rate => {
                let wanted = Duration::from_secs_f64(samples / level);
                w.duration = Some(wanted.clamp(self.length.min, self.length.max));
                w.requests = None;
                w.rate = levels;
            }
            Over::Concurrency => {
                w.duration = Some(self.length.max);
                w.requests = Some(samples.ceil() as u64);
                w.concurrency = levels;
            }
        }
        let mut stages = w.stages(self.seed.wrapping_add(index as u64))?;
        Ok(stages.remove(0))
    }

    /// Judge a finished probe: every SLO that applies, with confidence.
    fn judge(
        &self,
        stage: &StageResult,
        view_kind: Option<crate::protocol::Kind>,
    ) -> Vec<BoundVerdict> {
        let view = stage.view(view_kind);
        self.slo
            .iter()
            .filter(|s| s.applies_to(&view))
            .map(|s| {
                let c = s.evaluate_confident(&stage.stats, &stage.summary);
                BoundVerdict {
                    slo: s.expr.clone(),
                    observed: c.observed,
                    bound: c.bound,
                    interval: c.interval.map(|i| (i.lo, i.hi)),
                    threshold: s.threshold,
                    unit: s.subject.unit().label().to_string(),
                    passed: c.passed,
                    reason: c.reason,
                }
            })
            .collect()
    }

    /// Record the verdict of the probe that ran as stage `index` (an
    /// interrupted one has none).
    fn conclude(&mut self, index: usize, so_far: &RunResult) {
        let Some((level, phase)) = self.search.next_probe() else {
            return;
        };
        let Some(stage) = so_far.stages.iter().find(|s| s.index == index) else {
            return;
        };
        if stage.interrupted {
            return;
        }
        let verdicts = self.judge(stage, so_far.kind_of(stage));
        let passed = !verdicts.is_empty() && verdicts.iter().all(|v| v.passed);
        self.search.record(passed);
        self.probes.push(CapacityProbe {
            stage: index,
            level,
            phase,
            passed,
            slo: verdicts,
        });
    }

    /// The result so far.
    pub fn outcome(&self) -> CapacityResult {
        CapacityResult {
            over: self.search.spec().over,
            slo: self.slo.iter().map(|s| s.expr.clone()).collect(),
            resolution: self.search.spec().resolution,
            min_samples: self.min_samples,
            answer: self.search.answer(),
            first_failure: self.search.first_failure(),
            ending: self.search.ending(),
            require: self.require,
            probes: self.probes.clone(),
        }
    }
}

/// `x` rounded up to 2 significant digits (a level a person would type).
fn round_up(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let f = 10f64.powi(1 - x.log10().floor() as i32);
    (x * f).ceil() / f
}

impl StageSource for CapacitySource {
    fn next(&mut self, index: usize, _: &RunResult) -> Option<Vec<StageSpec>> {
        let (level, _) = self.search.next_probe()?;
        match self.spec_at(index, level) {
            Ok(spec) => Some(vec![spec]),
            Err(e) => {
                eprintln!("capacity search stopped: level {level}: {e}");
                None
            }
        }
    }

    fn before_stage(&mut self, index: usize) -> BoxFuture<'_, Result<(), String>> {
        let gap = self.length.gap;
        Box::pin(async move {
            if index > 0 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            Ok(())
        })
    }

    fn after_stage(&mut self, index: usize, result: &mut RunResult) {
        self.conclude(index, result);
        // This verdict may have ended the search: ask, so the ending is
        // set in the outcome (asking again gives the same answer).
        let _ = self.search.next_probe();
        result.capacity = Some(self.outcome());
    }

    fn finish(&mut self, result: &mut RunResult) {
        result.capacity = Some(self.outcome());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(slo: &str, start: f64) -> CapacitySource {
        let spec = SearchSpec {
            over: Over::Rate,
            start,
            max: 1000.0,
            growth: 2.0,
            resolution: 0.05,
        };
        let length = ProbeLength {
            min: Duration::from_secs(10),
            max: Duration::from_secs(120),
            gap: Duration::ZERO,
        };
        let slo = vec![slo.parse().expect("slo")];
        CapacitySource::new(spec, slo, WorkloadOptions::default(), 1, length, None)
    }

    #[test]
    fn open_loop_probes_last_as_long_as_their_samples_need() {
        // errors<1% needs 381 samples: 476 s at 1 req/s, over the 2 min
        // cap, so the search starts at the lowest rate that fits: 4 req/s.
        let s = source("errors<1%", 1.0);
        assert_eq!(s.min_samples(), 381);
        assert_eq!(s.start(), 4.0);
        // ttfa.p95 needs 73: 91 s at 1 req/s fits; at 20 req/s the 10 s floor holds.
        let s = source("ttfa.p95<300ms", 1.0);
        assert_eq!(s.start(), 1.0);
        let at = |level: f64| s.spec_at(0, level).expect("spec").duration;
        assert_eq!(at(1.0), Some(Duration::from_secs_f64(91.25)));
        assert_eq!(at(20.0), Some(Duration::from_secs(10)));
        assert_eq!(at(0.5), Some(Duration::from_secs(120)));
        assert_eq!(round_up(3.171), 3.2);
    }
}
