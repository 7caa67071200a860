//! Parsing a speech request and planning what it gets: how many samples, in
//! which chunks, framed how, and how much synthesis work each chunk needs.
//!
//! Pure (no clock, no I/O), so the audio-length and timing arithmetic is in
//! one place that the handler and the truth both follow.

use std::time::Duration;

use serde::Deserialize;

use super::truth::FaultKind;
use super::MockModel;
use crate::audio::generate::samples_in;
use crate::audio::voice::boundary;

/// WAV header length (canonical 44-byte PCM header).
pub(crate) const WAV_HEADER_LEN: usize = 44;

/// Samples in one streamed chunk.
pub(crate) fn samples_per_chunk(model: &MockModel) -> usize {
    samples_in(model.chunk, model.sample_rate)
}

/// The audio container asked for (`response_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Wav,
    Pcm,
}

/// How audio is framed on the wire (`stream_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Raw bytes of the container.
    Audio,
    /// OpenAI server-sent events with base64 PCM.
    Sse,
    /// One JSON object per line (our extension).
    Ndjson,
}

/// The fields we read; others (`model`, `voice`, `instructions`) are accepted and ignored.
#[derive(Deserialize)]
struct RawSpeech {
    input: Option<String>,
    response_format: Option<String>,
    stream_format: Option<String>,
    speed: Option<f64>,
}

/// A valid speech request.
pub(crate) struct Speech {
    pub(crate) chars: usize,
    /// One voice symbol per character (see `voice`).
    pub(crate) symbols: Vec<u8>,
    pub(crate) container: Container,
    pub(crate) framing: Framing,
    /// OpenAI `speed` (speaking tempo), 0.25..=4.0: shortens or lengthens the audio.
    pub(crate) tempo: f64,
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Speech, String> {
    let raw: RawSpeech =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON body: {e}"))?;
    let symbols = raw
        .input
        .as_deref()
        .map(crate::audio::voice::symbols)
        .unwrap_or_default();
    let chars = symbols.len();
    if chars == 0 {
        return Err("'input' is required and must not be empty".into());
    }
    let container = match raw.response_format.as_deref().unwrap_or("wav") {
        "wav" => Container::Wav,
        "pcm" => Container::Pcm,
        other @ ("mp3" | "opus" | "flac" | "aac") => {
            return Err(format!(
                "response_format '{other}' is not supported by the mock (use 'wav' or 'pcm')"
            ))
        }
        other => {
            return Err(format!(
                "unknown response_format '{other}' (use 'wav' or 'pcm')"
            ))
        }
    };
    let framing = match raw.stream_format.as_deref().unwrap_or("audio") {
        "audio" => Framing::Audio,
        "sse" => Framing::Sse,
        "ndjson" => Framing::Ndjson,
        other => {
            return Err(format!(
                "unknown stream_format '{other}' (use 'audio', 'sse' or 'ndjson')"
            ))
        }
    };
    let tempo = raw.speed.unwrap_or(1.0);
    if !(0.25..=4.0).contains(&tempo) {
        return Err(format!(
            "'speed' must be between 0.25 and 4.0 (got {tempo})"
        ));
    }
    Ok(Speech {
        chars,
        symbols,
        container,
        framing,
        tempo,
    })
}

/// What one request will send and when, decided before the first byte.
pub(crate) struct Plan {
    pub(crate) container: Container,
    pub(crate) framing: Framing,
    pub(crate) buffered: bool,
    pub(crate) fault: Option<FaultKind>,
    /// Samples the text implies, leading silence included.
    pub(crate) intended: usize,
    /// Samples actually sent (half under `reset`/`truncate`).
    pub(crate) sent: usize,
    /// Sample ranges `[start, end)` of each audio chunk.
    pub(crate) ranges: Vec<(usize, usize)>,
    /// Synthesis work before the first audio: cold start + overhead.
    pub(crate) lead: Duration,
    /// Chunks from this index on are delayed by this much (`stall` fault).
    pub(crate) stall: Option<(usize, Duration)>,
    pub(crate) sample_rate: u32,
    pub(crate) speed: f64,
    /// The text's voice symbols, rendered per chunk.
    pub(crate) symbols: Vec<u8>,
    /// Speaking tempo (OpenAI `speed`): segment length is `1 / (cps × tempo)`.
    pub(crate) tempo: f64,
    /// Leading silence in samples.
    pub(crate) silence: usize,
}

impl Plan {
    pub(crate) fn new(
        model: &MockModel,
        s: Speech,
        fault: Option<FaultKind>,
        lead: Duration,
    ) -> Self {
        let rate = model.sample_rate;
        let speech = boundary(s.chars, rate, model.chars_per_second, s.tempo);
        let speech = speech.min(samples_in(model.max_audio, rate));
        let silence = samples_in(model.leading_silence, rate);
        let intended = silence + speech;
        let sent = match fault {
            Some(FaultKind::Reset | FaultKind::Truncate) => intended / 2,
            _ => intended,
        };
        let step = samples_per_chunk(model).max(1);
        let ranges: Vec<_> = (0..sent)
            .step_by(step)
            .map(|a| (a, (a + step).min(sent)))
            .collect();
        let stall = (fault == Some(FaultKind::Stall))
            .then_some((ranges.len() / 2, model.faults.stall_duration));
        Self {
            container: s.container,
            framing: s.framing,
            buffered: !model.streaming,
            fault,
            intended,
            sent,
            ranges,
            lead,
            stall,
            sample_rate: rate,
            speed: model.speed,
            symbols: s.symbols,
            tempo: s.tempo,
            silence,
        }
    }

    /// Synthesis work until chunk `i` is ready: the lead, plus the audio up to
    /// the chunk's end divided by speed (so a short last chunk is ready
    /// sooner, and total time is exactly `audio / speed`), plus any stall.
    pub(crate) fn work(&self, i: usize) -> Duration {
        let Some(&(_, end)) = self.ranges.get(i) else {
            return self.lead;
        };
        let audio = end as f64 / f64::from(self.sample_rate) / self.speed;
        let stall = self
            .stall
            .filter(|(from, _)| i >= *from)
            .map_or(Duration::ZERO, |(_, d)| d);
        self.lead + Duration::from_secs_f64(audio) + stall
    }

    /// Body frames that carry audio (`x-mock-chunks`).
    pub(crate) fn audio_frames(&self) -> usize {
        match (self.buffered, self.ranges.len()) {
            (_, 0) => 0,
            (true, _) => 1,
            (false, n) => n,
        }
    }

    pub(crate) fn wav_header(&self) -> bool {
        self.container == Container::Wav && self.framing == Framing::Audio
    }

    /// `Content-Length` for a buffered raw-audio response (a reset never completes).
    pub(crate) fn exact_len(&self) -> Option<u64> {
        let known =
            self.buffered && self.framing == Framing::Audio && self.fault != Some(FaultKind::Reset);
        let header = if self.wav_header() { WAV_HEADER_LEN } else { 0 };
        known.then(|| (header + self.sent * 2) as u64)
    }

    /// The body is raw PCM (no header declares its rate).
    pub(crate) fn is_raw_pcm(&self) -> bool {
        (self.framing, self.container) == (Framing::Audio, Container::Pcm)
    }

    pub(crate) fn content_type(&self) -> &'static str {
        match (self.framing, self.container) {
            (Framing::Audio, Container::Wav) => "audio/wav",
            (Framing::Audio, Container::Pcm) => "audio/pcm",
            (Framing::Sse, _) => "text/event-stream",
            (Framing::Ndjson, _) => "application/x-ndjson",
        }
    }
}
