//! TTS over WebSocket (ElevenLabs `stream-input`, Cartesia, Deepgram speak):
//! text goes out as JSON messages — whole, or word by word at an LLM's pace
//! — and audio comes back as base64 in JSON or as binary frames.
//!
//! One adapter serves every vendor: which messages are sent and how the
//! answers are read are data ([`WsTtsTarget`]), the presets fill them in.
//! Audio is recorded into the same [`Probe`] as HTTP TTS, so TTFA, chunks,
//! stalls, prebuffer, RTF and the audio sanity checks apply unchanged; the
//! instants only a text stream has (first and last text sent) come back as
//! [`TextTimes`].

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use super::events::ErrorEvents;
use super::http_tts::{base64_audio, decode_error, TtsJob};
use super::target::{json_path, rate_at, TargetError};
use super::trace::{list, Ignored, Tracer, Verdict};
use super::ws::{connect, read_error};
use super::{ErrorKind, Probe, ProtocolError};
use crate::audio::rate::{self, DeclaredRate, RateSource};
use crate::audio::{AudioFormat, StreamAudio};

/// Where the server puts the audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum WsAudio {
    /// Base64 in a JSON message at this dotted path (`audio`, `data`).
    Base64 {
        /// Dotted path of the base64 string.
        path: String,
    },
    /// Binary frames are the audio itself (Deepgram speak).
    Binary,
}

/// How the text of a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TextStream {
    /// All of it in one text message.
    Whole,
    /// Word by word (whitespace-split "tokens"), as an LLM produces it:
    /// token `i` is due at `first_delay + i / rate` after the request's
    /// start — absolute deadlines, so a late send never delays the next.
    Tokens {
        /// Tokens per second.
        rate: f64,
        /// Before the first token.
        #[serde(with = "crate::units::serde_duration")]
        first_delay: Duration,
    },
}

impl TextStream {
    /// Parse `--text-stream` (`whole`, `40tok/s`, `40`) with `--first-token-delay`.
    pub fn parse(spec: &str, first_delay: Duration) -> Option<Self> {
        let s = spec.trim();
        if s.eq_ignore_ascii_case("whole") || s.is_empty() {
            return Some(TextStream::Whole);
        }
        let n = s.strip_suffix("tok/s").unwrap_or(s).trim();
        let rate: f64 = n.parse().ok()?;
        (rate.is_finite() && rate > 0.0).then_some(TextStream::Tokens { rate, first_delay })
    }

    /// The text messages' contents and when each is due, from the
    /// request's start. Every piece ends in a space (ElevenLabs buffers
    /// words on it; the others join pieces verbatim), so the pieces joined
    /// give the text back up to whitespace.
    pub fn schedule(&self, text: &str) -> Vec<(Duration, String)> {
        match *self {
            TextStream::Whole if text.trim().is_empty() => Vec::new(),
            TextStream::Whole => vec![(Duration::ZERO, format!("{} ", text.trim_end()))],
            TextStream::Tokens { rate, first_delay } => text
                .split_whitespace()
                .enumerate()
                .map(|(i, w)| {
                    let at = Duration::try_from_secs_f64(i as f64 / rate)
                        .unwrap_or(Duration::MAX)
                        .saturating_add(first_delay);
                    (at, format!("{w} "))
                })
                .collect(),
        }
    }
}

