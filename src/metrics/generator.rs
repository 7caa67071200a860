//! Whether the generator itself was the bottleneck of a stage.
//!
//! A client that falls behind makes a server look slower (late sends are
//! billed as schedule lag or latency) or kinder (late frames slow the
//! caller down). On a 2-core machine, 2,000 real-time calls pushed frame
//! lateness p99 to 166 ms and timed out 1,006 turns while the summary
//! blamed nobody. So every stage is checked against a few limits, and a
//! stage that passes one says so, naming the figure.

use serde::{Deserialize, Serialize};

use super::StageSummary;

/// Schedule lag p99 past which open-loop sends were late (the timerfd
/// driver keeps it under 100 µs on an idle core).
pub const MAX_SCHEDULE_LAG_P99_MS: f64 = 1.0;
/// Frame lateness (a stream's p99, at the stage's p99) past which audio
/// was not sent in real time.
pub const MAX_FRAME_LAG_P99_MS: f64 = 2.0;
/// Share of the cores the process may use past which it was saturated.
pub const MAX_CPU_SHARE: f64 = 0.9;

/// The generator's own CPU use over a stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeneratorCpu {
    /// CPU seconds of the whole voxload process (all threads, user + system).
    pub cpu_s: f64,
    /// Cores it may use (available parallelism: CPU affinity and cgroup quota).
    pub cores: usize,
    /// `cpu_s ÷ (wall_s × cores)`.
    pub share: f64,
}

impl GeneratorCpu {
    /// `cpu_s` used over `wall_s` on `cores`.
    pub fn new(cpu_s: f64, wall_s: f64, cores: usize) -> Self {
        let capacity = wall_s * cores.max(1) as f64;
        let share = if capacity > 0.0 {
            cpu_s / capacity
        } else {
            0.0
        };
        Self {
            cpu_s,
            cores,
            share,
        }
    }
}

/// Each way the generator limited a stage, one line naming the figure,
/// its value and the limit (empty when it kept up).
pub fn warnings(s: &StageSummary) -> Vec<String> {
    let mut out = Vec::new();
    let p99 = |name: &str| s.metrics.get(name).map(|p| p.p99);
    if let Some(lag) = p99("schedule_lag").filter(|&l| l > MAX_SCHEDULE_LAG_P99_MS) {
        out.push(format!(
            "generator behind its schedule: schedule_lag p99 {lag:.2} ms > {MAX_SCHEDULE_LAG_P99_MS} ms (sends were late; latency from the schedule includes it)"
        ));
    }
    if let Some(lag) = p99("frame_lag_p99").filter(|&l| l > MAX_FRAME_LAG_P99_MS) {
        out.push(format!(
            "generator not real time: frame_lag_p99 p99 {lag:.2} ms > {MAX_FRAME_LAG_P99_MS} ms (audio frames left late)"
        ));
    }
    if let Some(cpu) = s.generator_cpu.filter(|c| c.share > MAX_CPU_SHARE) {
        out.push(format!(
            "generator CPU at {:.0} % of its {} cores (> {:.0} %): it may have throttled the load",
            cpu.share * 100.0,
            cpu.cores,
            MAX_CPU_SHARE * 100.0
        ));
    }
    if s.dropped > 0 {
        out.push(format!(
            "{} arrivals dropped at the in-flight cap (--max-in-flight): the offered load was not sent",
            s.dropped
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::stats::Percentiles;
    use crate::metrics::Unit;

    fn pct(p99: f64) -> Percentiles {
        Percentiles {
            unit: Unit::Micros,
            count: 100,
            min: 0.0,
            mean: p99 / 2.0,
            p50: p99 / 2.0,
            p90: p99,
            p95: p99,
            p99,
            max: p99,
        }
    }

    #[test]
    fn each_limit_passed_is_one_warning_naming_its_figure() {
        let mut s = crate::metrics::StageStats::new(&[]).summary(std::time::Duration::from_secs(1));
        assert!(warnings(&s).is_empty(), "an idle stage kept up");
        s.metrics.insert("schedule_lag".into(), pct(0.9));
        s.metrics.insert("frame_lag_p99".into(), pct(1.5));
        s.generator_cpu = Some(GeneratorCpu::new(1.7, 1.0, 2));
        assert!(
            warnings(&s).is_empty(),
            "under every limit: {:?}",
            warnings(&s)
        );
        s.metrics.insert("schedule_lag".into(), pct(3.0));
        s.metrics.insert("frame_lag_p99".into(), pct(166.0));
        s.generator_cpu = Some(GeneratorCpu::new(1.9, 1.0, 2));
        s.dropped = 7;
        let w = warnings(&s);
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("schedule_lag p99 3.00 ms"), "{w:?}");
        assert!(w[1].contains("frame_lag_p99 p99 166.00 ms"), "{w:?}");
        assert!(w[2].contains("95 % of its 2 cores"), "{w:?}");
        assert!(w[3].starts_with("7 arrivals dropped"), "{w:?}");
    }
}
