//! A shard's clock: when the shards of a run start (a fixed time, or one
//! the first shard writes to a shared file), and a stage source that holds
//! each stage until its common start, so every shard begins it together.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;

use super::engine::StageSource;
use super::RunError;
use crate::config::shard::{ShardPlan, ShardSource, StartAt};
use crate::result::RunResult;
use crate::workload::StageSpec;

/// A stage that begins this much after its common start is late (said in
/// its warnings): more than timer slack, less than a human notices.
const LATE: Duration = Duration::from_millis(100);

/// How long a shard waits for a start file another shard is writing.
const START_FILE_WAIT: Duration = Duration::from_secs(10);

/// How long after the common start a shard may still join: it starts at
/// once, late (and says so). Past this, the start is a mistake — an old
/// start file, a wrong date — and the run is refused.
pub const MAX_LATE_START: Duration = Duration::from_secs(60);

/// The wall time every shard starts at: the plan's, or the start file's
/// (written by whichever shard comes first).
pub async fn start_time(start: &StartAt) -> Result<SystemTime, RunError> {
    let t = read_start(start).await?;
    match SystemTime::now().duration_since(t) {
        Ok(late) if late > MAX_LATE_START => {
            let (what, fix) = match start {
                StartAt::At(_) => ("--start-at".to_string(), "give a time ahead"),
                StartAt::File { path, .. } => (
                    format!("the start file {}", path.display()),
                    "it is left from an earlier run: delete it, or give each run its own",
                ),
            };
            Err(RunError::StartPassed {
                what,
                ago_s: late.as_secs(),
                fix,
            })
        }
        _ => Ok(t),
    }
}

async fn read_start(start: &StartAt) -> Result<SystemTime, RunError> {
    match start {
        StartAt::At(t) => Ok(*t),
        StartAt::File { path, lead } => {
            let error = |reason: String| RunError::StartFile {
                path: path.clone(),
                reason,
            };
            if !path.exists() {
                let proposed = SystemTime::now() + *lead;
                claim(path, proposed).map_err(|e| error(e.to_string()))?;
            }
            // Another shard may be writing it: read until it parses.
            let deadline = tokio::time::Instant::now() + START_FILE_WAIT;
            loop {
                let read = std::fs::read_to_string(path).map_err(|e| e.to_string());
                let parsed = read.and_then(|text| {
                    crate::config::shard::parse_start_at(&text).map_err(|e| e.to_string())
                });
                match parsed {
                    Ok(t) => return Ok(t),
                    Err(why) if tokio::time::Instant::now() >= deadline => return Err(error(why)),
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    }
}

/// Write `at` into `path` unless it exists: into a file of our own, then
/// linked into place, so no shard ever reads half a time and only one
/// shard's time wins.
fn claim(path: &Path, at: SystemTime) -> std::io::Result<()> {
    let text = format!("{}\n", humantime::format_rfc3339_millis(at));
    let mine = path.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::File::create(&mine)?.write_all(text.as_bytes())?;
    let linked = std::fs::hard_link(&mine, path);
    let _ = std::fs::remove_file(&mine);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // Storage without hard links: the first to create it wins.
        Err(_) => match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(mut f) => f.write_all(text.as_bytes()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        },
    }
}

/// What the shard says about itself as the run starts.
pub fn announce(plan: &ShardPlan, start: Option<SystemTime>) -> String {
    let from = match plan.source {
        ShardSource::Flag => "",
        ShardSource::Slurm => " (from the Slurm array)",
        ShardSource::Kubernetes => " (from the Kubernetes Indexed Job)",
    };
    let when = match start {
        Some(t) => {
            let wait = t
                .duration_since(SystemTime::now())
                .map_or(0.0, |d| d.as_secs_f64());
            format!(
                ", all shards start at {} (in {wait:.1} s)",
                humantime::format_rfc3339_millis(t)
            )
        }
        None => String::new(),
    };
    format!("shard {}{from}{when}", plan.shard)
}

/// A stage source whose stages begin at common wall times: the first at
/// the start, stage *k* after the durations of the stages before, each
/// plus the stage gap. A stage without a duration ends the common
/// schedule: the stages after it start when this shard is ready.
pub struct Aligned<'a> {
    inner: &'a mut dyn StageSource,
    /// When the next stage is due, while the schedule holds.
    due: Option<SystemTime>,
    gap: Duration,
    /// Per stage index: how late it began, when it was.
    late: Vec<(usize, Duration)>,
    /// The duration of the stage last served (what moves `due` on).
    last: Option<Option<Duration>>,
}

impl<'a> Aligned<'a> {
    /// `inner`'s stages, the first at `start`.
    pub fn new(inner: &'a mut dyn StageSource, start: SystemTime, gap: Duration) -> Self {
        Self {
            inner,
            due: Some(start),
            gap,
            late: Vec::new(),
            last: None,
        }
    }
}

impl StageSource for Aligned<'_> {
    fn next(&mut self, index: usize, so_far: &RunResult) -> Option<Vec<StageSpec>> {
        let specs = self.inner.next(index, so_far)?;
        if let Some(Some(d)) = self.last {
            self.due = self.due.map(|t| t + d + self.gap);
        } else if self.last.is_some() {
            self.due = None;
        }
        // A stage of counted requests (any scenario's) has no common end.
        let durations: Option<Vec<Duration>> = specs.iter().map(|s| s.duration).collect();
        self.last = Some(durations.and_then(|d| d.into_iter().max()));
        Some(specs)
    }

    fn before_stage(&mut self, index: usize) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.inner.before_stage(index).await?;
            let Some(due) = self.due else {
                return Ok(());
            };
            match due.duration_since(SystemTime::now()) {
                Ok(wait) => tokio::time::sleep(wait).await,
                Err(late) if late.duration() > LATE => self.late.push((index, late.duration())),
                Err(_) => {}
            }
            Ok(())
        })
    }

    fn after_stage(&mut self, index: usize, result: &mut RunResult) {
        self.inner.after_stage(index, result);
        let Some((_, late)) = self.late.iter().find(|(i, _)| *i == index) else {
            return;
        };
        let why = match index {
            0 => "the common start had passed when this shard was ready",
            _ => "its stage before drained longer than --stage-gap",
        };
        for s in result.stages.iter_mut().filter(|s| s.index == index) {
            s.warnings.push(format!(
                "began {:.2} s after the shards' common start ({why})",
                late.as_secs_f64()
            ));
        }
    }

    fn finish(&mut self, result: &mut RunResult) {
        self.inner.finish(result);
    }
}
