//! 95 % intervals read from HDR histograms and counts: quantiles (order
//! statistics), means (Student t, Welch) and proportions (Wilson score,
//! two-proportion z-test). `compare` uses them to call a change
//! significant, capacity search to pass a level only when a threshold holds
//! with 95 % confidence. Pure functions, pinned by worked examples below.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::metrics::metric::Unit;

/// The two-sided 95 % normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A confidence interval; `None` on a side means unbounded (too few samples
/// to bound it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interval {
    /// Lower bound.
    pub lo: Option<f64>,
    /// Upper bound.
    pub hi: Option<f64>,
}

impl Interval {
    /// A bounded interval.
    pub fn new(lo: f64, hi: f64) -> Self {
        Self {
            lo: Some(lo),
            hi: Some(hi),
        }
    }

    /// The interval of `self − base` when each holds its value: `[lo − base.hi,
    /// hi − base.lo]`. It excludes 0 exactly when the two do not overlap.
    pub fn minus(&self, base: &Interval) -> Interval {
        let sub = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a - b);
        Interval {
            lo: sub(self.lo, base.hi),
            hi: sub(self.hi, base.lo),
        }
    }

    /// Whether 0 lies outside the interval (the difference is significant).
    pub fn excludes_zero(&self) -> bool {
        self.lo.is_some_and(|l| l > 0.0) || self.hi.is_some_and(|h| h < 0.0)
    }
}

/// Distribution-free 95 % interval of the `q` quantile of the samples in
/// `h`: the order statistics at ranks ⌊nq − z√(nq(1−q))⌋ and
/// ⌈nq + z√(nq(1−q))⌉. A rank outside 1..=n leaves that side unbounded.
/// The lower bound takes the low edge of its histogram bucket and the upper
/// the high edge, so HDR quantization only widens the interval.
pub fn quantile_ci(h: &Histogram<u64>, q: f64, unit: Unit) -> Interval {
    let n = h.len() as f64;
    if n == 0.0 {
        return Interval { lo: None, hi: None };
    }
    let half = Z95 * (n * q * (1.0 - q)).sqrt();
    let lo_rank = (n * q - half).floor();
    let hi_rank = (n * q + half).ceil();
    // value_at_quantile(p) returns the sample of rank ⌈p·n⌉; (r − ½)/n hits rank r
    // without float trouble.
    let at = |rank: f64| h.value_at_quantile((rank - 0.5) / n);
    Interval {
        lo: (lo_rank >= 1.0).then(|| unit.display(h.lowest_equivalent(at(lo_rank)) as f64)),
        hi: (hi_rank <= n).then(|| unit.display(h.highest_equivalent(at(hi_rank)) as f64)),
    }
}

