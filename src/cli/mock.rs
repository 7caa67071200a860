//! `voxload mock`: serve the embedded mock speech server from the command line.
//!
//! The flags map one-to-one onto [`MockModel`]; validation lives on the model
//! so the library and the CLI reject the same values with the same flag names.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use humantime::Duration as HumanDuration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::mock::{
    self, AgentFaults, AgentModel, AsrFaults, AsrModel, Faults, MockError, MockModel,
    RateDeclaration, StallWindow,
};

/// `--declare-rate`: `none`, `header` or `content-type`.
fn parse_rate_declaration(s: &str) -> Result<RateDeclaration, String> {
    RateDeclaration::parse(s)
        .ok_or_else(|| format!("expected none, header or content-type, got '{s}'"))
}

/// Serve a mock OpenAI-compatible TTS and ASR server with a known latency model.
#[derive(Debug, Clone, clap::Args)]
pub struct MockArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free port (the URL is printed).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// On exit (Ctrl-C or SIGTERM), write the final truth (`GET /mock/truth`) to this file.
    #[arg(long, value_name = "FILE")]
    pub truth_out: Option<std::path::PathBuf>,
    /// Fixed time before the first audio of every request.
    #[arg(long, default_value = "50ms")]
    pub overhead: HumanDuration,
    /// Uniform jitter on the overhead, ± this much.
    #[arg(long, default_value = "0ms")]
    pub jitter: HumanDuration,
    /// Synthesis speed in audio seconds per wall-clock second (4 = 4× real time).
    #[arg(long, default_value_t = 4.0)]
    pub speed: f64,
    /// Speaking rate: input characters per second of audio.
    #[arg(long, default_value_t = 15.0)]
    pub chars_per_second: f64,
    /// Audio per streamed chunk.
    #[arg(long, default_value = "100ms")]
    pub chunk: HumanDuration,
    /// Output sample rate (16-bit mono PCM or WAV).
    #[arg(long, default_value_t = 24_000)]
    pub sample_rate: u32,
    /// How raw PCM answers declare --sample-rate: none, header (x-sample-rate) or content-type (audio/L16; rate=N).
    #[arg(long, default_value = "none", value_parser = parse_rate_declaration)]
    pub declare_rate: RateDeclaration,
    /// Silence before the tone in every response (tests "first voiced audio").
    #[arg(long, default_value = "0ms")]
    pub leading_silence: HumanDuration,
    /// Longest audio a request can get (longer texts are cut).
    #[arg(long, default_value = "60s")]
    pub max_audio: HumanDuration,
    /// Concurrent synthesis slots.
    #[arg(long, default_value_t = 64)]
    pub slots: usize,
    /// Requests that may wait for a slot; beyond that the server answers 503.
    #[arg(long, default_value_t = 256)]
    pub queue: usize,
    /// Extra delay when the server is cold (at startup and after --idle-before-cold).
    #[arg(long, default_value = "0ms")]
    pub cold_start: HumanDuration,
    /// Idle time after which the server goes cold again (used when --cold-start > 0).
    #[arg(long, default_value = "30s")]
    pub idle_before_cold: HumanDuration,
    /// Act as a buffered server: send all audio at once when synthesis is done.
    #[arg(long)]
    pub no_streaming: bool,
    /// Share of requests answered HTTP 500 (0..=1).
    #[arg(long = "error-5xx", default_value_t = 0.0)]
    pub error_5xx: f64,
    /// Share of requests answered HTTP 429 with Retry-After (0..=1).
    #[arg(long = "error-429", default_value_t = 0.0)]
    pub error_429: f64,
    /// Share of requests whose connection is reset after half the audio (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub reset: f64,
    /// Share of requests that pause for --stall-duration after half the audio (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub stall: f64,
    /// Length of the --stall pause.
    #[arg(long, default_value = "1s")]
    pub stall_duration: HumanDuration,
    /// Share of requests whose body ends cleanly after half the audio (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub truncate: f64,
    /// Share of requests answered with a response head over 64 KiB (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub oversized_head: f64,
    /// Share of requests whose chunked body starts with a bad chunk size line (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub bad_chunk: f64,
    /// Pause every response this long after server start (with --stall-all-for),
    /// to test coordinated omission. `POST /mock/stall?ms=N` does it at runtime.
    #[arg(long, requires = "stall_all_for")]
    pub stall_all_at: Option<HumanDuration>,
    /// Length of the --stall-all-at pause.
    #[arg(long, requires = "stall_all_at")]
    pub stall_all_for: Option<HumanDuration>,
    /// Seed for jitter, fault choice and ASR word errors (default: random).
    #[arg(long)]
    pub seed: Option<u64>,
    /// ASR: fixed processing time per HTTP transcription.
    #[arg(long, default_value = "30ms")]
    pub asr_overhead: HumanDuration,
    /// ASR speed: audio seconds transcribed per wall-clock second.
    #[arg(long, default_value_t = 20.0)]
    pub asr_rtfx: f64,
    /// ASR slots, shared by HTTP transcriptions and WebSocket sessions.
    #[arg(long, default_value_t = 64)]
    pub asr_slots: usize,
    /// HTTP transcriptions that may wait for an ASR slot; beyond that, 503.
    #[arg(long, default_value_t = 256)]
    pub asr_queue: usize,
    /// Share of transcript words substituted at no load (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub asr_word_error_rate: f64,
    /// Extra substitution probability per concurrent ASR request beyond the first (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub asr_word_error_per_load: f64,
    /// WebSocket ASR: a partial transcript per this much received audio.
    #[arg(long, default_value = "200ms")]
    pub ws_partial_every: HumanDuration,
    /// WebSocket ASR: delay from the audio that triggers a partial to the partial.
    #[arg(long, default_value = "50ms")]
    pub ws_partial_lag: HumanDuration,
    /// WebSocket ASR: delay from the end-of-audio message to the final transcript.
    #[arg(long, default_value = "100ms")]
    pub ws_final_delay: HumanDuration,
    /// WebSocket ASR: a minimal sink for generator benchmarks (frames counted, not
    /// decoded; no partials; an empty final).
    #[arg(long)]
    pub ws_sink: bool,
    /// Share of WebSocket sessions dropped without a close frame after the first partial (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub ws_abrupt_close: f64,
    /// Share of WebSocket sessions that never send anything (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub ws_never_answer: f64,
    /// Share of WebSocket sessions whose final is a 16 MiB + 1 byte message (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub ws_huge_message: f64,
    /// Voice agent (WS /v1/agent): end of caller speech → response text and first audio.
    #[arg(long, default_value = "400ms")]
    pub agent_response_delay: HumanDuration,
    /// Voice agent: end of caller speech → final transcript.
    #[arg(long, default_value = "100ms")]
    pub agent_transcript_delay: HumanDuration,
    /// Voice agent: non-speech caller audio after speech that ends the turn
    /// (energy VAD; counted in samples).
    #[arg(long, default_value = "300ms")]
    pub agent_vad_silence: HumanDuration,
    /// Voice agent: a caller frame is speech when its RMS exceeds this
    /// (16-bit PCM units, full scale 32767).
    #[arg(long, default_value_t = 500.0)]
    pub agent_speech_rms: f64,
    /// Voice agent: audio per response.
    #[arg(long, default_value = "1500ms")]
    pub agent_response_audio: HumanDuration,
    /// Voice agent: sample rate of the response audio (16-bit mono PCM).
    #[arg(long, default_value_t = 16_000)]
    pub agent_sample_rate: u32,
    /// Voice agent (/v1/agent): announce --agent-sample-rate on accept (session.created, OpenAI GA shape).
    #[arg(long)]
    pub agent_announce_rate: bool,
    /// Voice agent: audio per response chunk (one message each).
    #[arg(long, default_value = "40ms")]
    pub agent_chunk: HumanDuration,
    /// Voice agent: chunk pacing in audio seconds per wall-clock second (1 = real time).
    #[arg(long, default_value_t = 1.0)]
    pub agent_speed: f64,
    /// Voice agent: send each answer's whole audio at once (as fast as the socket takes it),
    /// leaving the pacing to the caller's player; caller speech until it would have finished
    /// playing is a barge-in.
    #[arg(long)]
    pub agent_burst: bool,
    /// Voice agent: first caller speech frame during a response → audio stops, `interrupted`.
    #[arg(long, default_value = "150ms")]
    pub agent_barge_stop: HumanDuration,
    /// Voice agent: on barge-in, only stop sending; no `interrupted` message (the caller's
    /// cue to drop queued audio).
    #[arg(long)]
    pub agent_no_interrupt: bool,
    /// Voice agent: sessions held at once; more are accepted, then closed with 1013.
    #[arg(long, default_value_t = 1_000)]
    pub agent_max_sessions: usize,
    /// Voice agent: send response audio as {"type":"audio","audio":"<base64>"} text.
    #[arg(long)]
    pub agent_json_audio: bool,
    /// Voice agent: decode the caller's mock speech into the transcript (≈ 1.2 ms of CPU
    /// per second of caller speech); without it transcripts are empty.
    #[arg(long)]
    pub agent_transcribe: bool,
    /// Voice agent: share of turns whose TCP connection is dropped without a close
    /// frame when the response would start (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub agent_fault_close: f64,
    /// Voice agent: share of turns never answered (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub agent_fault_silent: f64,
    /// Voice agent: share of turns whose transcript is the text `this is not json` (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub agent_fault_malformed: f64,
    /// Voice agent: share of turns whose transcript is a 16 MiB + 1 byte message (0..=1).
    #[arg(long, default_value_t = 0.0)]
    pub agent_fault_huge_message: f64,
}

