//! Whole-file decoding and conversion to what a target wants (for ASR
//! inputs: most streaming ASR services take 16 kHz, 16-bit, mono PCM).
//!
//! WAV is read with our own [`WavParser`] (every encoding it knows: PCM
//! 8/16/24/32, float 32/64, extensible, streaming lengths); FLAC, MP3 and
//! Ogg Vorbis go through symphonia. Ogg Opus has no decoder here: its
//! duration is known (see `ogg.rs`) and it can be *sent* as is, but not
//! converted.
//!
//! The resampler is in `convert/resample.rs`, with its measured quality.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use symphonia::core::audio::SampleBuffer;

use super::compressed::{for_each_buffer, OnIoError};
use super::silence::frames_to_duration;
use super::wav::{self, PcmSpec, SampleEncoding, WavParser, WavStep};
use super::{detect_format, probe_file_duration, AudioError, AudioFormat};

pub use resample::resample;

mod resample;

/// A whole file's encoding, detected from its content.
///
/// Wider than [`AudioFormat`] (what TTS targets return) by Ogg Vorbis, which
/// ASR inputs may be but no TTS target emits. Upload adapters use
/// [`Self::extension`] and [`Self::mime_type`] to label the file they send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// One of the formats voxload also reads from TTS responses.
    Audio(AudioFormat),
    /// Vorbis in an Ogg container (decoded by symphonia).
    OggVorbis,
}

impl FileFormat {
    /// The format the content announces (see [`detect_format`]), plus Ogg
    /// Vorbis. `None` for raw PCM and anything unrecognised.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        if let Some(f) = detect_format(bytes) {
            return Some(FileFormat::Audio(f));
        }
        if bytes.starts_with(b"OggS") {
            let segments = usize::from(*bytes.get(26)?);
            if bytes.get(27 + segments..)?.starts_with(b"\x01vorbis") {
                return Some(FileFormat::OggVorbis);
            }
        }
        None
    }

    /// The usual file extension, for multipart file names.
    pub fn extension(&self) -> &'static str {
        match self {
            FileFormat::Audio(AudioFormat::Pcm { .. }) => "pcm",
            FileFormat::Audio(AudioFormat::Wav) => "wav",
            FileFormat::Audio(AudioFormat::Mp3) => "mp3",
            FileFormat::Audio(AudioFormat::Opus) => "opus",
            FileFormat::Audio(AudioFormat::Flac) => "flac",
            FileFormat::OggVorbis => "ogg",
        }
    }

    /// The MIME type servers expect for an upload of this file.
    pub fn mime_type(&self) -> &'static str {
        match self {
            FileFormat::Audio(AudioFormat::Pcm { .. }) => "audio/L16",
            FileFormat::Audio(AudioFormat::Wav) => "audio/wav",
            FileFormat::Audio(AudioFormat::Mp3) => "audio/mpeg",
            FileFormat::Audio(AudioFormat::Opus) => "audio/ogg; codecs=opus",
            FileFormat::Audio(AudioFormat::Flac) => "audio/flac",
            FileFormat::OggVorbis => "audio/ogg",
        }
    }
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileFormat::Audio(a) => a.fmt(f),
            FileFormat::OggVorbis => f.write_str("ogg vorbis"),
        }
    }
}

/// A whole file decoded to floating point.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels per frame.
    pub channels: u16,
    /// Interleaved samples as fractions of full scale (−1..1).
    pub samples: Vec<f32>,
}

impl DecodedAudio {
    /// Playing time of the decoded frames.
    pub fn duration(&self) -> Duration {
        let frames = self.samples.len() / usize::from(self.channels.max(1));
        frames_to_duration(frames as u64, self.sample_rate)
    }
}

/// Decoded samples kept at most (1 GiB of `f32`, about 4.6 hours of 16 kHz
/// stereo), so a huge or hostile file fails instead of exhausting memory.
pub const MAX_DECODED_SAMPLES: usize = 1 << 28;

/// Decode a whole file. The content decides the format when it has a
/// signature; `hint` is used when it has none (raw PCM needs
/// `AudioFormat::Pcm { .. }`, 16-bit little-endian).
pub fn decode(bytes: &[u8], hint: Option<AudioFormat>) -> Result<DecodedAudio, AudioError> {
    match resolve(bytes, hint)? {
        FileFormat::Audio(AudioFormat::Wav) => decode_wav(bytes),
        FileFormat::Audio(AudioFormat::Pcm {
            sample_rate,
            channels,
        }) => decode_pcm16(bytes, sample_rate, channels),
        FileFormat::Audio(AudioFormat::Opus) => Err(opus_error()),
        FileFormat::Audio(AudioFormat::Mp3) => symphonia(bytes, "mp3", true).map(|(a, _)| a),
        FileFormat::Audio(AudioFormat::Flac) => symphonia(bytes, "flac", true).map(|(a, _)| a),
        FileFormat::OggVorbis => symphonia(bytes, "ogg", true).map(|(a, _)| a),
    }
}

