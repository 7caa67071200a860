//! Opus for WebRTC calls: caller audio encoded once into 20 ms packets at
//! 48 kHz mono, and a streaming decoder of the agent's packets back to
//! 16-bit PCM at 48 kHz (what silence detection and WER read).
//!
//! Why not a [`super::codec::Codec`] variant: a `Codec` is stateless and
//! sample-wise: a frame's byte count and a payload's duration follow from
//! its length, and any slice encodes or decodes on its own. Opus is none of
//! that: the encoder and decoder carry state from packet to packet, packets
//! have variable sizes, and a packet's duration is read from its header
//! (the TOC byte, RFC 6716 §3.1), not from its length. So Opus has its own
//! types here, and `Codec` stays the sample codecs of WebSocket streams.
//!
//! Why encode once: the pure-Rust `opus-rs` encoder costs hundreds of µs per
//! 20 ms frame (see [`encode_pcm16`]), far more than sending the packet, so
//! a script file is encoded before the run and its packets ([`Bytes`],
//! cheap to clone) are shared by every call. Decoding is an order of
//! magnitude cheaper and is done per call, as packets arrive.
//!
//! `opus-rs` reads packets an agent sends us; a panic inside it on a
//! malformed packet becomes an [`OpusError`] (and a fresh decoder), not a
//! crash, as symphonia's are in `convert.rs`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use bytes::Bytes;
use opus_rs::{Application, OpusDecoder, OpusEncoder};

use super::convert::resample;
use super::track::{MediaPacket, PacketTrack};

/// The rate of every Opus stream here: what WebRTC's `opus/48000/2`
/// negotiates, whatever the source file's rate.
pub const OPUS_RATE: u32 = 48_000;

/// Length of one packet the encoder makes: WebRTC's usual `ptime`.
pub const FRAME: Duration = Duration::from_millis(20);

/// Samples in one [`FRAME`] at [`OPUS_RATE`].
pub const FRAME_SAMPLES: usize = 960;

/// Target bitrate of caller audio: wideband speech with room to spare
/// (WebRTC's usual 32 kbit/s for voice).
pub const BITRATE_BPS: i32 = 32_000;

/// Most samples one packet can decode to: 120 ms at 48 kHz (RFC 6716).
const MAX_PACKET_SAMPLES: usize = 5_760;

/// Most bytes one encoded frame takes (RFC 6716 §3.1's 1,275 plus the TOC).
const MAX_PACKET_BYTES: usize = 1_276;

/// Why Opus audio could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpusError {
    /// The codec refused to start or to encode (a bug here, not input).
    #[error("opus encoder: {0}")]
    Encoder(&'static str),
    /// A packet the peer sent is not Opus we can read.
    #[error("bad opus packet ({len} bytes): {reason}")]
    BadPacket {
        /// The packet's length.
        len: usize,
        /// What was wrong.
        reason: &'static str,
    },
}

/// Encode mono 16-bit PCM at `sample_rate` into 20 ms Opus packets at
/// 48 kHz: resampled with the crate's resampler (a copy when already at
/// 48 kHz), then padded with silence to whole frames, flushing the codec.
///
/// The encoder's look-ahead (4 ms) plus the decoder's overlap (2.5 ms)
/// delay decoded audio by 6.5 ms ([`CODEC_DELAY_SAMPLES`]), so there are
/// `ceil((duration + 6.5 ms) / 20 ms)` packets and the last one decodes
/// to the source's last sample. Why flush: unflushed, the source's last
/// 6.5 ms would be lost and its decoder overlap would spill into whatever
/// packet came next (a receiver's energy VAD then hears speech one packet
/// after the track ended, for some lengths and not others).
/// Cost: measured 230–390 µs per frame, which is why this runs once per
/// script file.
pub fn encode_pcm16(pcm: &[i16], sample_rate: u32) -> Result<PacketTrack, OpusError> {
    let mono: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    let mut at48 = resample(&mono, sample_rate, OPUS_RATE);
    let audio = Duration::from_nanos(at48.len() as u64 * 1_000_000_000 / u64::from(OPUS_RATE));
    let frames = match at48.len() {
        0 => 0,
        n => (n + CODEC_DELAY_SAMPLES).div_ceil(FRAME_SAMPLES),
    };
    at48.resize(frames * FRAME_SAMPLES, 0.0);
    let mut enc = encoder()?;
    let mut out = vec![0u8; MAX_PACKET_BYTES];
    let mut packets = Vec::with_capacity(frames);
    for frame in at48.chunks_exact(FRAME_SAMPLES) {
        let n = enc
            .encode(frame, FRAME_SAMPLES, &mut out)
            .map_err(OpusError::Encoder)?;
        packets.push(MediaPacket {
            data: Bytes::copy_from_slice(&out[..n]),
            duration: FRAME,
        });
    }
    Ok(PacketTrack { packets, audio })
}

