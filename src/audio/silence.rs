//! Silence detection on PCM samples: where does the voice start?
//!
//! TTS servers often send leading silence (or a near-silent noise floor)
//! before the first phoneme. A client that starts playing on the first audio
//! byte hears nothing until then, so "time to first *voiced* audio" is the
//! latency a listener perceives, and audio that is silent from start to end
//! is a failed request even when the HTTP status says 200.
//!
//! The detector is incremental and cheap: once the first voiced sample is
//! found it stops looking at sample values and only counts.

use std::time::Duration;

/// Default threshold: a sample is voiced when its magnitude exceeds −50 dBFS
/// (≈ 0.00316 of full scale, ≈ 104 in 16-bit units).
///
/// Why −50: digital silence is −∞, dither and the noise floor of neural
/// vocoders sit around −60 to −90 dBFS, while speech onsets (even soft
/// fricatives at normal loudness) rise above −40 dBFS within a few
/// milliseconds. −50 sits between the two with ~10 dB of margin each way,
/// so a quiet hiss is not mistaken for speech and the first syllable is
/// found within a few ms of its true start.
pub const DEFAULT_THRESHOLD_DBFS: f64 = -50.0;

/// [`DEFAULT_THRESHOLD_DBFS`] as a fraction of full scale: every request
/// builds a detector, and `powf` was ~2 % of a tiny request's instructions.
const DEFAULT_THRESHOLD_LINEAR: f32 = 0.003_162_277_7;

/// A threshold in dBFS as a fraction of full scale.
fn linear(threshold_dbfs: f64) -> f32 {
    if threshold_dbfs == DEFAULT_THRESHOLD_DBFS {
        DEFAULT_THRESHOLD_LINEAR
    } else {
        10f64.powf(threshold_dbfs / 20.0) as f32
    }
}

/// Finds the first frame with any channel above a threshold, fed with
/// interleaved samples in arbitrary pieces.
#[derive(Debug, Clone)]
pub struct SilenceDetector {
    /// Threshold as a linear fraction of full scale (1.0).
    threshold: f32,
    channels: u16,
    /// Interleaved samples seen so far (all channels).
    samples_seen: u64,
    /// Interleaved index of the first voiced sample.
    first_voiced_sample: Option<u64>,
}

impl SilenceDetector {
    /// A detector for `channels` interleaved channels, voiced above
    /// `threshold_dbfs` (dB relative to full scale; e.g. −50.0).
    /// A channel count of 0 is treated as 1 so frame math cannot divide by zero.
    pub fn new(threshold_dbfs: f64, channels: u16) -> Self {
        Self {
            threshold: linear(threshold_dbfs),
            channels: channels.max(1),
            samples_seen: 0,
            first_voiced_sample: None,
        }
    }

    /// A detector with [`DEFAULT_THRESHOLD_DBFS`].
    pub fn with_default_threshold(channels: u16) -> Self {
        Self::new(DEFAULT_THRESHOLD_DBFS, channels)
    }

    /// Whether a voiced sample has been seen; after that, feeding only counts.
    pub fn found(&self) -> bool {
        self.first_voiced_sample.is_some()
    }

    /// Feed signed 16-bit samples.
    pub fn push_i16(&mut self, samples: &[i16]) {
        self.push_normalized(
            samples.len(),
            samples.iter().map(|s| f32::from(*s) / 32_768.0),
        );
    }

    /// Feed float samples in −1.0..=1.0 (values outside count as voiced).
    pub fn push_f32(&mut self, samples: &[f32]) {
        self.push_normalized(samples.len(), samples.iter().copied());
    }

    /// Feed `count` samples normalized to full scale 1.0. The iterator is
    /// only consumed while no voiced sample has been found yet, which keeps
    /// the steady-state cost O(1) per push.
    pub fn push_normalized(&mut self, count: usize, samples: impl IntoIterator<Item = f32>) {
        if self.first_voiced_sample.is_none() {
            // NaN compares false and so counts as silent, which is the safe side.
            if let Some(i) = samples
                .into_iter()
                .take(count)
                .position(|s| s.abs() > self.threshold)
            {
                self.first_voiced_sample = Some(self.samples_seen + i as u64);
            }
        }
        self.samples_seen += count as u64;
    }

