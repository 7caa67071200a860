//! Reading an HTTP/1.1 response: the head in one pass, then the body by
//! `content-length`, chunked coding (decoded in place) or connection close.

use std::time::Instant;

use super::{Done, Failure, Head, Receiver};

/// The longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The most chunk-extension or trailer bytes accepted per chunk.
const MAX_CHUNK_META: usize = 16 * 1024;

/// How the body of a response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// `content-length`: this many bytes still to come.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked(Chunked),
    /// Neither: the body ends when the server closes the connection.
    UntilClose,
}

/// The response parser of one exchange.
#[derive(Debug)]
pub(super) struct Parser {
    /// `None` while the head is still arriving.
    body: Option<Framing>,
    /// A head split over several reads, so far (less than `max_head`
    /// bytes, plus at most one read while it is parsed).
    partial: Vec<u8>,
    keep_alive: bool,
    pub(super) answered: bool,
    /// The longest head accepted ([`MAX_HEAD`]; tests use less).
    max_head: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Self::with_max_head(MAX_HEAD)
    }
}

impl Parser {
    /// A parser that refuses heads longer than `max_head` bytes.
    pub(super) fn with_max_head(max_head: usize) -> Self {
        Self {
            body: None,
            partial: Vec::new(),
            keep_alive: false,
            answered: false,
            max_head,
        }
    }

    /// Take one read's bytes; `Some` once the response is complete.
    pub(super) fn feed<R: Receiver>(
        &mut self,
        data: &mut [u8],
        at: Instant,
        rx: &mut R,
    ) -> Result<Option<Done>, Failure> {
        self.answered = true;
        if self.partial.is_empty() {
            return self.heads_then_body(data, at, rx);
        }
        let mut buf = std::mem::take(&mut self.partial);
        buf.extend_from_slice(data);
        match self.next_head(&buf, at, rx)? {
            Some(end) => self.heads_then_body(&mut buf[end..], at, rx),
            None => {
                self.partial = buf;
                Ok(None)
            }
        }
    }

    /// Bytes that start at a head (or are body, once the final head is
    /// read): informational heads are skipped in a loop, so a read full of
    /// `100 Continue` heads costs no stack.
    fn heads_then_body<R: Receiver>(
        &mut self,
        mut data: &mut [u8],
        at: Instant,
        rx: &mut R,
    ) -> Result<Option<Done>, Failure> {
        loop {
            if self.body.is_some() {
                return self.body(data, at, rx);
            }
            if data.is_empty() {
                return Ok(None);
            }
            let Some(end) = self.next_head(data, at, rx)? else {
                // Shorter than `max_head`, or `next_head` would have failed.
                self.partial.extend_from_slice(data);
                return Ok(None);
            };
            data = &mut std::mem::take(&mut data)[end..];
        }
    }

    /// Parse the head at the start of `buf` and act on it: its length, or
    /// `None` while it is incomplete. Only its first `max_head` bytes are
    /// looked at, so the result is the same however the bytes were split.
    fn next_head<R: Receiver>(
        &mut self,
        buf: &[u8],
        at: Instant,
        rx: &mut R,
    ) -> Result<Option<usize>, Failure> {
        let window = &buf[..buf.len().min(self.max_head)];
        match parse_head(window).map_err(Failure::Malformed)? {
            Some((parsed, end)) => {
                self.head(parsed, &buf[..end], at, rx)?;
                Ok(Some(end))
            }
            None if buf.len() >= self.max_head => Err(Failure::Malformed(format!(
                "response head longer than {} bytes",
                self.max_head
            ))),
            None => Ok(None),
        }
    }

    /// A complete head: informational ones are skipped, the final one goes
    /// to `rx` and sets the body framing.
    fn head<R: Receiver>(
        &mut self,
        parsed: Parsed,
        raw: &[u8],
        at: Instant,
        rx: &mut R,
    ) -> Result<(), Failure> {
        match parsed.status {
            101 => Err(Failure::Malformed(
                "unexpected 101 Switching Protocols".into(),
            )),
            100..=199 => Ok(()),
            status => {
                rx.head(at, &Head { status, raw })
                    .map_err(Failure::Receiver)?;
                self.keep_alive = parsed.keep_alive;
                self.body = Some(parsed.framing);
                Ok(())
            }
        }
    }

    /// Body bytes of one read.
    fn body<R: Receiver>(
        &mut self,
        data: &mut [u8],
        at: Instant,
        rx: &mut R,
    ) -> Result<Option<Done>, Failure> {
        let (len, end) = match self.body.as_mut() {
            Some(Framing::Length(left)) => {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                *left -= take as u64;
                (take, (*left == 0).then_some(take))
            }
            Some(Framing::Chunked(c)) => c.decode(data).map_err(Failure::Malformed)?,
            Some(Framing::UntilClose) | None => (data.len(), None),
        };
        if len > 0 && !rx.data(at, &data[..len]).map_err(Failure::Receiver)? {
            return Ok(Some(Done {
                at,
                reusable: false,
            }));
        }
        Ok(end.map(|end| Done {
            at,
            // Bytes after the end of the response mean the connection is
            // out of step; never reuse it.
            reusable: self.keep_alive && end == data.len(),
        }))
    }

