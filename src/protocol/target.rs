//! What every adapter shares about a target: URL and header validation,
//! secret redaction, and dotted JSON paths into server messages.

use hyper::header::{HeaderName, HeaderValue};
use hyper::Uri;

/// Header names whose values never reach logs, results or reports.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "api-key",
        "apikey",
        "token",
        "secret",
        "cookie",
        "password",
        "key",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// `Name: value` with the value replaced when the header is secret.
pub fn redact_header(name: &str, value: &str) -> String {
    if is_secret_header(name) {
        "<redacted>".into()
    } else {
        value.into()
    }
}

/// Serialize header pairs with secret values redacted.
pub fn serialize_headers_redacted<S: serde::Serializer>(
    headers: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(headers.len()))?;
    for (n, v) in headers {
        seq.serialize_element(&(n, redact_header(n, v)))?;
    }
    seq.end()
}

/// The wait a 429 or 503 asked for in its `Retry-After` header: `None` for
/// other statuses or an unreadable value.
pub fn asked_wait(status: u16, retry_after: Option<&[u8]>) -> Option<std::time::Duration> {
    if !matches!(status, 429 | 503) {
        return None;
    }
    parse_retry_after(retry_after?, std::time::SystemTime::now())
}

/// A `Retry-After` value: delta-seconds, or an HTTP date (RFC 9110
/// §10.2.3) measured from `now`, where a date in the past is no wait.
fn parse_retry_after(value: &[u8], now: std::time::SystemTime) -> Option<std::time::Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// Why a target could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The URL does not parse or is not http(s).
    #[error("invalid URL '{url}': {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A header name or value is invalid.
    #[error("invalid header '{name}': {reason}")]
    BadHeader {
        /// The header name given.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Real-time frames must have a length.
    #[error("the frame duration must be greater than 0")]
    ZeroFrame,
    /// SSE/NDJSON framing needs to know where the audio is.
    #[error("framing '{0}' needs audio_path (the JSON path of the base64 audio)")]
    MissingAudioPath(&'static str),
}

/// Parse an http(s) URL with a host.
pub fn parse_http_uri(url: &str) -> Result<Uri, TargetError> {
    let bad = |reason: String| TargetError::BadUrl {
        url: url.to_string(),
        reason,
    };
    let uri: Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| bad(e.to_string()))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(bad("expected http:// or https://".into())),
    }
    if uri.host().is_none() {
        return Err(bad("no host".into()));
    }
    Ok(uri)
}

/// Validate `Name: value` pairs into header values; secret ones are marked
/// sensitive so hyper never prints them.
pub fn header_values(
    raw: &[(String, String)],
) -> Result<Vec<(HeaderName, HeaderValue)>, TargetError> {
    raw.iter()
        .map(|(n, v)| {
            let bad = |reason: String| TargetError::BadHeader {
                name: n.clone(),
                reason,
            };
            let name =
                HeaderName::from_bytes(n.trim().as_bytes()).map_err(|e| bad(e.to_string()))?;
            let mut value = HeaderValue::from_str(v.trim()).map_err(|e| bad(e.to_string()))?;
            value.set_sensitive(is_secret_header(n));
            Ok((name, value))
        })
        .collect()
}

/// Follow a dotted path (`result.audioContent`, `data.0.audio`) into JSON.
pub fn json_path<'v>(value: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(value, |v, key| match v {
            serde_json::Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => v.get(key),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_of_429_and_503_only() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(asked_wait(429, Some(b" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(asked_wait(503, Some(b"0")), Some(Duration::ZERO));
        assert_eq!(asked_wait(500, Some(b"3")), None, "only 429 and 503");
        assert_eq!(asked_wait(429, None), None);
        assert_eq!(asked_wait(429, Some(b"soon")), None);
        assert_eq!(asked_wait(429, Some(b"-1")), None);
        assert_eq!(asked_wait(429, Some(&[0xff, 0xfe])), None);
        // 1994-11-06 08:49:37 UTC is 784111777 s after the epoch.
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777 - 90);
        let date = b"Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(parse_retry_after(date, now), Some(Duration::from_secs(90)));
        let later = now + Duration::from_secs(1000);
        assert_eq!(
            parse_retry_after(date, later),
            Some(Duration::ZERO),
            "past date"
        );
    }

    #[test]
    fn json_path_walks_objects_and_arrays() {
        let v = serde_json::json!({"result": {"audioContent": "QQ=="}, "data": [{"audio": "x"}]});
        assert_eq!(
            json_path(&v, "result.audioContent").and_then(|v| v.as_str()),
            Some("QQ==")
        );
        assert_eq!(
            json_path(&v, "data.0.audio").and_then(|v| v.as_str()),
            Some("x")
        );
        assert!(json_path(&v, "data.1.audio").is_none());
    }

    #[test]
    fn secret_headers_are_redacted() {
        assert_eq!(
            redact_header("Authorization", "Bearer sk-123"),
            "<redacted>"
        );
        assert_eq!(redact_header("X-Api-Key", "abc"), "<redacted>");
        assert_eq!(redact_header("Accept", "audio/wav"), "audio/wav");
    }
}
