//! TTS over WebSocket: the message rules of `voxload tts --url ws://…`
//! (flags and file keys, declared once) and the target they become. The
//! vendor presets (`elevenlabs`, `cartesia`, `deepgram-speak`) only fill
//! these in.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{invalid, positive, ConfigError};
use super::target::{templates, ErrorEventOptions};
use crate::audio::AudioFormat;
use crate::protocol::ws_tts::{TextStream, WsAudio, WsTtsTarget};
use crate::units::parse_duration;

/// The message rules of a WebSocket TTS target; ignored for `http://` URLs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct WsTtsOptions {
    /// WebSocket: message(s) sent after connecting ({{voice}}, {{model}}, {{context_id}}); repeat for several.
    #[arg(long = "start-message")]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub start_message: Option<Vec<String>>,
    /// WebSocket: message(s) per text piece, {{text}} is the piece [default: {"text":"{{text}}"}].
    #[arg(long = "text-message")]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub text_message: Option<Vec<String>>,
    /// WebSocket: message(s) after the last text (flush clocks start at the last one).
    #[arg(long = "flush-message")]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub flush_message: Option<Vec<String>>,
    /// WebSocket: message(s) after the final audio, before closing.
    #[arg(long = "close-message")]
    #[serde(default, deserialize_with = "super::target::one_or_many")]
    pub close_message: Option<Vec<String>>,
    /// WebSocket: dotted path of base64 audio in JSON messages, or `binary` for binary frames [default: audio].
    #[arg(long = "ws-audio")]
    pub ws_audio: Option<String>,
    /// WebSocket: dotted path of the message type [default: type].
    #[arg(long = "ws-type-path")]
    pub ws_type_path: Option<String>,
    /// WebSocket: message types that end the answer (comma-separated).
    #[arg(long = "final-types", value_delimiter = ',')]
    pub final_types: Option<Vec<String>>,
    /// WebSocket: dotted path of a boolean "final" flag (e.g. isFinal).
    #[arg(long = "final-flag")]
    pub final_flag: Option<String>,
    /// WebSocket: dotted JSON path of the audio's sample rate in server messages (raw PCM); the URL's output_format=pcm_N or sample_rate=N is read without it [default: none].
    #[arg(long = "ws-rate-path", value_name = "PATH")]
    pub ws_rate_path: Option<String>,
    /// WebSocket: `whole` (default) or a token rate like `40tok/s`: words sent at absolute deadlines.
    #[arg(long = "text-stream")]
    pub text_stream: Option<String>,
    /// WebSocket: wait before the first token of a text stream [default: 0s].
    #[arg(long = "first-token-delay", value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub first_token_delay: Option<Duration>,
    /// WebSocket: bound on connect plus upgrade [default: 10s].
    #[arg(long = "connect-timeout", value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub connect_timeout: Option<Duration>,
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub errors: ErrorEventOptions,
}

impl WsTtsOptions {
    /// The target for `url` (a `ws://` or `wss://` URL).
    pub fn target(
        &self,
        url: String,
        headers: Vec<(String, String)>,
        model: String,
        format: AudioFormat,
    ) -> Result<WsTtsTarget, ConfigError> {
        let audio = match self.ws_audio.as_deref().map(str::trim) {
            Some("binary") => WsAudio::Binary,
            Some("") => return Err(invalid("--ws-audio", "a JSON path or 'binary'")),
            Some(path) => WsAudio::Base64 { path: path.into() },
            None => WsAudio::Base64 {
                path: "audio".into(),
            },
        };
        let delay = self.first_token_delay.unwrap_or_default();
        let text_stream = TextStream::parse(self.text_stream.as_deref().unwrap_or("whole"), delay)
            .ok_or_else(|| invalid("--text-stream", "'whole' or a positive rate like 40tok/s"))?;
        let target = WsTtsTarget {
            url,
            headers,
            model,
            format,
            start_messages: templates(self.start_message.clone(), None),
            text_messages: templates(self.text_message.clone(), Some(r#"{"text":"{{text}}"}"#)),
            flush_messages: templates(self.flush_message.clone(), None),
            close_messages: templates(self.close_message.clone(), None),
            audio,
            type_path: Some(self.ws_type_path.clone().unwrap_or_else(|| "type".into())),
            final_types: self.final_types.clone().unwrap_or_default(),
            final_flag_path: self.final_flag.clone(),
            rate_path: self.ws_rate_path.clone().filter(|p| !p.trim().is_empty()),
            errors: self.errors.build(),
            text_stream,
            connect_timeout: positive(
                self.connect_timeout,
                Duration::from_secs(10),
                "--connect-timeout",
            )?,
            max_message_bytes: crate::protocol::ws::default_max_message(),
        };
        if target.final_types.is_empty() && target.final_flag_path.is_none() {
            return Err(invalid(
                "--final-types",
                "a WebSocket TTS target needs --final-types or --final-flag (when is the audio complete?)",
            ));
        }
        target
            .validate()
            .map_err(|e| invalid("--url", e.to_string()))?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcm() -> AudioFormat {
        AudioFormat::Pcm {
            sample_rate: 16_000,
            channels: 1,
        }
    }

    #[test]
    fn rules_become_a_target_and_bad_ones_are_named() {
        let o = WsTtsOptions {
            ws_audio: Some("binary".into()),
            final_types: Some(vec!["Flushed".into()]),
            flush_message: Some(vec![r#"{"type":"Flush"}"#.into(), String::new()]),
            text_stream: Some("40tok/s".into()),
            ..WsTtsOptions::default()
        };
        let t = o
            .target(
                "ws://127.0.0.1:9/v1/speak".into(),
                vec![],
                String::new(),
                pcm(),
            )
            .expect("valid");
        assert_eq!(t.audio, WsAudio::Binary);
        assert_eq!(t.flush_messages, [r#"{"type":"Flush"}"#]);
        assert_eq!(t.text_messages, [r#"{"text":"{{text}}"}"#]);
        assert!(matches!(t.text_stream, TextStream::Tokens { rate, .. } if rate == 40.0));
        let no_final = WsTtsOptions::default()
            .target("ws://h/x".into(), vec![], String::new(), pcm())
            .expect_err("no final rule")
            .to_string();
        assert!(no_final.contains("--final-types"), "{no_final}");
        let bad_rate = WsTtsOptions {
            text_stream: Some("fast".into()),
            final_flag: Some("isFinal".into()),
            ..WsTtsOptions::default()
        }
        .target("ws://h/x".into(), vec![], String::new(), pcm())
        .expect_err("bad rate")
        .to_string();
        assert!(bad_rate.contains("--text-stream"), "{bad_rate}");
    }
}
