//! The Prometheus text exposition format (version 0.0.4, what `/metrics`
//! of vLLM, Triton, TGI, SGLang and every Prometheus client library
//! serves), parsed into samples and the types their `# TYPE` lines declare.
//!
//! Written here rather than taken from a crate: the one maintained parser
//! crate (`prometheus-parse`) brings regex, chrono, itertools and
//! lazy_static (a noticeably longer build on 2 cores) for a line format
//! this small. Rules followed: blank lines and `#` comments are skipped
//! (`# HELP` is ignored, `# TYPE` is kept); a sample is `name{labels}
//! value [timestamp]`; label values escape `\\`, `\"` and `\n`; values are
//! floats with exponents, `NaN`, `+Inf`, `-Inf`; an optional timestamp is
//! integer milliseconds. Any other line is an error naming its number.

use std::collections::BTreeMap;

/// What a `# TYPE` line declares a metric family to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Only goes up (resets when the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
    /// `_bucket{le=…}`, `_sum` and `_count` samples.
    Histogram,
    /// Quantile samples, `_sum` and `_count`.
    Summary,
    /// `untyped` (or any type this parser does not know).
    Untyped,
}

impl MetricType {
    fn parse(s: &str) -> Self {
        match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" | "gaugehistogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            _ => MetricType::Untyped,
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name as written (`vllm:num_requests_waiting`, `x_total`).
    pub name: String,
    /// Its labels, by name.
    pub labels: BTreeMap<String, String>,
    /// Its value (may be NaN or infinite).
    pub value: f64,
    /// The exposition's own timestamp, ms since the Unix epoch, if given.
    pub timestamp_ms: Option<i64>,
}

/// A parsed scrape: its samples in order and the declared family types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Every sample line, in order.
    pub samples: Vec<Sample>,
    /// `# TYPE` declarations, by family name.
    pub types: BTreeMap<String, MetricType>,
}

/// A line the parser cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub reason: String,
}

/// Whether `s` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parse a whole exposition.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_matches([' ', '\t', '\r']);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE") {
                if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                    out.types.insert(name.to_string(), MetricType::parse(kind));
                }
            }
            continue;
        }
        let sample = sample(line).map_err(|reason| ParseError {
            line: i + 1,
            reason,
        })?;
        out.samples.push(sample);
    }
    Ok(out)
}

/// One sample line (trimmed, not a comment).
fn sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..end];
    if name.is_empty() {
        let start: String = line.chars().take(40).collect();
        return Err(format!("'{start}' is not a sample (no metric name)"));
    }
    if !is_metric_name(name) {
        return Err(format!("'{name}' is not a metric name"));
    }
    let mut rest = &line[end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = label_set(inner, &mut labels)?;
    }
    let mut fields = rest.split_whitespace();
    let value = fields
        .next()
        .ok_or_else(|| format!("'{name}' has no value"))?;
    let value = parse_value(value).ok_or_else(|| format!("'{value}' is not a number"))?;
    let timestamp_ms = match fields.next() {
        Some(ts) => Some(
            ts.parse::<i64>()
                .map_err(|_| format!("'{ts}' is not a timestamp (integer milliseconds)"))?,
        ),
        None => None,
    };
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected '{extra}' after the timestamp"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Read `name="value",…}` into `labels`; returns what follows the `}`.
fn label_set<'a>(mut s: &'a str, labels: &mut BTreeMap<String, String>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok(after);
        }
        let eq = s.find('=').ok_or("a label without '='")?;
        let name = s[..eq].trim();
        if !is_metric_name(name) || name.contains(':') {
            return Err(format!("'{name}' is not a label name"));
        }
        let after = s[eq + 1..].trim_start();
        let quoted = after
            .strip_prefix('"')
            .ok_or_else(|| format!("the value of label '{name}' is not quoted"))?;
        let (value, after) = label_value(quoted)
            .ok_or_else(|| format!("the value of label '{name}' has no closing quote"))?;
        labels.insert(name.to_string(), value);
        s = after.trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err("labels must be separated by ','".into());
        }
    }
}

