"""The studio's page: one HTML document, its script and its style sheet (served from
``/static/``: the page's Content-Security-Policy allows no inline script or style).

The script builds every element with ``textContent`` (a hostile file name stays text), sends
the CSRF token from the page's ``<meta name="csrf">`` with every change, follows each job by
server-sent events, plays a suggestion's excerpts (the mix, the master, the reference; A/B at
equal loudness or at real levels, the position kept), draws its tonal, EQ, width and dynamics
curves from numbers, shows its report page (the ``preview`` report) in a frame, and keeps
every render as a version with its download link.
"""

from __future__ import annotations

from html import escape

from matcher import __version__


def studio_page(csrf: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf" content="{escape(csrf)}">
<title>automaster studio</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/studio.css">
</head>
<body>
<header><h1>automaster studio</h1><span class="muted">{escape(__version__)}</span></header>
<main>
<section id="mixes-section">
  <h2>Mixes</h2>
  <label class="drop" id="mix-drop">Drop a mix here, or choose one
    <input type="file" id="mix-file" accept=".wav,.flac,.aif,.aiff,.ogg,.mp3"></label>
  <ul id="mixes"></ul>
  <p id="message" role="status"></p>
</section>
<section id="mix-section" hidden>
  <h2 id="mix-title"></h2>
  <div class="row">
    <label class="drop" id="ref-drop">Add a reference (none: the starter library chooses)
      <input type="file" id="ref-file" accept=".wav,.flac,.aif,.aiff,.ogg,.mp3"></label>
    <ul id="references"></ul>
  </div>
  <fieldset id="controls">
    <legend>Suggestion</legend>
    <label>EQ <input type="range" id="eq" min="0" max="100" value="100"> <output id="eq-value">100 %</output></label>
    <label>Dynamics <input type="range" id="dynamics" min="0" max="100" value="100"> <output id="dynamics-value">100 %</output></label>
    <label>Width <input type="range" id="width" min="0" max="100" value="100"> <output id="width-value">100 %</output></label>
    <label>Loudness (LUFS, empty: the references') <input type="number" id="lufs" step="0.5" min="-30" max="-5"></label>
    <label>Ceiling (dBTP) <input type="number" id="ceiling" step="0.1" min="-6" max="0" value="-1"></label>
    <label>Platform <select id="target"><option value="">none</option></select></label>
    <label>Match toward <select id="style"><option value="">the references (or the starter library's choice)</option><option value="my-library">the nearest tracks of my library</option></select></label>
    <label>EQ phase <select id="eq-phase"><option value="">mixed (default)</option><option>minimum</option><option>linear</option></select></label>
    <label>Mono below (Hz, empty: off) <input type="number" id="mono-below" min="20" max="500" step="10"></label>
    <span class="fixes">Fixes:
      <label><input type="checkbox" id="fix-dc" checked> DC</label>
      <label><input type="checkbox" id="fix-highpass" checked> subsonic high-pass</label>
      <label><input type="checkbox" id="fix-polarity" checked> polarity</label>
      <label><input type="checkbox" id="fix-balance" checked> balance</label></span>
    <button type="button" id="suggest">Suggest</button>
  </fieldset>
  <section id="settings-section" hidden>
    <h3>Suggested settings <span id="settings-state" class="muted"></span></h3>
    <dl id="settings-summary"></dl>
  </section>
  <section id="listen-section" hidden>
    <h3>Listen <span id="listen-state" class="muted" aria-live="polite"></span></h3>
    <p class="row">
      <button type="button" id="play">Play</button>
      <span class="switch" role="group" aria-label="What you hear">
        <button type="button" id="hear-before" aria-pressed="true">A: the mix</button>
        <button type="button" id="hear-after" aria-pressed="false">B: the master</button>
        <button type="button" id="hear-reference" aria-pressed="false">the reference</button>
      </span>
      <label><input type="checkbox" id="equal-loudness" checked> at equal loudness</label>
      <input type="range" id="position" min="0" max="25" step="0.1" value="0" aria-label="Position in the excerpt">
      <output id="clock">0:00</output>
    </p>
    <p id="listen-levels" class="muted"></p>
    <audio id="clip-before" preload="auto"></audio>
    <audio id="clip-after" preload="auto"></audio>
    <audio id="clip-reference" preload="auto"></audio>
    <div class="plots">
      <svg id="plot-tonal" role="img" aria-label="Tonal balance"></svg>
      <svg id="plot-eq" role="img" aria-label="EQ applied"></svg>
      <svg id="plot-width" role="img" aria-label="Stereo width per band"></svg>
      <svg id="plot-dynamics" role="img" aria-label="Dynamics per band"></svg>
    </div>
  </section>
  <progress id="progress" max="1" value="0" hidden></progress>
  <iframe id="report" title="The suggestion's report" hidden></iframe>
  <fieldset id="render-controls">
    <legend>Render the whole master</legend>
    <label>Format <select id="format"><option>wav</option><option>flac</option><option>aiff</option><option>mp3</option><option>ogg</option><option>opus</option><option>m4a</option></select></label>
    <label>Word length <select id="bit-depth"><option>24</option><option>16</option><option>32f</option></select></label>
    <button type="button" id="render" disabled>Render</button>
  </fieldset>
  <h3>Versions</h3>
  <ol id="versions"></ol>
</section>
</main>
<script src="/static/studio.js"></script>
</body>
</html>
"""


_SCRIPT = r"""
"use strict";
const csrf = document.querySelector('meta[name="csrf"]').content;
const TARGETS = ["spotify", "apple-music", "youtube", "tidal", "amazon", "deezer", "cd", "ebu-r128", "podcast"];
let current = null;

function $(id) { return document.getElementById(id); }
function say(text) { $("message").textContent = text; }

async function call(method, url, body, type) {
  const headers = {"x-automaster-csrf": csrf};
  if (type) headers["content-type"] = type;
  const response = await fetch(url, {method, headers, body, credentials: "same-origin"});
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function follow(job) {
  return new Promise((resolve, reject) => {
    const bar = $("progress");
    bar.hidden = false; bar.value = 0;
    const events = new EventSource(`/api/jobs/${job}/events`);
    let fitted = false, heardStage = null;
    events.onmessage = (event) => {
      const state = JSON.parse(event.data);
      bar.value = state.progress;
      if (state.fitted && !fitted) { fitted = true; refresh(); }  // the settings, before the report
      if (state.listen && state.listen !== heardStage) { heardStage = state.listen; refresh(); }  // a draft to hear, then the exact
      if (state.state === "done") { events.close(); bar.hidden = true; resolve(); }
      if (state.state === "failed") {
        events.close(); bar.hidden = true;
        if (state.error && state.error.startsWith("superseded")) resolve(); else reject(new Error(state.error));
      }
    };
  });
}

async function upload(url, file) {
  return call("POST", `${url}${url.includes("?") ? "&" : "?"}name=${encodeURIComponent(file.name)}`, file,
              "application/octet-stream");
}

function item(list, text, id) {
  const li = document.createElement("li");
  li.textContent = text;
  if (id) li.dataset.id = id;
  list.appendChild(li);
  return li;
}

async function refresh() {
  const {mixes} = await call("GET", "/api/mixes");
  const list = $("mixes");
  list.replaceChildren();
  for (const mix of mixes) {
    const li = item(list, `${mix.name} (${Math.round(mix.seconds)} s)`, mix.id);
    li.className = "mix" + (current && current.id === mix.id ? " chosen" : "");
    li.tabIndex = 0;
    li.addEventListener("click", () => { current = mix; show(mix); refresh(); });
    if (current && current.id === mix.id) { current = mix; show(mix); }
  }
}

function extreme(gains, centres, amount, sign) {
  let best = 0, at = 0;
  gains.forEach((g, i) => { if (sign * g * amount > sign * best) { best = g * amount; at = centres[i]; } });
  return best === 0 ? "none" : `${best > 0 ? "+" : ""}${best.toFixed(1)} dB at ${at >= 1000 ? (at / 1000).toFixed(1) + " kHz" : Math.round(at) + " Hz"}`;
}

function showSettings(staged) {
  const list = $("settings-summary");
  list.replaceChildren();
  $("settings-section").hidden = !staged;
  if (!staged) return;
  const s = staged.settings;
  const rows = [
    ["Loudness", s.loudness.target_lufs === null ? "the mix's level" : `${s.loudness.target_lufs.toFixed(1)} LUFS`],
    ["Ceiling", `${s.limiter.ceiling_dbtp.toFixed(1)} dBTP${s.limiter.enabled ? "" : " (no limiter)"}`],
    ["EQ", `${Math.round(100 * s.eq.amount)} %: largest cut ${extreme(s.eq.gain_db, s.eq.band_centers_hz, s.eq.amount, -1)}, `
           + `largest boost ${extreme(s.eq.gain_db, s.eq.band_centers_hz, s.eq.amount, 1)}; ${s.eq.phase} phase`],
    ["Dynamics", `${Math.round(100 * s.dynamics.amount)} %: ratios ${s.dynamics.bands.map((b) => b.ratio.toFixed(2)).join(" / ")}`
                 + ` (crossovers ${s.dynamics.crossovers_hz.join(", ")} Hz)`],
    ["Width", `${Math.round(100 * s.width.amount)} %` + (s.width.mono_below_hz ? `, mono below ${s.width.mono_below_hz} Hz` : "")],
    ["Output", `${s.output.bit_depth}-bit` + (s.output.sample_rate_hz ? `, ${s.output.sample_rate_hz} Hz` : "")],
  ];
  for (const [name, value] of rows) {
    const term = document.createElement("dt"); term.textContent = name;
    const detail = document.createElement("dd"); detail.textContent = value;
    list.append(term, detail);
  }
  $("settings-state").textContent = staged.ready ? "" : "(the report and the audio are on their way)";
}

function show(mix) {
  $("mix-section").hidden = false;
  showSettings(mix.settings);
  showListen(mix);
  $("mix-title").textContent = mix.name;
  const refs = $("references");
  refs.replaceChildren();
  for (const ref of mix.references) item(refs, ref.name, ref.id);
  const report = $("report");
  if (mix.suggestion && mix.suggestion.figures && "lufs" in mix.suggestion.figures) {
    const src = `/api/suggestions/${mix.suggestion.id}/report`;
    if (report.getAttribute("src") !== src) report.setAttribute("src", src);
    report.hidden = false;
    $("render").disabled = false;
  } else {
    report.hidden = true;
    $("render").disabled = true;
  }
  showVersions(mix);
}

// Every render is kept: its file to play and download, its settings, and a way back to the
// controls it was made with. An item once shown ready stays (its player keeps playing).
function showVersions(mix) {
  const versions = $("versions");
  if (versions.dataset.mix !== mix.id) { versions.replaceChildren(); versions.dataset.mix = mix.id; }
  for (const v of mix.versions) {
    const state = v.ready ? "ready" : "rendering";
    let li = [...versions.children].find((child) => child.dataset.id === v.id);
    if (li && li.dataset.state === state) continue;
    const fresh = document.createElement("li");
    fresh.dataset.id = v.id; fresh.dataset.state = state;
    fresh.appendChild(document.createTextNode(`version ${v.number} (${v.format}) `));
    if (v.ready) {
      const link = (href, text) => {
        const a = document.createElement("a"); a.href = href; a.textContent = text; fresh.appendChild(a);
        fresh.appendChild(document.createTextNode(" "));
      };
      link(`/api/versions/${v.id}/download`, "download");
      link(`/api/versions/${v.id}/settings`, "settings");
      if (v.figures && v.figures.lufs !== undefined) {
        fresh.appendChild(document.createTextNode(
          `${v.figures.lufs.toFixed(1)} LUFS, ${v.figures.true_peak_dbtp.toFixed(2)} dBTP `));
      }
      if (v.options) {
        const back = document.createElement("button");
        back.type = "button"; back.className = "back"; back.textContent = "back to these settings";
        back.addEventListener("click", () => { setControls(v.options); suggest(); });
        fresh.appendChild(back);
      }
      if (v.format !== "aiff") {  // what browsers play
        const player = document.createElement("audio");
        player.controls = true; player.preload = "none"; player.src = `/api/versions/${v.id}/download`;
        fresh.appendChild(player);
      }
    } else {
      fresh.appendChild(document.createTextNode("rendering"));
    }
    if (li) li.replaceWith(fresh); else versions.appendChild(fresh);
  }
}

// The controls as a suggestion's options set them (a version's, to go back to it).
function setControls(o) {
  const amount = o.amount || {};
  for (const id of ["eq", "dynamics", "width"]) {
    $(id).value = String(amount[id] ?? 100);
    $(`${id}-value`).textContent = `${$(id).value} %`;
  }
  $("lufs").value = o.lufs ?? "";
  $("ceiling").value = o.ceiling_dbtp ?? "";
  $("target").value = o.target || "";
  $("style").value = o.my_library ? "my-library" : (o.style || "");
  $("eq-phase").value = o.eq_phase || "";
  $("mono-below").value = o.mono_below_hz ?? "";
  for (const name of ["dc", "highpass", "polarity", "balance"]) {
    $(`fix-${name}`).checked = !(o.no_fix || []).includes(name);
  }
}

// --- listening: A (the mix), B (the master), the reference; one plays at a time ---------
const CLIPS = ["before", "after", "reference"];
const heard = {key: null, suggestion: null, active: "before", gains: {}, drawing: 0};

function clip(label) { return $(`clip-${label}`); }
function volumeOf(label) {
  const gain = heard.gains[label];
  return $("equal-loudness").checked && typeof gain === "number" ? Math.min(1, Math.pow(10, gain / 20)) : 1;
}
function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// A new source for one player; the one being heard keeps its position and goes on playing.
function load(label, src, gainDb) {
  const player = clip(label), now = clip(heard.active);
  const position = now.currentTime, playing = !now.paused;
  heard.gains[label] = gainDb;
  player.dataset.gainDb = String(gainDb);
  player.src = src;
  player.volume = volumeOf(label);
  if (label === heard.active) {
    player.addEventListener("loadedmetadata", () => {
      player.currentTime = Math.min(position, player.duration || position);
      if (playing) player.play().catch(() => {});
    }, {once: true});
  }
}

// The switch: the other excerpt at the same position, playing if this one was.
function hear(label) {
  const from = clip(heard.active), to = clip(label);
  if (!to.getAttribute("src")) return;
  const playing = !from.paused, position = from.currentTime;
  if (label !== heard.active) from.pause();
  heard.active = label;
  to.currentTime = Math.min(position, to.duration || position);
  to.volume = volumeOf(label);
  if (playing) to.play().catch(() => {});
  for (const name of CLIPS) $(`hear-${name}`).setAttribute("aria-pressed", String(name === label));
  document.body.dataset.hearing = label;
}

function showListen(mix) {
  const listen = mix.listen;
  $("listen-section").hidden = !listen;
  if (!listen) return;
  const key = `${listen.suggestion}/${listen.stage}`;
  if (key === heard.key) return;
  const same = heard.suggestion === listen.suggestion;  // its draft, now exact: the same mix and reference
  heard.key = key; heard.suggestion = listen.suggestion;
  for (const label of CLIPS) {
    const c = listen.clips[label];
    $(`hear-${label}`).disabled = !c;
    if (!c) { clip(label).removeAttribute("src"); continue; }
    if (same && label !== "after") { heard.gains[label] = c.gain_db; clip(label).volume = volumeOf(label); continue; }
    load(label, `/api/suggestions/${listen.suggestion}/clips/${listen.stage}-${label}`, c.gain_db);
  }
  const levels = CLIPS.filter((label) => listen.clips[label])
    .map((label) => `${label} ${listen.clips[label].lufs.toFixed(1)} LUFS`).join(", ");
  const first = Object.values(listen.clips)[0];
  $("listen-levels").textContent = `${clock(first.start_s)}-${clock(first.start_s + first.duration_s)} of each track, `
    + `the loudest: ${levels}; "at equal loudness" plays each at ${listen.common_lufs.toFixed(1)} LUFS.`;
  $("listen-state").textContent = listen.stage === "draft"
    ? "(a draft: these 25 s planned on their own; the exact suggestion follows)" : "";
  document.body.dataset.listen = key;
  const asked = ++heard.drawing;  // a quick excerpt's curves drawn meanwhile stay
  call("GET", `/api/suggestions/${listen.suggestion}/curves`).then((answer) => {
    if (heard.drawing === asked) draw(answer.curves);
  }).catch(() => {});
}

for (const label of CLIPS) {
  $(`hear-${label}`).addEventListener("click", () => hear(label));
  clip(label).addEventListener("timeupdate", () => {
    if (label !== heard.active) return;
    $("position").max = String(clip(label).duration || 25);
    $("position").value = String(clip(label).currentTime);
    $("clock").textContent = clock(clip(label).currentTime);
  });
  clip(label).addEventListener("play", () => { if (label === heard.active) $("play").textContent = "Pause"; });
  clip(label).addEventListener("pause", () => { if (label === heard.active) $("play").textContent = "Play"; });
}
$("play").addEventListener("click", () => {
  const player = clip(heard.active);
  if (player.paused) player.play().catch((error) => say(error.message)); else player.pause();
});
$("position").addEventListener("input", () => { clip(heard.active).currentTime = +$("position").value; });
$("equal-loudness").addEventListener("change", () => { for (const label of CLIPS) clip(label).volume = volumeOf(label); });

// --- plots: the report's tonal, EQ, width and dynamics figures, drawn here from numbers ---
const SVG = "http://www.w3.org/2000/svg";
const COLORS = {mix: "#5b6f8f", result: "#d9661f", reference: "#2e8b57", eq: "#7a3e9d"};
const NAMES = {mix: "mix (before)", result: "master (after, excerpt)", reference: "reference"};
const W = 640, H = 250, LEFT = 50, RIGHT = 14, TOP = 24, BOTTOM = 48;

function node(name, attributes, parent, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  if (parent) parent.appendChild(element);
  return element;
}

function niceStep(span) {
  const raw = span / 5, power = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw);
}

function frame(svg, title, ylabel, lo, hi) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  node("text", {x: W / 2, y: 15, "text-anchor": "middle", class: "title"}, svg, title);
  node("text", {x: 12, y: TOP + (H - TOP - BOTTOM) / 2, "text-anchor": "middle", class: "tick",
                transform: `rotate(-90 12 ${TOP + (H - TOP - BOTTOM) / 2})`}, svg, ylabel);
  const y = (v) => TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
  const step = niceStep(hi - lo);
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    node("line", {x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), class: "grid"}, svg);
    node("text", {x: LEFT - 4, y: y(v) + 3, "text-anchor": "end", class: "tick"}, svg, String(+v.toFixed(1)));
  }
  return y;
}

