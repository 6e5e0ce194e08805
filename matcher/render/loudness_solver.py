"""Find the make-up gain that brings the limited output exactly to the loudness target."""

from __future__ import annotations

import numpy as np

from matcher.analysis.loudness import SubBlockEnergies
from matcher.dsp.limiter import TruePeakLimiter

TOLERANCE_LU = 0.002
MAX_EXTRA_GAIN_DB = 24.0
"""Most the limiter may be driven beyond the unlimited make-up gain."""
MAX_ITERATIONS = 40


def output_loudness_lufs(
    power: np.ndarray, ticks_per_subblock: int, gain_db: np.ndarray
) -> float:
    """Integrated loudness of the signal whose K-weighted tick energies are ``power``,
    after a gain (dB per tick, linearly interpolated in amplitude between ticks).
    """
    g = 10.0 ** (np.asarray(gain_db) / 20.0)
    g_next = np.append(g[1:], g[-1:])
    mean_square_gain = (g * g + g * g_next + g_next * g_next) / 3.0
    weighted = power * mean_square_gain
    subblocks = weighted.shape[0] // ticks_per_subblock
    sums = weighted[: subblocks * ticks_per_subblock].reshape(subblocks, ticks_per_subblock).sum(axis=1)
    return SubBlockEnergies(sums, np.full(subblocks, float(ticks_per_subblock))).integrated_lufs()


def solve_gain(
    peak_db: np.ndarray,
    power: np.ndarray,
    ticks_per_subblock: int,
    limiter: TruePeakLimiter,
    target_lufs: float,
) -> tuple[float, np.ndarray, float]:
    """Make-up gain such that the limited output's integrated loudness equals the target.

    Parameters
    ----------
    peak_db : np.ndarray, shape (ticks,)
        True-peak level of each control tick before the gain.
    power : np.ndarray, shape (ticks,)
        K-weighted energy (per sample, channel-weighted) of each tick, per tick sample count.
    ticks_per_subblock : int
        Ticks in 100 ms.
    limiter : TruePeakLimiter
    target_lufs : float

    Returns
    -------
    gain_db : float
        Make-up gain before the limiter.
    reduction_db : np.ndarray, shape (ticks,)
        The limiter's gain reduction per tick at that gain.
    predicted_lufs : float
        Loudness of the output as predicted (equals the target unless unreachable).
    """
    def loudness(gain: float) -> tuple[float, np.ndarray]:
        reduction = limiter.reduction_db(peak_db, gain)
        return output_loudness_lufs(power, ticks_per_subblock, gain - reduction), reduction

    base_lufs = output_loudness_lufs(power, ticks_per_subblock, np.zeros(power.shape[0]))
    lo = target_lufs - base_lufs
    lo_lufs, reduction = loudness(lo)
    if abs(lo_lufs - target_lufs) <= TOLERANCE_LU:
        return lo, reduction, lo_lufs
    # The limiter only lowers loudness, and more gain never makes the output quieter: the
    # answer lies between the unlimited gain and a fixed cap above it. Past the cap the
    # target is out of reach under this ceiling, and the loudest output is returned.
    hi = lo + MAX_EXTRA_GAIN_DB
    hi_lufs, hi_reduction = loudness(hi)
    if hi_lufs < target_lufs:
        return hi, hi_reduction, hi_lufs
    best = (hi, hi_reduction, hi_lufs)
    f_lo, f_hi = lo_lufs - target_lufs, hi_lufs - target_lufs
    replaced = None
    for _ in range(MAX_ITERATIONS):
        # Illinois regula falsi: when one end is kept twice in a row its error is halved,
        # so the saturating loudness-versus-gain curve does not stall the iteration.
        mid = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        mid_lufs, mid_reduction = loudness(mid)
        best = min(best, (mid, mid_reduction, mid_lufs), key=lambda b: abs(b[2] - target_lufs))
        f_mid = mid_lufs - target_lufs
        if abs(f_mid) <= TOLERANCE_LU or hi - lo < 1e-6:
            break
        if f_mid < 0:
            lo, f_lo = mid, f_mid
            if replaced == "lo":
                f_hi *= 0.5
            replaced = "lo"
        else:
            hi, f_hi = mid, f_mid
            if replaced == "hi":
                f_lo *= 0.5
            replaced = "hi"
    return best
