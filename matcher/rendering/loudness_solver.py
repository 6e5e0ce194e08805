"""Find the make-up gain that brings the limited output exactly to the loudness target."""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, NamedTuple, Sequence

import numpy as np

from matcher.analysis.loudness import SubBlockEnergies
from matcher.concurrency import overlapping
from matcher.dsp.limiter import TruePeakLimiter

TOLERANCE_LU = 0.002
MAX_EXTRA_GAIN_DB = 24.0
"""Most the fastest limiter may be driven beyond the unlimited make-up gain."""
MAX_DRIVE_DB = 3.0
"""Most a limiter other than the fastest may be driven beyond the unlimited make-up gain.

Driven harder, a slow limiter holds its reduction between peaks and becomes a compressor:
on dense rock and electronic music it halved the loudness range of the recovery cases and
doubled their distance to the original. A faster character, shaving only the peaks, keeps
the music's dynamics; its extra distortion on sustained bass measured 1 dB in harmonic
level at 6 dB of push."""
MAX_ITERATIONS = 40
LOUDNESS_CHUNK_TICKS = 1 << 18
PARALLEL_TICKS_LIMIT = 1 << 21
"""Up to this many control ticks (about 24 minutes at 44.1 kHz) two limiter evaluations run
at a time; an evaluation of an hour's 5 M ticks holds about 85 MB while it runs (two arrays
of its length besides its inputs; 250 MB before the limiter's planning was made in place)."""
SATURATION_HEADROOM_LU = 0.1
DRIVE_STEP_DB = 1.5
MIN_LU_PER_DRIVE_DB = 0.05
"""The fastest limiter is driven only while each dB of drive still adds this much loudness.

Past that point the limiter squashes everything for almost nothing: against a clipped
reference at -4.3 LUFS, the last 15 dB of the 24 dB allowed added 0.03 LU to a death-metal
mix and took its mean gain reduction from 10 to 25 dB. Such a target counts as out of reach."""