function legend(svg, entries) {
  let x = LEFT;
  for (const [name, color] of entries) {
    node("rect", {x, y: H - 14, width: 12, height: 4, fill: color}, svg);
    node("text", {x: x + 16, y: H - 10, class: "tick"}, svg, name);
    x += 28 + 6.2 * name.length;
  }
}

function range(values, symmetric) {
  const finite = values.filter((v) => v !== null && Number.isFinite(v));
  if (!finite.length) return null;
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (symmetric) { const m = Math.max(6, Math.abs(lo), Math.abs(hi)) * 1.15; return [-m, m]; }
  const pad = Math.max(1, hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

function frequencyChart(svg, title, ylabel, lines, options = {}) {
  const bounds = range(lines.flatMap((line) => line.series.db), options.symmetric);
  if (!bounds) { svg.replaceChildren(); svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
                 node("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "tick"}, svg, `${title}: nothing to show`); return; }
  const y = frame(svg, title, ylabel, ...bounds);
  const x = (f) => LEFT + (Math.log10(Math.min(Math.max(f, 20), 20000)) - Math.log10(20)) / 3 * (W - LEFT - RIGHT);
  for (const f of [20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]) {
    node("line", {x1: x(f), x2: x(f), y1: TOP, y2: H - BOTTOM, class: "grid"}, svg);
    node("text", {x: x(f), y: H - BOTTOM + 13, "text-anchor": "middle", class: "tick"}, svg, f >= 1000 ? `${f / 1000}k` : String(f));
  }
  if (options.marker) node("line", {x1: x(options.marker), x2: x(options.marker), y1: TOP, y2: H - BOTTOM,
                                    stroke: COLORS.eq, "stroke-dasharray": "2 3"}, svg);
  for (const line of lines) {
    let d = "", pen = "M";
    line.series.freqs_hz.forEach((f, i) => {
      const v = line.series.db[i];
      if (v === null || f < 20 || f > 20000) { pen = "M"; return; }
      d += `${pen}${x(f).toFixed(1)},${y(v).toFixed(1)}`; pen = "L";
    });
    if (d) node("path", {d, fill: "none", stroke: line.color, "stroke-width": 1.6,
                         "stroke-dasharray": line.dash || "none", "data-name": line.key}, svg);
  }
  legend(svg, lines.map((line) => [line.name, line.color]));
}

function barChart(svg, title, ylabel, categories, groups) {
  const bounds = range([0, ...groups.flatMap((g) => g.values)], false);
  if (!bounds) return;
  const y = frame(svg, title, ylabel, 0, bounds[1]);
  const slot = (W - LEFT - RIGHT) / categories.length, bar = slot * 0.8 / groups.length;
  categories.forEach((name, i) => {
    node("text", {x: LEFT + slot * (i + 0.5), y: H - BOTTOM + 13, "text-anchor": "middle", class: "tick"}, svg, name);
    groups.forEach((group, j) => {
      const v = group.values[i];
      if (v === null || v === undefined) return;
      const left = LEFT + slot * i + slot * 0.1 + bar * j;
      node("rect", {x: left, y: y(v), width: bar * 0.92, height: Math.max(0, y(0) - y(v)), fill: group.color,
                    "data-name": group.key}, svg);
      node("text", {x: left + bar * 0.46, y: y(v) - 2, "text-anchor": "middle", class: "tick"}, svg, v.toFixed(1));
    });
  });
  legend(svg, groups.map((group) => [group.name, group.color]));
}

function draw(curves) {
  if (!curves) return;
  const tracks = ["mix", "reference", "result"];
  frequencyChart($("plot-tonal"), "Tonal balance", "dB re LUFS",
    tracks.map((key) => ({key, name: NAMES[key], color: COLORS[key], dash: key === "reference" ? "5 3" : null,
                          series: curves.tonal[key]})));
  frequencyChart($("plot-eq"), `EQ applied (x ${curves.eq.amount.toFixed(2)})`, "gain (dB)",
    [{key: "eq", name: "EQ as rendered", color: COLORS.eq, series: curves.eq}], {symmetric: true});
  frequencyChart($("plot-width"), "Stereo width per band", "side to mid (dB)",
    tracks.map((key) => ({key, name: NAMES[key], color: COLORS[key], series: curves.width[key]})),
    {marker: curves.mono_below_hz});
  barChart($("plot-dynamics"), "Dynamics per band (95th - 10th percentile)", "dB", curves.dynamics.bands,
    ["mix", "result", "reference"].map((key) => ({key, name: NAMES[key], color: COLORS[key], values: curves.dynamics[key]})));
  document.body.dataset.drawn = String(Date.now());
}

function options() {
  const out = {amount: {eq: +$("eq").value, dynamics: +$("dynamics").value, width: +$("width").value}};
  if ($("lufs").value !== "") out.lufs = +$("lufs").value;
  if ($("ceiling").value !== "") out.ceiling_dbtp = +$("ceiling").value;
  if ($("target").value) out.target = $("target").value;
  if ($("style").value === "my-library") out.my_library = true;
  else if ($("style").value) out.style = $("style").value;
  if ($("eq-phase").value) out.eq_phase = $("eq-phase").value;
  if ($("mono-below").value !== "") out.mono_below_hz = +$("mono-below").value;
  const off = ["dc", "highpass", "polarity", "balance"].filter((name) => !$(`fix-${name}`).checked);
  if (off.length) out.no_fix = off;
  return out;
}

async function suggest() {
  if (!current) return;
  say("suggesting...");
  try {
    const {job} = await call("POST", `/api/mixes/${current.id}/suggestions`, JSON.stringify({options: options()}),
                             "application/json");
    await follow(job);
    say("");
  } catch (error) { say(error.message); }
  await refresh();
}

// A moved control is heard at once: the "after" excerpt through the kept plan, or planned on
// its own when the loudness, ceiling or platform moved (the players keep their position);
// then the exact suggestion follows.
async function quick() {
  if (!current || !current.suggestion) return;
  try {
    const body = {suggestion: current.suggestion.id, options: options()};
    const answer = await call("POST", `/api/mixes/${current.id}/quick`, JSON.stringify(body), "application/json");
    load("after", answer.after, answer.gain_db);
    heard.drawing++;
    draw(answer.curves);
    $("listen-state").textContent = answer.draft
      ? "(a draft: these 25 s planned on their own; the exact suggestion follows)"
      : "(the master through the suggestion's plan; the exact suggestion follows)";
    document.body.dataset.quick = String(Date.now());
  } catch (error) { /* not quick for these options: the suggestion follows */ }
}

async function moved() {
  await quick();
  await suggest();
}

async function render() {
  if (!current || !current.suggestion) return;
  say("rendering...");
  try {
    const body = {suggestion: current.suggestion.id, format: $("format").value, bit_depth: $("bit-depth").value};
    const {job} = await call("POST", `/api/mixes/${current.id}/versions`, JSON.stringify(body), "application/json");
    await refresh();
    await follow(job);
    say("");
  } catch (error) { say(error.message); }
  await refresh();
}

function dropTarget(zone, input, handle) {
  input.addEventListener("change", () => { if (input.files.length) handle(input.files[0]); });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault(); zone.classList.remove("over");
    if (event.dataTransfer.files.length) handle(event.dataTransfer.files[0]);
  });
}

dropTarget($("mix-drop"), $("mix-file"), async (file) => {
  say(`uploading ${file.name}...`);
  try { const mix = await upload("/api/mixes", file); current = {id: mix.id}; say(""); await refresh(); await suggest(); }
  catch (error) { say(error.message); }
});
dropTarget($("ref-drop"), $("ref-file"), async (file) => {
  if (!current) return;
  say(`uploading ${file.name}...`);
  try { await upload(`/api/mixes/${current.id}/references`, file); say(""); await refresh(); await suggest(); }
  catch (error) { say(error.message); }
});
for (const id of ["eq", "dynamics", "width"]) {
  $(id).addEventListener("input", () => { $(`${id}-value`).textContent = `${$(id).value} %`; });
  $(id).addEventListener("change", moved);
}
for (const name of TARGETS) {
  const option = document.createElement("option");
  option.value = name; option.textContent = name;
  $("target").appendChild(option);
}
for (const id of ["eq-phase", "mono-below", "fix-dc", "fix-highpass", "fix-polarity", "fix-balance",
                  "target", "lufs", "ceiling"]) {
  $(id).addEventListener("change", moved);
}
$("style").addEventListener("change", suggest);
call("GET", "/api/styles").then(({styles}) => {
  for (const style of styles) {
    const option = document.createElement("option");
    option.value = style.name; option.textContent = `style: ${style.name} (${style.members} tracks)`;
    $("style").appendChild(option);
  }
}).catch(() => {});
$("suggest").addEventListener("click", suggest);
$("render").addEventListener("click", render);
refresh().catch((error) => say(error.message));
"""

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { display: flex; gap: 1em; align-items: baseline; padding: 0.6em 1.5em; background: #20232a; color: #fff; }
header h1 { font-size: 1.2em; margin: 0; }
main { display: grid; grid-template-columns: minmax(14em, 1fr) 4fr; gap: 1.5em; padding: 1.5em; }
.muted { color: #888; }
.drop { display: block; border: 2px dashed #aaa; border-radius: 6px; padding: 1em; cursor: pointer; }
.drop.over { border-color: #2a7ae2; background: #eef5ff; }
.drop input { display: block; margin-top: 0.5em; }
li.mix { cursor: pointer; padding: 0.2em 0.4em; border-radius: 4px; }
li.mix.chosen { background: #dde8f8; }
fieldset { border: 1px solid #ccc; border-radius: 6px; margin: 1em 0; display: flex; flex-wrap: wrap; gap: 1em; }
iframe { width: 100%; height: 70vh; border: 1px solid #ccc; border-radius: 6px; background: #fff; }
progress { width: 100%; }
#message { color: #b00020; }
dl#settings-summary { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; }
dl#settings-summary dt { font-weight: 600; }
dl#settings-summary dd { margin: 0; }
#versions li { margin: 0.3em 0; }
#versions audio { display: block; height: 2em; margin-top: 0.2em; }
.row { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: center; }
.switch button[aria-pressed="true"] { background: #2a7ae2; color: #fff; border-color: #2a7ae2; }
#position { flex: 1; min-width: 10em; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(28em, 1fr)); gap: 0.8em; }
.plots svg { width: 100%; height: auto; background: #fff; border: 1px solid #ddd; border-radius: 6px; }
.plots .grid { stroke: #e4e4e4; stroke-width: 1; }
.plots .tick { font-size: 10px; fill: #555; }
.plots .title { font-size: 12px; font-weight: 600; fill: #222; }
"""

STATIC = {
    "studio.js": (_SCRIPT, "text/javascript"),
    "studio.css": (_STYLE, "text/css"),
}
