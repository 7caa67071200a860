//! TTS over HTTP: OpenAI-compatible `/v1/audio/speech` and templated vendors.
//!
//! One adapter serves every vendor: the request body comes from a template
//! (or the OpenAI shape), and the response is read as raw audio bytes, SSE
//! events or NDJSON lines with base64 audio at a JSON path. The adapter only
//! records what arrived and when into a [`Probe`]; it computes no metric.

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Uri};
use serde::{Deserialize, Serialize};

use super::client::h1::{self, Head};
use super::client::{hyper_failure, H1Target, HttpClient, OwnedConn};
use super::framing::{sse_data, Separator, Splitter};
use super::target::{
    asked_wait, header_values, json_path, parse_http_uri, redact_header, with_content_type,
    TargetError,
};
use super::trace::{Tracer, Verdict};
use super::{ErrorKind, Probe, ProtocolError};
use crate::audio::rate::{self, DeclaredRate};
use crate::audio::{AudioFormat, StreamAudio};

/// How the response body carries audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// The body is the audio itself; a chunk is one transport read.
    Raw,
    /// Server-sent events; a chunk is one event with audio.
    Sse,
    /// Newline-delimited JSON; a chunk is one line with audio.
    Ndjson,
}

impl Framing {
    /// The name a file or flag uses: `raw`, `sse` or `ndjson`.
    pub fn name(&self) -> &'static str {
        match self {
            Framing::Raw => "raw",
            Framing::Sse => "sse",
            Framing::Ndjson => "ndjson",
        }
    }

    /// Parse `raw`, `sse` or `ndjson`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "raw" | "audio" | "bytes" => Some(Framing::Raw),
            "sse" | "event-stream" => Some(Framing::Sse),
            "ndjson" | "jsonl" | "json-lines" => Some(Framing::Ndjson),
            _ => None,
        }
    }
}

/// How the request body is built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BodyTemplate {
    /// `{model, input, voice, response_format, stream_format?}`.
    OpenAi {
        /// Ask for SSE events (`stream_format: "sse"`) instead of raw bytes.
        sse: bool,
    },
    /// A JSON template whose strings may hold `{{text}}`, `{{voice}}`,
    /// `{{model}}` and `{{NAME}}` for each extra variable. A string that is
    /// exactly `{{NAME}}` takes the variable's JSON type (e.g. a number).
    Json {
        /// The parsed template.
        template: serde_json::Value,
        /// Extra variables (max tokens, timestamp type, …).
        vars: BTreeMap<String, serde_json::Value>,
    },
    /// A body that is not JSON (`body_type = "text"` or `"form"`): each
    /// `{{NAME}}` becomes the value as it is (text) or form-urlencoded
    /// (form), so a plain-text or form endpoint needs no quoting tricks.
    Text {
        /// The template as written.
        template: String,
        /// Extra variables.
        vars: BTreeMap<String, serde_json::Value>,
        /// `application/x-www-form-urlencoded` (values encoded) rather than `text/plain`.
        form: bool,
    },
}

impl BodyTemplate {
    /// The `Content-Type` sent unless a user header sets one.
    pub fn content_type(&self) -> &'static str {
        match self {
            BodyTemplate::OpenAi { .. } | BodyTemplate::Json { .. } => "application/json",
            BodyTemplate::Text { form: false, .. } => "text/plain; charset=utf-8",
            BodyTemplate::Text { form: true, .. } => "application/x-www-form-urlencoded",
        }
    }
}

/// Everything needed to send TTS requests to one target. Serialized into
/// `result.json` with secret header values redacted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TtsTarget {
    /// Full URL of the synthesis endpoint.
    #[serde(serialize_with = "super::target::serialize_url_redacted")]
    pub url: String,
    /// Model name sent to the server.
    pub model: String,
    /// Body shape.
    pub body: BodyTemplate,
    /// Response framing.
    pub framing: Framing,
    /// For SSE/NDJSON: dotted JSON path of the base64 audio (e.g. `result.audioContent`).
    pub audio_path: Option<String>,
    /// Audio encoding of the response.
    pub format: AudioFormat,
    /// Extra request headers. Values of sensitive headers are redacted on output.
    #[serde(serialize_with = "super::target::serialize_headers_redacted")]
    pub headers: Vec<(String, String)>,
}

