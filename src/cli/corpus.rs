//! `voxload corpus`: render texts through any TTS endpoint voxload can drive
//! into audio files plus a `manifest.jsonl` (path, reference text, duration,
//! format) — a test set for `voxload asr` and voice agents.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use tokio::sync::Semaphore;

use super::tts::TargetArgs;
use crate::audio::convert::{decode, resample, to_mono, to_pcm16le, wav_file};
use crate::config::tts::TtsOptions;
use crate::input::{SampleFormat, TextSamples};
use crate::protocol::http_tts::{HttpTts, TtsJob};
use crate::protocol::{Capture, HttpClient, Probe};

/// `voxload corpus`.
#[derive(Debug, Clone, Args)]
pub struct CorpusArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: TargetArgs,
    /// Texts to render [default: the bundled set].
    #[arg(long, value_name = "FILE")]
    pub texts: Option<PathBuf>,
    /// Samples format [default: from the extension].
    #[arg(long)]
    pub texts_format: Option<String>,
    /// Output folder for the audio files and manifest.jsonl.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Sample rate of the written 16-bit mono WAV files [default: as received].
    #[arg(long)]
    pub sample_rate: Option<u32>,
    /// Render only the first N texts.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Requests at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

/// One line of `manifest.jsonl`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ManifestLine {
    /// Audio file, relative to the manifest.
    pub path: String,
    /// The reference text (what was synthesized).
    pub text: String,
    /// Duration in seconds.
    pub duration_s: f64,
    /// Container and codec.
    pub format: String,
    /// Sample rate.
    pub sample_rate: u32,
    /// Voice used.
    pub voice: String,
}

/// Render one text into a 16-bit mono WAV file's bytes and its duration.
async fn render(
    tts: &HttpTts,
    text: &str,
    voice: &str,
    rate: Option<u32>,
) -> anyhow::Result<(Vec<u8>, u32, f64)> {
    let mut probe = Probe::new();
    probe.capture = Some(Capture {
        keep_audio: true,
        ..Capture::default()
    });
    tts.execute(&TtsJob { text, voice }, &mut probe)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let format = probe.measured_format(tts.target().format);
    let bytes = probe.capture.map(|c| c.audio).unwrap_or_default();
    let decoded = decode(&bytes, Some(format)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mono = to_mono(&decoded);
    let out_rate = rate.unwrap_or(decoded.sample_rate);
    let samples = if out_rate == decoded.sample_rate {
        mono
    } else {
        resample(&mono, decoded.sample_rate, out_rate)
    };
    let seconds = samples.len() as f64 / f64::from(out_rate);
    Ok((wav_file(&to_pcm16le(&samples), out_rate), out_rate, seconds))
}

/// Render every text; failures are reported and skipped, the manifest holds the rest.
pub async fn run_corpus(args: CorpusArgs) -> anyhow::Result<i32> {
    let opts = TtsOptions {
        endpoint: args.target.endpoint()?,
        ..TtsOptions::default()
    };
    let (target, inputs) = opts.build(&|n| std::env::var(n).ok())?;
    let texts = match &args.texts {
        Some(path) => {
            let format = match &args.texts_format {
                Some(f) => SampleFormat::parse(f)?,
                None => SampleFormat::guess(path),
            };
            TextSamples::load(path, format)?
        }
        None => TextSamples::bundled(),
    };
    let mut texts: Vec<String> = texts.texts().to_vec();
    if let Some(n) = args.limit {
        texts.truncate(n);
    }
    crate::runner::preflight(&target.url).await?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let tts = Arc::new(HttpTts::new(
        target.clone(),
        HttpClient::new(crate::runner::CONNECT_TIMEOUT),
    )?);
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, text) in texts.into_iter().enumerate() {
        let (tts, gate) = (tts.clone(), gate.clone());
        let voice = inputs.voices[i % inputs.voices.len()].clone();
        let (rate, timeout) = (args.sample_rate, inputs.timeout);
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let result = tokio::time::timeout(timeout, render(&tts, &text, &voice, rate)).await;
            let result = result.unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")));
            (i, text, voice, result)
        });
    }
    let mut lines = Vec::new();
    let mut failed = 0usize;
    while let Some(joined) = tasks.join_next().await {
        let (i, text, voice, result) = joined.context("render task failed")?;
        match result {
            Ok((wav, rate, seconds)) => {
                let name = format!("{:04}.wav", i + 1);
                let path = args.out.join(&name);
                std::fs::write(&path, wav)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                lines.push((
                    i,
                    ManifestLine {
                        path: name,
                        text,
                        duration_s: seconds,
                        format: "wav".into(),
                        sample_rate: rate,
                        voice,
                    },
                ));
            }
            Err(e) => {
                failed += 1;
                eprintln!("text {}: {e:#}", i + 1);
            }
        }
    }
    lines.sort_by_key(|(i, _)| *i);
    let mut manifest = String::new();
    for (_, line) in &lines {
        manifest.push_str(&serde_json::to_string(line)?);
        manifest.push('\n');
    }
    let manifest_path = args.out.join("manifest.jsonl");
    std::fs::write(&manifest_path, manifest)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    let total = lines.iter().fold(0.0, |acc, (_, l)| acc + l.duration_s);
    println!(
        "wrote {} files ({total:.1} s of audio) and {}{}",
        lines.len(),
        manifest_path.display(),
        if failed > 0 {
            format!("; {failed} texts failed")
        } else {
            String::new()
        }
    );
    Ok(if failed > 0 && lines.is_empty() {
        super::EXIT_ERROR
    } else {
        super::EXIT_OK
    })
}
