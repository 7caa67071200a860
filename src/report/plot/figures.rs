//! Which figures a run gets, as plain data: panels, axes and series taken
//! from a [`RunResult`]. Nothing here draws, so what each chart shows can be
//! read (and tested) apart from how plotters renders it.
//!
//! A figure whose data is absent is not built at all: a run with no
//! successful request has no latency charts, a run with no stall
//! information no stall chart.

use crate::metrics::stats::Percentiles;
use crate::metrics::timeline::TimelineRow;
use crate::report::{RunResult, StageResult};

/// An RGB colour.
pub type Rgb = (u8, u8, u8);

/// Light to dark blues for p50, p90, p95, p99: a higher percentile is darker.
const PERCENTILE_COLOURS: [Rgb; 4] = [
    (158, 202, 225),
    (107, 174, 214),
    (49, 130, 189),
    (8, 69, 148),
];

/// Distinct colours for unrelated series (Tableau 10).
const PALETTE: [Rgb; 6] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
];

/// One output image: a grid of panels under a title.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem in the results folder (`plot_2x2` → `plot_2x2.png`, `.svg`).
    pub stem: &'static str,
    /// Title above the grid.
    pub title: String,
    /// Grid rows and columns; panels fill it row by row.
    pub grid: (usize, usize),
    /// Image size in pixels (the SVG uses the same user units).
    pub size: (u32, u32),
    /// The charts, at most `rows × cols`.
    pub panels: Vec<Panel>,
}

/// One chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Caption above the chart.
    pub title: String,
    /// What the x axis shows.
    pub x: XAxis,
    /// Y axis description, with its unit.
    pub y_label: String,
    /// Drawn in order; bars of one panel are grouped side by side.
    pub series: Vec<Series>,
    /// Text beside single points (`x`, `y`, text), e.g. the stage a point
    /// of a load chart came from.
    pub point_labels: Vec<(f64, f64, String)>,
}

/// The x axis of a panel.
#[derive(Debug, Clone, PartialEq)]
pub enum XAxis {
    /// One category per stage; point x values are stage positions 0, 1, ….
    Stages(Vec<String>),
    /// A numeric axis with this description.
    Value(String),
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Bars, grouped beside the panel's other bar series.
    Bars,
    /// A solid line with a dot at every point.
    Line,
    /// A dashed line with a dot at every point.
    Dashed,
    /// A solid line, dotted only when short (the timeline).
    Trace,
}

/// A named list of points. A NaN y value breaks a line (a gap with no data).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// How it is drawn.
    pub mark: Mark,
    /// Its colour.
    pub colour: Rgb,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// Every figure the run has data for, in a stable order.
pub fn figures(run: &RunResult) -> Vec<Figure> {
    [
        percentiles_2x2(run),
        p50(run),
        load_latency(run),
        timeline(run),
        stalls(run),
        wer_load(run),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn metric<'a>(stage: &'a StageResult, name: &str) -> Option<&'a Percentiles> {
    stage.summary.metrics.get(name)
}

fn any_stage_has(run: &RunResult, name: &str) -> bool {
    run.stages.iter().any(|s| metric(s, name).is_some())
}

fn stage_axis(run: &RunResult) -> XAxis {
    XAxis::Stages(run.stages.iter().map(|s| s.label.clone()).collect())
}

/// How a metric is named on a chart, with its unit.
fn metric_title(name: &str, p: Option<&Percentiles>) -> String {
    let pretty = match name {
        "ttfa" => "TTFA".to_string(),
        "ttfb" => "TTFB".to_string(),
        "rtf" => "RTF (e2e ÷ audio)".to_string(),
        "final" => "final after audio end".to_string(),
        "agent_first_audio" => "agent first audio after end of speech".to_string(),
        "agent_first_message" => "agent first message after end of speech".to_string(),
        "agent_transcript" => "agent transcript after end of speech".to_string(),
        "barge_in_silence" => "barge-in: time to silence".to_string(),
        n => match n.strip_prefix("chunk") {
            Some(k) if k.parse::<u32>().is_ok() => format!("chunk {k}"),
            _ => n.replace('_', " "),
        },
    };
    match p.map(|p| p.unit.label()) {
        Some("ms") => format!("{pretty} (ms)"),
        _ => pretty,
    }
}

