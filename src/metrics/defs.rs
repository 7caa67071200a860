//! The metric definitions: each figure voxload reports is computed here, once,
//! by a small pure function (design §4).
//!
//! Adapters only record timestamps into a [`Probe`]; [`measure`] turns a
//! finished probe into a [`RequestRecord`]. Every other module (statistics,
//! timeline, reports) reads records and never recomputes a definition, so a
//! number means the same thing everywhere it appears.
//!
//! Durations are measured from the request's *time origin*: the scheduled
//! start in open loop (so a late generator or a queue cannot hide latency —
//! no coordinated omission), the actual send in closed loop.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::audio::AudioSummary;
use crate::metrics::RequestRecord;
use crate::protocol::{ErrorKind, Probe, ProtocolError};

/// Audio sanity checks: catch responses that "work" on the wire but carry
/// no usable speech, so a broken server cannot look fast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SanityConfig {
    /// Whether to turn empty, silent or far-too-short audio into failures.
    pub enabled: bool,
    /// Speech rate to expect, in characters of text per second of audio.
    pub chars_per_second: f64,
    /// Audio shorter than `min_audio_ratio × text_chars ÷ chars_per_second`
    /// seconds is [`ErrorKind::ShortAudio`]. Low by default (0.2) so that fast
    /// voices and terse texts never trip it; it catches truncated audio.
    pub min_audio_ratio: f64,
}

impl Default for SanityConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            chars_per_second: 15.0,
            min_audio_ratio: 0.2,
        }
    }
}

/// How [`measure`] turns a probe into a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeasureConfig {
    /// Which audio chunks' arrival to report (`chunk_k`), 1-based.
    pub chunk_ks: Vec<u32>,
    /// Audio the simulated player buffers before it starts playing
    /// (see [`stalls`]). Serialized as `prebuffer_us`.
    #[serde(rename = "prebuffer_us", with = "crate::units::duration_us")]
    pub prebuffer: Duration,
    /// Audio sanity checks.
    pub sanity: SanityConfig,
}

impl Default for MeasureConfig {
    fn default() -> Self {
        Self {
            chunk_ks: vec![1, 4],
            prebuffer: Duration::ZERO,
            sanity: SanityConfig::default(),
        }
    }
}

pub use crate::units::micros;

/// Open loop: how late the request was actually sent, `sent − intended`,
/// saturating at zero. A growing lag means the generator (not the server)
/// could not keep up; latencies stay measured from `intended` regardless.
pub fn schedule_lag(intended: Instant, sent: Instant) -> Duration {
    sent.saturating_duration_since(intended)
}

/// Real-time factor, `e2e ÷ audio`: seconds of waiting per second of speech
/// (lower is better; < 1 means faster than real time). `None` when the audio
/// duration is zero, since the ratio is then meaningless.
pub fn rtf(e2e: Duration, audio: Duration) -> Option<f64> {
    if audio.is_zero() {
        return None;
    }
    Some(e2e.as_secs_f64() / audio.as_secs_f64())
}

/// Inverse real-time factor, `audio ÷ e2e` ("RTFx", higher is better).
/// `None` when either side is zero: no audio means nothing was synthesized.
pub fn rtfx(e2e: Duration, audio: Duration) -> Option<f64> {
    if audio.is_zero() || e2e.is_zero() {
        return None;
    }
    Some(audio.as_secs_f64() / e2e.as_secs_f64())
}

/// Gaps between consecutive audio chunks of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterChunk {
    /// Mean gap: `(last arrival − first arrival) ÷ (chunks − 1)`.
    pub mean: Duration,
    /// Largest single gap: the worst pause the server made mid-stream.
    pub max: Duration,
}

/// Inter-chunk gaps of arrivals given in arrival order. `None` with fewer
/// than two chunks, since there is no gap to speak of.
pub fn inter_chunk(arrivals: &[Duration]) -> Option<InterChunk> {
    let (first, last) = (arrivals.first()?, arrivals.last()?);
    let gaps = u32::try_from(arrivals.len() - 1).unwrap_or(u32::MAX);
    if gaps == 0 {
        return None;
    }
    let max = arrivals
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or_default();
    Some(InterChunk {
        mean: last.saturating_sub(*first) / gaps,
        max,
    })
}

