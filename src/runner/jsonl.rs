//! `requests.jsonl`, written as each request completes.
//!
//! Each record becomes one complete line written with a single `write_all`
//! on an unbuffered file, under a lock that only serializes the writes. A
//! finished request is therefore on disk (in the page cache) before its
//! task ends, and the file only ever holds complete lines: a second Ctrl-C
//! (immediate exit) or a crash leaves it valid line by line, and nothing
//! already measured is lost.
//!
//! Why not a writer thread: waking one per request cost about a quarter of
//! the generator's CPU (measured, BENCHMARKS.md); one syscall is cheaper.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::metrics::RequestRecord;

/// The open `requests.jsonl`.
#[derive(Debug)]
pub struct JsonlWriter {
    file: Mutex<File>,
    lines: AtomicU64,
    /// The first write error, reported by `finish`.
    error: Mutex<Option<std::io::Error>>,
    path: PathBuf,
}

impl JsonlWriter {
    /// Create (truncate) `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: Mutex::new(File::create(path)?),
            lines: AtomicU64::new(0),
            error: Mutex::new(None),
            path: path.to_path_buf(),
        })
    }

    /// Append one request record as a JSON line.
    pub fn write(&self, record: &RequestRecord) {
        let result = with_line_buffer(|line| {
            record.write_jsonl(line);
            self.file
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(line)
        });
        match result {
            Ok(()) => {
                self.lines.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                let mut first = self.error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert(e);
            }
        }
    }

    /// Sync the file and report how many lines were written, or the first error.
    pub fn finish(self) -> std::io::Result<u64> {
        if let Some(e) = self.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(std::io::Error::new(
                e.kind(),
                format!("writing {}: {e}", self.path.display()),
            ));
        }
        self.file
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .sync_data()?;
        Ok(self.lines.into_inner())
    }
}

thread_local! {
    /// Where a line is formatted before its write: one per thread, so a
    /// request costs no allocation (a fresh `Vec` per line, regrown past
    /// its first guess, was ~750 of a tiny request's ~16k instructions).
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's empty line buffer.
fn with_line_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    LINE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            let r = f(&mut line);
            // Keep the buffer warm, but not one giant line's worth of it.
            if line.capacity() > 64 * 1024 {
                *line = Vec::new();
            }
            r
        }
        Err(_) => f(&mut Vec::with_capacity(512)),
    })
}
