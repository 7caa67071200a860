//! What every WebSocket adapter shares: the handshake with lean buffers,
//! handshake error classes, real-time audio frames, and the client-side
//! framing that [`super::ws_pacer::PacedWs`] writes itself.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{ErrorKind, ProtocolError};

/// A connected client WebSocket.
pub type ClientWs = WebSocketStream<MaybeTlsStream<SessionIo>>;

/// The TCP stream under a client WebSocket, able to hand the socket's
/// writing to the pacer thread ([`super::ws_pacer::PacedWs`]): the thread
/// gets a second descriptor of the socket and writes every frame there, so
/// a session's task is not woken for each frame. From then on the
/// WebSocket's own writes (automatic pongs, close replies) are dropped here
/// and `PacedWs` writes those itself, so the socket has one writer at a
/// time. Reads always go through tokio. The cost is one more file
/// descriptor per session (2,000 sessions: 4,000 descriptors).
#[derive(Debug)]
pub struct SessionIo {
    /// Empty only inside [`SessionIo::hand_off`].
    tcp: Option<TcpStream>,
    handed_off: bool,
}

impl SessionIo {
    /// Wrap a connected stream.
    pub fn new(tcp: TcpStream) -> Self {
        Self {
            tcp: Some(tcp),
            handed_off: false,
        }
    }

    fn tcp(&mut self) -> io::Result<&mut TcpStream> {
        self.tcp
            .as_mut()
            .ok_or_else(|| io::Error::other("socket lost while handing it off"))
    }
}

/// A byte stream under a WebSocket that may give the pacer thread a
/// descriptor of its socket to write to.
pub trait HandOff {
    /// A second descriptor of the socket (non-blocking), after which the
    /// stream drops what is written to it; `None` if it cannot (TLS, a test
    /// pipe), and then frames are written by the session's task.
    fn hand_off(&mut self) -> Option<std::net::TcpStream>;
    /// Undo [`hand_off`](Self::hand_off): writes reach the socket again.
    fn take_back(&mut self);
}

impl HandOff for SessionIo {
    fn hand_off(&mut self) -> Option<std::net::TcpStream> {
        // A registered tokio socket cannot be cloned: leave the reactor,
        // duplicate the descriptor, and register again (nothing waits on
        // the socket at this point, and readiness is reported afresh).
        let std = self.tcp.take()?.into_std().ok()?;
        let raw = std.try_clone();
        self.tcp = Some(TcpStream::from_std(std).ok()?);
        let raw = raw.ok()?;
        self.handed_off = true;
        Some(raw)
    }

    fn take_back(&mut self) {
        self.handed_off = false;
    }
}

impl HandOff for MaybeTlsStream<SessionIo> {
    fn hand_off(&mut self) -> Option<std::net::TcpStream> {
        match self {
            MaybeTlsStream::Plain(io) => io.hand_off(),
            _ => None,
        }
    }

    fn take_back(&mut self) {
        if let MaybeTlsStream::Plain(io) = self {
            io.take_back();
        }
    }
}

impl AsyncRead for SessionIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().tcp()?).poll_read(cx, buf)
    }
}

impl AsyncWrite for SessionIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.handed_off {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(this.tcp()?).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.handed_off {
            return Poll::Ready(Ok(()));
        }
        Pin::new(this.tcp()?).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.handed_off {
            return Poll::Ready(Ok(()));
        }
        Pin::new(this.tcp()?).poll_shutdown(cx)
    }
}

/// Bytes a standard base64 string decodes to, without decoding it: only
/// the length matters for audio seconds.
pub fn base64_decoded_len(b64: &str) -> usize {
    let s = b64.trim_end();
    let pad = s.bytes().rev().take_while(|&b| b == b'=').count();
    (s.len() / 4 * 3 + (s.len() % 4).saturating_sub(1)).saturating_sub(pad)
}

/// How audio frames are sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FrameEncoding {
    /// Binary messages of raw PCM.
    Binary,
    /// Text messages from a template holding `{{audio}}` (base64 PCM).
    Json {
        /// e.g. `{"type":"audio","audio":"{{audio}}"}`.
        template: String,
    },
}

