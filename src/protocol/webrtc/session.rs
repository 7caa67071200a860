//! One voice-agent conversation on one WebRTC call, in real time: the
//! transport loop around the conversation of [`crate::protocol::agent_call`]
//! (the same turns, barge-in and timestamps as on a WebSocket).
//!
//! The caller's side is one continuous stream of the call's codec (Opus
//! or PCMU): packet `k` leaves at
//! `origin + k × 20 ms` (absolute deadlines, met to the µs by the run's
//! pacer threads), carrying the current utterance's next packet or, between
//! utterances, a packet of low-level noise (a live microphone; a real
//! client never stops its track, and an agent's VAD needs the silence to
//! find the end of speech).
//!
//! The agent's side: every packet is stamped when its datagram was read,
//! decoded, and counts as the agent speaking only if its level reaches
//! [`RtcAgentTarget::audible_dbfs`]. Agents send Opus silence between
//! replies (Pipecat does), so the first *packet* is not the first audio a
//! caller hears; quiet packets are not agent messages, and a response is
//! over once the agent has been quiet for `response_idle`.
//!
//! Data-channel messages (if a channel is asked for) are read with the
//! target's message rules, as WebSocket text messages are; the caller's
//! messages (start, end of speech, barge-in) go out on it.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::header::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message;

use super::signal::{exchange, hang_up, Answer, Signal};
use super::stream::StreamMeter;
use crate::audio::opus::FRAME;
use crate::audio::packets::{PacketCodec, PacketDecoder, PacketTrack};
use crate::audio::track::TurnAudio;
use crate::protocol::agent_call::{
    AgentLine, Conversation, Flow, LinkTimes, Phase, State, TurnTimes,
};
use crate::protocol::target::{header_values, parse_http_uri, redact_url, TargetError};
use crate::protocol::trace::{Tracer, Verdict};
use crate::protocol::ws_agent::{AgentMessage, AgentTarget};
use crate::protocol::ws_agent_session::verdict;
use crate::protocol::ws_pacer::{Pacer, Progress};
use crate::protocol::{ErrorKind, HttpClient, ProtocolError};
use crate::rtc::{Peer, PeerError, PeerEvent, PeerTimes};

/// The default level at which a decoded agent packet counts as speech.
pub const DEFAULT_AUDIBLE_DBFS: f32 = -40.0;

/// A voice agent reached over WebRTC.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RtcAgentTarget {
    /// The conversation's settings and rules: `url` is the signalling
    /// endpoint (http/https), `headers` go with the offer, the timeouts
    /// and messages are as for a WebSocket agent (messages travel on the
    /// data channel). `agent.sample_rate` is the scripts' rate;
    /// `agent.agent_sample_rate` is `codec`'s.
    pub agent: AgentTarget,
    /// The audio codec both ways (`--codec opus|pcmu`).
    pub codec: PacketCodec,
    /// The offer/answer exchange.
    pub signal: Signal,
    /// The data channel to open with the offer, if any (OpenAI's
    /// `oai-events`).
    pub channel: Option<String>,
    /// A decoded agent packet at or above this level (dBFS, RMS) is the
    /// agent speaking; below it, silence.
    pub audible_dbfs: f32,
}

impl RtcAgentTarget {
    /// Check what a call needs: an http(s) signalling URL, an audible level
    /// that is a level.
    pub fn validate(&self) -> Result<(), TargetError> {
        parse_http_uri(&self.agent.url)?;
        if !(self.audible_dbfs.is_finite() && self.audible_dbfs < 0.0) {
            return Err(TargetError::BadLevel(self.audible_dbfs));
        }
        Ok(())
    }
}

/// A WebRTC voice-agent endpoint bound to the run's pacer and HTTP client.
#[derive(Debug, Clone)]
pub struct RtcAgent {
    target: RtcAgentTarget,
    /// The target's headers, parsed once.
    headers: Vec<(HeaderName, HeaderValue)>,
    pacer: Pacer,
    client: HttpClient,
    tracer: Tracer,
    /// Our host candidate's address, found once for the run (the route
    /// to the signalling host does not change between calls).
    candidate: Arc<tokio::sync::OnceCell<IpAddr>>,
    /// Hang-ups that failed in this run: the end of the run says so, as
    /// the server may hold (and bill) those calls until its own timeout.
    failed_hang_ups: Arc<FailedHangUps>,
}

