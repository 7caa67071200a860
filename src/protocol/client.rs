//! The HTTP client: a shared keep-alive pool for open-loop arrivals, and
//! connections owned by one closed-loop user each (no pool lookups, the way
//! wrk and oha drive a server).
//!
//! Plain `http://` targets that send fixed requests (TTS) go through the
//! lean HTTP/1.1 client in [`h1`]; everything else (TLS, ASR uploads) goes
//! through hyper, with rustls for TLS.

pub mod h1;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::{Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_service::Service as _;

use super::{ErrorKind, ProtocolError};

/// A pooled HTTP/1.1 client for http:// and https:// targets. Cloning is
/// cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    connector: HttpsConnector<HttpConnector>,
    connect_timeout: Duration,
}

/// A connection owned by one closed-loop user. Its requests go out on it
/// one at a time, so no pool is consulted per request; it reconnects when
/// the server closes it.
#[derive(Debug, Default)]
pub struct OwnedConn {
    sender: Option<SendRequest<Full<Bytes>>>,
    h1: Option<h1::Conn>,
}

impl OwnedConn {
    /// Drop the connection (after an error the stream may be mid-response).
    pub fn reset(&mut self) {
        self.sender = None;
        self.h1 = None;
    }
}

/// Pooled idle connections unused this long are closed (as in hyper's pool).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// A plain-HTTP target of the lean client: where to connect, the request
/// head, and the idle connections of requests that own none (open loop,
/// `voxload sample`). Clones share the idle connections.
#[derive(Debug, Clone)]
pub struct H1Target {
    host: String,
    port: u16,
    head: h1::RequestHead,
    /// Idle connections, oldest first; reuse takes the newest.
    idle: Arc<Mutex<Vec<h1::Conn>>>,
}

impl H1Target {
    /// A POST target for `uri` with a body of `content_type` and extra
    /// `headers`; `None` unless `uri` is `http://` with a host.
    pub fn post(
        uri: &Uri,
        content_type: &HeaderValue,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Option<Self> {
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let authority = uri.authority()?;
        let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
        Some(Self {
            host: authority.host().to_string(),
            port: authority.port_u16().unwrap_or(80),
            head: h1::RequestHead::post(path, authority.as_str(), content_type, headers),
            idle: Arc::default(),
        })
    }

    fn checkout(&self) -> Option<h1::Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        std::iter::from_fn(|| idle.pop()).find(|c| !c.is_stale())
    }

    fn checkin(&self, conn: h1::Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cutoff) = conn.idle_since().checked_sub(POOL_IDLE) {
            let expired = idle.partition_point(|c| c.idle_since() < cutoff);
            idle.drain(..expired);
        }
        idle.push(conn);
    }
}