impl FrameEncoding {
    /// `binary` (or nothing), or a JSON template holding `{{audio}}`;
    /// `None` for anything else.
    pub fn parse(spec: Option<&str>) -> Option<Self> {
        match spec {
            None | Some("binary") => Some(Self::Binary),
            Some(t) if t.contains("{{audio}}") => Some(Self::Json {
                template: t.to_string(),
            }),
            Some(_) => None,
        }
    }

    /// The message carrying one frame of PCM.
    pub fn message(&self, pcm: bytes::Bytes) -> Message {
        match self {
            Self::Binary => Message::binary(pcm),
            Self::Json { template } => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&pcm);
                Message::text(template.replace("{{audio}}", &b64))
            }
        }
    }
}

/// Writes audio frames straight into WebSocket frames, with no `Message`,
/// no per-frame allocation and no template search (built once per session
/// from a [`FrameEncoding`]).
#[derive(Debug, Clone)]
pub enum FrameEncoder {
    /// Binary frames of raw PCM.
    Binary,
    /// Text frames: `parts` joined by the base64 PCM (the template split at
    /// each `{{audio}}`).
    Json {
        /// The template's text around each `{{audio}}`.
        parts: Vec<String>,
    },
    /// Text frames whose template also numbers them (`{{chunk}}`,
    /// `{{chunk+K}}`, `{{timestamp}}`), as telephony media streams do.
    Counted {
        /// The template, cut at each placeholder.
        pieces: Vec<Piece>,
    },
}

/// One piece of a counted frame template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// The base64 audio (`{{audio}}`).
    Audio,
    /// The frame's number on this connection, from 1, plus an offset
    /// (`{{chunk}}`, `{{chunk+1}}`: Twilio's `chunk` and `sequenceNumber`).
    Chunk(u64),
    /// Milliseconds of the frame's slot since the stream's first frame
    /// (`{{timestamp}}`: its place on the absolute schedule, not when it left).
    Timestamp,
}

/// Where a frame is in its stream: what counted templates print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameAt {
    /// 1 for the connection's first frame.
    pub number: u64,
    /// Its slot's offset from the stream's first slot, ms.
    pub ms: u64,
}

/// A template cut at its placeholders; `None` if it only holds `{{audio}}`.
fn counted_pieces(template: &str) -> Option<Vec<Piece>> {
    if !template.contains("{{chunk") && !template.contains("{{timestamp}}") {
        return None;
    }
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(len) = rest[open..].find("}}") else {
            break;
        };
        let name = &rest[open + 2..open + len];
        let piece = match name {
            "audio" => Some(Piece::Audio),
            "timestamp" => Some(Piece::Timestamp),
            "chunk" => Some(Piece::Chunk(0)),
            _ => name
                .strip_prefix("chunk+")
                .and_then(|k| k.trim().parse().ok())
                .map(Piece::Chunk),
        };
        let Some(piece) = piece else {
            pieces.push(Piece::Text(rest[..open + 2].to_string()));
            rest = &rest[open + 2..];
            continue;
        };
        pieces.push(Piece::Text(rest[..open].to_string()));
        pieces.push(piece);
        rest = &rest[open + len + 2..];
    }
    pieces.push(Piece::Text(rest.to_string()));
    pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
    Some(pieces)
}

impl FrameEncoding {
    /// The encoder for this encoding.
    pub fn encoder(&self) -> FrameEncoder {
        match self {
            Self::Binary => FrameEncoder::Binary,
            Self::Json { template } => match counted_pieces(template) {
                Some(pieces) => FrameEncoder::Counted { pieces },
                None => FrameEncoder::Json {
                    parts: template.split("{{audio}}").map(str::to_string).collect(),
                },
            },
        }
    }

    /// This encoding with `fill` applied to its template (a connection's
    /// own values, such as its session id).
    pub fn filled(&self, fill: impl Fn(&str) -> String) -> Self {
        match self {
            Self::Binary => Self::Binary,
            Self::Json { template } => Self::Json {
                template: fill(template),
            },
        }
    }
}

