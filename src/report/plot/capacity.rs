//! `capacity`: a capacity search's probes against load, one panel per
//! SLO — the observed value and its 95 % bound at each level probed, the
//! limit as a line, and the answer as a vertical line — so the reader sees
//! where each threshold binds and how close the others came.

use super::figures::{Figure, Mark, Panel, Series, XAxis, PALETTE};
use crate::result::capacity::CapacityResult;
use crate::result::RunResult;
use crate::workload::search::Over;

/// Per level probed (the last probe of a level wins: a confirmation
/// repeats one), ordered by level.
fn by_level(
    c: &CapacityResult,
    slo: &str,
    pick: fn(&crate::result::capacity::BoundVerdict) -> Option<f64>,
) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for p in &c.probes {
        let Some(y) = p.slo.iter().find(|v| v.slo == slo).and_then(pick) else {
            continue;
        };
        points.retain(|(x, _)| *x != p.level);
        points.push((p.level, y));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// The figure, when the run is a capacity search with probes.
pub fn capacity(run: &RunResult) -> Option<Figure> {
    let c = run.capacity.as_ref()?;
    let levels: Vec<f64> = c.probes.iter().map(|p| p.level).collect();
    let (lo, hi) = levels
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &l| {
            (a.min(l), b.max(l))
        });
    if !lo.is_finite() {
        return None;
    }
    let x = match c.over {
        Over::Rate => "offered requests per second",
        Over::Concurrency => "users",
    };
    let panels: Vec<Panel> = c
        .slo
        .iter()
        .filter_map(|slo| {
            let verdict = c
                .probes
                .iter()
                .flat_map(|p| &p.slo)
                .find(|v| &v.slo == slo)?;
            let observed = by_level(c, slo, |v| v.observed);
            let bound = by_level(c, slo, |v| v.bound);
            let top = observed
                .iter()
                .chain(&bound)
                .map(|p| p.1)
                .fold(verdict.threshold, f64::max);
            let mut series = vec![
                Series {
                    name: "observed".into(),
                    mark: Mark::Line,
                    colour: PALETTE[0],
                    points: observed,
                },
                Series {
                    name: "95 % bound".into(),
                    mark: Mark::Dashed,
                    colour: PALETTE[1],
                    points: bound,
                },
                Series {
                    name: format!("limit {}", slo),
                    mark: Mark::Trace,
                    colour: PALETTE[3],
                    points: vec![(lo, verdict.threshold), (hi, verdict.threshold)],
                },
            ];
            if let Some(answer) = c.answer {
                series.push(Series {
                    name: format!("capacity {}", c.over.show(answer)),
                    mark: Mark::Trace,
                    colour: PALETTE[2],
                    points: vec![(answer, 0.0), (answer, top)],
                });
            }
            Some(Panel {
                title: slo.clone(),
                x: XAxis::Value(x.into()),
                y_label: verdict.unit.clone(),
                series,
                point_labels: Vec::new(),
            })
        })
        .collect();
    (!panels.is_empty()).then(|| Figure {
        stem: "capacity".into(),
        title: format!("{} — capacity search", run.name),
        grid: (1, panels.len()),
        size: (600 * panels.len() as u32, 500),
        panels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::capacity::{BoundVerdict, CapacityProbe};
    use crate::workload::search::{Ending, Phase};

    fn probe(stage: usize, level: f64, observed: f64, passed: bool) -> CapacityProbe {
        CapacityProbe {
            stage,
            level,
            phase: Phase::Grow,
            passed,
            slo: vec![BoundVerdict {
                slo: "errors<5%".into(),
                observed: Some(observed),
                bound: Some(observed + 4.0),
                interval: None,
                threshold: 5.0,
                unit: "%".into(),
                passed,
                reason: None,
            }],
        }
    }

    #[test]
    fn one_panel_per_slo_with_its_limit_and_the_answer() {
        let mut run: RunResult = serde_json::from_value(serde_json::json!({
            "schema": "voxload.result", "schema_version": 1, "voxload_version": "test",
            "name": "cap", "kind": "tts", "started_at": "", "written_at": "",
            "status": "complete", "config": {}, "notes": [], "stages": [], "timeline": [],
            "environment": {"os": "linux", "arch": "x86_64", "cpus": 2}
        }))
        .expect("a minimal result");
        run.capacity = Some(CapacityResult {
            over: Over::Rate,
            slo: vec!["errors<5%".into()],
            resolution: 0.05,
            min_samples: 73,
            answer: Some(60.0),
            first_failure: Some(62.5),
            ending: Some(Ending::Found),
            require: None,
            probes: vec![
                probe(0, 20.0, 0.0, true),
                probe(1, 80.0, 30.0, false),
                probe(2, 60.0, 0.5, true),
                probe(3, 62.5, 1.1, false),
                probe(4, 60.0, 0.0, true),
            ],
        });
        let fig = capacity(&run).expect("a figure");
        assert_eq!(fig.panels.len(), 1);
        let s = &fig.panels[0].series;
        // By level, the confirmation's value replacing the first at 60.
        assert_eq!(
            s[0].points,
            vec![(20.0, 0.0), (60.0, 0.0), (62.5, 1.1), (80.0, 30.0)]
        );
        assert_eq!(s[1].points[3], (80.0, 34.0));
        assert_eq!(s[2].points, vec![(20.0, 5.0), (80.0, 5.0)], "the limit");
        assert_eq!(s[3].points, vec![(60.0, 0.0), (60.0, 34.0)], "the answer");
        assert!(super::super::render_svg(&fig).is_ok());
        run.capacity = None;
        assert!(capacity(&run).is_none());
    }
}
