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

/// Query parameters whose values are credentials (matched whole, any
/// case): API keys, tokens, signatures of pre-signed URLs.
const SECRET_PARAMS: [&str; 18] = [
    "key",
    "api_key",
    "apikey",
    "api-key",
    "token",
    "access_token",
    "auth",
    "auth_token",
    "authorization",
    "sig",
    "signature",
    "secret",
    "client_secret",
    "password",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
];

/// Whether a query parameter carries a credential: a listed name, or one
/// that ends in a listed word (`xi_api_key`, `session_token`).
fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| {
        n == *s
            || n.strip_suffix(s)
                .is_some_and(|head| head.ends_with(['_', '-', '.']))
    })
}

/// `url` as it may be shown or saved: a password in it (`user:pw@`) and
/// the values of credential-like query parameters (`?api_key=…`,
/// `token`, `sig`, …) replaced by `<redacted>`. A URL that needs no
/// change comes back as it is.
pub fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    let (head, fragment) = match url.split_once('#') {
        Some((h, f)) => (h, Some(f)),
        None => (url, None),
    };
    let (base, query) = match head.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (head, None),
    };
    // user:password@ in the authority.
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                    let shown = if userinfo.contains(':') {
                        format!("{user}:<redacted>")
                    } else {
                        "<redacted>".to_string()
                    };
                    std::borrow::Cow::Owned(format!("{scheme}://{shown}@{host}{}", &rest[end..]))
                }
                None => std::borrow::Cow::Borrowed(base),
            }
        }
        None => std::borrow::Cow::Borrowed(base),
    };
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_param(name) => {
                    std::borrow::Cow::Owned(format!("{name}=<redacted>"))
                }
                _ => std::borrow::Cow::Borrowed(pair),
            })
            .collect::<Vec<_>>()
    });
    let changed = matches!(base, std::borrow::Cow::Owned(_))
        || query
            .as_ref()
            .is_some_and(|q| q.iter().any(|p| matches!(p, std::borrow::Cow::Owned(_))));
    if !changed {
        return std::borrow::Cow::Borrowed(url);
    }
    let mut out = base.into_owned();
    if let Some(q) = query {
        out.push('?');
        out.push_str(&q.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    std::borrow::Cow::Owned(out)
}

/// Serialize a URL with its credentials redacted ([`redact_url`]).
pub fn serialize_url_redacted<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

/// A port written in `url` that is not one (0 or over 65535), which
/// would otherwise be dropped and the default port tried.
pub fn bad_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let port = match host.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':')?,
        None => host.rsplit_once(':')?.1,
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => None,
        _ => Some(format!("port '{port}' is not a number from 1 to 65535")),
    }
}

/// Why a target could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The URL does not parse or is not http(s).
    #[error("invalid URL '{}': {reason}", redact_url(url))]
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
    /// A level that is not a level below full scale.
    #[error("the audible level must be a number of dBFS below 0, not {0}")]
    BadLevel(f32),
}

/// Parse an http(s) URL with a host.
pub fn parse_http_uri(url: &str) -> Result<Uri, TargetError> {
    let bad = |reason: String| TargetError::BadUrl {
        url: url.to_string(),
        reason,
    };
    if let Some(reason) = bad_port(url) {
        return Err(bad(reason));
    }
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

/// `headers` with `content-type: default` in front unless one of them
/// sets it: a user's header replaces the default instead of doubling it.
pub fn with_content_type<'a>(
    headers: &'a [(HeaderName, HeaderValue)],
    default: &'a HeaderValue,
) -> impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)> {
    let own = headers
        .iter()
        .any(|(n, _)| n == hyper::header::CONTENT_TYPE);
    let default = (!own).then_some((&hyper::header::CONTENT_TYPE, default));
    default
        .into_iter()
        .chain(headers.iter().map(|(n, v)| (n, v)))
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

/// The sample rate a server message announces at `path` (a number or a
/// numeric string; see [`crate::audio::rate::from_json`]); `None` without
/// a path, a field, or a plausible rate. The one reader of announced rates
/// for every WebSocket protocol.
pub fn rate_at(value: &serde_json::Value, path: Option<&str>) -> Option<u32> {
    path.and_then(|p| json_path(value, p))
        .and_then(crate::audio::rate::from_json)
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
    fn credentials_in_urls_are_redacted_and_the_rest_kept() {
        let cases = [
            ("http://h:8000/v1/tts", "http://h:8000/v1/tts"),
            (
                "https://h/tts?api_key=sk-1&voice=a&token=t2#f",
                "https://h/tts?api_key=<redacted>&voice=a&token=<redacted>#f",
            ),
            (
                "wss://h/ws?KEY=k&Sig=s&monkey=1",
                "wss://h/ws?KEY=<redacted>&Sig=<redacted>&monkey=1",
            ),
            (
                "wss://h/ws?xi_api_key=k&access_token=a",
                "wss://h/ws?xi_api_key=<redacted>&access_token=<redacted>",
            ),
            ("https://u:pw@h/x?a=1", "https://u:<redacted>@h/x?a=1"),
            ("https://tok@h/x", "https://<redacted>@h/x"),
            (
                "http://h/x?X-Amz-Signature=abc",
                "http://h/x?X-Amz-Signature=<redacted>",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        let e = parse_http_uri("ftp://h/x?api_key=sk-9")
            .expect_err("scheme")
            .to_string();
        assert!(!e.contains("sk-9") && e.contains("<redacted>"), "{e}");
    }

    #[test]
    fn ports_out_of_range_are_invalid_urls() {
        for url in [
            "http://127.0.0.1:99999/x",
            "http://h:0",
            "ws://[::1]:70000/a",
        ] {
            assert!(bad_port(url).is_some(), "{url}");
        }
        for url in [
            "http://127.0.0.1:8000/x",
            "http://h/x?p=:99999",
            "ws://[::1]:9000/a",
            "http://u:pw@h/x",
        ] {
            assert_eq!(bad_port(url), None, "{url}");
        }
        let e = parse_http_uri("http://127.0.0.1:99999")
            .expect_err("port")
            .to_string();
        assert!(e.contains("99999") && e.contains("65535"), "{e}");
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
