//! Voice-agent metric definitions, per turn. Every latency of the agent's
//! answer is measured from the **end of the caller's speech**: when the
//! last speech frame (or the end-of-speech message right after it) was
//! sent — not from the start of the turn, which would add the caller's own
//! speaking time to the agent's latency.
//!
//! - `agent_first_message`, `agent_first_audio`, `agent_transcript`: end of
//!   speech → the first agent message / audio / final transcript of the
//!   caller after it (the breakdown of where the time goes);
//! - `audio`: seconds of agent audio in the response;
//! - `turn`: the caller's first frame → end of the response;
//! - `connect` (first turn of a conversation only): the WebSocket handshake,
//!   from the actual start;
//! - `frame_lag_max`/`frame_lag_p99`: lateness of the caller's frames sent
//!   during the turn against their real-time deadlines;
//! - barge-in, from the onset (first frame of the caller's interrupting
//!   utterance sent): `barge_in_silence` → the last agent audio received
//!   before that utterance ended (0 if none came; never a quiet window
//!   added on top), `barge_in_leak` = audio time of the agent audio received
//!   in that window, `barge_in_event` → the agent's interruption message.
//!   If agent audio still arrived within the last `barge_in_quiet` of the
//!   utterance, the agent did not stop: the turn fails as `barge_in_ignored`.
//! - A response that ended (end message or idle gap) without any audio
//!   fails as `no_audio`.

use std::time::{Duration, Instant};

use super::defs::{micros, schedule_lag};
use super::defs_asr::frame_lag;
use super::RequestRecord;
use crate::protocol::ws_agent_session::TurnTimes;
use crate::protocol::{ErrorKind, ProtocolError};

/// What the conversation around a turn knows.
#[derive(Debug, Clone, Copy)]
pub struct TurnContext {
    /// The conversation actually started (before the handshake).
    pub started: Instant,
    /// Open loop: the conversation's scheduled start.
    pub scheduled: Option<Instant>,
    /// Handshake done.
    pub connected_at: Option<Instant>,
    /// Barge-in is ignored if agent audio came this close to the end of the
    /// interrupting utterance.
    pub barge_in_quiet: Duration,
}

