//! The judges' bookkeeping in a run: judge requests pending per stage and
//! scenario, the stages whose wait for them is over, and `judge.jsonl`.
//!
//! A stage's figures are read once its wait ends ([`JudgeBook::settle`]),
//! so from then on its answers only go to `judge.jsonl` (marked `late`),
//! and what was still pending is counted as unfinished. The figures are
//! updated under the book's lock (through the callers' closures), so an
//! answer is either in the stage's figures or counted unfinished, never
//! both or neither. Lock order: the book, then the sink's aggregate.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::metrics::judge::JudgeRecord;

/// See the module doc.
#[derive(Debug, Default)]
pub struct JudgeBook {
    state: Mutex<State>,
    /// Signalled whenever a pending count falls.
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Judge requests queued or running, per (stage, scenario).
    pending: BTreeMap<(usize, usize), u64>,
    /// Stages whose wait is over: their figures are final.
    settled: BTreeSet<usize>,
    /// The longest wait of the run's judges; `None`: the run has none.
    wait: Option<Duration>,
    /// `judge.jsonl`, opened when the first judge is enabled.
    log: Option<(PathBuf, std::fs::File)>,
    /// A write to it failed (reported once).
    log_failed: bool,
}

impl JudgeBook {
    /// A judge takes part in the run: stage ends wait up to `wait` for it,
    /// and its answers go to `path` (created on the first call).
    pub fn enable(&self, path: &Path, wait: Duration) -> std::io::Result<()> {
        let mut st = self.lock();
        if st.log.is_none() {
            st.log = Some((path.to_path_buf(), std::fs::File::create(path)?));
        }
        st.wait = Some(st.wait.map_or(wait, |w| w.max(wait)));
        Ok(())
    }

    /// A sample of `stage` of `scenario` was queued.
    pub fn queued(&self, stage: usize, scenario: usize) {
        *self.lock().pending.entry((stage, scenario)).or_default() += 1;
    }

    /// A queued sample did not fit; `count` runs (under the lock) unless
    /// the stage is settled.
    pub fn skipped(&self, stage: usize, scenario: usize, count: impl FnOnce()) {
        let mut st = self.lock();
        st.done(stage, scenario);
        if !st.settled.contains(&stage) {
            count();
        }
        drop(st);
        self.changed.notify_waiters();
    }

    /// The judge answered for `scenario`: the line goes to `judge.jsonl`
    /// (marked late if its stage is settled), and `count` runs (under the
    /// lock) unless it is.
    pub fn answered(
        &self,
        scenario: usize,
        mut record: JudgeRecord,
        count: impl FnOnce(&JudgeRecord),
    ) {
        let mut st = self.lock();
        let stage = record.stage;
        record.late = st.settled.contains(&stage);
        if !record.late {
            st.done(stage, scenario);
            count(&record);
        }
        st.write(&record);
        drop(st);
        self.changed.notify_waiters();
    }

    /// Wait (up to the longest enabled wait, or until `cut` completes)
    /// until `stage` has no pending judge request, then settle it:
    /// `unfinished(scenario, n)` runs for what is still pending, under the
    /// lock. Returns at once when the run has no judge.
    pub async fn settle(
        &self,
        stage: usize,
        cut: impl std::future::Future<Output = ()>,
        mut unfinished: impl FnMut(usize, u64),
    ) {
        let Some(wait) = self.lock().wait else {
            return;
        };
        let deadline = tokio::time::Instant::now() + wait;
        tokio::pin!(cut);
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so no signal is missed between.
            changed.as_mut().enable();
            if self.pending_in(stage) == 0 {
                break;
            }
            tokio::select! {
                r = tokio::time::timeout_at(deadline, changed) => {
                    if r.is_err() {
                        break;
                    }
                }
                () = &mut cut => break,
            }
        }
        let mut st = self.lock();
        st.settled.insert(stage);
        let left: Vec<(usize, u64)> = st
            .pending
            .iter()
            .filter(|((s, _), n)| *s == stage && **n > 0)
            .map(|((_, scenario), n)| (*scenario, *n))
            .collect();
        for &(scenario, n) in &left {
            unfinished(scenario, n);
        }
        st.pending.retain(|(s, _), _| *s != stage);
    }

    /// Judge requests of `stage` queued or running.
    pub fn pending_in(&self, stage: usize) -> u64 {
        let st = self.lock();
        st.pending
            .range((stage, 0)..=(stage, usize::MAX))
            .map(|(_, n)| n)
            .sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock still holds valid counts.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn done(&mut self, stage: usize, scenario: usize) {
        if let Some(n) = self.pending.get_mut(&(stage, scenario)) {
            *n = n.saturating_sub(1);
        }
    }

    /// Append one line: one `write` of a whole line, so the file only ever
    /// holds complete lines (judge answers are few: no batching needed).
    fn write(&mut self, record: &JudgeRecord) {
        let Some((path, file)) = self.log.as_mut() else {
            return;
        };
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(_) => return,
        };
        line.push(b'\n');
        if let Err(e) = file.write_all(&line) {
            if !self.log_failed {
                self.log_failed = true;
                eprintln!("warning: {} may be incomplete: {e}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(stage: usize) -> JudgeRecord {
        JudgeRecord {
            stage,
            word_errors: Some(1),
            ref_words: Some(4),
            ..JudgeRecord::default()
        }
    }

    #[tokio::test]
    async fn a_stage_waits_for_its_answers_and_later_ones_are_late() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("judge.jsonl");
        let book = std::sync::Arc::new(JudgeBook::default());
        // No judge: settling returns at once.
        book.settle(0, std::future::pending(), |_, _| panic!("nothing pending"))
            .await;
        book.enable(&path, Duration::from_millis(200))
            .expect("open");
        book.queued(1, 0);
        book.queued(1, 0);
        let answering = {
            let book = book.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                book.answered(0, answer(1), |_| {});
            })
        };
        let mut left = Vec::new();
        book.settle(1, std::future::pending(), |s, n| left.push((s, n)))
            .await;
        answering.await.expect("task");
        // One answered within the wait, one never: unfinished.
        assert_eq!(left, vec![(0, 1)]);
        let mut counted = false;
        book.answered(0, answer(1), |_| counted = true);
        assert!(!counted, "a late answer is not in the stage's figures");
        // Cut short (Ctrl-C after the grace, SIGTERM): settled at once.
        book.queued(2, 0);
        let mut left = Vec::new();
        book.settle(2, async {}, |s, n| left.push((s, n))).await;
        assert_eq!(left, vec![(0, 1)]);
        let text = std::fs::read_to_string(&path).expect("log");
        let lines: Vec<JudgeRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].late, lines[1].late), (false, true));
    }
}
