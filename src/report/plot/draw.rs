//! Draws a [`Figure`] on any plotters backend, so the PNG and the SVG of a
//! chart come from one code path and cannot disagree.
//!
//! Axes use explicit key points (nice round ticks, one tick per stage), so
//! the output depends only on the data — the same run always gives the same
//! bytes. Legends are drawn in a strip above each chart rather than inside
//! it, where they could hide data.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figures::{Figure, Mark, Panel, Rgb, Series, XAxis};

/// The family the embedded font is registered under (see `plot::FONT`).
pub const FAMILY: &str = "sans-serif";
const TEXT: RGBColor = RGBColor(40, 40, 40);
const GRID: RGBColor = RGBColor(225, 225, 225);
const AXIS: RGBColor = RGBColor(120, 120, 120);
const LABEL_PX: u32 = 13;
const LEGEND_ROW_PX: u32 = 20;

/// A drawing failure, as text (plotters' error types are backend-generic).
type DrawResult = Result<(), String>;

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn text_err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draw `fig` filling `root`.
pub fn figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult {
    root.fill(&WHITE).map_err(text_err)?;
    let body = root
        .titled(&fig.title, (FAMILY, 22).into_font().color(&TEXT))
        .map_err(text_err)?;
    for (area, p) in body.split_evenly(fig.grid).iter().zip(&fig.panels) {
        panel(area, p)?;
    }
    root.present().map_err(text_err)
}

/// A round step (1, 2 or 5 × 10^k) giving about five ticks over `span`.
fn nice_step(span: f64) -> f64 {
    let span = if span.is_finite() && span > 0.0 {
        span
    } else {
        1.0
    };
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// A y axis from 0 to a round top above `max` (with 5 % headroom), ticked
/// at round steps; never past `cap` when the data stays under it (a share
/// of 100 % tops a 0–100 axis, not a 0–150 one).
pub fn y_ticks(max: f64, cap: Option<f64>) -> Ticked {
    let top = if max.is_finite() && max > 0.0 {
        max * 1.05
    } else {
        1.0
    };
    let max = match cap {
        Some(c) if max <= c => top.min(c),
        _ => top,
    };
    let step = nice_step(max);
    let n = (max / step).ceil() as usize;
    Ticked {
        range: 0.0..n as f64 * step,
        ticks: (0..=n).map(|i| i as f64 * step).collect(),
        step,
    }
}

/// An x axis over `lo..hi` as given, ticked at the round steps inside it.
fn x_ticks(lo: f64, hi: f64) -> Ticked {
    let step = nice_step(hi - lo);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    Ticked {
        range: lo..hi,
        ticks: (first..=last).map(|i| i as f64 * step).collect(),
        step,
    }
}

/// A tick label: as many decimals as the step needs, no float noise.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{v:.decimals$}")
}

fn finite_points(p: &Panel) -> impl Iterator<Item = (f64, f64)> + '_ {
    p.series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
}

/// The x axis: one slot per stage (labels thinned to fit `width_px`), or
/// the data's span — from 0 unless the values sit far from it, so close
/// rates are not squeezed into a corner.
fn x_axis(p: &Panel, width_px: u32) -> Ticked {
    match &p.x {
        XAxis::Stages(labels) => {
            let n = labels.len().max(1);
            let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1);
            let fits = (width_px as usize / (longest * 8 + 12)).max(1);
            let every = n.div_ceil(fits);
            Ticked {
                range: -0.5..n as f64 - 0.5,
                ticks: (0..n).step_by(every).map(|i| i as f64).collect(),
                step: 1.0,
            }
        }
        XAxis::Value(_) => {
            let (lo, hi) = finite_points(p)
                .map(|(x, _)| x)
                .fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
                    (lo.min(x), hi.max(x))
                });
            let pad = ((hi - lo) * 0.08).max(hi * 0.05).max(1e-3);
            let lo = if lo.is_finite() && lo - pad > 0.5 * hi {
                lo - pad
            } else {
                0.0
            };
            x_ticks(lo, hi + pad)
        }
    }
}

