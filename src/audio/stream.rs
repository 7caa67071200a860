//! Incremental decoding of a response's audio stream.
//!
//! The HTTP adapter calls [`StreamAudio::push`] for every transport read (or
//! [`StreamAudio::push_message`] for every SSE/NDJSON audio payload), so the
//! linear formats (PCM, WAV) are measured in place: no sample bytes are kept,
//! only a running frame count, a ≤ 8-byte partial sample and the silence
//! state. Per-push durations are differences of a running total computed
//! from whole frames, so they add up to the stream's duration exactly.
//!
//! Compressed formats are different: MP3 and FLAC bytes are buffered and
//! decoded once in [`StreamAudio::finish`]; Ogg Opus pages are walked as
//! they arrive (see `ogg.rs`) and need no buffer.

use std::time::Duration;

use super::compressed;
use super::ogg::{OggOpusScanner, OPUS_RATE};
use super::rate::{DeclaredRate, RateSource};
use super::silence::{frames_to_duration, SilenceDetector, DEFAULT_THRESHOLD_DBFS};
use super::wav::{PcmSpec, SampleEncoding, WavParser, WavStep};
use super::{AudioError, AudioFormat, AudioSummary};

/// Compressed bytes buffered for decoding at most; beyond this (over an
/// hour of 128 kbit/s MP3) the bytes are still counted but the duration is
/// reported as unknown rather than growing memory without bound.
pub const MAX_BUFFERED_BYTES: usize = 128 << 20;

/// What one push contained.
///
/// `bytes == 0` means the push carried no audio (e.g. only WAV header bytes),
/// so it must not count as "first audio". `duration` is `Some` for PCM and
/// WAV once the layout is known (for WAV: after the `fmt ` chunk; a push that
/// completes the header reports `Some(Duration::ZERO)`), and `None` for
/// compressed formats and for WAV pushes before the layout is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushedAudio {
    /// Audio bytes in this push, header and non-audio chunk bytes excluded.
    pub bytes: usize,
    /// Audio time added by this push (whole frames only; a partial frame is
    /// carried over and counted when completed).
    pub duration: Option<Duration>,
}

/// Incremental decoder of one response's audio. See the module docs.
#[derive(Debug)]
pub struct StreamAudio {
    kind: Kind,
    /// Audio bytes seen (headers excluded for WAV).
    bytes: u64,
    /// Set by the first failing push; later calls return it again.
    failed: Option<AudioError>,
    /// Raw PCM: where its rate came from (assumed until declared).
    rate_source: RateSource,
}

#[derive(Debug)]
enum Kind {
    /// Raw PCM (`wav == None`) or WAV.
    Linear {
        wav: Option<WavParser>,
        pcm: PcmCounter,
    },
    /// Ogg Opus, measured page by page.
    Opus(OggOpusScanner),
    /// MP3 or FLAC, decoded at the end.
    Buffered {
        format: &'static str,
        buf: Vec<u8>,
        overflowed: bool,
        threshold_dbfs: f64,
    },
}

impl StreamAudio {
    /// A decoder for `format`, with the default silence threshold.
    pub fn new(format: AudioFormat) -> Self {
        Self::with_silence_threshold(format, DEFAULT_THRESHOLD_DBFS)
    }

    /// A decoder whose silence detection uses `threshold_dbfs` (see
    /// [`super::silence::DEFAULT_THRESHOLD_DBFS`] for why −50 is the default).
    pub fn with_silence_threshold(format: AudioFormat, threshold_dbfs: f64) -> Self {
        let kind = match format {
            AudioFormat::Pcm {
                sample_rate,
                channels,
            } => {
                let mut pcm = PcmCounter::new(threshold_dbfs);
                pcm.set_spec(PcmSpec {
                    sample_rate,
                    // Guard frame math against a hand-built zero; parse() rejects it.
                    channels: channels.max(1),
                    encoding: SampleEncoding::I16,
                });
                Kind::Linear { wav: None, pcm }
            }
            AudioFormat::Wav => Kind::Linear {
                wav: Some(WavParser::new()),
                pcm: PcmCounter::new(threshold_dbfs),
            },
            AudioFormat::Opus => Kind::Opus(OggOpusScanner::new()),
            AudioFormat::Mp3 | AudioFormat::Flac => Kind::Buffered {
                format: if format == AudioFormat::Mp3 {
                    "mp3"
                } else {
                    "flac"
                },
                buf: Vec::new(),
                overflowed: false,
                threshold_dbfs,
            },
        };
        let rate_source = match format {
            AudioFormat::Pcm { .. } => RateSource::Assumed,
            AudioFormat::Wav => RateSource::Wav,
            AudioFormat::Mp3 | AudioFormat::Opus | AudioFormat::Flac => RateSource::Decoded,
        };
        Self {
            kind,
            bytes: 0,
            failed: None,
            rate_source,
        }
    }

