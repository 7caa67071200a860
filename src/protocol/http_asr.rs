//! ASR over HTTP: OpenAI-compatible multipart `/v1/audio/transcriptions`,
//! and templated raw-body uploads with the transcript at a JSON path.
//!
//! Upload bodies are built once per input file ([`HttpAsr::prepare`]) and
//! shared by every request that sends it, so a load test does not spend its
//! CPU re-encoding multipart bodies.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Uri};
use serde::{Deserialize, Serialize};

use super::client::{hyper_failure, HttpClient};
use super::target::{
    asked_wait, is_secret_header, json_path, redact_header, with_content_type, TargetError,
};
use super::trace::{Tracer, Verdict};
use super::{ErrorKind, Probe, ProtocolError};

/// Largest response body read (a transcript is small; a runaway body is an error).
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// How audio is uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Upload {
    /// `multipart/form-data`: the file part plus form fields.
    Multipart {
        /// Name of the file part (`file` for OpenAI).
        file_field: String,
        /// Other fields, e.g. `model`, `language`, `response_format`, or a
        /// vendor's `model_name`. `{{language}}` is filled per file.
        fields: Vec<(String, String)>,
    },
    /// The audio is the whole body.
    Raw,
}

/// One ASR endpoint. Serialized into `result.json`, secrets redacted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AsrTarget {
    /// Full URL of the transcription endpoint.
    #[serde(serialize_with = "super::target::serialize_url_redacted")]
    pub url: String,
    /// How audio is sent.
    pub upload: Upload,
    /// Dotted JSON path of the transcript in the response; empty = the body is the text.
    pub transcript_path: String,
    /// Extra request headers (secret values redacted on output).
    #[serde(serialize_with = "super::target::serialize_headers_redacted")]
    pub headers: Vec<(String, String)>,
}

/// An upload body ready to send many times.
#[derive(Debug, Clone)]
pub struct PreparedUpload {
    body: Bytes,
    content_type: HeaderValue,
}

/// What one transcription request returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// The transcript text.
    pub text: String,
}

/// A ready adapter bound to a client.
#[derive(Debug, Clone)]
pub struct HttpAsr {
    target: AsrTarget,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: HttpClient,
    tracer: Tracer,
}

/// A MIME type for an uploaded file, from its format.
pub fn content_type_of(format: &crate::audio::AudioFormat) -> String {
    use crate::audio::AudioFormat;
    match format {
        AudioFormat::Wav => "audio/wav".into(),
        AudioFormat::Mp3 => "audio/mpeg".into(),
        AudioFormat::Flac => "audio/flac".into(),
        AudioFormat::Opus => "audio/ogg".into(),
        AudioFormat::Pcm {
            sample_rate,
            channels,
        } => format!("audio/pcm;rate={sample_rate};channels={channels}"),
    }
}

impl HttpAsr {
    /// Validate the target and bind it to a client.
    pub fn new(target: AsrTarget, client: HttpClient) -> Result<Self, TargetError> {
        let uri = super::target::parse_http_uri(&target.url)?;
        let headers = super::target::header_values(&target.headers)?;
        Ok(Self {
            target,
            uri,
            headers,
            client,
            tracer: Tracer::off(),
        })
    }

    /// Record every request in `tracer` (`voxload sample`).
    pub fn traced(self, tracer: Tracer) -> Self {
        Self { tracer, ..self }
    }

    /// The validated target.
    pub fn target(&self) -> &AsrTarget {
        &self.target
    }

    /// Build the body for one file: `audio` with its `filename` and MIME
    /// type; `language` fills `{{language}}` in form fields.
    pub fn prepare(
        &self,
        audio: &[u8],
        filename: &str,
        mime: &str,
        language: Option<&str>,
    ) -> PreparedUpload {
        match &self.target.upload {
            Upload::Raw => PreparedUpload {
                body: Bytes::copy_from_slice(audio),
                content_type: HeaderValue::from_str(mime)
                    .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
            },
            Upload::Multipart { file_field, fields } => {
                let boundary = "voxload-boundary-7d1c0f3e9a";
                let mut body = BytesMut::with_capacity(audio.len() + 512);
                for (name, value) in fields {
                    let value = value.replace("{{language}}", language.unwrap_or(""));
                    if value.is_empty() {
                        // A field whose only content was an absent language is left out.
                        continue;
                    }
                    body.extend_from_slice(
                        format!(
                            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                            quote(name)
                        )
                        .as_bytes(),
                    );
                }
                body.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {mime}\r\n\r\n",
                        quote(file_field),
                        quote(filename)
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(audio);
                body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
                PreparedUpload {
                    body: body.freeze(),
                    content_type: HeaderValue::from_str(&format!(
                        "multipart/form-data; boundary={boundary}"
                    ))
                    .unwrap_or_else(|_| HeaderValue::from_static("multipart/form-data")),
                }
            }
        }
    }

