"""The report's pictures: matplotlib figures drawn as inline SVG, and the tonal curves as PNG.

Figures are made with :class:`matplotlib.figure.Figure` directly, never through pyplot, so
no GUI backend is chosen and no global figure list grows; the SVG and PNG writers are
picked by ``savefig``'s format. Each SVG is returned wrapped in a ``<figure id="plot-...">``
with its XML prolog removed and its internal ids prefixed, so that several can share one
HTML page.

Levels of -200 (the analysis's "nothing measured") are left out of every plot.
"""

from __future__ import annotations

import io
import os
import re
from html import escape
from itertools import pairwise

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from matcher.analysis.result import Analysis
from matcher.fitting.settings import Settings
from matcher.io.writing import write_bytes_atomic
from matcher.preview.data import PreviewData, Series

NOTHING_DB = -199.0
"""Values at or below this are the analysis's -200: nothing measured."""

MAX_POINTS = 2000
"""Long series are decimated to about this many points, to keep the SVGs small."""

FREQ_RANGE_HZ = (20.0, 20000.0)

COLORS = {"mix": "#5b6f8f", "result": "#d9661f", "reference": "#2e8b57", "eq": "#7a3e9d"}
LABELS = {"mix": "mix (before)", "result": "master (after)", "reference": "reference"}

PLOT_IDS = ("plot-tonal", "plot-loudness", "plot-dynamics", "plot-width", "plot-limiter")

_RC = {
    "svg.fonttype": "none",  # text stays text: smaller, searchable, selectable
    "svg.hashsalt": "automaster",  # stable ids: the same data draws the same SVG
    "font.size": 9.0,
    "font.family": "sans-serif",
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}

_SIZE_IN = (7.5, 3.4)


def tonal_svg(data: PreviewData) -> str:
    """The tonal curves of mix, reference and master, with the applied EQ curve.

    Returns
    -------
    str
        ``<figure id="plot-tonal">`` holding an inline ``<svg>``.
    """
    with matplotlib.rc_context(_RC):
        return _svg_figure("plot-tonal", _tonal_figure(data), _tonal_caption(data))


def loudness_svg(data: PreviewData) -> str:
    """Short-term loudness (3 s, BS.1770) over time of mix, master and reference."""
    with matplotlib.rc_context(_RC):
        fig = _figure()
        ax = fig.add_subplot()
        drawn = []
        for key in ("mix", "result", "reference"):
            series = data.short_term.get(key)
            if series is None or not series.values:
                continue
            t_s, lufs = _series_arrays(series, reduce="pick")
            if np.all(np.isnan(lufs)):
                continue
            ax.plot(t_s, lufs, color=COLORS[key], label=_label(data, key))
            drawn.append(lufs)
        finite = np.concatenate(drawn) if drawn else np.array([])
        finite = finite[np.isfinite(finite)]
        if finite.size:
            top = float(np.max(finite))
            ax.set_ylim(max(float(np.min(finite)), top - 40.0) - 2.0, top + 2.0)
            _legend(fig, ax)
        else:
            _nothing(ax, "no short-term loudness to show")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("short-term loudness (LUFS)")
        ax.set_title("Loudness over time (3 s windows)")
        caption = (
            "Short-term loudness (ITU-R BS.1770, 3 s window) of the mix, the master and the"
            " reference."
        )
        if data.result_is_excerpt:
            caption += " The master's curve is the plan's prediction."
        return _svg_figure("plot-loudness", fig, caption)


def dynamics_svg(data: PreviewData) -> str:
    """Per dynamics band, how much the level breathes: the 95th over the 10th percentile."""
    with matplotlib.rc_context(_RC):
        fig = _figure()
        ax = fig.add_subplot()
        crossovers = data.mix.dynamics_crossovers_hz
        names = band_names(crossovers)
        keys = ("mix", "result", "reference")
        width = 0.8 / len(keys)
        any_drawn = False
        for i, key in enumerate(keys):
            spread = spreads_db(_analysis(data, key))[: len(names)]
            x = np.arange(len(spread)) + (i - 1) * width
            ok = ~np.isnan(spread)
            if not np.any(ok):
                continue
            bars = ax.bar(
                x[ok], spread[ok], width * 0.92, color=COLORS[key], label=_label(data, key)
            )
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
            any_drawn = True
        ax.set_xticks(np.arange(len(names)), names)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel("level spread, 95th - 10th percentile (dB)")
        ax.set_title("Dynamics per band: how much each band breathes")
        if any_drawn:
            _legend(fig, ax)
            ax.set_ylim(0.0, ax.get_ylim()[1] * 1.15)
        else:
            _nothing(ax, "no band levels to show")
        caption = (
            "Spread of each band's 400 ms levels (mid signal): the 95th percentile over the 10th."
            " Larger is more dynamic."
        )
        return _svg_figure("plot-dynamics", fig, caption)


