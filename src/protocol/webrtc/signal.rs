//! Offer → answer over HTTP, non-trickle (the offer carries its candidates):
//!
//! - [`Signal::Pipecat`]: Pipecat's SmallWebRTC development runner. POST
//!   JSON `{"sdp": OFFER, "type": "offer"}`, answered (200) with
//!   `{"sdp": ANSWER, "type": "answer", "pc_id": ID}`.
//! - [`Signal::Whip`]: WHIP (RFC 9725). POST the offer as
//!   `application/sdp`, answered `201 Created` with the answer as the body
//!   and a `Location` header naming the session, which is DELETEd at
//!   hang-up ([`hang_up`]).
//! - [`Signal::OpenAi`]: OpenAI Realtime's WebRTC calls. POST the offer as
//!   `application/sdp` to `/v1/realtime/calls` (Bearer auth from the
//!   target's headers), answered with the answer SDP (201, or any 2xx).
//!   Its `Location` (`/v1/realtime/calls/{call_id}`), if any, is the call:
//!   at hang-up voxload POSTs `{call}/hangup`, as OpenAI documents for
//!   WebRTC and SIP calls alike; without one the peer connection closing
//!   is the hang-up.
//!
//! Every failure is a [`SignalError`] naming the URL (credentials
//! redacted) and, where the server answered, its status; every exchange is
//! bounded by a timeout, so a server that never answers fails the call
//! instead of hanging it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, StatusCode, Uri};
use serde::{Deserialize, Serialize};

use crate::protocol::target::{parse_http_uri, redact_url, TargetError};
use crate::protocol::trace::shorten;
use crate::protocol::{ErrorKind, HttpClient, ProtocolError};

/// Largest signalling answer read (an SDP answer is a few KiB).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Which offer/answer exchange a target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Pipecat SmallWebRTC: JSON in, JSON out.
    Pipecat,
    /// WHIP: raw SDP in, 201 + `Location` out.
    Whip,
    /// OpenAI Realtime: raw SDP in, SDP out, `{Location}/hangup` to end.
    #[serde(rename = "openai")]
    OpenAi,
}

impl Signal {
    /// Its name, as `--signal` will take it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Pipecat => "pipecat",
            Signal::Whip => "whip",
            Signal::OpenAi => "openai",
        }
    }

    /// Every shape, in the order errors list them.
    pub const ALL: [Signal; 3] = [Signal::Pipecat, Signal::Whip, Signal::OpenAi];

    /// The shape named `name` (as `--signal` takes it).
    pub fn parse(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.name() == name.trim())
    }

    /// The data channel its peer expects, if it names one (OpenAI's events
    /// travel on `oai-events`).
    pub fn channel(self) -> Option<&'static str> {
        (self == Signal::OpenAi).then_some("oai-events")
    }
}

/// The peer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer SDP.
    pub sdp: String,
    /// Pipecat's peer-connection id, if it sent one.
    pub pc_id: Option<String>,
    /// WHIP: the session resource to DELETE at hang-up; OpenAI: the call,
    /// whose `/hangup` is POSTed (absolute URL).
    pub resource: Option<String>,
    /// The shape that answered (how `resource` is hung up).
    pub signal: Signal,
    /// When the answer's body had been read (offer → answer time is this
    /// minus the instant the exchange started).
    pub at: Instant,
}

