//! Scenario files: the one reader for every kind, and the raw options of a
//! run before validation.
//!
//! A file is either one scenario with every key at the top level (the form
//! `voxload tts|asr|agent --config` has always read), or several
//! `[[scenario]]` blocks under shared top-level keys:
//!
//! ```toml
//! name = "mixed"
//! rate = [2, 4]            # shared workload: weights split it
//! duration = "20s"
//!
//! [[scenario]]
//! kind = "tts"             # tts | asr | agent
//! name = "tts"
//! weight = 2
//! url = "http://127.0.0.1:8000"
//!
//! [[scenario]]
//! kind = "agent"
//! concurrency = 2          # its own workload instead of a weight
//! url = "ws://127.0.0.1:8000/v1/agent"
//! [[scenario.script]]
//! name = "hello"
//! texts = ["hello there"]
//! ```
//!
//! Every error names the file and the line: unknown keys (a typo is never
//! ignored) and bad values alike, inside blocks too.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::agent::AgentOptions;
use super::asr::AsrOptions;
use super::common::CommonOptions;
use super::error::{invalid, ConfigError};
use super::file::{read_text, File};
use super::overlay::overlay;
use super::target::HeaderOptions;
use super::tts::{TtsEndpointOptions, TtsOptions};
use super::workload::WorkloadOptions;
use crate::protocol::Service;

/// The protocol options of one scenario, by service.
#[derive(Debug, Clone, PartialEq)]
// One per scenario, read once: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum ProtocolOptions {
    /// A TTS scenario.
    Tts(TtsOptions),
    /// An ASR scenario (HTTP or WebSocket, by the URL's scheme).
    Asr(AsrOptions),
    /// A voice-agent scenario.
    Agent(AgentOptions),
}

impl ProtocolOptions {
    /// The service it tests.
    pub fn service(&self) -> Service {
        match self {
            ProtocolOptions::Tts(_) => Service::Tts,
            ProtocolOptions::Asr(_) => Service::Asr,
            ProtocolOptions::Agent(_) => Service::Agent,
        }
    }

    /// `self` with every option `flags` sets replacing its value.
    pub fn overlay(&self, flags: &ProtocolOptions) -> Result<ProtocolOptions, ConfigError> {
        Ok(match (self, flags) {
            (ProtocolOptions::Tts(a), ProtocolOptions::Tts(b)) => {
                ProtocolOptions::Tts(overlay(a, b)?)
            }
            (ProtocolOptions::Asr(a), ProtocolOptions::Asr(b)) => {
                ProtocolOptions::Asr(overlay(a, b)?)
            }
            (ProtocolOptions::Agent(a), ProtocolOptions::Agent(b)) => {
                ProtocolOptions::Agent(overlay(a, b)?)
            }
            (file, flags) => {
                return Err(invalid(
                    "--config",
                    format!(
                        "the file describes a {} scenario, the command is `voxload {}`",
                        file.service(),
                        flags.service()
                    ),
                ))
            }
        })
    }

    fn rebase(&mut self, dir: &Path) {
        match self {
            ProtocolOptions::Tts(o) => o.rebase(dir),
            ProtocolOptions::Asr(o) => o.rebase(dir),
            ProtocolOptions::Agent(o) => o.rebase(dir),
        }
    }
}

/// One scenario's options before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioOptions {
    /// Its name (outputs and `--slo 'NAME:…'` use it) [default: its kind].
    pub name: Option<String>,
    /// Its share of the shared rate, users and request count.
    pub weight: Option<f64>,
    /// The built-in preset under its protocol options (`--preset`, or
    /// `preset = "…"` in a file).
    pub preset: Option<String>,
    /// Thresholds for this scenario alone.
    pub slo: Option<Vec<String>>,
    /// Workload keys of its own, over the shared ones.
    pub workload: WorkloadOptions,
    /// What it sends and where.
    pub protocol: ProtocolOptions,
}

