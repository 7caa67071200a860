//! Whether a stage is past what the target can take, from its own
//! figures: the knee of a sweep, marked where it happens.
//!
//! - **Open loop**: in steady state a target that keeps up completes
//!   requests as fast as they arrive, whatever its latency. So the rule
//!   reads the completion rate over the whole seconds of the arrival
//!   window's second half (the first half absorbs the ramp, when
//!   completions lag arrivals by the latency): below the offered rate by
//!   more than [`RATE_SHORTFALL`] plus counting noise, requests are
//!   queueing. A stage too short for two such seconds, or whose fastest
//!   request took more than half of it, is not judged.
//! - **Closed loop**: more users that bring no more throughput
//!   (< [`GROWTH_FLOOR`]) while the headline latency climbs
//!   (≥ [`LATENCY_CLIMB`]) are waiting, not being served.
//!
//! A target that refuses work at once (503 with no queue) keeps up in this
//! sense; its errors say the rest.

/// Open loop: the share below the offered rate that marks saturation.
pub const RATE_SHORTFALL: f64 = 0.05;
/// Closed loop: throughput must grow by at least this share with more users.
pub const GROWTH_FLOOR: f64 = 0.05;
/// Closed loop: the headline p50 rise that, with flat throughput, marks it.
pub const LATENCY_CLIMB: f64 = 0.20;
/// Open loop: the least steady-state span the rule reads, seconds.
pub const MIN_SPAN_S: u64 = 2;

/// Open loop: `completed` requests ended in the `span_s` whole seconds of
/// the arrival window's second half, against `offered` per second. `None` when it kept
/// up or the span is too short to tell.
pub fn open_loop(offered: f64, completed: u64, span_s: u64) -> Option<String> {
    if span_s < MIN_SPAN_S || offered <= 0.0 {
        return None;
    }
    let span = span_s as f64;
    let achieved = completed as f64 / span;
    // Two standard deviations of a count of `offered × span` arrivals.
    let noise = 2.0 * (offered * span).sqrt() / span;
    (achieved < offered * (1.0 - RATE_SHORTFALL) - noise).then(|| {
        format!(
            "completions kept up at {achieved:.1}/s of {offered:.1}/s offered \
             in the stage's second half (requests queue)"
        )
    })
}

/// One closed-loop stage's figures the rule compares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClosedLevel {
    /// Users that had work.
    pub users: usize,
    /// Completions per second.
    pub rps: f64,
    /// Headline latency p50, ms.
    pub p50_ms: f64,
}

/// Closed loop: this stage against the previous one of the same scenario.
pub fn closed_loop(prev: ClosedLevel, this: ClosedLevel, latency: &str) -> Option<String> {
    if this.users <= prev.users || prev.rps <= 0.0 || prev.p50_ms <= 0.0 {
        return None;
    }
    let growth = this.rps / prev.rps - 1.0;
    let climb = this.p50_ms / prev.p50_ms - 1.0;
    (growth < GROWTH_FLOOR && climb >= LATENCY_CLIMB).then(|| {
        format!(
            "{} → {} users brought {:+.0} % throughput ({:.1} → {:.1}/s) while \
             {latency} p50 rose {:+.0} % ({:.0} → {:.0} ms)",
            prev.users,
            this.users,
            growth * 100.0,
            prev.rps,
            this.rps,
            climb * 100.0,
            prev.p50_ms,
            this.p50_ms
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_flags_a_completion_rate_below_the_offered_one() {
        // 100/s offered for 5 s: 2σ of 500 arrivals is 44.7, 8.9/s; flagged
        // below 95 − 8.9 = 86.1/s.
        assert!(open_loop(100.0, 480, 5).is_none(), "96/s keeps up");
        assert!(
            open_loop(100.0, 440, 5).is_none(),
            "88/s is within the noise"
        );
        let why = open_loop(100.0, 420, 5).expect("84/s is saturated");
        assert!(why.contains("84.0/s of 100.0/s"), "{why}");
        assert!(open_loop(100.0, 0, 1).is_none(), "one second says nothing");
    }

    #[test]
    fn closed_loop_flags_more_users_without_more_throughput_while_latency_climbs() {
        let at = |users, rps, p50_ms| ClosedLevel { users, rps, p50_ms };
        let why = closed_loop(at(2, 66.0, 30.0), at(4, 67.0, 60.0), "ttfa").expect("knee");
        assert!(why.contains("2 → 4 users"), "{why}");
        assert!(closed_loop(at(1, 33.0, 30.0), at(2, 66.0, 30.0), "ttfa").is_none());
        // Flat throughput with flat latency is a bottleneck elsewhere, not queueing.
        assert!(closed_loop(at(2, 66.0, 30.0), at(4, 66.0, 31.0), "ttfa").is_none());
        assert!(closed_loop(at(4, 66.0, 30.0), at(4, 60.0, 90.0), "ttfa").is_none());
    }
}
