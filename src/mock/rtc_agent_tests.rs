//! WebRTC agent (`POST /api/offer`, `POST /whip`) tests over loopback: a
//! str0m caller [`Peer`] offers, connects, and sends a scripted Opus stream
//! on absolute 20 ms deadlines (speech, then low-level noise, as voxload's
//! caller does), stamping every agent packet as its datagram is read.
//!
//! Where the agent's energy VAD must fire is computed here by decoding the
//! same script with the same decoder (deterministic), so each truth
//! instant is checked against the schedule it follows: the caller packet
//! that completes `vad_silence` left at `origin + k × 20 ms`, the reply is
//! due `response_delay` after that packet arrived, the stop
//! `barge_stop_delay` after the onset (crate::timing_tests: late by at most
//! `LATE`, never early; never one measured instant against another).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::{Rng, SeedableRng};

use super::tests::request;
use super::*;
use crate::audio::opus::{encode_pcm16, OpusStreamDecoder, FRAME, FRAME_SAMPLES, OPUS_RATE};
use crate::rtc::{Peer, PeerEvent};
use crate::timing_tests::{on_schedule_at, on_schedule_us, LATE};

/// ICE + DTLS on loopback take a few ms; this bounds a broken set-up.
const CONNECT: Duration = Duration::from_secs(5);

/// Packets of the 400 ms reply of [`answered_call`]: 20 of audio, one
/// more flushing the codec's 6.5 ms delay (see `encode_pcm16`).
const REPLY_PACKETS: usize = 21;
/// The caller's −40 dBFS audible level, in 16-bit RMS units.
const AUDIBLE_RMS: f64 = 327.68;
const CPS: f64 = 15.0;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One agent packet as the caller read it.
#[derive(Debug, Clone)]
struct Heard {
    at: Instant,
    rtp: u64,
    data: Arc<[u8]>,
}

/// Mock speech for `text`, as 20 ms Opus packets.
fn speech(text: &str) -> Vec<Bytes> {
    let pcm = crate::audio::voice::Voice::new(16_000, CPS).render(text);
    let track = encode_pcm16(&pcm, 16_000).unwrap();
    track.packets.into_iter().map(|p| p.data).collect()
}

/// `n` packets of noise with amplitude ≤ 100 (a live microphone).
fn noise(n: usize) -> Vec<Bytes> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let pcm: Vec<i16> = (0..n * FRAME_SAMPLES)
        .map(|_| rng.random_range(-100..=100))
        .collect();
    let track = encode_pcm16(&pcm, OPUS_RATE).unwrap();
    track.packets.into_iter().map(|p| p.data).collect()
}

fn rms(pcm: &[i16]) -> f64 {
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
}

/// The agent's VAD run over `script` as it will hear it: per packet,
/// speech (RMS above `speech_rms`) or not, and the packets at which
/// `vad_silence` of non-speech completes after speech (ends of speech).
fn vad(script: &[Bytes], m: &AgentModel) -> (Vec<bool>, Vec<usize>) {
    let mut dec = OpusStreamDecoder::new().unwrap();
    let window = crate::audio::generate::samples_in(m.vad_silence, OPUS_RATE) as u64;
    let (mut speech, mut ends) = (Vec::new(), Vec::new());
    let (mut seen, mut quiet) = (false, 0u64);
    let mut pcm = Vec::new();
    for (k, p) in script.iter().enumerate() {
        pcm.clear();
        dec.decode(p, &mut pcm).unwrap();
        let s = rms(&pcm) > m.speech_rms;
        speech.push(s);
        if s {
            (seen, quiet) = (true, 0);
        } else if seen {
            quiet += pcm.len() as u64;
            if quiet >= window {
                ends.push(k);
                (seen, quiet) = (false, 0);
            }
        }
    }
    (speech, ends)
}

/// A connected caller and what signalling gave back.
struct Caller {
    peer: Peer,
    /// The WHIP session resource, if any.
    location: Option<String>,
    answer: serde_json::Value,
}

