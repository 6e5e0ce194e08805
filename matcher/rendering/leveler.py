"""The leveler: a slow gain ride that brings the loudness range (EBU Tech 3342) to a target.

A mastering engineer moves the fader by hand through a song: a little up in the quiet
verse, a little down in the loud chorus, to tame a range that is too wide; the other way to
open one that is squashed. Here the ride is planned offline from rendering's first pass,
which has measured the K-weighted energy of every control tick: the short-term (3 s)
loudness ``S(t)``, centred on each 100 ms sub-block, gives the gain

    g(t) = -slope * (S(t) - I)

where ``I`` is the integrated loudness, clipped to ``±max_gain_db`` and smoothed over
``smoothing_s`` (a Hann window). ``slope = 1 - 1 / ratio``: 0 changes nothing, 0.5 halves
the range (ratio 2:1), negative slopes expand it. Because the ride is planned with
hindsight it needs no attack or release: it starts moving before the chorus arrives, as a
hand on the fader would.

An engineer rides the song's sections, not its silences: a break, an intro or a fade's
tail is not pushed up toward the chorus (nor, expanding, down away from it). A passage more
than ``QUIET_FROM_LU`` under ``I`` (where BS.1770 stops counting it toward the loudness)
starts to follow the ride of the music around it (within ``NEIGHBOURHOOD_S``, weighted by
its energy and closeness), and from ``QUIET_LU`` under ``I`` it takes exactly that ride: it moves with
the music next to it, never more.

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

MIN_SLOPE = -1.0
"""Most expansion: ratio 1:2, the sections' contrast at most doubled (within the ride's
range). A mix squashed in the mixing cannot be given back its dynamics by a fader; wider
expansion only exaggerates the little contrast that is left."""
MAX_SLOPE = 0.9
"""Most compression: ratio 10:1."""
TOLERANCE_LU = 0.05
QUIET_FROM_LU = 10.0
"""A passage this far under the integrated loudness starts to follow the music around it."""
QUIET_LU = 16.0
"""From this far under the integrated loudness a passage takes the ride of the music around it."""
NEIGHBOURHOOD_S = 15.0
"""The music around a quiet passage: within this many seconds either side, weighted by its
energy (the loud music, which the ear holds on to, counts most) and by its closeness (a
triangle), so that a break between two verses takes the verses' ride, and a fade's tail
that of the song before it more than that of the fade's first seconds."""


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
        short_term = lambda v: np.convolve(np.pad(v, (half, half)), window, mode="valid")[:n]
        self.integrated_lufs = _energies(self.energy).integrated_lufs()
        # The music's short-term loudness: sub-blocks under the loudness-range gate (a break,
        # a silence) are left out of each window where it holds any others, so the music
        # next to a break is ridden at its own level, not pulled up by the break's.
        audible = (energy_to_lufs(self.energy) >= self.integrated_lufs + LRA_RELATIVE_GATE_LU).astype(np.float64)
        sums, counts = short_term(self.energy * audible), short_term(audible)
        all_sums, all_counts = short_term(self.energy), short_term(np.ones(n))
        short_term_energy = np.where(counts > 0.0, sums / np.maximum(counts, 1.0), all_sums / np.maximum(all_counts, 1.0))
        deviation = energy_to_lufs(short_term_energy) - self.integrated_lufs
        self._deviation = np.maximum(deviation, LRA_RELATIVE_GATE_LU)
        quiet = np.clip((-deviation - QUIET_FROM_LU) / (QUIET_LU - QUIET_FROM_LU), 0.0, 1.0)
        self._quiet = quiet * quiet * (3.0 - 2.0 * quiet)
        """How far (0-1) each sub-block follows the music around it instead of its own ride."""
        self._music_energy = np.where(deviation >= -QUIET_FROM_LU, short_term_energy, 0.0)
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
        if np.any(self._quiet > 0.0):
            gain = gain + self._quiet * (self._around(gain) - gain)
        if self._smoothing.shape[0] > 1 and gain.shape[0]:
            half = self._smoothing.shape[0] // 2
            padded = np.pad(gain, (half, self._smoothing.shape[0] - 1 - half), mode="edge")
            gain = np.convolve(padded, self._smoothing, mode="valid")
        return Ride(float(slope), gain)

    def _around(self, gain_db: np.ndarray) -> np.ndarray:
        """Per sub-block, the gain (dB) the music around it gets."""
        return gain_around_db(self._music_energy, gain_db)

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


def gain_around_db(music_energy: np.ndarray, gain_db: np.ndarray, reach_s: float = NEIGHBOURHOOD_S) -> np.ndarray:
    """Per 100 ms sub-block, the power gain (dB) the music around it gets.

    ``music_energy`` is the energy of the sub-blocks that are music (0 elsewhere), and
    ``gain_db`` the gain of every sub-block; the result is the energy-weighted mean power
    gain of the music within ``reach_s`` either side, each sub-block also weighted by its
    closeness (a triangle). Where no music is that close, it is the nearest such value; with
    no music at all, ``gain_db`` itself.
    """
    reach = max(round(reach_s * 10.0), 1)
    closeness = 1.0 - np.abs(np.arange(-reach, reach + 1)) / (reach + 1)
    near = lambda v: np.convolve(np.pad(v, (reach, reach)), closeness, mode="valid")
    weight = near(music_energy)
    gained = near(music_energy * 10.0 ** (np.asarray(gain_db) / 10.0))
    known = weight > 0.0
    if not np.any(known):
        return np.asarray(gain_db, dtype=np.float64)
    index = np.arange(weight.shape[0])
    return np.interp(index, index[known], 10.0 * np.log10(gained[known] / weight[known]))


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

