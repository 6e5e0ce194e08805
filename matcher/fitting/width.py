"""The guards of the width match: how far each band's side may be raised.

With mid ``M = (L + R) / 2`` and side ``S = (L - R) / 2``,

    L R = M² - S²        and        (L² + R²) / 2 = M² + S²,

whatever the correlation of M and S (their cross terms cancel). In a band whose mean mid
and side powers are ``P_M`` and ``P_S`` (``r = P_S / P_M``; the analysis's ``width_db`` is
``10 log10 r``):

- the left/right correlation, as the analysis measures it, is
  ``(P_M - P_S) / (P_M + P_S) = (1 - r) / (1 + r)``. Pearson's correlation divides the
  same ``L R`` by ``sqrt(L² R²)`` instead of the channels' mean power: the same sign, a
  magnitude larger by ``1 / sqrt(1 - b²)`` where the channels differ in level
  (``b = (L² - R²) / (L² + R²) = 2 <M S> / (P_M + P_S)``, the one place a correlation of
  M and S shows). So a minimum of 0 holds exactly for either, and a positive minimum is
  kept with a margin by Pearson's;
- the mono fold-down loses ``10 log10 (1 + r)`` dB: the stereo power ``L² + R² = 2 (P_M + P_S)``
  against the mono sum's ``(L + R)² / 2 = 2 P_M``. 0 dB for mono, 3 dB for unrelated
  channels, without bound as the channels cancel.

A side gain of ``g`` dB leaves the mid alone and makes ``r' = r 10^(g / 10)``. So

- correlation ``>= c``  if and only if  ``g <= 10 log10 ((1 - c) / (1 + c)) - 10 log10 r``;
- fold-down loss added ``<= D`` dB  iff  ``g <= 10 log10 (10^(D / 10) (1 + r) - 1) - 10 log10 r``.

Both bounds fall as ``r`` grows. A band of the analysis reaches over its neighbours (below
about 220 Hz its Gaussian is at least two FFT bins wide, an octave at 40 Hz), so the side
within it may be wider than the band reads: each band's ``r`` is taken as the largest
among the bands within its analysis band's half maximum and its two neighbours (between
centres the curve is interpolated).

The guards only ever hold a boost back: a cap is never below 0 dB, and cuts of the side
pass untouched. What they take off is spread and smoothed along the curve, so that a
capped band does not become a narrow notch, and never more than the boost.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from matcher.analysis.spectrum import DYNAMICS_CROSSOVERS_HZ, band_weights, frame_length
from matcher.fitting.settings import WidthLimit

NEAR_MONO_DB = -40.0
"""A mix band whose side is this far below its mid is (nearly) mono there: side not boosted."""
LOW_END_HZ = 120.0
"""Up to here (the lowest dynamics band) the width is never taken past mid and side at equal
power, where the left/right correlation would turn negative (the mono sum would thin)."""
LOW_END_MAX_WIDTH_DB = -1.0
SPREAD_OCTAVES = 1.0 / 6.0
"""The ceiling over the caps holds each band's cap this far either side (one band)..."""
SMOOTHING_OCTAVES = 1.0 / 3.0
"""...and is smoothed by a Gaussian this wide (full width at half maximum)."""
LIMIT_TOLERANCE_DB = 0.05
"""A band whose boost lost less than this is not reported as limited."""


