//! The result of a run: what the runner writes into `result.json` and
//! every report reads. Reports never look into the plan: what they need of
//! it (protocols, targets, the success bar of a sweep) is a typed field here.
//!
//! Schema (version 1) is documented in `docs/results.md`. Stage statistics
//! carry their serialized HDR histograms, so `report`, `compare` and `merge`
//! can be exact without re-running anything. Fields added since the first
//! version have defaults, so older files still load.

use serde::{Deserialize, Serialize};

pub mod capacity;
pub mod cold;
pub mod merge;
pub mod scale;

use crate::metrics::scraped::TargetMetrics;
use crate::metrics::slo::{SloResult, StageView};
use crate::metrics::stats::{StageStats, StageSummary};
use crate::metrics::timeline::{Timeline, TimelineRow};
use crate::protocol::{Kind, Service};
use crate::workload::Workload;

/// Sweeps: default success rate a level must keep to be "best" (seed 004).
pub const DEFAULT_MIN_SUCCESS: f64 = 0.95;

fn default_min_success() -> f64 {
    DEFAULT_MIN_SUCCESS
}

/// What a run tested: one service, or several scenarios at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Text to speech.
    Tts,
    /// Speech to text.
    Asr,
    /// Voice agents.
    Agent,
    /// Several scenarios in one run (`voxload run` with `[[scenario]]`s).
    Mixed,
}

impl RunKind {
    /// The kind of a run of these services: theirs when they agree.
    pub fn of(services: impl IntoIterator<Item = Service>) -> RunKind {
        let mut it = services.into_iter();
        let first = it.next();
        match first {
            Some(f) if it.all(|s| s == f) => match f {
                Service::Tts => RunKind::Tts,
                Service::Asr => RunKind::Asr,
                Service::Agent => RunKind::Agent,
            },
            _ => RunKind::Mixed,
        }
    }

    /// Stable name: `tts`, `asr`, `agent`, `mixed`.
    pub fn name(&self) -> &'static str {
        match self {
            RunKind::Tts => "tts",
            RunKind::Asr => "asr",
            RunKind::Agent => "agent",
            RunKind::Mixed => "mixed",
        }
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One scenario's per-second windows, histograms included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Windows {
    /// The scenario, in a run of several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Its seconds.
    pub seconds: Timeline,
}

/// One scenario of a run, as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// Its name; `None` in a run of one scenario (outputs then carry no
    /// scenario names, as before scenarios existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its protocol.
    pub kind: Kind,
    /// Where its requests went (secrets redacted).
    pub url: String,
    /// Facts of its configuration as labelled text, in display order
    /// (`model`, `voices`, `texts`, `timeout`, …), secrets redacted.
    #[serde(default)]
    pub facts: Vec<(String, String)>,
}

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
    /// Merged from some of a run's shards: the others were missing.
    Partial,
}

/// Which shard of a sharded run a result is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// This shard, `I/N`.
    pub shard: crate::workload::shard::Shard,
    /// The whole run's seed (the result's `seed` is the shard's own).
    pub run_seed: u64,
    /// The same for every shard of one run: `merge` refuses others.
    pub plan_digest: String,
    /// The shards' common start (RFC 3339), when they had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
}

/// What a merged result was merged from (`voxload merge`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedFrom {
    /// How many shards the run had.
    pub count: u32,
    /// The shards merged, in index order.
    pub shards: Vec<MergedShard>,
    /// Indices of the shards that were not given (the result is partial).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<u32>,
}

/// One shard of a merged result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedShard {
    /// Its index, from 1.
    pub index: u32,
    /// The folder it was read from, as given.
    pub folder: String,
    /// Its own seed.
    pub seed: Option<u64>,
    /// Whether it finished.
    pub status: RunStatus,
    /// Its clock's zero, µs since the Unix epoch.
    pub epoch_us: u64,
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
    /// What was tested.
    pub kind: RunKind,
    /// RFC 3339 UTC start time.
    pub started_at: String,
    /// RFC 3339 UTC time the file was written.
    pub written_at: String,
    /// Whether the run finished.
    pub status: RunStatus,
    /// Unix time of the run clock's zero, µs: `start_us`/`end_us` of records
    /// and timeline seconds count from here, so runs (and shards) line up.
    #[serde(default)]
    pub epoch_us: u64,
    /// Sweeps: the best level keeps at least this success rate.
    #[serde(default = "default_min_success")]
    pub min_success: f64,
    /// Seed of all randomness in the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The scenarios, in plan order.
    #[serde(default)]
    pub scenarios: Vec<ScenarioInfo>,
    /// The plan that ran, secrets redacted (for people; reports read the
    /// typed fields).
    pub config: serde_json::Value,
    /// Where it ran.
    pub environment: Environment,
    /// Definitions that matter to a reader, stated once.
    pub notes: Vec<String>,
    /// The stages, in order.
    pub stages: Vec<StageResult>,
    /// Per-second timeline over the whole run.
    pub timeline: Vec<TimelineRow>,
    /// The same seconds with their histograms, per scenario: what makes
    /// timelines of runs (and shards) add up exactly, second by second
    /// from `epoch_us`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Windows>,
    /// SLO thresholds evaluated per stage (empty when none were given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<SloResult>,
    /// What a capacity search found (`voxload capacity`); its probes are the stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<capacity::CapacityResult>,
    /// What a cold-start test found (`--idle-gap`); its probes are stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_start: Option<cold::ColdStartResult>,
    /// What a scaling test found (`voxload scale`); its runs are the stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<scale::ScaleResult>,
    /// The shard of a sharded run this result is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// The shards this result was merged from (`voxload merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<MergedFrom>,
    /// The target's own metrics (`--scrape`): one entry per scrape URL, in
    /// the order given (a merge of shards keys them by `url`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_metrics: Vec<TargetMetrics>,
    /// Things about the whole run a reader must not miss, each once (a
    /// server that declared a sample rate other than the configured one);
    /// also printed to stderr at the end of the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One scenario's part of a run: its stages and timeline, for reports
