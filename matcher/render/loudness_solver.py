"""Find the make-up gain that brings the limited output exactly to the loudness target."""

from __future__ import annotations

import numpy as np

from matcher.analysis.loudness import SubBlockEnergies
from matcher.dsp.limiter import TruePeakLimiter

TOLERANCE_LU = 0.002
MAX_EXTRA_GAIN_DB = 24.0
"""Most the limiter may be driven beyond the unlimited make-up gain."""


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
    # The limiter only lowers loudness: search upward from the unlimited gain, up to a fixed
    # cap; past it the target is out of reach under this ceiling and the loudest is returned.
    cap = lo + MAX_EXTRA_GAIN_DB
    hi, hi_lufs = lo, lo_lufs
    while hi_lufs < target_lufs and hi < cap:
        lo, lo_lufs = hi, hi_lufs
        hi = min(hi + max(2.0 * (target_lufs - hi_lufs), 0.05), cap)
        hi_lufs, reduction = loudness(hi)
    if hi_lufs < target_lufs:
        return hi, reduction, hi_lufs
    best = (hi, reduction, hi_lufs)
    for _ in range(40):
        # Regula falsi, with bisection as a guard.
        if hi_lufs - lo_lufs > 1e-9:
            mid = lo + (target_lufs - lo_lufs) * (hi - lo) / (hi_lufs - lo_lufs)
            mid = min(max(mid, lo + 0.05 * (hi - lo)), hi - 0.05 * (hi - lo))
        else:
            mid = 0.5 * (lo + hi)
        mid_lufs, mid_reduction = loudness(mid)
        best = min(best, (mid, mid_reduction, mid_lufs), key=lambda b: abs(b[2] - target_lufs))
        if abs(mid_lufs - target_lufs) <= TOLERANCE_LU:
            break
        if mid_lufs < target_lufs:
            lo, lo_lufs = mid, mid_lufs
        else:
            hi, hi_lufs = mid, mid_lufs
    return best