def guard_width(
    centers_hz: np.ndarray,
    wanted_db: np.ndarray,
    mix_width_db: np.ndarray,
    sample_rate_hz: float,
    amount: float,
    min_correlation: float = 0.0,
    max_fold_down_db: float | None = 1.0,
    sections_hz: Sequence[float] = DYNAMICS_CROSSOVERS_HZ,
) -> tuple[np.ndarray, tuple[WidthLimit, ...]]:
    """Hold back the side boosts of a width curve that would harm the mix's mono sum.

    Parameters
    ----------
    centers_hz : np.ndarray, shape (bands,)
        The analysis's band centres (Hz).
    wanted_db : np.ndarray, shape (bands,)
        Side gain the match wants (dB, before ``amount``).
    mix_width_db : np.ndarray, shape (bands,)
        The mix's side-to-mid power ratio per band (dB; -200 where not measured).
    sample_rate_hz : float
        The mix's sample rate, which sets how far the analysis's bands reach.
    amount : float
        0-1, the share of the curve that will be rendered: the guards hold for the
        rendered gains (at 0, for the whole curve).
    min_correlation : float
        Lowest left/right correlation a boost may leave in a band, -1..1 (-1: no limit).
    max_fold_down_db : float or None
        Most fold-down loss (dB) a boost may add to a band's; None: no limit.
    sections_hz : sequence of float
        A reported range never spans one of these frequencies (by default the crossovers
        of the bands whose correlation the analysis reports).

    Returns
    -------
    side_gain_db : np.ndarray, shape (bands,)
        The curve (before ``amount``) with the boosts held back.
    limited : tuple of WidthLimit
        The ranges of adjacent bands whose boost was held back, lowest first (none at
        amount 0).
    """
    centers_hz = np.asarray(centers_hz, dtype=np.float64)
    wanted_db = np.asarray(wanted_db, dtype=np.float64)
    width_db = np.asarray(mix_width_db, dtype=np.float64)
    scale = amount if amount > 0.0 else 1.0
    rendered = scale * wanted_db
    reach = _reach(centers_hz, sample_rate_hz)
    widest_db = np.max(np.where(reach, width_db[None, :], -np.inf), axis=1)
    ratio = 10.0 ** (widest_db / 10.0)
    caps = _caps(centers_hz, width_db, widest_db, ratio, min_correlation, max_fold_down_db)
    cap = np.min(np.stack(list(caps.values())), axis=0)
    applied = _held_back(rendered, cap, np.log2(centers_hz))
    limits = () if amount == 0.0 else _limits(centers_hz, rendered, applied, caps, ratio, sections_hz)
    return applied / scale, limits


def _caps(
    centers_hz: np.ndarray,
    width_db: np.ndarray,
    widest_db: np.ndarray,
    ratio: np.ndarray,
    min_correlation: float,
    max_fold_down_db: float | None,
) -> dict[str, np.ndarray]:
    """Per guard, the largest side gain (dB, >= 0; infinite where it does not apply)."""
    caps = {
        "near_mono": np.where(width_db < NEAR_MONO_DB, 0.0, np.inf),
        "low_end": np.where(centers_hz <= LOW_END_HZ, np.maximum(LOW_END_MAX_WIDTH_DB - widest_db, 0.0), np.inf),
    }
    if min_correlation > -1.0:
        widest_allowed_db = 10.0 * np.log10((1.0 - min_correlation) / (1.0 + min_correlation))
        caps["correlation"] = np.maximum(widest_allowed_db - widest_db, 0.0)
    if max_fold_down_db is not None:
        allowed_ratio = 10.0 ** (max_fold_down_db / 10.0) * (1.0 + ratio) - 1.0
        caps["fold_down"] = np.maximum(10.0 * np.log10(allowed_ratio) - widest_db, 0.0)
    return caps