/// Samples (48 kHz) from a source sample to the same sample decoded: the
/// encoder's 4 ms look-ahead plus the decoder's 2.5 ms overlap (measured:
/// `decoded_speech_lags_by_the_codec_delay`).
pub const CODEC_DELAY_SAMPLES: usize = 312;

/// The caller's encoder: VoIP mode (SILK + CELT hybrid at 48 kHz, what
/// browsers send for speech), variable bitrate around [`BITRATE_BPS`].
fn encoder() -> Result<OpusEncoder, OpusError> {
    let mut enc =
        OpusEncoder::new(OPUS_RATE as i32, 1, Application::Voip).map_err(OpusError::Encoder)?;
    enc.bitrate_bps = BITRATE_BPS;
    Ok(enc)
}

/// Samples per channel at 48 kHz that an Opus packet decodes to, read from
/// its TOC byte (RFC 6716 §3.1); an error for a packet that no decoder may
/// accept (empty, a code-3 packet without its frame count, over 120 ms).
pub fn packet_samples(packet: &[u8]) -> Result<usize, OpusError> {
    let bad = |reason| OpusError::BadPacket {
        len: packet.len(),
        reason,
    };
    let &toc = packet.first().ok_or(bad("empty"))?;
    let config = usize::from(toc >> 3);
    // Frame length in units of 2.5 ms (120 samples at 48 kHz).
    let units = match config {
        0..=11 => [4, 8, 16, 24][config % 4],
        12..=15 => [4, 8][config % 2],
        _ => [1, 2, 4, 8][config % 4],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => usize::from(
            packet
                .get(1)
                .ok_or(bad("code-3 packet without a frame count"))?
                & 0x3f,
        ),
    };
    let samples = frames * units * 120;
    if frames == 0 || samples > MAX_PACKET_SAMPLES {
        return Err(bad("frame count out of range (0, or over 120 ms)"));
    }
    Ok(samples)
}

/// Decodes one peer's Opus stream to mono 16-bit PCM at 48 kHz, packet by
/// packet, as they arrive.
pub struct OpusStreamDecoder {
    dec: OpusDecoder,
    buf: Vec<f32>,
    /// Samples of the last good packet: what a lost one is concealed as.
    last_samples: usize,
}

impl std::fmt::Debug for OpusStreamDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusStreamDecoder")
            .field("last_samples", &self.last_samples)
            .finish_non_exhaustive()
    }
}

impl OpusStreamDecoder {
    /// A decoder at 48 kHz mono (stereo packets are downmixed).
    pub fn new() -> Result<Self, OpusError> {
        Ok(Self {
            dec: OpusDecoder::new(OPUS_RATE as i32, 1).map_err(OpusError::Encoder)?,
            buf: vec![0.0; MAX_PACKET_SAMPLES],
            last_samples: FRAME_SAMPLES,
        })
    }

    /// Decode `packet` and append its samples to `out`; returns how many.
    /// A packet whose TOC is malformed, or that the decoder rejects or
    /// panics on, is an error and appends nothing (the decoder is reset
    /// after a panic, since its state may be half-written).
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<usize, OpusError> {
        let samples = packet_samples(packet)?;
        let n = self.run(packet, samples)?;
        self.last_samples = samples;
        push_pcm16(&self.buf[..n], out);
        Ok(n)
    }

    /// Conceal one lost packet (as long as the last good one) and append
    /// the concealment to `out`; returns how many samples.
    pub fn conceal(&mut self, out: &mut Vec<i16>) -> Result<usize, OpusError> {
        let n = self.run(&[], self.last_samples)?;
        push_pcm16(&self.buf[..n], out);
        Ok(n)
    }

    fn run(&mut self, packet: &[u8], samples: usize) -> Result<usize, OpusError> {
        let (dec, buf) = (&mut self.dec, &mut self.buf);
        let result = catch_unwind(AssertUnwindSafe(|| dec.decode(packet, samples, buf)));
        let bad = |reason| OpusError::BadPacket {
            len: packet.len(),
            reason,
        };
        match result {
            Ok(Ok(n)) => Ok(n.min(self.buf.len())),
            Ok(Err(reason)) => Err(bad(reason)),
            Err(_) => {
                if let Ok(fresh) = OpusDecoder::new(OPUS_RATE as i32, 1) {
                    self.dec = fresh;
                }
                Err(bad("the decoder panicked on it"))
            }
        }
    }
}

/// Fractions of full scale to 16-bit samples (clamped, rounded), as
/// `convert::to_pcm16le` scales them.
fn push_pcm16(samples: &[f32], out: &mut Vec<i16>) {
    out.extend(samples.iter().map(|s| {
        (s.clamp(-1.0, 1.0) * 32_768.0)
            .round()
            .clamp(-32_768.0, 32_767.0) as i16
    }));
}

#[cfg(test)]
#[path = "opus_tests.rs"]
mod tests;