/// A count and the first reason, shared by every call of a run.
#[derive(Debug, Default)]
struct FailedHangUps {
    count: std::sync::atomic::AtomicU64,
    first: std::sync::OnceLock<String>,
}

/// How a call was set up, on voxload's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallSetup {
    /// The offer went out.
    pub offer_sent: Option<Instant>,
    /// The answer had been read.
    pub answered: Option<Instant>,
    /// ICE and DTLS.
    pub peer: PeerTimes,
}

impl RtcAgent {
    /// Validate the target; `pacer` meets every call's packet deadlines,
    /// `client` carries the signalling.
    pub fn new(
        target: RtcAgentTarget,
        pacer: Pacer,
        client: HttpClient,
    ) -> Result<Self, TargetError> {
        target.validate()?;
        let headers = header_values(&target.agent.headers)?;
        Ok(Self {
            target,
            headers,
            pacer,
            client,
            tracer: Tracer::off(),
            candidate: Arc::default(),
            failed_hang_ups: Arc::default(),
        })
    }

    /// Record every call's signalling, set-up and messages in `tracer`
    /// (`voxload sample`): the data channel's messages one by one, the
    /// caller's packets as one line per utterance, the agent's first
    /// audible packet of each answer.
    pub fn traced(self, tracer: Tracer) -> Self {
        Self { tracer, ..self }
    }

    /// The validated target.
    pub fn target(&self) -> &RtcAgentTarget {
        &self.target
    }

    /// Place a call: offer, answer, ICE and DTLS, bounded by the connect
    /// timeout.
    pub async fn open(&self) -> Result<RtcCall, ProtocolError> {
        let t = &self.target;
        let mut setup = CallSetup::default();
        let give_up = Instant::now() + t.agent.connect_timeout;
        let peer_error = |e: PeerError| peer_failure(e, SETTING_UP);
        let trace = &self.tracer;
        trace.with(|tr| {
            let now = Instant::now();
            tr.start(now);
            let url = redact_url(&t.agent.url);
            tr.note(now, format!("offer ({}) to {url}", t.signal.name()));
        });
        // One budget for the whole set-up: what the lookup spends, the
        // offer cannot.
        let left = || give_up.saturating_duration_since(Instant::now());
        let ip = *self
            .candidate
            .get_or_try_init(|| candidate_ip(&t.agent.url, left()))
            .await?;
        let mut peer = Peer::bound(t.codec, ip)
            .await
            .map_err(peer_error)?
            .timed_by(Arc::new(self.pacer.clone()));
        let (offer, pending) = peer.offer(t.channel.as_deref()).map_err(peer_error)?;
        setup.offer_sent = Some(Instant::now());
        let answer = exchange(
            &self.client,
            t.signal,
            &t.agent.url,
            &self.headers,
            &offer,
            left(),
        )
        .await
        .map_err(|e| {
            trace.with(|tr| tr.note(Instant::now(), format!("offer failed: {e}")));
            ProtocolError::new(e.kind(), e.to_string())
        })?;
        setup.answered = Some(answer.at);
        trace.with(|tr| {
            tr.note(
                answer.at,
                format!("answer ({} bytes of SDP)", answer.sdp.len()),
            )
        });
        let connected = match peer.accept_answer(pending, &answer.sdp) {
            Ok(()) => peer.connect(left()).await,
            Err(e) => Err(e),
        };
        setup.peer = peer.times();
        trace.with(|tr| {
            if let Some(at) = setup.peer.ice_connected {
                tr.note(at, "ICE connected");
            }
            match (&connected, setup.peer.dtls_connected) {
                (Ok(()), Some(at)) => tr.note(at, "DTLS connected: media flows"),
                (Err(e), _) => tr.note(Instant::now(), format!("set-up failed: {e}")),
                (Ok(()), None) => {}
            }
        });
        if let Err(e) = connected {
            // The server holds a session for this answer: end it, or it
            // waits out its own timeout (OpenAI bills the call meanwhile).
            self.hang_up(&answer).await;
            return Err(peer_error(e));
        }
        Ok(RtcCall {
            peer,
            answer,
            setup,
        })
    }

