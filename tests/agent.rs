//! Voice agents against the mock agent, whose response delay, barge-in stop
//! delay, audio length and faults are known: voxload's per-turn numbers,
//! anchored at the end of the caller's speech, must match them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::agent::{late_ms, ms, run, script, seeded, Opts, FRAME};
use common::timing::{on_schedule_ms, on_schedule_us, LATE};
use voxload::config::agent::AgentOptions;
use voxload::metrics::RequestRecord;
use voxload::mock::{
    self, AgentFaultKind, AgentFaults, AgentModel, EndOfSpeech, MockHandle, MockModel,
};
use voxload::protocol::ErrorKind;
use voxload::result::RunResult;

fn agent_url(mock: &MockHandle) -> String {
    format!("{}/v1/agent", mock.url().replacen("http://", "ws://", 1))
}

fn options(mock: &MockHandle, dir: &Path, calls: u64, concurrency: &str) -> Opts {
    let agent = AgentOptions {
        url: Some(agent_url(mock)),
        script: Some(vec![script("two_turns", &["hello there", "thanks a lot"])]),
        pause: Some(Duration::from_millis(100)),
        ..AgentOptions::default()
    };
    Opts::new(agent, dir, calls, concurrency)
}

fn model(agent: AgentModel) -> MockModel {
    seeded(agent, 3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_latency_is_anchored_at_the_end_of_speech() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = AgentModel {
        response_delay: Duration::from_millis(300),
        transcript_delay: Duration::from_millis(100),
        vad_silence: Duration::from_millis(240),
        response_audio: Duration::from_millis(600),
        chunk: Duration::from_millis(20),
        ..AgentModel::default()
    };
    let mock = mock::spawn(model(agent.clone())).await.expect("mock");

    // Explicit end of speech: the agent starts its clock at our message.
    let mut o = options(&mock, dir.path(), 2, "2");
    o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
    let (result, records) = run(o.clone()).await;
    assert_eq!(records.len(), 4, "2 calls × 2 turns");
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    assert_eq!(result.stages[0].summary.ok, 4);
    // Due from the agent's reading of our end of speech, just after we sent it.
    let first_audio = common::median(records.iter().map(|r| ms(r.agent_first_audio_us)).collect());
    on_schedule_ms(first_audio, agent.response_delay, LATE, "first audio");
    let transcript = common::median(records.iter().map(|r| ms(r.agent_transcript_us)).collect());
    on_schedule_ms(transcript, agent.transcript_delay, LATE, "transcript");
    for r in &records {
        assert!(
            r.agent_first_audio_us >= Some(300_000),
            "never before the model's delay"
        );
        assert_eq!(r.agent_first_message_us, r.agent_transcript_us);
        // Audio decoded to the sample: 600 ms per answer.
        assert_eq!(r.audio_us, Some(600_000));
        assert_eq!(r.chunks, 30);
        // The turn spans the caller's speech too: "hello there" is 11
        // characters = 733 ms of speech, its last frame due 720 ms after the
        // first (which may have left LATE), then 300 ms and the last chunk
        // due 580 ms after the first.
        let least = 720.0 - late_ms() + 300.0 + 580.0;
        assert!(ms(r.turn_us) >= least, "{:?}", r.turn_us);
        assert_eq!(r.script.as_deref(), Some("two_turns"));
    }
    let turns: Vec<_> = records.iter().map(|r| r.turn).collect();
    assert_eq!(turns.iter().filter(|t| **t == Some(1)).count(), 2);
    assert_eq!(
        records.iter().filter(|r| r.connect_us.is_some()).count(),
        2,
        "connect once per call"
    );

    // Energy detection: the agent needs vad_silence of noise after our last
    // speech frame, so the same answer comes 240 ms later — still measured
    // from the end of speech, not from the start of the turn.
    let mock = mock::spawn(model(agent)).await.expect("mock");
    o.agent.url = Some(agent_url(&mock));
    o.agent.end_of_speech_message = None;
    let (_, records) = run(o).await;
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    let truth = mock.truth().await.agent;
    // Paired with the mock's own clock: its last speech frame arrival →
    // its first audio sent, against ours (end of speech → first audio).
    let theirs = common::median(
        truth
            .recent_turns
            .iter()
            .map(|t| {
                (t.first_audio_us.expect("answered") - t.last_speech_us.expect("speech")) as f64
                    / 1e3
            })
            .collect(),
    );
    // The two differ by loopback and reads (the speech frame's, the audio's),
    // either way.
    let ours = common::median(records.iter().map(|r| ms(r.agent_first_audio_us)).collect());
    assert!(
        (ours - theirs).abs() <= late_ms(),
        "ours {ours} ms, mock {theirs} ms"
    );
    // 240 ms VAD + 300 ms after our last speech frame, whose own lateness
    // (up to LATE) shortens the figure: it may be off either way.
    assert!(
        (ours - 540.0).abs() <= late_ms(),
        "240 ms VAD + 300 ms: {ours} ms"
    );
    assert_eq!(truth.turns, 4);
    assert!(truth
        .recent_turns
        .iter()
        .all(|t| t.detected_by == EndOfSpeech::Energy));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_time_to_silence_matches_the_agents_stop_delay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = AgentModel {
        response_delay: Duration::from_millis(200),
        response_audio: Duration::from_millis(3_000),
        chunk: Duration::from_millis(20),
        barge_stop_delay: Duration::from_millis(150),
        ..AgentModel::default()
    };
    let mock = mock::spawn(model(agent)).await.expect("mock");
    let mut o = options(&mock, dir.path(), 2, "2");
    o.agent.script = Some(vec![script(
        "interrupting",
        &[
            "one two three",
            "wait, stop please",
            "ok, talk to you later then",
        ],
    )]);
    o.agent.barge_in = Some(1.0);
    o.agent.barge_in_after = Some(Duration::from_millis(400));
    o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
    let (_, records) = run(o).await;
    assert_eq!(records.len(), 6, "{records:?}");
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    let barged: Vec<_> = records
        .iter()
        .filter(|r| r.barge_in_silence_us.is_some())
        .collect();
    // Every turn but the last of each call was interrupted.
    assert_eq!(barged.len(), 4);
    let truth = mock.truth().await.agent;
    assert_eq!(truth.interrupted, 4);
    for r in &barged {
        // Never before the agent's own stop delay, minus one 20 ms chunk.
        assert!(
            ms(r.barge_in_event_us) >= 150.0,
            "{:?}",
            r.barge_in_event_us
        );
        assert!(
            ms(r.barge_in_silence_us) >= 125.0,
            "{:?}",
            r.barge_in_silence_us
        );
        // Cut short: far less than the 3 s answer.
        assert!(ms(r.audio_us) < 1_000.0);
    }
    let median = |f: fn(&RequestRecord) -> Option<u64>| {
        common::median(barged.iter().map(|r| ms(f(r))).collect())
    };
    // The agent sends `interrupted` 150 ms after our first frame reaches it…
    let stop = Duration::from_millis(150);
    let event = median(|r| r.barge_in_event_us);
    on_schedule_ms(event, stop, LATE, "event");
    // …its last chunk is due at most one chunk (20 ms) before that, and
    // plays for 20 ms after it arrives.
    let silence = median(|r| r.barge_in_silence_us);
    on_schedule_ms(silence, stop - FRAME, 2 * FRAME + LATE, "silence");
    // At real time, the audio leaked ≈ the time it kept talking: every
    // chunk due between the onset and the stop.
    let leak = median(|r| r.barge_in_leak_us);
    on_schedule_ms(leak, stop - FRAME, 2 * FRAME + LATE, "leak");
    for t in truth
        .recent_turns
        .iter()
        .filter(|t| t.barge_in_us.is_some())
    {
        let (barge, stopped) = (t.barge_in_us.expect("barge"), t.audio_stopped_us);
        let what = "the mock's own stop delay";
        on_schedule_us(stopped.expect("stopped"), barge, stop, LATE, what);
    }
}

/// Two calls of three turns, the first two barged 400 ms into their
/// answer, against an agent sending each 3 s answer all at once.
async fn barge_in_over_bursts(interrupt_message: bool) -> (Vec<RequestRecord>, mock::AgentTruth) {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = AgentModel {
        response_delay: Duration::from_millis(200),
        response_audio: Duration::from_millis(3_000),
        burst: true,
        barge_stop_delay: Duration::from_millis(150),
        interrupt_message,
        ..AgentModel::default()
    };
    let mock = mock::spawn(model(agent)).await.expect("mock");
    let mut o = options(&mock, dir.path(), 2, "2");
    o.agent.script = Some(vec![script(
        "interrupting",
        &["one two three", "wait, stop please", "ok, bye then"],
    )]);
    o.agent.barge_in = Some(1.0);
    o.agent.barge_in_after = Some(Duration::from_millis(400));
    o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
    let (_, records) = run(o).await;
    assert_eq!(records.len(), 6, "{records:?}");
    (records, mock.truth().await.agent)
}

fn barged(records: &[RequestRecord]) -> Vec<&RequestRecord> {
    let b: Vec<_> = records
        .iter()
        .filter(|r| r.barge_in_leak_us.is_some())
        .collect();
    assert_eq!(
        b.len(),
        4,
        "every turn but the last of each call: {records:?}"
    );
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_over_an_answer_sent_at_once_leaks_what_the_player_had_queued() {
    let (records, truth) = barge_in_over_bursts(false).await;
    let truth_barged: Vec<_> = truth
        .recent_turns
        .iter()
        .filter(|t| t.barge_in_us.is_some())
        .collect();
    assert_eq!(truth_barged.len(), 4);
    // The mock's truth: each answer went out at once, long before the
    // onset, and the caller would still play it for (first audio + 3 s −
    // onset); nothing came after the onset, and no interruption message.
    let mut queued = Vec::new();
    for t in &truth_barged {
        let (first, last, barge) = (
            t.first_audio_us.expect("audio"),
            t.last_audio_us.expect("audio"),
            t.barge_in_us.expect("barge"),
        );
        // Sent at once: every chunk due 200 ms after the end of speech.
        let delay = Duration::from_millis(200);
        on_schedule_us(first, t.speech_end_us, delay, LATE, "first chunk");
        on_schedule_us(last, t.speech_end_us, delay, LATE, "last chunk");
        assert!(last < barge && t.interrupted_us.is_none(), "{t:?}");
        assert_eq!(t.audio_us, 3_000_000);
        // Onset 400 ms (in the next 20 ms frame slot) after our first audio.
        let onset = Duration::from_millis(400);
        on_schedule_us(barge, first, onset, FRAME + LATE, "onset");
        queued.push((first + t.audio_us - barge) as f64 / 1e3);
    }
    let queued = common::median(queued);
    let barged = barged(&records);
    for r in &barged {
        // All of it played over the caller and past the interruption's end.
        assert_eq!(r.error, Some(ErrorKind::BargeInIgnored), "{r:?}");
        assert!(!r.barge_in_untested);
        assert_eq!(r.barge_in_event_us, None);
        // One answer without gaps: silent when the queue ran out.
        let (leak, silence) = (ms(r.barge_in_leak_us), ms(r.barge_in_silence_us));
        assert!((leak - silence).abs() < 1.0, "{leak} vs {silence}");
    }
    // Our leak against the mock's queue: ours is longer by loopback, once
    // on the first audio and once on the onset.
    let leak = common::median(barged.iter().map(|r| ms(r.barge_in_leak_us)).collect());
    assert!(
        leak + 1.0 >= queued && leak - queued <= late_ms(),
        "leak {leak} ms, queued {queued} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_interruption_message_only_what_played_before_it_leaks() {
    let (records, truth) = barge_in_over_bursts(true).await;
    let mut cleared = Vec::new();
    for t in truth
        .recent_turns
        .iter()
        .filter(|t| t.barge_in_us.is_some())
    {
        let (barge, clear) = (
            t.barge_in_us.expect("barge"),
            t.interrupted_us.expect("clear"),
        );
        // Nothing arrived after the clear: every chunk went before the onset.
        assert!(t.last_audio_us.expect("audio") < barge, "{t:?}");
        cleared.push((clear - barge) as f64 / 1e3);
    }
    assert_eq!(cleared.len(), 4);
    let cleared = common::median(cleared);
    let stop = Duration::from_millis(150);
    on_schedule_ms(cleared, stop, LATE, "mock's stop");
    let barged = barged(&records);
    for r in &barged {
        assert!(r.ok(), "the agent stopped: {r:?}");
        // The player played from the onset until the clear arrived, then
        // dropped the ~2.4 s still queued.
        on_schedule_ms(ms(r.barge_in_leak_us), stop, LATE, "leak");
        assert_eq!(r.barge_in_silence_us, r.barge_in_leak_us);
        assert_eq!(r.barge_in_event_us, r.barge_in_silence_us);
    }
    // Ours is longer by loopback, once on the onset and once on the clear.
    let leak = common::median(barged.iter().map(|r| ms(r.barge_in_leak_us)).collect());
    assert!(
        leak + 1.0 >= cleared && leak - cleared <= late_ms(),
        "leak {leak} ms, mock {cleared} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barge_in_after_the_answer_played_is_untested_not_perfect() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A 300 ms answer; the caller means to barge in 500 ms into it.
    let agent = AgentModel {
        response_delay: Duration::from_millis(100),
        response_audio: Duration::from_millis(300),
        ..AgentModel::default()
    };
    // 100 ms pause: the next turn starts (at ~400 ms) before the barge-in
    // is due; 1 s pause: the barge-in comes in the pause, over nothing.
    for pause in [100, 1_000] {
        let mock = mock::spawn(model(agent.clone())).await.expect("mock");
        let mut o = options(&mock, dir.path(), 1, "1");
        o.agent.script = Some(vec![script("short", &["hi", "so", "bye"])]);
        o.agent.barge_in = Some(1.0);
        o.agent.barge_in_after = Some(Duration::from_millis(500));
        o.agent.pause = Some(Duration::from_millis(pause));
        o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
        let (result, records) = run(o).await;
        assert_eq!(records.len(), 3, "{records:?}");
        assert!(records.iter().all(RequestRecord::ok), "{records:?}");
        // The mock heard no caller speech over any answer.
        let truth = mock.truth().await.agent;
        assert_eq!(truth.turns, 3);
        assert!(truth.recent_turns.iter().all(|t| t.barge_in_us.is_none()));
        let untested: Vec<_> = records.iter().filter(|r| r.barge_in_untested).collect();
        assert_eq!(untested.len(), 2, "pause {pause}: {records:?}");
        assert!(records.iter().all(|r| r.barge_in_silence_us.is_none()
            && r.barge_in_leak_us.is_none()
            && r.barge_in_event_us.is_none()));
        let s = &result.stages[0].summary;
        assert_eq!((s.barge_ins, s.barge_in_untested), (2, 2));
        assert!(!s.metrics.contains_key("barge_in_silence"));
        let share = voxload::metrics::registry::StageMetric::BargeInUntested.observe(s);
        assert_eq!(share, Ok(100.0));
        let text = voxload::report::terminal::summary(&result);
        assert!(text.contains("barge-ins 2 untested 2"), "{text}");
        let json = serde_json::to_value(&result).expect("json");
        assert_eq!(json["stages"][0]["summary"]["barge_in_untested"], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_utterance_is_paced_without_drift() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model(AgentModel {
        response_delay: Duration::from_millis(100),
        response_audio: Duration::from_millis(200),
        ..AgentModel::default()
    }))
    .await
    .expect("mock");
    let mut o = options(&mock, dir.path(), 1, "1");
    // 300 characters at 15 per second: 20 s of speech, 1,000 frames.
    let long = "the quick brown fox jumps over the lazy dog ".repeat(7);
    let long = &long[..300];
    o.agent.script = Some(vec![script("monologue", &[long])]);
    o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
    o.agent.start_message = Some(vec![String::new()]);
    let (_, records) = run(o).await;
    assert_eq!(records.len(), 1);
    assert!(records[0].ok(), "{:?}", records[0]);
    let truth = mock.truth().await.agent;
    let session = &truth.recent_sessions[0];
    let turn = &truth.recent_turns[0];
    // 1,000 frames of speech, then noise until the answer.
    assert!(session.frames >= 1_000, "{}", session.frames);
    // The server saw the last speech frame 999 × 20 ms after the session
    // began (its clock starts within a frame of that): relative sleeps would
    // add each frame's send time on top.
    let last = turn.last_speech_us.expect("speech");
    let due = Duration::from_millis(19_980);
    on_schedule_us(last, session.accepted_us, due, FRAME + LATE, "last frame");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_counted_in_their_class_and_the_run_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model(AgentModel {
        response_delay: Duration::from_millis(50),
        response_audio: Duration::from_millis(100),
        faults: AgentFaults {
            close: 0.2,
            silent: 0.2,
            malformed: 0.2,
            huge_message: 0.1,
        },
        ..AgentModel::default()
    }))
    .await
    .expect("mock");
    let mut o = options(&mock, dir.path(), 24, "3");
    o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
    o.agent.answer_timeout = Some(Duration::from_millis(500));
    o.agent.pause = Some(Duration::ZERO);
    let (result, records) = run(o).await;
    let truth = mock.truth().await.agent;
    let mut errors: BTreeMap<ErrorKind, u64> = BTreeMap::new();
    for r in &records {
        if let Some(e) = r.error {
            *errors.entry(e).or_default() += 1;
        }
    }
    let fault = |kind: AgentFaultKind| truth.faults.get(&kind).copied().unwrap_or(0);
    // Each fault ends the call on our side, so counts match one to one.
    assert_eq!(
        errors.get(&ErrorKind::Reset).copied().unwrap_or(0),
        fault(AgentFaultKind::Close)
    );
    assert_eq!(
        errors.get(&ErrorKind::Timeout).copied().unwrap_or(0),
        fault(AgentFaultKind::Silent)
    );
    assert_eq!(
        errors.get(&ErrorKind::Decode).copied().unwrap_or(0),
        fault(AgentFaultKind::Malformed)
    );
    // A transcript of 16 MiB + 1 bytes is over the message limit.
    assert_eq!(
        errors.get(&ErrorKind::Protocol).copied().unwrap_or(0),
        fault(AgentFaultKind::HugeMessage)
    );
    assert!(
        fault(AgentFaultKind::Close)
            + fault(AgentFaultKind::Silent)
            + fault(AgentFaultKind::Malformed)
            > 0
    );
    let summary = &result.stages[0].summary;
    assert_eq!(summary.ok + summary.failed, records.len() as u64);
    assert!(summary.ok > 0 && summary.failed > 0);
}

/// A message over the limit fails the call as `protocol` (it was `reset`):
/// the mock's 16 MiB + 1 byte transcript against the default 16 MiB, and
/// its ordinary 1,280-byte audio chunks against `--ws-max-message 1KiB`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_is_a_protocol_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (huge, limit, detail) in [
        (
            1.0,
            None,
            "WebSocket message of 16777217 bytes over the 16MiB limit",
        ),
        (
            0.0,
            Some(1024),
            "WebSocket message of 1280 bytes over the 1KiB limit",
        ),
    ] {
        let mock = mock::spawn(model(AgentModel {
            response_delay: Duration::from_millis(50),
            faults: AgentFaults {
                huge_message: huge,
                ..AgentFaults::default()
            },
            ..AgentModel::default()
        }))
        .await
        .expect("mock");
        let mut o = options(&mock, dir.path(), 1, "1");
        o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
        o.agent.ws_max_message = limit;
        let (_, records) = run(o).await;
        assert_eq!(records.len(), 1, "the call ends at its first turn");
        let r = &records[0];
        assert_eq!(r.error, Some(ErrorKind::Protocol), "{r:?}");
        let example = r.error_detail.as_deref().unwrap_or("");
        assert!(example.contains(detail), "{example}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_the_agents_capacity_are_turned_away_with_1013() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model(AgentModel {
        response_delay: Duration::from_millis(50),
        response_audio: Duration::from_millis(100),
        max_sessions: 1,
        ..AgentModel::default()
    }))
    .await
    .expect("mock");
    let mut o = options(&mock, dir.path(), 2, "2");
    o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
    let (_, records) = run(o).await;
    let truth = mock.truth().await.agent;
    let rejected = records
        .iter()
        .filter(|r| r.error == Some(ErrorKind::WsClosed(1013)))
        .count() as u64;
    assert_eq!(rejected, truth.rejected_over_capacity);
    assert_eq!(rejected, 1, "{records:?}");
    assert!(records
        .iter()
        .filter(|r| r.error.is_some())
        .all(|r| r.ws_close == Some(1013) && r.turn == Some(1)));
    assert_eq!(
        records.iter().filter(|r| r.ok()).count(),
        2,
        "the other call's 2 turns"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_json_frames_both_ways_in_open_loop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model(AgentModel {
        response_delay: Duration::from_millis(100),
        response_audio: Duration::from_millis(400),
        json_audio: true,
        ..AgentModel::default()
    }))
    .await
    .expect("mock");
    let mut o = options(&mock, dir.path(), 3, "1");
    o.run.concurrency = None;
    o.run.rate = "4".parse().ok();
    o.agent.frame_encoding = Some(r#"{"type":"audio","audio":"{{audio}}"}"#.into());
    o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
    let (result, records) = run(o).await;
    assert_eq!(records.len(), 6, "3 calls × 2 turns: {records:?}");
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    // Base64 audio is counted by its decoded length: 400 ms per answer.
    assert!(records.iter().all(|r| r.audio_us == Some(400_000)));
    // Open loop: each call's first turn carries its schedule lag.
    let lags = records
        .iter()
        .filter(|r| r.schedule_lag_us.is_some())
        .count();
    assert_eq!(lags, 3);
    assert!(result.stages[0].offered_rps.is_some());
    let truth = mock.truth().await.agent;
    // The agent decoded our base64 frames: it heard the speech and answered.
    assert_eq!(truth.turns, 6);
    assert!(truth
        .recent_sessions
        .iter()
        .all(|s| s.caller_audio_us > 1_000_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_turn_is_on_disk_at_once_and_survives_ctrl_c() {
    use std::process::{Command, Stdio};
    use std::time::Instant;
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model(AgentModel::default()))
        .await
        .expect("mock");
    let config = dir.path().join("calls.toml");
    std::fs::write(
        &config,
        "[[script]]\nname = \"two\"\ntexts = [\"hello there\", \"thanks a lot\"]\n",
    )
    .expect("config");
    // Turn 2 would start 20 s after turn 1's answer: turn 1 must be on disk
    // long before, and Ctrl-C must not lose it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxload"))
        .args(["agent", "--url", &agent_url(&mock), "--config"])
        .arg(&config)
        .args(["--end-of-speech-message", r#"{"type":"end_of_speech"}"#])
        .args([
            "--concurrency",
            "1",
            "-n",
            "1",
            "--pause",
            "20s",
            "--grace",
            "1s",
        ])
        .args(["-q", "--name", "run", "--out"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let jsonl = dir.path().join("run").join("requests.jsonl");
    let end = Instant::now() + Duration::from_secs(15);
    let lines = |p: &Path| std::fs::read_to_string(p).map_or(0, |t| t.lines().count());
    while lines(&jsonl) == 0 {
        assert!(Instant::now() < end, "turn 1 never reached requests.jsonl");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let code = tokio::task::spawn_blocking(move || {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > end {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("join");
    assert_eq!(code, Some(130));
    let records = common::read_records(&jsonl);
    let first = records
        .iter()
        .find(|r| r.turn == Some(1))
        .expect("turn 1 kept");
    assert!(
        first.ok() && first.agent_first_audio_us.is_some(),
        "{first:?}"
    );
    assert_eq!(
        records.len(),
        2,
        "turn 1 and the abandoned call: {records:?}"
    );
    let abandoned = records.iter().find(|r| r.turn != Some(1)).expect("call");
    assert!(!abandoned.ok());
    assert_eq!(abandoned.script.as_deref(), Some("two"), "{abandoned:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_upgrades_fails_the_call_at_the_connect_timeout() {
    // Accepts TCP connections and never answers the WebSocket upgrade.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().take(4).flatten() {
            held.push(conn);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model(AgentModel::default()))
        .await
        .expect("mock");
    let mut o = options(&mock, dir.path(), 1, "1");
    o.agent.url = Some(format!("ws://127.0.0.1:{port}/v1/agent"));
    o.agent.connect_timeout = Some(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let (_, records) = run(o).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].error, Some(ErrorKind::Timeout));
    let detail = records[0].error_detail.as_deref().unwrap_or_default();
    assert!(detail.contains("no WebSocket connection"), "{detail}");
}

/// A 429 refusing the WebSocket upgrade carries `Retry-After: 1`: the call
/// fails as `http_429` with the wait in its record, and with
/// `--honor-retry-after` the user's next call starts no earlier than a
/// second later (the HTTP adapters' rule, now for handshakes too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_refused_with_retry_after_is_waited_for_when_asked() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        // The preflight connects too, then the three calls.
        for mut conn in listener.incoming().take(8).flatten() {
            let mut head = [0u8; 4096];
            let _ = conn.read(&mut head);
            let _ = conn.write_all(
                b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy",
            );
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model(AgentModel::default()))
        .await
        .expect("mock");
    let mut o = options(&mock, dir.path(), 3, "1");
    o.agent.url = Some(format!("ws://127.0.0.1:{port}/v1/agent"));
    o.run.honor_retry_after = Some(true);
    let (_, records) = run(o).await;
    assert_eq!(records.len(), 3, "{records:?}");
    for r in &records {
        assert_eq!(r.error, Some(ErrorKind::Http(429)), "{r:?}");
        assert_eq!(r.retry_after_us, Some(1_000_000), "{r:?}");
    }
    for pair in records.windows(2) {
        // A sleep never ends early; 2 ms covers reading the clocks.
        let gap = pair[1].start_us.saturating_sub(pair[0].end_us);
        assert!(
            gap >= 998_000,
            "next call {gap} µs after a Retry-After of 1 s"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locust_csv_rows_are_turns_timed_to_first_audio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model(AgentModel {
        response_delay: Duration::from_millis(200),
        ..AgentModel::default()
    }))
    .await
    .expect("mock");
    let mut o = options(&mock, dir.path(), 2, "2");
    o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
    let (_, out) = common::run_plan(o.plan(), Default::default()).await;
    let csv = std::fs::read_to_string(out.join("locust_stats.csv")).expect("csv");
    let row: Vec<&str> = csv
        .lines()
        .find(|l| l.starts_with("WS,"))
        .expect("a WS row")
        .split(',')
        .collect();
    // Type, Name, Request Count (turns), Failure Count, Median Response Time (ms).
    assert_eq!(row[2], "4", "{csv}");
    assert_eq!(row[3], "0", "{csv}");
    let median: f64 = row[4].parse().expect("median");
    on_schedule_ms(median, Duration::from_millis(200), LATE, &csv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_record_what_the_agent_heard_and_said_and_score_what_it_heard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = AgentModel {
        transcribe: true,
        response_audio: Duration::from_millis(400),
        ..AgentModel::default()
    };
    let mock = mock::spawn(model(agent.clone())).await.expect("mock");
    let mut o = options(&mock, dir.path(), 2, "2");
    o.agent.end_of_speech_message = Some(vec![r#"{"type":"end_of_speech"}"#.into()]);
    let (result, records) = run(o).await;
    assert_eq!(records.len(), 4);
    let truth = mock.truth().await.agent;
    let mut heard: Vec<String> = records
        .iter()
        .map(|r| r.transcript.clone().expect("a transcript"))
        .collect();
    let mut sent: Vec<String> = truth
        .recent_turns
        .iter()
        .map(|t| t.transcript.clone())
        .collect();
    heard.sort();
    sent.sort();
    // What the mock decoded is what the records hold, and it is what the caller said.
    assert_eq!(heard, sent);
    for r in &records {
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.wer, Some(0.0), "{r:?}");
        assert!(r.ref_words >= Some(2), "{r:?}");
        let reply = r.reply.as_deref().expect("a reply");
        // The mock says its phrase for as many characters as its audio lasts
        // (15 per second: 6 in 400 ms).
        assert_eq!(reply, "sure, ", "{r:?}");
        // 400 ms of 16-bit PCM at 16 kHz.
        assert_eq!(r.audio_bytes, 400 * 16 * 2);
    }
    assert_eq!(result.stages[0].summary.wer_pooled, Some(0.0));
}

fn realtime_url(mock: &MockHandle, query: &str) -> String {
    format!(
        "{}/v1/realtime{query}",
        mock.url().replacen("http://", "ws://", 1)
    )
}

/// A mock agent on `/v1/realtime{query}`, and 2 calls (2 at a time) of
/// three turns to it.
async fn realtime_calls(agent: &AgentModel, dir: &Path, query: &str) -> (MockHandle, Opts) {
    let mock = mock::spawn(model(agent.clone())).await.expect("mock");
    let mut o = options(&mock, dir, 2, "2");
    o.agent.url = Some(realtime_url(&mock, query));
    o.agent.script = Some(vec![script(
        "three",
        &["hello there", "what is my balance", "thanks a lot"],
    )]);
    (mock, o)
}

/// `o` with `preset` under its agent options, run.
async fn run_preset(o: Opts, preset: &str) -> (RunResult, Vec<RequestRecord>) {
    common::run_with_preset(o.options(), preset).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_realtime_preset_is_timed_and_truncates_what_it_played() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = AgentModel {
        transcribe: true,
        response_delay: Duration::from_millis(400),
        transcript_delay: Duration::from_millis(150),
        vad_silence: Duration::from_millis(240),
        response_audio: Duration::from_millis(1_200),
        barge_stop_delay: Duration::from_millis(300),
        ..AgentModel::default()
    };
    let (mock, mut o) = realtime_calls(&agent, dir.path(), "?model=gpt-realtime").await;
    // Barge into every answer but the last, 400 ms into its audio.
    o.agent.barge_in = Some(1.0);
    o.agent.barge_in_after = Some(Duration::from_millis(400));
    let (result, records) = run_preset(o.clone(), "openai-realtime").await;
    assert_eq!(records.len(), 6, "2 calls × 3 turns: {records:?}");
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    // The session states its rate (GA `session.audio.output.format.rate`),
    // and the preset reads it: 24 kHz, as configured, so nothing to warn of.
    let rated = |r: &&RequestRecord| r.audio_bytes > 0;
    assert!(
        records
            .iter()
            .filter(rated)
            .all(|r| r.sample_rate == Some(24_000)
                && r.rate_source == Some(voxload::audio::rate::RateSource::Message)),
        "{records:?}"
    );
    assert!(result.warnings.is_empty(), "{:?}", result.warnings);
    assert_eq!(result.stages[0].summary.wer_pooled, Some(0.0));
    let truth = mock.truth().await.agent;
    // The server's VAD: our end of speech → its speech_stopped is the mock's
    // last speech frame → detection (vad_silence of noise), and the
    // response starts there too.
    let vad_ms = common::median(
        truth
            .recent_turns
            .iter()
            .filter_map(|t| Some((t.speech_end_us - t.last_speech_us?) as f64 / 1e3))
            .collect(),
    );
    let endpoint = common::median(records.iter().map(|r| ms(r.agent_endpoint_us)).collect());
    on_schedule_ms(
        endpoint,
        Duration::from_secs_f64(vad_ms / 1e3),
        LATE,
        "speech_stopped",
    );
    let started = common::median(
        records
            .iter()
            .map(|r| ms(r.agent_response_start_us))
            .collect(),
    );
    on_schedule_ms(
        started,
        Duration::from_secs_f64(vad_ms / 1e3),
        LATE,
        "response.created",
    );
    let first = common::median(records.iter().map(|r| ms(r.agent_first_audio_us)).collect());
    let due = Duration::from_secs_f64(vad_ms / 1e3) + agent.response_delay;
    on_schedule_ms(first, due, LATE, "first audio delta");
    let heard = common::median(records.iter().map(|r| ms(r.agent_transcript_us)).collect());
    let due = Duration::from_secs_f64(vad_ms / 1e3) + agent.transcript_delay;
    on_schedule_ms(heard, due, LATE, "transcription completed");
    for r in &records {
        // 24 kHz PCM: the audio seconds are read at the preset's rate.
        assert_eq!(r.audio_bytes % 2, 0);
        let audio_s = r.audio_us.expect("audio") as f64 / 1e6;
        assert!(
            (r.audio_bytes as f64 / 48_000.0 - audio_s).abs() < 1e-3,
            "{r:?}"
        );
    }
    // Each barged answer: the caller cancelled while it was still going and
    // truncated it to what its player had played — the audio sent from the
    // first delta to the barge-in onset (sent in real time), within a chunk
    // and the slack.
    let sessions: Vec<_> = truth
        .recent_sessions
        .iter()
        .filter_map(|s| s.realtime.clone())
        .collect();
    assert_eq!(sessions.len(), 2);
    let barged: Vec<_> = truth
        .recent_turns
        .iter()
        .filter(|t| t.barge_in_us.is_some())
        .collect();
    assert_eq!(barged.len(), 4, "two per call");
    for s in &sessions {
        assert_eq!(s.dialect, "ga");
        assert_eq!(s.updates, 1);
        assert_eq!(s.truncates.len(), 2, "{s:?}");
        assert!(s.cancels.iter().all(|(_, active)| *active), "{s:?}");
        assert!(s.errors.is_empty(), "{s:?}");
        for tr in &s.truncates {
            let turn = barged
                .iter()
                .find(|t| t.first_audio_us == tr.first_audio_us)
                .expect("the barged turn");
            let played_ms = (turn.barge_in_us.expect("onset") - turn.first_audio_us.expect("audio"))
                as f64
                / 1e3;
            let slack = LATE.as_secs_f64() * 1e3 + 20.0;
            assert!(
                (tr.audio_end_ms as f64 - played_ms).abs() <= slack,
                "truncated to {} ms, played {played_ms} ms",
                tr.audio_end_ms
            );
            assert!(tr.audio_end_ms <= tr.sent_audio_ms, "{tr:?}");
            assert!(tr.item_id.ends_with("_a"), "the answer's item: {tr:?}");
        }
    }

    // The beta names, chosen by the preset's OpenAI-Beta header.
    let mut beta = o.clone();
    beta.agent.url = Some(realtime_url(&mock, ""));
    beta.agent.barge_in = Some(0.0);
    let (_, records) = run_preset(beta, "openai-realtime-beta").await;
    assert_eq!(records.len(), 6);
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    assert!(records.iter().all(|r| r.agent_endpoint_us.is_some()));
    let truth = mock.truth().await.agent;
    let betas = truth
        .recent_sessions
        .iter()
        .filter(|s| s.realtime.as_ref().is_some_and(|r| r.dialect == "beta"))
        .count();
    assert_eq!(betas, 2);

    // An event the server does not know is answered with an error event,
    // which fails the turn by its code, at once (no timeout).
    let mut bad = o;
    bad.agent.barge_in = Some(0.0);
    bad.run.requests = Some(1);
    bad.run.concurrency = "1".parse().ok();
    bad.agent.start_message = Some(vec![r#"{"type":"session.upgrade"}"#.into()]);
    let (_, records) = run_preset(bad, "openai-realtime").await;
    assert_eq!(records.len(), 1, "{records:?}");
    let kind = ErrorKind::ServerEvent(voxload::protocol::EventCode::new("unknown_event"));
    assert_eq!(records[0].error, Some(kind), "{records:?}");
    let truth = mock.truth().await.agent;
    let last = truth
        .recent_sessions
        .last()
        .and_then(|s| s.realtime.clone());
    assert_eq!(
        last.map(|r| r.errors),
        Some(vec!["unknown_event".to_string()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twilio_preset_speaks_mulaw_echoes_marks_and_hears_clear_as_barge_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = AgentModel {
        transcribe: true,
        response_delay: Duration::from_millis(300),
        vad_silence: Duration::from_millis(240),
        response_audio: Duration::from_millis(1_000),
        barge_stop_delay: Duration::from_millis(250),
        ..AgentModel::default()
    };
    let mock = mock::spawn(model(agent.clone())).await.expect("mock");
    let mut o = options(&mock, dir.path(), 2, "2");
    o.agent.url = Some(format!(
        "{}/v1/twilio",
        mock.url().replacen("http://", "ws://", 1)
    ));
    let texts = ["hello there", "what is my balance", "thanks a lot"];
    o.agent.script = Some(vec![script("three", &texts)]);
    // Barge into every answer but the last, 300 ms into its audio.
    o.agent.barge_in = Some(1.0);
    o.agent.barge_in_after = Some(Duration::from_millis(300));
    let (_, records) = run_preset(o, "twilio").await;
    assert_eq!(records.len(), 6, "2 calls × 3 turns: {records:?}");
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    let truth = mock.truth().await.agent;
    let sessions: Vec<_> = truth
        .recent_sessions
        .iter()
        .filter_map(|s| s.realtime.clone())
        .collect();
    assert_eq!(sessions.len(), 2);
    for s in &sessions {
        assert_eq!((s.dialect.as_str(), s.codec.as_str()), ("twilio", "mulaw"));
        assert_eq!(s.updates, 1, "one start: {s:?}");
        assert!(s.errors.is_empty(), "{s:?}");
        assert!(s.stopped, "the caller hung up with stop: {s:?}");
        // Every frame numbered on its 20 ms slot, from chunk 1 and 0 ms.
        assert!(s.media > 100, "{s:?}");
        assert_eq!(s.misnumbered_media, 0, "{s:?}");
    }
    // μ-law round trip: the mock decoded the caller's G.711 audio back to
    // the script's words, every turn.
    assert_eq!(truth.recent_turns.len(), 6);
    for t in &truth.recent_turns {
        let said = texts[t.turn as usize];
        assert_eq!(t.transcript, said, "turn {}: {t:?}", t.turn);
    }
    // Answer latency against the mock's own VAD and response delay.
    let vad_ms = common::median(
        truth
            .recent_turns
            .iter()
            .filter_map(|t| Some((t.speech_end_us - t.last_speech_us?) as f64 / 1e3))
            .collect(),
    );
    let first = common::median(records.iter().map(|r| ms(r.agent_first_audio_us)).collect());
    let due = Duration::from_secs_f64(vad_ms / 1e3) + agent.response_delay;
    on_schedule_ms(first, due, LATE, "first media");
    for r in &records {
        // μ-law at 8 kHz: a byte a sample.
        let audio_s = r.audio_us.expect("audio") as f64 / 1e6;
        assert!(
            (r.audio_bytes as f64 / 8_000.0 - audio_s).abs() < 1e-3,
            "{r:?}"
        );
    }
    // Barge-in: the bot's clear came barge_stop_delay after the onset.
    let barged: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.barge_in_event_us.is_some())
        .collect();
    assert_eq!(barged.len(), 4, "two per call: {records:?}");
    let event = common::median(barged.iter().map(|r| ms(r.barge_in_event_us)).collect());
    on_schedule_ms(event, agent.barge_stop_delay, LATE, "clear after the onset");
    // The finished answer's mark is echoed once its audio has played: its
    // first chunk plus the answer's length (chunks come in real time).
    for call in &truth.recent_sessions {
        let s = call.realtime.as_ref().expect("twilio");
        assert_eq!(
            s.marks.len(),
            1,
            "only the unbarged answer ends in a mark: {s:?}"
        );
        let (name, at_us) = &s.marks[0];
        assert_eq!(name, "turn-2");
        let answer = truth
            .recent_turns
            .iter()
            .find(|t| t.session == call.id && t.turn == 2)
            .expect("the answered turn");
        let played_ms = (at_us - answer.first_audio_us.expect("audio")) as f64 / 1e3;
        on_schedule_ms(
            played_ms,
            agent.response_audio,
            LATE,
            "mark echoed after playback",
        );
    }
}

/// Manual turn detection (`turn_detection: null`): no VAD events; the
/// caller commits each utterance and asks for its answer, which the mock
/// starts `response_delay` after `response.create`. Every third answer
/// ends `failed` (`?fail_every=3`), which fails its turn by status, and
/// `rate_limits.updated` is kept: turn k holds the one answer k − 1 brought.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_turns_commit_and_ask_and_response_status_and_rate_limits_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = AgentModel {
        transcribe: true,
        response_delay: Duration::from_millis(300),
        transcript_delay: Duration::from_millis(100),
        response_audio: Duration::from_millis(400),
        ..AgentModel::default()
    };
    let (mock, mut o) =
        realtime_calls(&agent, dir.path(), "?model=gpt-realtime&fail_every=3").await;
    o.agent.start_message = Some(vec![r#"{"type":"session.update","session":{"type":"realtime","output_modalities":["audio"],"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"turn_detection":null,"transcription":{"model":"gpt-4o-mini-transcribe"}}}}}"#.into()]);
    o.agent.end_of_speech_message = Some(vec![
        r#"{"type":"input_audio_buffer.commit"}"#.into(),
        r#"{"type":"response.create"}"#.into(),
    ]);
    let (_, records) = run_preset(o, "openai-realtime").await;
    assert_eq!(records.len(), 6, "2 calls × 3 turns: {records:?}");
    let failed = ErrorKind::ServerEvent(voxload::protocol::EventCode::new("response_failed"));
    for r in &records {
        let turn = r.turn.expect("turn");
        if turn == 3 {
            assert_eq!(r.error, Some(failed), "{r:?}");
        } else {
            assert!(r.ok(), "{r:?}");
            assert_eq!(r.end_status.as_deref(), Some("completed"), "{r:?}");
        }
        // No VAD: the server never says it found the end of speech.
        assert_eq!(r.agent_endpoint_us, None, "{r:?}");
        let left = r.kept_message.as_deref().map(|m| {
            let v: serde_json::Value = serde_json::from_str(m).expect("kept JSON");
            v.pointer("/rate_limits/0/remaining")
                .and_then(serde_json::Value::as_u64)
                .expect("remaining")
        });
        let want = (turn > 1).then(|| mock::rate_limit_left(u64::from(turn) - 2));
        assert_eq!(left, want, "turn {turn}: {r:?}");
    }
    // The answer starts response_delay after the ask, which leaves with the
    // commit right at the end of speech.
    let first = common::median(
        records
            .iter()
            .filter(|r| r.ok())
            .map(|r| ms(r.agent_first_audio_us))
            .collect(),
    );
    on_schedule_ms(first, agent.response_delay, LATE, "first audio after ask");
    let truth = mock.truth().await.agent;
    let sessions: Vec<_> = truth
        .recent_sessions
        .iter()
        .filter_map(|s| s.realtime.clone())
        .collect();
    assert_eq!(sessions.len(), 2);
    for s in &sessions {
        assert_eq!(s.turn_detection, "none", "{s:?}");
        assert_eq!(s.commits.len(), 3, "{s:?}");
        assert_eq!(s.response_creates.len(), 3, "{s:?}");
        assert!(s.errors.is_empty(), "{s:?}");
    }
    let statuses: Vec<_> = truth
        .recent_turns
        .iter()
        .map(|t| (t.turn, t.response_status.clone()))
        .collect();
    for (turn, status) in &statuses {
        let want = if turn % 3 == 2 { "failed" } else { "completed" };
        assert_eq!(status.as_deref(), Some(want), "{statuses:?}");
    }
}

/// Turns given by flag, as a user without a scenario file gives them:
/// `--turn-text` in the test voice, and `--turn` WAV files (here 22.05 kHz
/// renders of the same voice, resampled to the caller's rate). The mock's
/// decoder hears each turn's words, in order, and the records are one
/// script of as many turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_given_by_flag_are_spoken_in_order() {
    let mock = mock::spawn(model(AgentModel {
        transcribe: true,
        ..AgentModel::default()
    }))
    .await
    .expect("mock");
    let dir = tempfile::tempdir().expect("tempdir");
    let texts = ["hello there", "what is my balance"];
    let rate = 22_050;
    let voice = voxload::mock::Voice::new(rate, voxload::input::TEST_VOICE_CPS);
    let mut files = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let pcm = voice.render(text);
        let len = (pcm.len() * 2) as u32;
        let mut wav = voxload::audio::wav::header(rate, 1, 16, Some(len)).to_vec();
        wav.extend(pcm.iter().flat_map(|s| s.to_le_bytes()));
        let name = format!("turn{i}.wav");
        std::fs::write(dir.path().join(&name), wav).expect("wav");
        files.push(name);
    }
    let url = agent_url(&mock);
    let files = files.join(",");
    for (turns, name) in [
        (
            vec!["--turn-text", texts[0], "--turn-text", texts[1]],
            "texts",
        ),
        (vec!["--turn", files.as_str()], "files"),
    ] {
        let mut args = vec!["agent", "--url", &url, "-n", "1", "--concurrency", "1"];
        args.extend(turns);
        args.extend(["--out", "out", "--name", name, "-q"]);
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let cwd = dir.path().to_path_buf();
        let out = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::voxload(&args, &cwd)
        })
        .await
        .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let records =
            common::read_records(&dir.path().join("out").join(name).join("requests.jsonl"));
        assert_eq!(records.len(), 2, "{name}: {records:?}");
        for (r, text) in records.iter().zip(texts) {
            assert!(r.ok(), "{r:?}");
            assert_eq!(r.script.as_deref(), Some("turns"));
            assert_eq!(r.transcript.as_deref(), Some(text), "{name}: {r:?}");
        }
    }
    // Two ways of giving turns at once is refused, naming the flags.
    let out = common::voxload(
        &[
            "agent",
            "--url",
            &url,
            "--turn-text",
            "hi",
            "--turn",
            "a.wav",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--turn") && err.contains("--turn-text"),
        "{err}"
    );
}
