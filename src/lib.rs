//! voxload: a load generator and benchmark for speech AI services.
//!
//! It drives TTS over HTTP, ASR over HTTP and WebSocket and voice agents
//! over WebSocket and WebRTC — alone or several at once in one run — with closed- and
//! open-loop workloads, measures speech-aware metrics with exact
//! definitions (TTFA, RTF, playback stalls, WER, first audio after the end
//! of speech, barge-in) without coordinated omission, and writes results
//! people read and CI gates on.
//!
//! # Layout
//!
//! Each concept lives in the folder named after it; imports point down this
//! list (checked by `tests/layering.rs`):
//!
//! - [`units`] — durations as text and µs: shared by every layer.
//! - [`audio`] — decoding response streams, durations, silence, the test voice.
//! - [`input`] — text samples and audio inputs, loaded and checked before a run.
//! - [`rtc`] — a WebRTC peer (str0m) on one UDP socket, driven on
//!   voxload's clock: the transport under WebRTC calls, and the mock's
//!   WebRTC agent.
//! - [`protocol`] — *what* is sent: the [`protocol::Target`] and
//!   [`protocol::Adapter`] enums, one variant per wire protocol. Adapters
//!   record timestamps into a probe and know no percentiles.
//! - [`metrics`] — *measure*: the metric definitions (one function each),
//!   the [`metrics::registry`] every report and SLO reads, HDR histograms
//!   per stage, the per-second timeline, the run's live state every live
//!   reader shares ([`metrics::live`]), SLOs (and whether one holds with
//!   95 % confidence, [`metrics::slo_confident`]).
//! - [`workload`] — *when* requests start: arrival schedules (constant,
//!   gamma), closed-loop users, the one driver that runs a stage, and the
//!   capacity search that picks the next level ([`workload::search`]).
//! - [`result`] — what a run leaves: [`result::RunResult`], its stages,
//!   scenarios and timeline, the schema of `result.json`.
//! - [`mock`] — the embedded mock speech server with a known, configurable model.
//! - [`config`] — flags and TOML scenario files → the validated
//!   [`config::RunPlan`] of scenarios that the engine runs.
//! - [`report`] — *tell*: terminal table, CSVs, plots, HTML, compare, live
//!   progress, the Prometheus exposition. Reads results and metrics only,
//!   never the plan.
//! - [`runner`] — runs a plan: every scenario's stages (fixed, or chosen
//!   by [`runner::capacity`]) through the one executor, records to
//!   `requests.jsonl` and statistics as they come; serves `--prometheus`
//!   ([`runner::prometheus`]).
//! - [`shutdown`] — Ctrl-C and SIGTERM: drain, then stop.
//! - [`cli`] — subcommands and the `run` entry point. clap derives also
//!   declare the options in `config` (a flag and its file key are one
//!   field); only `cli` parses a command line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod audio;
pub mod cli;
pub mod config;
pub mod input;
pub mod metrics;
pub mod mock;
pub mod protocol;
pub mod report;
pub mod result;
pub mod rtc;
pub mod runner;
pub mod shutdown;
#[cfg(test)]
#[allow(dead_code)] // some helpers serve only tests/ (through `#[path]`)
mod timing_tests;
pub mod units;
pub mod workload;

pub use cli::{run, Cli};

/// Shared settings of the property tests (`*_props.rs`): the case count
/// is given per property so the whole set stays well under a minute in a
/// debug build, and failures are not written back into the source tree
/// (the failing input is printed; add it to a unit test).
#[cfg(test)]
pub(crate) fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
