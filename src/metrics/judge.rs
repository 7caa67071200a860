//! The TTS quality judge's figures: how one judged request is scored, and
//! the line `judge.jsonl` keeps of it.
//!
//! A judged request is a successful TTS request with audio, chosen by a
//! seeded draw, whose audio an ASR endpoint transcribed after the request
//! ended. Its word errors are those of the transcript against the text the
//! TTS request sent (the reference), both normalized as ASR WER is
//! ([`super::wer`]). The stage pools them: `judge_wer_pooled` = Σ word
//! errors ÷ Σ reference words over its judged requests. A judge request
//! that fails (connect, timeout, HTTP status, no transcript) is counted as
//! `judge_failed`, never as a TTS error, and has no word errors.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::wer::{word_errors, Normalization};
use crate::protocol::{ErrorKind, ProtocolError};

/// The judge's definitions, stated in every result of a run with one.
pub const JUDGE_NOTE: &str = "judge (--judge-asr): a seeded share of the successful TTS requests with audio is transcribed by the judge after the request ended, off the measured path; judge_wer per judged request against the text sent (normalized as ASR WER), judge_wer_pooled = all word errors / all reference words of the stage's judged requests; judge_failed (the judge's own failures) are not TTS errors; judge_skipped = chosen samples dropped because the judge's queue was full; judge_unfinished = judge requests still running when the stage's wait ended (that wait is not in the stage's wall time)";

/// How a stage's judge requests ended: counted in its statistics, shown
/// as they are in its summary (flattened into both, so the keys stay
/// `judged`, `judge_failed`, … in result.json).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeCounts {
    /// TTS requests whose audio the judge transcribed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub judged: u64,
    /// Judge requests that failed (not TTS errors).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub judge_failed: u64,
    /// Chosen samples not judged because the judge's queue was full.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub judge_skipped: u64,
    /// Judge requests still running when the stage's wait for them ended.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub judge_unfinished: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl JudgeCounts {
    /// Add another stage's counts (a merge).
    pub fn add(&mut self, o: &Self) {
        self.judged += o.judged;
        self.judge_failed += o.judge_failed;
        self.judge_skipped += o.judge_skipped;
        self.judge_unfinished += o.judge_unfinished;
    }

    /// Samples chosen for the judge, however they ended.
    pub fn chosen(&self) -> u64 {
        self.judged + self.judge_failed + self.judge_skipped + self.judge_unfinished
    }
}

/// One judged TTS request, as `judge.jsonl` holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeRecord {
    /// Stage of the TTS request.
    pub stage: usize,
    /// Its sequence number in the stage (`seq` in `requests.jsonl`).
    pub seq: u64,
    /// Its scenario, in a run of several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<Arc<str>>,
    /// Words of the normalized reference (the text sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_words: Option<u32>,
    /// Substitutions + deletions + insertions of the transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_errors: Option<u32>,
    /// `word_errors ÷ ref_words` (absent for an empty reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wer: Option<f64>,
    /// What the judge heard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// The judge call: request sent → answer read, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// Why the judge request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    /// Detail of the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// Finished after its stage's wait for judges ended: in this file, not
    /// in the stage's figures (counted there as `judge_unfinished`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
}

impl JudgeRecord {
    /// Whether the judge answered with a transcript.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Score the judge's answer for stage `stage`, request `seq`: the
/// transcript against `reference`, or the failure. `latency_us` is the
/// judge call's own duration.
pub fn score(
    (stage, seq): (usize, u64),
    reference: &str,
    answer: Result<&str, &ProtocolError>,
    normalization: &Normalization,
    latency_us: Option<u64>,
) -> JudgeRecord {
    let mut r = JudgeRecord {
        stage,
        seq,
        latency_us,
        ..JudgeRecord::default()
    };
    match answer {
        Ok(transcript) => {
            let we = word_errors(reference, transcript, normalization);
            r.ref_words = Some(we.ref_words);
            r.word_errors = Some(we.errors());
            r.wer = we.wer();
            r.transcript = Some(transcript.to_string());
        }
        Err(e) => {
            r.error = Some(e.kind);
            r.error_detail = Some(e.detail.clone());
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_is_scored_against_the_text_sent() {
        let n = Normalization::default();
        let r = score(
            (1, 7),
            "Hello there, my friend.",
            Ok("hello uh my"),
            &n,
            Some(5),
        );
        // one substitution, one deletion, four reference words.
        assert_eq!((r.ref_words, r.word_errors), (Some(4), Some(2)));
        assert_eq!(r.wer, Some(0.5));
        assert!(r.ok());
        let e = ProtocolError::new(ErrorKind::Http(503), "busy".to_string());
        let r = score((0, 0), "a b", Err(&e), &n, None);
        assert!(!r.ok());
        assert_eq!((r.ref_words, r.word_errors), (None, None));
        let line = serde_json::to_string(&r).expect("serialize");
        assert!(!line.contains("late"), "{line}");
    }

    #[test]
    fn judge_counts_merge_exactly_and_survive_a_save() {
        use crate::metrics::StageStats;
        let judged = |errors: u32, wer: f64| JudgeRecord {
            word_errors: Some(errors),
            ref_words: Some(4),
            wer: Some(wer),
            ..JudgeRecord::default()
        };
        let mut a = StageStats::new(&[]);
        a.record_judge(&judged(1, 0.25));
        a.record_judge(&JudgeRecord {
            error: Some(ErrorKind::Timeout),
            ..JudgeRecord::default()
        });
        a.record_judge_missed(2, 1);
        let mut b = StageStats::new(&[]);
        b.record_judge(&judged(3, 0.75));
        a.merge(&b);
        let s = a.summary(std::time::Duration::from_secs(1));
        assert_eq!(
            (
                s.judge.judged,
                s.judge.judge_failed,
                s.judge.judge_skipped,
                s.judge.judge_unfinished
            ),
            (2, 1, 2, 1)
        );
        // Pooled: (1 + 3) ÷ (4 + 4); a failed judge request adds nothing.
        assert_eq!(s.judge_wer_pooled, Some(0.5));
        assert_eq!(s.metrics.get("judge_wer").map(|p| p.count), Some(2));
        assert_eq!(s.requests, 0, "judge answers are no TTS requests");
        let json = serde_json::to_string(&a).expect("save");
        let back: StageStats = serde_json::from_str(&json).expect("load");
        assert_eq!(back, a);
        // A stage saved before the judge existed loads, without judge figures.
        let old = serde_json::json!({
            "chunk_ks": [], "errors": [], "histograms": {},
            "counters": {"requests": 1, "ok": 1, "failed": 0, "dropped": 0, "warmup": 0,
                "stalled_requests": 0, "requests_with_stall_info": 0, "audio_us_total": 5},
        });
        let old: StageStats = serde_json::from_value(old).expect("old stage");
        let s = old.summary(std::time::Duration::from_secs(1));
        assert_eq!((s.judge.judged, s.judge_wer_pooled), (0, None));
    }
}