    /// Hold the conversation `talk` on `call` (placed by [`RtcAgent::open`]),
    /// handing each turn's timestamps to `on_turn` as it ends, then hang up.
    pub async fn converse(
        &self,
        mut call: RtcCall,
        talk: Conversation<'_, Arc<PacketTrack>>,
        on_turn: impl FnMut(TurnTimes) + Send,
    ) {
        let t = &self.target;
        let trace = &self.tracer;
        converse(
            &mut call.peer,
            &call.setup,
            &self.pacer,
            t,
            talk,
            on_turn,
            trace,
        )
        .await;
        // The shape's hang-up request first (WHIP's DELETE, OpenAI's
        // POST), then the close_notify every agent hears.
        self.hang_up(&call.answer).await;
        call.peer.close();
        trace.with(|tr| tr.note(Instant::now(), "hung up"));
    }

    /// End the server's session for `answer`, best effort: a failed
    /// hang-up leaves the agent to time the call out, and what was
    /// measured stands. Traced and counted if it fails.
    async fn hang_up(&self, answer: &Answer) {
        let t = &self.target;
        let ended = hang_up(
            &self.client,
            answer,
            &t.agent.url,
            &self.headers,
            t.agent.connect_timeout,
        )
        .await;
        if let Err(e) = ended {
            let now = Instant::now();
            let f = &self.failed_hang_ups;
            f.count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = f.first.set(e.to_string());
            self.tracer.with(|tr| tr.note(now, format!("{e}")));
        }
    }
}

/// A connected call.
#[derive(Debug)]
pub struct RtcCall {
    peer: Peer,
    answer: Answer,
    /// How it was set up.
    pub setup: CallSetup,
}

impl AgentLine for RtcAgent {
    type Utterance = Arc<PacketTrack>;
    type Open = RtcCall;

    fn warnings(&self) -> Vec<String> {
        let f = &self.failed_hang_ups;
        let n = f.count.load(std::sync::atomic::Ordering::Relaxed);
        let Some(first) = f.first.get().filter(|_| n > 0) else {
            return Vec::new();
        };
        let calls = if n == 1 { "call" } else { "calls" };
        vec![format!(
            "{n} {calls} could not be hung up (the first: {first}); the server \
             may hold them until its own timeout"
        )]
    }

    fn agent(&self) -> &AgentTarget {
        &self.target.agent
    }

    /// Encoded once into 20 ms packets of the call's codec (Opus: a few
    /// hundred µs per packet).
    /// An Ogg Opus turn (kept as it is by the loader) goes out packet for
    /// packet instead.
    fn utterance(&self, audio: &TurnAudio) -> Result<Arc<PacketTrack>, ProtocolError> {
        let codec = self.target.codec;
        let audio = match audio {
            TurnAudio::OpusPackets(track) if codec == PacketCodec::Opus => return Ok(track.clone()),
            TurnAudio::OpusPackets(_) => {
                let why = format!("an Ogg Opus turn cannot go out as {}", codec.name());
                return Err(ProtocolError::new(ErrorKind::Decode, why));
            }
            TurnAudio::Samples(b) => b,
        };
        let pcm: Vec<i16> = audio
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        codec
            .encode(&pcm, self.target.agent.sample_rate)
            .map(Arc::new)
            .map_err(|e| {
                let why = format!("encoding a turn as {}: {e}", codec.name());
                ProtocolError::new(ErrorKind::Decode, why)
            })
    }

    fn open(&self) -> impl Future<Output = Result<RtcCall, ProtocolError>> + Send {
        RtcAgent::open(self)
    }

    fn converse<'a>(
        &'a self,
        call: RtcCall,
        talk: Conversation<'a, Arc<PacketTrack>>,
        on_turn: &'a mut (dyn FnMut(TurnTimes) + Send),
    ) -> impl Future<Output = ()> + Send + 'a {
        RtcAgent::converse(self, call, talk, on_turn)
    }
}

/// What a failure before media flows was in the middle of.
const SETTING_UP: &str = "setting up the call";

/// A peer failure as a run counts it. Before media flows, a socket or
/// str0m error (DTLS refusing the agent's certificate, say) is `connect`,
/// as a failed TLS handshake is; after, it is `reset`.
fn peer_failure(e: PeerError, while_: &str) -> ProtocolError {
    let setting_up = while_ == SETTING_UP;
    let kind = match &e {
        PeerError::ConnectTimeout(..) => ErrorKind::Timeout,
        PeerError::NoCommonCodec(_) | PeerError::BadSdp { .. } => ErrorKind::Decode,
        PeerError::Socket(_) | PeerError::Rtc(_) if setting_up => ErrorKind::Connect,
        PeerError::Disconnected | PeerError::Socket(_) | PeerError::Rtc(_) => ErrorKind::Reset,
    };
    ProtocolError::new(kind, format!("webrtc, {while_}: {e}"))
}

