//! Voice-agent metric definitions, per turn. Every latency of the agent's
//! answer is measured from the **end of the caller's speech**: when the
//! last speech frame (or the end-of-speech message right after it) was
//! sent — not from the start of the turn, which would add the caller's own
//! speaking time to the agent's latency.
//!
//! - `agent_first_message`, `agent_first_audio`, `agent_transcript`: end of
//!   speech → the first agent message / audio / final transcript of the
//!   caller after it (the breakdown of where the time goes);
//! - `agent_endpoint`, `agent_response_start` (protocols that announce
//!   them, e.g. OpenAI Realtime's `speech_stopped` and `response.created`):
//!   end of speech → the agent's endpoint event / its response's start, so
//!   VAD wait, transcription and generation can be told apart;
//! - `audio`: seconds of agent audio in the response;
//! - `turn`: the caller's first frame → end of the response;
//! - `connect` (first turn of a conversation only): the WebSocket handshake,
//!   from the actual start;
//! - `frame_lag_max`/`frame_lag_p99`: lateness of the caller's frames sent
//!   during the turn against their real-time deadlines;
//! - barge-in, from the onset (first frame of the caller's interrupting
//!   utterance sent), against the caller's player ([`barge_playback`]):
//!   `barge_in_leak` = answer audio the player plays from the onset on (what
//!   it still had queued, plus what arrived while the caller spoke), unless
//!   the agent's interruption message dropped it first; `barge_in_silence`
//!   → when the player went silent for good (0 if nothing played after the
//!   onset; never a quiet window added on top); `barge_in_event` → the
//!   agent's interruption message. If the player was still playing the
//!   answer within the last `barge_in_quiet` of the interrupting utterance,
//!   the agent did not stop: the turn fails as `barge_in_ignored`.
//! - a planned barge-in with nothing to interrupt — the response had ended
//!   and the player played nothing from the onset on, or the barge-in never
//!   came — is `barge_in_untested`: no barge-in figures (not a perfect 0).
//! - A response that ended (end message or idle gap) without any audio
//!   fails as `no_audio`.

use std::time::{Duration, Instant};

use super::defs::{micros, playback, schedule_lag};
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
    /// Barge-in is ignored if the caller's player still played the answer
    /// this close to the end of the interrupting utterance.
    pub barge_in_quiet: Duration,
}

/// What the caller's player does with a barged answer from the onset on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BargePlayback {
    /// Answer audio played from the onset on (audio time).
    pub leaked: Duration,
    /// Onset → the player's last sample of the answer; zero if nothing
    /// played after the onset.
    pub time_to_silence: Duration,
}

/// The caller's player over a barged answer: `audio` is every chunk of it
/// as `(arrival, audio time)` in arrival order (before the onset and in the
/// leak window), `clear` the arrival of the agent's interruption message.
///
/// Playback starts at the first arrival and runs in real time, waiting
/// whenever it runs dry (the [`playback`] model with no pre-buffer, as the
/// conversation paces its turns). The interruption message empties the
/// queue when it arrives: the chunk playing then is cut there, chunks still
/// queued are dropped, and chunks arriving after it play again from their
/// arrival. Leaked is the part of what plays that lies at or after
/// `onset`; time to silence ends at the last such sample.
pub fn barge_playback(
    onset: Instant,
    audio: &[(Instant, Duration)],
    clear: Option<Instant>,
) -> BargePlayback {
    let first = audio.first().map(|(at, _)| *at);
    let base = [Some(onset), clear, first].into_iter().flatten().min();
    let base = base.unwrap_or(onset);
    let off = |at: Instant| at.saturating_duration_since(base);
    let chunks: Vec<(Duration, Duration)> = audio.iter().map(|&(at, d)| (off(at), d)).collect();
    let (o, c) = (off(onset), clear.map(off));
    // Chunks that arrived before the clear, and the fresh queue after it.
    let split = c.map_or(chunks.len(), |c| chunks.partition_point(|&(at, _)| at < c));
    let (before, after) = chunks.split_at(split);
    let mut leaked = Duration::ZERO;
    let mut silent = o;
    let mut hear = |start: Duration, end: Duration| {
        let from = start.max(o);
        if end > from {
            leaked += end - from;
            silent = silent.max(end);
        }
    };
    for p in playback(before, Duration::ZERO) {
        let end = p.start.saturating_add(p.audio);
        hear(p.start, c.map_or(end, |c| end.min(c)));
    }
    for p in playback(after, Duration::ZERO) {
        hear(p.start, p.start.saturating_add(p.audio));
    }
    BargePlayback {
        leaked,
        time_to_silence: silent - o,
    }
}

