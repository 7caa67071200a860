//! A scaling test on the one engine (`voxload scale`): at each worker
//! count, the user's scale command, a wait until the target is ready and
//! a settle time, then the same stages or a fresh capacity search — each
//! count's runs are ordinary stages of one result. voxload never scales
//! anything itself: the command is the user's (docker compose, kubectl,
//! systemctl).

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::engine::StageSource;
use crate::protocol::ready::{wait_ready, Readiness};
use crate::protocol::HttpClient;
use crate::result::cold::ReadyRow;
use crate::result::scale::{ScaleResult, ScaleStep};
use crate::result::RunResult;
use crate::workload::StageSpec;

/// How the target is scaled between counts.
#[derive(Debug, Clone)]
pub struct ScaleSpec {
    /// Worker counts, in the order run.
    pub workers: Vec<u32>,
    /// Run with `sh -c`, `{n}` replaced by the count (also `$VOXLOAD_WORKERS`).
    pub command: String,
    /// Polled after the command until it answers 2xx.
    pub ready_url: Option<hyper::Uri>,
    /// The longest wait for it.
    pub ready_timeout: Duration,
    /// Idle time after ready, before the count's first stage.
    pub settle: Duration,
}

/// Makes the stages of one worker count (a fresh source for each).
pub type MakeSource = Box<dyn FnMut() -> Box<dyn StageSource> + Send>;

/// The stages of a scaling test.
pub struct ScaleSource {
    spec: ScaleSpec,
    make: MakeSource,
    inner: Box<dyn StageSource>,
    /// The count being run (index in `spec.workers`).
    step: usize,
    /// The scale command of `step` has not run yet.
    pending: bool,
    /// The inner sources are capacity searches.
    capacity: bool,
    /// Per scenario 0: its headline metric's name.
    metric: String,
    client: HttpClient,
    result: ScaleResult,
}

impl ScaleSource {
    /// A test over `spec`'s counts, each running a source from `make`;
    /// `capacity` when those are capacity searches; `metric` is the
    /// latency shown.
    pub fn new(spec: ScaleSpec, mut make: MakeSource, capacity: bool, metric: String) -> Self {
        let inner = make();
        Self {
            result: ScaleResult {
                rate_of: if capacity { "capacity" } else { "throughput" }.into(),
                metric: metric.clone(),
                steps: Vec::new(),
                error: None,
            },
            spec,
            make,
            inner,
            step: 0,
            pending: true,
            capacity,
            metric,
            client: HttpClient::new(super::CONNECT_TIMEOUT),
        }
    }

    /// The count of the step being run.
    fn workers(&self) -> Option<u32> {
        self.spec.workers.get(self.step).copied()
    }

    /// Scale to the current count, wait until ready, settle.
    async fn scale(&mut self) -> Result<(), String> {
        let Some(n) = self.workers() else {
            return Ok(());
        };
        eprintln!("scale: running the scale command for {n} workers");
        let started = Instant::now();
        run_command(&self.spec.command, n).await?;
        let command_s = started.elapsed().as_secs_f64();
        let ready = match &self.spec.ready_url {
            Some(url) => {
                let never = CancellationToken::new();
                let start = Instant::now();
                let waited = wait_ready(
                    &self.client,
                    url,
                    start,
                    self.spec.ready_timeout,
                    &never,
                    |_, _| {},
                )
                .await;
                if let Readiness::NotReady { waited, last, .. } = &waited {
                    return Err(format!(
                        "the target was not ready {} after scaling to {n} workers (last poll: {last})",
                        humantime::format_duration(Duration::from_secs(waited.as_secs()))
                    ));
                }
                Some(ReadyRow::of(&waited))
            }
            None => None,
        };
        if let Some(r) = ready.as_ref().and_then(|r| r.after_s) {
            eprintln!("scale: {n} workers ready after {r:.2} s");
        }
        self.result.steps.push(ScaleStep {
            workers: n,
            command_s,
            ready,
            stages: Vec::new(),
            rate: None,
            stage: None,
            p50_ms: None,
            p95_ms: None,
            efficiency: None,
            capacity: None,
        });
        if !self.spec.settle.is_zero() {
            tokio::time::sleep(self.spec.settle).await;
        }
        Ok(())
    }

