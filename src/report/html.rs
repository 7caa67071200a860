//! `report.html`: the whole run in one self-contained file — configuration,
//! stages, SLOs, charts, percentiles, errors — readable offline and safe to
//! attach to a ticket.
//!
//! Self-contained means no scripts, no external CSS, fonts or images: the
//! stylesheet is inlined and the charts are the SVGs of [`super::plot`]
//! embedded inline (text drawn with the browser's own fonts). Every string
//! taken from the result — labels, URLs, error examples, config values — is
//! HTML-escaped, because error examples hold server response bodies, which
//! are untrusted.

use std::fmt::Write as _;
use std::path::Path;

use super::fmt::bare;
use super::plot;
use super::{write_atomic, ReportError, ReportWriter};
use crate::metrics::registry::ordered;
use crate::metrics::stats::Percentiles;
use crate::result::{RunResult, RunStatus, StageResult};
use crate::workload::Workload;

/// Writes `report.html`.
#[derive(Debug, Clone, Copy)]
pub struct HtmlWriter;

impl ReportWriter for HtmlWriter {
    fn write(&self, run: &RunResult, out: &Path) -> Result<(), ReportError> {
        let path = out.join("report.html");
        let html = render(run).map_err(|reason| ReportError::Write {
            path: path.clone(),
            source: std::io::Error::other(reason),
        })?;
        write_atomic(&path, html.as_bytes())
    }
}

const CSS: &str = include_str!("../../assets/report.css");

/// Escape text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole report. Fails only if a chart cannot be drawn.
pub fn render(run: &RunResult) -> Result<String, String> {
    let mut h = String::new();
    let title = format!("voxload {} report: {}", run.kind, run.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{t}</h1>\n",
        t = escape(&title)
    );
    header(&mut h, run);
    let _ = writeln!(
        h,
        "<nav><a href=\"#config\">Configuration</a><a href=\"#stages\">Stages</a>\
         <a href=\"#charts\">Charts</a><a href=\"#percentiles\">Percentiles</a>\
         <a href=\"#errors\">Errors</a></nav>"
    );
    config(&mut h, run);
    stages(&mut h, run);
    slo(&mut h, run);
    capacity(&mut h, run);
    if let Some(c) = &run.cold_start {
        text_section(
            &mut h,
            "cold",
            "Cold starts",
            &super::cold_start::section(c),
        );
    }
    if let Some(s) = &run.scale {
        text_section(&mut h, "scaling", "Scaling", &super::scale::section(s));
    }
    if !run.target_metrics.is_empty() {
        text_section(
            &mut h,
            "target",
            "Target metrics",
            &super::target::section(&run.target_metrics),
        );
    }
    charts(&mut h, run)?;
    percentiles(&mut h, run);
    errors(&mut h, run);
    notes(&mut h, run);
    let _ = write!(
        h,
        "<footer>Written by voxload {}. This file is self-contained: no scripts, \
         nothing loaded from the network.</footer>\n</main>\n</body>\n</html>\n",
        escape(&run.voxload_version)
    );
    Ok(h)
}

fn header(h: &mut String, run: &RunResult) {
    let (status, class) = match run.status {
        RunStatus::Complete => ("complete", "complete"),
        RunStatus::Interrupted => ("interrupted (partial results)", "interrupted"),
        RunStatus::InProgress => ("in progress (partial results)", "in_progress"),
        RunStatus::Partial => ("partial: shards missing", "interrupted"),
    };
    let env = &run.environment;
    let _ = writeln!(
        h,
        "<p class=\"meta\">Status: <span class=\"status-{class}\">{status}</span> · \
         started {} · written {} · {} {} with {} CPUs</p>",
        escape(&run.started_at),
        escape(&run.written_at),
        escape(&env.os),
        escape(&env.arch),
        env.cpus
    );
    if let Some(line) = super::terminal::shard_line(run) {
        let _ = writeln!(h, "<p class=\"meta\">{}</p>", escape(&line));
    }
}