/// A WebSocket TTS endpoint and its message rules. Serialized into
/// `result.json` with secrets redacted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WsTtsTarget {
    /// `ws://` or `wss://` URL; `{{voice}}` and `{{model}}` are filled.
    #[serde(serialize_with = "super::target::serialize_url_redacted")]
    pub url: String,
    /// Handshake headers (secret values redacted on output).
    #[serde(serialize_with = "super::target::serialize_headers_redacted")]
    pub headers: Vec<(String, String)>,
    /// The model, for `{{model}}`.
    #[serde(default)]
    pub model: String,
    /// Audio encoding of the answer.
    pub format: AudioFormat,
    /// Sent in order after connecting (ElevenLabs' `{"text":" ",…}`).
    #[serde(default)]
    pub start_messages: Vec<String>,
    /// One per text piece; `{{text}}` is the piece (JSON-escaped).
    pub text_messages: Vec<String>,
    /// Sent after the last piece (Deepgram's `{"type":"Flush"}`); the
    /// flush clocks start when the last of these is sent.
    #[serde(default)]
    pub flush_messages: Vec<String>,
    /// Sent after the final audio, before closing (`{"type":"Close"}`).
    #[serde(default)]
    pub close_messages: Vec<String>,
    /// Where the audio is.
    pub audio: WsAudio,
    /// Dotted path of the message type (`type`).
    pub type_path: Option<String>,
    /// Types that end the answer (`done`, `Flushed`).
    #[serde(default)]
    pub final_types: Vec<String>,
    /// Dotted path of a boolean "final" flag (`isFinal`).
    pub final_flag_path: Option<String>,
    /// Dotted path of the audio's sample rate in server messages; once
    /// announced it is the answer's rate (raw PCM). The URL's own
    /// `output_format=pcm_N` / `sample_rate=N` are read without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_path: Option<String>,
    /// Error events: each fails the request, counted by its code.
    #[serde(flatten, default)]
    pub errors: ErrorEvents,
    /// How text is sent.
    pub text_stream: TextStream,
    /// Bound on TCP connect plus upgrade.
    #[serde(with = "crate::units::serde_duration")]
    pub connect_timeout: Duration,
    /// The largest message accepted from the server, bytes.
    #[serde(default = "super::ws::default_max_message")]
    pub max_message_bytes: usize,
}

/// The instants only a text stream has, beside the probe's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextTimes {
    /// The first text message left.
    pub first_text_at: Option<Instant>,
    /// The last text (or flush) message left: the flush clocks start here.
    pub flush_at: Option<Instant>,
    /// The final message (or flag) arrived.
    pub final_at: Option<Instant>,
}

/// What one server message means under a target's rules.
#[derive(Debug, PartialEq)]
pub enum Reading {
    /// Audio bytes (base64 already decoded), and whether it was also final.
    Audio(Vec<u8>, bool),
    /// The answer is complete.
    Final,
    /// An error event: fails the request.
    Error(ProtocolError),
    /// Anything else (alignment, metadata), and why it was nothing more.
    Other(Ignored),
}

impl WsTtsTarget {
    /// Check the URL and that every message template is JSON, so a typo is
    /// a config error and not a failure per request.
    pub fn validate(&self) -> Result<(), TargetError> {
        if !(self.url.starts_with("ws://") || self.url.starts_with("wss://")) {
            return Err(TargetError::BadUrl {
                url: self.url.clone(),
                reason: "expected ws:// or wss://".into(),
            });
        }
        let all = self
            .start_messages
            .iter()
            .chain(&self.text_messages)
            .chain(&self.flush_messages)
            .chain(&self.close_messages);
        for m in all {
            if serde_json::from_str::<serde_json::Value>(m).is_err() {
                return Err(TargetError::BadUrl {
                    url: self.url.clone(),
                    reason: format!("message template is not JSON: {m}"),
                });
            }
        }
        if self.text_messages.is_empty() {
            return Err(TargetError::BadUrl {
                url: self.url.clone(),
                reason: "no text message template".into(),
            });
        }
        Ok(())
    }

    /// The URL of one request: `{{voice}}` and `{{model}}` filled.
    pub fn url_for(&self, voice: &str) -> String {
        self.url
            .replace("{{voice}}", voice)
            .replace("{{model}}", &self.model)
    }