/// The record of one turn. Connect time and schedule lag go on the first
/// turn only, so they count once per conversation.
pub fn measure_turn(t: &TurnTimes, c: &TurnContext) -> RequestRecord {
    let after = |from: Option<Instant>, to: Option<Instant>| {
        from.zip(to)
            .map(|(f, t)| micros(t.saturating_duration_since(f)))
    };
    let eos = t.speech_ended;
    let mut error = t.error.clone();
    let mut r = RequestRecord {
        agent_first_message_us: after(eos, t.first_message),
        agent_first_audio_us: after(eos, t.first_audio),
        agent_transcript_us: after(eos, t.transcript),
        turn_us: after(t.speech_started, t.response_end),
        audio_us: (!t.audio.is_empty())
            .then(|| micros(t.audio.iter().map(|(_, d)| *d).sum::<Duration>())),
        chunks: t.audio.len() as u32,
        ws_close: t.close_code,
        turn: Some(t.index as u32 + 1),
        ..RequestRecord::default()
    };
    (r.frame_lag_max_us, r.frame_lag_p99_us) = frame_lag(&t.frame_lag_us);
    if t.index == 0 {
        r.connect_us = after(Some(c.started), c.connected_at);
        r.schedule_lag_us = c.scheduled.map(|s| micros(schedule_lag(s, c.started)));
    }
    if let Some(b) = &t.barge {
        let onset = b.onset;
        let last = b.leaked.last().map(|(at, _)| *at);
        r.barge_in_silence_us = onset.map(|o| after(Some(o), last).unwrap_or(0));
        r.barge_in_leak_us = onset.map(|_| micros(b.leaked.iter().map(|(_, d)| *d).sum()));
        r.barge_in_event_us = after(onset, b.interrupted_at);
        let still_talking = last
            .zip(b.utterance_end)
            .is_some_and(|(l, end)| l + c.barge_in_quiet >= end);
        if still_talking && error.is_none() {
            error = Some(ProtocolError::new(
                ErrorKind::BargeInIgnored,
                format!(
                    "agent audio kept coming until the caller's {} ms interruption ended",
                    after(onset, b.utterance_end).unwrap_or(0) / 1000
                ),
            ));
        }
    }
    if error.is_none() && t.response_end.is_some() && t.audio.is_empty() {
        error = Some(ProtocolError::new(
            ErrorKind::NoAudio,
            "the agent ended its response without any audio",
        ));
    }
    r.error = error.as_ref().map(|e| e.kind);
    r.error_detail = error.map(|e| e.detail);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ws_agent_session::BargeTimes;

    fn at(t0: Instant, ms: u64) -> Option<Instant> {
        Some(t0 + Duration::from_millis(ms))
    }

    #[test]
    fn latencies_are_anchored_at_the_end_of_speech() {
        // Speech 1000..3000 ms; transcript at 3250, first message (the
        // transcript) at 3250, audio at 3600 and 3700 (100 ms each), end at 3900.
        let t0 = Instant::now();
        let t = TurnTimes {
            index: 0,
            speech_started: at(t0, 1000),
            speech_ended: at(t0, 3000),
            first_message: at(t0, 3250),
            first_audio: at(t0, 3600),
            transcript: at(t0, 3250),
            audio: vec![
                (t0 + Duration::from_millis(3600), Duration::from_millis(100)),
                (t0 + Duration::from_millis(3700), Duration::from_millis(100)),
            ],
            response_end: at(t0, 3900),
            end_message: true,
            frame_lag_us: vec![100, 300, 200],
            ..TurnTimes::default()
        };
        let c = TurnContext {
            started: t0,
            scheduled: Some(t0 - Duration::from_millis(2)),
            connected_at: at(t0, 40),
            barge_in_quiet: Duration::from_millis(300),
        };
        let r = measure_turn(&t, &c);
        assert_eq!(r.agent_first_message_us, Some(250_000));
        assert_eq!(r.agent_first_audio_us, Some(600_000));
        assert_eq!(r.agent_transcript_us, Some(250_000));
        // From the first frame, not the end of speech: 1000 → 3900.
        assert_eq!(r.turn_us, Some(2_900_000));
        assert_eq!(r.audio_us, Some(200_000));
        assert_eq!(
            (r.connect_us, r.schedule_lag_us),
            (Some(40_000), Some(2_000))
        );
        assert_eq!(
            (r.frame_lag_max_us, r.frame_lag_p99_us),
            (Some(300), Some(300))
        );
        assert_eq!(r.turn, Some(1));
        assert!(r.ok() && r.barge_in_silence_us.is_none());
        // A later turn does not repeat the conversation's connect time.
        let later = measure_turn(&TurnTimes { index: 1, ..t }, &c);
        assert_eq!((later.connect_us, later.turn), (None, Some(2)));
    }

    #[test]
    fn barge_in_counts_time_to_silence_without_any_quiet_window() {
        // Onset at 5000; agent audio (40 ms each) at 5020, 5060, 5100, then
        // nothing; interruption message at 5110; the caller's utterance ends at 7000.
        let t0 = Instant::now();
        let chunk = Duration::from_millis(40);
        let barge = BargeTimes {
            onset: at(t0, 5000),
            utterance_end: at(t0, 7000),
            leaked: [5020, 5060, 5100]
                .iter()
                .map(|ms| (t0 + Duration::from_millis(*ms), chunk))
                .collect(),
            interrupted_at: at(t0, 5110),
        };
        let t = TurnTimes {
            index: 1,
            barge: Some(barge.clone()),
            ..TurnTimes::default()
        };
        let c = TurnContext {
            started: t0,
            scheduled: None,
            connected_at: None,
            barge_in_quiet: Duration::from_millis(300),
        };
        let r = measure_turn(&t, &c);
        assert_eq!(r.barge_in_silence_us, Some(100_000));
        assert_eq!(r.barge_in_leak_us, Some(120_000));
        assert_eq!(r.barge_in_event_us, Some(110_000));
        assert!(r.ok());
        // Nothing leaked: silence was immediate (0), not absent.
        let quiet = BargeTimes {
            leaked: vec![],
            interrupted_at: None,
            ..barge.clone()
        };
        let r = measure_turn(
            &TurnTimes {
                barge: Some(quiet),
                ..t.clone()
            },
            &c,
        );
        assert_eq!(
            (r.barge_in_silence_us, r.barge_in_leak_us),
            (Some(0), Some(0))
        );
        assert_eq!(r.barge_in_event_us, None);
        // Audio until 6800, 200 ms before the utterance ended (quiet 300 ms): ignored.
        let mut talking = barge;
        talking
            .leaked
            .push((t0 + Duration::from_millis(6800), chunk));
        let r = measure_turn(
            &TurnTimes {
                barge: Some(talking),
                ..t
            },
            &c,
        );
        assert_eq!(r.error, Some(ErrorKind::BargeInIgnored));
    }

    #[test]
    fn a_failed_turn_keeps_what_it_reached() {
        let t0 = Instant::now();
        let t = TurnTimes {
            index: 2,
            speech_started: at(t0, 0),
            speech_ended: at(t0, 500),
            first_message: at(t0, 700),
            close_code: Some(1011),
            error: Some(ProtocolError::new(ErrorKind::WsClosed(1011), "closed")),
            ..TurnTimes::default()
        };
        let c = TurnContext {
            started: t0,
            scheduled: None,
            connected_at: None,
            barge_in_quiet: Duration::ZERO,
        };
        let r = measure_turn(&t, &c);
        assert_eq!(r.error, Some(ErrorKind::WsClosed(1011)));
        assert_eq!(r.ws_close, Some(1011));
        assert_eq!(r.agent_first_message_us, Some(200_000));
        assert_eq!(
            (r.agent_first_audio_us, r.audio_us, r.turn_us),
            (None, None, None)
        );
    }
}