impl FrameEncoder {
    /// Append one masked client frame carrying `pcm` to `out` (see
    /// [`put_frame`]); `at` numbers it for counted templates.
    pub fn put(&self, out: &mut Vec<u8>, pcm: &[u8], mask: [u8; 4], at: FrameAt) {
        match self {
            Self::Binary => put_frame(out, OpCode::Binary, pcm.len(), mask, |p| {
                p.extend_from_slice(pcm)
            }),
            Self::Counted { pieces } => {
                let text = counted_text(pieces, pcm, at);
                put_frame(out, OpCode::Text, text.len(), mask, |p| {
                    p.extend_from_slice(text.as_bytes())
                })
            }
            Self::Json { parts } => {
                let b64 = base64::engine::general_purpose::STANDARD;
                let b64_len = pcm.len().div_ceil(3) * 4;
                let text: usize = parts.iter().map(String::len).sum();
                let len = text + b64_len * parts.len().saturating_sub(1);
                put_frame(out, OpCode::Text, len, mask, |p| {
                    for (i, part) in parts.iter().enumerate() {
                        if i > 0 {
                            let at = p.len();
                            p.resize(at + b64_len, 0);
                            let _ = b64.encode_slice(pcm, &mut p[at..]);
                        }
                        p.extend_from_slice(part.as_bytes());
                    }
                })
            }
        }
    }
}

/// A counted template's text for the frame `at` carrying `pcm`.
fn counted_text(pieces: &[Piece], pcm: &[u8], at: FrameAt) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut text = String::with_capacity(256 + pcm.len() * 4 / 3);
    for piece in pieces {
        match piece {
            Piece::Text(t) => text.push_str(t),
            Piece::Audio => b64.encode_string(pcm, &mut text),
            Piece::Chunk(k) => text.push_str(&(at.number + k).to_string()),
            Piece::Timestamp => text.push_str(&at.ms.to_string()),
        }
    }
    text
}

impl FrameEncoding {
    /// The message carrying a stream's first frame, `pcm`, numbered as a
    /// counted template numbers it: what `voxload sample` shows of the
    /// frames the pacer writes.
    pub fn first_message(&self, pcm: bytes::Bytes) -> Message {
        match self.encoder() {
            FrameEncoder::Counted { pieces } => {
                let first = FrameAt { number: 1, ms: 0 };
                Message::text(counted_text(&pieces, &pcm, first))
            }
            _ => self.message(pcm),
        }
    }
}

/// Opcodes of the frames voxload writes itself (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OpCode {
    /// UTF-8 text.
    Text = 0x1,
    /// Binary data.
    Binary = 0x2,
    /// Close.
    Close = 0x8,
    /// Ping.
    Ping = 0x9,
    /// Pong.
    Pong = 0xA,
}

/// Append one final client frame with a payload of `len` bytes, appended
/// to `out` by `fill` and then masked with `mask` (RFC 6455 §5.2–5.3: every
/// client frame is masked; the key should be unpredictable, see
/// [`super::ws_pacer::PacedWs`] for where keys come from).
///
/// Header, key and payload are built in place in `out`, so a frame is one
/// contiguous write; the payload is written once and masked in place.
pub fn put_frame(
    out: &mut Vec<u8>,
    op: OpCode,
    len: usize,
    mask: [u8; 4],
    fill: impl FnOnce(&mut Vec<u8>),
) {
    out.reserve(14 + len);
    out.push(0x80 | op as u8);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    fill(out);
    // The header promised `len` bytes: hold `fill` to it.
    debug_assert_eq!(out.len(), start + len, "payload length");
    out.resize(start + len, 0);
    apply_mask(&mut out[start..], mask);
}

/// XOR `buf` with the repeating 4-byte `mask`, eight bytes at a time.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so the key restarts at 0.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// The largest WebSocket message accepted by default (`--ws-max-message`):
/// 16 MiB, tungstenite's own frame limit. A longer message fails the call
/// as [`ErrorKind::Protocol`] as soon as its frame header is read, before
/// any of it is buffered.
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

/// [`DEFAULT_MAX_MESSAGE`], for targets read from files written before the option.
pub fn default_max_message() -> usize {
    DEFAULT_MAX_MESSAGE
}

