//! Whole-file analysis: which format a file is, and how long it plays.
//!
//! Used by ASR inputs (the duration of each file sent) and by
//! `voxload sample` (to report what a target actually returned).

use super::stream::StreamAudio;
use super::{AudioError, AudioFormat, AudioSummary, DEFAULT_PCM_RATE};

/// The format the first bytes of a file or response announce, if any.
///
/// Recognises RIFF/WAVE (and RF64), MP3 (an ID3v2 tag or an MPEG layer III
/// frame header), Ogg Opus (an `OggS` page whose first packet is `OpusHead`)
/// and FLAC (`fLaC`). Raw PCM has no signature and yields `None`, as does an
/// Ogg stream too short to show its first packet.
pub fn detect_format(first_bytes: &[u8]) -> Option<AudioFormat> {
    let b = first_bytes;
    if (b.starts_with(b"RIFF") || b.starts_with(b"RF64"))
        && b.get(8..12).is_none_or(|t| t == b"WAVE")
    {
        return Some(AudioFormat::Wav);
    }
    if b.starts_with(b"fLaC") {
        return Some(AudioFormat::Flac);
    }
    if b.starts_with(b"ID3") || is_mp3_frame_header(b) {
        return Some(AudioFormat::Mp3);
    }
    if b.starts_with(b"OggS") {
        let segments = usize::from(*b.get(26)?);
        let body = b.get(27 + segments..)?;
        if body.starts_with(b"OpusHead") {
            return Some(AudioFormat::Opus);
        }
    }
    None
}

/// An MPEG audio frame header for layer III with valid version, bitrate and
/// sample-rate fields (11-bit sync alone matches too much, e.g. AAC ADTS).
fn is_mp3_frame_header(b: &[u8]) -> bool {
    let [h0, h1, h2, ..] = *b else { return false };
    let sync = h0 == 0xFF && h1 & 0xE0 == 0xE0;
    let version_ok = (h1 >> 3) & 0b11 != 0b01;
    let layer3 = (h1 >> 1) & 0b11 == 0b01;
    let bitrate_ok = h2 >> 4 != 0b1111;
    let rate_ok = (h2 >> 2) & 0b11 != 0b11;
    sync && version_ok && layer3 && bitrate_ok && rate_ok
}

/// Duration, layout and first voiced sample of a whole file in memory.
///
/// The content decides the format when it has a signature, because file
/// extensions and vendor labels are often wrong; `hint` is used when it has
/// none (raw PCM: give `AudioFormat::Pcm { .. }` with the right rate). With
/// neither, the bytes are `Undecodable`.
pub fn probe_file_duration(
    bytes: &[u8],
    hint: Option<AudioFormat>,
) -> Result<AudioSummary, AudioError> {
    let format = detect_format(bytes).or(hint).ok_or_else(|| AudioError::Undecodable {
        format: "audio",
        reason: format!(
            "unrecognised content (not WAV, MP3, Ogg Opus or FLAC); for raw PCM give the format, e.g. pcm:{DEFAULT_PCM_RATE}"
        ),
    })?;
    let mut stream = StreamAudio::new(format);
    stream.push(bytes)?;
    stream.finish()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::audio::generate::tone_pcm16;
    use crate::audio::wav;

    #[test]
    fn signatures_are_recognised() {
        assert_eq!(
            detect_format(&wav::header(16_000, 1, 16, None)),
            Some(AudioFormat::Wav)
        );
        assert_eq!(detect_format(b"RIFF"), Some(AudioFormat::Wav));
        assert_eq!(detect_format(b"RIFF\0\0\0\0AVI LIST"), None);
        assert_eq!(
            detect_format(b"ID3\x04\0\0\0\0\0\0"),
            Some(AudioFormat::Mp3)
        );
        assert_eq!(
            detect_format(&[0xFF, 0xFB, 0x90, 0x00]),
            Some(AudioFormat::Mp3)
        );
        assert_eq!(
            detect_format(&[0xFF, 0xF3, 0x48, 0xC4]),
            Some(AudioFormat::Mp3)
        ); // MPEG-2 LIII
        assert_eq!(detect_format(&[0xFF, 0xF1, 0x50, 0x80]), None); // AAC ADTS
        assert_eq!(detect_format(b"fLaC\0\0\0\x22"), Some(AudioFormat::Flac));
        let ogg = crate::audio::ogg::tests::ogg_opus(1, 312, 48_312);
        assert_eq!(detect_format(&ogg), Some(AudioFormat::Opus));
        assert_eq!(detect_format(&ogg[..20]), None);
        assert_eq!(detect_format(b""), None);
        assert_eq!(detect_format(&[0, 0, 1, 0]), None);
    }

    #[test]
    fn probe_uses_content_then_hint() {
        let pcm = tone_pcm16(
            16_000,
            Duration::from_millis(750),
            Duration::from_millis(100),
            300.0,
            0.5,
        );
        let mut file = wav::header(16_000, 1, 16, Some(pcm.len() as u32)).to_vec();
        file.extend_from_slice(&pcm);
        // A wrong hint does not override a WAV signature.
        let s = probe_file_duration(&file, Some(AudioFormat::Mp3)).expect("wav");
        assert_eq!(s.duration, Some(Duration::from_millis(750)));
        assert_eq!(s.sample_rate, Some(16_000));
        let raw = probe_file_duration(
            &pcm,
            Some(AudioFormat::Pcm {
                sample_rate: 16_000,
                channels: 1,
            }),
        )
        .expect("pcm");
        assert_eq!(raw.duration, Some(Duration::from_millis(750)));
        assert!(matches!(
            probe_file_duration(&pcm, None),
            Err(AudioError::Undecodable { .. })
        ));
        let ogg = crate::audio::ogg::tests::ogg_opus(3, 312, 24_000 + 312);
        let s = probe_file_duration(&ogg, None).expect("opus");
        assert_eq!(s.duration, Some(Duration::from_millis(500)));
    }
}
