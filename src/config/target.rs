//! What every target's options share: request headers from flags and files
//! (`Name: value`, an API key from the environment) and message templates.

use super::error::{invalid, ConfigError};
use crate::audio::codec::Codec;
use crate::protocol::target::redact_header;

/// Headers and the API key of any target: one declaration for every
/// protocol's flags and file keys.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, clap::Args)]
pub struct HeaderOptions {
    /// Extra request header `Name: value` (repeatable). Secret values are redacted on output.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub header: Option<Vec<String>>,
    /// Read the API key from this environment variable (sent as `Authorization: Bearer KEY`).
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    /// Text before the key in `Authorization` (Deepgram `Token `, AssemblyAI none)
    /// [default: `Bearer `]: vendors differ, the header is the same.
    #[arg(long, value_name = "TEXT")]
    pub api_key_prefix: Option<String>,
}

impl HeaderOptions {
    /// The headers to send, the key read from the environment as a bearer token.
    pub fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        let key = self.api_key_env.as_deref().map(|var| ApiKey {
            prefix: self.api_key_prefix.as_deref().unwrap_or("Bearer "),
            ..ApiKey::bearer(var)
        });
        headers_with_key(self.header.as_deref(), key, env)
    }
}

/// Error events of a WebSocket protocol: one declaration of the flags and
/// keys for every adapter that reads JSON messages.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, clap::Args)]
pub struct ErrorEventOptions {
    /// Type(s) of error events: each fails its request or turn, counted by code (event_CODE) [default: none].
    #[arg(long, value_delimiter = ',')]
    pub error_types: Option<Vec<String>>,
    /// Dotted path of the code in error events [default: error.code].
    #[arg(long)]
    pub error_code_path: Option<String>,
    /// Error codes that fail nothing (e.g. response_cancel_not_active) [default: none].
    #[arg(long, value_delimiter = ',')]
    pub benign_errors: Option<Vec<String>>,
    /// Dotted path that marks untyped error messages: one with a value there is an error, that value its code (ElevenLabs: error) [default: none].
    #[arg(long)]
    pub error_path: Option<String>,
}

impl ErrorEventOptions {
    /// The rules these options set.
    pub fn build(&self) -> crate::protocol::events::ErrorEvents {
        let d = crate::protocol::events::ErrorEvents::default();
        crate::protocol::events::ErrorEvents {
            error_types: self.error_types.clone().unwrap_or(d.error_types),
            error_code_path: self.error_code_path.clone().unwrap_or(d.error_code_path),
            benign_errors: self.benign_errors.clone().unwrap_or(d.benign_errors),
            error_path: self.error_path.clone().or(d.error_path),
        }
    }
}

