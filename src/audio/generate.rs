//! Test audio: tones with optional leading silence, as 16-bit PCM.
//!
//! The mock server streams slices of these, so generation is done once and
//! sliced, never per request.

use std::time::Duration;

/// Samples in `duration` at `sample_rate`, rounded down.
pub fn samples_in(duration: Duration, sample_rate: u32) -> usize {
    (duration.as_nanos() * u128::from(sample_rate) / 1_000_000_000) as usize
}

/// Mono 16-bit little-endian PCM: `silence` of zeros, then a sine tone of
/// `freq_hz` at `amplitude` (0..=1 of full scale) until `total` is reached.
pub fn tone_pcm16(
    sample_rate: u32,
    total: Duration,
    silence: Duration,
    freq_hz: f64,
    amplitude: f64,
) -> Vec<u8> {
    let n = samples_in(total, sample_rate);
    let quiet = samples_in(silence, sample_rate).min(n);
    let amp = amplitude.clamp(0.0, 1.0) * f64::from(i16::MAX);
    let mut out = Vec::with_capacity(n * 2);
    for i in 0..n {
        let v = if i < quiet {
            0i16
        } else {
            let t = (i - quiet) as f64 / f64::from(sample_rate);
            (amp * (2.0 * std::f64::consts::PI * freq_hz * t).sin()) as i16
        };
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_has_requested_length_and_leading_zeros() {
        let pcm = tone_pcm16(
            16_000,
            Duration::from_millis(500),
            Duration::from_millis(100),
            440.0,
            0.5,
        );
        assert_eq!(pcm.len(), 8_000 * 2);
        assert!(pcm[..1_600 * 2].iter().all(|b| *b == 0));
        let peak = pcm[1_600 * 2..]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]).unsigned_abs())
            .max()
            .unwrap_or(0);
        assert!((16_000..=16_384).contains(&peak), "peak {peak}");
    }
}
