"""The studio's page: one HTML document, its script and its style sheet (served from
``/static/``: the page's Content-Security-Policy allows no inline script or style).

The script builds every element with ``textContent`` (a hostile file name stays text), sends
the CSRF token from the page's ``<meta name="csrf">`` with every change, follows each job by
server-sent events, shows a suggestion's report page (the ``preview`` report) in a frame,
and keeps every render as a version with its download link.
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
    let fitted = false;
    events.onmessage = (event) => {
      const state = JSON.parse(event.data);
      bar.value = state.progress;
      if (state.fitted && !fitted) { fitted = true; refresh(); }  // the settings, before the report
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
  const versions = $("versions");
  versions.replaceChildren();
  for (const v of mix.versions) {
    const li = item(versions, `version ${v.number} (${v.format}) `, v.id);
    if (v.ready) {
      const a = document.createElement("a");
      a.href = `/api/versions/${v.id}/download`;
      a.textContent = "download";
      li.appendChild(a);
      if (v.figures && v.figures.lufs !== undefined) {
        li.appendChild(document.createTextNode(
          ` ${v.figures.lufs.toFixed(1)} LUFS, ${v.figures.true_peak_dbtp.toFixed(2)} dBTP`));
      }
    } else {
      li.appendChild(document.createTextNode("rendering"));
    }
  }
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

// A moved amount is heard at once: the "after" excerpt through the kept plan (the page's
// players keep their position), then the exact suggestion replaces the report.
async function quick() {
  if (!current || !current.suggestion) return;
  try {
    const body = {suggestion: current.suggestion.id, options: options()};
    const heard = await call("POST", `/api/mixes/${current.id}/quick`, JSON.stringify(body), "application/json");
    const doc = $("report").contentDocument;
    for (const [id, volume] of [["audio-after", heard.volume], ["audio-after-real", 1]]) {
      const player = doc && doc.getElementById(id);
      if (!player) continue;
      const position = player.currentTime, playing = !player.paused;
      player.setAttribute("data-volume", String(volume));
      player.src = heard.after;
      player.volume = volume;
      player.addEventListener("loadedmetadata", () => {
        player.currentTime = Math.min(position, player.duration || position);
        if (playing) player.play();
      }, {once: true});
    }
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
for (const id of ["eq-phase", "mono-below", "fix-dc", "fix-highpass", "fix-polarity", "fix-balance"]) {
  $(id).addEventListener("change", moved);
}
for (const id of ["target", "style", "lufs", "ceiling"]) {
  $(id).addEventListener("change", suggest);
}
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
"""

STATIC = {
    "studio.js": (_SCRIPT, "text/javascript"),
    "studio.css": (_STYLE, "text/css"),
}