/// Why the offer/answer exchange (or the hang-up) failed. `url` is always
/// shown redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// The URL is not an http(s) URL with a host.
    #[error("invalid {what} URL '{url}': {reason}")]
    BadUrl {
        /// Whose URL: "signalling" (the offer's), "hang-up" (the server's).
        what: &'static str,
        /// The URL, redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The request did not get through (connect refused, reset).
    #[error("{what} {url}: {detail}")]
    Request {
        /// "offer to" or "hang-up of".
        what: &'static str,
        /// The URL, redacted.
        url: String,
        /// Its class.
        kind: ErrorKind,
        /// The client's message.
        detail: String,
    },
    /// The server answered with a status other than the shape's success.
    #[error("{what} {url}: HTTP {status} (expected {expected}){}", colon(said))]
    Status {
        /// "offer to" or "hang-up of".
        what: &'static str,
        /// The URL, redacted.
        url: String,
        /// The status the server sent.
        status: u16,
        /// What the shape expects.
        expected: &'static str,
        /// The start of the server's body (its reason, often), or empty.
        said: String,
    },
    /// The answer is not what the shape promises (not JSON with an SDP,
    /// not SDP, no `Location`, over [`MAX_ANSWER_BYTES`]).
    #[error("offer to {url}: HTTP {status}, but {reason}")]
    BadAnswer {
        /// The URL, redacted.
        url: String,
        /// The status the server sent.
        status: u16,
        /// What is wrong.
        reason: String,
    },
    /// No complete answer within the timeout.
    #[error("{what} {url}: no answer within {}", humantime::format_duration(*timeout))]
    Timeout {
        /// "offer to" or "hang-up of".
        what: &'static str,
        /// The URL, redacted.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
}

/// Characters of a refusal's body kept in its error.
const SAID_CHARS: usize = 160;

/// The start of a refusal's body as one line of text ("" if it is empty
/// or unreadable).
async fn said(body: hyper::body::Incoming) -> String {
    let Ok(bytes) = Limited::new(body, MAX_ANSWER_BYTES).collect().await else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes.to_bytes())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    shorten(&text, SAID_CHARS)
}

/// `said` as the tail of an error line.
fn colon(said: &str) -> String {
    if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    }
}

impl SignalError {
    /// The class a run counts this failure under.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SignalError::BadUrl { .. } => ErrorKind::Connect,
            SignalError::Request { kind, .. } => *kind,
            SignalError::Status { status, .. } => ErrorKind::Http(*status),
            SignalError::BadAnswer { .. } => ErrorKind::Decode,
            SignalError::Timeout { .. } => ErrorKind::Timeout,
        }
    }
}

#[derive(Serialize)]
struct PipecatOffer<'a> {
    sdp: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Deserialize)]
struct PipecatAnswer {
    sdp: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    pc_id: Option<String>,
}

/// Send `offer` (SDP) to `url` in the `signal` shape with extra `headers`
/// (e.g. `Authorization`), and return the answer; at most `timeout` for
/// the whole exchange.
pub async fn exchange(
    client: &HttpClient,
    signal: Signal,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    offer: &str,
    timeout: Duration,
) -> Result<Answer, SignalError> {
    let shown = redact_url(url).into_owned();
    let uri = parse_http_uri(url).map_err(|e| bad_url("signalling", url, e))?;
    let (content_type, body) = match signal {
        Signal::Pipecat => (
            "application/json",
            serde_json::to_vec(&PipecatOffer {
                sdp: offer,
                kind: "offer",
            })
            .unwrap_or_default(),
        ),
        Signal::Whip | Signal::OpenAi => ("application/sdp", offer.as_bytes().to_vec()),
    };
    let req = request(Method::POST, &uri, headers, Some((content_type, body)));
    let what = "offer to";
    let fut = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| request_error(what, &shown, e))?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let ok = match signal {
            Signal::Pipecat | Signal::OpenAi => status.is_success(),
            Signal::Whip => status == StatusCode::CREATED,
        };
        if !ok {
            return Err(SignalError::Status {
                what,
                url: shown.clone(),
                status: status.as_u16(),
                expected: match signal {
                    Signal::Pipecat | Signal::OpenAi => "2xx",
                    Signal::Whip => "201",
                },
                said: said(resp.into_body()).await,
            });
        }
        let bad = |reason: String| SignalError::BadAnswer {
            url: shown.clone(),
            status: status.as_u16(),
            reason,
        };
        let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| bad(format!("its body could not be read: {e}")))?
            .to_bytes();
        let at = Instant::now();
        let answer = match signal {
            Signal::Pipecat => {
                let a: PipecatAnswer = serde_json::from_slice(&body)
                    .map_err(|e| bad(format!("the body is not JSON {{\"sdp\", \"type\"}}: {e}")))?;
                if a.kind.as_deref().is_some_and(|k| k != "answer") {
                    return Err(bad(format!(
                        "its type is {:?}, not \"answer\"",
                        a.kind.unwrap_or_default()
                    )));
                }
                Answer {
                    sdp: a.sdp,
                    pc_id: a.pc_id,
                    resource: None,
                    signal,
                    at,
                }
            }
            Signal::Whip | Signal::OpenAi => {
                let sdp = String::from_utf8(body.to_vec())
                    .map_err(|_| bad("the body is not UTF-8 SDP".into()))?;
                if signal == Signal::Whip && location.is_none() {
                    return Err(bad("it has no Location header".into()));
                }
                Answer {
                    sdp,
                    pc_id: None,
                    resource: location.map(|l| resolve(&uri, &l)),
                    signal,
                    at,
                }
            }
        };
        if !answer.sdp.trim_start().starts_with("v=0") {
            return Err(bad(
                "the answer is not SDP (it does not start with v=0)".into()
            ));
        }
        Ok(answer)
    };
    within(timeout, what, &shown, fut).await
}

