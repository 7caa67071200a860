//! The clocks only TTS over WebSocket has: a text stream has a first and a
//! last message, and "first audio" means something after each.
//!
//! - `ttfa_text`: first text message sent → first audio chunk.
//! - `ttfa_flush`: last text (or flush) message sent → the first audio chunk
//!   that arrived after it (`None` if all audio came before the flush).
//! - `flush_final`: last text (or flush) sent → the final message.

use crate::metrics::record::RequestRecord;
use crate::protocol::ws_tts::TextTimes;
use crate::protocol::Probe;
use crate::units::micros;

/// Fill `r`'s text-stream clocks from `probe` and the text `times`.
pub fn text_clocks(r: &mut RequestRecord, probe: &Probe, times: &TextTimes) {
    let after = |from: Option<std::time::Instant>, to: Option<std::time::Instant>| {
        from.zip(to)
            .map(|(f, t)| micros(t.saturating_duration_since(f)))
    };
    let first_audio = probe.chunks.first().map(|c| c.at);
    r.text_first_audio_us = after(times.first_text_at, first_audio);
    let after_flush = times
        .flush_at
        .and_then(|f| probe.chunks.iter().find(|c| c.at >= f).map(|c| c.at));
    r.flush_first_audio_us = after(times.flush_at, after_flush);
    r.flush_final_us = after(times.flush_at, times.final_at);
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn clocks_start_at_first_text_and_flush() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut probe = Probe::new();
        probe.chunk(ms(120), 10, None);
        probe.chunk(ms(400), 10, None);
        let times = TextTimes {
            first_text_at: Some(ms(20)),
            flush_at: Some(ms(300)),
            final_at: Some(ms(450)),
        };
        let mut r = RequestRecord::default();
        text_clocks(&mut r, &probe, &times);
        assert_eq!(r.text_first_audio_us, Some(100_000));
        assert_eq!(r.flush_first_audio_us, Some(100_000));
        assert_eq!(r.flush_final_us, Some(150_000));
        // No flush sent: not reached, never 0.
        let mut r = RequestRecord::default();
        text_clocks(&mut r, &probe, &TextTimes::default());
        assert_eq!((r.text_first_audio_us, r.flush_final_us), (None, None));
    }
}