def _reach(centers_hz: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """``reach[b, j]``: band ``j``'s centre lies within band ``b``'s analysis band (its
    Gaussian's half maximum, :func:`~matcher.analysis.spectrum.band_weights`), or next to it."""
    n_fft = frame_length(sample_rate_hz)
    weights = band_weights(centers_hz, sample_rate_hz, n_fft)
    freqs_hz = np.arange(n_fft // 2 + 1) * sample_rate_hz / n_fft
    with np.errstate(invalid="ignore"):
        half = weights >= 0.5 * np.max(weights, axis=1, keepdims=True)
    low_hz = np.min(np.where(half, freqs_hz[None, :], np.inf), axis=1)
    high_hz = np.max(np.where(half, freqs_hz[None, :], -np.inf), axis=1)
    reach = (centers_hz[None, :] >= low_hz[:, None]) & (centers_hz[None, :] <= high_hz[:, None])
    index = np.arange(centers_hz.size)
    return reach | (np.abs(index[:, None] - index[None, :]) <= 1)


def _held_back(rendered_db: np.ndarray, cap_db: np.ndarray, log_f: np.ndarray) -> np.ndarray:
    """The boosts brought under a smooth ceiling that is nowhere above ``cap_db``.

    The caps follow the mix's width band by band, jagged; the ceiling is the lower
    envelope (the least within ``SPREAD_OCTAVES``) of the caps that hold a boost back,
    smoothed, and lowered where the smoothing rose above one of them until it rises above
    none. Boosts are taken down to it; cuts, and boosts under it, keep the match's own
    shape.
    """
    binding = rendered_db > cap_db
    if not np.any(binding):
        return rendered_db.copy()
    # A cap over its band's boost holds nothing back: raised to the largest boost, it
    # neither pulls the ceiling down beside it nor (infinite) up.
    cap_db = np.where(binding, cap_db, np.max(rendered_db))
    near = np.abs(log_f[:, None] - log_f[None, :]) <= SPREAD_OCTAVES + 1e-9
    sigma = SMOOTHING_OCTAVES / 2.355
    kernel = np.exp(-0.5 * ((log_f[:, None] - log_f[None, :]) / sigma) ** 2)
    kernel /= kernel.sum(axis=1, keepdims=True)
    work = cap_db
    for _ in range(50):
        ceiling = kernel @ np.min(np.where(near, work[None, :], np.inf), axis=1)
        over = ceiling - cap_db
        if np.max(over) < 0.005:
            break
        work = work - np.maximum(over, 0.0)
    # Whatever the smoothing left over a cap (a few thousandths of a dB) is cut off.
    ceiling = np.maximum(np.minimum(ceiling, cap_db), 0.0)
    return np.where(rendered_db > 0.0, np.minimum(rendered_db, ceiling), rendered_db)


def _limits(
    centers_hz: np.ndarray,
    rendered_db: np.ndarray,
    applied_db: np.ndarray,
    caps: dict[str, np.ndarray],
    ratio: np.ndarray,
    sections_hz: Sequence[float],
) -> tuple[WidthLimit, ...]:
    """One :class:`WidthLimit` per run of adjacent bands whose boost was held back, within
    one section. A run that no guard bound (the smooth ceiling dipped under the boost
    beside a capped band) joins the nearest run that one did, of its section if there is
    one."""
    names = list(caps)
    stack = np.stack([caps[n] for n in names])
    tightest = np.argmin(stack, axis=0)
    cap_db = np.min(stack, axis=0)
    binds = cap_db < rendered_db
    limited = (rendered_db > 0.0) & (applied_db < rendered_db - LIMIT_TOLERANCE_DB)
    section = np.searchsorted(np.asarray(sections_hz, dtype=np.float64), centers_hz)
    runs = _runs(limited, section)
    bound_runs = [run for run in runs if np.any(binds[run])]
    for run in runs:
        if np.any(binds[run]):
            continue
        hosts = [k for k, other in enumerate(bound_runs) if section[other[0]] == section[run[0]]]
        hosts = hosts or list(range(len(bound_runs)))
        if hosts:
            host = min(hosts, key=lambda h: np.min(np.abs(bound_runs[h][:, None] - run[None, :])))
            bound_runs[host] = np.arange(min(run[0], bound_runs[host][0]), max(run[-1], bound_runs[host][-1]) + 1)
        else:
            bound_runs.append(run)
    limits = []
    for run in sorted(bound_runs, key=lambda run: run[0]):
        bound = run[binds[run]]
        # The band the guards needed most: the boost furthest over its own cap.
        band = int(bound[np.argmax(rendered_db[bound] - cap_db[bound])]) if bound.size else int(
            run[np.argmax(rendered_db[run] - applied_db[run])]
        )
        order = [names[tightest[band]]] + [names[k] for k in np.unique(tightest[bound]) if k != tightest[band]]
        wanted_ratio = ratio[band] * 10.0 ** (rendered_db[band] / 10.0)
        applied_ratio = ratio[band] * 10.0 ** (applied_db[band] / 10.0)
        limits.append(WidthLimit(
            low_hz=round(float(centers_hz[run[0]]), 2),
            high_hz=round(float(centers_hz[run[-1]]), 2),
            guards=tuple(order),
            wanted_db=round(float(rendered_db[band]), 2),
            applied_db=round(float(applied_db[band]), 2),
            correlation_wanted=round(_correlation(wanted_ratio), 3),
            correlation_applied=round(_correlation(applied_ratio), 3),
            fold_down_wanted_db=round(_added_loss_db(wanted_ratio, ratio[band]), 2),
            fold_down_applied_db=round(_added_loss_db(applied_ratio, ratio[band]), 2),
        ))
    return tuple(limits)


def _runs(mask: np.ndarray, section: np.ndarray) -> list[np.ndarray]:
    """Indices of each run of adjacent True values in the same section."""
    index = np.flatnonzero(mask)
    breaks = (np.diff(index) > 1) | (np.diff(section[index]) != 0)
    return np.split(index, np.flatnonzero(breaks) + 1) if index.size else []


def _correlation(side_to_mid_ratio: float) -> float:
    return float((1.0 - side_to_mid_ratio) / (1.0 + side_to_mid_ratio))


def _added_loss_db(side_to_mid_ratio: float, mix_ratio: float) -> float:
    return float(10.0 * np.log10((1.0 + side_to_mid_ratio) / (1.0 + mix_ratio)))
