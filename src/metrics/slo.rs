//! SLO thresholds (`--slo 'ttfa.p95<300ms'`): parsing and evaluation per stage.
//! (Being implemented; see issue 5.)

use serde::{Deserialize, Serialize};

/// One threshold's verdict on one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    /// The threshold as the user wrote it.
    pub slo: String,
    /// Stage index.
    pub stage: usize,
    /// Observed value in the threshold's unit (absent if the stage has no such metric).
    pub observed: Option<f64>,
    /// Whether it held.
    pub passed: bool,
}