    /// Send one upload; record timestamps into `probe`; return the transcript.
    pub async fn execute(
        &self,
        upload: &PreparedUpload,
        probe: &mut Probe,
    ) -> Result<Transcript, ProtocolError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone());
        for (n, v) in with_content_type(&self.headers, &upload.content_type) {
            req = req.header(n, v);
        }
        let req = req
            .body(Full::new(upload.body.clone()))
            .map_err(|e| ProtocolError::new(ErrorKind::Connect, e.to_string()))?;
        let trace = &self.tracer;
        let sent_at = Instant::now();
        probe.sent_at = Some(sent_at);
        trace.with(|tr| {
            tr.start(sent_at);
            let url = super::target::redact_url(&self.target.url);
            tr.note(sent_at, format!("> POST {url}"));
            for (n, v) in with_content_type(&self.headers, &upload.content_type) {
                let v = String::from_utf8_lossy(v.as_bytes());
                tr.note(sent_at, format!("> {n}: {}", redact_header(n.as_str(), &v)));
            }
            tr.note(sent_at, format!("> body: {} bytes", upload.body.len()));
        });
        let resp = self
            .client
            .request(req)
            .await
            .inspect_err(|e| trace.with(|tr| tr.note(Instant::now(), format!("{e}"))))?;
        probe.headers_at = Some(Instant::now());
        let status = resp.status();
        trace.with(|tr| {
            let at = probe.headers_at.unwrap_or(sent_at);
            tr.note(at, format!("< status {}", status.as_u16()));
            for (n, v) in resp.headers() {
                let v = String::from_utf8_lossy(v.as_bytes());
                tr.note(at, format!("< {n}: {}", redact_header(n.as_str(), &v)));
            }
        });
        probe.status = Some(status.as_u16());
        probe.retry_after = asked_wait(
            status.as_u16(),
            resp.headers().get(RETRY_AFTER).map(|v| v.as_bytes()),
        );
        let mut body = resp.into_body();
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                probe.finished_at = Some(Instant::now());
                hyper_failure(&e)
            })?;
            if let Ok(data) = frame.into_data() {
                buf.extend_from_slice(&data);
                if buf.len() > MAX_RESPONSE_BYTES {
                    return Err(ProtocolError::new(
                        ErrorKind::Protocol,
                        format!("response body longer than {MAX_RESPONSE_BYTES} bytes"),
                    ));
                }
            }
        }
        probe.finished_at = Some(Instant::now());
        if !status.is_success() {
            let excerpt = String::from_utf8_lossy(&buf[..buf.len().min(512)])
                .trim()
                .to_string();
            let e = ProtocolError::new(ErrorKind::Http(status.as_u16()), excerpt);
            trace.with(|tr| {
                let at = probe.finished_at.unwrap_or(sent_at);
                tr.received_bytes(at, &buf, Verdict::Failed(e.to_string()));
            });
            return Err(e);
        }
        let text = transcript_from(&buf, &self.target.transcript_path);
        trace.with(|tr| {
            let verdict = match &text {
                Ok(t) => Verdict::Final(t.clone()),
                Err(e) => Verdict::Failed(e.detail.clone()),
            };
            tr.received_bytes(probe.finished_at.unwrap_or(sent_at), &buf, verdict);
        });
        text.map(|text| Transcript { text })
    }
}

/// The transcript in a response body: the text itself when `path` is empty,
/// else the string at the dotted JSON path.
pub fn transcript_from(body: &[u8], path: &str) -> Result<String, ProtocolError> {
    if path.is_empty() {
        return Ok(String::from_utf8_lossy(body).trim().to_string());
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ProtocolError::new(ErrorKind::Decode, format!("response is not JSON: {e}")))?;
    json_path(&value, path)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            ProtocolError::new(
                ErrorKind::Decode,
                format!("no transcript string at '{path}'"),
            )
        })
}

/// Escape a multipart header parameter.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(['\r', '\n'], " ")
}

/// Header pairs for display, secret values redacted.
pub fn redacted(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                if is_secret_header(n) {
                    redact_header(n, v)
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asr(upload: Upload) -> HttpAsr {
        let target = AsrTarget {
            url: "http://127.0.0.1:9/v1/audio/transcriptions".into(),
            upload,
            transcript_path: "text".into(),
            headers: vec![],
        };
        HttpAsr::new(target, HttpClient::new(std::time::Duration::from_secs(1))).expect("valid")
    }

    #[test]
    fn multipart_body_has_fields_and_file() {
        let a = asr(Upload::Multipart {
            file_field: "file".into(),
            fields: vec![
                ("model".into(), "whisper-1".into()),
                ("language".into(), "{{language}}".into()),
            ],
        });
        let p = a.prepare(b"RIFFdata", "a.wav", "audio/wav", Some("en"));
        let body = String::from_utf8_lossy(&p.body);
        assert!(
            body.contains("name=\"model\"\r\n\r\nwhisper-1\r\n"),
            "{body}"
        );
        assert!(body.contains("name=\"language\"\r\n\r\nen\r\n"), "{body}");
        assert!(
            body.contains("filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFFdata\r\n"),
            "{body}"
        );
        assert!(body.ends_with("--\r\n"));
        // No language: the field is left out rather than sent empty.
        let p = a.prepare(b"x", "a.wav", "audio/wav", None);
        assert!(!String::from_utf8_lossy(&p.body).contains("name=\"language\""));
    }

    #[test]
    fn transcript_is_read_at_a_path_or_as_text() {
        assert_eq!(
            transcript_from(br#"{"text":"hi there"}"#, "text")
                .ok()
                .as_deref(),
            Some("hi there")
        );
        assert_eq!(
            transcript_from(br#"{"result":{"transcript":"a b"}}"#, "result.transcript")
                .ok()
                .as_deref(),
            Some("a b")
        );
        assert_eq!(
            transcript_from(b" plain words \n", "").ok().as_deref(),
            Some("plain words")
        );
        let e = transcript_from(br#"{"other":1}"#, "text").expect_err("missing");
        assert_eq!(e.kind, ErrorKind::Decode);
    }
}
