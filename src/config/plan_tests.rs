//! Plans of one scenario and of several: weights, names, stages, SLOs.

use super::*;
use crate::config::agent::{AgentOptions, ScriptOptions};
use crate::config::asr::AsrOptions;
use crate::config::tts::{TtsEndpointOptions, TtsOptions};
use crate::config::CommonOptions;
use crate::workload::Workload;

fn tts(url: &str) -> ProtocolOptions {
    ProtocolOptions::Tts(TtsOptions {
        endpoint: TtsEndpointOptions {
            url: Some(url.into()),
            ..TtsEndpointOptions::default()
        },
        ..TtsOptions::default()
    })
}

fn asr() -> ProtocolOptions {
    ProtocolOptions::Asr(AsrOptions {
        url: Some("ws://127.0.0.1:9/v1/realtime/transcribe".into()),
        texts: Some(vec!["hello there".into()]),
        ..AsrOptions::default()
    })
}

fn agent() -> ProtocolOptions {
    ProtocolOptions::Agent(AgentOptions {
        url: Some("ws://127.0.0.1:9/v1/agent".into()),
        script: Some(vec![ScriptOptions {
            name: "hi".into(),
            texts: Some(vec!["hi".into()]),
            ..ScriptOptions::default()
        }]),
        ..AgentOptions::default()
    })
}

fn scenario(protocol: ProtocolOptions) -> ScenarioOptions {
    ScenarioOptions::of(protocol)
}

fn run(workload: WorkloadOptions, scenarios: Vec<ScenarioOptions>, slo: &[&str]) -> RunOptions {
    RunOptions {
        common: CommonOptions {
            name: Some("t".into()),
            slo: (!slo.is_empty()).then(|| slo.iter().map(|s| s.to_string()).collect()),
            ..CommonOptions::default()
        },
        workload,
        scenarios,
    }
}

fn rate(levels: &str) -> WorkloadOptions {
    WorkloadOptions {
        rate: Some(levels.parse().expect("levels")),
        ..WorkloadOptions::default()
    }
}

fn build(o: RunOptions) -> Result<RunPlan, String> {
    RunPlan::build(o, &|_| None).map_err(|e| e.to_string())
}

fn open_rate(s: &StageSpec) -> f64 {
    match s.workload {
        Workload::Open { rate, .. } => rate,
        Workload::Closed { .. } => f64::NAN,
    }
}

#[test]
fn one_scenario_keeps_the_shared_workload_and_its_name() {
    let plan = build(run(rate("1,2"), vec![scenario(tts("http://h"))], &[])).expect("plan");
    assert!(!plan.is_mixed());
    assert_eq!(plan.kind(), RunKind::Tts);
    let s = &plan.scenarios[0];
    assert_eq!((s.name.as_str(), s.stages.len()), ("tts", 2));
    assert_eq!(s.stages[1].label, "rate=2/s");
    assert_eq!(s.stages[0].requests, Some(100));
    assert_eq!(plan.common.out_dir, PathBuf::from("results/t"));
    let json = serde_json::to_value(&plan).expect("serializes");
    assert_eq!(json["scenarios"][0]["target"]["protocol"], "http_tts");
}

#[test]
fn weights_share_the_level_and_the_request_count() {
    let mut w = rate("3,6");
    w.requests = Some(30);
    let mut a = scenario(tts("http://h"));
    a.weight = Some(2.0);
    let mut own = scenario(agent());
    own.workload.concurrency = Some("2".parse().expect("levels"));
    let plan = build(run(w, vec![a, scenario(asr()), own], &[])).expect("plan");
    assert_eq!(plan.kind(), RunKind::Mixed);
    let names: Vec<&str> = plan.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["tts", "asr", "agent"]);
    let [t, s, g] = &plan.scenarios[..] else {
        panic!("three scenarios");
    };
    // tts : asr = 2 : 1 of 3 and 6 req/s, and of 30 requests.
    assert_eq!(
        (open_rate(&t.stages[0]), open_rate(&t.stages[1])),
        (2.0, 4.0)
    );
    assert_eq!(
        (open_rate(&s.stages[0]), open_rate(&s.stages[1])),
        (1.0, 2.0)
    );
    assert_eq!(
        (t.stages[0].requests, s.stages[0].requests),
        (Some(20), Some(10))
    );
    // The agent runs its own level in every stage, at the shared count.
    assert!(matches!(
        g.stages[1].workload,
        Workload::Closed { concurrency: 2, .. }
    ));
    assert_eq!(g.stages.len(), 2, "one level is repeated in every stage");
    assert_eq!(g.stages[0].requests, Some(30));
    // Each scenario's arrivals have their own seeds.
    let seed = |s: &StageSpec| match s.workload {
        Workload::Open { seed, .. } => seed,
        Workload::Closed { .. } => 0,
    };
    assert_ne!(seed(&t.stages[0]), seed(&s.stages[0]));
}