/// End a call at its server, within `timeout` (any 2xx is fine): WHIP
/// DELETEs its resource, OpenAI POSTs `{call}/hangup`. Pipecat has no
/// hang-up request (the peer connection closing is the hang-up), so there
/// is nothing to do for an answer without a resource. `headers` (the API
/// key, say) were meant for the offer's server: they go with the hang-up
/// only if its resource is on that server (same scheme, host and port as
/// `offer_url`), never to another host a `Location` names.
pub async fn hang_up(
    client: &HttpClient,
    answer: &Answer,
    offer_url: &str,
    headers: &[(HeaderName, HeaderValue)],
    timeout: Duration,
) -> Result<(), SignalError> {
    let Some(HangUp {
        method,
        uri,
        same_origin,
    }) = hang_up_request(answer, offer_url)?
    else {
        return Ok(());
    };
    let what = "hang-up of";
    let shown = redact_url(&uri.to_string()).into_owned();
    let headers = if same_origin { headers } else { &[] };
    let req = request(method, &uri, headers, None);
    let fut = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| request_error(what, &shown, e))?;
        let status = resp.status();
        // Read the (small) body so the connection can be reused.
        let said = said(resp.into_body()).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(SignalError::Status {
                what,
                url: shown.clone(),
                status: status.as_u16(),
                expected: "2xx",
                said,
            })
        }
    };
    within(timeout, what, &shown, fut).await
}

/// The request that ends a call, before it is sent.
#[derive(Debug, PartialEq, Eq)]
struct HangUp {
    method: Method,
    uri: Uri,
    /// On the offer's server: the caller's headers may go with it.
    same_origin: bool,
}

/// How `answer`'s call is ended, if its shape has a request for it.
fn hang_up_request(answer: &Answer, offer_url: &str) -> Result<Option<HangUp>, SignalError> {
    let Some(resource) = answer.resource.as_deref() else {
        return Ok(None);
    };
    let bad_hang_up = |url: &str, e| bad_url("hang-up", url, e);
    let resource_uri = parse_http_uri(resource).map_err(|e| bad_hang_up(resource, e))?;
    let (method, uri) = match answer.signal {
        Signal::OpenAi => {
            // `{call}/hangup`, with the call's query (if any) kept after it.
            let u = &resource_uri;
            let url = format!(
                "{}://{}{}/hangup{}",
                u.scheme_str().unwrap_or("https"),
                u.authority().map_or("", |a| a.as_str()),
                u.path().trim_end_matches('/'),
                u.query().map(|q| format!("?{q}")).unwrap_or_default()
            );
            (
                Method::POST,
                parse_http_uri(&url).map_err(|e| bad_hang_up(&url, e))?,
            )
        }
        Signal::Whip | Signal::Pipecat => (Method::DELETE, resource_uri),
    };
    let offer = parse_http_uri(offer_url).map_err(|e| bad_url("signalling", offer_url, e))?;
    Ok(Some(HangUp {
        same_origin: origin(&offer) == origin(&uri),
        method,
        uri,
    }))
}

