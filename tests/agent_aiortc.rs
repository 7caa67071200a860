//! A WebRTC call to a voice agent built on aiortc (Python; a WebRTC stack
//! no one here wrote): tests/peers/aiortc_agent.py answers voxload's WHIP
//! offer, plays a known WAV a known delay after the first caller RTP
//! packet reached it, and records on CLOCK_MONOTONIC when that packet
//! arrived, when its first reply frame went to its encoder, and what codec
//! it negotiated. voxload's first audio, audio length and codec must
//! match, over Opus and over PCMU (`--codec pcmu`).
//!
//! `.ci/run` installs aiortc into `target/aiortc-venv` (pinned); elsewhere
//! the test says what it skips (`VOXLOAD_AIORTC_PYTHON` names another
//! interpreter with aiortc).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::agent::{ms, run, script, Opts};
use voxload::audio::opus::{CODEC_DELAY_SAMPLES, FRAME_SAMPLES};
use voxload::audio::voice::Voice;
use voxload::audio::wav;
use voxload::config::agent::AgentOptions;

const HOW: &str = "python3 -m venv target/aiortc-venv && target/aiortc-venv/bin/pip install aiortc==1.16.0 (.ci/run does this)";
/// The agent's reply starts this long after our first packet reached it.
const DELAY_MS: u64 = 1_000;
const CALLER_TEXT: &str = "hello";
const REPLY_TEXT: &str = "ok got it";
const CPS: f64 = 15.0;
/// Ours against aiortc's record: its Python encode, SRTP and send come
/// after its stamp (measured: ours 1.4–2.4 ms more on an idle machine,
/// 1.4–5.3 ms with both cores busy). 12 ms still tells a shift of one
/// 20 ms packet in our anchor from that.
const SLACK_MS: f64 = 12.0;

fn python() -> PathBuf {
    std::env::var_os("VOXLOAD_AIORTC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/aiortc-venv/bin/python")
        })
}

/// The agent process, killed when the test ends however it ends.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the aiortc agent replying with `wav`; it and its port.
fn start(python: &PathBuf, wav: &std::path::Path) -> (Agent, u16) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/aiortc_agent.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(wav)
        .arg(DELAY_MS.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the aiortc agent");
    let stdout = child.stdout.take().expect("stdout");
    let agent = Agent(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the aiortc agent says where it listens within 30 s");
    let port = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a port line: {line:?}"));
    (agent, port)
}

/// `GET /truth` of the agent on `port`, as JSON.
fn truth(port: u16) -> serde_json::Value {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"GET /truth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        .expect("ask");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let body = resp.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).expect("JSON")
}

/// Packets of an utterance of `text` in the test voice at 48 kHz (3,200
/// samples a character), in whole 20 ms packets: Opus adds its codec
/// delay (`encode_pcm16`), μ-law at 8 kHz does not.
fn packets(text: &str, codec: &str) -> usize {
    let samples = 3_200 * text.chars().count();
    match codec {
        "opus" => (samples + CODEC_DELAY_SAMPLES).div_ceil(FRAME_SAMPLES),
        _ => samples.div_ceil(FRAME_SAMPLES),
    }
}

/// One call to the agent on `port` with `--codec codec`; checked against
/// the agent's record of call `id`: the codec it answered (`rtpmap`),
/// first audio, the reply's length, the hang-up.
async fn call(port: u16, dir: &std::path::Path, id: &str, codec: &str, rtpmap: &str) {
    let agent = AgentOptions {
        url: Some(format!("http://127.0.0.1:{port}/offer")),
        transport: Some("webrtc".into()),
        signal: Some("whip".into()),
        codec: Some(codec.into()),
        script: Some(vec![script("hello", &[CALLER_TEXT])]),
        ..AgentOptions::default()
    };
    let (_, records) = tokio::time::timeout(
        Duration::from_secs(60),
        run(Opts::new(agent, &dir.join(codec), 1, "1")),
    )
    .await
    .expect("bounded");
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert!(r.ok(), "{codec}: {r:?}");

    let t = truth(port);
    let call = &t[id];
    eprintln!("aiortc agent, {codec}: {call}");
    assert_eq!(call["codec"], rtpmap, "{codec} negotiated: {call}");
    assert_eq!(call["deleted"], true, "hung up with WHIP's DELETE: {call}");
    let at = |k: &str| call[k].as_f64().unwrap_or_else(|| panic!("{k}: {call}"));
    // Its reply left (first_reply − first_rtp) after our first packet
    // arrived, plus the frames its encoder holds back (PCMU: one, as its
    // resampler buffers a frame); our end of speech is our last utterance
    // packet, sent (packets − 1) × 20 ms after our first. Loopback both
    // ways and each side's read differ by little; aiortc's encode, SRTP
    // and send after its stamp by more (see `SLACK_MS`).
    let theirs = (at("first_reply") - at("first_rtp") + at("encoder_lag_frames") * 0.02) * 1e3;
    let spoke = (packets(CALLER_TEXT, codec) - 1) as f64 * 20.0;
    let want = theirs - spoke;
    let ours = ms(r.agent_first_audio_us);
    eprintln!(
        "{codec} first audio: ours {ours:.2} ms, aiortc's record less our speech {want:.2} ms"
    );
    assert!(
        (ours - want).abs() <= SLACK_MS,
        "{codec}: ours {ours}, want {want}"
    );
    // 600 ms of reply in 30 frames. libopus's 6.5 ms delay (and for PCMU
    // the resampler's, a frame less 11 samples) carries its end into the
    // next (silent) frame's packet, which is heard too.
    let frames = call["reply_frames"].as_u64().expect("frames");
    assert_eq!(frames, 30, "{call}");
    let audio = ms(r.audio_us);
    assert!(
        (600.0..=620.0).contains(&audio),
        "{codec}: {audio} ms of a 600 ms reply"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiortc_agent_is_timed_to_what_it_recorded() {
    let python = python();
    if !common::external(&python.to_string_lossy(), HOW) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pcm = Voice::new(48_000, CPS).render(REPLY_TEXT);
    let mut bytes = wav::header(48_000, 1, 16, Some(pcm.len() as u32 * 2)).to_vec();
    bytes.extend(pcm.iter().flat_map(|s| s.to_le_bytes()));
    let reply = dir.path().join("reply.wav");
    std::fs::write(&reply, bytes).expect("write the reply");
    let (_agent, port) = start(&python, &reply);
    // One call after the other, so each has the machine to itself.
    call(port, dir.path(), "1", "opus", "opus/48000/2").await;
    call(port, dir.path(), "2", "pcmu", "PCMU/8000").await;
}
