//! Streaming ASR over WebSocket: audio sent as real-time frames at absolute
//! deadlines, partial and final transcripts read from configurable JSON.
//!
//! Frames are timed and written by [`super::ws_pacer`]; the session logic
//! ([`run_session`]) is generic over the byte stream under the WebSocket, so
//! it is tested over an in-memory pipe.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::events::ErrorEvents;
use super::target::{json_path, TargetError};
use super::trace::{list, Ignored, Tracer, Verdict};
pub use super::ws::FrameEncoding;
use super::ws::{connect, read_error, HandOff};
use super::ws_pacer::{PacedWs, Pacer, Track, WsEvent};
use super::{ErrorKind, EventCode, ProtocolError};
use crate::audio::codec::Codec;

/// A streaming ASR endpoint and its message shapes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WsAsrTarget {
    /// `ws://` or `wss://` URL.
    #[serde(serialize_with = "super::target::serialize_url_redacted")]
    pub url: String,
    /// Extra handshake headers (secret values redacted on output).
    #[serde(serialize_with = "super::target::serialize_headers_redacted")]
    pub headers: Vec<(String, String)>,
    /// Sample rate of the audio sent.
    pub sample_rate: u32,
    /// How its samples are encoded (16-bit PCM, or G.711 for telephony).
    #[serde(default)]
    pub codec: Codec,
    /// Audio per frame.
    #[serde(with = "crate::units::serde_duration")]
    pub frame: Duration,
    /// Sent in order after connecting; `{{sample_rate}}`, `{{language}}` are filled.
    pub start_messages: Vec<String>,
    /// Frame encoding.
    pub frames: FrameEncoding,
    /// Sent in order after the last frame (e.g. `{"type":"end"}`).
    pub end_messages: Vec<String>,
    /// Dotted paths of the transcript text in server messages, tried in
    /// order (a final's `text`, a partial's `delta`).
    pub text_paths: Vec<String>,
    /// The model, for `{{model}}` in the messages (empty if none).
    #[serde(default)]
    pub model: String,
    /// Error events: each fails the request, counted by its code.
    #[serde(flatten, default)]
    pub errors: ErrorEvents,
    /// Dotted path of the message type (`None`: every text message with text is a partial
    /// unless `final_flag_path` says final).
    pub type_path: Option<String>,
    /// Type value of a final transcript.
    pub final_type: String,
    /// Dotted path of a boolean "is final" flag, for servers that use one.
    pub final_flag_path: Option<String>,
    /// Types of the message that ends the session (Deepgram `Metadata`,
    /// AssemblyAI `Termination`). Empty: the first final after the end of
    /// the audio ends it. Otherwise a final is one fixed segment, the
    /// transcript is the finals joined, and the session ends at a done
    /// message or at the server's normal close after the end of the audio:
    /// vendors send several finals per stream.
    #[serde(default)]
    pub done_types: Vec<String>,
    /// A message sent periodically once the audio has ended, until the
    /// session ends (Deepgram closes a stream that gets nothing for 10 s;
    /// voxload's audio has no pauses, so waiting for the end is the idle time).
    #[serde(default)]
    pub keepalive: Option<KeepAlive>,
    /// The largest message (and frame) accepted from the server, bytes
    /// (`--ws-max-message`); a longer one fails as `protocol`.
    #[serde(default = "super::ws::default_max_message")]
    pub max_message_bytes: usize,
}

/// A periodic keep-alive message (Deepgram `{"type":"KeepAlive"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepAlive {
    /// The message (a template, like the start and end messages).
    pub message: String,
    /// The period, from the end of the audio.
    #[serde(with = "crate::units::serde_duration")]
    pub every: Duration,
}

impl WsAsrTarget {
    /// Bytes of audio in one frame.
    pub fn frame_bytes(&self) -> usize {
        self.codec.frame_bytes(self.sample_rate, self.frame)
    }

