//! Tests for whole-file decoding and conversion: hand-built files (no
//! encoder needed), frequency kept through resampling, aliasing rejected,
//! clear errors for Opus and garbage.

use std::f64::consts::PI;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::audio::ogg::tests::{ogg_opus, page};

/// A sine of `freq` Hz at `amp`, `n` samples at `rate`.
fn sine(rate: u32, n: usize, freq: f64, amp: f64) -> Vec<f32> {
    (0..n)
        .map(|i| (amp * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

/// Sign changes in `x` (a pure tone of f Hz has 2·f per second).
fn zero_crossings(x: &[f32]) -> usize {
    x.windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// A 16-bit WAV of interleaved `samples` with `channels`.
fn wav16(rate: u32, channels: u16, samples: &[f32]) -> Vec<u8> {
    let pcm = to_pcm16le(samples);
    let mut f = wav::header(rate, channels, 16, Some(pcm.len() as u32)).to_vec();
    f.extend_from_slice(&pcm);
    f
}

#[test]
fn stereo_24k_wav_to_mono_16k_keeps_length_and_pitch() {
    // 1 s of 440 Hz in both channels at 24 kHz → 16,000 mono samples, and a
    // 440 Hz tone crosses zero 2 × 440 = 880 times per second.
    let tone = sine(24_000, 24_000, 440.0, 0.5);
    let stereo: Vec<f32> = tone.iter().flat_map(|s| [*s, *s]).collect();
    let file = wav16(24_000, 2, &stereo);
    let d = decode(&file, None).expect("wav");
    assert_eq!(
        (d.sample_rate, d.channels, d.samples.len()),
        (24_000, 2, 48_000)
    );
    let mono = to_mono(&d);
    assert_eq!(mono.len(), 24_000);
    let out = resample(&mono, 24_000, 16_000);
    assert!(out.len().abs_diff(16_000) <= 1, "{}", out.len());
    let zc = zero_crossings(&out);
    assert!(zc.abs_diff(880) <= 2, "{zc} crossings");
    // Amplitude kept: RMS of a 0.5 sine is 0.5/√2 ≈ 0.354 (edges excluded).
    let mid = rms(&out[1_000..15_000]);
    assert!((mid - 0.5 / 2f64.sqrt()).abs() < 0.005, "rms {mid}");
    let pcm = to_pcm16_mono(&file, None, 16_000).expect("convert");
    assert!((pcm.len() / 2).abs_diff(16_000) <= 1);
}

#[test]
fn upsampling_keeps_pitch_and_odd_ratios_work() {
    let tone = sine(16_000, 16_000, 440.0, 0.5);
    let up = resample(&tone, 16_000, 24_000);
    assert!(up.len().abs_diff(24_000) <= 1);
    assert!(zero_crossings(&up).abs_diff(880) <= 2);
    // 44,100 → 16,001 reduces to 16,001 phases: the nearest-phase path.
    let cd = sine(44_100, 44_100, 440.0, 0.5);
    let odd = resample(&cd, 44_100, 16_001);
    assert!(odd.len().abs_diff(16_001) <= 1, "{}", odd.len());
    assert!(zero_crossings(&odd).abs_diff(880) <= 2);
    let mid = rms(&odd[1_000..15_000]);
    assert!((mid - 0.5 / 2f64.sqrt()).abs() < 0.005, "rms {mid}");
}

#[test]
fn downsampling_rejects_what_would_alias() {
    // 10 kHz is above the 8 kHz Nyquist of 16 kHz audio: left in, it would
    // fold back to 6 kHz. The filter must take it down by ≥ 60 dB (×0.001).
    let high = sine(48_000, 48_000, 10_000.0, 0.5);
    let out = resample(&high, 48_000, 16_000);
    let ratio = rms(&out[500..15_500]) / rms(&high);
    assert!(ratio < 1e-3, "10 kHz leaked at {ratio}");
    // 3 kHz is well inside the passband: kept within 1 %.
    let low = sine(48_000, 48_000, 3_000.0, 0.5);
    let out = resample(&low, 48_000, 16_000);
    let ratio = rms(&out[500..15_500]) / rms(&low);
    assert!((ratio - 1.0).abs() < 0.01, "3 kHz gain {ratio}");
}

#[test]
fn resample_edge_cases() {
    assert!(resample(&[], 8_000, 16_000).is_empty());
    assert_eq!(resample(&[0.25, -0.5], 16_000, 16_000), vec![0.25, -0.5]);
    // DC stays DC (unit gain in every phase), away from the zero-padded edges.
    let dc = vec![0.5f32; 4_410];
    let out = resample(&dc, 44_100, 16_000);
    assert!(out[200..1_400].iter().all(|v| (v - 0.5).abs() < 1e-4));
    // Absurd header rates cost filter quality, not all the memory.
    assert_eq!(resample(&dc, 4_000_000_000, 16_000).len(), 0);
    assert_eq!(resample(&dc, 4_000_000_000, 16_001).len(), 0);
    let huge_ratio = resample(&[0.5; 40_000], 1_000_000_000, 44_100);
    assert_eq!(huge_ratio.len(), 2); // 40,000 × 44,100 / 10⁹ = 1.76 → 2
    assert_eq!(resample(&dc[..10], 1, 44_100).len(), 441_000);
}

#[test]
fn pcm16_clamps_rounds_and_round_trips() {
    let bytes = to_pcm16le(&[0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 1.4 / 32_768.0]);
    let v: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(v, vec![0, 32_767, -32_768, 32_767, -32_768, 16_384, 1]);
    // Every 16-bit value survives decode → to_pcm16le unchanged.
    let all: Vec<u8> = (i16::MIN..=i16::MAX).flat_map(i16::to_le_bytes).collect();
    let pcm = AudioFormat::Pcm {
        sample_rate: 16_000,
        channels: 1,
    };
    let d = decode(&all, Some(pcm)).expect("raw pcm");
    assert_eq!(to_pcm16le(&d.samples), all);
}

#[test]
fn wav_file_is_readable() {
    let pcm = to_pcm16le(&sine(16_000, 8_000, 300.0, 0.3));
    let f = wav_file(&pcm, 16_000);
    let (format, duration) = probe(&f, None).expect("wav");
    assert_eq!(format, FileFormat::Audio(AudioFormat::Wav));
    assert_eq!(duration, Duration::from_millis(500));
    assert_eq!(to_pcm16_mono(&f, None, 16_000).expect("same rate"), pcm);
}

#[test]
fn float_and_24_bit_wav_decode() {
    // fmt bodies: tag, channels, rate, byte rate, block align, bits.
    let fmt = |tag: u16, ch: u16, bits: u16| {
        let mut b = tag.to_le_bytes().to_vec();
        b.extend_from_slice(&ch.to_le_bytes());
        b.extend_from_slice(&8_000u32.to_le_bytes());
        b.extend_from_slice(&(8_000 * u32::from(ch * bits / 8)).to_le_bytes());
        b.extend_from_slice(&(ch * bits / 8).to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b
    };
    let file = |fmt: Vec<u8>, data: Vec<u8>| {
        let mut f = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        f.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        f.extend(fmt);
        f.extend_from_slice(b"data");
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend(data);
        f
    };
    let floats: Vec<u8> = [0.25f32, -0.75, 0.5, 0.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let d = decode(&file(fmt(3, 2, 32), floats), None).expect("float");
    assert_eq!((d.channels, d.sample_rate), (2, 8_000));
    assert_eq!(d.samples, vec![0.25, -0.75, 0.5, 0.0]);
    assert_eq!(to_mono(&d), vec![-0.25, 0.25]);
    // 24-bit: 0x400000 is half scale, 0xC00000 minus half.
    let d = decode(&file(fmt(1, 1, 24), vec![0, 0, 0x40, 0, 0, 0xC0]), None).expect("24-bit");
    assert_eq!(d.samples, vec![0.5, -0.5]);
}

/// A FLAC file of 16-bit mono `samples` in VERBATIM subframes, as in
/// `stream_tests.rs`: STREAMINFO, then frames with real CRC-8/CRC-16.
fn flac_file(rate_code: u8, rate: u32, samples: &[i16]) -> Vec<u8> {
    fn crc(d: &[u8], poly: u16, width: u32) -> u16 {
        let top = 1u16 << (width - 1);
        let mask = if width == 16 {
            u16::MAX
        } else {
            (1 << width) - 1
        };
        let mut c = 0u16;
        for b in d {
            c ^= u16::from(*b) << (width - 8);
            for _ in 0..8 {
                c = (if c & top != 0 {
                    (c << 1) ^ poly
                } else {
                    c << 1
                }) & mask;
            }
        }
        c
    }
    const BLOCK: usize = 1_024;
    let mut f = b"fLaC".to_vec();
    f.extend_from_slice(&[0x80, 0, 0, 34]);
    f.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    f.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    f.extend_from_slice(&[0; 6]);
    let packed: u64 = (u64::from(rate) << 44) | (15 << 36) | samples.len() as u64;
    f.extend_from_slice(&packed.to_be_bytes());
    f.extend_from_slice(&[0; 16]);
    for (i, block) in samples.chunks(BLOCK).enumerate() {
        let start = f.len();
        f.extend_from_slice(&[0xFF, 0xF8, 0x70 | rate_code, 0x08, i as u8]);
        f.extend_from_slice(&(block.len() as u16 - 1).to_be_bytes());
        f.push(crc(&f[start..], 0x07, 8) as u8);
        f.push(0x02);
        for s in block {
            f.extend_from_slice(&s.to_be_bytes());
        }
        let c = crc(&f[start..], 0x8005, 16);
        f.extend_from_slice(&c.to_be_bytes());
    }
    f
}

#[test]
fn flac_decodes_to_its_samples() {
    let pcm = to_pcm16le(&sine(16_000, 8_000, 440.0, 0.5));
    let samples: Vec<i16> = pcm
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let f = flac_file(0b0101, 16_000, &samples);
    let d = decode(&f, None).expect("flac");
    assert_eq!((d.sample_rate, d.channels), (16_000, 1));
    assert_eq!(to_pcm16le(&d.samples), pcm, "lossless");
    let (format, duration) = probe(&f, None).expect("probe");
    assert_eq!(format, FileFormat::Audio(AudioFormat::Flac));
    assert_eq!(duration, Duration::from_millis(500));
    let out = to_pcm16_mono(&f, None, 8_000).expect("convert");
    assert!((out.len() / 2).abs_diff(4_000) <= 1);
}

#[test]
fn mp3_decodes() {
    // 20 silent MPEG-1 layer III frames (44.1 kHz, 128 kbit/s, mono):
    // 20 × 1,152 samples of silence.
    let mut f = Vec::new();
    for _ in 0..20 {
        let mut frame = vec![0u8; 417];
        frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0xC0]);
        f.extend(frame);
    }
    let d = decode(&f, None).expect("mp3");
    assert_eq!((d.sample_rate, d.channels), (44_100, 1));
    assert_eq!(d.samples.len(), 20 * 1_152);
    assert!(d.samples.iter().all(|s| s.abs() < 1e-6));
}

#[test]
fn opus_gives_a_clear_error_but_probes() {
    let f = ogg_opus(1, 312, 48_000 + 312);
    let err = decode(&f, None).expect_err("no opus decoder");
    let msg = err.to_string();
    assert!(matches!(
        err,
        AudioError::Undecodable { format: "opus", .. }
    ));
    assert!(msg.contains("Ogg Opus input is not decoded") && msg.contains("convert it first"));
    assert!(to_pcm16_mono(&f, None, 16_000).is_err());
    assert_eq!(
        probe(&f, None).expect("opus duration"),
        (FileFormat::Audio(AudioFormat::Opus), Duration::from_secs(1))
    );
}

#[test]
fn ogg_vorbis_is_detected() {
    let f = page(1, 0, 0, 0x02, &[b"\x01vorbis\0\0\0\0\x01\x80\xbb\0\0"]);
    assert_eq!(FileFormat::detect(&f), Some(FileFormat::OggVorbis));
    assert_eq!(FileFormat::OggVorbis.extension(), "ogg");
    // Only an identification header: symphonia cannot decode it, and says so.
    assert!(matches!(
        decode(&f, None),
        Err(AudioError::Undecodable {
            format: "vorbis",
            ..
        })
    ));
}

#[test]
fn garbage_is_undecodable_never_a_panic() {
    let garbage = b"<html>502 Bad Gateway</html>".repeat(40);
    for hint in [None, Some(AudioFormat::Mp3), Some(AudioFormat::Flac)] {
        assert!(
            matches!(decode(&garbage, hint), Err(AudioError::Undecodable { .. })),
            "{hint:?}"
        );
    }
    assert!(matches!(
        decode(b"", None),
        Err(AudioError::Undecodable { .. })
    ));
    assert!(matches!(
        probe(&garbage, None),
        Err(AudioError::Undecodable { .. })
    ));
    let mut rng = StdRng::seed_from_u64(11);
    let tone = sine(16_000, 1_600, 440.0, 0.5);
    let samples: Vec<i16> = to_pcm16le(&tone)
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let valid = [
        wav16(16_000, 1, &tone),
        flac_file(0b0101, 16_000, &samples),
        ogg_opus(1, 312, 10_000),
    ];
    for round in 0..200 {
        let mut b = valid[round % valid.len()].clone();
        for _ in 0..rng.random_range(1..20) {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        if round % 4 == 0 {
            b.truncate(rng.random_range(0..b.len()));
        }
        let _ = decode(&b, None);
        let _ = probe(&b, None);
    }
}
