//! A direct JSON writer for [`RequestRecord`], for `requests.jsonl`.
//!
//! Serializing every request through serde_json's generic machinery cost
//! about a fifth of the generator's per-request CPU (each key is escaped
//! char by char). This writes the same JSON — keys, absent fields skipped,
//! non-finite floats as `null` — with static keys and `itoa`. The serde
//! derive stays the reader and the reference: a test checks both agree.

use super::RequestRecord;

struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Obj<'_> {
    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn u64(&mut self, k: &str, v: u64) {
        self.key(k);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    fn opt_u64(&mut self, k: &str, v: Option<u64>) {
        if let Some(v) = v {
            self.u64(k, v);
        }
    }

    fn opt_f64(&mut self, k: &str, v: Option<f64>) {
        if let Some(v) = v {
            self.key(k);
            // serde_json's float writer: shortest round-trip form, `null` for NaN/inf.
            let _ = serde_json::to_writer(&mut *self.out, &v);
        }
    }

    fn opt_str(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.key(k);
            // Escaping is serde_json's; strings are rare (errors, voice, transcript).
            let _ = serde_json::to_writer(&mut *self.out, v);
        }
    }
}

impl RequestRecord {
    /// Append this record as one JSON line (with the newline) to `out`.
    pub fn write_jsonl(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut o = Obj { out, first: true };
        o.u64("stage", self.stage as u64);
        o.u64("seq", self.seq);
        if self.warmup {
            o.key("warmup");
            o.out.extend_from_slice(b"true");
        }
        o.u64("start_us", self.start_us);
        o.u64("end_us", self.end_us);
        o.opt_u64("schedule_lag_us", self.schedule_lag_us);
        o.opt_u64("status", self.status.map(u64::from));
        o.opt_u64("ttfb_us", self.ttfb_us);
        o.opt_u64("ttfa_us", self.ttfa_us);
        if !self.chunk_us.is_empty() {
            o.key("chunk_us");
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
        o.opt_u64("inter_chunk_mean_us", self.inter_chunk_mean_us);
        o.opt_u64("inter_chunk_max_us", self.inter_chunk_max_us);
        o.opt_u64("e2e_us", self.e2e_us);
        o.u64("chunks", u64::from(self.chunks));
        o.u64("audio_bytes", self.audio_bytes);
        o.opt_u64("audio_us", self.audio_us);
        o.opt_f64("rtf", self.rtf);
        o.opt_f64("rtfx", self.rtfx);
        o.opt_u64("stall_count", self.stall_count.map(u64::from));
        o.opt_u64("stall_us", self.stall_us);
        o.opt_u64("prebuffer_needed_us", self.prebuffer_needed_us);
        o.opt_u64("leading_silence_us", self.leading_silence_us);
        o.opt_u64("perceived_ttfa_us", self.perceived_ttfa_us);
        o.opt_u64("connect_us", self.connect_us);
        o.opt_u64("first_partial_us", self.first_partial_us);
        o.opt_u64("final_us", self.final_us);
        o.opt_u64("partial_interval_mean_us", self.partial_interval_mean_us);
        o.opt_u64("frame_lag_max_us", self.frame_lag_max_us);
        o.opt_u64("frame_lag_p99_us", self.frame_lag_p99_us);
        o.opt_u64("agent_first_message_us", self.agent_first_message_us);
        o.opt_u64("agent_first_audio_us", self.agent_first_audio_us);
        o.opt_u64("agent_transcript_us", self.agent_transcript_us);
        o.opt_u64("turn_us", self.turn_us);
        o.opt_u64("barge_in_silence_us", self.barge_in_silence_us);
        o.opt_u64("barge_in_leak_us", self.barge_in_leak_us);
        o.opt_u64("barge_in_event_us", self.barge_in_event_us);
        o.opt_u64("word_errors", self.word_errors.map(u64::from));
        o.opt_u64("ref_words", self.ref_words.map(u64::from));
        o.opt_f64("wer", self.wer);
        o.opt_str("transcript", self.transcript.as_deref());
        o.opt_u64("ws_close", self.ws_close.map(u64::from));
        if let Some(e) = &self.error {
            o.key("error");
            let _ = serde_json::to_writer(&mut *o.out, e);
        }
        o.opt_str("error_detail", self.error_detail.as_deref());
        o.u64("text_chars", u64::from(self.text_chars));
        o.opt_str("input", self.input.as_deref());
        o.opt_str("voice", self.voice.as_deref());
        o.opt_str("script", self.script.as_deref());
        o.opt_u64("turn", self.turn.map(u64::from));
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
            start_us: 1,
            end_us: 2,
            schedule_lag_us: Some(3),
            status: Some(200),
            ttfb_us: Some(4),
            ttfa_us: Some(5),
            chunk_us: vec![(1, 5), (4, 9)],
            inter_chunk_mean_us: Some(6),
            inter_chunk_max_us: Some(7),
            e2e_us: Some(8),
            chunks: 9,
            audio_bytes: 10,
            audio_us: Some(11),
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
            partial_interval_mean_us: Some(20),
            frame_lag_max_us: Some(21),
            frame_lag_p99_us: Some(22),
            agent_first_message_us: Some(30),
            agent_first_audio_us: Some(31),
            agent_transcript_us: Some(32),
            turn_us: Some(33),
            barge_in_silence_us: Some(34),
            barge_in_leak_us: Some(35),
            barge_in_event_us: Some(36),
            word_errors: Some(23),
            ref_words: Some(24),
            wer: Some(23.0 / 24.0),
            transcript: Some("quote \" and \\ and\nnewline ü".into()),
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