/// `Name: value` strings into pairs.
pub fn parse_headers(raw: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    raw.iter()
        .map(|h| {
            let (n, v) = h.split_once(':').ok_or_else(|| {
                invalid(
                    "--header",
                    format!("'{}' is not 'Name: value'", redact_header(h, h)),
                )
            })?;
            if n.trim().is_empty() {
                return Err(invalid("--header", "empty header name"));
            }
            Ok((n.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// How an API key read from the environment is sent.
pub struct ApiKey<'a> {
    /// The environment variable holding it.
    pub env_var: &'a str,
    /// The header that carries it.
    pub header: &'a str,
    /// Text before the key in that header.
    pub prefix: &'a str,
}

impl<'a> ApiKey<'a> {
    /// `Authorization: Bearer <value of env_var>`.
    pub fn bearer(env_var: &'a str) -> Self {
        Self {
            env_var,
            header: "Authorization",
            prefix: "Bearer ",
        }
    }
}

/// `--header` values plus, with an API key, its header (an unset
/// variable is an error naming it).
pub fn headers_with_key(
    header: Option<&[String]>,
    key: Option<ApiKey<'_>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut headers = parse_headers(header.unwrap_or(&[]))?;
    if let Some(k) = key {
        // Two credentials would be sent side by side; which one the server
        // reads is anyone's guess.
        if headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(k.header))
        {
            return Err(invalid(
                "--api-key-env",
                format!(
                    "the key goes in the {} header, which a --header already sets; keep one",
                    k.header
                ),
            ));
        }
        let value = env(k.env_var).ok_or_else(|| {
            invalid(
                "--api-key-env",
                format!("environment variable {} is not set", k.env_var),
            )
        })?;
        if value.trim().is_empty() {
            return Err(invalid(
                "--api-key-env",
                format!("environment variable {} is empty", k.env_var),
            ));
        }
        headers.push((
            k.header.to_string(),
            format!("{}{}", k.prefix, value.trim()),
        ));
    }
    Ok(headers)
}

/// `url`, or `path` on it when it is a bare `http://host:port` (the
/// OpenAI-compatible default endpoint of a service).
pub(crate) fn with_default_path(url: &str, path: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let has_path = trimmed
        .split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'));
    if has_path {
        url.to_string()
    } else {
        format!("{trimmed}{path}")
    }
}

/// A message template option that may hold several messages, sent in
/// order: unset is `default`, and `""` sends nothing.
pub(crate) fn templates(value: Option<Vec<String>>, default: Option<&str>) -> Vec<String> {
    match value {
        Some(v) => v.into_iter().filter(|m| !m.trim().is_empty()).collect(),
        None => default.map(str::to_string).into_iter().collect(),
    }
}

/// A file key that takes one template (a string) or several (a list).
pub(crate) fn one_or_many<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(
        <Option<OneOrMany> as serde::Deserialize>::deserialize(d)?.map(|v| match v {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }),
    )
}

/// A `--codec` value: a [`Codec`] name or alias; the error lists them.
pub(crate) fn parse_codec(value: Option<&str>) -> Result<Codec, ConfigError> {
    let Some(v) = value else {
        return Ok(Codec::Pcm16);
    };
    Codec::parse(v).ok_or_else(|| {
        let names: Vec<&str> = Codec::ALL.iter().map(|c| c.name()).collect();
        invalid(
            "--codec",
            format!(
                "unknown codec '{v}' (known: {}, or pcmu/pcma/ulaw)",
                names.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some(" sk-123 ".into()),
            "EMPTY" => Some("  ".into()),
            _ => None,
        }
    }

    #[test]
    fn one_credential_and_never_an_empty_one() {
        let opts = |header: &[&str], key: Option<&str>| HeaderOptions {
            header: Some(header.iter().map(|h| h.to_string()).collect()),
            api_key_env: key.map(str::to_string),
            api_key_prefix: None,
        };
        let sent = opts(&["X-Trace: 1"], Some("KEY"))
            .resolve(&env)
            .expect("valid");
        assert_eq!(sent[1], ("Authorization".into(), "Bearer sk-123".into()));
        // -H 'Authorization: …' and --api-key-env would send two.
        let e = opts(&["authorization: Bearer other"], Some("KEY"))
            .resolve(&env)
            .expect_err("two credentials")
            .to_string();
        assert!(
            e.contains("--api-key-env") && e.contains("Authorization"),
            "{e}"
        );
        assert!(!e.contains("other"), "no secret in the message: {e}");
        let e = opts(&[], Some("EMPTY"))
            .resolve(&env)
            .expect_err("empty")
            .to_string();
        assert!(e.contains("EMPTY is empty"), "{e}");
        let e = opts(&[], Some("UNSET"))
            .resolve(&env)
            .expect_err("unset")
            .to_string();
        assert!(e.contains("UNSET is not set"), "{e}");
        // A header alone is fine.
        let sent = opts(&["Authorization: Bearer x"], None)
            .resolve(&env)
            .expect("valid");
        assert_eq!(sent.len(), 1);
        // Deepgram's `Token KEY`, AssemblyAI's bare key.
        for (prefix, want) in [("Token ", "Token sk-123"), ("", "sk-123")] {
            let o = HeaderOptions {
                api_key_prefix: Some(prefix.into()),
                ..opts(&[], Some("KEY"))
            };
            let sent = o.resolve(&env).expect("valid");
            assert_eq!(sent, vec![("Authorization".into(), want.into())]);
        }
    }
}
