//! Voice-agent scenarios: their options (flags and file keys, declared
//! once) and what they become — the agent's WebSocket target and the
//! conversation scripts to speak.
//!
//! A scenario names conversation scripts (`[[script]]`: turns as audio
//! files, a corpus manifest, or texts spoken by the built-in test voice),
//! mixed by weight; the vendor part is message shapes and templates.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::asr::parse_frame_encoding;
use super::error::{invalid, positive, ws_max_message, ConfigError};
use super::target::{parse_codec, templates, ErrorEventOptions, HeaderOptions};
use crate::audio::codec::Codec;
use crate::audio::convert::to_pcm16_mono;
use crate::audio::ogg_packets::read_ogg_opus;
use crate::audio::packets::PacketCodec;
use crate::audio::track::TurnAudio;
use crate::audio::voice::Voice;
use crate::audio::AudioFormat;
use crate::input::{AudioSet, TEST_VOICE_CPS};
use crate::protocol::target::TargetError;
use crate::protocol::webrtc::session::DEFAULT_AUDIBLE_DBFS;
use crate::protocol::webrtc::{RtcAgentTarget, Signal};
use crate::protocol::ws_agent::{AgentTarget, MessageRules};
use crate::protocol::Target;
use crate::units::{parse_bytes, parse_duration};

/// One conversation script as written in a scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptOptions {
    /// Name, shown in `requests.jsonl`.
    pub name: String,
    /// Relative weight in the mix [default: 1].
    pub weight: Option<f64>,
    /// One audio file per turn.
    pub turns: Option<Vec<PathBuf>>,
    /// A `voxload corpus` manifest: its lines in order are the turns.
    pub manifest: Option<PathBuf>,
    /// Texts spoken by the built-in test voice (tones the mock understands;
    /// a real agent needs real speech: render texts with `voxload corpus`).
    pub texts: Option<Vec<String>>,
}

