"""Readable tables for the terminal."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from matcher.analysis.loudness import MOMENTARY_S, SHORT_TERM_S
from matcher.analysis.result import Analysis
from matcher.cli.common import add_column, new_table
from matcher.fitting.settings import Settings, WidthLimit, frequency_range_text
from matcher.io.lossy import LossyDelivery
from matcher.rendering.chain import SLOW_CLIP_DB
from matcher.rendering.renderer import GainPlan, RenderReport

SUMMARY_BANDS_HZ = (31.5, 63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000)
GUARD_WORDS = {"near_mono": "nearly mono", "low_end": "low end", "correlation": "correlation", "fold_down": "fold-down"}


def _curves(settings: Settings) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, band centres, gains as rendered) of the EQ and, for stereo, the width."""
    eq, width = settings.eq, settings.width
    curves = [("EQ", np.asarray(eq.band_centers_hz), np.asarray(eq.gain_db) * eq.amount)]
    if width is not None:
        curves.append(("width", np.asarray(width.band_centers_hz), np.asarray(width.side_gain_db) * width.amount))
    return curves


def print_match_summary(
    console: Console, output: Path, settings: Settings, report: RenderReport, copies: tuple[Path, ...] = (),
    deliveries: tuple[LossyDelivery, ...] = (),
) -> None:
    """The figures of a finished master, and of the files made from it."""
    title = f"master written: {output}" if not deliveries or output != deliveries[0].path else "master (not kept)"
    table = new_table(title, show_header=False)
    add_column(table, style="bold")
    add_column(table)
    target = settings.loudness.target_lufs
    table.add_row("loudness", f"{report.output_lufs:.2f} LUFS" + (f" (target {target:.2f})" if target is not None else ""))
    table.add_row("true peak", f"{report.output_true_peak_dbtp:.2f} dBTP (ceiling {settings.limiter.ceiling_dbtp:.1f})")
    table.add_row("PLR", f"{report.output_plr_db:.1f} dB")
    table.add_row("loudness range", f"{report.output_loudness_range_lu:.1f} LU")
    table.add_row("gain applied", f"{report.gain_db:+.2f} dB")
    limiter = _limiter_text(report.limiter_max_reduction_db, report.limiter_active_fraction, report.limiter_release_ms)
    takes = f"; corrected on its measured output ({report.takes} takes)" if report.takes > 1 else ""
    _add_compressor_rows(table, settings, report.compressor_max_reduction_db, report.compressor_mean_reduction_db)
    table.add_row("leveler", _leveler_text(settings, report.leveler_ratio, report.leveler_min_gain_db, report.leveler_max_gain_db,
                                           report.leveler_held_back))
    if not settings.limiter.enabled:
        limiter = (f"off (--no-limiter): peak-normalised, the whole master {report.limiter_max_reduction_db:.1f} dB "
                   "under the loudness gain to hold the ceiling")
    table.add_row("limiter", limiter + takes)
    _add_chain_rows(table, settings, report.distortion_db, report.clipped_fraction, report.clip_band_hz)
    _add_eq_and_format_rows(table, settings)
    table.add_row("streaming", _streaming_text(report.output_lufs, report.output_true_peak_dbtp))
    for copy in copies:
        table.add_row("also written", f"{copy} (the same samples)")
    for delivery in deliveries:
        table.add_row("lossy", _delivery_text(delivery))
        table.add_row("  streaming", _streaming_text(delivery.decoded_lufs, delivery.decoded_true_peak_dbtp))
    console.print(table)


def _streaming_text(lufs: float, true_peak_dbtp: float) -> str:
    """What each streaming service's loudness normalisation would do to the master."""
    from matcher.analysis.streaming import streaming_gains

    return "; ".join(f"{g.service} {g.gain_db:+.1f} dB ({g.note})" for g in streaming_gains(lufs, true_peak_dbtp))


def _delivery_text(delivery: LossyDelivery) -> str:
    """A lossy file: its format, and what its decoded audio measures."""
    lowered = f", {-delivery.gain_db:.2f} dB lower before encoding" if delivery.gain_db < 0 else ""
    verdict = "" if delivery.holds else f" (over the {delivery.ceiling_dbtp:.1f} dBTP ceiling after {delivery.encodes} encodes)"
    return (f"{delivery.path}: {delivery.format_name}, {delivery.sample_rate_hz / 1000:g} kHz; decoded true peak "
            f"{delivery.decoded_true_peak_dbtp:.2f} dBTP{verdict}, {delivery.clipped_samples} clipped samples, "
            f"{delivery.decoded_lufs:.2f} LUFS{lowered} "
            f"({delivery.encodes} encode{'s' if delivery.encodes != 1 else ''})")


