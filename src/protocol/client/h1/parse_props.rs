//! Property tests of the response reader: random valid responses, the same
//! responses mutated and truncated, and arbitrary bytes, each fed whole,
//! split at every byte boundary and cut into random pieces.
//!
//! What must hold: no panic; the same outcome however the bytes are split
//! (status, body and completion, or the same error); a valid response reads
//! back exactly as it was built; the buffered partial head stays under the
//! head limit; every failure is a classified error. Case counts (proptest's
//! default is 256) are set per property below so the whole file runs in a
//! few seconds in a debug build: 128 valid responses and 256 mutated ones
//! (each split at every boundary), 256 with a line that is not a field,
//! 512 arbitrary inputs, 128 at a small head limit.

use std::time::Instant;

use proptest::prelude::*;

use super::super::{Done, Failure, Head, Receiver};
use super::Parser;
use crate::protocol::{ErrorKind, ProtocolError};

/// What the receiver was given.
#[derive(Debug, Default)]
struct Seen {
    status: Option<u16>,
    heads: usize,
    body: Vec<u8>,
}

impl Receiver for Seen {
    fn head(&mut self, _at: Instant, head: &Head<'_>) -> Result<(), ProtocolError> {
        self.status = Some(head.status);
        self.heads += 1;
        Ok(())
    }

    fn data(&mut self, _at: Instant, data: &[u8]) -> Result<bool, ProtocolError> {
        self.body.extend_from_slice(data);
        Ok(true)
    }
}

/// How an exchange ended, as far as a split cannot change it: a body cut
/// by an error is not compared (how much of it was handed over depends on
/// where the reads ended), nor whether a complete response had bytes after
/// it in its last read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done {
        status: Option<u16>,
        body: Vec<u8>,
    },
    Failed {
        status: Option<u16>,
        kind: ErrorKind,
        detail: String,
    },
}

/// Feed `wire` cut at `cuts` (sorted offsets), then the end of the stream.
fn read(wire: &[u8], cuts: &[usize], max_head: usize) -> (Outcome, Option<bool>) {
    let mut parser = Parser::with_max_head(max_head);
    let mut seen = Seen::default();
    let at = Instant::now();
    let mut from = 0;
    let bounds = cuts.iter().copied().chain([wire.len()]);
    let mut result: Option<Result<Done, Failure>> = None;
    for to in bounds {
        let to = to.clamp(from, wire.len());
        if to == from {
            continue;
        }
        let mut piece = wire[from..to].to_vec();
        from = to;
        match parser.feed(&mut piece, at, &mut seen) {
            Ok(Some(done)) => {
                result = Some(Ok(done));
                break;
            }
            Ok(None) => {
                assert!(
                    parser.partial.len() < max_head,
                    "a partial head of {} bytes is kept",
                    parser.partial.len()
                );
            }
            Err(f) => {
                result = Some(Err(f));
                break;
            }
        }
    }
    let result = result.unwrap_or_else(|| parser.eof(at));
    assert!(seen.heads <= 1, "one final head at most");
    match result {
        Ok(done) => (
            Outcome::Done {
                status: seen.status,
                body: seen.body,
            },
            Some(done.reusable),
        ),
        Err(f) => {
            let e = f.into_error();
            assert!(
                matches!(e.kind, ErrorKind::Protocol | ErrorKind::Reset),
                "{e:?}"
            );
            (
                Outcome::Failed {
                    status: seen.status,
                    kind: e.kind,
                    detail: e.detail,
                },
                None,
            )
        }
    }
}

/// `read` whole, split at every boundary and at `cuts`: all must agree.
fn same_however_split(wire: &[u8], cuts: &[usize], max_head: usize) -> (Outcome, Option<bool>) {
    let whole = read(wire, &[], max_head);
    for i in 1..wire.len() {
        let split = read(wire, &[i], max_head);
        assert_eq!(split.0, whole.0, "split at {i} of {}", wire.len());
    }
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
    assert_eq!(read(wire, &cuts, max_head).0, whole.0, "cuts {cuts:?}");
    let bytewise: Vec<usize> = (1..wire.len()).collect();
    assert_eq!(read(wire, &bytewise, max_head).0, whole.0, "byte by byte");
    whole
}

