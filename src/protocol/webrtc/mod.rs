//! Voice agents over WebRTC (issue 17): a caller that sends pre-encoded
//! Opus (or PCMU) on absolute 20 ms deadlines and stamps every agent packet on
//! arrival, and the HTTP signalling shapes (Pipecat's `/api/offer`, WHIP
//! and OpenAI Realtime's `/v1/realtime/calls`). The peer itself (str0m on
//! a UDP socket) is [`crate::rtc`].
//!
//! - [`caller`]: a call's audio on the frame clock, and what came back.
//! - [`session`]: a conversation on a call (the agent adapter).
//! - [`signal`]: offer → answer over HTTP.
//! - [`stream`]: jitter and loss of the agent's RTP stream.

pub mod caller;
pub mod session;
pub mod signal;
pub mod stream;

pub use caller::{play, AgentPacket, CallLog, SentPacket};
pub use session::{CallSetup, RtcAgent, RtcAgentTarget, RtcCall};
pub use signal::{exchange, hang_up, Answer, Signal, SignalError};