/// Playback stalls of one streamed response, under the model in [`stalls`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StallReport {
    /// How many times playback ran dry.
    pub count: u32,
    /// Total time spent waiting for audio after playback started.
    pub total: Duration,
    /// Smallest pre-buffer that would have given zero stalls (independent of
    /// the pre-buffer the report was computed with).
    pub prebuffer_needed: Duration,
}

/// One chunk as the simulated player handles it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Played {
    /// Audio time at which this chunk begins, `Σ_{j<i} d_j`.
    audio_offset: Duration,
    /// Audio this chunk carries, `d_i`.
    pub(super) audio: Duration,
    /// When it starts playing, `max(a_i, end_{i-1})`.
    pub(super) start: Duration,
    /// How long the player waited for it, `max(0, a_i − end_{i-1})`.
    stall: Duration,
}

/// Walk the playback model over `(arrival, audio)` chunks; the single
/// implementation behind [`stalls`], [`perceived_ttfa`] and the voice
/// agent's barge-in playback (`defs_agent`).
pub(super) fn playback(
    chunks: &[(Duration, Duration)],
    prebuffer: Duration,
) -> impl Iterator<Item = Played> + '_ {
    let first = chunks.first().map(|c| c.0).unwrap_or_default();
    // `end` of the imaginary chunk 0: playback begins at a_1 + prebuffer.
    let mut end = first.saturating_add(prebuffer);
    let mut audio_offset = Duration::ZERO;
    chunks.iter().map(move |&(arrival, audio)| {
        let stall = arrival.saturating_sub(end);
        let start = end.max(arrival);
        end = start.saturating_add(audio);
        let played = Played {
            audio_offset,
            audio,
            start,
            stall,
        };
        audio_offset = audio_offset.saturating_add(audio);
        played
    })
}

/// Playback stalls: what a listener of a streamed response hears.
///
/// Model: the client starts playing when the first audio chunk arrives plus
/// `prebuffer`, and plays in real time. Chunk i (arrival a_i, audio duration
/// d_i) starts playing at max(a_i, end of chunk i-1); a stall happens when
/// a_i > end of chunk i-1, lasting a_i − end_{i-1}. We count stalls and total
/// stall time. The pre-buffer needed for zero stalls is
/// max(0, max_i (a_i − a_1 − Σ_{j<i} d_j)), whatever `prebuffer` is.
///
/// `chunks` are `(arrival offset, audio duration)` in arrival order; the
/// offsets may be from any common origin.
pub fn stalls(chunks: &[(Duration, Duration)], prebuffer: Duration) -> StallReport {
    let first = chunks.first().map(|c| c.0).unwrap_or_default();
    let mut report = StallReport::default();
    for (p, &(arrival, _)) in playback(chunks, prebuffer).zip(chunks) {
        if !p.stall.is_zero() {
            report.count = report.count.saturating_add(1);
            report.total = report.total.saturating_add(p.stall);
        }
        // a_i − a_1 − Σ_{j<i} d_j: how far chunk i is behind real time.
        let behind = arrival.saturating_sub(first).saturating_sub(p.audio_offset);
        report.prebuffer_needed = report.prebuffer_needed.max(behind);
    }
    report
}

/// Perceived time to first audio: when, under the [`stalls`] playback model
/// with `prebuffer`, the listener hears the first voiced sample.
///
/// Find the chunk that contains audio time `first_voiced` (chunk i with
/// `Σ_{j<i} d_j ≤ first_voiced < Σ_{j≤i} d_j`); the answer is its playback
/// start plus `first_voiced − Σ_{j<i} d_j`. Leading silence and stalls
/// before speech both count, because the listener waits through both.
/// `None` if `first_voiced` lies beyond the audio in `chunks`.
pub fn perceived_ttfa(
    chunks: &[(Duration, Duration)],
    prebuffer: Duration,
    first_voiced: Duration,
) -> Option<Duration> {
    playback(chunks, prebuffer)
        .find(|p| {
            p.audio_offset <= first_voiced && first_voiced < p.audio_offset.saturating_add(p.audio)
        })
        .map(|p| p.start.saturating_add(first_voiced - p.audio_offset))
}

