//! The validated plan the engine runs: every default filled, every shortcut
//! (sweeps, weights, open/closed loop) turned into explicit stages, for
//! each scenario of the run.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::agent::AgentInputs;
use super::asr::AsrInputs;
use super::common::{
    cold_starts, min_success, prometheus, run_name, web_addr, ColdStarts, PrometheusPlan,
    DEFAULT_GRACE,
};
use super::error::{invalid, ConfigError};
use super::overlay::overlay;
use super::scenario::{ProtocolOptions, RunOptions, ScenarioOptions};
use super::shard::{self, Shard, ShardPlan, ShardSource, StartAt};
use super::tts::TtsInputs;
use super::workload::WorkloadOptions;
use crate::metrics::slo::{is_scenario_name, parse_all, Slo};
use crate::protocol::{Kind, Target};
use crate::result::RunKind;
use crate::workload::StageSpec;

/// What the run as a whole is: where results go and what it is judged by.
#[derive(Debug, Clone, Serialize)]
pub struct CommonPlan {
    /// Run name.
    pub name: String,
    /// Folder the results are written to.
    pub out_dir: PathBuf,
    /// Seed of all randomness (arrivals, prefixes, script choice).
    pub seed: u64,
    /// Drain time after the first Ctrl-C.
    #[serde(with = "crate::units::serde_duration")]
    pub grace: Duration,
    /// Sweeps: the best level keeps at least this success rate.
    pub min_success: f64,
    /// SLO thresholds checked on every stage they apply to; any failure makes the exit code 3.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<Slo>,
    /// Per-request goodput criteria (`--goodput`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub goodput: Vec<crate::metrics::goodput::Criterion>,
    /// End a sweep at its first saturated stage.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop_on_saturation: bool,
    /// Which requests are cold, and the cold-start test's idle gaps.
    pub cold: ColdStarts,
    /// This process's part of a sharded run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardPlan>,
    /// The target's own metrics to scrape (`--scrape`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape: Option<super::scrape::ScrapePlan>,
    /// The live metrics endpoint (`--prometheus`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusPlan>,
    /// Where the live dashboard listens (`--web`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<std::net::SocketAddr>,
}

/// What a scenario sends, by service.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Inputs {
    /// Texts and voices.
    Tts(TtsInputs),
    /// Audio files (or spoken texts) with their references.
    Asr(AsrInputs),
    /// Conversation scripts.
    Agent(AgentInputs),
}

/// One scenario of a run: its stages, its target and its inputs.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Its name, unique in the run.
    pub name: String,
    /// The preset its protocol options start from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Its stages: stage *i* of every scenario runs at the same time.
    pub stages: Vec<StageSpec>,
    /// Where its requests go.
    pub target: Target,
    /// What they send.
    pub inputs: Inputs,
}

/// A complete, validated run. Serialized into `result.json` (secrets redacted).
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    /// Name, results folder, seed, gates.
    pub common: CommonPlan,
    /// The scenarios, run together stage by stage.
    pub scenarios: Vec<Scenario>,
}

impl Scenario {
    /// Its protocol.
    pub fn kind(&self) -> Kind {
        self.target.kind()
    }
}

impl RunPlan {
    /// What the run tests.
    pub fn kind(&self) -> RunKind {
        RunKind::of(self.scenarios.iter().map(|s| s.kind().service()))
    }

    /// Whether the run has several scenarios: its outputs then name them.
    pub fn is_mixed(&self) -> bool {
        self.scenarios.len() > 1
    }

    /// Number of stages (every scenario has as many).
    pub fn stage_count(&self) -> usize {
        self.scenarios.first().map_or(0, |s| s.stages.len())
    }