/// Offer over `signal`'s route, accept the answer, connect.
async fn dial(mock: &MockHandle, whip: bool) -> Caller {
    let mut peer = Peer::loopback().await.unwrap();
    let (offer, pending) = peer.offer(None).unwrap();
    let (sdp, location, answer) = if whip {
        let r = request(
            mock.addr,
            "POST",
            "/whip",
            "application/sdp",
            offer.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some("application/sdp"));
        let location = r.header("location").map(str::to_string);
        let sdp = String::from_utf8(r.body).unwrap();
        (sdp, location, serde_json::Value::Null)
    } else {
        let body = serde_json::json!({"sdp": offer, "type": "offer"}).to_string();
        let r = request(
            mock.addr,
            "POST",
            "/api/offer",
            "application/json",
            body.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_eq!(v["type"], "answer");
        (v["sdp"].as_str().unwrap().to_string(), None, v)
    };
    peer.accept_answer(pending, &sdp).unwrap();
    peer.connect(CONNECT).await.unwrap();
    Caller {
        peer,
        location,
        answer,
    }
}

/// Send `script[k]` at `origin + k × 20 ms` and hear the agent, until
/// `until`: each packet's send instant, and every agent packet.
async fn talk(
    peer: &mut Peer,
    script: &[Bytes],
    origin: Instant,
    until: Instant,
) -> (Vec<Instant>, Vec<Heard>) {
    let (mut sent, mut heard) = (Vec::new(), Vec::new());
    while Instant::now() < until {
        let k = sent.len();
        let due = (k < script.len()).then(|| origin + FRAME * k as u32);
        peer.pump_until(due.map_or(until, |d| d.min(until)), true)
            .await
            .unwrap();
        for e in peer.take_events() {
            if let PeerEvent::Audio {
                at, rtp_time, data, ..
            } = e
            {
                heard.push(Heard {
                    at,
                    rtp: rtp_time,
                    data,
                });
            }
        }
        if let Some(d) = due.filter(|&d| Instant::now() >= d) {
            peer.write_audio(d, k as u64 * 960, &script[k]).unwrap();
            sent.push(Instant::now());
        }
    }
    (sent, heard)
}

/// `us` µs on the truth clock as an instant.
fn at_us(mock: &MockHandle, us: u64) -> Instant {
    mock.shared.started.into_std() + Duration::from_micros(us)
}

/// An instant on the truth clock.
fn us(mock: &MockHandle, at: Instant) -> u64 {
    micros(at.saturating_duration_since(mock.shared.started.into_std()))
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

/// The first finished session (waits up to `within` for it).
async fn session(mock: &MockHandle, within: Duration) -> AgentSessionTruth {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = mock.truth().await.agent.recent_sessions.first() {
            return s.clone();
        }
        assert!(Instant::now() < deadline, "the call never ended");
        tokio::time::sleep(ms(10)).await;
    }
}

fn model(agent: AgentModel) -> MockModel {
    MockModel {
        agent: AgentModel {
            seed: Some(5),
            ..agent
        },
        ..MockModel::default()
    }
}

/// A whole call over one signalling shape: one utterance, answered at the
/// model's times, silence packets before and after the reply, one
/// continuous RTP stream; returns the mock, the caller (for the shape's
/// checks), and when it sent its last packet and how many.
async fn answered_call(whip: bool) -> (MockHandle, Caller, Instant, u64) {
    let agent = AgentModel {
        response_delay: ms(300),
        vad_silence: ms(200),
        response_audio: ms(400),
        ..AgentModel::default()
    };
    let mock = spawn(model(agent.clone())).await.unwrap();
    let mut caller = dial(&mock, whip).await;
    let mut script = speech("hi there");
    let spoken = script.len();
    script.extend(noise(60));
    let (speaking, ends) = vad(&script, &agent);
    assert!(speaking[..spoken].iter().any(|&s| s), "the script speaks");
    assert_eq!(ends.len(), 1, "one utterance: {ends:?}");
    let end = ends[0];

    let origin = Instant::now() + ms(20);
    let until = origin + FRAME * script.len() as u32 + ms(200);
    let (sent, heard) = talk(&mut caller.peer, &script, origin, until).await;
    assert_eq!(sent.len(), script.len());
    for (k, s) in sent.iter().enumerate() {
        on_schedule_at(*s, origin, FRAME * k as u32, LATE, "caller packet sent");
    }

    let t = turns(&mock, 1).await.remove(0);
    assert_eq!(
        (t.detected_by, t.fault, t.chunks, t.audio_us),
        (EndOfSpeech::Energy, None, REPLY_PACKETS as u64, 400_000),
        "{t:?}"
    );
    // End of speech: the arrival of caller packet `end`, sent at its deadline.
    let d = t.speech_end_us;
    on_schedule_us(d, us(&mock, origin), FRAME * end as u32, LATE, "eos");
    let last_speech = speaking[..end].iter().rposition(|&s| s).unwrap();
    let last = t.last_speech_us.unwrap();
    on_schedule_us(
        last,
        us(&mock, origin),
        FRAME * last_speech as u32,
        LATE,
        "last speech",
    );
    // The reply: due response_delay after that arrival, to the µs; sent on
    // its own absolute schedule from there.
    let due = t.first_audio_due_us.unwrap();
    assert_eq!(due, d + 300_000);
    let first = t.first_audio_us.unwrap();
    on_schedule_us(first, due, Duration::ZERO, LATE, "first reply packet sent");
    let last_sent = t.last_audio_us.unwrap();
    let last_k = FRAME * (REPLY_PACKETS as u32 - 1);
    on_schedule_us(last_sent, due, last_k, LATE, "last reply packet sent");
    assert_eq!(t.response_end_us, Some(last_sent));
    assert_eq!((t.barge_in_us, t.audio_stopped_us), (None, None));
    eprintln!(
        "webrtc mock ({}): first reply packet sent {} µs after its deadline",
        if whip { "whip" } else { "pipecat" },
        first - due
    );

    // The caller's view: silence first, then the reply (the first audible
    // packet), then silence again, on one continuous RTP timeline.
    let mut dec = OpusStreamDecoder::new().unwrap();
    let mut pcm = Vec::new();
    let audible: Vec<bool> = heard
        .iter()
        .map(|h| {
            pcm.clear();
            dec.decode(&h.data, &mut pcm).unwrap();
            rms(&pcm) >= AUDIBLE_RMS
        })
        .collect();
    let silence = &mock
        .shared
        .rtc
        .reply
        .get(&agent, CPS)
        .await
        .unwrap()
        .silence;
    let is_reply: Vec<bool> = heard.iter().map(|h| h.data[..] != silence[..]).collect();
    let first_audible = audible.iter().position(|&a| a).expect("the reply");
    assert_eq!(is_reply.iter().position(|&r| r), Some(first_audible));
    let reply = first_audible..first_audible + REPLY_PACKETS;
    assert_eq!(
        is_reply.iter().filter(|&&r| r).count(),
        REPLY_PACKETS,
        "the whole reply"
    );
    assert!(is_reply[reply.clone()].iter().all(|&r| r), "in one run");
    assert!(audible[reply.clone()].iter().all(|&a| a), "all audible");
    // After it, silence: the reply's last packet flushed the codec, so
    // nothing of it spills into the next packet.
    assert!(!audible[reply.end..].iter().any(|&a| a), "silent after");
    // From connect to the reply's deadline: at least the script's speech,
    // the VAD window and the response delay (> 1 s) of silence.
    assert!(first_audible >= 40, "silence before: {first_audible}");
    assert!(heard.len() > reply.end, "silence after the reply");
    on_schedule_at(
        heard[first_audible].at,
        at_us(&mock, due),
        Duration::ZERO,
        LATE,
        "first audible packet heard",
    );
    for (k, h) in heard[reply].iter().enumerate() {
        let what = format!("reply packet {k} heard");
        on_schedule_at(h.at, at_us(&mock, due), FRAME * k as u32, LATE, &what);
    }
    for w in heard.windows(2) {
        assert_eq!(w[1].rtp - w[0].rtp, 960, "continuous RTP timestamps");
    }
    let last = *sent.last().unwrap();
    (mock, caller, last, sent.len() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipecat_call_is_answered_on_schedule_between_silence_packets() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let (mock, caller, last_sent, _) = answered_call(false).await;
        assert!(caller.answer["pc_id"]
            .as_str()
            .is_some_and(|p| p.starts_with("pc-")));
        // The caller goes away without a word (no close_notify: a crash, a
        // cable): its stream stops, and the agent hangs up CALLER_IDLE after
        // the last packet arrived.
        drop(caller);
        let s = session(&mock, Duration::from_secs(6)).await;
        assert_eq!(s.end, AgentEnd::ClientClosed);
        let idle = super::rtc_agent::CALLER_IDLE;
        on_schedule_us(s.ended_us, us(&mock, last_sent), idle, LATE, "idle hang-up");
        let rtc = s.rtc.unwrap();
        assert_eq!(rtc.signal, "pipecat");
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whip_call_is_answered_on_schedule_and_ends_at_delete() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let (mock, caller, _, sent) = answered_call(true).await;
        let location = caller.location.clone().expect("Location");
        assert!(location.starts_with("/whip/session/"), "{location}");
        let asked = Instant::now();
        let r = request(mock.addr, "DELETE", &location, "text/plain", b"").await;
        assert_eq!(r.status, 200);
        let s = session(&mock, Duration::from_secs(3)).await;
        on_schedule_us(
            s.ended_us,
            us(&mock, asked),
            Duration::ZERO,
            LATE,
            "hung up",
        );
        assert_eq!((s.end, s.turns), (AgentEnd::Deleted, 1));
        let rtc = s.rtc.clone().unwrap();
        assert_eq!(rtc.signal, "whip");
        // Loopback loses nothing: every caller packet arrived.
        assert_eq!(
            (s.frames, rtc.packets_received, rtc.undecodable),
            (sent, sent, 0)
        );
        assert_eq!(rtc.reply_packets, REPLY_PACKETS as u64);
        assert!(rtc.silence_packets >= 40, "{rtc:?}");
        assert!(rtc.connected_us.unwrap() >= s.accepted_us);
        // Gone: a second DELETE finds nothing.
        let again = request(mock.addr, "DELETE", &location, "text/plain", b"").await;
        assert_eq!(again.status, 404);
        let truth = mock.truth().await.agent;
        assert_eq!((truth.active_now, truth.responses_completed), (0, 1));
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barge_in_stops_the_reply_barge_stop_delay_after_its_onset() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let agent = AgentModel {
            response_delay: ms(200),
            vad_silence: ms(200),
            response_audio: ms(2_000),
            barge_stop_delay: ms(150),
            ..AgentModel::default()
        };
        let mock = spawn(model(agent.clone())).await.unwrap();
        let mut caller = dial(&mock, false).await;
        // Speech, 600 ms of noise (the reply starts ~400 ms in), speech
        // over the reply, noise.
        let mut script = speech("hi there");
        script.extend(noise(30));
        let barge = script.len();
        script.extend(speech("stop"));
        // Less than vad_silence: the second utterance never ends.
        script.extend(noise(8));
        let (speaking, ends) = vad(&script, &agent);
        assert!(ends.len() == 1 && ends[0] < barge, "{ends:?}");
        let onset = barge + speaking[barge..].iter().position(|&s| s).unwrap();

        let origin = Instant::now() + ms(20);
        let until = origin + FRAME * script.len() as u32 + ms(100);
        let (_, heard) = talk(&mut caller.peer, &script, origin, until).await;

        let t = turns(&mock, 1).await.remove(0);
        let d = t.speech_end_us;
        on_schedule_us(d, us(&mock, origin), FRAME * ends[0] as u32, LATE, "eos");
        on_schedule_us(t.first_audio_us.unwrap(), d, ms(200), LATE, "reply start");
        let b = t.barge_in_us.expect("barge-in");
        on_schedule_us(b, us(&mock, origin), FRAME * onset as u32, LATE, "onset");
        let stopped = t.audio_stopped_us.expect("stopped");
        on_schedule_us(stopped, b, ms(150), LATE, "stop");
        // Nothing after the stop, and far short of the 100 packets.
        assert!(t.last_audio_us.unwrap() <= stopped);
        assert!(t.chunks < 100 && t.response_end_us.is_none(), "{t:?}");
        assert_eq!(t.interrupted_us, None, "no message channel");
        eprintln!(
            "webrtc mock barge-in: stop {} µs after onset + 150 ms; {} reply packets sent",
            stopped - b - 150_000,
            t.chunks
        );
        // The caller heard the reply stop: no audible packet a LATE after
        // the stop, and silence again.
        let mut dec = OpusStreamDecoder::new().unwrap();
        let mut pcm = Vec::new();
        let stop_at = at_us(&mock, stopped) + LATE;
        for h in &heard {
            pcm.clear();
            dec.decode(&h.data, &mut pcm).unwrap();
            if h.at > stop_at {
                assert!(rms(&pcm) < AUDIBLE_RMS, "audible after the stop");
            }
        }
        assert!(
            heard.last().is_some_and(|h| h.at > stop_at),
            "silence resumed"
        );
        assert_eq!(
            mock.truth().await.agent.turns,
            1,
            "the barge-in is not over"
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offers_are_400_and_calls_over_capacity_503() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let mock = spawn(model(AgentModel {
            max_sessions: 1,
            ..AgentModel::default()
        }))
        .await
        .unwrap();
        let post = |path: &'static str, ct: &'static str, body: Vec<u8>| {
            let addr = mock.addr;
            async move { request(addr, "POST", path, ct, &body).await }
        };
        let pipecat = |sdp: &str| {
            serde_json::json!({"sdp": sdp, "type": "offer"})
                .to_string()
                .into_bytes()
        };
        for (path, ct, body) in [
            ("/api/offer", "application/json", b"not json".to_vec()),
            ("/api/offer", "application/json", pipecat("hello")),
            ("/whip", "application/sdp", b"hello".to_vec()),
            ("/whip", "application/sdp", b"v=0\r\n".to_vec()),
        ] {
            let r = post(path, ct, body).await;
            assert_eq!(
                r.status,
                400,
                "{path}: {}",
                String::from_utf8_lossy(&r.body)
            );
            let why = r.json()["error"]["message"].as_str().unwrap().to_string();
            assert!(!why.is_empty() && why.len() < 300, "{why}");
        }
        let mut peer = Peer::loopback().await.unwrap();
        let (offer, _pending) = peer.offer(None).unwrap();
        let r = post("/whip", "text/plain", offer.clone().into_bytes()).await;
        assert_eq!(r.status, 415);
        let wrong = serde_json::json!({"sdp": offer, "type": "answer"}).to_string();
        let r = post("/api/offer", "application/json", wrong.into_bytes()).await;
        assert_eq!(r.status, 400);
        // An offer without Opus: no common codec.
        let g722 = offer.replace("opus/48000/2", "G722/8000");
        assert_ne!(g722, offer);
        let r = post("/api/offer", "application/json", pipecat(&g722)).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        assert!(String::from_utf8_lossy(&r.body).contains("opus"));
        let truth = mock.truth().await.agent;
        assert_eq!(truth.sessions, 0, "refused offers are no sessions");

        // Capacity 1: one call is open (never connected), the next is refused.
        let r = post("/api/offer", "application/json", pipecat(&offer)).await;
        assert_eq!(r.status, 200);
        let mut second = Peer::loopback().await.unwrap();
        let (offer2, _p2) = second.offer(None).unwrap();
        let r = post("/whip", "application/sdp", offer2.into_bytes()).await;
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        let truth = mock.truth().await.agent;
        assert_eq!(
            (
                truth.sessions,
                truth.rejected_over_capacity,
                truth.active_now
            ),
            (2, 1, 1)
        );
        // Shutdown ends the waiting call (it never connected).
        mock.token.cancel();
        let s = session(&mock, Duration::from_secs(3)).await;
        assert_eq!((s.end, s.frames), (AgentEnd::Shutdown, 0));
        assert_eq!(mock.truth().await.agent.active_now, 0);
    })
    .await
    .expect("bounded");
}
