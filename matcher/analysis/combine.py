"""Blend the analyses of several references into one target."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from matcher.analysis.result import Analysis
from matcher.concurrency import engine_call
from matcher.units import FLOOR_DB, db_to_power, power_to_db


@engine_call
def combine(analyses: Sequence[Analysis], weights: Sequence[float] | None = None) -> Analysis:
    """Combine reference analyses: power-averaged spectra, mean loudness.

    Each reference's spectra are first normalised to its own integrated loudness, so a loud
    reference does not outweigh a quiet one in tonal balance; the blend is then placed at the
    weighted mean loudness. Band-level percentiles are averaged the same way, in dB.
    Correlations are averaged; a blend has no condition figures (DC, balance, clipping,
    silence: None). Peaks are the largest, other figures the weighted mean; the loudness
    range is None when a reference's is (audio under 3 s). The short-term series of a blend
    is empty, and it has no loudness maxima.

    Parameters
    ----------
    analyses : sequence of Analysis
        Non-silent references, on the same band grid.
    weights : sequence of float, optional
        Relative weights (>= 0, not all zero); equal by default.
    """
    if not analyses:
        raise ValueError("combine needs at least one analysis")
    if len(analyses) == 1:
        return analyses[0]
    w = np.ones(len(analyses)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(analyses),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be one non-negative number per analysis, not all zero")
    w = w / w.sum()
    centers = analyses[0].band_centers_hz
    if any(a.band_centers_hz != centers for a in analyses):
        raise ValueError("analyses are on different band grids")
    crossovers = analyses[0].dynamics_crossovers_hz
    if any(a.dynamics_crossovers_hz != crossovers for a in analyses):
        raise ValueError("analyses have different dynamics bands")
    loudness = np.array([a.integrated_lufs for a in analyses])
    mean_lufs = float(w @ loudness)

    def blend(curves: list[tuple[float, ...]]) -> tuple[float, ...]:
        c = np.array(curves)
        valid = np.all(c > FLOOR_DB, axis=0)
        power = db_to_power(c - loudness[:, None] + mean_lufs)
        return tuple(np.where(valid, power_to_db(w @ power), FLOOR_DB).tolist())

    levels = np.array([a.band_level_percentiles_db for a in analyses])  # (refs, bands, 3)
    measured = np.all(levels > FLOOR_DB, axis=0)
    relative = levels - loudness[:, None, None] + mean_lufs
    band_levels = np.where(measured, np.einsum("r,rbp->bp", w, relative), FLOOR_DB)
    mid = blend([a.mid_spectrum_db for a in analyses])
    side = blend([a.side_spectrum_db for a in analyses])
    width = tuple(
        (s - m) if (s > FLOOR_DB and m > FLOOR_DB) else FLOOR_DB for m, s in zip(mid, side)
    )
    return Analysis(
        sample_rate_hz=analyses[0].sample_rate_hz,
        channels=max(a.channels for a in analyses),
        duration_s=float(sum(a.duration_s for a in analyses)),
        integrated_lufs=mean_lufs,
        loudness_range_lu=(
            None
            if any(a.loudness_range_lu is None for a in analyses)
            else float(w @ [a.loudness_range_lu for a in analyses])
        ),
        sample_peak_dbfs=max(a.sample_peak_dbfs for a in analyses),
        true_peak_dbtp=None if any(a.true_peak_dbtp is None for a in analyses) else max(a.true_peak_dbtp for a in analyses),
        plr_db=None if any(a.plr_db is None for a in analyses) else float(w @ [a.plr_db for a in analyses]),
        short_term_hop_s=analyses[0].short_term_hop_s,
        short_term_lufs=(),
        band_centers_hz=centers,
        mid_spectrum_db=mid,
        side_spectrum_db=side,
        width_db=width,
        gated_fraction=float(w @ [a.gated_fraction for a in analyses]),
        dynamics_crossovers_hz=crossovers,
        band_level_percentiles_db=tuple(tuple(row) for row in band_levels.tolist()),
        lr_correlation=float(w @ [a.lr_correlation for a in analyses]),
        band_lr_correlation=tuple((w @ np.array([a.band_lr_correlation for a in analyses])).tolist()),
        dc_offset_dbfs=None,
        channel_balance_db=None,
        clipped_runs=None,
        leading_silence_s=None,
        trailing_silence_s=None,
    )
