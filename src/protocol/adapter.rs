//! The wire protocols as one closed set: [`Target`] says where a
//! scenario's requests go (validated, serializable, secrets redacted), and
//! [`Adapter`] is that target ready to send — one variant per protocol.
//! Everything above `protocol/` that must tell protocols apart matches on
//! these two enums and nothing else.

use bytes::Bytes;
use serde::Serialize;

use super::agent_call::AgentLine;

use super::http_asr::{AsrTarget, HttpAsr};
use super::http_tts::{HttpTts, TtsTarget};
use super::target::TargetError;
use super::trace::Tracer;
use super::webrtc::{RtcAgent, RtcAgentTarget};
use super::ws::{connect, ClientWs};
use super::ws_agent::AgentTarget;
use super::ws_agent_session::{converse, Conversation, TurnTimes};
use super::ws_asr::{WsAsr, WsAsrTarget};
use super::ws_pacer::Pacer;
use super::ws_tts::{WsTts, WsTtsTarget};
use super::{ErrorKind, HttpClient, Kind, ProtocolError};
use crate::audio::track::TurnAudio;

/// Where a scenario's requests go, and how the answers are read.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
// One per scenario, built once: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Target {
    /// TTS over HTTP.
    HttpTts(TtsTarget),
    /// ASR over HTTP, one upload per request.
    HttpAsr(AsrTarget),
    /// Streaming ASR over WebSocket.
    WsAsr(WsAsrTarget),
    /// A voice agent over WebSocket.
    WsAgent(AgentTarget),
    /// TTS over WebSocket.
    WsTts(WsTtsTarget),
    /// A voice agent over WebRTC.
    RtcAgent(RtcAgentTarget),
}

impl Target {
    /// Its protocol.
    pub fn kind(&self) -> Kind {
        match self {
            Target::HttpTts(_) => Kind::HttpTts,
            Target::HttpAsr(_) => Kind::HttpAsr,
            Target::WsAsr(_) => Kind::WsAsr,
            Target::WsAgent(_) => Kind::WsAgent,
            Target::WsTts(_) => Kind::WsTts,
            Target::RtcAgent(_) => Kind::RtcAgent,
        }
    }

    /// The extra request (or handshake) headers, secrets unredacted.
    pub fn headers(&self) -> &[(String, String)] {
        match self {
            Target::HttpTts(t) => &t.headers,
            Target::HttpAsr(t) => &t.headers,
            Target::WsAsr(t) => &t.headers,
            Target::WsAgent(t) => &t.headers,
            Target::WsTts(t) => &t.headers,
            Target::RtcAgent(t) => &t.agent.headers,
        }
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        match self {
            Target::HttpTts(t) => &t.url,
            Target::HttpAsr(t) => &t.url,
            Target::WsAsr(t) => &t.url,
            Target::WsAgent(t) => &t.url,
            Target::WsTts(t) => &t.url,
            Target::RtcAgent(t) => &t.agent.url,
        }
    }
}

/// A target ready to send: parsed URL and headers, bound to the run's HTTP
/// client or frame pacer.
#[derive(Debug, Clone)]
pub enum Adapter {
    /// TTS over HTTP.
    HttpTts(HttpTts),
    /// ASR over HTTP.
    HttpAsr(HttpAsr),
    /// Streaming ASR over WebSocket.
    WsAsr(WsAsr),
    /// A voice agent over WebSocket.
    WsAgent(Box<WsAgent>),
    /// TTS over WebSocket.
    WsTts(WsTts),
    /// A voice agent over WebRTC.
    RtcAgent(Box<RtcAgent>),
}

impl Adapter {
    /// Bind `target` to the run's `client` (HTTP) or pacer (streaming;
    /// started on first use, so a run without streams starts no threads).
    pub fn new(
        target: &Target,
        client: &HttpClient,
        pacer: &mut Option<Pacer>,
    ) -> Result<Self, TargetError> {
        let mut pacer = || pacer.get_or_insert_with(Pacer::new).clone();
        Ok(match target {
            Target::HttpTts(t) => Adapter::HttpTts(HttpTts::new(t.clone(), client.clone())?),
            Target::HttpAsr(t) => Adapter::HttpAsr(HttpAsr::new(t.clone(), client.clone())?),
            Target::WsAsr(t) => Adapter::WsAsr(WsAsr::new(t.clone(), pacer())?),
            Target::WsAgent(t) => Adapter::WsAgent(Box::new(WsAgent::new(t.clone(), pacer())?)),
            Target::WsTts(t) => Adapter::WsTts(WsTts::new(t.clone())?),
            Target::RtcAgent(t) => {
                Adapter::RtcAgent(Box::new(RtcAgent::new(t.clone(), pacer(), client.clone())?))
            }
        })
    }