def output_loudness_lufs(
    power: np.ndarray, ticks_per_subblock: int, gain_db: np.ndarray | float, reduction_db: np.ndarray | None = None
) -> float:
    """Integrated loudness of the signal whose K-weighted tick energies are ``power``,
    after a gain (dB per tick, linearly interpolated in amplitude between ticks).

    With ``reduction_db`` (per tick) the gain is ``gain_db - reduction_db`` (``gain_db`` a
    number or per tick), made a piece at a time rather than as a whole array.
    """
    gain_db = np.asarray(gain_db)
    ticks = (reduction_db if reduction_db is not None else gain_db).shape[0]

    def gain_between(start: int, stop: int) -> np.ndarray:
        if reduction_db is None:
            return gain_db[start:stop]
        return (gain_db if gain_db.ndim == 0 else gain_db[start:stop]) - reduction_db[start:stop]

    subblocks = power.shape[0] // ticks_per_subblock
    sums = np.empty(subblocks)
    # In pieces of whole sub-blocks: an hour is 5 M ticks, and the gain's arrays would be
    # five of them at a time.
    step = max(LOUDNESS_CHUNK_TICKS // ticks_per_subblock, 1) * ticks_per_subblock
    for start in range(0, subblocks * ticks_per_subblock, step):
        stop = min(start + step, subblocks * ticks_per_subblock)
        g = 10.0 ** (gain_between(start, min(stop + 1, ticks)) / 20.0)
        g_next = g[1:] if g.shape[0] > stop - start else np.append(g[1:], g[-1:])
        g = g[: stop - start]
        mean_square_gain = (g * g + g * g_next + g_next * g_next) / 3.0
        weighted = power[start:stop] * mean_square_gain
        sums[start // ticks_per_subblock : stop // ticks_per_subblock] = weighted.reshape(-1, ticks_per_subblock).sum(axis=1)
    return SubBlockEnergies(sums, np.full(subblocks, float(ticks_per_subblock))).integrated_lufs()


class Solution(NamedTuple):
    """The solved make-up gain, for one limiter of those offered."""

    limiter_index: int
    gain_db: float
    reduction_db: np.ndarray
    predicted_lufs: float


def solve_gain(
    peak_db: np.ndarray,
    power: np.ndarray,
    ticks_per_subblock: int,
    limiters: Sequence[TruePeakLimiter],
    target_lufs: float,
) -> Solution:
    """Make-up gain such that the limited output's integrated loudness equals the target.

    The limiters are tried in order (gentlest first); the first that reaches the target
    without being driven more than MAX_DRIVE_DB past the unlimited make-up gain is used.
    The last (fastest) may be driven up to MAX_EXTRA_GAIN_DB, but only while the drive still
    adds loudness (MIN_LU_PER_DRIVE_DB). If none reaches the target, the loudest result is
    returned.

    Parameters
    ----------
    peak_db : np.ndarray, shape (ticks,)
        True-peak level of each control tick before the gain.
    power : np.ndarray, shape (ticks,)
        K-weighted energy (per sample, channel-weighted) of each tick, per tick sample count.
    ticks_per_subblock : int
        Ticks in 100 ms.
    limiters : sequence of TruePeakLimiter
    target_lufs : float

    Returns
    -------
    Solution
        The limiter used, the make-up gain before it, its reduction per tick, and the
        loudness of the output as predicted (the target, unless out of reach).
    """
    if not limiters:
        raise ValueError("solve_gain needs at least one limiter")
    # Past PARALLEL_TICKS_LIMIT the search keeps its solutions' reductions in float32 (each is
    # as long as the file) and the one it returns is evaluated again, exactly.
    compact = power.shape[0] > PARALLEL_TICKS_LIMIT
    solution = _search(peak_db, power, ticks_per_subblock, limiters, target_lufs, compact)
    if compact:
        exact = limiters[solution.limiter_index].reduction_db(peak_db, solution.gain_db)
        solution = solution._replace(reduction_db=exact)
    return solution


def _search(
    peak_db: np.ndarray,
    power: np.ndarray,
    ticks_per_subblock: int,
    limiters: Sequence[TruePeakLimiter],
    target_lufs: float,
    compact: bool,
) -> Solution:
    """The search of :func:`solve_gain`."""
    base_lufs = output_loudness_lufs(power, ticks_per_subblock, np.zeros(power.shape[0]))
    # The limiter only lowers loudness, and more gain never makes the output quieter: the
    # answer lies between the unlimited gain and a cap above it (MAX_DRIVE_DB for all but
    # the fastest limiter, which may go to MAX_EXTRA_GAIN_DB while the drive still adds
    # loudness). Past that the target is out of reach under this ceiling.
    lo = target_lufs - base_lufs
    loudest: Solution | None = None
    *slower, fastest = limiters

    def at(index: int, gain_db: float) -> Solution:
        return _limited(peak_db, power, ticks_per_subblock, limiters[index], index, gain_db, compact)

    # The evaluations the search needs are known in advance until one limiter reaches the
    # target: every slower limiter at its cap, in order. They run two at a time (numpy
    # releases the GIL), in the order they are needed; what a limiter that reaches leaves
    # unread is work done on an otherwise idle core. Past PARALLEL_TICKS_LIMIT they run one
    # at a time: each evaluation holds a few arrays of the file's length.
    workers = 1 if compact or not overlapping() else 2
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="automaster-solver") as pool:
        first_low = pool.submit(at, 0, lo) if slower else None
        highs = [pool.submit(at, index, lo + MAX_DRIVE_DB) for index in range(len(slower))]
        try:
            for index, pending in enumerate(highs):
                if index == 0:  # moderate targets often need no limiting at all
                    low = first_low.result()
                    if abs(low.predicted_lufs - target_lufs) <= TOLERANCE_LU:
                        return low
                high = pending.result()
                highs[index] = None  # a solution not kept is freed: they are as long as the file
                if high.predicted_lufs < target_lufs:
                    if loudest is None or high.predicted_lufs > loudest.predicted_lufs:
                        loudest = high
                    continue
                if index > 0:
                    low = at(index, lo)
                return _bracketed_root(functools.partial(at, index), low, high, target_lufs, pool)
        finally:
            for pending in highs:
                if pending is not None:
                    pending.cancel()
        solution = _solve_or_stop(functools.partial(at, len(slower)), lo, lo + MAX_EXTRA_GAIN_DB, target_lufs, pool)
    if solution.predicted_lufs >= target_lufs - TOLERANCE_LU or loudest is None:
        return solution
    return max(solution, loudest, key=lambda s: s.predicted_lufs)


def _solve_or_stop(
    loudness: Callable[[float], Solution],
    lo: float,
    cap: float,
    target_lufs: float,
    pool: ThreadPoolExecutor | None = None,
) -> Solution:
    """Drive up from ``lo`` in DRIVE_STEP_DB steps: solve exactly once the target is passed;
    stop where a step adds less than MIN_LU_PER_DRIVE_DB per dB, or at ``cap``."""
    low = loudness(lo)
    if low.predicted_lufs >= target_lufs:
        return low
    while low.gain_db < cap:
        step = min(DRIVE_STEP_DB, cap - low.gain_db)
        high = loudness(low.gain_db + step)
        if high.predicted_lufs >= target_lufs:
            return _bracketed_root(loudness, low, high, target_lufs, pool)
        if high.predicted_lufs - low.predicted_lufs < MIN_LU_PER_DRIVE_DB * step:
            return low
        low = high
    return low


def _limited(
    peak_db: np.ndarray,
    power: np.ndarray,
    ticks_per_subblock: int,
    limiter: TruePeakLimiter,
    index: int,
    gain_db: float,
    compact: bool = False,
) -> Solution:
    """The limiter's reduction at a make-up gain (float32 if ``compact``), and the loudness
    it leaves."""
    reduction = limiter.reduction_db(peak_db, gain_db)
    lufs = output_loudness_lufs(power, ticks_per_subblock, gain_db, reduction)
    return Solution(index, gain_db, reduction.astype(np.float32) if compact else reduction, lufs)


def _bracketed_root(
    loudness: Callable[[float], Solution],
    low: Solution,
    high: Solution,
    target_lufs: float,
    pool: ThreadPoolExecutor | None = None,
) -> Solution:
    """Safeguarded secant search between a low and a high solution.

    Loudness rises with the gain ever more slowly as the limiter works harder, roughly as
    ``L_top - A exp(-gain / tau)``. The secant steps therefore run on
    ``-log(L_top - L)``, which that model makes a straight line in the gain, with
    ``L_top`` just above the loudness at the top of the bracket. The first step is the
    lower bound ``lo + shortfall`` (loudness never rises faster than the gain); a step
    that leaves the bracket falls back to regula falsi between its ends. With a ``pool``,
    each round also evaluates the regula falsi point beside the step, and the next secant
    runs through the two: fewer rounds, on two cores.
    """
    top = high.predicted_lufs + SATURATION_HEADROOM_LU

    def straightened(lufs: float) -> float:
        return -math.log(top - lufs)

    goal = straightened(target_lufs)
    a, f_a = low.gain_db, straightened(low.predicted_lufs) - goal
    b, f_b = high.gain_db, straightened(high.predicted_lufs) - goal
    best = min(low, high, key=lambda s: abs(s.predicted_lufs - target_lufs))
    previous = (a, f_a)
    gain = a + (target_lufs - low.predicted_lufs)  # slope <= 1: the root is at least this far up
    for _ in range(MAX_ITERATIONS):
        falsi = (a * f_b - b * f_a) / (f_b - f_a)
        if not a < gain < b:
            gain = falsi
        gains = [gain]
        if pool is not None and a < falsi < b and abs(falsi - gain) > 1e-6:
            gains.append(falsi)
        trials = list(pool.map(loudness, gains)) if len(gains) > 1 else [loudness(gain)]
        points = []
        for point_gain, trial in zip(gains, trials):
            if abs(trial.predicted_lufs - target_lufs) < abs(best.predicted_lufs - target_lufs):
                best = trial
            f = straightened(trial.predicted_lufs) - goal
            points.append((point_gain, f))
        if abs(best.predicted_lufs - target_lufs) <= TOLERANCE_LU or b - a < 1e-6:
            break
        for point_gain, f in points:
            if f < 0:
                a, f_a = max(a, point_gain), f if point_gain >= a else f_a
            else:
                b, f_b = min(b, point_gain), f if point_gain <= b else f_b
        (g0, f0), (g1, f1) = points if len(points) == 2 else (previous, points[0])
        previous = points[-1]
        gain = g1 - f1 * (g1 - g0) / (f1 - f0) if f1 != f0 else math.nan
    return best
