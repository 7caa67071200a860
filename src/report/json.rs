//! `result.json`.

use std::path::Path;

use super::{write_atomic, ReportError, ReportWriter};
use crate::result::RunResult;

/// File name of the main result.
pub const RESULT_FILE: &str = "result.json";

/// Writes `result.json`.
#[derive(Debug, Clone, Copy)]
pub struct JsonWriter;

impl JsonWriter {
    /// Write `result.json` into `out` (also used for in-progress snapshots).
    pub fn write_to(&self, run: &RunResult, out: &Path) -> Result<(), ReportError> {
        self.write(run, out)
    }
}

impl ReportWriter for JsonWriter {
    fn write(&self, run: &RunResult, out: &Path) -> Result<(), ReportError> {
        let path = out.join(RESULT_FILE);
        let bytes = serde_json::to_vec_pretty(run).map_err(|e| ReportError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&path, &bytes)
    }
}

/// Read a `result.json` (a file, or a results folder holding one).
pub fn read(path: &Path) -> Result<RunResult, ReportError> {
    let file = if path.is_dir() {
        path.join(RESULT_FILE)
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|e| ReportError::Read {
        path: file.clone(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| ReportError::Read {
        path: file.clone(),
        reason: format!("line {} column {}: {e}", e.line(), e.column()),
    })
}
