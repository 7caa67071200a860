//! The OpenAI Realtime events of a WebRTC call (`POST /v1/realtime/calls`),
//! sent on its data channel as the API sends them over WebRTC: the same GA
//! events as on its WebSocket (built by [`Realtime`]), with no audio in
//! them (the audio is the RTP stream) and the WebRTC-only
//! `output_audio_buffer.started` / `.stopped` / `.cleared` around each
//! answer's playing.
//!
//! When each goes out (the call's agent, `rtc_agent`, says when):
//! - the channel opens: `session.created`; each `session.update` is
//!   answered with `session.updated`;
//! - the first speech packet of an utterance: `speech_started`;
//! - end of speech: `speech_stopped`, `committed`, the user item,
//!   `response.created`;
//! - the first reply packet: `output_audio_buffer.started` and the answer's
//!   transcript delta;
//! - the last reply packet: `output_audio.done`, `response.done`
//!   (`completed`), `rate_limits.updated`; one packet time later, when it
//!   has played, `output_audio_buffer.stopped` (a `burst` reply, sent all
//!   at once: when it would have played out, `response_audio` after its
//!   first packet);
//! - a barge-in stop: `response.done` (`cancelled`, `turn_detected`) and
//!   `output_audio_buffer.cleared`; a stop after the last packet went out
//!   but before it played (a `burst` answer): `.cleared` alone.
//!
//! Events wait in order until the channel is open; what cannot be sent on
//! it is counted (`unsent`), never silently lost from the truth.

use axum::extract::ws::Message;
use serde_json::json;

use super::realtime::{Dialect, Realtime};
use super::wire_event::ClientEvent;
use crate::rtc::Peer;

/// One call's event wire.
pub(crate) struct RtcEvents {
    wire: Realtime,
    /// Waiting for the channel, oldest first.
    out: Vec<String>,
    open: bool,
    /// `session.update`s received.
    pub(crate) updates: u64,
    /// Events handed to the channel.
    pub(crate) sent: u64,
    /// Events the channel refused.
    pub(crate) unsent: u64,
}

impl RtcEvents {
    /// The wire of call `session`.
    pub(crate) fn new(session: u64) -> Self {
        Self {
            wire: Realtime::new(Dialect::Ga, session),
            out: Vec::new(),
            open: false,
            updates: 0,
            sent: 0,
            unsent: 0,
        }
    }

    fn push(&mut self, m: Option<Message>) {
        if let Some(Message::Text(t)) = m {
            self.out.push(t.as_str().to_string());
        }
    }

    fn push_all(&mut self, ms: Vec<Message>) {
        for m in ms {
            self.push(Some(m));
        }
    }

    /// A WebRTC-only event of answer `turn`'s playing.
    fn buffer(&mut self, kind: &str, turn: u64) {
        let v = json!({"type": kind, "response_id": self.wire.response(turn)});
        self.out.push(v.to_string());
    }

    /// The channel opened.
    pub(crate) fn opened(&mut self) {
        self.open = true;
        let created = self.wire.session_created();
        self.push(created);
    }

    /// A client message arrived on the channel.
    pub(crate) fn client(&mut self, text: &str) {
        if let ClientEvent::Update(_) = self.wire.parse(text) {
            self.updates += 1;
            let updated = self.wire.session_updated();
            self.push(updated);
        }
    }

    /// The caller started speaking (utterance `turn`, `audio_ms` into its
    /// stream).
    pub(crate) fn speech_started(&mut self, turn: u64, audio_ms: u64) {
        let m = self.wire.speech_started(turn, audio_ms);
        self.push(m);
    }

    /// End of speech of utterance `turn`: the answer is coming.
    pub(crate) fn detected(&mut self, turn: u64, audio_ms: u64) {
        let ms = self.wire.detected(turn, audio_ms, true);
        self.push_all(ms);
    }

    /// Answer `turn`'s first packet went out; it says `text`.
    pub(crate) fn playing(&mut self, turn: u64, text: &str) {
        self.buffer("output_audio_buffer.started", turn);
        let m = self.wire.reply_text(turn, text);
        self.push(m);
    }

    /// Answer `turn`'s last packet went out; its status.
    pub(crate) fn generated(&mut self, turn: u64) -> &'static str {
        let ms = self.wire.completed(turn);
        self.push_all(ms);
        self.wire.final_status(turn)
    }

    /// Answer `turn` has played out.
    pub(crate) fn played(&mut self, turn: u64) {
        self.buffer("output_audio_buffer.stopped", turn);
    }

    /// Answer `turn` was stopped by the caller speaking over it while it
    /// was still being generated.
    pub(crate) fn cancelled(&mut self, turn: u64) {
        let m = self.wire.cancelled(turn, "turn_detected");
        self.push(Some(m));
        self.cleared(turn);
    }

    /// The caller spoke over answer `turn` while it played: what was
    /// still to play is dropped (a `burst` answer, all sent and
    /// `response.done` already, still has its buffer to clear).
    pub(crate) fn cleared(&mut self, turn: u64) {
        self.buffer("output_audio_buffer.cleared", turn);
    }

    /// Events still waiting (the channel never opened, or not yet).
    pub(crate) fn waiting(&self) -> u64 {
        self.out.len() as u64
    }

    /// Send what waits, once the channel is open.
    pub(crate) fn flush(&mut self, peer: &mut Peer) {
        if !self.open {
            return;
        }
        for text in self.out.drain(..) {
            match peer.send_channel(false, text.as_bytes()) {
                Ok(true) => self.sent += 1,
                _ => self.unsent += 1,
            }
        }
    }
}