def print_suggestion(console: Console, mix: Path, settings: Settings, plan: GainPlan) -> None:
    """The settings match would render, and what the master would measure."""
    table = new_table(f"suggested settings for {mix}", show_header=False)
    add_column(table, style="bold")
    add_column(table)
    target = settings.loudness.target_lufs
    table.add_row("loudness target", f"{target:.2f} LUFS" if target is not None else "the mix's own")
    if plan.predicted_lufs is not None:
        note = "" if plan.target_reached else " (short of the target: see the warning)"
        table.add_row("predicted loudness", f"{plan.predicted_lufs:.2f} LUFS{note}")
    peak = plan.predicted_true_peak_dbtp
    if peak is not None:
        table.add_row("predicted true peak", f"{peak:.2f} dBTP (ceiling {settings.limiter.ceiling_dbtp:.1f})")
        if plan.predicted_lufs is not None:
            table.add_row("predicted PLR", f"{peak - plan.predicted_lufs:.1f} dB")
    if plan.predicted_lra_lu is not None:
        table.add_row("predicted loudness range", f"{plan.predicted_lra_lu:.1f} LU")
    table.add_row("gain", f"{plan.makeup_gain_db:+.2f} dB")
    _add_compressor_rows(table, settings, plan.compressor_max_reduction_db, plan.compressor_mean_reduction_db)
    table.add_row("leveler", _leveler_text(settings, plan.leveler_ratio, *plan.leveler_range_db, plan.leveler_held_back))
    if settings.limiter.enabled:
        table.add_row("limiter", _limiter_text(plan.max_reduction_db, plan.active_fraction, plan.release_ms))
    else:
        table.add_row("limiter", f"off (--no-limiter): peak-normalised, {plan.max_reduction_db:.1f} dB under the loudness gain")
    clipped = 0.0 if plan.clipping is None else float(plan.clipping.mean())
    _add_chain_rows(table, settings, plan.distortion_db, clipped, plan.clip_band_hz)
    _add_eq_and_format_rows(table, settings, with_largest_moves=True)
    console.print(table)


def _add_chain_rows(
    table: Table, settings: Settings, distortion_db: float | None, clipped_fraction: float, clip_band_hz: float | None = None
) -> None:
    """The clipper's share and the chain's distortion against its budget."""
    if not clipped_fraction:
        text = "off"
    elif clip_band_hz is None:
        text = f"on {100 * clipped_fraction:.1f} % of the time (transients only)"
    else:
        # The slow chain (rendering.chain): a slow limiter, and the clipper on any peak.
        text = (f"on {100 * clipped_fraction:.1f} % of the time (up to {SLOW_CLIP_DB:.0f} dB off any peak, "
                f"kept below {clip_band_hz / 1000:.0f} kHz, under a slow limiter)")
    table.add_row("clipper", text)
    if distortion_db is not None and not settings.limiter.enabled:
        table.add_row("distortion", "none (no limiter, no clipper: one gain)")
    elif distortion_db is not None:
        loudness = settings.loudness
        budget = "forced past the budget" if loudness.force else f"budget {loudness.max_distortion_db:.0f} dB"
        table.add_row("distortion", f"{distortion_db:.0f} dB against a slowly varying gain ({budget})")


def _limiter_text(max_reduction_db: float, active_fraction: float, release_ms: float) -> str:
    return (
        f"max {max_reduction_db:.1f} dB reduction, active {100 * active_fraction:.0f} % of the time, "
        f"release {release_ms:.0f} ms"
    )


def _add_compressor_rows(table: Table, settings: Settings, max_db: tuple[float, ...], mean_db: tuple[float, ...]) -> None:
    """One row per band of the multiband compressor: its settings and what it did."""
    dynamics = settings.dynamics
    if not dynamics.bands:
        return
    edges = [None, *dynamics.crossovers_hz, None]
    for k, band in enumerate(dynamics.bands):
        low, high = edges[k], edges[k + 1]
        name = f"below {_hz(low if high is None else high)} Hz" if low is None else (
            f"above {_hz(low)} Hz" if high is None else f"{_hz(low)}-{_hz(high)} Hz")
        if band.ratio == 1.0 or dynamics.amount == 0.0:
            text = "off"
        else:
            ratio = 1.0 / (1.0 - dynamics.amount * (1.0 - 1.0 / band.ratio))
            text = (f"{ratio:.1f}:1 above {band.threshold_db:.1f} dB, attack {band.attack_ms:.0f} ms, "
                    f"release {band.release_ms:.0f} ms, make-up {dynamics.amount * band.makeup_db:+.1f} dB")
            if len(max_db) == len(dynamics.bands):
                text += f"; reduction max {max_db[k]:.1f} dB, mean {mean_db[k]:.1f} dB"
        table.add_row(f"compressor {name}", text)