fn panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> DrawResult {
    let area = area
        .titled(&p.title, (FAMILY, 17).into_font().color(&TEXT))
        .map_err(text_err)?;
    let chart_area = legend(&area, &p.series)?;
    let x_axis = x_axis(p, chart_area.dim_in_pixel().0.saturating_sub(80));
    // A panel of shares ("%") cannot pass 100 % (a WER, "WER (%)", can).
    let cap = (p.y_label == "%").then_some(100.0);
    let y_axis = y_ticks(finite_points(p).map(|(_, y)| y).fold(0.0, f64::max), cap);
    let (x_step, y_step) = (x_axis.step, y_axis.step);
    let mut chart = ChartBuilder::on(&chart_area)
        .margin_right(16)
        .margin_top(6)
        .margin_bottom(4)
        .x_label_area_size(if matches!(p.x, XAxis::Value(_)) {
            54
        } else {
            40
        })
        .y_label_area_size(64)
        .build_cartesian_2d(x_axis, y_axis)
        .map_err(text_err)?;
    let x_label = |v: &f64| match &p.x {
        XAxis::Stages(labels) => labels.get(v.round() as usize).cloned().unwrap_or_default(),
        XAxis::Value(_) => tick_label(*v, x_step),
    };
    let y_label = |v: &f64| tick_label(*v, y_step);
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .y_desc(&p.y_label)
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS)
        .label_style((FAMILY, LABEL_PX).into_font().color(&TEXT))
        .axis_desc_style((FAMILY, LABEL_PX).into_font().color(&TEXT));
    match &p.x {
        XAxis::Stages(_) => mesh.disable_x_mesh(),
        XAxis::Value(desc) => mesh.x_desc(desc),
    };
    mesh.draw().map_err(text_err)?;
    marks(&mut chart, p)
}

/// Bars (grouped per stage), then lines on top; a note if every value is 0,
/// so an empty-looking chart is not mistaken for a broken one.
fn marks<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, p: &Panel) -> DrawResult {
    let bars: Vec<&Series> = p.series.iter().filter(|s| s.mark == Mark::Bars).collect();
    for (j, s) in bars.iter().enumerate() {
        let width = 0.8 / bars.len() as f64;
        let left = -0.4 + width * j as f64;
        let fill = rgb(s.colour).filled();
        let rects = s
            .points
            .iter()
            .filter(|(_, y)| y.is_finite())
            .map(|&(x, y)| Rectangle::new([(x + left, 0.0), (x + left + width * 0.9, y)], fill));
        chart.draw_series(rects).map_err(text_err)?;
    }
    for s in p.series.iter().filter(|s| s.mark != Mark::Bars) {
        line(chart, s)?;
    }
    point_labels(chart, p)?;
    let mut values = finite_points(p).map(|(_, y)| y).peekable();
    if values.peek().is_some() && values.all(|y| y == 0.0) {
        let (x, y) = (chart.x_range(), chart.y_range());
        let at = ((x.start + x.end) / 2.0, y.end * 0.66);
        let style = (FAMILY, 15)
            .into_font()
            .color(&AXIS)
            .pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .plotting_area()
            .draw(&Text::new("every value is 0", at, style))
            .map_err(text_err)?;
    }
    Ok(())
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Ticked, Ticked>>;

/// Each point label beside its point: below and to the right if it fits
/// there, else the first of the other three corners that stays inside the
/// plotting area and clear of the labels already drawn (points of nearby
/// stages otherwise print on top of each other); a label with no free
/// corner is left out rather than drawn over another.
fn point_labels<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, p: &Panel) -> DrawResult {
    const GAP: i32 = 7;
    let font = (FAMILY, LABEL_PX).into_font().color(&TEXT);
    let area = chart.plotting_area();
    let (x_px, y_px) = area.get_pixel_range();
    let mut taken: Vec<[i32; 4]> = Vec::new();
    for (x, y, label) in &p.point_labels {
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let (px, py) = chart.backend_coord(&(*x, *y));
        let (w, h) = area.estimate_text_size(label, &font).map_err(text_err)?;
        let (w, h) = (w as i32, h as i32);
        // (right?, below?) in order of preference.
        let corners = [(true, true), (true, false), (false, false), (false, true)];
        let placed = corners.into_iter().find_map(|(right, below)| {
            let left_px = if right { px + GAP } else { px - GAP - w };
            let top_px = if below { py + GAP } else { py - GAP - h };
            let rect = [left_px, top_px, left_px + w, top_px + h];
            let inside = rect[0] >= x_px.start
                && rect[2] <= x_px.end
                && rect[1] >= y_px.start
                && rect[3] <= y_px.end;
            let clear = taken
                .iter()
                .all(|t| rect[2] <= t[0] || t[2] <= rect[0] || rect[3] <= t[1] || t[3] <= rect[1]);
            (inside && clear).then_some((right, below, rect))
        });
        let Some((right, below, rect)) = placed else {
            continue;
        };
        taken.push(rect);
        let (h_pos, dx) = if right {
            (HPos::Left, GAP)
        } else {
            (HPos::Right, -GAP)
        };
        let (v_pos, dy) = if below {
            (VPos::Top, GAP)
        } else {
            (VPos::Bottom, -GAP)
        };
        let style = font.pos(Pos::new(h_pos, v_pos));
        let text = EmptyElement::at((*x, *y)) + Text::new(label.clone(), (dx, dy), style);
        area.draw(&text).map_err(text_err)?;
    }
    Ok(())
}