    /// Check the URL scheme early, so a typo is a config error.
    pub fn validate(&self) -> Result<(), TargetError> {
        if !(self.url.starts_with("ws://") || self.url.starts_with("wss://")) {
            return Err(TargetError::BadUrl {
                url: self.url.clone(),
                reason: "expected ws:// or wss://".into(),
            });
        }
        if let Some(reason) = super::target::bad_port(&self.url) {
            return Err(TargetError::BadUrl {
                url: self.url.clone(),
                reason,
            });
        }
        if self.frame.is_zero() {
            return Err(TargetError::ZeroFrame);
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
    /// Arrival of the final transcript: the first final after the end of
    /// the audio or, with done types, the end of the session (done message
    /// or normal close), when the whole transcript is in.
    pub final_at: Option<Instant>,
    /// Arrival of the first final segment (`is_final`, `end_of_turn`,
    /// `completed`) after the end of the audio: the end-of-speech clock
    /// (TTFS), which with done types comes before the session's end.
    pub final_segment_at: Option<Instant>,
    /// Lateness of each frame against its deadline, µs.
    pub frame_lag_us: Vec<u32>,
    /// Close code sent by the server, if it closed.
    pub close_code: Option<u16>,
}

/// A streaming ASR endpoint bound to the run's pacer.
#[derive(Debug, Clone)]
pub struct WsAsr {
    target: WsAsrTarget,
    pacer: Pacer,
    tracer: Tracer,
}

impl WsAsr {
    /// Validate the target; `pacer` times the frames (one per run, shared
    /// by its sessions).
    pub fn new(target: WsAsrTarget, pacer: Pacer) -> Result<Self, TargetError> {
        target.validate()?;
        Ok(Self {
            target,
            pacer,
            tracer: Tracer::off(),
        })
    }

    /// Record every session's messages in `tracer` (`voxload sample`).
    pub fn traced(self, tracer: Tracer) -> Self {
        Self { tracer, ..self }
    }

    /// The validated target.
    pub fn target(&self) -> &WsAsrTarget {
        &self.target
    }

    /// Connect, stream `pcm` in real time, and return the final transcript.
    pub async fn execute(
        &self,
        pcm: &bytes::Bytes,
        language: Option<&str>,
        times: &mut StreamTimes,
    ) -> Result<String, ProtocolError> {
        let target = &self.target;
        let trace = &self.tracer;
        trace.with(|tr| {
            let now = Instant::now();
            tr.start(now);
            tr.note(
                now,
                format!("connect {}", super::target::redact_url(&target.url)),
            );
        });
        let ws = connect(&target.url, &target.headers, target.max_message_bytes)
            .await
            .inspect_err(|e| trace.with(|tr| tr.note(Instant::now(), format!("{e}"))))?;
        times.connected_at = Some(Instant::now());
        trace.with(|tr| tr.note(Instant::now(), "WebSocket open"));
        run_session(ws, &self.pacer, pcm, target, language, times, trace).await
    }
}

/// What a server message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Heard {
    Partial,
    Final(String),
    Done,
    Error(EventCode),
    Other(Ignored),
}

pub(super) fn classify(text: &str, t: &WsAsrTarget) -> Result<Heard, ProtocolError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(
            ErrorKind::Decode,
            format!("server message is not JSON: {e}"),
        )
    })?;
    if let Some(kind) = t
        .type_path
        .as_deref()
        .and_then(|tp| json_path(&v, tp))
        .and_then(|x| x.as_str())
    {
        if let Some(code) = t.errors.code(kind, &v) {
            return Ok(Heard::Error(code));
        }
        if t.errors.is_error_type(kind) {
            return Ok(Heard::Other(Ignored::BenignError));
        }
        if t.done_types.iter().any(|d| d == kind) {
            return Ok(Heard::Done);
        }
    }
    let transcript = t
        .text_paths
        .iter()
        .find_map(|p| json_path(&v, p).and_then(|x| x.as_str()))
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
        // A partial that says nothing is not one (no first partial yet).
        (Some(text), false) if !text.trim().is_empty() => Heard::Partial,
        (Some(_), false) => Heard::Other(Ignored::EmptyPartial),
        (None, _) => Heard::Other(match &t.type_path {
            None => Ignored::NoText,
            Some(tp) if json_path(&v, tp).and_then(|x| x.as_str()).is_none() => Ignored::NoType,
            Some(_) => Ignored::UnknownType,
        }),
    })
}