    /// Read one JSON message under this target's rules.
    pub fn read(&self, value: &serde_json::Value) -> Result<Reading, ProtocolError> {
        let kind = self
            .type_path
            .as_deref()
            .and_then(|p| json_path(value, p))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if let Some(code) = self.errors.code(kind, value) {
            let text = value.to_string();
            let excerpt: String = text.chars().take(200).collect();
            return Ok(Reading::Error(ProtocolError::new(
                ErrorKind::ServerEvent(code),
                excerpt,
            )));
        }
        let is_final = self.final_types.iter().any(|t| t == kind)
            || self
                .final_flag_path
                .as_deref()
                .and_then(|p| json_path(value, p))
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
        if let WsAudio::Base64 { path } = &self.audio {
            if let Some(b64) = json_path(value, path).and_then(|v| v.as_str()) {
                if !b64.is_empty() {
                    return Ok(Reading::Audio(base64_audio(b64, path)?, is_final));
                }
            }
        }
        Ok(if is_final {
            Reading::Final
        } else {
            Reading::Other(Ignored::NoAudio)
        })
    }

    /// Why JSON message `value` was ignored (`why`, from [`WsTtsTarget::read`]),
    /// naming the paths and lists checked. Only `voxload sample` asks.
    pub fn explain(&self, why: Ignored, value: &serde_json::Value) -> String {
        let audio = match &self.audio {
            WsAudio::Base64 { path } => format!("'{path}'"),
            WsAudio::Binary => "binary frames".into(),
        };
        match why {
            Ignored::NoAudio => {
                let kind = self
                    .type_path
                    .as_deref()
                    .and_then(|p| json_path(value, p))
                    .and_then(|v| v.as_str());
                let kind = match (&self.type_path, kind) {
                    (None, _) => "no type path".to_string(),
                    (Some(p), None) => format!("no string at type path '{p}'"),
                    (Some(_), Some(k)) => format!(
                        "type '{k}' is in none of {}",
                        list("final_types", &self.final_types)
                    ),
                };
                let flag = match &self.final_flag_path {
                    None => String::new(),
                    Some(p) => {
                        let v = match json_path(value, p) {
                            Some(serde_json::Value::Bool(b)) => b.to_string(),
                            Some(_) => "not a boolean".into(),
                            None => "missing".into(),
                        };
                        format!(" (final flag at '{p}' is {v})")
                    }
                };
                format!("no audio at {audio}, and {kind}{flag}")
            }
            Ignored::Binary => {
                format!("binary message, but the audio is read from JSON at {audio}")
            }
            other => format!("{other:?}"),
        }
    }
}

