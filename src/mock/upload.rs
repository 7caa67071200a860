//! Reading uploaded audio for the mock ASR.
//!
//! The mock decodes only what it needs to: WAV (any linear PCM or float
//! encoding, any rate, any channel count, mixed down to mono) and raw
//! 16-bit little-endian mono PCM at a stated rate. Anything else is a 415.

use std::time::Duration;

use axum::http::StatusCode;

use crate::audio::wav::{PcmSpec, WavParser, WavStep};

/// Rate assumed for raw PCM when none is given.
pub(crate) const DEFAULT_PCM_RATE: u32 = 16_000;

/// Decoded upload: mono samples in −1..1.
#[derive(Debug)]
pub(crate) struct Upload {
    pub(crate) samples: Vec<f32>,
    pub(crate) sample_rate: u32,
}

impl Upload {
    /// Frames / rate.
    pub(crate) fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.sample_rate.max(1)))
    }
}

/// Why an upload was refused, with its HTTP status.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// 400: nothing to transcribe, or a malformed parameter.
    Bad(String),
    /// 415: not a format the mock decodes.
    Unsupported(String),
}

impl UploadError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            UploadError::Bad(_) => StatusCode::BAD_REQUEST,
            UploadError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            UploadError::Bad(m) | UploadError::Unsupported(m) => m,
        }
    }
}

/// How the upload's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Wav,
    /// Raw 16-bit little-endian mono at this rate.
    Pcm16(u32),
}

/// The format a `Content-Type` names: `audio/wav` (or `audio/x-wav`,
/// `audio/wave`, `audio/vnd.wave`), or `audio/pcm` / `audio/raw` with an
/// optional `rate=` (or `sample_rate=`) parameter, default 16 kHz. `Ok(None)`
/// for any other type.
pub(crate) fn format_of(content_type: &str) -> Result<Option<Format>, UploadError> {
    let mut parts = content_type.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("").to_ascii_lowercase();
    match mime.as_str() {
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => Ok(Some(Format::Wav)),
        "audio/pcm" | "audio/raw" => {
            let mut rate = DEFAULT_PCM_RATE;
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    if matches!(k.trim(), "rate" | "sample_rate") {
                        rate = parse_rate(v.trim())?;
                    }
                }
            }
            Ok(Some(Format::Pcm16(rate)))
        }
        _ => Ok(None),
    }
}

/// A sample rate given as text, 1000..=192000 Hz.
pub(crate) fn parse_rate(v: &str) -> Result<u32, UploadError> {
    match v.parse::<u32>() {
        Ok(r) if (1_000..=192_000).contains(&r) => Ok(r),
        _ => Err(UploadError::Bad(format!(
            "sample rate must be 1000..=192000 Hz (got '{v}')"
        ))),
    }
}

/// The format of a multipart `file` part: WAV by its magic bytes, else by
/// its content type, else raw PCM16 if the file name ends in `.pcm`/`.raw`.
pub(crate) fn sniff(
    bytes: &[u8],
    content_type: Option<&str>,
    file_name: Option<&str>,
    pcm_rate: u32,
) -> Result<Format, UploadError> {
    if bytes.starts_with(b"RIFF") || bytes.starts_with(b"RF64") {
        return Ok(Format::Wav);
    }
    if let Some(f) = content_type.map(format_of).transpose()?.flatten() {
        return Ok(match f {
            Format::Pcm16(_) if content_type.is_some_and(|c| !c.contains("rate")) => {
                Format::Pcm16(pcm_rate)
            }
            f => f,
        });
    }
    let name = file_name.unwrap_or("").to_ascii_lowercase();
    if name.ends_with(".pcm") || name.ends_with(".raw") {
        return Ok(Format::Pcm16(pcm_rate));
    }
    Err(UploadError::Unsupported(format!(
        "the mock decodes WAV and raw 16-bit PCM only (file '{}', content type '{}')",
        file_name.unwrap_or(""),
        content_type.unwrap_or("")
    )))
}

