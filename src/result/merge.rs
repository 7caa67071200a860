//! One result from the shards of a sharded run: histograms and counts
//! added bucket by bucket (never percentiles averaged), timelines summed
//! second by second on the shards' common clock, every statistic
//! recomputed from the sums; the target's own metrics (`--scrape`, the
//! same URLs on every shard) are the lowest shard's. Shards are added one at a time, so merging
//! many holds one in memory beside the sums. SLOs are the caller's: they
//! are judged on the merged result like on any other.

use super::{MergedFrom, MergedShard, RunResult, RunStatus, ShardInfo, StageResult, Windows};
use crate::metrics::generator::GeneratorCpu;
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

/// The sums so far of a stage (of one scenario) across shards.
struct StageSum {
    /// The first part's result, its statistics the sum so far.
    result: StageResult,
    parts: usize,
    offered: Option<f64>,
    /// CPU seconds and cores of the parts, while every part has them.
    cpu: Option<(f64, usize)>,
}

/// Shards added one at a time; [`Merger::finish`] gives the merged run.
#[derive(Default)]
pub struct Merger {
    /// The lowest-index shard's result so far, without stages or windows
    /// (the merged result's header), and its folder.
    base: Option<ShardRun>,
    /// Facts every shard must share, from the first shard added.
    first: Option<(String, [(&'static str, String); 5])>,
    /// Every shard added, in the order added.
    shards: Vec<MergedShard>,
    stages: Vec<((usize, Option<String>), StageSum)>,
    windows: Vec<(Option<String>, Timeline)>,
    /// The clock the sums are on: the earliest shard's so far.
    epoch_us: Option<u64>,
    started_at: Option<String>,
    cpus: usize,
    /// Every shard's run warnings, each once.
    warnings: Vec<String>,
}

/// The shard info of a result that must have one.
fn info(s: &ShardRun) -> Result<&ShardInfo, MergeError> {
    s.run.shard.as_ref().ok_or_else(|| MergeError::NotShard {
        folder: s.folder.clone(),
    })
}

/// What shards of one run share: schema, version, name, count, plan.
fn facts(r: &RunResult, i: &ShardInfo) -> [(&'static str, String); 5] {
    [
        ("the schema version", r.schema_version.to_string()),
        ("the voxload version", r.voxload_version.clone()),
        ("the run name", r.name.clone()),
        ("the shard count", i.shard.count.to_string()),
        ("the plan (its digest)", i.plan_digest.clone()),
    ]
}

impl Merger {
    /// Nothing merged yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one shard's result.
    pub fn add(&mut self, shard: ShardRun) -> Result<(), MergeError> {
        let i = info(&shard)?.clone();
        let mine = facts(&shard.run, &i);
        match &self.first {
            None => self.first = Some((shard.folder.clone(), mine)),
            Some((first, ours)) => {
                for ((what, theirs), (_, ours)) in mine.into_iter().zip(ours) {
                    if &theirs != ours {
                        return Err(MergeError::Mismatch {
                            folder: shard.folder.clone(),
                            first: first.clone(),
                            what,
                            theirs,
                            ours: ours.clone(),
                        });
                    }
                }
            }
        }
        if let Some(twin) = self.shards.iter().find(|s| s.index == i.shard.index) {
            return Err(MergeError::Duplicate {
                index: i.shard.index,
                a: twin.folder.clone(),
                b: shard.folder.clone(),
            });
        }
        let unsupported = [
            ("capacity search", shard.run.capacity.is_some()),
            ("cold-start test", shard.run.cold_start.is_some()),
            ("scaling test", shard.run.scale.is_some()),
        ];
        if let Some((what, _)) = unsupported.iter().find(|(_, has)| *has) {
            return Err(MergeError::Unsupported {
                folder: shard.folder.clone(),
                what,
            });
        }
        let ShardRun { folder, mut run } = shard;
        // One clock: the earliest epoch; whatever is later moves later.
        let epoch = *self.epoch_us.get_or_insert(run.epoch_us);
        if run.epoch_us < epoch {
            self.shift_sums(epoch - run.epoch_us);
            self.epoch_us = Some(run.epoch_us);
        }
        let by_us = run.epoch_us - self.epoch_us.unwrap_or(run.epoch_us);
        for st in std::mem::take(&mut run.stages) {
            self.add_stage(st, by_us, &i);
        }
        // Whole seconds: shards started together share their seconds exactly.
        let by_s = (by_us + 500_000) / 1_000_000;
        for mut w in std::mem::take(&mut run.windows) {
            w.seconds.shift(by_s);
            match self.windows.iter_mut().find(|(s, _)| *s == w.scenario) {
                Some((_, t)) => t.merge(&w.seconds),
                None => self.windows.push((w.scenario, w.seconds)),
            }
        }
        self.shards.push(MergedShard {
            index: i.shard.index,
            folder: folder.clone(),
            seed: run.seed,
            status: run.status,
            epoch_us: run.epoch_us,
        });
        self.cpus += run.environment.cpus;
        if self.started_at.as_ref().is_none_or(|s| run.started_at < *s) {
            self.started_at = Some(run.started_at.clone());
        }
        for w in std::mem::take(&mut run.warnings) {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        run.timeline = Vec::new();
        let lower = self
            .base
            .as_ref()
            .and_then(|b| b.run.shard.as_ref())
            .is_none_or(|b| i.shard.index < b.shard.index);
        if lower {
            self.base = Some(ShardRun { folder, run });
        }
        Ok(())
    }

    /// Move everything summed so far `by_us` later (a shard with an
    /// earlier clock arrived).
    fn shift_sums(&mut self, by_us: u64) {
        for (_, sum) in &mut self.stages {
            sum.result.stats.shift_clock(by_us);
        }
        let by_s = (by_us + 500_000) / 1_000_000;
        for (_, t) in &mut self.windows {
            t.shift(by_s);
        }
    }

    fn add_stage(&mut self, mut st: StageResult, by_us: u64, i: &ShardInfo) {
        st.stats.shift_clock(by_us);
        let who = format!("shard {}", i.shard);
        let warnings: Vec<String> = st.warnings.iter().map(|w| format!("{who}: {w}")).collect();
        let saturated = st.saturated.as_ref().map(|why| format!("{who}: {why}"));
        let cpu = st.summary.generator_cpu.map(|c| (c.cpu_s, c.cores));
        let key = (st.index, st.scenario.clone());
        let Some((_, sum)) = self.stages.iter_mut().find(|(k, _)| *k == key) else {
            let offered = st.offered_rps;
            st.warnings = warnings;
            st.saturated = saturated;
            let sum = StageSum {
                result: st,
                parts: 1,
                offered,
                cpu,
            };
            self.stages.push((key, sum));
            return;
        };
        let r = &mut sum.result;
        r.stats.merge(&st.stats);
        r.issued += st.issued;
        r.wall_s = r.wall_s.max(st.wall_s);
        r.interrupted |= st.interrupted;
        r.warnings.extend(warnings);
        if r.saturated.is_none() {
            r.saturated = saturated;
        }
        sum.offered = match (sum.offered, st.offered_rps) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        sum.cpu = sum.cpu.zip(cpu).map(|(a, b)| (a.0 + b.0, a.1 + b.1));
        sum.parts += 1;
    }

    /// The merged run. Missing shards are listed in it, and its status is
    /// then [`RunStatus::Partial`]; the caller says so.
    pub fn finish(self) -> Result<RunResult, MergeError> {
        let ShardRun {
            run: mut merged, ..
        } = self.base.ok_or(MergeError::Empty)?;
        let count = merged.shard.as_ref().map_or(1, |i| i.shard.count);
        let given = self.shards.len();
        let mut stages: Vec<StageResult> = self
            .stages
            .into_iter()
            .map(|(_, sum)| finish_stage(sum, given))
            .collect();
        stages.sort_by_key(|s| s.index);
        merged.stages = stages;
        merged.windows = self
            .windows
            .into_iter()
            .map(|(scenario, seconds)| Windows { scenario, seconds })
            .collect();
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
        let mut shards = self.shards;
        shards.sort_by_key(|s| s.index);
        let missing: Vec<u32> = (1..=count)
            .filter(|i| !shards.iter().any(|s| s.index == *i))
            .collect();
        // The target's metrics are the lowest shard's (every shard scraped
        // the same URLs), moved onto the merged clock.
        let epoch_us = self.epoch_us.unwrap_or(merged.epoch_us);
        let later_s = merged.epoch_us.saturating_sub(epoch_us) as f64 / 1e6;
        for point in merged
            .target_metrics
            .iter_mut()
            .flat_map(|t| &mut t.series)
            .flat_map(|s| &mut s.points)
        {
            point[0] += later_s;
        }
        merged.epoch_us = epoch_us;
        merged.seed = merged.shard.as_ref().map(|i| i.run_seed);
        merged.started_at = self.started_at.unwrap_or_default();
        let any = |status| shards.iter().any(|s| s.status == status);
        merged.status = if !missing.is_empty() {
            RunStatus::Partial
        } else if any(RunStatus::Interrupted) {
            RunStatus::Interrupted
        } else if any(RunStatus::InProgress) {
            RunStatus::InProgress
        } else {
            RunStatus::Complete
        };
        merged.environment.cpus = self.cpus;
        merged.notes.push(format!(
            "Merged from {given} of {count} shards: counts and histograms are their exact sums; \
             rates add up; a stage's wall time is its longest shard's."
        ));
        merged.slo = Vec::new();
        merged.warnings = self.warnings;
        merged.shard = None;
        merged.merged_from = Some(MergedFrom {
            count,
            shards,
            missing,
        });
        Ok(merged)
    }
}

/// A stage's sums as its result: statistics recomputed over the longest
/// shard's wall time.
fn finish_stage(sum: StageSum, shards: usize) -> StageResult {
    let mut r = sum.result;
    r.offered_rps = sum.offered;
    r.summary = r
        .stats
        .summary(std::time::Duration::from_secs_f64(r.wall_s.max(0.0)));
    r.summary.generator_cpu = sum
        .cpu
        .map(|(cpu_s, cores)| GeneratorCpu::new(cpu_s, r.wall_s, cores));
    if sum.parts < shards {
        r.warnings.push(format!(
            "only {} of the {shards} shards given ran this stage",
            sum.parts
        ));
    }
    r
}

/// Merge the shards of one run (see [`Merger`]).
pub fn merge(shards: impl IntoIterator<Item = ShardRun>) -> Result<RunResult, MergeError> {
    let mut m = Merger::new();
    for s in shards {
        m.add(s)?;
    }
    m.finish()
}
