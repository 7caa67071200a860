//! Streaming ASR over WebSocket: audio sent as real-time frames at absolute
//! deadlines, partial and final transcripts read from configurable JSON.
//!
//! The session logic ([`run_session`]) is generic over any `Sink`/`Stream`
//! of WebSocket messages, so it is tested without a network.

use std::time::{Duration, Instant};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::http_tts::{json_path, TargetError};
use super::ws::{connect, pcm_frame_bytes};
pub use super::ws::FrameEncoding;
use super::{ErrorKind, ProtocolError};

/// A streaming ASR endpoint and its message shapes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WsAsrTarget {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// Extra handshake headers (secret values redacted on output).
    #[serde(serialize_with = "super::http_tts::serialize_headers_redacted")]
    pub headers: Vec<(String, String)>,
    /// Sample rate of the 16-bit mono PCM sent.
    pub sample_rate: u32,
    /// Audio per frame.
    #[serde(with = "crate::config::serde_duration")]
    pub frame: Duration,
    /// Sent once after connecting; `{{sample_rate}}`, `{{language}}` are filled.
    pub start_message: Option<String>,
    /// Frame encoding.
    pub frames: FrameEncoding,
    /// Sent after the last frame (e.g. `{"type":"end"}`); `None` sends nothing.
    pub end_message: Option<String>,
    /// Dotted path of the transcript text in server messages.
    pub text_path: String,
    /// Dotted path of the message type (`None`: every text message with text is a partial
    /// unless `final_flag_path` says final).
    pub type_path: Option<String>,
    /// Type value of a final transcript.
    pub final_type: String,
    /// Dotted path of a boolean "is final" flag, for servers that use one.
    pub final_flag_path: Option<String>,
}

impl WsAsrTarget {
    /// Bytes of 16-bit mono PCM in one frame.
    pub fn frame_bytes(&self) -> usize {
        pcm_frame_bytes(self.sample_rate, self.frame)
    }

    /// Check the URL scheme early, so a typo is a config error.
    pub fn validate(&self) -> Result<(), TargetError> {
        if !(self.url.starts_with("ws://") || self.url.starts_with("wss://")) {
            return Err(TargetError::BadUrl {
                url: self.url.clone(),
                reason: "expected ws:// or wss://".into(),
            });
        }
        if self.frame.is_zero() {
            return Err(TargetError::BadUrl {
                url: self.url.clone(),
                reason: "frame duration must be > 0".into(),
            });
        }
        Ok(())
    }
}

/// Raw timestamps of one streaming session; `metrics::defs` turns them into numbers.
#[derive(Debug, Clone, Default)]
pub struct StreamTimes {
    /// Handshake finished.
    pub connected_at: Option<Instant>,
    /// First audio frame sent.
    pub audio_started: Option<Instant>,
    /// Last frame (or the end message) sent: the end of the caller's audio.
    pub audio_ended: Option<Instant>,
    /// Arrival of each partial transcript.
    pub partials: Vec<Instant>,
    /// Arrival of the final transcript.
    pub final_at: Option<Instant>,
    /// Lateness of each frame against its deadline, µs.
    pub frame_lag_us: Vec<u32>,
    /// Close code sent by the server, if it closed.
    pub close_code: Option<u16>,
}

/// Connect, stream `pcm` in real time, and return the final transcript.
pub async fn execute(
    target: &WsAsrTarget,
    pcm: &bytes::Bytes,
    language: Option<&str>,
    times: &mut StreamTimes,
) -> Result<String, ProtocolError> {
    let ws = connect(&target.url, &target.headers).await?;
    times.connected_at = Some(Instant::now());
    let (sink, stream) = ws.split();
    run_session(sink, stream, pcm, target, language, times).await
}

/// What a server message is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    Partial,
    Final(String),
    Other,
}

fn classify(text: &str, t: &WsAsrTarget) -> Result<Heard, ProtocolError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(
            ErrorKind::Decode,
            format!("server message is not JSON: {e}"),
        )
    })?;
    let transcript = json_path(&v, &t.text_path)
        .and_then(|x| x.as_str())
        .map(str::to_string);
    let is_final = match (&t.type_path, &t.final_flag_path) {
        (_, Some(flag)) => json_path(&v, flag)
            .and_then(|x| x.as_bool())
            .unwrap_or(false),
        (Some(tp), None) => {
            json_path(&v, tp).and_then(|x| x.as_str()) == Some(t.final_type.as_str())
        }
        (None, None) => false,
    };
    Ok(match (transcript, is_final) {
        (Some(text), true) => Heard::Final(text),
        (Some(_), false) => Heard::Partial,
        (None, _) => Heard::Other,
    })
}

fn fill(template: &str, t: &WsAsrTarget, language: Option<&str>) -> String {
    template
        .replace("{{sample_rate}}", &t.sample_rate.to_string())
        .replace("{{language}}", language.unwrap_or(""))
}