/// What one request asks for.
#[derive(Debug, Clone)]
pub struct TtsJob<'a> {
    /// Text to synthesize.
    pub text: &'a str,
    /// Voice name.
    pub voice: &'a str,
}

/// A ready-to-use adapter: parsed URI and headers, shared client.
#[derive(Debug, Clone)]
pub struct HttpTts {
    target: TtsTarget,
    uri: Uri,
    /// The body's content type, sent unless a user header sets one.
    content_type: HeaderValue,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: HttpClient,
    /// Plain `http://` targets use the lean HTTP/1.1 client.
    h1: Option<H1Target>,
    /// Records each SSE event or NDJSON line (`voxload sample`); off in runs.
    tracer: Tracer,
}

impl HttpTts {
    /// Validate the target and bind it to a client.
    pub fn new(target: TtsTarget, client: HttpClient) -> Result<Self, TargetError> {
        let uri = parse_http_uri(&target.url)?;
        if target.framing != Framing::Raw && target.audio_path.is_none() {
            return Err(TargetError::MissingAudioPath(target.framing.name()));
        }
        let headers = header_values(&target.headers)?;
        let content_type = HeaderValue::from_static(target.body.content_type());
        let h1 = H1Target::post(&uri, &content_type, &headers);
        Ok(Self {
            target,
            uri,
            content_type,
            headers,
            client,
            h1,
            tracer: Tracer::off(),
        })
    }

    /// Record each SSE event or NDJSON line of every answer in `tracer`
    /// (`voxload sample`; raw audio is shown by the probe's chunks).
    pub fn traced(self, tracer: Tracer) -> Self {
        Self { tracer, ..self }
    }

    /// The validated target.
    pub fn target(&self) -> &TtsTarget {
        &self.target
    }

    /// The headers every request carries besides framing and Host: the
    /// body's content type (unless a user header replaces it), then the
    /// user's (`voxload sample` shows exactly these).
    pub fn sent_headers(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        with_content_type(&self.headers, &self.content_type)
    }

    /// Build the JSON request body for one job.
    pub fn body(&self, job: &TtsJob<'_>) -> Bytes {
        let t = &self.target;
        let value = match &t.body {
            BodyTemplate::OpenAi { sse } => {
                let mut v = serde_json::json!({
                    "model": t.model,
                    "input": job.text,
                    "voice": job.voice,
                    "response_format": t.format.openai_name(),
                });
                if *sse {
                    v["stream_format"] = "sse".into();
                }
                v
            }
            BodyTemplate::Json { template, vars } => render(template, job, &t.model, vars),
            BodyTemplate::Text {
                template,
                vars,
                form,
            } => {
                let lookup = |name: &str| lookup(name, job, &t.model, vars);
                let encode = if *form { form_value } else { str::to_string };
                return Bytes::from(fill(template, &lookup, encode));
            }
        };
        Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
    }

    /// Send one request and record everything into `probe`. Errors are typed;
    /// whatever arrived before an error stays in the probe.
    pub async fn execute(&self, job: &TtsJob<'_>, probe: &mut Probe) -> Result<(), ProtocolError> {
        self.send(self.body(job), None, probe).await
    }

    /// Send a body built earlier with [`HttpTts::body`] (the load loop
    /// reuses bodies instead of re-encoding the same JSON per request).
    /// With `conn`, the request goes out on that caller-owned connection
    /// (closed-loop users); without, through the shared pool.
    pub async fn send(
        &self,
        body: Bytes,
        conn: Option<&mut OwnedConn>,
        probe: &mut Probe,
    ) -> Result<(), ProtocolError> {
        match &self.h1 {
            Some(h1) => self.send_h1(h1, &body, conn, probe).await,
            // Boxed: hyper's futures are several KiB, and every request's
            // future would otherwise carry (and move) that much.
            None => Box::pin(self.send_hyper(body, conn, probe)).await,
        }
    }

