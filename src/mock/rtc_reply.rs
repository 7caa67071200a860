//! What the WebRTC agent sends, as Opus packets built once per server:
//! the reply (the WebSocket agent's response audio, rendered at 48 kHz) and
//! one 20 ms silence packet. Why once: encoding costs hundreds of µs per
//! 20 ms frame (see [`encode_pcm16`]), far more than sending a packet, and
//! every call says the same thing, so calls share the packets ([`Bytes`]
//! clones are reference counts).
//!
//! Why lazily, on the first offer: most mocks never take a WebRTC call, and
//! a long `response_audio` takes seconds to encode; it runs on a blocking
//! thread so the runtime's workers keep serving meanwhile.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::OnceCell;

use super::agent_model::AgentModel;
use super::agent_turn::render;
use crate::audio::opus::{encode_pcm16, OpusError, FRAME, FRAME_SAMPLES, OPUS_RATE};

/// The agent's packets, shared by every call of one server.
#[derive(Debug)]
pub(crate) struct RtcReply {
    /// The reply, one 20 ms packet each; the last is padded with silence.
    pub(crate) packets: Vec<Bytes>,
    /// 20 ms of digital silence, sent between replies.
    pub(crate) silence: Bytes,
    /// Samples of reply audio at 48 kHz (the padding not counted).
    pub(crate) total_samples: usize,
    /// What the reply says (OpenAI calls send it as its transcript).
    pub(crate) text: String,
}

impl RtcReply {
    /// Render `m`'s reply at 48 kHz and encode it and the silence packet.
    pub(crate) fn new(m: &AgentModel, chars_per_second: f64) -> Result<Self, OpusError> {
        let at48 = AgentModel {
            sample_rate_out: OPUS_RATE,
            ..m.clone()
        };
        let (text, pcm) = render(&at48, chars_per_second);
        let pcm: Vec<i16> = pcm
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let reply = encode_pcm16(&pcm, OPUS_RATE)?;
        let silence = encode_pcm16(&[0; FRAME_SAMPLES], OPUS_RATE)?
            .packets
            .into_iter()
            .next()
            .map(|p| p.data)
            .ok_or(OpusError::Encoder("no packet for 20 ms of silence"))?;
        Ok(Self {
            packets: reply.packets.into_iter().map(|p| p.data).collect(),
            silence,
            total_samples: pcm.len(),
            text,
        })
    }

    /// Reply audio in the first `n` packets (the last packet's padding not
    /// counted): what the truth's `audio_us` reports.
    pub(crate) fn audio_in(&self, n: usize) -> Duration {
        let samples = (n * FRAME_SAMPLES).min(self.total_samples);
        Duration::from_secs_f64(samples as f64 / f64::from(OPUS_RATE))
    }

    /// Wall time from the first reply packet to packet `i`: `i × 20 ms /
    /// speed` (none with `burst`: every packet is due at once).
    pub(crate) fn offset(m: &AgentModel, i: usize) -> Duration {
        if m.burst {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(FRAME.as_secs_f64() * i as f64 / m.speed)
    }
}

/// The server's [`RtcReply`], made on first use.
#[derive(Debug, Default)]
pub(crate) struct LazyReply(OnceCell<Arc<RtcReply>>);

impl LazyReply {
    /// The reply, encoding it (once, on a blocking thread) if no call has yet.
    pub(crate) async fn get(
        &self,
        m: &AgentModel,
        chars_per_second: f64,
    ) -> Result<Arc<RtcReply>, String> {
        let m = m.clone();
        self.0
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || RtcReply::new(&m, chars_per_second))
                    .await
                    .map_err(|e| format!("encoding the reply: {e}"))?
                    .map(Arc::new)
                    .map_err(|e| format!("encoding the reply: {e}"))
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::opus::OpusStreamDecoder;

    #[test]
    fn reply_is_response_audio_of_audible_packets_and_silence_is_silent() {
        let m = AgentModel {
            response_audio: Duration::from_millis(1_010),
            ..AgentModel::default()
        };
        let r = RtcReply::new(&m, 15.0).unwrap();
        // 1,010 ms: 51 packets, the last carrying 10 ms.
        assert_eq!((r.packets.len(), r.total_samples), (51, 48_480));
        assert_eq!(r.audio_in(51), Duration::from_millis(1_010));
        assert_eq!(r.audio_in(2), Duration::from_millis(40));
        let mut dec = OpusStreamDecoder::new().unwrap();
        let mut pcm = Vec::new();
        let rms = |pcm: &[i16]| {
            (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
        };
        for p in &r.packets[..50] {
            pcm.clear();
            dec.decode(p, &mut pcm).unwrap();
            // Well above the caller's −40 dBFS audible level (328).
            assert!(rms(&pcm) > 1_000.0, "{}", rms(&pcm));
        }
        let mut dec = OpusStreamDecoder::new().unwrap();
        pcm.clear();
        dec.decode(&r.silence, &mut pcm).unwrap();
        assert_eq!(pcm.len(), FRAME_SAMPLES);
        assert!(rms(&pcm) < 1.0);
    }

    #[test]
    fn offsets_follow_speed_and_burst() {
        let m = AgentModel {
            speed: 2.0,
            ..AgentModel::default()
        };
        assert_eq!(RtcReply::offset(&m, 5), Duration::from_millis(50));
        let burst = AgentModel { burst: true, ..m };
        assert_eq!(RtcReply::offset(&burst, 5), Duration::ZERO);
    }
}