fn config(h: &mut String, run: &RunResult) {
    let _ = writeln!(h, "<h2 id=\"config\">Configuration</h2>");
    for section in run.sections() {
        if let Some(name) = section.name {
            let _ = writeln!(h, "<h3>Scenario {}</h3>", escape(name));
        }
        let _ = writeln!(h, "<table class=\"kv\">");
        let info = run
            .scenarios
            .iter()
            .find(|s| s.name.as_deref() == section.name);
        if let Some(kind) = section.kind {
            let _ = writeln!(
                h,
                "<tr><th>protocol</th><td>{}</td></tr>",
                escape(kind.name())
            );
        }
        for (label, value) in info.map(|i| i.facts.as_slice()).unwrap_or_default() {
            let _ = writeln!(
                h,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(label),
                escape(value)
            );
        }
        if section.name.is_none() {
            if let Some(seed) = run.seed {
                let _ = writeln!(h, "<tr><th>seed</th><td>{seed}</td></tr>");
            }
        }
        let _ = writeln!(h, "</table>");
    }
    if run.is_mixed() {
        if let Some(seed) = run.seed {
            let _ = writeln!(h, "<p>Seed {seed}.</p>");
        }
    }
    let _ = writeln!(h, "<h3>Workload per stage</h3>");
    let scenario_col = if run.is_mixed() {
        "<th class=\"text\">scenario</th>"
    } else {
        ""
    };
    let _ = writeln!(
        h,
        "<table><thead><tr><th class=\"text\">stage</th>{scenario_col}<th class=\"text\">workload</th>\
         <th>issued</th><th>wall</th><th>warm-up</th></tr></thead><tbody>"
    );
    for s in &run.stages {
        let _ = writeln!(
            h,
            "<tr><td class=\"text\">{}</td>{}<td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.label),
            scenario_cell(run, s),
            escape(&workload(&s.workload)),
            s.issued,
            num(s.wall_s, 1) + " s",
            s.summary.warmup,
        );
    }
    let full = serde_json::to_string_pretty(&run.config).unwrap_or_default();
    let _ = writeln!(
        h,
        "</tbody></table>\n<details><summary>Full configuration (secrets redacted)</summary>\
         <pre>{}</pre></details>",
        escape(&full)
    );
}

/// The scenario cell of a stage row, in a run of several scenarios.
fn scenario_cell(run: &RunResult, s: &StageResult) -> String {
    match (&s.scenario, run.is_mixed()) {
        (Some(name), true) => format!("<td class=\"text\">{}</td>", escape(name)),
        (None, true) => "<td class=\"text\">—</td>".into(),
        _ => String::new(),
    }
}

/// A workload in words: `open loop, 5 req/s, gamma shape 1 (Poisson)`.
fn workload(w: &Workload) -> String {
    match w {
        Workload::Open {
            rate,
            burstiness,
            max_in_flight,
            ..
        } => {
            let arrivals = match burstiness {
                None => "constant spacing".to_string(),
                Some(b) if (*b - 1.0).abs() < 1e-9 => "Poisson arrivals".to_string(),
                Some(b) => format!("gamma arrivals, burstiness {b}"),
            };
            let cap = max_in_flight.map_or(String::new(), |m| format!(", at most {m} in flight"));
            format!("open loop, {rate} req/s, {arrivals}{cap}")
        }
        Workload::Closed {
            concurrency,
            spawn_rate,
            think_time,
            ..
        } => {
            let spawn = spawn_rate.map_or(String::new(), |r| format!(", spawning {r}/s"));
            let think = if think_time.is_zero() {
                String::new()
            } else {
                format!(", think time {}", humantime::format_duration(*think_time))
            };
            format!("closed loop, {concurrency} users{spawn}{think}")
        }
    }
}

fn num(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{:.1} %", 100.0 * v))
}

