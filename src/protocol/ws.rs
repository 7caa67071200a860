//! What every WebSocket adapter shares: the handshake with lean buffers,
//! handshake error classes, and real-time audio frames.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{ErrorKind, ProtocolError};

/// A connected client WebSocket.
pub type ClientWs = WebSocketStream<MaybeTlsStream<TcpStream>>;

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

/// Bytes of 16-bit mono PCM in one frame of `frame` at `sample_rate`.
pub fn pcm_frame_bytes(sample_rate: u32, frame: std::time::Duration) -> usize {
    let samples = (u128::from(sample_rate) * frame.as_nanos() / 1_000_000_000) as usize;
    samples.max(1) * 2
}

/// Open a WebSocket to `url` with extra handshake `headers`.
///
/// Small buffers: tungstenite's 128 KiB defaults cost ~160 KiB per session,
/// which thousands of concurrent callers cannot afford; frames are a few
/// hundred bytes. No Nagle: a frame must leave when it is due.
pub async fn connect(url: &str, headers: &[(String, String)]) -> Result<ClientWs, ProtocolError> {
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
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let (ws, _resp) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .map_err(classify_connect)?;
    Ok(ws)
}

/// A failed handshake: an HTTP refusal keeps its status and body excerpt.
fn classify_connect(e: WsError) -> ProtocolError {
    match e {
        WsError::Http(resp) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).to_string())
                .unwrap_or_default();
            ProtocolError::new(ErrorKind::Http(status), body)
        }
        other => ProtocolError::new(ErrorKind::Connect, other.to_string()),
    }
}
