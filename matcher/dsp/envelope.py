"""Vectorised envelope operations on whole control-rate arrays.

The limiter plans its gain offline over the whole file at a control rate of about 1.5 kHz,
so the recursive parts of a limiter (peak hold, release) can be computed exactly with
numpy's accumulate functions instead of a per-sample loop.
"""

from __future__ import annotations

import numpy as np

RAMP_CHUNK = 1 << 16
"""Ticks of the release's ramp made at a time (512 kB)."""


def sliding_max(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """``y[k] = max(x[k - before : k + after + 1])``, the window clipped at the ends.

    By doubling: the maximum over windows of 1, 2, 4, ... samples, each from two shifted
    copies of the last, then two overlapping windows of the largest power of two cover the
    whole width. ``log2(width)`` vectorised passes; the limiter's windows are a few ticks.
    The passes run in place in one padded copy of ``x`` (the result is a view of it): each
    element only reads those after it, which numpy does without a temporary, so an hour's
    ticks (5 M) hold that one array besides ``x``.
    """
    width = before + after + 1
    n = x.shape[0]
    if n == 0 or width == 1:
        return x.copy()
    windows = np.full(before + n + after, -np.inf)
    windows[before : before + n] = x
    valid = windows.shape[0]
    span = 1  # windows[i] = max of x padded, over [i, i + span), for i < valid
    while 2 * span <= width:
        np.maximum(windows[: valid - span], windows[span:valid], out=windows[: valid - span])
        valid -= span
        span *= 2
    out = windows[:n]
    return np.maximum(out, windows[width - span : width - span + n], out=out)


def dilated(mask: np.ndarray, before: int, after: int) -> np.ndarray:
    """``y[k] = any(mask[k - before : k + after + 1])``, the window clipped at the ends: what
    ``sliding_max(mask.astype(float), before, after) > 0`` gives, in booleans (one byte a
    tick, not eight)."""
    mask = np.asarray(mask, dtype=bool)
    out = mask.copy()
    for shift in range(1, min(before, mask.shape[0]) + 1):
        out[shift:] |= mask[:-shift]
    for shift in range(1, min(after, mask.shape[0]) + 1):
        out[:-shift] |= mask[shift:]
    return out


def release(reduction: np.ndarray, coefficient: float, overwrite: bool = False) -> np.ndarray:
    """Instant attack, exponential release: ``v[k] = max(u[k], coefficient * v[k-1])``.

    Parameters
    ----------
    reduction : np.ndarray, shape (n,)
        Required reduction ``u >= 0`` (dB).
    coefficient : float
        Per-step decay factor in (0, 1).
    overwrite : bool
        Compute in ``reduction``'s own memory when it is float64 (its values are lost).

    Notes
    -----
    In the log domain the recursion is a running maximum:
    ``log v[k] + k λ = max_{j <= k}(log u[j] + j λ)`` with ``λ = -log(coefficient)``.
    """
    u = np.asarray(reduction, dtype=np.float64)
    if u.shape[0] == 0:
        return u.copy()
    lam = -np.log(coefficient)
    # In place, with the ramp k λ made a chunk at a time: an hour's ticks (5 M) hold this
    # one array (none more with ``overwrite``), not five.
    with np.errstate(divide="ignore"):
        out = np.log(u, out=u if overwrite else None)
    _add_ramp(out, lam, np.add)
    np.maximum.accumulate(out, out=out)
    _add_ramp(out, lam, np.subtract)
    return np.exp(out, out=out)


def _add_ramp(values: np.ndarray, step: float, op: np.ufunc) -> None:
    """``values[k] = op(values[k], k * step)`` in place, a chunk at a time (the products are
    those of one whole ramp: ``k`` is exact in float64)."""
    for start in range(0, values.shape[0], RAMP_CHUNK):
        piece = values[start : start + RAMP_CHUNK]
        ramp = np.arange(start, start + piece.shape[0], dtype=np.float64)
        ramp *= step
        op(piece, ramp, out=piece)


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
    # In place: each window sum overwrites the first of the two prefix sums it is made of,
    # which no later window reads; numpy does this without a temporary. The result is a view
    # of the prefix sums (an hour's ticks hold that one array besides ``x``).
    sums = csum[:n]
    np.subtract(csum[before + after + 1 :], sums, out=sums)
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