fn stages(h: &mut String, run: &RunResult) {
    let scenario_col = if run.is_mixed() {
        "<th class=\"text\">scenario</th>"
    } else {
        ""
    };
    let _ = writeln!(
        h,
        "<h2 id=\"stages\">Stages</h2>\n<div class=\"scroll\"><table><thead><tr>\
         <th class=\"text\">stage</th>{scenario_col}<th>requests</th><th>ok</th><th>failed</th><th>dropped</th>\
         <th>success</th><th>offered req/s</th><th>achieved req/s</th><th>audio s/s</th>\
         <th>stalled</th><th>wall s</th></tr></thead><tbody>"
    );
    for s in &run.stages {
        let m = &s.summary;
        let _ = writeln!(
            h,
            "<tr><td class=\"text\">{}{}</td>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.label),
            if s.interrupted { " (interrupted)" } else { "" },
            scenario_cell(run, s),
            m.requests,
            m.ok,
            m.failed,
            m.dropped,
            opt_pct(m.success_rate),
            s.offered_rps.map_or_else(|| "—".into(), |v| num(v, 2)),
            num(m.achieved_rps, 2),
            num(m.audio_s_per_wall_s, 2),
            opt_pct(m.stalled_share),
            num(s.wall_s, 1),
        );
    }
    let _ = writeln!(h, "</tbody></table></div>");
}

fn slo(h: &mut String, run: &RunResult) {
    if run.slo.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h2 id=\"slo\">SLO thresholds</h2>\n<table><thead><tr><th class=\"text\">threshold</th>\
         <th class=\"text\">stage</th><th>observed</th><th>result</th></tr></thead><tbody>"
    );
    for r in &run.slo {
        let (verdict, class) = verdict(r.passed);
        let _ = writeln!(
            h,
            "<tr><td class=\"text\"><code>{}</code></td><td class=\"text\">{}</td><td>{}</td>\
             <td class=\"{class}\">{verdict}</td></tr>",
            escape(&r.slo),
            escape(&match &r.scenario {
                Some(n) => format!("{} {n}", r.label),
                None => r.label.clone(),
            }),
            r.observed.map_or_else(|| "—".into(), |v| format!("{v:.4}")),
        );
    }
    let _ = writeln!(h, "</tbody></table>");
}

/// A result cell's text and CSS class: `pass` or `FAIL`.
fn verdict(passed: bool) -> (&'static str, &'static str) {
    if passed {
        ("pass", "pass")
    } else {
        ("FAIL", "fail")
    }
}

/// A capacity search: its verdict, then every probe with each SLO's bound.
fn capacity(h: &mut String, run: &RunResult) {
    let Some(c) = &run.capacity else {
        return;
    };
    let _ = writeln!(
        h,
        "<h2 id=\"capacity\">Capacity</h2>\n<p><strong>{}</strong></p>\n<table><thead><tr>\
         <th class=\"text\">stage</th><th class=\"text\">phase</th><th>level</th>\
         <th class=\"text\">SLO bounds (95 %)</th><th>result</th></tr></thead><tbody>",
        escape(&c.verdict())
    );
    for p in &c.probes {
        let bounds: Vec<String> = p
            .slo
            .iter()
            .map(|v| {
                let bound = v
                    .bound
                    .map_or_else(|| "no bound".into(), |b| format!("{b:.4}"));
                format!("{} {bound}", v.slo)
            })
            .collect();
        let (verdict, class) = verdict(p.passed);
        let _ = writeln!(
            h,
            "<tr><td class=\"text\">{}</td><td class=\"text\">{:?}</td><td>{}</td>\
             <td class=\"text\"><code>{}</code></td><td class=\"{class}\">{verdict}</td></tr>",
            p.stage + 1,
            p.phase,
            escape(&c.over.show(p.level)),
            escape(&bounds.join(", ")),
        );
    }
    let _ = writeln!(h, "</tbody></table>");
}

/// A section shown as the summary prints it (its rows are aligned text).
fn text_section(h: &mut String, id: &str, title: &str, text: &str) {
    let _ = writeln!(
        h,
        "<h2 id=\"{id}\">{title}</h2>\n<pre>{}</pre>",
        escape(text.trim_start_matches('\n'))
    );
}