/// Why server message `text` was ignored (`why`, from [`classify`]),
/// naming the paths and lists checked. Only `voxload sample` asks.
pub(super) fn explain(why: Ignored, text: &str, t: &WsAsrTarget) -> String {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let tp = t.type_path.as_deref().unwrap_or("");
    let kind = json_path(&v, tp).and_then(|x| x.as_str()).unwrap_or("");
    let texts = list("text_paths", &t.text_paths);
    match why {
        Ignored::EmptyPartial => "partial with empty text".into(),
        Ignored::NoText => format!("no string at {texts}"),
        Ignored::NoType => format!("no string at type path '{tp}', and none at {texts}"),
        Ignored::UnknownType => format!(
            "type '{kind}' has no string at {texts} and is in none of {}, {}",
            list("done_types", &t.done_types),
            list("error_types", &t.errors.error_types)
        ),
        Ignored::BenignError => format!(
            "error '{kind}' with a benign code ({})",
            list("benign_errors", &t.errors.benign_errors)
        ),
        other => format!("{other:?}"),
    }
}

/// What [`classify`] made of `text`, for the trace (the text read again:
/// a partial's is not kept in a load run).
fn verdict(heard: &Heard, text: &str, t: &WsAsrTarget) -> Verdict {
    match heard {
        Heard::Partial => {
            let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            let said = t
                .text_paths
                .iter()
                .find_map(|p| json_path(&v, p).and_then(|x| x.as_str()))
                .unwrap_or("");
            Verdict::Partial(said.to_string())
        }
        Heard::Final(said) => Verdict::Final(said.clone()),
        Heard::Done => Verdict::Done,
        Heard::Error(code) => Verdict::Error(code.as_str().to_string()),
        Heard::Other(why) => Verdict::Ignored(explain(*why, text, t)),
    }
}

fn fill(template: &str, t: &WsAsrTarget, language: Option<&str>) -> String {
    template
        .replace("{{sample_rate}}", &t.sample_rate.to_string())
        .replace("{{language}}", language.unwrap_or(""))
        .replace("{{model}}", &t.model)
}

