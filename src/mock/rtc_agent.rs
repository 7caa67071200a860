//! A voice agent over WebRTC: the ground-truth fixture for
//! `voxload agent --transport webrtc`, the same agent model
//! ([`AgentModel`]) and truth ([`AgentTurnTruth`]) as the WebSocket agent
//! (`ws_agent`), on a str0m answerer ([`Peer`]) per call.
//!
//! Message flow of one call:
//!
//! 1. signalling (`rtc_signal`): the caller's offer arrives by
//!    `POST /api/offer` (Pipecat) or `POST /whip` (WHIP); the mock answers
//!    it from a fresh loopback UDP socket and spawns the call's task;
//! 2. ICE + DTLS: the caller connects to that socket (at most
//!    [`CONNECT`]); from then on the agent sends one Opus packet of
//!    silence every 20 ms, as Pipecat does, so the caller's first *packet*
//!    is not the agent's first *audio*;
//! 3. caller audio: one Opus stream (utterances, and low-level noise
//!    between them). Every packet is decoded, and is speech when its RMS
//!    exceeds `speech_rms` (16-bit units, as on the WebSocket). End of
//!    speech `d` is the arrival of the packet that completes `vad_silence`
//!    of consecutive non-speech audio (counted in decoded samples, not
//!    wall time) after at least one speech packet;
//! 4. the reply: packet *i* of the reply (the WebSocket agent's response
//!    audio, rendered at 48 kHz, encoded once per server: `rtc_reply`) is
//!    due at `d + response_delay + i × 20 ms / speed` (with `burst`, all at
//!    `d + response_delay`); silence packets stop while it plays and
//!    resume 20 ms after its last packet's deadline. RTP timestamps run on
//!    by 960 (20 ms at 48 kHz) per packet sent, silence or reply, so the
//!    agent's stream is one continuous track;
//! 5. barge-in: a caller speech packet arriving while the agent speaks
//!    (from `d` until the reply's last packet; with `burst`, until it would
//!    have finished playing: first packet + `response_audio`) is the
//!    onset; `barge_stop_delay` later no further reply packet is sent (the
//!    silence resumes). An end of speech detected while the agent still
//!    speaks stops it at once. The stop is in the truth's
//!    `audio_stopped_us` (OpenAI calls also say it on the data channel:
//!    `rtc_events`);
//! 6. the call ends when the caller goes away (its DTLS close_notify, ICE
//!    disconnects, or no caller packet for [`CALLER_IDLE`]), on a WHIP
//!    `DELETE`, at the server's shutdown, or at [`CALL_LIFE`] (a bound: no call task lives
//!    forever).
//!
//! Faults (one seeded draw per turn, as on the WebSocket): `silent` never
//! answers the turn; `close` hangs up at `d + response_delay` without a
//! word of the reply (a DTLS close_notify, as an agent hanging up sends); `malformed` and `huge_message` have no transcript message to
//! corrupt on this transport, so they are recorded and the turn is
//! answered normally. There is no transcript (`transcribe` is not used).
//!
//! Clocks: one, this process's monotonic clock (`Instant`), which is what
//! the [`Peer`] stamps every datagram with as it is read and what
//! `Shared::started` is. The truth's `*_us` are µs from the server's start
//! on it: `speech_end_us` and `last_speech_us` are packet arrivals (the
//! datagram read), `first_audio_due_us` the first reply packet's deadline,
//! `first_audio_us` / `last_audio_us` the instants a reply packet was
//! handed to the socket (after its deadline, by the timer's lateness:
//! tokio's 1 ms timer, 0–2 ms), `barge_in_us` the onset packet's arrival
//! and `audio_stopped_us` the stop (at `barge_in_us + barge_stop_delay`,
//! late by the timer). A caller sees each packet later by at least the
//! loopback time, as with the WebSocket agent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::agent_model::AgentModel;
use super::agent_truth::{
    AgentEnd, AgentFaultKind, AgentSessionTruth, AgentTurnTruth, EndOfSpeech, RealtimeTruth,
    RtcTruth,
};
use super::agent_turn::draw_fault;
use super::rtc_events::RtcEvents;
use super::rtc_reply::RtcReply;
use super::rtc_signal::{Admitted, Signal};
use super::{micros, Shared};
use crate::audio::opus::{OpusStreamDecoder, FRAME, FRAME_SAMPLES, OPUS_RATE};
use crate::rtc::{Peer, PeerError, PeerEvent};