    /// Interleaved samples fed so far.
    pub fn samples_seen(&self) -> u64 {
        self.samples_seen
    }

    /// Index of the first frame (one sample per channel) holding a voiced sample.
    pub fn first_voiced_frame(&self) -> Option<u64> {
        self.first_voiced_sample
            .map(|s| s / u64::from(self.channels))
    }

    /// Audio time of the first voiced frame at `sample_rate`.
    pub fn first_voiced(&self, sample_rate: u32) -> Option<Duration> {
        self.first_voiced_frame()
            .map(|f| frames_to_duration(f, sample_rate))
    }
}

/// `frames / sample_rate` as an exact (ns-truncated) duration. Durations of
/// streams are always computed from a running frame total with this function,
/// so per-chunk durations sum to the total exactly.
pub fn frames_to_duration(frames: u64, sample_rate: u32) -> Duration {
    if sample_rate == 0 {
        return Duration::ZERO;
    }
    let nanos = u128::from(frames) * 1_000_000_000 / u128::from(sample_rate);
    let secs = (nanos / 1_000_000_000) as u64;
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::generate::tone_pcm16;

    fn samples(pcm: &[u8]) -> Vec<i16> {
        pcm.chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn leading_silence_of_300ms_is_found() {
        let rate = 16_000;
        let pcm = tone_pcm16(
            rate,
            Duration::from_secs(1),
            Duration::from_millis(300),
            440.0,
            0.5,
        );
        let mut d = SilenceDetector::with_default_threshold(1);
        // Feed in uneven pieces to exercise the incremental path.
        let s = samples(&pcm);
        for piece in s.chunks(777) {
            d.push_i16(piece);
        }
        let fv = d.first_voiced(rate).expect("tone is voiced");
        let period = Duration::from_secs(1) / rate;
        assert!(fv >= Duration::from_millis(300), "{fv:?}");
        // Phase 0 means the first tone sample is exactly 0; allow a few samples.
        assert!(fv <= Duration::from_millis(300) + period * 4, "{fv:?}");
        assert_eq!(d.samples_seen(), 16_000);
    }

    #[test]
    fn silence_only_is_never_voiced() {
        let mut d = SilenceDetector::with_default_threshold(2);
        d.push_i16(&[0; 1000]);
        d.push_i16(&[50, -50, 100, -100]); // below −50 dBFS (≈ 104)
        assert_eq!(d.first_voiced_frame(), None);
        assert_eq!(d.samples_seen(), 1004);
    }

    #[test]
    fn stereo_frame_index_and_float_input() {
        let mut d = SilenceDetector::new(-40.0, 2);
        d.push_f32(&[0.0, 0.0, 0.0, 0.0, 0.0, 0.5]);
        assert_eq!(d.first_voiced_frame(), Some(2));
        assert_eq!(d.first_voiced(48_000), Some(frames_to_duration(2, 48_000)));
    }

    #[test]
    fn the_default_threshold_constant_is_minus_50_dbfs() {
        let computed = 10f64.powf(DEFAULT_THRESHOLD_DBFS / 20.0) as f32;
        assert!((DEFAULT_THRESHOLD_LINEAR - computed).abs() <= f32::EPSILON * computed);
        // 104 in 16-bit units is just above it, 103 just below.
        let mut d = SilenceDetector::with_default_threshold(1);
        d.push_i16(&[103, -103]);
        assert!(!d.found());
        d.push_i16(&[104]);
        assert!(d.found());
    }

    #[test]
    fn threshold_is_a_parameter() {
        let mut strict = SilenceDetector::new(-20.0, 1);
        let mut lax = SilenceDetector::new(-60.0, 1);
        strict.push_i16(&[1000]); // ≈ −30 dBFS
        lax.push_i16(&[1000]);
        assert!(!strict.found());
        assert!(lax.found());
    }

    #[test]
    fn frame_durations_are_exact() {
        assert_eq!(frames_to_duration(24_000, 24_000), Duration::from_secs(1));
        assert_eq!(frames_to_duration(1, 24_000), Duration::from_nanos(41_666));
        assert_eq!(frames_to_duration(5, 0), Duration::ZERO);
    }
}