/// RMS level of 16-bit samples, dBFS (−∞ for silence).
pub fn level_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return f32::NEG_INFINITY;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / samples.len() as f64).sqrt() / 32_768.0;
    (20.0 * rms.log10()) as f32
}

/// What the caller is sending: an utterance's packets, or noise.
struct Sending<'a> {
    track: &'a PacketTrack,
    /// Next packet of `track` to send.
    next: usize,
    /// The utterance of this turn (None: noise, looped).
    turn: Option<usize>,
    progress: Progress,
}

/// Run one conversation on a connected call.
async fn converse(
    peer: &mut Peer,
    setup: &CallSetup,
    pacer: &Pacer,
    t: &RtcAgentTarget,
    talk: Conversation<'_, Arc<PacketTrack>>,
    on_turn: impl FnMut(TurnTimes),
    trace: &Tracer,
) {
    let a = &t.agent;
    let mut st = State::new(talk, a, on_turn);
    if talk.turns.is_empty() {
        return;
    }
    st.rate = (t.codec.rate(), crate::audio::rate::RateSource::Assumed);
    st.cur.link = Some(LinkTimes {
        offer_sent: setup.offer_sent,
        answered: setup.answered,
        ice_connected: setup.peer.ice_connected,
        dtls_connected: setup.peer.dtls_connected,
        ..LinkTimes::default()
    });
    let mut meter = StreamMeter::new(t.codec.rate());
    let mut decoder = match PacketDecoder::new(t.codec) {
        Ok(d) => d,
        Err(e) => {
            let e = ProtocolError::new(ErrorKind::Decode, format!("opus decoder: {e}"));
            st.fail(e, None);
            return;
        }
    };
    for start in &a.start_messages {
        st.outbox.push(a.fill(start, &st.session_id));
    }
    let origin = pacer.align(Instant::now() + FRAME);
    // Packets sent so far: packet k is due at origin + k × 20 ms.
    let mut k: u32 = 0;
    let mut sending: Option<Sending<'_>> = None;
    let mut pcm = Vec::with_capacity(2 * 960);
    let mut held: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    loop {
        if st.phase == Phase::Speaking
            && sending.as_ref().and_then(|s| s.turn) != Some(st.cur.index)
        {
            sending = Some(Sending {
                track: &talk.turns[st.cur.index],
                next: 0,
                turn: Some(st.cur.index),
                progress: Progress::default(),
            });
        }
        let due = origin + FRAME * k;
        let wake = st.next_deadline(a).map_or(due, |d| d.min(due));
        let flow = match peer.pump_until(wake, true).await {
            Err(e) => {
                st.fail(peer_failure(e, "during the call"), None);
                return;
            }
            Ok(()) => {
                let mut rx = Receiver {
                    decoder: &mut decoder,
                    pcm: &mut pcm,
                    meter: &mut meter,
                };
                heard(&mut st, peer, &mut rx, t, &sending, trace)
            }
        };
        if flow != Flow::Go {
            return;
        }
        let mut flow = Flow::Go;
        let now = Instant::now();
        if now >= due {
            // The packet due (one per wake-up: a late one does not move the next deadline).
            let noise = &talk.noise;
            let s = sending.get_or_insert_with(|| Sending {
                track: noise,
                next: 0,
                turn: None,
                progress: Progress::default(),
            });
            let Some(packet) = s.track.packets.get(s.next) else {
                // An empty track: nothing to send this slot.
                k += 1;
                continue;
            };
            let rtp = u64::from(k) * t.codec.frame_ticks();
            if let Err(e) = peer.write_audio(due, rtp, &packet.data) {
                st.fail(peer_failure(e, "sending audio"), None);
                return;
            }
            let sent = Instant::now();
            st.lags
                .push(sent.saturating_duration_since(due).as_micros() as u32);
            s.next += 1;
            k += 1;
            if s.turn.is_some() {
                s.progress.first.get_or_insert(sent);
                s.progress.last = Some(sent);
                s.progress.frames += 1;
                if s.next == s.track.packets.len() {
                    let p = s.progress;
                    trace.with(|tr| {
                        let one = s.track.packets.first().map(|p| p.data.to_vec());
                        let sample = Message::binary(one.unwrap_or_default());
                        tr.frames(p.first.unwrap_or(sent), p.last, p.frames, &sample);
                    });
                    st.on_played(p, sent, a);
                    sending = None;
                }
            } else if s.next == s.track.packets.len() {
                s.next = 0;
            }
        }
        if let Some(at) = st.next_deadline(a).filter(|&d| Instant::now() >= d) {
            flow = Flow::after(st.on_time(at.max(now), a));
        }
        if t.channel.is_some() {
            // Held, in order, until the channel is open (it opens after
            // DTLS, often after the call's first packets) and has room.
            held.extend(std::mem::take(&mut st.outbox));
        } else {
            // No channel: the messages have nowhere to go.
            st.outbox.clear();
        }
        if flow == Flow::Go {
            while let Some(text) = held.front() {
                match peer.send_channel(false, text.as_bytes()) {
                    Ok(true) => {
                        trace.with(|tr| tr.sent(Instant::now(), &Message::text(text.as_str())));
                        held.pop_front();
                    }
                    Ok(false) => break,
                    Err(e) => {
                        st.fail(peer_failure(e, "sending a message"), None);
                        return;
                    }
                }
            }
        }
        if flow != Flow::Go {
            return;
        }
    }
}

