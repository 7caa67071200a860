//! The names of the metrics that get histograms, their units, and how each
//! is read from a [`RequestRecord`].
//!
//! Names are stable: they key `result.json`, CSV columns and `--slo`
//! expressions, so a metric is a typed [`Metric`] everywhere and a string
//! only at those edges. Its name, unit and display order come from
//! [`super::registry`], which implements them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::metrics::RequestRecord;

/// A per-request metric that stage statistics keep a histogram of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Time to first byte (response head).
    Ttfb,
    /// Time to first audio byte.
    Ttfa,
    /// Arrival of the k-th audio chunk (1-based).
    Chunk(u32),
    /// Per-request mean gap between audio chunks. (Pooling every gap would
    /// be ideal, but the record keeps only mean and max per request.)
    InterChunkMean,
    /// Per-request largest gap between audio chunks.
    InterChunkMax,
    /// Last byte, from the time origin (scheduled start in open loop).
    E2e,
    /// Open loop only: `e2e − schedule_lag`, from the actual send; what a
    /// coordinated-omission-prone tool would report, kept for comparison.
    E2eUncorrected,
    /// Decoded audio duration of the response.
    AudioDuration,
    /// `e2e ÷ audio` (lower is better).
    Rtf,
    /// `audio ÷ e2e` (higher is better).
    Rtfx,
    /// Playback stalls per request.
    StallCount,
    /// Total stall time per request.
    StallTime,
    /// Pre-buffer that would have avoided every stall.
    PrebufferNeeded,
    /// Silence before the first voiced sample (audio time).
    LeadingSilence,
    /// When the listener hears speech, under the playback model.
    PerceivedTtfa,
    /// Open loop: actual send − scheduled send (all requests, ok or not).
    ScheduleLag,
    /// Streaming: connection established.
    Connect,
    /// Streaming ASR: first partial after the first audio frame.
    FirstPartial,
    /// Streaming ASR: final transcript after the end of audio.
    Final,
    /// Streaming ASR: first final segment after the last audio frame (TTFS).
    Ttfs,
    /// Streaming ASR: mean gap between partials per request.
    PartialInterval,
    /// Worst frame send lateness per request.
    FrameLagMax,
    /// 99th percentile of frame send lateness per request.
    FrameLagP99,
    /// ASR word error rate per request (the stage also pools it).
    Wer,
    /// TTS with `--judge-asr`: word error rate of a judged request's audio
    /// as the judge heard it (the stage also pools it). Not read from
    /// records: the judge's answers come after them.
    JudgeWer,
    /// TTS over WebSocket: first text message sent → first audio.
    TextFirstAudio,
    /// TTS over WebSocket: last text (flush) sent → first audio after it.
    FlushFirstAudio,
    /// TTS over WebSocket: last text (flush) sent → the final message.
    FlushFinal,
    /// Voice agent: end of speech → first agent message.
    AgentFirstMessage,
    /// Voice agent: end of speech → first agent audio.
    AgentFirstAudio,
    /// Voice agent: end of speech → the agent's final transcript of the caller.
    AgentTranscript,
    /// Voice agent: end of speech → the agent's endpoint event.
    AgentEndpoint,
    /// Voice agent: end of speech → the agent announcing its response.
    AgentResponseStart,
    /// Voice agent: end of speech → the end of the agent's response (its
    /// end message, or its last message before an idle gap): the last step
    /// of the turn's breakdown.
    AgentResponseEnd,
    /// Voice agent: caller's first frame → end of the agent's response.
    Turn,
    /// Barge-in: caller starts speaking over the agent → the caller's player goes silent.
    BargeInSilence,
    /// Barge-in: answer audio the caller's player played over the caller (audio time).
    BargeInLeak,
    /// Barge-in: caller starts speaking over the agent → interruption message.
    BargeInEvent,
    /// WebRTC: offer sent → the answer read (first turn of a call).
    RtcAnswer,
    /// WebRTC: offer sent → ICE connected (first turn of a call).
    RtcIce,
    /// WebRTC: offer sent → DTLS connected, media can flow (first turn).
    RtcDtls,
    /// WebRTC agent: end of speech → the first agent packet, audible or not
    /// (beside `AgentFirstAudio`, the first audible one).
    AgentFirstPacket,
    /// WebRTC agent: the longest wait between audible packets of a
    /// response beyond the previous packet's length (what a listener hears
    /// as a gap when the bot falls behind).
    AudioGapMax,
    /// WebRTC agent: 99th percentile of those waits in the response.
    AudioGapP99,
    /// WebRTC: RFC 3550 interarrival jitter of the agent's stream when the
    /// turn ended.
    RtcJitter,
    /// WebRTC: share of the agent's packets lost on the call up to the end
    /// of the turn (by RTP sequence number).
    RtcLoss,
}

