//! Arrival schedules for open-loop stages.
//!
//! A schedule is pure: no clock and no I/O, only offsets from the stage
//! start (vegeta's Pacer). The driver turns offsets into absolute deadlines
//! (`stage_start + offset`), so timer lateness never accumulates the way
//! relative sleeps do.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Gamma as GammaDist};

/// When arrivals happen.
pub trait Schedule: Send {
    /// Intended start of the next arrival, as an offset from the stage
    /// start; `None` ends the stage. Offsets never decrease.
    fn next_offset(&mut self) -> Option<Duration>;
}

impl Schedule for Box<dyn Schedule> {
    fn next_offset(&mut self) -> Option<Duration> {
        (**self).next_offset()
    }
}

/// Evenly spaced arrivals: arrival *i* at `i / rate`.
///
/// Computed from the index, not by adding intervals, so float rounding
/// cannot drift over millions of arrivals.
#[derive(Debug, Clone)]
pub struct Constant {
    rate: f64,
    next: u64,
    phase: f64,
}

impl Constant {
    /// `rate` arrivals per second (must be > 0 and finite; checked by the plan).
    pub fn new(rate: f64) -> Self {
        Self {
            rate,
            next: 0,
            phase: 0.0,
        }
    }

    /// The same arrivals `phase` of a gap later: `(i + phase) / rate`.
    pub fn with_phase(self, phase: f64) -> Self {
        Self { phase, ..self }
    }
}

impl Schedule for Constant {
    fn next_offset(&mut self) -> Option<Duration> {
        let at = Duration::try_from_secs_f64((self.next as f64 + self.phase) / self.rate).ok()?;
        self.next += 1;
        Some(at)
    }
}

/// Gamma-distributed inter-arrival times with shape `b` (burstiness) and
/// mean `1 / rate`, as in vLLM's benchmark_serving.
///
/// The first arrival is at offset 0. `b = 1` is a Poisson process, `b < 1`
/// is burstier (coefficient of variation `1/√b` > 1), `b > 1` more regular.
/// Offsets are accumulated in `f64` seconds from the stage start, which stays
/// exact to well under a microsecond over days of arrivals.
#[derive(Debug, Clone)]
pub struct Gamma {
    /// `None` when rate or shape was invalid: the schedule then ends at once.
    dist: Option<GammaDist<f64>>,
    rng: SmallRng,
    at_s: f64,
    started: bool,
    /// Every offset is multiplied by this (1 for the raw process).
    scale: f64,
}

/// Above this many arrivals a stage's gaps are not rescaled: the pre-pass
/// would cost seconds, and over so many draws the realized rate is within
/// a fraction of a percent of the nominal one anyway.
pub const MAX_RESCALED: u64 = 10_000_000;

impl Gamma {
    /// Arrivals at `rate` per second with shape `burstiness`, reproducible
    /// from `seed`. Both must be finite and > 0 (the plan checks this); an
    /// invalid value yields a schedule that ends at once.
    pub fn new(rate: f64, burstiness: f64, seed: u64) -> Self {
        // Gamma(shape k, scale θ) has mean kθ; we want mean 1/rate.
        let scale = 1.0 / (rate * burstiness);
        Self {
            dist: GammaDist::new(burstiness, scale).ok(),
            rng: SmallRng::seed_from_u64(seed),
            at_s: 0.0,
            started: false,
            scale: 1.0,
        }
    }
}

impl Gamma {
    /// The same draws, stretched so that arrival `n − 1` (the last of `n`)
    /// lands at `(n − 1) / rate`, where constant spacing puts it: the
    /// stage's realized rate is the nominal one, so levels of a sweep are
    /// comparable, while the gaps keep their shape (vLLM's benchmark
    /// rescales the same way). The draws are made twice from the seed — a
    /// pre-pass to sum them — so nothing is stored.
    pub fn rescaled(mut self, rate: f64, n: u64) -> Self {
        if !(2..=MAX_RESCALED).contains(&n) {
            return self;
        }
        let Some(dist) = self.dist.as_ref() else {
            return self;
        };
        let mut rng = self.rng.clone();
        let drawn: f64 = (1..n).map(|_| dist.sample(&mut rng)).sum();
        let wanted = (n - 1) as f64 / rate;
        if drawn.is_finite() && drawn > 0.0 {
            self.scale = wanted / drawn;
        }
        self
    }
}

/// How many arrivals constant spacing at `rate` makes in a stage of at
/// most `requests` arrivals and `duration` (arrival *i* at `i / rate`, none
/// at or after the end); `None` when neither bounds it.
pub fn nominal_arrivals(
    rate: f64,
    requests: Option<u64>,
    duration: Option<Duration>,
) -> Option<u64> {
    let in_time = duration.map(|d| (d.as_secs_f64() * rate).ceil().min(u64::MAX as f64) as u64);
    match (requests, in_time) {
        (Some(n), Some(t)) => Some(n.min(t)),
        (n, t) => n.or(t),
    }
}

impl Schedule for Gamma {
    fn next_offset(&mut self) -> Option<Duration> {
        let dist = self.dist.as_ref()?;
        if self.started {
            let gap = dist.sample(&mut self.rng);
            if !gap.is_finite() {
                return None;
            }
            self.at_s += gap;
        }
        self.started = true;
        Duration::try_from_secs_f64(self.at_s * self.scale).ok()
    }
}

/// Limits a schedule to a count of arrivals and/or a window of time.
#[derive(Debug, Clone)]
pub struct Bounded<S> {
    inner: S,
    remaining: Option<u64>,
    until: Option<Duration>,
}

