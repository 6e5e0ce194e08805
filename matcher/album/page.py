"""The album report as a self-contained HTML page: every song's figures, its start in the
image, what each streaming service would do to it, and the CUE sheet."""

from __future__ import annotations

from html import escape

from matcher.album.redbook import SAMPLES_PER_FRAME, msf

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #ddd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""


def render_album_page(title: str, performer: str | None, result, cue_text: str) -> str:
    """The page. Every text from the user (titles, names, paths) is escaped."""
    services = [g.service for g in result.songs[0].streaming] if result.songs else []
    head = "".join(
        f'<th class="num">{escape(h)}</th>' for h in ("start", "length", "target", "LUFS", "dBTP", "LRA", "PLR", *services)
    )
    rows = []
    for r in result.songs:
        cells = [
            msf(r.start_samples // SAMPLES_PER_FRAME),
            f"{int(r.duration_s // 60)}:{r.duration_s % 60:04.1f}",
            f"{r.target_lufs:.1f}",
            f"{r.lufs:.1f}",
            f"{r.true_peak_dbtp:.1f}",
            f"{r.loudness_range_lu:.1f}",
            f"{r.plr_db:.1f}",
            *(f"{g.gain_db:+.1f} dB" for g in r.streaming),
        ]
        rows.append(
            f"<tr><td>{r.number}</td><td>{escape(r.title)}</td>"
            + "".join(f'<td class="num">{escape(c)}</td>' for c in cells)
            + "</tr>"
        )
    by = f" by {escape(performer)}" if performer else ""
    shift = (
        f"<p>The album is {-result.shift_db:.1f} dB under its target, so that every song keeps its level "
        "relative to the others under the ceiling.</p>"
        if result.shift_db
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{escape(title)}: album report</title><style>{STYLE}</style></head>
<body>
<h1 id="album-title">{escape(title)}{by}</h1>
<p>Album loudness {result.album_lufs:.1f} LUFS, true peak {result.album_true_peak_dbtp:.1f} dBTP; image
<code>{escape(result.image.name)}</code>. Streaming gains: what each service would do to the song's level
(a negative gain turns it down).</p>
{shift}
<table id="album-songs"><thead><tr><th>#</th><th>title</th>{head}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>CUE sheet</h2>
<pre id="cue-sheet">{escape(cue_text)}</pre>
</body></html>
"""
