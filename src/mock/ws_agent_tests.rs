//! Voice agent (`GET /v1/agent`) tests over loopback with an async
//! tokio-tungstenite client: a reader task timestamps every message as it
//! arrives, while the test body paces caller frames from absolute deadlines.
//! Each test checks the client's view against the model and against the
//! agent's own truth record (both clocks are this process's `Instant`).
//! Every instant is checked against the schedule it follows (the end of
//! speech, the barge-in onset), late by at most `LATE` (crate::timing_tests).

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::asr_tests::pcm_bytes;
use super::*;
use crate::timing_tests::{on_schedule_at, on_schedule_us, LATE};

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>, Message>;

const FRAME: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, PartialEq)]
enum Got {
    Json(serde_json::Value),
    /// A text message that is not JSON.
    Text(String),
    /// A binary message of this many bytes.
    Audio(usize),
    Close(Option<u16>),
    Error(String),
}

impl Got {
    fn kind(&self) -> &str {
        match self {
            Got::Json(v) => v["type"].as_str().unwrap_or("?"),
            Got::Text(_) => "not_json",
            Got::Audio(_) => "audio",
            Got::Close(_) => "close",
            Got::Error(_) => "error",
        }
    }

    /// Audio bytes carried (binary or JSON base64).
    fn audio_bytes(&self) -> usize {
        match self {
            Got::Audio(n) => *n,
            Got::Json(v) if v["type"] == "audio" => base64::engine::general_purpose::STANDARD
                .decode(v["audio"].as_str().unwrap())
                .unwrap()
                .len(),
            _ => 0,
        }
    }
}

fn is(kind: &'static str) -> impl Fn(&Got) -> bool {
    move |g| g.kind() == kind
}

struct Client {
    tx: Sink,
    rx: mpsc::UnboundedReceiver<(Instant, Got)>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let url = format!("ws://{addr}/v1/agent");
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .unwrap();
        let (tx, mut stream) = ws.split();
        let (events, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(msg) = stream.next().await {
                let now = Instant::now();
                let got = match msg {
                    Ok(Message::Text(t)) => serde_json::from_str(&t)
                        .map(Got::Json)
                        .unwrap_or_else(|_| Got::Text(t.to_string())),
                    Ok(Message::Binary(b)) => Got::Audio(b.len()),
                    Ok(Message::Close(f)) => Got::Close(f.map(|f| u16::from(f.code))),
                    Ok(_) => continue,
                    Err(e) => Got::Error(e.to_string()),
                };
                let error = matches!(got, Got::Error(_));
                if events.send((now, got)).is_err() || error {
                    return;
                }
            }
        });
        Self { tx, rx }
    }

    /// Send `msg`; the instant it was written.
    async fn send(&mut self, msg: Message) -> Instant {
        self.tx.send(msg).await.unwrap();
        Instant::now()
    }

    async fn end_of_speech(&mut self) -> Instant {
        self.send(Message::text(r#"{"type":"end_of_speech"}"#))
            .await
    }

    /// Send `frames` at `start + i × 20 ms`; the instant each was written.
    async fn stream(&mut self, frames: &[Message], start: Instant) -> Vec<Instant> {
        let mut sent = Vec::with_capacity(frames.len());
        for (i, f) in frames.iter().enumerate() {
            tokio::time::sleep_until(start + FRAME * i as u32).await;
            sent.push(self.send(f.clone()).await);
        }
        sent
    }

    /// Messages up to and including the first `last` one; panics after 3 s.
    async fn until(&mut self, last: impl Fn(&Got) -> bool) -> Vec<(Instant, Got)> {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((at, got))) => {
                    let done = last(&got);
                    seen.push((at, got));
                    if done {
                        return seen;
                    }
                }
                _ => panic!("expected message never came; got {seen:?}"),
            }
        }
    }

    /// Whatever arrives within `d`.
    async fn within(&mut self, d: Duration) -> Vec<(Instant, Got)> {
        let deadline = Instant::now() + d;
        let mut seen = Vec::new();
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            seen.push(e);
        }
        seen
    }
}

fn kinds(got: &[(Instant, Got)]) -> Vec<&str> {
    got.iter().map(|(_, g)| g.kind()).collect()
}