impl<S: Schedule> Bounded<S> {
    /// At most `count` arrivals, none at or after `until`.
    pub fn new(inner: S, count: Option<u64>, until: Option<Duration>) -> Self {
        Self {
            inner,
            remaining: count,
            until,
        }
    }
}

impl<S: Schedule> Schedule for Bounded<S> {
    fn next_offset(&mut self) -> Option<Duration> {
        if self.remaining == Some(0) {
            return None;
        }
        let at = self.inner.next_offset()?;
        if self.until.is_some_and(|u| at >= u) {
            self.remaining = Some(0);
            return None;
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= 1;
        }
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(s: &mut impl Schedule, n: usize) -> Vec<f64> {
        let offsets: Vec<f64> = (0..=n)
            .map(|_| s.next_offset().expect("unbounded").as_secs_f64())
            .collect();
        offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }

    fn mean_cv(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn constant_offsets_are_index_over_rate() {
        // rate 4/s: 0, 0.25, 0.5, 0.75, 1.0
        let mut c = Constant::new(4.0);
        let got: Vec<_> = (0..5)
            .map(|_| c.next_offset().expect("unbounded"))
            .collect();
        let want: Vec<_> = [0, 250, 500, 750, 1000].map(Duration::from_millis).to_vec();
        assert_eq!(got, want);
        // No drift after a million arrivals: arrival 1e6 is at exactly 250 000 s.
        let mut c = Constant::new(4.0);
        let last = (0..=1_000_000).map(|_| c.next_offset()).last().flatten();
        assert_eq!(last, Some(Duration::from_secs(250_000)));
    }

    #[test]
    fn gamma_has_requested_mean_and_cv() {
        // Table: (rate, shape) → mean 1/rate, CV 1/sqrt(shape). 200k seeded samples
        // put the sample mean within 1 % and the CV within 3 %.
        for (rate, shape) in [(200.0, 1.0), (10.0, 0.5), (50.0, 4.0), (1.0, 100.0)] {
            let mut g = Gamma::new(rate, shape, 42);
            let (mean, cv) = mean_cv(&gaps(&mut g, 200_000));
            let want_cv = 1.0 / f64::sqrt(shape);
            assert!(
                (mean * rate - 1.0).abs() < 0.01,
                "rate {rate} shape {shape}: mean {mean}"
            );
            assert!(
                (cv / want_cv - 1.0).abs() < 0.03,
                "shape {shape}: cv {cv} want {want_cv}"
            );
        }
    }

    #[test]
    fn gamma_is_reproducible_and_starts_at_zero() {
        let a: Vec<_> = {
            let mut g = Gamma::new(5.0, 0.7, 7);
            (0..100).map(|_| g.next_offset()).collect()
        };
        let mut g = Gamma::new(5.0, 0.7, 7);
        let b: Vec<_> = (0..100).map(|_| g.next_offset()).collect();
        assert_eq!(a, b);
        assert_eq!(a[0], Some(Duration::ZERO));
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn rescaled_gamma_realizes_the_nominal_rate_and_keeps_the_draws_order() {
        // The demo's case: a 10 s Poisson stage at 2/s realized 1.52/s raw.
        for seed in 0..20 {
            let n = nominal_arrivals(2.0, None, Some(Duration::from_secs(10))).expect("bounded");
            assert_eq!(n, 20);
            let mut g = Bounded::new(
                Gamma::new(2.0, 1.0, seed).rescaled(2.0, n),
                Some(n),
                Some(Duration::from_secs(10)),
            );
            let offsets: Vec<f64> = std::iter::from_fn(|| g.next_offset())
                .map(|d| d.as_secs_f64())
                .collect();
            assert_eq!(
                offsets.len(),
                20,
                "seed {seed}: every arrival fits the stage"
            );
            // offered_rps = (arrivals − 1) ÷ (last − first) = 2/s exactly.
            let realized = 19.0 / (offsets[19] - offsets[0]);
            assert!((realized - 2.0).abs() < 1e-9, "seed {seed}: {realized}");
            // Same draws, stretched: the ratio of any two gaps is kept.
            let mut raw = Gamma::new(2.0, 1.0, seed);
            let raw: Vec<f64> = (0..20)
                .filter_map(|_| raw.next_offset())
                .map(|d| d.as_secs_f64())
                .collect();
            let k = offsets[19] / raw[19];
            for (a, b) in offsets.iter().zip(&raw) {
                assert!((a - b * k).abs() < 1e-6, "seed {seed}");
            }
        }
        assert_eq!(
            nominal_arrivals(4.0, Some(100), Some(Duration::from_secs(1))),
            Some(4)
        );
        assert_eq!(nominal_arrivals(4.0, Some(3), None), Some(3));
        assert_eq!(
            nominal_arrivals(3.0, None, Some(Duration::from_millis(1001))),
            Some(4)
        );
    }

    #[test]
    fn bounded_stops_at_count_or_time() {
        let mut by_count = Bounded::new(Constant::new(10.0), Some(3), None);
        assert_eq!((0..5).filter_map(|_| by_count.next_offset()).count(), 3);
        // 10/s for 1 s: offsets 0.0 ..= 0.9 → 10 arrivals, none at 1.0.
        let mut by_time = Bounded::new(Constant::new(10.0), None, Some(Duration::from_secs(1)));
        assert_eq!((0..50).filter_map(|_| by_time.next_offset()).count(), 10);
    }
}
