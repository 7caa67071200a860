//! A response body fed by a channel, so a task can hand over audio frames at
//! the instants the model says they are ready.
//!
//! Implemented directly on `http_body::Body` (re-exported by hyper) because
//! `futures`/`tokio-stream` are not dependencies; it is a few lines.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// Frames in flight between the producer and hyper. Small, so the producer's
/// "handed over" timestamps stay close to what hyper writes to the socket,
/// and a slow reader back-pressures synthesis as it would a real server.
pub(crate) const CHANNEL_FRAMES: usize = 4;

/// An item the producer sends: a data frame, or an error that makes hyper
/// abort the connection without the terminating chunk (the `reset` fault).
pub(crate) type Item = Result<Bytes, std::io::Error>;

/// The receiving end, as an HTTP body.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Item>,
    /// Exact length when known (buffered responses), so hyper sends
    /// `Content-Length` like a buffered server would instead of chunking.
    exact_len: Option<u64>,
}

impl ChannelBody {
    pub(crate) fn new(rx: mpsc::Receiver<Item>, exact_len: Option<u64>) -> Self {
        Self { rx, exact_len }
    }
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.get_mut()
            .rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        self.exact_len
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