    /// [`HttpTts::send`] through hyper (TLS targets).
    async fn send_hyper(
        &self,
        body: Bytes,
        conn: Option<&mut OwnedConn>,
        probe: &mut Probe,
    ) -> Result<(), ProtocolError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone());
        for (n, v) in self.sent_headers() {
            req = req.header(n, v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| ProtocolError::new(ErrorKind::Connect, e.to_string()))?;
        probe.sent_at = Some(Instant::now());
        let resp = match conn {
            // The caller resets its connection after any failed request.
            Some(conn) => self.client.request_owned(conn, req).await?,
            None => self.client.request(req).await?,
        };
        probe.headers_at = Some(Instant::now());
        let mut reader = AudioReader::new(&self.target, &self.tracer);
        let declared = rate::from_headers(
            resp.headers()
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())),
        );
        reader.declare(declared, probe);
        let status = resp.status();
        probe.status = Some(status.as_u16());
        probe.retry_after = asked_wait(
            status.as_u16(),
            resp.headers().get(RETRY_AFTER).map(|v| v.as_bytes()),
        );
        if let Some(c) = probe.capture.as_mut() {
            c.headers = resp
                .headers()
                .iter()
                .map(|(n, v)| {
                    let v = String::from_utf8_lossy(v.as_bytes());
                    (n.to_string(), redact_header(n.as_str(), &v))
                })
                .collect();
        }
        let mut body = resp.into_body();
        if !status.is_success() {
            let excerpt = read_excerpt(&mut body).await;
            probe.finished_at = Some(Instant::now());
            return Err(ProtocolError::new(
                ErrorKind::Http(status.as_u16()),
                excerpt,
            ));
        }
        loop {
            match body.frame().await {
                None => break,
                Some(Err(e)) => {
                    probe.finished_at = Some(Instant::now());
                    return Err(hyper_failure(&e));
                }
                Some(Ok(frame)) => {
                    let at = Instant::now();
                    if let Ok(data) = frame.into_data() {
                        reader.feed(&data, at, probe)?;
                    }
                }
            }
        }
        probe.finished_at = Some(Instant::now());
        reader.finish(probe)
    }
}

impl HttpTts {
    /// [`HttpTts::send`] through the lean client: the response is handed
    /// over read by read, in the task that sent the request.
    async fn send_h1(
        &self,
        h1: &H1Target,
        body: &[u8],
        conn: Option<&mut OwnedConn>,
        probe: &mut Probe,
    ) -> Result<(), ProtocolError> {
        probe.sent_at = Some(Instant::now());
        let mut answer = Answer {
            reader: AudioReader::new(&self.target, &self.tracer),
            probe,
            excerpt: None,
        };
        let result = self.client.exchange(h1, conn, body, &mut answer).await;
        let Answer {
            reader,
            probe,
            excerpt,
        } = answer;
        match result {
            Ok(done) => {
                probe.finished_at = Some(done.at);
                match (excerpt, probe.status) {
                    (Some((text, _)), Some(status)) => Err(ProtocolError::new(
                        ErrorKind::Http(status),
                        String::from_utf8_lossy(&text).trim().to_string(),
                    )),
                    _ => reader.finish(probe),
                }
            }
            Err(h1::Failure::Receiver(e)) => Err(e),
            Err(failure) => {
                // As with hyper: a body cut short still has an end time.
                if probe.headers_at.is_some() {
                    probe.finished_at = Some(Instant::now());
                }
                Err(failure.into_error())
            }
        }
    }
}

/// How long the excerpt of an error body is read.
const EXCERPT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Bytes of an error body kept.
const EXCERPT_BYTES: usize = 512;

/// A response as the lean client hands it over.
struct Answer<'a, 't> {
    reader: AudioReader<'t>,
    probe: &'a mut Probe,
    /// An error status: its first body bytes, read until this instant.
    excerpt: Option<(Vec<u8>, Instant)>,
}

impl h1::Receiver for Answer<'_, '_> {
    fn head(&mut self, at: Instant, head: &Head<'_>) -> Result<(), ProtocolError> {
        self.probe.headers_at = Some(at);
        self.probe.status = Some(head.status);
        self.reader
            .declare(rate::from_headers(head.headers()), self.probe);
        self.probe.retry_after = asked_wait(
            head.status,
            head.headers()
                .find(|(n, _)| n.eq_ignore_ascii_case(b"retry-after"))
                .map(|(_, v)| v),
        );
        if let Some(c) = self.probe.capture.as_mut() {
            c.headers = head
                .headers()
                .map(|(n, v)| {
                    let n = String::from_utf8_lossy(n).to_ascii_lowercase();
                    let v = redact_header(&n, &String::from_utf8_lossy(v));
                    (n, v)
                })
                .collect();
        }
        if !(200..300).contains(&head.status) {
            self.excerpt = Some((Vec::new(), at + EXCERPT_WAIT));
        }
        Ok(())
    }