/// The unit label of `name` in the first stage that has it.
fn unit_label(run: &RunResult, name: &str) -> String {
    run.stages
        .iter()
        .find_map(|s| metric(s, name))
        .map_or_else(String::new, |p| p.unit.label().to_string())
}

/// One value of `name` per stage that has it, at the stage's position.
fn per_stage(run: &RunResult, name: &str, pick: fn(&Percentiles) -> f64) -> Vec<(f64, f64)> {
    run.stages
        .iter()
        .enumerate()
        .filter_map(|(i, s)| metric(s, name).map(|p| (i as f64, pick(p))))
        .collect()
}

type Pick = fn(&Percentiles) -> f64;
const P50: (&str, Pick) = ("p50", |p| p.p50);
const P90: (&str, Pick) = ("p90", |p| p.p90);
const P95: (&str, Pick) = ("p95", |p| p.p95);
const P99: (&str, Pick) = ("p99", |p| p.p99);

/// The main latency metrics, whichever exist, at most four: TTS has TTFA,
/// e2e, a chunk and RTF; streaming ASR first partial, final, e2e and RTF;
/// HTTP ASR e2e and RTF.
fn main_metrics(run: &RunResult) -> Vec<&'static str> {
    let chunk = if any_stage_has(run, "chunk4") {
        "chunk4"
    } else {
        "chunk1"
    };
    [
        "ttfa",
        "first_partial",
        "final",
        "agent_first_audio",
        "agent_first_message",
        "turn",
        "barge_in_silence",
        "e2e",
        chunk,
        "rtf",
    ]
    .into_iter()
    .filter(|m| any_stage_has(run, m))
    .take(4)
    .collect()
}

fn grid_for(n: usize) -> (usize, usize) {
    match n {
        0 | 1 => (1, 1),
        2 => (1, 2),
        _ => (2, 2),
    }
}

/// `plot_2x2`: p50/p90/p95/p99 per stage of up to four main metrics.
fn percentiles_2x2(run: &RunResult) -> Option<Figure> {
    let names = main_metrics(run);
    if names.is_empty() {
        return None;
    }
    let panels = names
        .iter()
        .map(|name| Panel {
            title: metric_title(name, run.stages.iter().find_map(|s| metric(s, name))),
            x: stage_axis(run),
            y_label: unit_label(run, name),
            series: [P50, P90, P95, P99]
                .into_iter()
                .zip(PERCENTILE_COLOURS)
                .map(|((label, pick), colour)| Series {
                    name: label.to_string(),
                    mark: Mark::Bars,
                    colour,
                    points: per_stage(run, name, pick),
                })
                .collect(),
            point_labels: Vec::new(),
        })
        .collect();
    Some(Figure {
        stem: "plot_2x2",
        title: format!("{} — percentiles per stage", run.name),
        grid: grid_for(names.len()),
        size: (1200, 900),
        panels,
    })
}

/// `plot_p50`: medians of the latency metrics per stage, and of RTF.
fn p50(run: &RunResult) -> Option<Figure> {
    let latency: Vec<Series> = [
        "ttfb",
        "ttfa",
        "chunk1",
        "chunk4",
        "first_partial",
        "final",
        "agent_first_message",
        "agent_first_audio",
        "agent_transcript",
        "e2e",
    ]
    .into_iter()
    .filter(|m| any_stage_has(run, m))
    .zip(PALETTE)
    .map(|(name, colour)| Series {
        name: metric_title(name, None),
        mark: Mark::Bars,
        colour,
        points: per_stage(run, name, P50.1),
    })
    .collect();
    let mut panels = Vec::new();
    if !latency.is_empty() {
        panels.push(Panel {
            title: "p50 latency per stage".into(),
            x: stage_axis(run),
            y_label: "ms".into(),
            series: latency,
            point_labels: Vec::new(),
        });
    }
    if any_stage_has(run, "rtf") {
        panels.push(Panel {
            title: "p50 RTF per stage (e2e ÷ audio; < 1 is faster than real time)".into(),
            x: stage_axis(run),
            y_label: "ratio".into(),
            series: vec![Series {
                name: "RTF".into(),
                mark: Mark::Bars,
                colour: PALETTE[0],
                points: per_stage(run, "rtf", P50.1),
            }],
            point_labels: Vec::new(),
        });
    }
    (!panels.is_empty()).then(|| Figure {
        stem: "plot_p50",
        title: format!("{} — medians per stage", run.name),
        grid: (1, panels.len()),
        size: (600 * panels.len() as u32, 500),
        panels,
    })
}

