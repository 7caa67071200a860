//! G.711 μ-law (PCMU) and A-law (PCMA): 8-bit telephony audio, 8 kHz in
//! practice. The encoders follow Sun's `g711.c` (as Python's `audioop`
//! does, which Pipecat's Twilio serializer uses), so a byte this crate
//! sends is the byte a telephony stack would send: e.g. −1 encodes to
//! μ-law `0x7E`, where a clip-then-bias encoder gives `0x7F`.

use serde::{Deserialize, Serialize};

/// Which G.711 law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Law {
    /// μ-law (PCMU; North America, Japan; Twilio).
    Mulaw,
    /// A-law (PCMA; elsewhere).
    Alaw,
}

/// One 16-bit sample to μ-law.
pub fn mulaw_encode(sample: i16) -> u8 {
    const CLIP: i32 = 8159;
    let mut v = i32::from(sample) >> 2;
    let mask = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    let v = v.min(CLIP) + (0x84 >> 2);
    // Segment: the first upper end (0x3F, 0x7F, … 0x1FFF) at or above v.
    let seg = (0..8).find(|&s| v < (0x40 << s)).unwrap_or(8);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let code = (seg << 4) | ((v >> (seg + 1)) & 0x0F);
    (code as u8) ^ mask
}

/// One μ-law byte to a 16-bit sample.
pub fn mulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let t = ((i32::from(u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// One 16-bit sample to A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    let mut v = i32::from(sample) >> 3;
    let mask = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    // Segment: the first upper end (0x1F, 0x3F, … 0xFFF) at or above v.
    let seg = (0..8).find(|&s| v < (0x20 << s)).unwrap_or(8);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let quant = if seg < 2 { v >> 1 } else { v >> seg } & 0x0F;
    ((seg << 4) as u8 | quant as u8) ^ mask
}

/// One A-law byte to a 16-bit sample.
pub fn alaw_decode(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        s => t = (t + 0x108) << (s - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

impl Law {
    /// One sample.
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Law::Mulaw => mulaw_encode(sample),
            Law::Alaw => alaw_encode(sample),
        }
    }

    /// One byte.
    pub fn decode_sample(self, byte: u8) -> i16 {
        match self {
            Law::Mulaw => mulaw_decode(byte),
            Law::Alaw => alaw_decode(byte),
        }
    }

    /// Little-endian PCM16 bytes to G.711 bytes (an odd last byte is dropped).
    pub fn encode(self, pcm16le: &[u8]) -> Vec<u8> {
        pcm16le
            .chunks_exact(2)
            .map(|b| self.encode_sample(i16::from_le_bytes([b[0], b[1]])))
            .collect()
    }

    /// G.711 bytes to little-endian PCM16 bytes.
    pub fn decode(self, bytes: &[u8]) -> Vec<u8> {
        bytes
            .iter()
            .flat_map(|&b| self.decode_sample(b).to_le_bytes())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_vectors_hold() {
        for (byte, linear) in [(0xFF, 0), (0x7F, 0), (0x80, 32124), (0x00, -32124)] {
            assert_eq!(mulaw_decode(byte), linear, "μ-law {byte:#04x}");
        }
        for (linear, byte) in [(0, 0xFF), (32767, 0x80), (-32768, 0x00), (-1, 0x7E)] {
            assert_eq!(mulaw_encode(linear), byte, "μ-law of {linear}");
        }
        for (byte, linear) in [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256)] {
            assert_eq!(alaw_decode(byte), linear, "A-law {byte:#04x}");
        }
        assert_eq!(alaw_encode(0), 0xD5);
    }

    #[test]
    fn every_code_round_trips_but_mulaw_negative_zero() {
        for b in 0..=255u8 {
            let want = if b == 0x7F { 0xFF } else { b };
            assert_eq!(mulaw_encode(mulaw_decode(b)), want, "μ-law {b:#04x}");
            assert_eq!(alaw_encode(alaw_decode(b)), b, "A-law {b:#04x}");
        }
    }

    #[test]
    fn every_sample_comes_back_within_its_segments_step() {
        for x in i16::MIN..=i16::MAX {
            for (law, max) in [(Law::Mulaw, 32124), (Law::Alaw, 32256)] {
                let code = law.encode_sample(x);
                let y = i32::from(law.decode_sample(code));
                let clipped = i32::from(x).clamp(-max, max);
                // The step of the code's segment (μ: 8 << e; A: 16, 16, 32, …).
                let seg = u32::from((code ^ if law == Law::Mulaw { 0xFF } else { 0x55 }) >> 4 & 7);
                let step = match law {
                    Law::Mulaw => 8 << seg,
                    Law::Alaw => 16 << seg.saturating_sub(1),
                };
                assert!(
                    (y - clipped).abs() <= step,
                    "{law:?} {x} → {code:#04x} → {y} (step {step})"
                );
            }
        }
    }

    fn snr_db(law: Law, dbfs: f64) -> f64 {
        let amp = 32767.0 * 10f64.powf(dbfs / 20.0);
        let (mut signal, mut noise) = (0.0, 0.0);
        for n in 0..8_000 {
            let x = (amp * (2.0 * std::f64::consts::PI * 1_000.0 * n as f64 / 8_000.0 + 0.3).sin())
                .round();
            let y = f64::from(law.decode_sample(law.encode_sample(x as i16)));
            signal += x * x;
            noise += (x - y) * (x - y);
        }
        10.0 * (signal / noise).log10()
    }

    #[test]
    fn a_sine_keeps_over_30_db_of_snr_loud_and_quiet() {
        for law in [Law::Mulaw, Law::Alaw] {
            for dbfs in [-6.0, -40.0] {
                let snr = snr_db(law, dbfs);
                assert!(snr > 30.0, "{law:?} at {dbfs} dBFS: {snr:.1} dB");
            }
        }
    }

    #[test]
    fn buffers_round_trip_through_the_laws() {
        let pcm: Vec<u8> = [0i16, 1000, -1000, 32000]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        for law in [Law::Mulaw, Law::Alaw] {
            let coded = law.encode(&pcm);
            assert_eq!(coded.len(), 4);
            let back = law.decode(&coded);
            assert_eq!(back.len(), 8);
        }
    }
}
