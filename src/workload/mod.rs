//! *When* requests start: arrival schedules, closed-loop users, and the one
//! driver that runs a stage. Nothing here knows about HTTP or audio.

pub mod backoff;
pub mod driver;
pub mod schedule;
pub mod search;
pub mod shard;
pub mod stage;
pub mod timer;

pub use backoff::{Backoff, RetryBackoff, RetryPolicy};
pub use driver::{run_stage, Arrival, Executor, StageOutcome, StageSink, Stop};
pub use schedule::{Bounded, Constant, Gamma, Schedule};
pub use stage::{StageSpec, Workload};
