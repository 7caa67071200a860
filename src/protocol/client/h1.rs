//! A lean HTTP/1.1 client for plain-TCP (`http://`) targets.
//!
//! Why not hyper here: a load generator sends one request shape over and
//! over and reads one answer at a time per connection. hyper's client
//! connection costs, per request, a hop to its connection task and back,
//! a header map built and dropped for the request and for the response, and
//! per connection a task plus 8 KiB read and 8 KiB write buffers (measured
//! in BENCHMARKS.md: about half of voxload's CPU per request, and most of
//! its memory per open stream). Here the request head is built once, each
//! request is one `writev`, and the answer is read by the requesting task
//! itself through one read buffer per thread, so an idle or waiting
//! connection holds no buffer at all. TLS targets stay on hyper.
//!
//! A transport read is one `read` into that [`READ_BUF`]-byte buffer. The
//! body bytes it carries (chunked framing removed) reach the [`Receiver`] as
//! one piece, so for raw audio bodies "a chunk is one transport read" holds
//! exactly, whatever the server's HTTP chunking.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::protocol::{ErrorKind, ProtocolError};

mod parse;

use parse::{lines, trim, Parser};

/// Bytes of the per-thread read buffer: the largest single transport read.
/// Larger than hyper's initial 8 KiB, so a typical audio chunk is never split.
pub const READ_BUF: usize = 64 * 1024;

thread_local! {
    /// Every read of this thread goes here and is handed on before the task
    /// yields, so no connection keeps a buffer between reads.
    static READ: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUF].into_boxed_slice());
}

/// A request head sent before every body: the request line and headers up
/// to `content-length: `. The length and the blank line follow per request.
#[derive(Debug, Clone)]
pub struct RequestHead {
    prefix: Bytes,
}

impl RequestHead {
    /// `POST path_and_query` with a Host header (unless `headers` has
    /// one), `content-type: content_type` (unless `headers` has one: a
    /// user's header replaces the default, never doubles it) and the extra
    /// `headers`, in the order hyper writes them. Framing headers in
    /// `headers` are left out: every request carries its own exact
    /// `content-length`.
    pub fn post(
        path_and_query: &str,
        host: &str,
        content_type: &HeaderValue,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Self {
        let mut p = Vec::with_capacity(128);
        p.extend_from_slice(b"POST ");
        p.extend_from_slice(path_and_query.as_bytes());
        p.extend_from_slice(b" HTTP/1.1\r\n");
        let mut has_host = false;
        for (n, v) in crate::protocol::target::with_content_type(headers, content_type) {
            if n == hyper::header::CONTENT_LENGTH || n == hyper::header::TRANSFER_ENCODING {
                continue;
            }
            has_host |= n == hyper::header::HOST;
            p.extend_from_slice(n.as_str().as_bytes());
            p.extend_from_slice(b": ");
            p.extend_from_slice(v.as_bytes());
            p.extend_from_slice(b"\r\n");
        }
        if !has_host {
            p.extend_from_slice(b"host: ");
            p.extend_from_slice(host.as_bytes());
            p.extend_from_slice(b"\r\n");
        }
        p.extend_from_slice(b"content-length: ");
        Self {
            prefix: Bytes::from(p),
        }
    }
}

/// One keep-alive TCP connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    /// Responses completed on it (0: fresh).
    answered: u64,
    /// When it last became idle.
    idle_since: Instant,
}

impl Conn {
    /// Connect to `host:port` (an IP literal or a name resolved now), with
    /// Nagle off, giving up after `timeout` per address.
    pub async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self, ProtocolError> {
        let fail = |what: String| ProtocolError::new(ErrorKind::Connect, what);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![(ip, port).into()],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| fail(format!("dns error: {e}")))?
                .collect(),
        };
        let mut last = fail(format!("dns error: no address for {host}"));
        for addr in addrs {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    stream
                        .set_nodelay(true)
                        .map_err(|e| fail(format!("tcp connect error: {e}")))?;
                    return Ok(Self {
                        stream,
                        answered: 0,
                        idle_since: Instant::now(),
                    });
                }
                Ok(Err(e)) => last = fail(format!("tcp connect error: {e}")),
                Err(_) => {
                    last = fail(format!(
                        "tcp connect error: no answer within {}",
                        humantime::format_duration(timeout)
                    ))
                }
            }
        }
        Err(last)
    }

    /// Whether it carried a response before.
    pub fn is_reused(&self) -> bool {
        self.answered > 0
    }

    /// When it last became idle.
    pub fn idle_since(&self) -> Instant {
        self.idle_since
    }

    /// Whether an idle connection is unusable: the peer closed it, or sent
    /// bytes nobody asked for. Free when nothing arrived: tokio answers
    /// from its readiness state without a syscall.
    pub fn is_stale(&self) -> bool {
        let mut byte = [0u8; 1];
        !matches!(self.stream.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// Where a response goes as it arrives. Called synchronously from the read
/// that brought the bytes.
pub trait Receiver {
    /// The final response head (informational 1xx heads are skipped) was
    /// read at `at`.
    fn head(&mut self, at: Instant, head: &Head<'_>) -> Result<(), ProtocolError>;
    /// Body bytes of one transport read made at `at`, framing removed.
    /// `Ok(false)` stops reading; the connection is then closed.
    fn data(&mut self, at: Instant, data: &[u8]) -> Result<bool, ProtocolError>;
    /// Stop reading the body at this instant (asked after each head).
    fn deadline(&self) -> Option<Instant> {
        None
    }
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head<'a> {
    /// HTTP status code.
    pub status: u16,
    /// The raw head, status line first.
    raw: &'a [u8],
}

impl<'a> Head<'a> {
    /// Header fields as received, `(name, value)` with whitespace trimmed.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        lines(self.raw).skip(1).filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some((&line[..colon], trim(&line[colon + 1..])))
        })
    }
}