/// Decode `bytes` as `format`.
pub(crate) fn decode(bytes: &[u8], format: Format) -> Result<Upload, UploadError> {
    if bytes.is_empty() {
        return Err(UploadError::Bad("the audio is empty".into()));
    }
    let upload = match format {
        Format::Pcm16(rate) => Upload {
            samples: pcm16_to_f32(bytes),
            sample_rate: rate,
        },
        Format::Wav => decode_wav(bytes)?,
    };
    if upload.samples.is_empty() {
        return Err(UploadError::Bad("the audio holds no samples".into()));
    }
    Ok(upload)
}

/// 16-bit little-endian samples as −1..1 (an odd trailing byte is ignored).
pub(crate) fn pcm16_to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
        .collect()
}

fn decode_wav(bytes: &[u8]) -> Result<Upload, UploadError> {
    let unsupported = |e: crate::audio::AudioError| {
        UploadError::Unsupported(format!("cannot decode the WAV upload: {e}"))
    };
    let mut parser = WavParser::new();
    let mut data = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (used, step) = parser.advance(rest).map_err(unsupported)?;
        if let WavStep::Data(n) = step {
            data.extend_from_slice(&rest[..n]);
        }
        rest = &rest[used.max(1).min(rest.len())..];
    }
    let Some(spec) = parser.spec() else {
        return Err(UploadError::Unsupported(
            "cannot decode the WAV upload: no fmt chunk".into(),
        ));
    };
    Ok(Upload {
        samples: mix_to_mono(&data, spec),
        sample_rate: spec.sample_rate,
    })
}

/// Average the channels of each whole frame.
fn mix_to_mono(data: &[u8], spec: PcmSpec) -> Vec<f32> {
    let width = spec.encoding.bytes();
    let channels = usize::from(spec.channels.max(1));
    data.chunks_exact(width * channels)
        .map(|frame| {
            let sum: f32 = frame
                .chunks_exact(width)
                .map(|s| spec.encoding.normalize(s))
                .sum();
            sum / channels as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let mut out =
            crate::audio::wav::header(rate, channels, 16, Some((samples.len() * 2) as u32))
                .to_vec();
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    #[test]
    fn wav_stereo_mixes_to_mono_and_pcm_uses_its_rate() {
        let u = decode(&wav(8_000, 2, &[16_384, 0, -16_384, -16_384]), Format::Wav).unwrap();
        assert_eq!(u.sample_rate, 8_000);
        assert_eq!(u.samples, vec![0.25, -0.5]);
        let u = decode(&[0, 64, 0, 192, 7], Format::Pcm16(16_000)).unwrap();
        assert_eq!(u.samples, vec![0.5, -0.5]);
        assert_eq!(u.duration(), Duration::from_micros(125));
    }

    #[test]
    fn formats_and_errors() {
        assert_eq!(format_of("audio/wav").unwrap(), Some(Format::Wav));
        assert_eq!(
            format_of("audio/pcm; rate=24000").unwrap(),
            Some(Format::Pcm16(24_000))
        );
        assert_eq!(format_of("audio/pcm").unwrap(), Some(Format::Pcm16(16_000)));
        assert_eq!(format_of("audio/mpeg").unwrap(), None);
        assert!(format_of("audio/pcm;rate=abc").is_err());
        assert_eq!(
            sniff(
                b"xx",
                Some("application/octet-stream"),
                Some("a.pcm"),
                8_000
            )
            .unwrap(),
            Format::Pcm16(8_000)
        );
        let e = sniff(b"ID3...", Some("audio/mpeg"), Some("a.mp3"), 16_000).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(e.message().contains("a.mp3"));
        let e = decode(b"", Format::Wav).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = decode(b"RIFF\0\0\0\0WAVEjunk", Format::Wav).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let e = decode(&wav(16_000, 1, &[]), Format::Wav).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
