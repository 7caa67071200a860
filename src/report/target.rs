//! The target's own metrics (`--scrape`) in the summary and the HTML
//! report: per scrape URL its scrapes and failures, and per series its
//! first, last, lowest and highest value, and a counter's rate per second.

use std::fmt::Write as _;

use super::fmt::compact;
use crate::metrics::scraped::TargetMetrics;

/// Longest series name shown whole; longer ones are cut with `…`.
const NAME_WIDTH: usize = 60;

/// The section's text (begins with a blank line); empty without sources.
pub fn section(sources: &[TargetMetrics]) -> String {
    let mut out = String::new();
    if sources.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\ntarget metrics (the server's own, scraped; rate/s: a counter's increase per second from its first point to its last)"
    );
    for t in sources {
        let every = humantime::format_duration(std::time::Duration::from_secs_f64(t.every_s));
        let mut line = format!(
            "  {} every {every}: {} scrapes, {} ok",
            t.url,
            t.scrapes,
            t.ok()
        );
        if !t.failures.is_empty() {
            let failed: Vec<String> = t
                .failures
                .iter()
                .map(|(k, n)| format!("{} {n}", k.name()))
                .collect();
            let _ = write!(line, ", failed: {}", failed.join(", "));
        }
        if t.missed > 0 {
            let _ = write!(line, ", {} missed (the generator was late)", t.missed);
        }
        if t.left_out > 0 {
            let _ = write!(line, ", {} series over the cap left out", t.left_out);
        }
        let _ = writeln!(out, "{line}");
        if t.series.is_empty() {
            let why = if t.ok() == 0 {
                "no successful scrape"
            } else {
                "no series kept (choose with --scrape-series, or --scrape-series all)"
            };
            let _ = writeln!(out, "    {why}");
            continue;
        }
        let names: Vec<String> = t.series.iter().map(|s| cut(&s.display_name())).collect();
        let width = names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "    {:<width$} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "series", "first", "last", "min", "max", "rate/s"
        );
        for (s, name) in t.series.iter().zip(&names) {
            let Some(m) = s.summary() else { continue };
            let rate = m.rate.map_or("-".to_string(), compact);
            let _ = writeln!(
                out,
                "    {name:<width$} {:>10} {:>10} {:>10} {:>10} {rate:>10}",
                compact(m.first),
                compact(m.last),
                compact(m.min),
                compact(m.max),
            );
        }
    }
    out
}

/// `name` cut to [`NAME_WIDTH`] characters.
fn cut(name: &str) -> String {
    if name.chars().count() <= NAME_WIDTH {
        return name.to_string();
    }
    name.chars().take(NAME_WIDTH - 1).collect::<String>() + "…"
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::metrics::scraped::{ScrapedSeries, SeriesKind};
    use crate::protocol::scrape::ScrapeFailureKind;

    #[test]
    fn rows_show_values_and_counter_rates() {
        let t = TargetMetrics {
            url: "http://u:<redacted>@h:1/metrics".into(),
            every_s: 0.5,
            scrapes: 4,
            failures: BTreeMap::from([(ScrapeFailureKind::Connect, 1)]),
            missed: 0,
            left_out: 0,
            series: vec![
                ScrapedSeries {
                    name: "q".into(),
                    labels: BTreeMap::from([("pool".into(), "tts".into())]),
                    kind: SeriesKind::Gauge,
                    points: vec![[0.0, 0.0], [0.5, 4.0], [1.0, 2.0]],
                },
                ScrapedSeries {
                    name: "r_total".into(),
                    labels: BTreeMap::new(),
                    kind: SeriesKind::Counter,
                    points: vec![[0.0, 0.0], [0.5, 4.0], [1.0, 10.0]],
                },
            ],
        };
        let text = section(&[t]);
        assert!(
            text.contains("h:1/metrics every 500ms: 4 scrapes, 3 ok, failed: connect 1"),
            "{text}"
        );
        let row = |name: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(name))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert_eq!(row("q{pool=\"tts\"}"), ["0", "2", "0", "4", "-"]);
        assert_eq!(row("r_total"), ["0", "10", "0", "10", "10"]);
        assert_eq!(section(&[]), "");
    }
}
