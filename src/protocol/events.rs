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
        }
    }
}

impl ErrorEvents {
    /// The code of `message` (of type `kind`) if it is an error event that
    /// is not benign; a missing code is `unknown`.
    pub fn code(&self, kind: &str, message: &serde_json::Value) -> Option<EventCode> {
        if !self.error_types.iter().any(|t| t == kind) {
            return None;
        }
        let code = match json_path(message, &self.error_code_path) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        (!self.benign_errors.contains(&code)).then(|| EventCode::new(&code))
    }

    /// Whether `kind` is an error type at all (benign ones included).
    pub fn is_error_type(&self, kind: &str) -> bool {
        self.error_types.iter().any(|t| t == kind)
    }
}
