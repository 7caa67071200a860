//! One scrape of a target's own metrics: `GET` a Prometheus text endpoint
//! (`/metrics`), bounded in time and size, parsed by [`super::prom_text`].
//! Every way it can fail is a [`ScrapeFailureKind`], counted, never fatal.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use hyper::{Request, Uri};
use serde::{Deserialize, Serialize};

use super::prom_text::{self, Exposition};
use super::target::{parse_http_uri, TargetError};
use super::{ErrorKind, HttpClient};

/// Largest body read from a metrics endpoint; beyond it the scrape fails.
pub const MAX_BODY: usize = 32 << 20;

/// How a scrape failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrapeFailureKind {
    /// No connection (refused, unreachable host, reset before an answer).
    Connect,
    /// No complete answer within the scrape's time bound.
    Timeout,
    /// An answer that is not 2xx.
    Status,
    /// The body broke off or was over [`MAX_BODY`].
    Body,
    /// The body is not Prometheus text.
    Parse,
}

impl ScrapeFailureKind {
    /// Stable name, as in `result.json`.
    pub fn name(self) -> &'static str {
        match self {
            ScrapeFailureKind::Connect => "connect",
            ScrapeFailureKind::Timeout => "timeout",
            ScrapeFailureKind::Status => "status",
            ScrapeFailureKind::Body => "body",
            ScrapeFailureKind::Parse => "parse",
        }
    }
}

/// A failed scrape: its class and what happened (secret-free).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", kind.name())]
pub struct ScrapeFailure {
    /// The class it is counted under.
    pub kind: ScrapeFailureKind,
    /// What happened.
    pub detail: String,
}

fn failure(kind: ScrapeFailureKind, detail: impl Into<String>) -> ScrapeFailure {
    ScrapeFailure {
        kind,
        detail: detail.into(),
    }
}

/// A metrics endpoint: the URL requested (without credentials) and, when
/// the URL held `user:password@`, the Basic authorization sent instead.
#[derive(Debug, Clone)]
pub struct ScrapeTarget {
    uri: Uri,
    auth: Option<HeaderValue>,
}

impl ScrapeTarget {
    /// Check an http(s) URL and take its credentials out of it.
    pub fn new(url: &str) -> Result<Self, TargetError> {
        let uri = parse_http_uri(url)?;
        let Some(authority) = uri.authority() else {
            return Ok(Self { uri, auth: None });
        };
        let Some((userinfo, host)) = authority.as_str().rsplit_once('@') else {
            return Ok(Self { uri, auth: None });
        };
        let (userinfo, host) = (userinfo.to_string(), host.to_string());
        let bad = |reason: String| TargetError::BadUrl {
            url: url.to_string(),
            reason,
        };
        let (user, pass) = userinfo.split_once(':').unwrap_or((&userinfo, ""));
        let (user, pass) = (percent_decode(user), percent_decode(pass));
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let mut auth =
            HeaderValue::from_str(&format!("Basic {token}")).map_err(|e| bad(e.to_string()))?;
        auth.set_sensitive(true);
        let mut parts = uri.into_parts();
        parts.authority = Some(host.parse().map_err(|e| bad(format!("{e}")))?);
        let uri = Uri::from_parts(parts).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            uri,
            auth: Some(auth),
        })
    }

    /// The URL requested, credentials removed.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
}

/// `%XX` escapes of a URL's user or password decoded (others kept).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Scrape `target` once, all of it (connect, answer, body) within `within`.
pub async fn scrape(
    client: &HttpClient,
    target: &ScrapeTarget,
    within: Duration,
) -> Result<Exposition, ScrapeFailure> {
    match tokio::time::timeout(within, fetch(client, target)).await {
        Ok(r) => r,
        Err(_) => Err(failure(
            ScrapeFailureKind::Timeout,
            format!(
                "no complete answer within {}",
                humantime::format_duration(within)
            ),
        )),
    }
}

async fn fetch(client: &HttpClient, target: &ScrapeTarget) -> Result<Exposition, ScrapeFailure> {
    let mut req = Request::get(target.uri.clone())
        .header(ACCEPT, "text/plain;version=0.0.4;q=1,*/*;q=0.1")
        .body(Full::new(Bytes::new()))
        .map_err(|e| failure(ScrapeFailureKind::Connect, e.to_string()))?;
    if let Some(auth) = &target.auth {
        req.headers_mut().insert(AUTHORIZATION, auth.clone());
    }
    let response = client.request(req).await.map_err(|e| {
        let kind = match e.kind {
            ErrorKind::Timeout => ScrapeFailureKind::Timeout,
            ErrorKind::Protocol => ScrapeFailureKind::Body,
            _ => ScrapeFailureKind::Connect,
        };
        failure(kind, e.detail)
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(failure(ScrapeFailureKind::Status, format!("HTTP {status}")));
    }
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| failure(ScrapeFailureKind::Body, e.to_string()))?
        .to_bytes();
    let text = std::str::from_utf8(&body)
        .map_err(|_| failure(ScrapeFailureKind::Parse, "the body is not UTF-8 text"))?;
    prom_text::parse(text).map_err(|e| failure(ScrapeFailureKind::Parse, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_for_a_basic_header() {
        let t = ScrapeTarget::new("http://me:p%40ss@127.0.0.1:9/metrics").expect("valid");
        assert_eq!(t.uri().to_string(), "http://127.0.0.1:9/metrics");
        let auth = t.auth.expect("basic auth");
        assert!(auth.is_sensitive());
        let token = base64::engine::general_purpose::STANDARD.encode("me:p@ss");
        assert_eq!(auth.to_str().ok(), Some(format!("Basic {token}").as_str()));
        let plain = ScrapeTarget::new("http://127.0.0.1:9/metrics").expect("valid");
        assert!(plain.auth.is_none());
        assert!(ScrapeTarget::new("ftp://127.0.0.1/metrics").is_err());
    }
}
