//! Error events of JSON message protocols: which message types are errors,
//! where their code sits, and which codes are harmless races. One set of
//! rules for every WebSocket adapter, so an OpenAI Realtime `error`, a
//! vLLM `error` and a vendor's `Error` are all counted the same way: by
//! code, as [`ErrorKind::ServerEvent`](super::ErrorKind::ServerEvent).

use serde::{Deserialize, Serialize};

use super::target::json_path;
use super::EventCode;

/// How error events are recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvents {
    /// Types of error events (at the adapter's type path); empty: none.
    #[serde(default)]
    pub error_types: Vec<String>,
    /// Dotted path of the code in an error event.
    #[serde(default = "default_code_path")]
    pub error_code_path: String,
    /// Codes that fail nothing (e.g. a cancel that came after the
    /// response had already ended): such an event is just a message.
    #[serde(default)]
    pub benign_errors: Vec<String>,
    /// For protocols whose errors have no type (ElevenLabs:
    /// `{"error":"input_timeout_exceeded","message":…}`): any message with
    /// a value at this path is an error event, and that value its code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_path: Option<String>,
}

fn default_code_path() -> String {
    "error.code".into()
}

impl Default for ErrorEvents {
    fn default() -> Self {
        Self {
            error_types: Vec::new(),
            error_code_path: default_code_path(),
            benign_errors: Vec::new(),
            error_path: None,
        }
    }
}

impl ErrorEvents {
    /// The code of `message` (of type `kind`) if it is an error event that
    /// is not benign; a missing code is `unknown`.
    pub fn code(&self, kind: &str, message: &serde_json::Value) -> Option<EventCode> {
        let found = if self.error_types.iter().any(|t| t == kind) {
            json_path(message, &self.error_code_path)
        } else {
            let path = self.error_path.as_deref()?;
            Some(json_path(message, path).filter(|v| !v.is_null())?)
        };
        let code = match found {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        (!self.benign_errors.contains(&code)).then(|| EventCode::new(&code))
    }

    /// Whether `kind` is an error type at all (benign ones included;
    /// untyped errors at `error_path` are not types).
    pub fn is_error_type(&self, kind: &str) -> bool {
        self.error_types.iter().any(|t| t == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_and_untyped_errors_are_read_by_their_code() {
        let typed = ErrorEvents {
            error_types: vec!["error".into()],
            benign_errors: vec!["harmless".into()],
            ..ErrorEvents::default()
        };
        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("json");
        let e = v(r#"{"type":"error","error":{"code":"rate_limit_exceeded"}}"#);
        assert_eq!(
            typed.code("error", &e),
            Some(EventCode::new("rate_limit_exceeded"))
        );
        assert_eq!(
            typed.code("error", &v(r#"{"type":"error"}"#)),
            Some(EventCode::new(""))
        );
        let benign = v(r#"{"type":"error","error":{"code":"harmless"}}"#);
        assert_eq!(typed.code("error", &benign), None);
        assert_eq!(typed.code("audio", &e), None, "not an error type");
        let untyped = ErrorEvents {
            error_path: Some("error".into()),
            ..ErrorEvents::default()
        };
        let eleven = v(r#"{"message":"…","error":"input_timeout_exceeded","code":1008}"#);
        assert_eq!(
            untyped.code("", &eleven),
            Some(EventCode::new("input_timeout_exceeded"))
        );
        assert_eq!(untyped.code("", &v(r#"{"audio":"AAAA"}"#)), None);
        assert_eq!(untyped.code("", &v(r#"{"error":null}"#)), None);
    }
}
