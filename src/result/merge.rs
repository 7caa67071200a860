//! One result from the shards of a sharded run: histograms and counts
//! added bucket by bucket (never percentiles averaged), timelines summed
//! second by second on the shards' common clock, every statistic
//! recomputed from the sums. SLOs are the caller's: they are judged on
//! the merged result like on any other.

use std::collections::BTreeMap;

use super::{MergedFrom, MergedShard, RunResult, RunStatus, StageResult, Windows};
use crate::metrics::timeline::Timeline;

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no shard results given")]
    Empty,
    /// A result of an unsharded run.
    #[error("{folder}: not a shard (run with --shard I/N, or as an array task)")]
    NotShard {
        /// The folder.
        folder: String,
    },
    /// A shard of another run, or of another version.
    #[error("{folder}: {what} is {theirs}, but {first} has {ours}: shards of different runs cannot be merged")]
    Mismatch {
        /// The folder of the odd shard.
        folder: String,
        /// The first shard's folder.
        first: String,
        /// What differs.
        what: &'static str,
        /// Its value there.
        theirs: String,
        /// The first shard's value.
        ours: String,
    },
    /// The same shard twice.
    #[error("shard {index} is given twice: {a} and {b}")]
    Duplicate {
        /// The shard index.
        index: u32,
        /// One folder.
        a: String,
        /// The other.
        b: String,
    },
    /// A section that only an unsharded run has.
    #[error("{folder}: a {what} cannot be merged across shards")]
    Unsupported {
        /// The folder.
        folder: String,
        /// The section.
        what: &'static str,
    },
}

/// One shard's result and the folder it came from.
#[derive(Debug, Clone)]
pub struct ShardRun {
    /// The folder, as the user gave it (for messages and the merged result).
    pub folder: String,
    /// Its result.
    pub run: RunResult,
}

/// Merge the shards of one run. Missing shards are listed in the result,
/// whose status is then [`RunStatus::Partial`]; the caller says so.
pub fn merge(mut shards: Vec<ShardRun>) -> Result<RunResult, MergeError> {
    for s in &shards {
        if s.run.shard.is_none() {
            return Err(MergeError::NotShard {
                folder: s.folder.clone(),
            });
        }
    }
    shards.sort_by_key(|s| s.run.shard.as_ref().map_or(0, |i| i.shard.index));
    let first = shards.first().ok_or(MergeError::Empty)?;
    check_same(first, &shards)?;
    for pair in shards.windows(2) {
        let index = |s: &ShardRun| s.run.shard.as_ref().map_or(0, |i| i.shard.index);
        if index(&pair[0]) == index(&pair[1]) {
            return Err(MergeError::Duplicate {
                index: index(&pair[0]),
                a: pair[0].folder.clone(),
                b: pair[1].folder.clone(),
            });
        }
    }
    for s in &shards {
        let unsupported = [
            ("capacity search", s.run.capacity.is_some()),
            ("cold-start test", s.run.cold_start.is_some()),
            ("scaling test", s.run.scale.is_some()),
        ];
        if let Some((what, _)) = unsupported.iter().find(|(_, has)| *has) {
            return Err(MergeError::Unsupported {
                folder: s.folder.clone(),
                what,
            });
        }
    }
    let base = &first.run;
    let count = base.shard.as_ref().map_or(1, |i| i.shard.count);
    let epoch_us = shards.iter().map(|s| s.run.epoch_us).min().unwrap_or(0);
    let present: Vec<u32> = shards
        .iter()
        .filter_map(|s| s.run.shard.as_ref().map(|i| i.shard.index))
        .collect();
    let missing: Vec<u32> = (1..=count).filter(|i| !present.contains(i)).collect();
    let mut merged = base.clone();
    merged.stages = merge_stages(&shards, epoch_us);
    merged.windows = merge_windows(&shards, epoch_us);
    merged.timeline = merged
        .windows
        .iter()
        .flat_map(|w| {
            w.seconds.rows().into_iter().map(|mut r| {
                r.scenario.clone_from(&w.scenario);
                r
            })
        })
        .collect();
    merged.epoch_us = epoch_us;
    merged.seed = base.shard.as_ref().map(|i| i.run_seed);
    merged.started_at = shards
        .iter()
        .map(|s| s.run.started_at.clone())
        .min()
        .unwrap_or_default();
    merged.status = if !missing.is_empty() {
        RunStatus::Partial
    } else if shards
        .iter()
        .any(|s| s.run.status == RunStatus::Interrupted)
    {
        RunStatus::Interrupted
    } else if shards.iter().any(|s| s.run.status == RunStatus::InProgress) {
        RunStatus::InProgress
    } else {
        RunStatus::Complete
    };
    merged.environment.cpus = shards.iter().map(|s| s.run.environment.cpus).sum();
    merged.notes.push(format!(
        "Merged from {} of {count} shards: counts and histograms are their exact sums; \
         rates add up; a stage's wall time is its longest shard's.",
        shards.len()
    ));
    merged.slo = Vec::new();
    merged.shard = None;
    merged.merged_from = Some(MergedFrom {
        count,
        shards: shards
            .iter()
            .map(|s| MergedShard {
                index: s.run.shard.as_ref().map_or(0, |i| i.shard.index),
                folder: s.folder.clone(),
                seed: s.run.seed,
                status: s.run.status,
                epoch_us: s.run.epoch_us,
            })
            .collect(),
        missing,
    });
    Ok(merged)
}

