"""Loudness after ITU-R BS.1770-4 and loudness range after EBU Tech 3342.

The meter streams: it K-weights each block, and keeps only the energy of every 100 ms
sub-block. Momentary (400 ms) and short-term (3 s) loudness, the gated integrated loudness
and the loudness range are all computed from those sub-block energies, so a file of any
length costs a few kilobytes per minute.

The maxima of momentary and short-term loudness are a different matter: EBU Tech 3341
(section 2.1, test cases 10 and 13) asks for the loudest window wherever it starts, and a
400 ms tone that starts halfway between two sub-block boundaries reads 0.6 LU low on the
100 ms grid. A meter built with ``maxima=True`` also slides both windows one sample at a time over
the K-weighted power (:class:`~matcher.dsp.segments.SlidingSumMaxima`), keeping no more
than one window of samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.dsp.filters import kweighting_biquads
from matcher.dsp.recursive import RecursiveFilter
from matcher.dsp.segments import SegmentReducer, SlidingSumMaxima
from matcher.units import FLOOR_DB

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
SUBBLOCK_S = 0.1
SUBBLOCKS_PER_MOMENTARY = 4
SUBBLOCKS_PER_SHORT_TERM = 30
MOMENTARY_S = 0.4
"""Window of momentary loudness and of the gating blocks of integrated loudness (BS.1770-4)."""
SHORT_TERM_S = 3.0
"""Window of short-term loudness, and so the shortest audio with a loudness range (Tech 3342)."""
PIECE_SAMPLES = 1 << 18
"""Largest piece :func:`loudness_maxima` feeds the meter at once."""


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770-4 channel weights G_i for mono and stereo (1.0 each)."""
    if channels not in (1, 2):
        raise ValueError(f"{channels} channels; mono or stereo is supported")
    return np.ones(channels)


def subblock_boundaries(sample_rate_hz: float):
    """Start sample of 100 ms sub-block j: ``floor(j * rate / 10)``, as pyloudnorm does."""
    return lambda j: (np.asarray(j, dtype=np.int64) * int(round(sample_rate_hz * 1000))) // 10000


def energy_to_lufs(mean_square: np.ndarray | float) -> np.ndarray:
    """Loudness (LUFS) of a channel-weighted mean square of the K-weighted signal."""
    with np.errstate(divide="ignore"):
        lufs = -0.691 + 10.0 * np.log10(np.asarray(mean_square, dtype=np.float64))
    return np.maximum(lufs, FLOOR_DB)


