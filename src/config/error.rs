//! Why options could not become a plan. Every error names the file, line,
//! flag or key it is about.

use std::path::PathBuf;
use std::time::Duration;

/// Why options could not become a plan.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A scenario or vendor file is not valid TOML for our options.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line it is on.
        message: String,
    },
    /// Two options that cannot be used together.
    #[error("{0} and {1} cannot be used together")]
    Conflict(&'static str, &'static str),
    /// An option has an invalid value.
    #[error("invalid {option}: {reason}")]
    Invalid {
        /// The flag or key, e.g. `--burstiness`.
        option: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A required option is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// Something about one scenario of a run of several.
    #[error("scenario '{scenario}': {source}")]
    Scenario {
        /// The scenario's name.
        scenario: String,
        /// What is wrong with it.
        source: Box<ConfigError>,
    },
    /// The text samples or audio inputs could not be loaded.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
}

/// An invalid value of `option` (a flag or key), saying what is wrong.
pub(crate) fn invalid(option: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option,
        reason: reason.into(),
    }
}

/// `value`, or `default` when unset; zero is refused, naming `option`.
pub(crate) fn positive(
    value: Option<Duration>,
    default: Duration,
    option: &'static str,
) -> Result<Duration, ConfigError> {
    let d = value.unwrap_or(default);
    if d.is_zero() {
        Err(invalid(option, "must be greater than 0"))
    } else {
        Ok(d)
    }
}

/// `--ws-max-message` in bytes, or the default; zero (no message could
/// arrive) and sizes beyond the address space are refused.
pub(crate) fn ws_max_message(value: Option<u64>) -> Result<usize, ConfigError> {
    let Some(n) = value else {
        return Ok(crate::protocol::ws::DEFAULT_MAX_MESSAGE);
    };
    if n == 0 {
        return Err(invalid(
            "--ws-max-message",
            "must be greater than 0 (e.g. 16MiB)",
        ));
    }
    usize::try_from(n).map_err(|_| invalid("--ws-max-message", format!("{n} bytes is too large")))
}

impl ConfigError {
    /// This error, said of the scenario `name` (when the run has several).
    pub(crate) fn in_scenario(self, name: Option<&str>) -> ConfigError {
        match name {
            Some(n) => ConfigError::Scenario {
                scenario: n.to_string(),
                source: Box::new(self),
            },
            None => self,
        }
    }
}