impl MockArgs {
    /// The validated model these flags describe; errors name the flag.
    pub fn model(&self) -> Result<MockModel, MockError> {
        let stall_all = match (self.stall_all_at, self.stall_all_for) {
            (Some(start), Some(duration)) => Some(StallWindow {
                start: *start,
                duration: *duration,
            }),
            _ => None,
        };
        let model = MockModel {
            sample_rate: self.sample_rate,
            declare_rate: self.declare_rate,
            chars_per_second: self.chars_per_second,
            speed: self.speed,
            chunk: *self.chunk,
            overhead: *self.overhead,
            jitter: *self.jitter,
            leading_silence: *self.leading_silence,
            max_audio: *self.max_audio,
            slots: self.slots,
            queue: self.queue,
            cold_start: *self.cold_start,
            idle_before_cold: (!self.cold_start.is_zero()).then_some(*self.idle_before_cold),
            streaming: !self.no_streaming,
            faults: Faults {
                error_5xx: self.error_5xx,
                error_429: self.error_429,
                reset: self.reset,
                stall: self.stall,
                truncate: self.truncate,
                oversized_head: self.oversized_head,
                bad_chunk: self.bad_chunk,
                stall_duration: *self.stall_duration,
            },
            stall_all,
            seed: self.seed,
            asr: AsrModel {
                overhead: *self.asr_overhead,
                rtfx: self.asr_rtfx,
                slots: self.asr_slots,
                queue: self.asr_queue,
                word_error_rate: self.asr_word_error_rate,
                word_error_per_load: self.asr_word_error_per_load,
                partial_every: *self.ws_partial_every,
                partial_lag: *self.ws_partial_lag,
                final_delay: *self.ws_final_delay,
                ws_sink: self.ws_sink,
                faults: AsrFaults {
                    ws_abrupt_close: self.ws_abrupt_close,
                    ws_never_answer: self.ws_never_answer,
                    ws_huge_message: self.ws_huge_message,
                },
                seed: self.seed,
            },
            agent: AgentModel {
                response_delay: *self.agent_response_delay,
                transcript_delay: *self.agent_transcript_delay,
                vad_silence: *self.agent_vad_silence,
                speech_rms: self.agent_speech_rms,
                response_audio: *self.agent_response_audio,
                sample_rate_out: self.agent_sample_rate,
                announce_rate: self.agent_announce_rate,
                chunk: *self.agent_chunk,
                speed: self.agent_speed,
                burst: self.agent_burst,
                barge_stop_delay: *self.agent_barge_stop,
                interrupt_message: !self.agent_no_interrupt,
                max_sessions: self.agent_max_sessions,
                json_audio: self.agent_json_audio,
                transcribe: self.agent_transcribe,
                faults: AgentFaults {
                    close: self.agent_fault_close,
                    silent: self.agent_fault_silent,
                    malformed: self.agent_fault_malformed,
                    huge_message: self.agent_fault_huge_message,
                },
                seed: self.seed,
            },
        };
        model.validate()?;
        Ok(model)
    }
}