    fn data(&mut self, at: Instant, data: &[u8]) -> Result<bool, ProtocolError> {
        match self.excerpt.as_mut() {
            Some((text, _)) => {
                text.extend_from_slice(data);
                Ok(text.len() < EXCERPT_BYTES)
            }
            None => {
                self.reader.feed(data, at, self.probe)?;
                Ok(true)
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.excerpt.as_ref().map(|(_, until)| *until)
    }
}

/// Turns body bytes into audio chunks, whatever the framing.
struct AudioReader<'t> {
    target: &'t TtsTarget,
    tracer: &'t Tracer,
    audio: StreamAudio,
    /// SSE events / NDJSON lines, split across reads (`None` for raw audio).
    messages: Option<Splitter>,
}

impl<'t> AudioReader<'t> {
    fn new(target: &'t TtsTarget, tracer: &'t Tracer) -> Self {
        let messages = match target.framing {
            Framing::Raw => None,
            Framing::Sse => Some(Splitter::new(Separator::BlankLine)),
            Framing::Ndjson => Some(Splitter::new(Separator::Newline)),
        };
        Self {
            target,
            tracer,
            audio: StreamAudio::new(target.format),
            messages,
        }
    }

    /// The response head declared a rate: raw PCM is counted at it (and
    /// the probe says so); WAV and compressed audio keep their own.
    fn declare(&mut self, declared: Option<DeclaredRate>, probe: &mut Probe) {
        if let Some(d) = declared {
            if self.audio.declare(&d) {
                probe.declared = Some(d);
            }
        }
    }

    fn feed(&mut self, data: &[u8], at: Instant, probe: &mut Probe) -> Result<(), ProtocolError> {
        let Some(messages) = self.messages.as_mut() else {
            probe.capture_audio(data);
            let pushed = self.audio.push(data).map_err(decode_error)?;
            probe.chunk(at, pushed.bytes, pushed.duration);
            return Ok(());
        };
        messages.extend(data);
        while let Some(msg) = self
            .messages
            .as_mut()
            .map_or(Ok(None), Splitter::next_message)?
        {
            self.message(&msg, at, probe)?;
        }
        Ok(())
    }

    /// Extract the audio of one message, if it has any.
    fn message(&mut self, msg: &[u8], at: Instant, probe: &mut Probe) -> Result<(), ProtocolError> {
        let json: Vec<u8> = match self.target.framing {
            Framing::Sse => sse_data(msg),
            _ => msg.to_vec(),
        };
        let trimmed = trim_ascii(&json);
        // (The verdict is built only when tracing: load runs pay nothing.)
        let trace = |verdict: &dyn Fn() -> Verdict| {
            self.tracer
                .with(|tr| tr.received_bytes(at, trim_ascii(msg), verdict()))
        };
        if trimmed.is_empty() {
            return Ok(());
        }
        if trimmed == b"[DONE]" {
            trace(&|| Verdict::Done);
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_slice(trimmed)
            .map_err(|e| ProtocolError::new(ErrorKind::Decode, format!("message is not JSON: {e}")))
            .inspect_err(|e| trace(&|| Verdict::Failed(e.detail.clone())))?;
        let path = self.target.audio_path.as_deref().unwrap_or("audio");
        let Some(b64) = json_path(&value, path).and_then(|v| v.as_str()) else {
            // Control messages (done, usage, timestamps) carry no audio.
            trace(&|| Verdict::Ignored(format!("no string at audio path '{path}'")));
            return Ok(());
        };
        let audio = base64_audio(b64, path)
            .inspect_err(|e| trace(&|| Verdict::Failed(e.detail.clone())))?;
        trace(&|| Verdict::Audio(audio.len()));
        probe.capture_audio(&audio);
        let pushed = self.audio.push_message(&audio).map_err(decode_error)?;
        probe.chunk(at, pushed.bytes, pushed.duration);
        Ok(())
    }

    fn finish(mut self, probe: &mut Probe) -> Result<(), ProtocolError> {
        if let Some(mut messages) = self.messages.take() {
            let rest = messages.finish()?;
            let at = probe.finished_at.unwrap_or_else(Instant::now);
            self.message(&rest, at, probe)?;
        }
        let summary = self.audio.finish().map_err(decode_error)?;
        probe.audio = Some(summary);
        Ok(())
    }
}

/// The base64 audio a JSON message holds at `path`, decoded; bad base64
/// is a decode failure naming the path.
pub(super) fn base64_audio(b64: &str, path: &str) -> Result<Vec<u8>, ProtocolError> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| {
            ProtocolError::new(
                ErrorKind::Decode,
                format!("audio at '{path}' is not base64: {e}"),
            )
        })
}

