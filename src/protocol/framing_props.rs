//! Property tests of the SSE/NDJSON splitter: random messages with every
//! separator form, and arbitrary bytes, fed whole, split at every byte
//! boundary and in random pieces. The same messages (or the same error)
//! must come out however the body was cut, the messages built must come
//! back exactly, and no more than the limit plus one read is ever held.
//! 256 cases of each (proptest's default).

use proptest::prelude::*;

use super::*;

/// Messages, then what `finish` returned; or the error's detail.
fn cut(sep: Separator, limit: usize, wire: &[u8], cuts: &[usize]) -> Result<Vec<Vec<u8>>, String> {
    let mut s = Splitter::with_limit(sep, limit);
    let mut out = Vec::new();
    let mut from = 0;
    let slack = if sep == Separator::BlankLine { 2 } else { 0 };
    for to in cuts.iter().copied().chain([wire.len()]) {
        let to = to.clamp(from, wire.len());
        s.extend(&wire[from..to]);
        from = to;
        loop {
            match s.next_message() {
                Ok(Some(m)) => out.push(m.to_vec()),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(e.kind, ErrorKind::Protocol);
                    return Err(e.detail);
                }
            }
        }
        assert!(s.buf.len() <= limit + slack, "{} bytes held", s.buf.len());
    }
    out.push(s.finish().map_err(|e| e.detail)?.to_vec());
    Ok(out)
}

fn same_however_split(
    sep: Separator,
    limit: usize,
    wire: &[u8],
    cuts: &[usize],
) -> Result<Vec<Vec<u8>>, String> {
    let whole = cut(sep, limit, wire, &[]);
    for i in 0..=wire.len() {
        assert_eq!(cut(sep, limit, wire, &[i]), whole, "split at {i}");
    }
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
    assert_eq!(cut(sep, limit, wire, &cuts), whole, "cuts {cuts:?}");
    whole
}

/// An SSE event's lines: no line is empty or a lone `\r` (that would be
/// the blank line that ends it).
fn event() -> impl Strategy<Value = Vec<u8>> {
    let line = prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 1..12)
        .prop_filter("not blank", |l| l != b"\r");
    prop::collection::vec(line, 1..4).prop_map(|lines| lines.join(&b'\n'))
}

proptest! {
    #![proptest_config(crate::proptest_config(256))]

    #[test]
    fn sse_events_come_back_exactly_however_split(
        events in prop::collection::vec((event(), 0usize..3), 0..6),
        tail in prop::option::of(event()),
        cuts in prop::collection::vec(0usize..200, 0..5),
        limit in 1usize..40,
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (e, sep) in &events {
            wire.extend_from_slice(e);
            let (sep, msg): (&[u8], Vec<u8>) = match sep {
                0 => (b"\n\n", e.clone()),
                1 => (b"\r\n\r\n", [&e[..], b"\r"].concat()),
                _ => (b"\n\r\n", e.clone()),
            };
            wire.extend_from_slice(sep);
            want.push(msg);
        }
        let tail = tail.unwrap_or_default();
        wire.extend_from_slice(&tail);
        want.push(tail);
        let got = same_however_split(Separator::BlankLine, limit, &wire, &cuts);
        if want.iter().all(|m| m.len() <= limit) {
            prop_assert_eq!(got, Ok(want));
        } else {
            prop_assert_eq!(got, Err(format!("SSE event longer than {limit} bytes")));
        }
    }

    #[test]
    fn ndjson_lines_come_back_exactly_however_split(
        lines in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..20), 0..6),
        cuts in prop::collection::vec(0usize..200, 0..5),
        limit in 1usize..30,
    ) {
        let wire: Vec<u8> = lines.iter().flat_map(|l| [&l[..], b"\n"].concat()).collect();
        let mut want = lines.clone();
        want.push(Vec::new());
        let got = same_however_split(Separator::Newline, limit, &wire, &cuts);
        if want.iter().all(|m| m.len() <= limit) {
            prop_assert_eq!(got, Ok(want));
        } else {
            prop_assert_eq!(got, Err(format!("NDJSON line longer than {limit} bytes")));
        }
    }

    #[test]
    fn arbitrary_bytes_split_the_same_however_cut(
        wire in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r')], 0..200),
        cuts in prop::collection::vec(0usize..200, 0..5),
        limit in 1usize..64,
        sse in any::<bool>(),
    ) {
        let sep = if sse { Separator::BlankLine } else { Separator::Newline };
        let got = same_however_split(sep, limit, &wire, &cuts);
        // Nothing is lost or invented: messages and separators make the body.
        if let Ok(msgs) = got {
            let total: usize = msgs.iter().map(Vec::len).sum();
            prop_assert!(total <= wire.len());
        }
    }
}
