//! `--scrape`, `--scrape-every` and `--scrape-series` validated into the
//! plan of the target's own metrics.

use std::time::Duration;

use serde::Serialize;

use super::common::CommonOptions;
use super::error::{invalid, ConfigError};
use crate::metrics::scraped::SeriesChoice;
use crate::protocol::prom_text::is_metric_name;
use crate::protocol::scrape::ScrapeTarget;

/// Default `--scrape-every`: Prometheus's own common scrape interval is
/// 15 s; 5 s still shows a stage of 30 s as six points.
pub const DEFAULT_SCRAPE_EVERY: Duration = Duration::from_secs(5);

/// Longest time one scrape may take, whatever the period.
pub const MAX_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// What to scrape, how often, and which series to keep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScrapePlan {
    /// The metrics URLs (credentials redacted when serialized).
    #[serde(serialize_with = "redacted_urls")]
    pub urls: Vec<String>,
    /// Scrape *k* is due at `k × every` from the run's start.
    #[serde(with = "crate::units::serde_duration")]
    pub every: Duration,
    /// The series kept.
    pub series: SeriesChoice,
}

impl ScrapePlan {
    /// How long one scrape may take: below the period, so a slow target
    /// never delays the next scrape (80 % of it, at most 10 s).
    pub fn timeout(&self) -> Duration {
        (self.every.mul_f64(0.8)).min(MAX_SCRAPE_TIMEOUT)
    }
}

fn redacted_urls<S: serde::Serializer>(urls: &[String], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq as _;
    let mut seq = s.serialize_seq(Some(urls.len()))?;
    for u in urls {
        seq.serialize_element(&crate::protocol::target::redact_url(u))?;
    }
    seq.end()
}

/// Validate the scrape options; `None` when no `--scrape` is given.
pub(crate) fn scrape_plan(o: &CommonOptions) -> Result<Option<ScrapePlan>, ConfigError> {
    let urls = o.scrape.clone().unwrap_or_default();
    if urls.is_empty() {
        for (set, flag) in [
            (o.scrape_every.is_some(), "--scrape-every"),
            (o.scrape_series.is_some(), "--scrape-series"),
        ] {
            if set {
                return Err(invalid(
                    flag,
                    "applies to --scrape URLs; give one (e.g. --scrape http://127.0.0.1:8000/metrics)",
                ));
            }
        }
        return Ok(None);
    }
    for u in &urls {
        ScrapeTarget::new(u).map_err(|e| invalid("--scrape", e.to_string()))?;
    }
    let every = o.scrape_every.unwrap_or(DEFAULT_SCRAPE_EVERY);
    if every.is_zero() {
        return Err(invalid("--scrape-every", "must be above 0 (e.g. 5s)"));
    }
    let series = match o.scrape_series.as_deref() {
        None => SeriesChoice::default_names(),
        Some(list) => series(list)?,
    };
    Ok(Some(ScrapePlan {
        urls,
        every,
        series,
    }))
}

/// `all`, or comma-separated metric names.
fn series(list: &str) -> Result<SeriesChoice, ConfigError> {
    let names: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    match names.as_slice() {
        [] => Err(invalid(
            "--scrape-series",
            "is empty: give metric names, comma-separated (e.g. 'process_resident_memory_bytes,vllm:num_requests_waiting'), or 'all'",
        )),
        [all] if all == "all" => Ok(SeriesChoice::All),
        _ => match names.iter().find(|n| !is_metric_name(n)) {
            Some(bad) => Err(invalid(
                "--scrape-series",
                format!("'{bad}' is not a metric name (letters, digits, '_' and ':')"),
            )),
            None => Ok(SeriesChoice::Names(names)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(urls: &[&str], every: Option<Duration>, series: Option<&str>) -> CommonOptions {
        CommonOptions {
            scrape: Some(urls.iter().map(|u| u.to_string()).collect()),
            scrape_every: every,
            scrape_series: series.map(String::from),
            ..CommonOptions::default()
        }
    }

    fn error(o: &CommonOptions) -> String {
        scrape_plan(o).expect_err("refused").to_string()
    }

    #[test]
    fn defaults_and_choices() {
        let p = scrape_plan(&opts(&["http://h:1/metrics"], None, None))
            .expect("valid")
            .expect("a plan");
        assert_eq!(p.every, DEFAULT_SCRAPE_EVERY);
        assert_eq!(p.timeout(), Duration::from_secs(4));
        assert_eq!(p.series, SeriesChoice::default_names());
        let p = scrape_plan(&opts(
            &["http://h:1/metrics"],
            Some(Duration::from_secs(60)),
            Some(" a , vllm:b ,"),
        ))
        .expect("valid")
        .expect("a plan");
        assert_eq!(p.timeout(), MAX_SCRAPE_TIMEOUT);
        assert_eq!(
            p.series,
            SeriesChoice::Names(vec!["a".into(), "vllm:b".into()])
        );
        let p = scrape_plan(&opts(&["http://h:1/m"], None, Some("all"))).expect("valid");
        assert_eq!(p.map(|p| p.series), Some(SeriesChoice::All));
        assert_eq!(scrape_plan(&CommonOptions::default()).ok(), Some(None));
    }

    #[test]
    fn bad_values_name_their_flag() {
        let e = error(&opts(&["ftp://h/metrics"], None, None));
        assert!(e.contains("--scrape") && e.contains("http://"), "{e}");
        let e = error(&opts(&["http://h:1/m"], Some(Duration::ZERO), None));
        assert!(e.contains("--scrape-every"), "{e}");
        let e = error(&opts(&["http://h:1/m"], None, Some(" , ")));
        assert!(e.contains("--scrape-series") && e.contains("empty"), "{e}");
        let e = error(&opts(&["http://h:1/m"], None, Some("ok,not-a-name")));
        assert!(
            e.contains("--scrape-series") && e.contains("not-a-name"),
            "{e}"
        );
        let alone = CommonOptions {
            scrape_every: Some(Duration::from_secs(1)),
            ..CommonOptions::default()
        };
        assert!(error(&alone).contains("--scrape-every"));
    }

    #[test]
    fn credentials_never_reach_the_saved_plan() {
        let p = scrape_plan(&opts(&["http://me:hunter2@h:1/metrics"], None, None))
            .expect("valid")
            .expect("a plan");
        let json = serde_json::to_string(&p).expect("serializes");
        assert!(!json.contains("hunter2"), "{json}");
        assert!(json.contains("me:<redacted>@h:1"), "{json}");
    }
}