pub(super) fn decode_error(e: crate::audio::AudioError) -> ProtocolError {
    let kind = match e {
        crate::audio::AudioError::Truncated { .. } => ErrorKind::Truncated,
        _ => ErrorKind::Decode,
    };
    ProtocolError::new(kind, e.to_string())
}

/// Read at most a short excerpt of an error body (never the whole thing).
async fn read_excerpt(body: &mut hyper::body::Incoming) -> String {
    let mut buf = Vec::new();
    let read = async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(d) = frame.into_data() {
                buf.extend_from_slice(&d);
                if buf.len() >= EXCERPT_BYTES {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(EXCERPT_WAIT, read).await;
    String::from_utf8_lossy(&buf).trim().to_string()
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
}

/// Fill a body template for one job.
/// The value of placeholder `name` for `job`.
fn lookup(
    name: &str,
    job: &TtsJob<'_>,
    model: &str,
    vars: &BTreeMap<String, serde_json::Value>,
) -> Option<serde_json::Value> {
    use serde_json::Value;
    match name {
        "text" => Some(Value::String(job.text.to_string())),
        "voice" => Some(Value::String(job.voice.to_string())),
        "model" => Some(Value::String(model.to_string())),
        other => vars.get(other).cloned(),
    }
}

/// `s` with each `{{NAME}}` that has a value replaced by `encode` of its
/// text (a string as it is, anything else as JSON).
fn fill(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<serde_json::Value>,
    encode: fn(&str) -> String,
) -> String {
    let mut out = s.to_string();
    for name in placeholders(s) {
        if let Some(v) = lookup(&name) {
            let text = match v {
                serde_json::Value::String(t) => t,
                other => other.to_string(),
            };
            out = out.replace(&format!("{{{{{name}}}}}"), &encode(&text));
        }
    }
    out
}

/// A form field value, `application/x-www-form-urlencoded`.
fn form_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn render(
    template: &serde_json::Value,
    job: &TtsJob<'_>,
    model: &str,
    vars: &BTreeMap<String, serde_json::Value>,
) -> serde_json::Value {
    use serde_json::Value;
    let lookup = |name: &str| lookup(name, job, model, vars);
    match template {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
                if !name.contains("{{") {
                    if let Some(v) = lookup(name.trim()) {
                        return v;
                    }
                }
            }
            Value::String(fill(s, &lookup, str::to_string))
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| render(i, job, model, vars)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render(v, job, model, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Names inside `{{…}}` in a string.
pub fn placeholders(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> TtsJob<'static> {
        TtsJob {
            text: "Say \"hi\"",
            voice: "alloy",
        }
    }

    #[test]
    fn template_fills_text_with_json_escaping_and_typed_vars() {
        let template = serde_json::json!({
            "text": "{{text}}", "voiceId": "{{voice}}", "modelId": "{{model}}",
            "maxTokens": "{{max_tokens}}", "note": "voice={{voice}}"
        });
        let vars = BTreeMap::from([("max_tokens".to_string(), serde_json::json!(400))]);
        let v = render(&template, &job(), "m1", &vars);
        assert_eq!(v["text"], "Say \"hi\"");
        assert_eq!(v["voiceId"], "alloy");
        assert_eq!(v["modelId"], "m1");
        assert_eq!(v["maxTokens"], 400);
        assert_eq!(v["note"], "voice=alloy");
    }
}
