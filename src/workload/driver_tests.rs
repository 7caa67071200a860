//! The driver with a fake executor: counts, caps, drops, warm-up and stops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::workload::stage::{StageSpec, Workload};

/// Sleeps `work` per request and records what it saw.
struct Fake {
    work: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    starts: Mutex<Vec<(u64, Instant)>>,
}

impl Fake {
    fn new(work: Duration) -> Arc<Self> {
        Arc::new(Self {
            work,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            starts: Mutex::new(Vec::new()),
        })
    }
}

impl Executor for Fake {
    async fn execute(&self, a: Arrival) -> RequestRecord {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.starts
            .lock()
            .expect("lock")
            .push((a.seq, Instant::now()));
        tokio::time::sleep(self.work).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        RequestRecord {
            stage: a.stage,
            seq: a.seq,
            warmup: a.warmup,
            ..RequestRecord::default()
        }
    }

    fn cancelled(&self, a: Arrival, _started: Instant) -> RequestRecord {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        cancelled_record(a, 0, 0)
    }
}

#[derive(Default)]
struct Collect {
    records: Mutex<Vec<RequestRecord>>,
    dropped: AtomicUsize,
}

impl StageSink for Collect {
    fn record(&self, record: RequestRecord) {
        self.records.lock().expect("lock").push(record);
    }
    fn dropped(&self, _stage: usize, _at: Instant) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

fn closed(concurrency: usize, requests: u64) -> StageSpec {
    StageSpec {
        label: "t".into(),
        workload: Workload::Closed {
            concurrency,
            spawn_rate: None,
            think_time: Duration::ZERO,
            retry: crate::workload::RetryPolicy::off(),
        },
        requests: Some(requests),
        duration: None,
        warmup: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_runs_every_request_once_at_its_concurrency() {
    let exec = Fake::new(Duration::from_millis(5));
    let sink = Arc::new(Collect::default());
    let mut spec = closed(3, 30);
    spec.warmup = 4;
    let out = run_stage(0, &spec, exec.clone(), sink.clone(), &Stop::default()).await;
    let records = sink.records.lock().expect("lock");
    let mut seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..30).collect::<Vec<_>>());
    assert_eq!(out.issued, 30);
    assert_eq!(exec.max_in_flight.load(Ordering::SeqCst), 3);
    let warm: Vec<u64> = records.iter().filter(|r| r.warmup).map(|r| r.seq).collect();
    assert_eq!(warm.len(), 4, "the first 4 are warm-up");
    assert!(warm.iter().all(|s| *s < 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_rate_starts_users_on_schedule() {
    // 4 users at 20/s: user k starts at k × 50 ms.
    let exec = Fake::new(Duration::from_millis(400));
    let sink = Arc::new(Collect::default());
    let mut spec = closed(4, 4);
    spec.workload = Workload::Closed {
        concurrency: 4,
        spawn_rate: Some(20.0),
        think_time: Duration::ZERO,
        retry: crate::workload::RetryPolicy::off(),
    };
    let t0 = Instant::now();
    run_stage(0, &spec, exec.clone(), sink, &Stop::default()).await;
    let mut starts: Vec<Duration> = exec
        .starts
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, at)| at.duration_since(t0))
        .collect();
    starts.sort();
    for (k, at) in starts.iter().enumerate() {
        let want = Duration::from_millis(50 * k as u64);
        assert!(
            *at >= want && *at < want + Duration::from_millis(150),
            "user {k} at {at:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_drops_arrivals_over_the_cap_and_never_delays_them() {
    // 100/s for 0.5 s = 50 arrivals; each takes 100 ms, cap 2 ⇒ most are dropped.
    let exec = Fake::new(Duration::from_millis(100));
    let sink = Arc::new(Collect::default());
    let spec = StageSpec {
        label: "t".into(),
        workload: Workload::Open {
            rate: 100.0,
            burstiness: None,
            seed: 1,
            max_in_flight: Some(2),
            raw_arrivals: false,
            phase: 0.0,
        },
        requests: None,
        duration: Some(Duration::from_millis(500)),
        warmup: 0,
    };
    let t0 = Instant::now();
    let out = run_stage(0, &spec, exec.clone(), sink.clone(), &Stop::default()).await;
    assert_eq!(out.issued + out.dropped, 50);
    assert_eq!(out.dropped as usize, sink.dropped.load(Ordering::SeqCst));
    assert!(out.dropped >= 35, "dropped {}", out.dropped);
    assert!(exec.max_in_flight.load(Ordering::SeqCst) <= 2);
    // Arrivals were not delayed: the last arrival's window ended on time.
    let window = out.arrivals_ended.duration_since(t0);
    assert!(
        window < Duration::from_millis(700),
        "arrivals ended at {window:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_arrivals_and_abort_cancels_in_flight() {
    let exec = Fake::new(Duration::from_secs(30));
    let sink = Arc::new(Collect::default());
    let stop = Stop::default();
    let spec = closed(5, 1_000);
    let s2 = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        s2.arrivals.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;
        s2.abort.cancel();
    });
    let t0 = Instant::now();
    let out = run_stage(0, &spec, exec, sink.clone(), &stop).await;
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(out.interrupted);
    let records = sink.records.lock().expect("lock");
    assert_eq!(records.len(), 5, "the five in flight are recorded");
    assert!(records
        .iter()
        .all(|r| r.error == Some(ErrorKind::Cancelled)));
}

/// `-c 10000000 -n 4` used to start ten million users for four requests
/// (31 s and 1.5 GB to exit): only users that can have work start now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_beyond_the_request_count_are_never_started() {
    let exec = Fake::new(Duration::from_millis(20));
    let sink = Arc::new(Collect::default());
    let spec = closed(10_000_000, 4);
    assert_eq!(spec.active_users(), Some(4));
    let out = run_stage(0, &spec, exec.clone(), sink.clone(), &Stop::default()).await;
    assert_eq!(out.issued, 4);
    assert_eq!(sink.records.lock().expect("lock").len(), 4);
    assert_eq!(exec.max_in_flight.load(Ordering::SeqCst), 4);
}

/// A user backs off after connection failures: its attempts are spaced by
/// at least half of each doubling pause (the schedule it follows), and
/// every attempt is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_backs_off_after_connection_failures_and_resets_on_an_answer() {
    /// Refuses the first 4 attempts, then answers.
    struct Refusing(Mutex<Vec<Instant>>);
    impl Executor for Refusing {
        async fn execute(&self, a: Arrival) -> RequestRecord {
            let mut starts = self.0.lock().expect("lock");
            starts.push(Instant::now());
            let error = (starts.len() <= 4).then_some(ErrorKind::Connect);
            RequestRecord {
                seq: a.seq,
                error,
                ..RequestRecord::default()
            }
        }
        fn cancelled(&self, a: Arrival, _started: Instant) -> RequestRecord {
            cancelled_record(a, 0, 0)
        }
    }
    let exec = Arc::new(Refusing(Mutex::new(Vec::new())));
    let sink = Arc::new(Collect::default());
    let mut spec = closed(1, 6);
    let base = Duration::from_millis(40);
    spec.workload = Workload::Closed {
        concurrency: 1,
        spawn_rate: None,
        think_time: Duration::ZERO,
        retry: crate::workload::RetryPolicy {
            backoff: Some(crate::workload::Backoff {
                base,
                cap: Duration::from_millis(100),
            }),
            honor_retry_after: false,
        },
    };
    run_stage(0, &spec, exec.clone(), sink.clone(), &Stop::default()).await;
    assert_eq!(
        sink.records.lock().expect("lock").len(),
        6,
        "every attempt recorded"
    );
    let starts = exec.0.lock().expect("lock");
    // Ceilings 40, 80, 100 (cap), 100 ms after failures 1–4; a pause is at
    // least half its ceiling, and a sleep never ends early.
    for (i, min_gap_ms) in [20, 40, 50, 50].into_iter().enumerate() {
        let gap = starts[i + 1] - starts[i];
        assert!(
            gap >= Duration::from_millis(min_gap_ms),
            "pause {}: {gap:?}",
            i + 1
        );
    }
    assert_eq!(starts.len(), 6);
}
