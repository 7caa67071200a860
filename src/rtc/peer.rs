//! One WebRTC peer: a str0m [`Rtc`] and the UDP socket it talks on,
//! driven by the sans-IO loop from the calling task.
//!
//! The loop is str0m's contract: after every mutation (a received
//! datagram, a timeout, a media write) drain `poll_output` until it returns
//! a timeout: transmits go straight to the socket, events are queued for
//! the caller ([`Peer::take_events`]), and the timeout is the next instant
//! str0m must be woken at. Every datagram is stamped with
//! [`Instant::now`] as soon as it is read, and that instant is what str0m
//! is told (so agent packets carry the instant voxload's clock read them,
//! not the instant a busy task got round to them).
//!
//! v1 is non-trickle with one host candidate: the address the socket is
//! bound to, 127.0.0.1 for tests and local agents ([`Peer::loopback`]) or
//! the interface that routes toward a remote agent ([`Peer::bound`],
//! [`local_ip_toward`]). There is no STUN or TURN: an agent behind NAT
//! reaches us by a peer-reflexive candidate. Audio is one codec per peer,
//! Opus or PCMU (sendrecv); a data channel is optional.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};
use tokio::net::UdpSocket;

use crate::audio::packets::PacketCodec;

use super::deadline::{self, WakeAt};

/// Largest datagram read (WebRTC keeps packets under ~1,200 bytes).
const RECV_BUF: usize = 2_048;