#[test]
fn two_targets_of_one_kind_get_their_own_names() {
    let plan = build(run(
        rate("2"),
        vec![scenario(tts("http://a")), scenario(tts("http://b"))],
        &["tts-2:ttfa.p95<1s"],
    ))
    .expect("plan");
    let names: Vec<&str> = plan.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["tts", "tts-2"]);
    assert_eq!(plan.kind(), RunKind::Tts);
    assert_eq!(plan.common.slo[0].scenario.as_deref(), Some("tts-2"));
    let mut named = scenario(tts("http://a"));
    named.name = Some("tts".into());
    let dup = build(run(rate("2"), vec![named.clone(), named], &[])).expect_err("duplicate");
    assert!(dup.contains("'tts' is used twice"), "{dup}");
}

#[test]
fn an_slo_the_run_cannot_measure_is_refused_before_any_request() {
    let e = build(run(rate("1"), vec![scenario(asr())], &["ttfa.p95<300ms"])).expect_err("asr");
    assert!(
        e.contains("--slo") && e.contains("ttfa") && e.contains("ws_asr"),
        "{e}"
    );
    let e = build(run(
        rate("1"),
        vec![scenario(tts("http://h"))],
        &["wer_pooled<5%"],
    ))
    .expect_err("tts has no wer");
    assert!(e.contains("wer_pooled"), "{e}");
    // In a mixed run: unscoped is fine when some scenario measures it …
    let both = vec![scenario(tts("http://h")), scenario(asr())];
    assert!(build(run(
        rate("2"),
        both.clone(),
        &["ttfa.p95<300ms", "errors<1%"]
    ))
    .is_ok());
    // … a scoped one must name a scenario that does.
    let e = build(run(rate("2"), both.clone(), &["asr:ttfa.p95<300ms"])).expect_err("scoped");
    assert!(e.contains("scenario 'asr'"), "{e}");
    let e = build(run(rate("2"), both, &["nope:errors<1%"])).expect_err("unknown");
    assert!(
        e.contains("no scenario named 'nope'") && e.contains("tts, asr"),
        "{e}"
    );
    let e = build(run(rate("1"), vec![scenario(asr())], &["asr:errors<1%"])).expect_err("single");
    assert!(e.contains("without a prefix"), "{e}");
}

#[test]
fn a_scenario_slo_is_scoped_to_it() {
    let mut a = scenario(tts("http://h"));
    a.slo = Some(vec!["ttfa.p95<300ms".into()]);
    let plan = build(run(rate("2"), vec![a, scenario(asr())], &[])).expect("plan");
    assert_eq!(plan.common.slo[0].expr, "tts:ttfa.p95<300ms");
}

#[test]
fn workload_conflicts_name_the_scenario() {
    let mut a = scenario(tts("http://h"));
    a.weight = Some(1.0);
    a.workload.rate = Some("2".parse().expect("levels"));
    let e = build(run(rate("2"), vec![a, scenario(asr())], &[])).expect_err("conflict");
    assert!(e.contains("scenario 'tts'") && e.contains("weight"), "{e}");
    let mut b = scenario(agent());
    b.workload.concurrency = Some("1,2,3".parse().expect("levels"));
    let e = build(run(rate("1,2"), vec![scenario(tts("http://h")), b], &[])).expect_err("stages");
    assert!(e.contains("3 stages") && e.contains("2"), "{e}");
    let users = WorkloadOptions {
        concurrency: Some("1".parse().expect("levels")),
        ..WorkloadOptions::default()
    };
    let e = build(run(
        users,
        vec![scenario(tts("http://h")), scenario(asr())],
        &[],
    ))
    .expect_err("1 user for 2");
    assert!(e.contains("--concurrency"), "{e}");
}