class KWeightedPower:
    """Streaming K-weighting; yields the channel-weighted power of every sample.

    The two biquads of BS.1770-4 run as one recursive filter evaluated by matrix products
    (:class:`~matcher.dsp.recursive.RecursiveFilter`), about 40 % faster than an FFT
    convolution with their impulse response in float32, and exact to float32 precision.
    """

    def __init__(self, sample_rate_hz: float, channels: int):
        self._filter = RecursiveFilter(kweighting_biquads(sample_rate_hz))
        self._weights = channel_weights(channels)

    def reset(self) -> None:
        """Forget the signal seen so far."""
        self._filter.reset()

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed a block of shape (n, channels); return power for the samples ready so far."""
        return self._power(self._filter.process(block))

    def flush(self) -> np.ndarray:
        """Return the power of the remaining samples."""
        return self._power(self._filter.flush())

    def _power(self, y: np.ndarray) -> np.ndarray:
        # One product for the channel-weighted sum of squares (float32: 6e-8 relative).
        weights = np.asarray(self._weights[: y.shape[1]], dtype=np.float32)
        return (np.square(y, dtype=np.float32) @ weights).astype(np.float64)


@dataclass(frozen=True)
class LoudnessMaxima:
    """The loudest momentary (400 ms) and short-term (3 s) windows, over every window start
    (EBU Tech 3341 'EBU mode'; ungated). None where the audio is shorter than the window."""

    momentary_lufs: float | None
    short_term_lufs: float | None


def window_samples(window_s: float, sample_rate_hz: float) -> int:
    """Samples in a window of ``window_s`` seconds at ``sample_rate_hz``."""
    return round(window_s * sample_rate_hz)


class LoudnessMeter:
    """Streaming BS.1770-4 meter that keeps the energies of 100 ms sub-blocks.

    Parameters
    ----------
    sample_rate_hz : float
    channels : int
        1 or 2.
    maxima : bool
        Also track the loudest momentary and short-term windows over every window start
        (:meth:`maxima`): the meter then costs about 40 % more
        (``benchmarks/bench_loudness_maxima.py``).
    """

    def __init__(self, sample_rate_hz: float, channels: int, maxima: bool = False):
        self.sample_rate_hz = sample_rate_hz
        self._power = KWeightedPower(sample_rate_hz, channels)
        self._boundary = subblock_boundaries(sample_rate_hz)
        self._sums = SegmentReducer(self._boundary, "sum")
        windows = (window_samples(MOMENTARY_S, sample_rate_hz), window_samples(SHORT_TERM_S, sample_rate_hz))
        self._windows = SlidingSumMaxima(windows) if maxima else None

    def reset(self) -> None:
        """Forget the signal seen so far (and the maxima)."""
        self._power.reset()
        self._sums.reset()
        if self._windows is not None:
            self._windows.reset()

    def process(self, block: np.ndarray) -> None:
        """Feed a block of shape (n, channels)."""
        self._take(self._power.process(block))

    def finish(self) -> "SubBlockEnergies":
        """End of stream: the sub-block energies of the whole signal."""
        self._take(self._power.flush())
        sums = self._sums.result()
        lengths = np.diff(self._boundary(np.arange(sums.shape[0] + 1)))
        return SubBlockEnergies(sums, lengths.astype(np.float64))

    def maxima(self) -> LoudnessMaxima:
        """The loudest windows among those the K-weighting has delivered so far: after
        :meth:`finish`, of the whole signal; before it, the filter may still hold up to
        65536 samples back. Only windows wholly inside the signal count.

        Raises
        ------
        ValueError
            The meter was built without ``maxima=True``.
        """
        if self._windows is None:
            raise ValueError("this meter does not track maxima: build it with maxima=True")
        levels = [
            None if largest is None else float(energy_to_lufs(largest / samples))
            for largest, samples in zip(self._windows.maxima, self._windows.windows_samples)
        ]
        return LoudnessMaxima(*levels)

    def _take(self, power: np.ndarray) -> None:
        self._sums.process(power)
        if self._windows is not None:
            self._windows.process(power)


def loudness_maxima(audio: np.ndarray, sample_rate_hz: float) -> LoudnessMaxima:
    """The loudest momentary and short-term loudness of a whole signal, over every window start.

    Parameters
    ----------
    audio : np.ndarray, shape (samples, channels) or (samples,)
        Mono or stereo, full scale ±1.
    sample_rate_hz : float

    Returns
    -------
    LoudnessMaxima
        LUFS (ITU-R BS.1770-4 K-weighting, ungated windows of 400 ms and 3 s); -200 for
        silence, None for audio shorter than a window.
    """
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[:, None]
    meter = LoudnessMeter(sample_rate_hz, audio.shape[1], maxima=True)
    # In pieces: the meter's intermediates are then a piece long, not the signal's length.
    for start in range(0, audio.shape[0], PIECE_SAMPLES):
        meter.process(audio[start : start + PIECE_SAMPLES])
    meter.finish()
    return meter.maxima()


class SubBlockEnergies:
    """Sums of K-weighted power over consecutive 100 ms sub-blocks, and their lengths."""

    def __init__(self, sums: np.ndarray, lengths: np.ndarray):
        self.sums = np.asarray(sums, dtype=np.float64)
        self.lengths = np.asarray(lengths, dtype=np.float64)

    def windows(self, subblocks: int) -> np.ndarray:
        """Mean square over every window of ``subblocks`` consecutive sub-blocks, hop 100 ms."""
        if self.sums.shape[0] < subblocks:
            return np.zeros(0)
        sums = np.convolve(self.sums, np.ones(subblocks), mode="valid")
        lengths = np.convolve(self.lengths, np.ones(subblocks), mode="valid")
        return sums / lengths

    def integrated_lufs(self) -> float:
        """Gated integrated loudness (ITU-R BS.1770-4): 400 ms blocks, 75 % overlap."""
        return gated_loudness(self.windows(SUBBLOCKS_PER_MOMENTARY))

    def short_term_lufs(self) -> np.ndarray:
        """Short-term loudness (3 s window) every 100 ms, floored at FLOOR_DB."""
        return energy_to_lufs(self.windows(SUBBLOCKS_PER_SHORT_TERM))

    def loudness_range_lu(self) -> float:
        """Loudness range (EBU Tech 3342): spread of the gated short-term loudness."""
        return loudness_range(self.windows(SUBBLOCKS_PER_SHORT_TERM))


def gated_loudness(block_energies: np.ndarray) -> float:
    """Integrated loudness of 400 ms block energies with the BS.1770-4 gates (LUFS)."""
    z = np.asarray(block_energies, dtype=np.float64)
    z = z[energy_to_lufs(z) > ABSOLUTE_GATE_LUFS]
    if z.shape[0] == 0:
        return FLOOR_DB
    relative_gate = energy_to_lufs(z.mean()) + RELATIVE_GATE_LU
    z = z[energy_to_lufs(z) > relative_gate]
    return float(energy_to_lufs(z.mean()))


def loudness_range(short_term_energies: np.ndarray) -> float:
    """EBU Tech 3342 loudness range of short-term block energies (LU)."""
    z = np.asarray(short_term_energies, dtype=np.float64)
    z = z[energy_to_lufs(z) > ABSOLUTE_GATE_LUFS]
    if z.shape[0] == 0:
        return 0.0
    relative_gate = energy_to_lufs(z.mean()) + LRA_RELATIVE_GATE_LU
    levels = energy_to_lufs(z[energy_to_lufs(z) > relative_gate])
    low, high = np.percentile(levels, [10.0, 95.0])
    return float(high - low)