/// A label value after its opening quote, unescaped, and what follows its
/// closing quote.
fn label_value(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// A sample value: a float (exponents allowed), `NaN`, `+Inf`, `-Inf`.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s if s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn comments_types_labels_and_timestamps() {
        let text = "# HELP http_requests_total The total.\n\
                    # TYPE http_requests_total counter\n\
                    # a free comment\n\
                    \n\
                    http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                    http_requests_total{method=\"post\",code=\"400\",}    3 1395066363000\n\
                    vllm:num_requests_waiting{model_name=\"m\"} 2.0\n\
                    up 1\n";
        let e = parse(text).expect("parses");
        assert_eq!(
            e.types.get("http_requests_total"),
            Some(&MetricType::Counter)
        );
        assert_eq!(e.samples.len(), 4);
        assert_eq!(
            e.samples[0].labels,
            labels(&[("method", "post"), ("code", "200")])
        );
        assert_eq!(e.samples[0].value, 1027.0);
        assert_eq!(e.samples[0].timestamp_ms, Some(1_395_066_363_000));
        assert_eq!(e.samples[1].value, 3.0, "trailing comma in labels");
        assert_eq!(e.samples[2].name, "vllm:num_requests_waiting");
        assert_eq!(e.samples[3].labels, BTreeMap::new());
        assert_eq!(e.samples[3].timestamp_ms, None);
    }

    #[test]
    fn escapes_in_label_values() {
        let e = parse(
            "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n",
        )
        .expect("parses");
        let s = &e.samples[0];
        assert_eq!(s.labels["path"], "C:\\DIR\\FILE.TXT");
        assert_eq!(s.labels["error"], "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(s.value, 1.458255915e9);
        // A brace or comma inside a quoted value is text, not syntax.
        let e = parse("x{a=\"}, b=\\\"\"} 1\n").expect("parses");
        assert_eq!(e.samples[0].labels["a"], "}, b=\"");
    }

    #[test]
    fn special_values_and_exponents() {
        let e = parse("a NaN\nb +Inf\nc -Inf\nd 1e-3\ne -2.5E+2\nf +7\n").expect("parses");
        let v: Vec<f64> = e.samples.iter().map(|s| s.value).collect();
        assert!(v[0].is_nan());
        assert_eq!(
            v[1..],
            [f64::INFINITY, f64::NEG_INFINITY, 0.001, -250.0, 7.0]
        );
    }

    #[test]
    fn histograms_are_typed_and_kept_as_samples() {
        let e = parse(
            "# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 3\nlat_bucket{le=\"+Inf\"} 5\nlat_sum 0.7\nlat_count 5\n",
        )
        .expect("parses");
        assert_eq!(e.types.get("lat"), Some(&MetricType::Histogram));
        assert_eq!(e.samples[1].labels["le"], "+Inf");
        assert_eq!(e.samples[3].name, "lat_count");
    }

    #[test]
    fn bad_lines_are_errors_with_their_number() {
        for (text, line, what) in [
            ("ok 1\n{\"status\":\"ok\"}\n", 2, "metric name"),
            ("x{a=1} 1\n", 1, "not quoted"),
            ("x{a=\"1} 1\n", 1, "closing quote"),
            ("x 1\ny\n", 2, "no value"),
            ("x one\n", 1, "not a number"),
            ("x 0x10\n", 1, "not a number"),
            ("x 1 12.5\n", 1, "timestamp"),
            ("x 1 2 3\n", 1, "unexpected"),
            ("x{a=\"1\" b=\"2\"} 1\n", 1, "separated"),
            ("<html>\n", 1, "metric name"),
        ] {
            let e = parse(text).expect_err(text);
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.reason.contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn metric_names() {
        for good in ["a", "_a", "vllm:x", "a1_b:c"] {
            assert!(is_metric_name(good), "{good}");
        }
        for bad in ["", "1a", "a-b", "a.b", "a b"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
    }
}
