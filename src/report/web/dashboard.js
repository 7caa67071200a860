// voxload's live dashboard: polls GET /api/live every second and draws
// each scenario's numbers and per-second charts with its own SVG; the
// Stop button posts /api/stop. Text from the server goes in as text.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;
const KEEP_SECONDS = 900;
const COLORS = ["#d92d20", "#f79009", "#7a5af8", "#0ba5ec", "#12b76a", "#ee46bc", "#667085"];

const cards = new Map();   // scenario name -> { el, rows: Map(second -> row) }
let since = 0;
let stopped = false;

const $ = (id) => document.getElementById(id);

function text(el, value) {
  el.textContent = value;
}

function fmtRate(v) {
  return v === null || v === undefined ? "–" : v.toFixed(1);
}

function fmtMs(v) {
  if (v === null || v === undefined) return "–";
  if (v >= 10000) return (v / 1000).toFixed(2) + " s";
  if (v >= 100) return v.toFixed(0) + " ms";
  if (v >= 10) return v.toFixed(1) + " ms";
  return v.toFixed(2) + " ms";
}

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 4, 5, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// Grid lines for an axis up to `max` (a niceMax): 5 steps of a 1 or 5,
// 4 of a 2, 4 or 8, so every label is a round number.
function steps(max) {
  const m = max / Math.pow(10, Math.floor(Math.log10(max)));
  return [1, 5, 10].some((x) => Math.abs(m - x) < 1e-9) ? 5 : 4;
}

// Axes, grid and legend of a chart over seconds [x0, x1] and values [0, ymax];
// returns the functions that place a point.
function frame(svg, x0, x1, ymax, legend) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = 480, H = 220, L = 44, R = 8, T = 22, B = 24;
  const sx = (x) => L + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * (W - L - R);
  const sy = (y) => T + (1 - y / ymax) * (H - T - B);
  const n = steps(ymax);
  const step = ymax / n;
  const decimals = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
  for (let i = 0; i <= n; i++) {
    const y = step * i;
    svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), class: i ? "grid" : "axis" }));
    const label = svgEl("text", { x: L - 4, y: sy(y) + 4, "text-anchor": "end" });
    text(label, y.toFixed(decimals));
    svg.appendChild(label);
  }
  const ticks = Math.min(6, Math.max(1, x1 - x0));
  for (let i = 0; i <= ticks; i++) {
    const x = Math.round(x0 + ((x1 - x0) * i) / ticks);
    const label = svgEl("text", { x: sx(x), y: H - 6, "text-anchor": "middle" });
    text(label, x + "s");
    svg.appendChild(label);
  }
  let lx = L;
  legend.forEach(([name, color]) => {
    svg.appendChild(svgEl("rect", { x: lx, y: 5, width: 11, height: 11, fill: color }));
    const t = svgEl("text", { x: lx + 15, y: 15 });
    text(t, name);
    svg.appendChild(t);
    lx += 26 + 7.5 * name.length;
  });
  return { sx, sy, step: (W - L - R) / Math.max(1, x1 - x0 + 1) };
}

function lineChart(svg, rows, series) {
  const xs = rows.map((r) => r.second);
  const x0 = xs.length ? xs[0] : 0, x1 = xs.length ? xs[xs.length - 1] : 1;
  let ymax = 0;
  for (const s of series) for (const r of rows) if (r[s.key] !== null && r[s.key] !== undefined) ymax = Math.max(ymax, r[s.key]);
  const f = frame(svg, x0, x1, niceMax(ymax), series.map((s) => [s.name, s.color]));
  for (const s of series) {
    const pts = rows
      .filter((r) => r[s.key] !== null && r[s.key] !== undefined)
      .map((r) => f.sx(r.second).toFixed(1) + "," + f.sy(r[s.key]).toFixed(1));
    svg.appendChild(svgEl("polyline", { points: pts.join(" "), stroke: s.color, "data-series": s.key }));
  }
}

function errorChart(svg, rows, classes) {
  const xs = rows.map((r) => r.second);
  const x0 = xs.length ? xs[0] : 0, x1 = xs.length ? xs[xs.length - 1] : 1;
  const ymax = niceMax(Math.max(0, ...rows.map((r) => r.failed)));
  const color = (c) => COLORS[classes.indexOf(c) % COLORS.length];
  const f = frame(svg, x0, x1, ymax, classes.map((c) => [c, color(c)]));
  const w = Math.max(1, f.step * 0.8);
  for (const r of rows) {
    let base = 0;
    for (const [c, n] of Object.entries(r.errors || {})) {
      const y0 = f.sy(base), y1 = f.sy(base + n);
      svg.appendChild(svgEl("rect", { x: f.sx(r.second) - w / 2, y: y1, width: w, height: Math.max(0, y0 - y1), fill: color(c), "data-class": c }));
      base += n;
    }
  }
}

