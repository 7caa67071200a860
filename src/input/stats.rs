//! Length statistics of a samples set (`voxload texts FILE`, seed 001's
//! `--analyze-prompts`): synthesis time grows with text length, so a samples
//! file should match production lengths before its results mean anything.

use std::fmt;

use serde::Serialize;

use super::TextSamples;

/// Distribution of one length measure over the samples.
///
/// Percentiles use the nearest-rank method: pN is the smallest value with at
/// least N % of the samples at or below it (always an observed length).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LengthStats {
    /// Shortest.
    pub min: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (nearest rank).
    pub p50: usize,
    /// 90th percentile (nearest rank).
    pub p90: usize,
    /// 99th percentile (nearest rank).
    pub p99: usize,
    /// Longest.
    pub max: usize,
}

impl LengthStats {
    /// Statistics of `values` (all zero when empty).
    pub fn of(mut values: Vec<usize>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let n = values.len();
        let rank = |p: usize| values[(p * n).div_ceil(100).clamp(1, n) - 1];
        Self {
            min: values[0],
            mean: values.iter().sum::<usize>() as f64 / n as f64,
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: values[n - 1],
        }
    }
}

/// Length statistics of a [`TextSamples`] set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextStats {
    /// Number of samples.
    pub count: usize,
    /// Characters (Unicode scalar values) over all samples.
    pub total_chars: usize,
    /// Characters per sample.
    pub chars: LengthStats,
    /// Whitespace-separated words per sample.
    pub words: LengthStats,
}

impl TextStats {
    /// Compute the statistics of `samples`.
    pub fn of(samples: &TextSamples) -> Self {
        let chars: Vec<usize> = samples.texts().iter().map(|t| t.chars().count()).collect();
        let words = samples
            .texts()
            .iter()
            .map(|t| t.split_whitespace().count())
            .collect();
        Self {
            count: samples.len(),
            total_chars: chars.iter().sum(),
            chars: LengthStats::of(chars),
            words: LengthStats::of(words),
        }
    }
}

impl fmt::Display for TextStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "samples: {}   total characters: {}",
            self.count, self.total_chars
        )?;
        writeln!(
            f,
            "{:<6} {:>6} {:>8} {:>6} {:>6} {:>6} {:>6}",
            "", "min", "mean", "p50", "p90", "p99", "max"
        )?;
        for (name, s) in [("chars", &self.chars), ("words", &self.words)] {
            writeln!(
                f,
                "{:<6} {:>6} {:>8.1} {:>6} {:>6} {:>6} {:>6}",
                name, s.min, s.mean, s.p50, s.p90, s.p99, s.max
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        // 1..=10: p50 = 5th value, p90 = 9th, p99 = 10th.
        let s = LengthStats::of((1..=10).rev().collect());
        assert_eq!((s.min, s.p50, s.p90, s.p99, s.max), (1, 5, 9, 10, 10));
        assert!((s.mean - 5.5).abs() < 1e-9);
        assert_eq!(LengthStats::of(vec![]), LengthStats::default());
        let one = LengthStats::of(vec![7]);
        assert_eq!((one.min, one.p50, one.p99, one.max), (7, 7, 7, 7));
    }

    #[test]
    fn stats_of_samples_and_table() {
        let samples = TextSamples::from_texts(["one two three".to_string(), "héllo".to_string()])
            .expect("non-empty");
        let stats = TextStats::of(&samples);
        assert_eq!(stats.count, 2);
        assert_eq!(stats.total_chars, 13 + 5);
        assert_eq!((stats.chars.min, stats.chars.max), (5, 13));
        assert_eq!((stats.words.min, stats.words.max), (1, 3));
        let table = stats.to_string();
        assert!(
            table.starts_with("samples: 2   total characters: 18\n"),
            "{table}"
        );
        assert!(table.contains("chars       5      9.0"), "{table}");
        assert!(table.contains("words       1      2.0"), "{table}");
    }
}
