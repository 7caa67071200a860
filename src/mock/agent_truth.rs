//! What the mock voice agent actually did, served as `agent` inside
//! `GET /mock/truth`.
//!
//! Every `*_us` field is microseconds from the server's start (the same
//! clock for every session and turn), taken when the agent saw a message
//! arrive (the frame was read) or handed one to the WebSocket (flushed), so
//! a client sees each event later by at least the loopback time.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::RECENT_CAPACITY;

/// Agent counters and bounded logs of recent sessions and turns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentTruth {
    /// Upgrade requests received on `/v1/agent`.
    pub sessions: u64,
    /// Sessions accepted over `max_sessions` and closed at once with 1013.
    pub rejected_over_capacity: u64,
    /// Sessions open now (within capacity).
    pub active_now: u64,
    /// Most sessions open at once (within capacity).
    pub max_concurrent: u64,
    /// Turns finished (answered, interrupted, faulted or cut by the session's end).
    pub turns: u64,
    /// Responses that ended with `response_end`.
    pub responses_completed: u64,
    /// Responses stopped by barge-in (`interrupted` sent).
    pub interrupted: u64,
    /// Faults applied, by kind.
    pub faults: BTreeMap<AgentFaultKind, u64>,
    /// The last [`RECENT_CAPACITY`] finished sessions, oldest first.
    pub recent_sessions: Vec<AgentSessionTruth>,
    /// The last [`RECENT_CAPACITY`] finished turns of any session (a turn is
    /// logged when it ends, while its session may still be open), oldest first.
    pub recent_turns: Vec<AgentTurnTruth>,
}

/// A fault applied to one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentFaultKind {
    /// TCP connection dropped without a close frame when the response would start.
    Close,
    /// The turn was never answered.
    Silent,
    /// `this is not json` sent instead of the transcript.
    Malformed,
    /// A 16 MiB + 1 byte message sent instead of the transcript.
    HugeMessage,
}

/// How the end of a caller's speech was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndOfSpeech {
    /// The client's `{"type":"end_of_speech"}` arrived.
    Explicit,
    /// `vad_silence` of non-speech audio followed a speech frame.
    Energy,
}

/// How an agent session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentEnd {
    /// The client closed (close frame or EOF; WebRTC: its DTLS
    /// close_notify, ICE disconnected, or its packets stopped for 3 s).
    ClientClosed,
    /// The `close` fault dropped the connection.
    FaultClose,
    /// A socket error.
    Error,
    /// The server shut down.
    Shutdown,
    /// WebRTC over WHIP: the client `DELETE`d its session resource.
    Deleted,
    /// WebRTC: the caller never finished ICE + DTLS, or the call reached
    /// the mock's lifetime cap (a bound, so no call task lives forever).
    TimedOut,
}

/// One finished session (within capacity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSessionTruth {
    /// Session id (shares the id counter with the other endpoints).
    pub id: u64,
    /// The WebSocket upgrade was accepted.
    pub accepted_us: u64,
    /// The session ended.
    pub ended_us: u64,
    /// Caller audio messages received (binary or JSON `audio`).
    pub frames: u64,
    /// Caller audio received (samples at 16 kHz).
    pub caller_audio_us: u64,
    /// Turns (ends of speech detected).
    pub turns: u64,
    /// How the session ended.
    pub end: AgentEnd,
    /// `/v1/realtime` sessions: what the client asked of the realtime API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime: Option<RealtimeTruth>,
    /// WebRTC calls (`/api/offer`, `/whip`): the call's packet counts.
    /// For these, `accepted_us` is the offer answered, `frames` the caller's
    /// Opus packets received and `caller_audio_us` their decoded audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtc: Option<RtcTruth>,
}

