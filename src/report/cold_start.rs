//! The cold-start section of the summary (`--idle-gap`): per gap, the warm
//! p50 beside the first request after idle and the next ones, when latency
//! was warm again, and when the health URL answered.

use std::fmt::Write as _;

use super::fmt::value;
use crate::metrics::Unit;
use crate::result::cold::{ColdStartResult, WARM_AGAIN_MARGIN};

/// The section's text (begins with a blank line).
pub fn section(c: &ColdStartResult) -> String {
    let mut out = String::new();
    let ms = |v: Option<f64>| v.map_or("failed".to_string(), |v| value(v, Unit::Micros));
    let _ = writeln!(
        out,
        "\ncold starts (a request after {} idle is tagged cold; warm again = within {:.0} % of the warm p50)",
        humantime::format_duration(std::time::Duration::from_secs_f64(c.cold_after_s)),
        WARM_AGAIN_MARGIN * 100.0
    );
    for g in &c.gaps {
        let scenario = g
            .scenario
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        let idle = humantime::format_duration(std::time::Duration::from_secs_f64(g.idle_s));
        let mut line = format!(
            "  after {idle} idle{scenario}: {} warm p50 {} (stage {})",
            g.metric,
            ms(g.warm_p50_ms),
            g.warm_stage + 1
        );
        if let Some((first, rest)) = g.probes_ms.split_first() {
            let _ = write!(line, "  first {}", ms(*first));
            if !rest.is_empty() {
                let next: Vec<String> = rest.iter().map(|v| ms(*v)).collect();
                let _ = write!(line, "  next {}", next.join(" "));
            }
        }
        match (g.warm_again_probe, g.warm_again_after_s) {
            (Some(1), _) => line.push_str("  warm from the first probe"),
            (Some(k), Some(s)) => {
                let _ = write!(line, "  warm again at probe {k} (+{s:.2} s)");
            }
            _ => line.push_str("  NOT warm again within the probes"),
        }
        if let Some(r) = &g.ready {
            match (r.after_s, &r.last) {
                (Some(s), _) => {
                    let _ = write!(line, "  ready after {s:.2} s ({} polls)", r.polls);
                }
                (None, last) => {
                    let _ = write!(
                        line,
                        "  NOT ready while the probes ran ({} polls, last: {})",
                        r.polls,
                        last.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        let _ = writeln!(out, "{line}");
    }
    out
}