/// `url` (shown redacted) failed to parse; the reason alone, as the
/// target error's own message would repeat the URL.
fn bad_url(what: &'static str, url: &str, e: TargetError) -> SignalError {
    SignalError::BadUrl {
        what,
        url: redact_url(url).into_owned(),
        reason: match e {
            TargetError::BadUrl { reason, .. } => reason,
            other => other.to_string(),
        },
    }
}

/// Scheme, host (case-folded) and port (the scheme's default if unsaid).
fn origin(uri: &Uri) -> (Option<&str>, Option<String>, Option<u16>) {
    let scheme = uri.scheme_str();
    let port = uri.port_u16().or(match scheme {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    });
    (scheme, uri.host().map(str::to_ascii_lowercase), port)
}

fn request(
    method: Method,
    uri: &Uri,
    headers: &[(HeaderName, HeaderValue)],
    body: Option<(&'static str, Vec<u8>)>,
) -> Request<Full<Bytes>> {
    let (content_type, body) = match body {
        Some((t, b)) => (Some(t), Bytes::from(b)),
        None => (None, Bytes::new()),
    };
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = method;
    *req.uri_mut() = uri.clone();
    let h = req.headers_mut();
    if let Some(t) = content_type {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(t));
    }
    for (name, value) in headers {
        h.append(name.clone(), value.clone());
    }
    req
}

/// `fut`, or [`SignalError::Timeout`] naming `what` and `url` after `timeout`.
async fn within<T>(
    timeout: Duration,
    what: &'static str,
    url: &str,
    fut: impl std::future::Future<Output = Result<T, SignalError>>,
) -> Result<T, SignalError> {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| {
            Err(SignalError::Timeout {
                what,
                url: url.to_string(),
                timeout,
            })
        })
}

fn request_error(what: &'static str, url: &str, e: ProtocolError) -> SignalError {
    SignalError::Request {
        what,
        url: url.to_string(),
        kind: e.kind,
        detail: e.detail,
    }
}

