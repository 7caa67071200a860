//! What the live views of a running run show: [`LiveSnapshot`], which is
//! also the JSON of the dashboard's `GET /api/live` (docs/live.md). Views
//! (the terminal's, [`super::live_table`]; the dashboard, [`super::web`])
//! poll a [`LiveSource`] on a timer and never block the engine.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::protocol::Kind;
use crate::result::RunStatus;

/// Version of the JSON shape of [`LiveSnapshot`]: a field renamed or
/// removed raises it; fields are only added within a version.
pub const LIVE_VERSION: u32 = 1;

/// Where the run is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Requests are being sent.
    #[default]
    Running,
    /// Stopped from outside (Ctrl-C, the Stop button): no new requests,
    /// those in flight finishing within `--grace`.
    Stopping,
    /// No request runs any more; `status` and `results` appear once the
    /// result files are written.
    Finished,
}

/// What the live views show of a run now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveSnapshot {
    /// [`LIVE_VERSION`].
    pub version: u32,
    /// The run's name.
    pub run: String,
    /// Running, stopping, finished.
    pub state: RunState,
    /// Once finished: complete or interrupted, as `result.json` says.
    pub status: Option<RunStatus>,
    /// Once finished: the results folder.
    pub results: Option<String>,
    /// Seconds on the run clock (the timeline's).
    pub elapsed_s: f64,
    /// The stage running (the last one, once finished).
    pub stage: Option<LiveStage>,
    /// The target has not answered since this run-clock second (connection
    /// failures in a row; see `metrics::outage`).
    pub down_since_s: Option<f64>,
    /// The generator's CPU over the last second, as a share of its cores.
    pub generator_cpu: Option<f64>,
    /// The run has several scenarios (each then has its own name).
    pub mixed: bool,
    /// Every scenario, in plan order.
    pub scenarios: Vec<ScenarioLive>,
}

/// The stage running.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveStage {
    /// Its index in the run, from 0.
    pub index: usize,
    /// Its label (`rate=10`, `c=4`), or `stage N` when scenarios differ.
    pub label: String,
    /// Seconds since it began.
    pub elapsed_s: f64,
    /// A timed stage: its length, s.
    pub duration_s: Option<f64>,
    /// A timed stage: seconds left.
    pub left_s: Option<f64>,
    /// A counted stage: its requests (every scenario's).
    pub requests: Option<u64>,
    /// Requests (conversations) finished in this stage, warm-up included.
    pub done: u64,
}

/// One scenario now.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioLive {
    /// Its name (its service's in a run of one).
    pub name: String,
    /// Its protocol.
    pub kind: Kind,
    /// Its headline latency's registry name (`ttfa`, `agent_first_audio`, `e2e`).
    pub metric: String,
    /// How the views call it (`ttfa`, `first audio`, `e2e`).
    pub metric_label: String,
    /// What a record is: `request`, or `turn` for voice agents (whose
    /// achieved rate counts turns, as the summary does).
    pub unit: &'static str,
    /// This stage's records (warm-up excluded), as its result counts them.
    pub requests: u64,
    /// Of which succeeded.
    pub ok: u64,
    /// Of which failed.
    pub failed: u64,
    /// This stage's arrivals dropped at the in-flight cap.
    pub dropped: u64,
    /// This stage's warm-up records.
    pub warmup: u64,
    /// Requests (conversations) sent and not finished.
    pub in_flight: u64,
    /// Arrivals per second (sent or dropped, warm-up included), over the
    /// last `window_s` whole seconds of the stage; `None` before the first.
    pub offered_rps: Option<f64>,
    /// Records finished per second over the same seconds (the timeline's
    /// `completed`).
    pub achieved_rps: Option<f64>,
    /// Whole seconds the rates cover (up to 10).
    pub window_s: u64,
    /// p50 of the headline latency over the stage's last 10 seconds, ms (±1 %).
    pub p50_ms: Option<f64>,
    /// p95 of the same, ms.
    pub p95_ms: Option<f64>,
    /// This stage's failures by class, most first.
    pub errors: Vec<ErrorCount>,
    /// Per whole second of the run (the last 15 minutes at most), the
    /// seconds asked for (`?since=`).
    pub seconds: Vec<LiveSecond>,
}

/// Failures of one class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorCount {
    /// The class, as `result.json` names it (`http_503`, `timeout`, …).
    pub class: String,
    /// How many.
    pub count: u64,
}

/// One whole second of the run clock for one scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LiveSecond {
    /// The second: it covers `[second, second + 1)` on the run clock.
    pub second: u64,
    /// The stage running at its end.
    pub stage: usize,
    /// Arrivals whose time origin is in it (the scheduled start in open
    /// loop, as the timeline's `started`), sent or dropped, warm-up included.
    pub offered: u64,
    /// Records that ended in it (warm-up excluded): the timeline's `completed`.
    pub achieved: u64,
    /// Failures recorded in it (warm-up excluded).
    pub failed: u64,
    /// Arrivals dropped in it.
    pub dropped: u64,
    /// The failures by class (only classes that occurred).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, u64>,
    /// p50 of the headline latency of the successful records that ended in
    /// it, ms (±1 %).
    pub p50_ms: Option<f64>,
    /// p95 of the same, ms.
    pub p95_ms: Option<f64>,
}

/// Something the live views can poll.
pub trait LiveSource: Send + Sync {
    /// The run now; per-second rows from run-clock second `seconds_from`
    /// on (`None`: no rows, for views that show none).
    fn snapshot(&self, seconds_from: Option<u64>) -> LiveSnapshot;
}

/// How a stage ends, for its progress.
#[derive(Debug, Clone, Copy)]
pub enum StageBound {
    /// A count of requests.
    Requests(u64),
    /// A length of time.
    Duration(Duration),
}