impl HttpClient {
    /// A client whose TCP connect gives up after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        // rustls is built with only the `aws-lc-rs` provider (the crypto
        // str0m's DTLS already links), which it then uses by default; no
        // process-wide provider needs installing.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector.clone());
        Self {
            inner,
            connector,
            connect_timeout,
        }
    }

    /// Send `body` to a plain-HTTP `target` with the lean client and read
    /// the answer into `rx`: on `conn` when the caller owns one (closed
    /// loop), else on a pooled connection. A request whose reused
    /// connection the server closed before answering (its keep-alive
    /// timeout) is sent once more on a new connection, as hyper's pool does.
    pub async fn exchange<R: h1::Receiver>(
        &self,
        target: &H1Target,
        mut conn: Option<&mut OwnedConn>,
        body: &[u8],
        rx: &mut R,
    ) -> Result<h1::Done, h1::Failure> {
        let held = match conn.as_deref_mut() {
            Some(owned) => owned.h1.take().filter(|c| !c.is_stale()),
            None => target.checkout(),
        };
        let mut c = match held {
            Some(c) => c,
            None => self.connect_h1(target).await?,
        };
        let mut result = h1::exchange(&mut c, &target.head, body, rx).await;
        if matches!(&result, Err(f) if c.is_reused() && f.before_response()) {
            c = self.connect_h1(target).await?;
            result = h1::exchange(&mut c, &target.head, body, rx).await;
        }
        if matches!(result, Ok(h1::Done { reusable: true, .. })) {
            match conn {
                Some(owned) => owned.h1 = Some(c),
                None => target.checkin(c),
            }
        }
        result
    }

    async fn connect_h1(&self, target: &H1Target) -> Result<h1::Conn, h1::Failure> {
        // Boxed: connecting is rare, and its future would otherwise be part
        // of every request's.
        Box::pin(h1::Conn::connect(
            &target.host,
            target.port,
            self.connect_timeout,
        ))
        .await
        .map_err(h1::Failure::Connect)
    }

    /// Send a request through the pool; resolves when the response head has arrived.
    pub async fn request(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, ProtocolError> {
        self.inner.request(req).await.map_err(classify_pool_error)
    }

    /// Send a request on `conn`, connecting it first if needed. `req` has
    /// an absolute URI; it is sent in origin form with a Host header.
    pub async fn request_owned(
        &self,
        conn: &mut OwnedConn,
        mut req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, ProtocolError> {
        let uri = req.uri().clone();
        if let Some(authority) = uri.authority() {
            if let Ok(host) = hyper::header::HeaderValue::from_str(authority.as_str()) {
                req.headers_mut().entry(HOST).or_insert(host);
            }
        }
        if let Some(pq) = uri.path_and_query() {
            if let Ok(origin) = Uri::builder().path_and_query(pq.clone()).build() {
                *req.uri_mut() = origin;
            }
        }
        let reused = conn.sender.as_ref().is_some_and(|s| !s.is_closed());
        if !reused {
            conn.sender = Some(self.connect(&uri).await?);
        }
        // The pool retries a request the server refused on a reused
        // connection it was closing; do the same, once.
        let retry = reused.then(|| clone_request(&req));
        let first = match conn.sender.as_mut() {
            Some(sender) => send_on(sender, req).await,
            None => return Err(ProtocolError::new(ErrorKind::Connect, "not connected")),
        };
        match (first, retry) {
            (Err(e), Some(again)) if e.is_canceled() => {
                let mut sender = self.connect(&uri).await?;
                let result = send_on(&mut sender, again).await;
                conn.sender = Some(sender);
                result.map_err(|e| request_error(conn, e))
            }
            (result, _) => result.map_err(|e| request_error(conn, e)),
        }
    }

    async fn connect(&self, uri: &Uri) -> Result<SendRequest<Full<Bytes>>, ProtocolError> {
        let io = self
            .connector
            .clone()
            .call(uri.clone())
            .await
            .map_err(|e| ProtocolError::new(ErrorKind::Connect, chain(&*e)))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| ProtocolError::new(ErrorKind::Connect, chain(&e)))?;
        // The connection task ends when the sender is dropped or the peer closes.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// Wait until the connection can take a request, then send it.
async fn send_on(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, hyper::Error> {
    sender.ready().await?;
    sender.send_request(req).await
}

fn clone_request(req: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut r = Request::new(req.body().clone());
    *r.method_mut() = req.method().clone();
    *r.uri_mut() = req.uri().clone();
    *r.headers_mut() = req.headers().clone();
    r
}

fn request_error(conn: &mut OwnedConn, e: hyper::Error) -> ProtocolError {
    conn.reset();
    hyper_failure(&e)
}

/// A failure hyper reported (of a request or of reading its body), in its
/// class and with its causes as the detail.
pub fn hyper_failure(e: &hyper::Error) -> ProtocolError {
    ProtocolError::new(hyper_error_kind(e), chain(e))
}

/// The class of a failure hyper reports, for a request or its body: a
/// response it could not parse (head, a head over its limit, a bad chunk
/// size line) is [`ErrorKind::Protocol`], as in the lean client; a timeout
/// is a timeout; anything else ended the exchange early.
fn hyper_error_kind(e: &hyper::Error) -> ErrorKind {
    if e.is_parse() {
        return ErrorKind::Protocol;
    }
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    // Body framing errors come as an I/O error of these kinds inside.
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
            ) {
                return ErrorKind::Protocol;
            }
        }
        src = s.source();
    }
    ErrorKind::Reset
}

/// An error and its sources, as one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut detail = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        detail = format!("{detail}: {s}");
        src = s.source();
    }
    detail
}

/// Classify a pooled request's failure to get a response head.
fn classify_pool_error(e: hyper_util::client::legacy::Error) -> ProtocolError {
    let kind = if e.is_connect() {
        ErrorKind::Connect
    } else {
        std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<hyper::Error>())
            .map_or(ErrorKind::Reset, hyper_error_kind)
    };
    ProtocolError::new(kind, chain(&e))
}