impl ScenarioOptions {
    /// A scenario made of these protocol options alone.
    pub fn of(protocol: ProtocolOptions) -> Self {
        Self {
            name: None,
            weight: None,
            preset: None,
            slo: None,
            workload: WorkloadOptions::default(),
            protocol,
        }
    }
}

/// All options of a run before validation: [`super::RunPlan::build`]
/// turns them into the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Name, results folder, seed, drain time, SLOs.
    pub common: CommonOptions,
    /// The workload every scenario shares (weights split it).
    pub workload: WorkloadOptions,
    /// The scenarios, in file order.
    pub scenarios: Vec<ScenarioOptions>,
}

impl RunOptions {
    /// One scenario, options from flags only.
    pub fn single(
        common: CommonOptions,
        workload: WorkloadOptions,
        protocol: ProtocolOptions,
    ) -> Self {
        Self {
            common,
            workload,
            scenarios: vec![ScenarioOptions::of(protocol)],
        }
    }

    /// Read a scenario file. `service` is the command's (`voxload tts`
    /// reads a TTS scenario); `None` (`voxload run`) takes the kind from the
    /// file. Relative paths in it are relative to its folder.
    pub fn read(path: &Path, service: Option<Service>) -> Result<Self, ConfigError> {
        let text = read_text(path)?;
        let file = File { path, text: &text };
        let table: toml::Table = file.parse(&text)?;
        let mut options = if table.contains_key("scenario") {
            file.blocks()?
        } else {
            file.single(service)?
        };
        if let Some(service) = service {
            match options.scenarios.as_slice() {
                [one] if one.protocol.service() == service => {}
                [one] => {
                    return Err(file.error(format!(
                        "describes a {} scenario: run it with `voxload {}` or `voxload run`",
                        one.protocol.service(),
                        one.protocol.service()
                    )))
                }
                many => {
                    return Err(file.error(format!(
                        "holds {} scenarios: run it with `voxload run {}`",
                        many.len(),
                        path.display()
                    )))
                }
            }
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        for s in &mut options.scenarios {
            s.protocol.rebase(dir);
        }
        Ok(options)
    }

    /// Lay flags over these options: common and workload flags over the
    /// run's (a scenario's own workload keys still win for it), protocol
    /// flags over its one scenario.
    pub fn with_flags(
        mut self,
        common: &CommonOptions,
        workload: &WorkloadOptions,
        protocol: Option<&ProtocolOptions>,
    ) -> Result<Self, ConfigError> {
        self.common = overlay(&self.common, common)?;
        self.workload = overlay(&self.workload, workload)?;
        if let Some(flags) = protocol {
            if let [one] = self.scenarios.as_mut_slice() {
                one.protocol = one.protocol.overlay(flags)?;
            }
        }
        Ok(self)
    }

    /// Put preset `name` (`--preset`) under the one scenario's options,
    /// instead of any preset its file names.
    pub fn with_preset(mut self, name: Option<&str>) -> Result<Self, ConfigError> {
        let Some(name) = name else {
            return Ok(self);
        };
        match self.scenarios.as_mut_slice() {
            [one] => one.preset = Some(name.to_string()),
            _ => {
                return Err(invalid(
                    "--preset",
                    "the file holds several scenarios: set preset = \"…\" in each [[scenario]] block instead",
                ))
            }
        }
        Ok(self)
    }
}

/// Keys of a one-scenario file besides its common, workload and protocol keys.
#[derive(Debug, Default, Deserialize, Serialize)]
struct SingleMeta {
    /// `tts`, `asr` or `agent`; needed by `voxload run`, checked by the others.
    kind: Option<String>,
    /// A built-in preset under the file's protocol keys.
    preset: Option<String>,
}

/// Keys of a `[[scenario]]` block besides its workload and protocol keys.
#[derive(Debug, Default, Deserialize, Serialize)]
struct BlockMeta {
    kind: Option<String>,
    preset: Option<String>,
    name: Option<String>,
    weight: Option<f64>,
    slo: Option<Vec<String>>,
}

/// The keys an options struct reads: its flags (a flag and its key are one
/// field) plus `file_only`, the fields only a file can set (tables such
/// as `[target]` and `[[script]]`). Unknown keys are found against these
/// lists because serde's `deny_unknown_fields` does not combine with the
/// `flatten` that shares the endpoint options between commands.
fn keys_of<T: clap::Args>(file_only: &[&str]) -> Vec<String> {
    let cmd = T::augment_args(clap::Command::new("keys"));
    cmd.get_arguments()
        .map(|a| a.get_id().as_str().to_string())
        .chain(file_only.iter().map(|k| k.to_string()))
        .collect()
}

/// Every key the protocol options of `service` know.
fn protocol_keys(service: Service) -> Vec<String> {
    match service {
        Service::Tts => keys_of::<TtsOptions>(&["target"]),
        Service::Asr => keys_of::<AsrOptions>(&[]),
        Service::Agent => keys_of::<AgentOptions>(&["noise", "script"]),
    }
}

/// Reading a scenario file (the file's own type is shared with the other
/// file readers of `config`).
impl File<'_> {
    /// The protocol options of `service` in `doc`. Each part is read on
    /// its own, so a bad value is reported with its line (values a struct
    /// reads through `flatten` would be reported without it).
    fn protocol(&self, doc: &str, service: Service) -> Result<ProtocolOptions, ConfigError> {
        self.parse::<HeaderOptions>(doc)?;
        Ok(match service {
            Service::Tts => {
                self.parse::<TtsEndpointOptions>(doc)?;
                self.parse::<super::judge::JudgeOptions>(doc)?;
                ProtocolOptions::Tts(self.parse(doc)?)
            }
            Service::Asr => ProtocolOptions::Asr(self.parse(doc)?),
            Service::Agent => ProtocolOptions::Agent(self.parse(doc)?),
        })
    }

