//! `scaling`: a scaling test's rate at each worker count beside perfect
//! scaling from the first count, its efficiency, and its latency.

use super::figures::{Figure, Mark, Panel, Series, XAxis, PALETTE};
use crate::result::RunResult;

/// The figure, when the run is a scaling test with at least one rate.
pub fn scale(run: &RunResult) -> Option<Figure> {
    let s = run.scale.as_ref()?;
    let first = s.steps.first()?;
    let base = first.rate? / f64::from(first.workers);
    let points = |f: &dyn Fn(&crate::result::scale::ScaleStep) -> Option<f64>| -> Vec<(f64, f64)> {
        s.steps
            .iter()
            .filter_map(|st| Some((f64::from(st.workers), f(st)?)))
            .collect()
    };
    let line = |name: &str, mark: Mark, colour: usize, points: Vec<(f64, f64)>| Series {
        name: name.into(),
        mark,
        colour: PALETTE[colour],
        points,
    };
    let x = || XAxis::Value("workers".into());
    let rate = Panel {
        title: format!("{} (req/s)", s.rate_of),
        x: x(),
        y_label: "requests per second".into(),
        series: vec![
            line("measured", Mark::Line, 0, points(&|st| st.rate)),
            line(
                "perfect scaling",
                Mark::Dashed,
                1,
                points(&|st| Some(base * f64::from(st.workers))),
            ),
        ],
        point_labels: Vec::new(),
    };
    let efficiency = Panel {
        title: "efficiency = rate(n) ÷ (n × rate per worker at the first count)".into(),
        x: x(),
        y_label: "%".into(),
        series: vec![
            line(
                "efficiency",
                Mark::Line,
                2,
                points(&|st| st.efficiency.map(|e| e * 100.0)),
            ),
            line("perfect", Mark::Dashed, 1, points(&|_| Some(100.0))),
        ],
        point_labels: Vec::new(),
    };
    let latency = Panel {
        title: format!("{} at that rate", s.metric),
        x: x(),
        y_label: "ms".into(),
        series: vec![
            line("p50", Mark::Line, 0, points(&|st| st.p50_ms)),
            line("p95", Mark::Line, 3, points(&|st| st.p95_ms)),
        ],
        point_labels: Vec::new(),
    };
    Some(Figure {
        stem: "scaling".into(),
        title: format!("{} — scaling", run.name),
        grid: (1, 3),
        size: (1800, 500),
        panels: vec![rate, efficiency, latency],
    })
}