/// Longest the caller may take to finish ICE + DTLS after the answer.
pub(crate) const CONNECT: Duration = Duration::from_secs(10);

/// A caller's stream never pauses (voxload sends noise between
/// utterances, as a live microphone would), so this long without a caller
/// packet means the caller is gone: str0m's ICE would take ~25 s of
/// unanswered checks to say so, and a caller that crashed sends no
/// close_notify.
pub(crate) const CALLER_IDLE: Duration = Duration::from_secs(3);

/// Longest a call lives, from its offer: generous for any test or demo,
/// and a bound on a call whose caller vanished without ICE noticing.
pub(crate) const CALL_LIFE: Duration = Duration::from_secs(600);

/// Energy end-of-speech state of the current utterance.
#[derive(Default)]
struct Vad {
    /// A speech packet arrived since the last end of speech.
    speech_seen: bool,
    /// Consecutive non-speech samples (48 kHz) since the last speech packet.
    silence: u64,
    last_speech: Option<Instant>,
}

/// The turn being answered.
struct Turn {
    rec: AgentTurnTruth,
    /// `d + response_delay`: reply packet 0's deadline.
    first: Instant,
    /// The next reply packet to send.
    next: usize,
    /// Reply packets are still to be sent (from `d` on).
    responding: bool,
    first_sent: Option<Instant>,
    /// `burst`: the reply plays at the caller until this instant.
    playing_until: Option<Instant>,
    /// Barge-in onset + `barge_stop_delay`.
    stop_at: Option<Instant>,
}

impl Turn {
    /// Caller speech now is a barge-in.
    fn speaking(&self) -> bool {
        self.responding || self.playing_until.is_some()
    }

    /// The `close` fault's instant, while it is pending.
    fn close_at(&self) -> Option<Instant> {
        (self.responding && self.rec.fault == Some(AgentFaultKind::Close)).then_some(self.first)
    }
}

/// What the next packet out is.
#[derive(Clone, Copy)]
enum Packet {
    Reply(usize),
    Silence,
}

/// One call's agent, driven by one task ([`Call::run`]).
pub(crate) struct Call {
    shared: Arc<Shared>,
    id: u64,
    reply: Arc<RtcReply>,
    /// The offer arrived.
    accepted: Instant,
    truth: RtcTruth,
    pcm: Vec<i16>,
    /// Caller samples decoded (48 kHz).
    samples: u64,
    vad: Vad,
    turns: u64,
    turn: Option<Turn>,
    /// The next silence packet's deadline (when no reply is playing).
    next_silence: Instant,
    /// The next packet's RTP timestamp (48 kHz units).
    rtp: u64,
    /// The last caller packet arrived (or the call connected).
    last_heard: Instant,
    /// OpenAI calls: the Realtime events on the data channel.
    events: Option<RtcEvents>,
    /// The answer whose `output_audio_buffer.stopped` goes out with the
    /// next silence packet (when its last packet has played).
    played: Option<u64>,
}

impl Call {
    pub(crate) fn new(
        shared: Arc<Shared>,
        id: u64,
        signal: Signal,
        reply: Arc<RtcReply>,
        accepted: tokio::time::Instant,
    ) -> Self {
        let accepted = accepted.into_std();
        Self {
            shared,
            id,
            reply,
            accepted,
            truth: RtcTruth {
                signal: signal.name().into(),
                ..RtcTruth::default()
            },
            pcm: Vec::with_capacity(2 * FRAME_SAMPLES),
            samples: 0,
            vad: Vad::default(),
            turns: 0,
            turn: None,
            next_silence: accepted,
            rtp: 0,
            last_heard: accepted,
            events: (signal == Signal::OpenAi).then(|| RtcEvents::new(id)),
            played: None,
        }
    }

