"""Streaming rational resampling: ``scipy.signal.resample_poly`` block by block.

An album's songs go into the 44.1 kHz CD image one block at a time, so that a song need not
be held in memory whole to be resampled.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import firwin, upfirdn

KAISER_BETA = 5.0
HALF_LENGTH_PER_RATE = 10
"""The filter of ``scipy.signal.resample_poly`` with its default window: a Kaiser (beta 5)
windowed sinc of ``2 * 10 * max(up, down) + 1`` taps, cut off at the lower Nyquist rate."""


class PolyphaseResampler:
    """Resample a stream of blocks from one rate to another, exactly as
    ``scipy.signal.resample_poly(x, up, down, axis=0)`` resamples the whole signal at once
    (same filter, same alignment, same length: ``ceil(n * up / down)``, the signal taken as
    zero outside its ends), to float rounding.

    Parameters
    ----------
    from_rate_hz, to_rate_hz : int
        Input and output sample rates; ``up / down`` is their ratio in lowest terms.
    channels : int

    Notes
    -----
    Each block is filtered with the few input samples before it that the filter still
    needs (about ``20 * max(up, down) / up`` plus ``down``), so memory and work are bounded
    by the block size. Call :meth:`finish` once at the end for the last output samples.
    """

    def __init__(self, from_rate_hz: int, to_rate_hz: int, channels: int):
        if from_rate_hz <= 0 or to_rate_hz <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate_hz} and {to_rate_hz}")
        g = math.gcd(int(from_rate_hz), int(to_rate_hz))
        self.up = int(to_rate_hz) // g
        self.down = int(from_rate_hz) // g
        self.channels = channels
        max_rate = max(self.up, self.down)
        half_len = HALF_LENGTH_PER_RATE * max_rate
        taps = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", KAISER_BETA)) * self.up
        pre_pad = self.down - half_len % self.down
        self._taps = np.concatenate([np.zeros(pre_pad), taps])
        self._skip = (half_len + pre_pad) // self.down
        """Leading outputs of the full convolution that resample_poly drops."""
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far."""
        self._buffer = np.zeros((0, self.channels))
        self._buffer_start = 0
        """Input index of the buffer's first row (a multiple of ``down``)."""
        self._next = 0
        """Index of the next output of the full convolution to compute."""
        self._frames_in = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed a block of shape (n, channels); return the output samples it completes,
        shape (m, channels), float32."""
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected a block of shape (n, {self.channels}), got {block.shape}")
        self._frames_in += block.shape[0]
        self._buffer = np.concatenate([self._buffer, block.astype(np.float64, copy=False)])
        end = self._buffer_start + self._buffer.shape[0]
        return self._emit((end * self.up - 1) // self.down)

    def finish(self) -> np.ndarray:
        """The output samples that remain once the input has ended (it is taken as zero
        after its end), shape (m, channels), float32."""
        wanted = self._skip + -(-self._frames_in * self.up // self.down)
        last = wanted - 1
        needed_end = last * self.down // self.up + 1
        end = self._buffer_start + self._buffer.shape[0]
        if needed_end > end:
            self._buffer = np.concatenate([self._buffer, np.zeros((needed_end - end, self.channels))])
        return self._emit(last)

    def _emit(self, last: int) -> np.ndarray:
        """Outputs ``self._next`` to ``last`` (of the full convolution), less the ones
        resample_poly drops at the start."""
        if last < self._next:
            return np.zeros((0, self.channels), dtype=np.float32)
        y = upfirdn(self._taps, self._buffer, self.up, self.down, axis=0)
        offset = self._buffer_start * self.up // self.down  # the buffer starts on a multiple of down
        out = y[self._next - offset : last + 1 - offset]
        first_kept = max(0, self._skip - self._next)
        self._next = last + 1
        # Keep what the next outputs still need: inputs from ceil((next * down - taps + 1) / up).
        oldest = max(0, -(-(self._next * self.down - self._taps.shape[0] + 1) // self.up))
        start = oldest - oldest % self.down
        if start > self._buffer_start:
            self._buffer = self._buffer[start - self._buffer_start :]
            self._buffer_start = start
        return out[first_kept:].astype(np.float32)
