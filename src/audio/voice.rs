//! Text-carrying "speech": the mock's TTS audio encodes its input text, so
//! the mock's own ASR can return the true text of that audio and word error
//! rate becomes testable end to end.
//!
//! Each input character becomes one tone segment exactly
//! `1 / chars_per_second` long (boundaries rounded to whole samples, so the
//! total stays `round(chars × rate / cps)` as before). The segment's
//! frequency names the character: [`SYMBOLS`] maps to evenly spaced whole
//! frequencies from 300 Hz to 3.8 kHz (≈ 76 Hz apart), below the 8 kHz
//! Nyquist limit of 16 kHz audio, so the text survives resampling to 16 kHz.
//! Uppercase ASCII folds to lowercase; any other character is one "unknown"
//! symbol, decoded as [`UNKNOWN_CHAR`]. There are no gaps between segments:
//! the audio is voiced from the first sample after the leading silence to
//! the last. Each segment is a cosine starting at full amplitude (0.5 of
//! full scale), so its onset is one sample sharp; phase is not continuous
//! across segments (no listener will mind).
//!
//! Decoding ([`decode_text`]) finds the first voiced sample, lays the segment
//! grid from there, and names each segment by the strongest of the symbol
//! frequencies (Goertzel) over the middle 60 % of the segment, so boundary
//! misalignment of a few samples (resampling, rounding) does not matter. A
//! silent segment re-anchors the grid at the next voiced sample, so trailing
//! silence and pauses between utterances are skipped.
//!
//! Limitation: the decoder assumes tempo 1 (OpenAI `speed` 1.0); audio made
//! with another `speed` has other segment lengths and does not decode.

use std::ops::Range;

use bytes::BytesMut;

/// Characters with their own tone, in frequency order. Index = symbol.
pub const SYMBOLS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789 .,?!'-:;\"";

/// What the "unknown" symbol (any character not in [`SYMBOLS`]) decodes to.
pub const UNKNOWN_CHAR: char = '*';

/// The unknown symbol's index; it has the highest frequency.
const UNKNOWN: u8 = SYMBOLS.len() as u8;
/// Number of symbols, unknown included.
const COUNT: usize = SYMBOLS.len() + 1;
const LOW_HZ: f64 = 300.0;
const HIGH_HZ: f64 = 3_800.0;
/// Peak amplitude as a fraction of full scale (the old single tone's level).
const AMPLITUDE: f64 = 0.5;
/// Voiced when a sample's magnitude exceeds this (≈ −34 dBFS): far below
/// the tone, far above rounding noise.
const ONSET: f32 = 0.02;
/// A segment whose analysis window has an RMS below this is silence.
const SILENT_RMS: f64 = 0.02;
/// Longest analysis window: 40 ms resolves 25 Hz, enough for 76 Hz spacing,
/// and bounds decoding CPU for slow speaking rates.
const MAX_WINDOW_S: f64 = 0.040;
/// Slowest OpenAI `speed` (0.25): segments are at most 4× the base length.
const MIN_TEMPO: f64 = 0.25;

/// The frequency (whole Hz) of symbol `s`. Whole Hz means a whole number of
/// cycles fits in one second at any integer sample rate.
fn freq_hz(s: u8) -> f64 {
    (LOW_HZ + f64::from(s) * (HIGH_HZ - LOW_HZ) / (COUNT - 1) as f64).round()
}

/// The symbol of one character.
pub(crate) fn symbol_of(c: char) -> u8 {
    if !c.is_ascii() {
        return UNKNOWN;
    }
    let b = c.to_ascii_lowercase() as u8;
    SYMBOLS
        .iter()
        .position(|&s| s == b)
        .map_or(UNKNOWN, |i| i as u8)
}

/// The character a symbol decodes to.
fn char_of(s: u8) -> char {
    SYMBOLS
        .get(usize::from(s))
        .map_or(UNKNOWN_CHAR, |&b| char::from(b))
}

/// One symbol per character (Unicode scalar value) of `text`.
pub(crate) fn symbols(text: &str) -> Vec<u8> {
    text.chars().map(symbol_of).collect()
}

/// Start of segment `k` in samples (so segment `k` is `[boundary(k), boundary(k+1))`).
/// `boundary(chars)` is the speech length; the expression is the one the TTS
/// plan has always used, so lengths are unchanged to the sample.
pub(crate) fn boundary(k: usize, sample_rate: u32, chars_per_second: f64, tempo: f64) -> usize {
    (k as f64 * f64::from(sample_rate) / (chars_per_second * tempo)).round() as usize
}