def width_svg(data: PreviewData) -> str:
    """Stereo width per band: side-to-mid power ratio (dB) of mix, master and reference."""
    with matplotlib.rc_context(_RC):
        fig = _figure()
        ax = fig.add_subplot()
        any_drawn = False
        for key in ("mix", "result", "reference"):
            analysis = _analysis(data, key)
            width_db = _measured(analysis.width_db)
            if np.all(np.isnan(width_db)):
                continue
            ax.plot(analysis.band_centers_hz, width_db, color=COLORS[key], label=_label(data, key))
            any_drawn = True
        width = data.settings.width
        if width is not None and width.mono_below_hz is not None:
            ax.axvline(
                width.mono_below_hz,
                color=COLORS["eq"],
                linestyle=":",
                linewidth=1.2,
                label=f"mono below {width.mono_below_hz:g} Hz",
            )
            any_drawn = True
        _log_frequency(ax)
        ax.set_ylabel("side to mid (dB)")
        ax.set_title("Stereo width per band")
        if any_drawn:
            _legend(fig, ax)
        else:
            _nothing(ax, "mono: no side signal")
        caption = (
            "Side (L-R)/2 to mid (L+R)/2 power ratio per band; 0 dB is as wide as it is centred."
        )
        return _svg_figure("plot-width", fig, caption)


def limiter_svg(data: PreviewData) -> str:
    """The limiter's gain reduction over the master (largest in each step)."""
    with matplotlib.rc_context(_RC):
        fig = _figure()
        ax = fig.add_subplot()
        series = data.limiter_reduction_db
        if series.values:
            t_s, reduction_db = _series_arrays(series, reduce="max")
            gain_db = -np.nan_to_num(reduction_db, nan=0.0)
            ax.fill_between(t_s, gain_db, 0.0, color=COLORS["result"], alpha=0.35, linewidth=0)
            ax.plot(t_s, gain_db, color=COLORS["result"], linewidth=0.9)
            ax.set_ylim(min(float(np.min(gain_db)) * 1.1, -1.0), 0.2)
        else:
            _nothing(ax, "no limiter data")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("limiter gain (dB)")
        ax.set_title("Limiter gain reduction")
        largest = max(series.values, default=0.0)
        caption = f"The true-peak limiter's gain reduction over time; at most {largest:.1f} dB."
        return _svg_figure("plot-limiter", fig, caption)


def all_svgs(data: PreviewData) -> dict[str, str]:
    """Every plot of the report, by element id (:data:`PLOT_IDS`), in page order."""
    return {
        "plot-tonal": tonal_svg(data),
        "plot-loudness": loudness_svg(data),
        "plot-dynamics": dynamics_svg(data),
        "plot-width": width_svg(data),
        "plot-limiter": limiter_svg(data),
    }


def curves_png(data: PreviewData, dpi: float = 150.0) -> bytes:
    """The tonal-curve picture (:func:`tonal_svg`'s) as PNG bytes."""
    with matplotlib.rc_context(_RC):
        fig = _tonal_figure(data)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def write_curves_png(data: PreviewData, path: str | os.PathLike, dpi: float = 150.0) -> None:
    """Write the tonal-curve picture to ``path`` as PNG, atomically.

    Raises
    ------
    matcher.errors.AudioFileError
        The file cannot be written.
    """
    write_bytes_atomic(path, curves_png(data, dpi))


# --- curves -------------------------------------------------------------------------------


def tonal_curve_db(analysis: Analysis) -> np.ndarray:
    """A track's tonal curve: mid plus side power per band, relative to its loudness.

    Mid ``(L+R)/2`` and side ``(L-R)/2`` powers add up to the mean channel power, so the
    curve is the mean channel PSD (dB re 1 FS²/Hz) less the integrated loudness (LUFS),
    which lets tracks of different levels overlay.

    Returns
    -------
    np.ndarray, shape (bands,)
        dB; NaN where nothing was measured (and everywhere for a silent track).
    """
    mid_db = _measured(analysis.mid_spectrum_db)
    side_db = _measured(analysis.side_spectrum_db)
    power = np.nan_to_num(10.0 ** (mid_db / 10.0)) + np.nan_to_num(10.0 ** (side_db / 10.0))
    with np.errstate(divide="ignore"):
        curve_db = 10.0 * np.log10(power)
    curve_db[np.isnan(mid_db) & np.isnan(side_db)] = np.nan
    if analysis.integrated_lufs <= NOTHING_DB or analysis.is_silent:
        return np.full_like(curve_db, np.nan)
    return curve_db - analysis.integrated_lufs


