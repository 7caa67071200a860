//! `voxload report` (rewrite every report file from `result.json`) and
//! `voxload compare` (two runs, with confidence intervals and CI gates).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::{EXIT_OK, EXIT_THRESHOLDS};
use crate::report::compare::{self, Gate};
use crate::report::{default_writers, json, terminal};

/// `voxload report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A results folder (or its result.json).
    pub results: PathBuf,
    /// Write the reports into this folder instead of the results folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Check SLO thresholds on the saved run, replacing any it was run with,
    /// e.g. 'ttfa.p95<300ms' (repeatable). A failed threshold makes the exit code 3.
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<String>,
}

/// Output of `voxload compare` on stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// A readable table.
    #[default]
    Text,
    /// The comparison as JSON.
    Json,
}

/// `voxload compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The baseline results folder (or its result.json).
    pub base: PathBuf,
    /// The new results folder (or its result.json).
    pub new: PathBuf,
    /// Regression gate, e.g. 'ttfa.p95 > +10%', 'e2e.p99 > +50ms', 'errors > +1%'
    /// (percentage points), 'rps < -10%' (repeatable). Exit code 3 when a change
    /// is past its bound AND statistically significant on any stage.
    #[arg(long = "fail-if", value_name = "GATE")]
    pub fail_if: Vec<Gate>,
    /// Also write the comparison as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    pub format: CompareFormat,
    /// Only these metrics (comma-separated, e.g. ttfa,e2e) [default: every metric in both runs].
    #[arg(long, value_delimiter = ',')]
    pub metrics: Vec<String>,
}

/// Regenerate every report file from result.json alone.
pub async fn run_report(args: ReportArgs) -> anyhow::Result<i32> {
    let mut run = json::read(&args.results)?;
    if !args.slo.is_empty() {
        let slos = crate::metrics::slo::parse_all(&args.slo).context("invalid --slo")?;
        run.slo = crate::metrics::slo::evaluate_all(&slos, run.views());
    }
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None if args.results.is_dir() => args.results.clone(),
        None => args
            .results
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    for writer in default_writers() {
        writer.write(&run, &out)?;
    }
    println!("{}", terminal::summary(&run));
    println!("reports: {}", out.display());
    Ok(if run.slo.iter().any(|r| !r.passed) {
        EXIT_THRESHOLDS
    } else {
        EXIT_OK
    })
}

/// Compare two runs; exit code 3 when a `--fail-if` gate trips.
pub async fn run_compare(args: CompareArgs) -> anyhow::Result<i32> {
    let base = json::read(&args.base)?;
    let new = json::read(&args.new)?;
    for m in &args.metrics {
        if crate::metrics::Metric::parse(m).is_none() {
            anyhow::bail!("invalid --metrics: unknown metric '{m}'");
        }
    }
    let cmp = compare::compare(&base, &new, &args.metrics, &args.fail_if);
    let text = serde_json::to_string_pretty(&cmp).context("cannot serialize the comparison")?;
    if let Some(path) = &args.json {
        crate::report::write_atomic(path, text.as_bytes())?;
    }
    match args.format {
        CompareFormat::Text => print!("{}", compare::table(&cmp)),
        CompareFormat::Json => println!("{text}"),
    }
    Ok(if cmp.failed() {
        EXIT_THRESHOLDS
    } else {
        EXIT_OK
    })
}
