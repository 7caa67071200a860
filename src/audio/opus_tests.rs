use super::*;
use crate::audio::voice::{decode_text, Voice};

const TEXT: &str = "Hello, World! 42 tests: don't-stop; \"ok\"?";

fn sine(rate: u32, hz: f64, amp: f64, secs: f64) -> Vec<i16> {
    let n = (f64::from(rate) * secs).round() as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (amp * 32_767.0 * (2.0 * std::f64::consts::PI * hz * t).sin()).round() as i16
        })
        .collect()
}

fn decode_all(track: &PacketTrack) -> Vec<i16> {
    let mut dec = OpusStreamDecoder::new().expect("decoder");
    let mut out = Vec::new();
    for p in &track.packets {
        let n = dec.decode(&p.data, &mut out).expect("own packets decode");
        assert_eq!(n, FRAME_SAMPLES);
    }
    out
}

/// SNR (dB) of `got` against `want`, at the lag (0..2,000 samples) where
/// they match best, over `want`'s middle (edges excluded: the codec starts
/// from silence, and the last frame is padding).
fn snr_db(want: &[f32], got: &[f32]) -> (f64, usize) {
    let (from, to) = (want.len() / 10, want.len() * 9 / 10);
    let mut best = (f64::MIN, 0);
    for lag in 0..2_000 {
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        for (i, &w) in want.iter().enumerate().take(to).skip(from) {
            let w = f64::from(w);
            let g = f64::from(got.get(i + lag).copied().unwrap_or(0.0));
            sig += w * w;
            err += (w - g) * (w - g);
        }
        let snr = 10.0 * (sig / err.max(1e-12)).log10();
        if snr > best.0 {
            best = (snr, lag);
        }
    }
    best
}

fn to_f32(pcm: &[i16]) -> Vec<f32> {
    pcm.iter().map(|&s| f32::from(s) / 32_768.0).collect()
}

#[test]
fn packet_count_is_the_duration_and_codec_delay_in_whole_frames_rounded_up() {
    // 312 samples of codec delay ride on the source's length.
    for (samples, want) in [(0usize, 0usize), (1, 1), (648, 1), (649, 2), (48_000, 51)] {
        let track = encode_pcm16(&vec![0i16; samples], OPUS_RATE).expect("encode");
        assert_eq!(track.packets.len(), want, "{samples} samples");
        assert!(track.packets.iter().all(|p| p.duration == FRAME));
        assert_eq!(
            track.audio,
            Duration::from_nanos(samples as u64 * 1_000_000_000 / 48_000)
        );
        assert_eq!(track.duration(), FRAME * want as u32);
    }
    // 16 kHz: 1.01 s + 6.5 ms is 50.8 frames, so 51 packets.
    let track = encode_pcm16(&vec![0i16; 16_160], 16_000).expect("encode");
    assert_eq!(track.packets.len(), 51);
    assert_eq!(track.audio, Duration::from_millis(1_010));
}

#[test]
fn every_packet_reads_as_one_20ms_frame() {
    let track = encode_pcm16(&sine(16_000, 440.0, 0.5, 0.5), 16_000).expect("encode");
    for p in &track.packets {
        assert_eq!(packet_samples(&p.data), Ok(FRAME_SAMPLES));
        assert!(p.data.len() <= MAX_PACKET_BYTES);
    }
}

/// A sine at −6 dBFS, compared at its best lag (a sine's lag is only known
/// modulo its period: the codec delay is checked on speech below).
/// Measured: 31.4 dB (1 kHz from 48 kHz), 31.8 dB (1 kHz from 16 kHz),
/// 37.7 dB (440 Hz from 24 kHz).
#[test]
fn a_sine_survives_the_round_trip_above_the_stated_snr() {
    for (rate, hz) in [(48_000, 1_000.0), (16_000, 1_000.0), (24_000, 440.0)] {
        let pcm = sine(rate, hz, 0.5, 1.0);
        let track = encode_pcm16(&pcm, rate).expect("encode");
        let want = resample(&to_f32(&pcm), rate, OPUS_RATE);
        let got = to_f32(&decode_all(&track));
        let (snr, lag) = snr_db(&want, &got);
        eprintln!("{hz} Hz from {rate} Hz: SNR {snr:.1} dB at lag {lag} samples");
        assert!(snr >= MIN_SINE_SNR_DB, "{hz} Hz at {rate}: SNR {snr:.1} dB");
    }
}

/// The bound the sine test holds the codec to.
const MIN_SINE_SNR_DB: f64 = 25.0;

