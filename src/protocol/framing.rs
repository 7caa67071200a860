//! Streamed bodies cut into messages: SSE events (ended by a blank line) or
//! NDJSON lines, whatever transport reads they arrive in.
//!
//! Bytes are searched once: a read is appended and only the new bytes (and
//! the two before them, where a boundary may have begun) are scanned, so a
//! long message that comes in many reads costs its length, not its length
//! times the number of reads. A message longer than [`MAX_MESSAGE`] is an
//! [`ErrorKind::Protocol`] failure as soon as it is known to be one, so a
//! server that never ends its message cannot grow memory without bound.

use bytes::{Bytes, BytesMut};

use super::{ErrorKind, ProtocolError};

/// The longest SSE event or NDJSON line accepted (separator not included):
/// 16 MiB, the WebSocket message limit's default, and over a minute of
/// 24 kHz 16-bit audio as base64 for a vendor that sends a whole answer in
/// one message.
pub const MAX_MESSAGE: usize = 16 << 20;

/// How messages are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// SSE: an event ends at an empty line; lines end in `\n` or `\r\n`.
    BlankLine,
    /// NDJSON: a message is one line, ended by `\n`.
    Newline,
}

impl Separator {
    fn name(self) -> &'static str {
        match self {
            Separator::BlankLine => "SSE event",
            Separator::Newline => "NDJSON line",
        }
    }
}

/// Cuts one body into messages. See the module docs.
#[derive(Debug)]
pub struct Splitter {
    sep: Separator,
    /// Bytes after the last complete message.
    buf: BytesMut,
    /// `buf[..scanned]` holds no separator start that is complete.
    scanned: usize,
    limit: usize,
}

impl Splitter {
    /// A splitter for `sep` with the [`MAX_MESSAGE`] limit.
    pub fn new(sep: Separator) -> Self {
        Self::with_limit(sep, MAX_MESSAGE)
    }

    /// A splitter whose messages may be at most `limit` bytes (tests use
    /// small limits).
    pub fn with_limit(sep: Separator, limit: usize) -> Self {
        Self {
            sep,
            buf: BytesMut::new(),
            scanned: 0,
            limit,
        }
    }

    /// Append one read's bytes.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete message, separator removed (an SSE event keeps its
    /// lines' `\r`, which [`sse_data`] drops); `Ok(None)` until one is
    /// complete. Fails once the message being read is longer than the limit.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, ProtocolError> {
        let Some((end, sep_len)) = self.find() else {
            // At most this many bytes of separator can follow a message
            // that is still within the limit.
            let slack = match self.sep {
                Separator::BlankLine => 2,
                Separator::Newline => 0,
            };
            if self.buf.len() > self.limit + slack {
                return Err(self.too_long());
            }
            return Ok(None);
        };
        if end > self.limit {
            return Err(self.too_long());
        }
        let msg = self.buf.split_to(end + sep_len).freeze();
        self.scanned = 0;
        Ok(Some(msg.slice(..end)))
    }

    /// What is left after the last complete message: the last message of a
    /// body that did not end with a separator.
    pub fn finish(&mut self) -> Result<Bytes, ProtocolError> {
        let rest = std::mem::take(&mut self.buf).freeze();
        self.scanned = 0;
        // The start of a separator that never completed is not message.
        let len = [&b"\n\r"[..], b"\n"]
            .iter()
            .find(|tail| rest.ends_with(tail))
            .map_or(rest.len(), |tail| rest.len() - tail.len());
        if len > self.limit {
            return Err(self.too_long());
        }
        Ok(rest.slice(..len))
    }

    /// The first complete separator: where the message ends and how long
    /// the separator is. Remembers how far the search got.
    fn find(&mut self) -> Option<(usize, usize)> {
        let buf = &self.buf[..];
        let mut from = self.scanned;
        while let Some(i) = memchr::memchr(b'\n', &buf[from..]).map(|p| from + p) {
            match self.sep {
                Separator::Newline => return Some((i, 1)),
                Separator::BlankLine => match (buf.get(i + 1), buf.get(i + 2)) {
                    (Some(b'\n'), _) => return Some((i, 2)),
                    (Some(b'\r'), Some(b'\n')) => return Some((i, 3)),
                    // The line after it is still arriving.
                    (None, _) | (Some(b'\r'), None) => {
                        self.scanned = i;
                        return None;
                    }
                    _ => from = i + 1,
                },
            }
        }
        self.scanned = buf.len();
        None
    }

    fn too_long(&self) -> ProtocolError {
        ProtocolError::new(
            ErrorKind::Protocol,
            format!("{} longer than {} bytes", self.sep.name(), self.limit),
        )
    }
}

/// The concatenated `data:` lines of one SSE event.
pub fn sse_data(event: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            if !out.is_empty() {
                out.push(b'\n');
            }
            out.extend_from_slice(rest.strip_prefix(b" ").unwrap_or(rest));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(sep: Separator, limit: usize, reads: &[&[u8]]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        let mut s = Splitter::with_limit(sep, limit);
        let mut out = Vec::new();
        for r in reads {
            s.extend(r);
            while let Some(m) = s.next_message()? {
                out.push(m.to_vec());
            }
        }
        out.push(s.finish()?.to_vec());
        Ok(out)
    }

    #[test]
    fn sse_events_end_at_a_blank_line_of_either_ending() {
        let got = all(
            Separator::BlankLine,
            100,
            &[b"data: a\n\ndata: b\r\n\r", b"\ndata: c\n\r\nda", b"ta: d"],
        )
        .expect("valid");
        assert_eq!(got, [&b"data: a"[..], b"data: b\r", b"data: c", b"data: d"]);
        assert_eq!(sse_data(b"event: x\ndata: {\"a\":1}\r\n"), b"{\"a\":1}");
        assert_eq!(sse_data(b"data: a\ndata: b"), b"a\nb");
    }

    #[test]
    fn a_message_over_the_limit_is_a_protocol_error() {
        // 8 bytes fit, 9 do not, whether the separator is in the same read or not.
        assert!(all(Separator::Newline, 8, &[b"12345678\n"]).is_ok());
        assert!(all(Separator::Newline, 8, &[b"12345678", b"\n"]).is_ok());
        assert!(all(Separator::BlankLine, 8, &[b"1234567\r", b"\n\r", b"\n"]).is_ok());
        assert!(all(Separator::BlankLine, 8, &[b"12345678\n\r"]).is_ok());
        for reads in [
            &[&b"123456789\n"[..]][..],
            &[b"123456789"],
            &[b"1234", b"56789"],
        ] {
            let e = all(Separator::Newline, 8, reads).expect_err("too long");
            assert_eq!(e.kind, ErrorKind::Protocol);
            assert_eq!(e.detail, "NDJSON line longer than 8 bytes");
        }
        let e = all(Separator::BlankLine, 8, &[b"data: 123\n\n"]).expect_err("too long");
        assert_eq!(e.detail, "SSE event longer than 8 bytes");
    }
}

#[cfg(test)]
#[path = "framing_props.rs"]
mod props;
