//! A TOML file being read: every error names it and the line.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::error::ConfigError;

/// A file and its text, for errors that name it.
pub(crate) struct File<'a> {
    /// Where it was read from.
    pub path: &'a Path,
    /// Its whole text.
    pub text: &'a str,
}

impl File<'_> {
    /// An error about this file.
    pub fn error(&self, message: String) -> ConfigError {
        ConfigError::Toml {
            path: self.path.to_path_buf(),
            message,
        }
    }

    /// `doc` (the file, or part of it with the rest blanked, so line
    /// numbers stay the file's) as `T`; a bad value names its line.
    pub fn parse<T: DeserializeOwned>(&self, doc: &str) -> Result<T, ConfigError> {
        toml::from_str(doc).map_err(|e| self.error(e.to_string().trim().to_string()))
    }
}

/// The text of the file at `path`; an error names it.
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Read a whole TOML file as `T` (vendor files and the like), naming the
/// file and line of any error.
pub(crate) fn read_file<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = read_text(path)?;
    File { path, text: &text }.parse(&text)
}
