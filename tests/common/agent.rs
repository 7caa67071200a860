//! Voice-agent runs for the agent tests (WebSocket and WebRTC): options as
//! `voxload agent`'s flags set them, a run into a temp folder, and the
//! figures in milliseconds.

use std::path::Path;
use std::time::Duration;

use voxload::config::agent::{AgentOptions, ScriptOptions};
use voxload::config::{CommonOptions, ProtocolOptions, RunOptions, RunPlan, WorkloadOptions};
use voxload::metrics::RequestRecord;
use voxload::mock::{AgentModel, MockModel};
use voxload::result::RunResult;

use super::timing::LATE;

/// A script of short utterances in the mock's test voice (15 characters
/// per second).
pub fn script(name: &str, texts: &[&str]) -> ScriptOptions {
    ScriptOptions {
        name: name.into(),
        texts: Some(texts.iter().map(|t| t.to_string()).collect()),
        ..ScriptOptions::default()
    }
}

/// An agent run's options, as the flags of `voxload agent` set them.
#[derive(Clone)]
pub struct Opts {
    pub agent: AgentOptions,
    pub run: WorkloadOptions,
    pub common: CommonOptions,
}

impl Opts {
    /// `calls` calls of `agent` at `concurrency`, results under `dir`.
    pub fn new(agent: AgentOptions, dir: &Path, calls: u64, concurrency: &str) -> Self {
        Self {
            agent,
            run: WorkloadOptions {
                concurrency: concurrency.parse().ok(),
                requests: Some(calls),
                ..WorkloadOptions::default()
            },
            common: CommonOptions {
                name: Some("agent".into()),
                out: Some(dir.join("results")),
                ..CommonOptions::default()
            },
        }
    }

    /// The options as one stage.
    pub fn options(self) -> RunOptions {
        RunOptions::single(self.common, self.run, ProtocolOptions::Agent(self.agent))
    }

    pub fn plan(self) -> RunPlan {
        RunPlan::build(self.options(), &|_| None).expect("valid plan")
    }
}

/// Run `o`; its result and records, its folder removed.
pub async fn run(o: Opts) -> (RunResult, Vec<RequestRecord>) {
    let (result, out) = super::run_plan(o.plan(), Default::default()).await;
    assert!(out.join("result.json").exists() && out.join("summary.txt").exists());
    let records = super::read_records(&out.join("requests.jsonl"));
    std::fs::remove_dir_all(&out).expect("clean");
    (result, records)
}

/// The mock with `agent`, its faults drawn from `seed`.
pub fn seeded(agent: AgentModel, seed: u64) -> MockModel {
    MockModel {
        agent: AgentModel {
            seed: Some(seed),
            ..agent
        },
        ..MockModel::default()
    }
}

/// A figure in µs, in ms (it must be there).
pub fn ms(us: Option<u64>) -> f64 {
    us.expect("metric present") as f64 / 1e3
}

/// `LATE` in milliseconds, for figures in milliseconds.
pub fn late_ms() -> f64 {
    LATE.as_secs_f64() * 1e3
}

/// Slack between voxload's figure and the agent's own record of the same
/// turn, in ms. Both stamp datagram reads on one monotonic clock, so only
/// loopback and the readers' scheduling differ (measured against the mock:
/// 0.1–0.5 ms, idle or with both cores busy): 8 ms still tells a shift of one
/// 20 ms packet from noise, which `LATE` (50 ms, for instants against a
/// schedule on a busy machine) would not.
pub const PAIRED_MS: f64 = 8.0;

/// One 20 ms frame of caller audio (a WebSocket frame, an Opus packet).
pub const FRAME: Duration = Duration::from_millis(20);
