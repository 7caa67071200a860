//! *Tell*: everything a person reads or CI gates on. Writers take a finished
//! [`RunResult`] and write files; none of them measures anything.

use std::path::{Path, PathBuf};

pub mod compare;
pub mod csv;
pub mod html;
pub mod json;
pub mod live;
pub mod locust;
pub mod plot;
pub mod result;
pub mod terminal;

#[cfg(test)]
mod layout_tests;

pub use result::{RunResult, RunStatus, StageResult};

/// Metrics in the order a reader looks for them, for every report: TTS,
/// then streaming ASR, then voice agents, then the generator's own health.
/// Chunk metrics other than chunk1/chunk4 follow wherever they are shown.
pub const METRIC_ORDER: &[&str] = &[
    "ttfb",
    "ttfa",
    "chunk1",
    "chunk4",
    "inter_chunk_mean",
    "inter_chunk_max",
    "e2e",
    "e2e_uncorrected",
    "agent_first_message",
    "agent_first_audio",
    "agent_transcript",
    "turn",
    "audio",
    "rtf",
    "rtfx",
    "stall_count",
    "stall_time",
    "prebuffer_needed",
    "leading_silence",
    "perceived_ttfa",
    "barge_in_silence",
    "barge_in_leak",
    "barge_in_event",
    "connect",
    "first_partial",
    "final",
    "partial_interval",
    "wer",
    "frame_lag_max",
    "frame_lag_p99",
    "schedule_lag",
];

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