/// Audio sanity: the class and detail of a response whose audio is missing,
/// silent, or far shorter than its text implies; `None` if it looks sound
/// (or checks are disabled).
///
/// Checks, in order: no audio chunk at all → [`ErrorKind::NoAudio`]; samples
/// were inspected and none was voiced → [`ErrorKind::SilentAudio`]; decoded
/// duration `< min_audio_ratio × text_chars ÷ chars_per_second` →
/// [`ErrorKind::ShortAudio`] (skipped if the duration is unknown or
/// `chars_per_second` is not positive).
pub fn sanity(
    audio_chunks: usize,
    audio: Option<&AudioSummary>,
    text_chars: u32,
    cfg: &SanityConfig,
) -> Option<ProtocolError> {
    if !cfg.enabled {
        return None;
    }
    if audio_chunks == 0 {
        return Some(ProtocolError::new(
            ErrorKind::NoAudio,
            "the response carried no audio",
        ));
    }
    let audio = audio?;
    if audio.samples_inspected && audio.first_voiced.is_none() {
        let secs = audio.duration.map(|d| d.as_secs_f64()).unwrap_or(0.0);
        return Some(ProtocolError::new(
            ErrorKind::SilentAudio,
            format!("all {secs:.2} s of audio were silent"),
        ));
    }
    let got = audio.duration?.as_secs_f64();
    if cfg.chars_per_second <= 0.0 {
        return None;
    }
    let expected = cfg.min_audio_ratio * f64::from(text_chars) / cfg.chars_per_second;
    (got < expected).then(|| {
        ProtocolError::new(
            ErrorKind::ShortAudio,
            format!(
                "{got:.2} s of audio for {text_chars} characters; expected at least {expected:.2} s \
                 ({} × {text_chars} chars ÷ {} chars/s)",
                cfg.min_audio_ratio, cfg.chars_per_second
            ),
        )
    })
}

/// Chunk offsets [`measure`] keeps on the stack before it uses the heap.
const INLINE_CHUNKS: usize = 16;

