//! Run configuration: flags and TOML scenario files become raw
//! [`RunOptions`], which [`RunPlan::build`] validates into the plan the
//! engine runs.
//!
//! Precedence (lowest first): built-in defaults, the scenario file
//! (`--config`, or `voxload run FILE`), then flags. A flag given on the
//! command line replaces the file's value for that option, lists included.
//! Each option is declared once, as a field that is both the flag (clap)
//! and the file key (serde): [`WorkloadOptions`] and [`CommonOptions`] for
//! every run, [`tts::TtsOptions`], [`asr::AsrOptions`] and
//! [`agent::AgentOptions`] per service.

pub mod agent;
pub mod asr;
pub mod common;
pub mod error;
mod file;
pub mod judge;
pub mod levels;
pub mod overlay;
pub mod plan;
pub mod preset;
pub mod scenario;
pub mod scrape;
pub mod shard;
pub mod target;
pub mod tts;
pub mod tts_ws;
pub mod workload;

pub use common::{ColdStarts, CommonOptions};
pub use error::ConfigError;
pub use plan::{Inputs, RunPlan, Scenario};
pub use scenario::{ProtocolOptions, RunOptions, ScenarioOptions};
pub use workload::WorkloadOptions;
