//! A direct JSON writer for [`RequestRecord`], for `requests.jsonl`.
//!
//! Serializing every request through serde_json's generic machinery cost
//! about a fifth of the generator's per-request CPU (each key is escaped
//! char by char). This writes the same JSON — keys, absent fields skipped,
//! non-finite floats as `null` — with static keys and `itoa`. The serde
//! derive stays the reader and the reference: a test checks both agree.

use super::RequestRecord;

/// `,"name":` — every key but the first (`stage`) follows another.
macro_rules! k {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

struct Obj<'a> {
    out: &'a mut Vec<u8>,
}

impl Obj<'_> {
    #[inline(always)]
    fn key(&mut self, k: &'static str) {
        self.out.extend_from_slice(k.as_bytes());
    }

    #[inline(always)]
    fn u64(&mut self, k: &'static str, v: u64) {
        self.key(k);
        if v < 10 {
            // Zeros and small counts are common (stalls, chunks, stage).
            self.out.push(b'0' + v as u8);
        } else {
            self.out
                .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }
    }

    #[inline(always)]
    fn opt_u64(&mut self, k: &'static str, v: Option<u64>) {
        if let Some(v) = v {
            self.u64(k, v);
        }
    }

    fn opt_f64(&mut self, k: &'static str, v: Option<f64>) {
        if let Some(v) = v {
            self.key(k);
            // serde_json's float writer: shortest round-trip form, `null` for NaN/inf.
            let _ = serde_json::to_writer(&mut *self.out, &v);
        }
    }

    fn opt_str(&mut self, k: &'static str, v: Option<&str>) {
        if let Some(v) = v {
            self.key(k);
            if v.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
                // Nothing serde_json would escape (it escapes only these).
                self.out.push(b'"');
                self.out.extend_from_slice(v.as_bytes());
                self.out.push(b'"');
            } else {
                let _ = serde_json::to_writer(&mut *self.out, v);
            }
        }
    }
}

