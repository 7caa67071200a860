//! `voxload sample`: one request, shown in full (seed 001's `--sample`),
//! with secrets redacted. The first thing to run against a new server.

use std::time::Instant;

use clap::Args;

use super::tts::TargetArgs;
use crate::config::tts::TtsOptions;
use crate::metrics::defs::measure;
use crate::protocol::http_tts::{HttpTts, TtsJob};
use crate::protocol::{Capture, HttpClient, Probe};

/// `voxload sample`.
#[derive(Debug, Clone, Args)]
pub struct SampleArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: TargetArgs,
    /// Text to synthesize.
    #[arg(
        long,
        default_value = "Hello! This is a short sample from voxload, checking time to first audio."
    )]
    pub text: String,
}

fn ms(origin: Instant, at: Instant) -> f64 {
    at.saturating_duration_since(origin).as_secs_f64() * 1000.0
}

/// Send one request and print everything about it.
pub async fn run_sample(args: SampleArgs) -> anyhow::Result<i32> {
    let opts = TtsOptions {
        endpoint: args.target.endpoint()?,
        ..TtsOptions::default()
    };
    let (target, inputs) = opts.build(&|n| std::env::var(n).ok())?;
    let tts = HttpTts::new(target, HttpClient::new(crate::runner::CONNECT_TIMEOUT))?;
    let voice = inputs.voices.first().cloned().unwrap_or_default();
    let job = TtsJob {
        text: &args.text,
        voice: &voice,
    };
    println!(
        "POST {}",
        crate::protocol::target::redact_url(&tts.target().url)
    );
    for (n, v) in tts.sent_headers() {
        let v = String::from_utf8_lossy(v.as_bytes());
        println!(
            "> {n}: {}",
            crate::protocol::target::redact_header(n.as_str(), &v)
        );
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
        Err(_) => Some(crate::protocol::ProtocolError::new(
            crate::protocol::ErrorKind::Timeout,
            "timed out",
        )),
    };
    if let Some(h) = probe.headers_at {
        println!("headers after {:.1} ms", ms(origin, h));
    }
    println!("{} audio chunks:", probe.chunks.len());
    for (i, c) in probe.chunks.iter().enumerate().take(20) {
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
    if probe.chunks.len() > 20 {
        println!("  … {} more", probe.chunks.len() - 20);
    }
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
        args.text.chars().count() as u32,
        &inputs.measure,
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&record).unwrap_or_default()
    );
    Ok(match &record.error {
        None => super::EXIT_OK,
        Some(_) => super::EXIT_ERROR,
    })
}
