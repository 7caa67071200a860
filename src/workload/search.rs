//! Capacity search: which load level to probe next, from the verdicts of
//! the levels probed so far.
//!
//! Grow geometrically from `start` until a level fails (or `max` passes),
//! then bisect between the highest passing and the lowest failing level
//! until they are within `resolution` of each other, then probe the answer
//! once more to confirm it. A failed confirmation makes the answer a failing
//! level and the search goes on below it (at most [`MAX_CONFIRMS`] times). When
//! `start` itself fails, the search steps down by the growth factor, at
//! most [`MAX_STEPS_DOWN`] times. Levels over users are whole numbers and
//! the search ends when the two bounds are adjacent.
//!
//! Pure: it never runs anything, so every path is tested with a made-up
//! server below. Whether a level passes (every SLO with 95 % confidence)
//! is the runner's to decide.

use serde::{Deserialize, Serialize};

/// What the search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Over {
    /// Open-loop arrivals per second.
    Rate,
    /// Closed-loop users (sessions, for voice agents).
    Concurrency,
}

impl Over {
    /// What is searched over, in words: `open-loop rate`, `users`.
    pub fn noun(&self) -> &'static str {
        match self {
            Over::Rate => "open-loop rate",
            Over::Concurrency => "users",
        }
    }

    /// How a level reads: `6.2 req/s`, `40 users`.
    pub fn show(&self, level: f64) -> String {
        match self {
            Over::Rate => format!("{} req/s", round_level(level)),
            Over::Concurrency => format!("{level:.0} users"),
        }
    }
}

/// A rate to 3 significant digits, as levels are shown and labelled.
pub fn round_level(level: f64) -> f64 {
    if level <= 0.0 || !level.is_finite() {
        return level;
    }
    let digits = 3 - (level.log10().floor() as i32 + 1);
    let f = 10f64.powi(digits);
    (level * f).round() / f
}

/// The search's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSpec {
    /// What is varied.
    pub over: Over,
    /// The first level.
    pub start: f64,
    /// The highest level probed: passing it ends the search ("at least").
    pub max: f64,
    /// Growth factor between levels before the first failure (> 1).
    pub growth: f64,
    /// Bisection stops when `hi / lo − 1` is at most this.
    pub resolution: f64,
}

/// Why a level was probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Growing towards the first failure.
    Grow,
    /// Stepping down from a failing start.
    Down,
    /// Bisecting between a pass and a failure.
    Bisect,
    /// The answer, probed again.
    Confirm,
}

/// One probed level and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeVerdict {
    /// The level.
    pub level: f64,
    /// Why it was probed.
    pub phase: Phase,
    /// Whether every SLO held with confidence.
    pub passed: bool,
}

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Bounds within the resolution and the answer confirmed.
    Found,
    /// The answer's confirmation failed too often: the figure is shaky.
    Unconfirmed,
    /// `max` passed: capacity is at least the answer.
    AtMax,
    /// Every level down to the lowest tried failed: no answer.
    BelowLowest,
}

/// Confirmations that may fail before the search gives up.
pub const MAX_CONFIRMS: usize = 2;
/// Steps below a failing start before the search gives up.
pub const MAX_STEPS_DOWN: usize = 6;

/// The search's state.
#[derive(Debug, Clone)]
pub struct Search {
    spec: SearchSpec,
    probes: Vec<ProbeVerdict>,
    /// Highest level that passed below `hi` (and was not contradicted).
    lo: Option<f64>,
    /// Lowest level that failed.
    hi: Option<f64>,
    pending: Option<(f64, Phase)>,
    ending: Option<Ending>,
    failed_confirms: usize,
}

impl Search {
    /// A search that has probed nothing yet.
    pub fn new(spec: SearchSpec) -> Self {
        Self {
            spec,
            probes: Vec::new(),
            lo: None,
            hi: None,
            pending: None,
            ending: None,
            failed_confirms: 0,
        }
    }

    /// The settings.
    pub fn spec(&self) -> &SearchSpec {
        &self.spec
    }

    fn whole(&self) -> bool {
        self.spec.over == Over::Concurrency
    }