    /// Run the call until it ends (see the module doc), then log its truth.
    pub(crate) async fn run(
        mut self,
        mut peer: Peer,
        hang_up: CancellationToken,
        admitted: Admitted,
    ) {
        // `serve` holds no state across an await that a cancel could tear:
        // every update between awaits is synchronous.
        let served = tokio::select! {
            biased;
            () = hang_up.cancelled() => None,
            end = self.serve(&mut peer) => Some(end),
        };
        // A DELETE that came while `serve` was mid-poll ended the call even
        // if that poll went on to read the caller's close (which follows
        // the DELETE's answer): the hang-up came first.
        let end = match served {
            Some(end) if !hang_up.is_cancelled() => end,
            _ if self.shared.shutdown.is_cancelled() => AgentEnd::Shutdown,
            _ => AgentEnd::Deleted,
        };
        peer.close();
        if let Some(e) = &self.events {
            self.truth.events_sent = e.sent;
            self.truth.events_unsent = e.unsent + e.waiting();
        }
        let now = Instant::now();
        let s = AgentSessionTruth {
            id: self.id,
            accepted_us: self.us(self.accepted),
            ended_us: self.us(now),
            frames: self.truth.packets_received,
            caller_audio_us: micros(Duration::from_secs_f64(
                self.samples as f64 / f64::from(OPUS_RATE),
            )),
            turns: self.turns,
            end,
            realtime: self.events.as_ref().map(|e| RealtimeTruth {
                dialect: "ga".into(),
                updates: e.updates,
                ..RealtimeTruth::default()
            }),
            rtc: Some(std::mem::take(&mut self.truth)),
        };
        {
            let mut st = self.shared.lock();
            if let Some(t) = self.turn.take() {
                st.agent_truth.finish_turn(t.rec);
            }
            st.agent_truth.finish_session(s);
        }
        drop(admitted);
    }

    async fn serve(&mut self, peer: &mut Peer) -> AgentEnd {
        let give_up = self.accepted + CALL_LIFE;
        let Ok(mut decoder) = OpusStreamDecoder::new() else {
            return AgentEnd::Error;
        };
        match peer.connect(CONNECT).await {
            Ok(()) => {}
            Err(PeerError::ConnectTimeout(..)) => return AgentEnd::TimedOut,
            Err(PeerError::Disconnected) => return AgentEnd::ClientClosed,
            Err(_) => return AgentEnd::Error,
        }
        let now = Instant::now();
        let connected = peer.times().dtls_connected.unwrap_or(now);
        self.truth.connected_us = Some(self.us(connected));
        self.next_silence = now;
        self.last_heard = now;
        loop {
            let wake = self
                .next_due()
                .min(give_up)
                .min(self.last_heard + CALLER_IDLE);
            if let Err(e) = peer.pump_until(wake, true).await {
                self.truth.datagrams_dropped = peer.send_dropped();
                return match e {
                    PeerError::Disconnected => AgentEnd::ClientClosed,
                    _ => AgentEnd::Error,
                };
            }
            for event in peer.take_events() {
                match event {
                    PeerEvent::Audio { at, data, .. } => self.heard(&mut decoder, at, &data),
                    PeerEvent::Disconnected => return AgentEnd::ClientClosed,
                    PeerEvent::ChannelOpen(_) => {
                        if let Some(e) = self.events.as_mut() {
                            e.opened();
                        }
                    }
                    PeerEvent::ChannelData { data, .. } => {
                        if let Some(e) = self.events.as_mut() {
                            e.client(&String::from_utf8_lossy(&data));
                        }
                    }
                }
            }
            let fired = self.fire(peer);
            if let Some(e) = self.events.as_mut() {
                e.flush(peer);
                self.truth.events_sent = e.sent;
                self.truth.events_unsent = e.unsent;
            }
            self.truth.datagrams_dropped = peer.send_dropped();
            if let Some(end) = fired {
                return end;
            }
            let now = Instant::now();
            if now >= self.last_heard + CALLER_IDLE {
                return AgentEnd::ClientClosed;
            }
            if now >= give_up {
                return AgentEnd::TimedOut;
            }
        }
    }

    /// `at` in µs since the server started: the agent truth's clock.
    fn us(&self, at: Instant) -> u64 {
        micros(at.saturating_duration_since(self.shared.started.into_std()))
    }

    fn model(&self) -> &AgentModel {
        &self.shared.model.agent
    }

