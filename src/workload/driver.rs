//! The one driver: arrivals → in-flight cap → executor → sink.
//!
//! Open and closed loop differ only in where arrivals come from; both hand
//! each arrival to the same [`Executor`] and report to the same
//! [`StageSink`], so there is one place where requests start and finish.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::backoff::{Outcome, RetryPolicy};
use super::schedule::{nominal_arrivals, Bounded, Constant, Gamma, Schedule};
use super::stage::{StageSpec, Workload};
use super::timer::DeadlineTimer;
use crate::metrics::RequestRecord;
use crate::protocol::ErrorKind;

/// One request to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Stage index within the run.
    pub stage: usize,
    /// Sequence number within the stage, from 0.
    pub seq: u64,
    /// Open loop: the scheduled start. Latency is measured from here, so a
    /// late generator or a queue cannot hide time (no coordinated omission).
    pub intended_at: Option<Instant>,
    /// Excluded from statistics.
    pub warmup: bool,
    /// Closed loop: which user (0-based) makes the request, so an executor
    /// can keep per-user state such as a connection. `None` in open loop.
    pub user: Option<usize>,
}

/// Makes one request and measures it. Implemented by the protocol glue.
pub trait Executor: Send + Sync + 'static {
    /// Execute `arrival` to completion (success or typed failure), never panicking.
    fn execute(&self, arrival: Arrival) -> impl Future<Output = RequestRecord> + Send;
    /// The record of a request abandoned because the run was stopped.
    fn cancelled(&self, arrival: Arrival, started: Instant) -> RequestRecord;
}

/// Receives results as they happen. Must not block for long: it is called
/// from request tasks.
pub trait StageSink: Send + Sync + 'static {
    /// A request finished (or was cancelled).
    fn record(&self, record: RequestRecord);
    /// A record of part of a request that is still running (e.g. one turn
    /// of a conversation): counted in statistics like any record, but the
    /// request itself is not finished.
    fn record_part(&self, record: RequestRecord) {
        self.record(record);
    }
    /// An arrival was dropped because `max_in_flight` requests were running.
    fn dropped(&self, stage: usize, at: Instant);
    /// `arrival` is about to be sent: lets the sink know what was in flight
    /// when each request began (which requests follow an idle period).
    fn started(&self, _arrival: &Arrival) {}
}

/// The stop of a run in steps: `arrivals` ends new requests and lets
/// in-flight ones drain; `abort` cancels those still running; `exit` stops
/// waiting for them at all.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    /// Stop starting new requests.
    pub arrivals: CancellationToken,
    /// Abandon in-flight requests (recorded as [`ErrorKind::Cancelled`]).
    pub abort: CancellationToken,
    /// Stop waiting for anything: write what was measured and return (a
    /// second Ctrl-C). Requests still running are not recorded.
    pub exit: CancellationToken,
}

impl Stop {
    /// The first step from outside the run (the first Ctrl-C, the
    /// dashboard's Stop button): no new arrivals, and requests in flight
    /// abandoned after `grace`. Returns false if arrivals had already stopped.
    pub fn drain(&self, grace: Duration) -> bool {
        if self.arrivals.is_cancelled() {
            return false;
        }
        self.arrivals.cancel();
        let abort = self.abort.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            abort.cancel();
        });
        true
    }
}

/// What happened in a stage, for rate and wall-time statistics.
#[derive(Debug, Clone, Copy)]
pub struct StageOutcome {
    /// When the stage started.
    pub started: Instant,
    /// When the last arrival was issued (or dropped).
    pub arrivals_ended: Instant,
    /// When the last request finished.
    pub finished: Instant,
    /// Requests started.
    pub issued: u64,
    /// Arrivals dropped over the in-flight cap.
    pub dropped: u64,
    /// The stage was cut short by a stop.
    pub interrupted: bool,
}

