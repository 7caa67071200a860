//! *Measure*: the exact metric definitions, stage statistics and timeline.

pub mod cold;
pub mod confidence;
pub mod defs;
pub mod defs_agent;
pub mod defs_asr;
pub mod defs_tts_ws;
pub mod generator;
pub mod goodput;
pub mod judge;
pub mod live;
pub mod metric;
pub mod outage;
pub mod record;
mod record_json;
pub mod registry;
pub mod saturation;
pub mod scraped;
pub mod slo;
pub mod slo_confident;
pub mod stats;
pub mod summary;
pub mod timeline;
pub mod wer;

pub use metric::{Metric, Unit};
pub use record::RequestRecord;
pub use stats::{StageStats, StageSummary};
pub use timeline::Timeline;
