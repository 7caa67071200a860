//! What a voice-agent client said, whatever wire it spoke (the OpenAI
//! Realtime API or Twilio Media Streams): the one set of events the mock's
//! agent session acts on.

use crate::audio::codec::Codec;

/// A client event the session reads.
pub(super) enum ClientEvent {
    /// `session.update` (or Twilio's `start`) with this input rate and
    /// codec (`Err`: a format the mock refuses).
    Update(Result<(u32, Codec), String>),
    Append(Option<Vec<u8>>),
    Commit,
    Cancel,
    Truncate {
        item: String,
        content_index: u64,
        audio_end_ms: u64,
    },
    CreateResponse,
    /// Twilio: a playback mark echoed.
    Mark(String),
    /// Twilio: the stream stops.
    Stop,
    Unknown(String),
    NotJson,
}