/// How long the listener waited for each piece of audio beyond the end of
/// the one before (arrival gap minus the previous piece's length), µs:
/// zero while a real-time stream keeps up.
pub fn audio_gaps(audio: &[(Instant, Duration)]) -> Vec<u32> {
    audio
        .windows(2)
        .map(|w| {
            let (prev, d) = w[0];
            let wait = w[1].0.saturating_duration_since(prev).saturating_sub(d);
            u32::try_from(wait.as_micros()).unwrap_or(u32::MAX)
        })
        .collect()
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
        agent_endpoint_us: after(eos, t.endpoint),
        agent_response_start_us: after(eos, t.response_start),
        agent_response_end_us: after(eos, t.response_end),
        turn_us: after(t.speech_started, t.response_end),
        audio_us: (!t.audio.is_empty())
            .then(|| micros(t.audio.iter().map(|(_, d)| *d).sum::<Duration>())),
        chunks: t.audio.len() as u32,
        audio_bytes: t.audio_bytes,
        sample_rate: t.sample_rate.filter(|_| !t.audio.is_empty()).map(|r| r.0),
        rate_source: t.sample_rate.filter(|_| !t.audio.is_empty()).map(|r| r.1),
        transcript: t.heard.clone(),
        reply: t.said.clone(),
        end_status: t.end_status.clone(),
        kept_message: t.kept.clone(),
        ws_close: t.close_code,
        turn: Some(t.index as u32 + 1),
        ..RequestRecord::default()
    };
    (r.frame_lag_max_us, r.frame_lag_p99_us) = frame_lag(&t.frame_lag_us);
    if t.index == 0 {
        r.connect_us = after(Some(c.started), c.connected_at);
        r.schedule_lag_us = c.scheduled.map(|s| micros(schedule_lag(s, c.started)));
    }
    if let Some(l) = &t.link {
        if t.index == 0 {
            r.rtc_answer_us = after(l.offer_sent, l.answered);
            r.rtc_ice_us = after(l.offer_sent, l.ice_connected);
            r.rtc_dtls_us = after(l.offer_sent, l.dtls_connected);
        }
        r.agent_first_packet_us = after(eos, l.first_packet);
        (r.audio_gap_max_us, r.audio_gap_p99_us) = frame_lag(&audio_gaps(&t.audio));
        r.rtc_jitter_us = l.jitter_us;
        r.rtc_loss = l.loss;
    }
    if let Some(b) = &t.barge {
        let heard = b.onset.map(|onset| {
            let audio: Vec<_> = t.audio.iter().chain(&b.leaked).copied().collect();
            (onset, barge_playback(onset, &audio, b.interrupted_at))
        });
        let untested = b.after_response && heard.is_none_or(|(_, h)| h.leaked.is_zero());
        if untested {
            r.barge_in_untested = true;
        } else if let Some((onset, h)) = heard {
            r.barge_in_silence_us = Some(micros(h.time_to_silence));
            r.barge_in_leak_us = Some(micros(h.leaked));
            r.barge_in_event_us = after(Some(onset), b.interrupted_at);
            let silent_at = onset + h.time_to_silence;
            let still_talking = !h.leaked.is_zero()
                && b.utterance_end
                    .is_some_and(|end| silent_at + c.barge_in_quiet >= end);
            if still_talking && error.is_none() {
                error = Some(ProtocolError::new(
                    ErrorKind::BargeInIgnored,
                    format!(
                        "the agent's answer went on playing {} ms after the caller's \
                         interruption began, which lasted {} ms",
                        micros(h.time_to_silence) / 1000,
                        after(Some(onset), b.utterance_end).unwrap_or(0) / 1000
                    ),
                ));
            }
        }
    }
    if error.is_none() && t.response_end.is_some() && t.audio.is_empty() {
        error = Some(ProtocolError::new(
            ErrorKind::NoAudio,
            "the agent ended its response without any audio",
        ));
    }
    r.error = error.as_ref().map(|e| e.kind);
    r.retry_after_us = error.as_ref().and_then(|e| e.retry_after).map(micros);
    r.error_detail = error.map(|e| e.detail);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ws_agent_session::BargeTimes;

    #[test]
    fn audio_gaps_are_waits_beyond_each_piece() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // 20 ms packets: on time, on time, 35 ms late, then a burst.
        let audio = [
            (t0, ms(20)),
            (t0 + ms(20), ms(20)),
            (t0 + ms(40), ms(20)),
            (t0 + ms(95), ms(20)),
            (t0 + ms(96), ms(20)),
        ];
        assert_eq!(audio_gaps(&audio), vec![0, 0, 35_000, 0]);
        assert!(audio_gaps(&audio[..1]).is_empty());
    }

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

    fn ctx() -> TurnContext {
        TurnContext {
            started: Instant::now(),
            scheduled: None,
            connected_at: None,
            barge_in_quiet: Duration::from_millis(300),
        }
    }

    /// `n` chunks of `each` ms arriving from `from` ms, `every` µs apart.
    fn chunks(
        t0: Instant,
        from: u64,
        n: u64,
        each: u64,
        every_us: u64,
    ) -> Vec<(Instant, Duration)> {
        (0..n)
            .map(|i| {
                let at = t0 + Duration::from_millis(from) + Duration::from_micros(i * every_us);
                (at, Duration::from_millis(each))
            })
            .collect()
    }

    #[test]
    fn barge_in_counts_time_to_silence_without_any_quiet_window() {
        // Onset at 5000; agent audio (40 ms each) at 5020, 5060, 5100, then
        // nothing; interruption message at 5110; the caller's utterance ends
        // at 7000. The player plays 5020..5060..5100..5110, where the
        // interruption cuts the last chunk: 90 ms leaked, silent at 5110.
        let t0 = Instant::now();
        let chunk = Duration::from_millis(40);
        let barge = BargeTimes {
            after_response: false,
            onset: at(t0, 5000),
            utterance_end: at(t0, 7000),
            leaked: [5020, 5060, 5100]
                .iter()
                .map(|ms| (t0 + Duration::from_millis(*ms), chunk))
                .collect(),
            interrupted_at: at(t0, 5110),
            played: None,
        };
        let t = TurnTimes {
            index: 1,
            barge: Some(barge.clone()),
            ..TurnTimes::default()
        };
        let c = ctx();
        let r = measure_turn(&t, &c);
        assert_eq!(r.barge_in_silence_us, Some(110_000));
        assert_eq!(r.barge_in_leak_us, Some(90_000));
        assert_eq!(r.barge_in_event_us, Some(110_000));
        assert!(r.ok() && !r.barge_in_untested);
        // Without the interruption message the last chunk plays out: 120 ms
        // leaked, silent at 5140 — not at the last arrival (5100).
        let no_clear = BargeTimes {
            interrupted_at: None,
            ..barge.clone()
        };
        let r = measure_turn(
            &TurnTimes {
                barge: Some(no_clear),
                ..t.clone()
            },
            &c,
        );
        assert_eq!(
            (r.barge_in_silence_us, r.barge_in_leak_us),
            (Some(140_000), Some(120_000))
        );
        // Nothing leaked mid-answer: silence was immediate (0), not absent.
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
        // Audio until 6840 (after the interruption message, so it plays),
        // 160 ms before the utterance ended (quiet 300 ms): ignored.
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

    /// An answer of 35 × 100 ms sent all at once: it arrives within 3.4 ms
    /// at 1000 ms and its response is over before the caller barges in at
    /// 1500 ms; the player would play it 1000..4500. The caller's
    /// interruption ends at 2600.
    fn burst(t0: Instant, interrupted_at: Option<Instant>) -> TurnTimes {
        let audio = chunks(t0, 1000, 35, 100, 100);
        TurnTimes {
            index: 0,
            first_audio: Some(audio[0].0),
            response_end: Some(audio[34].0),
            end_message: true,
            audio,
            barge: Some(BargeTimes {
                after_response: true,
                onset: at(t0, 1500),
                utterance_end: at(t0, 2600),
                leaked: vec![],
                interrupted_at,
                played: None,
            }),
            ..TurnTimes::default()
        }
    }

    #[test]
    fn audio_queued_at_the_onset_leaks_unless_the_agent_drops_it() {
        let t0 = Instant::now();
        let c = ctx();
        // Nothing arrived after the onset, yet 3000 ms were still queued:
        // all of it plays over the caller, and past the end of its
        // interruption, so the barge-in was ignored.
        let r = measure_turn(&burst(t0, None), &c);
        assert_eq!(r.barge_in_leak_us, Some(3_000_000));
        assert_eq!(r.barge_in_silence_us, Some(3_000_000));
        assert_eq!(r.barge_in_event_us, None);
        assert_eq!(r.error, Some(ErrorKind::BargeInIgnored));
        assert!(!r.barge_in_untested);
        // The agent's interruption message at 1650 drops the queue: what
        // played until then leaked, and the player is silent from there.
        let r = measure_turn(&burst(t0, at(t0, 1650)), &c);
        assert_eq!(
            (
                r.barge_in_leak_us,
                r.barge_in_silence_us,
                r.barge_in_event_us
            ),
            (Some(150_000), Some(150_000), Some(150_000))
        );
        assert!(r.ok(), "{:?}", r.error_detail);
        // Audio after the message plays again: 100 ms more at 1700..1800.
        let mut late = burst(t0, at(t0, 1650));
        if let Some(b) = late.barge.as_mut() {
            b.leaked = chunks(t0, 1700, 1, 100, 0);
        }
        let r = measure_turn(&late, &c);
        assert_eq!(
            (r.barge_in_leak_us, r.barge_in_silence_us),
            (Some(250_000), Some(300_000))
        );
    }

    #[test]
    fn a_barge_in_with_nothing_left_to_interrupt_is_untested() {
        let t0 = Instant::now();
        let c = ctx();
        // A 300 ms answer (3 × 100 ms at 1000) had played by 1300: the
        // caller's onset at 1500 interrupts nothing.
        let mut short = burst(t0, None);
        short.audio.truncate(3);
        let r = measure_turn(&short, &c);
        assert!(r.barge_in_untested && r.ok());
        assert_eq!(
            (
                r.barge_in_silence_us,
                r.barge_in_leak_us,
                r.barge_in_event_us
            ),
            (None, None, None)
        );
        // The planned barge-in never came (the pause ended first).
        let mut never = short.clone();
        never.barge = Some(BargeTimes {
            after_response: true,
            ..BargeTimes::default()
        });
        let r = measure_turn(&never, &c);
        assert!(r.barge_in_untested && r.barge_in_silence_us.is_none());
        // Still playing at the onset (1250): tested, 50 ms leaked.
        let mut playing = short;
        if let Some(b) = playing.barge.as_mut() {
            b.onset = at(t0, 1250);
        }
        let r = measure_turn(&playing, &c);
        assert!(!r.barge_in_untested);
        assert_eq!(r.barge_in_leak_us, Some(50_000));
        // Mid-answer (the response not over), a quiet player is a clean
        // stop (0), not untested.
        let mut mid = playing;
        if let Some(b) = mid.barge.as_mut() {
            b.after_response = false;
            b.onset = at(t0, 1500);
        }
        let r = measure_turn(&mid, &c);
        assert_eq!((r.barge_in_untested, r.barge_in_leak_us), (false, Some(0)));
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