    /// Validate options into a plan. `env` looks up environment variables
    /// (injected so tests need not touch the process environment).
    pub fn build(o: RunOptions, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if o.scenarios.is_empty() {
            return Err(ConfigError::Missing("[[scenario]] (at least one)"));
        }
        let mixed = o.scenarios.len() > 1;
        let names = scenario_names(&o.scenarios)?;
        // SLOs first: a misspelled metric must fail before anything is loaded.
        let mut slo_exprs = o.common.slo.clone().unwrap_or_default();
        for (s, name) in o.scenarios.iter().zip(&names) {
            slo_exprs.extend(s.slo.iter().flatten().map(|e| match mixed {
                true => format!("{name}:{e}"),
                false => e.clone(),
            }));
        }
        let slo = parse_all(&slo_exprs).map_err(|e| invalid("--slo", e.to_string()))?;
        let seed = o.common.seed.unwrap_or(1);
        let shard = shard::detect(o.common.shard, o.common.shards, env)?;
        let workloads = scenario_workloads(&o.workload, &o.scenarios, &names)?;
        let mut scenarios = Vec::with_capacity(o.scenarios.len());
        for (i, ((s, name), workload)) in o.scenarios.iter().zip(&names).zip(workloads).enumerate()
        {
            let tag = mixed.then_some(name.as_str());
            // Scenario i's arrivals take their own seeds; the first keeps the run's.
            let stages = workload
                .stages(seed.wrapping_add((i as u64) << 32))
                .map_err(|e| e.in_scenario(tag))?;
            let protocol = super::preset::expand(s).map_err(|e| e.in_scenario(tag))?;
            let (target, inputs) =
                build_protocol(&protocol, env).map_err(|e| e.in_scenario(tag))?;
            scenarios.push(Scenario {
                name: name.clone(),
                preset: s.preset.clone(),
                stages,
                target,
                inputs,
            });
        }
        if let Some(s) = scenarios
            .iter()
            .find(|s| s.stages.len() != scenarios[0].stages.len())
        {
            return Err(invalid(
                "--rate/--concurrency",
                format!(
                    "scenario '{}' has {} stages, scenario '{}' has {}: give every scenario as many levels (or one)",
                    s.name,
                    s.stages.len(),
                    scenarios[0].name,
                    scenarios[0].stages.len()
                ),
            ));
        }
        let kinds: Vec<(Option<&str>, Kind)> = scenarios
            .iter()
            .map(|s| (mixed.then_some(s.name.as_str()), s.kind()))
            .collect();
        for s in &slo {
            s.check(&kinds)
                .map_err(|e| invalid("--slo", e.to_string()))?;
        }
        check_judge_slos(&slo, &scenarios, mixed)?;
        let goodput = o
            .common
            .goodput
            .iter()
            .flatten()
            .map(|e| {
                e.parse::<crate::metrics::goodput::Criterion>()
                    .map_err(|e| invalid("--goodput", format!("'{}': {}", e.expr, e.why)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(c) = goodput
            .iter()
            .find(|c| !scenarios.iter().any(|s| c.applies_to(s.kind())))
        {
            return Err(invalid(
                "--goodput",
                format!("'{c}': {} cannot be measured on this run", c.metric),
            ));
        }
        let prefix = match RunKind::of(scenarios.iter().map(|s| s.kind().service())) {
            RunKind::Mixed => "run",
            k => k.name(),
        };
        if shard.is_some() && o.common.name.is_none() {
            return Err(invalid(
                "--name",
                "a sharded run needs one: every shard writes into OUT/NAME/shard-I-of-N, \
                 which `voxload merge OUT/NAME` reads",
            ));
        }
        let name = run_name(o.common.name.as_deref(), prefix)?;
        let out_root = o
            .common
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results"));
        let plan = RunPlan {
            common: CommonPlan {
                out_dir: out_root.join(&name),
                name,
                seed,
                grace: o.common.grace.unwrap_or(DEFAULT_GRACE),
                min_success: min_success(o.common.min_success)?,
                slo,
                stop_on_saturation: o.common.stop_on_saturation.unwrap_or(false),
                goodput,
                cold: cold_starts(&o.common)?,
                shard: None,
                scrape: super::scrape::scrape_plan(&o.common)?,
                prometheus: prometheus(&o.common)?,
                web: web_addr(o.common.web.as_deref())?,
            },
            scenarios,
        };
        let start = shard::start(&o.common)?;
        match shard {
            None if start.is_some() => Err(invalid(
                if o.common.start_at.is_some() { "--start-at" } else { "--start-file" },
                "starts the shards of a sharded run together; give --shard I/N (or run as an array task)",
            )),
            None if o.common.stage_gap.is_some() => Err(invalid(
                "--stage-gap",
                "spaces the stages of shards started together; give --shard I/N and --start-at or --start-file",
            )),
            None => Ok(plan),
            Some((part, source)) => plan.sharded(part, source, start, o.common.stage_gap),
        }
    }

    /// This plan as shard `part` runs it: its share of every stage, its
    /// own seeds, its own folder under the run's.
    fn sharded(
        mut self,
        part: Shard,
        source: ShardSource,
        start: Option<StartAt>,
        stage_gap: Option<Duration>,
    ) -> Result<Self, ConfigError> {
        if !self.common.cold.gaps.is_empty() {
            return Err(invalid(
                "--idle-gap",
                "a cold-start test sends single probes; run it unsharded",
            ));
        }
        if stage_gap.is_some() && start.is_none() {
            return Err(invalid(
                "--stage-gap",
                "spaces stages of shards started together; give --start-at or --start-file",
            ));
        }
        // Every shard of one run computes the same digest of the whole plan.
        let whole = serde_json::to_string(&self).unwrap_or_default();
        let run_seed = self.common.seed;
        self.common.seed = part.seed(run_seed);
        for s in &mut self.scenarios {
            s.stages = s.stages.iter().map(|st| part.stage(st)).collect();
        }
        self.common.out_dir = self.common.out_dir.join(part.folder());
        self.common.shard = Some(ShardPlan {
            shard: part,
            source,
            run_seed,
            plan_digest: shard::digest(&whole),
            start,
            stage_gap: stage_gap.unwrap_or(shard::DEFAULT_STAGE_GAP),
        });
        Ok(self)
    }
}

/// Refuse a `judge_wer_pooled` threshold that no scenario it holds for can
/// measure (none has `--judge-asr`): a clear error before any request,
/// rather than a threshold failing on every stage.
fn check_judge_slos(slo: &[Slo], scenarios: &[Scenario], mixed: bool) -> Result<(), ConfigError> {
    use crate::metrics::registry::StageMetric;
    use crate::metrics::slo::Subject;
    let judged = |s: &Scenario| matches!(&s.inputs, Inputs::Tts(t) if t.judge.is_some());
    for t in slo.iter() {
        if t.subject != Subject::Stage(StageMetric::JudgeWerPooled) {
            continue;
        }
        let mut held = scenarios
            .iter()
            .filter(|s| t.scenario.is_none() || (mixed && t.scenario.as_deref() == Some(&s.name)));
        if !held.any(judged) {
            return Err(invalid(
                "--slo",
                format!("'{t}': needs --judge-asr URL (an ASR endpoint that judges the speech)"),
            ));
        }
    }
    Ok(())
}

/// Each scenario's name: as given, else its kind (`tts`, `tts-2`, …);
/// names are unique and fit an SLO prefix.
fn scenario_names(scenarios: &[ScenarioOptions]) -> Result<Vec<String>, ConfigError> {
    let mut names: Vec<String> = Vec::with_capacity(scenarios.len());
    for s in scenarios {
        let name = match &s.name {
            Some(n) if !is_scenario_name(n) => {
                return Err(invalid(
                    "scenario name",
                    format!("'{n}' (use letters, digits, '_' and '-')"),
                ))
            }
            Some(n) if names.contains(n) => {
                return Err(invalid("scenario name", format!("'{n}' is used twice")))
            }
            Some(n) => n.clone(),
            None => {
                let kind = s.protocol.service().name();
                let mut n = kind.to_string();
                let mut i = 2;
                while names.contains(&n) || scenarios.iter().any(|o| o.name.as_deref() == Some(&n))
                {
                    n = format!("{kind}-{i}");
                    i += 1;
                }
                n
            }
        };
        names.push(name);
    }
    Ok(names)
}

/// Each scenario's workload: its own keys over the shared ones. A scenario
/// without its own rate or concurrency takes a share of the shared level
/// and request count by weight (default 1); one with its own level runs it
/// at the shared request count unless it sets its own. A single level is
/// repeated in every stage of a sweep.
fn scenario_workloads(
    shared: &WorkloadOptions,
    scenarios: &[ScenarioOptions],
    names: &[String],
) -> Result<Vec<WorkloadOptions>, ConfigError> {
    let mut weighted = Vec::new();
    for (i, (s, name)) in scenarios.iter().zip(names).enumerate() {
        match s.weight {
            Some(_) if s.workload.sets_level() => {
                return Err(
                    ConfigError::Conflict("weight", "its own rate or concurrency")
                        .in_scenario(Some(name)),
                )
            }
            Some(w) if !(w.is_finite() && w > 0.0) => {
                return Err(
                    invalid("weight", format!("must be > 0 (got {w})")).in_scenario(Some(name))
                )
            }
            Some(w) => weighted.push((i, w)),
            None if !s.workload.sets_level() => weighted.push((i, 1.0)),
            None => {}
        }
    }
    let mut base: Vec<WorkloadOptions> = vec![shared.clone(); scenarios.len()];
    if scenarios.len() > 1 && !weighted.is_empty() {
        let weights: Vec<f64> = weighted.iter().map(|(_, w)| *w).collect();
        for ((i, _), share) in weighted.iter().zip(shared.split(&weights)?) {
            base[*i] = share;
        }
    }
    let workloads = scenarios
        .iter()
        .zip(base)
        .map(|(s, b)| overlay(&b.for_level_of(&s.workload), &s.workload))
        .collect::<Result<Vec<_>, _>>()?;
    let stages = workloads
        .iter()
        .map(|w| w.level_count().unwrap_or(1))
        .max()
        .unwrap_or(1);
    Ok(workloads.into_iter().map(|w| w.repeated(stages)).collect())
}

fn build_protocol(
    o: &ProtocolOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Target, Inputs), ConfigError> {
    Ok(match o {
        ProtocolOptions::Tts(t) => {
            let (target, inputs) = t.build_any(env)?;
            (target, Inputs::Tts(inputs))
        }
        ProtocolOptions::Asr(a) => {
            let (target, inputs) = a.build(env)?;
            (target, Inputs::Asr(inputs))
        }
        ProtocolOptions::Agent(a) => {
            let (target, inputs) = a.build(env)?;
            (target, Inputs::Agent(inputs))
        }
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