/// Precomputed segment waveforms for one sample rate and speaking rate.
///
/// Built once per server; a response is assembled by copying slices, so the
/// mock spends no per-request CPU on synthesis.
pub struct Voice {
    sample_rate: u32,
    chars_per_second: f64,
    /// Per symbol: PCM16 LE of its cosine, `wave_len` samples.
    waves: Vec<Vec<u8>>,
    /// At least the longest segment (tempo 0.25), or exactly one second, in
    /// which case reading wraps seamlessly (whole cycles per second).
    wave_len: usize,
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice")
            .field("sample_rate", &self.sample_rate)
            .field("chars_per_second", &self.chars_per_second)
            .finish_non_exhaustive()
    }
}

impl Voice {
    /// The waveforms for `sample_rate` and `chars_per_second` (> 0).
    pub fn new(sample_rate: u32, chars_per_second: f64) -> Self {
        let rate = f64::from(sample_rate.max(1));
        let longest = (rate / (chars_per_second * MIN_TEMPO)).ceil() + 1.0;
        let wave_len = if longest.is_finite() && longest < rate {
            longest as usize
        } else {
            sample_rate.max(1) as usize
        };
        let amp = AMPLITUDE * f64::from(i16::MAX);
        let waves = (0..COUNT as u8)
            .map(|s| {
                // cos(w·i) by the Chebyshev recurrence c[i+1] = 2cos(w)·c[i] − c[i−1]:
                // one multiply per sample instead of a `cos` call, which keeps
                // startup cheap in debug builds; the f64 error stays below 1e-9.
                let w = 2.0 * std::f64::consts::PI * freq_hz(s) / rate;
                let k = 2.0 * w.cos();
                let (mut prev, mut cur) = (w.cos(), 1.0f64);
                let mut out = Vec::with_capacity(wave_len * 2);
                for _ in 0..wave_len {
                    out.extend_from_slice(&((amp * cur) as i16).to_le_bytes());
                    (prev, cur) = (cur, k * cur - prev);
                }
                out
            })
            .collect();
        Self {
            sample_rate,
            chars_per_second,
            waves,
            wave_len,
        }
    }

    /// Speech for `text` at tempo 1, no leading silence, as 16-bit samples.
    pub fn render(&self, text: &str) -> Vec<i16> {
        let syms = symbols(text);
        let n = boundary(syms.len(), self.sample_rate, self.chars_per_second, 1.0);
        let mut pcm = BytesMut::with_capacity(n * 2);
        self.render_span(&syms, 1.0, 0, 0..n, &mut pcm);
        pcm.chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    /// Append samples `range` of an utterance as PCM16 LE: `silence` zero
    /// samples, then the segments of `syms` at `tempo`. Samples past the end
    /// of the text (never asked for by the plan) are silence.
    pub(crate) fn render_span(
        &self,
        syms: &[u8],
        tempo: f64,
        silence: usize,
        range: Range<usize>,
        out: &mut BytesMut,
    ) {
        let Range { start, end } = range;
        let quiet = end.min(silence).saturating_sub(start);
        out.resize(out.len() + quiet * 2, 0);
        let (rate, cps) = (self.sample_rate, self.chars_per_second);
        let bound = |k: usize| boundary(k, rate, cps, tempo);
        let mut s = start.max(silence) - silence;
        let stop = end.saturating_sub(silence);
        if s >= stop {
            return;
        }
        // The segment holding sample `s`: estimate, then correct for rounding.
        let mut k = (s as f64 * cps * tempo / f64::from(rate)) as usize;
        while k > 0 && bound(k) > s {
            k -= 1;
        }
        while bound(k + 1) <= s {
            k += 1;
        }
        while s < stop {
            let Some(&sym) = syms.get(k) else {
                out.resize(out.len() + (stop - s) * 2, 0);
                return;
            };
            let seg_end = bound(k + 1).min(stop);
            self.copy_wave(sym, s - bound(k), seg_end - s, out);
            s = seg_end;
            k += 1;
        }
    }

    /// `len` samples of symbol `sym`'s wave from `offset`, wrapping (seamless,
    /// see `wave_len`).
    fn copy_wave(&self, sym: u8, mut offset: usize, mut len: usize, out: &mut BytesMut) {
        let wave = &self.waves[usize::from(sym).min(COUNT - 1)];
        while len > 0 {
            offset %= self.wave_len;
            let take = len.min(self.wave_len - offset);
            out.extend_from_slice(&wave[offset * 2..(offset + take) * 2]);
            offset += take;
            len -= take;
        }
    }
}

/// The text carried by mock speech: `samples` mono in −1..1 at `sample_rate`,
/// spoken at `chars_per_second` (tempo 1). Leading silence, trailing silence
/// and silent pauses are skipped. Audio that is not mock speech decodes to
/// an arbitrary string of symbols.
pub fn decode_text(samples: &[f32], sample_rate: u32, chars_per_second: f64) -> String {
    let mut d = Decoder::new(sample_rate, chars_per_second);
    d.push(samples.iter().copied());
    d.into_text()
}

/// Incremental [`decode_text`]: fed audio in pieces (a WebSocket stream), it
/// decodes each segment as soon as its analysis window has arrived.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    /// Samples per segment at this rate.
    seg: f64,
    /// Goertzel coefficient `2 cos(ω)` per symbol.
    coeffs: Vec<f64>,
    /// Longest analysis window in samples.
    max_window: usize,
    /// Absolute index of the first voiced sample of the current run.
    onset: Option<u64>,
    /// Samples pushed so far.
    seen: u64,
    /// Samples from absolute index `buf_start` on (only while voiced).
    buf: Vec<f32>,
    buf_start: u64,
    /// Next segment (relative to `onset`) to decode.
    next: u64,
    text: String,
}

