//! HTTP transcription with known timing and known word errors.
//!
//! - `POST /v1/audio/transcriptions`: OpenAI-compatible multipart. Parts:
//!   `file` (WAV, or raw PCM16 if its content type is `audio/pcm[;rate=N]` or
//!   its name ends in `.pcm`/`.raw`; rate from the optional `sample_rate`
//!   part, default 16 kHz), `model` (required), `language`,
//!   `response_format` = `json` (default) → `{"text":"…"}`, `text` → the
//!   bare text, `verbose_json` → `{"task","language","duration","text",
//!   "segments":[…]}`. Other parts are ignored.
//! - `POST /v1/audio/transcriptions/raw`: the audio is the body,
//!   `Content-Type: audio/wav` or `audio/pcm;rate=16000`; answers
//!   `{"result":{"transcript":"…"}}` (a different shape on purpose, for
//!   templated adapters' JSON paths).
//!
//! Errors are OpenAI-shaped JSON: 400 (no file, empty audio, no model, bad
//! field), 415 (audio that is not WAV or raw PCM16), 503 (ASR slots and
//! queue full).
//!
//! The transcript is the text carried by mock speech ([`decode_text`]) with
//! words substituted at the model's error rate; whitespace is normalized to
//! single spaces. Timing: the response is sent at the absolute instant
//! `admitted + overhead + audio / rtfx` (stretched by global stall windows).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use rand::Rng;
use tokio::time::Instant;

use super::asr_truth::{AsrEndpoint, AsrRequestTruth};
use super::queue::{admit, InFlight, Pool};
use super::tts::{error_response, wait_work};
use super::upload::{decode, format_of, parse_rate, sniff, Upload, UploadError};
use super::{micros, Shared};
use crate::audio::voice::decode_text;

/// Largest upload read (10 min of 48 kHz stereo 32-bit float is 230 MB).
pub(crate) const MAX_UPLOAD_BYTES: usize = 256 << 20;

/// What replaces a substituted word. Never a real reference word: a word
/// that already reads "uh" is replaced by [`SUBSTITUTE_ALT`] instead.
pub const SUBSTITUTE: &str = "uh";
/// The substitute for a word that normalizes to "uh".
pub const SUBSTITUTE_ALT: &str = "um";

/// A transcript after error injection.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transcript {
    pub(crate) text: String,
    pub(crate) words: u64,
    pub(crate) substituted: u64,
}

/// Split `text` on whitespace and replace each word for which `substitute()`
/// says so (one call per word, in order). Substitutions only, so the exact
/// WER against `text` is `substituted / words`.
pub(crate) fn substitute_words(text: &str, mut substitute: impl FnMut() -> bool) -> Transcript {
    let mut out = String::with_capacity(text.len());
    let (mut words, mut substituted) = (0, 0);
    for word in text.split_whitespace() {
        if words > 0 {
            out.push(' ');
        }
        words += 1;
        if substitute() {
            substituted += 1;
            let bare: String = word.chars().filter(|c| c.is_alphanumeric()).collect();
            out.push_str(if bare.eq_ignore_ascii_case(SUBSTITUTE) {
                SUBSTITUTE_ALT
            } else {
                SUBSTITUTE
            });
        } else {
            out.push_str(word);
        }
    }
    Transcript {
        text: out,
        words,
        substituted,
    }
}

impl Shared {
    /// The true text with errors at probability `p`, drawn from the ASR rng.
    pub(crate) fn inject_errors(&self, text: &str, p: f64) -> Transcript {
        if p <= 0.0 {
            return substitute_words(text, || false);
        }
        let mut st = self.lock();
        substitute_words(text, || st.asr_rng.random::<f64>() < p)
    }
}

fn reject(shared: &Shared, mut rec: AsrRequestTruth, err: &UploadError) -> Response {
    reject_status(shared, &mut rec, err.status(), err.message())
}

fn reject_status(
    shared: &Shared,
    rec: &mut AsrRequestTruth,
    status: StatusCode,
    msg: &str,
) -> Response {
    rec.status = status.as_u16();
    let id = rec.id;
    shared.lock().asr_truth.finish(rec.clone());
    let mut resp = error_response(status, msg);
    resp.headers_mut()
        .insert("x-mock-request-id", HeaderValue::from(id));
    resp
}

