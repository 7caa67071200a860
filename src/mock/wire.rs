//! The mock's connections, and the one fault hyper cannot make itself: a
//! bad chunk size line (`bad_chunk`).
//!
//! hyper frames every chunked body correctly, so the fault is made on the
//! wire: a connection watches what hyper writes for the head of a response
//! marked `x-mock-fault: bad_chunk` and turns the first byte after that
//! head (the first digit of the first chunk size) into `z`. Only when the
//! model has the fault at all; otherwise writes go straight to the socket.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The head line that marks a response for corruption (hyper writes header
/// names in lower case, as the handler gives them).
const MARKER: &[u8] = b"x-mock-fault: bad_chunk\r\n";
/// What the first chunk-size digit becomes.
const BAD_DIGIT: u8 = b'z';

/// Accepts TCP connections with `TCP_NODELAY` and, when `bad_chunk` is on,
/// wraps them to corrupt marked responses.
pub(crate) struct MockListener {
    inner: TcpListener,
    bad_chunk: bool,
}

impl MockListener {
    pub(crate) fn new(inner: TcpListener, bad_chunk: bool) -> Self {
        Self { inner, bad_chunk }
    }
}

impl Listener for MockListener {
    type Io = MockIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (tcp, addr) = Listener::accept(&mut self.inner).await;
        // Without TCP_NODELAY a body frame written after the headers waits for
        // the client's delayed ACK (~40 ms on Linux): every response would gain
        // ~40 ms the model never asked for.
        let _ = tcp.set_nodelay(true);
        let scan = self.bad_chunk.then(Scan::default);
        (MockIo { tcp, scan }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// One accepted connection.
pub(crate) struct MockIo {
    tcp: TcpStream,
    /// `None`: the fault is off and bytes pass untouched.
    scan: Option<Scan>,
}

/// Where the watch over the written bytes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Scan {
    /// Looking for [`MARKER`]; this many of its bytes matched so far.
    #[default]
    Marker,
    Matched(usize),
    /// In a marked head; this many bytes of the final `\r\n\r\n` seen.
    HeadEnd(usize),
    /// The next byte written is the one to corrupt.
    Corrupt,
}

impl Scan {
    /// The state after `b` was written.
    fn after(self, b: u8) -> Scan {
        const END: &[u8] = b"\r\n\r\n";
        match self {
            Scan::Marker | Scan::Matched(_) => {
                let n = match self {
                    Scan::Matched(n) => n,
                    _ => 0,
                };
                // The marker's first byte occurs nowhere else in it, so a
                // mismatch restarts at that byte alone.
                let n = if MARKER[n] == b {
                    n + 1
                } else {
                    usize::from(MARKER[0] == b)
                };
                match n {
                    // The marker's own `\r\n` is half of the head's end.
                    n if n == MARKER.len() => Scan::HeadEnd(2),
                    0 => Scan::Marker,
                    n => Scan::Matched(n),
                }
            }
            Scan::HeadEnd(n) => {
                let n = if END[n] == b {
                    n + 1
                } else {
                    usize::from(b == b'\r')
                };
                if n == END.len() {
                    Scan::Corrupt
                } else {
                    Scan::HeadEnd(n)
                }
            }
            Scan::Corrupt => Scan::Marker,
        }
    }

    /// How many bytes of `buf` can be written before the one to corrupt
    /// (`buf.len()` if none is in it).
    fn clean_prefix(mut self, buf: &[u8]) -> usize {
        for (i, &b) in buf.iter().enumerate() {
            if self == Scan::Corrupt {
                return i;
            }
            self = self.after(b);
        }
        buf.len()
    }
}

impl AsyncRead for MockIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for MockIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(scan) = this.scan else {
            return Pin::new(&mut this.tcp).poll_write(cx, buf);
        };
        let (n, corrupted) = if scan == Scan::Corrupt && !buf.is_empty() {
            let n = std::task::ready!(Pin::new(&mut this.tcp).poll_write(cx, &[BAD_DIGIT]))?;
            (n, true)
        } else {
            let clean = scan.clean_prefix(buf);
            let n = std::task::ready!(Pin::new(&mut this.tcp).poll_write(cx, &buf[..clean]))?;
            (n, false)
        };
        let mut scan = scan;
        if corrupted {
            scan = if n == 1 { Scan::Marker } else { scan };
        } else {
            for &b in &buf[..n] {
                scan = scan.after(b);
            }
        }
        this.scan = Some(scan);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.scan {
            None => Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs),
            Some(_) => {
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &**b);
                Pin::new(this).poll_write(cx, first)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.scan.is_none() && self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes as the peer receives them, written in pieces of `step`.
    fn through(wire: &[u8], step: usize) -> Vec<u8> {
        let mut scan = Scan::default();
        let mut out = Vec::new();
        let mut rest = wire;
        while !rest.is_empty() {
            let piece = &rest[..step.min(rest.len())];
            if scan == Scan::Corrupt {
                out.push(BAD_DIGIT);
                scan = Scan::Marker;
                rest = &rest[1..];
                continue;
            }
            let n = scan.clean_prefix(piece);
            for &b in &piece[..n] {
                scan = scan.after(b);
            }
            out.extend_from_slice(&piece[..n]);
            rest = &rest[n..];
        }
        out
    }

    #[test]
    fn only_the_first_chunk_size_of_a_marked_response_is_corrupted() {
        let marked = b"HTTP/1.1 200 OK\r\nx-mock-fault: bad_chunk\r\nx: y\r\n\r\n12c\r\n";
        let plain = b"HTTP/1.1 200 OK\r\nx-mock-fault: reset\r\n\r\n12c\r\n";
        let at_end = b"HTTP/1.1 200 OK\r\nx-mock-fault: bad_chunk\r\n\r\n5\r\n";
        for step in [1, 2, 3, 7, 1000] {
            let mut want = marked.to_vec();
            let at = want.len() - 5;
            want[at] = b'z';
            assert_eq!(through(marked, step), want, "step {step}");
            assert_eq!(through(plain, step), plain.to_vec(), "step {step}");
            let mut want = at_end.to_vec();
            let at = want.len() - 3;
            want[at] = b'z';
            assert_eq!(through(at_end, step), want, "step {step}");
        }
    }
}