/// A linear f64 axis whose ticks are exactly the given points, whatever
/// size the chart is: plotters' own axes choose ticks from the pixel size,
/// and its key-point wrapper cannot take a label formatter.
#[derive(Debug, Clone)]
pub struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
    /// Distance between ticks, for label precision.
    step: f64,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        if span <= 0.0 {
            return (limit.0 + limit.1) / 2;
        }
        let share = ((v - self.range.start) / span).clamp(-1.0, 2.0);
        limit.0 + (f64::from(limit.1 - limit.0) * share).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// A line (split at NaN gaps), with dots unless it is a long trace.
fn line<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, s: &Series) -> DrawResult {
    let style = rgb(s.colour).stroke_width(2);
    for run in s
        .points
        .split(|(_, y)| !y.is_finite())
        .filter(|r| !r.is_empty())
    {
        let pts = run.iter().copied();
        match s.mark {
            Mark::Dashed => chart
                .draw_series(DashedLineSeries::new(pts, 8, 5, style))
                .map(|_| ()),
            _ => chart.draw_series(LineSeries::new(pts, style)).map(|_| ()),
        }
        .map_err(text_err)?;
        if s.mark != Mark::Trace || s.points.len() <= 20 {
            let dots = run
                .iter()
                .map(|&p| Circle::new(p, 4, rgb(s.colour).filled()));
            chart.draw_series(dots).map_err(text_err)?;
        }
    }
    Ok(())
}

/// Legend entries as rows of `(series index, x offset)`, each row centred
/// in `width` px; entries wrap to a new row rather than run off the panel.
fn legend_rows(entry_widths: &[i32], width: i32) -> Vec<Vec<(usize, i32)>> {
    let mut rows: Vec<Vec<(usize, i32)>> = Vec::new();
    let mut row_width = 0;
    for (i, &w) in entry_widths.iter().enumerate() {
        if rows.is_empty() || row_width + w > width {
            rows.push(Vec::new());
            row_width = 0;
        }
        if let Some(row) = rows.last_mut() {
            row.push((i, row_width));
        }
        row_width += w;
    }
    for row in &mut rows {
        let used: i32 = row.iter().map(|(i, _)| entry_widths[*i]).sum();
        let shift = ((width - used) / 2).max(0);
        row.iter_mut().for_each(|(_, x)| *x += shift);
    }
    rows
}

