//! `requests.jsonl`, written as each request completes.
//!
//! A writer thread receives whole lines and writes each batch with one
//! `write_all` on an unbuffered file, so the file only ever holds complete
//! lines: a second Ctrl-C (immediate exit) or a crash leaves it valid line
//! by line, and nothing already measured is lost.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Lines written per batch at most, so one write stays small.
const BATCH_LINES: usize = 512;

/// Handle to the writer thread.
#[derive(Debug)]
pub struct JsonlWriter {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    thread: Option<JoinHandle<std::io::Result<u64>>>,
    path: PathBuf,
}

impl JsonlWriter {
    /// Create (truncate) `path` and start the writer thread.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut file = File::create(path)?;
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let thread = std::thread::Builder::new()
            .name("requests.jsonl".into())
            .spawn(move || -> std::io::Result<u64> {
                let mut lines = 0u64;
                let mut batch = Vec::with_capacity(64 * 1024);
                while let Ok(first) = rx.recv() {
                    batch.clear();
                    batch.extend_from_slice(&first);
                    let mut n = 1;
                    while n < BATCH_LINES {
                        match rx.try_recv() {
                            Ok(line) => {
                                batch.extend_from_slice(&line);
                                n += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    file.write_all(&batch)?;
                    lines += n as u64;
                }
                file.sync_data()?;
                Ok(lines)
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            path: path.to_path_buf(),
        })
    }

    /// Queue one request record as a JSON line.
    pub fn write(&self, record: &crate::metrics::RequestRecord) {
        if let Some(tx) = &self.tx {
            let mut line = Vec::with_capacity(256);
            record.write_jsonl(&mut line);
            // A send fails only if the writer thread died on an I/O error,
            // which `finish` reports.
            let _ = tx.send(line);
        }
    }

    /// Flush everything queued and report how many lines were written.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.tx.take();
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other(format!(
                "writer thread for {} panicked",
                self.path.display()
            ))),
            None => Ok(0),
        }
    }
}

impl Drop for JsonlWriter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