impl Decoder {
    pub(crate) fn new(sample_rate: u32, chars_per_second: f64) -> Self {
        let rate = f64::from(sample_rate.max(1));
        Self {
            seg: rate / chars_per_second,
            coeffs: (0..COUNT as u8)
                .map(|s| 2.0 * (2.0 * std::f64::consts::PI * freq_hz(s) / rate).cos())
                .collect(),
            max_window: ((rate * MAX_WINDOW_S) as usize).max(1),
            onset: None,
            seen: 0,
            buf: Vec::new(),
            buf_start: 0,
            next: 0,
            text: String::new(),
        }
    }

    /// Feed samples (mono, −1..1).
    pub(crate) fn push(&mut self, samples: impl IntoIterator<Item = f32>) {
        for x in samples {
            if self.onset.is_none() && x.abs() > ONSET {
                self.onset = Some(self.seen);
                self.buf.clear();
                self.buf_start = self.seen;
                self.next = 0;
            }
            if self.onset.is_some() {
                self.buf.push(x);
            }
            self.seen += 1;
        }
        self.decode_ready();
    }

    /// Feed 16-bit little-endian PCM (an odd trailing byte is ignored).
    pub(crate) fn push_pcm16(&mut self, pcm: &[u8]) {
        self.push(
            pcm.chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0),
        );
    }

    /// The text decoded so far.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn into_text(self) -> String {
        self.text
    }

    /// Decode every segment whose analysis window has fully arrived.
    fn decode_ready(&mut self) {
        while let Some(onset) = self.onset {
            let k = self.next as f64;
            let from = onset + ((k + 0.2) * self.seg).round() as u64;
            let to = onset + ((k + 0.8) * self.seg).round() as u64;
            let to = to.max(from + 1);
            if to > self.seen {
                return;
            }
            // Centre a window of at most `max_window` samples.
            let len = ((to - from) as usize).min(self.max_window);
            let a = (from + (to - from - len as u64) / 2 - self.buf_start) as usize;
            match self.classify(&self.buf[a..a + len]) {
                Some(sym) => {
                    self.text.push(char_of(sym));
                    self.next += 1;
                    // Drop samples no later window needs.
                    let keep_from = (onset + ((k + 1.0) * self.seg) as u64).min(self.seen);
                    let drop = (keep_from - self.buf_start) as usize;
                    if drop > 4_096 {
                        self.buf.drain(..drop);
                        self.buf_start = keep_from;
                    }
                }
                None => {
                    // Silence: re-anchor at the next voiced sample, if any
                    // has arrived already.
                    let rest = (to - self.buf_start) as usize;
                    match self.buf[rest..].iter().position(|x| x.abs() > ONSET) {
                        Some(i) => {
                            self.buf.drain(..rest + i);
                            self.buf_start = to + i as u64;
                            self.onset = Some(self.buf_start);
                            self.next = 0;
                        }
                        None => {
                            self.onset = None;
                            self.buf.clear();
                        }
                    }
                }
            }
        }
    }

    /// The strongest symbol frequency in `w`, or `None` if `w` is silent.
    fn classify(&self, w: &[f32]) -> Option<u8> {
        let energy: f64 = w.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        if energy / (w.len().max(1) as f64) < SILENT_RMS * SILENT_RMS {
            return None;
        }
        let mut best = (0u8, f64::MIN);
        for (s, &c) in self.coeffs.iter().enumerate() {
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for &x in w {
                let s0 = f64::from(x) + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            let power = s1 * s1 + s2 * s2 - c * s1 * s2;
            if power > best.1 {
                best = (s as u8, power);
            }
        }
        Some(best.0)
    }
}

#[cfg(test)]
#[path = "voice_tests.rs"]
mod tests;