/// The session: start message, frames at `audio_start + i × frame` (absolute
/// deadlines, so lateness never accumulates), end message right after the
/// last frame, then read until the final transcript. Incoming messages are
/// read while frames are sent, so partial timestamps are not delayed by
/// sending.
///
/// Generic over the byte stream under the WebSocket, so it is tested over
/// an in-memory pipe with a real WebSocket server on the other end.
pub async fn run_session<T: AsyncRead + AsyncWrite + HandOff + Unpin>(
    ws: WebSocketStream<T>,
    pacer: &Pacer,
    pcm: &bytes::Bytes,
    t: &WsAsrTarget,
    language: Option<&str>,
    times: &mut StreamTimes,
    trace: &Tracer,
) -> Result<String, ProtocolError> {
    let ws = PacedWs::new(ws, pacer, &t.frames, t.frame_bytes(), t.frame);
    let sent = |msg: &Message| trace.with(|tr| tr.sent(Instant::now(), msg));
    // Frame lateness reaches `times` however the session ends, even when
    // the caller's timeout drops it.
    let mut guard = KeepLags {
        ws,
        lags: &mut times.frame_lag_us,
    };
    let ws = &mut guard.ws;
    let send_err = |e: WsError| ProtocolError::new(ErrorKind::Reset, format!("send failed: {e}"));
    for start in &t.start_messages {
        let msg = Message::text(fill(start, t, language));
        ws.send(&msg).map_err(send_err)?;
        sent(&msg);
    }
    ws.reserve_lags(pcm.len().div_ceil(t.frame_bytes()));
    let mut track = Track::once(pcm.clone());
    for end in &t.end_messages {
        track = track.then(Message::text(fill(end, t, language)));
    }
    ws.play(track);
    let mut finals: Vec<String> = Vec::new();
    let mut keepalive_due: Option<Instant> = None;
    loop {
        let event = match (&t.keepalive, keepalive_due) {
            (Some(k), Some(due)) => {
                let timer = tokio::time::sleep_until(due.into());
                tokio::select! {
                    e = ws.next_event() => Some(e),
                    () = timer => {
                        keepalive_due = Some(due + k.every);
                        None
                    }
                }
            }
            _ => Some(ws.next_event().await),
        };
        let Some(event) = event else {
            if let Some(k) = &t.keepalive {
                let msg = Message::text(fill(&k.message, t, language));
                ws.send(&msg).map_err(send_err)?;
                sent(&msg);
            }
            continue;
        };
        let msg = match event.map_err(read_error)? {
            WsEvent::Played(played) => {
                // The end of the caller's audio: the last frame and the end message.
                times.audio_started = played.first;
                times.audio_ended = Some(played.last.unwrap_or_else(Instant::now));
                trace.with(|tr| {
                    let last = played.last.unwrap_or_else(Instant::now);
                    let one = pcm.slice(..t.frame_bytes().min(pcm.len()));
                    let first = played.first.unwrap_or(last);
                    tr.frames(
                        first,
                        played.last,
                        played.frames,
                        &t.frames.first_message(one),
                    );
                    for end in &t.end_messages {
                        tr.sent(last, &Message::text(fill(end, t, language)));
                    }
                });
                keepalive_due = t.keepalive.as_ref().map(|k| Instant::now() + k.every);
                continue;
            }
            WsEvent::Ended => {
                return Err(ProtocolError::new(
                    ErrorKind::Reset,
                    "connection closed without a close frame",
                ));
            }
            WsEvent::Message(msg) => msg,
        };
        let at = Instant::now();
        if trace.is_on() {
            trace_received(trace, at, &msg, t);
        }
        match msg {
            Message::Text(text) => match classify(text.as_str(), t)? {
                Heard::Partial => times.partials.push(at),
                Heard::Final(text) => {
                    if !text.trim().is_empty() {
                        finals.push(text.trim().to_string());
                    }
                    if times.audio_ended.is_some() && times.final_segment_at.is_none() {
                        times.final_segment_at = Some(at);
                    }
                    if t.done_types.is_empty() && times.audio_ended.is_some() {
                        times.final_at = Some(at);
                        let _ = ws.close(Some(done_frame())).await;
                        sent(&Message::Close(Some(done_frame())));
                        return Ok(finals.join(" "));
                    }
                }
                Heard::Done => {
                    times.final_at = Some(at);
                    let _ = ws.close(Some(done_frame())).await;
                    sent(&Message::Close(Some(done_frame())));
                    return Ok(finals.join(" "));
                }
                Heard::Error(code) => {
                    return Err(ProtocolError::new(
                        ErrorKind::ServerEvent(code),
                        format!("the server sent an error event ({code})"),
                    ))
                }
                Heard::Other(_) => {}
            },
            Message::Close(frame) => {
                let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                times.close_code = Some(code);
                // With done types, a normal close after the end of the
                // audio ends the stream (Deepgram after CloseStream).
                if code == 1000 && !t.done_types.is_empty() && times.audio_ended.is_some() {
                    times.final_at = Some(at);
                    return Ok(finals.join(" "));
                }
                return Err(ProtocolError::new(
                    ErrorKind::WsClosed(code),
                    "server closed before the final transcript",
                ));
            }
            _ => {}
        }
    }
}