/// What one WebRTC call carried, besides its turns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RtcTruth {
    /// The signalling shape: `pipecat` or `whip`.
    pub signal: String,
    /// ICE + DTLS came up (µs on the truth clock): media could flow.
    pub connected_us: Option<u64>,
    /// Caller Opus packets received (as `frames`).
    pub packets_received: u64,
    /// Caller packets that did not decode (not counted as audio).
    pub undecodable: u64,
    /// Opus silence packets sent (20 ms of zeros, between replies).
    pub silence_packets: u64,
    /// Reply packets sent, over all turns.
    pub reply_packets: u64,
    /// Packets the peer refused (before its audio track was set up): not sent.
    pub unsent: u64,
    /// Datagrams of the call (media, ICE, DTLS) the UDP socket would not
    /// take at once, so dropped.
    pub datagrams_dropped: u64,
    /// OpenAI calls: Realtime events handed to the data channel.
    #[serde(default)]
    pub events_sent: u64,
    /// OpenAI calls: events the channel refused (full, or never opened).
    #[serde(default)]
    pub events_unsent: u64,
}

/// What a realtime client did in one session besides streaming audio.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RealtimeTruth {
    /// `ga` or `beta`.
    pub dialect: String,
    /// `session.update` messages received (accepted or refused).
    pub updates: u64,
    /// Each `response.cancel` arrived (µs on the truth clock), and whether an
    /// answer was still going then.
    pub cancels: Vec<(u64, bool)>,
    /// Each `conversation.item.truncate` of an answer's item.
    pub truncates: Vec<TruncateTruth>,
    /// Codes of the `error` events sent, in order (Twilio, which has no
    /// error event: of the errors the mock found).
    pub errors: Vec<String>,
    /// The session's audio codec once set up (`pcm16`, `mulaw`, `alaw`).
    #[serde(default)]
    pub codec: String,
    /// Twilio: each mark echoed by the client (its name, µs on the truth clock).
    #[serde(default)]
    pub marks: Vec<(String, u64)>,
    /// Twilio: the client sent `stop`.
    #[serde(default)]
    pub stopped: bool,
    /// Twilio: `media` frames received, and those whose `chunk` or
    /// `timestamp` did not follow the 20 ms grid from 1 and 0.
    #[serde(default)]
    pub media: u64,
    /// See `media`.
    #[serde(default)]
    pub misnumbered_media: u64,
    /// The session's turn detection once set: `server_vad`, `semantic_vad`
    /// or `none` (manual); empty if no update said.
    #[serde(default)]
    pub turn_detection: String,
    /// Each `input_audio_buffer.commit` arrived (µs on the truth clock).
    #[serde(default)]
    pub commits: Vec<u64>,
    /// Each `response.create` arrived (µs on the truth clock).
    #[serde(default)]
    pub response_creates: Vec<u64>,
}

/// One `conversation.item.truncate` of an answer's item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruncateTruth {
    /// The item, and the turn it answered.
    pub item_id: String,
    /// Turn index in the session.
    pub turn: u64,
    /// What the client said it played, ms.
    pub audio_end_ms: u64,
    /// The truncate arrived.
    pub at_us: u64,
    /// Answer audio sent for the item by then, ms.
    pub sent_audio_ms: u64,
    /// The item's first audio chunk was sent.
    pub first_audio_us: Option<u64>,
}

/// One caller turn and the agent's answer to it. Optional times are `None`
/// when the event did not happen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentTurnTruth {
    /// The session's id.
    pub session: u64,
    /// Index of the turn in its session, from 0.
    pub turn: u64,
    /// The last caller speech frame (RMS above `speech_rms`) of the
    /// utterance arrived; `None` if the utterance had no speech frame.
    pub last_speech_us: Option<u64>,
    /// End of speech detected: the `end_of_speech` message, or the frame
    /// completing `vad_silence`, arrived.
    pub speech_end_us: u64,
    /// How end of speech was detected.
    pub detected_by: EndOfSpeech,
    /// The fault applied, if any.
    pub fault: Option<AgentFaultKind>,
    /// The transcript text sent (empty without `transcribe`).
    pub transcript: String,
    /// The transcript (or, with the `malformed` fault, the non-JSON text) was sent.
    pub transcript_us: Option<u64>,
    /// `response_text` and the first audio chunk were sent (WebRTC: the
    /// first reply packet was handed to the socket).
    pub first_audio_us: Option<u64>,
    /// WebRTC: the first reply packet's deadline, `speech_end_us +
    /// response_delay` (the schedule `first_audio_us` follows, late by the
    /// mock's timer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_audio_due_us: Option<u64>,
    /// The last audio chunk of this response was sent.
    pub last_audio_us: Option<u64>,
    /// Audio chunks sent.
    pub chunks: u64,
    /// Audio sent (samples / `sample_rate_out`).
    pub audio_us: u64,
    /// `response_end` was sent (WebRTC, which has no such message: the
    /// reply's last packet was sent, the answer ran to its end).
    pub response_end_us: Option<u64>,
    /// `burst`: the answer counted as speaking (caller speech was a
    /// barge-in) until this instant, the first chunk's send + `response_audio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaking_until_us: Option<u64>,
    /// The first caller speech frame during the response arrived (barge-in
    /// onset as the agent sees it). Set even if the response ended before
    /// the stop took effect.
    pub barge_in_us: Option<u64>,
    /// Audio was stopped with chunks still to send: none of them is sent
    /// after it (a `burst` answer has none left to stop).
    pub audio_stopped_us: Option<u64>,
    /// `interrupted` was sent (never without `interrupt_message`).
    pub interrupted_us: Option<u64>,
    /// Realtime: the status the answer's `response.done` gave when it ran
    /// to its end (`completed`, or `failed` with `?fail_every`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<String>,
}

