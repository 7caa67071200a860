//! Seeded per-request draws: which fault (if any) and how much jitter.
//!
//! Each request makes exactly two draws in a fixed order, so for a given seed
//! and arrival order the same requests get the same faults and delays.

use std::time::Duration;

use rand::Rng;

use super::model::Faults;
use super::truth::FaultKind;

/// The draw order of the exclusive fault shares.
const ORDER: [FaultKind; 7] = [
    FaultKind::Error5xx,
    FaultKind::Error429,
    FaultKind::Reset,
    FaultKind::Stall,
    FaultKind::Truncate,
    FaultKind::OversizedHead,
    FaultKind::BadChunk,
];

/// One uniform draw against the cumulative shares: fault *k* is chosen when
/// the draw falls in its slice, so each share is hit at exactly its rate.
pub(crate) fn draw_fault<R: Rng>(rng: &mut R, faults: &Faults) -> Option<FaultKind> {
    let u: f64 = rng.random();
    let mut upper = 0.0;
    for (kind, (_, share)) in ORDER.into_iter().zip(faults.shares()) {
        upper += share;
        if u < upper {
            return Some(kind);
        }
    }
    None
}

/// `overhead` plus uniform jitter in `[-jitter, +jitter]`, never below zero.
pub(crate) fn draw_overhead<R: Rng>(rng: &mut R, overhead: Duration, jitter: Duration) -> Duration {
    let u: f64 = rng.random_range(-1.0..=1.0);
    let ns = overhead.as_nanos() as f64 + u * jitter.as_nanos() as f64;
    Duration::from_nanos(ns.max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn fault_shares_are_hit_at_their_rates() {
        let faults = Faults {
            error_5xx: 0.1,
            reset: 0.2,
            truncate: 0.3,
            ..Faults::default()
        };
        let mut rng = StdRng::seed_from_u64(7);
        let n = 100_000;
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..n {
            *counts.entry(draw_fault(&mut rng, &faults)).or_insert(0u32) += 1;
        }
        let share = |k| f64::from(counts.get(&k).copied().unwrap_or(0)) / f64::from(n);
        assert!((share(Some(FaultKind::Error5xx)) - 0.1).abs() < 0.01);
        assert!((share(Some(FaultKind::Reset)) - 0.2).abs() < 0.01);
        assert!((share(Some(FaultKind::Truncate)) - 0.3).abs() < 0.01);
        assert!((share(None) - 0.4).abs() < 0.01);
        assert_eq!(share(Some(FaultKind::Stall)), 0.0);
    }

    #[test]
    fn jitter_stays_in_range_and_same_seed_repeats() {
        let mut a = StdRng::seed_from_u64(1);
        let mut b = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            let d = draw_overhead(&mut a, Duration::from_millis(50), Duration::from_millis(80));
            assert!(d <= Duration::from_millis(130));
            assert_eq!(
                d,
                draw_overhead(&mut b, Duration::from_millis(50), Duration::from_millis(80))
            );
        }
        let mut r = StdRng::seed_from_u64(2);
        assert_eq!(
            draw_overhead(&mut r, Duration::from_millis(50), Duration::ZERO),
            Duration::from_millis(50)
        );
    }
}