/// that show each scenario apart (a one-scenario run is one section).
#[derive(Debug, Clone)]
pub struct Section<'a> {
    /// The scenario's name in a run of several.
    pub name: Option<&'a str>,
    /// Its protocol, when the result says (results before scenarios did not).
    pub kind: Option<Kind>,
    /// Where its requests went, when known.
    pub url: Option<&'a str>,
    /// Its stages, in order.
    pub stages: Vec<&'a StageResult>,
    /// Its per-second timeline.
    pub timeline: Vec<&'a TimelineRow>,
}

impl Section<'_> {
    /// The service it tests: its protocol's, else the run's kind.
    pub fn service(&self, run: RunKind) -> Option<Service> {
        match (self.kind, run) {
            (Some(k), _) => Some(k.service()),
            (None, RunKind::Tts) => Some(Service::Tts),
            (None, RunKind::Asr) => Some(Service::Asr),
            (None, RunKind::Agent) => Some(Service::Agent),
            (None, RunKind::Mixed) => None,
        }
    }

    /// Whether its records are turns of calls (voice agents).
    pub fn is_agent(&self, run: RunKind) -> bool {
        self.service(run) == Some(Service::Agent)
    }

    /// The label of `stage` in tables that list the section's stages: its
    /// label, with its number when another stage has the same (a
    /// scenario at one level in every stage of a sweep).
    pub fn stage_label(&self, stage: &StageResult) -> String {
        let twins = self
            .stages
            .iter()
            .filter(|s| s.label == stage.label)
            .count();
        if twins > 1 {
            format!("{} (stage {})", stage.label, stage.index + 1)
        } else {
            stage.label.clone()
        }
    }

    /// `name ` in a run of several scenarios, else nothing: the prefix of
    /// its labels.
    pub fn prefix(&self) -> String {
        self.name.map(|n| format!("{n} ")).unwrap_or_default()
    }
}

impl RunResult {
    /// The run by scenario, in plan order.
    pub fn sections(&self) -> Vec<Section<'_>> {
        self.scenario_names()
            .into_iter()
            .map(|name| {
                let info = self.scenarios.iter().find(|s| s.name.as_deref() == name);
                Section {
                    name,
                    kind: info.map(|s| s.kind),
                    url: info.map(|s| s.url.as_str()),
                    stages: self
                        .stages
                        .iter()
                        .filter(|s| s.scenario.as_deref() == name)
                        .collect(),
                    timeline: self
                        .timeline
                        .iter()
                        .filter(|r| r.scenario.as_deref() == name)
                        .collect(),
                }
            })
            .collect()
    }

    /// The protocol of the scenario a stage result belongs to, when known.
    pub fn kind_of(&self, stage: &StageResult) -> Option<Kind> {
        self.scenarios
            .iter()
            .find(|s| s.name == stage.scenario)
            .map(|s| s.kind)
    }

    /// Every stage result as SLOs see it.
    pub fn views(&self) -> impl Iterator<Item = StageView<'_>> {
        self.stages.iter().map(|s| s.view(self.kind_of(s)))
    }

    /// Whether the run holds several scenarios (outputs then name them).
    pub fn is_mixed(&self) -> bool {
        self.stages.iter().any(|s| s.scenario.is_some())
    }

    /// The scenario names in plan order (one `None` for a one-scenario run).
    pub fn scenario_names(&self) -> Vec<Option<&str>> {
        let mut names: Vec<Option<&str>> =
            self.scenarios.iter().map(|s| s.name.as_deref()).collect();
        for s in &self.stages {
            if !names.contains(&s.scenario.as_deref()) {
                names.push(s.scenario.as_deref());
            }
        }
        if names.is_empty() {
            names.push(None);
        }
        names
    }
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
    /// The scenario, in a run of several (every output then names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
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
    /// Ways the generator itself limited this stage (see
    /// `metrics::generator`): a run the client throttled never passes
    /// silently.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the stage is past what the target can take (see
    /// [`crate::metrics::saturation`]); absent when it is not, or cannot tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturated: Option<String>,
}

impl StageResult {
    /// This stage as SLOs see it.
    pub fn view(&self, kind: Option<Kind>) -> StageView<'_> {
        StageView {
            index: self.index,
            label: &self.label,
            scenario: self.scenario.as_deref(),
            kind,
            summary: &self.summary,
        }
    }
}