fn new_record(shared: &Shared, endpoint: AsrEndpoint) -> AsrRequestTruth {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.lock().asr_truth.t.requests += 1;
    AsrRequestTruth {
        id,
        endpoint,
        status: 0,
        audio_us: 0,
        sample_rate: 0,
        in_flight: 0,
        error_rate: 0.0,
        words: 0,
        substituted: 0,
        queue_wait_us: 0,
        processing_us: 0,
        first_result_us: 0,
    }
}

/// Admit, decode, inject errors, and wait until the model says the result
/// is ready. `Err` is the status and message to answer with.
async fn process(
    shared: &Arc<Shared>,
    rec: &mut AsrRequestTruth,
    t0: Instant,
    upload: Upload,
) -> Result<Transcript, (StatusCode, &'static str)> {
    let audio = upload.duration();
    rec.audio_us = micros(audio);
    rec.sample_rate = upload.sample_rate;
    let in_flight = InFlight::enter(shared, Pool::Asr);
    let Some(permit) = admit(shared, Pool::Asr).await else {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "queue full"));
    };
    let admitted = Instant::now();
    rec.queue_wait_us = micros(admitted - t0);
    rec.in_flight = shared.lock().asr_truth.in_flight;
    let asr = &shared.model.asr;
    let p = asr.error_probability(rec.in_flight);
    rec.error_rate = p;
    // Decoding is CPU work (Goertzel per segment): off the async workers.
    // It runs inside the modelled processing time, so it never adds latency
    // unless it takes longer than `overhead + audio / rtfx`.
    let cps = shared.model.chars_per_second;
    let text =
        tokio::task::spawn_blocking(move || decode_text(&upload.samples, upload.sample_rate, cps))
            .await
            .unwrap_or_default();
    let transcript = shared.inject_errors(&text, p);
    let work = asr.overhead + audio.div_f64(asr.rtfx);
    if wait_work(shared, admitted, work, None).await.is_err() {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "mock server shutting down"));
    }
    rec.processing_us = micros(admitted.elapsed());
    drop((permit, in_flight));
    rec.words = transcript.words;
    rec.substituted = transcript.substituted;
    Ok(transcript)
}

/// Stamp, record and send a 200.
fn answer(
    shared: &Shared,
    mut rec: AsrRequestTruth,
    t0: Instant,
    content_type: &'static str,
    body: String,
) -> Response {
    rec.status = 200;
    let id = rec.id;
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("x-mock-request-id", HeaderValue::from(id));
    rec.first_result_us = micros(t0.elapsed());
    shared.lock().asr_truth.finish(rec);
    resp
}

/// The multipart fields the mock reads.
#[derive(Default)]
struct Form {
    file: Option<(bytes::Bytes, Option<String>, Option<String>)>,
    model: Option<String>,
    language: Option<String>,
    response_format: Option<String>,
    sample_rate: Option<String>,
}

async fn read_form(req: Request) -> Result<Form, UploadError> {
    let bad = |e: String| UploadError::Bad(e);
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| bad(format!("expected a multipart/form-data body: {e}")))?;
    let mut form = Form::default();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| bad(format!("cannot read the multipart body: {e}")))?
    {
        let name = field.name().unwrap_or("").to_owned();
        let read = |e: axum::extract::multipart::MultipartError| {
            bad(format!("cannot read part '{name}': {e}"))
        };
        match name.as_str() {
            "file" => {
                let file_name = field.file_name().map(str::to_owned);
                let ctype = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(read)?;
                form.file = Some((bytes, file_name, ctype));
            }
            "model" => form.model = Some(field.text().await.map_err(read)?),
            "language" => form.language = Some(field.text().await.map_err(read)?),
            "response_format" => form.response_format = Some(field.text().await.map_err(read)?),
            "sample_rate" => form.sample_rate = Some(field.text().await.map_err(read)?),
            _ => {
                field.bytes().await.map_err(read)?;
            }
        }
    }
    Ok(form)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ResponseFormat {
    Json,
    Text,
    VerboseJson,
}

