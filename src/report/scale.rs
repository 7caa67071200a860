//! The scaling section of the summary (`voxload scale`): a row per worker
//! count with its rate, latency, efficiency and readiness.

use std::fmt::Write as _;

use super::fmt::value;
use crate::metrics::Unit;
use crate::result::scale::ScaleResult;

/// The section's text (begins with a blank line).
pub fn section(s: &ScaleResult) -> String {
    let mut out = String::new();
    let what = match s.rate_of.as_str() {
        "capacity" => "capacity at each count",
        _ => "highest throughput among each count's stages",
    };
    let _ = writeln!(
        out,
        "\nscaling ({what}; efficiency = rate(n) ÷ (n × rate of the first count per worker))"
    );
    let _ = writeln!(
        out,
        "  {:>7} {:>11} {:>11} {:>10} {:>10} {:>10} {:>9} {:>8}",
        "workers",
        "rate",
        "per worker",
        "efficiency",
        format!("{} p50", s.metric),
        format!("{} p95", s.metric),
        "ready",
        "command"
    );
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| value(v, Unit::Micros));
    for step in &s.steps {
        let rate = step.rate.map_or("-".into(), |r| format!("{r:.2}/s"));
        let per = step.rate.map_or("-".into(), |r| {
            format!("{:.2}/s", r / f64::from(step.workers))
        });
        let eff = step
            .efficiency
            .map_or("-".into(), |e| format!("{:.1}%", e * 100.0));
        let ready = step
            .ready
            .as_ref()
            .and_then(|r| r.after_s)
            .map_or("-".into(), |r| format!("{r:.2}s"));
        let _ = writeln!(
            out,
            "  {:>7} {rate:>11} {per:>11} {eff:>10} {:>10} {:>10} {ready:>9} {:>7.2}s",
            step.workers,
            ms(step.p50_ms),
            ms(step.p95_ms),
            step.command_s
        );
    }
    if let Some(e) = &s.error {
        let _ = writeln!(out, "  ENDED EARLY: {e}");
    }
    out
}