/// Turn a finished probe into a [`RequestRecord`]: the one place where
/// timestamps become metrics.
///
/// - `origin`: the time origin — scheduled start in open loop, actual send in
///   closed loop. All `_us` latencies are measured from it.
/// - `scheduled`: `Some(intended start)` in open loop; then
///   `schedule_lag = sent_at − intended` (saturating at 0).
/// - `failure`: the adapter's error, if the request failed. Metrics reached
///   before the failure are still filled in (statistics decide what to use).
///
/// A metric the request never reached is `None`, never zero: `chunk_k` is
/// absent if fewer than k audio chunks came, `e2e` if the response did not
/// finish, `rtf`/`rtfx` if the audio duration is unknown or zero. Stalls,
/// pre-buffer needed and perceived TTFA need the audio duration of *every*
/// chunk (PCM/WAV); compressed streams leave them absent. Stalls use
/// `cfg.prebuffer`.
///
/// With no `failure` and sanity checks enabled, a response with no, silent or
/// far-too-short audio becomes a failure of the matching class ([`sanity`]).
/// `stage`, `seq`, `start_us`, `end_us`, `warmup` and `voice` are left at their
/// defaults for the driver to fill.
pub fn measure(
    origin: Instant,
    scheduled: Option<Instant>,
    probe: &Probe,
    failure: Option<&ProtocolError>,
    text_chars: u32,
    cfg: &MeasureConfig,
) -> RequestRecord {
    let since = |t: Instant| t.saturating_duration_since(origin);
    // Most responses have few chunks: keep their offsets on the stack (this
    // runs once per request; the heap is used only for long streams).
    let n = probe.chunks.len();
    let mut arrivals_inline = [Duration::ZERO; INLINE_CHUNKS];
    let arrivals_heap: Vec<Duration>;
    let arrivals: &[Duration] = if n <= INLINE_CHUNKS {
        for (slot, c) in arrivals_inline.iter_mut().zip(&probe.chunks) {
            *slot = since(c.at);
        }
        &arrivals_inline[..n]
    } else {
        arrivals_heap = probe.chunks.iter().map(|c| since(c.at)).collect();
        &arrivals_heap
    };
    let audio = probe.audio.as_ref();
    let audio_dur = audio.and_then(|a| a.duration);
    let e2e = probe.finished_at.map(since);

    let mut r = RequestRecord {
        text_chars,
        status: probe.status,
        retry_after_us: probe.retry_after.map(micros),
        schedule_lag_us: scheduled
            .zip(probe.sent_at)
            .map(|(intended, sent)| micros(schedule_lag(intended, sent))),
        ttfb_us: probe.headers_at.map(|t| micros(since(t))),
        ttfa_us: arrivals.first().map(|d| micros(*d)),
        e2e_us: e2e.map(micros),
        chunks: u32::try_from(probe.chunks.len()).unwrap_or(u32::MAX),
        // Prefer the decoder's count (container headers excluded); fall back
        // to the unwrapped bytes of the chunks.
        audio_bytes: audio
            .map(|a| a.bytes)
            .unwrap_or_else(|| probe.chunks.iter().map(|c| u64::from(c.bytes)).sum()),
        audio_us: audio_dur.map(micros),
        sample_rate: audio.and_then(|a| a.sample_rate),
        rate_source: audio.and_then(|a| a.rate_source),
        ..RequestRecord::default()
    };

    for &k in &cfg.chunk_ks {
        let idx = usize::try_from(k).unwrap_or(usize::MAX);
        // Each k once (the first occurrence in `chunk_ks` wins).
        if k == 0 || r.chunk_us.iter().any(|&(seen, _)| seen == k) {
            continue;
        }
        if let Some(at) = arrivals.get(idx - 1) {
            r.chunk_us.push((k, micros(*at)));
        }
    }

    if let Some(gaps) = inter_chunk(arrivals) {
        r.inter_chunk_mean_us = Some(micros(gaps.mean));
        r.inter_chunk_max_us = Some(micros(gaps.max));
    }

    if let (Some(e2e), Some(audio_dur)) = (e2e, audio_dur) {
        r.rtf = rtf(e2e, audio_dur);
        r.rtfx = rtfx(e2e, audio_dur);
    }

    let first_voiced = audio
        .filter(|a| a.samples_inspected)
        .and_then(|a| a.first_voiced);
    r.leading_silence_us = first_voiced.map(micros);

    // Stalls need every chunk's audio duration; one unknown breaks the model.
    let mut played_inline = [(Duration::ZERO, Duration::ZERO); INLINE_CHUNKS];
    let played_heap: Vec<(Duration, Duration)>;
    let per_chunk = probe
        .chunks
        .iter()
        .zip(arrivals)
        .map(|(c, a)| c.audio.map(|d| (*a, d)));
    let per_chunk: Option<&[(Duration, Duration)]> =
        if n == 0 || probe.chunks.iter().any(|c| c.audio.is_none()) {
            None
        } else if n <= INLINE_CHUNKS {
            for (slot, p) in played_inline.iter_mut().zip(per_chunk.flatten()) {
                *slot = p;
            }
            Some(&played_inline[..n])
        } else {
            played_heap = per_chunk.flatten().collect();
            Some(&played_heap)
        };
    if let Some(chunks) = per_chunk {
        let report = stalls(chunks, cfg.prebuffer);
        r.stall_count = Some(report.count);
        r.stall_us = Some(micros(report.total));
        r.prebuffer_needed_us = Some(micros(report.prebuffer_needed));
        r.perceived_ttfa_us = first_voiced
            .and_then(|fv| perceived_ttfa(chunks, cfg.prebuffer, fv))
            .map(micros);
    }

    let error = match failure {
        Some(f) => Some(f.clone()),
        None => sanity(probe.chunks.len(), audio, text_chars, &cfg.sanity),
    };
    if let Some(e) = error {
        r.error = Some(e.kind);
        r.error_detail = Some(e.detail);
    }
    r
}

#[cfg(test)]
#[path = "defs_tests.rs"]
mod tests;