    /// The current step's figures from its stages in `result`.
    fn refresh(&mut self, result: &RunResult) {
        let metric = self.metric.clone();
        let capacity = self.capacity;
        for step in &mut self.result.steps {
            fill(step, result, &metric, capacity);
        }
        self.result.rate_efficiencies();
    }
}

/// A step's rate, its stage, and that stage's latency.
fn fill(step: &mut ScaleStep, result: &RunResult, metric: &str, capacity: bool) {
    // Per stage index: every scenario's throughput, summed.
    let rps = |i: usize| -> f64 {
        result
            .stages
            .iter()
            .filter(|s| s.index == i)
            .map(|s| s.summary.achieved_rps)
            .sum()
    };
    let (rate, stage) = if capacity {
        let c = step.capacity.as_ref();
        let answer = c.and_then(|c| c.answer);
        // The last passing probe at the answer (the confirmation).
        let stage = c.and_then(|c| {
            c.probes
                .iter()
                .rev()
                .find(|p| Some(p.level) == answer && p.passed)
                .map(|p| p.stage)
        });
        (answer, stage)
    } else {
        let best = step
            .stages
            .iter()
            .copied()
            .max_by(|a, b| rps(*a).total_cmp(&rps(*b)));
        (best.map(rps), best)
    };
    step.rate = rate;
    step.stage = stage;
    let at = stage.and_then(|i| result.stages.iter().find(|s| s.index == i));
    let p = at.and_then(|s| s.summary.metrics.get(metric));
    step.p50_ms = p.map(|p| p.p50);
    step.p95_ms = p.map(|p| p.p95);
}

/// Run the user's scale command for `n` workers; its output is shown
/// only when it fails (the last lines of it).
async fn run_command(command: &str, n: u32) -> Result<(), String> {
    let line = command.replace("{n}", &n.to_string());
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&line)
        .env("VOXLOAD_WORKERS", n.to_string())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("the scale command for {n} workers could not start: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = text.lines().rev().take(5).collect();
    for l in tail.iter().rev() {
        eprintln!("scale command: {l}");
    }
    Err(format!(
        "the scale command for {n} workers failed ({})",
        out.status
    ))
}

impl StageSource for ScaleSource {
    fn next(&mut self, index: usize, so_far: &RunResult) -> Option<Vec<StageSpec>> {
        loop {
            let n = self.workers()?;
            if let Some(mut specs) = self.inner.next(index, so_far) {
                for s in &mut specs {
                    s.label = format!("{n} workers {}", s.label);
                }
                return Some(specs);
            }
            // This count is done (a search's outcome, ending included, was
            // taken after its last stage).
            self.step += 1;
            self.workers()?;
            self.inner = (self.make)();
            self.pending = true;
        }
    }

    fn before_stage(&mut self, index: usize) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.pending {
                self.pending = false;
                if let Err(e) = self.scale().await {
                    self.result.error = Some(e.clone());
                    return Err(e);
                }
            }
            self.inner.before_stage(index).await
        })
    }

    fn after_stage(&mut self, index: usize, result: &mut RunResult) {
        self.inner.after_stage(index, result);
        if let Some(step) = self.result.steps.last_mut() {
            step.stages.push(index);
            if let Some(c) = result.capacity.take() {
                step.capacity = Some(c);
            }
        }
        self.refresh(result);
        result.scale = Some(self.result.clone());
    }

    fn finish(&mut self, result: &mut RunResult) {
        // The count that was running when the run ended.
        if self.step < self.spec.workers.len() && !self.pending {
            self.inner.finish(result);
        }
        if let (Some(step), Some(c)) = (self.result.steps.last_mut(), result.capacity.take()) {
            step.capacity = Some(c);
        }
        // Each count's search is in its step, not at the top.
        result.capacity = None;
        self.refresh(result);
        result.scale = Some(self.result.clone());
    }
}
