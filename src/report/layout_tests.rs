//! Text tables with long metric names: the agent sweep table and the
//! compare table keep every header cell apart and every row in line.

use std::time::Duration;

use super::{compare, terminal};
use crate::metrics::{RequestRecord, StageStats};
use crate::protocol::Kind;
use crate::result::{Environment, RunKind, RunResult, RunStatus, ScenarioInfo, StageResult};
use crate::result::{SCHEMA, SCHEMA_VERSION};
use crate::workload::Workload;

/// One agent turn: first audio, first message, turn time, barge-in silence.
fn turn(stage: usize, seq: u64, slow_ms: u64) -> RequestRecord {
    let ms = |v: u64| Some(v * 1000);
    RequestRecord {
        stage,
        seq,
        start_us: seq * 5_000_000,
        end_us: seq * 5_000_000 + 4_500_000,
        status: Some(101),
        turn: Some(u32::try_from(seq % 3).expect("small") + 1),
        connect_us: ms(1),
        agent_first_message_us: ms(400 + slow_ms + seq),
        agent_first_audio_us: ms(700 + slow_ms + seq),
        agent_transcript_us: ms(400 + seq),
        turn_us: ms(4_500 + seq),
        barge_in_silence_us: ms(120 + seq % 5),
        audio_us: ms(1_500),
        ..RequestRecord::default()
    }
}

