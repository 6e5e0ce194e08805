"""Reduce a per-sample stream to sums or maxima over consecutive segments."""

from __future__ import annotations

from typing import Callable

import numpy as np


class SegmentReducer:
    """Sums (or maxima) of a 1-D stream over consecutive segments.

    Parameters
    ----------
    boundary : callable
        ``boundary(j)`` is the absolute index of the first sample of segment ``j``, for an
        array ``j``; it must be increasing with ``boundary(0) == 0``.
    reduce : {"sum", "max"}
    """

    def __init__(self, boundary: Callable[[np.ndarray], np.ndarray], reduce: str = "sum"):
        self._boundary = boundary
        self._ufunc = {"sum": np.add, "max": np.maximum}[reduce]
        self.reset()

    def reset(self) -> None:
        """Forget the stream seen so far."""
        self._carry = np.zeros(0)
        self._carry_start = 0
        self._segment = 0
        self._done: list[np.ndarray] = []

    def process(self, values: np.ndarray) -> None:
        """Feed the next per-sample values."""
        data = np.concatenate([self._carry, np.asarray(values, dtype=np.float64)])
        end = self._carry_start + data.shape[0]
        starts = self._starts_until(end)
        if starts.shape[0] > 1:
            offsets = starts - self._carry_start
            self._done.append(self._ufunc.reduceat(data[: offsets[-1]], offsets[:-1]))
            self._segment += starts.shape[0] - 1
            self._carry_start = int(starts[-1])
            data = data[offsets[-1]:]
        self._carry = data

    def result(self, include_partial: bool = False) -> np.ndarray:
        """The reduced values of the complete segments so far (and of the partial one)."""
        parts = list(self._done)
        if include_partial and self._carry.shape[0]:
            parts.append(np.array([self._ufunc.reduce(self._carry)]))
        return np.concatenate(parts) if parts else np.zeros(0)

    def _starts_until(self, end: int) -> np.ndarray:
        """Starts of segments from the current one on, up to the first starting at or after end."""
        guess = 8
        while True:
            idx = np.arange(self._segment, self._segment + guess)
            starts = self._boundary(idx)
            if starts[-1] >= end or guess > 1 << 40:
                complete = starts[starts <= end]
                return complete
            guess *= 4
