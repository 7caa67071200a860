//! The TTS quality judge (`--judge-asr URL`): a share of the synthesized
//! audio is sent to an ASR endpoint after each TTS request, off the
//! measured path, and its transcript is scored against the text that was
//! spoken — word error rate of the voice, stage by stage.
//!
//! The options are TTS options (flags and scenario-file keys, declared
//! once); [`JudgeOptions::build`] turns them into the [`JudgePlan`] the
//! runner follows. Only a TTS scenario has them: `voxload asr` and
//! `voxload agent` do not offer the flags.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{invalid, ConfigError};
use super::target::{headers_with_key, with_default_path, ApiKey};
use crate::metrics::wer::Normalization;
use crate::protocol::http_asr::{AsrTarget, Upload};
use crate::protocol::target::{parse_http_uri, redact_url};
use crate::units::parse_duration;

/// Share of TTS requests judged when `--judge-asr` is given alone.
pub const DEFAULT_SHARE: f64 = 0.2;
/// Judge requests in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Samples waiting for a judge slot, per judge slot: beyond
/// `concurrency × QUEUE_PER_SLOT` a sample is skipped (memory stays
/// bounded: each waiting sample holds its audio).
pub const QUEUE_PER_SLOT: usize = 4;
/// How long a stage's end waits for its judge requests still running.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// Model sent in the judge's multipart `model` field.
pub const DEFAULT_MODEL: &str = "whisper-1";

/// The judge's flags (and file keys: `judge_asr = "http://…"`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct JudgeOptions {
    /// Judge the synthesized speech: send a share of the TTS audio to this
    /// ASR endpoint (OpenAI-compatible multipart; a bare http://host:port gets
    /// /v1/audio/transcriptions) after each request, off the measured path, and
    /// report the word error rate against the input text per stage (judge_wer_pooled).
    #[arg(long, value_name = "URL")]
    pub judge_asr: Option<String>,
    /// Share of successful TTS requests judged, in (0, 1], chosen by a seeded
    /// draw per request [default: 0.2].
    #[arg(long, value_name = "FRACTION")]
    pub judge_share: Option<f64>,
    /// Judge requests in flight at once; samples beyond 4 waiting per slot are
    /// skipped and counted (judge_skipped) [default: 4].
    #[arg(long, value_name = "N")]
    pub judge_concurrency: Option<usize>,
    /// Model name sent to the judge [default: whisper-1].
    #[arg(long, value_name = "NAME")]
    pub judge_model: Option<String>,
    /// Read the judge's API key from this environment variable (sent as
    /// `Authorization: Bearer KEY`).
    #[arg(long, value_name = "NAME")]
    pub judge_api_key_env: Option<String>,
    /// At a stage's end, wait at most this long for its judge requests still
    /// running (not counted in the stage's wall time) [default: 30s].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub judge_wait: Option<Duration>,
}

/// What the judge does, validated. Serialized into `result.json` (the
/// URL and key redacted).
#[derive(Debug, Clone, Serialize)]
pub struct JudgePlan {
    /// The ASR endpoint judge requests go to.
    pub target: AsrTarget,
    /// Share of successful TTS requests judged.
    pub share: f64,
    /// Judge requests in flight at once.
    pub concurrency: usize,
    /// Samples that may wait for a slot; beyond, skipped.
    pub queue: usize,
    /// Longest wait at a stage's end for its judge requests.
    #[serde(rename = "wait_us", with = "crate::units::duration_us")]
    pub wait: Duration,
    /// Per judge request (the TTS `--timeout`).
    #[serde(rename = "timeout_us", with = "crate::units::duration_us")]
    pub timeout: Duration,
    /// How transcript and input text are normalized before comparison.
    pub normalization: Normalization,
    /// Version of that normalization.
    pub normalization_version: &'static str,
}