/// Run one stage to completion. `stage` is its index in the run.
pub async fn run_stage<E: Executor, S: StageSink>(
    stage: usize,
    spec: &StageSpec,
    exec: Arc<E>,
    sink: Arc<S>,
    stop: &Stop,
) -> StageOutcome {
    let started = Instant::now();
    let tracker = TaskTracker::new();
    let ctx = Arc::new(Ctx {
        stage,
        warmup: spec.warmup,
        exec,
        sink,
        stop: stop.clone(),
        tracker: tracker.clone(),
    });
    let (issued, dropped) = match &spec.workload {
        Workload::Open {
            rate,
            burstiness,
            seed,
            max_in_flight,
            raw_arrivals,
            phase,
        } => {
            let schedule: Box<dyn Schedule> = match burstiness {
                Some(b) => {
                    let gamma = Gamma::new(*rate, *b, *seed);
                    match nominal_arrivals(*rate, spec.requests, spec.duration) {
                        Some(n) if !raw_arrivals => Box::new(gamma.rescaled(*rate, n)),
                        _ => Box::new(gamma),
                    }
                }
                None => Box::new(Constant::new(*rate).with_phase(*phase)),
            };
            let schedule = Bounded::new(schedule, spec.requests, spec.duration);
            open_loop(&ctx, schedule, started, *max_in_flight).await
        }
        Workload::Closed {
            spawn_rate,
            think_time,
            retry,
            ..
        } => {
            let users = UserPlan {
                concurrency: spec.active_users().unwrap_or(1),
                spawn_rate: *spawn_rate,
                think_time: *think_time,
                retry: *retry,
                requests: spec.requests,
                deadline: spec.duration.map(|d| started + d),
            };
            closed_loop(ctx, users, started).await
        }
    };
    let arrivals_ended = Instant::now();
    tracker.close();
    tracker.wait().await;
    StageOutcome {
        started,
        arrivals_ended,
        finished: Instant::now(),
        issued,
        dropped,
        interrupted: stop.arrivals.is_cancelled(),
    }
}

/// Everything a request task needs.
struct Ctx<E, S> {
    stage: usize,
    warmup: u64,
    exec: Arc<E>,
    sink: Arc<S>,
    stop: Stop,
    tracker: TaskTracker,
}

impl<E: Executor, S: StageSink> Ctx<E, S> {
    fn arrival(&self, seq: u64, intended_at: Option<Instant>, user: Option<usize>) -> Arrival {
        Arrival {
            stage: self.stage,
            seq,
            intended_at,
            warmup: seq < self.warmup,
            user,
        }
    }

    /// Execute one arrival, racing it against `abort`, and report the
    /// result; returns how it ended, for a closed-loop user's backoff.
    async fn fire(exec: &E, sink: &S, abort: &CancellationToken, arrival: Arrival) -> Outcome {
        let started = arrival.intended_at.unwrap_or_else(Instant::now);
        sink.started(&arrival);
        let record = tokio::select! {
            biased;
            record = exec.execute(arrival) => record,
            () = abort.cancelled() => exec.cancelled(arrival, started),
        };
        let outcome = outcome_of(&record);
        sink.record(record);
        outcome
    }
}

/// Issue arrivals at absolute deadlines `start + offset`.
async fn open_loop<E: Executor, S: StageSink>(
    ctx: &Ctx<E, S>,
    mut schedule: impl Schedule,
    start: Instant,
    max_in_flight: Option<usize>,
) -> (u64, u64) {
    let (mut issued, mut dropped, mut seq) = (0u64, 0u64, 0u64);
    let mut timer = DeadlineTimer::new();
    while let Some(offset) = schedule.next_offset() {
        let at = start + offset;
        if !timer.wait_until(at, &ctx.stop.arrivals).await {
            break;
        }
        // The tracker counts tasks still running; it is our in-flight gauge.
        if max_in_flight.is_some_and(|cap| ctx.tracker.len() >= cap) {
            dropped += 1;
            ctx.sink.dropped(ctx.stage, at);
            continue;
        }
        let arrival = ctx.arrival(seq, Some(at), None);
        seq += 1;
        issued += 1;
        let (exec, sink, abort) = (ctx.exec.clone(), ctx.sink.clone(), ctx.stop.abort.clone());
        ctx.tracker.spawn(async move {
            Ctx::fire(&*exec, &*sink, &abort, arrival).await;
        });
    }
    (issued, dropped)
}