def _leveler_text(settings: Settings, ratio: float | None, low_db: float, high_db: float, held_back: bool = False) -> str:
    dynamics = settings.dynamics
    if ratio is None:
        return "off"
    kind = f"{ratio:.2f}:1" if ratio >= 1.0 else f"1:{1.0 / ratio:.2f} (expanding)"
    held = "; the limiter's narrowing not made up (distortion budget)" if held_back else ""
    return (
        f"ratio {kind}, gain {low_db:+.1f} to {high_db:+.1f} dB, toward {dynamics.target_lra_lu:.1f} LU "
        f"at {100 * dynamics.amount:.0f} %{held}"
    )


def _add_eq_and_format_rows(table: Table, settings: Settings, with_largest_moves: bool = False) -> None:
    table.add_row("fixes", settings.fixes.describe())
    log_f = np.log2(SUMMARY_BANDS_HZ)
    for name, centers, gains in _curves(settings):
        amount = settings.eq.amount if name == "EQ" else settings.width.amount
        table.add_row(f"{name} (dB)", _curve_text(np.interp(log_f, np.log2(centers), gains)))
        table.add_row(f"{name} amount", f"{100 * amount:.0f} %")
    if settings.width is not None and settings.width.mono_below_hz is not None:
        table.add_row("mono below", f"{settings.width.mono_below_hz:.0f} Hz")
    table.add_row("EQ phase", settings.eq.phase)
    if settings.width is not None and settings.width.limited:
        table.add_row("width held back", _width_limits_text(settings.width.limited))
    if with_largest_moves:
        table.add_row("largest moves", _largest_moves(settings))
    bit_depth = settings.output.bit_depth
    text = f"{bit_depth}-bit" if bit_depth != "32f" else "32-bit float"
    if bit_depth == "16":
        output = settings.output
        text += (", no dither" if not output.dither
                 else ", high-pass TPDF dither" if output.dither_shape == "hp-tpdf"
                 else ", noise-shaped dither (F-weighted at 44.1 and 48 kHz; high-pass TPDF at other rates)"
                 if output.dither_shape == "shaped" else ", TPDF dither")
    if settings.output.sample_rate_hz is not None:
        text += f", {settings.output.sample_rate_hz / 1000:g} kHz (the mix resampled before the chain when at another rate)"
    table.add_row("output format", text)


def _largest_moves(settings: Settings, count: int = 3) -> str:
    """The largest boosts or cuts of the EQ and the width, at least an octave apart on a curve."""
    candidates = []
    for name, centers, g in _curves(settings):
        candidates += [(abs(g[i]), name, float(centers[i]), g[i]) for i in range(len(g))]
    picked: list[tuple[str, float, float]] = []
    for size, name, f, gain in sorted(candidates, key=lambda c: -c[0]):
        if size < 0.5 or len(picked) == count:
            break
        if all(n != name or abs(np.log2(f / other)) >= 1.0 for n, other, _ in picked):
            picked.append((name, f, gain))
    texts = [f"{name} {gain:+.1f} dB at {_hz(float(f'{f:.2g}'))} Hz" for name, f, gain in picked]
    return ", ".join(texts) if texts else "none above 0.5 dB"


def _width_limits_text(limits: tuple[WidthLimit, ...]) -> str:
    """``500 Hz-1 kHz +12.0 dB held to +4.1 (fold-down)`` per range, for the table (the notes say more)."""
    return ", ".join(
        f"{frequency_range_text(limit.low_hz, limit.high_hz)} {limit.wanted_db:+.1f} dB held to {limit.applied_db:+.1f} "
        f"({', '.join(GUARD_WORDS[g] for g in limit.guards)})"
        for limit in limits
    )


def _curve_text(gains_db: np.ndarray) -> str:
    return "  ".join(f"{_hz(f)} {g:+.1f}" for f, g in zip(SUMMARY_BANDS_HZ, gains_db))


def _hz(f: float) -> str:
    return f"{f / 1000:g}k" if f >= 1000 else f"{f:g}"