impl JudgeOptions {
    /// Validate into a plan; `None` without `--judge-asr`. `timeout` is the
    /// TTS request timeout, `env` looks up environment variables.
    pub fn build(
        &self,
        timeout: Duration,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<JudgePlan>, ConfigError> {
        let Some(url) = self.judge_asr.as_deref().map(str::trim) else {
            let orphan = [
                (self.judge_share.is_some(), "--judge-share"),
                (self.judge_concurrency.is_some(), "--judge-concurrency"),
                (self.judge_model.is_some(), "--judge-model"),
                (self.judge_api_key_env.is_some(), "--judge-api-key-env"),
                (self.judge_wait.is_some(), "--judge-wait"),
            ];
            if let Some((_, flag)) = orphan.iter().find(|(set, _)| *set) {
                return Err(invalid(
                    flag,
                    "needs --judge-asr URL (the ASR endpoint that judges)",
                ));
            }
            return Ok(None);
        };
        let url = with_default_path(url, "/v1/audio/transcriptions");
        parse_http_uri(&url).map_err(|e| {
            let why = match e {
                crate::protocol::target::TargetError::BadUrl { reason, .. } => reason,
                other => other.to_string(),
            };
            invalid("--judge-asr", format!("'{}': {why}", redact_url(&url)))
        })?;
        let share = self.judge_share.unwrap_or(DEFAULT_SHARE);
        if !(share > 0.0 && share <= 1.0) {
            return Err(invalid(
                "--judge-share",
                format!("must be in (0, 1], e.g. 0.2 (got {share})"),
            ));
        }
        let concurrency = self.judge_concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if concurrency == 0 {
            return Err(invalid("--judge-concurrency", "must be at least 1"));
        }
        let wait = self.judge_wait.unwrap_or(DEFAULT_WAIT);
        let key = self.judge_api_key_env.as_deref().map(ApiKey::bearer);
        let headers = headers_with_key(None, key, env).map_err(|e| match e {
            ConfigError::Invalid { reason, .. } => invalid("--judge-api-key-env", reason),
            other => other,
        })?;
        let model = self
            .judge_model
            .clone()
            .unwrap_or_else(|| DEFAULT_MODEL.into());
        if model.trim().is_empty() {
            return Err(invalid("--judge-model", "must not be empty"));
        }
        Ok(Some(JudgePlan {
            target: AsrTarget {
                url,
                upload: Upload::Multipart {
                    file_field: "file".into(),
                    fields: vec![
                        ("model".into(), model),
                        ("response_format".into(), "json".into()),
                    ],
                },
                transcript_path: "text".into(),
                headers,
            },
            share,
            concurrency,
            queue: concurrency.saturating_mul(QUEUE_PER_SLOT),
            wait,
            timeout,
            normalization: Normalization::default(),
            normalization_version: crate::metrics::wer::NORMALIZATION_VERSION,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn build(o: &JudgeOptions) -> Result<Option<JudgePlan>, String> {
        o.build(Duration::from_secs(60), &no_env)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn no_url_no_judge_and_defaults_with_one() {
        assert!(build(&JudgeOptions::default()).expect("ok").is_none());
        let o = JudgeOptions {
            judge_asr: Some("http://127.0.0.1:8000".into()),
            ..Default::default()
        };
        let p = build(&o).expect("ok").expect("a judge");
        assert_eq!(
            p.target.url,
            "http://127.0.0.1:8000/v1/audio/transcriptions"
        );
        assert_eq!((p.share, p.concurrency, p.queue), (0.2, 4, 16));
        assert_eq!(p.wait, DEFAULT_WAIT);
    }

    #[test]
    fn bad_values_name_their_flag() {
        let with = |f: &dyn Fn(&mut JudgeOptions)| {
            let mut o = JudgeOptions {
                judge_asr: Some("http://h:1".into()),
                ..Default::default()
            };
            f(&mut o);
            build(&o).expect_err("refused")
        };
        for share in [0.0, -0.1, 1.5, f64::NAN] {
            let e = with(&|o| o.judge_share = Some(share));
            assert!(e.contains("--judge-share") && e.contains("(0, 1]"), "{e}");
        }
        let e = with(&|o| o.judge_asr = Some("ftp://h/x".into()));
        assert!(e.contains("--judge-asr") && e.contains("http"), "{e}");
        let e = with(&|o| o.judge_concurrency = Some(0));
        assert!(e.contains("--judge-concurrency"), "{e}");
        let e = with(&|o| o.judge_api_key_env = Some("NOPE_UNSET".into()));
        assert!(
            e.contains("--judge-api-key-env") && e.contains("NOPE_UNSET"),
            "{e}"
        );
        let e = build(&JudgeOptions {
            judge_share: Some(0.5),
            ..Default::default()
        })
        .expect_err("orphan");
        assert!(
            e.contains("--judge-share") && e.contains("--judge-asr"),
            "{e}"
        );
    }

    #[test]
    fn credentials_in_the_url_are_redacted_in_errors_and_the_plan() {
        let o = JudgeOptions {
            judge_asr: Some("http://user:s3cret@h:0/x".into()),
            ..Default::default()
        };
        let e = build(&o).expect_err("port 0");
        assert!(e.contains("--judge-asr") && !e.contains("s3cret"), "{e}");
        let env = |k: &str| (k == "JUDGE_KEY").then(|| "sk-judge-123".to_string());
        let o = JudgeOptions {
            judge_asr: Some("http://h:1/v1/audio/transcriptions?api_key=s3cret".into()),
            judge_api_key_env: Some("JUDGE_KEY".into()),
            ..Default::default()
        };
        let p = o
            .build(Duration::from_secs(1), &env)
            .expect("ok")
            .expect("judge");
        let json = serde_json::to_string(&p).expect("serialize");
        assert!(
            !json.contains("s3cret") && !json.contains("sk-judge-123"),
            "{json}"
        );
        assert!(json.contains("<redacted>"), "{json}");
    }
}