    /// The next packet out and its deadline: the reply's next packet once
    /// it is due no later than the next silence packet, else silence.
    fn next_packet(&self) -> (Instant, Packet) {
        let playing = self
            .turn
            .as_ref()
            .filter(|t| t.responding && t.rec.fault != Some(AgentFaultKind::Close));
        if let Some(t) = playing {
            let due = t.first + RtcReply::offset(self.model(), t.next);
            if t.next > 0 || due <= self.next_silence {
                return (due, Packet::Reply(t.next));
            }
        }
        (self.next_silence, Packet::Silence)
    }

    /// The earliest deadline: a packet, a barge-in stop, the end of a
    /// `burst` answer's playing, the `close` fault.
    fn next_due(&self) -> Instant {
        let (mut due, _) = self.next_packet();
        if let Some(t) = &self.turn {
            for at in [t.stop_at, t.playing_until, t.close_at()]
                .into_iter()
                .flatten()
            {
                due = due.min(at);
            }
        }
        due
    }

    /// Do everything due by now, in deadline order per kind (a stop before
    /// the packet it stops); `Some` when the call must end.
    fn fire(&mut self, peer: &mut Peer) -> Option<AgentEnd> {
        // Bounded: every pass sends a packet, whose successor's deadline is
        // later (silence) or whose reply has one packet fewer to go.
        loop {
            let now = Instant::now();
            let stopped = self.us(now);
            if let Some(t) = self.turn.as_mut() {
                if t.stop_at.is_some_and(|at| at <= now) {
                    if t.responding {
                        t.rec.audio_stopped_us = Some(stopped);
                        if let Some(e) = self.events.as_mut() {
                            e.cancelled(t.rec.turn);
                        }
                    } else if let (Some(_), Some(e)) = (t.playing_until, self.events.as_mut()) {
                        e.cleared(t.rec.turn);
                    }
                    t.responding = false;
                    t.playing_until = None;
                    t.stop_at = None;
                }
                if t.playing_until.is_some_and(|at| at <= now) {
                    // A burst has now played at the caller: the buffer
                    // stops here, not when its packets were all sent.
                    t.playing_until = None;
                    t.stop_at = None;
                    if self.events.is_some() {
                        self.played = Some(t.rec.turn);
                    }
                }
                if t.close_at().is_some_and(|at| at <= now) {
                    return Some(AgentEnd::FaultClose);
                }
            }
            self.finish_if_done();
            let (due, packet) = self.next_packet();
            if due > now {
                return None;
            }
            self.send(peer, due, packet);
        }
    }

    /// Send `packet` (due at `due`) and record it.
    fn send(&mut self, peer: &mut Peer, due: Instant, packet: Packet) {
        let data = match packet {
            Packet::Reply(i) => self.reply.packets.get(i),
            Packet::Silence => Some(&self.reply.silence),
        };
        let written = data.is_some_and(|d| peer.write_audio(due, self.rtp, d).is_ok());
        let sent = Instant::now();
        let sent_us = self.us(sent);
        // The timestamp runs on over an unsent packet too: a gap, as a
        // lost packet would leave.
        self.rtp += FRAME_SAMPLES as u64;
        self.next_silence = due + FRAME;
        if !written {
            self.truth.unsent += 1;
        }
        let Packet::Reply(i) = packet else {
            self.truth.silence_packets += u64::from(written);
            if let (Some(turn), Some(e)) = (self.played.take(), self.events.as_mut()) {
                e.played(turn);
            }
            return;
        };
        let (n, burst, audio) = (
            self.reply.packets.len(),
            self.model().burst,
            self.model().response_audio,
        );
        let played = self.reply.audio_in(i + 1);
        let Some(t) = self.turn.as_mut() else {
            return;
        };
        t.next = i + 1;
        if written {
            self.truth.reply_packets += 1;
            if t.first_sent.is_none() {
                if let Some(e) = self.events.as_mut() {
                    e.playing(t.rec.turn, &self.reply.text);
                }
            }
            t.first_sent.get_or_insert(sent);
            t.rec.first_audio_us.get_or_insert(sent_us);
            t.rec.last_audio_us = Some(sent_us);
            t.rec.chunks += 1;
            t.rec.audio_us = micros(played);
        }
        if t.next >= n {
            t.responding = false;
            t.rec.response_end_us = Some(sent_us);
            if let Some(e) = self.events.as_mut() {
                t.rec.response_status = Some(e.generated(t.rec.turn).into());
                if !burst {
                    self.played = Some(t.rec.turn);
                }
            }
            if burst {
                let until = t.first_sent.unwrap_or(sent) + audio;
                t.playing_until = Some(until);
                t.rec.speaking_until_us = Some(micros(
                    until.saturating_duration_since(self.shared.started.into_std()),
                ));
            } else {
                t.stop_at = None;
            }
        }
    }

