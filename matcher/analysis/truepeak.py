"""True-peak metering (ITU-R BS.1770-4, annex 2): the peak of the 4x oversampled signal."""

from __future__ import annotations

import numpy as np

from matcher.concurrency import engine_call
from matcher.dsp.filters import (
    GUARANTEE_FACTOR,
    OVERSAMPLING_TAPS_PER_PHASE,
    guarantee_bank,
    guarantee_margin_db,
    oversampling_bank,
)
from matcher.units import gain_to_db

FRAMES_PER_PRODUCT = 1024
"""Frames per matrix product: keeps the product within the CPU's L2 cache."""


def oversampling_factor(sample_rate_hz: float) -> int:
    """4x at every rate: BS.1770-4 allows 2x from 88.2 kHz on, but a 2x meter misses
    peaks that 4x meters see in material with content near Nyquist (0.5 dB seen at 96 kHz)."""
    return 4


def polyphase_frame_matrix(phases: np.ndarray, frame_samples: int) -> np.ndarray:
    """The interpolators of one frame as a single matrix.

    Row i of a frame's window is sample ``frame_start - half + i``, ``half`` being half an
    interpolator's length; column ``p * frame_samples + r`` gives, through a product with the
    window, the value of phase p at sample ``frame_start + r``.

    Parameters
    ----------
    phases : np.ndarray, shape (2 * half + 1, phases)
        Column p run as a causal FIR gives the signal at ``n + offset_p - half``.
    frame_samples : int

    Returns
    -------
    np.ndarray, shape (frame_samples + 2 * half, phases * frame_samples)
    """
    taps, count = phases.shape
    half = taps // 2
    matrix = np.zeros((frame_samples + 2 * half, count * frame_samples))
    r = np.arange(frame_samples)
    for p in range(count):
        for k in range(taps):
            # Output r of phase p takes tap k from window row r + 2 * half - k.
            matrix[r + 2 * half - k, p * frame_samples + r] = phases[k, p]
    return matrix


