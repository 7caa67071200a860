//! A WebRTC peer on one UDP socket, driven on voxload's clock:
//! the transport under WebRTC calls (`protocol::webrtc`) and under the
//! mock's WebRTC agent, which may not reach into `protocol`.
//!
//! Why str0m: it is sans-IO. It never reads a clock or a socket itself, so
//! voxload's one monotonic clock stamps every packet where it is read, and
//! one task drives each peer with no threads of its own (measured for
//! issue 17: 500 peers in one process connect in 0.8 s, ~0.25 % of a core
//! each at 50 packets/s both ways).
//!
//! - [`peer`]: the str0m `Rtc` and its socket: offer/answer, the
//!   poll-output / handle-input loop, events.
//! - [`deadline`]: waking at an instant to the µs, by whatever
//!   [`WakeAt`] the caller hands in (the run's frame pacer).

pub mod deadline;
pub mod peer;

pub use deadline::WakeAt;
pub use peer::{local_ip_toward, Peer, PeerError, PeerEvent, PeerTimes, PendingOffer};
