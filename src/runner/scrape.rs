//! The target's own metrics during a run (`--scrape`): one task per URL
//! scrapes on an absolute grid from the run's start — scrape *k* is due at
//! `run_start + k × every`, so a slow scrape (bounded below the period)
//! never shifts the next, the driver's rule for arrivals. Failures are
//! warned about once per kind and counted; they never end the run.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::scrape::ScrapePlan;
use crate::metrics::scraped::{Recorder, SeriesChoice, TargetMetrics};
use crate::protocol::scrape::{scrape, ScrapeTarget};
use crate::protocol::target::redact_url;
use crate::protocol::HttpClient;

/// The scrapes of a run: started with its clock, read after each stage,
/// stopped when its stages are over (or when dropped).
#[derive(Default)]
pub struct Scrapes {
    recorders: Vec<Arc<Mutex<Recorder>>>,
    tasks: Vec<JoinHandle<()>>,
    done: CancellationToken,
}

impl Scrapes {
    /// Start scraping every URL of `plan` (none without a plan) on the
    /// grid from `run_start`. Needs a tokio runtime.
    pub fn start(plan: Option<&ScrapePlan>, run_start: Instant) -> Self {
        let mut scrapes = Scrapes::default();
        let Some(plan) = plan else {
            return scrapes;
        };
        let client = HttpClient::new(plan.timeout());
        for url in &plan.urls {
            // Validated with the plan; a URL that no longer parses is skipped.
            let Ok(target) = ScrapeTarget::new(url) else {
                continue;
            };
            let shown = redact_url(url).into_owned();
            let rec = Arc::new(Mutex::new(Recorder::new(
                shown.clone(),
                plan.every.as_secs_f64(),
                plan.series.clone(),
            )));
            let job = Job {
                target,
                shown,
                every: plan.every,
                timeout: plan.timeout(),
                client: client.clone(),
                run_start,
                rec: rec.clone(),
                default_series: matches!(&plan.series, SeriesChoice::Names(n) if *n == default_names()),
            };
            scrapes
                .tasks
                .push(tokio::spawn(job.run(scrapes.done.clone())));
            scrapes.recorders.push(rec);
        }
        scrapes
    }

    /// What every URL gave so far, in plan order.
    pub fn snapshot(&self) -> Vec<TargetMetrics> {
        self.recorders
            .iter()
            .map(|r| lock(r).result().clone())
            .collect()
    }

    /// Stop scraping (a scrape under way is dropped, not counted) and
    /// return what every URL gave.
    pub async fn finish(&mut self) -> Vec<TargetMetrics> {
        self.done.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        self.snapshot()
    }
}

impl Drop for Scrapes {
    fn drop(&mut self) {
        self.done.cancel();
    }
}

fn default_names() -> Vec<String> {
    match SeriesChoice::default_names() {
        SeriesChoice::Names(n) => n,
        SeriesChoice::All => Vec::new(),
    }
}

fn lock(r: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// One URL's scraping.
struct Job {
    target: ScrapeTarget,
    /// The URL as it may be shown (credentials redacted).
    shown: String,
    every: Duration,
    timeout: Duration,
    client: HttpClient,
    run_start: Instant,
    rec: Arc<Mutex<Recorder>>,
    /// Series are the defaults (a scrape that keeps none gets a note).
    default_series: bool,
}

impl Job {
    async fn run(self, done: CancellationToken) {
        let mut warned = BTreeSet::new();
        let mut noted = false;
        let mut k: u64 = 0;
        loop {
            let due = self.run_start
                + self
                    .every
                    .saturating_mul(u32::try_from(k).unwrap_or(u32::MAX));
            tokio::select! {
                () = tokio::time::sleep_until(due.into()) => {}
                () = done.cancelled() => return,
            }
            let sent = Instant::now();
            let t = sent.saturating_duration_since(self.run_start).as_micros() as f64 / 1e6;
            let answer = tokio::select! {
                a = scrape(&self.client, &self.target, self.timeout) => a,
                () = done.cancelled() => return,
            };
            match answer {
                Ok(e) => {
                    let kept = lock(&self.rec).record(t, &e);
                    if kept == 0 && !noted {
                        noted = true;
                        let hint = match self.default_series {
                            true => "none of the default series is there",
                            false => "none of the --scrape-series names is there",
                        };
                        eprintln!(
                            "note: {} answers {} samples, but {hint}: name some with --scrape-series, or --scrape-series all",
                            self.shown,
                            e.samples.len()
                        );
                    }
                }
                Err(f) => {
                    lock(&self.rec).fail(f.kind);
                    if warned.insert(f.kind) {
                        eprintln!(
                            "warning: scrape of {} failed ({f}); the run goes on, and every {} failure is counted in result.json",
                            self.shown,
                            f.kind.name()
                        );
                    }
                }
            }
            // The next due scrape; ones whose successor is due already
            // (the process stalled a whole period) are skipped, and counted.
            let now = self.run_start.elapsed().as_secs_f64();
            let behind = (now / self.every.as_secs_f64()).floor() as u64;
            let next = (k + 1).max(behind);
            if next > k + 1 {
                lock(&self.rec).miss(next - k - 1);
            }
            k = next;
        }
    }
}
