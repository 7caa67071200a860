//! *Tell*: everything a person reads or CI gates on. Writers take a finished
//! [`RunResult`] and write files; none of them measures anything.

use std::path::{Path, PathBuf};

pub mod cold_start;
pub mod compare;
pub mod csv;
pub mod fmt;
pub mod html;
pub mod json;
pub mod live;
pub mod live_table;
pub mod locust;
pub mod plot;
pub mod prometheus;
pub mod scale;
pub mod target;
pub mod terminal;
pub mod web;

#[cfg(test)]
mod layout_tests;

use crate::result::RunResult;

/// Why a report could not be written. Names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading a result failed.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// One output format.
pub trait ReportWriter {
    /// Write this report for `run` into the folder `out`.
    fn write(&self, run: &RunResult, out: &Path) -> Result<(), ReportError>;
}

/// The writers every run uses, in order.
pub fn default_writers() -> Vec<Box<dyn ReportWriter>> {
    vec![
        Box::new(json::JsonWriter),
        Box::new(csv::CsvWriter),
        Box::new(locust::LocustCsvWriter),
        Box::new(terminal::SummaryWriter),
        Box::new(plot::PlotWriter),
        Box::new(html::HtmlWriter),
    ]
}

/// Write `bytes` to `path` atomically (temp file + rename), so a reader or a
/// crash never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let err = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
