//! How a plan's scenarios are described to people: the facts a result
//! keeps for reports (so reports never read the plan), the definitions
//! stated once per result, and the line printed when a run starts.

use crate::config::judge::JudgePlan;
use crate::config::{Inputs, RunPlan, Scenario};
use crate::metrics::judge::JUDGE_NOTE;
use crate::metrics::registry;
use crate::protocol::http_asr::Upload;
use crate::protocol::http_tts::BodyTemplate;
use crate::protocol::target::{redact_header, redact_url};
use crate::protocol::Target;
use crate::result::ScenarioInfo;

fn fact(label: &str, value: impl Into<String>) -> (String, String) {
    (label.to_string(), value.into())
}

fn headers(h: &[(String, String)]) -> String {
    if h.is_empty() {
        return "none".into();
    }
    h.iter()
        .map(|(n, v)| format!("{n}: {}", redact_header(n, v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn duration(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// What reports show of scenario `s`; `mixed` runs name it.
pub fn info(s: &Scenario, mixed: bool) -> ScenarioInfo {
    let mut facts = vec![fact("target URL", redact_url(s.target.url()))];
    match &s.target {
        Target::HttpTts(t) => {
            facts.push(fact("model", t.model.clone()));
            facts.push(fact("format", t.format.to_string()));
            facts.push(fact("framing", t.framing.name()));
            let body = match &t.body {
                BodyTemplate::OpenAi { sse: false } => "OpenAI speech request".to_string(),
                BodyTemplate::OpenAi { sse: true } => "OpenAI speech request, SSE".to_string(),
                BodyTemplate::Json { template, .. } => template.to_string(),
                BodyTemplate::Text { template, .. } => template.clone(),
            };
            facts.push(fact("request body", body));
            facts.push(fact("headers", headers(&t.headers)));
        }
        Target::HttpAsr(t) => {
            let upload = match &t.upload {
                Upload::Multipart { file_field, fields } => {
                    let fields: Vec<String> =
                        fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("multipart, file in '{file_field}', {}", fields.join(", "))
                }
                Upload::Raw => "raw audio body".into(),
            };
            facts.push(fact("upload", upload));
            facts.push(fact("headers", headers(&t.headers)));
        }
        Target::WsAsr(t) => {
            facts.push(fact(
                "stream",
                format!(
                    "{} Hz {} in {} frames",
                    t.sample_rate,
                    t.codec,
                    duration(t.frame)
                ),
            ));
            facts.push(fact("headers", headers(&t.headers)));
        }
        Target::WsTts(t) => {
            facts.push(fact("format", t.format.to_string()));
            facts.push(fact("text messages", t.text_messages.join(" ")));
            facts.push(fact("headers", headers(&t.headers)));
        }
        Target::WsAgent(t) => {
            facts.push(fact(
                "caller audio",
                format!(
                    "{} Hz {} in {} frames",
                    t.sample_rate,
                    t.codec,
                    duration(t.frame)
                ),
            ));
            facts.push(fact("headers", headers(&t.headers)));
        }
        Target::RtcAgent(t) => {
            facts.push(fact("signalling", t.signal.name().to_string()));
            facts.push(fact(
                "caller audio",
                "Opus 48 kHz in 20 ms packets".to_string(),
            ));
            facts.push(fact("audible from", format!("{} dBFS", t.audible_dbfs)));
            facts.push(fact("headers", headers(&t.agent.headers)));
        }
    }
    match &s.inputs {
        Inputs::Tts(i) => {
            facts.push(fact("voices", i.voices.join(", ")));
            facts.push(fact(
                "texts",
                format!("{}, {}", i.texts_source, i.texts_count),
            ));
            facts.push(fact("timeout", duration(i.timeout)));
            if let Some(j) = &i.judge {
                facts.push(fact("judge", judge(j)));
            }
        }
        Inputs::Asr(i) => {
            facts.push(fact(
                "audio",
                format!(
                    "{} ({} files, {:.1} s)",
                    i.inputs.join(", "),
                    i.files,
                    i.audio_s_total
                ),
            ));
            facts.push(fact("timeout", duration(i.timeout)));
        }
        Inputs::Agent(i) => {
            let scripts: Vec<String> = i
                .scripts
                .iter()
                .map(|s| format!("{} ({} turns, weight {})", s.name, s.turns.len(), s.weight))
                .collect();
            facts.push(fact("scripts", scripts.join(", ")));
            facts.push(fact(
                "barge-in",
                format!(
                    "{:.0}% of turns, {} into the answer",
                    i.barge_in * 100.0,
                    duration(i.barge_in_after)
                ),
            ));
        }
    }
    ScenarioInfo {
        name: mixed.then(|| s.name.clone()),
        kind: s.kind(),
        url: redact_url(s.target.url()).into_owned(),
        facts,
    }
}

/// The quality judge of a TTS scenario, in a few words.
fn judge(j: &JudgePlan) -> String {
    format!(
        "{} ({:.0}% of requests, {} at once)",
        redact_url(&j.target.url),
        j.share * 100.0,
        j.concurrency
    )
}

/// The definitions every result of `plan` states, once each.
pub fn notes(plan: &RunPlan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &plan.scenarios {
        for n in registry::notes(s.kind()) {
            if !out.iter().any(|o| o == n) {
                out.push((*n).to_string());
            }
        }
    }
    let judged = plan
        .scenarios
        .iter()
        .any(|s| matches!(&s.inputs, Inputs::Tts(i) if i.judge.is_some()));
    if judged {
        out.push(JUDGE_NOTE.to_string());
    }
    if plan.common.scrape.is_some() {
        out.push(SCRAPE_NOTE.to_string());
    }
    out
}

/// What `target_metrics` holds, stated in results that have it.
const SCRAPE_NOTE: &str = "target_metrics: the target's own Prometheus series (--scrape), scraped on a grid of --scrape-every from the run's start; a point's time is when its scrape was sent (run-clock seconds), its value what the server answered; counters are saved as scraped and shown as rates per second; failed scrapes are counted by kind, never ending the run";

/// One line per scenario, printed when a run starts: where it goes and
/// what it sends.
pub fn banner(plan: &RunPlan) -> String {
    let stages = plan.stage_count();
    banner_of(
        plan,
        &format!("{} stage{}", stages, if stages == 1 { "" } else { "s" }),
    )
}

/// [`banner`] for a run whose stages are chosen as it goes: `what` says
/// what they are (`capacity search`).
pub fn banner_of(plan: &RunPlan, what: &str) -> String {
    let mut out = format!("voxload: {} ({what}", plan.common.name);
    if plan.is_mixed() {
        out.push_str(&format!(", {} scenarios)", plan.scenarios.len()));
    } else {
        out.push(')');
    }
    for s in &plan.scenarios {
        let what = match &s.inputs {
            Inputs::Tts(i) => {
                let mut what = format!("texts: {} × {}", i.texts_count, i.texts_source);
                if let Some(j) = &i.judge {
                    what.push_str(&format!("; judge: {}", judge(j)));
                }
                what
            }
            Inputs::Asr(i) => format!("{} audio files, {:.1} s of audio", i.files, i.audio_s_total),
            Inputs::Agent(i) => {
                let scripts: Vec<String> = i
                    .scripts
                    .iter()
                    .map(|s| format!("{} ({} turns)", s.name, s.turns.len()))
                    .collect();
                format!(
                    "scripts: {}, barge-in on {:.0}% of turns",
                    scripts.join(", "),
                    i.barge_in * 100.0
                )
            }
        };
        let service = s.kind().service();
        let name = match plan.is_mixed() {
            true if s.name == service.name() => format!("{} ", s.name),
            true => format!("{} [{service}] ", s.name),
            false => format!("{service} "),
        };
        out.push_str(&format!(
            "\n  {name}→ {} ({what})",
            redact_url(s.target.url())
        ));
    }
    if let Some(p) = &plan.common.scrape {
        let urls: Vec<String> = p.urls.iter().map(|u| redact_url(u).into_owned()).collect();
        out.push_str(&format!(
            "\n  scraping {} every {}",
            urls.join(", "),
            humantime::format_duration(p.every)
        ));
    }
    out
}