/// How a metric's histogram values are scaled, and the unit it is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    /// Stored in µs, shown in milliseconds.
    #[serde(rename = "ms")]
    Micros,
    /// Stored in millionths (×1,000,000), shown as a plain ratio.
    #[serde(rename = "ratio")]
    Ratio,
    /// Stored and shown as a count.
    #[serde(rename = "count")]
    Count,
    /// A share, shown in percent (stage figures: errors, success, …).
    #[serde(rename = "%")]
    Percent,
    /// A rate per wall second (stage throughput).
    #[serde(rename = "req/s")]
    PerSecond,
    /// Seconds of audio per wall second.
    #[serde(rename = "s/s")]
    AudioPerWall,
}

/// Scale of [`Unit::Ratio`] in histograms: HDR stores integers, and a
/// millionth keeps three significant digits for any RTF above 0.001.
pub const RATIO_SCALE: f64 = 1_000_000.0;

impl Unit {
    /// The display unit's label: `"ms"`, `"ratio"`, `"count"`, `"%"`,
    /// `"req/s"` or `"s/s"`.
    pub fn label(&self) -> &'static str {
        match self {
            Unit::Micros => "ms",
            Unit::Ratio => "ratio",
            Unit::Count => "count",
            Unit::Percent => "%",
            Unit::PerSecond => "req/s",
            Unit::AudioPerWall => "s/s",
        }
    }

    /// Inverse of [`Unit::label`].
    pub fn parse(label: &str) -> Option<Unit> {
        [
            Unit::Micros,
            Unit::Ratio,
            Unit::Count,
            Unit::Percent,
            Unit::PerSecond,
            Unit::AudioPerWall,
        ]
        .into_iter()
        .find(|u| u.label() == label)
    }

    /// A raw histogram value in display units (µs → ms, millionths → ratio).
    pub fn display(&self, raw: f64) -> f64 {
        match self {
            Unit::Micros => raw / 1_000.0,
            Unit::Ratio => raw / RATIO_SCALE,
            Unit::Count | Unit::Percent | Unit::PerSecond | Unit::AudioPerWall => raw,
        }
    }
}

impl Metric {
    /// Every metric read straight from a record except `Chunk(k)` (one per
    /// recorded k) and `ScheduleLag` (taken from failed requests too).
    pub const PER_REQUEST: [Metric; 43] = [
        Metric::Ttfb,
        Metric::Ttfa,
        Metric::InterChunkMean,
        Metric::InterChunkMax,
        Metric::E2e,
        Metric::E2eUncorrected,
        Metric::AudioDuration,
        Metric::Rtf,
        Metric::Rtfx,
        Metric::StallCount,
        Metric::StallTime,
        Metric::PrebufferNeeded,
        Metric::LeadingSilence,
        Metric::PerceivedTtfa,
        Metric::Connect,
        Metric::FirstPartial,
        Metric::Final,
        Metric::Ttfs,
        Metric::PartialInterval,
        Metric::FrameLagMax,
        Metric::FrameLagP99,
        Metric::Wer,
        Metric::TextFirstAudio,
        Metric::FlushFirstAudio,
        Metric::FlushFinal,
        Metric::AgentFirstMessage,
        Metric::AgentFirstAudio,
        Metric::AgentTranscript,
        Metric::AgentEndpoint,
        Metric::AgentResponseStart,
        Metric::AgentResponseEnd,
        Metric::Turn,
        Metric::BargeInSilence,
        Metric::BargeInLeak,
        Metric::BargeInEvent,
        Metric::RtcAnswer,
        Metric::RtcIce,
        Metric::RtcDtls,
        Metric::AgentFirstPacket,
        Metric::AudioGapMax,
        Metric::AudioGapP99,
        Metric::RtcJitter,
        Metric::RtcLoss,
    ];

