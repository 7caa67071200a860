//! A call's audio on the frame clock: pre-encoded packets written at
//! absolute deadlines, and every agent packet kept with its arrival instant.
//!
//! Packet `k` is due at `origin + (durations of packets 0..k)`: 20 ms
//! apart for encoded script files. A late packet does not move the next
//! deadline (as in `ws_pacer`), so lateness never accumulates; each
//! packet's send instant is kept beside its deadline ([`SentPacket`]) and
//! the gap between them is the caller's send lateness.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audio::packets::MediaPacket;
use crate::rtc::{Peer, PeerError, PeerEvent};

/// One caller packet: when it was due and when it was handed to the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentPacket {
    /// Its absolute deadline on the call's frame clock.
    pub deadline: Instant,
    /// When the socket took it (never before `deadline`).
    pub sent: Instant,
}

impl SentPacket {
    /// How late it left.
    pub fn lateness(&self) -> Duration {
        self.sent.saturating_duration_since(self.deadline)
    }
}

/// One agent packet as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPacket {
    /// When its datagram was read.
    pub at: Instant,
    /// Its RTP timestamp (units of the codec's clock).
    pub rtp_time: u64,
    /// Its RTP sequence number.
    pub seq: u64,
    /// The encoded packet.
    pub data: Arc<[u8]>,
}

/// What one call sent and received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallLog {
    /// Caller packets, in order.
    pub sent: Vec<SentPacket>,
    /// Agent audio packets, in arrival order.
    pub received: Vec<AgentPacket>,
    /// Data-channel messages (arrival, bytes).
    pub messages: Vec<(Instant, Vec<u8>)>,
    /// The peer disconnected during the call.
    pub disconnected: bool,
}

impl CallLog {
    fn absorb(&mut self, peer: &mut Peer) {
        for e in peer.take_events() {
            match e {
                PeerEvent::Audio {
                    at,
                    rtp_time,
                    seq,
                    data,
                } => self.received.push(AgentPacket {
                    at,
                    rtp_time,
                    seq,
                    data,
                }),
                PeerEvent::ChannelData { at, data, .. } => self.messages.push((at, data)),
                PeerEvent::Disconnected => self.disconnected = true,
                PeerEvent::ChannelOpen(_) => {}
            }
        }
    }
}

/// Send `packets` from `origin` on (packet `k` at its absolute deadline,
/// RTP time counted from `rtp_start`), then keep listening until
/// `listen_until`, logging everything into `log`. Returns the RTP time
/// after the last packet (where the next utterance continues).
///
/// The peer must be connected ([`Peer::connect`]). Timed by a pacer
/// ([`Peer::timed_by`]) the deadlines are met to the µs; without, to
/// tokio's 1 ms timer.
pub async fn play(
    peer: &mut Peer,
    packets: &[MediaPacket],
    origin: Instant,
    rtp_start: u64,
    listen_until: Instant,
    log: &mut CallLog,
) -> Result<u64, PeerError> {
    log.sent.reserve(packets.len());
    let mut offset = Duration::ZERO;
    let mut rtp = rtp_start;
    for p in packets {
        let deadline = origin + offset;
        peer.pump_until(deadline, false).await?;
        peer.write_audio(deadline, rtp, &p.data)?;
        log.sent.push(SentPacket {
            deadline,
            sent: Instant::now(),
        });
        log.absorb(peer);
        offset += p.duration;
        rtp += rtp_units(p.duration, peer.codec().rate());
    }
    peer.pump_until(listen_until, false).await?;
    log.absorb(peer);
    Ok(rtp)
}

/// A duration in RTP units of a `rate` Hz clock.
fn rtp_units(d: Duration, rate: u32) -> u64 {
    (d.as_nanos() * u128::from(rate) / 1_000_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_20ms_packet_is_960_rtp_units() {
        assert_eq!(rtp_units(Duration::from_millis(20), 48_000), 960);
        assert_eq!(rtp_units(Duration::from_micros(2_500), 48_000), 120);
        assert_eq!(rtp_units(Duration::from_millis(20), 8_000), 160);
    }

    #[test]
    fn lateness_is_never_negative() {
        let t = Instant::now();
        let p = SentPacket {
            deadline: t + Duration::from_millis(1),
            sent: t,
        };
        assert_eq!(p.lateness(), Duration::ZERO);
    }
}