    /// The server declared a rate (and perhaps channels) for raw PCM: count
    /// at it from now on instead of the configured one. Audio already
    /// counted keeps its duration (adapters declare before the first
    /// audio byte whenever the declaration comes first). Returns whether
    /// it applied: WAV and compressed streams carry their own rate, so a
    /// declaration changes nothing there.
    pub fn declare(&mut self, declared: &DeclaredRate) -> bool {
        let Kind::Linear { wav: None, pcm } = &mut self.kind else {
            return false;
        };
        let Some(spec) = pcm.spec else { return false };
        pcm.set_spec(PcmSpec {
            sample_rate: declared.rate,
            channels: declared.channels.unwrap_or(spec.channels).max(1),
            encoding: spec.encoding,
        });
        self.rate_source = declared.source;
        true
    }

    /// Feed raw transport bytes of a continuous stream (a raw HTTP body).
    ///
    /// Returns the audio bytes in this push (header bytes excluded) and, for
    /// PCM/WAV once the layout is known, the audio time they complete. A WAV
    /// header may be split anywhere across pushes; odd byte counts carry the
    /// partial frame to the next push. Once a push fails, every later call
    /// returns the same error.
    pub fn push(&mut self, bytes: &[u8]) -> Result<PushedAudio, AudioError> {
        self.push_inner(bytes, false)
    }

    /// Feed one self-contained message payload (decoded base64 from
    /// SSE/NDJSON). For WAV, a payload that starts with `RIFF` carries its
    /// own header (some vendors wrap every chunk as a WAV file): the header
    /// is parsed and skipped, and counting continues. Other payloads continue
    /// the stream as [`Self::push`] would.
    pub fn push_message(&mut self, bytes: &[u8]) -> Result<PushedAudio, AudioError> {
        self.push_inner(bytes, true)
    }

    fn push_inner(&mut self, bytes: &[u8], message: bool) -> Result<PushedAudio, AudioError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.kind.push(bytes, message);
        match &result {
            Ok(p) => self.bytes += p.bytes as u64,
            Err(e) => self.failed = Some(e.clone()),
        }
        result
    }

    /// End of stream: the total duration and what the samples showed.
    ///
    /// A stream that carried no bytes at all yields a zero-length summary
    /// (`bytes == 0`) rather than an error, so callers can class it as
    /// "no audio". A WAV stream that ends inside its header is `BadHeader`;
    /// compressed streams that do not decode are `Undecodable`.
    pub fn finish(self) -> Result<AudioSummary, AudioError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let bytes = self.bytes;
        let rate_source = Some(self.rate_source);
        let empty = |rate: Option<u32>, channels: Option<u16>| AudioSummary {
            duration: Some(Duration::ZERO),
            bytes: 0,
            sample_rate: rate,
            rate_source: rate.and(rate_source),
            channels,
            first_voiced: None,
            samples_inspected: false,
        };
        match self.kind {
            Kind::Linear { pcm, wav } => {
                if let Some(missing) = wav.as_ref().and_then(WavParser::missing_data) {
                    return Err(AudioError::Truncated {
                        format: "wav",
                        missing_bytes: missing,
                    });
                }
                let Some(spec) = pcm.spec else {
                    return if pcm.header_bytes == 0 {
                        Ok(empty(None, None))
                    } else {
                        Err(AudioError::BadHeader {
                            format: "wav",
                            reason: format!(
                                "stream ended inside the header after {} bytes",
                                pcm.header_bytes
                            ),
                        })
                    };
                };
                Ok(AudioSummary {
                    duration: Some(pcm.total()),
                    bytes,
                    sample_rate: Some(spec.sample_rate),
                    rate_source,
                    channels: Some(spec.channels),
                    first_voiced: pcm.first_voiced,
                    samples_inspected: pcm.inspected,
                })
            }
            Kind::Opus(scanner) => {
                if bytes == 0 {
                    return Ok(empty(None, None));
                }
                let (samples, channels) = scanner.finish()?;
                Ok(AudioSummary {
                    duration: Some(frames_to_duration(samples, OPUS_RATE)),
                    bytes,
                    sample_rate: Some(OPUS_RATE),
                    rate_source,
                    channels: Some(channels),
                    first_voiced: None,
                    samples_inspected: false,
                })
            }
            Kind::Buffered {
                format,
                buf,
                overflowed,
                threshold_dbfs,
            } => {
                if bytes == 0 {
                    return Ok(empty(None, None));
                }
                if overflowed {
                    return Ok(AudioSummary {
                        duration: None,
                        bytes,
                        sample_rate: None,
                        rate_source: None,
                        channels: None,
                        first_voiced: None,
                        samples_inspected: false,
                    });
                }
                let d = compressed::decode(buf, format, threshold_dbfs)?;
                Ok(AudioSummary {
                    duration: Some(d.duration),
                    bytes,
                    sample_rate: Some(d.sample_rate),
                    rate_source,
                    channels: Some(d.channels),
                    first_voiced: d.first_voiced,
                    samples_inspected: d.samples_inspected,
                })
            }
        }
    }
}