/// `load_latency`: TTFA (TTS) or final (streaming ASR), and e2e, p50/p95
/// against achieved rate (solid) and, in open loop, offered rate (dashed):
/// where latency bends is saturation.
fn load_latency(run: &RunResult) -> Option<Figure> {
    let panels: Vec<Panel> = ["ttfa", "final", "agent_first_audio", "e2e"]
        .into_iter()
        .filter(|m| any_stage_has(run, m))
        .map(|name| {
            let series = rate_series(run, name);
            let x = if series.iter().any(|s| s.mark == Mark::Dashed) {
                "requests per second (solid: achieved, dashed: offered)"
            } else {
                "requests per second achieved"
            };
            Panel {
                title: format!("{} against request rate", metric_title(name, None)),
                x: XAxis::Value(x.into()),
                y_label: "ms".into(),
                series,
                point_labels: Vec::new(),
            }
        })
        .collect();
    (!panels.is_empty()).then(|| Figure {
        stem: "load_latency",
        title: format!("{} — latency against load", run.name),
        grid: (1, panels.len()),
        size: (600 * panels.len() as u32, 500),
        panels,
    })
}

fn rate_series(run: &RunResult, name: &str) -> Vec<Series> {
    let mut out = Vec::new();
    type Rate = fn(&StageResult) -> Option<f64>;
    let rates: [(&str, Mark, Rate); 2] = [
        ("achieved", Mark::Line, |s| Some(s.summary.achieved_rps)),
        ("offered", Mark::Dashed, |s| s.offered_rps),
    ];
    for (rate_name, mark, rate) in rates {
        for ((label, pick), colour) in [P50, P95].into_iter().zip(PALETTE) {
            let points: Vec<(f64, f64)> = run
                .stages
                .iter()
                .filter_map(|s| Some((rate(s)?, pick(metric(s, name)?))))
                .collect();
            if !points.is_empty() {
                out.push(Series {
                    name: format!("{label} {rate_name}"),
                    mark,
                    colour,
                    points,
                });
            }
        }
    }
    out
}

/// `timeline`: completions, failures and drops per second, and p95 latency
/// per second (gaps where a second had no successful request).
fn timeline(run: &RunResult) -> Option<Figure> {
    let rows = &run.timeline;
    if rows.is_empty() {
        return None;
    }
    let x = |r: &TimelineRow| r.second as f64;
    let trace = |name: &str, colour, points: Vec<(f64, f64)>| Series {
        name: name.into(),
        mark: Mark::Trace,
        colour,
        points,
    };
    let mut counts = vec![
        trace(
            "completed/s",
            PALETTE[0],
            rows.iter().map(|r| (x(r), r.rps)).collect(),
        ),
        trace(
            "failed/s",
            PALETTE[3],
            rows.iter().map(|r| (x(r), r.failed as f64)).collect(),
        ),
    ];
    if rows.iter().any(|r| r.dropped > 0) {
        counts.push(trace(
            "dropped/s",
            PALETTE[1],
            rows.iter().map(|r| (x(r), r.dropped as f64)).collect(),
        ));
    }
    let mut panels = vec![Panel {
        title: "requests per second".into(),
        x: XAxis::Value("seconds since start".into()),
        y_label: "requests/s".into(),
        series: counts,
        point_labels: Vec::new(),
    }];
    type Get = fn(&TimelineRow) -> Option<f64>;
    let p95: [(&str, Rgb, Get); 2] = [
        ("TTFA p95", PALETTE[0], |r| r.ttfa_p95_ms),
        ("e2e p95", PALETTE[2], |r| r.e2e_p95_ms),
    ];
    let latency: Vec<Series> = p95
        .into_iter()
        .filter(|(_, _, get)| rows.iter().any(|r| get(r).is_some()))
        .map(|(name, colour, get)| {
            trace(
                name,
                colour,
                rows.iter()
                    .map(|r| (x(r), get(r).unwrap_or(f64::NAN)))
                    .collect(),
            )
        })
        .collect();
    if !latency.is_empty() {
        panels.push(Panel {
            title: "p95 latency per second (±6 %)".into(),
            x: XAxis::Value("seconds since start".into()),
            y_label: "ms".into(),
            series: latency,
            point_labels: Vec::new(),
        });
    }
    Some(Figure {
        stem: "timeline",
        title: format!("{} — timeline", run.name),
        grid: (panels.len(), 1),
        size: (1200, 350 * panels.len() as u32 + 50),
        panels,
    })
}