    /// Refuse the first key of `doc` not in `known`, naming its line.
    fn known_keys(&self, doc: &str, known: &[String], hint: &str) -> Result<(), ConfigError> {
        let table: toml::Table = self.parse(doc)?;
        let first = table
            .keys()
            .filter(|k| !known.contains(k))
            .map(|key| (key_line(doc, key), key))
            .min_by_key(|(line, _)| line.unwrap_or(usize::MAX));
        match first {
            Some((line, key)) => {
                let line = line.map(|n| format!("line {n}: ")).unwrap_or_default();
                Err(self.error(format!("{line}unknown key '{key}'{hint}")))
            }
            None => Ok(()),
        }
    }

    /// A file that is one scenario.
    pub(super) fn single(&self, service: Option<Service>) -> Result<RunOptions, ConfigError> {
        let meta: SingleMeta = self.parse(self.text)?;
        let service = match (meta.kind.as_deref(), service) {
            (Some(kind), _) => parse_kind(kind).map_err(|m| self.error(m))?,
            (None, Some(s)) => s,
            (None, None) => {
                return Err(self.error(
                    "no `kind`: add kind = \"tts\", \"asr\" or \"agent\" at the top, or run it with `voxload tts|asr|agent --config FILE`".into(),
                ))
            }
        };
        let mut known = keys_of::<CommonOptions>(&["kind", "preset"]);
        known.extend(keys_of::<WorkloadOptions>(&[]));
        known.extend(protocol_keys(service));
        self.known_keys(self.text, &known, "")?;
        let common = self.parse(self.text)?;
        let workload = self.parse(self.text)?;
        let protocol = self.protocol(self.text, service)?;
        let mut options = RunOptions::single(common, workload, protocol);
        options.scenarios[0].preset = meta.preset;
        Ok(options)
    }

