//! Tests for [`super::StreamAudio`]: exact durations across arbitrary
//! splits, WAV header variants, silence, compressed formats, and garbage.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::audio::generate::tone_pcm16;
use crate::audio::ogg::tests::{ogg_opus, page};
use crate::audio::silence;
use crate::audio::wav;

const PCM24: AudioFormat = AudioFormat::Pcm {
    sample_rate: 24_000,
    channels: 1,
};

/// Push `chunks` and return (audio bytes, summed durations, summary).
fn run(format: AudioFormat, chunks: &[&[u8]], messages: bool) -> (usize, Duration, AudioSummary) {
    let mut s = StreamAudio::new(format);
    let mut bytes = 0;
    let mut total = Duration::ZERO;
    for c in chunks {
        let p = if messages {
            s.push_message(c)
        } else {
            s.push(c)
        }
        .expect("valid audio");
        bytes += p.bytes;
        total += p.duration.unwrap_or_default();
    }
    (bytes, total, s.finish().expect("valid audio"))
}

fn tone(rate: u32, total_ms: u64, silence_ms: u64) -> Vec<u8> {
    tone_pcm16(
        rate,
        Duration::from_millis(total_ms),
        Duration::from_millis(silence_ms),
        440.0,
        0.5,
    )
}

fn wav_file(rate: u32, pcm: &[u8], known_len: bool) -> Vec<u8> {
    let len = known_len.then_some(pcm.len() as u32);
    let mut f = wav::header(rate, 1, 16, len).to_vec();
    f.extend_from_slice(pcm);
    f
}

/// A WAV with a custom `fmt ` body and extra chunks before `data`.
fn custom_wav(fmt: &[u8], before: &[(&[u8; 4], &[u8])], data: &[u8], data_size: u32) -> Vec<u8> {
    let mut f = b"RIFF\xff\xff\xff\xffWAVE".to_vec();
    let mut chunk = |id: &[u8; 4], body: &[u8]| {
        f.extend_from_slice(id);
        f.extend_from_slice(&(body.len() as u32).to_le_bytes());
        f.extend_from_slice(body);
        if body.len() % 2 == 1 {
            f.push(0);
        }
    };
    for (id, body) in before {
        chunk(id, body);
    }
    chunk(b"fmt ", fmt);
    f.extend_from_slice(b"data");
    f.extend_from_slice(&data_size.to_le_bytes());
    f.extend_from_slice(data);
    f
}

