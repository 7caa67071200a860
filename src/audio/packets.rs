//! Audio as RTP payloads: a WebRTC call's codec, an utterance encoded once
//! into 20 ms packets of it, and a decoder of the peer's packets back to
//! 16-bit PCM. One place for what differs between Opus (stateful, 48 kHz,
//! variable-size packets: `opus`) and G.711 μ-law (stateless, 8 kHz, one
//! byte a sample: `g711`), so a call's loop is written once.

use std::time::Duration;

use bytes::Bytes;

pub use super::track::{MediaPacket, PacketTrack};

use super::convert::resample;
use super::g711::Law;
use super::opus::{encode_pcm16, OpusError, OpusStreamDecoder, FRAME, OPUS_RATE};

/// The audio codec of a WebRTC call (`--codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PacketCodec {
    /// `opus/48000/2`: what browsers and agents prefer.
    #[default]
    Opus,
    /// `PCMU/8000`: G.711 μ-law, telephony's codec (and every WebRTC
    /// stack's fallback).
    Pcmu,
}

/// Samples of μ-law in one 20 ms packet at 8 kHz.
const PCMU_FRAME: usize = 160;

impl PacketCodec {
    /// Its RTP clock rate, which is also the rate it decodes to.
    pub fn rate(self) -> u32 {
        match self {
            PacketCodec::Opus => OPUS_RATE,
            PacketCodec::Pcmu => 8_000,
        }
    }

    /// Its name in SDP and in errors.
    pub fn name(self) -> &'static str {
        match self {
            PacketCodec::Opus => "opus",
            PacketCodec::Pcmu => "PCMU",
        }
    }

    /// RTP time one 20 ms packet advances.
    pub fn frame_ticks(self) -> u64 {
        u64::from(self.rate() / 50)
    }

    /// Encode mono 16-bit PCM at `sample_rate` into 20 ms packets (Opus:
    /// see [`encode_pcm16`]; μ-law: resampled to 8 kHz, the last packet
    /// padded with silence, so `ceil(duration / 20 ms)` packets).
    pub fn encode(self, pcm: &[i16], sample_rate: u32) -> Result<PacketTrack, OpusError> {
        match self {
            PacketCodec::Opus => encode_pcm16(pcm, sample_rate),
            PacketCodec::Pcmu => Ok(encode_pcmu(pcm, sample_rate)),
        }
    }
}

fn encode_pcmu(pcm: &[i16], sample_rate: u32) -> PacketTrack {
    let mono: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    let at8 = resample(&mono, sample_rate, 8_000);
    let audio = Duration::from_nanos(at8.len() as u64 * 1_000_000_000 / 8_000);
    let packets = at8
        .chunks(PCMU_FRAME)
        .map(|frame| {
            let mut data: Vec<u8> = frame
                .iter()
                .map(|&s| {
                    Law::Mulaw.encode_sample((s * 32_768.0).clamp(-32_768.0, 32_767.0) as i16)
                })
                .collect();
            data.resize(PCMU_FRAME, Law::Mulaw.encode_sample(0));
            MediaPacket {
                data: Bytes::from(data),
                duration: FRAME,
            }
        })
        .collect();
    PacketTrack { packets, audio }
}

/// Decodes one peer's stream to mono 16-bit PCM at its codec's rate.
#[derive(Debug)]
pub enum PacketDecoder {
    /// Stateful: packets decode in order (boxed: the decoder's state is
    /// most of a KiB).
    Opus(Box<OpusStreamDecoder>),
    /// One byte a sample.
    Pcmu,
}

impl PacketDecoder {
    /// A decoder for `codec`.
    pub fn new(codec: PacketCodec) -> Result<Self, OpusError> {
        Ok(match codec {
            PacketCodec::Opus => PacketDecoder::Opus(Box::new(OpusStreamDecoder::new()?)),
            PacketCodec::Pcmu => PacketDecoder::Pcmu,
        })
    }

    /// Decode `packet` and append its samples to `out`; returns how many.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<usize, OpusError> {
        match self {
            PacketDecoder::Opus(d) => d.decode(packet, out),
            PacketDecoder::Pcmu => {
                out.extend(packet.iter().map(|&b| Law::Mulaw.decode_sample(b)));
                Ok(packet.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcmu_packets_are_20ms_of_mulaw_at_8khz_and_decode_back() {
        // 1.01 s at 16 kHz: 8,080 samples at 8 kHz, 50.5 packets → 51.
        let pcm: Vec<i16> = (0..16_160)
            .map(|i| ((i as f32 * 0.05).sin() * 8_000.0) as i16)
            .collect();
        let track = PacketCodec::Pcmu.encode(&pcm, 16_000).unwrap();
        assert_eq!(track.packets.len(), 51);
        assert!(track.packets.iter().all(|p| p.data.len() == 160));
        assert_eq!(track.audio, Duration::from_millis(1_010));
        let mut dec = PacketDecoder::new(PacketCodec::Pcmu).unwrap();
        let mut out = Vec::new();
        for p in &track.packets {
            assert_eq!(dec.decode(&p.data, &mut out), Ok(160));
        }
        // The padding decodes to silence (μ-law's zero is ±1 or so).
        assert!(
            out[8_080..].iter().all(|s| s.abs() <= 8),
            "{:?}",
            &out[8_080..8_090]
        );
        let loud = out[..8_080].iter().filter(|s| s.abs() > 4_000).count();
        assert!(loud > 2_000, "{loud}");
    }

    #[test]
    fn clocks_are_the_codecs() {
        assert_eq!(
            (PacketCodec::Opus.rate(), PacketCodec::Opus.frame_ticks()),
            (48_000, 960)
        );
        assert_eq!(
            (PacketCodec::Pcmu.rate(), PacketCodec::Pcmu.frame_ticks()),
            (8_000, 160)
        );
    }
}