/// The close frame of a session that got its transcript.
fn done_frame() -> CloseFrame {
    CloseFrame {
        code: CloseCode::Normal,
        reason: "done".into(),
    }
}

/// Record a received message and what the rules made of it.
fn trace_received(trace: &Tracer, at: Instant, msg: &Message, t: &WsAsrTarget) {
    let verdict = match msg {
        Message::Text(text) => match classify(text.as_str(), t) {
            Ok(heard) => verdict(&heard, text.as_str(), t),
            Err(e) => Verdict::Failed(e.detail),
        },
        Message::Close(frame) => Verdict::Close(frame.as_ref().map_or(1005, |f| u16::from(f.code))),
        Message::Binary(_) => Verdict::Ignored("binary message (transcripts are JSON text)".into()),
        _ => Verdict::Ignored("ping or pong (answered by the socket)".into()),
    };
    trace.with(|tr| tr.received(at, msg, verdict));
}

/// Moves the frames' lateness into the session's times when dropped.
struct KeepLags<'a, T: HandOff> {
    ws: PacedWs<T>,
    lags: &'a mut Vec<u32>,
}

impl<T: HandOff> Drop for KeepLags<'_, T> {
    fn drop(&mut self) {
        self.lags.extend(self.ws.take_lags());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing_tests::{on_schedule_at, LATE};

    fn target() -> WsAsrTarget {
        WsAsrTarget {
            url: "ws://127.0.0.1:9/x".into(),
            headers: vec![],
            sample_rate: 16_000,
            codec: Default::default(),
            frame: Duration::from_millis(20),
            start_messages: vec![r#"{"type":"start","sample_rate":{{sample_rate}}}"#.into()],
            frames: FrameEncoding::Binary,
            end_messages: vec![r#"{"type":"end"}"#.into()],
            text_paths: vec!["text".into()],
            model: String::new(),
            errors: ErrorEvents::default(),
            type_path: Some("type".into()),
            final_type: "final".into(),
            final_flag_path: None,
            done_types: vec![],
            keepalive: None,
            max_message_bytes: crate::protocol::ws::DEFAULT_MAX_MESSAGE,
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
        assert_eq!(
            classify(r#"{"type":"ping"}"#, &t).ok(),
            Some(Heard::Other(Ignored::UnknownType))
        );
        assert_eq!(
            explain(Ignored::UnknownType, r#"{"type":"ping"}"#, &t),
            "type 'ping' has no string at text_paths [text] and is in none of done_types [], \
             error_types []"
        );
        let mut f = target();
        f.final_flag_path = Some("is_final".into());
        assert_eq!(
            classify(r#"{"is_final":true,"text":"x"}"#, &f).ok(),
            Some(Heard::Final("x".into()))
        );
        assert!(classify("not json", &t).is_err());
    }

    /// Deepgram's rules: `is_final` segments, `Metadata` the session's end.
    fn segments() -> WsAsrTarget {
        WsAsrTarget {
            final_flag_path: Some("is_final".into()),
            text_paths: vec!["channel.alternatives.0.transcript".into()],
            done_types: vec!["Metadata".into()],
            errors: ErrorEvents {
                error_types: vec!["Error".into()],
                error_code_path: "err_code".into(),
                ..ErrorEvents::default()
            },
            end_messages: vec![r#"{"type":"Finalize"}"#.into()],
            start_messages: vec![],
            ..target()
        }
    }

    #[test]
    fn a_done_type_is_the_session_end_and_a_flag_final_a_segment() {
        let t = segments();
        let results = |text: &str, fin: bool| {
            format!(
                r#"{{"type":"Results","is_final":{fin},"channel":{{"alternatives":[{{"transcript":"{text}"}}]}}}}"#
            )
        };
        assert_eq!(
            classify(&results("he", false), &t).ok(),
            Some(Heard::Partial)
        );
        assert_eq!(
            classify(&results("", false), &t).ok(),
            Some(Heard::Other(Ignored::EmptyPartial))
        );
        assert_eq!(
            classify(&results("hello there", true), &t).ok(),
            Some(Heard::Final("hello there".into()))
        );
        assert_eq!(
            classify(r#"{"type":"Metadata","duration":1.0}"#, &t).ok(),
            Some(Heard::Done)
        );
        assert_eq!(
            classify(r#"{"type":"Error","err_code":"DATA-0000"}"#, &t).ok(),
            Some(Heard::Error(EventCode::new("DATA-0000")))
        );
        // Unknown events are other messages: counted by nobody, hang nothing.
        assert_eq!(
            classify(r#"{"type":"Surprise"}"#, &t).ok(),
            Some(Heard::Other(Ignored::UnknownType))
        );
    }

    #[tokio::test]
    async fn with_done_types_the_finals_are_joined_until_the_done_message() {
        let t = segments();
        let pcm = bytes::Bytes::from(vec![0u8; t.frame_bytes() * 5]);
        let (near, far) = tokio::io::duplex(64 * 1024);
        // Two segments (one empty) after the audio, then the end.
        let server = server(
            far,
            &[
                r#"{"type":"Results","is_final":true,"channel":{"alternatives":[{"transcript":"hello"}]}}"#,
                r#"{"type":"Results","is_final":true,"channel":{"alternatives":[{"transcript":""}]}}"#,
                r#"{"type":"Results","is_final":true,"channel":{"alternatives":[{"transcript":"there"}]}}"#,
                r#"{"type":"Metadata","duration":0.1}"#,
            ],
            Duration::from_millis(250),
        );
        let mut times = StreamTimes::default();
        let text = run_session(
            client(near).await,
            &Pacer::new(),
            &pcm,
            &t,
            None,
            &mut times,
            &Tracer::off(),
        )
        .await
        .expect("session completes");
        assert_eq!(text, "hello there");
        let (segment, done) = (
            times.final_segment_at.expect("segment"),
            times.final_at.expect("done"),
        );
        assert!(segment <= done);
        assert!(times.audio_ended.expect("ended") <= segment);
        let got = server.await.expect("server");
        assert!(got
            .iter()
            .any(|m| *m == Message::text(r#"{"type":"Finalize"}"#)));
    }

    #[tokio::test]
    async fn an_application_close_code_fails_the_session_with_that_code() {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::protocol::Role;
        let t = segments();
        let pcm = bytes::Bytes::from(vec![0u8; t.frame_bytes() * 3]);
        let (near, far) = tokio::io::duplex(64 * 1024);
        let _server = tokio::spawn(async move {
            let mut ws = WebSocketStream::from_raw_socket(far, Role::Server, None).await;
            let frame = CloseFrame {
                code: CloseCode::from(4000),
                reason: "bad".into(),
            };
            let _ = ws.send(Message::Close(Some(frame))).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        let mut times = StreamTimes::default();
        let e = run_session(
            client(near).await,
            &Pacer::new(),
            &pcm,
            &t,
            None,
            &mut times,
            &Tracer::off(),
        )
        .await
        .expect_err("closed");
        assert_eq!(e.kind, ErrorKind::WsClosed(4000));
        assert_eq!(times.close_code, Some(4000));
    }

    /// A WebSocket server on the far end of an in-memory pipe: records
    /// every message and sends `reply` `after` the session began.
    fn server(
        io: tokio::io::DuplexStream,
        replies: &'static [&'static str],
        after: Duration,
    ) -> tokio::task::JoinHandle<Vec<Message>> {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::protocol::Role;
        tokio::spawn(async move {
            let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            let reply_at = tokio::time::sleep(after);
            tokio::pin!(reply_at);
            let (mut got, mut replied) = (Vec::new(), false);
            loop {
                tokio::select! {
                    m = ws.next() => match m {
                        Some(Ok(m)) => {
                            let close = m.is_close();
                            got.push(m);
                            if close {
                                return got;
                            }
                        }
                        _ => return got,
                    },
                    () = &mut reply_at, if !replied => {
                        replied = true;
                        for reply in replies {
                            ws.send(Message::text(*reply)).await.expect("reply");
                        }
                    }
                }
            }
        })
    }

    async fn client(io: tokio::io::DuplexStream) -> WebSocketStream<tokio::io::DuplexStream> {
        use tokio_tungstenite::tungstenite::protocol::Role;
        WebSocketStream::from_raw_socket(io, Role::Client, None).await
    }

    #[tokio::test]
    async fn frames_follow_absolute_deadlines_and_the_final_ends_the_session() {
        let t = target();
        // 10 frames of 20 ms = 200 ms of audio.
        let pcm = bytes::Bytes::from(
            (0..t.frame_bytes() * 10)
                .map(|i| i as u8)
                .collect::<Vec<_>>(),
        );
        // The server answers with a final 300 ms in, after the end message.
        let (near, far) = tokio::io::duplex(64 * 1024);
        let server = server(
            far,
            &[r#"{"type":"final","text":"hello"}"#],
            Duration::from_millis(300),
        );
        let mut times = StreamTimes::default();
        let text = run_session(
            client(near).await,
            &Pacer::new(),
            &pcm,
            &t,
            Some("en"),
            &mut times,
            &Tracer::off(),
        )
        .await
        .expect("session completes");
        assert_eq!(text, "hello");
        let got = server.await.expect("server");
        // start + 10 frames + end + close.
        assert_eq!(got.len(), 13, "{got:?}");
        assert_eq!(
            got[0],
            Message::text(r#"{"type":"start","sample_rate":16000}"#)
        );
        let audio: Vec<u8> = got[1..11]
            .iter()
            .flat_map(|m| m.clone().into_data())
            .collect();
        assert_eq!(audio, pcm.to_vec());
        assert_eq!(got[11], Message::text(r#"{"type":"end"}"#));
        assert!(got[12].is_close());
        assert_eq!(times.frame_lag_us.len(), 10);
        let started = times.audio_started.expect("started");
        let ended = times.audio_ended.expect("ended");
        // The schedule: the first frame was due when it was sent less its
        // lateness, the last 9 × 20 ms = 180 ms after that. The end of the
        // audio is never early and, on a busy machine, a little late.
        let first_due = started - Duration::from_micros(u64::from(times.frame_lag_us[0]));
        let last_due = Duration::from_millis(180);
        on_schedule_at(ended, first_due, last_due, LATE, "end of audio");
        assert!(times.final_at.is_some());
    }

    #[tokio::test]
    async fn partials_are_read_while_frames_are_sent() {
        let t = target();
        let pcm = bytes::Bytes::from(vec![0u8; t.frame_bytes() * 10]);
        let (near, far) = tokio::io::duplex(64 * 1024);
        let _server = server(
            far,
            &[r#"{"type":"partial","text":"he"}"#],
            Duration::from_millis(50),
        );
        let mut times = StreamTimes::default();
        let begun = Instant::now();
        // No final comes: the session runs until the timeout.
        let pacer = Pacer::new();
        let off = Tracer::off();
        let session = run_session(client(near).await, &pacer, &pcm, &t, None, &mut times, &off);
        let _ = tokio::time::timeout(Duration::from_millis(300), session).await;
        // Sent 50 ms in, read while the frames went out: before the last
        // of them was even due (180 ms after the first, which left after
        // `begun`), however late the read.
        let partial = *times.partials.first().expect("partial");
        let due = Duration::from_millis(50);
        let last_frame_due = Duration::from_millis(180);
        on_schedule_at(partial, begun, due, last_frame_due - due, "partial");
        assert_eq!(times.frame_lag_us.len(), 10);
    }
}
