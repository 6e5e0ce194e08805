"""Streaming FIR filtering by overlap-save FFT convolution.

The long FIRs of automaster, the matching EQ's (linear-, minimum- or mixed-phase), run
through :class:`FFTConvolver`. The true-peak meter's short interpolators are matrix products
instead (:mod:`matcher.analysis.truepeak`), and so is the K-weighting, a recursive filter
(:mod:`matcher.dsp.recursive`). One streaming implementation keeps the engine's memory
bounded for files of any length and keeps ``scipy.signal`` (about 0.5 s of import time)
out of the command-line start-up.
"""

from __future__ import annotations

import numpy as np

from matcher.dsp import fft

_MAX_HOPS_PER_BATCH = 16
MIN_TRANSFORMS_PER_BATCH = 4
"""pocketfft (scipy.fft) runs SIMD across four transforms at a time, and falls back to scalar
code for fewer: a batch of two 131072-point float32 transforms took 1.6 ms each, a batch of
four 0.3 ms each. The convolver waits for enough hops to give every FFT call four."""


def _fft_size(taps: int) -> int:
    size = 1 << 14
    while size < 4 * (taps - 1):
        size <<= 1
    return size


class FFTConvolver:
    """Causal FIR filter over a stream of blocks.

    Parameters
    ----------
    dtype : numpy dtype
        Working precision: float64, or float32 (about twice as fast) where a meter needs no
        more than 24 bits.
    impulse_response : np.ndarray, shape (taps,) + filter_shape
        The FIR. ``filter_shape`` broadcasts against the trailing (channel) shape of the
        input: ``(taps,)`` filters every channel alike, ``(taps, channels)`` gives each channel
        its own filter, ``(taps, 1, k)`` applied to input of shape ``(n, channels, 1)`` is a
        bank of k filters per channel.

    Notes
    -----
    :meth:`process` returns output only for whole hops of the overlap-save scheme, and only
    once enough of them are pending for the FFTs to run fast (``MIN_TRANSFORMS_PER_BATCH``),
    so its length varies from call to call; :meth:`flush` returns the rest. Over a stream the
    output has exactly as many samples as the input: ``y[n] = sum_k h[k] x[n - k]``.
    """

    def __init__(self, impulse_response: np.ndarray, dtype: type = np.float64):
        self.dtype = np.dtype(dtype)
        h = np.asarray(impulse_response, dtype=np.float64)
        if h.ndim == 0 or h.shape[0] < 1:
            raise ValueError("impulse_response needs at least one tap")
        self.taps = h.shape[0]
        self.fft_size = _fft_size(self.taps)
        self.hop = self.fft_size - self.taps + 1
        spectrum = fft.rfft(np.moveaxis(h, 0, -1), n=self.fft_size, axis=-1)
        self._spectrum = spectrum.astype(np.result_type(self.dtype, np.complex64))
        self._filter_shape = h.shape[1:]
        self.reset()

    def _min_hops(self, channel_shape: tuple) -> int:
        transforms = int(np.prod(np.broadcast_shapes(channel_shape, self._filter_shape), dtype=np.int64))
        return max(1, -(-MIN_TRANSFORMS_PER_BATCH // max(transforms, 1)))

    def reset(self) -> None:
        """Forget the signal seen so far, as if newly built."""
        self._history: np.ndarray | None = None
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed samples of shape (n,) + channel_shape; return the output ready so far."""
        x = np.asarray(x, dtype=self.dtype)
        if self._history is None:
            self._history = np.zeros((self.taps - 1,) + x.shape[1:], dtype=self.dtype)
        if x.shape[0]:
            self._pending.append(x)
            self._pending_samples += x.shape[0]
        hops = self._pending_samples // self.hop
        if hops == 0 or hops < self._min_hops(x.shape[1:]):
            return self._empty(x.shape[1:])
        return self._run(hops * self.hop)

    def flush(self) -> np.ndarray:
        """Return the output for samples still pending, zero-padding the last hop."""
        if self._history is None or self._pending_samples == 0:
            return self._empty(() if self._history is None else self._history.shape[1:])
        n = self._pending_samples
        self._pending.append(np.zeros((self.hop - n % self.hop,) + self._history.shape[1:], dtype=self.dtype))
        self._pending_samples += self.hop - n % self.hop
        return self._run(self._pending_samples)[:n]

    def _empty(self, channel_shape: tuple) -> np.ndarray:
        shape = np.broadcast_shapes(channel_shape, self._filter_shape)
        return self._emit(np.zeros((0,) + shape + (self.hop,), dtype=self.dtype))

    def _emit(self, hops: np.ndarray) -> np.ndarray:
        """Arrange filtered hops, shape (hops,) + output_shape + (hop,), as the output.

        The default returns samples along the first axis, shape (hops * hop,) + output_shape;
        subclasses may reduce instead (a meter needs no copy of every filter's output).
        """
        return np.moveaxis(hops, -1, 1).reshape((hops.shape[0] * self.hop,) + hops.shape[1:-1])

    def _run(self, count: int) -> np.ndarray:
        pending = np.concatenate(self._pending, axis=0) if len(self._pending) > 1 else self._pending[0]
        rest = pending[count:]
        self._pending = [rest] if rest.shape[0] else []
        self._pending_samples = rest.shape[0]
        buf = np.concatenate([self._history, pending[:count]], axis=0)
        self._history = buf[buf.shape[0] - (self.taps - 1):].copy()
        outputs = []
        total_hops = count // self.hop
        for first in range(0, total_hops, _MAX_HOPS_PER_BATCH):
            hops = min(_MAX_HOPS_PER_BATCH, total_hops - first)
            start = first * self.hop
            seg = buf[start:start + (hops - 1) * self.hop + self.fft_size]
            windows = np.lib.stride_tricks.sliding_window_view(seg, self.fft_size, axis=0)[:: self.hop]
            spec = fft.rfft(windows, axis=-1)
            if np.broadcast_shapes(spec.shape, self._spectrum.shape) == spec.shape:
                spec *= self._spectrum
            else:  # a bank of filters per channel widens the result
                spec = spec * self._spectrum
            out = fft.irfft(spec, n=self.fft_size, axis=-1)
            outputs.append(self._emit(out[..., self.taps - 1:]))
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=0)


class AlignedFilter:
    """An FIR whose tap ``delay_samples`` is time zero, the delay compensated: the output
    lines up with the input.

    A linear-phase FIR is centred on its middle tap; a minimum-phase one starts at tap 0
    (no delay, nothing to compensate).

    Parameters
    ----------
    impulse_response : np.ndarray, shape (taps,) + filter_shape
    delay_samples : int
        0 to ``taps - 1``.
    dtype : numpy dtype
    convolver : FFTConvolver or a subclass
        What runs the FIR (a subclass may arrange the output otherwise, see ``_emit``).
    """

    def __init__(
        self,
        impulse_response: np.ndarray,
        delay_samples: int,
        dtype: type = np.float64,
        convolver: type[FFTConvolver] = FFTConvolver,
    ):
        taps = np.asarray(impulse_response).shape[0]
        if not 0 <= delay_samples < taps:
            raise ValueError(f"the delay ({delay_samples} samples) must be within the FIR's {taps} taps")
        self.delay_samples = int(delay_samples)
        self._convolver = convolver(impulse_response, dtype)
        self.reset()

    def reset(self) -> None:
        """Forget the signal seen so far."""
        self._convolver.reset()
        self._to_drop = self.delay_samples
        self._channel_shape: tuple | None = None

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed samples; return the aligned output ready so far."""
        x = np.asarray(x)
        self._channel_shape = x.shape[1:]
        return self._drop(self._convolver.process(x))

    def finish(self) -> np.ndarray:
        """Return the rest of the output; over the stream, output length equals input length."""
        if self._channel_shape is None:
            return np.zeros((0,))
        tail = self._convolver.process(np.zeros((self.delay_samples,) + self._channel_shape, self._convolver.dtype))
        return self._drop(np.concatenate([tail, self._convolver.flush()], axis=0))

    def _drop(self, y: np.ndarray) -> np.ndarray:
        if self._to_drop:
            dropped = min(self._to_drop, y.shape[0])
            self._to_drop -= dropped
            y = y[dropped:]
        return y


class LinearPhaseFilter(AlignedFilter):
    """A symmetric FIR whose delay is compensated: the output lines up with the input.

    Parameters
    ----------
    impulse_response : np.ndarray, shape (2 * delay + 1,) + filter_shape
        A linear-phase FIR centred on tap ``delay``.
    dtype : numpy dtype
    """

    def __init__(self, impulse_response: np.ndarray, dtype: type = np.float64):
        taps = np.asarray(impulse_response).shape[0]
        if taps % 2 != 1:
            raise ValueError("a delay-compensated linear-phase FIR needs an odd number of taps")
        super().__init__(impulse_response, taps // 2, dtype)
