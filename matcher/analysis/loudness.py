"""Loudness after ITU-R BS.1770-4 and loudness range after EBU Tech 3342.

The meter streams: it K-weights each block, and keeps only the energy of every 100 ms
sub-block. Momentary (400 ms) and short-term (3 s) loudness, the gated integrated loudness
and the loudness range are all computed from those sub-block energies, so a file of any
length costs a few kilobytes per minute.
"""

from __future__ import annotations

import numpy as np

from matcher.dsp.filters import kweighting_biquads
from matcher.dsp.recursive import RecursiveFilter
from matcher.dsp.segments import SegmentReducer
from matcher.units import FLOOR_DB

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
SUBBLOCK_S = 0.1
SUBBLOCKS_PER_MOMENTARY = 4
SUBBLOCKS_PER_SHORT_TERM = 30


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


class LoudnessMeter:
    """Streaming BS.1770-4 meter that keeps the energies of 100 ms sub-blocks.

    Parameters
    ----------
    sample_rate_hz : float
    channels : int
        1 or 2.
    """

    def __init__(self, sample_rate_hz: float, channels: int):
        self.sample_rate_hz = sample_rate_hz
        self._power = KWeightedPower(sample_rate_hz, channels)
        self._boundary = subblock_boundaries(sample_rate_hz)
        self._sums = SegmentReducer(self._boundary, "sum")

    def reset(self) -> None:
        """Forget the signal seen so far."""
        self._power.reset()
        self._sums.reset()

    def process(self, block: np.ndarray) -> None:
        """Feed a block of shape (n, channels)."""
        self._sums.process(self._power.process(block))

    def finish(self) -> "SubBlockEnergies":
        """End of stream: the sub-block energies of the whole signal."""
        self._sums.process(self._power.flush())
        sums = self._sums.result()
        lengths = np.diff(self._boundary(np.arange(sums.shape[0] + 1)))
        return SubBlockEnergies(sums, lengths.astype(np.float64))


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
