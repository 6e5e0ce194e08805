"""The quiet-passage guard: no stage lifts a break, a fade's tail or a noise floor more than
it lifts the music.

The stages act on the spectrum and the level they find. Where the music stops and only
hiss is left, a bright EQ boosts the hiss by its whole high-frequency gain while the music,
whose energy sits lower, gains less; a compressor's make-up lifts whatever is under its
threshold; the limiter takes several dB off the music's peaks, and the make-up gain lifts a
break that had no peaks to take. None of them knows that the passage is a break. Rendering's
first pass measures, per 100 ms sub-block, the K-weighted energy of the chain's input and
of the EQ and compressor's output; with the gain curve planned from it (the leveler's ride,
the make-up and the limiter) that gives the output of the whole chain as planned. From the
two this module plans an attenuation that brings the lift of every quiet passage back to
the lift of the music around it plus ``ALLOWANCE_DB``:

- a sub-block's *level* is its input's over 300 ms centred on it; a sub-block is *quiet*
  from ``QUIET_FROM_LU`` under the input's integrated loudness, wholly from ``QUIET_LU``
  under it (a smoothstep between), judged on the median level over ``STEADY_S`` around
  it, so that a fade's tail is quiet as a whole, not beat by beat;
- its *lift* is the output's over the input's energy over the quiet sub-blocks within
  ``STEADY_S`` (weighted by how quiet they are): the lift of the passage, steady through
  the beats of a fade's tail (an EQ lifts a kick and the hiss between kicks differently),
  and not diluted by the music at a break's edge;
- the *music's lift* is the energy-weighted lift of the sub-blocks the integrated loudness
  counts (within 10 LU of it: BS.1770's relative gate) around each sub-block (within
  15 s, weighted by closeness: :func:`~matcher.rendering.leveler.gain_around_db`): what
  the chain did to the music next to the passage, as a listener hears it (a compressor
  lifts a quiet section more than a loud one, so the whole song's would not do);
- a quiet sub-block's lift beyond the music's plus ``ALLOWANCE_DB`` is taken back, as far
  as it is quiet, and the attenuation is smoothed over 300 ms.

The attenuation never reaches the music. No sub-block within ``MUSIC_CLEARANCE_SUBBLOCKS``
of one that is itself within 10 LU of the integrated loudness is attenuated, and the
smoothing reaches one sub-block: such a sub-block and its neighbours stay at exactly 0 dB,
so the control ticks, which interpolate between sub-block centres, leave it untouched (a
drum hit in a break too). Where nothing was lifted more than the music plus the allowance,
the guard is exactly 0 dB.

The guard only ever lowers the gain, so it cannot raise a peak. It is added to the
leveler's ride and the make-up gain and the limiter are solved again, which then see it
(:func:`solve_guarded`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from matcher.analysis.loudness import RELATIVE_GATE_LU, SubBlockEnergies, energy_to_lufs
from matcher.rendering.leveler import Ride, gain_around_db, per_tick

T = TypeVar("T")

QUIET_FROM_LU = 15.0
"""A passage this far under the integrated loudness starts to be guarded."""
QUIET_LU = 20.0
"""From this far under the integrated loudness a passage is wholly guarded."""
ALLOWANCE_DB = 1.0
"""A quiet passage may be lifted this much more than the music (issue 16 allows 3 dB)."""
LEVEL_SUBBLOCKS = 3
"""A sub-block's level is its input's over 300 ms centred on it."""
STEADY_S = 1.5
"""Quiet is judged on the median level, and the lift measured, over this long around a
sub-block: three beats at 120 BPM."""
MUSIC_CLEARANCE_SUBBLOCKS = 2
"""Sub-blocks this close to one within 10 LU of the integrated loudness are not attenuated."""
MAX_CUT_DB = 40.0
SETTLED_DB = 0.5
"""The guard planned again from a new plan is kept when it moves by no more than this."""
MAX_SOLVES = 3
FLOOR_ENERGY = 10.0 ** ((-100.0 + 0.691) / 10.0)
"""-100 LUFS: added to every sub-block's energies, so that digital silence, and a filter's
ringing in it, read as no lift at all."""


def quiet_guard_db(input_energy: np.ndarray, output_energy: np.ndarray) -> np.ndarray:
    """The guard's attenuation per 100 ms sub-block.

    Parameters
    ----------
    input_energy, output_energy : np.ndarray, shape (subblocks,)
        Mean K-weighted power (channel-weighted, ITU-R BS.1770-4) of every sub-block of the
        chain's input and of its output (as planned), aligned from the first sub-block on.
        Where one is longer (a last sub-block that only one of them counts whole), its
        extra sub-blocks are not guarded.

    Returns
    -------
    np.ndarray, shape like ``output_energy``
        dB, at most 0 and at least ``-MAX_CUT_DB``; exactly 0 wherever no quiet passage was
        lifted more than the music plus ``ALLOWANCE_DB``.
    """
    output_energy = np.asarray(output_energy, dtype=np.float64)
    n = min(np.shape(input_energy)[0], output_energy.shape[0])
    guard = np.zeros(output_energy.shape[0])
    guard[:n] = _guard(np.asarray(input_energy, dtype=np.float64)[:n], output_energy[:n])
    return guard


def _guard(input_energy: np.ndarray, output_energy: np.ndarray) -> np.ndarray:
    n = input_energy.shape[0]
    if n == 0:
        return np.zeros(0)
    input_energy, output_energy = input_energy + FLOOR_ENERGY, output_energy + FLOOR_ENERGY
    integrated_lufs = SubBlockEnergies(input_energy, np.ones(n)).integrated_lufs()
    window_in = _centred(input_energy, LEVEL_SUBBLOCKS, np.mean)
    window_out = _centred(output_energy, LEVEL_SUBBLOCKS, np.mean)
    level_lufs = energy_to_lufs(window_in)
    music_level_lufs = integrated_lufs + RELATIVE_GATE_LU
    if not np.any(level_lufs > music_level_lufs):
        return np.zeros(n)
    steady = 2 * round(STEADY_S * 5.0) + 1
    share = quiet_share(integrated_lufs - _centred(level_lufs, steady, np.median))
    loud = energy_to_lufs(input_energy) > music_level_lufs
    share[_centred(loud.astype(np.float64), 2 * MUSIC_CLEARANCE_SUBBLOCKS + 1, np.max) > 0.0] = 0.0
    if not np.any(share > 0.0):
        return np.zeros(n)
    quiet_in = _centred(share * input_energy, steady, np.sum)
    quiet_out = _centred(share * output_energy, steady, np.sum)
    lift_db = 10.0 * np.log10(np.where(quiet_in > 0.0, quiet_out, 1.0) / np.where(quiet_in > 0.0, quiet_in, 1.0))
    window_lift_db = 10.0 * np.log10(window_out / window_in)
    music_lift_db = gain_around_db(np.where(level_lufs > music_level_lufs, window_in, 0.0), window_lift_db)
    cut = np.minimum(share * np.maximum(lift_db - music_lift_db - ALLOWANCE_DB, 0.0), MAX_CUT_DB)
    if not np.any(cut > 0.0):
        return np.zeros(n)
    smoothed = np.convolve(np.pad(cut, (1, 1), mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    return -np.where(smoothed > 1e-9, smoothed, 0.0)


def quiet_share(under_lu: np.ndarray) -> np.ndarray:
    """How far (0-1) a passage ``under_lu`` under the integrated loudness is guarded: 0 down
    to ``QUIET_FROM_LU``, 1 from ``QUIET_LU``, a smoothstep between."""
    u = np.clip((np.asarray(under_lu, dtype=np.float64) - QUIET_FROM_LU) / (QUIET_LU - QUIET_FROM_LU), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def solve_guarded(
    solve: Callable[[Ride | None], T],
    ride: Ride | None,
    input_energy: np.ndarray,
    energy_after: Callable[[np.ndarray], np.ndarray],
    ticks_per_subblock: int,
) -> T:
    """Solve the gain with the guard in it: the plan, and the guard it holds.

    ``solve(ride)`` returns a plan (with ``gain_db`` per control tick) for the ride it is
    given; ``energy_after(gain_db)`` is the output energy per sub-block after a gain per
    tick (the chain's output as planned). The guard is planned from a plan solved without
    it and the gain solved again with it. The loudness solve may then pick another limiter
    character, which changes the music's lift, so the guard is planned again from the new
    plan (its own attenuation taken out) until it moves by less than ``SETTLED_DB``, at
    most ``MAX_SOLVES`` solves in all. A song without quiet passages is solved once, and so
    is one whose guard would take off no more than ``SETTLED_DB``.
    """
    plan = solve(ride)
    guard = None
    for _ in range(MAX_SOLVES - 1):
        again = quiet_guard_db(input_energy, energy_after(_unguarded(plan.gain_db, guard, ticks_per_subblock)))
        if np.max(np.abs(again - (0.0 if guard is None else guard)), initial=0.0) <= SETTLED_DB:
            break
        guard = again
        del plan  # its arrays, several as long as the file, are not held through the next solve
        plan = solve(guarded(ride, guard))
    return plan


def _unguarded(gain_db: np.ndarray, guard_db: np.ndarray | None, ticks_per_subblock: int) -> np.ndarray:
    """A plan's gain per tick without the guard it holds (the chain as the plan has it)."""
    if guard_db is None:
        return gain_db
    unguarded = per_tick(guard_db, ticks_per_subblock, gain_db.shape[0])
    return np.subtract(gain_db, unguarded, out=unguarded)


def guarded(ride: Ride | None, guard_db: np.ndarray) -> Ride | None:
    """The leveler's ride with the guard added (a ride of slope 0 when the leveler is off),
    for the loudness solve; the ride itself when the guard does nothing."""
    if not np.any(guard_db < 0.0):
        return ride
    if ride is None:
        return Ride(0.0, guard_db)
    return Ride(ride.slope, ride.subblock_gain_db + guard_db)


def _centred(values: np.ndarray, length: int, reduce) -> np.ndarray:
    """``reduce`` (np.mean, np.sum, np.median, np.max) over ``length`` (odd) values centred on
    each one; at the ends over those there are (the sum over the window's share of them,
    taken as if the end's neighbours repeated)."""
    half = length // 2
    if reduce is np.sum or reduce is np.mean:
        window = np.ones(length)
        sums = np.convolve(np.pad(values, (half, half)), window, mode="valid")
        counts = np.convolve(np.pad(np.ones_like(values), (half, half)), window, mode="valid")
        return sums / counts if reduce is np.mean else sums * (length / counts)
    padded = np.pad(values, (half, half), mode="edge")
    return reduce(np.lib.stride_tricks.sliding_window_view(padded, length), axis=1)