/// Why a peer could not be set up or failed during a call.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The UDP socket could not be bound or used.
    #[error("UDP socket: {0}")]
    Socket(#[from] io::Error),
    /// The peer's SDP could not be parsed.
    #[error("the peer's {what} is not SDP str0m can read: {reason}")]
    BadSdp {
        /// "offer" or "answer".
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// Our codec is not in the peer's answer (or offer).
    #[error("no common audio codec: the peer does not take {0}")]
    NoCommonCodec(&'static str),
    /// str0m refused an input or a write (a DTLS failure, a bad packet).
    #[error("webrtc: {0}")]
    Rtc(#[from] RtcError),
    /// ICE + DTLS did not finish in time.
    #[error("not connected within {0:?} (ICE {1})")]
    ConnectTimeout(Duration, &'static str),
    /// The peer went away (ICE disconnected, or DTLS closed).
    #[error("the peer disconnected")]
    Disconnected,
}

/// Instants of one peer's set-up, on voxload's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerTimes {
    /// ICE found a working pair (`IceConnectionState::Connected`).
    pub ice_connected: Option<Instant>,
    /// DTLS (and so SRTP) is up: media can flow (`Event::Connected`).
    pub dtls_connected: Option<Instant>,
}

/// What the peer reported, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// One packet of the peer's audio, in the peer's codec.
    Audio {
        /// When its datagram was read (voxload's clock).
        at: Instant,
        /// Its RTP timestamp (units of the codec's clock, extended to 64
        /// bits).
        rtp_time: u64,
        /// Its RTP sequence number (extended).
        seq: u64,
        /// The encoded packet.
        data: Arc<[u8]>,
    },
    /// A data channel opened (its label).
    ChannelOpen(String),
    /// A message on the data channel.
    ChannelData {
        /// When its datagram was read.
        at: Instant,
        /// Sent as binary (else text).
        binary: bool,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// The peer went away.
    Disconnected,
}

/// One side of a call: the str0m state machine and its socket.
pub struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    /// The same socket, for sends: a send goes straight to the kernel,
    /// where tokio's `try_send_to` would refuse (`WouldBlock`, so a
    /// dropped datagram: a DTLS retransmit 1 s later) until its reactor
    /// first saw the new socket writable.
    sender: std::net::UdpSocket,
    local: SocketAddr,
    buf: Vec<u8>,
    /// When str0m next wants [`Input::Timeout`].
    timeout: Instant,
    events: VecDeque<PeerEvent>,
    audio: Option<Mid>,
    codec: PacketCodec,
    /// The negotiated payload type of [`Peer::codec`].
    pt: Option<Pt>,
    channel: Option<ChannelId>,
    times: PeerTimes,
    ice: IceConnectionState,
    /// ICE or DTLS changed state since [`Peer::pump_until`] last returned.
    changed: bool,
    /// Datagrams the socket would not take at once (UDP: dropped, counted).
    send_dropped: u64,
    /// Wakes the peer at its deadlines to the µs (else tokio's timer).
    wake: Option<Arc<dyn WakeAt>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("local", &self.local)
            .field("audio", &self.audio)
            .field("times", &self.times)
            .finish_non_exhaustive()
    }
}

/// The local address the kernel would send from to reach `remote`: the
/// host candidate an agent there can answer. No datagram leaves (a UDP
/// `connect` only picks the route).
pub fn local_ip_toward(remote: SocketAddr) -> io::Result<IpAddr> {
    let any: IpAddr = match remote {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    let probe = std::net::UdpSocket::bind((any, 0))?;
    probe.connect(remote)?;
    Ok(probe.local_addr()?.ip())
}

impl Peer {
    /// A peer on a fresh UDP socket on 127.0.0.1 (any port), with that
    /// socket as its one host candidate, Opus as its one codec.
    pub async fn loopback() -> Result<Self, PeerError> {
        Self::loopback_with(PacketCodec::Opus).await
    }

    /// [`Peer::loopback`] with `codec` as its one codec.
    pub async fn loopback_with(codec: PacketCodec) -> Result<Self, PeerError> {
        Self::bound(codec, IpAddr::V4(Ipv4Addr::LOCALHOST)).await
    }

    /// A peer on a fresh UDP socket on `ip` (any port), that socket its one
    /// host candidate, `codec` its one codec. `ip` is the address the
    /// other side can reach: 127.0.0.1 for a local agent, else the
    /// interface that routes to it ([`local_ip_toward`]).
    pub async fn bound(codec: PacketCodec, ip: IpAddr) -> Result<Self, PeerError> {
        let bound = std::net::UdpSocket::bind((ip, 0))?;
        bound.set_nonblocking(true)?;
        let sender = bound.try_clone()?;
        let socket = UdpSocket::from_std(bound)?;
        let local = socket.local_addr()?;
        let now = Instant::now();
        let builder = Rtc::builder().clear_codecs().set_stats_interval(None);
        let mut rtc = match codec {
            PacketCodec::Opus => builder.enable_opus(true, false),
            PacketCodec::Pcmu => builder.enable_pcmu(true, false),
        }
        .build(now);
        let candidate = Candidate::host(local, "udp").map_err(|e| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("host candidate: {e}"),
            )
        })?;
        rtc.add_local_candidate(candidate);
        Ok(Self {
            rtc,
            socket,
            sender,
            local,
            buf: vec![0; RECV_BUF],
            timeout: now,
            events: VecDeque::new(),
            audio: None,
            codec,
            pt: None,
            channel: None,
            times: PeerTimes::default(),
            ice: IceConnectionState::New,
            changed: false,
            send_dropped: 0,
            wake: None,
        })
    }

    /// Meet deadlines with `wake` (the run's frame pacer) instead of
    /// tokio's 1 ms timer.
    pub fn timed_by(mut self, wake: Arc<dyn WakeAt>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// The socket's address (the host candidate).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Set-up instants so far.
    pub fn times(&self) -> PeerTimes {
        self.times
    }

    /// Datagrams dropped because the socket was full.
    pub fn send_dropped(&self) -> u64 {
        self.send_dropped
    }

    /// The offer (SDP text): one sendrecv audio m-line, plus a data channel
    /// labelled `channel` if given. Keep the pending offer for
    /// [`Peer::accept_answer`].
    pub fn offer(&mut self, channel: Option<&str>) -> Result<(String, PendingOffer), PeerError> {
        let mut change = self.rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let channel = channel.map(|label| change.add_channel(label.to_string()));
        let (offer, pending) = change.apply().ok_or(PeerError::BadSdp {
            what: "offer",
            reason: "str0m made no offer".into(),
        })?;
        self.audio = Some(mid);
        self.channel = channel;
        self.drain()?;
        Ok((offer.to_sdp_string(), PendingOffer(pending)))
    }

    /// Apply the peer's `answer` to our pending offer.
    pub fn accept_answer(&mut self, pending: PendingOffer, answer: &str) -> Result<(), PeerError> {
        let answer = SdpAnswer::from_sdp_string(answer).map_err(|e| PeerError::BadSdp {
            what: "answer",
            reason: e.to_string(),
        })?;
        self.rtc.sdp_api().accept_answer(pending.0, answer)?;
        self.drain()?;
        self.find_codec()
    }

    /// Answer the peer's `offer` (the answerer side: the test agent).
    pub fn answer(&mut self, offer: &str) -> Result<String, PeerError> {
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| PeerError::BadSdp {
            what: "offer",
            reason: e.to_string(),
        })?;
        let answer = self.rtc.sdp_api().accept_offer(offer)?.to_sdp_string();
        self.drain()?;
        // str0m names the offer's audio m-line (MediaAdded) only once DTLS
        // is up; whether the codec was agreed is in the answer already.
        let rtpmap = format!("{}/{}", self.codec.name(), self.codec.rate()).to_ascii_lowercase();
        if !answer.to_ascii_lowercase().contains(&rtpmap) {
            return Err(PeerError::NoCommonCodec(self.codec.name()));
        }
        Ok(answer)
    }

    /// The codec the peer was made with.
    pub fn codec(&self) -> PacketCodec {
        self.codec
    }

    /// The negotiated payload type of our codec on our audio m-line.
    fn find_codec(&mut self) -> Result<(), PeerError> {
        let want = match self.codec {
            PacketCodec::Opus => Codec::Opus,
            PacketCodec::Pcmu => Codec::PCMU,
        };
        let mid = self
            .audio
            .ok_or(PeerError::NoCommonCodec(self.codec.name()))?;
        let writer = self
            .rtc
            .writer(mid)
            .ok_or(PeerError::NoCommonCodec(self.codec.name()))?;
        let pt = writer
            .payload_params()
            .find(|p| p.spec().codec == want)
            .map(|p| p.pt())
            .ok_or(PeerError::NoCommonCodec(self.codec.name()))?;
        self.pt = Some(pt);
        Ok(())
    }

    /// Drive the peer until ICE and DTLS are up, for at most `timeout`.
    pub async fn connect(&mut self, timeout: Duration) -> Result<(), PeerError> {
        let give_up = Instant::now() + timeout;
        while self.times.dtls_connected.is_none() {
            if Instant::now() >= give_up {
                return Err(PeerError::ConnectTimeout(timeout, ice_name(self.ice)));
            }
            self.pump_until(give_up, true).await?;
            if self.ice == IceConnectionState::Disconnected {
                return Err(PeerError::Disconnected);
            }
        }
        Ok(())
    }

    /// Drive the peer (read datagrams, fire str0m's timeouts) until `at`,
    /// or, with `stop_on_event`, until an event is queued or ICE or DTLS
    /// changed state. Returns at `at` to the µs when timed by a pacer.
    pub async fn pump_until(&mut self, at: Instant, stop_on_event: bool) -> Result<(), PeerError> {
        loop {
            let now = Instant::now();
            if now >= self.timeout {
                self.rtc.handle_input(Input::Timeout(now))?;
                self.drain()?;
                continue;
            }
            if now >= at || (stop_on_event && (self.changed || !self.events.is_empty())) {
                self.changed = false;
                return Ok(());
            }
            let wake = self.timeout.min(at);
            tokio::select! {
                biased;
                ready = self.socket.readable() => {
                    ready?;
                    self.read_ready()?;
                }
                () = deadline::until(wake, self.wake.as_deref()) => {}
            }
        }
    }

    /// Read every datagram waiting on the socket, each stamped as read.
    fn read_ready(&mut self) -> Result<(), PeerError> {
        loop {
            let (n, source) = match self.socket.try_recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // A port unreachable from an earlier send (Linux reports it
                // on the next read): the peer is not there (yet); ICE decides.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e.into()),
            };
            let at = Instant::now();
            // Datagrams that are not STUN, DTLS or SRTP are ignored.
            let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, &self.buf[..n])
            else {
                continue;
            };
            let input = Input::Receive(at, receive);
            if !self.rtc.accepts(&input) {
                continue;
            }
            self.rtc.handle_input(input)?;
            self.drain()?;
        }
    }

    /// Send one packet of our codec: `rtp_time` in its clock's units from the stream's
    /// start, `wallclock` the instant its audio stands for. Handed to the
    /// socket before this returns.
    pub fn write_audio(
        &mut self,
        wallclock: Instant,
        rtp_time: u64,
        data: &[u8],
    ) -> Result<(), PeerError> {
        let (Some(mid), Some(pt)) = (self.audio, self.pt) else {
            return Err(PeerError::NoCommonCodec(self.codec.name()));
        };
        let writer = self
            .rtc
            .writer(mid)
            .ok_or(PeerError::NoCommonCodec(self.codec.name()))?;
        let clock = match self.codec {
            PacketCodec::Opus => Frequency::FORTY_EIGHT_KHZ,
            PacketCodec::Pcmu => Frequency::EIGHT_KHZ,
        };
        let time = MediaTime::new(rtp_time, clock);
        writer.write(pt, wallclock, time, data)?;
        self.drain()
    }

    /// Send a message on the data channel; false if there is none open or
    /// it is full.
    pub fn send_channel(&mut self, binary: bool, data: &[u8]) -> Result<bool, PeerError> {
        let Some(id) = self.channel else {
            return Ok(false);
        };
        let Some(mut ch) = self.rtc.channel(id) else {
            return Ok(false);
        };
        let sent = ch.write(binary, data)?;
        self.drain()?;
        Ok(sent)
    }

    /// Events since the last call, oldest first.
    pub fn take_events(&mut self) -> impl Iterator<Item = PeerEvent> + '_ {
        self.events.drain(..)
    }

    /// Hang up as a browser does: an RTCP BYE and a DTLS close_notify
    /// leave at once, so the other side hears [`PeerEvent::Disconnected`]
    /// now, not after ICE's ~25 s of unanswered checks; then no more
    /// output or events.
    pub fn close(&mut self) {
        if self.rtc.close().is_ok() {
            // Best effort: a socket error here changes nothing for us.
            let _ = self.drain();
        }
        self.rtc.disconnect();
    }

    /// Drain str0m's output until its next timeout.
    fn drain(&mut self) -> Result<(), PeerError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return Ok(());
                }
                Output::Transmit(t) => match self.sender.send_to(&t.contents, t.destination) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.send_dropped += 1,
                    // The peer's port is gone: ICE will notice.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                    Err(e) => return Err(e.into()),
                },
                Output::Event(e) => self.event(e),
            }
        }
    }

    fn event(&mut self, e: Event) {
        let now = Instant::now;
        match e {
            Event::IceConnectionStateChange(state) => {
                self.ice = state;
                self.changed = true;
                if matches!(
                    state,
                    IceConnectionState::Connected | IceConnectionState::Completed
                ) && self.times.ice_connected.is_none()
                {
                    self.times.ice_connected = Some(now());
                }
                if state == IceConnectionState::Disconnected {
                    self.events.push_back(PeerEvent::Disconnected);
                }
            }
            Event::Connected => {
                self.changed = true;
                self.times.dtls_connected.get_or_insert_with(now);
            }
            Event::MediaAdded(m) if m.kind == MediaKind::Audio && self.audio.is_none() => {
                self.audio = Some(m.mid);
                // The answerer's codec: known once its m-line is.
                let _ = self.find_codec();
            }
            Event::MediaData(d) if Some(d.mid) == self.audio => {
                self.events.push_back(PeerEvent::Audio {
                    at: d.network_time,
                    rtp_time: d.time.numer(),
                    seq: **d.seq_range.start(),
                    data: d.data,
                });
            }
            Event::ChannelOpen(id, label) => {
                self.channel.get_or_insert(id);
                self.events.push_back(PeerEvent::ChannelOpen(label));
            }
            Event::ChannelData(d) => self.events.push_back(PeerEvent::ChannelData {
                at: now(),
                binary: d.binary,
                data: d.data,
            }),
            // The other side's close_notify (or SCTP shutdown): it hung up.
            Event::Closed => self.events.push_back(PeerEvent::Disconnected),
            _ => {}
        }
    }
}

/// Our offer, waiting for the peer's answer.
#[derive(Debug)]
pub struct PendingOffer(SdpPendingOffer);

fn ice_name(s: IceConnectionState) -> &'static str {
    match s {
        IceConnectionState::New => "new",
        IceConnectionState::Checking => "checking",
        IceConnectionState::Connected => "connected",
        IceConnectionState::Completed => "completed",
        IceConnectionState::Disconnected => "disconnected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_candidate_toward_a_local_agent_is_loopback() {
        let v4: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(
            local_ip_toward(v4).unwrap(),
            IpAddr::from(Ipv4Addr::LOCALHOST)
        );
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        assert_eq!(
            local_ip_toward(v6).unwrap(),
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        );
    }

    #[tokio::test]
    async fn a_peer_bound_to_an_address_offers_it() {
        let ip = IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
        let mut peer = Peer::bound(PacketCodec::Pcmu, ip).await.unwrap();
        assert_eq!(peer.local_addr().ip(), ip);
        let (sdp, _) = peer.offer(None).unwrap();
        assert!(sdp.contains("::1") && sdp.contains("PCMU/8000"), "{sdp}");
        assert!(!sdp.to_ascii_lowercase().contains("opus"), "{sdp}");
    }
}