/// The address of our host candidate for an agent signalled at `url`: the
/// interface that routes to the signalling host (127.0.0.1 for a local
/// agent), the host looked up within `timeout`. v1 assumes the media comes
/// from where the signalling is (true of Pipecat's runner, WHIP servers
/// and OpenAI's edge in practice); an agent behind NAT still reaches us by
/// a peer-reflexive candidate.
async fn candidate_ip(url: &str, timeout: Duration) -> Result<IpAddr, ProtocolError> {
    let connect = |why: String| ProtocolError::new(ErrorKind::Connect, why);
    let uri = parse_http_uri(url).map_err(|e| connect(e.to_string()))?;
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let shown = redact_url(url);
    let unresolved = |why: String| connect(format!("cannot resolve the host of {shown}: {why}"));
    let addrs = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| unresolved(format!("no answer within {timeout:?}")))?
        .map_err(|e| unresolved(e.to_string()))?;
    let mut last = None;
    for remote in ipv4_first(addrs) {
        match crate::rtc::local_ip_toward(remote) {
            Ok(ip) => return Ok(ip),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => connect(format!("no route to the signalling host of {shown}: {e}")),
        None => unresolved("no address".into()),
    })
}

/// The addresses to route toward, IPv4 ones first, as agents often listen
/// on IPv4 only (aiortc, Pipecat's runner) while `localhost` may resolve to
/// ::1 first; the rest stay, so an IPv6-only host (or one whose IPv4
/// address has no route from here) is still reached.
fn ipv4_first(addrs: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = addrs.into_iter().collect();
    addrs.sort_by_key(|a| !a.is_ipv4());
    addrs
}

/// The receiving side of a call: its decoder, a buffer, the stream's meter.
struct Receiver<'r> {
    decoder: &'r mut PacketDecoder,
    pcm: &'r mut Vec<i16>,
    meter: &'r mut StreamMeter,
}