    fn level(&self, x: f64) -> f64 {
        if self.whole() {
            x.round().max(1.0)
        } else {
            round_level(x)
        }
    }

    /// Whether `lo` and `hi` are as close as the search goes.
    fn close(&self, lo: f64, hi: f64) -> bool {
        if self.whole() {
            hi - lo <= 1.0 || hi / lo - 1.0 <= self.spec.resolution
        } else {
            hi / lo - 1.0 <= self.spec.resolution
        }
    }

    /// The level to probe next and why, or `None` when the search is over.
    /// Asking again before [`Search::record`] gives the same level.
    pub fn next_probe(&mut self) -> Option<(f64, Phase)> {
        if self.ending.is_some() {
            return None;
        }
        if let Some(p) = self.pending {
            return Some(p);
        }
        let next = match (self.lo, self.hi) {
            (None, None) => (self.level(self.spec.start.min(self.spec.max)), Phase::Grow),
            (Some(lo), None) if lo >= self.spec.max => {
                self.ending = Some(Ending::AtMax);
                return None;
            }
            (Some(lo), None) => {
                let up = self.level((lo * self.spec.growth).min(self.spec.max));
                (if up > lo { up } else { lo + 1.0 }, Phase::Grow)
            }
            (None, Some(hi)) => {
                let steps = self
                    .probes
                    .iter()
                    .filter(|p| p.phase == Phase::Down)
                    .count();
                let down = self.level(hi / self.spec.growth);
                if steps >= MAX_STEPS_DOWN || down >= hi {
                    self.ending = Some(Ending::BelowLowest);
                    return None;
                }
                (down, Phase::Down)
            }
            (Some(lo), Some(hi)) if self.close(lo, hi) => {
                let confirmed = self
                    .probes
                    .last()
                    .is_some_and(|p| p.phase == Phase::Confirm && p.passed && p.level == lo);
                if confirmed {
                    self.ending = Some(Ending::Found);
                    return None;
                }
                (lo, Phase::Confirm)
            }
            (Some(lo), Some(hi)) => {
                let mid = self.level((lo + hi) / 2.0);
                if mid <= lo || mid >= hi {
                    (lo, Phase::Confirm)
                } else {
                    (mid, Phase::Bisect)
                }
            }
        };
        self.pending = Some(next);
        Some(next)
    }

    /// The verdict of the level [`Search::next_probe`] gave.
    pub fn record(&mut self, passed: bool) {
        let Some((level, phase)) = self.pending.take() else {
            return;
        };
        self.probes.push(ProbeVerdict {
            level,
            phase,
            passed,
        });
        if passed {
            self.lo = Some(self.lo.map_or(level, |lo| lo.max(level)));
            return;
        }
        self.hi = Some(self.hi.map_or(level, |hi| hi.min(level)));
        if phase == Phase::Confirm {
            self.failed_confirms += 1;
            // The answer is now a failing level: the next lower pass is it.
            self.lo = self
                .probes
                .iter()
                .filter(|p| p.passed && p.level < level)
                .map(|p| p.level)
                .fold(None, |m: Option<f64>, l| Some(m.map_or(l, |m| m.max(l))));
            if self.failed_confirms >= MAX_CONFIRMS {
                self.ending = Some(Ending::Unconfirmed);
            }
        }
    }

    /// Every level probed so far, in order.
    pub fn probes(&self) -> &[ProbeVerdict] {
        &self.probes
    }

    /// The highest level that passed (the capacity, once the search is over).
    pub fn answer(&self) -> Option<f64> {
        self.lo
    }

    /// The lowest level that failed.
    pub fn first_failure(&self) -> Option<f64> {
        self.hi
    }

    /// How it ended, once it has.
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(over: Over, start: f64) -> SearchSpec {
        SearchSpec {
            over,
            start,
            max: 1000.0,
            growth: 2.0,
            resolution: 0.05,
        }
    }

    /// Run a search against a server whose true capacity is `knee`.
    fn against(mut s: Search, passes: impl Fn(f64, Phase, usize) -> bool) -> Search {
        let mut n = 0;
        while let Some((level, phase)) = s.next_probe() {
            s.record(passes(level, phase, n));
            n += 1;
            assert!(n < 100, "the search must end: {:?}", s.probes());
        }
        s
    }