/// `stalls` (TTS): share of requests whose playback stalled, and the
/// pre-buffer that would have avoided every stall.
fn stalls(run: &RunResult) -> Option<Figure> {
    let mut panels = Vec::new();
    let shares: Vec<(f64, f64)> = run
        .stages
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.summary.stalled_share.map(|v| (i as f64, 100.0 * v)))
        .collect();
    if !shares.is_empty() {
        panels.push(Panel {
            title: "requests whose playback stalled".into(),
            x: stage_axis(run),
            y_label: "%".into(),
            series: vec![Series {
                name: "stalled".into(),
                mark: Mark::Bars,
                colour: PALETTE[3],
                points: shares,
            }],
            point_labels: Vec::new(),
        });
    }
    if any_stage_has(run, "prebuffer_needed") {
        let colours = [
            PERCENTILE_COLOURS[0],
            PERCENTILE_COLOURS[2],
            PERCENTILE_COLOURS[3],
        ];
        panels.push(Panel {
            title: "pre-buffer needed to avoid every stall".into(),
            x: stage_axis(run),
            y_label: unit_label(run, "prebuffer_needed"),
            series: [P50, P95, P99]
                .into_iter()
                .zip(colours)
                .map(|((label, pick), colour)| Series {
                    name: label.into(),
                    mark: Mark::Bars,
                    colour,
                    points: per_stage(run, "prebuffer_needed", pick),
                })
                .collect(),
            point_labels: Vec::new(),
        });
    }
    (!panels.is_empty()).then(|| Figure {
        stem: "stalls",
        title: format!("{} — playback stalls", run.name),
        grid: (1, panels.len()),
        size: (600 * panels.len() as u32, 500),
        panels,
    })
}

/// `wer_load` (ASR): word error rate against load, one point per stage
/// labelled with the stage — pooled (all word errors ÷ all reference words)
/// and the per-request p95. x is the offered rate when every stage has one
/// (open loop), else the achieved rate. Only when some stage has a pooled
/// WER (the input had reference texts).
fn wer_load(run: &RunResult) -> Option<Figure> {
    if run.stages.iter().all(|s| s.summary.wer_pooled.is_none()) {
        return None;
    }
    let offered = run.stages.iter().all(|s| s.offered_rps.is_some());
    let rate = |s: &StageResult| {
        s.offered_rps
            .filter(|_| offered)
            .unwrap_or(s.summary.achieved_rps)
    };
    let pooled: Vec<(f64, f64, String)> = run
        .stages
        .iter()
        .filter_map(|s| Some((rate(s), 100.0 * s.summary.wer_pooled?, s.label.clone())))
        .collect();
    let mut series = vec![Series {
        name: "pooled WER".into(),
        mark: Mark::Line,
        colour: PALETTE[0],
        points: pooled.iter().map(|(x, y, _)| (*x, *y)).collect(),
    }];
    let p95: Vec<(f64, f64)> = run
        .stages
        .iter()
        .filter_map(|s| Some((rate(s), 100.0 * metric(s, "wer")?.p95)))
        .collect();
    if !p95.is_empty() {
        series.push(Series {
            name: "per-request WER p95".into(),
            mark: Mark::Dashed,
            colour: PALETTE[3],
            points: p95,
        });
    }
    let x = if offered {
        "requests per second offered"
    } else {
        "requests per second achieved"
    };
    Some(Figure {
        stem: "wer_load",
        title: format!("{} — word error rate against load", run.name),
        grid: (1, 1),
        size: (900, 550),
        panels: vec![Panel {
            title: "WER per stage (pooled: all word errors ÷ all reference words)".into(),
            x: XAxis::Value(x.into()),
            y_label: "WER (%)".into(),
            series,
            point_labels: pooled,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_titles_carry_units() {
        assert_eq!(metric_title("chunk4", None), "chunk 4");
        assert_eq!(metric_title("prebuffer_needed", None), "prebuffer needed");
        assert_eq!(metric_title("ttfa", None), "TTFA");
        assert_eq!(
            (grid_for(1), grid_for(2), grid_for(3)),
            ((1, 1), (1, 2), (2, 2))
        );
    }
}