/// Swatches and names above the chart; returns the chart area below them.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
) -> Result<DrawingArea<DB, Shift>, String> {
    let font = (FAMILY, LABEL_PX).into_font().color(&TEXT);
    let widths: Vec<i32> = series
        .iter()
        .map(|s| {
            area.estimate_text_size(&s.name, &font)
                .map_or(80, |(w, _)| w as i32)
                + 40
        })
        .collect();
    let rows = legend_rows(&widths, area.dim_in_pixel().0 as i32);
    let (top, rest) = area.split_vertically(LEGEND_ROW_PX * rows.len().max(1) as u32 + 4);
    for (r, row) in rows.iter().enumerate() {
        let y = LEGEND_ROW_PX as i32 * r as i32 + LEGEND_ROW_PX as i32 / 2;
        for &(i, x) in row {
            swatch(&top, &series[i], (x, y))?;
            let anchored = font.pos(Pos::new(HPos::Left, VPos::Center));
            top.draw(&Text::new(series[i].name.clone(), (x + 24, y), anchored))
                .map_err(text_err)?;
        }
    }
    Ok(rest)
}

fn swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Series,
    (x, y): (i32, i32),
) -> DrawResult {
    let c = rgb(s.colour);
    let line = [(x - 4, y), (x + 18, y)];
    match s.mark {
        Mark::Bars => area.draw(&Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled())),
        Mark::Dashed => area.draw(&DashedPathElement::new(line, 6, 4, c.stroke_width(2))),
        Mark::Line | Mark::Trace => area.draw(&PathElement::new(line, c.stroke_width(2))),
    }
    .map_err(text_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_axis_stops_at_100_percent() {
        let y = y_ticks(100.0, Some(100.0));
        assert_eq!(y.range.end, 100.0, "was 150 for a 100 % bar");
        assert_eq!(y.ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(y_ticks(30.0, Some(100.0)).range.end, 40.0);
        // Data over the cap (a WER above 100 %) is never cut off.
        assert!(y_ticks(130.0, Some(100.0)).range.end >= 130.0);
    }

    #[test]
    fn ticks_are_round_and_cover_the_data() {
        // max 450 → 472.5 with headroom → raw step 94.5 → 100, top 500.
        let y = y_ticks(450.0, None);
        assert_eq!((y.range.end, y.step, y.ticks.len()), (500.0, 100.0, 6));
        // max 480 → 504 → raw 100.8 → 200: 3 steps to 600.
        assert_eq!(y_ticks(480.0, None).ticks, vec![0.0, 200.0, 400.0, 600.0]);
        // max 0.9 → 0.945 → step 0.2, top 1.0.
        let y = y_ticks(0.9, None);
        assert!(
            (y.range.end - 1.0).abs() < 1e-9 && y.ticks.len() == 6,
            "{y:?}"
        );
        // Nothing to show still gives a usable axis.
        assert_eq!(y_ticks(0.0, None).range.end, 1.0);
        assert_eq!(y_ticks(f64::NAN, None).range.end, 1.0);
        // An x axis keeps its span and ticks only inside it.
        let x = x_ticks(6.2, 7.9);
        assert_eq!(x.ticks, vec![6.5, 7.0, 7.5]);
        assert_eq!(tick_label(0.2 * 3.0, 0.2), "0.6");
        // Legend: 3 entries of 100 px in 250 px → rows of 2 and 1, centred.
        let rows = legend_rows(&[100, 100, 100], 250);
        assert_eq!(rows, vec![vec![(0, 25), (1, 125)], vec![(2, 75)]]);
        assert_eq!(tick_label(300.0, 100.0), "300");
    }
}
