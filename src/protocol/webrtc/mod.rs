//! Voice agents over WebRTC (issue 17), first layer: one str0m peer per
//! call on its own UDP socket, a caller that sends pre-encoded Opus on
//! absolute 20 ms deadlines and stamps every agent packet on arrival, and
//! the two HTTP signalling shapes (Pipecat's `/api/offer` and WHIP).
//!
//! Not yet reachable from the CLI (`voxload agent --transport webrtc` is
//! the next layer); tested end to end in `tests/webrtc.rs` against an
//! in-process answerer.
//!
//! Why str0m: it is sans-IO. It never reads a clock or a socket itself, so
//! voxload's one monotonic clock stamps every packet where it is read, and
//! one task drives each peer with no threads of its own (measured for the
//! issue: 500 peers in one process connect in 0.8 s, ~0.25 % of a core
//! each at 50 packets/s both ways).
//!
//! - [`peer`]: the str0m `Rtc` and its socket: offer/answer, the
//!   poll-output / handle-input loop, events.
//! - [`caller`]: a call's audio on the frame clock, and what came back.
//! - [`signal`]: offer → answer over HTTP.
//! - `deadline`: waking at an instant to the µs (the run's pacer threads).

pub mod caller;
mod deadline;
pub mod peer;
pub mod signal;

pub use caller::{play, AgentPacket, CallLog, SentPacket};
pub use peer::{Peer, PeerError, PeerEvent, PeerTimes};
pub use signal::{exchange, hang_up, Answer, Signal, SignalError};
