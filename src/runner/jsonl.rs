//! `requests.jsonl`, written as requests complete.
//!
//! A finished request's line is appended to a pending buffer; the pending
//! lines are written together (one `write` of whole lines, on an unbuffered
//! file) once the oldest of them has waited [`MAX_DELAY`], or they reach
//! [`MAX_PENDING_BYTES`]. That is checked as each line arrives, when a
//! runtime worker is about to go idle ([`flush_due`], installed as the
//! runtime's park hook by the binary), and every [`BACKSTOP`] by the run.
//! Everything pending is written at the end of each stage and of the run,
//! when the writer is dropped, and by [`flush_all`] before the process exits
//! (a second Ctrl-C, or a run that failed or panicked while other tasks
//! still shared the writer).
//!
//! The file therefore only ever holds complete lines, every way voxload
//! exits writes all of them, and a process killed outright (SIGKILL, the OOM
//! killer) loses at most the last [`BACKSTOP`] of finished requests.
//!
//! Why batch: one `write` per request cost ~7 % of the requests a
//! generator core makes per second on tiny responses (BENCHMARKS.md,
//! benchmark 1). Why not a writer thread: waking one per request cost about
//! a quarter of the generator's CPU (measured).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::metrics::RequestRecord;

/// Write pending lines once the oldest has waited this long.
pub const MAX_DELAY: Duration = Duration::from_millis(1);
/// Write pending lines once they reach this size.
pub const MAX_PENDING_BYTES: usize = 16 * 1024;
/// How often a run writes whatever is pending, whatever else happens: the
/// longest a finished request's line waits.
pub const BACKSTOP: Duration = Duration::from_millis(10);

/// The open `requests.jsonl`.
#[derive(Debug)]
pub struct JsonlWriter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// [`MAX_DELAY`], but for tests.
    max_delay: Duration,
    lines: AtomicU64,
    path: PathBuf,
}

#[derive(Debug)]
struct State {
    file: File,
    /// Whole lines not yet written.
    pending: Vec<u8>,
    /// Lines in `pending`.
    pending_lines: u64,
    /// When the first pending line was appended.
    first_at: Instant,
    /// The first write error, reported by `finish`.
    error: Option<std::io::Error>,
}

impl State {
    /// Whether the pending lines must be written now.
    fn due(&self, now: Instant, max_delay: Duration) -> bool {
        !self.pending.is_empty()
            && (self.pending.len() >= MAX_PENDING_BYTES
                || now.saturating_duration_since(self.first_at) >= max_delay)
    }

    /// Write the pending lines; they count as written only once they are.
    fn write_pending(&mut self, lines: &AtomicU64) {
        if self.pending.is_empty() {
            return;
        }
        if self.error.is_some() {
            // A failed write may have left part of a line: appending after
            // it would break the file's every-line-valid promise.
            self.pending.clear();
            self.pending_lines = 0;
            return;
        }
        match self.file.write_all(&self.pending) {
            Ok(()) => {
                lines.fetch_add(self.pending_lines, Ordering::Relaxed);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self.pending.clear();
        self.pending_lines = 0;
        // Keep the buffer warm, but not one giant burst's worth of it.
        if self.pending.capacity() > 4 * MAX_PENDING_BYTES {
            self.pending = Vec::with_capacity(MAX_PENDING_BYTES);
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writers that may hold pending lines, for [`flush_all`].
static OPEN: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());
/// Set when a line is buffered, so an idle worker's check costs one load.
static ANY_PENDING: AtomicBool = AtomicBool::new(false);

/// The writers still open.
fn open_writers() -> Vec<Arc<Shared>> {
    OPEN.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect()
}

/// Write every open writer's pending lines that are due. Cheap when nothing
/// is pending: the binary calls it each time a runtime worker is about to go
/// idle.
pub fn flush_due() {
    // A load first: most idle moments find nothing, and need not write the flag.
    if !ANY_PENDING.load(Ordering::Relaxed) || !ANY_PENDING.swap(false, Ordering::AcqRel) {
        return;
    }
    let now = Instant::now();
    let mut left = false;
    for shared in open_writers() {
        let mut state = shared.lock();
        if state.due(now, shared.max_delay) {
            state.write_pending(&shared.lines);
        }
        left |= !state.pending.is_empty();
    }
    if left {
        ANY_PENDING.store(true, Ordering::Release);
    }
}

/// Write every open writer's pending lines now (before exiting at once).
pub fn flush_all() {
    for shared in open_writers() {
        shared.lock().write_pending(&shared.lines);
    }
}

impl JsonlWriter {
    /// Create (truncate) `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Self::with_max_delay(path, MAX_DELAY)
    }

    fn with_max_delay(path: &Path, max_delay: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                file: File::create(path)?,
                pending: Vec::with_capacity(MAX_PENDING_BYTES),
                pending_lines: 0,
                first_at: Instant::now(),
                error: None,
            }),
            max_delay,
            lines: AtomicU64::new(0),
            path: path.to_path_buf(),
        });
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|w| w.strong_count() > 0);
        open.push(Arc::downgrade(&shared));
        Ok(Self { shared })
    }

    /// Append one request record as a JSON line (see the module doc for when
    /// it reaches the file). The line is formatted straight into the pending
    /// buffer: no allocation and no copy per request.
    pub fn write(&self, record: &RequestRecord) {
        let mut state = self.shared.lock();
        let now = Instant::now();
        if state.pending.is_empty() {
            state.first_at = now;
        }
        record.write_jsonl(&mut state.pending);
        state.pending_lines += 1;
        if state.due(now, self.shared.max_delay) {
            state.write_pending(&self.shared.lines);
        } else if !ANY_PENDING.load(Ordering::Relaxed) {
            ANY_PENDING.store(true, Ordering::Release);
        }
    }

    /// Write the pending lines now.
    pub fn flush(&self) {
        self.shared.lock().write_pending(&self.shared.lines);
    }

    /// Write what is pending, sync the file and report how many lines were
    /// written, or the first error.
    pub fn finish(self) -> std::io::Result<u64> {
        let mut state = self.shared.lock();
        state.write_pending(&self.shared.lines);
        if let Some(e) = state.error.take() {
            return Err(std::io::Error::new(
                e.kind(),
                format!("writing {}: {e}", self.shared.path.display()),
            ));
        }
        state.file.sync_data()?;
        Ok(self.shared.lines.load(Ordering::Relaxed))
    }
}

impl Drop for JsonlWriter {
    /// An error or a panic unwinding the run still writes what was measured.
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
#[path = "jsonl_tests.rs"]
mod tests;