    /// This metric's histogram value for one request, `None` if the request
    /// did not reach it. Ratios are scaled by [`RATIO_SCALE`].
    pub fn value(&self, r: &RequestRecord) -> Option<u64> {
        match self {
            Metric::Ttfb => r.ttfb_us,
            Metric::Ttfa => r.ttfa_us,
            Metric::Chunk(k) => r.chunk(*k),
            Metric::InterChunkMean => r.inter_chunk_mean_us,
            Metric::InterChunkMax => r.inter_chunk_max_us,
            Metric::E2e => r.e2e_us,
            Metric::E2eUncorrected => r
                .e2e_us
                .zip(r.schedule_lag_us)
                .map(|(e2e, lag)| e2e.saturating_sub(lag)),
            Metric::AudioDuration => r.audio_us,
            Metric::Rtf => r.rtf.and_then(scale_ratio),
            Metric::Rtfx => r.rtfx.and_then(scale_ratio),
            Metric::StallCount => r.stall_count.map(u64::from),
            Metric::StallTime => r.stall_us,
            Metric::PrebufferNeeded => r.prebuffer_needed_us,
            Metric::LeadingSilence => r.leading_silence_us,
            Metric::PerceivedTtfa => r.perceived_ttfa_us,
            Metric::ScheduleLag => r.schedule_lag_us,
            Metric::Connect => r.connect_us,
            Metric::FirstPartial => r.first_partial_us,
            Metric::Final => r.final_us,
            Metric::Ttfs => r.ttfs_us,
            Metric::PartialInterval => r.partial_interval_mean_us,
            Metric::FrameLagMax => r.frame_lag_max_us,
            Metric::FrameLagP99 => r.frame_lag_p99_us,
            Metric::Wer => r.wer.and_then(scale_ratio),
            Metric::JudgeWer => None,
            Metric::TextFirstAudio => r.text_first_audio_us,
            Metric::FlushFirstAudio => r.flush_first_audio_us,
            Metric::FlushFinal => r.flush_final_us,
            Metric::AgentFirstMessage => r.agent_first_message_us,
            Metric::AgentFirstAudio => r.agent_first_audio_us,
            Metric::AgentTranscript => r.agent_transcript_us,
            Metric::AgentEndpoint => r.agent_endpoint_us,
            Metric::AgentResponseStart => r.agent_response_start_us,
            Metric::AgentResponseEnd => r.agent_response_end_us,
            Metric::Turn => r.turn_us,
            Metric::BargeInSilence => r.barge_in_silence_us,
            Metric::BargeInLeak => r.barge_in_leak_us,
            Metric::BargeInEvent => r.barge_in_event_us,
            Metric::RtcAnswer => r.rtc_answer_us,
            Metric::RtcIce => r.rtc_ice_us,
            Metric::RtcDtls => r.rtc_dtls_us,
            Metric::AgentFirstPacket => r.agent_first_packet_us,
            Metric::AudioGapMax => r.audio_gap_max_us,
            Metric::AudioGapP99 => r.audio_gap_p99_us,
            Metric::RtcJitter => r.rtc_jitter_us,
            Metric::RtcLoss => r.rtc_loss.and_then(scale_ratio),
        }
    }
}

/// A ratio in millionths; `None` for NaN, infinite or negative input.
pub(crate) fn scale_ratio(x: f64) -> Option<u64> {
    // `as` saturates above u64::MAX, which a finite ratio × 1e6 cannot reach in practice.
    (x.is_finite() && x >= 0.0).then(|| (x * RATIO_SCALE).round() as u64)
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Metric::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown metric '{s}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Metric::all(&[1, 4, 12]) {
            assert_eq!(Metric::parse(&m.name()), Some(m), "{m}");
        }
        assert_eq!(Metric::all(&[1, 4]).len(), 47);
        assert_eq!(Metric::parse("audio"), Some(Metric::AudioDuration));
        for bad in [
            "chunk",
            "chunk0",
            "chunk-1",
            "chunkx",
            "TTFA",
            "inter_chunk",
            "",
        ] {
            assert_eq!(Metric::parse(bad), None, "{bad}");
        }
        let json = serde_json::to_string(&Metric::Chunk(4)).expect("serialize");
        assert_eq!(json, "\"chunk4\"");
        assert_eq!(
            serde_json::from_str::<Metric>(&json).expect("deserialize"),
            Metric::Chunk(4)
        );
    }

    #[test]
    fn units_and_values() {
        assert_eq!(Metric::Rtf.unit(), Unit::Ratio);
        assert_eq!(Metric::StallCount.unit(), Unit::Count);
        assert_eq!(Metric::StallTime.unit(), Unit::Micros);
        assert_eq!(Unit::Micros.display(1_500.0), 1.5);
        assert_eq!(Unit::Ratio.display(250_000.0), 0.25);
        let r = RequestRecord {
            e2e_us: Some(900),
            schedule_lag_us: Some(100),
            rtf: Some(0.25),
            rtfx: Some(f64::NAN),
            chunk_us: vec![(4, 77)],
            ..RequestRecord::default()
        };
        // e2e_uncorrected = 900 − 100 = 800; rtf 0.25 → 250,000 millionths.
        assert_eq!(Metric::E2eUncorrected.value(&r), Some(800));
        assert_eq!(Metric::Rtf.value(&r), Some(250_000));
        assert_eq!(Metric::Rtfx.value(&r), None);
        assert_eq!(Metric::Chunk(4).value(&r), Some(77));
        assert_eq!(Metric::Chunk(1).value(&r), None);
        assert_eq!(Metric::Ttfa.value(&r), None);
    }
}