    /// The peer closed the connection.
    pub(super) fn eof(&self, at: Instant) -> Result<Done, Failure> {
        match self.body {
            Some(Framing::UntilClose) => Ok(Done {
                at,
                reusable: false,
            }),
            _ => Err(Failure::Read {
                error: None,
                answered: self.answered,
            }),
        }
    }
}

/// The lines of a head, line endings (`\r\n` or `\n`) removed.
pub(super) fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
}

pub(super) fn trim(b: &[u8]) -> &[u8] {
    let is_ws = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ws(c)).map_or(start, |i| i + 1);
    &b[start..end]
}

/// The first `\n` in `hay`.
fn find_lf(hay: &[u8]) -> Option<usize> {
    find_byte(hay, b'\n')
}

/// The first `needle` in `hay`, eight bytes at a time (heads are scanned
/// once per response, and this scan is most of a response's parsing cost).
pub(super) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let pattern = ONES * u64::from(needle);
    let mut words = hay.chunks_exact(8);
    for (i, word) in (&mut words).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        // A zero byte in `x` is a `needle` in `w`; the lowest flagged byte is exact.
        let x = u64::from_le_bytes(w) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGH;
        if found != 0 {
            return Some(i * 8 + (found.trailing_zeros() / 8) as usize);
        }
    }
    let done = hay.len() - words.remainder().len();
    words
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| done + p)
}

/// What a response head says about the status and the body.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Parsed {
    pub(super) status: u16,
    pub(super) framing: Framing,
    pub(super) keep_alive: bool,
}

/// Parse the head at the start of `buf` in one pass: `Ok(None)` until its
/// blank line has arrived, else the head and its length in bytes.
pub(super) fn parse_head(buf: &[u8]) -> Result<Option<(Parsed, usize)>, String> {
    let Some(lf) = find_lf(buf) else {
        return Ok(None);
    };
    let status_line = buf[..lf].strip_suffix(b"\r").unwrap_or(&buf[..lf]);
    let (minor, status) = parse_status_line(status_line).ok_or_else(|| {
        format!(
            "bad status line '{}'",
            String::from_utf8_lossy(&status_line[..status_line.len().min(60)])
        )
    })?;
    let mut f = Fields::default();
    let mut pos = lf + 1;
    let end = loop {
        let rest = &buf[pos..];
        match rest {
            [b'\n', ..] => break pos + 1,
            [b'\r', b'\n', ..] => break pos + 2,
            [] | [b'\r'] => return Ok(None),
            _ => {}
        }
        let Some(lf) = find_lf(rest) else {
            return Ok(None);
        };
        f.field(rest[..lf].strip_suffix(b"\r").unwrap_or(&rest[..lf]))?;
        pos += lf + 1;
    };
    let framing = match status {
        100..=199 | 204 | 304 => Framing::Length(0),
        _ if f.te && f.chunked => Framing::Chunked(Chunked::default()),
        _ if f.te => Framing::UntilClose,
        _ => f.length.map_or(Framing::UntilClose, Framing::Length),
    };
    let keep_alive = !f.close && (minor >= 1 || f.keep_alive) && framing != Framing::UntilClose;
    let parsed = Parsed {
        status,
        framing,
        keep_alive,
    };
    Ok(Some((parsed, end)))
}

/// What the header fields say about framing and keep-alive.
#[derive(Debug, Default)]
struct Fields {
    length: Option<u64>,
    te: bool,
    chunked: bool,
    close: bool,
    keep_alive: bool,
}