/// A file's format and playing time, without keeping its samples (except
/// that nothing but a full decode measures Ogg Vorbis). Opus works here even
/// though it cannot be [`decode`]d: its pages carry the duration.
pub fn probe(
    bytes: &[u8],
    hint: Option<AudioFormat>,
) -> Result<(FileFormat, Duration), AudioError> {
    let format = resolve(bytes, hint)?;
    let duration = match format {
        FileFormat::OggVorbis => symphonia(bytes, "ogg", false)?.1,
        FileFormat::Audio(a) => probe_file_duration(bytes, Some(a))?
            .duration
            .ok_or_else(|| AudioError::Undecodable {
                format: "audio",
                reason: "duration could not be determined".into(),
            })?,
    };
    Ok((format, duration))
}

/// Average the channels of each frame (an equal-power mix would change the
/// level of mono content duplicated to stereo; the mean does not).
pub fn to_mono(a: &DecodedAudio) -> Vec<f32> {
    let ch = usize::from(a.channels.max(1));
    if ch == 1 {
        return a.samples.clone();
    }
    a.samples
        .chunks_exact(ch)
        .map(|f| f.iter().sum::<f32>() / ch as f32)
        .collect()
}

/// Fraction-of-full-scale samples to 16-bit little-endian PCM: clamped to
/// −1..1, scaled by 32,768 (the inverse of how PCM is read, so 16-bit audio
/// round-trips exactly) and rounded to nearest.
pub fn to_pcm16le(samples: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32_768.0)
            .round()
            .clamp(-32_768.0, 32_767.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// A complete mono 16-bit WAV file around `pcm16le_mono`. Data over 4 GiB
/// gets the "unknown length" marker, which readers take as "to the end".
pub fn wav_file(pcm16le_mono: &[u8], sample_rate: u32) -> Vec<u8> {
    let len = u32::try_from(pcm16le_mono.len())
        .ok()
        .filter(|l| *l < u32::MAX - 36);
    let mut f = Vec::with_capacity(44 + pcm16le_mono.len());
    f.extend_from_slice(&wav::header(sample_rate, 1, 16, len));
    f.extend_from_slice(pcm16le_mono);
    f
}

/// One call for the common case: any supported file → 16-bit mono PCM at `rate`.
pub fn to_pcm16_mono(
    bytes: &[u8],
    hint: Option<AudioFormat>,
    rate: u32,
) -> Result<Vec<u8>, AudioError> {
    let decoded = decode(bytes, hint)?;
    let mono = to_mono(&decoded);
    Ok(to_pcm16le(&resample(&mono, decoded.sample_rate, rate)))
}

fn resolve(bytes: &[u8], hint: Option<AudioFormat>) -> Result<FileFormat, AudioError> {
    if bytes.is_empty() {
        return Err(undecodable("audio", "the file is empty".into()));
    }
    FileFormat::detect(bytes)
        .or(hint.map(FileFormat::Audio))
        .ok_or_else(|| {
            undecodable(
                "audio",
                "unrecognised content (not WAV, FLAC, MP3, Ogg Vorbis or Ogg Opus); \
                 raw PCM needs its format given, e.g. pcm:16000"
                    .into(),
            )
        })
}

fn opus_error() -> AudioError {
    undecodable(
        "opus",
        "Ogg Opus input is not decoded to PCM (only a WebRTC call over Opus takes it, \
         sending its packets as they are); convert it first, e.g. \
         `ffmpeg -i in.opus -ar 16000 -ac 1 out.wav`"
            .into(),
    )
}

fn undecodable(format: &'static str, reason: String) -> AudioError {
    AudioError::Undecodable { format, reason }
}

fn too_long(format: &'static str) -> AudioError {
    undecodable(
        format,
        format!("more than {MAX_DECODED_SAMPLES} samples; split the file"),
    )
}

fn decode_wav(bytes: &[u8]) -> Result<DecodedAudio, AudioError> {
    let mut parser = WavParser::new();
    let mut spec: Option<PcmSpec> = None;
    let mut samples = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (used, step) = parser.advance(rest)?;
        match step {
            WavStep::Spec(s) => {
                // Concatenated files must agree, or the samples mean nothing.
                if spec.is_some_and(|old| old != s) {
                    return Err(AudioError::BadHeader {
                        format: "wav",
                        reason: "the audio layout changes inside the file".into(),
                    });
                }
                spec = Some(s);
            }
            WavStep::Data(n) => {
                if let Some(s) = spec {
                    let frame = s.frame_bytes() as usize;
                    let whole = n / frame * frame;
                    if samples.len() + whole / s.encoding.bytes() > MAX_DECODED_SAMPLES {
                        return Err(too_long("wav"));
                    }
                    let enc: SampleEncoding = s.encoding;
                    samples.extend(
                        rest[..whole]
                            .chunks_exact(enc.bytes())
                            .map(|b| enc.normalize(b)),
                    );
                }
            }
            WavStep::Header => {}
        }
        rest = &rest[used..];
    }
    if let Some(missing) = parser.missing_data() {
        return Err(AudioError::Truncated {
            format: "wav",
            missing_bytes: missing,
        });
    }
    let s = spec.ok_or_else(|| AudioError::BadHeader {
        format: "wav",
        reason: "file ended inside the header".into(),
    })?;
    Ok(DecodedAudio {
        sample_rate: s.sample_rate,
        channels: s.channels,
        samples,
    })
}