/// Fill `{{text}}`, `{{voice}}`, `{{model}}`, `{{context_id}}` in the
/// strings of a JSON template (escaping comes from serde, so any text is safe).
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    fn walk(v: &mut serde_json::Value, vars: &[(&str, &str)]) {
        match v {
            serde_json::Value::String(s) => {
                for (k, val) in vars {
                    let key = format!("{{{{{k}}}}}");
                    if s.contains(&key) {
                        *s = s.replace(&key, val);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, vars)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(x, vars)),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(template) {
        Ok(mut v) => {
            walk(&mut v, vars);
            v.to_string()
        }
        // Validated at start; an unparsable template goes out as written.
        Err(_) => template.to_string(),
    }
}

/// A ready-to-use WebSocket TTS adapter.
#[derive(Debug, Clone)]
pub struct WsTts {
    target: WsTtsTarget,
    tracer: Tracer,
    /// Numbers the requests' contexts (`{{context_id}}`), so they are
    /// unique per run and the same from run to run.
    contexts: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl WsTts {
    /// Validate the target.
    pub fn new(target: WsTtsTarget) -> Result<Self, TargetError> {
        target.validate()?;
        Ok(Self {
            target,
            tracer: Tracer::off(),
            contexts: Default::default(),
        })
    }

    /// Record every request's messages in `tracer` (`voxload sample`).
    pub fn traced(self, tracer: Tracer) -> Self {
        Self { tracer, ..self }
    }

    /// The validated target.
    pub fn target(&self) -> &WsTtsTarget {
        &self.target
    }

    /// Synthesize `job` once: connect, send start, text (on its schedule
    /// from `start`), flush; read audio into `probe` until the final
    /// message, then send the close messages. Errors are typed; what
    /// arrived before an error stays in the probe and `times`.
    pub async fn execute(
        &self,
        job: &TtsJob<'_>,
        start: Instant,
        probe: &mut Probe,
        times: &mut TextTimes,
    ) -> Result<(), ProtocolError> {
        let t = &self.target;
        let trace = &self.tracer;
        let url = self.target.url_for(job.voice);
        trace.with(|tr| {
            let now = Instant::now();
            tr.start(now);
            tr.note(now, format!("connect {}", super::target::redact_url(&url)));
        });
        let mut ws = tokio::time::timeout(
            t.connect_timeout,
            connect(&url, &t.headers, t.max_message_bytes),
        )
        .await
        .unwrap_or_else(|_| {
            Err(ProtocolError::new(
                ErrorKind::Timeout,
                "no WebSocket connection within the connect timeout",
            ))
        })
        .inspect_err(|e| trace.with(|tr| tr.note(Instant::now(), format!("{e}"))))?;
        trace.with(|tr| tr.note(Instant::now(), "WebSocket open"));
        // No `headers_at`: a WebSocket answer has no response head, and
        // the upgrade is before the clocks' origin (the first text).
        let n = (self.contexts).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let context = format!("voxload-{n}");
        let vars = |text: &str| -> [(&str, String); 4] {
            [
                ("text", text.to_string()),
                ("voice", job.voice.to_string()),
                ("model", t.model.clone()),
                ("context_id", context.clone()),
            ]
        };
        let msg = |template: &str, text: &str| {
            let v = vars(text);
            let refs: Vec<(&str, &str)> = v.iter().map(|(k, s)| (*k, s.as_str())).collect();
            Message::text(render(template, &refs))
        };
        let send_err = |e| read_error(e);
        let sent = |m: &Message| trace.with(|tr| tr.sent(Instant::now(), m));
        for m in &t.start_messages {
            let m = msg(m, "");
            ws.send(m.clone()).await.map_err(send_err)?;
            sent(&m);
        }
        let mut due = t.text_stream.schedule(job.text).into_iter().peekable();
        let mut flushed = due.peek().is_none();
        if flushed {
            // No words: the flush alone asks for the (empty) answer.
            for m in &t.flush_messages {
                let m = msg(m, "");
                ws.send(m.clone()).await.map_err(send_err)?;
                sent(&m);
            }
            let now = Instant::now();
            probe.sent_at = Some(now);
            times.flush_at = Some(now);
        }
        let mut audio = StreamAudio::new(t.format);
        if let Some(d) = rate::from_url_query(&url) {
            declare(&mut audio, d, probe);
        }
        loop {
            let next_due = due.peek().map(|(at, _)| start + *at);
            let sleep = async {
                match next_due {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                read = ws.next() => {
                    let at = Instant::now();
                    let message = match read {
                        None => return Err(ProtocolError::new(ErrorKind::Reset, "closed before the final audio")),
                        Some(Err(e)) => return Err(read_error(e)),
                        Some(Ok(m)) => m,
                    };
                    let reading = match &message {
                        Message::Binary(b) if t.audio == WsAudio::Binary => Ok(Reading::Audio(b.to_vec(), false)),
                        Message::Text(s) => match serde_json::from_str(s.as_str()) {
                            Ok(v) => {
                                let known = probe.declared.as_ref().map(|d| d.rate);
                                if let Some(r) = rate_at(&v, t.rate_path.as_deref()).filter(|r| known != Some(*r)) {
                                    let by = t.rate_path.clone().unwrap_or_default().into();
                                    let d = DeclaredRate { rate: r, channels: None, source: RateSource::Message, by };
                                    declare(&mut audio, d, probe);
                                }
                                let r = t.read(&v);
                                trace.with(|tr| tr.received(at, &message, verdict(&r, t, &v)));
                                r
                            }
                            Err(e) => {
                                let e = ProtocolError::new(ErrorKind::Decode, format!("message is not JSON: {e}"));
                                trace.with(|tr| tr.received(at, &message, Verdict::Failed(e.detail.clone())));
                                Err(e)
                            }
                        },
                        Message::Close(frame) => {
                            let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                            Err(ProtocolError::new(ErrorKind::WsClosed(code), "closed before the final audio"))
                        }
                        Message::Binary(_) => Ok(Reading::Other(Ignored::Binary)),
                        _ => Ok(Reading::Other(Ignored::Control)),
                    };
                    if !matches!(message, Message::Text(_)) {
                        trace.with(|tr| tr.received(at, &message, other_verdict(&reading, t)));
                    }
                    let reading = reading?;
                    let done = match reading {
                        Reading::Audio(bytes, last) => {
                            probe.capture_audio(&bytes);
                            let pushed = audio.push_message(&bytes).map_err(decode_error)?;
                            probe.chunk(at, pushed.bytes, pushed.duration);
                            last
                        }
                        Reading::Final => true,
                        Reading::Error(e) => return Err(e),
                        Reading::Other(_) => false,
                    };
                    if done && flushed {
                        times.final_at = Some(at);
                        probe.finished_at = Some(at);
                        break;
                    }
                }
                () = sleep => {
                    if let Some((_, piece)) = due.next() {
                        for m in &t.text_messages {
                            let m = msg(m, &piece);
                            ws.send(m.clone()).await.map_err(send_err)?;
                            sent(&m);
                        }
                        let now = Instant::now();
                        times.first_text_at.get_or_insert(now);
                        probe.sent_at.get_or_insert(now);
                        times.flush_at = Some(now);
                        if due.peek().is_none() {
                            for m in &t.flush_messages {
                                let m = msg(m, "");
                                ws.send(m.clone()).await.map_err(send_err)?;
                                sent(&m);
                            }
                            times.flush_at = Some(Instant::now());
                            flushed = true;
                        }
                    }
                }
            }
        }
        for m in &t.close_messages {
            // The answer is complete: a failed goodbye fails nothing.
            let m = msg(m, "");
            let _ = ws.send(m.clone()).await;
            sent(&m);
        }
        let _ = ws.close(None).await;
        sent(&Message::Close(None));
        probe.audio = Some(audio.finish().map_err(decode_error)?);
        Ok(())
    }
}

/// What a JSON message's reading was, for the trace.
fn verdict(
    r: &Result<Reading, ProtocolError>,
    t: &WsTtsTarget,
    value: &serde_json::Value,
) -> Verdict {
    match r {
        Ok(Reading::Audio(bytes, _)) => Verdict::Audio(bytes.len()),
        Ok(Reading::Final) => Verdict::Done,
        Ok(Reading::Error(e)) => Verdict::Error(e.kind.label()),
        Ok(Reading::Other(why)) => Verdict::Ignored(t.explain(*why, value)),
        Err(e) => Verdict::Failed(e.detail.clone()),
    }
}

/// What a non-text message's reading was, for the trace.
fn other_verdict(r: &Result<Reading, ProtocolError>, t: &WsTtsTarget) -> Verdict {
    match r {
        Ok(Reading::Audio(bytes, _)) => Verdict::Audio(bytes.len()),
        Ok(Reading::Other(Ignored::Control)) => {
            Verdict::Ignored("ping or pong (answered by the socket)".into())
        }
        Ok(Reading::Other(why)) => Verdict::Ignored(t.explain(*why, &serde_json::Value::Null)),
        Ok(_) => Verdict::Done,
        Err(e) => match e.kind {
            ErrorKind::WsClosed(code) => Verdict::Close(code),
            _ => Verdict::Failed(e.detail.clone()),
        },
    }
}

/// Count raw PCM at a declared rate from now on, and say so in the probe
/// (unless the same rate was declared already); WAV and compressed audio
/// keep their own.
fn declare(audio: &mut StreamAudio, d: DeclaredRate, probe: &mut Probe) {
    let known = probe.declared.as_ref().map(|p| (p.rate, p.channels));
    if known != Some((d.rate, d.channels)) && audio.declare(&d) {
        probe.declared = Some(d);
    }
}

#[cfg(test)]
#[path = "ws_tts_tests.rs"]
mod tests;