/// A response read to its end.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    /// When its last byte was read (or reading stopped).
    pub at: Instant,
    /// The connection may carry another request.
    pub reusable: bool,
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum Failure {
    /// No connection could be made.
    Connect(ProtocolError),
    /// Writing the request failed.
    Write(io::Error),
    /// Reading failed, or the peer closed before the response was complete.
    Read {
        /// The error; `None` for a close.
        error: Option<io::Error>,
        /// Whether any response byte had arrived.
        answered: bool,
    },
    /// The response is not valid HTTP/1.1 or breaks a size limit
    /// (counted as [`ErrorKind::Protocol`]).
    Malformed(String),
    /// The receiver rejected what arrived.
    Receiver(ProtocolError),
}

impl Failure {
    /// Whether the server may never have seen the request: it closed the
    /// connection (e.g. at its keep-alive timeout) before answering. Only
    /// then is a request on a reused connection retried, as hyper does.
    pub fn before_response(&self) -> bool {
        match self {
            Failure::Write(_) => true,
            Failure::Read { answered, .. } => !answered,
            _ => false,
        }
    }

    /// The error to count.
    pub fn into_error(self) -> ProtocolError {
        match self {
            Failure::Connect(e) | Failure::Receiver(e) => e,
            Failure::Write(e) => ProtocolError::new(ErrorKind::Reset, format!("write error: {e}")),
            Failure::Read { error: Some(e), .. } => {
                ProtocolError::new(ErrorKind::Reset, format!("read error: {e}"))
            }
            Failure::Read {
                error: None,
                answered,
            } => ProtocolError::new(
                ErrorKind::Reset,
                if answered {
                    "connection closed before the response was complete"
                } else {
                    "connection closed before a response"
                },
            ),
            Failure::Malformed(what) => ProtocolError::new(
                ErrorKind::Protocol,
                format!("invalid HTTP response: {what}"),
            ),
        }
    }
}

/// Send `body` with `head` on `conn` and read the response into `rx`.
pub async fn exchange<R: Receiver>(
    conn: &mut Conn,
    head: &RequestHead,
    body: &[u8],
    rx: &mut R,
) -> Result<Done, Failure> {
    let mut len = itoa::Buffer::new();
    let mut parts = [
        IoSlice::new(&head.prefix),
        IoSlice::new(len.format(body.len()).as_bytes()),
        IoSlice::new(b"\r\n\r\n"),
        IoSlice::new(body),
    ];
    let mut rest: &mut [IoSlice<'_>] = &mut parts;
    while !rest.is_empty() {
        let n = conn
            .stream
            .write_vectored(rest)
            .await
            .map_err(Failure::Write)?;
        if n == 0 {
            return Err(Failure::Write(io::ErrorKind::WriteZero.into()));
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    let mut parser = Parser::default();
    let mut stop: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let done = poll_fn(|cx| {
        if let Poll::Ready(result) = read_some(&mut conn.stream, &mut parser, rx, cx) {
            return Poll::Ready(result);
        }
        if let Some(at) = rx.deadline() {
            let sleep = stop.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at.into())));
            if sleep.as_mut().poll(cx).is_ready() {
                let at = Instant::now();
                return Poll::Ready(Ok(Done {
                    at,
                    reusable: false,
                }));
            }
        }
        Poll::Pending
    })
    .await?;
    conn.answered += 1;
    conn.idle_since = done.at;
    Ok(done)
}

/// Read and hand on whatever is available, until the response ends or the
/// socket has nothing more for now.
fn read_some<R: Receiver>(
    stream: &mut TcpStream,
    parser: &mut Parser,
    rx: &mut R,
    cx: &mut Context<'_>,
) -> Poll<Result<Done, Failure>> {
    READ.with(|cell| {
        let mut buf = cell.borrow_mut();
        loop {
            let mut rb = ReadBuf::new(&mut buf[..]);
            // A read that does not fill the buffer tells tokio the socket is
            // drained, so the next poll waits without a syscall.
            let read = ready!(Pin::new(&mut *stream).poll_read(cx, &mut rb));
            let at = Instant::now();
            let n = rb.filled().len();
            if let Err(error) = read {
                return Poll::Ready(Err(Failure::Read {
                    error: Some(error),
                    answered: parser.answered,
                }));
            }
            if n == 0 {
                return Poll::Ready(parser.eof(at));
            }
            if let Some(done) = parser.feed(&mut buf[..n], at, rx)? {
                return Poll::Ready(Ok(done));
            }
        }
    })
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
