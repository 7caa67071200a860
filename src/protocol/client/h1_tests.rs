use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::parse::{find_byte, parse_head, Chunked, Framing, Parsed, Parser};
use super::*;
use crate::protocol::client::{H1Target, HttpClient, OwnedConn};

fn parsed(head: &[u8]) -> Parsed {
    let (p, len) = parse_head(head).expect("valid").expect("complete");
    assert_eq!(len, head.len(), "the whole head is consumed");
    p
}

#[test]
fn heads_give_status_framing_and_keep_alive() {
    let p = parsed(b"HTTP/1.1 200 OK\r\ncontent-type: audio/wav\r\nContent-Length: 188\r\n\r\n");
    assert_eq!(
        p,
        Parsed {
            status: 200,
            framing: Framing::Length(188),
            keep_alive: true
        }
    );
    let p = parsed(b"HTTP/1.1 200 OK\nTransfer-Encoding: gzip, chunked\nconnection: Close\n\n");
    assert_eq!(p.framing, Framing::Chunked(Chunked::default()));
    assert!(!p.keep_alive);
    // No length: the body runs to the close, so the connection cannot be reused.
    let p = parsed(b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!((p.framing, p.keep_alive), (Framing::UntilClose, false));
    // A transfer coding other than chunked last: also until close.
    assert_eq!(
        parsed(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 5\r\n\r\n").framing,
        Framing::UntilClose
    );
    // HTTP/1.0 keeps the connection only when asked to.
    assert!(!parsed(b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n").keep_alive);
    assert!(
        parsed(b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n")
            .keep_alive
    );
    // No body, whatever the headers say.
    assert_eq!(
        parsed(b"HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n").framing,
        Framing::Length(0)
    );
    assert_eq!(parsed(b"HTTP/1.1 100 Continue\r\n\r\n").status, 100);
    assert_eq!(
        parsed(b"HTTP/1.1 503\r\ncontent-length: 2, 2\r\n\r\n").framing,
        Framing::Length(2)
    );
}

#[test]
fn incomplete_and_invalid_heads() {
    for partial in [
        &b""[..],
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r",
    ] {
        assert_eq!(parse_head(partial), Ok(None), "{partial:?}");
    }
    for bad in [
        &b"HTTP/2 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx-a: 1\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length : 1\r\n\r\n",
    ] {
        assert!(
            parse_head(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn head_fields_are_listed_for_capture() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Type:  audio/wav \r\nx-id: 7\r\n\r\n";
    let head = Head {
        status: 200,
        raw: &raw[..],
    };
    let fields: Vec<_> = head.headers().collect();
    assert_eq!(
        fields,
        vec![
            (&b"Content-Type"[..], &b"audio/wav"[..]),
            (&b"x-id"[..], &b"7"[..])
        ]
    );
}

#[test]
fn find_byte_matches_a_plain_search() {
    let hay: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
    for needle in [0u8, b'\n', b':', 250, 255] {
        for start in 0..hay.len() {
            let want = hay[start..].iter().position(|&b| b == needle);
            assert_eq!(
                find_byte(&hay[start..], needle),
                want,
                "{needle} from {start}"
            );
        }
    }
}

const CHUNKED: &[u8] =
    b"5;ext=1\r\nhello\r\n1a \r\n, a chunk split over reads\r\n0\r\nx-trailer: 1\r\n\r\n";
const DECODED: &[u8] = b"hello, a chunk split over reads";

/// Decode `input` fed in the given pieces: (data, bytes of input used).
fn decode_pieces(pieces: &[&[u8]]) -> Result<(Vec<u8>, Option<usize>), String> {
    let mut c = Chunked::default();
    let (mut out, mut used) = (Vec::new(), 0);
    for piece in pieces {
        let mut buf = piece.to_vec();
        let (n, end) = c.decode(&mut buf)?;
        out.extend_from_slice(&buf[..n]);
        if let Some(end) = end {
            return Ok((out, Some(used + end)));
        }
        used += buf.len();
    }
    Ok((out, None))
}

#[test]
fn chunked_bodies_decode_across_any_split() {
    assert_eq!(
        decode_pieces(&[CHUNKED]),
        Ok((DECODED.to_vec(), Some(CHUNKED.len())))
    );
    for split in 0..=CHUNKED.len() {
        let (a, b) = CHUNKED.split_at(split);
        assert_eq!(
            decode_pieces(&[a, b]),
            Ok((DECODED.to_vec(), Some(CHUNKED.len()))),
            "split at {split}"
        );
    }
    let bytes: Vec<&[u8]> = CHUNKED.chunks(1).collect();
    assert_eq!(
        decode_pieces(&bytes),
        Ok((DECODED.to_vec(), Some(CHUNKED.len())))
    );
    // Bytes after the end are not consumed; bare LF line ends are accepted.
    let mut more = b"3\nabc\n0\n\nNEXT".to_vec();
    assert_eq!(
        Chunked::default().decode(&mut more),
        Ok((3, Some(more.len() - 4)))
    );
    assert_eq!(&more[..3], b"abc");
}

#[test]
fn broken_chunk_framing_is_an_error() {
    for bad in [
        &b"x\r\n"[..],
        b"\r\n",
        b"3\r\nabcd\r\n",
        b"3\r\nabcX\n",
        b"ffffffffffffffffff\r\n",
        b"3 4\r\n",
    ] {
        assert!(
            decode_pieces(&[bad]).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn request_heads_carry_host_type_and_extra_headers() {
    let extra = [(
        HeaderName::from_static("authorization"),
        HeaderValue::from_static("Bearer x"),
    )];
    let json = HeaderValue::from_static("application/json");
    let head = RequestHead::post("/v1/audio/speech?a=1", "127.0.0.1:8000", &json, &extra);
    assert_eq!(
        &head.prefix[..],
        &b"POST /v1/audio/speech?a=1 HTTP/1.1\r\ncontent-type: application/json\r\n\
           authorization: Bearer x\r\nhost: 127.0.0.1:8000\r\ncontent-length: "[..]
    );
    // A Host header given by the user replaces ours; framing headers are ours alone.
    let extra = [
        (
            HeaderName::from_static("host"),
            HeaderValue::from_static("tts.example"),
        ),
        (
            HeaderName::from_static("content-length"),
            HeaderValue::from_static("1"),
        ),
    ];
    let head = RequestHead::post("/", "127.0.0.1:8000", &json, &extra);
    let text = String::from_utf8_lossy(&head.prefix).to_string();
    assert!(text.contains("host: tts.example\r\n"), "{text}");
    assert_eq!(text.matches("host:").count(), 1, "{text}");
    assert_eq!(text.matches("content-length").count(), 1, "{text}");
    // A user's content-type replaces the default instead of adding a second.
    let extra = [(
        HeaderName::from_static("content-type"),
        HeaderValue::from_static("text/plain"),
    )];
    let text = RequestHead::post("/", "h", &json, &extra).prefix;
    let text = String::from_utf8_lossy(&text).to_string();
    assert_eq!(text.matches("content-type").count(), 1, "{text}");
    assert!(text.contains("content-type: text/plain\r\n"), "{text}");
}

/// Everything a receiver was handed.
#[derive(Default)]
struct Got {
    status: Option<u16>,
    reads: Vec<Vec<u8>>,
    stop_after: Option<usize>,
}

impl Receiver for Got {
    fn head(&mut self, _at: Instant, head: &Head<'_>) -> Result<(), ProtocolError> {
        self.status = Some(head.status);
        Ok(())
    }

    fn data(&mut self, _at: Instant, data: &[u8]) -> Result<bool, ProtocolError> {
        self.reads.push(data.to_vec());
        let total: usize = self.reads.iter().map(Vec::len).sum();
        Ok(self.stop_after.is_none_or(|n| total < n))
    }
}

/// One scripted answer: a pause (ms), then bytes; `None` closes.
type Answer = Option<(u64, &'static [u8])>;

/// A server on 127.0.0.1:0 that, per accepted connection, reads each
/// request (head + `content-length` body) and answers with the next
/// script entry: after a pause (ms), its bytes, `|` separating writes
/// 30 ms apart. `None` closes the connection.
async fn server(script: Vec<Vec<Answer>>) -> (u16, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut requests = Vec::new();
        for conn in script {
            let (mut s, _) = listener.accept().await.expect("accept");
            for answer in conn {
                let Some((pause, bytes)) = answer else {
                    break;
                };
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if req.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                requests.push(req);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                for piece in bytes.split(|&b| b == b'|') {
                    // The client may have stopped reading and closed.
                    let _ = s.write_all(piece).await;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }
        }
        requests
    });
    (port, task)
}

fn target(port: u16) -> H1Target {
    let uri: hyper::Uri = format!("http://127.0.0.1:{port}/speak")
        .parse()
        .expect("uri");
    H1Target::post(&uri, &HeaderValue::from_static("application/json"), &[]).expect("http target")
}

#[tokio::test]
async fn keep_alive_chunked_and_one_piece_per_read() {
    // `|` marks separate writes, 20 ms apart: each is one transport read.
    let (port, srv) = server(vec![vec![
        Some((0, b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")),
        Some((
            0,
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n|2\r\nde\r\n4\r\nfghi\r\n|0\r\n\r\n",
        )),
        // A head split over three reads.
        Some((0, b"HTTP/1.1 200 OK\r\ncontent-le|ngth: 2\r\n\r|\nok")),
    ]])
    .await;
    let client = HttpClient::new(Duration::from_secs(2));
    let t = target(port);
    let mut conn = OwnedConn::default();
    let mut got = Got::default();
    let done = client
        .exchange(&t, Some(&mut conn), b"{\"a\":1}", &mut got)
        .await
        .expect("first");
    assert!(done.reusable);
    assert_eq!(
        (got.status, got.reads.clone()),
        (Some(200), vec![b"hello".to_vec()])
    );
    let mut got = Got::default();
    let done = client
        .exchange(&t, Some(&mut conn), b"{}", &mut got)
        .await
        .expect("second, same connection");
    assert!(done.reusable);
    // Two HTTP chunks in one read arrive as one piece.
    assert_eq!(got.reads, vec![b"abc".to_vec(), b"defghi".to_vec()]);
    let mut got = Got::default();
    let done = client
        .exchange(&t, Some(&mut conn), b"", &mut got)
        .await
        .expect("third");
    assert!(done.reusable);
    assert_eq!(
        (got.status, got.reads.concat()),
        (Some(200), b"ok".to_vec())
    );
    let requests = srv.await.expect("server");
    assert_eq!(requests.len(), 3, "all on the one connection");
    assert_eq!(
        String::from_utf8_lossy(&requests[0]),
        format!(
            "POST /speak HTTP/1.1\r\ncontent-type: application/json\r\nhost: 127.0.0.1:{port}\r\ncontent-length: 7\r\n\r\n{{\"a\":1}}"
        )
    );
}

#[tokio::test]
async fn a_closed_idle_connection_is_replaced_and_close_delimited_bodies_end_at_eof() {
    let (port, srv) = server(vec![
        // Answers once, then closes the kept-alive connection.
        vec![
            Some((0, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")),
            None,
        ],
        // No length: the body is everything until the server closes.
        vec![Some((0, b"HTTP/1.1 200 OK\r\n\r\nuntil|close")), None],
    ])
    .await;
    let client = HttpClient::new(Duration::from_secs(2));
    let t = target(port);
    let mut got = Got::default();
    client
        .exchange(&t, None, b"", &mut got)
        .await
        .expect("first");
    // Let the close arrive; the pooled connection is then stale (or the
    // request is sent again on a new connection, as hyper's pool does).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut got = Got::default();
    let done = client
        .exchange(&t, None, b"", &mut got)
        .await
        .expect("second");
    assert!(!done.reusable);
    assert_eq!(got.reads.concat(), b"untilclose");
    assert_eq!(srv.await.expect("server").len(), 2);
}

#[tokio::test]
async fn failures_before_and_during_a_response() {
    let (port, _srv) = server(vec![
        vec![None],
        vec![
            Some((0, b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\ncut")),
            None,
        ],
        vec![Some((
            0,
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345|67890",
        ))],
    ])
    .await;
    let client = HttpClient::new(Duration::from_secs(2));
    let t = target(port);
    let mut got = Got::default();
    let err = client
        .exchange(&t, None, b"", &mut got)
        .await
        .expect_err("closed");
    assert!(err.before_response(), "{err:?}");
    assert_eq!(err.into_error().kind, ErrorKind::Reset);
    let mut got = Got::default();
    let err = client
        .exchange(&t, None, b"", &mut got)
        .await
        .expect_err("cut short");
    assert!(!err.before_response(), "{err:?}");
    assert_eq!(got.reads.concat(), b"cut");
    // A receiver that has seen enough stops reading; the connection is dropped.
    let mut got = Got {
        stop_after: Some(4),
        ..Got::default()
    };
    let done = client
        .exchange(&t, None, b"", &mut got)
        .await
        .expect("stopped");
    assert!(!done.reusable);
    assert_eq!(got.reads.concat(), b"12345");
    let refused = HttpClient::new(Duration::from_secs(2))
        .exchange(&target(1), None, b"", &mut Got::default())
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(refused.into_error().kind, ErrorKind::Connect);
}

#[tokio::test]
async fn malformed_answers_are_protocol_errors_in_both_clients() {
    const BAD_CHUNK: &[u8] =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nde\r\n0\r\n\r\n";
    let (port, _srv) = server(vec![
        vec![Some((0, BAD_CHUNK))],
        vec![Some((0, b"HTTP/1.1 2xx OK\r\n\r\n"))],
        vec![Some((0, BAD_CHUNK))],
    ])
    .await;
    let client = HttpClient::new(Duration::from_secs(2));
    let t = target(port);
    for detail in ["bad chunk size line", "bad status line"] {
        let mut got = Got::default();
        let e = client
            .exchange(&t, None, b"", &mut got)
            .await
            .expect_err("malformed")
            .into_error();
        assert_eq!(e.kind, ErrorKind::Protocol, "{e:?}");
        assert!(e.detail.contains(detail), "{e:?}");
    }
    // hyper (TLS targets, ASR uploads) classifies its body errors the same way.
    let req = hyper::Request::post(format!("http://127.0.0.1:{port}/speak"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let resp = client.request(req).await.expect("head");
    let mut body = resp.into_body();
    let e = loop {
        use http_body_util::BodyExt as _;
        match body.frame().await {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break crate::protocol::client::hyper_failure(&e),
            None => panic!("the bad chunk must fail the body"),
        }
    };
    assert_eq!(e.kind, ErrorKind::Protocol, "{e:?}");
    assert!(e.detail.contains("chunk size"), "{e:?}");
}

/// Found by the property tests: each used to be accepted or to panic.
#[test]
fn heads_the_property_tests_found() {
    for bad in [
        // A minor version below '0' made a debug build panic (underflow).
        &b"HTTP/1.\x01 200 OK\r\n\r\n"[..],
        // Lines not naming a framing field were never checked.
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx-name : v\r\n\r\n",
    ] {
        assert!(
            parse_head(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// A read full of informational heads is walked in a loop: it used to
/// recurse once per head, and a megabyte of `100 Continue` overflowed the
/// stack.
#[test]
fn many_informational_heads_in_one_read_do_not_recurse() {
    let mut wire = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(40_000);
    wire.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let mut parser = Parser::default();
    let mut got = Got::default();
    let done = parser
        .feed(&mut wire, Instant::now(), &mut got)
        .expect("valid")
        .expect("complete");
    assert!(done.reusable);
    assert_eq!(
        (got.status, got.reads.concat()),
        (Some(200), b"ok".to_vec())
    );
}

/// A head split over reads fits as long as the head itself does: the body
/// after it in the same read does not count (it was refused once the head
/// start and the next read together passed 64 KiB).
#[test]
fn the_head_limit_counts_the_head_not_the_read() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-length: 70000\r\n\r\n";
    let body = vec![b'a'; 70_000];
    let mut parser = Parser::default();
    let mut got = Got::default();
    let at = Instant::now();
    assert!(parser
        .feed(&mut head[..10].to_vec(), at, &mut got)
        .expect("start")
        .is_none());
    let mut rest = [&head[10..], &body[..]].concat();
    let done = parser
        .feed(&mut rest, at, &mut got)
        .expect("fits")
        .expect("complete");
    assert!(done.reusable);
    assert_eq!(got.reads.concat().len(), 70_000);
}

/// Chunk extensions and trailers are bounded: 16 KiB per chunk pass (an
/// extension's bytes after `;`, or trailer lines with their `\r`), one byte
/// more fails, wherever the reads are cut.
#[test]
fn chunk_metadata_is_bounded() {
    for (len, ok) in [(16 * 1024, true), (16 * 1024 + 1, false)] {
        let ext = [&b"3;"[..], &vec![b'x'; len], b"\r\nabc\r\n0\r\n\r\n"].concat();
        let trailer = [&b"0\r\n"[..], &vec![b'x'; len - 1], b"\r\n\r\n"].concat();
        for body in [ext, trailer] {
            for cut in [1, 100, len / 2, len, body.len() - 1] {
                let r = decode_pieces(&[&body[..cut], &body[cut..]]);
                assert_eq!(r.is_ok(), ok, "{len} at {cut}: {r:?}");
            }
        }
    }
}
