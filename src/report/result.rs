//! `result.json`: the versioned record of a run that every report reads.
//!
//! Schema (version 1) is documented in `docs/results.md`. Stage statistics
//! carry their serialized HDR histograms, so `report`, `compare` and `merge`
//! can be exact without re-running anything.

use serde::{Deserialize, Serialize};

use crate::metrics::stats::{StageStats, StageSummary};
use crate::metrics::timeline::TimelineRow;
use crate::workload::Workload;

/// Identifies the file format.
pub const SCHEMA: &str = "voxload.result";
/// Bumped on any incompatible change of the fields below.
pub const SCHEMA_VERSION: u32 = 1;

/// Whether the run finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running: the file holds the stages finished so far.
    InProgress,
    /// Every stage ran to its end.
    Complete,
    /// Stopped early (Ctrl-C); stages hold what was measured.
    Interrupted,
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// voxload version that wrote it.
    pub voxload_version: String,
    /// Run name.
    pub name: String,
    /// What was tested (`tts`).
    pub kind: String,
    /// RFC 3339 UTC start time.
    pub started_at: String,
    /// RFC 3339 UTC time the file was written.
    pub written_at: String,
    /// Whether the run finished.
    pub status: RunStatus,
    /// The plan that ran, secrets redacted.
    pub config: serde_json::Value,
    /// Where it ran.
    pub environment: Environment,
    /// Definitions that matter to a reader, stated once.
    pub notes: Vec<String>,
    /// The stages, in order.
    pub stages: Vec<StageResult>,
    /// Per-second timeline over the whole run.
    pub timeline: Vec<TimelineRow>,
    /// SLO thresholds evaluated per stage (empty when none were given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<crate::metrics::slo::SloResult>,
}

/// The machine a run came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Logical CPUs available to the generator.
    pub cpus: usize,
}

impl Environment {
    /// The current machine.
    pub fn current() -> Self {
        Self {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// One stage's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageResult {
    /// Stage index.
    pub index: usize,
    /// Human label (`rate=5/s`, `c=8`).
    pub label: String,
    /// The workload that ran.
    pub workload: Workload,
    /// Requests started.
    pub issued: u64,
    /// Open loop: arrivals per second actually offered (issued + dropped,
    /// over the time from the first to the last arrival).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_rps: Option<f64>,
    /// Stage start to last completion, seconds.
    pub wall_s: f64,
    /// The stage was cut short.
    pub interrupted: bool,
    /// Every statistic, computed from `stats`.
    pub summary: StageSummary,
    /// Counters and serialized histograms.
    pub stats: StageStats,
}