    /// This adapter recording its exchanges in `tracer` (`voxload
    /// sample`; HTTP TTS records its SSE events or NDJSON lines, and shows
    /// the rest through its probe's capture).
    pub fn traced(self, tracer: Tracer) -> Self {
        match self {
            Adapter::HttpTts(a) => Adapter::HttpTts(a.traced(tracer)),
            Adapter::HttpAsr(a) => Adapter::HttpAsr(a.traced(tracer)),
            Adapter::WsAsr(a) => Adapter::WsAsr(a.traced(tracer)),
            Adapter::WsAgent(a) => Adapter::WsAgent(Box::new(a.traced(tracer))),
            Adapter::WsTts(a) => Adapter::WsTts(a.traced(tracer)),
            Adapter::RtcAgent(a) => Adapter::RtcAgent(Box::new(a.traced(tracer))),
        }
    }

    /// Its protocol.
    pub fn kind(&self) -> Kind {
        match self {
            Adapter::HttpTts(_) => Kind::HttpTts,
            Adapter::HttpAsr(_) => Kind::HttpAsr,
            Adapter::WsAsr(_) => Kind::WsAsr,
            Adapter::WsAgent(_) => Kind::WsAgent,
            Adapter::WsTts(_) => Kind::WsTts,
            Adapter::RtcAgent(_) => Kind::RtcAgent,
        }
    }
}

/// A voice-agent endpoint bound to the run's pacer. (It lives here, not in
/// `ws_agent`, because it joins the target there with the conversation of
/// `ws_agent_session`, which reads that target.)
#[derive(Debug, Clone)]
pub struct WsAgent {
    target: AgentTarget,
    pacer: Pacer,
    tracer: Tracer,
}

impl WsAgent {
    /// Validate the target; `pacer` writes every call's frames (one per
    /// run, shared by its sessions).
    pub fn new(target: AgentTarget, pacer: Pacer) -> Result<Self, TargetError> {
        target.validate()?;
        Ok(Self {
            target,
            pacer,
            tracer: Tracer::off(),
        })
    }

    /// Record every call's messages in `tracer` (`voxload sample`).
    pub fn traced(self, tracer: Tracer) -> Self {
        Self { tracer, ..self }
    }

    /// The validated target.
    pub fn target(&self) -> &AgentTarget {
        &self.target
    }

    /// Open the call's WebSocket: TCP connect and upgrade, bounded by the
    /// connect timeout (a server that never upgrades must not hang a call).
    pub async fn open(&self) -> Result<ClientWs, ProtocolError> {
        let t = &self.target;
        self.tracer.with(|tr| {
            let now = std::time::Instant::now();
            tr.start(now);
            tr.note(
                now,
                format!("connect {}", super::target::redact_url(&t.url)),
            );
        });
        let ws = tokio::time::timeout(
            t.connect_timeout,
            connect(&t.url, &t.headers, t.max_message_bytes),
        )
        .await
        .unwrap_or_else(|_| {
            Err(ProtocolError::new(
                ErrorKind::Timeout,
                format!(
                    "no WebSocket connection within {} (TCP connect and upgrade)",
                    humantime::format_duration(t.connect_timeout)
                ),
            ))
        });
        self.tracer.with(|tr| match &ws {
            Ok(_) => tr.note(std::time::Instant::now(), "WebSocket open"),
            Err(e) => tr.note(std::time::Instant::now(), format!("connect failed: {e}")),
        });
        ws
    }
}

impl AgentLine for WsAgent {
    type Utterance = Bytes;
    type Open = ClientWs;

    fn agent(&self) -> &AgentTarget {
        &self.target
    }

    /// Frames are slices of the samples as they are. (Opus packets are
    /// loaded only for a WebRTC call.)
    fn utterance(&self, audio: &TurnAudio) -> Result<Bytes, ProtocolError> {
        audio.samples().cloned().ok_or_else(|| {
            ProtocolError::new(
                ErrorKind::Decode,
                "an Ogg Opus turn is sent as it is only over WebRTC; over a WebSocket give PCM or WAV",
            )
        })
    }

    fn open(&self) -> impl std::future::Future<Output = Result<ClientWs, ProtocolError>> + Send {
        WsAgent::open(self)
    }

    /// (Not an `async fn`, which would hold its arguments twice.)
    fn converse<'a>(
        &'a self,
        ws: ClientWs,
        talk: Conversation<'a>,
        on_turn: &'a mut (dyn FnMut(TurnTimes) + Send),
    ) -> impl std::future::Future<Output = ()> + Send + 'a {
        converse(ws, &self.pacer, &self.target, talk, on_turn, &self.tracer)
    }
}
