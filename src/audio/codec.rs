//! How the samples of a real-time stream are encoded on the wire: 16-bit
//! PCM, or G.711 μ-law / A-law for telephony. One type for the caller's
//! audio (ASR streams, agent calls) and the agent's answers, so frame
//! sizes, durations and decoding are worked out in one place.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::g711::Law;

/// One stream's sample encoding (always mono).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// Little-endian signed 16-bit PCM.
    #[default]
    Pcm16,
    /// G.711 μ-law (PCMU), one byte a sample.
    Mulaw,
    /// G.711 A-law (PCMA), one byte a sample.
    Alaw,
}

impl Codec {
    /// Every codec, in the order errors list them.
    pub const ALL: [Codec; 3] = [Codec::Pcm16, Codec::Mulaw, Codec::Alaw];

    /// Stable name, as `--codec` takes it and results show it.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcm16 => "pcm16",
            Codec::Mulaw => "mulaw",
            Codec::Alaw => "alaw",
        }
    }

    /// A name or one of the aliases the field uses for it (`pcmu`,
    /// `ulaw`, `g711_ulaw`, `audio/x-mulaw`, `pcma`, `linear16`, …);
    /// `None` for anything else.
    pub fn parse(s: &str) -> Option<Codec> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix("audio/").unwrap_or(&s);
        Some(match s.strip_prefix("x-").unwrap_or(s) {
            "pcm16" | "pcm" | "pcm_s16le" | "s16le" | "linear16" | "l16" => Codec::Pcm16,
            "mulaw" | "ulaw" | "pcmu" | "g711_ulaw" | "mu-law" | "μ-law" => Codec::Mulaw,
            "alaw" | "pcma" | "g711_alaw" | "a-law" => Codec::Alaw,
            _ => return None,
        })
    }

    /// Bytes one sample takes.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            Codec::Pcm16 => 2,
            Codec::Mulaw | Codec::Alaw => 1,
        }
    }

    fn law(self) -> Option<Law> {
        match self {
            Codec::Pcm16 => None,
            Codec::Mulaw => Some(Law::Mulaw),
            Codec::Alaw => Some(Law::Alaw),
        }
    }

    /// `pcm16le` (16-bit mono PCM) in this codec.
    pub fn encode(self, pcm16le: &[u8]) -> Vec<u8> {
        match self.law() {
            None => pcm16le.to_vec(),
            Some(law) => law.encode(pcm16le),
        }
    }

    /// Bytes of this codec back to 16-bit mono PCM (what WER and silence
    /// detection read).
    pub fn decode(self, bytes: &[u8]) -> Vec<u8> {
        match self.law() {
            None => bytes.to_vec(),
            Some(law) => law.decode(bytes),
        }
    }

    /// Bytes in one frame of `frame` at `sample_rate` (at least one sample).
    pub fn frame_bytes(self, sample_rate: u32, frame: Duration) -> usize {
        let samples = (u128::from(sample_rate) * frame.as_nanos() / 1_000_000_000) as usize;
        samples.max(1) * self.bytes_per_sample()
    }

    /// How long `bytes` of this codec play at `sample_rate`.
    pub fn duration(self, bytes: usize, sample_rate: u32) -> Duration {
        let samples = (bytes / self.bytes_per_sample()) as u64;
        Duration::from_nanos(samples * 1_000_000_000 / u64::from(sample_rate.max(1)))
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_the_fields_aliases_parse() {
        for c in Codec::ALL {
            assert_eq!(Codec::parse(c.name()), Some(c));
        }
        assert_eq!(Codec::parse("audio/x-mulaw"), Some(Codec::Mulaw));
        assert_eq!(Codec::parse("audio/pcmu"), Some(Codec::Mulaw));
        assert_eq!(Codec::parse("g711_alaw"), Some(Codec::Alaw));
        assert_eq!(Codec::parse("audio/pcm"), Some(Codec::Pcm16));
        assert_eq!(Codec::parse("linear16"), Some(Codec::Pcm16));
        assert_eq!(Codec::parse("opus"), None);
    }

    #[test]
    fn a_20ms_telephony_frame_is_160_bytes_and_plays_20ms() {
        let f = Duration::from_millis(20);
        assert_eq!(Codec::Mulaw.frame_bytes(8_000, f), 160);
        assert_eq!(Codec::Pcm16.frame_bytes(16_000, f), 640);
        assert_eq!(Codec::Alaw.duration(160, 8_000), f);
        assert_eq!(Codec::Pcm16.duration(640, 16_000), f);
    }

    #[test]
    fn encoding_halves_pcm_and_decoding_restores_its_length() {
        let pcm: Vec<u8> = (0..400i16).flat_map(|i| (i * 50).to_le_bytes()).collect();
        for c in [Codec::Mulaw, Codec::Alaw] {
            let enc = c.encode(&pcm);
            assert_eq!(enc.len(), pcm.len() / 2);
            let back = c.decode(&enc);
            assert_eq!(back.len(), pcm.len());
            assert_ne!(back, enc);
        }
        assert_eq!(Codec::Pcm16.encode(&pcm), pcm);
    }
}