fn fmt_body(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let align = channels * bits / 8;
    let mut b = Vec::new();
    b.extend_from_slice(&tag.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
    b.extend_from_slice(&align.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b
}

fn extensible_fmt(sub_tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let mut b = fmt_body(0xFFFE, channels, rate, bits);
    b.extend_from_slice(&22u16.to_le_bytes()); // cbSize
    b.extend_from_slice(&bits.to_le_bytes()); // valid bits
    b.extend_from_slice(&3u32.to_le_bytes()); // channel mask
    b.extend_from_slice(&sub_tag.to_le_bytes());
    b.extend_from_slice(b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71");
    b
}

#[test]
fn pcm_24k_durations_are_exact() {
    let pcm = tone(24_000, 1_000, 0);
    let (bytes, sum, summary) = run(PCM24, &[&pcm], false);
    assert_eq!(bytes, 48_000);
    assert_eq!(sum, Duration::from_secs(1));
    assert_eq!(summary.duration, Some(Duration::from_secs(1)));
    assert_eq!(summary.sample_rate, Some(24_000));
    assert_eq!(summary.channels, Some(1));
    // One sample per push: 1/24000 s is not a whole number of ns, yet the
    // per-push durations still sum to exactly one second.
    let pieces: Vec<&[u8]> = pcm.chunks(2).collect();
    let (_, sum, _) = run(PCM24, &pieces, false);
    assert_eq!(sum, Duration::from_secs(1));
}

#[test]
fn odd_length_pushes_carry_partial_frames() {
    let pcm = tone(24_000, 250, 100);
    let mut s = StreamAudio::new(PCM24);
    let mut sum = Duration::ZERO;
    let mut at = 0;
    let mut step = 1;
    while at < pcm.len() {
        let end = (at + step).min(pcm.len());
        let p = s.push(&pcm[at..end]).expect("pcm");
        assert_eq!(p.bytes, end - at);
        // Running total equals whole frames so far.
        sum += p.duration.expect("pcm always knows");
        assert_eq!(sum, silence::frames_to_duration((end / 2) as u64, 24_000));
        at = end;
        step = step % 13 + 2; // 1, 3, 5, … odd and even sizes
    }
    let summary = s.finish().expect("pcm");
    assert_eq!(summary.duration, Some(Duration::from_millis(250)));
    let fv = summary.first_voiced.expect("tone");
    assert!(
        fv >= Duration::from_millis(100) && fv < Duration::from_micros(100_200),
        "{fv:?}"
    );
}

#[test]
fn wav_header_split_at_every_byte() {
    let pcm = tone(16_000, 200, 50);
    for known in [true, false] {
        let f = wav_file(16_000, &pcm, known);
        for cut in 0..=f.len().min(200) {
            let mut s = StreamAudio::new(AudioFormat::Wav);
            let a = s.push(&f[..cut]).expect("wav");
            let b = s.push(&f[cut..]).expect("wav");
            assert_eq!(a.bytes + b.bytes, pcm.len(), "cut {cut}");
            if cut < 36 {
                // The fmt chunk is incomplete: layout unknown.
                assert_eq!(a.duration, None, "cut {cut}");
            }
            let total = a.duration.unwrap_or_default() + b.duration.expect("known by now");
            assert_eq!(total, Duration::from_millis(200), "cut {cut}");
            let summary = s.finish().expect("wav");
            assert_eq!(summary.duration, Some(Duration::from_millis(200)));
            assert_eq!(summary.bytes, pcm.len() as u64);
        }
    }
}

#[test]
fn header_only_push_has_no_audio_and_zero_duration() {
    let mut s = StreamAudio::new(AudioFormat::Wav);
    let p = s.push(&wav::header(24_000, 1, 16, None)).expect("header");
    assert_eq!(
        p,
        PushedAudio {
            bytes: 0,
            duration: Some(Duration::ZERO)
        }
    );
    let p = s.push(&[0, 0, 0]).expect("data");
    assert_eq!(p.bytes, 3);
    assert_eq!(p.duration, Some(silence::frames_to_duration(1, 24_000)));
}

#[test]
fn wav_with_list_chunks_and_trailing_metadata() {
    let pcm = tone(22_050, 300, 0);
    let list: &[u8] = b"INFOISFT\x05\0\0\0Lavf\0"; // odd length → padded
    let mut f = custom_wav(
        &fmt_body(1, 1, 22_050, 16),
        &[(b"LIST", list), (b"fact", &[0, 0, 0, 0])],
        &pcm,
        pcm.len() as u32,
    );
    // A chunk after a sized data chunk is not audio.
    f.extend_from_slice(b"LIST\x04\0\0\0abcd");
    for size in [1, 7, 64, f.len()] {
        let pieces: Vec<&[u8]> = f.chunks(size).collect();
        let (bytes, sum, summary) = run(AudioFormat::Wav, &pieces, false);
        assert_eq!(bytes, pcm.len(), "piece size {size}");
        assert_eq!(sum, silence::frames_to_duration(6_615, 22_050));
        assert_eq!(summary.duration, Some(sum));
    }
}

#[test]
fn float_and_extensible_wav() {
    // 32-bit float, 100 silent frames then a loud one.
    let mut data = vec![0u8; 400];
    data.extend_from_slice(&0.5f32.to_le_bytes());
    let f = custom_wav(&fmt_body(3, 1, 8_000, 32), &[], &data, 0);
    let (bytes, sum, s) = run(AudioFormat::Wav, &[&f[..50], &f[50..403], &f[403..]], false);
    assert_eq!(bytes, 404);
    assert_eq!(sum, silence::frames_to_duration(101, 8_000));
    assert_eq!(
        s.first_voiced,
        Some(silence::frames_to_duration(100, 8_000))
    );
    assert!(s.samples_inspected);

    // Extensible, 16-bit stereo: voiced on the right channel of frame 3.
    let mut data = vec![0u8; 12];
    data.extend_from_slice(&[0, 0, 0x00, 0x40]);
    let f = custom_wav(
        &extensible_fmt(1, 2, 48_000, 16),
        &[],
        &data,
        data.len() as u32,
    );
    let (_, sum, s) = run(AudioFormat::Wav, &[&f], false);
    assert_eq!(sum, silence::frames_to_duration(4, 48_000));
    assert_eq!(s.channels, Some(2));
    assert_eq!(s.first_voiced, Some(silence::frames_to_duration(3, 48_000)));

    // Extensible float and 24-bit PCM parse too.
    let f = custom_wav(&extensible_fmt(3, 1, 16_000, 32), &[], &[0; 8], 8);
    assert_eq!(
        run(AudioFormat::Wav, &[&f], false).1,
        silence::frames_to_duration(2, 16_000)
    );
    let f = custom_wav(&fmt_body(1, 1, 16_000, 24), &[], &[0, 0, 0x10, 0, 0], 0);
    let (_, sum, s) = run(AudioFormat::Wav, &[&f], false);
    assert_eq!(sum, silence::frames_to_duration(1, 16_000));
    assert_eq!(s.first_voiced, Some(Duration::ZERO));
}

#[test]
fn per_message_wav_headers_are_skipped() {
    let pcm = tone(24_000, 400, 100);
    let chunks: Vec<Vec<u8>> = pcm
        .chunks(1_001) // odd: frames split across messages
        .enumerate()
        .map(|(i, c)| wav_file(24_000, c, i % 2 == 0))
        .collect();
    let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
    let (bytes, sum, s) = run(AudioFormat::Wav, &refs, true);
    assert_eq!(bytes, pcm.len());
    assert_eq!(sum, Duration::from_millis(400));
    assert_eq!(s.duration, Some(Duration::from_millis(400)));
    let fv = s.first_voiced.expect("tone");
    assert!(
        fv >= Duration::from_millis(100) && fv < Duration::from_micros(100_200),
        "{fv:?}"
    );

    // Messages without headers after the first continue the stream.
    let mut first = wav::header(24_000, 1, 16, None).to_vec();
    first.extend_from_slice(&pcm[..100]);
    let (bytes, sum, _) = run(AudioFormat::Wav, &[&first, &pcm[100..]], true);
    assert_eq!(bytes, pcm.len());
    assert_eq!(sum, Duration::from_millis(400));
}

#[test]
fn layout_change_between_messages_adds_segments() {
    let a = wav_file(16_000, &tone(16_000, 500, 0), true);
    let b = wav_file(24_000, &tone(24_000, 250, 0), false);
    let (_, sum, s) = run(AudioFormat::Wav, &[&a, &b], true);
    assert_eq!(sum, Duration::from_millis(750));
    assert_eq!(s.duration, Some(Duration::from_millis(750)));
    assert_eq!(s.sample_rate, Some(24_000));
}

#[test]
fn concatenated_sized_wav_files_in_one_stream() {
    let mut f = wav_file(16_000, &tone(16_000, 100, 0), true);
    f.extend(wav_file(16_000, &tone(16_000, 150, 0), true));
    let pieces: Vec<&[u8]> = f.chunks(5).collect();
    let (bytes, sum, _) = run(AudioFormat::Wav, &pieces, false);
    assert_eq!(bytes, 2 * 4_000);
    assert_eq!(sum, Duration::from_millis(250));
}

#[test]
fn silence_only_is_inspected_but_unvoiced() {
    let silent = vec![0u8; 4_800];
    let (_, _, s) = run(PCM24, &[&silent], false);
    assert_eq!(s.first_voiced, None);
    assert!(s.samples_inspected);
    assert_eq!(s.duration, Some(Duration::from_millis(100)));
}

#[test]
fn bad_and_truncated_wav_headers() {
    let mut s = StreamAudio::new(AudioFormat::Wav);
    let e = s.push(b"RIFX\0\0\0\0WAVEfmt ").expect_err("not RIFF");
    assert!(matches!(e, AudioError::BadHeader { format: "wav", .. }));
    assert_eq!(s.push(&[0; 10]), Err(e.clone()), "poisoned");
    assert_eq!(s.finish(), Err(e));

    let mut s = StreamAudio::new(AudioFormat::Wav);
    s.push(&wav::header(16_000, 1, 16, None)[..30])
        .expect("partial");
    assert!(matches!(s.finish(), Err(AudioError::BadHeader { .. })));

    let f = custom_wav(&fmt_body(0x55, 1, 16_000, 0), &[], &[], 0);
    assert!(matches!(
        StreamAudio::new(AudioFormat::Wav).push(&f),
        Err(AudioError::BadHeader { .. })
    ));

    // Nothing at all is "no audio", not an error.
    for format in [AudioFormat::Wav, PCM24, AudioFormat::Mp3, AudioFormat::Opus] {
        let s = StreamAudio::new(format).finish().expect("empty");
        assert_eq!(s.bytes, 0);
        assert_eq!(s.duration, Some(Duration::ZERO));
    }
}

#[test]
fn ogg_opus_duration_with_pre_skip() {
    let f = ogg_opus(42, 312, 2 * 48_000 + 312);
    let pieces: Vec<&[u8]> = f.chunks(17).collect();
    let (bytes, sum, s) = run(AudioFormat::Opus, &pieces, false);
    assert_eq!(bytes, f.len());
    assert_eq!(sum, Duration::ZERO, "compressed pushes report no duration");
    assert_eq!(s.duration, Some(Duration::from_secs(2)));
    assert_eq!(s.sample_rate, Some(48_000));
    assert!(!s.samples_inspected);
    // A page of another logical stream does not move the Opus granule.
    let mut f = ogg_opus(1, 0, 48_000);
    f.extend(page(9, 0, 10 * 48_000, 0, &[b"other"]));
    assert_eq!(
        run(AudioFormat::Opus, &[&f], false).2.duration,
        Some(Duration::from_secs(1))
    );
}

/// A FLAC file of 16-bit mono `samples` in VERBATIM subframes (no encoder
/// needed): STREAMINFO, then frames with real CRC-8/CRC-16.
fn flac_file(rate_code: u8, rate: u32, samples: &[i16]) -> Vec<u8> {
    fn crc8(d: &[u8]) -> u8 {
        let mut c = 0u8;
        for b in d {
            c ^= b;
            for _ in 0..8 {
                c = if c & 0x80 != 0 {
                    (c << 1) ^ 0x07
                } else {
                    c << 1
                };
            }
        }
        c
    }
    fn crc16(d: &[u8]) -> u16 {
        let mut c = 0u16;
        for b in d {
            c ^= u16::from(*b) << 8;
            for _ in 0..8 {
                c = if c & 0x8000 != 0 {
                    (c << 1) ^ 0x8005
                } else {
                    c << 1
                };
            }
        }
        c
    }
    const BLOCK: usize = 1_024;
    let mut f = b"fLaC".to_vec();
    f.extend_from_slice(&[0x80, 0, 0, 34]); // last metadata block, STREAMINFO, 34 bytes
    f.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    f.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    f.extend_from_slice(&[0; 6]); // min/max frame size unknown
    let packed: u64 = (u64::from(rate) << 44) | (15 << 36) | samples.len() as u64;
    f.extend_from_slice(&packed.to_be_bytes());
    f.extend_from_slice(&[0; 16]); // MD5 unknown
    for (i, block) in samples.chunks(BLOCK).enumerate() {
        let start = f.len();
        f.extend_from_slice(&[0xFF, 0xF8, 0x70 | rate_code, 0x08, i as u8]);
        f.extend_from_slice(&(block.len() as u16 - 1).to_be_bytes());
        let c = crc8(&f[start..]);
        f.push(c);
        f.push(0x02); // VERBATIM subframe, no wasted bits
        for s in block {
            f.extend_from_slice(&s.to_be_bytes());
        }
        let c = crc16(&f[start..]);
        f.extend_from_slice(&c.to_be_bytes());
    }
    f
}

#[test]
fn flac_is_decoded_for_duration_and_silence() {
    let pcm = tone(16_000, 500, 200);
    let samples: Vec<i16> = pcm
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let f = flac_file(0b0101, 16_000, &samples);
    let pieces: Vec<&[u8]> = f.chunks(333).collect();
    let (bytes, _, s) = run(AudioFormat::Flac, &pieces, false);
    assert_eq!(bytes, f.len());
    assert_eq!(s.duration, Some(Duration::from_millis(500)));
    assert_eq!(s.sample_rate, Some(16_000));
    assert!(s.samples_inspected);
    let fv = s.first_voiced.expect("tone");
    assert!(
        fv >= Duration::from_millis(200) && fv < Duration::from_micros(200_300),
        "{fv:?}"
    );
}

/// `n` silent MPEG-1 layer III frames (44.1 kHz, 128 kbit/s, mono): all-zero
/// side info and main data decode to silence.
fn silent_mp3(n: usize) -> Vec<u8> {
    let mut f = Vec::new();
    for _ in 0..n {
        let mut frame = vec![0u8; 417];
        frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0xC0]);
        f.extend(frame);
    }
    f
}

#[test]
fn mp3_is_decoded() {
    let f = silent_mp3(20);
    let (_, _, s) = run(AudioFormat::Mp3, &[&f[..100], &f[100..]], false);
    assert_eq!(s.sample_rate, Some(44_100));
    assert_eq!(
        s.duration,
        Some(silence::frames_to_duration(20 * 1_152, 44_100))
    );
    assert_eq!(s.first_voiced, None);
    assert!(s.samples_inspected);
}

#[test]
fn garbage_compressed_is_undecodable() {
    let garbage = b"<html>502 Bad Gateway</html>".repeat(40);
    for format in [AudioFormat::Mp3, AudioFormat::Flac] {
        let mut s = StreamAudio::new(format);
        s.push(&garbage).expect("buffered");
        assert!(
            matches!(s.finish(), Err(AudioError::Undecodable { .. })),
            "{format}"
        );
    }
    let mut s = StreamAudio::new(AudioFormat::Opus);
    assert!(matches!(
        s.push(&garbage),
        Err(AudioError::Undecodable { .. })
    ));
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(7);
    let pcm = tone(16_000, 100, 20);
    let samples: Vec<i16> = pcm
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let valid: Vec<(AudioFormat, Vec<u8>)> = vec![
        (AudioFormat::Wav, wav_file(16_000, &pcm, true)),
        (AudioFormat::Flac, flac_file(0b0101, 16_000, &samples)),
        (AudioFormat::Mp3, silent_mp3(4)),
        (AudioFormat::Opus, ogg_opus(1, 312, 10_000)),
        (PCM24, pcm.clone()),
    ];
    for round in 0..300 {
        let (format, base) = &valid[round % valid.len()];
        // Half the rounds: pure noise; half: a valid file with bytes flipped.
        let bytes: Vec<u8> = if round % 2 == 0 {
            (0..rng.random_range(0..2_000))
                .map(|_| rng.random())
                .collect()
        } else {
            let mut b = base.clone();
            for _ in 0..rng.random_range(1..20) {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
            b
        };
        let mut s = StreamAudio::new(*format);
        let mut at = 0;
        while at < bytes.len() {
            let end = (at + rng.random_range(1..300)).min(bytes.len());
            let _ = if rng.random_bool(0.5) {
                s.push(&bytes[at..end])
            } else {
                s.push_message(&bytes[at..end])
            };
            at = end;
        }
        let _ = s.finish();
    }
}

#[test]
fn a_declared_rate_replaces_the_configured_one_for_raw_pcm_only() {
    use crate::audio::rate::{DeclaredRate, RateSource};
    let declared = DeclaredRate {
        rate: 22_050,
        channels: Some(1),
        source: RateSource::Header,
        by: "x-sample-rate".into(),
    };
    let pcm24 = AudioFormat::Pcm {
        sample_rate: 24_000,
        channels: 1,
    };
    // One second at 22,050 Hz: 24 kHz would call it 0.91875 s.
    let one_second = vec![0u8; 22_050 * 2];
    let mut s = StreamAudio::new(pcm24);
    assert!(s.declare(&declared));
    let pushed = s.push(&one_second).expect("pcm");
    assert_eq!(pushed.duration, Some(Duration::from_secs(1)));
    let sum = s.finish().expect("pcm");
    assert_eq!(sum.duration, Some(Duration::from_secs(1)));
    assert_eq!(
        (sum.sample_rate, sum.rate_source),
        (Some(22_050), Some(RateSource::Header))
    );
    // Nothing declared: the configured rate, said to be assumed.
    let mut s = StreamAudio::new(pcm24);
    s.push(&one_second).expect("pcm");
    let sum = s.finish().expect("pcm");
    assert_eq!(sum.duration, Some(Duration::from_micros(918_750)));
    assert_eq!(sum.rate_source, Some(RateSource::Assumed));
    // WAV carries its own rate: a declaration does not apply.
    let mut s = StreamAudio::new(AudioFormat::Wav);
    assert!(!s.declare(&declared));
    s.push(&wav::header(24_000, 1, 16, Some(24_000 * 2)))
        .expect("header");
    s.push(&vec![0u8; 24_000 * 2]).expect("data");
    let sum = s.finish().expect("wav");
    assert_eq!(sum.duration, Some(Duration::from_secs(1)));
    assert_eq!(sum.rate_source, Some(RateSource::Wav));
}