/// What a finished request means for its user's next pause.
fn outcome_of(record: &RequestRecord) -> Outcome {
    match record.error {
        Some(kind) if kind.is_connection_level() => Outcome::Unreachable,
        Some(ErrorKind::Http(429 | 503)) => {
            Outcome::Throttled(record.retry_after_us.map(Duration::from_micros))
        }
        _ => Outcome::Answered,
    }
}

/// How closed-loop users behave.
struct UserPlan {
    concurrency: usize,
    spawn_rate: Option<f64>,
    think_time: Duration,
    retry: RetryPolicy,
    requests: Option<u64>,
    deadline: Option<Instant>,
}

/// Start `concurrency` users (at `spawn_rate` per second, from `start`),
/// each taking the next sequence number until the budget or deadline ends.
async fn closed_loop<E: Executor, S: StageSink>(
    ctx: Arc<Ctx<E, S>>,
    plan: UserPlan,
    start: Instant,
) -> (u64, u64) {
    let next_seq = Arc::new(AtomicU64::new(0));
    let plan = Arc::new(plan);
    let users = TaskTracker::new();
    let mut timer = DeadlineTimer::new();
    for user in 0..plan.concurrency {
        if let Some(rate) = plan.spawn_rate {
            let at = start + Duration::from_secs_f64(user as f64 / rate);
            if !timer.wait_until(at, &ctx.stop.arrivals).await {
                break;
            }
        }
        if plan.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let (ctx, plan, next_seq) = (ctx.clone(), plan.clone(), next_seq.clone());
        // Users are tracked by the stage tracker too, so a drain waits for them.
        let task = user_loop(ctx.clone(), plan, next_seq, user);
        ctx.tracker.spawn(users.track_future(task));
    }
    users.close();
    users.wait().await;
    let issued = next_seq.load(Ordering::Relaxed);
    let issued = plan.requests.map_or(issued, |n| issued.min(n));
    (issued, 0)
}

/// One closed-loop user: request, think (or back off), repeat.
async fn user_loop<E: Executor, S: StageSink>(
    ctx: Arc<Ctx<E, S>>,
    plan: Arc<UserPlan>,
    next_seq: Arc<AtomicU64>,
    user: usize,
) {
    // Seeded by the user, so a run's pauses can be repeated.
    let mut rng = SmallRng::seed_from_u64(user as u64);
    let mut streak = 0;
    loop {
        if ctx.stop.arrivals.is_cancelled() || plan.deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        let seq = next_seq.fetch_add(1, Ordering::Relaxed);
        if plan.requests.is_some_and(|n| seq >= n) {
            return;
        }
        let arrival = ctx.arrival(seq, None, Some(user));
        let outcome = Ctx::fire(&*ctx.exec, &*ctx.sink, &ctx.stop.abort, arrival).await;
        let backoff = plan.retry.pause(outcome, &mut streak, &mut rng);
        let pause = backoff.map_or(plan.think_time, |b| b.max(plan.think_time));
        if !pause.is_zero() {
            // A user's pause, not a schedule: a plain sleep is right. It
            // ends early at the stage's end, so a backoff cannot outlast it.
            let until = tokio::time::Instant::now() + pause;
            let until = plan.deadline.map_or(until, |d| until.min(d.into()));
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = ctx.stop.arrivals.cancelled() => return,
            }
        }
    }
}

/// Build the record of an abandoned request (used by executors).
pub fn cancelled_record(arrival: Arrival, start_us: u64, end_us: u64) -> RequestRecord {
    RequestRecord {
        stage: arrival.stage,
        seq: arrival.seq,
        warmup: arrival.warmup,
        start_us,
        end_us,
        error: Some(ErrorKind::Cancelled),
        error_detail: Some("run stopped before the request finished".into()),
        ..RequestRecord::default()
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