def applied_eq_db(data: PreviewData) -> tuple[np.ndarray, np.ndarray]:
    """The EQ curve as rendered: gains × amount, held beyond the outer bands to 20 Hz-20 kHz.

    Returns
    -------
    freqs_hz, gain_db : np.ndarray
    """
    return eq_curve_db(data.settings)


def curve_data(mix: Analysis, reference: Analysis, result: Analysis, settings: Settings) -> dict:
    """The numbers behind the tonal, EQ, dynamics and width plots, for a page that draws
    them itself (the studio's, after each moved slider): JSON-ready, None where nothing was
    measured. Series are ``{"freqs_hz": [...], "db": [...]}`` per track (``"mix"``,
    ``"reference"``, ``"result"``), as the report's figures draw them."""
    tracks = {"mix": mix, "reference": reference, "result": result}
    names = band_names(mix.dynamics_crossovers_hz)
    eq_freqs_hz, eq_gain_db = eq_curve_db(settings)
    width = settings.width
    return {
        "tonal": {k: _series(a.band_centers_hz, tonal_curve_db(a)) for k, a in tracks.items()},
        "eq": {**_series(eq_freqs_hz, eq_gain_db), "amount": settings.eq.amount},
        "width": {k: _series(a.band_centers_hz, _measured(a.width_db)) for k, a in tracks.items()},
        "mono_below_hz": None if width is None else width.mono_below_hz,
        "dynamics": {"bands": names, **{k: _values(spreads_db(a)[: len(names)]) for k, a in tracks.items()}},
    }


def _series(freqs_hz, values_db) -> dict:
    return {"freqs_hz": [round(float(f), 2) for f in freqs_hz], "db": _values(values_db)}


def _values(values) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 2) for v in np.asarray(values, dtype=np.float64)]


