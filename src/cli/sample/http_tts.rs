//! `voxload sample` for TTS over HTTP: the request (headers redacted),
//! status, response headers, each audio chunk's time and size, the
//! detected audio, and the record — from the probe's capture.

use std::time::Instant;

use super::show::{ms, print_exchange, print_records};
use crate::config::tts::TtsInputs;
use crate::metrics::defs::measure;
use crate::protocol::http_tts::{HttpTts, TtsJob};
use crate::protocol::target::{redact_header, redact_url};
use crate::protocol::trace::Tracer;
use crate::protocol::{Capture, ErrorKind, Probe, ProtocolError};

/// Chunks listed one a line; the rest are counted.
const SHOWN_CHUNKS: usize = 20;

/// Send one request of `text` (default: the first of the inputs) and print
/// everything about it; whether it succeeded.
pub async fn sample(
    tts: &HttpTts,
    inputs: &TtsInputs,
    text: Option<&str>,
    tracer: &Tracer,
) -> anyhow::Result<bool> {
    let text = text
        .map(str::to_string)
        .or_else(|| inputs.texts.first().cloned())
        .unwrap_or_else(|| super::DEFAULT_TEXT.to_string());
    let voice = inputs.voices.first().cloned().unwrap_or_default();
    let job = TtsJob {
        text: &text,
        voice: &voice,
    };
    println!("POST {}", redact_url(&tts.target().url));
    for (n, v) in tts.sent_headers() {
        let v = String::from_utf8_lossy(v.as_bytes());
        println!("> {n}: {}", redact_header(n.as_str(), &v));
    }
    println!("> body: {}", String::from_utf8_lossy(&tts.body(&job)));
    let mut probe = Probe::new();
    probe.capture = Some(Capture::default());
    let result = tokio::time::timeout(inputs.timeout, tts.execute(&job, &mut probe)).await;
    let origin = probe.sent_at.unwrap_or_else(Instant::now);
    if let Some(status) = probe.status {
        println!("< status {status}");
    }
    if let Some(c) = &probe.capture {
        for (n, v) in &c.headers {
            println!("< {n}: {v}");
        }
        if let Some(f) = crate::audio::detect_format(&c.audio_head) {
            println!("detected audio format: {f}");
        }
    }
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(ProtocolError::new(ErrorKind::Timeout, "timed out")),
    };
    if let Some(h) = probe.headers_at {
        println!("headers after {:.1} ms", ms(origin, h));
    }
    println!("{} audio chunks:", probe.chunks.len());
    for (i, c) in probe.chunks.iter().enumerate().take(SHOWN_CHUNKS) {
        let audio = c
            .audio
            .map(|d| format!(", {:.1} ms audio", d.as_secs_f64() * 1000.0))
            .unwrap_or_default();
        println!(
            "  #{:<3} at {:>8.1} ms  {:>7} bytes{audio}",
            i + 1,
            ms(origin, c.at),
            c.bytes
        );
    }
    if probe.chunks.len() > SHOWN_CHUNKS {
        println!("  … {} more", probe.chunks.len() - SHOWN_CHUNKS);
    }
    // SSE events and NDJSON lines, each with how the rules read it.
    tracer.with(|t| t.start(origin));
    let trace = tracer.snapshot();
    if !trace.events.is_empty() {
        println!("messages:");
        print_exchange(&trace);
    }
    // The audio facts: what the stream turned out to be. A warning about a
    // rate the server declares that differs from the assumed one belongs here.
    if let Some(a) = &probe.audio {
        let dur = a
            .duration
            .map(|d| format!("{:.3} s", d.as_secs_f64()))
            .unwrap_or_else(|| "unknown".into());
        println!(
            "audio: {dur}, {} bytes, {} Hz, {} ch",
            a.bytes,
            a.sample_rate.map_or("?".into(), |r| r.to_string()),
            a.channels.map_or("?".into(), |c| c.to_string())
        );
    }
    if let Some(w) = probe.rate_warning(tts.target().format) {
        eprintln!("warning: {w}");
    }
    let record = measure(
        origin,
        None,
        &probe,
        failure.as_ref(),
        text.chars().count() as u32,
        &inputs.measure,
    );
    Ok(print_records(&[record]))
}