/// A valid response and what reading it must give.
#[derive(Debug, Clone)]
struct Built {
    wire: Vec<u8>,
    status: u16,
    body: Vec<u8>,
    reusable: bool,
    /// Where the final head starts, and its length.
    head_start: usize,
    head_len: usize,
}

#[derive(Debug, Clone)]
enum BodyKind {
    Length,
    /// Chunk lengths (the body is cut into them), hex in upper case,
    /// with an extension, with a trailer.
    Chunked(Vec<usize>, bool, bool, bool),
    UntilClose,
}

fn header_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,15}".prop_filter("not a framing field", |n| {
        let n = n.to_ascii_lowercase();
        n != "content-length" && n != "transfer-encoding" && n != "connection"
    })
}

fn response() -> impl Strategy<Value = Built> {
    (
        prop::collection::vec(prop::sample::select(vec![100u16, 102, 103]), 0..3),
        prop::sample::select(vec![200u16, 201, 206, 400, 404, 429, 500, 503]),
        any::<bool>(),
        prop::collection::vec((header_name(), "[ -~]{0,24}"), 0..6),
        prop::collection::vec(any::<u8>(), 0..300),
        prop_oneof![
            Just(BodyKind::Length),
            Just(BodyKind::UntilClose),
            (
                prop::collection::vec(1usize..80, 1..12),
                any::<bool>(),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(c, u, e, t)| BodyKind::Chunked(c, u, e, t)),
        ],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(informational, status, lf_only, headers, body, kind, close, http10)| {
                build(
                    informational,
                    status,
                    lf_only,
                    &headers,
                    body,
                    kind,
                    close,
                    http10,
                )
            },
        )
}

#[allow(clippy::too_many_arguments)]
fn build(
    informational: Vec<u16>,
    status: u16,
    lf_only: bool,
    headers: &[(String, String)],
    body: Vec<u8>,
    kind: BodyKind,
    close: bool,
    http10: bool,
) -> Built {
    let nl = if lf_only { "\n" } else { "\r\n" };
    let mut wire = Vec::new();
    for s in informational {
        wire.extend_from_slice(format!("HTTP/1.1 {s} Info{nl}x-i: 1{nl}{nl}").as_bytes());
    }
    let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    let mut head = format!("{version} {status} Reason Phrase{nl}");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {}{nl}", v.trim()));
    }
    if close {
        head.push_str(&format!("Connection: close{nl}"));
    }
    let mut payload = Vec::new();
    match &kind {
        BodyKind::Length => {
            head.push_str(&format!("Content-Length: {}{nl}", body.len()));
            payload.extend_from_slice(&body);
        }
        BodyKind::UntilClose => payload.extend_from_slice(&body),
        BodyKind::Chunked(sizes, upper, ext, trailer) => {
            head.push_str(&format!("Transfer-Encoding: chunked{nl}"));
            let mut rest = &body[..];
            let mut sizes = sizes.iter().cycle();
            while !rest.is_empty() {
                let n = sizes.next().copied().unwrap_or(1).min(rest.len());
                let size = if *upper {
                    format!("{n:X}")
                } else {
                    format!("{n:x}")
                };
                let ext = if *ext { ";name=\"v\"" } else { "" };
                payload.extend_from_slice(format!("{size}{ext}\r\n").as_bytes());
                payload.extend_from_slice(&rest[..n]);
                payload.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            payload.extend_from_slice(b"0\r\n");
            if *trailer {
                payload.extend_from_slice(b"x-checksum: 1\r\n");
            }
            payload.extend_from_slice(b"\r\n");
        }
    }
    head.push_str(nl);
    let head_len = head.len();
    let keep_alive = !close && !http10 && !matches!(kind, BodyKind::UntilClose);
    let head_start = wire.len();
    wire.extend_from_slice(head.as_bytes());
    wire.extend_from_slice(&payload);
    Built {
        wire,
        status,
        body,
        reusable: keep_alive,
        head_start,
        head_len,
    }
}

