//! The conversation state machine against a scripted in-process agent (no
//! network): end-of-speech anchoring, turn hand-over, barge-in leak window,
//! malformed messages and answer timeouts.

use std::sync::{Arc, Mutex};

use super::*;
use crate::protocol::trace::{Direction, Tracer, What};
use crate::protocol::ws::FrameEncoding;
use crate::protocol::ws_agent::MessageRules;
use crate::timing_tests::{on_schedule, on_schedule_at, LATE};
use tokio::sync::mpsc;

const FRAME: Duration = Duration::from_millis(20);

fn target() -> AgentTarget {
    AgentTarget {
        url: "ws://127.0.0.1:9/agent".into(),
        headers: vec![],
        sample_rate: 16_000,
        codec: Default::default(),
        frame: FRAME,
        frames: FrameEncoding::Binary,
        start_messages: vec![r#"{"type":"start"}"#.into()],
        end_of_speech_messages: vec![r#"{"type":"end_of_speech"}"#.into()],
        barge_in_messages: vec![],
        end_messages: vec![],
        mark_echo_message: None,
        noise_between_turns: true,
        rules: MessageRules::default(),
        agent_sample_rate: 16_000,
        connect_timeout: Duration::from_secs(1),
        answer_timeout: Duration::from_millis(400),
        response_idle: Duration::from_millis(500),
        response_timeout: Duration::from_secs(5),
        barge_in_quiet: Duration::from_millis(100),
        max_message_bytes: crate::protocol::ws::DEFAULT_MAX_MESSAGE,
    }
}

/// `frames` 20 ms frames of "speech" (bytes of 1; noise is bytes of 0).
fn speech(frames: usize) -> Bytes {
    Bytes::from(vec![1u8; 640 * frames])
}

/// How the scripted agent answers each end of speech.
#[derive(Clone, Copy)]
struct Script {
    delay: Duration,
    chunks: usize,
    /// Stop this long after caller speech arrives during an answer.
    stop_after: Duration,
    malformed: bool,
    /// Send every chunk at once instead of one per 20 ms.
    burst: bool,
}

/// Run the scripted agent: reads what the caller sends, answers through `tx`.
async fn agent(
    mut rx: mpsc::UnboundedReceiver<Message>,
    tx: mpsc::UnboundedSender<Result<Message, WsError>>,
    s: Script,
) {
    let stop: Arc<Mutex<Option<tokio::time::Instant>>> = Arc::default();
    let answering = Arc::new(std::sync::atomic::AtomicBool::new(false));
    while let Some(m) = rx.recv().await {
        match m {
            Message::Text(t) if t.as_str().contains("end_of_speech") => {
                let (tx, stop, answering) = (tx.clone(), stop.clone(), answering.clone());
                *stop.lock().unwrap() = None;
                answering.store(true, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    tokio::time::sleep(s.delay).await;
                    let text = if s.malformed {
                        "this is not json"
                    } else {
                        r#"{"type":"transcript","text":"hi"}"#
                    };
                    let _ = tx.send(Ok(Message::text(text)));
                    let start = tokio::time::Instant::now();
                    for i in 0..s.chunks {
                        let pace = if s.burst { 0 } else { i as u32 };
                        let due = start + FRAME * pace;
                        tokio::time::sleep_until(due).await;
                        // A chunk due before the stop goes out however late
                        // this task wakes (as the mock agent's schedule does).
                        let halt = *stop.lock().unwrap();
                        if halt.is_some_and(|h| due >= h) {
                            let _ = tx.send(Ok(Message::text(r#"{"type":"interrupted"}"#)));
                            answering.store(false, std::sync::atomic::Ordering::SeqCst);
                            return;
                        }
                        let _ = tx.send(Ok(Message::binary(vec![5u8; 640])));
                    }
                    let _ = tx.send(Ok(Message::text(r#"{"type":"response_end"}"#)));
                    answering.store(false, std::sync::atomic::Ordering::SeqCst);
                });
            }
            Message::Binary(b)
                if b.first() == Some(&1) && answering.load(std::sync::atomic::Ordering::SeqCst) =>
            {
                stop.lock()
                    .unwrap()
                    .get_or_insert(tokio::time::Instant::now() + s.stop_after);
            }
            Message::Close(_) => return,
            _ => {}
        }
    }
}

/// A conversation against the scripted agent, over a real WebSocket on an
/// in-memory pipe (frames written by the session's task, timed by the
/// pacer), pausing 50 ms between turns; returns the turns.
async fn talk(
    t: &AgentTarget,
    turns: &[Bytes],
    barge: &[Option<Duration>],
    s: Script,
) -> Vec<TurnTimes> {
    talk_paused(t, turns, barge, s, Duration::from_millis(50)).await
}

/// [`talk`] with `pause` between turns.
async fn talk_paused(
    t: &AgentTarget,
    turns: &[Bytes],
    barge: &[Option<Duration>],
    s: Script,
    pause: Duration,
) -> Vec<TurnTimes> {
    talk_traced(t, turns, barge, s, pause, &Tracer::off()).await
}

/// [`talk_paused`], recording the conversation in `trace`.
async fn talk_traced(
    t: &AgentTarget,
    turns: &[Bytes],
    barge: &[Option<Duration>],
    s: Script,
    pause: Duration,
    trace: &Tracer,
) -> Vec<TurnTimes> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::Role;
    let (to_agent, from_caller) = mpsc::unbounded_channel::<Message>();
    let (to_caller, mut from_agent) = mpsc::unbounded_channel();
    let agent = tokio::spawn(agent(from_caller, to_caller, s));
    let (near, far) = tokio::io::duplex(256 * 1024);
    // The server end relays between the socket and the scripted agent.
    let server = tokio::spawn(async move {
        let ws = WebSocketStream::from_raw_socket(far, Role::Server, None).await;
        let (mut tx, mut rx) = ws.split();
        loop {
            tokio::select! {
                m = rx.next() => match m {
                    Some(Ok(m)) => {
                        let close = m.is_close();
                        let _ = to_agent.send(m);
                        if close {
                            return;
                        }
                    }
                    _ => return,
                },
                m = from_agent.recv() => match m {
                    Some(Ok(m)) => {
                        if tx.send(m).await.is_err() {
                            return;
                        }
                    }
                    _ => return,
                },
            }
        }
    });
    let client = WebSocketStream::from_raw_socket(near, Role::Client, None).await;
    let noise = Bytes::from(vec![0u8; 640]);
    let talk = Conversation {
        turns,
        barge_in: barge,
        pause,
        noise: &noise,
    };
    let mut got = Vec::new();
    converse(
        client,
        &Pacer::new(),
        t,
        talk,
        |turn: TurnTimes| got.push(turn),
        trace,
    )
    .await;
    agent.abort();
    server.abort();
    got
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The latest any of `lags` (µs) left: how far apart two frames of one
/// clock may be measured from their deadlines' distance.
fn max_lag(lags: &[u32]) -> Duration {
    Duration::from_micros(lags.iter().copied().max().map_or(0, u64::from))
}

#[tokio::test]
async fn latency_is_anchored_at_the_end_of_speech_and_turns_follow_playback() {
    let s = Script {
        delay: Duration::from_millis(150),
        chunks: 10,
        stop_after: Duration::ZERO,
        malformed: false,
        burst: false,
    };
    let turns = [speech(10), speech(5)];
    let got = talk(&target(), &turns, &[None, None], s).await;
    assert_eq!(got.len(), 2, "{got:?}");
    for (i, turn) in got.iter().enumerate() {
        assert_eq!(turn.index, i);
        assert!(turn.error.is_none(), "{:?}", turn.error);
        let eos = turn.speech_ended.expect("end of speech");
        let spoke = eos - turn.speech_started.expect("speech start");
        // n frames: the last is due (n − 1) × 20 ms after the first; each
        // left its deadline late by one of the turn's lags.
        let want = FRAME * ([10, 5][i] - 1);
        let lag = max_lag(&turn.frame_lag_us);
        assert!(spoke.abs_diff(want) <= lag, "turn {i} spoke {spoke:?}");
        // The transcript comes `delay` after the end of speech, audio right after.
        let first = turn.first_message.expect("first message");
        on_schedule_at(first, eos, Duration::from_millis(150), LATE, "transcript");
        assert!(turn.first_audio.expect("audio") >= turn.first_message.expect("msg"));
        assert_eq!(turn.audio.len(), 10);
        assert!(turn.end_message && turn.response_end.is_some());
        assert!(!turn.frame_lag_us.is_empty());
    }
    // Turn 2 starts after turn 1's audio finished playing, plus the pause,
    // in the next frame slot.
    let played = playback_end(&got[0].audio).expect("audio");
    let next = got[1].speech_started.expect("turn 2");
    let pause = Duration::from_millis(50);
    on_schedule_at(next, played, pause, FRAME + LATE, "turn 2");
}

#[tokio::test]
async fn barge_in_measures_the_leak_window_and_the_next_turn_goes_on() {
    let s = Script {
        delay: Duration::from_millis(100),
        chunks: 50,
        stop_after: Duration::from_millis(120),
        malformed: false,
        burst: false,
    };
    let turns = [speech(5), speech(20), speech(5)];
    let barge = [Some(Duration::from_millis(200)), None, None];
    let got = talk(&target(), &turns, &barge, s).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let b = got[0].barge.as_ref().expect("turn 1 was barged");
    let ms = Duration::from_millis;
    let onset = b.onset.expect("onset");
    // Due 200 ms into the answer, in the next frame slot.
    let first = got[0].first_audio.expect("audio");
    on_schedule_at(onset, first, ms(200), FRAME + LATE, "onset");
    // The agent hears the onset, then sends the chunks due in the next
    // 120 ms: the last is due 100–120 ms after it (and arrives after).
    let last = b.leaked.last().expect("some audio leaked").0;
    on_schedule_at(last, onset, ms(100), FRAME + LATE, "time to silence");
    // At least the 6 chunks due in those 120 ms leak, and those still on
    // their way at the onset.
    let leaked: Duration = b.leaked.iter().map(|(_, d)| *d).sum();
    on_schedule(leaked, ms(120), FRAME + LATE, "leaked");
    // `interrupted` when the first chunk due after the stop would be.
    let event = b.interrupted_at.expect("interrupted");
    on_schedule_at(event, onset, ms(120), FRAME + LATE, "interrupted");
    assert_eq!(b.utterance_end, got[1].speech_ended);
    // The leak window is the interrupting utterance: 20 frames, the last
    // due 19 × 20 ms after the first (each left late by one of its lags).
    let window = b.utterance_end.expect("end") - onset;
    let lag = max_lag(&got[1].frame_lag_us);
    assert!(window.abs_diff(FRAME * 19) <= lag, "window {window:?}");
    // Its frames are the interrupting turn's; the interrupted turn keeps its
    // own (5 of speech, then noise until the barge-in ~300 ms later).
    assert!(
        got[1].frame_lag_us.len() >= 20,
        "{}",
        got[1].frame_lag_us.len()
    );
    let own = got[0].frame_lag_us.len();
    assert!((15..=25).contains(&own), "turn 1 sent {own} frames");
    // The interrupting utterance is turn 2, answered normally.
    assert!(got[1].error.is_none() && got[1].first_audio.is_some());
    assert!(got[1].barge.is_none() && got[2].error.is_none());
}

#[tokio::test]
async fn a_malformed_message_fails_the_turn_and_ends_the_conversation() {
    let s = Script {
        delay: Duration::from_millis(50),
        chunks: 3,
        stop_after: Duration::ZERO,
        malformed: true,
        burst: false,
    };
    let got = talk(&target(), &[speech(3), speech(3)], &[None, None], s).await;
    assert_eq!(got.len(), 1);
    let e = got[0].error.as_ref().expect("failed");
    assert_eq!(e.kind, ErrorKind::Decode);
}

#[tokio::test]
async fn a_traced_conversation_records_every_message_with_its_reading() {
    let s = Script {
        delay: Duration::from_millis(50),
        chunks: 3,
        stop_after: Duration::ZERO,
        malformed: false,
        burst: false,
    };
    let trace = Tracer::on([]);
    let turns = [speech(3), speech(2)];
    let pause = Duration::from_millis(50);
    let got = talk_traced(&target(), &turns, &[None, None], s, pause, &trace).await;
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|t| t.error.is_none()), "{got:?}");
    let mut events = trace.snapshot().events;
    events.sort_by_key(|e| e.at);
    let sent: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.what {
            What::Message {
                dir: Direction::Sent,
                excerpt,
                ..
            } => Some(excerpt.as_str()),
            _ => None,
        })
        .collect();
    // The start message, then each utterance's end of speech after its frames.
    assert_eq!(
        sent.iter().filter(|m| m.contains("end_of_speech")).count(),
        2,
        "{sent:?}"
    );
    assert_eq!(sent.first(), Some(&r#"{"type":"start"}"#), "{sent:?}");
    let frames: Vec<u64> = events
        .iter()
        .filter_map(|e| match e.what {
            What::Frames { count, .. } => Some(count),
            _ => None,
        })
        .collect();
    assert_eq!(frames, [3, 2]);
    let verdicts: Vec<&Verdict> = events
        .iter()
        .filter_map(|e| match &e.what {
            What::Message {
                dir: Direction::Received,
                verdict: Some(v),
                ..
            } => Some(v),
            _ => None,
        })
        .collect();
    let per_turn = [
        Verdict::Transcript("hi".into()),
        Verdict::Audio(640),
        Verdict::Audio(640),
        Verdict::Audio(640),
        Verdict::End,
    ];
    let want: Vec<&Verdict> = per_turn.iter().chain(&per_turn).collect();
    assert_eq!(verdicts, want);
    // Nothing is recorded with the tracer off.
    assert!(Tracer::off().snapshot().events.is_empty());
}

#[tokio::test]
async fn no_answer_is_a_timeout_from_the_end_of_speech() {
    let s = Script {
        delay: Duration::from_secs(10),
        chunks: 3,
        stop_after: Duration::ZERO,
        malformed: false,
        burst: false,
    };
    let t = target();
    let started = Instant::now();
    let got = talk(&t, &[speech(3), speech(3)], &[None, None], s).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Timeout)
    );
    let waited = Instant::now() - got[0].speech_ended.expect("eos");
    assert!(ms(waited) >= 400.0 && ms(waited) < 500.0, "{waited:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_barge_in_over_an_answer_sent_at_once_finds_it_still_playing() {
    // 50 chunks of 20 ms sent at once: the response is over at once, but
    // plays for 1 s. The caller barges in 200 ms into it and speaks 400 ms.
    let s = Script {
        delay: Duration::from_millis(100),
        chunks: 50,
        stop_after: Duration::from_millis(120),
        malformed: false,
        burst: true,
    };
    let turns = [speech(5), speech(20), speech(5)];
    let barge = [Some(Duration::from_millis(200)), None, None];
    let got = talk(&target(), &turns, &barge, s).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let b = got[0].barge.as_ref().expect("turn 1 was barged");
    assert!(b.after_response, "the whole answer had arrived");
    assert!(b.leaked.is_empty() && b.interrupted_at.is_none());
    let ms = Duration::from_millis;
    let onset = b.onset.expect("onset");
    let first = got[0].first_audio.expect("audio");
    on_schedule_at(onset, first, ms(200), FRAME + LATE, "onset");
    // The player, started at the first audio, plays 1 s of it, so ~800 ms
    // were still queued at the onset: what `metrics` counts as leaked (the
    // scripted agent sends no interruption message once it sent everything).
    let played = playback_end(&got[0].audio).expect("audio");
    on_schedule_at(played, first, ms(1_000), LATE, "played until");
}

#[tokio::test]
async fn a_planned_barge_in_after_the_answer_played_is_marked_untested() {
    // A 60 ms answer; the caller means to barge in 200 ms into it.
    let s = Script {
        delay: Duration::from_millis(50),
        chunks: 3,
        stop_after: Duration::ZERO,
        malformed: false,
        burst: false,
    };
    let turns = [speech(3), speech(3), speech(3)];
    let barge = [Some(Duration::from_millis(200)), None, None];
    // A 50 ms pause ends first: the barge-in never comes.
    let got = talk(&target(), &turns, &barge, s).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let b = got[0].barge.as_ref().expect("the plan is kept");
    assert!(b.after_response && b.onset.is_none(), "{b:?}");
    assert!(got[1].barge.is_none());
    // In a 500 ms pause it comes, over an answer that finished playing.
    let got = talk_paused(&target(), &turns, &barge, s, Duration::from_millis(500)).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let b = got[0].barge.as_ref().expect("barged");
    let onset = b.onset.expect("onset");
    assert!(b.after_response && b.leaked.is_empty());
    assert!(playback_end(&got[0].audio).expect("audio") < onset);
    let first = got[0].first_audio.expect("audio");
    let due = Duration::from_millis(200);
    on_schedule_at(onset, first, due, FRAME + LATE, "onset");
}

#[test]
fn playback_waits_for_late_audio() {
    let t0 = Instant::now();
    let d = Duration::from_millis(100);
    // Second chunk arrives at 250 ms, after the first finished at 100 ms.
    let audio = [(t0, d), (t0 + Duration::from_millis(250), d)];
    assert_eq!(playback_end(&audio), Some(t0 + Duration::from_millis(350)));
    let early = [(t0, d), (t0 + Duration::from_millis(10), d)];
    assert_eq!(playback_end(&early), Some(t0 + Duration::from_millis(200)));
    assert_eq!(playback_end(&[]), None);
}

#[test]
fn played_audio_follows_the_player_that_waits_when_dry() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let d = Duration::from_millis;
    // 100 ms at 0, 100 ms at 50 (queued: plays 100..200), 100 ms at 400 (dry 200..400).
    let audio = [(at(0), d(100)), (at(50), d(100)), (at(400), d(100))];
    assert_eq!(played_by(&audio, at(0)), d(0));
    assert_eq!(played_by(&audio, at(60)), d(60));
    assert_eq!(played_by(&audio, at(150)), d(150));
    assert_eq!(played_by(&audio, at(300)), d(200));
    assert_eq!(played_by(&audio, at(450)), d(250));
    assert_eq!(played_by(&audio, at(900)), d(300));
    assert_eq!(played_by(&[], at(900)), d(0));
    // The player's end agrees with playback_end.
    assert_eq!(playback_end(&audio), Some(at(500)));
}
