//! The agent's RTP stream as a receiver sees it: RFC 3550 interarrival
//! jitter and packet loss by sequence number (§6.4.1, A.3 and A.8).

use std::time::Instant;

use crate::audio::opus::OPUS_RATE;

/// Jitter and loss of one incoming stream, updated per packet.
#[derive(Debug, Clone)]
pub struct StreamMeter {
    /// The stream's RTP clock rate (Hz).
    clock: u32,
    /// First packet's arrival: the origin of arrival times.
    origin: Option<Instant>,
    /// Previous packet's transit time (arrival − RTP time), µs.
    transit_us: Option<f64>,
    jitter_us: f64,
    first_seq: Option<u64>,
    max_seq: u64,
    received: u64,
}

impl Default for StreamMeter {
    /// An Opus stream's meter (48 kHz RTP clock).
    fn default() -> Self {
        Self::new(OPUS_RATE)
    }
}

impl StreamMeter {
    /// The meter of a stream whose RTP clock runs at `clock` Hz.
    pub fn new(clock: u32) -> Self {
        Self {
            clock: clock.max(1),
            origin: None,
            transit_us: None,
            jitter_us: 0.0,
            first_seq: None,
            max_seq: 0,
            received: 0,
        }
    }

    /// One packet: read at `at`, stamped `rtp_time` (RTP clock units),
    /// numbered `seq` (extended, so it never wraps).
    pub fn packet(&mut self, at: Instant, rtp_time: u64, seq: u64) {
        let origin = *self.origin.get_or_insert(at);
        let arrival_us = at.saturating_duration_since(origin).as_secs_f64() * 1e6;
        let sent_us = rtp_time as f64 * 1e6 / f64::from(self.clock);
        let transit = arrival_us - sent_us;
        if let Some(prev) = self.transit_us {
            // J += (|D| − J) / 16: a smoothed mean of transit differences.
            self.jitter_us += ((transit - prev).abs() - self.jitter_us) / 16.0;
        }
        self.transit_us = Some(transit);
        let first = *self.first_seq.get_or_insert(seq);
        self.max_seq = self.max_seq.max(seq).max(first);
        self.received += 1;
    }

    /// The jitter so far, µs (`None` before any packet).
    pub fn jitter_us(&self) -> Option<u64> {
        self.origin.map(|_| self.jitter_us.round() as u64)
    }

    /// Packets lost / expected so far (duplicates can make up for losses,
    /// as in RFC 3550; never below 0).
    pub fn loss(&self) -> Option<f64> {
        let first = self.first_seq?;
        let expected = self.max_seq - first + 1;
        let lost = expected.saturating_sub(self.received);
        Some(lost as f64 / expected as f64)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn packets_on_time_have_no_jitter_and_no_loss() {
        let t0 = Instant::now();
        let mut m = StreamMeter::default();
        assert_eq!((m.jitter_us(), m.loss()), (None, None));
        for k in 0..50u64 {
            m.packet(t0 + Duration::from_millis(20 * k), 5_000 + 960 * k, 7 + k);
        }
        assert_eq!(m.jitter_us(), Some(0));
        assert_eq!(m.loss(), Some(0.0));
    }

    #[test]
    fn alternating_lateness_converges_to_its_mean_difference() {
        // Every other packet 4 ms late: |D| is 4 ms each time, so J → 4 ms.
        let t0 = Instant::now();
        let mut m = StreamMeter::default();
        for k in 0..400u64 {
            let late = if k % 2 == 1 { 4 } else { 0 };
            m.packet(t0 + Duration::from_millis(20 * k + late), 960 * k, k);
        }
        let j = m.jitter_us().expect("packets");
        assert!((3_990..=4_000).contains(&j), "{j}");
    }

    #[test]
    fn missing_sequence_numbers_are_lost() {
        let t0 = Instant::now();
        let mut m = StreamMeter::default();
        for k in (0..100u64).filter(|k| k % 10 != 3) {
            m.packet(t0 + Duration::from_millis(20 * k), 960 * k, 1_000 + k);
        }
        // 10 of 100 missing (the last, 99, arrived: expected is 100).
        assert_eq!(m.loss(), Some(0.1));
    }
}