    #[test]
    fn grows_then_bisects_to_the_resolution_then_confirms() {
        let s = against(Search::new(spec(Over::Rate, 1.0)), |l, _, _| l <= 6.2);
        let levels: Vec<f64> = s.probes().iter().map(|p| p.level).collect();
        assert_eq!(&levels[..4], &[1.0, 2.0, 4.0, 8.0], "{levels:?}");
        assert_eq!(s.ending(), Some(Ending::Found));
        let (lo, hi) = (
            s.answer().expect("answer"),
            s.first_failure().expect("fail"),
        );
        assert!(lo <= 6.2 && hi > 6.2 && hi / lo - 1.0 <= 0.05, "{lo} {hi}");
        let last = s.probes().last().expect("probes");
        assert_eq!(
            (last.phase, last.level, last.passed),
            (Phase::Confirm, lo, true)
        );
        // Geometric growth then halving: 4 + ⌈log2(4 / (0.05 · 4))⌉ + 1 probes.
        assert!(levels.len() <= 10, "{levels:?}");
    }

    #[test]
    fn users_are_whole_and_the_search_stops_at_adjacent_counts() {
        let s = against(Search::new(spec(Over::Concurrency, 1.0)), |l, _, _| {
            l <= 13.0
        });
        assert!(s.probes().iter().all(|p| p.level.fract() == 0.0));
        assert_eq!(s.answer(), Some(13.0));
        assert_eq!(s.first_failure(), Some(14.0));
        assert_eq!(s.ending(), Some(Ending::Found));
    }

    #[test]
    fn a_failing_start_steps_down_and_a_passing_max_is_a_lower_bound() {
        let s = against(Search::new(spec(Over::Rate, 10.0)), |l, _, _| l <= 1.5);
        assert_eq!(s.probes()[1].phase, Phase::Down);
        let lo = s.answer().expect("answer");
        assert!((1.5 / 1.05 - 1e-9..=1.5).contains(&lo), "{lo}");
        let s = against(Search::new(spec(Over::Rate, 10.0)), |_, _, _| false);
        assert_eq!(s.ending(), Some(Ending::BelowLowest));
        assert_eq!(s.answer(), None);
        assert_eq!(s.probes().len(), 1 + MAX_STEPS_DOWN);
        let s = against(Search::new(spec(Over::Rate, 10.0)), |_, _, _| true);
        assert_eq!(s.ending(), Some(Ending::AtMax));
        assert_eq!(s.answer(), Some(1000.0));
    }

    #[test]
    fn a_failed_confirmation_moves_the_answer_below_it() {
        // The first confirmation fails (noise), and so does its level from
        // then on; the next, lower, answer holds.
        let shaky = std::cell::Cell::new(None);
        let s = against(Search::new(spec(Over::Rate, 1.0)), |l, phase, _| {
            if phase == Phase::Confirm && shaky.get().is_none() {
                shaky.set(Some(l));
            }
            l <= 6.2 && shaky.get().is_none_or(|bad| l < bad)
        });
        assert_eq!(s.ending(), Some(Ending::Found), "{:?}", s.probes());
        let failed: Vec<_> = s
            .probes()
            .iter()
            .filter(|p| p.phase == Phase::Confirm && !p.passed)
            .collect();
        assert_eq!(failed.len(), 1, "{:?}", s.probes());
        assert!(s.answer().expect("answer") < failed[0].level);
        // Confirmations that always fail end the search as unconfirmed.
        let s = against(Search::new(spec(Over::Rate, 1.0)), |l, phase, _| {
            l <= 6.2 && phase != Phase::Confirm
        });
        assert_eq!(s.ending(), Some(Ending::Unconfirmed), "{:?}", s.probes());
    }

    #[test]
    fn rates_are_shown_to_three_digits() {
        assert_eq!(round_level(6.234_5), 6.23);
        assert_eq!(round_level(1234.5), 1230.0);
        assert_eq!(Over::Rate.show(6.2), "6.2 req/s");
        assert_eq!(Over::Concurrency.show(40.0), "40 users");
    }
}
