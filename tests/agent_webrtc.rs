//! Voice agents over WebRTC (`voxload agent --transport webrtc`) against
//! the mock's WebRTC agent, whose end-of-speech detection, answer delay,
//! reply length and barge-in stop are known and recorded on its own clock:
//! voxload's per-turn figures must match them, over both signalling
//! shapes (Pipecat's `POST /api/offer` and WHIP), and every failure of a
//! call (signalling refused, an answer that is not SDP, no common codec,
//! ICE that never connects, DTLS failing, an agent that never answers or
//! hangs up) must be classified and counted, never hung.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::Router;
use common::agent::{late_ms, ms, run, script, seeded, Opts, FRAME, PAIRED_MS};
use common::timing::{on_schedule_ms, on_schedule_us, LATE};
use voxload::config::agent::AgentOptions;
use voxload::config::ProtocolOptions;
use voxload::metrics::RequestRecord;
use voxload::mock::{
    self, AgentEnd, AgentFaultKind, AgentFaults, AgentModel, AgentTruth, EndOfSpeech, MockHandle,
    MockModel,
};
use voxload::protocol::ErrorKind;
use voxload::protocol::Service;
use voxload::rtc::Peer;

/// One test at a time: the figures are paired with the mock's record to
/// within `PAIRED_MS`, which 50 calls of another test on the same two
/// cores would blur.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The signalling URL of the mock's WebRTC agent for `signal`.
fn offer_url(mock: &MockHandle, signal: &str) -> String {
    match signal {
        "whip" => format!("{}/whip", mock.url()),
        _ => format!("{}/api/offer", mock.url()),
    }
}

/// `calls` WebRTC calls of two short turns at `concurrency`, as the flags
/// `--transport webrtc --signal SIGNAL --url URL` set them.
fn options(url: String, signal: &str, dir: &Path, calls: u64, concurrency: &str) -> Opts {
    let agent = AgentOptions {
        url: Some(url),
        transport: Some("webrtc".into()),
        signal: Some(signal.into()),
        script: Some(vec![script("two_turns", &["hello there", "thanks a lot"])]),
        pause: Some(Duration::from_millis(100)),
        connect_timeout: Some(Duration::from_secs(5)),
        ..AgentOptions::default()
    };
    Opts::new(agent, dir, calls, concurrency)
}

/// The mock's agent answering 300 ms after a 240 ms VAD window found the
/// end of speech, with `reply` of audio: first audio 540 ms after the last
/// speech packet.
fn answering(reply: Duration) -> AgentModel {
    AgentModel {
        response_delay: Duration::from_millis(300),
        vad_silence: Duration::from_millis(240),
        response_audio: reply,
        ..AgentModel::default()
    }
}

fn model(agent: AgentModel) -> MockModel {
    seeded(agent, 5)
}

/// Whether the mock voice saying `text` at 15 characters per second (3,200
/// samples each at 48 kHz) ends, once decoded, within the last 2.5 ms of
/// its last packet: the codec's 6.5 ms delay (312 samples) puts the end at
/// `(3,200 × chars + 312) mod 960` into it, and the decoder's overlap then
/// rings on into the next packet loud enough for an energy VAD to hear
/// speech there, one packet after the utterance ended.
fn ring(text: &str) -> bool {
    (3_200 * text.chars().count() + 312) % 960 > 960 - 120
}