/// 97.5 % quantile of Student's t with `df` degrees of freedom. Exact for
/// df < 3 (rounded down, which widens the interval); above, the
/// Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5), within 0.002.
pub fn t975(df: f64) -> f64 {
    let df = df.max(1.0);
    if df < 2.0 {
        return 12.706_204_736;
    }
    if df < 3.0 {
        return 4.302_652_730;
    }
    let z = Z95;
    let (z3, z5, z7, z9) = (z.powi(3), z.powi(5), z.powi(7), z.powi(9));
    let g1 = (z3 + z) / 4.0;
    let g2 = (5.0 * z5 + 16.0 * z3 + 3.0 * z) / 96.0;
    let g3 = (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / 384.0;
    let g4 = (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / 92160.0;
    z + g1 / df + g2 / df.powi(2) + g3 / df.powi(3) + g4 / df.powi(4)
}

/// Welch's 95 % interval of `mean(b) − mean(a)` in display units, from each
/// histogram's mean, sample standard deviation and count; `None` with fewer
/// than 2 samples on a side.
pub fn welch(a: &Histogram<u64>, b: &Histogram<u64>, unit: Unit) -> Option<Interval> {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    if na < 2.0 || nb < 2.0 {
        return None;
    }
    // hdrhistogram's stdev is the population one (÷ n); Welch wants ÷ (n − 1).
    let var = |h: &Histogram<u64>, n: f64| unit.display(h.stdev()).powi(2) * n / (n - 1.0);
    let (va, vb) = (var(a, na) / na, var(b, nb) / nb);
    let diff = unit.display(b.mean()) - unit.display(a.mean());
    let se = (va + vb).sqrt();
    if se == 0.0 {
        // Both constant: any difference is certain.
        return Some(Interval::new(diff, diff));
    }
    let df = (va + vb).powi(2) / (va.powi(2) / (na - 1.0) + vb.powi(2) / (nb - 1.0));
    let t = t975(df.floor());
    Some(Interval::new(diff - t * se, diff + t * se))
}

/// Standard normal CDF (Abramowitz & Stegun 7.1.26 erf, error < 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Two-proportion z-test of `ok2/n2 − ok1/n1`: the unpooled 95 % (Wald)
/// interval of the difference in percentage points and the two-sided
/// p-value of the pooled test. `None` if a side has no requests.
pub fn two_proportion(ok1: u64, n1: u64, ok2: u64, n2: u64) -> Option<(Interval, f64)> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (n1, n2) = (n1 as f64, n2 as f64);
    let (p1, p2) = (ok1 as f64 / n1, ok2 as f64 / n2);
    let diff = p2 - p1;
    let pooled = (ok1 + ok2) as f64 / (n1 + n2);
    let se0 = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let p = if se0 == 0.0 {
        1.0 // all ok or all failed on both sides: identical
    } else {
        2.0 * (1.0 - normal_cdf((diff / se0).abs()))
    };
    let se = (p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2).sqrt();
    let ci = Interval::new((diff - Z95 * se) * 100.0, (diff + Z95 * se) * 100.0);
    Some((ci, p))
}

/// The fewest samples whose 95 % interval of the `q` quantile is bounded
/// on the side a threshold needs: above (`upper`, for `p95 < limit`) or
/// below (for `p50 > limit`). With fewer, [`quantile_ci`] leaves that side
/// open and no threshold can be shown to hold: p95 needs 73 samples above,
/// p99 needs 381, p50 needs 4.
pub fn min_samples(q: f64, upper: bool) -> u64 {
    (1..=10_000_000u64)
        .find(|&n| {
            let nf = n as f64;
            let half = Z95 * (nf * q * (1.0 - q)).sqrt();
            if upper {
                (nf * q + half).ceil() <= nf
            } else {
                (nf * q - half).floor() >= 1.0
            }
        })
        .unwrap_or(u64::MAX)
}

/// Student-t 95 % interval of the mean of the samples in `h`, in display
/// units; `None` with fewer than 2 samples.
pub fn mean_ci(h: &Histogram<u64>, unit: Unit) -> Option<Interval> {
    let n = h.len() as f64;
    if n < 2.0 {
        return None;
    }
    // hdrhistogram's stdev divides by n; the sample one by n − 1.
    let sd = unit.display(h.stdev()) * (n / (n - 1.0)).sqrt();
    let half = t975(n - 1.0) * sd / n.sqrt();
    let mean = unit.display(h.mean());
    Some(Interval::new(mean - half, mean + half))
}

/// Wilson score 95 % interval of the share `k / n`, in percent; `None`
/// without trials. Unlike the Wald interval it stays inside 0..=100 and is
/// not empty at 0 failures: 0 of 300 still allows up to 1.26 %.
pub fn wilson(k: u64, n: u64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At k = 0 the lower bound is exactly 0 (rounding would leave 1e-17).
    let lo = if k == 0.0 {
        0.0
    } else {
        (centre - half) * 100.0
    };
    Some(Interval::new(
        lo.max(0.0),
        ((centre + half) * 100.0).min(100.0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::new(3).expect("sigfig");
        for v in values {
            h.record(v).expect("record");
        }
        h
    }

    #[test]
    fn sample_minimums_are_the_first_counts_with_a_bounded_side() {
        // p95: nq + 1.96·√(nq(1−q)) ≤ n first holds at n = 73 (69.35 + 3.62 = 72.97).
        assert_eq!(min_samples(0.95, true), 73);
        assert_eq!(min_samples(0.99, true), 381);
        assert_eq!(min_samples(0.50, true), 4);
        assert_eq!(min_samples(0.95, false), 2);
        // The rule is quantile_ci's own: one sample fewer leaves the side open.
        for (q, upper) in [(0.95, true), (0.99, true), (0.5, true), (0.5, false)] {
            let n = min_samples(q, upper);
            let side = |n: u64| {
                let ci = quantile_ci(&hist(1..=n), q, Unit::Count);
                if upper {
                    ci.hi
                } else {
                    ci.lo
                }
            };
            assert!(
                side(n).is_some() && side(n - 1).is_none(),
                "q {q} upper {upper} n {n}"
            );
        }
    }

    #[test]
    fn wilson_intervals_match_worked_values() {
        // 0 of 300: [0, 1.264 %] (= z²/(n + z²)); 10 of 100: [5.52 %, 17.44 %].
        let ci = wilson(0, 300).expect("trials");
        assert_eq!(ci.lo, Some(0.0));
        assert!((ci.hi.expect("hi") - 1.2643).abs() < 0.001, "{ci:?}");
        let ci = wilson(10, 100).expect("trials");
        assert!((ci.lo.expect("lo") - 5.52).abs() < 0.01, "{ci:?}");
        assert!((ci.hi.expect("hi") - 17.44).abs() < 0.01, "{ci:?}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn mean_interval_is_t_times_the_standard_error() {
        // 1..=10: mean 5.5, sample sd 3.0277, t(9) = 2.262 → ±2.166.
        let ci = mean_ci(&hist(1..=10), Unit::Count).expect("samples");
        assert!((ci.lo.expect("lo") - 3.334).abs() < 0.01, "{ci:?}");
        assert!((ci.hi.expect("hi") - 7.666).abs() < 0.01, "{ci:?}");
        assert_eq!(mean_ci(&hist([5]), Unit::Count), None);
    }

    #[test]
    fn normal_and_t_quantiles_match_tables() {
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-6);
        // Student t, 97.5 %: df → table value.
        for (df, t) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (3.0, 3.182),
            (5.0, 2.571),
            (10.0, 2.228),
            (30.0, 2.042),
            (1000.0, 1.962),
        ] {
            assert!((t975(df) - t).abs() < 0.01, "df {df}: {} vs {t}", t975(df));
        }
    }

    #[test]
    fn median_interval_of_1_to_1000_is_ranks_469_to_531() {
        // n = 1000, q = 0.5: nq = 500, 1.96 × √250 = 30.99 → ranks 469 and 531.
        let h = hist(1..=1000);
        let ci = quantile_ci(&h, 0.5, Unit::Count);
        assert_eq!(ci, Interval::new(469.0, 531.0));
        // p99 of 100 samples: 99 ± 1.95 → rank 97 and rank 101 > n (unbounded).
        let h = hist(1..=100);
        let ci = quantile_ci(&h, 0.99, Unit::Count);
        assert_eq!((ci.lo, ci.hi), (Some(97.0), None));
        let h = hist((1..=1000).map(|v| v * 1000));
        // Microseconds are shown in ms; the lower bound takes its bucket's low
        // edge (468.992 ms), so quantization only widens the interval.
        let lo = quantile_ci(&h, 0.5, Unit::Micros).lo.expect("lo");
        assert!((468.5..=469.0).contains(&lo), "{lo}");
    }

    #[test]
    fn difference_interval_excludes_zero_only_without_overlap() {
        let base = Interval::new(10.0, 12.0);
        assert!(Interval::new(12.5, 14.0).minus(&base).excludes_zero());
        assert!(!Interval::new(11.5, 14.0).minus(&base).excludes_zero());
        assert!(Interval::new(5.0, 9.0).minus(&base).excludes_zero());
        let open = Interval {
            lo: Some(13.0),
            hi: None,
        };
        let d = open.minus(&base);
        assert_eq!(d.lo, Some(1.0));
        assert!(d.excludes_zero());
    }

    #[test]
    fn welch_matches_a_worked_example() {
        // a = 1..=10 (mean 5.5, s² = 9.1667), b = 3..=12 (mean 7.5): diff 2,
        // se = √(2 × 0.91667) = 1.354, df = 18 → t = 2.101 → 2 ± 2.845.
        let ci = welch(&hist(1..=10), &hist(3..=12), Unit::Count).expect("ci");
        let (lo, hi) = (ci.lo.expect("lo"), ci.hi.expect("hi"));
        assert!((lo - (2.0 - 2.845)).abs() < 0.01, "{lo}");
        assert!((hi - (2.0 + 2.845)).abs() < 0.01, "{hi}");
        assert!(welch(&hist([1]), &hist(1..=10), Unit::Count).is_none());
        let same = welch(&hist([5, 5]), &hist([5, 5, 5]), Unit::Count).expect("ci");
        assert!(!same.excludes_zero());
    }

    #[test]
    fn two_proportion_matches_a_worked_example() {
        // 90/100 vs 80/100: pooled 0.85, se = √(0.85·0.15·0.02) = 0.0505,
        // z = −1.98, p = 0.0477.
        let (ci, p) = two_proportion(90, 100, 80, 100).expect("test");
        assert!((p - 0.0477).abs() < 0.001, "{p}");
        assert!(ci.hi.expect("hi") < 0.0);
        let (_, p) = two_proportion(100, 100, 50, 50).expect("test");
        assert_eq!(p, 1.0);
        assert!(two_proportion(0, 0, 1, 1).is_none());
    }
}