impl Kind {
    fn push(&mut self, bytes: &[u8], message: bool) -> Result<PushedAudio, AudioError> {
        match self {
            Kind::Linear { wav: None, pcm } => {
                let before = pcm.total();
                pcm.data(bytes);
                Ok(PushedAudio {
                    bytes: bytes.len(),
                    duration: Some(pcm.total() - before),
                })
            }
            Kind::Linear {
                wav: Some(parser),
                pcm,
            } => {
                if message && is_riff(bytes) {
                    parser.restart();
                }
                let before = pcm.spec.map(|_| pcm.total());
                let mut audio = 0;
                let mut rest = bytes;
                while !rest.is_empty() {
                    let (used, step) = parser.advance(rest)?;
                    match step {
                        WavStep::Header => pcm.header_bytes += used as u64,
                        WavStep::Spec(spec) => {
                            pcm.header_bytes += used as u64;
                            pcm.set_spec(spec);
                        }
                        WavStep::Data(n) => {
                            pcm.data(&rest[..n]);
                            audio += n;
                        }
                    }
                    rest = &rest[used..];
                }
                let duration = pcm
                    .spec
                    .map(|_| pcm.total() - before.unwrap_or(Duration::ZERO));
                Ok(PushedAudio {
                    bytes: audio,
                    duration,
                })
            }
            Kind::Opus(scanner) => {
                scanner.push(bytes)?;
                Ok(PushedAudio {
                    bytes: bytes.len(),
                    duration: None,
                })
            }
            Kind::Buffered {
                buf, overflowed, ..
            } => {
                if !*overflowed {
                    if buf.len() + bytes.len() > MAX_BUFFERED_BYTES {
                        *overflowed = true;
                        *buf = Vec::new();
                    } else {
                        buf.extend_from_slice(bytes);
                    }
                }
                Ok(PushedAudio {
                    bytes: bytes.len(),
                    duration: None,
                })
            }
        }
    }
}

fn is_riff(bytes: &[u8]) -> bool {
    bytes.starts_with(b"RIFF") || bytes.starts_with(b"RF64")
}

/// Counts linear PCM frames and looks for the first voiced sample.
///
/// A "segment" is a run of audio with one layout. Per-message WAV headers
/// with the same layout continue the segment (so a frame split across
/// messages still counts once); a header with a different layout closes it.
#[derive(Debug)]
struct PcmCounter {
    spec: Option<PcmSpec>,
    /// Data bytes in the current segment.
    seg_bytes: u64,
    /// Audio time of the closed segments.
    done: Duration,
    /// Partial sample carried to the next push (silence detection only).
    carry: [u8; 8],
    carry_len: usize,
    threshold_dbfs: f64,
    detector: SilenceDetector,
    first_voiced: Option<Duration>,
    inspected: bool,
    header_bytes: u64,
}

impl PcmCounter {
    fn new(threshold_dbfs: f64) -> Self {
        Self {
            spec: None,
            seg_bytes: 0,
            done: Duration::ZERO,
            carry: [0; 8],
            carry_len: 0,
            threshold_dbfs,
            detector: SilenceDetector::new(threshold_dbfs, 1),
            first_voiced: None,
            inspected: false,
            header_bytes: 0,
        }
    }

    fn set_spec(&mut self, spec: PcmSpec) {
        if self.spec == Some(spec) {
            return;
        }
        self.done = self.total();
        self.seg_bytes = 0;
        self.carry_len = 0;
        self.spec = Some(spec);
        self.detector = SilenceDetector::new(self.threshold_dbfs, spec.channels);
    }

    /// Total audio time: closed segments plus whole frames of this one.
    fn total(&self) -> Duration {
        match self.spec {
            Some(s) => {
                self.done
                    + frames_to_duration(self.seg_bytes / s.frame_bytes().max(1), s.sample_rate)
            }
            None => Duration::ZERO,
        }
    }

    /// Account for sample bytes. Only called once `spec` is known (raw PCM
    /// has it from the start; the WAV parser yields data only after `fmt `).
    fn data(&mut self, mut data: &[u8]) {
        let Some(spec) = self.spec else { return };
        self.seg_bytes += data.len() as u64;
        if self.first_voiced.is_some() {
            // Found already: steady state is O(1) per push.
            return;
        }
        let enc = spec.encoding;
        let width = enc.bytes();
        if self.carry_len > 0 {
            let take = (width - self.carry_len).min(data.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&data[..take]);
            self.carry_len += take;
            data = &data[take..];
            if self.carry_len < width {
                return;
            }
            self.carry_len = 0;
            let sample = enc.normalize(&self.carry[..width]);
            self.detector.push_normalized(1, [sample]);
            self.inspected = true;
        }
        let whole = data.len() / width * width;
        if whole > 0 {
            self.detector.push_normalized(
                whole / width,
                data[..whole].chunks_exact(width).map(|c| enc.normalize(c)),
            );
            self.inspected = true;
        }
        let tail = &data[whole..];
        self.carry[..tail.len()].copy_from_slice(tail);
        self.carry_len = tail.len();
        if let Some(at) = self.detector.first_voiced(spec.sample_rate) {
            self.first_voiced = Some(self.done + at);
        }
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "stream_props.rs"]
mod props;
