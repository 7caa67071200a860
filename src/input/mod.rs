//! Inputs: text samples for TTS (the bundled set, the supported file
//! formats, cache busting prefixes, length statistics) and audio files for
//! ASR (files, folders and manifests; see [`AudioSet`]).
//!
//! Formats follow the tools users already have files for (seed 001's
//! `simple-json`, `id-prompt-json`, `axolotl-input-output`) plus plain text
//! lines and JSONL. Every parse error names the file and the line, because a
//! 10 000-line samples file with one bad entry is otherwise a needle hunt.

use std::path::PathBuf;

mod audio;
mod format;
mod samples;
mod stats;

pub use audio::{AudioItem, AudioSet, AUDIO_EXTENSIONS, TEST_VOICE_CPS};
pub use format::SampleFormat;
pub use samples::{random_prefix, TextSamples};
pub use stats::{LengthStats, TextStats};

/// Why an input (samples file, audio file, folder or manifest) could not be used.
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
    /// An audio input file holds no bytes.
    #[error("{}: the file is empty (0 bytes)", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// An audio input is not audio voxload can read (wrong format, corrupt,
    /// raw PCM, no samples).
    #[error("{}: not usable audio: {source}", path.display())]
    NotAudio {
        /// The file.
        path: PathBuf,
        /// What decoding found.
        source: crate::audio::AudioError,
    },
    /// The audio file named on a manifest line failed; `source` names it.
    #[error("{}:{line}: {source}", manifest.display())]
    ManifestEntry {
        /// The manifest.
        manifest: PathBuf,
        /// 1-based line of the entry.
        line: usize,
        /// Why its audio file failed.
        source: Box<InputError>,
    },
    /// A folder or manifest yielded no audio files.
    #[error(
        "{}: no audio inputs found (folders are searched recursively for .{} files; \
         a manifest needs at least one entry)",
        path.display(),
        AUDIO_EXTENSIONS.join(", .")
    )]
    NoAudio {
        /// The folder or manifest.
        path: PathBuf,
    },
    /// The list of audio inputs was empty.
    #[error("no audio inputs given (expected audio files, folders or manifest.jsonl files)")]
    NoInputs,
}
