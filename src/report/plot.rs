//! Charts of a run as PNG and SVG: `plot_2x2` (p50/p90/p95/p99 of the main
//! latency metrics per stage, TTS or ASR), `plot_p50`, `load_latency`
//! (latency against offered and achieved rate), `timeline` (per-second rate,
//! errors, p95), `stalls` (TTS playback stalls and the pre-buffer they need)
//! `wer_load` (ASR word error rate against load) and `capacity` (a
//! capacity search's SLOs against load, with limits and the answer).
//!
//! What each chart shows is decided in [`figures`]; [`draw`] renders it on
//! either backend. Text uses an embedded DejaVu Sans subset (see
//! `assets/fonts/`), so rendering needs no system fonts and gives the same
//! pixels on every machine. A chart whose data is absent is skipped.

use std::path::Path;
use std::sync::OnceLock;

use ab_glyph::FontRef;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::{write_atomic, ReportError, ReportWriter};
use crate::result::RunResult;

pub mod capacity;
pub mod draw;
pub mod figures;
pub mod scale;
pub mod text;

pub use figures::{figures, Figure};

/// Every figure the run has data for: its stages' ([`figures`]), then a
/// capacity search's.
pub fn all(run: &RunResult) -> Vec<Figure> {
    let mut figs = figures(run);
    figs.extend(capacity::capacity(run));
    figs.extend(scale::scale(run));
    figs
}

/// The embedded font (DejaVu Sans, Bitstream Vera license; see `assets/fonts/LICENSE`).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");

/// Register [`FONT`] with plotters once per process (plotters' font table is
/// global, so this is the one place that touches it) and return it parsed,
/// for [`text::GlyphText`].
fn font() -> Result<&'static FontRef<'static>, String> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            let parsed = FontRef::try_from_slice(FONT).ok()?;
            register_font(draw::FAMILY, FontStyle::Normal, FONT).ok()?;
            Some(parsed)
        })
        .as_ref()
        .ok_or_else(|| "the embedded font cannot be parsed".to_string())
}

/// Writes every chart the run has data for, as `<stem>.png` and `<stem>.svg`.
#[derive(Debug, Clone, Copy)]
pub struct PlotWriter;

impl ReportWriter for PlotWriter {
    fn write(&self, run: &RunResult, out: &Path) -> Result<(), ReportError> {
        for fig in all(run) {
            let png = out.join(format!("{}.png", fig.stem));
            write_atomic(&png, &render_png(&fig).map_err(|e| failed(&png, e))?)?;
            let svg = out.join(format!("{}.svg", fig.stem));
            write_atomic(
                &svg,
                render_svg(&fig).map_err(|e| failed(&svg, e))?.as_bytes(),
            )?;
        }
        Ok(())
    }
}

/// A rendering failure, reported against the file it was meant for.
fn failed(path: &Path, reason: String) -> ReportError {
    ReportError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(reason),
    }
}

/// The figure as an SVG document. Text is left as `<text>` in the
/// `sans-serif` family, so a browser draws it with its own fonts.
pub fn render_svg(fig: &Figure) -> Result<String, String> {
    font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, fig.size).into_drawing_area();
        draw::figure(&root, fig)?;
    }
    Ok(svg)
}

/// The figure as a PNG file (8-bit RGB).
pub fn render_png(fig: &Figure) -> Result<Vec<u8>, String> {
    let font = font()?;
    let (w, h) = fig.size;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let bitmap = BitMapBackend::with_buffer(&mut rgb, fig.size);
        let root = text::GlyphText::new(bitmap, font).into_drawing_area();
        draw::figure(&root, fig)?;
    }
    encode_png(&rgb, fig.size).map_err(|e| format!("PNG encoding: {e}"))
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // Charts are mostly flat colour: the fast setting is small enough and
    // keeps a run's plots well under a second.
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::figures::{Figure, Mark, Panel, Series, XAxis};
    use super::*;

    /// The box (left, top, right, bottom) of each label's `<text>`, from
    /// its anchor point and alignment, for a label `w` × `h` px.
    fn label_boxes(svg: &str, labels: &[&str], (w, h): (f64, f64)) -> Vec<[f64; 4]> {
        labels
            .iter()
            .filter_map(|l| {
                let end = svg.find(&format!("\n{l}\n</text>"))?;
                let tag = &svg[svg[..end].rfind("<text")?..end];
                let attr = |name: &str| -> Option<&str> {
                    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
                    tag[at..].split('"').next()
                };
                let (x, y): (f64, f64) = (attr("x")?.parse().ok()?, attr("y")?.parse().ok()?);
                let left = if attr("text-anchor") == Some("end") {
                    x - w
                } else {
                    x
                };
                // Top-aligned text is shifted down by its ascent (dy).
                let top = if attr("dy").is_some_and(|d| d.starts_with("0.7")) {
                    y
                } else {
                    y - h
                };
                Some([left, top, left + w, top + h])
            })
            .collect()
    }

    #[test]
    fn labels_of_points_close_together_do_not_overlap() {
        // Three stages whose achieved rates and WERs nearly coincide.
        let points = [(1.0, 10.0), (1.001, 10.05), (1.002, 10.0)];
        let labels = ["c=1", "c=2", "c=3"];
        let fig = Figure {
            stem: "t".into(),
            title: "t".into(),
            grid: (1, 1),
            size: (600, 400),
            panels: vec![Panel {
                title: "p".into(),
                x: XAxis::Value("x".into()),
                y_label: "WER (%)".into(),
                series: vec![Series {
                    name: "s".into(),
                    mark: Mark::Line,
                    colour: (0, 0, 0),
                    points: points.to_vec(),
                }],
                point_labels: points
                    .iter()
                    .zip(labels)
                    .map(|(&(x, y), l)| (x, y, l.to_string()))
                    .collect(),
            }],
        };
        let svg = render_svg(&fig).expect("renders");
        let boxes = label_boxes(&svg, &labels, (16.0, 10.0));
        assert_eq!(boxes.len(), 3, "every label has a free corner: {boxes:?}");
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                let apart = a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1];
                assert!(apart, "labels at {a:?} and {b:?} overlap");
            }
        }
    }
}