def eq_curve_db(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """:func:`applied_eq_db` of ``settings``."""
    eq = settings.eq
    freqs_hz = np.asarray(eq.band_centers_hz, dtype=np.float64)
    gain_db = np.asarray(eq.gain_db, dtype=np.float64) * eq.amount
    if freqs_hz.size == 0:
        return np.array(FREQ_RANGE_HZ), np.zeros(2)
    if freqs_hz[0] > FREQ_RANGE_HZ[0]:
        freqs_hz, gain_db = np.r_[FREQ_RANGE_HZ[0], freqs_hz], np.r_[gain_db[0], gain_db]
    if freqs_hz[-1] < FREQ_RANGE_HZ[1]:
        freqs_hz, gain_db = np.r_[freqs_hz, FREQ_RANGE_HZ[1]], np.r_[gain_db, gain_db[-1]]
    return freqs_hz, gain_db


def spreads_db(analysis: Analysis) -> np.ndarray:
    """Per dynamics band, the 95th minus the 10th percentile of its levels (NaN: none)."""
    spread = []
    for percentiles in analysis.band_level_percentiles_db:
        low, high = percentiles[0], percentiles[-1]
        spread.append(np.nan if min(low, high) <= NOTHING_DB else high - low)
    return np.asarray(spread, dtype=np.float64)


def band_names(crossovers_hz: tuple[float, ...]) -> list[str]:
    """Names of the bands between crossovers: ``"< 120 Hz"``, ``"120 Hz-1 kHz"``, ..."""
    edges = [format_hz(f) for f in crossovers_hz]
    if not edges:
        return ["full band"]
    return [f"< {edges[0]}"] + [f"{a}-{b}" for a, b in pairwise(edges)] + [f"> {edges[-1]}"]


# --- helpers ------------------------------------------------------------------------------


def _tonal_figure(data: PreviewData) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    any_drawn = False
    for key in ("mix", "reference", "result"):
        analysis = _analysis(data, key)
        curve_db = tonal_curve_db(analysis)
        if np.all(np.isnan(curve_db)):
            continue
        style = {"linestyle": "--"} if key == "reference" else {}
        ax.plot(
            analysis.band_centers_hz, curve_db, color=COLORS[key], label=_label(data, key), **style
        )
        any_drawn = True
    _log_frequency(ax)
    ax.set_ylabel("mid + side power (dB re LUFS)")
    ax.set_title("Tonal balance")
    eq_ax = ax.twinx()
    eq_ax.grid(False)
    freqs_hz, gain_db = applied_eq_db(data)
    eq_ax.plot(
        freqs_hz,
        gain_db,
        color=COLORS["eq"],
        linewidth=1.2,
        linestyle="-.",
        label=f"EQ applied (× {data.settings.eq.amount:g})",
    )
    eq_ax.axhline(0.0, color=COLORS["eq"], linewidth=0.5, alpha=0.5)
    bound_db = max(6.0, float(np.max(np.abs(gain_db))) * 1.2)
    eq_ax.set_ylim(-bound_db, bound_db)
    eq_ax.set_ylabel("EQ gain (dB)", color=COLORS["eq"])
    eq_ax.tick_params(axis="y", colors=COLORS["eq"])
    eq_ax.spines["right"].set_visible(True)
    eq_ax.spines["right"].set_color(COLORS["eq"])
    handles, labels = ax.get_legend_handles_labels()
    eq_handles, eq_labels = eq_ax.get_legend_handles_labels()
    fig.legend(handles + eq_handles, labels + eq_labels, loc="outside lower center", ncols=4)
    if not any_drawn:
        _nothing(ax, "no spectra to show")
    return fig


def _tonal_caption(data: PreviewData) -> str:
    caption = (
        "Mean channel power spectral density (mid + side) per 1/6 octave, each relative to its"
        " own integrated loudness so that the curves overlay; dash-dotted: the EQ as applied"
        " (gain × amount, right axis)."
    )
    if data.result_is_excerpt:
        caption += " The master's curve is measured on the rendered excerpt only."
    return caption


def _figure() -> Figure:
    fig = Figure(figsize=_SIZE_IN, layout="constrained")
    return fig


def _analysis(data: PreviewData, key: str) -> Analysis:
    return {"mix": data.mix, "result": data.result, "reference": data.reference}[key]


def _label(data: PreviewData, key: str) -> str:
    if key == "result" and data.result_is_excerpt:
        return "master (after, excerpt)"
    return LABELS[key]


def _measured(values: tuple[float, ...]) -> np.ndarray:
    """Values as an array, NaN where nothing was measured (-200)."""
    array = np.asarray(values, dtype=np.float64)
    return np.where(array <= NOTHING_DB, np.nan, array)


def _series_arrays(series: Series, reduce: str) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and values of a series, -200 as NaN, decimated to about :data:`MAX_POINTS`.

    ``reduce="max"`` keeps the largest value of each step (for peaks and reductions),
    ``"pick"`` the first (for smooth curves).
    """
    values = _measured(series.values)
    times_s = series.start_s + series.hop_s * np.arange(values.size)
    step = -(-values.size // MAX_POINTS)
    if step <= 1:
        return times_s, values
    times_s = times_s[::step]
    if reduce == "max":
        padded = np.full(times_s.size * step, np.nan)
        padded[: values.size] = values
        blocks = padded.reshape(-1, step)
        filled = ~np.all(np.isnan(blocks), axis=1)
        values = np.full(times_s.size, np.nan)
        values[filled] = np.nanmax(blocks[filled], axis=1)
    else:
        values = values[::step]
    return times_s, values


def _log_frequency(ax) -> None:
    ax.set_xscale("log")
    ax.set_xlim(*FREQ_RANGE_HZ)
    ax.set_xlabel("frequency (Hz)")
    ax.set_xticks([20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda f, _pos: format_hz(f)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def format_hz(freq_hz: float) -> str:
    """A frequency for people: three significant digits, in Hz or kHz ("22.1 Hz", "18 kHz")."""
    if freq_hz >= 1000.0:
        return f"{freq_hz / 1000.0:.3g} kHz"
    return f"{freq_hz:.3g} Hz"


def _legend(fig: Figure, ax) -> None:
    """One legend row below the axes, where it never hides a curve."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4)


def _nothing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#777777")


_PROLOG = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*|<!--.*?-->\s*", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^")]+)')


def _svg_figure(element_id: str, fig: Figure, caption: str) -> str:
    """The figure as inline SVG inside ``<figure id=element_id>``, its ids made unique."""
    buffer = io.StringIO()
    fig.savefig(
        buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None}
    )
    svg = _PROLOG.sub("", buffer.getvalue())
    svg = _METADATA.sub("", svg)
    svg = _ID.sub(lambda m: f'id="{element_id}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{element_id}-{m.group(2)}", svg)
    svg = svg.replace(
        "<svg ", f'<svg class="plot-svg" role="img" aria-label="{escape(caption)}" ', 1
    )
    return (
        f'<figure id="{element_id}" class="plot">\n{svg.strip()}\n'
        f"<figcaption>{escape(caption)}</figcaption>\n</figure>"
    )