impl AgentTurnTruth {
    /// A turn whose end of speech was just detected (`speech_end_us`), on
    /// any transport: nothing of the answer has happened yet.
    pub(crate) fn detected(
        session: u64,
        turn: u64,
        last_speech_us: Option<u64>,
        speech_end_us: u64,
        detected_by: EndOfSpeech,
        fault: Option<AgentFaultKind>,
    ) -> Self {
        Self {
            session,
            turn,
            last_speech_us,
            speech_end_us,
            detected_by,
            fault,
            transcript: String::new(),
            transcript_us: None,
            first_audio_us: None,
            first_audio_due_us: None,
            last_audio_us: None,
            chunks: 0,
            audio_us: 0,
            response_end_us: None,
            speaking_until_us: None,
            barge_in_us: None,
            audio_stopped_us: None,
            interrupted_us: None,
            response_status: None,
        }
    }
}

/// Running counters behind [`AgentTruth`].
#[derive(Debug, Default)]
pub(crate) struct AgentTruthLog {
    pub(crate) t: AgentTruth,
    active: u64,
    sessions: VecDeque<AgentSessionTruth>,
    turns: VecDeque<AgentTurnTruth>,
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T) {
    if q.len() == RECENT_CAPACITY {
        q.pop_front();
    }
    q.push_back(item);
}

impl AgentTruthLog {
    /// Admit a session if fewer than `max` are open; count it either way.
    pub(crate) fn admit(&mut self, max: usize) -> bool {
        self.t.sessions += 1;
        if self.active >= max as u64 {
            self.t.rejected_over_capacity += 1;
            return false;
        }
        self.active += 1;
        self.t.max_concurrent = self.t.max_concurrent.max(self.active);
        true
    }

    /// An admitted session is over.
    pub(crate) fn leave(&mut self) {
        self.active = self.active.saturating_sub(1);
    }

    pub(crate) fn finish_turn(&mut self, t: AgentTurnTruth) {
        self.t.turns += 1;
        if let Some(f) = t.fault {
            *self.t.faults.entry(f).or_default() += 1;
        }
        if t.response_end_us.is_some() {
            self.t.responses_completed += 1;
        }
        if t.interrupted_us.is_some() {
            self.t.interrupted += 1;
        }
        push_bounded(&mut self.turns, t);
    }

    pub(crate) fn finish_session(&mut self, s: AgentSessionTruth) {
        push_bounded(&mut self.sessions, s);
    }

    /// Clear counters; open sessions stay counted as active.
    pub(crate) fn reset(&mut self) {
        *self = AgentTruthLog {
            active: self.active,
            ..AgentTruthLog::default()
        };
        self.t.max_concurrent = self.active;
    }

    pub(crate) fn snapshot(&self) -> AgentTruth {
        AgentTruth {
            active_now: self.active,
            recent_sessions: self.sessions.iter().cloned().collect(),
            recent_turns: self.turns.iter().cloned().collect(),
            ..self.t.clone()
        }
    }
}
