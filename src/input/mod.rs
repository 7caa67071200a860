//! Text samples for TTS: the bundled set, the supported file formats, cache
//! busting prefixes, and length statistics.
//!
//! Formats follow the tools users already have files for (seed 001's
//! `simple-json`, `id-prompt-json`, `axolotl-input-output`) plus plain text
//! lines and JSONL. Every parse error names the file and the line, because a
//! 10 000-line samples file with one bad entry is otherwise a needle hunt.

use std::path::PathBuf;

mod format;
mod samples;
mod stats;

pub use format::SampleFormat;
pub use samples::{random_prefix, TextSamples};
pub use stats::{LengthStats, TextStats};

/// Why a samples file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be read (missing, permissions, not UTF-8).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS (or UTF-8 check) said.
        source: std::io::Error,
    },
    /// The file does not match its format.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line in the file.
        line: usize,
        /// 1-based column (0 when the error is about the whole line or file).
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// The file parsed but held no non-blank sample.
    #[error("{}: no text samples (the file is empty or every entry is blank)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A format name we do not know.
    #[error("unknown sample format '{name}' (expected {})", SampleFormat::NAMES.join(", "))]
    UnknownFormat {
        /// The name given.
        name: String,
    },
}
