//! Which figures a run gets, as plain data: panels, axes and series taken
//! from a [`RunResult`]. Nothing here draws, so what each chart shows can be
//! read (and tested) apart from how plotters renders it.
//!
//! A figure whose data is absent is not built at all: a run with no
//! successful request has no latency charts, a run with no stall
//! information no stall chart.

use crate::metrics::registry::TIMELINE;
use crate::metrics::scraped::{SeriesKind, TargetMetrics};
use crate::metrics::stats::Percentiles;
use crate::metrics::timeline::TimelineRow;
use crate::metrics::{Metric, Unit};
use crate::result::{RunResult, StageResult};

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
pub(super) const PALETTE: [Rgb; 6] = [
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
    /// File stem in the results folder (`plot_2x2` → `plot_2x2.png`, `.svg`;
    /// `plot_2x2_tts` for scenario `tts` of a run of several).
    pub stem: String,
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

/// The part of a run one set of figures shows: a scenario's stages and
/// timeline (the whole run when it has one scenario).
struct View<'a> {
    /// The run's name, with the scenario's in a run of several.
    name: String,
    /// `_NAME` after every stem in a run of several scenarios.
    suffix: String,
    stages: Vec<&'a StageResult>,
    timeline: Vec<&'a TimelineRow>,
    /// The target's own metrics (`--scrape`), run-wide.
    target: &'a [TargetMetrics],
}

/// Every figure of the run's stages it has data for, in a stable order
/// (scenario by scenario in a run of several); [`super::all`] adds the rest.
pub fn figures(run: &RunResult) -> Vec<Figure> {
    run.sections()
        .into_iter()
        .flat_map(|section| {
            let view = View {
                name: match section.name {
                    Some(n) => format!("{} — {n}", run.name),
                    None => run.name.clone(),
                },
                suffix: section.name.map(|n| format!("_{n}")).unwrap_or_default(),
                stages: section.stages,
                timeline: section.timeline,
                target: &run.target_metrics,
            };
            [
                percentiles_2x2(&view),
                p50(&view),
                load_latency(&view),
                timeline(&view),
                stalls(&view),
                wer_load(&view),
            ]
        })
        .flatten()
        .collect()
}

fn metric(stage: &StageResult, m: Metric) -> Option<&Percentiles> {
    stage.summary.metrics.get(&m.name())
}

fn any_stage_has(run: &View<'_>, m: Metric) -> bool {
    run.stages.iter().any(|s| metric(s, m).is_some())
}

fn stage_axis(run: &View<'_>) -> XAxis {
    XAxis::Stages(run.stages.iter().map(|s| s.label.clone()).collect())
}

/// How a metric is named on a chart (the registry's title), with its
/// unit when `unit` (durations: `(ms)`).
fn metric_title(m: Metric, unit: bool) -> String {
    let title = match m {
        Metric::Chunk(k) => format!("chunk {k}"),
        m => m.def().title.to_string(),
    };
    match m.unit() {
        Unit::Micros if unit => format!("{title} (ms)"),
        _ => title,
    }
}

/// A metric in a legend: its title when short (`TTFA`), else its name.
fn legend(m: Metric) -> String {
    let title = m.def().title;
    if title.len() <= 8 {
        title.to_string()
    } else {
        m.name().replace('_', " ")
    }
}

