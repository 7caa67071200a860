//! *Measure*: the exact metric definitions, stage statistics and timeline.

pub mod defs;
// pub mod defs_asr; (enabled once metrics::wer lands)
pub mod metric;
pub mod record;
pub mod slo;
pub mod stats;
pub mod timeline;

pub use metric::{Metric, Unit};
pub use record::RequestRecord;
pub use stats::{StageStats, StageSummary};
pub use timeline::Timeline;
