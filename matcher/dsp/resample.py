"""Streaming sample-rate conversion with libsoxr (``soxr``), block by block.

An album's songs go into the 44.1 kHz CD image one block at a time, so that a song need not
be held in memory whole to be resampled. libsoxr's very-high-quality recipe is flat to about
20 kHz at 44.1 kHz, its steep transition band ends before the Nyquist rate (60 dB down at
21.8 kHz, 100 dB at 22 kHz) and it rejects aliases by far more: a plain windowed-sinc
resampler cut at the Nyquist rate (``scipy.signal.resample_poly``'s default) lets half of
what is there through, and aliases the rest.

The output does not depend on how the stream is cut into blocks: the same samples, bit for
bit, as ``soxr.resample`` of the whole signal.
"""

from __future__ import annotations

import numpy as np
import soxr

QUALITY = "VHQ"


class StreamResampler:
    """Resample a stream of blocks from one rate to another (libsoxr, ``QUALITY``).

    Parameters
    ----------
    from_rate_hz, to_rate_hz : int
        Input and output sample rates.
    channels : int

    Notes
    -----
    Call :meth:`finish` once at the end for the last output samples. The output's length is
    the input's times ``to_rate_hz / from_rate_hz``, rounded; its delay is compensated.
    """

    def __init__(self, from_rate_hz: int, to_rate_hz: int, channels: int):
        if from_rate_hz <= 0 or to_rate_hz <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate_hz} and {to_rate_hz}")
        self.from_rate_hz = int(from_rate_hz)
        self.to_rate_hz = int(to_rate_hz)
        self.channels = channels
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far."""
        self._stream = soxr.ResampleStream(self.from_rate_hz, self.to_rate_hz, self.channels, dtype="float32", quality=QUALITY)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed a block of shape (n, channels); return the output samples it completes,
        shape (m, channels), float32."""
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected a block of shape (n, {self.channels}), got {block.shape}")
        return self._stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32))

    def finish(self) -> np.ndarray:
        """The output samples that remain once the input has ended, shape (m, channels), float32."""
        return self._stream.resample_chunk(np.zeros((0, self.channels), dtype=np.float32), last=True)
