//! `voxload report` and `voxload compare` (being implemented; see issue 5).

use std::path::PathBuf;

use clap::Args;

/// `voxload report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A results folder (or its result.json).
    pub results: PathBuf,
}

/// `voxload compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The baseline results folder.
    pub base: PathBuf,
    /// The new results folder.
    pub new: PathBuf,
}

/// Regenerate every report file from result.json alone.
pub async fn run_report(_args: ReportArgs) -> anyhow::Result<i32> {
    anyhow::bail!("voxload report is not implemented yet")
}

/// Compare two runs.
pub async fn run_compare(_args: CompareArgs) -> anyhow::Result<i32> {
    anyhow::bail!("voxload compare is not implemented yet")
}