/// Open a WebSocket to `url` with extra handshake `headers`, accepting
/// messages (and frames) of at most `max_message` bytes.
///
/// Small buffers: tungstenite's 128 KiB defaults cost ~160 KiB per session,
/// which thousands of concurrent callers cannot afford; frames are a few
/// hundred bytes, and a 4 KiB read takes a 100 ms answer chunk in one go
/// (8 KiB cost 3 KiB more per session, measured). No Nagle: a frame must
/// leave when it is due.
pub async fn connect(
    url: &str,
    headers: &[(String, String)],
    max_message: usize,
) -> Result<ClientWs, ProtocolError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ProtocolError::new(ErrorKind::Connect, e.to_string()))?;
    for (n, v) in headers {
        let name = hyper::header::HeaderName::from_bytes(n.as_bytes())
            .map_err(|e| ProtocolError::new(ErrorKind::Connect, e.to_string()))?;
        let value = hyper::header::HeaderValue::from_str(v)
            .map_err(|e| ProtocolError::new(ErrorKind::Connect, format!("header {n}: {e}")))?;
        request.headers_mut().insert(name, value);
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or_else(|| ProtocolError::new(ErrorKind::Connect, format!("no host in {url}")))?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let tcp = TcpStream::connect(format!("{host}:{port}"))
        .await
        .map_err(|e| ProtocolError::new(ErrorKind::Connect, e.to_string()))?;
    tcp.set_nodelay(true)
        .map_err(|e| ProtocolError::new(ErrorKind::Connect, e.to_string()))?;
    let (ws, _resp) = tokio_tungstenite::client_async_tls_with_config(
        request,
        SessionIo::new(tcp),
        Some(config),
        None,
    )
    .await
    .map_err(classify_connect)?;
    Ok(ws)
}

/// A failed read of an open WebSocket: what the server sent broke the
/// protocol or the size limit ([`ErrorKind::Protocol`]), or the connection
/// went away ([`ErrorKind::Reset`]).
pub fn read_error(e: WsError) -> ProtocolError {
    use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError as Violation};
    match e {
        // A TCP close without a close frame is the connection going away.
        WsError::Protocol(Violation::ResetWithoutClosingHandshake) => {
            ProtocolError::new(ErrorKind::Reset, "connection closed without a close frame")
        }
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => ProtocolError::new(
            ErrorKind::Protocol,
            format!(
                "WebSocket message of {size} bytes over the {} limit (--ws-max-message)",
                crate::units::format_bytes(max_size as u64)
            ),
        ),
        WsError::Capacity(_) | WsError::Protocol(_) | WsError::Utf8(_) => {
            ProtocolError::new(ErrorKind::Protocol, format!("invalid WebSocket data: {e}"))
        }
        other => ProtocolError::new(ErrorKind::Reset, other.to_string()),
    }
}

/// A failed handshake: an HTTP refusal keeps its status, body excerpt and
/// the wait a 429 or 503 asked for.
fn classify_connect(e: WsError) -> ProtocolError {
    match e {
        WsError::Http(resp) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .unwrap_or_default();
            let hint = match status {
                404 => " (no WebSocket endpoint at this path: check the URL)",
                401 | 403 => " (check the API key and headers)",
                _ => "",
            };
            let detail = if body.is_empty() {
                format!("the server refused the WebSocket upgrade with HTTP {status}{hint}")
            } else {
                format!("the server refused the WebSocket upgrade with HTTP {status}{hint}: {body}")
            };
            let retry_after = resp.headers().get(hyper::header::RETRY_AFTER);
            ProtocolError {
                retry_after: crate::protocol::target::asked_wait(
                    status,
                    retry_after.map(|v| v.as_bytes()),
                ),
                ..ProtocolError::new(ErrorKind::Http(status), detail)
            }
        }
        other => ProtocolError::new(ErrorKind::Connect, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_frame_shown_is_numbered_as_the_pacer_numbers_it() {
        let counted = FrameEncoding::Json {
            template:
                r#"{"seq":"{{chunk+1}}","chunk":"{{chunk}}","ts":"{{timestamp}}","p":"{{audio}}"}"#
                    .into(),
        };
        let msg = counted.first_message(bytes::Bytes::from_static(&[0, 0, 0]));
        assert_eq!(
            msg,
            Message::text(r#"{"seq":"2","chunk":"1","ts":"0","p":"AAAA"}"#)
        );
        let plain = FrameEncoding::Binary.first_message(bytes::Bytes::from_static(&[1, 2]));
        assert_eq!(plain, Message::binary(vec![1u8, 2]));
    }
}