def print_analysis(console: Console, path: Path, a: Analysis) -> None:
    """An analysis as two tables: levels, and the tonal balance."""
    levels = new_table(f"{path}", show_header=False)
    add_column(levels, style="bold")
    add_column(levels)
    levels.add_row("format", f"{a.sample_rate_hz} Hz, {'mono' if a.channels == 1 else 'stereo'}, {a.duration_s:.1f} s")
    levels.add_row("integrated loudness", f"{a.integrated_lufs:.2f} LUFS")
    levels.add_row("momentary loudness", _maximum_text(a.max_momentary_lufs, MOMENTARY_S, a.duration_s))
    short_term = _maximum_text(a.max_short_term_lufs, SHORT_TERM_S, a.duration_s)
    st = [v for v in a.short_term_lufs if v > -70]
    if st and a.max_short_term_lufs is not None:
        short_term += f", median {float(np.median(st)):.1f} LUFS"
    levels.add_row("short-term loudness", short_term)
    lra = a.loudness_range_lu
    levels.add_row("loudness range", _undefined(SHORT_TERM_S, a.duration_s) if lra is None else f"{lra:.1f} LU")
    levels.add_row("true peak", f"{a.true_peak_dbtp:.2f} dBTP")
    levels.add_row("sample peak", f"{a.sample_peak_dbfs:.2f} dBFS")
    levels.add_row("PLR", f"{a.plr_db:.1f} dB")
    console.print(levels)
    bands = new_table("tonal balance (dB re mean of 100 Hz-8 kHz) and width")
    add_column(bands, "band")
    add_column(bands, "mid", justify="right")
    add_column(bands, "side", justify="right")
    add_column(bands, "side/mid", justify="right")
    centers = np.asarray(a.band_centers_hz)
    mid = np.asarray(a.mid_spectrum_db)
    side = np.asarray(a.side_spectrum_db)
    ref_band = (centers >= 100) & (centers <= 8000) & (mid > -200)
    offset = float(mid[ref_band].mean()) if np.any(ref_band) else 0.0
    for f in SUMMARY_BANDS_HZ:
        i = int(np.argmin(np.abs(np.log2(centers / f))))
        if mid[i] <= -200:
            continue
        side_text = f"{side[i] - offset:+.1f}" if side[i] > -200 else "-"
        width_text = f"{a.width_db[i]:+.1f}" if a.width_db[i] > -200 else "-"
        bands.add_row(f"{_hz(f)} Hz", f"{mid[i] - offset:+.1f}", side_text, width_text)
    console.print(bands)
    dynamics = new_table("band dynamics (mid, 400 ms levels, dB)")
    for heading in ("band", "10 %", "median", "95 %", "spread"):
        add_column(dynamics, heading, justify="left" if heading == "band" else "right")
    edges = [0.0, *a.dynamics_crossovers_hz, None]
    for k, (p10, p50, p95) in enumerate(a.band_level_percentiles_db):
        lo, hi = edges[k], edges[k + 1]
        label = f"below {_hz(hi)} Hz" if k == 0 else f"above {_hz(lo)} Hz" if hi is None else f"{_hz(lo)}-{_hz(hi)} Hz"
        if p50 <= -200:
            dynamics.add_row(label, "-", "-", "-", "-")
        else:
            dynamics.add_row(label, f"{p10:.1f}", f"{p50:.1f}", f"{p95:.1f}", f"{p95 - p10:.1f}")
    console.print(dynamics)
    console.print(_condition_table(a))


def _maximum_text(level_lufs: float | None, window_s: float, duration_s: float) -> str:
    """The loudest window's loudness, or why there is none."""
    if duration_s < window_s:
        return _undefined(window_s, duration_s)
    return "not measured" if level_lufs is None else f"max {level_lufs:.1f} LUFS"


def _undefined(window_s: float, duration_s: float) -> str:
    # Rounded down, so that a file just short of the window never reads as long enough.
    return f"undefined (needs {window_s:g} s, the file is {math.floor(duration_s * 100) / 100:g} s)"


def _condition_table(a: Analysis) -> Table:
    """Stereo correlation, DC, balance, clipping and silence, and what looks wrong."""
    from matcher.analysis.condition import mix_problems

    table = new_table("condition", show_header=False)
    add_column(table, style="bold")
    add_column(table)
    if a.channels == 2:
        bands = "  ".join(f"{c:+.2f}" for c in a.band_lr_correlation)
        table.add_row("L/R correlation", f"{a.lr_correlation:+.2f} (per band, low to high: {bands})")
    if a.clipped_runs is not None:
        if a.channels == 2:
            table.add_row("balance", f"left {a.channel_balance_db:+.1f} dB")
        table.add_row("DC offset", ", ".join("-" if v <= -200 else f"{v:.0f} dBFS" for v in a.dc_offset_dbfs))
        table.add_row("clipped runs", str(a.clipped_runs))
        table.add_row("silence", f"{a.leading_silence_s:.1f} s at the start, {a.trailing_silence_s:.1f} s at the end")
    for problem in mix_problems(a):
        table.add_row("warning", problem)
    return table