fn agent_run(name: &str, labels: &[&str], slow_ms: u64) -> RunResult {
    let stages = labels
        .iter()
        .enumerate()
        .map(|(index, label)| {
            let mut stats = StageStats::new(&[]);
            for seq in 0..40 {
                stats.record(&turn(index, seq, slow_ms * index as u64));
            }
            let wall = Duration::from_secs(200);
            StageResult {
                index,
                label: (*label).into(),
                scenario: None,
                workload: Workload::Closed {
                    concurrency: index + 1,
                    spawn_rate: None,
                    think_time: Duration::ZERO,
                    retry: crate::workload::RetryPolicy::off(),
                },
                issued: 40,
                offered_rps: None,
                wall_s: wall.as_secs_f64(),
                interrupted: false,
                summary: stats.summary(wall),
                stats,
                warnings: Vec::new(),
                saturated: None,
            }
        })
        .collect();
    RunResult {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        voxload_version: "0.0.0-test".into(),
        name: name.into(),
        kind: RunKind::Agent,
        started_at: "2025-01-02T03:04:05.000Z".into(),
        written_at: "2025-01-02T03:10:00.000Z".into(),
        status: RunStatus::Complete,
        epoch_us: 0,
        min_success: crate::result::DEFAULT_MIN_SUCCESS,
        seed: Some(1),
        scenarios: vec![ScenarioInfo {
            name: None,
            kind: Kind::WsAgent,
            url: "ws://127.0.0.1:1/v1/agent".into(),
            facts: Vec::new(),
        }],
        config: serde_json::json!({"target": {"url": "ws://127.0.0.1:1/v1/agent"}}),
        environment: Environment {
            os: "linux".into(),
            arch: "x86_64".into(),
            cpus: 2,
        },
        notes: Vec::new(),
        stages,
        timeline: Vec::new(),
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

/// Where each of `cells` sits in `line` (character spans, found in order),
/// asserting at least one space between neighbours.
fn spans(line: &str, cells: &[&str]) -> Vec<(usize, usize)> {
    let chars: Vec<char> = line.chars().collect();
    let mut from = 0;
    let mut out = Vec::new();
    for cell in cells {
        let want: Vec<char> = cell.chars().collect();
        let start = (from..=chars.len().saturating_sub(want.len()))
            .find(|&i| chars[i..].starts_with(&want))
            .unwrap_or_else(|| panic!("{cell:?} not found after column {from} in {line:?}"));
        if !out.is_empty() {
            assert!(
                start > from && chars[from..start].iter().all(|c| *c == ' '),
                "{cell:?} runs into the cell before it in {line:?}"
            );
        }
        out.push((start, start + want.len()));
        from = start + want.len();
    }
    assert!(
        chars[from..].iter().all(|c| *c == ' '),
        "unexpected text after the last cell in {line:?}"
    );
    out
}

#[test]
fn agent_sweep_table_separates_long_headers_and_lines_up_rows() {
    let run = agent_run("agent", &["c=1", "concurrency=64 (long)"], 50);
    let text = terminal::summary(&run);
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("stage ") && l.contains("turns/s"))
        .expect("sweep table header");
    let header = [
        "stage",
        "turns/s",
        "ok%",
        "agent_first_audio p50",
        "agent_first_audio p95",
        "turn p50",
        "barge_in_silence p50",
    ];
    let head = spans(lines[at], &header);
    // Agents have no rtf or stalls: no always-empty TTS columns.
    for tts in ["e2e p95", "rtf p50", "stalled"] {
        assert!(!lines[at].contains(tts), "{tts} in {:?}", lines[at]);
    }
    for row in &lines[at + 1..at + 3] {
        let cells: Vec<&str> = row.split_whitespace().collect();
        // The label may hold a space: the last six tokens are the values.
        let (label, values) = cells.split_at(cells.len() - 6);
        let label = label.join(" ");
        let mut all = vec![label.as_str()];
        all.extend(values);
        assert!(values.iter().all(|v| *v != "-"), "empty cell in {row:?}");
        let got = spans(row, &all);
        assert_eq!(got[0].0, head[0].0, "stage column starts apart: {row:?}");
        for (i, (g, h)) in got.iter().zip(&head).enumerate().skip(1) {
            assert_eq!(g.1, h.1, "column {:?} ends apart in {row:?}", header[i]);
        }
    }
    assert!(lines[at + 3].starts_with("best level:"));
}

#[test]
fn the_best_level_is_not_a_saturated_one_when_another_qualifies() {
    let mut run = agent_run("agent", &["c=1", "c=2", "c=4"], 0);
    for (s, rps) in run.stages.iter_mut().zip([1.0, 2.0, 2.05]) {
        s.summary.achieved_rps = rps;
    }
    let best = |run: &RunResult| {
        let stages: Vec<&StageResult> = run.stages.iter().collect();
        terminal::best_level(run, &stages).map(|(s, _)| s.label.clone())
    };
    assert_eq!(best(&run).as_deref(), Some("c=4"));
    run.stages[2].saturated = Some("more users, no more throughput".into());
    assert_eq!(best(&run).as_deref(), Some("c=2"));
    assert!(terminal::summary(&run).contains("best level: c=2 — 2.00 turns/s"));
    // Every stage saturated: the highest still counts.
    run.stages[0].saturated = Some("x".into());
    run.stages[1].saturated = Some("x".into());
    assert_eq!(best(&run).as_deref(), Some("c=4"));
}

#[test]
fn compare_table_separates_long_metric_names_and_lines_up_rows() {
    let labels = ["c=1", "c=4"];
    let (base, new) = (
        agent_run("base", &labels, 0),
        agent_run("new", &labels, 300),
    );
    let cmp = compare::compare(&base, &new, &[], &[]);
    let text = compare::table(&cmp);
    let lines: Vec<&str> = text.lines().collect();
    let header = [
        "metric",
        "stat",
        "base",
        "new",
        "change",
        "95% CI of change",
        "verdict",
    ];
    // Left-aligned columns line up on their start, right-aligned on their end.
    let left = [true, true, false, false, false, true, true];
    let mut long = false;
    for st in &cmp.stages {
        let title = format!("stage {} [{}]", st.index + 1, st.new_label);
        let at = lines.iter().position(|l| *l == title).expect("stage title");
        let head = spans(lines[at + 1], &header);
        for (r, line) in st.rows.iter().zip(&lines[at + 2..]) {
            long |= r.metric.len() >= 18;
            let cells = compare::row_cells(r);
            let verdict = if r.method == "none" {
                ""
            } else {
                r.verdict.label()
            };
            let mut all: Vec<&str> = cells.iter().map(String::as_str).collect();
            if !verdict.is_empty() {
                all.push(verdict);
            }
            let got = spans(line, &all);
            for (i, (g, h)) in got.iter().zip(&head).enumerate() {
                if left[i] {
                    assert_eq!(g.0, h.0, "{:?} starts apart in {line:?}", header[i]);
                } else {
                    assert_eq!(g.1, h.1, "{:?} ends apart in {line:?}", header[i]);
                }
            }
        }
    }
    assert!(long, "the runs compare agent_first_message");
}
