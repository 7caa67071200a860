//! Charts of a run as PNG and SVG: `plot_2x2` (p50/p90/p95/p99 of the main
//! latency metrics per stage, TTS or ASR), `plot_p50`, `load_latency`
//! (latency against offered and achieved rate), `timeline` (per-second rate,
//! errors, p95), `stalls` (TTS playback stalls and the pre-buffer they need)
//! and `wer_load` (ASR word error rate against load).
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

pub mod draw;
pub mod figures;
pub mod text;

pub use figures::{figures, Figure};

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
        for fig in figures(run) {
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
