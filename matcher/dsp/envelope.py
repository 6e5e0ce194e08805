"""Vectorised envelope operations on whole control-rate arrays.

The limiter plans its gain offline over the whole file at a control rate of about 1.5 kHz,
so the recursive parts of a limiter (peak hold, release) can be computed exactly with
numpy's accumulate functions instead of a per-sample loop.
"""

from __future__ import annotations

import numpy as np


def sliding_max(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """``y[k] = max(x[k - before : k + after + 1])``, the window clipped at the ends.

    By doubling: the maximum over windows of 1, 2, 4, ... samples, each from two shifted
    copies of the last, then two overlapping windows of the largest power of two cover the
    whole width. ``log2(width)`` vectorised passes; the limiter's windows are a few ticks.
    """
    width = before + after + 1
    n = x.shape[0]
    if n == 0 or width == 1:
        return x.copy()
    padded = np.full(before + n + after, -np.inf)
    padded[before : before + n] = x
    span = 1
    windows = padded  # windows[i] = max(padded[i : i + span])
    while 2 * span <= width:
        windows = np.maximum(windows[:-span], windows[span:])
        span *= 2
    return np.maximum(windows[:n], windows[width - span : width - span + n])


def release(reduction: np.ndarray, coefficient: float) -> np.ndarray:
    """Instant attack, exponential release: ``v[k] = max(u[k], coefficient * v[k-1])``.

    Parameters
    ----------
    reduction : np.ndarray, shape (n,)
        Required reduction ``u >= 0`` (dB).
    coefficient : float
        Per-step decay factor in (0, 1).

    Notes
    -----
    In the log domain the recursion is a running maximum:
    ``log v[k] + k λ = max_{j <= k}(log u[j] + j λ)`` with ``λ = -log(coefficient)``.
    """
    u = np.asarray(reduction, dtype=np.float64)
    if u.shape[0] == 0:
        return u.copy()
    lam = -np.log(coefficient)
    ramp = np.arange(u.shape[0], dtype=np.float64)
    ramp *= lam
    # In place, so that an hour's ticks (5 M) hold two arrays at a time, not five.
    with np.errstate(divide="ignore"):
        out = np.log(u)
    out += ramp
    np.maximum.accumulate(out, out=out)
    out -= ramp
    del ramp
    return np.exp(out, out=out)


def moving_average(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """Mean of ``x[k - before : k + after + 1]``, the window clipped at the ends."""
    n = x.shape[0]
    if n == 0:
        return np.zeros(0)
    # Window sums from a prefix sum padded with its end values: csum[k + after + 1] -
    # csum[k - before], both clipped to [0, n], by slicing instead of gathering.
    csum = np.empty(before + n + 1 + after)
    csum[: before + 1] = 0.0
    np.cumsum(x, dtype=np.float64, out=csum[before + 1 : before + 1 + n])
    csum[before + 1 + n :] = csum[before + n]
    sums = csum[before + after + 1 :] - csum[: n]
    del csum
    # Window lengths: the full width, shortened where the window meets either end; only the
    # windows at the ends need their own (no array of counts: an hour is 5 M ticks).
    width = before + after + 1
    edges = np.union1d(np.arange(min(before, n)), np.arange(max(n - after, 0), n))
    counts = np.full(edges.shape[0], float(width))
    counts -= np.maximum(before - edges, 0)
    counts -= np.maximum(edges + after + 1 - n, 0)
    edge_sums = sums[edges] / counts
    sums /= float(width)
    sums[edges] = edge_sums
    return sums


def time_coefficient(time_s: float, rate_hz: float) -> float:
    """Per-step factor of an exponential with time constant ``time_s`` at ``rate_hz``."""
    return float(np.exp(-1.0 / max(time_s * rate_hz, 1e-9)))