/// A `Location` value made absolute against the URL it answered (RFC 3986
/// §5.2 for the forms servers send: absolute, `//host/path`, `/path`,
/// `path`, `?query`).
fn resolve(base: &Uri, location: &str) -> String {
    // A scheme is letters first, then letters, digits, `+`, `-` or `.`,
    // in any case.
    let has_scheme = location.split_once(':').is_some_and(|(s, _)| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if has_scheme {
        return location.to_string();
    }
    let scheme = base.scheme_str().unwrap_or("http");
    if location.starts_with("//") {
        return format!("{scheme}:{location}");
    }
    let authority = base.authority().map_or("", |a| a.as_str());
    let path = base.path();
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    if location.starts_with('?') {
        return format!("{scheme}://{authority}{path}{location}");
    }
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    format!("{scheme}://{authority}{dir}{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_offer_url() {
        let base: Uri = "http://127.0.0.1:9/whip/endpoint?x=1".parse().expect("uri");
        assert_eq!(
            resolve(&base, "/whip/session/7"),
            "http://127.0.0.1:9/whip/session/7"
        );
        assert_eq!(
            resolve(&base, "session/7"),
            "http://127.0.0.1:9/whip/session/7"
        );
        assert_eq!(resolve(&base, "https://x.test/s/1"), "https://x.test/s/1");
        assert_eq!(resolve(&base, "HTTPS://X.test/s/1"), "HTTPS://X.test/s/1");
        assert_eq!(
            resolve(&base, "//other.test:8/s/1"),
            "http://other.test:8/s/1",
            "scheme-relative: another host"
        );
        assert_eq!(
            resolve(&base, "?session=7"),
            "http://127.0.0.1:9/whip/endpoint?session=7"
        );
    }

    /// Whether a WHIP session at `resource`, offered to `offer`, gets the
    /// caller's headers with its hang-up.
    fn same_server(offer: &str, resource: &str) -> bool {
        hang_up_request(&answered(Signal::Whip, resource), offer)
            .expect("parses")
            .expect("WHIP hangs up")
            .same_origin
    }

    #[test]
    fn only_the_offers_own_server_gets_the_headers() {
        let same = |resource| same_server("https://api.example.test/v1/realtime/calls", resource);
        // Userinfo is not the host: this is evil.example.test.
        assert!(!same("https://api.example.test@evil.example.test/s/1"));
        assert!(!same("https://api.example.test:x@evil.example.test/s/1"));
        // Case does not make another server.
        assert!(same("HTTPS://API.EXAMPLE.TEST/s/1"));
        let same6 = |resource| same_server("http://[::1]:8080/whip", resource);
        assert!(same6("http://[::1]:8080/whip/session/1"));
        assert!(!same6("http://[::1]/whip/session/1"), "port 80 is another");
        assert!(!same6("http://[::2]:8080/whip/session/1"));
    }

    #[test]
    fn a_bad_hang_up_url_says_whose_it_is_once() {
        let e = hang_up_request(
            &answered(Signal::Whip, "ftp://127.0.0.1/s?token=sk-9"),
            "http://127.0.0.1:9/whip",
        )
        .expect_err("not http");
        let s = e.to_string();
        assert!(s.starts_with("invalid hang-up URL '"), "{s}");
        assert_eq!(s.matches("127.0.0.1").count(), 1, "URL said once: {s}");
        assert!(!s.contains("sk-9"), "redacted: {s}");
        assert_eq!(e.kind(), ErrorKind::Connect);
    }

    fn answered(signal: Signal, resource: &str) -> Answer {
        Answer {
            sdp: "v=0".into(),
            pc_id: None,
            resource: Some(resource.into()),
            signal,
            at: Instant::now(),
        }
    }

    #[test]
    fn hang_ups_keep_the_query_and_the_key_stays_with_its_server() {
        let offer = "https://api.example.test/v1/realtime/calls";
        let call = |resource: &str| {
            hang_up_request(&answered(Signal::OpenAi, resource), offer)
                .expect("a request")
                .expect("OpenAI hangs up")
        };
        let h = call("https://api.example.test/v1/realtime/calls/rtc_1?x=1");
        assert_eq!(h.method, Method::POST);
        assert_eq!(
            h.uri.to_string(),
            "https://api.example.test/v1/realtime/calls/rtc_1/hangup?x=1"
        );
        assert!(h.same_origin);
        // The default port said or not, the host in any case: one server.
        let h = call("https://API.example.test:443/v1/realtime/calls/rtc_1/");
        assert_eq!(h.uri.path(), "/v1/realtime/calls/rtc_1/hangup", "one slash");
        assert!(h.same_origin);
        // Another host, another port, another scheme: no headers go.
        for other in [
            "https://evil.example.test/v1/realtime/calls/rtc_1",
            "https://api.example.test:8443/v1/realtime/calls/rtc_1",
            "http://api.example.test/v1/realtime/calls/rtc_1",
        ] {
            assert!(!call(other).same_origin, "{other}");
        }
        let whip = hang_up_request(
            &answered(Signal::Whip, "http://127.0.0.1:9/whip/session/7"),
            "http://127.0.0.1:9/whip",
        )
        .expect("ok")
        .expect("WHIP hangs up");
        assert_eq!(whip.method, Method::DELETE);
        assert_eq!(whip.uri.to_string(), "http://127.0.0.1:9/whip/session/7");
        assert!(whip.same_origin);
        let mut pipecat = answered(Signal::Pipecat, "x");
        pipecat.resource = None;
        assert_eq!(hang_up_request(&pipecat, offer), Ok(None));
    }

    #[test]
    fn errors_name_the_redacted_url_and_status() {
        let e = SignalError::Status {
            what: "offer to",
            url: redact_url("http://u:secret@127.0.0.1:9/api/offer?token=abc").into_owned(),
            status: 404,
            expected: "2xx",
            said: String::new(),
        };
        let s = e.to_string();
        assert!(s.ends_with("HTTP 404 (expected 2xx)"), "{s}");
        assert!(!s.contains("secret") && !s.contains("abc"), "{s}");
        assert_eq!(e.kind(), ErrorKind::Http(404));
    }
}
