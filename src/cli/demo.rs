//! `voxload demo`: the embedded mock server plus a real streaming TTS sweep
//! against it. Works with no server and no network.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::config::{RunPlan, TtsOptions};
use crate::mock::{self, MockModel};

/// `voxload demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Results root folder [default: results].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run name [default: demo-DATE-TIME].
    #[arg(long)]
    pub name: Option<String>,
    /// Seconds per stage (3 stages) [default: 12].
    #[arg(long, default_value_t = 12)]
    pub stage_seconds: u64,
    /// SLO threshold checked on every stage, e.g. 'ttfa.p95<300ms' (repeatable).
    /// A failed threshold makes the exit code 3.
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<String>,
    /// No live progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The mock the demo runs against: 4 synthesis slots at 3× real time, so
/// with ~6 s of audio per text (~2 s of synthesis), capacity is about
/// 2 requests/s and the sweep's last level shows queueing.
pub fn demo_model() -> MockModel {
    MockModel {
        slots: 4,
        queue: 64,
        speed: 3.0,
        overhead: Duration::from_millis(80),
        jitter: Duration::from_millis(20),
        leading_silence: Duration::from_millis(120),
        seed: Some(7),
        ..MockModel::default()
    }
}

/// The demo's plan against a mock at `url`.
pub fn demo_options(url: String, args: &DemoArgs) -> TtsOptions {
    TtsOptions {
        url: Some(url),
        name: Some(
            args.name
                .clone()
                .unwrap_or_else(|| crate::config::plan::default_name("demo")),
        ),
        out: args.out.clone(),
        format: Some("wav".into()),
        rate: Some("1,2,3".parse().ok()).flatten(),
        burstiness: Some(1.0),
        duration: Some(Duration::from_secs(args.stage_seconds.max(1))),
        voice: Some(vec!["alloy".into(), "verse".into()]),
        slo: (!args.slo.is_empty()).then(|| args.slo.clone()),
        ..TtsOptions::default()
    }
}

/// Start the mock, run the sweep, print the summary and the mock's truth.
pub async fn run_demo(args: DemoArgs) -> anyhow::Result<i32> {
    let handle = mock::spawn(demo_model()).await?;
    eprintln!("mock speech server listening on {}", handle.url());
    let plan = RunPlan::from_options(demo_options(handle.url(), &args), &|_| None)?;
    let code = super::execute_plan(plan, args.quiet).await?;
    let truth = handle.truth().await;
    println!(
        "mock truth: {} requests, {} ok, {} rejected (503), max {} in flight",
        truth.requests, truth.ok, truth.rejected_503, truth.max_in_flight
    );
    handle.stop();
    Ok(code)
}
