//! An utterance as encoded packets: what a codec's encoder makes (Opus in
//! `opus`, μ-law in `packets`) and a call's sender plays. Its own module so
//! the codecs and the codec choice both use it without importing each other.

use std::time::Duration;

use bytes::Bytes;

/// One encoded packet and how long it plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPacket {
    /// The RTP payload.
    pub data: Bytes,
    /// Its playing time.
    pub duration: Duration,
}

/// A whole utterance as packets, encoded once and shared by every call
/// that sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketTrack {
    /// The packets, in order, each one 20 ms frame long.
    pub packets: Vec<MediaPacket>,
    /// Playing time of the source audio (the last packet is padded with
    /// silence to a whole frame).
    pub audio: Duration,
}

impl PacketTrack {
    /// Playing time of all packets (at least [`PacketTrack::audio`]).
    pub fn duration(&self) -> Duration {
        self.packets.iter().map(|p| p.duration).sum()
    }
}

/// A caller turn's audio as it was loaded: samples for the transport to
/// frame or encode, or packets ready to send. Typed once at load so no
/// transport has to guess (a PCM turn can begin with any four bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnAudio {
    /// Samples in the target's codec at its rate (16-bit PCM, μ-law).
    Samples(Bytes),
    /// 20 ms Opus packets read from an Ogg Opus file, for a WebRTC call
    /// over Opus to send as they are.
    OpusPackets(std::sync::Arc<PacketTrack>),
}

impl TurnAudio {
    /// No audio at all (a turn the loader refuses).
    pub fn is_empty(&self) -> bool {
        match self {
            TurnAudio::Samples(b) => b.is_empty(),
            TurnAudio::OpusPackets(t) => t.packets.is_empty(),
        }
    }

    /// Its samples, if it is samples.
    pub fn samples(&self) -> Option<&Bytes> {
        match self {
            TurnAudio::Samples(b) => Some(b),
            TurnAudio::OpusPackets(_) => None,
        }
    }
}
