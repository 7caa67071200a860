//! voxload: a load generator and benchmark for speech AI services.
//!
//! It drives TTS endpoints over HTTP (streaming and not) with closed- and
//! open-loop workloads, measures speech-aware metrics with exact definitions
//! (TTFA, chunk latencies, RTF, playback stalls) without coordinated
//! omission, and writes results people read and CI gates on.
//!
//! # Layout
//!
//! Each concept lives in the folder named after it:
//!
//! - [`workload`] — *when* requests start: arrival schedules (constant,
//!   gamma), closed-loop users, and the one driver that runs a stage.
//! - [`protocol`] — *what* is sent: one adapter per wire protocol. Adapters
//!   record timestamps into a [`protocol::Probe`] and know no percentiles.
//! - [`audio`] — decoding response streams, durations, silence, test tones.
//! - [`metrics`] — *measure*: the metric definitions (one function each),
//!   HDR histograms per stage, the per-second timeline.
//! - [`report`] — *tell*: terminal table, JSON, CSV, live progress. Reads
//!   finished results only.
//! - [`input`] — text samples (the bundled set and the supported file formats).
//! - [`config`] — the validated [`config::RunPlan`] that the engine runs, built
//!   from flags and an optional TOML scenario file.
//! - [`mock`] — the embedded mock speech server with a known, configurable model.
//! - [`cli`] — clap types and the `run` entry point; the only place that knows clap.
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
pub mod runner;
pub mod shutdown;
pub mod units;
pub mod workload;

pub use cli::{run, Cli};
