//! Synthetic, fully deterministic runs for report tests: requests drawn from
//! a fixed distribution with our own seeded generator (independent of any
//! RNG crate's version), folded into stage statistics and a timeline exactly
//! as a real run would, with fixed wall times and timestamps.
#![allow(dead_code)]

use std::time::Duration;

use voxload::metrics::{RequestRecord, StageStats, Timeline};
use voxload::protocol::ErrorKind;
use voxload::protocol::Kind;
use voxload::result::{Environment, RunKind, RunResult, RunStatus, ScenarioInfo, StageResult};
use voxload::result::{DEFAULT_MIN_SUCCESS, SCHEMA, SCHEMA_VERSION};
use voxload::workload::Workload;

/// splitmix64: tiny, fast, and fixed forever.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// How one synthetic stage behaves.
#[derive(Clone, Debug)]
pub struct StageSpec {
    pub label: &'static str,
    pub seed: u64,
    pub requests: u64,
    /// Arrivals per second (requests are spaced evenly).
    pub rate: f64,
    /// Median TTFA; TTFA is log-normal with σ = 0.25.
    pub ttfa_median_ms: f64,
    /// Every `fail_every`-th request fails (alternating 503 and timeout); 0 = never.
    pub fail_every: u64,
}

impl StageSpec {
    pub fn new(label: &'static str, seed: u64, ttfa_median_ms: f64) -> Self {
        Self {
            label,
            seed,
            requests: 400,
            rate: 4.0,
            ttfa_median_ms,
            fail_every: 50,
        }
    }
}

/// The records of one stage, starting at `offset_us` on the run clock.
pub fn records(index: usize, spec: &StageSpec, offset_us: u64) -> Vec<RequestRecord> {
    let mut rng = Rng::new(spec.seed);
    let gap_us = (1e6 / spec.rate) as u64;
    (0..spec.requests)
        .map(|i| {
            let ttfa = (spec.ttfa_median_ms * 1000.0 * (0.25 * rng.normal()).exp()) as u64;
            let synth = (1_000_000.0 * (0.1 * rng.normal()).exp()) as u64;
            let e2e = ttfa + synth;
            let audio = 3_000_000u64;
            let stalls = u32::from(rng.uniform() < 0.1);
            let start = offset_us + i * gap_us;
            let failed = spec.fail_every > 0 && (i + 1) % spec.fail_every == 0;
            let mut r = RequestRecord {
                stage: index,
                seq: i,
                start_us: start,
                end_us: start + e2e,
                text_chars: 45,
                ..RequestRecord::default()
            };
            if failed {
                if (i + 1) % (2 * spec.fail_every) == 0 {
                    r.error = Some(ErrorKind::Timeout);
                    r.error_detail = Some("no complete response within 60s".into());
                } else {
                    r.status = Some(503);
                    r.ttfb_us = Some(ttfa / 10);
                    r.error = Some(ErrorKind::Http(503));
                    r.error_detail = Some("queue full, retry later".into());
                }
                return r;
            }
            r.status = Some(200);
            r.ttfb_us = Some(ttfa.saturating_sub(2_000));
            r.ttfa_us = Some(ttfa);
            r.chunk_us = vec![(1, ttfa), (4, ttfa + 300_000)];
            r.e2e_us = Some(e2e);
            r.chunks = 30;
            r.audio_bytes = 144_000;
            r.audio_us = Some(audio);
            r.rtf = Some(e2e as f64 / audio as f64);
            r.rtfx = Some(audio as f64 / e2e as f64);
            r.stall_count = Some(stalls);
            r.stall_us = Some(u64::from(stalls) * 25_000);
            r
        })
        .collect()
}

/// A complete run of the given stages, one after another.
pub fn run(name: &str, specs: &[StageSpec]) -> RunResult {
    let mut timeline = Timeline::new();
    let mut stages = Vec::new();
    let mut offset = 0u64;
    for (index, spec) in specs.iter().enumerate() {
        let recs = records(index, spec, offset);
        let mut stats = StageStats::new(&[1, 4]);
        for r in &recs {
            stats.record(r);
            timeline.record_started(r.start_us / 1_000_000);
            timeline.record(r);
        }
        let end = recs.iter().map(|r| r.end_us).max().unwrap_or(offset);
        let wall = Duration::from_micros(end - offset);
        offset = end;
        stages.push(StageResult {
            index,
            label: spec.label.into(),
            scenario: None,
            workload: Workload::Open {
                rate: spec.rate,
                burstiness: None,
                seed: spec.seed,
                max_in_flight: None,
                raw_arrivals: false,
                phase: 0.0,
            },
            issued: spec.requests,
            offered_rps: Some(spec.rate),
            wall_s: wall.as_secs_f64(),
            interrupted: false,
            summary: stats.summary(wall),
            stats,
            warnings: Vec::new(),
            saturated: None,
        });
    }
    RunResult {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        voxload_version: "0.0.0-test".into(),
        name: name.into(),
        kind: RunKind::Tts,
        started_at: "2025-01-02T03:04:05.000Z".into(),
        written_at: "2025-01-02T03:10:00.000Z".into(),
        status: RunStatus::Complete,
        epoch_us: 1_735_787_045_000_000,
        min_success: DEFAULT_MIN_SUCCESS,
        seed: Some(1),
        scenarios: vec![ScenarioInfo {
            name: None,
            kind: Kind::HttpTts,
            url: "http://127.0.0.1:8000/v1/audio/speech".into(),
            facts: vec![(
                "target URL".into(),
                "http://127.0.0.1:8000/v1/audio/speech".into(),
            )],
        }],
        config: serde_json::json!({"target": {"url": "http://127.0.0.1:8000/v1/audio/speech"}}),
        environment: Environment {
            os: "linux".into(),
            arch: "x86_64".into(),
            cpus: 2,
        },
        notes: vec!["synthetic".into()],
        stages,
        timeline: timeline.rows(),
        windows: Vec::new(),
        slo: Vec::new(),
        capacity: None,
        cold_start: None,
        scale: None,
        shard: None,
        merged_from: None,
        target_metrics: Vec::new(),
        warnings: Vec::new(),
    }
}
