"""Reduce a per-sample stream: sums or maxima over consecutive segments, and the largest sum
over a window that slides one sample at a time."""

from __future__ import annotations

from collections.abc import Sequence
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


class SlidingSumMaxima:
    """The largest sums of a 1-D stream over every run of ``n`` consecutive values, for each
    of several window lengths ``n``.

    Every window start is visited, one sample apart. Each block's window sums are differences
    of one cumulative sum, shared by the windows, that starts afresh at the block (with the
    last values of the stream before it that the longest window needs), so the sums stay as
    precise as the block's own values and the memory is bounded by the longest window and the
    block, whatever the stream's length.

    Parameters
    ----------
    windows_samples : sequence of int
        The window lengths, each at least 1.
    """

    def __init__(self, windows_samples: Sequence[int]):
        windows = tuple(int(n) for n in windows_samples)
        if not windows or min(windows) < 1:
            raise ValueError(f"window lengths must be at least 1, got {windows}")
        self.windows_samples = windows
        self.reset()

    def reset(self) -> None:
        """Forget the stream seen so far."""
        self._tail = np.zeros(0)
        self._maxima: list[float | None] = [None] * len(self.windows_samples)

    @property
    def maxima(self) -> tuple[float | None, ...]:
        """The largest sum so far of each window length; None until a whole window was seen."""
        return tuple(self._maxima)

    def process(self, values: np.ndarray) -> None:
        """Feed the next values of the stream."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape[0] == 0:
            return
        kept = self._tail.shape[0]
        total = kept + values.shape[0]
        # cumulative[i] is the sum of the first i values of tail + block.
        cumulative = np.empty(total + 1)
        cumulative[0] = 0.0
        np.cumsum(self._tail, out=cumulative[1 : kept + 1])
        np.cumsum(values, out=cumulative[kept + 1 :])
        cumulative[kept + 1 :] += cumulative[kept]
        for k, window in enumerate(self.windows_samples):
            # The windows that end in this block (those ending in the tail were counted).
            first_end = max(kept + 1, window)
            if first_end > total:
                continue
            largest = float(np.max(cumulative[first_end:] - cumulative[first_end - window : total + 1 - window]))
            previous = self._maxima[k]
            self._maxima[k] = largest if previous is None else max(previous, largest)
        keep = max(self.windows_samples) - 1
        if values.shape[0] >= keep:
            # A copy: a view would keep the whole block alive until the next one.
            self._tail = values[values.shape[0] - keep :].copy()
        else:
            self._tail = np.concatenate([self._tail, values])[max(total - keep, 0) :]