#[test]
fn the_test_voice_round_trips_word_for_word() {
    for rate in [16_000, 24_000, 48_000] {
        for cps in [15.0, 30.0] {
            let pcm = Voice::new(rate, cps).render(TEXT);
            let track = encode_pcm16(&pcm, rate).expect("encode");
            let got = to_f32(&decode_all(&track));
            assert_eq!(
                decode_text(&got, OPUS_RATE, cps),
                TEXT.to_lowercase(),
                "{rate} Hz at {cps} chars/s"
            );
        }
    }
}

/// The decoded voice starts 6.5 ms (312 samples; measured 302 to the first
/// sample above −34 dBFS) after the source's first sample: the codec's
/// delay, which "first audio" figures must allow for.
#[test]
fn decoded_speech_lags_by_the_codec_delay() {
    let voice = Voice::new(48_000, 15.0);
    let mut pcm = vec![0i16; 4_800];
    pcm.extend(voice.render("hello"));
    let got = decode_all(&encode_pcm16(&pcm, 48_000).expect("encode"));
    let onset = got
        .iter()
        .position(|s| s.unsigned_abs() > 655)
        .expect("voiced");
    eprintln!("onset at {onset} samples, source at 4800");
    assert!((4_800 + 250..=4_800 + 350).contains(&onset), "{onset}");
}

#[test]
fn toc_durations_follow_rfc_6716() {
    // config 1 (SILK NB 20 ms), code 0: one frame.
    assert_eq!(packet_samples(&[1 << 3, 0]), Ok(960));
    // config 3 (SILK NB 60 ms), code 1: two frames = 120 ms.
    assert_eq!(packet_samples(&[3 << 3 | 1, 0]), Ok(5_760));
    // config 13 (hybrid FB 20 ms), code 2.
    assert_eq!(packet_samples(&[13 << 3 | 2, 0]), Ok(1_920));
    // config 16 (CELT 2.5 ms), code 3 with 4 frames.
    assert_eq!(packet_samples(&[16 << 3 | 3, 4]), Ok(480));
    // Faults: empty, code 3 without its count, 0 frames, over 120 ms.
    for bad in [
        &[][..],
        &[16 << 3 | 3],
        &[16 << 3 | 3, 0],
        &[19 << 3 | 3, 7],
    ] {
        assert!(
            matches!(packet_samples(bad), Err(OpusError::BadPacket { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn garbage_packets_are_errors_or_audio_never_a_crash() {
    let mut dec = OpusStreamDecoder::new().expect("decoder");
    let mut out = Vec::new();
    let mut x = 0x1234_5678u32;
    for len in 0..400usize {
        let packet: Vec<u8> = (0..len % 200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let before = out.len();
        match dec.decode(&packet, &mut out) {
            Ok(n) => assert_eq!(out.len() - before, n),
            Err(OpusError::BadPacket { len, .. }) => {
                assert_eq!(len, packet.len());
                assert_eq!(out.len(), before);
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    // Still decodes good packets after that.
    let track = encode_pcm16(&sine(48_000, 440.0, 0.5, 0.1), 48_000).expect("encode");
    for p in &track.packets {
        assert_eq!(dec.decode(&p.data, &mut out), Ok(FRAME_SAMPLES));
    }
}

#[test]
fn a_lost_packet_is_concealed_as_long_as_the_last_one() {
    let track = encode_pcm16(&sine(48_000, 440.0, 0.5, 0.1), 48_000).expect("encode");
    let mut dec = OpusStreamDecoder::new().expect("decoder");
    let mut out = Vec::new();
    dec.decode(&track.packets[0].data, &mut out)
        .expect("decode");
    assert_eq!(dec.conceal(&mut out), Ok(FRAME_SAMPLES));
    assert_eq!(out.len(), 2 * FRAME_SAMPLES);
}

/// Per-frame costs, for the report: `cargo test --release --lib
/// opus_costs -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check; run with --release"]
fn opus_costs() {
    let pcm = Voice::new(48_000, 15.0).render(&TEXT.repeat(10));
    for _ in 0..2 {
        let t = std::time::Instant::now();
        let track = encode_pcm16(&pcm, 48_000).expect("encode");
        let enc = t.elapsed();
        let t = std::time::Instant::now();
        let pcm_out = decode_all(&track);
        let dec = t.elapsed();
        let frames = track.packets.len() as f64;
        let bytes: usize = track.packets.iter().map(|p| p.data.len()).sum();
        eprintln!(
            "{frames} frames: encode {:.1} µs/frame, decode {:.1} µs/frame, \
             {:.1} kbit/s, {} samples out",
            enc.as_secs_f64() * 1e6 / frames,
            dec.as_secs_f64() * 1e6 / frames,
            bytes as f64 * 8.0 / (frames * 0.02) / 1e3,
            pcm_out.len()
        );
    }
}