/// Every option of a voice-agent scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct AgentOptions {
    /// Agent WebSocket URL (ws:// or wss://); with --transport webrtc, the signalling URL (http(s)://…/api/offer, a WHIP endpoint, or https://api.openai.com/v1/realtime/calls with --signal openai).
    #[arg(long)]
    pub url: Option<String>,
    /// How calls travel: ws (WebSocket) or webrtc (Opus over RTP, messages on a data channel) [default: ws].
    #[arg(long)]
    pub transport: Option<String>,
    /// WebRTC offer/answer exchange: pipecat (JSON POST, SmallWebRTC's /api/offer), whip (SDP POST, DELETE at hang-up) or openai (SDP POST to /v1/realtime/calls, events on oai-events) [default: pipecat].
    #[arg(long)]
    pub signal: Option<String>,
    /// WebRTC: an agent packet is speech from this level, dBFS RMS (agents send Opus silence between replies) [default: -40].
    #[arg(long, allow_hyphen_values = true)]
    pub audible_level: Option<f32>,
    /// WebRTC: open a data channel with this label for the agent's messages ("" for none) [default: oai-events with --signal openai, else none].
    #[arg(long)]
    pub data_channel: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub headers: HeaderOptions,
    /// Sample rate of the caller's audio [default: 16000].
    #[arg(long)]
    pub sample_rate: Option<u32>,
    /// Sample encoding both ways: pcm16, mulaw or alaw (G.711 telephony) [default: pcm16]; over WebRTC: opus or pcmu [default: opus].
    #[arg(long)]
    pub codec: Option<String>,
    /// Caller audio per frame [default: 20ms].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub frame: Option<Duration>,
    /// Caller frames: binary, or a JSON template with {{audio}} for base64 PCM [default: binary].
    #[arg(long)]
    pub frame_encoding: Option<String>,
    /// Start message template ({{sample_rate}}), repeat for several in order; '' for none [default: {"type":"start","sample_rate":…}].
    #[arg(long, value_name = "JSON")]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub start_message: Option<Vec<String>>,
    /// Send this message after each utterance (e.g. '{"type":"end_of_speech"}'), repeat for several in order [default: none, the agent detects silence].
    #[arg(long, value_name = "JSON")]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub end_of_speech_message: Option<Vec<String>>,
    /// Stream low-level noise between utterances [default: true] (the flag is `--no-noise`).
    #[arg(skip)]
    pub noise: Option<bool>,
    /// Dotted path of the type in agent messages [default: type].
    #[arg(long)]
    pub type_path: Option<String>,
    /// Type(s) of JSON audio messages, comma-separated [default: audio].
    #[arg(long, value_delimiter = ',')]
    pub audio_types: Option<Vec<String>>,
    /// Dotted path of the base64 audio in them [default: audio].
    #[arg(long)]
    pub audio_path: Option<String>,
    /// Type(s) of the agent's transcript of the caller [default: transcript].
    #[arg(long, value_delimiter = ',')]
    pub transcript_types: Option<Vec<String>>,
    /// Dotted path of a boolean "final" flag on transcripts [default: every transcript is final].
    #[arg(long)]
    pub transcript_final_path: Option<String>,
    /// Type(s) of agent text messages [default: response_text].
    #[arg(long, value_delimiter = ',')]
    pub text_types: Option<Vec<String>>,
    /// Dotted path(s) of the text in transcript and text messages, the first present wins [default: transcript,text,delta].
    #[arg(long, value_delimiter = ',')]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub text_path: Option<Vec<String>>,
    /// Type(s) that end a response [default: response_end].
    #[arg(long, value_delimiter = ',')]
    pub end_types: Option<Vec<String>>,
    /// Dotted path of the status in end-of-response messages, kept in each turn's record (OpenAI: response.status) [default: none].
    #[arg(long)]
    pub end_status_path: Option<String>,
    /// Status(es) at --end-status-path that fail the turn, counted as event_response_<status> (OpenAI: failed) [default: none].
    #[arg(long, value_delimiter = ',')]
    pub end_failed_statuses: Option<Vec<String>>,
    /// Type(s) of server messages kept verbatim in the turn records as kept_message (OpenAI: rate_limits.updated) [default: none].
    #[arg(long, value_delimiter = ',')]
    pub keep_types: Option<Vec<String>>,
    /// Type(s) of the interruption message [default: interrupted].
    #[arg(long, value_delimiter = ',')]
    pub interrupt_types: Option<Vec<String>>,
    /// Type(s) by which the agent says it found the end of the caller's speech, e.g. input_audio_buffer.speech_stopped [default: none].
    #[arg(long, value_delimiter = ',')]
    pub endpoint_types: Option<Vec<String>>,
    /// Type(s) announcing that a response began, e.g. response.created [default: none].
    #[arg(long, value_delimiter = ',')]
    pub response_start_types: Option<Vec<String>>,
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub errors: ErrorEventOptions,
    /// Dotted path of the answer's item id in audio messages, for {{item_id}} [default: none].
    #[arg(long)]
    pub item_id_path: Option<String>,
    /// Send this when the agent's interruption message comes during a barge-in (repeat for several, in order); {{item_id}}, {{audio_end_ms}} = answer audio played [default: none].
    #[arg(long, value_name = "JSON")]
    pub barge_in_message: Option<Vec<String>>,
    /// Send this before hanging up (e.g. Twilio's stop event), repeat for several in order; {{session_id}} [default: none].
    #[arg(long, value_name = "JSON")]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub end_message: Option<Vec<String>>,
    /// Type(s) of playback marks the agent sends (Twilio: mark) [default: none].
    #[arg(long, value_delimiter = ',')]
    pub mark_types: Option<Vec<String>>,
    /// Dotted path of a mark's name [default: mark.name].
    #[arg(long)]
    pub mark_name_path: Option<String>,
    /// Echo each mark with this once the audio before it has played, or at once when the agent clears playback; {{mark}} = its name [default: none].
    #[arg(long, value_name = "JSON")]
    pub mark_echo_message: Option<String>,
    /// Sample rate of the agent's audio, for audio seconds [default: 16000].
    #[arg(long)]
    pub agent_sample_rate: Option<u32>,
    /// Dotted JSON path of the agent audio's rate in server messages (OpenAI: session.audio.output.format.rate); once announced it replaces --agent-sample-rate for the call [default: none].
    #[arg(long, value_name = "PATH")]
    pub agent_rate_path: Option<String>,
    /// A call fails if the WebSocket is not open (TCP connect and upgrade) within this [default: 10s].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub connect_timeout: Option<Duration>,
    /// A turn fails without agent audio this long after the end of speech [default: 5s].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub answer_timeout: Option<Duration>,
    /// Without an end message, a response is over after this long without agent messages [default: 1s].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub response_idle: Option<Duration>,
    /// A response still going this long after the end of speech fails the turn [default: 60s].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub response_timeout: Option<Duration>,
    /// Share of turns (0..1) whose answer the caller interrupts with its next utterance [default: 0].
    #[arg(long, value_name = "SHARE", allow_negative_numbers = true)]
    pub barge_in: Option<f64>,
    /// How far into the answer's audio the caller interrupts [default: 500ms].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub barge_in_after: Option<Duration>,
    /// Barge-in counts as ignored if the caller's player still played the agent's answer this close to the end of the interruption [default: 200ms].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub barge_in_quiet: Option<Duration>,
    /// Pause after an answer finished playing before the next utterance [default: 500ms].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub pause: Option<Duration>,
    /// Largest message accepted from the server, e.g. 16MiB, 64KiB or bytes
    /// (a longer one fails as `protocol`) [default: 16MiB].
    #[arg(long, value_parser = parse_bytes)]
    #[serde(default, with = "crate::units::serde_bytes_option")]
    pub ws_max_message: Option<u64>,
    /// Conversation scripts (`[[script]]` in a file) [default: seed 003's two calls].
    #[arg(skip)]
    pub script: Option<Vec<ScriptOptions>>,
}