/// Parse and check the form; the decoded upload and how to answer.
fn check_form(form: Form) -> Result<(Upload, ResponseFormat, String), UploadError> {
    let bad = |m: &str| Err(UploadError::Bad(m.to_string()));
    let Some((file, file_name, ctype)) = form.file else {
        return bad("'file' is required");
    };
    if file.is_empty() {
        return bad("'file' is empty");
    }
    if form.model.as_deref().is_none_or(|m| m.trim().is_empty()) {
        return bad("'model' is required");
    }
    let format = match form.response_format.as_deref().map(str::trim) {
        None | Some("" | "json") => ResponseFormat::Json,
        Some("text") => ResponseFormat::Text,
        Some("verbose_json") => ResponseFormat::VerboseJson,
        Some(other) => {
            return Err(UploadError::Bad(format!(
                "response_format '{other}' is not supported by the mock (use json, text or verbose_json)"
            )))
        }
    };
    let rate = match form.sample_rate.as_deref() {
        Some(r) => parse_rate(r.trim())?,
        None => super::upload::DEFAULT_PCM_RATE,
    };
    let kind = sniff(&file, ctype.as_deref(), file_name.as_deref(), rate)?;
    let upload = decode(&file, kind)?;
    let language = form.language.unwrap_or_else(|| "en".to_string());
    Ok((upload, format, language))
}

/// `POST /v1/audio/transcriptions`. Takes the raw request so `t0` is
/// stamped before the upload is read.
pub(crate) async fn transcriptions(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let t0 = Instant::now();
    let mut rec = new_record(&shared, AsrEndpoint::Multipart);
    let checked = match read_form(req).await {
        Ok(form) => check_form(form),
        Err(e) => Err(e),
    };
    let (upload, format, language) = match checked {
        Ok(c) => c,
        Err(e) => return reject(&shared, rec, &e),
    };
    let duration_s = upload.duration().as_secs_f64();
    let t = match process(&shared, &mut rec, t0, upload).await {
        Ok(t) => t,
        Err((status, msg)) => return reject_status(&shared, &mut rec, status, msg),
    };
    let (ctype, body) = match format {
        ResponseFormat::Json => (
            "application/json",
            serde_json::json!({"text": t.text}).to_string(),
        ),
        ResponseFormat::Text => ("text/plain; charset=utf-8", t.text),
        ResponseFormat::VerboseJson => (
            "application/json",
            serde_json::json!({
                "task": "transcribe",
                "language": language,
                "duration": duration_s,
                "text": t.text,
                "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": duration_s, "text": t.text}],
            })
            .to_string(),
        ),
    };
    answer(&shared, rec, t0, ctype, body)
}

/// `POST /v1/audio/transcriptions/raw`: the body is the audio.
pub(crate) async fn transcriptions_raw(
    State(shared): State<Arc<Shared>>,
    req: Request,
) -> Response {
    let t0 = Instant::now();
    let mut rec = new_record(&shared, AsrEndpoint::Raw);
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let format = match format_of(&ctype) {
        Ok(Some(f)) => f,
        Ok(None) => {
            let e = UploadError::Unsupported(format!(
                "Content-Type must be audio/wav or audio/pcm;rate=N (got '{ctype}')"
            ));
            return reject(&shared, rec, &e);
        }
        Err(e) => return reject(&shared, rec, &e),
    };
    let upload = match axum::body::to_bytes(req.into_body(), MAX_UPLOAD_BYTES).await {
        Ok(bytes) => decode(&bytes, format),
        Err(e) => Err(UploadError::Bad(format!("cannot read the body: {e}"))),
    };
    let upload = match upload {
        Ok(u) => u,
        Err(e) => return reject(&shared, rec, &e),
    };
    let t = match process(&shared, &mut rec, t0, upload).await {
        Ok(t) => t,
        Err((status, msg)) => return reject_status(&shared, &mut rec, status, msg),
    };
    let body = serde_json::json!({"result": {"transcript": t.text}}).to_string();
    answer(&shared, rec, t0, "application/json", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutions_are_counted_and_never_the_original() {
        let t = substitute_words("  hello   uh Uh, world ", || true);
        assert_eq!(t.text, "uh um um uh");
        assert_eq!((t.words, t.substituted), (4, 4));
        let t = substitute_words("a b c", || false);
        assert_eq!(t.text, "a b c");
        assert_eq!((t.words, t.substituted), (3, 0));
        let mut n = 0;
        let t = substitute_words("a b c d", || {
            n += 1;
            n % 2 == 0
        });
        assert_eq!(t.text, "a uh c uh");
        assert_eq!(t.substituted, 2);
    }
}