    /// A file of `[[scenario]]` blocks.
    fn blocks(&self) -> Result<RunOptions, ConfigError> {
        let ranges = block_ranges(self.text);
        let top_doc = blank_except(self.text, 0..ranges.first().map_or(usize::MAX, |r| r.start));
        let mut known = keys_of::<CommonOptions>(&["scenario"]);
        known.extend(keys_of::<WorkloadOptions>(&[]));
        self.known_keys(
            self.text,
            &known,
            " (keys of a scenario go in its [[scenario]] block, its tables are [scenario.NAME])",
        )?;
        let common = self.parse(&top_doc)?;
        let workload = self.parse(&top_doc)?;
        let mut scenarios = Vec::new();
        for range in ranges {
            let line = range.start + 1;
            let doc = block_doc(self.text, range);
            let meta: BlockMeta = self.parse(&doc)?;
            let service = match meta.kind.as_deref() {
                Some(kind) => parse_kind(kind).map_err(|m| {
                    let line = key_line(&doc, "kind").unwrap_or(line);
                    self.error(format!("line {line}: {m}"))
                })?,
                None => {
                    return Err(self.error(format!(
                        "line {line}: a [[scenario]] needs kind = \"tts\", \"asr\" or \"agent\""
                    )))
                }
            };
            let mut known =
                keys_of::<WorkloadOptions>(&["kind", "name", "weight", "slo", "preset"]);
            known.extend(protocol_keys(service));
            self.known_keys(&doc, &known, "")?;
            scenarios.push(ScenarioOptions {
                name: meta.name,
                weight: meta.weight,
                preset: meta.preset,
                slo: meta.slo,
                workload: self.parse(&doc)?,
                protocol: self.protocol(&doc, service)?,
            });
        }
        Ok(RunOptions {
            common,
            workload,
            scenarios,
        })
    }
}

fn parse_kind(kind: &str) -> Result<Service, String> {
    Service::parse(kind).ok_or_else(|| format!("kind '{kind}' (expected tts, asr or agent)"))
}

/// Whether `line` opens a table: `[name]` or `[[name]]`, and which name.
fn table_header(line: &str) -> Option<&str> {
    let l = line.trim();
    let inner = l.strip_prefix("[[").and_then(|r| r.strip_suffix("]]"));
    let inner = inner.or_else(|| l.strip_prefix('[').and_then(|r| r.strip_suffix(']')))?;
    Some(inner.trim())
}

/// The 0-based line ranges of the `[[scenario]]` blocks: from each header
/// to the next line that opens a table outside the block.
fn block_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = table_header(line) else {
            continue;
        };
        if name.starts_with("scenario.") {
            continue;
        }
        if let Some(open) = out.last_mut().filter(|r| r.end == lines.len()) {
            open.end = i;
        }
        if name == "scenario" {
            out.push(i..lines.len());
        }
    }
    out
}

/// `text` with every line outside `keep` blanked (so line numbers stay).
fn blank_except(text: &str, keep: std::ops::Range<usize>) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| if keep.contains(&i) { l } else { "" })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One block as a document of its own: its header blanked, its tables
/// (`[scenario.target]`, `[[scenario.script]]`) at the top level, every
/// other line blank.
fn block_doc(text: &str, range: std::ops::Range<usize>) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i == range.start || !range.contains(&i) {
                return String::new();
            }
            match table_header(l) {
                Some(name) => {
                    let inner = name.trim_start_matches("scenario.");
                    if l.trim_start().starts_with("[[") {
                        format!("[[{inner}]]")
                    } else {
                        format!("[{inner}]")
                    }
                }
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The 1-based line that sets top-level `key` (`key = …`, `"key" = …`,
/// `key.sub = …`) or opens it as a table (`[key]`, `[[key]]`).
fn key_line(text: &str, key: &str) -> Option<usize> {
    let sets_key = |line: &str| {
        let l = line.trim_start().trim_start_matches('[').trim_start();
        let l = l.strip_prefix(['"', '\'']).unwrap_or(l);
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(['=', '.', ']', '"', '\'']))
    };
    text.lines().position(sets_key).map(|i| i + 1)
}

#[cfg(test)]
#[path = "scenario_tests.rs"]
mod tests;