impl AgentOptions {
    /// Relative audio paths in a scenario file are relative to its folder.
    pub fn rebase(&mut self, dir: &Path) {
        for s in self.script.iter_mut().flatten() {
            for p in s.turns.iter_mut().flatten().chain(s.manifest.as_mut()) {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
        }
    }
}

/// A conversation script, its audio ready to stream.
#[derive(Debug, Clone, Serialize)]
pub struct Script {
    /// Name.
    pub name: String,
    /// Relative weight.
    pub weight: f64,
    /// Where each turn's audio came from.
    pub sources: Vec<String>,
    /// Seconds of caller speech per turn.
    pub speech_s: Vec<f64>,
    /// What each turn says, when known (its text, or the reference beside
    /// its audio): the agent's transcript of it is scored against this.
    pub references: Vec<Option<String>>,
    /// Caller audio per turn: samples in the target's codec at its sample
    /// rate, or, for a WebRTC call over Opus, an Ogg Opus file's packets
    /// (they go out as they are; see `load_script`'s `keep_opus`).
    #[serde(skip)]
    pub turns: Vec<TurnAudio>,
}

/// The conversations a voice-agent scenario holds, and how the caller
/// behaves in them.
#[derive(Debug, Clone, Serialize)]
pub struct AgentInputs {
    /// Conversation scripts, mixed by weight.
    pub scripts: Vec<Script>,
    /// Share of turns whose answer the caller interrupts.
    pub barge_in: f64,
    /// How far into the answer's audio.
    #[serde(with = "crate::units::serde_duration")]
    pub barge_in_after: Duration,
    /// Pause after an answer finished playing.
    #[serde(with = "crate::units::serde_duration")]
    pub pause: Duration,
}

/// Seed 003's conversations, the default when no script is given.
pub fn default_scripts() -> Vec<ScriptOptions> {
    let texts = |t: &[&str]| Some(t.iter().map(|s| s.to_string()).collect());
    vec![
        ScriptOptions {
            name: "insurance_inquiry".into(),
            weight: Some(1.0),
            texts: texts(&[
                "Hello, my name is Alice Brown, my social is 1234, and my zip code is 60601",
                "I'm calling about my auto insurance policy",
                "I need to understand what's covered under my current plan",
                "What happens if I get into an accident?",
                "Thank you for all the information, that's very helpful",
            ]),
            ..ScriptOptions::default()
        },
        ScriptOptions {
            name: "quick_question".into(),
            weight: Some(2.0),
            texts: texts(&[
                "Hi there, I have a quick question",
                "Can you help me check my account balance?",
                "Thanks, that's all I needed to know",
            ]),
            ..ScriptOptions::default()
        },
    ]
}

/// A WebRTC call's `--codec`: Opus unless said otherwise, or μ-law by any
/// of its names.
fn webrtc_codec(flag: Option<&str>) -> Result<PacketCodec, ConfigError> {
    match flag.map(str::trim) {
        None => Ok(PacketCodec::Opus),
        Some(c) if c.eq_ignore_ascii_case("opus") => Ok(PacketCodec::Opus),
        Some(c) if Codec::parse(c) == Some(Codec::Mulaw) => Ok(PacketCodec::Pcmu),
        Some(other) => Err(invalid(
            "--codec",
            format!(
                "'{other}': a WebRTC call sends opus or pcmu (its files are read as PCM, or as Ogg Opus for opus)"
            ),
        )),
    }
}

/// `keep_opus`: an Ogg Opus turn file is kept as it is (a WebRTC call over
/// Opus sends its packets; every other transport needs PCM).
fn load_script(
    s: &ScriptOptions,
    rate: u32,
    codec: Codec,
    keep_opus: bool,
) -> Result<Script, ConfigError> {
    let bad = |reason: String| invalid("script", format!("'{}': {reason}", s.name));
    let weight = s.weight.unwrap_or(1.0);
    if !(weight.is_finite() && weight > 0.0) {
        return Err(bad(format!("weight must be > 0 (got {weight})")));
    }
    let files =
        match (&s.turns, &s.manifest, &s.texts) {
            (Some(paths), None, None) if !paths.is_empty() => Some(paths.clone()),
            (None, Some(manifest), None) => Some(vec![manifest.clone()]),
            (None, None, Some(texts)) if !texts.is_empty() => None,
            _ => return Err(bad(
                "give exactly one of turns = [audio files], manifest = \"…jsonl\" or texts = [...]"
                    .into(),
            )),
        };
    let (mut turns, mut sources, mut references) = (Vec::new(), Vec::new(), Vec::new());
    // Each turn's speech in seconds (an Ogg Opus turn's from its granules).
    let mut speech_s = Vec::new();
    if let Some(inputs) = files {
        let set = AudioSet::load(&inputs).map_err(|e| bad(e.to_string()))?;
        for item in set.items() {
            if item.format == AudioFormat::Opus && keep_opus {
                let track = read_ogg_opus(&item.bytes)
                    .map_err(|e| bad(format!("{}: {e}", item.path.display())))?;
                sources.push(item.path.display().to_string());
                references.push(item.reference.clone());
                speech_s.push(track.audio.as_secs_f64());
                turns.push(TurnAudio::OpusPackets(Arc::new(track)));
                continue;
            }
            let pcm = to_pcm16_mono(&item.bytes, Some(item.format), rate)
                .map_err(|e| bad(format!("cannot convert {}: {e}", item.path.display())))?;
            sources.push(item.path.display().to_string());
            references.push(item.reference.clone());
            let turn = Bytes::from(codec.encode(&pcm));
            speech_s.push(codec.duration(turn.len(), rate).as_secs_f64());
            turns.push(TurnAudio::Samples(turn));
        }
    } else {
        let voice = Voice::new(rate, TEST_VOICE_CPS);
        for t in s.texts.iter().flatten() {
            let pcm: Vec<u8> = voice
                .render(t)
                .iter()
                .flat_map(|s| s.to_le_bytes())
                .collect();
            sources.push(format!("text: {t}"));
            references.push(Some(t.clone()));
            let turn = Bytes::from(codec.encode(&pcm));
            speech_s.push(codec.duration(turn.len(), rate).as_secs_f64());
            turns.push(TurnAudio::Samples(turn));
        }
    }
    if let Some(i) = turns.iter().position(|t| t.is_empty()) {
        return Err(bad(format!("turn {} has no audio ({})", i + 1, sources[i])));
    }
    Ok(Script {
        name: s.name.clone(),
        weight,
        sources,
        speech_s,
        references,
        turns,
    })
}

/// A barge-in template with sample values in its placeholders, to check it is JSON.
fn fill_probe(template: &str) -> String {
    template
        .replace("{{item_id}}", "item")
        .replace("{{audio_end_ms}}", "0")
        .replace("{{sample_rate}}", "16000")
        .replace("{{session_id}}", "0")
        .replace("{{mark}}", "m")
}

fn list(v: Option<Vec<String>>, default: &[String]) -> Vec<String> {
    v.unwrap_or_else(|| default.to_vec())
}

impl AgentOptions {
    /// Validate into the target and the conversations; loads and converts
    /// every turn's audio now, so a bad file fails before any call is made.
    pub fn build(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Target, AgentInputs), ConfigError> {
        let o = self;
        let url = o.url.clone().ok_or(ConfigError::Missing("--url"))?;
        let headers = o.headers.resolve(env)?;
        let frames = parse_frame_encoding(o.frame_encoding.as_deref())?;
        let d = MessageRules::default();
        let rules = MessageRules {
            type_path: o.type_path.clone().unwrap_or(d.type_path),
            audio_types: list(o.audio_types.clone(), &d.audio_types),
            audio_path: o.audio_path.clone().unwrap_or(d.audio_path),
            transcript_types: list(o.transcript_types.clone(), &d.transcript_types),
            transcript_final_path: o.transcript_final_path.clone(),
            text_types: list(o.text_types.clone(), &d.text_types),
            text_paths: list(o.text_path.clone(), &d.text_paths),
            end_types: list(o.end_types.clone(), &d.end_types),
            interrupt_types: list(o.interrupt_types.clone(), &d.interrupt_types),
            endpoint_types: list(o.endpoint_types.clone(), &d.endpoint_types),
            response_start_types: list(o.response_start_types.clone(), &d.response_start_types),
            errors: o.errors.build(),
            item_id_path: o.item_id_path.clone().or(d.item_id_path),
            mark_types: list(o.mark_types.clone(), &d.mark_types),
            mark_name_path: o.mark_name_path.clone().unwrap_or(d.mark_name_path),
            end_status_path: o.end_status_path.clone().or(d.end_status_path),
            end_failed_statuses: list(o.end_failed_statuses.clone(), &d.end_failed_statuses),
            keep_types: list(o.keep_types.clone(), &d.keep_types),
            rate_path: o.agent_rate_path.clone().filter(|p| !p.trim().is_empty()),
        };
        let mark_echo_message = o.mark_echo_message.clone().filter(|m| !m.is_empty());
        if let Some(m) = mark_echo_message
            .as_deref()
            .filter(|m| serde_json::from_str::<serde_json::Value>(&fill_probe(m)).is_err())
        {
            return Err(invalid(
                "--mark-echo-message",
                format!("not JSON once filled in: {m}"),
            ));
        }
        let barge_in_messages = o.barge_in_message.clone().unwrap_or_default();
        if let Some(m) = barge_in_messages
            .iter()
            .find(|m| serde_json::from_str::<serde_json::Value>(&fill_probe(m)).is_err())
        {
            return Err(invalid(
                "--barge-in-message",
                format!("not JSON once filled in: {m}"),
            ));
        }
        let sample_rate = o.sample_rate.unwrap_or(16_000);
        // A WebRTC call reads its scripts as PCM and encodes them into its
        // own codec (`--codec opus|pcmu`, checked in `carried`), except an
        // Ogg Opus turn under Opus, whose packets go out as they are.
        let codec = if o.webrtc()? {
            Codec::Pcm16
        } else {
            parse_codec(o.codec.as_deref())?
        };
        // Over WebRTC with Opus, an Ogg Opus turn goes out packet for packet.
        let keep_opus = o.webrtc()? && webrtc_codec(o.codec.as_deref())? == PacketCodec::Opus;
        let agent_sample_rate = o.agent_sample_rate.unwrap_or(16_000);
        if sample_rate == 0 {
            return Err(invalid("--sample-rate", "must be greater than 0"));
        }
        if agent_sample_rate == 0 {
            return Err(invalid("--agent-sample-rate", "must be greater than 0"));
        }
        let target = AgentTarget {
            url,
            headers,
            sample_rate,
            codec,
            frame: positive(o.frame, Duration::from_millis(20), "--frame")?,
            frames,
            start_messages: templates(
                o.start_message.clone(),
                Some(r#"{"type":"start","sample_rate":{{sample_rate}}}"#),
            ),
            end_of_speech_messages: templates(o.end_of_speech_message.clone(), None),
            barge_in_messages,
            end_messages: templates(o.end_message.clone(), None),
            mark_echo_message,
            noise_between_turns: o.noise.unwrap_or(true),
            rules,
            agent_sample_rate,
            connect_timeout: positive(
                o.connect_timeout,
                Duration::from_secs(10),
                "--connect-timeout",
            )?,
            answer_timeout: positive(o.answer_timeout, Duration::from_secs(5), "--answer-timeout")?,
            response_idle: positive(o.response_idle, Duration::from_secs(1), "--response-idle")?,
            response_timeout: positive(
                o.response_timeout,
                Duration::from_secs(60),
                "--response-timeout",
            )?,
            barge_in_quiet: o.barge_in_quiet.unwrap_or(Duration::from_millis(200)),
            max_message_bytes: ws_max_message(o.ws_max_message)?,
        };
        let target = self.carried(target)?;
        let barge_in = o.barge_in.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&barge_in) {
            return Err(invalid(
                "--barge-in",
                format!("must be a share between 0 and 1 (got {barge_in})"),
            ));
        }
        let script_opts = o.script.clone().unwrap_or_else(default_scripts);
        if script_opts.is_empty() {
            return Err(ConfigError::Missing("[[script]] (at least one)"));
        }
        let scripts = script_opts
            .iter()
            .map(|s| load_script(s, sample_rate, codec, keep_opus))
            .collect::<Result<Vec<_>, _>>()?;
        let inputs = AgentInputs {
            scripts,
            barge_in,
            barge_in_after: o.barge_in_after.unwrap_or(Duration::from_millis(500)),
            pause: o.pause.unwrap_or(Duration::from_millis(500)),
        };
        Ok((target, inputs))
    }
}

impl AgentOptions {
    /// Whether `--transport` asks for WebRTC (else a WebSocket).
    fn webrtc(&self) -> Result<bool, ConfigError> {
        match self.transport.as_deref().map(str::trim) {
            None | Some("ws") | Some("websocket") => Ok(false),
            Some("webrtc") => Ok(true),
            Some(other) => Err(invalid(
                "--transport",
                format!("'{other}': expected ws or webrtc"),
            )),
        }
    }