/// The mock's truth once `sessions` calls have ended there (a call is
/// logged when it ends, which for a Pipecat call is up to the mock's 3 s
/// caller-idle bound after voxload stopped sending).
async fn truth_after(mock: &MockHandle, sessions: usize) -> AgentTruth {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let truth = mock.truth().await.agent;
        if truth.recent_sessions.len() >= sessions || std::time::Instant::now() > until {
            return truth;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn errors(records: &[RequestRecord]) -> BTreeMap<ErrorKind, u64> {
    let mut errors = BTreeMap::new();
    for e in records.iter().filter_map(|r| r.error) {
        *errors.entry(e).or_default() += 1;
    }
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_audio_matches_the_mocks_record_over_both_signalling_shapes() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = answering(Duration::from_millis(600));
    for signal in ["pipecat", "whip"] {
        let mock = mock::spawn(model(agent.clone())).await.expect("mock");
        let o = options(offer_url(&mock, signal), signal, dir.path(), 2, "2");
        let (result, records) = tokio::time::timeout(Duration::from_secs(60), run(o))
            .await
            .expect("bounded");
        assert_eq!(records.len(), 4, "2 calls × 2 turns: {records:?}");
        assert!(records.iter().all(RequestRecord::ok), "{records:?}");
        assert_eq!(result.stages[0].summary.ok, 4);
        let ran = std::time::Instant::now();
        let truth = truth_after(&mock, 2).await;
        // Both calls ended there at once: voxload hung up with a DTLS
        // close_notify (and WHIP's DELETE), not by going quiet for the
        // mock's 3 s caller-idle bound.
        assert!(
            ran.elapsed() < Duration::from_secs(2),
            "{:?}",
            ran.elapsed()
        );
        assert_eq!(truth.turns, 4, "{signal}");
        assert!(truth
            .recent_turns
            .iter()
            .all(|t| t.detected_by == EndOfSpeech::Energy && t.fault.is_none()));

        // Paired turn by turn with the mock's own clock: its last caller
        // speech packet arrived → its first reply packet sent, against ours
        // (our last utterance packet sent → the first audible agent packet
        // read). They differ by loopback and reads, either way, and by one
        // packet where the agent's VAD heard speech one packet after ours
        // ended: see `ring`.
        for (turn, text) in ["hello there", "thanks a lot"].iter().enumerate() {
            let theirs = common::median(
                truth
                    .recent_turns
                    .iter()
                    .filter(|t| t.turn == turn as u64)
                    .map(|t| {
                        let first = t.first_audio_us.expect("answered");
                        (first - t.last_speech_us.expect("speech")) as f64 / 1e3
                    })
                    .collect(),
            );
            let ours = common::median(
                records
                    .iter()
                    .filter(|r| r.turn == Some(turn as u32 + 1))
                    .map(|r| ms(r.agent_first_audio_us))
                    .collect(),
            );
            let heard_late = if ring(text) { 20.0 } else { 0.0 };
            eprintln!("{signal} {text:?}: first audio ours {ours:.2} ms, mock {theirs:.2} ms");
            assert!(
                (ours - theirs - heard_late).abs() <= PAIRED_MS,
                "{signal} {text:?}: ours {ours} ms, mock {theirs} ms"
            );
            // 240 ms of VAD window + 300 ms of answer delay after the last
            // speech packet (whose own lateness may shorten the figure).
            assert!(
                (ours - 540.0 - heard_late).abs() <= late_ms(),
                "{signal} {text:?}: 240 ms VAD + 300 ms: {ours} ms"
            );
        }

        // The mock sent every reply whole: 600 ms of audio and one packet
        // flushing the codec, 31 packets, each counted as 20 ms played.
        for t in &truth.recent_turns {
            assert_eq!((t.chunks, t.audio_us), (31, 600_000), "{t:?}");
        }
        for r in &records {
            assert_eq!(r.audio_us, Some(31 * 20_000), "{r:?}");
            // The agent's silence packets come first: the first packet is
            // never after the first audible one.
            assert!(r.agent_first_packet_us <= r.agent_first_audio_us, "{r:?}");
            assert_eq!(r.rtc_loss, Some(0.0), "loopback loses nothing");
            assert!(r.rtc_jitter_us.is_some() && r.audio_gap_max_us.is_some());
        }
        // Set-up figures on each call's first turn only, in their order.
        let set_up: Vec<_> = records.iter().filter(|r| r.connect_us.is_some()).collect();
        assert_eq!(set_up.len(), 2, "connect once per call");
        for r in set_up {
            assert_eq!(r.turn, Some(1));
            let (answer, ice, dtls) = (r.rtc_answer_us, r.rtc_ice_us, r.rtc_dtls_us);
            assert!(answer.is_some() && answer <= ice && ice <= dtls, "{r:?}");
            assert!(ms(dtls) < 1_000.0, "no DTLS retransmission: {r:?}");
        }
        // The mock saw every call in this signalling shape; a WHIP call
        // ends at voxload's DELETE, a Pipecat call when its packets stop.
        assert_eq!(truth.recent_sessions.len(), 2, "{truth:?}");
        for s in &truth.recent_sessions {
            let rtc = s.rtc.as_ref().expect("a WebRTC call");
            assert_eq!(rtc.signal, signal);
            assert_eq!((rtc.undecodable, rtc.datagrams_dropped), (0, 0), "{rtc:?}");
            let end = if signal == "whip" {
                AgentEnd::Deleted
            } else {
                AgentEnd::ClientClosed
            };
            assert_eq!(s.end, end, "{s:?}");
        }
    }
}

/// The `openai-realtime-webrtc` preset's options, pointed at `url`, with
/// the two short turns of [`options`].
fn openai_options(url: String, dir: &Path, calls: u64, concurrency: &str) -> Opts {
    let preset = voxload::config::preset::find("openai-realtime-webrtc").expect("preset");
    let Ok(ProtocolOptions::Agent(agent)) = preset.options(Service::Agent) else {
        panic!("an agent preset");
    };
    let flags = options(url, "openai", dir, calls, concurrency).agent;
    let agent = AgentOptions {
        url: flags.url,
        script: flags.script,
        pause: flags.pause,
        connect_timeout: flags.connect_timeout,
        ..agent
    };
    Opts::new(agent, dir, calls, concurrency)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_call_reads_the_realtime_events_on_its_data_channel() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = answering(Duration::from_millis(600));
    let mock = mock::spawn(model(agent)).await.expect("mock");
    let url = format!("{}/v1/realtime/calls?model=gpt-realtime", mock.url());
    let (_, records) = tokio::time::timeout(
        Duration::from_secs(60),
        run(openai_options(url, dir.path(), 2, "2")),
    )
    .await
    .expect("bounded");
    assert_eq!(records.len(), 4, "2 calls × 2 turns: {records:?}");
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    let truth = truth_after(&mock, 2).await;

    // Each call: our session.update reached the mock on `oai-events` (held
    // until the channel opened), every event of the mock's went out on it,
    // and the call ended at our POST {call}/hangup.
    assert_eq!(truth.recent_sessions.len(), 2, "{truth:?}");
    for s in &truth.recent_sessions {
        let rtc = s.rtc.as_ref().expect("a WebRTC call");
        assert_eq!(rtc.signal, "openai");
        assert_eq!(s.realtime.as_ref().map(|r| r.updates), Some(1), "{s:?}");
        assert!(rtc.events_sent >= 20 && rtc.events_unsent == 0, "{rtc:?}");
        assert_eq!(s.end, AgentEnd::Deleted, "{s:?}");
    }

    // The turn read from the events, paired with the mock's clock: its
    // speech_stopped and response.created left at its end of speech, its
    // first reply packet at end of speech + 300 ms; ours are the arrivals,
    // from our end of speech. An utterance that rings into the next packet
    // is heard one packet late by the mock (see `ring`), on every clock.
    for (turn, text) in ["hello there", "thanks a lot"].iter().enumerate() {
        let of_turn = |f: &dyn Fn(&voxload::mock::AgentTurnTruth) -> f64| {
            common::median(
                truth
                    .recent_turns
                    .iter()
                    .filter(|t| t.turn == turn as u64)
                    .map(f)
                    .collect(),
            )
        };
        let ours = |f: &dyn Fn(&RequestRecord) -> Option<u64>| {
            common::median(
                records
                    .iter()
                    .filter(|r| r.turn == Some(turn as u32 + 1))
                    .map(|r| ms(f(r)))
                    .collect(),
            )
        };
        let since_speech = |at: Option<u64>, t: &voxload::mock::AgentTurnTruth| {
            (at.expect("happened") - t.last_speech_us.expect("speech")) as f64 / 1e3
        };
        let late = if ring(text) { 20.0 } else { 0.0 };
        let endpoint = (
            ours(&|r| r.agent_endpoint_us),
            of_turn(&|t| since_speech(Some(t.speech_end_us), t)),
        );
        let start = (
            ours(&|r| r.agent_response_start_us),
            of_turn(&|t| since_speech(Some(t.speech_end_us), t)),
        );
        let audio = (
            ours(&|r| r.agent_first_audio_us),
            of_turn(&|t| since_speech(t.first_audio_us, t)),
        );
        for (what, (ours, theirs)) in [
            ("endpoint", endpoint),
            ("response start", start),
            ("first audio", audio),
        ] {
            eprintln!("openai {text:?} {what}: ours {ours:.2} ms, mock {theirs:.2} ms");
            assert!(
                (ours - theirs - late).abs() <= PAIRED_MS,
                "{text:?} {what}: ours {ours} ms, mock {theirs} ms"
            );
        }
    }
    for r in &records {
        // The answer ends at output_audio_buffer.stopped, once its last
        // packet has played: all 31 packets count, the last one before it.
        assert_eq!(r.audio_us, Some(31 * 20_000), "{r:?}");
        let played = ms(r.agent_response_end_us) - ms(r.agent_first_audio_us);
        assert!((played - 620.0).abs() <= late_ms(), "{played} ms: {r:?}");
        // The answer's transcript delta: the mock's reply text, 600 ms of
        // its voice at 15 characters a second.
        assert_eq!(r.reply.as_deref(), Some("sure, i c"), "{r:?}");
        assert!(
            r.kept_message
                .as_deref()
                .is_some_and(|k| k.contains("rate_limits.updated")),
            "{r:?}"
        );
    }

    // An agent that sends its whole reply at once (`burst`): the buffer
    // still stops when the reply has played at the caller, 600 ms after
    // its first packet, not when its last packet was sent.
    let burst = mock::spawn(model(AgentModel {
        burst: true,
        ..answering(Duration::from_millis(600))
    }))
    .await
    .expect("mock");
    let url = format!("{}/v1/realtime/calls", burst.url());
    let (_, records) = tokio::time::timeout(
        Duration::from_secs(60),
        run(openai_options(url, dir.path(), 1, "1")),
    )
    .await
    .expect("bounded");
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    assert_eq!(records.len(), 2, "{records:?}");
    for r in &records {
        // Stopped with the first silence packet after 600 ms of playing:
        // 600–620 ms after the first packet, on the mock's schedule.
        let played = ms(r.agent_response_end_us) - ms(r.agent_first_audio_us);
        eprintln!("openai burst: stopped {played:.2} ms after first audio");
        assert!(
            (600.0 - late_ms()..=620.0 + late_ms()).contains(&played),
            "{played} ms: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_burst_spoken_over_clears_its_buffer() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // A 1 s answer sent all at once, spoken over 300 ms into its playing
    // and stopped 50 ms after the mock hears that: every packet has gone
    // out (response.done came with the last) but 600 ms of it have not
    // played, so the buffer is cleared, not stopped.
    let mock = mock::spawn(model(AgentModel {
        burst: true,
        barge_stop_delay: Duration::from_millis(50),
        ..answering(Duration::from_millis(1_000))
    }))
    .await
    .expect("mock");
    let url = format!("{}/v1/realtime/calls", mock.url());
    let mut o = openai_options(url, dir.path(), 1, "1");
    o.agent.barge_in = Some(1.0);
    o.agent.barge_in_after = Some(Duration::from_millis(300));
    o.agent.keep_types = Some(vec!["output_audio_buffer.cleared".into()]);
    let (_, records) = tokio::time::timeout(Duration::from_secs(60), run(o))
        .await
        .expect("bounded");
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    let truth = truth_after(&mock, 1).await;
    let turns = &truth.recent_turns;
    assert_eq!(turns.len(), 2, "{truth:?}");
    // The mock heard us over its first answer while that still played,
    // after its last packet had gone: nothing was left to stop sending.
    let spoken_over = &turns[0];
    assert!(spoken_over.barge_in_us.is_some(), "{spoken_over:?}");
    assert!(
        spoken_over.barge_in_us < spoken_over.speaking_until_us,
        "{spoken_over:?}"
    );
    assert_eq!(spoken_over.audio_stopped_us, None, "{spoken_over:?}");
    assert_eq!(spoken_over.audio_us, 1_000_000, "all sent");
    assert_eq!(turns[1].barge_in_us, None, "the last answer plays out");
    // What we read on the channel (a record keeps the call's latest kept
    // message): the first answer's buffer cleared, the last one's never.
    let kept = records[1].kept_message.as_deref().unwrap_or_default();
    assert!(kept.contains("\"output_audio_buffer.cleared\""), "{kept}");
    assert!(kept.contains("\"resp_1_0\""), "{kept}");
    // All its audio reached us at once, before we spoke: a burst leaves
    // nothing for a barge-in to silence, and we say so truthfully.
    let first = &records[0];
    assert_eq!(first.audio_us, Some(51 * 20_000), "{first:?}");
    assert!(ms(first.barge_in_silence_us) <= late_ms(), "{first:?}");
}

/// An Ogg Opus file of `pcm` (48 kHz mono) as opusenc lays one out: the
/// head and tags on pages of their own, then 20 ms packets (our encoder's,
/// codec delay flushed) with granule positions in 48 kHz samples, the last
/// `pre_skip + samples`.
fn ogg_opus(pcm: &[i16]) -> Vec<u8> {
    use ogg::{PacketWriteEndInfo, PacketWriter};
    let track = voxload::audio::opus::encode_pcm16(pcm, 48_000).expect("encode");
    let pre_skip = voxload::audio::opus::CODEC_DELAY_SAMPLES as u16;
    let mut head = b"OpusHead\x01\x01".to_vec();
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]);
    let mut w = PacketWriter::new(Vec::new());
    let end_page = PacketWriteEndInfo::EndPage;
    w.write_packet(head, 1, end_page, 0).expect("head");
    w.write_packet(b"OpusTags\0\0\0\0\0\0\0\0".to_vec(), 1, end_page, 0)
        .expect("tags");
    let n = track.packets.len();
    for (i, p) in track.packets.iter().enumerate() {
        let (end, granule) = if i + 1 == n {
            (
                PacketWriteEndInfo::EndStream,
                u64::from(pre_skip) + pcm.len() as u64,
            )
        } else {
            (PacketWriteEndInfo::NormalPacket, (i as u64 + 1) * 960)
        };
        w.write_packet(p.data.to_vec(), 1, end, granule)
            .expect("packet");
    }
    w.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ogg_opus_turn_goes_out_packet_for_packet() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = answering(Duration::from_millis(400));
    let mock = mock::spawn(model(agent)).await.expect("mock");
    let text = "thanks a lot";
    let pcm = voxload::audio::voice::Voice::new(48_000, 15.0).render(text);
    let file = ogg_opus(&pcm);
    let path = dir.path().join("thanks.opus");
    std::fs::write(&path, file).expect("write");
    let mut o = options(offer_url(&mock, "whip"), "whip", dir.path(), 1, "1");
    o.agent.script = Some(vec![voxload::config::agent::ScriptOptions {
        name: "ogg".into(),
        turns: Some(vec![path]),
        ..Default::default()
    }]);
    let (_, records) = tokio::time::timeout(Duration::from_secs(60), run(o))
        .await
        .expect("bounded");
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert!(r.ok(), "{r:?}");
    let truth = truth_after(&mock, 1).await;
    let t = truth.recent_turns.first().expect("a turn");
    // The file's packets decoded at the agent as the utterance they are:
    // one end of speech, paired with ours as for an encoded WAV.
    assert_eq!(truth.turns, 1, "{truth:?}");
    let theirs =
        (t.first_audio_us.expect("answered") - t.last_speech_us.expect("speech")) as f64 / 1e3;
    let ours = ms(r.agent_first_audio_us);
    let late = if ring(text) { 20.0 } else { 0.0 };
    assert!(
        (ours - theirs - late).abs() <= PAIRED_MS,
        "ours {ours}, mock {theirs}"
    );
    let rtc = truth.recent_sessions[0].rtc.as_ref().expect("WebRTC");
    assert_eq!(rtc.undecodable, 0, "{rtc:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_silence_and_leak_follow_the_agents_stop_delay() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = AgentModel {
        response_delay: Duration::from_millis(200),
        response_audio: Duration::from_millis(3_000),
        barge_stop_delay: Duration::from_millis(150),
        ..AgentModel::default()
    };
    let mock = mock::spawn(model(agent)).await.expect("mock");
    let mut o = options(offer_url(&mock, "whip"), "whip", dir.path(), 2, "2");
    o.agent.script = Some(vec![script(
        "interrupting",
        &["one two three", "wait, stop please", "ok, bye then"],
    )]);
    o.agent.barge_in = Some(1.0);
    o.agent.barge_in_after = Some(Duration::from_millis(400));
    let (_, records) = tokio::time::timeout(Duration::from_secs(60), run(o))
        .await
        .expect("bounded");
    assert_eq!(records.len(), 6, "{records:?}");
    assert!(records.iter().all(RequestRecord::ok), "{records:?}");
    let barged: Vec<_> = records
        .iter()
        .filter(|r| r.barge_in_silence_us.is_some())
        .collect();
    assert_eq!(barged.len(), 4, "every turn but each call's last");
    let truth = truth_after(&mock, 2).await;
    let stop = Duration::from_millis(150);
    let stopped: Vec<_> = truth
        .recent_turns
        .iter()
        .filter(|t| t.barge_in_us.is_some())
        .collect();
    assert_eq!(stopped.len(), 4, "{truth:?}");
    for t in &stopped {
        let (barge, at) = (t.barge_in_us.expect("onset"), t.audio_stopped_us);
        on_schedule_us(at.expect("stopped"), barge, stop, LATE, "the mock's stop");
        assert!(t.audio_us < 1_000_000, "cut short: {t:?}");
    }
    for r in &barged {
        // No data channel: no interruption message to time.
        assert_eq!(r.barge_in_event_us, None);
        assert!(ms(r.audio_us) < 1_000.0, "{r:?}");
    }
    let median = |f: fn(&RequestRecord) -> Option<u64>| {
        common::median(barged.iter().map(|r| ms(f(r))).collect())
    };
    // The agent's last reply packet is due within one packet before its
    // stop (150 ms after our first interrupting packet reached it) and
    // plays 20 ms from its arrival: silence comes 150–170 ms after the
    // onset, and up to one packet more when the cut reply's last
    // milliseconds ring on in the silence packet after it.
    let silence = median(|r| r.barge_in_silence_us);
    on_schedule_ms(silence, stop + FRAME, FRAME + LATE, "silence");
    // At real time what leaked is what played between the onset and the
    // silence.
    let leak = median(|r| r.barge_in_leak_us);
    on_schedule_ms(leak, stop + FRAME, FRAME + LATE, "leak");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_calls_at_once_connect_within_two_seconds_and_lose_nothing() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = AgentModel {
        response_delay: Duration::from_millis(100),
        vad_silence: Duration::from_millis(200),
        response_audio: Duration::from_millis(400),
        ..AgentModel::default()
    };
    let mock = mock::spawn(model(agent)).await.expect("mock");
    let mut o = options(offer_url(&mock, "pipecat"), "pipecat", dir.path(), 50, "50");
    o.agent.script = Some(vec![script("hi", &["hi there"])]);
    let (result, records) = tokio::time::timeout(Duration::from_secs(90), run(o))
        .await
        .expect("bounded");
    assert_eq!(records.len(), 50, "{:?}", errors(&records));
    assert!(
        records.iter().all(RequestRecord::ok),
        "{:?}",
        errors(&records)
    );
    assert_eq!(result.stages[0].summary.ok, 50);
    let slowest = records.iter().filter_map(|r| r.connect_us).max();
    eprintln!("50 calls: slowest connect {slowest:?} µs");
    assert!(ms(slowest) < 2_000.0, "{slowest:?}");
    for r in &records {
        assert_eq!(r.rtc_loss, Some(0.0), "{r:?}");
        assert_eq!(r.audio_us, Some(21 * 20_000), "the whole reply: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_never_answers_or_hangs_up_is_counted_in_its_class() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = mock::spawn(model(AgentModel {
        response_delay: Duration::from_millis(50),
        response_audio: Duration::from_millis(100),
        faults: AgentFaults {
            close: 0.25,
            silent: 0.25,
            ..AgentFaults::default()
        },
        ..AgentModel::default()
    }))
    .await
    .expect("mock");
    let mut o = options(offer_url(&mock, "whip"), "whip", dir.path(), 8, "4");
    o.agent.answer_timeout = Some(Duration::from_millis(800));
    o.agent.pause = Some(Duration::ZERO);
    let (result, records) = tokio::time::timeout(Duration::from_secs(90), run(o))
        .await
        .expect("bounded");
    let truth = mock.truth().await.agent;
    let fault = |kind: AgentFaultKind| truth.faults.get(&kind).copied().unwrap_or(0);
    let errors = errors(&records);
    eprintln!("faults {:?}, errors {errors:?}", truth.faults);
    // A turn never answered times out; a call the agent hung up on ends
    // as a reset; each ends its call, so the counts match one to one.
    assert_eq!(
        errors.get(&ErrorKind::Timeout).copied().unwrap_or(0),
        fault(AgentFaultKind::Silent)
    );
    assert_eq!(
        errors.get(&ErrorKind::Reset).copied().unwrap_or(0),
        fault(AgentFaultKind::Close)
    );
    assert!(fault(AgentFaultKind::Silent) > 0 && fault(AgentFaultKind::Close) > 0);
    let summary = &result.stages[0].summary;
    assert_eq!(summary.ok + summary.failed, records.len() as u64);
    assert!(summary.ok > 0 && summary.failed > 0);
}

/// A signalling server on 127.0.0.1.
struct Signalling {
    /// Its offer URL.
    url: String,
    /// How many `DELETE /offer/{session}` (WHIP hang-ups) it has had.
    hang_ups: Arc<AtomicUsize>,
    /// How many of those carried an `Authorization` header.
    authorized: Arc<AtomicUsize>,
}

/// A signalling server that answers every offer with `answer(offer)`.
async fn signalling<F, Fut>(answer: F) -> Signalling
where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let hang_ups = Arc::new(AtomicUsize::new(0));
    let authorized = Arc::new(AtomicUsize::new(0));
    let (counted, with_key) = (hang_ups.clone(), authorized.clone());
    let app = Router::new()
        .route("/offer", post(move |body: String| answer(body)))
        .route(
            "/offer/{session}",
            delete(move |headers: axum::http::HeaderMap| async move {
                counted.fetch_add(1, Ordering::SeqCst);
                if headers.contains_key(header::AUTHORIZATION) {
                    with_key.fetch_add(1, Ordering::SeqCst);
                }
                StatusCode::OK
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/offer", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Signalling {
        url,
        hang_ups,
        authorized,
    }
}

/// A WHIP endpoint answering every offer from a fresh str0m peer, its
/// answer passed through `mangle`; with `live` the peer runs (up to 3 s:
/// ICE, DTLS), else it is dropped at once (nothing answers its port).
async fn answered_by_peer(mangle: fn(&str) -> String, live: bool) -> Signalling {
    answered_at("/offer/1", mangle, live).await
}

/// [`answered_by_peer`], its session at `location`.
async fn answered_at(location: &'static str, mangle: fn(&str) -> String, live: bool) -> Signalling {
    signalling(move |offer| async move {
        let answer = async {
            let mut peer = Peer::loopback().await.map_err(|e| e.to_string())?;
            let sdp = peer.answer(&offer).map_err(|e| e.to_string())?;
            if live {
                tokio::spawn(async move {
                    let _ = peer.connect(Duration::from_secs(3)).await;
                });
            }
            Ok::<_, String>(mangle(&sdp))
        };
        match answer.await {
            Ok(sdp) => (StatusCode::CREATED, [(header::LOCATION, location)], sdp).into_response(),
            Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
        }
    })
    .await
}

/// `sdp` with the last hex digit of its certificate fingerprint changed.
fn wrong_fingerprint(sdp: &str) -> String {
    let line = |l: &str| {
        if !l.starts_with("a=fingerprint:") {
            return l.to_string();
        }
        let (head, last) = l.split_at(l.len() - 1);
        let flipped = if last == "0" { "1" } else { "0" };
        format!("{head}{flipped}")
    };
    sdp.lines().map(line).collect::<Vec<_>>().join("\r\n") + "\r\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_or_broken_signalling_fails_the_call_in_its_class() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");

    // The mock over its capacity: 503, and the other call is served.
    let mock = mock::spawn(model(AgentModel {
        response_delay: Duration::from_millis(50),
        response_audio: Duration::from_millis(100),
        max_sessions: 1,
        ..AgentModel::default()
    }))
    .await
    .expect("mock");
    let (_, records) = run(options(
        offer_url(&mock, "whip"),
        "whip",
        dir.path(),
        2,
        "2",
    ))
    .await;
    let refused: Vec<_> = records
        .iter()
        .filter(|r| r.error == Some(ErrorKind::Http(503)))
        .collect();
    assert_eq!(refused.len(), 1, "{records:?}");
    assert_eq!(records.iter().filter(|r| r.ok()).count(), 2, "{records:?}");

    // The mock answers Opus only: an offer of PCMU alone is refused
    // (400), and what it said reaches the record.
    let mut o = options(offer_url(&mock, "pipecat"), "pipecat", dir.path(), 1, "1");
    o.agent.codec = Some("pcmu".into());
    let (_, records) = run(o).await;
    assert_eq!(records[0].error, Some(ErrorKind::Http(400)), "{records:?}");
    let detail = records[0].error_detail.as_deref().unwrap_or("");
    assert!(detail.contains("opus"), "{detail}");

    // No such endpoint: 404.
    let url = format!("{}/no/such/offer", mock.url());
    let (_, records) = run(options(url, "pipecat", dir.path(), 1, "1")).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].error, Some(ErrorKind::Http(404)), "{records:?}");

    // 200, but not an SDP answer: a decode error naming what came back.
    let server = signalling(|_| async { (StatusCode::CREATED, "hello").into_response() }).await;
    let (_, records) = run(options(server.url, "whip", dir.path(), 1, "1")).await;
    assert_eq!(records[0].error, Some(ErrorKind::Decode), "{records:?}");

    // Every call that fails after its answer still hangs up: the server
    // holds a session for it (and OpenAI bills it) until then.
    let hung_up = |s: &Signalling| s.hang_ups.load(Ordering::SeqCst);

    // An answer whose audio is PCMU only: no common codec.
    let pcmu = |sdp: &str| sdp.replace("opus/48000/2", "PCMU/8000");
    let server = answered_by_peer(pcmu, false).await;
    let (result, records) = run(options(server.url.clone(), "whip", dir.path(), 1, "1")).await;
    assert_eq!(records[0].error, Some(ErrorKind::Decode), "{records:?}");
    let detail = records[0].error_detail.as_deref().unwrap_or("");
    assert!(detail.contains("no common audio codec"), "{detail}");
    assert_eq!(hung_up(&server), 1, "the session was DELETEd");
    assert!(result.warnings.is_empty(), "{:?}", result.warnings);

    // A session whose hang-up the server refuses (no such path: 404): the
    // call's record is as before, and the end of the run says so.
    let server = answered_at("/gone/1?token=sk-7", pcmu, false).await;
    let (result, records) = run(options(server.url.clone(), "whip", dir.path(), 2, "1")).await;
    assert!(
        records.iter().all(|r| r.error == Some(ErrorKind::Decode)),
        "{records:?}"
    );
    let refused: Vec<_> = result
        .warnings
        .iter()
        .filter(|w| w.contains("could not be hung up"))
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", result.warnings);
    let w = refused[0];
    assert!(w.starts_with("2 calls could not be hung up"), "{w}");
    assert!(w.contains("/gone/1") && w.contains("404"), "{w}");
    assert!(!w.contains("sk-7"), "redacted: {w}");

    // The key goes with the offer and with a hang-up on the offer's own
    // server; a session another server holds is hung up without it.
    let keyed = |url: &str| {
        let mut o = options(url.to_string(), "whip", dir.path(), 1, "1");
        o.agent.headers.header = Some(vec!["Authorization: Bearer sk-test-1".into()]);
        o
    };
    let home = answered_by_peer(pcmu, false).await;
    let (_, records) = run(keyed(&home.url)).await;
    assert_eq!(records[0].error, Some(ErrorKind::Decode), "{records:?}");
    assert_eq!(hung_up(&home), 1);
    assert_eq!(
        home.authorized.load(Ordering::SeqCst),
        1,
        "same server: keyed"
    );
    let elsewhere = signalling(|_| async { StatusCode::NOT_FOUND.into_response() }).await;
    let session = elsewhere.url.replace("/offer", "/offer/1");
    let away = answered_at(Box::leak(session.into_boxed_str()), pcmu, false).await;
    let (result, records) = run(keyed(&away.url)).await;
    assert_eq!(records[0].error, Some(ErrorKind::Decode), "{records:?}");
    assert_eq!(hung_up(&away), 0, "{:?}", result.warnings);
    assert_eq!(hung_up(&elsewhere), 1, "hung up where the session is");
    assert_eq!(
        elsewhere.authorized.load(Ordering::SeqCst),
        0,
        "no key there"
    );
    assert!(result.warnings.is_empty(), "{:?}", result.warnings);

    // A live peer whose answer names another certificate: ICE connects,
    // DTLS fails the fingerprint check.
    let server = answered_by_peer(wrong_fingerprint, true).await;
    let mut o = options(server.url.clone(), "whip", dir.path(), 1, "1");
    o.agent.connect_timeout = Some(Duration::from_secs(2));
    let (_, records) = tokio::time::timeout(Duration::from_secs(30), run(o))
        .await
        .expect("bounded");
    assert_eq!(records[0].error, Some(ErrorKind::Connect), "{records:?}");
    let detail = records[0].error_detail.as_deref().unwrap_or("");
    assert!(detail.contains("fingerprint"), "{detail}");
    assert_eq!(hung_up(&server), 1, "the session was DELETEd");

    // A real answer from a peer that is then gone: ICE never connects, and
    // the call fails at --connect-timeout, not later.
    let server = answered_by_peer(str::to_string, false).await;
    let mut o = options(server.url.clone(), "whip", dir.path(), 1, "1");
    o.agent.connect_timeout = Some(Duration::from_millis(800));
    let started = std::time::Instant::now();
    let (_, records) = tokio::time::timeout(Duration::from_secs(30), run(o))
        .await
        .expect("bounded");
    assert_eq!(records[0].error, Some(ErrorKind::Timeout), "{records:?}");
    let detail = records[0].error_detail.as_deref().unwrap_or("");
    assert!(!detail.is_empty(), "{records:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(hung_up(&server), 1, "the session was DELETEd");
}