class TruePeakDetector:
    """Streaming 4x oversampled peak of each frame of samples, over all channels.

    For frame j (samples ``j * frame_samples`` to ``(j + 1) * frame_samples - 1``),
    :meth:`process` and :meth:`finish` give the largest absolute value of the interpolated
    signal at ``n, n + 1/4, n + 2/4, n + 3/4`` for every sample n of the frame, in any
    channel; the signal is zero before its start and after its end. The last frame may be
    shorter.

    The interpolated phases of a frame come from one matrix product of the frame's samples
    (with the interpolators' context on both sides) and a banded matrix of the filter taps
    (:func:`polyphase_frame_matrix`): BLAS does this at two to three times the speed of
    overlap-save FFT convolution with filters this short, and each frame's maximum is the
    maximum of one row of the product. Phase 0, the samples themselves, is read directly.
    Its callers run it under :func:`matcher.concurrency.pinned_native_threads`: one BLAS
    thread, for speed beside the engine's own threads and for the same result every time.

    Parameters
    ----------
    sample_rate_hz : float
    with_short_interpolator : bool
        Watch the short interpolator beside the long one (see
        :func:`~matcher.dsp.filters.oversampling_bank`), as the limiter does, so that its
        output passes meters of either kind; a meter alone reads the long one (about 70 %
        of the cost).
    frame_samples : int
        Samples per reported peak: the limiter's control tick, or any size for a meter that
        only needs the maximum.
    selected : np.ndarray of bool, optional
        Measure only these frames of the stream (frames past its end are measured); the
        others read NaN. With :func:`gained_peak_bounds`, a meter of a gained signal
        measures only the frames that could come near a ceiling.
    guarantee : bool
        Read the signal at 16x through the guarantee's interpolator
        (:func:`~matcher.dsp.filters.guarantee_bank`, flat to 96 % of Nyquist) instead of
        4x: the meter whose reading plus :attr:`margin_db` never falls below an ideal
        band-limited reconstruction. About five times the work of the 4x meter.
    """

    def __init__(
        self,
        sample_rate_hz: float,
        with_short_interpolator: bool = True,
        frame_samples: int = 32,
        selected: np.ndarray | None = None,
        guarantee: bool = False,
    ):
        if frame_samples < 1:
            raise ValueError("frame_samples must be at least 1")
        if guarantee:
            bank, factor = guarantee_bank(), GUARANTEE_FACTOR
            fractional = list(range(1, factor))
        else:
            factor = oversampling_factor(sample_rate_hz)
            bank = oversampling_bank(factor)
            columns = bank.shape[1] if with_short_interpolator else factor
            fractional = [c for c in range(columns) if c % factor]
        self.frame_samples = frame_samples
        self.margin_db = guarantee_margin_db() if guarantee else 0.0
        """Added to the readings by the caller of a guarantee meter (see :func:`guarantee_margin_db`)."""
        self._half = (bank.shape[0] - 1) // 2
        self._window = frame_samples + 2 * self._half
        self._matrix = polyphase_frame_matrix(bank[:, fractional], frame_samples).astype(np.float32)
        self._workspaces: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._selected = None if selected is None else np.asarray(selected, dtype=bool)
        self.reset()

    def reset(self) -> None:
        """Forget the signal seen so far."""
        # Samples from the next frame's window start on: _store[:, _start:_end].
        self._store: np.ndarray | None = None
        self._start = self._end = 0
        self._samples = 0
        self._frame = 0

    @property
    def _buffer(self) -> np.ndarray:
        return self._store[:, self._start : self._end]

    def _append(self, samples: np.ndarray) -> None:
        """Append samples of shape (channels, n), reusing the store's memory."""
        n = samples.shape[1]
        if self._end + n > self._store.shape[1]:
            kept = self._end - self._start
            if kept + n > self._store.shape[1]:
                grown = np.empty((self._store.shape[0], 2 * (kept + n)), dtype=np.float32)
                grown[:, :kept] = self._buffer
                self._store = grown
            else:
                self._store[:, :kept] = self._buffer
            self._start, self._end = 0, kept
        self._store[:, self._end : self._end + n] = samples
        self._end += n

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed a block of shape (n, channels); return the peaks of the frames completed."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1:
            block = block[:, None]
        if self._store is None:
            self._store = np.zeros((block.shape[1], self._half), dtype=np.float32)
            self._end = self._half
        if block.shape[0] == 0:
            return np.zeros(0)
        self._samples += block.shape[0]
        self._append(block.T)
        return self._frames((self._buffer.shape[1] - 2 * self._half) // self.frame_samples)

    def finish(self) -> np.ndarray:
        """Return the peaks of the remaining frames, the last one possibly partial."""
        if self._store is None or self._samples == 0:
            return np.zeros(0)
        pending = self._buffer.shape[1] - self._half
        frames = -(-pending // self.frame_samples)
        padding = frames * self.frame_samples + 2 * self._half - self._buffer.shape[1]
        self._append(np.zeros((self._store.shape[0], padding), dtype=np.float32))
        return self._frames(frames, last_frame_samples=pending - (frames - 1) * self.frame_samples)

    def _frames(self, count: int, last_frame_samples: int | None = None) -> np.ndarray:
        """Peaks of the next ``count`` frames; drop the samples no later frame needs."""
        if count <= 0:
            return np.zeros(0)
        step = self.frame_samples
        channels = self._buffer.shape[0]
        rows, products, magnitudes = self._workspace(channels)
        peaks = np.full(count, np.nan)
        for first in range(0, count, FRAMES_PER_PRODUCT):
            n = min(FRAMES_PER_PRODUCT, count - first)
            chosen = self._chosen(self._frame + first, n)
            k = n if chosen is None else chosen.shape[0]
            if k == 0:
                continue
            span = self._buffer[:, first * step : (first + n - 1) * step + self._window]
            # Frame j's window starts step * j samples in (sliding_window_view()[:, ::step],
            # without its checks: they cost more than this view's use, a thousand times a file).
            windows = np.lib.stride_tricks.as_strided(
                span, (channels, n, self._window), (span.strides[0], step * span.strides[1], span.strides[1]),
                writeable=False,
            )
            frame_samples = span[:, self._half : self._half + n * step].reshape(channels, n, step)
            x = rows[: channels * k]
            samples = magnitudes[: channels * k * step].reshape(channels * k, step)
            if chosen is None:
                np.copyto(x.reshape(channels, k, self._window), windows)
                np.abs(frame_samples, out=samples.reshape(channels, k, step))
            else:
                np.take(windows, chosen, axis=1, out=x.reshape(channels, k, self._window), mode="clip")
                np.abs(np.take(frame_samples, chosen, axis=1), out=samples.reshape(channels, k, step))
            phases = np.matmul(x, self._matrix, out=products[: channels * k])
            last_is_partial = last_frame_samples is not None and first + n == count
            if last_is_partial and (chosen is None or chosen[-1] == n - 1):
                phases.reshape(channels, k, -1, step)[:, -1, :, last_frame_samples:] = 0.0
                samples.reshape(channels, k, step)[:, -1, last_frame_samples:] = 0.0
            np.abs(phases, out=phases)
            frame_peaks = np.maximum(phases.max(axis=1), samples.max(axis=1)).reshape(channels, k).max(axis=0)
            if chosen is None:
                peaks[first : first + n] = frame_peaks
            else:
                peaks[first + chosen] = frame_peaks
        self._start += count * step
        self._frame += count
        return peaks

    def _chosen(self, frame: int, n: int) -> np.ndarray | None:
        """Indices (from ``frame``) of the selected frames among the next n; None for all."""
        if self._selected is None or frame >= self._selected.shape[0]:
            return None
        mask = self._selected[frame : frame + n]
        if mask.shape[0] < n:
            mask = np.concatenate([mask, np.ones(n - mask.shape[0], dtype=bool)])
        return np.flatnonzero(mask)

    def _workspace(self, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The product's operand and result and the samples' magnitudes, allocated once
        (about 2 MB for stereo): fresh arrays this size would each cost page faults."""
        rows = channels * FRAMES_PER_PRODUCT
        if self._workspaces is None or self._workspaces[0].shape[0] != rows:
            self._workspaces = (
                np.empty((rows, self._window), dtype=np.float32),
                np.empty((rows, self._matrix.shape[1]), dtype=np.float32),
                np.empty(rows * self.frame_samples, dtype=np.float32),
            )
        return self._workspaces


ROUNDING_BOUND = 1e-5
"""Relative allowance, in :func:`gained_peak_bounds`, for float32 rounding in the gain and
the meter (about 2e-6 of a frame's level)."""


BOUNDS_CHUNK_FRAMES = 1 << 18


def gained_peak_bounds(
    peaks: np.ndarray,
    gains: np.ndarray,
    frame_samples: int,
    sample_error: float = 0.0,
    clip_level: float = np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the frame true peaks of a signal after a gain curve, from those before it.

    For ``y[n] = g[n] x[n] + e[n]``, where ``g`` runs linearly from ``gains[j]`` at the start
    of frame j to ``gains[j + 1]`` (held after the last), ``|e[n]| <= sample_error`` (the
    output's rounding) and samples beyond ``clip_level`` are clipped to it: with
    ``peaks[j]`` the true peak of frame j of ``x`` (both interpolators, as
    :class:`TruePeakDetector` reads), each interpolated value of ``y`` in frame j is

        g_mid x_interp + sum_k h_k (g[m_k] - g_mid) x[m_k] + sum_k h_k e[m_k],

    with ``g_mid`` the middle of the gains the interpolator reaches. So its magnitude lies
    within ``g_mid peaks[j] ± (dg * S + err) * H`` where ``dg`` is half the gains' spread,
    ``S`` the largest sample the interpolator reaches (no more than the neighbouring frames'
    true peaks) and ``H`` the largest sum of absolute taps of any phase (2.4).

    Returns
    -------
    upper, lower : np.ndarray, shape (frames,)
        Linear bounds on each frame's true peak; ``lower`` may be negative.
    """
    peaks = np.asarray(peaks, dtype=np.float64)
    gains = np.asarray(gains, dtype=np.float64)
    if gains.shape != peaks.shape:
        raise ValueError("one gain per frame is needed")
    frames = peaks.shape[0]
    if frames == 0:
        return np.zeros(0), np.zeros(0)
    # The interpolators reach ``reach`` frames to each side: gain knots j - reach ..
    # j + reach + 1 and samples of frames j - reach .. j + reach (zero outside the signal).
    reach = -(-(OVERSAMPLING_TAPS_PER_PHASE // 2) // frame_samples)
    spread = np.abs(oversampling_bank()).sum(axis=0).max()
    upper, lower = np.empty(frames), np.empty(frames)
    # A piece at a time: a dozen temporaries as long as an hour's 5 M frames would be 500 MB.
    for start in range(0, frames, BOUNDS_CHUNK_FRAMES):
        count = min(BOUNDS_CHUNK_FRAMES, frames - start)
        # The piece's gain knots j - reach .. j + reach + 1 (the first and last held beyond
        # the ends) and frames j - reach .. j + reach (zero beyond).
        knots = _window(gains, start - reach, start + count + reach + 1, gains[0], gains[-1])
        padded = _window(peaks, start - reach, start + count + reach, 0.0, 0.0)
        g_max = g_min = knots[:count]
        for offset in range(1, 2 * reach + 2):
            g_max = np.maximum(g_max, knots[offset : offset + count])
            g_min = np.minimum(g_min, knots[offset : offset + count])
        nearby = padded[:count]
        for offset in range(1, 2 * reach + 1):
            nearby = np.maximum(nearby, padded[offset : offset + count])
        g_mid, g_half = (g_max + g_min) / 2, (g_max - g_min) / 2
        error = sample_error + np.maximum(g_max * nearby - clip_level, 0.0) + ROUNDING_BOUND * g_max * nearby
        slack = (g_half * nearby + error) * spread
        upper[start : start + count] = g_mid * peaks[start : start + count] + slack
        lower[start : start + count] = g_mid * peaks[start : start + count] - slack
    return upper, lower


def _window(values: np.ndarray, start: int, stop: int, before: float, after: float) -> np.ndarray:
    """``values[start:stop]``, with ``before`` at the indices under 0 and ``after`` at those
    past the end."""
    out = np.empty(stop - start)
    first, last = max(start, 0), min(stop, values.shape[0])
    out[: first - start] = before
    out[first - start : last - start] = values[first:last]
    out[last - start :] = after
    return out


@engine_call
def true_peak_dbtp(audio: np.ndarray, sample_rate_hz: float) -> float:
    """True peak (dBTP) of a whole signal of shape (n, channels), both interpolators."""
    detector = TruePeakDetector(sample_rate_hz)
    peaks = np.concatenate([detector.process(audio), detector.finish()])
    return float(gain_to_db(peaks.max() if peaks.size else 0.0))
