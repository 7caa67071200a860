//! `voxload merge`: the shards of a sharded run into one results folder,
//! exactly, with every report regenerated and the SLOs judged on the
//! whole run (thresholds that hold globally, not per shard).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::{EXIT_ERROR, EXIT_OK, EXIT_THRESHOLDS};
use crate::report::{default_writers, json, terminal};
use crate::result::merge::{self, ShardRun};

/// `voxload merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Shard results folders, or a run's folder whose `shard-*` folders are its shards.
    #[arg(required = true, value_name = "SHARD_DIR")]
    pub shards: Vec<PathBuf>,
    /// Write the merged result and its reports into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also check this SLO on the merged run, e.g. 'ttfa.p95<300ms' (repeatable);
    /// the shards' own SLOs are always checked. A failed one makes the exit code 3.
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<String>,
}

/// Merge, write, judge. Exit 1 when shards are missing (the merged
/// result is written, marked partial), else 3 when an SLO fails.
pub async fn run_merge(args: MergeArgs) -> anyhow::Result<i32> {
    let folders = shard_folders(&args.shards, &args.out)?;
    let given = folders.len();
    // One shard in memory at a time beside the sums.
    let mut merger = merge::Merger::new();
    let mut exprs: Vec<String> = Vec::new();
    for folder in folders {
        let run = json::read(&folder)?;
        for r in &run.slo {
            if !exprs.contains(&r.slo) {
                exprs.push(r.slo.clone());
            }
        }
        let folder = folder.display().to_string();
        merger
            .add(ShardRun { folder, run })
            .context("cannot merge")?;
    }
    exprs.extend(args.slo.iter().cloned());
    let slos = crate::metrics::slo::parse_all(&exprs).context("invalid --slo")?;
    let mut run = merger.finish().context("cannot merge")?;
    run.slo = crate::metrics::slo::evaluate_all(&slos, run.views());
    run.written_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output folder {}", args.out.display()))?;
    for writer in default_writers() {
        writer.write(&run, &args.out)?;
    }
    println!("{}", terminal::summary(&run));
    println!("merged {given} shards into {}", args.out.display());
    let missing = run.merged_from.as_ref().map_or(&[][..], |m| &m.missing[..]);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(u32::to_string).collect();
        eprintln!(
            "error: shards {} of {} are missing: the merged result is partial",
            list.join(", "),
            run.merged_from.as_ref().map_or(0, |m| m.count)
        );
        return Ok(EXIT_ERROR);
    }
    Ok(if run.slo.iter().any(|r| !r.passed) {
        EXIT_THRESHOLDS
    } else {
        EXIT_OK
    })
}

/// The shard folders `args` name: each one holding a `result.json`, or
/// each `shard-*` folder (with one) of a run's folder. The output folder
/// is never one of them.
fn shard_folders(args: &[PathBuf], out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut folders = Vec::new();
    for arg in args {
        if arg.is_file() || arg.join("result.json").is_file() {
            folders.push(arg.clone());
            continue;
        }
        let entries = std::fs::read_dir(arg)
            .with_context(|| format!("cannot read shard folder {}", arg.display()))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("shard-"))
                    && p.join("result.json").is_file()
                    && p != out
            })
            .collect();
        if found.is_empty() {
            anyhow::bail!(
                "{}: no result.json, and no shard-*/result.json inside",
                arg.display()
            );
        }
        found.sort();
        folders.extend(found);
    }
    Ok(folders)
}