/// Bind `--host:--port`, print the URL, and serve until Ctrl-C.
pub async fn run_mock(args: MockArgs) -> anyhow::Result<()> {
    let model = args.model()?;
    let addr = SocketAddr::new(args.host, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener
        .local_addr()
        .with_context(|| format!("cannot read the address bound for {addr}"))?;
    println!("voxload mock listening on http://{local}");
    println!("  POST /v1/audio/speech   GET /mock/truth   POST /mock/reset-truth   POST /mock/stall?ms=N");
    println!("  POST /v1/audio/transcriptions[/raw]   WS /v1/realtime/transcribe[?dialect=vllm|deepgram|assemblyai|openai]   WS /v1/agent");
    println!(
        "  WS /v1/realtime[?dialect=beta] (OpenAI Realtime API, presets openai-realtime[-beta])"
    );
    println!("  WS /v1/twilio (Twilio Media Streams, mu-law 8 kHz, preset twilio)");
    println!(
        "  WS /v1/text-to-speech/{{voice}}/stream-input   WS /tts/websocket   WS /v1/speak (TTS presets elevenlabs, cartesia, deepgram-speak; ?fail=error|close4000)"
    );
    println!(
        "  model: {}× real time, {} overhead, {} chunks, {} slots + {} queue (Ctrl-C to stop)",
        model.speed,
        humantime::format_duration(model.overhead),
        humantime::format_duration(model.chunk),
        model.slots,
        model.queue
    );
    println!(
        "  asr: {}× real time, {} overhead, {} slots + {} queue, word error rate {} (+{} per extra request)",
        model.asr.rtfx,
        humantime::format_duration(model.asr.overhead),
        model.asr.slots,
        model.asr.queue,
        model.asr.word_error_rate,
        model.asr.word_error_per_load
    );
    println!(
        "  agent: end of speech = {} of non-speech (or an end_of_speech message), response {} after it, {} of audio {}, barge-in stop {}{}, max {} sessions",
        humantime::format_duration(model.agent.vad_silence),
        humantime::format_duration(model.agent.response_delay),
        humantime::format_duration(model.agent.response_audio),
        if model.agent.burst {
            "all at once".to_string()
        } else {
            format!("at {}× real time", model.agent.speed)
        },
        humantime::format_duration(model.agent.barge_stop_delay),
        if model.agent.interrupt_message {
            ""
        } else {
            " (no interrupted message)"
        },
        model.agent.max_sessions
    );
    let token = CancellationToken::new();
    let on_signal = {
        let token = token.clone();
        tokio::spawn(async move {
            stop_signal().await;
            token.cancel();
        })
    };
    let served = mock::serve(listener, model, token).await;
    on_signal.abort();
    let truth = served.context("mock server failed")?;
    eprintln!(
        "voxload mock: {} speech requests ({} ok), {} transcriptions, {} agent sessions",
        truth.requests, truth.ok, truth.asr.requests, truth.agent.sessions
    );
    if let Some(path) = &args.truth_out {
        let json = serde_json::to_vec_pretty(&truth).context("truth as JSON")?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM (what `kill` and service managers send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: MockArgs,
    }

    fn parse(flags: &[&str]) -> Result<MockArgs, clap::Error> {
        Wrap::try_parse_from(std::iter::once("mock").chain(flags.iter().copied())).map(|w| w.args)
    }

    #[test]
    fn defaults_are_the_default_model() {
        assert_eq!(parse(&[]).unwrap().model().unwrap(), MockModel::default());
    }

    #[test]
    fn flags_set_the_model() {
        let args = parse(&[
            "--port",
            "0",
            "--overhead",
            "20ms",
            "--speed",
            "2",
            "--cold-start",
            "1s",
            "--reset",
            "0.1",
            "--no-streaming",
            "--stall-all-at",
            "5s",
            "--stall-all-for",
            "1s",
            "--seed",
            "9",
            "--asr-rtfx",
            "5",
            "--asr-word-error-per-load",
            "0.02",
            "--ws-partial-every",
            "100ms",
            "--ws-never-answer",
            "0.5",
            "--agent-response-delay",
            "250ms",
            "--agent-speed",
            "2",
            "--agent-json-audio",
            "--agent-burst",
            "--agent-no-interrupt",
            "--agent-fault-malformed",
            "0.25",
        ])
        .unwrap();
        let m = args.model().unwrap();
        assert_eq!(m.overhead, std::time::Duration::from_millis(20));
        assert_eq!(m.idle_before_cold, Some(std::time::Duration::from_secs(30)));
        assert_eq!(
            (m.speed, m.faults.reset, m.streaming, m.seed),
            (2.0, 0.1, false, Some(9))
        );
        assert_eq!(
            m.stall_all.map(|w| w.duration),
            Some(std::time::Duration::from_secs(1))
        );
        assert_eq!(
            (
                m.asr.rtfx,
                m.asr.word_error_per_load,
                m.asr.faults.ws_never_answer,
                m.asr.seed
            ),
            (5.0, 0.02, 0.5, Some(9))
        );
        assert_eq!(m.asr.partial_every, std::time::Duration::from_millis(100));
        assert_eq!(
            m.agent.response_delay,
            std::time::Duration::from_millis(250)
        );
        assert_eq!(
            (
                m.agent.speed,
                m.agent.json_audio,
                m.agent.faults.malformed,
                m.agent.seed
            ),
            (2.0, true, 0.25, Some(9))
        );
        assert!(m.agent.burst && !m.agent.interrupt_message);
    }

    #[test]
    fn invalid_values_name_the_flag() {
        for (flags, flag) in [
            (&["--speed", "0"][..], "--speed"),
            (&["--error-5xx", "1.5"][..], "--error-5xx"),
            (&["--chunk", "0ms"][..], "--chunk"),
            (&["--slots", "0"][..], "--slots"),
            (&["--asr-rtfx", "0"][..], "--asr-rtfx"),
            (&["--asr-slots", "0"][..], "--asr-slots"),
            (&["--asr-word-error-rate", "2"][..], "--asr-word-error-rate"),
            (
                &["--asr-word-error-per-load", "1.5"][..],
                "--asr-word-error-per-load",
            ),
            (&["--ws-partial-every", "0ms"][..], "--ws-partial-every"),
            (&["--ws-abrupt-close", "1.5"][..], "--ws-abrupt-close"),
            (
                &["--ws-never-answer", "0.6", "--ws-abrupt-close", "0.6"][..],
                "--ws-never-answer",
            ),
            (&["--agent-speed", "0"][..], "--agent-speed"),
            (&["--agent-chunk", "0ms"][..], "--agent-chunk"),
            (&["--agent-max-sessions", "0"][..], "--agent-max-sessions"),
            (&["--agent-fault-close", "2"][..], "--agent-fault-close"),
        ] {
            let err = parse(flags).unwrap().model().unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
        assert!(parse(&["--stall-all-at", "1s"]).is_err());
    }
}