impl Fields {
    /// One `name: value` line: a name without whitespace, then `:`. Only
    /// the three framing fields are looked at beyond that.
    fn field(&mut self, line: &[u8]) -> Result<(), String> {
        // Obsolete line folding (a continuation line) is refused, as hyper does.
        if let Some(b' ' | b'\t') = line.first() {
            return Err("folded header line".into());
        }
        let colon = find_byte(line, b':').ok_or("header line without ':'")?;
        if colon == 0 || line[colon - 1].is_ascii_whitespace() {
            return Err("invalid header name".into());
        }
        // Every other field is skipped unread: only content-length,
        // connection and transfer-encoding are acted on.
        if !matches!(line[0], b'c' | b'C' | b't' | b'T') {
            return Ok(());
        }
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                for v in value.split(|&b| b == b',').map(trim) {
                    let n = parse_decimal(v).ok_or("invalid content-length")?;
                    if self.length.is_some_and(|l| l != n) {
                        return Err("conflicting content-length values".into());
                    }
                    self.length = Some(n);
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                self.te = true;
                self.chunked = value
                    .rsplit(|&b| b == b',')
                    .next()
                    .map(trim)
                    .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for t in value.split(|&b| b == b',').map(trim) {
                    self.close |= t.eq_ignore_ascii_case(b"close");
                    self.keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `HTTP/1.x NNN[ reason]` → (x, NNN).
fn parse_status_line(line: &[u8]) -> Option<(u8, u16)> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (&minor, rest) = rest.split_first()?;
    let rest = rest.strip_prefix(b" ")?;
    let code = rest.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || !matches!(rest.get(3), None | Some(b' ')) {
        return None;
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    // `then`, not `then_some`: the subtraction must wait for the digit check.
    (minor.is_ascii_digit() && status >= 100).then(|| (minor - b'0', status))
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Where a chunked body decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Reading the hex size.
    Size,
    /// Whitespace after the size.
    SizeWs,
    /// A chunk extension, up to the line end.
    Ext,
    /// Expecting the LF after a CR ending the size line.
    SizeLf,
    /// Data bytes still to come in this chunk.
    Data(u64),
    /// Expecting the CRLF after the data.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final blank line).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// Expecting the LF of the final blank line.
    EndLf,
    /// The body is complete.
    Done,
}

/// A `transfer-encoding: chunked` decoder that works in place, so the data
/// of one read ends up contiguous at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chunked {
    step: Step,
    size: u64,
    digits: u32,
    meta: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Self {
            step: Step::Size,
            size: 0,
            digits: 0,
            meta: 0,
        }
    }
}

impl Chunked {
    /// Decode `buf` in place: returns how many data bytes now start `buf`,
    /// and, when the body ended in it, how many bytes of `buf` it used.
    pub(super) fn decode(&mut self, buf: &mut [u8]) -> Result<(usize, Option<usize>), String> {
        let (mut r, mut w) = (0, 0);
        while r < buf.len() {
            if let Step::Data(left) = self.step {
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(buf.len() - r);
                buf.copy_within(r..r + take, w);
                r += take;
                w += take;
                let left = left - take as u64;
                self.step = if left == 0 {
                    Step::DataCr
                } else {
                    Step::Data(left)
                };
                continue;
            }
            self.step(buf[r])?;
            r += 1;
            if self.step == Step::Done {
                return Ok((w, Some(r)));
            }
        }
        Ok((w, None))
    }

    /// One framing byte.
    fn step(&mut self, b: u8) -> Result<(), String> {
        let size_line = |what: &str| Err(format!("bad chunk size line: {what}"));
        self.step = match (self.step, b) {
            (Step::Size, b) if b.is_ascii_hexdigit() => {
                if self.size > u64::MAX >> 4 {
                    return size_line("size does not fit in 64 bits");
                }
                let d = (b as char).to_digit(16).unwrap_or(0);
                self.size = self.size << 4 | u64::from(d);
                self.digits += 1;
                Step::Size
            }
            (Step::Size | Step::SizeWs, b' ' | b'\t') => Step::SizeWs,
            (Step::Size | Step::SizeWs, b';') => Step::Ext,
            (Step::Size | Step::SizeWs | Step::Ext, b'\r') => Step::SizeLf,
            (Step::Size | Step::SizeWs | Step::Ext | Step::SizeLf, b'\n') => {
                if self.digits == 0 {
                    return size_line("no hex digits");
                }
                if self.size == 0 {
                    Step::TrailerStart
                } else {
                    Step::Data(self.size)
                }
            }
            (Step::DataCr, b'\r') => Step::DataLf,
            (Step::DataCr | Step::DataLf, b'\n') => {
                *self = Self::default();
                Step::Size
            }
            (Step::TrailerStart, b'\r') => Step::EndLf,
            (Step::TrailerStart | Step::EndLf, b'\n') => Step::Done,
            (Step::Trailer, b'\n') => Step::TrailerStart,
            (Step::Ext | Step::TrailerStart | Step::Trailer, _) if self.meta >= MAX_CHUNK_META => {
                return Err(format!(
                    "chunk extension or trailer longer than {MAX_CHUNK_META} bytes"
                ));
            }
            (Step::Ext, _) => {
                self.meta += 1;
                Step::Ext
            }
            (Step::TrailerStart | Step::Trailer, _) => {
                self.meta += 1;
                Step::Trailer
            }
            (Step::DataCr | Step::DataLf, _) => {
                return Err("chunk data longer than its size line says".into())
            }
            (Step::EndLf, b) => return Err(format!("bad end of chunked body: byte {b:#04x}")),
            (_, b) => return size_line(&format!("unexpected byte {b:#04x}")),
        };
        Ok(())
    }
}

#[cfg(test)]
#[path = "parse_props.rs"]
mod props;
