//! Whether the generator itself was the bottleneck of a stage.
//!
//! A client that falls behind makes a server look slower (late sends are
//! billed as schedule lag or latency) or kinder (late frames slow the
//! caller down). On a 2-core machine, 2,000 real-time calls pushed frame
//! lateness p99 to 166 ms and timed out 1,006 turns while the summary
//! blamed nobody. So every stage is checked against a few limits, and a
//! stage that passes one says so, naming the figure.

use serde::{Deserialize, Serialize};

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

/// What a stage says about the generator (read from its summary by
/// `StageSummary::generator_warnings`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Signs {
    /// `schedule_lag` p99, ms.
    pub schedule_lag_p99_ms: Option<f64>,
    /// `frame_lag_p99` p99, ms.
    pub frame_lag_p99_ms: Option<f64>,
    /// Its CPU over the stage.
    pub cpu: Option<GeneratorCpu>,
    /// Arrivals dropped at the in-flight cap.
    pub dropped: u64,
}

/// Each way the generator limited a stage, one line naming the figure,
/// its value and the limit (empty when it kept up).
pub fn warnings(s: Signs) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(lag) = s
        .schedule_lag_p99_ms
        .filter(|&l| l > MAX_SCHEDULE_LAG_P99_MS)
    {
        out.push(format!(
            "generator behind its schedule: schedule_lag p99 {lag:.2} ms > {MAX_SCHEDULE_LAG_P99_MS} ms (sends were late; latency from the schedule includes it)"
        ));
    }
    if let Some(lag) = s.frame_lag_p99_ms.filter(|&l| l > MAX_FRAME_LAG_P99_MS) {
        out.push(format!(
            "generator not real time: frame_lag_p99 p99 {lag:.2} ms > {MAX_FRAME_LAG_P99_MS} ms (audio frames left late)"
        ));
    }
    if let Some(cpu) = s.cpu.filter(|c| c.share > MAX_CPU_SHARE) {
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

    #[test]
    fn each_limit_passed_is_one_warning_naming_its_figure() {
        assert!(
            warnings(Signs::default()).is_empty(),
            "an idle stage kept up"
        );
        let under = Signs {
            schedule_lag_p99_ms: Some(0.9),
            frame_lag_p99_ms: Some(1.5),
            cpu: Some(GeneratorCpu::new(1.7, 1.0, 2)),
            dropped: 0,
        };
        assert!(warnings(under).is_empty(), "{:?}", warnings(under));
        let over = Signs {
            schedule_lag_p99_ms: Some(3.0),
            frame_lag_p99_ms: Some(166.0),
            cpu: Some(GeneratorCpu::new(1.9, 1.0, 2)),
            dropped: 7,
        };
        let w = warnings(over);
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("schedule_lag p99 3.00 ms"), "{w:?}");
        assert!(w[1].contains("frame_lag_p99 p99 166.00 ms"), "{w:?}");
        assert!(w[2].contains("95 % of its 2 cores"), "{w:?}");
        assert!(w[3].starts_with("7 arrivals dropped"), "{w:?}");
    }
}