impl RequestRecord {
    /// Append this record as one JSON line (with the newline) to `out`.
    pub fn write_jsonl(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"stage\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.stage).as_bytes());
        let mut o = Obj { out };
        o.u64(k!("seq"), self.seq);
        if self.warmup {
            o.key(k!("warmup"));
            o.out.extend_from_slice(b"true");
        }
        if self.cold {
            o.key(k!("cold"));
            o.out.extend_from_slice(b"true");
        }
        o.opt_str(k!("scenario"), self.scenario.as_deref());
        o.u64(k!("start_us"), self.start_us);
        o.u64(k!("end_us"), self.end_us);
        o.opt_u64(k!("schedule_lag_us"), self.schedule_lag_us);
        o.opt_u64(k!("status"), self.status.map(u64::from));
        o.opt_u64(k!("retry_after_us"), self.retry_after_us);
        o.opt_u64(k!("ttfb_us"), self.ttfb_us);
        o.opt_u64(k!("ttfa_us"), self.ttfa_us);
        if !self.chunk_us.is_empty() {
            o.key(k!("chunk_us"));
            o.out.push(b'[');
            for (i, (k, us)) in self.chunk_us.iter().enumerate() {
                if i > 0 {
                    o.out.push(b',');
                }
                let mut b = itoa::Buffer::new();
                o.out.push(b'[');
                o.out.extend_from_slice(b.format(*k).as_bytes());
                o.out.push(b',');
                o.out.extend_from_slice(b.format(*us).as_bytes());
                o.out.push(b']');
            }
            o.out.push(b']');
        }
        o.opt_u64(k!("inter_chunk_mean_us"), self.inter_chunk_mean_us);
        o.opt_u64(k!("inter_chunk_max_us"), self.inter_chunk_max_us);
        o.opt_u64(k!("e2e_us"), self.e2e_us);
        o.u64(k!("chunks"), u64::from(self.chunks));
        o.u64(k!("audio_bytes"), self.audio_bytes);
        o.opt_u64(k!("audio_us"), self.audio_us);
        o.opt_u64(k!("sample_rate"), self.sample_rate.map(u64::from));
        o.opt_str(k!("rate_source"), self.rate_source.map(|s| s.name()));
        o.opt_f64(k!("rtf"), self.rtf);
        o.opt_f64(k!("rtfx"), self.rtfx);
        o.opt_u64(k!("stall_count"), self.stall_count.map(u64::from));
        o.opt_u64(k!("stall_us"), self.stall_us);
        o.opt_u64(k!("prebuffer_needed_us"), self.prebuffer_needed_us);
        o.opt_u64(k!("leading_silence_us"), self.leading_silence_us);
        o.opt_u64(k!("perceived_ttfa_us"), self.perceived_ttfa_us);
        o.opt_u64(k!("connect_us"), self.connect_us);
        o.opt_u64(k!("first_partial_us"), self.first_partial_us);
        o.opt_u64(k!("final_us"), self.final_us);
        o.opt_u64(k!("ttfs_us"), self.ttfs_us);
        o.opt_u64(
            k!("partial_interval_mean_us"),
            self.partial_interval_mean_us,
        );
        o.opt_u64(k!("frame_lag_max_us"), self.frame_lag_max_us);
        o.opt_u64(k!("frame_lag_p99_us"), self.frame_lag_p99_us);
        o.opt_u64(k!("text_first_audio_us"), self.text_first_audio_us);
        o.opt_u64(k!("flush_first_audio_us"), self.flush_first_audio_us);
        o.opt_u64(k!("flush_final_us"), self.flush_final_us);
        o.opt_u64(k!("agent_first_message_us"), self.agent_first_message_us);
        o.opt_u64(k!("agent_first_audio_us"), self.agent_first_audio_us);
        o.opt_u64(k!("agent_transcript_us"), self.agent_transcript_us);
        o.opt_u64(k!("agent_endpoint_us"), self.agent_endpoint_us);
        o.opt_u64(k!("agent_response_start_us"), self.agent_response_start_us);
        o.opt_u64(k!("agent_response_end_us"), self.agent_response_end_us);
        o.opt_u64(k!("turn_us"), self.turn_us);
        o.opt_u64(k!("rtc_answer_us"), self.rtc_answer_us);
        o.opt_u64(k!("rtc_ice_us"), self.rtc_ice_us);
        o.opt_u64(k!("rtc_dtls_us"), self.rtc_dtls_us);
        o.opt_u64(k!("agent_first_packet_us"), self.agent_first_packet_us);
        o.opt_u64(k!("audio_gap_max_us"), self.audio_gap_max_us);
        o.opt_u64(k!("audio_gap_p99_us"), self.audio_gap_p99_us);
        o.opt_u64(k!("rtc_jitter_us"), self.rtc_jitter_us);
        o.opt_f64(k!("rtc_loss"), self.rtc_loss);
        o.opt_u64(k!("barge_in_silence_us"), self.barge_in_silence_us);
        o.opt_u64(k!("barge_in_leak_us"), self.barge_in_leak_us);
        o.opt_u64(k!("barge_in_event_us"), self.barge_in_event_us);
        if self.barge_in_untested {
            o.key(k!("barge_in_untested"));
            o.out.extend_from_slice(b"true");
        }
        if let Some(good) = self.good {
            o.key(k!("good"));
            o.out
                .extend_from_slice(if good { b"true" } else { b"false" });
        }
        o.opt_u64(k!("word_errors"), self.word_errors.map(u64::from));
        o.opt_u64(k!("ref_words"), self.ref_words.map(u64::from));
        o.opt_f64(k!("wer"), self.wer);
        o.opt_str(k!("transcript"), self.transcript.as_deref());
        o.opt_str(k!("reply"), self.reply.as_deref());
        o.opt_str(k!("end_status"), self.end_status.as_deref());
        o.opt_str(k!("kept_message"), self.kept_message.as_deref());
        o.opt_u64(k!("ws_close"), self.ws_close.map(u64::from));
        if let Some(e) = &self.error {
            o.key(k!("error"));
            let _ = serde_json::to_writer(&mut *o.out, e);
        }
        o.opt_str(k!("error_detail"), self.error_detail.as_deref());
        o.u64(k!("text_chars"), u64::from(self.text_chars));
        o.opt_str(k!("input"), self.input.as_deref());
        o.opt_str(k!("voice"), self.voice.as_deref());
        o.opt_str(k!("script"), self.script.as_deref());
        o.opt_u64(k!("turn"), self.turn.map(u64::from));
        out.extend_from_slice(b"}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorKind;

    fn full() -> RequestRecord {
        RequestRecord {
            stage: 2,
            seq: 77,
            warmup: true,
            cold: true,
            scenario: Some("tts-2".into()),
            start_us: 1,
            end_us: 2,
            schedule_lag_us: Some(3),
            status: Some(200),
            retry_after_us: Some(1_000_000),
            ttfb_us: Some(4),
            ttfa_us: Some(5),
            chunk_us: vec![(1, 5), (4, 9)],
            inter_chunk_mean_us: Some(6),
            inter_chunk_max_us: Some(7),
            e2e_us: Some(8),
            chunks: 9,
            audio_bytes: 10,
            audio_us: Some(11),
            sample_rate: Some(22_050),
            rate_source: Some(crate::audio::rate::RateSource::Header),
            rtf: Some(0.1 + 0.2),
            rtfx: Some(1e-7),
            stall_count: Some(12),
            stall_us: Some(13),
            prebuffer_needed_us: Some(14),
            leading_silence_us: Some(15),
            perceived_ttfa_us: Some(16),
            connect_us: Some(17),
            first_partial_us: Some(18),
            final_us: Some(19),
            ttfs_us: Some(191),
            partial_interval_mean_us: Some(20),
            frame_lag_max_us: Some(21),
            frame_lag_p99_us: Some(22),
            text_first_audio_us: Some(27),
            flush_first_audio_us: Some(28),
            flush_final_us: Some(29),
            agent_first_message_us: Some(30),
            agent_first_audio_us: Some(31),
            agent_transcript_us: Some(32),
            agent_endpoint_us: Some(33),
            agent_response_start_us: Some(34),
            agent_response_end_us: Some(35),
            turn_us: Some(33),
            rtc_answer_us: Some(40),
            rtc_ice_us: Some(41),
            rtc_dtls_us: Some(42),
            agent_first_packet_us: Some(43),
            audio_gap_max_us: Some(44),
            audio_gap_p99_us: Some(45),
            rtc_jitter_us: Some(46),
            rtc_loss: Some(0.25),
            barge_in_silence_us: Some(34),
            barge_in_leak_us: Some(35),
            barge_in_event_us: Some(36),
            barge_in_untested: true,
            good: Some(false),
            word_errors: Some(23),
            ref_words: Some(24),
            wer: Some(23.0 / 24.0),
            transcript: Some("quote \" and \\ and\nnewline ü".into()),
            reply: Some("a reply \u{1}".into()),
            end_status: Some("completed".into()),
            kept_message: Some(r#"{"type":"rate_limits.updated"}"#.into()),
            ws_close: Some(1011),
            error: Some(ErrorKind::Http(503)),
            error_detail: Some("{\"error\":\"queue full\"}".into()),
            text_chars: 25,
            input: Some("a.wav".into()),
            voice: Some("alloy".into()),
            script: Some("quick_question".into()),
            turn: Some(2),
        }
    }

    fn same_as_serde(r: &RequestRecord) {
        let mut ours = Vec::new();
        r.write_jsonl(&mut ours);
        assert_eq!(ours.last(), Some(&b'\n'));
        let ours: serde_json::Value = serde_json::from_slice(&ours).expect("valid JSON");
        let reference = serde_json::to_value(r).expect("serde");
        assert_eq!(ours, reference);
        let back: RequestRecord = serde_json::from_value(ours).expect("reads back");
        assert_eq!(&back, r);
    }

    #[test]
    fn writes_exactly_what_serde_writes() {
        same_as_serde(&full());
        same_as_serde(&RequestRecord::default());
        let mut r = full();
        r.error = Some(ErrorKind::Timeout);
        r.warmup = false;
        r.chunk_us.clear();
        same_as_serde(&r);
    }

    #[test]
    fn non_finite_floats_are_null() {
        let r = RequestRecord {
            rtf: Some(f64::NAN),
            rtfx: Some(f64::INFINITY),
            ..RequestRecord::default()
        };
        let mut out = Vec::new();
        r.write_jsonl(&mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert!(v["rtf"].is_null() && v["rtfx"].is_null());
    }
}