/// Everything the peer reported since the last call: agent packets (the
/// audible ones are the agent's audio), data-channel messages, a hang-up.
fn heard<F: FnMut(TurnTimes)>(
    st: &mut State<'_, Arc<PacketTrack>, F>,
    peer: &mut Peer,
    rx: &mut Receiver<'_>,
    t: &RtcAgentTarget,
    sending: &Option<Sending<'_>>,
    trace: &Tracer,
) -> Flow {
    let a = &t.agent;
    let onset = sending
        .as_ref()
        .filter(|s| s.turn.is_some())
        .and_then(|s| s.progress.first);
    for event in peer.take_events().collect::<Vec<_>>() {
        let flow = match event {
            PeerEvent::Audio {
                at,
                rtp_time,
                seq,
                data,
            } => {
                rx.meter.packet(at, rtp_time, seq);
                let waiting = st.phase == Phase::Waiting && st.barged.is_none();
                let link = st.cur.link.get_or_insert_with(LinkTimes::default);
                link.jitter_us = rx.meter.jitter_us();
                link.loss = rx.meter.loss();
                if waiting {
                    link.first_packet.get_or_insert(at);
                }
                rx.pcm.clear();
                if rx.decoder.decode(&data, rx.pcm).is_err() {
                    // A packet that does not decode is not the agent speaking.
                    continue;
                }
                if level_dbfs(rx.pcm) < t.audible_dbfs {
                    continue;
                }
                st.interruption_onset(|| onset);
                let bytes = rx.pcm.len() * 2;
                if waiting && st.cur.first_audio.is_none() {
                    // One line per answer: its first audible packet.
                    trace.with(|tr| {
                        let msg = Message::binary(data.to_vec());
                        tr.received(at, &msg, Verdict::Audio(bytes));
                    });
                }
                Flow::after(st.on_message(AgentMessage::Audio(bytes), None, None, at, a))
            }
            PeerEvent::ChannelData { at, data, .. } => {
                let text = String::from_utf8_lossy(&data);
                let msg = || Message::text(text.as_ref());
                match a.rules.read_text(&text) {
                    Ok(c) => {
                        trace.with(|tr| {
                            let msg = msg();
                            let verdict = verdict(c.message, c.text.as_deref(), &msg, a);
                            tr.received_aside(at, &msg, verdict, st.not_counted(c.message));
                        });
                        st.interruption_onset(|| onset);
                        Flow::after(st.on_message(c.message, c.item_id, c.text, at, a))
                    }
                    Err(e) => {
                        trace.with(|tr| tr.received(at, &msg(), Verdict::Failed(e.detail.clone())));
                        st.fail(e, None);
                        Flow::Close
                    }
                }
            }
            PeerEvent::Disconnected => {
                trace.with(|tr| tr.note(Instant::now(), "the agent hung up"));
                let e =
                    ProtocolError::new(ErrorKind::Reset, "the agent hung up (peer disconnected)");
                st.fail(e, None);
                Flow::Stop
            }
            PeerEvent::ChannelOpen(label) => {
                trace.with(|tr| tr.note(Instant::now(), format!("data channel '{label}' open")));
                Flow::Go
            }
        };
        if flow != Flow::Go {
            return flow;
        }
    }
    Flow::Go
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_candidate_routes_toward_ipv4_first_and_keeps_the_rest() {
        let v6: SocketAddr = "[::1]:8080".parse().expect("v6");
        let v6b: SocketAddr = "[::2]:8080".parse().expect("v6");
        let v4: SocketAddr = "127.0.0.1:8080".parse().expect("v4");
        let v4b: SocketAddr = "127.0.0.2:8080".parse().expect("v4");
        assert_eq!(ipv4_first([v6, v4, v6b, v4b]), [v4, v4b, v6, v6b]);
        assert_eq!(ipv4_first([v4, v6]), [v4, v6]);
        assert_eq!(ipv4_first([v6]), [v6]);
        assert!(ipv4_first([]).is_empty());
    }

    #[tokio::test]
    async fn localhost_gives_a_loopback_candidate_and_bad_hosts_say_why() {
        let ip = candidate_ip("http://localhost:7/api/offer", Duration::from_secs(5))
            .await
            .expect("localhost resolves");
        assert_eq!(ip, IpAddr::from([127, 0, 0, 1]), "IPv4 first");
        let e = candidate_ip(
            "http://no-such-host.invalid/api/offer?token=sk-1",
            Duration::from_secs(2),
        )
        .await
        .expect_err("nothing resolves .invalid");
        assert_eq!(e.kind, ErrorKind::Connect);
        assert!(e.detail.contains("no-such-host.invalid"), "{}", e.detail);
        assert!(!e.detail.contains("sk-1"), "redacted: {}", e.detail);
    }

    #[test]
    fn levels_in_dbfs() {
        assert_eq!(level_dbfs(&[]), f32::NEG_INFINITY);
        assert_eq!(level_dbfs(&[0; 960]), f32::NEG_INFINITY);
        // Full-scale square wave: 0 dBFS.
        let full: Vec<i16> = (0..960)
            .map(|i| if i % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        assert!(level_dbfs(&full).abs() < 0.01);
        // Amplitude 328 (1 % of full scale): −40 dBFS.
        let quiet: Vec<i16> = (0..960)
            .map(|i| if i % 2 == 0 { 328 } else { -328 })
            .collect();
        assert!(
            (level_dbfs(&quiet) + 40.0).abs() < 0.05,
            "{}",
            level_dbfs(&quiet)
        );
    }
}