/// One value of `m` per stage that has it, at the stage's position.
fn per_stage(run: &View<'_>, m: Metric, pick: fn(&Percentiles) -> f64) -> Vec<(f64, f64)> {
    run.stages
        .iter()
        .enumerate()
        .filter_map(|(i, s)| metric(s, m).map(|p| (i as f64, pick(p))))
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
fn main_metrics(run: &View<'_>) -> Vec<Metric> {
    let chunk = if any_stage_has(run, Metric::Chunk(4)) {
        Metric::Chunk(4)
    } else {
        Metric::Chunk(1)
    };
    [
        Metric::Ttfa,
        Metric::FirstPartial,
        Metric::Final,
        Metric::AgentFirstAudio,
        Metric::AgentFirstMessage,
        Metric::Turn,
        Metric::BargeInSilence,
        Metric::E2e,
        chunk,
        Metric::Rtf,
    ]
    .into_iter()
    .filter(|m| any_stage_has(run, *m))
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
fn percentiles_2x2(run: &View<'_>) -> Option<Figure> {
    let metrics = main_metrics(run);
    if metrics.is_empty() {
        return None;
    }
    let panels = metrics
        .iter()
        .map(|&m| Panel {
            title: metric_title(m, true),
            x: stage_axis(run),
            y_label: m.unit().label().to_string(),
            series: [P50, P90, P95, P99]
                .into_iter()
                .zip(PERCENTILE_COLOURS)
                .map(|((label, pick), colour)| Series {
                    name: label.to_string(),
                    mark: Mark::Bars,
                    colour,
                    points: per_stage(run, m, pick),
                })
                .collect(),
            point_labels: Vec::new(),
        })
        .collect();
    Some(Figure {
        stem: format!("plot_2x2{}", run.suffix),
        title: format!("{} — percentiles per stage", run.name),
        grid: grid_for(metrics.len()),
        size: (1200, 900),
        panels,
    })
}

/// `plot_p50`: medians of the latency metrics per stage, and of RTF.
fn p50(run: &View<'_>) -> Option<Figure> {
    let latency: Vec<Series> = [
        Metric::Ttfb,
        Metric::Ttfa,
        Metric::Chunk(1),
        Metric::Chunk(4),
        Metric::FirstPartial,
        Metric::Final,
        Metric::AgentFirstMessage,
        Metric::AgentFirstAudio,
        Metric::AgentTranscript,
        Metric::E2e,
    ]
    .into_iter()
    .filter(|m| any_stage_has(run, *m))
    .zip(PALETTE)
    .map(|(m, colour)| Series {
        name: metric_title(m, false),
        mark: Mark::Bars,
        colour,
        points: per_stage(run, m, P50.1),
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
    if any_stage_has(run, Metric::Rtf) {
        panels.push(Panel {
            title: "p50 RTF per stage (e2e ÷ audio; < 1 is faster than real time)".into(),
            x: stage_axis(run),
            y_label: "ratio".into(),
            series: vec![Series {
                name: "RTF".into(),
                mark: Mark::Bars,
                colour: PALETTE[0],
                points: per_stage(run, Metric::Rtf, P50.1),
            }],
            point_labels: Vec::new(),
        });
    }
    (!panels.is_empty()).then(|| Figure {
        stem: format!("plot_p50{}", run.suffix),
        title: format!("{} — medians per stage", run.name),
        grid: (1, panels.len()),
        size: (600 * panels.len() as u32, 500),
        panels,
    })
}

/// `load_latency`: TTFA (TTS) or final (streaming ASR), and e2e, p50/p95
/// against achieved rate (solid) and, in open loop, offered rate (dashed):
/// where latency bends is saturation, and stages marked saturated say so.
fn load_latency(run: &View<'_>) -> Option<Figure> {
    let panels: Vec<Panel> = [
        Metric::Ttfa,
        Metric::Final,
        Metric::AgentFirstAudio,
        Metric::E2e,
    ]
    .into_iter()
    .filter(|m| any_stage_has(run, *m))
    .map(|m| {
        let series = rate_series(run, m);
        let x = if series.iter().any(|s| s.mark == Mark::Dashed) {
            "requests per second (solid: achieved, dashed: offered)"
        } else {
            "requests per second achieved"
        };
        // Saturated stages are named at their p95 point (achieved rate).
        let point_labels = run
            .stages
            .iter()
            .filter(|s| s.saturated.is_some())
            .filter_map(|s| {
                Some((
                    s.summary.achieved_rps,
                    metric(s, m)?.p95,
                    "saturated".into(),
                ))
            })
            .collect();
        Panel {
            title: format!("{} against request rate", metric_title(m, false)),
            x: XAxis::Value(x.into()),
            y_label: "ms".into(),
            series,
            point_labels,
        }
    })
    .collect();
    (!panels.is_empty()).then(|| Figure {
        stem: format!("load_latency{}", run.suffix),
        title: format!("{} — latency against load", run.name),
        grid: (1, panels.len()),
        size: (600 * panels.len() as u32, 500),
        panels,
    })
}

fn rate_series(run: &View<'_>, m: Metric) -> Vec<Series> {
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
                .filter_map(|s| Some((rate(s)?, pick(metric(s, m)?))))
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

/// `timeline`: completions, failures and drops per second, and p95 of each
/// latency the timeline keeps per second (gaps where a second had no
/// successful request), then the target's own metrics (`--scrape`).
fn timeline(run: &View<'_>) -> Option<Figure> {
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
    // Per-second p95 of each latency kept, in a fixed colour per metric.
    let colours = [PALETTE[0], PALETTE[2], PALETTE[4], PALETTE[5], PALETTE[1]];
    let latency: Vec<Series> = TIMELINE
        .iter()
        .zip(colours)
        .filter(|(m, _)| rows.iter().any(|r| r.p95_ms(**m).is_some()))
        .map(|(m, colour)| {
            trace(
                &format!("{} p95", legend(*m)),
                colour,
                rows.iter()
                    .map(|r| (x(r), r.p95_ms(*m).unwrap_or(f64::NAN)))
                    .collect(),
            )
        })
        .collect();
    if !latency.is_empty() {
        panels.push(Panel {
            title: "p95 latency per second (±1 %)".into(),
            x: XAxis::Value("seconds since start".into()),
            y_label: "ms".into(),
            series: latency,
            point_labels: Vec::new(),
        });
    }
    panels.extend(target_panels(run.target));
    Some(Figure {
        stem: format!("timeline{}", run.suffix),
        title: format!("{} — timeline", run.name),
        grid: (panels.len(), 1),
        size: (1200, 350 * panels.len() as u32 + 50),
        panels,
    })
}

/// Most panels of the target's own metrics under a timeline.
const MAX_TARGET_PANELS: usize = 6;

/// The target's own metrics beside the timeline: a panel per metric name
/// of each scrape URL (one line per label set, at most six), gauges as
/// they are and counters as rates per second.
fn target_panels(sources: &[TargetMetrics]) -> Vec<Panel> {
    let mut panels: Vec<Panel> = Vec::new();
    let mut keys: Vec<(usize, &str)> = Vec::new();
    for (i, t) in sources.iter().enumerate() {
        for s in &t.series {
            let key = (i, s.name.as_str());
            let at = match keys.iter().position(|k| *k == key) {
                Some(at) => at,
                None if panels.len() >= MAX_TARGET_PANELS => continue,
                None => {
                    let (title, y_label) = match s.kind {
                        SeriesKind::Counter => (format!("{} per second", s.name), "per second"),
                        SeriesKind::Gauge => (s.name.clone(), "value"),
                    };
                    let from = match sources.len() {
                        1 => String::new(),
                        _ => format!(" ({})", t.url),
                    };
                    keys.push(key);
                    panels.push(Panel {
                        title: format!("target: {title}{from}"),
                        x: XAxis::Value("seconds since start".into()),
                        y_label: y_label.into(),
                        series: Vec::new(),
                        point_labels: Vec::new(),
                    });
                    panels.len() - 1
                }
            };
            let panel = &mut panels[at];
            let Some(&colour) = PALETTE.get(panel.series.len()) else {
                continue;
            };
            let display = s.display_name();
            panel.series.push(Series {
                name: display
                    .strip_prefix(s.name.as_str())
                    .filter(|l| !l.is_empty())
                    .unwrap_or(&s.name)
                    .to_string(),
                mark: Mark::Trace,
                colour,
                points: s.plotted(),
            });
        }
    }
    panels.retain(|p| p.series.iter().any(|s| !s.points.is_empty()));
    panels
}

/// `stalls` (TTS): share of requests whose playback stalled, and the
/// pre-buffer that would have avoided every stall.
fn stalls(run: &View<'_>) -> Option<Figure> {
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
    if any_stage_has(run, Metric::PrebufferNeeded) {
        let colours = [
            PERCENTILE_COLOURS[0],
            PERCENTILE_COLOURS[2],
            PERCENTILE_COLOURS[3],
        ];
        panels.push(Panel {
            title: "pre-buffer needed to avoid every stall".into(),
            x: stage_axis(run),
            y_label: Metric::PrebufferNeeded.unit().label().to_string(),
            series: [P50, P95, P99]
                .into_iter()
                .zip(colours)
                .map(|((label, pick), colour)| Series {
                    name: label.into(),
                    mark: Mark::Bars,
                    colour,
                    points: per_stage(run, Metric::PrebufferNeeded, pick),
                })
                .collect(),
            point_labels: Vec::new(),
        });
    }
    (!panels.is_empty()).then(|| Figure {
        stem: format!("stalls{}", run.suffix),
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
fn wer_load(run: &View<'_>) -> Option<Figure> {
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
        .filter_map(|s| Some((rate(s), 100.0 * metric(s, Metric::Wer)?.p95)))
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
        stem: format!("wer_load{}", run.suffix),
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
        assert_eq!(metric_title(Metric::Chunk(4), false), "chunk 4");
        assert_eq!(metric_title(Metric::Chunk(4), true), "chunk 4 (ms)");
        assert_eq!(
            metric_title(Metric::PrebufferNeeded, false),
            "prebuffer needed"
        );
        assert_eq!(metric_title(Metric::Ttfa, false), "TTFA");
        assert_eq!(metric_title(Metric::Rtf, true), "RTF (e2e ÷ audio)");
        assert_eq!(
            (legend(Metric::Ttfa), legend(Metric::AgentFirstAudio)),
            ("TTFA".to_string(), "agent first audio".to_string())
        );
        assert_eq!(
            (grid_for(1), grid_for(2), grid_for(3)),
            ((1, 1), (1, 2), (2, 2))
        );
    }
}