/// Change a valid response: flip, insert or delete bytes, or cut it short.
fn mutated() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    let edit = (any::<prop::sample::Index>(), 0u8..4, any::<u8>());
    (
        response(),
        prop::collection::vec(edit, 1..4),
        prop::collection::vec(any::<prop::sample::Index>(), 0..5),
    )
        .prop_map(|(r, edits, cuts)| {
            let mut wire = r.wire;
            for (at, op, byte) in edits {
                if wire.is_empty() {
                    break;
                }
                let i = at.index(wire.len());
                match op {
                    0 => wire[i] = byte,
                    1 => wire.insert(i, byte),
                    2 => {
                        wire.remove(i);
                    }
                    _ => wire.truncate(i),
                }
            }
            let n = wire.len().max(1);
            let cuts = cuts.iter().map(|c| c.index(n)).collect();
            (wire, cuts)
        })
}

/// Bytes that look a little like HTTP, so they reach past the status line.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    let prefix = prop::sample::select(vec![
        &b""[..],
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
    ]);
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"0123456789abcdefABCDEF\r\n\r\n;: \t".to_vec()),
    ];
    (prefix, prop::collection::vec(byte, 0..200)).prop_map(|(p, b)| [p, &b[..]].concat())
}

proptest! {
    #![proptest_config(crate::proptest_config(128))]

    #[test]
    fn valid_responses_read_back_exactly_however_split(r in response(), cuts in prop::collection::vec(0usize..2000, 0..6)) {
        let (outcome, reusable) = same_however_split(&r.wire, &cuts, super::MAX_HEAD);
        prop_assert_eq!(outcome, Outcome::Done { status: Some(r.status), body: r.body.clone() });
        prop_assert_eq!(reusable, Some(r.reusable));
    }

    #[test]
    fn heads_over_the_limit_fail_as_protocol_however_split(r in response(), limit in 40usize..200) {
        // Informational heads (under 40 bytes) pass; the final head fails
        // exactly when it is longer than the limit.
        let (outcome, _) = same_however_split(&r.wire, &[], limit);
        let want = if r.head_len > limit {
            Outcome::Failed {
                status: None,
                kind: ErrorKind::Protocol,
                detail: format!("invalid HTTP response: response head longer than {limit} bytes"),
            }
        } else {
            Outcome::Done { status: Some(r.status), body: r.body.clone() }
        };
        prop_assert_eq!(outcome, want);
    }
}

proptest! {
    #![proptest_config(crate::proptest_config(256))]

    #[test]
    fn a_header_line_without_a_colon_fails(r in response(), junk in "[ -9;-~]{1,20}") {
        // `junk` has no ':' (0x3A): one more line of the final head, after its status line.
        let status_end = r.head_start
            + r.wire[r.head_start..].iter().position(|&b| b == b'\n').unwrap_or(0)
            + 1;
        let mut wire = r.wire.clone();
        wire.splice(status_end..status_end, [junk.as_bytes(), b"\r\n"].concat());
        let (outcome, _) = same_however_split(&wire, &[], super::MAX_HEAD);
        let failed = matches!(outcome, Outcome::Failed { kind: ErrorKind::Protocol, .. });
        prop_assert!(failed, "{:?}", outcome);
    }

    #[test]
    fn mutated_responses_give_one_outcome_however_split((wire, cuts) in mutated()) {
        same_however_split(&wire, &cuts, super::MAX_HEAD);
    }
}

proptest! {
    #![proptest_config(crate::proptest_config(512))]

    #[test]
    fn arbitrary_bytes_give_one_outcome_however_split(wire in noise(), cuts in prop::collection::vec(0usize..300, 0..6)) {
        same_however_split(&wire, &cuts, super::MAX_HEAD);
    }
}
