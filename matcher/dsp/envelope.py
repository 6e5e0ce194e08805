"""Vectorised envelope operations on whole control-rate arrays.

The limiter plans its gain offline over the whole file at a control rate of about 1.5 kHz,
so the recursive parts of a limiter (peak hold, release) can be computed exactly with
numpy's accumulate functions instead of a per-sample loop.
"""

from __future__ import annotations

import numpy as np


def sliding_max(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """``y[k] = max(x[k - before : k + after + 1])``, the window clipped at the ends.

    Van Herk / Gil-Werman: O(n) whatever the window length.
    """
    width = before + after + 1
    n = x.shape[0]
    if n == 0 or width == 1:
        return x.copy()
    padded = np.full(before + n + after, -np.inf)
    padded[before : before + n] = x
    blocks = -(-padded.shape[0] // width)
    grid = np.full(blocks * width, -np.inf)
    grid[: padded.shape[0]] = padded
    grid = grid.reshape(blocks, width)
    prefix = np.maximum.accumulate(grid, axis=1).ravel()
    suffix = np.maximum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.maximum(suffix[:n], prefix[width - 1 : width - 1 + n])


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
    ramp = np.arange(u.shape[0]) * lam
    with np.errstate(divide="ignore"):
        log_u = np.log(u)
    shifted = np.maximum.accumulate(log_u + ramp)
    return np.exp(shifted - ramp)


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
    counts = np.minimum(np.arange(n) + after + 1, n) - np.maximum(np.arange(n) - before, 0)
    return sums / counts


def time_coefficient(time_s: float, rate_hz: float) -> float:
    """Per-step factor of an exponential with time constant ``time_s`` at ``rate_hz``."""
    return float(np.exp(-1.0 / max(time_s * rate_hz, 1e-9)))
