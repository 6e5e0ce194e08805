"""The leveler: a slow gain ride that brings the loudness range (EBU Tech 3342) to a target.

A mastering engineer moves the fader by hand through a song: a little up in the quiet
verse, a little down in the loud chorus, to tame a range that is too wide; the other way to
open one that is squashed. Here the ride is planned offline from rendering's first pass,
which has measured the K-weighted energy of every control tick: the short-term (3 s)
loudness ``S(t)``, centred on each 100 ms sub-block, gives the gain

    g(t) = -slope * (S(t) - I)

where ``I`` is the integrated loudness, clipped to ``±max_gain_db`` and smoothed over
``smoothing_s`` (a Hann window). ``slope = 1 - 1 / ratio``: 0 changes nothing, 0.5 halves
the range (ratio 2:1), negative slopes expand it. Quiet passages below the loudness-range
gate (20 LU under ``I``) ride as if at the gate, so a fade or a silence is not pulled up.
Because the ride is planned with hindsight it needs no attack or release: it starts moving
before the chorus arrives, as a hand on the fader would.

The slope is the one whose output reaches the aimed loudness range (found by bisection;
the range falls steadily as the slope grows). The limiter after it narrows the range
further when it works hard; the renderer then aims the leveler higher once
(:func:`aim_for`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from matcher.analysis.loudness import (
    LRA_RELATIVE_GATE_LU,
    SUBBLOCKS_PER_SHORT_TERM,
    SubBlockEnergies,
    energy_to_lufs,
)

MIN_SLOPE = -2.0
"""Most expansion: ratio 1:3, a range at most about three times wider."""
MAX_SLOPE = 0.9
"""Most compression: ratio 10:1."""
TOLERANCE_LU = 0.05


class Ride(NamedTuple):
    """A planned ride: its slope, and its gain per 100 ms sub-block (dB)."""

    slope: float
    subblock_gain_db: np.ndarray

    @property
    def ratio(self) -> float:
        """The slope as a compressor's ratio: 2 is 2:1, 0.5 expands 1:2."""
        return float(1.0 / (1.0 - self.slope))


class Leveler:
    """Plans rides over one signal's sub-block energies.

    Parameters
    ----------
    subblock_energy : np.ndarray, shape (subblocks,)
        Mean K-weighted power (channel-weighted) of every 100 ms sub-block.
    max_gain_db, smoothing_s : float
        See :class:`~matcher.fitting.settings.DynamicsSettings`.
    """

    def __init__(self, subblock_energy: np.ndarray, max_gain_db: float, smoothing_s: float):
        self.energy = np.asarray(subblock_energy, dtype=np.float64)
        self.max_gain_db = max_gain_db
        n = self.energy.shape[0]
        half = SUBBLOCKS_PER_SHORT_TERM // 2
        window = np.ones(SUBBLOCKS_PER_SHORT_TERM)
        sums = np.convolve(np.pad(self.energy, (half, half)), window, mode="valid")[:n]
        counts = np.convolve(np.pad(np.ones(n), (half, half)), window, mode="valid")[:n]
        short_term = energy_to_lufs(sums / np.maximum(counts, 1.0))
        self.integrated_lufs = _energies(self.energy).integrated_lufs()
        floor = self.integrated_lufs + LRA_RELATIVE_GATE_LU
        self._deviation = np.maximum(short_term, floor) - self.integrated_lufs
        taps = max(round(smoothing_s * 10.0), 1)
        self._smoothing = np.hanning(taps + 2)[1:-1]
        self._smoothing /= self._smoothing.sum()

    @property
    def input_range_lu(self) -> float:
        """Loudness range of the signal as it is."""
        return _energies(self.energy).loudness_range_lu()

    def ride(self, slope: float) -> Ride:
        """The ride of one slope."""
        gain = np.clip(-slope * self._deviation, -self.max_gain_db, self.max_gain_db)
        if self._smoothing.shape[0] > 1 and gain.shape[0]:
            half = self._smoothing.shape[0] // 2
            padded = np.pad(gain, (half, self._smoothing.shape[0] - 1 - half), mode="edge")
            gain = np.convolve(padded, self._smoothing, mode="valid")
        return Ride(float(slope), gain)

    def range_after(self, subblock_gain_db: np.ndarray) -> float:
        """Loudness range after a gain per sub-block (dB)."""
        return _energies(self.energy * 10.0 ** (subblock_gain_db / 10.0)).loudness_range_lu()

    def fit(self, aim_lu: float) -> Ride:
        """The ride whose output has the loudness range ``aim_lu`` (or comes closest)."""
        lo, hi = MIN_SLOPE, MAX_SLOPE
        r_lo, r_hi = self.range_after(self.ride(lo).subblock_gain_db), self.range_after(self.ride(hi).subblock_gain_db)
        if aim_lu >= r_lo:
            return self.ride(lo)
        if aim_lu <= r_hi:
            return self.ride(hi)
        start = self.range_after(np.zeros_like(self.energy))
        if abs(start - aim_lu) <= TOLERANCE_LU:
            return self.ride(0.0)
        lo, hi = (lo, 0.0) if aim_lu > start else (0.0, hi)
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            achieved = self.range_after(self.ride(mid).subblock_gain_db)
            if abs(achieved - aim_lu) <= TOLERANCE_LU:
                return self.ride(mid)
            lo, hi = (mid, hi) if achieved > aim_lu else (lo, mid)
        return self.ride(0.5 * (lo + hi))


def per_tick(subblock_gain_db: np.ndarray, ticks_per_subblock: int, ticks: int) -> np.ndarray:
    """A sub-block gain curve at every control tick, linear between sub-block centres."""
    if subblock_gain_db.shape[0] == 0:
        return np.zeros(ticks)
    centres = (np.arange(subblock_gain_db.shape[0]) + 0.5) * ticks_per_subblock
    return np.interp(np.arange(ticks) + 0.5, centres, subblock_gain_db)


def aim_for(target_lu: float, achieved_lu: float, aimed_lu: float) -> float:
    """The aim that makes up for what came after the leveler (the limiter's narrowing)."""
    return aimed_lu + (target_lu - achieved_lu)


def _energies(subblock_energy: np.ndarray) -> SubBlockEnergies:
    """Sub-blocks of equal length with these mean powers, for the BS.1770 and Tech 3342 gates."""
    return SubBlockEnergies(subblock_energy, np.ones_like(subblock_energy))