    /// The conversation's target on its transport (`--transport`),
    /// validated.
    fn carried(&self, agent: AgentTarget) -> Result<Target, ConfigError> {
        if !self.webrtc()? {
            for (set, flag) in [
                (self.signal.is_some(), "--signal"),
                (self.audible_level.is_some(), "--audible-level"),
                (self.data_channel.is_some(), "--data-channel"),
            ] {
                if set {
                    return Err(invalid(flag, "only for --transport webrtc"));
                }
            }
            agent
                .validate()
                .map_err(|e| invalid("--url", e.to_string()))?;
            return Ok(Target::WsAgent(agent));
        }
        let signal = match self.signal.as_deref() {
            None => Signal::Pipecat,
            Some(name) => Signal::parse(name).ok_or_else(|| {
                let names: Vec<&str> = Signal::ALL.iter().map(|s| s.name()).collect();
                invalid(
                    "--signal",
                    format!("'{}': expected {}", name.trim(), names.join(", ")),
                )
            })?,
        };
        let codec = webrtc_codec(self.codec.as_deref())?;
        let target = RtcAgentTarget {
            agent: AgentTarget {
                // Decoded agent audio: 16-bit PCM at the codec's clock rate
                // (48 kHz for Opus, 8 kHz for μ-law).
                agent_sample_rate: codec.rate(),
                ..agent
            },
            codec,
            signal,
            // OpenAI's events need their channel: named unless asked otherwise.
            channel: match self.data_channel.as_deref().map(str::trim) {
                Some("") => None,
                Some(c) => Some(c.to_string()),
                None => signal.channel().map(str::to_string),
            },
            audible_dbfs: self.audible_level.unwrap_or(DEFAULT_AUDIBLE_DBFS),
        };
        target.validate().map_err(|e| match e {
            TargetError::BadLevel(_) => invalid("--audible-level", e.to_string()),
            e => invalid("--url", e.to_string()),
        })?;
        Ok(Target::RtcAgent(target))
    }
}

impl AgentInputs {
    /// Longest a conversation of `script` may take if every turn uses its
    /// full answer and response time: bounds each session.
    pub fn session_limit(&self, t: &AgentTarget, script: &Script) -> Duration {
        let per_turn = t.answer_timeout.max(t.response_timeout) + t.response_idle + self.pause;
        let speech: f64 = script.speech_s.iter().sum();
        Duration::from_secs_f64(speech)
            + t.connect_timeout
            + per_turn.saturating_mul(script.turns.len() as u32)
            + Duration::from_secs(30)
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