/// Refuse shards of another run: another plan, count, version or schema.
fn check_same(first: &ShardRun, shards: &[ShardRun]) -> Result<(), MergeError> {
    let facts = |r: &RunResult| -> [(&'static str, String); 5] {
        let info = r.shard.as_ref();
        [
            ("the schema version", r.schema_version.to_string()),
            ("the voxload version", r.voxload_version.clone()),
            ("the run name", r.name.clone()),
            (
                "the shard count",
                info.map_or(String::new(), |i| i.shard.count.to_string()),
            ),
            (
                "the plan (its digest)",
                info.map_or(String::new(), |i| i.plan_digest.clone()),
            ),
        ]
    };
    let ours = facts(&first.run);
    for s in shards {
        for ((what, theirs), (_, mine)) in facts(&s.run).into_iter().zip(&ours) {
            if &theirs != mine {
                return Err(MergeError::Mismatch {
                    folder: s.folder.clone(),
                    first: first.folder.clone(),
                    what,
                    theirs,
                    ours: mine.clone(),
                });
            }
        }
    }
    Ok(())
}

/// `by` µs later, when a shard's clock started after the run's.
fn shift_of(run: &RunResult, epoch_us: u64) -> u64 {
    run.epoch_us.saturating_sub(epoch_us)
}

/// Every stage of every scenario that any shard ran, in the order the
/// first shard (or the first that has it) lists them.
fn merge_stages(shards: &[ShardRun], epoch_us: u64) -> Vec<StageResult> {
    let mut order: Vec<(usize, Option<String>)> = Vec::new();
    for s in shards {
        for st in &s.run.stages {
            let key = (st.index, st.scenario.clone());
            if !order.contains(&key) {
                order.push(key);
            }
        }
    }
    order.sort_by_key(|(index, _)| *index);
    order
        .into_iter()
        .filter_map(|(index, scenario)| {
            let parts: Vec<(&ShardRun, &StageResult)> = shards
                .iter()
                .filter_map(|s| {
                    let st = s
                        .run
                        .stages
                        .iter()
                        .find(|st| st.index == index && st.scenario == scenario)?;
                    Some((s, st))
                })
                .collect();
            merge_stage(&parts, shards.len(), epoch_us)
        })
        .collect()
}

/// One stage from its shards' parts.
fn merge_stage(
    parts: &[(&ShardRun, &StageResult)],
    shards: usize,
    epoch_us: u64,
) -> Option<StageResult> {
    let (_, first) = parts.first()?;
    let mut out = (*first).clone();
    out.warnings = Vec::new();
    out.saturated = None;
    out.stats.shift_clock(shift_of(&parts[0].0.run, epoch_us));
    for (s, st) in &parts[1..] {
        let mut stats = st.stats.clone();
        stats.shift_clock(shift_of(&s.run, epoch_us));
        out.stats.merge(&stats);
    }
    out.issued = parts.iter().map(|(_, st)| st.issued).sum();
    let offered: Vec<f64> = parts.iter().filter_map(|(_, st)| st.offered_rps).collect();
    out.offered_rps = (!offered.is_empty()).then(|| offered.iter().sum());
    out.wall_s = parts.iter().map(|(_, st)| st.wall_s).fold(0.0, f64::max);
    out.interrupted = parts.iter().any(|(_, st)| st.interrupted);
    out.summary = out
        .stats
        .summary(std::time::Duration::from_secs_f64(out.wall_s.max(0.0)));
    let cpu: Vec<_> = parts
        .iter()
        .filter_map(|(_, st)| st.summary.generator_cpu)
        .collect();
    if cpu.len() == parts.len() && !cpu.is_empty() {
        let cpu_s = cpu.iter().map(|c| c.cpu_s).sum();
        let cores = cpu.iter().map(|c| c.cores).sum();
        out.summary.generator_cpu = Some(crate::metrics::generator::GeneratorCpu::new(
            cpu_s, out.wall_s, cores,
        ));
    }
    for (s, st) in parts {
        let who = s
            .run
            .shard
            .as_ref()
            .map_or_else(|| s.folder.clone(), |i| format!("shard {}", i.shard));
        out.warnings
            .extend(st.warnings.iter().map(|w| format!("{who}: {w}")));
        if out.saturated.is_none() {
            out.saturated = st.saturated.as_ref().map(|why| format!("{who}: {why}"));
        }
    }
    if parts.len() < shards {
        out.warnings.push(format!(
            "only {} of the {shards} shards given ran this stage",
            parts.len()
        ));
    }
    Some(out)
}

/// Each scenario's seconds, summed across shards on the run's clock.
fn merge_windows(shards: &[ShardRun], epoch_us: u64) -> Vec<Windows> {
    let mut by_scenario: BTreeMap<Option<String>, (usize, Timeline)> = BTreeMap::new();
    for s in shards {
        // Whole seconds: shards started together share their seconds exactly.
        let by = (shift_of(&s.run, epoch_us) + 500_000) / 1_000_000;
        for (i, w) in s.run.windows.iter().enumerate() {
            let mut t = w.seconds.clone();
            t.shift(by);
            let entry = by_scenario
                .entry(w.scenario.clone())
                .or_insert_with(|| (i, Timeline::new()));
            entry.1.merge(&t);
        }
    }
    let mut out: Vec<(usize, Windows)> = by_scenario
        .into_iter()
        .map(|(scenario, (i, seconds))| (i, Windows { scenario, seconds }))
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, w)| w).collect()
}
