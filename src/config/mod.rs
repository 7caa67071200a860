//! Run configuration: a TOML scenario file and flags merge into raw
//! options, which [`plan::RunPlan::from_options`] validates into the plan the engine runs.

pub mod agent;
pub mod asr;
pub mod levels;
pub mod options;
pub mod plan;
pub mod serde_duration;
pub mod workload;

pub use options::{ConfigError, TtsOptions};
pub use plan::RunPlan;