fn decode_pcm16(bytes: &[u8], sample_rate: u32, channels: u16) -> Result<DecodedAudio, AudioError> {
    if sample_rate == 0 || channels == 0 {
        return Err(undecodable("pcm", "zero sample rate or channels".into()));
    }
    if bytes.len() / 2 > MAX_DECODED_SAMPLES {
        return Err(too_long("pcm"));
    }
    let ch = usize::from(channels);
    let whole = bytes.len() / (2 * ch) * (2 * ch);
    let samples = bytes[..whole]
        .chunks_exact(2)
        .map(|b| SampleEncoding::I16.normalize(b))
        .collect();
    Ok(DecodedAudio {
        sample_rate,
        channels,
        samples,
    })
}

/// Decode with symphonia; `keep` = collect samples (else only count frames).
/// symphonia runs on user files; a panic inside it must become an error
/// naming the file, not a crash, hence `catch_unwind`.
fn symphonia(
    bytes: &[u8],
    ext: &'static str,
    keep: bool,
) -> Result<(DecodedAudio, Duration), AudioError> {
    let format = if ext == "ogg" { "vorbis" } else { ext };
    catch_unwind(AssertUnwindSafe(|| {
        symphonia_inner(bytes, ext, format, keep)
    }))
    .unwrap_or_else(|_| {
        Err(undecodable(
            format,
            "decoder panicked on malformed input".into(),
        ))
    })
}

fn symphonia_inner(
    bytes: &[u8],
    ext: &'static str,
    format: &'static str,
    keep: bool,
) -> Result<(DecodedAudio, Duration), AudioError> {
    let mut layout: Option<(u32, u16)> = None;
    let mut frames = 0u64;
    let mut samples = Vec::new();
    let mut scratch: Option<SampleBuffer<f32>> = None;
    let last_error = for_each_buffer(bytes.to_vec(), ext, format, OnIoError::Fail, |buf| {
        let spec = *buf.spec();
        let now = (spec.rate, spec.channels.count() as u16);
        if layout.is_some_and(|l| l != now) {
            return Err(undecodable(
                format,
                "the audio layout changes mid-stream".into(),
            ));
        }
        layout = Some(now);
        let n = buf.frames();
        frames += n as u64;
        if keep && n > 0 {
            let need = n * usize::from(now.1);
            if samples.len() + need > MAX_DECODED_SAMPLES {
                return Err(too_long(format));
            }
            let sb = match scratch.as_mut() {
                Some(sb) if sb.capacity() >= need => sb,
                _ => scratch.insert(SampleBuffer::new(buf.capacity() as u64, spec)),
            };
            sb.copy_interleaved_ref(buf);
            samples.extend_from_slice(sb.samples());
        }
        Ok(())
    })?;
    match layout {
        Some((rate, channels)) if frames > 0 && rate > 0 => Ok((
            DecodedAudio {
                sample_rate: rate,
                channels,
                samples,
            },
            frames_to_duration(frames, rate),
        )),
        _ => Err(undecodable(
            format,
            if last_error.is_empty() {
                "no audio frames".into()
            } else {
                last_error
            },
        )),
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
