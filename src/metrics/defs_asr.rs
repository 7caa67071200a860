//! ASR metric definitions: the speech-to-text counterparts of [`super::defs`].
//!
//! - HTTP: `e2e` = last response byte from the origin; `audio` = input audio
//!   sent; `rtf` = e2e ÷ audio, `rtfx` = audio ÷ e2e.
//! - Streaming: `connect` = handshake done; `first_partial` from the first
//!   audio frame sent; `final` from the end of the audio (last frame or end
//!   message sent) — the latency a caller feels after they stop speaking;
//!   `ttfs` from the same instant to the first final segment after it
//!   (with done types the session's end comes later, and that is `final`);
//!   `e2e` = final transcript from the origin; `partial_interval` = mean gap
//!   between partials; `frame_lag_max`/`frame_lag_p99` = lateness of frame
//!   sends against their real-time deadlines.
//! - Accuracy: word errors against the reference (normalized, see
//!   `docs/wer.md`); `wer` per request, and pooled per stage from the counts.

use std::time::{Duration, Instant};

use super::defs::{micros, rtf, rtfx, schedule_lag};
use super::wer::{word_errors, Normalization};
use super::RequestRecord;
use crate::protocol::ws_asr::StreamTimes;
use crate::protocol::{Probe, ProtocolError};

/// What every ASR request shares: origin, failure, audio and texts.
#[derive(Debug, Clone, Copy)]
pub struct AsrOutcome<'a> {
    /// Time origin (scheduled start in open loop, actual start in closed loop).
    pub origin: Instant,
    /// Open loop: the scheduled start.
    pub scheduled: Option<Instant>,
    /// The adapter's failure, if any.
    pub failure: Option<&'a ProtocolError>,
    /// Input audio sent.
    pub audio: Duration,
    /// Transcript received (success only).
    pub transcript: Option<&'a str>,
    /// Reference text, when the input has one.
    pub reference: Option<&'a str>,
    /// How texts are normalized before comparison.
    pub normalization: &'a Normalization,
}

fn base(o: &AsrOutcome<'_>, sent: Option<Instant>, end: Option<Instant>) -> RequestRecord {
    let since = |t: Instant| t.saturating_duration_since(o.origin);
    let e2e = end.map(since);
    let mut r = RequestRecord {
        schedule_lag_us: o
            .scheduled
            .zip(sent)
            .map(|(i, s)| micros(schedule_lag(i, s))),
        e2e_us: e2e.map(micros),
        audio_us: Some(micros(o.audio)),
        error: o.failure.map(|f| f.kind),
        error_detail: o.failure.map(|f| f.detail.clone()),
        retry_after_us: o.failure.and_then(|f| f.retry_after).map(micros),
        ..RequestRecord::default()
    };
    if let Some(e2e) = e2e.filter(|_| o.failure.is_none()) {
        r.rtf = rtf(e2e, o.audio);
        r.rtfx = rtfx(e2e, o.audio);
    }
    if o.failure.is_none() {
        if let Some(hyp) = o.transcript {
            r.transcript = Some(hyp.to_string());
            if let Some(reference) = o.reference {
                let we = word_errors(reference, hyp, o.normalization);
                if we.ref_words > 0 {
                    r.word_errors = Some(we.errors());
                    r.ref_words = Some(we.ref_words);
                    r.wer = we.wer();
                }
            }
        }
    }
    r
}

/// One HTTP transcription request.
pub fn measure_http(o: &AsrOutcome<'_>, probe: &Probe) -> RequestRecord {
    let mut r = base(o, probe.sent_at, probe.finished_at);
    r.status = probe.status;
    r.retry_after_us = probe.retry_after.map(micros).or(r.retry_after_us);
    r.ttfb_us = probe
        .headers_at
        .map(|t| micros(t.saturating_duration_since(o.origin)));
    r
}

/// One streaming session.
pub fn measure_stream(o: &AsrOutcome<'_>, sent: Option<Instant>, t: &StreamTimes) -> RequestRecord {
    let mut r = base(o, sent, t.final_at);
    let since = |from: Instant, at: Instant| micros(at.saturating_duration_since(from));
    r.connect_us = t.connected_at.map(|c| since(o.origin, c));
    r.first_partial_us = t
        .audio_started
        .and_then(|s| t.partials.iter().find(|p| **p >= s).map(|p| since(s, *p)));
    r.final_us = t.audio_ended.zip(t.final_at).map(|(e, f)| since(e, f));
    r.ttfs_us = t
        .audio_ended
        .zip(t.final_segment_at)
        .map(|(e, f)| since(e, f));
    if t.partials.len() >= 2 {
        let (first, last) = (t.partials[0], t.partials[t.partials.len() - 1]);
        let gaps = (t.partials.len() - 1) as u32;
        r.partial_interval_mean_us = Some(micros(last.saturating_duration_since(first) / gaps));
    }
    (r.frame_lag_max_us, r.frame_lag_p99_us) = frame_lag(&t.frame_lag_us);
    r.ws_close = t.close_code;
    r
}

/// Worst and nearest-rank 99th percentile frame lateness, µs (`None` with no frames).
pub fn frame_lag(lags_us: &[u32]) -> (Option<u64>, Option<u64>) {
    let mut lags = lags_us.to_vec();
    lags.sort_unstable();
    let Some(max) = lags.last() else {
        return (None, None);
    };
    let rank = ((lags.len() as f64) * 0.99).ceil() as usize;
    let p99 = lags[rank.clamp(1, lags.len()) - 1];
    (Some(u64::from(*max)), Some(u64::from(p99)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_latencies_are_anchored_where_defined() {
        // origin 0; connected at 5 ms; audio 10..1010 ms; partials at 300, 500, 700;
        // end of audio at 1010; final at 1210 ⇒ first_partial = 290 ms after the first
        // frame, final = 200 ms after the end of audio, e2e = 1210, partial gap = 200.
        let o0 = Instant::now();
        let at = |ms: u64| o0 + Duration::from_millis(ms);
        let t = StreamTimes {
            connected_at: Some(at(5)),
            audio_started: Some(at(10)),
            audio_ended: Some(at(1010)),
            partials: vec![at(300), at(500), at(700)],
            final_at: Some(at(1210)),
            // A segment came 150 ms before the session's end: TTFS 50 ms.
            final_segment_at: Some(at(1060)),
            frame_lag_us: (0..100).collect(),
            close_code: None,
        };
        let norm = Normalization::default();
        let o = AsrOutcome {
            origin: o0,
            scheduled: None,
            failure: None,
            audio: Duration::from_secs(1),
            transcript: Some("the cat sat"),
            reference: Some("The cat sat down."),
            normalization: &norm,
        };
        let r = measure_stream(&o, Some(o0), &t);
        assert_eq!(r.connect_us, Some(5_000));
        assert_eq!(r.first_partial_us, Some(290_000));
        assert_eq!(r.final_us, Some(200_000));
        assert_eq!(r.ttfs_us, Some(50_000));
        assert_eq!(r.e2e_us, Some(1_210_000));
        assert_eq!(r.partial_interval_mean_us, Some(200_000));
        // lags 0..=99 µs: max 99, nearest-rank p99 = the 99th value = 98.
        assert_eq!(r.frame_lag_max_us, Some(99));
        assert_eq!(r.frame_lag_p99_us, Some(98));
        // "the cat sat" vs "the cat sat down": one deletion in four words.
        assert_eq!((r.word_errors, r.ref_words), (Some(1), Some(4)));
        assert_eq!(r.wer, Some(0.25));
        assert!((r.rtf.expect("rtf") - 1.21).abs() < 1e-9);
    }
}