/// The charts as inline SVG. The `xmlns` attribute is dropped: HTML does
/// not need it, and the report then holds no URL but the target's.
fn charts(h: &mut String, run: &RunResult) -> Result<(), String> {
    let _ = writeln!(h, "<h2 id=\"charts\">Charts</h2>");
    let figs = plot::all(run);
    if figs.is_empty() {
        let _ = writeln!(h, "<p>No data to chart (no successful request).</p>");
    }
    for fig in figs {
        let svg = plot::render_svg(&fig)?.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "");
        let _ = writeln!(
            h,
            "<figure id=\"chart-{stem}\">\n{svg}<figcaption>{stem}.png / {stem}.svg</figcaption>\n</figure>",
            stem = fig.stem
        );
    }
    Ok(())
}

fn percentiles(h: &mut String, run: &RunResult) {
    let _ = writeln!(h, "<h2 id=\"percentiles\">Percentiles</h2>");
    for s in &run.stages {
        let title = match &s.scenario {
            Some(n) => format!("{n}: {}", s.label),
            None => s.label.clone(),
        };
        let _ = writeln!(h, "<h3>{}</h3>", escape(&title));
        let rows: Vec<(String, &Percentiles)> =
            ordered(s.summary.metrics.keys().map(String::as_str))
                .into_iter()
                .filter_map(|m| {
                    let name = m.name();
                    let p = s.summary.metrics.get(&name)?;
                    Some((name, p))
                })
                .collect();
        if rows.is_empty() {
            let _ = writeln!(h, "<p>No samples.</p>");
            continue;
        }
        let _ = writeln!(
            h,
            "<div class=\"scroll\"><table><thead><tr><th class=\"text\">metric</th><th class=\"text\">unit</th>\
             <th>count</th><th>min</th><th>mean</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th>\
             <th>max</th></tr></thead><tbody>"
        );
        for (name, p) in rows {
            let u = p.unit.label();
            let value = |v: f64| bare(v, p.unit);
            let _ = writeln!(
                h,
                "<tr><td class=\"text\">{}</td><td class=\"text\">{u}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&name),
                p.count,
                value(p.min),
                value(p.mean),
                value(p.p50),
                value(p.p90),
                value(p.p95),
                value(p.p99),
                value(p.max),
            );
        }
        let _ = writeln!(h, "</tbody></table></div>");
    }
}

fn errors(h: &mut String, run: &RunResult) {
    let _ = writeln!(h, "<h2 id=\"errors\">Errors</h2>");
    if run.stages.iter().all(|s| s.summary.errors.is_empty()) {
        let _ = writeln!(h, "<p>No failed requests.</p>");
        return;
    }
    let _ = writeln!(
        h,
        "<table><thead><tr><th class=\"text\">stage</th><th class=\"text\">class</th><th>count</th>\
         <th class=\"text\">example (first seen)</th></tr></thead><tbody>"
    );
    for s in &run.stages {
        let label = match &s.scenario {
            Some(n) => format!("{} {n}", s.label),
            None => s.label.clone(),
        };
        for e in &s.summary.errors {
            let _ = writeln!(
                h,
                "<tr><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{}</td>\
                 <td class=\"text\"><code>{}</code></td></tr>",
                escape(&label),
                escape(&e.label),
                e.count,
                escape(e.example.as_deref().unwrap_or("")),
            );
        }
    }
    let _ = writeln!(h, "</tbody></table>");
}

fn notes(h: &mut String, run: &RunResult) {
    if run.notes.is_empty() {
        return;
    }
    let _ = writeln!(h, "<h2 id=\"notes\">Definitions</h2>\n<ul class=\"notes\">");
    for n in &run.notes {
        let _ = writeln!(h, "<li>{}</li>", escape(n));
    }
    let _ = writeln!(h, "</ul>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert('x') & "y"</script>"#),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