    /// Log the turn once the agent is done speaking it.
    fn finish_if_done(&mut self) {
        if self.turn.as_ref().is_some_and(|t| !t.speaking()) {
            if let Some(t) = self.turn.take() {
                self.shared.lock().agent_truth.finish_turn(t.rec);
            }
        }
    }

    /// A caller packet arrived at `at`: decode it, and run the energy VAD.
    fn heard(&mut self, decoder: &mut OpusStreamDecoder, at: Instant, data: &[u8]) {
        self.truth.packets_received += 1;
        self.last_heard = self.last_heard.max(at);
        self.pcm.clear();
        if decoder.decode(data, &mut self.pcm).is_err() {
            // Not audio we can read: neither speech nor silence.
            self.truth.undecodable += 1;
            return;
        }
        let n = self.pcm.len() as u64;
        self.samples += n;
        let (speech_rms, barge_stop, vad_silence) = {
            let m = self.model();
            (m.speech_rms, m.barge_stop_delay, m.vad_silence)
        };
        if is_speech(&self.pcm, speech_rms) {
            if !self.vad.speech_seen {
                let audio_ms = self.samples * 1_000 / u64::from(OPUS_RATE);
                if let Some(e) = self.events.as_mut() {
                    e.speech_started(self.turns, audio_ms);
                }
            }
            self.vad = Vad {
                speech_seen: true,
                silence: 0,
                last_speech: Some(at),
            };
            let onset = self.us(at);
            if let Some(t) = self.turn.as_mut() {
                if t.speaking() && t.rec.barge_in_us.is_none() {
                    t.rec.barge_in_us = Some(onset);
                    t.stop_at = Some(at + barge_stop);
                }
            }
            return;
        }
        if self.vad.speech_seen {
            self.vad.silence += n;
            let window = crate::audio::generate::samples_in(vad_silence, OPUS_RATE);
            if self.vad.silence >= window as u64 {
                self.end_of_speech(at);
            }
        }
    }

    /// End of the caller's utterance detected at `at`: start a turn.
    fn end_of_speech(&mut self, at: Instant) {
        let at_us = self.us(at);
        if let Some(mut old) = self.turn.take() {
            // A new utterance ended over a reply still going: it stops now.
            if old.speaking() {
                old.rec.barge_in_us.get_or_insert(at_us);
                if old.responding {
                    old.rec.audio_stopped_us = Some(at_us);
                    if let Some(e) = self.events.as_mut() {
                        e.cancelled(old.rec.turn);
                    }
                } else if let Some(e) = self.events.as_mut() {
                    // Speaking, not responding: a burst still playing.
                    e.cleared(old.rec.turn);
                }
            }
            self.shared.lock().agent_truth.finish_turn(old.rec);
        }
        let fault = draw_fault(&self.shared);
        let vad = std::mem::take(&mut self.vad);
        if let Some(e) = self.events.as_mut() {
            e.detected(self.turns, self.samples * 1_000 / u64::from(OPUS_RATE));
        }
        let first = at + self.model().response_delay;
        let last_speech = vad.last_speech.map(|t| self.us(t));
        let rec = AgentTurnTruth {
            first_audio_due_us: Some(self.us(first)),
            ..AgentTurnTruth::detected(
                self.id,
                self.turns,
                last_speech,
                at_us,
                EndOfSpeech::Energy,
                fault,
            )
        };
        self.turns += 1;
        if fault == Some(AgentFaultKind::Silent) {
            self.shared.lock().agent_truth.finish_turn(rec);
            return;
        }
        self.turn = Some(Turn {
            rec,
            first,
            next: 0,
            responding: true,
            first_sent: None,
            playing_until: None,
            stop_at: None,
        });
    }
}

/// RMS of `pcm` above `threshold` (compared squared: no sqrt).
fn is_speech(pcm: &[i16], threshold: f64) -> bool {
    if pcm.is_empty() {
        return false;
    }
    let sum: f64 = pcm.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    sum > threshold * threshold * pcm.len() as f64
}
