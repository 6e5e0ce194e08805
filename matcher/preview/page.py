"""The report page: one self-contained HTML file drawn from a :class:`PreviewData`.

Everything is inline (styles, SVG plots, the audio as ``data:`` URIs, one small script),
so the page works from a ``file://`` URL with no network. A Content-Security-Policy
``<meta>`` forbids every fetch and lets only the page's own script run (by its SHA-256), so
even a mistake in escaping could not run injected code. Every text that may come from the
user (file names, tags, notes) is escaped with :func:`html.escape` and never placed
inside the script; the script reads its numbers from ``data-`` attributes.

Element ids the tests (and users' tools) may rely on: ``#mix-name``, ``#reference-names``,
``#notes``, ``#table-figures``, ``#table-settings``, ``#table-streaming``, the plots
``#plot-tonal``, ``#plot-loudness``, ``#plot-dynamics``, ``#plot-width``, ``#plot-limiter``,
the equal-loudness players ``#audio-before``, ``#audio-after``, ``#audio-reference``
with the switch ``#switch``, and the real-level players ``#audio-before-real``,
``#audio-after-real``, ``#audio-reference-real``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from html import escape

from matcher import __version__
from matcher.fitting.settings import Settings
from matcher.io.writing import write_text_atomic
from matcher.preview import plots
from matcher.preview.data import Excerpt, Figures, PreviewData

NOTHING_DB = plots.NOTHING_DB

CLIP_LABELS = {
    "before": "Before (the mix)",
    "after": "After (the master)",
    "reference": "Reference",
}

_SCRIPT = """
(function () {
  "use strict";
  var players = Array.prototype.slice.call(document.querySelectorAll("audio"));
  players.forEach(function (player) {
    var source = player.getAttribute("data-source");
    if (source) {
      var from = document.getElementById(source);
      if (from) { player.src = from.getAttribute("src"); }
    }
    var volume = parseFloat(player.getAttribute("data-volume"));
    if (isFinite(volume)) { player.volume = Math.min(1, Math.max(0, volume)); }
    player.addEventListener("play", function () {
      players.forEach(function (other) {
        if (other !== player && !other.paused) { other.pause(); }
      });
    });
  });
  var button = document.getElementById("switch");
  if (!button) { return; }
  var pair = {
    before: document.getElementById("audio-before"),
    after: document.getElementById("audio-after")
  };
  var state = document.getElementById("switch-state");
  function show(active) {
    button.setAttribute("data-active", active);
    button.textContent = active === "before" ? "Switch to after" : "Switch to before";
    state.textContent = "Selected: " + active + (pair[active].paused ? "" : " (playing)");
  }
  pair.before.addEventListener("play", function () { show("before"); });
  pair.after.addEventListener("play", function () { show("after"); });
  pair.before.addEventListener("pause", function () { show(button.getAttribute("data-active")); });
  pair.after.addEventListener("pause", function () { show(button.getAttribute("data-active")); });
  button.addEventListener("click", function () {
    var active = button.getAttribute("data-active");
    var next = active === "before" ? "after" : "before";
    var from = pair[active], to = pair[next];
    var position = from.currentTime;
    from.pause();
    if (isFinite(to.duration)) { position = Math.min(position, to.duration); }
    to.currentTime = position;
    show(next);
    var playing = to.play();
    if (playing && playing.catch) {
      playing.catch(function (error) { state.textContent = "Could not play: " + error.name; });
    }
  });
  show("before");
})();
"""

_STYLE = """
:root { color-scheme: light; --ink: #1f2430; --muted: #5d6675; --line: #d8dce3;
        --accent: #d9661f; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 62rem; padding: 1.5rem; color: var(--ink); background: #fff;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; border-bottom: 1px solid var(--line);
     padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
.muted, figcaption, caption { color: var(--muted); }
.name { font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
table { border-collapse: collapse; margin: .4rem 0 1rem; width: 100%; }
caption { caption-side: bottom; text-align: left; font-size: .85rem; padding-top: .3rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; text-align: left;
         vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
thead th { border-bottom: 2px solid var(--ink); }
figure.plot { margin: 1rem 0 1.6rem; }
figure.plot svg { display: block; width: 100%; height: auto; max-width: 100%; }
figcaption { font-size: .85rem; }
.notes { background: #fff6e5; border-left: 4px solid #e0a030; padding: .5rem 1rem; }
.player { display: grid; grid-template-columns: 11rem 1fr; gap: .2rem 1rem; align-items: center;
          margin: .4rem 0; }
.player audio { width: 100%; }
.player .level { grid-column: 2; font-size: .85rem; color: var(--muted); }
button#switch { font: inherit; padding: .45rem 1.1rem; border-radius: .4rem; cursor: pointer;
                border: 1px solid var(--accent); background: var(--accent); color: #fff; }
#switch-state { margin-left: .8rem; }
pre { background: #f5f6f8; padding: .8rem; overflow: auto; font-size: .8rem; }
"""


def render_page(data: PreviewData) -> str:
    """The whole report page.

    Parameters
    ----------
    data : PreviewData

    Returns
    -------
    str
        An HTML5 document that fetches nothing: styles, plots (SVG), audio (base64
        ``data:`` URIs) and script are all inline.
    """
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    policy = (
        "default-src 'none'; media-src data:; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
    )
    svgs = plots.all_svgs(data)
    body = "\n".join(
        (
            _header(data),
            _notes(data),
            _section("figures", "Key figures", _figures_table(data)),
            _section("listen", "Listen", _players(data)),
            _section("plots", "Plots", "\n".join(svgs.values())),
            _section(
                "settings",
                "Settings",
                _settings_table(data.settings) + _settings_json(data.settings),
            ),
            _section("streaming", "On streaming services", _streaming_table(data)),
            (
                f'<footer class="muted"><p>Made by automaster {escape(__version__)}.'
                " This page is self-contained: it loads nothing from the network.</p></footer>"
            ),
        )
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(policy)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>automaster report: {escape(data.mix_name)}</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n"
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def write_page(data: PreviewData, path: str | os.PathLike) -> None:
    """Write :func:`render_page`'s document to ``path`` (UTF-8), atomically.

    Raises
    ------
    matcher.errors.AudioFileError
        The file cannot be written.
    """
    write_text_atomic(path, render_page(data))


def data_uri(excerpt: Excerpt) -> str:
    """The excerpt as a ``data:`` URI (base64)."""
    return f"data:{excerpt.mime};base64,{base64.b64encode(excerpt.data).decode('ascii')}"


def volume(gain_db: float) -> float:
    """An ``<audio>`` element's volume (0-1) for a gain in dB (clipped at 0 dB)."""
    return min(1.0, 10.0 ** (gain_db / 20.0))


# --- sections -----------------------------------------------------------------------------


def _section(section_id: str, title: str, content: str) -> str:
    return f'<section id="{section_id}">\n<h2>{escape(title)}</h2>\n{content}\n</section>'


def _header(data: PreviewData) -> str:
    names = "".join(f'<li class="name">{escape(name)}</li>' for name in data.reference_names)
    kind = "Preview" if data.result_is_excerpt else "Mastering report"
    parts = [
        "<header>",
        f"<h1>{kind}</h1>",
        f'<p>Mix: <span id="mix-name" class="name">{escape(data.mix_name)}</span></p>',
        f'<div>Matched to:<ul id="reference-names">{names}</ul></div>',
    ]
    if data.reference_note:
        parts.append(f'<p id="reference-note" class="muted">{escape(data.reference_note)}</p>')
    if data.result_is_excerpt:
        parts.append(
            '<p class="muted">This is a preview: the master was rendered for the excerpt only,'
            " and its curves are measured on that excerpt; its figures are the gain plan's"
            " predictions for the whole track.</p>"
        )
    parts.append("</header>")
    return "\n".join(parts)


def _notes(data: PreviewData) -> str:
    if not data.notes:
        return ""
    items = "".join(f"<li>{escape(note)}</li>" for note in data.notes)
    return f'<section id="notes" class="notes"><h2>Notes</h2><ul>{items}</ul></section>'


def _figures_table(data: PreviewData) -> str:
    columns = (("mix", "Mix"), ("result", "Master"), ("reference", "Reference"))
    rows = (
        ("Integrated loudness", "LUFS", lambda f: f.integrated_lufs),
        ("True peak", "dBTP", lambda f: f.true_peak_dbtp),
        ("Loudness range", "LU", lambda f: f.loudness_range_lu),
        ("Peak to loudness ratio (PLR)", "dB", lambda f: f.plr_db),
    )
    head = "".join(f'<th class="num" scope="col">{title}</th>' for _key, title in columns)
    lines = [
        '<table id="table-figures">',
        f'<thead><tr><th scope="col">Figure</th>{head}</tr></thead>\n<tbody>',
    ]
    for name, unit, get in rows:
        cells = "".join(
            f'<td class="num">{_figure_value(data.figures.get(key), get, unit)}</td>'
            for key, _title in columns
        )
        lines.append(f'<tr><th scope="row">{name}</th>{cells}</tr>')
    lines.append("</tbody>")
    gain = _number(data.gain_db, "dB", signed=True)
    lines.append(
        '<tfoot><tr><th scope="row">Gain applied before the limiter</th>'
        f'<td class="num" id="gain-applied" colspan="{len(columns)}">{gain}</td></tr></tfoot>'
    )
    caption = (
        "Loudness per ITU-R BS.1770-4, loudness range per EBU Tech 3342, true peak 4× oversampled."
    )
    if data.result_is_excerpt:
        caption += " The master's figures are the gain plan's predictions for the whole track."
    lines.append(f"<caption>{caption}</caption>\n</table>")
    return "\n".join(lines)


def _figure_value(figures: Figures | None, get, unit: str) -> str:
    if figures is None:
        return "&ndash;"
    return _number(get(figures), unit)


def _players(data: PreviewData) -> str:
    clips = {excerpt.label: excerpt for excerpt in data.excerpts}
    if not clips:
        return '<p class="muted">No audio excerpts.</p>'
    longest_s = max(excerpt.duration_s for excerpt in clips.values())
    where = f"Excerpts of up to {longest_s:.0f} s: the loudest passage of each track."
    common = _number(data.equal_loudness_lufs, "LUFS")
    equal = [
        '<div id="equal-loudness">',
        "<h3>At equal loudness</h3>",
        (
            f'<p id="equal-loudness-note">{escape(where)} Here every excerpt is turned down to the'
            f" same integrated loudness, {common} (BS.1770), so that you hear the difference in"
            " tone and dynamics, not in level: louder always sounds better.</p>"
        ),
    ]
    if "before" in clips and "after" in clips:
        equal.append(
            '<p><button id="switch" type="button" data-active="before">Switch to after</button>'
            '<span id="switch-state" class="muted" aria-live="polite"></span></p>'
        )
    real = [
        '<div id="real-levels">',
        "<h3>At their real levels</h3>",
        '<p class="muted">The same excerpts as they are: the master as loud as it will be.</p>',
    ]
    for label in ("before", "after", "reference"):
        excerpt = clips.get(label)
        if excerpt is None:
            continue
        gain_db = excerpt.equal_loudness_gain_db
        span = f"{_clock(excerpt.start_s)}&ndash;{_clock(excerpt.start_s + excerpt.duration_s)}"
        level = f"{span}: {_number(excerpt.lufs, 'LUFS')}"
        played = f"played {_number(gain_db, 'dB', signed=True)} (volume {volume(gain_db):.3f})"
        equal.append(
            _player(
                f"audio-{label}",
                excerpt,
                f'src="{escape(data_uri(excerpt))}" data-volume="{volume(gain_db)!r}"',
                f"{level}, {played} to {common}",
            )
        )
        real.append(
            _player(
                f"audio-{label}-real",
                excerpt,
                f'data-source="audio-{label}" data-volume="1"',
                f"{level}, played as it is",
            )
        )
    if "reference" not in clips:
        note = (
            '<p class="muted">The reference\'s audio is not at hand'
            " (a library profile keeps none).</p>"
        )
        equal.append(note)
        real.append(note)
    equal.append("</div>")
    real.append("</div>")
    return "\n".join(equal + real)


def _player(element_id: str, excerpt: Excerpt, attributes: str, level: str) -> str:
    """One labelled ``<audio>``; ``attributes`` and ``level`` are HTML made from numbers only."""
    label = CLIP_LABELS.get(excerpt.label, excerpt.label)
    return (
        f'<div class="player"><label for="{element_id}">{escape(label)}</label>'
        f'<audio id="{element_id}" controls preload="auto" data-label="{escape(excerpt.label)}"'
        f' data-duration-s="{excerpt.duration_s!r}"'
        f' data-gain-db="{excerpt.equal_loudness_gain_db!r}" {attributes}></audio>'
        f'<span class="level">{level}</span></div>'
    )


def _settings_table(settings: Settings) -> str:
    rows = [("Matching EQ", _eq_text(settings)), ("Stereo width", _width_text(settings))]
    dynamics = settings.dynamics
    names = plots.band_names(dynamics.crossovers_hz)
    if not dynamics.bands:
        rows.append(("Compressor", "off"))
    for name, band in zip(names, dynamics.bands):
        state = " (no compression)" if band.ratio == 1.0 and band.makeup_db == 0.0 else ""
        text = (
            f"threshold {band.threshold_db:.1f} dB, ratio {band.ratio:g}:1,"
            f" knee {band.knee_db:g} dB, attack {band.attack_ms:g} ms,"
            f" release {band.release_ms:g} ms,"
            f" make-up {band.makeup_db:+.1f} dB, at most {band.max_reduction_db:g} dB{state}"
        )
        rows.append((f"Compressor, {name}", text))
    rows.append(("Dynamics amount", f"{dynamics.amount:.0%}"))
    if dynamics.leveler_is_neutral:
        rows.append(("Leveler", "off"))
    else:
        text = (
            f"loudness range toward {dynamics.target_lra_lu:.1f} LU,"
            f" at most ±{dynamics.max_gain_db:g} dB, smoothing {dynamics.smoothing_s:g} s"
        )
        rows.append(("Leveler", text))
    limiter = settings.limiter
    text = (
        f"ceiling {limiter.ceiling_dbtp:.1f} dBTP (true peak);"
        f" lookahead {limiter.lookahead_ms:g} ms, hold {limiter.hold_ms:g} ms,"
        f" release {limiter.release_ms:g} ms"
    )
    rows.append(("Limiter", text))
    target = settings.loudness.target_lufs
    rows.append(
        ("Loudness target", "the mix's level (no gain)" if target is None else f"{target:.1f} LUFS")
    )
    output = settings.output
    depth = {"16": "16-bit", "24": "24-bit", "32f": "32-bit float"}.get(
        output.bit_depth, str(output.bit_depth)
    )
    if output.bit_depth == "16":
        depth += f", TPDF dither (seed {output.dither_seed})" if output.dither else ", no dither"
    rows.append(("Output", depth))
    rows.append(("Repairs", settings.fixes.describe()))
    body = "".join(
        f'<tr><th scope="row">{escape(name)}</th><td>{escape(text)}</td></tr>'
        for name, text in rows
    )
    return f'<table id="table-settings">\n<tbody>{body}</tbody>\n</table>'


def _eq_text(settings: Settings) -> str:
    eq = settings.eq
    if eq.is_neutral or not eq.gain_db:
        return "none"
    gains_db = [g * eq.amount for g in eq.gain_db]
    hz = [plots.format_hz(f) for f in eq.band_centers_hz]
    top = max(range(len(gains_db)), key=lambda i: gains_db[i])
    bottom = min(range(len(gains_db)), key=lambda i: gains_db[i])
    return (
        f"{len(gains_db)} bands, {hz[0]} to {hz[-1]}; amount {eq.amount:.0%}; as applied, from"
        f" {gains_db[bottom]:+.1f} dB (at {hz[bottom]}) to {gains_db[top]:+.1f} dB (at {hz[top]})"
    )


def _width_text(settings: Settings) -> str:
    width = settings.width
    if width is None or width.is_neutral:
        return "unchanged"
    parts = []
    if width.amount and any(width.side_gain_db):
        gains_db = [g * width.amount for g in width.side_gain_db]
        parts.append(f"side gain {min(gains_db):+.1f} to {max(gains_db):+.1f} dB (as applied)")
    if width.mono_below_hz is not None:
        parts.append(f"mono below {width.mono_below_hz:g} Hz")
    parts.append(f"amount {width.amount:.0%}")
    return "; ".join(parts)


def _settings_json(settings: Settings) -> str:
    return (
        "<details><summary>The settings as JSON (save them to edit and render again)</summary>"
        f'<pre id="settings-json">{escape(settings.to_json())}</pre></details>'
    )


def _streaming_table(data: PreviewData) -> str:
    master = data.figures.get("result")
    numeric = '<th class="num" scope="col">'
    head = (
        f'<th scope="col">Service</th>{numeric}Its level</th>{numeric}Gain</th>'
        f'{numeric}Played at</th><th scope="col">Note</th>'
    )
    for delivered in data.deliveries:
        head += f"{numeric}Gain to {escape(delivered.name)}</th>"
    lines = ['<table id="table-streaming">', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for row, service in enumerate(data.streaming):
        lines.append(
            f"<tr><td>{escape(service.service)}</td>"
            f'<td class="num">{_number(service.target_lufs, "LUFS")}</td>'
            f'<td class="num">{_number(service.gain_db, "dB", signed=True)}</td>'
            f'<td class="num">{_number(service.played_lufs, "LUFS")}</td>'
            f"<td>{escape(service.note)}</td>"
            + "".join(
                f'<td class="num">{_number(d.streaming[row].gain_db, "dB", signed=True)}</td>' for d in data.deliveries
            )
            + "</tr>"
        )
    lines.append("</tbody>")
    caption = (
        "Loudness normalisation of each service (published or widely reported figures;"
        " they change over time)."
    )
    if master is not None:
        caption = (
            f"The master at {_number(master.integrated_lufs, 'LUFS')}, true peak "
            f"{_number(master.true_peak_dbtp, 'dBTP')}. " + caption
        )
    for delivered in data.deliveries:
        caption += (
            f" {escape(delivered.name)} ({escape(delivered.format_name)}), decoded: "
            f"{_number(delivered.lufs, 'LUFS')}, true peak {_number(delivered.true_peak_dbtp, 'dBTP')}."
        )
    lines.append(f"<caption>{caption}</caption>\n</table>")
    return "\n".join(lines)


# --- formatting ---------------------------------------------------------------------------


def _number(value: float | None, unit: str, signed: bool = False) -> str:
    """A figure with its unit, HTML-ready: "&ndash;" when not measured, "silent" at -200."""
    if value is None:
        return "&ndash;"
    if value <= NOTHING_DB:
        return "silent"
    text = f"{value:+.1f}" if signed else f"{value:.1f}"
    return f"{text}&nbsp;{escape(unit)}"


def _clock(time_s: float) -> str:
    minutes, seconds = divmod(max(0, round(time_s)), 60)
    return f"{minutes}:{seconds:02d}"