/// The session: start message, frames at `audio_start + i × frame` (absolute
/// deadlines, so lateness never accumulates), end message, then read until
/// the final transcript. Incoming messages are read while frames are sent,
/// so partial timestamps are not delayed by sending.
pub async fn run_session<S, R>(
    mut sink: S,
    mut stream: R,
    pcm: &bytes::Bytes,
    t: &WsAsrTarget,
    language: Option<&str>,
    times: &mut StreamTimes,
) -> Result<String, ProtocolError>
where
    S: Sink<Message> + Unpin,
    S::Error: std::fmt::Display,
    R: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let send_err = |e: S::Error| ProtocolError::new(ErrorKind::Reset, format!("send failed: {e}"));
    if let Some(start) = &t.start_message {
        sink.send(Message::text(fill(start, t, language)))
            .await
            .map_err(send_err)?;
    }
    // Frames are slices of the shared buffer: no copy per frame or session.
    let frame_bytes = t.frame_bytes();
    let n_frames = pcm.len().div_ceil(frame_bytes);
    let frame = |i: usize| pcm.slice(i * frame_bytes..((i + 1) * frame_bytes).min(pcm.len()));
    times.frame_lag_us.reserve(n_frames);
    let start = Instant::now();
    // One timer, re-armed per frame (a new timer per frame costs a wheel
    // insertion and an allocation, 50 times a second per caller).
    let timer = tokio::time::sleep_until(tokio::time::Instant::from_std(start));
    tokio::pin!(timer);
    let mut next = 0usize;
    let mut finals: Vec<String> = Vec::new();
    loop {
        let sending = next < n_frames;
        if !sending && times.audio_ended.is_none() {
            if let Some(end) = &t.end_message {
                sink.send(Message::text(fill(end, t, language)))
                    .await
                    .map_err(send_err)?;
            }
            times.audio_ended = Some(Instant::now());
        }
        let deadline = start + t.frame.saturating_mul(next as u32);
        let due = tokio::time::Instant::from_std(deadline);
        if timer.deadline() != due {
            timer.as_mut().reset(due);
        }
        let incoming = tokio::select! {
            biased;
            msg = stream.next() => Some(msg),
            () = &mut timer, if sending => None,
        };
        match incoming {
            None => {
                let msg = t.frames.message(frame(next));
                let now = Instant::now();
                times.frame_lag_us.push(
                    now.saturating_duration_since(deadline)
                        .as_micros()
                        .min(u128::from(u32::MAX)) as u32,
                );
                times.audio_started.get_or_insert(now);
                sink.send(msg).await.map_err(send_err)?;
                next += 1;
            }
            Some(None) => {
                return Err(ProtocolError::new(
                    ErrorKind::Reset,
                    "connection closed without a close frame",
                ));
            }
            Some(Some(Err(e))) => {
                return Err(ProtocolError::new(ErrorKind::Reset, e.to_string()));
            }
            Some(Some(Ok(msg))) => {
                let at = Instant::now();
                match msg {
                    Message::Text(text) => match classify(text.as_str(), t)? {
                        Heard::Partial => times.partials.push(at),
                        Heard::Final(text) => {
                            finals.push(text);
                            if times.audio_ended.is_some() {
                                times.final_at = Some(at);
                                let _ = sink
                                    .send(Message::Close(Some(CloseFrame {
                                        code: CloseCode::Normal,
                                        reason: "done".into(),
                                    })))
                                    .await;
                                return Ok(finals.join(" "));
                            }
                        }
                        Heard::Other => {}
                    },
                    Message::Close(frame) => {
                        let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                        times.close_code = Some(code);
                        return Err(ProtocolError::new(
                            ErrorKind::WsClosed(code),
                            "server closed before the final transcript",
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> WsAsrTarget {
        WsAsrTarget {
            url: "ws://127.0.0.1:9/x".into(),
            headers: vec![],
            sample_rate: 16_000,
            frame: Duration::from_millis(20),
            start_message: Some(r#"{"type":"start","sample_rate":{{sample_rate}}}"#.into()),
            frames: FrameEncoding::Binary,
            end_message: Some(r#"{"type":"end"}"#.into()),
            text_path: "text".into(),
            type_path: Some("type".into()),
            final_type: "final".into(),
            final_flag_path: None,
        }
    }

    #[test]
    fn messages_are_classified_by_type_or_flag() {
        let t = target();
        assert_eq!(
            classify(r#"{"type":"partial","text":"a"}"#, &t).ok(),
            Some(Heard::Partial)
        );
        assert_eq!(
            classify(r#"{"type":"final","text":"a b"}"#, &t).ok(),
            Some(Heard::Final("a b".into()))
        );
        assert_eq!(classify(r#"{"type":"ping"}"#, &t).ok(), Some(Heard::Other));
        let mut f = target();
        f.final_flag_path = Some("is_final".into());
        assert_eq!(
            classify(r#"{"is_final":true,"text":"x"}"#, &f).ok(),
            Some(Heard::Final("x".into()))
        );
        assert!(classify("not json", &t).is_err());
    }

    #[tokio::test]
    async fn frames_follow_absolute_deadlines_and_the_final_ends_the_session() {
        let t = target();
        // 10 frames of 20 ms = 200 ms of audio.
        let pcm = bytes::Bytes::from(vec![0u8; t.frame_bytes() * 10]);
        // The server answers with a final 300 ms in, after the end message.
        let incoming = futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(Message::text(r#"{"type":"final","text":"hello"}"#))
        })
        .chain(futures_util::stream::pending());
        let mut sent: Vec<Message> = Vec::new();
        let mut times = StreamTimes::default();
        let text = run_session(
            &mut sent,
            Box::pin(incoming),
            &pcm,
            &t,
            Some("en"),
            &mut times,
        )
        .await
        .expect("session completes");
        assert_eq!(text, "hello");
        // start + 10 frames + end + close.
        assert_eq!(sent.len(), 13);
        assert_eq!(times.frame_lag_us.len(), 10);
        let started = times.audio_started.expect("started");
        let ended = times.audio_ended.expect("ended");
        // The last frame goes out at 9 × 20 ms = 180 ms after the first.
        let span = ended.duration_since(started);
        assert!(
            span >= Duration::from_millis(180) && span < Duration::from_millis(230),
            "{span:?}"
        );
        assert!(times.final_at.is_some());
    }
}