/// Mock speech for `text` at 16 kHz as 20 ms binary frames (the last shorter).
fn speech(text: &str) -> Vec<Message> {
    let pcm = pcm_bytes(&Voice::new(16_000, 15.0).render(text));
    pcm.chunks(640)
        .map(|c| Message::binary(c.to_vec()))
        .collect()
}

/// `n` 20 ms frames of noise with amplitude ≤ 100 (what a caller sends after speech).
fn noise(n: usize) -> Vec<Message> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    (0..n)
        .map(|_| {
            let pcm: Vec<i16> = (0..320).map(|_| rng.random_range(-100..=100)).collect();
            Message::binary(pcm_bytes(&pcm))
        })
        .collect()
}

/// `agent`, decoding caller speech (so transcripts carry text) and seeded.
fn model(agent: AgentModel) -> MockModel {
    MockModel {
        seed: Some(5),
        agent: AgentModel {
            seed: Some(5),
            transcribe: true,
            ..agent
        },
        ..MockModel::default()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `at` on the agent truth's clock (µs since server start).
fn us(mock: &MockHandle, at: Instant) -> u64 {
    micros(at.saturating_duration_since(mock.shared.started))
}

/// The first `n` finished turns (waits up to 3 s for them).
async fn turns(mock: &MockHandle, n: usize) -> Vec<AgentTurnTruth> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let t = mock.truth().await.agent.recent_turns;
        if t.len() >= n {
            return t;
        }
        assert!(Instant::now() < deadline, "only {} turns: {t:?}", t.len());
        tokio::time::sleep(ms(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_end_of_speech_is_answered_at_the_model_times() {
    let mock = spawn(model(AgentModel {
        response_audio: ms(600),
        speed: 2.0,
        ..AgentModel::default()
    }))
    .await
    .unwrap();
    let mut c = Client::connect(mock.addr).await;
    c.send(Message::text(r#"{"type":"start","sample_rate":16000}"#))
        .await;
    let frames = speech("hi there");
    c.stream(&frames, Instant::now()).await;
    let eos = c.end_of_speech().await;
    let got = c.until(is("response_end")).await;

    // 600 ms in 40 ms chunks.
    let mut expected = vec!["transcript", "response_text"];
    expected.extend(["audio"; 15]);
    expected.push("response_end");
    assert_eq!(kinds(&got), expected);
    assert_eq!(
        got[0].1,
        Got::Json(serde_json::json!({"type": "transcript", "text": "hi there", "final": true}))
    );
    // Due from the end of speech as the agent read it, just after `eos`.
    on_schedule_at(got[0].0, eos, ms(100), LATE, "transcript");
    let audio: Vec<_> = got.iter().filter(|(_, g)| g.kind() == "audio").collect();
    let bytes: usize = audio.iter().map(|(_, g)| g.audio_bytes()).sum();
    assert_eq!(
        bytes,
        600 * 16 * 2,
        "exactly response_audio of PCM16 at 16 kHz"
    );
    // speed 2: a 40 ms chunk every 20 ms from the first's deadline, 400 ms
    // after the end of speech (not from the first chunk as it happened).
    for (i, (at, _)) in audio.iter().enumerate() {
        let due = ms(400) + FRAME * i as u32;
        on_schedule_at(*at, eos, due, LATE, &format!("chunk {i}"));
    }

    let t = &turns(&mock, 1).await[0];
    assert_eq!(
        (
            t.detected_by,
            t.fault,
            t.transcript.as_str(),
            t.chunks,
            t.audio_us
        ),
        (EndOfSpeech::Explicit, None, "hi there", 15, 600_000)
    );
    // Detection is the end_of_speech arrival, after the client wrote it.
    let end = t.speech_end_us;
    on_schedule_us(end, us(&mock, eos), ms(0), LATE, "arrival");
    let transcript = t.transcript_us.unwrap();
    on_schedule_us(transcript, end, ms(100), LATE, "transcript");
    on_schedule_us(t.first_audio_us.unwrap(), end, ms(400), LATE, "first");
    // 14 chunks of 20 ms after the first, on the response's own schedule
    // (from the end of speech, not from the first chunk as it happened).
    let last = t.last_audio_us.unwrap();
    on_schedule_us(last, end, ms(400 + 280), LATE, "14 chunks later");
    assert!(t.response_end_us.unwrap() >= t.last_audio_us.unwrap());
    assert!(t.last_speech_us.unwrap() < t.speech_end_us);
    assert_eq!((t.barge_in_us, t.interrupted_us), (None, None));

    c.tx.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let s = loop {
        if let Some(s) = mock.truth().await.agent.recent_sessions.first() {
            break s.clone();
        }
        assert!(Instant::now() < deadline, "session never ended");
        tokio::time::sleep(ms(10)).await;
    };
    assert_eq!(
        (s.end, s.turns, s.frames),
        (AgentEnd::ClientClosed, 1, frames.len() as u64)
    );
    // "hi there": 8 characters at 15/s = 8533 samples.
    assert_eq!(s.caller_audio_us, 8_533 * 1_000_000 / 16_000);
    let json = serde_json::to_value(mock.truth().await).unwrap();
    assert_eq!(json["agent"]["responses_completed"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energy_vad_ends_the_turn_after_vad_silence_of_noise() {
    let mock = spawn(model(AgentModel {
        response_audio: ms(300),
        speed: 4.0,
        ..AgentModel::default()
    }))
    .await
    .unwrap();
    let mut c = Client::connect(mock.addr).await;
    let mut frames = speech("hello");
    let n_speech = frames.len();
    let noise = noise(45);
    // 300 ms of noise is 15 frames: 14 leave the turn open however long
    // the agent waits, and the 15th frame's arrival ends it.
    frames.extend_from_slice(&noise[..14]);
    let start = Instant::now();
    c.stream(&frames, start).await;
    assert_eq!(c.within(ms(200)).await, [], "14 frames are not enough");
    let fifteenth = Instant::now();
    c.stream(&noise[14..15], fifteenth).await;
    let mut got = c.until(is("transcript")).await;
    // Noise keeps coming through the whole response: it must not barge in.
    c.stream(&noise[15..], Instant::now()).await;
    got.extend(c.until(is("response_end")).await);
    let mut expected = vec!["transcript", "response_text"];
    expected.extend(["audio"; 8]);
    expected.push("response_end");
    assert_eq!(kinds(&got), expected);
    let Got::Json(transcript) = &got[0].1 else {
        unreachable!()
    };
    assert_eq!(transcript["text"], "hello");
    let bytes: usize = got.iter().map(|(_, g)| g.audio_bytes()).sum();
    assert_eq!(bytes, 300 * 16 * 2);
    on_schedule_at(got[0].0, fifteenth, ms(100), LATE, "transcript");

    let t = &turns(&mock, 1).await[0];
    assert_eq!(t.detected_by, EndOfSpeech::Energy);
    let end = t.speech_end_us;
    on_schedule_us(end, us(&mock, fifteenth), ms(0), LATE, "15th arrival");
    // The last speech frame arrived on its schedule (frame n − 1 of 20 ms).
    let last_speech = t.last_speech_us.unwrap();
    let due = FRAME * (n_speech as u32 - 1);
    on_schedule_us(last_speech, us(&mock, start), due, LATE, "last speech");
    assert_eq!(
        (t.barge_in_us, t.interrupted_us, t.audio_us),
        (None, None, 300_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_stops_audio_then_the_next_turn_is_answered() {
    let mock = spawn(model(AgentModel {
        response_audio: ms(600),
        ..AgentModel::default()
    }))
    .await
    .unwrap();
    let mut c = Client::connect(mock.addr).await;
    c.stream(&speech("hi"), Instant::now()).await;
    c.end_of_speech().await;
    let first = c.until(is("audio")).await;
    let first_audio = first.last().unwrap().0;
    // Talk over the response 200 ms into it, then end the new utterance.
    let onset_due = first_audio + ms(200);
    let sent = c.stream(&speech("next"), onset_due).await;
    let onset = sent[0];
    let eos2 = c.end_of_speech().await;
    let got = c.until(is("response_end")).await;

    let cut = got
        .iter()
        .position(|(_, g)| g.kind() == "interrupted")
        .unwrap();
    let (before, after) = got.split_at(cut);
    assert!(
        before.iter().all(|(_, g)| g.kind() == "audio"),
        "{before:?}"
    );
    // From the onset as scheduled (its first frame may leave late).
    on_schedule_at(after[0].0, onset_due, ms(150), LATE, "interrupted");
    let leaked: Vec<_> = before.iter().filter(|(at, _)| *at > onset).collect();
    assert!(before.iter().all(|(at, _)| *at <= after[0].0));
    let mut expected = vec!["interrupted", "transcript", "response_text"];
    expected.extend(["audio"; 15]);
    expected.push("response_end");
    assert_eq!(kinds(after), expected);
    assert_eq!(
        after[1].1,
        Got::Json(serde_json::json!({"type": "transcript", "text": "next", "final": true}))
    );
    on_schedule_at(after[3].0, eos2, ms(400), LATE, "second first audio");

    let t = turns(&mock, 2).await;
    let (t0, t1) = (&t[0], &t[1]);
    let barge = t0.barge_in_us.unwrap();
    on_schedule_us(barge, us(&mock, onset), ms(0), LATE, "onset arrival");
    let stopped = t0.audio_stopped_us.unwrap();
    on_schedule_us(stopped, barge, ms(150), LATE, "barge_stop_delay");
    assert!(t0.interrupted_us.unwrap() >= stopped);
    assert!(t0.last_audio_us.unwrap() <= stopped);
    assert_eq!(t0.response_end_us, None);
    // Sent: the chunks due before the stop, however late either ran.
    // Chunk k is due 400 + 40k ms after the end of speech, the stop 150 ms
    // after the barge-in (both instants the agent scheduled from).
    let audio_before = before.len() as u64 + 1;
    assert_eq!(t0.chunks, audio_before);
    let stop_in = barge + 150_000 - (t0.speech_end_us + 400_000);
    assert_eq!(t0.chunks, stop_in.div_ceil(40_000), "{t0:?}");
    assert_eq!(t0.audio_us, t0.chunks * 40_000);
    assert!(!leaked.is_empty(), "chunks sent between onset and stop");
    assert_eq!(
        (
            t1.detected_by,
            t1.transcript.as_str(),
            t1.chunks,
            t1.barge_in_us
        ),
        (EndOfSpeech::Explicit, "next", 15, None)
    );
    assert!(t1.response_end_us.is_some());
    let agent = mock.truth().await.agent;
    assert_eq!((agent.interrupted, agent.responses_completed), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_over_capacity_are_closed_with_1013() {
    let mock = spawn(model(AgentModel {
        max_sessions: 1,
        response_audio: ms(80),
        // Before the transcript: the order follows the deadlines.
        response_delay: ms(50),
        ..AgentModel::default()
    }))
    .await
    .unwrap();
    let mut a = Client::connect(mock.addr).await;
    let mut b = Client::connect(mock.addr).await;
    let got = b.until(is("close")).await;
    assert_eq!(got.last().unwrap().1, Got::Close(Some(1013)));
    a.end_of_speech().await;
    assert_eq!(
        kinds(&a.until(is("response_end")).await).last(),
        Some(&"response_end")
    );
    let agent = mock.truth().await.agent;
    assert_eq!(
        (
            agent.sessions,
            agent.rejected_over_capacity,
            agent.active_now,
            agent.max_concurrent
        ),
        (2, 1, 1, 1)
    );

    a.tx.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while mock.truth().await.agent.active_now > 0 {
        assert!(Instant::now() < deadline, "session a never ended");
        tokio::time::sleep(ms(10)).await;
    }
    let mut c = Client::connect(mock.addr).await;
    c.end_of_speech().await;
    assert_eq!(c.until(|_| true).await[0].1.kind(), "response_text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_close_drops_tcp_without_a_close_frame_at_response_start() {
    let mut m = model(AgentModel::default());
    m.agent.faults.close = 1.0;
    m.agent.transcribe = false;
    let mock = spawn(m).await.unwrap();
    let mut c = Client::connect(mock.addr).await;
    c.stream(&speech("bye"), Instant::now()).await;
    let eos = c.end_of_speech().await;
    let got = c.until(is("error")).await;
    assert_eq!(
        kinds(&got),
        ["transcript", "error"],
        "no close frame, no response"
    );
    let empty = serde_json::json!({"type": "transcript", "text": "", "final": true});
    assert_eq!(got[0].1, Got::Json(empty), "not decoded without transcribe");
    on_schedule_at(got[1].0, eos, ms(400), LATE, "dropped at response start");
    let t = &turns(&mock, 1).await[0];
    assert_eq!(
        (t.fault, t.first_audio_us),
        (Some(AgentFaultKind::Close), None)
    );
    let truth = mock.truth().await.agent;
    assert_eq!(truth.faults[&AgentFaultKind::Close], 1);
    assert_eq!(truth.recent_sessions[0].end, AgentEnd::FaultClose);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_silent_never_answers_the_turn() {
    let mut agent = AgentModel::default();
    agent.faults.silent = 1.0;
    let mock = spawn(model(agent)).await.unwrap();
    let mut c = Client::connect(mock.addr).await;
    c.stream(&speech("hello"), Instant::now()).await;
    c.end_of_speech().await;
    assert_eq!(c.within(ms(700)).await, []);
    let t = &turns(&mock, 1).await[0];
    assert_eq!(
        (t.fault, t.transcript_us, t.first_audio_us),
        (Some(AgentFaultKind::Silent), None, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_malformed_sends_non_json_instead_of_the_transcript() {
    let mut agent = AgentModel {
        response_audio: ms(200),
        ..AgentModel::default()
    };
    agent.faults.malformed = 1.0;
    let mock = spawn(model(agent)).await.unwrap();
    let mut c = Client::connect(mock.addr).await;
    let eos = c.end_of_speech().await;
    let got = c.until(is("response_end")).await;
    assert_eq!(got[0].1, Got::Text("this is not json".into()));
    on_schedule_at(got[0].0, eos, ms(100), LATE, "at transcript time");
    let mut expected = vec!["not_json", "response_text"];
    expected.extend(["audio"; 5]);
    expected.push("response_end");
    assert_eq!(kinds(&got), expected);
    assert_eq!(
        turns(&mock, 1).await[0].fault,
        Some(AgentFaultKind::Malformed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_audio_both_ways_and_junk_is_ignored() {
    let mock = spawn(model(AgentModel {
        response_audio: ms(400),
        speed: 4.0,
        json_audio: true,
        ..AgentModel::default()
    }))
    .await
    .unwrap();
    let mut c = Client::connect(mock.addr).await;
    for junk in [
        "hello?",
        r#"{"type":"mystery"}"#,
        r#"{"no":"type"}"#,
        "[1,2]",
    ] {
        c.send(Message::text(junk)).await;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let frames: Vec<Message> = speech("ok")
        .into_iter()
        .chain(noise(16))
        .map(|m| {
            let audio = b64.encode(m.into_data());
            Message::text(serde_json::json!({"type": "audio", "audio": audio}).to_string())
        })
        .collect();
    c.stream(&frames, Instant::now()).await;
    let got = c.until(is("response_end")).await;
    let mut expected = vec!["transcript", "response_text"];
    expected.extend(["audio"; 10]);
    expected.push("response_end");
    assert_eq!(kinds(&got), expected);
    let bytes: usize = got.iter().map(|(_, g)| g.audio_bytes()).sum();
    assert_eq!(bytes, 400 * 16 * 2);
    let Got::Json(text) = &got[1].1 else {
        unreachable!()
    };
    // 400 ms at 15 characters/s: the 6 characters the audio speaks.
    assert_eq!(text["text"], "sure, ");
    let t = &turns(&mock, 1).await[0];
    assert_eq!(
        (t.detected_by, t.transcript.as_str()),
        (EndOfSpeech::Energy, "ok")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_sends_the_whole_answer_at_once_and_is_barged_while_it_would_play() {
    let mock = spawn(model(AgentModel {
        response_audio: ms(1_000),
        burst: true,
        ..AgentModel::default()
    }))
    .await
    .unwrap();
    let mut c = Client::connect(mock.addr).await;
    c.stream(&speech("hi"), Instant::now()).await;
    let eos = c.end_of_speech().await;
    let got = c.until(is("response_end")).await;
    let mut expected = vec!["transcript", "response_text"];
    expected.extend(["audio"; 25]);
    expected.push("response_end");
    assert_eq!(kinds(&got), expected);
    let first_audio = got[2].0;
    // All of it due at once, not over 1 s of real-time pacing.
    for (i, (at, _)) in got[2..].iter().enumerate() {
        on_schedule_at(*at, eos, ms(400), LATE, &format!("message {}", i + 2));
    }
    let bytes: usize = got.iter().map(|(_, g)| g.audio_bytes()).sum();
    assert_eq!(bytes, 1_000 * 16 * 2);
    // Speak over it 300 ms in: it still plays at the caller, so this is a
    // barge-in, and `interrupted` (the cue to drop the queue) follows.
    let onset_due = first_audio + ms(300);
    let sent = c.stream(&speech("next"), onset_due).await;
    let onset = sent[0];
    c.end_of_speech().await;
    let after = c.until(is("response_end")).await;
    assert_eq!(after[0].1.kind(), "interrupted", "{:?}", kinds(&after));
    on_schedule_at(after[0].0, onset_due, ms(150), LATE, "interrupted");

    let t = turns(&mock, 2).await;
    let t0 = &t[0];
    let (first, last) = (t0.first_audio_us.unwrap(), t0.last_audio_us.unwrap());
    let end = t0.speech_end_us;
    on_schedule_us(first, end, ms(400), LATE, "first chunk");
    on_schedule_us(last, end, ms(400), LATE, "last chunk, sent at once");
    assert_eq!((t0.chunks, t0.audio_us), (25, 1_000_000));
    assert!(t0.response_end_us.unwrap() >= last);
    // Defined from the first chunk as sent: it plays for 1 s from there.
    assert_eq!(t0.speaking_until_us.unwrap() - first, 1_000_000);
    let barge = t0.barge_in_us.unwrap();
    on_schedule_us(barge, us(&mock, onset), ms(0), LATE, "onset arrival");
    let interrupted = t0.interrupted_us.unwrap();
    on_schedule_us(interrupted, barge, ms(150), LATE, "barge_stop_delay");
    // Nothing was left to stop sending.
    assert_eq!(t0.audio_stopped_us, None);
    assert_eq!(t[1].transcript, "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_interrupt_message_barge_in_only_stops_the_sending() {
    // Paced: the audio stops, but no `interrupted` is sent.
    let mock = spawn(model(AgentModel {
        response_audio: ms(1_000),
        interrupt_message: false,
        ..AgentModel::default()
    }))
    .await
    .unwrap();
    let mut c = Client::connect(mock.addr).await;
    c.end_of_speech().await;
    let first_audio = c.until(is("audio")).await.last().unwrap().0;
    c.stream(&speech("stop"), first_audio + ms(200)).await;
    let got = c.within(ms(300)).await;
    assert!(got.iter().all(|(_, g)| g.kind() == "audio"), "{got:?}");
    let t = &turns(&mock, 1).await[0];
    let stopped = t.audio_stopped_us.unwrap();
    on_schedule_us(stopped, t.barge_in_us.unwrap(), ms(150), LATE, "stop");
    assert!(t.last_audio_us.unwrap() <= stopped && t.chunks < 25);
    assert_eq!((t.interrupted_us, t.response_end_us), (None, None));

    // Burst: the answer is neither stopped nor cleared.
    let mock = spawn(model(AgentModel {
        response_audio: ms(600),
        interrupt_message: false,
        burst: true,
        ..AgentModel::default()
    }))
    .await
    .unwrap();
    let mut c = Client::connect(mock.addr).await;
    c.end_of_speech().await;
    let first_audio = c.until(is("response_end")).await[1].0;
    c.stream(&speech("stop"), first_audio + ms(200)).await;
    assert_eq!(c.within(ms(300)).await, []);
    let t = &turns(&mock, 1).await[0];
    assert!(t.barge_in_us.is_some());
    assert_eq!(
        (t.chunks, t.audio_stopped_us, t.interrupted_us),
        (15, None, None)
    );
}