function card(s) {
  let c = cards.get(s.name);
  if (c) return c;
  const el = $("scenario-card").content.firstElementChild.cloneNode(true);
  el.dataset.scenario = s.name;
  $("scenarios").appendChild(el);
  c = { el, rows: new Map(), classes: [] };
  cards.set(s.name, c);
  return c;
}

function field(c, name) {
  return c.el.querySelector('[data-field="' + name + '"]');
}

function renderScenario(s) {
  const c = card(s);
  for (const r of s.seconds) c.rows.set(r.second, r);
  const keys = [...c.rows.keys()].sort((a, b) => a - b);
  while (keys.length > KEEP_SECONDS) c.rows.delete(keys.shift());
  const rows = keys.map((k) => c.rows.get(k));
  for (const r of rows) for (const cls of Object.keys(r.errors || {})) if (!c.classes.includes(cls)) c.classes.push(cls);

  text(field(c, "name"), s.name);
  text(field(c, "kind"), s.kind + " · " + s.unit + "s");
  text(field(c, "offered_rps"), fmtRate(s.offered_rps));
  text(field(c, "achieved_rps"), fmtRate(s.achieved_rps));
  text(field(c, "in_flight"), String(s.in_flight));
  text(field(c, "requests"), String(s.requests));
  text(field(c, "ok"), String(s.ok));
  text(field(c, "failed"), String(s.failed));
  text(field(c, "dropped"), String(s.dropped));
  text(field(c, "p50_title"), s.metric_label + " p50");
  text(field(c, "p95_title"), s.metric_label + " p95");
  text(field(c, "p50_ms"), fmtMs(s.p50_ms));
  text(field(c, "p95_ms"), fmtMs(s.p95_ms));
  text(field(c, "latency_title"), s.metric_label + " per second, ms");

  const body = field(c, "errors");
  while (body.firstChild) body.removeChild(body.firstChild);
  for (const e of s.errors) {
    const tr = document.createElement("tr");
    const a = document.createElement("td"), b = document.createElement("td");
    text(a, e.class);
    text(b, String(e.count));
    tr.append(a, b);
    body.appendChild(tr);
  }
  c.el.querySelector("table.errors").hidden = s.errors.length === 0;

  lineChart(c.el.querySelector('[data-chart="rate"]'), rows, [
    { key: "offered", name: "offered", color: "#98a2b3" },
    { key: "achieved", name: "achieved", color: "#1570ef" },
  ]);
  lineChart(c.el.querySelector('[data-chart="latency"]'), rows, [
    { key: "p50_ms", name: "p50", color: "#12b76a" },
    { key: "p95_ms", name: "p95", color: "#f79009" },
  ]);
  errorChart(c.el.querySelector('[data-chart="errors"]'), rows, c.classes);
}

function render(snap) {
  text($("run"), snap.run);
  const state = $("state");
  let label = snap.state;
  if (snap.state === "finished") label = snap.status ? snap.status : "writing results";
  text(state, label);
  state.className = "state " + snap.state;
  const st = snap.stage;
  if (st) {
    const number = "stage " + (st.index + 1);
    text($("stage"), st.label === number ? number : number + ": " + st.label);
    let p = st.elapsed_s.toFixed(0) + " s";
    if (st.duration_s !== null) {
      p += " of " + st.duration_s.toFixed(0) + " s, ";
      p += st.left_s > 0 ? st.left_s.toFixed(0) + " s left" : "finishing the requests in flight";
    }
    else if (st.requests !== null) p = st.done + " / " + st.requests + " requests, " + p;
    text($("progress"), p);
  }
  text($("cpu"), snap.generator_cpu === null ? "" : "generator cpu " + (snap.generator_cpu * 100).toFixed(0) + "%");
  const down = $("down");
  down.hidden = snap.down_since_s === null;
  text(down, snap.down_since_s === null ? "" : "TARGET DOWN since " + snap.down_since_s.toFixed(1) + " s");
  for (const s of snap.scenarios) renderScenario(s);
  let next = since;
  for (const s of snap.scenarios) for (const r of s.seconds) next = Math.max(next, r.second + 1);
  since = next;
  const over = snap.state !== "running";
  $("stop").disabled = over || stopped;
  if (snap.state === "finished" && snap.status) {
    const note = $("note");
    note.hidden = false;
    text(note, "Run " + snap.status + "; results in " + snap.results);
  }
}

async function poll() {
  let snap;
  try {
    const r = await fetch("/api/live?since=" + since, { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    snap = await r.json();
  } catch (e) {
    const state = $("state");
    text(state, "connection lost");
    state.className = "state lost";
    setTimeout(poll, 5 * POLL_MS);
    return;
  }
  render(snap);
  // The final state, once the results are written, does not change.
  if (!(snap.state === "finished" && snap.status)) setTimeout(poll, POLL_MS);
}

$("stop").addEventListener("click", async () => {
  stopped = true;
  $("stop").disabled = true;
  try {
    await fetch("/api/stop", { method: "POST", headers: { "x-voxload": "stop" } });
  } catch (e) {
    stopped = false;
    $("stop").disabled = false;
  }
});

poll();
