"""The loudness chain's plan: which stage does how much, within a distortion budget.

A loud target is reached by stages that each do their part cleanly, as the best
maximisers work: the limiter turns the music down slowly (its release never shorter than
``MIN_CLEAN_RELEASE_MS``, so that its gain does not follow a bass waveform), and the
band-limited soft clipper (:mod:`matcher.dsp.clipper`) shaves the tops of the shortest
transients, up to :data:`MAX_CLIP_DB`, where the limiter would otherwise duck everything
with them. The multiband compressor before them gives the sustained density.

Every plan is priced: :func:`distortion_db` estimates, from the control-rate arrays of
pass 1, what the chain adds against a slowly varying gain (the benchmark's measure of
distortion): the limiter's gain moving faster than :data:`SLOW_GAIN_S`, times the signal's
power, plus the energy the clipper takes off. A plan over :data:`DISTORTION_BUDGET_DB`
is not used: the master then stops at the loudest level within the budget, unless the
user forces the target (``--force-loudness``).
"""

from __future__ import annotations

import numpy as np

from matcher.dsp.clipper import KNEE_DB
from matcher.dsp.envelope import dilated, moving_average
from matcher.fitting.settings import DISTORTION_BUDGET_DB  # noqa: F401 - the budget, explained below

MAX_CLIP_DB = 2.0
"""Most the clipper may take off a transient's peak."""
TRANSIENT_CREST_DB = 8.0
"""A tick is a transient's when its true peak stands this far above the signal's RMS over
:data:`TRANSIENT_WINDOW_S` around it (a sine's crest is 3 dB, a dense mix's 8-12 dB over
its kicks and snares, a bare drum hit's 15-20 dB)."""
TRANSIENT_WINDOW_S = 0.05
TRANSIENT_LENGTH_S = 0.004
"""Longest run of ticks the clipper may take in one go: longer overloads are the limiter's."""
SLOW_GAIN_S = 0.05
SLOW_GAIN_CHUNK_TICKS = 1 << 20
"""Longer gain curves (about 12 minutes at 44.1 kHz) have their slow gain made a piece at a time."""
# The budget, DISTORTION_BUDGET_DB (fitting.settings): the most a plan may add.
# In dB of residual energy against the output's (see
# :func:`distortion_db`), on the benchmark's measure: against a gain that may change every
# 50 ms, so that a limiter's ducking counts as well as its distortion. The estimate applies
# the benchmark's own slow gain (least squares per 50 ms frame, linear between the frames'
# centres) to the plan's gain: on stk_valley at -8 LUFS, with three limiter timings, it read
# -16.8, -19.2 and -24.6 dB where the rendered gain measured -16.9, -19.4 and -24.7 dB; a
# synthetic song of drums, bass and pad pushed to -14, -12, -10 and -8 LUFS: -56, -33, -22
# and -18 dB estimated, -47, -36, -25 and -21 dB measured in 20-150 Hz. (A moving average
# as the slow gain read 5 dB low on slow limiter timings.) At -16 dB the clean chain takes
# such a song to -8 LUFS; further means audible pumping. The waveform-following characters,
# which the budget could not tell from ducking at this scale, are left out altogether
# (:data:`~matcher.rendering.renderer.CLEAN_CHARACTERS`).


def transient_allowance(
    peak_db: np.ndarray, power: np.ndarray, tick_rate_hz: float, max_clip_db: float = MAX_CLIP_DB
) -> np.ndarray:
    """How much the clipper may take off at each control tick (dB, 0 or ``max_clip_db``).

    Parameters
    ----------
    peak_db : np.ndarray, shape (ticks,)
        True peak of each tick (dB), before any gain.
    power : np.ndarray, shape (ticks,)
        Mean square of each tick (unweighted, channels summed), before the same gain.
    tick_rate_hz : float

    Returns
    -------
    np.ndarray, shape (ticks,)
        ``max_clip_db`` on ticks whose peak stands :data:`TRANSIENT_CREST_DB` above the
        RMS of :data:`TRANSIENT_WINDOW_S` around them, in runs no longer than
        :data:`TRANSIENT_LENGTH_S`; 0 elsewhere.
    """
    n = peak_db.shape[0]
    if n == 0 or max_clip_db <= 0:
        return np.zeros(n)
    half = max(int(round(TRANSIENT_WINDOW_S * tick_rate_hz / 2)), 1)
    # In place: an hour's ticks (5 M) hold one array of levels besides the result.
    crest = moving_average(np.asarray(power, dtype=np.float64), half, half)
    np.maximum(crest, 1e-20, out=crest)
    np.log10(crest, out=crest)
    crest *= 10.0
    # A peak's level against a mean square: a sine's peak stands 3 dB over its RMS.
    np.subtract(peak_db, crest, out=crest)
    transient = crest >= TRANSIENT_CREST_DB
    del crest
    longest = max(int(round(TRANSIENT_LENGTH_S * tick_rate_hz)), 1)
    return np.where(_runs_at_most(transient, longest), max_clip_db, 0.0)


def _slow_gain(gain: np.ndarray, power: np.ndarray, frame_ticks: int) -> np.ndarray:
    """The gain that best explains ``gain`` in each frame of ``frame_ticks`` (its mean
    weighted by the signal's power, the least-squares gain of the frame), interpolated
    linearly between the frames' centres, at every tick's start: the benchmark's slowly
    varying gain."""
    n = gain.shape[0]
    frames = n // frame_ticks
    if frames < 2:
        weight = float(np.sum(power))
        return np.full(n, float(np.sum(power * gain)) / weight if weight > 0 else 1.0)
    whole = frames * frame_ticks
    weight = power[:whole].reshape(frames, frame_ticks).sum(axis=1)
    # The frames' weighted sums and the interpolation a piece at a time (each frame's sum and
    # each tick's value are their own): an hour's ticks are 5 M.
    weighted = np.empty(frames)
    step = max(SLOW_GAIN_CHUNK_TICKS // frame_ticks, 1)
    for first in range(0, frames, step):
        ticks = slice(first * frame_ticks, min(first + step, frames) * frame_ticks)
        weighted[first : first + step] = (power[ticks] * gain[ticks]).reshape(-1, frame_ticks).sum(axis=1)
    plain = gain[:whole].reshape(frames, frame_ticks).mean(axis=1)
    means = np.where(weight > 0, weighted / np.where(weight > 0, weight, 1.0), plain)
    centres = (np.arange(frames) + 0.5) * frame_ticks
    if n <= SLOW_GAIN_CHUNK_TICKS:  # in one go: no copy of the pieces
        return np.interp(np.arange(n, dtype=np.float64), centres, means)
    slow = np.empty(n)
    for start in range(0, n, SLOW_GAIN_CHUNK_TICKS):
        stop = min(start + SLOW_GAIN_CHUNK_TICKS, n)
        slow[start:stop] = np.interp(np.arange(start, stop, dtype=np.float64), centres, means)
    return slow


def _runs_at_most(mask: np.ndarray, longest: int) -> np.ndarray:
    """The True elements of ``mask`` in runs of True no longer than ``longest``."""
    n = mask.shape[0]
    if n == 0 or not np.any(mask):
        return mask.copy()
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[0::2], edges[1::2]
    too_long = ends - starts > longest
    # Runs are apart by at least one False: a long run's start and end never meet another's.
    inside = np.zeros(n + 1, dtype=np.int8)
    inside[starts[too_long]] = 1
    inside[ends[too_long]] = -1
    np.cumsum(inside, out=inside)
    return mask & (inside[:n] == 0)


class AllowingLimiter:
    """A limiter that lets transients through ``allowance_db`` over its ceiling, for the
    clipper after it to take (the same interface as
    :class:`~matcher.dsp.limiter.TruePeakLimiter`)."""

    def __init__(self, limiter, allowance_db: np.ndarray):
        self.limiter = limiter
        self.allowance_db = allowance_db
        self.release_ms = limiter.release_ms
        self.ceiling_dbtp = limiter.ceiling_dbtp

    def reduction_db(self, peak_db: np.ndarray, gain_db: float) -> np.ndarray:
        return self.limiter.reduction_db(peak_db, gain_db, self.allowance_db)


def clipped_ticks(post_limiter_peak_db: np.ndarray, allowance_db: np.ndarray, ceiling_dbtp: float) -> np.ndarray:
    """The ticks the clipper works on: allowed, and over the ceiling after the limiter (which
    let them by); with a tick on either side (a transient's peak can fall between two
    ticks' interpolations)."""
    return dilated((allowance_db > 0) & (post_limiter_peak_db > ceiling_dbtp), 1, 1)


def distortion_db(
    gain_db: np.ndarray,
    power: np.ndarray,
    tick_rate_hz: float,
    post_limiter_peak_db: np.ndarray | None = None,
    clipping: np.ndarray | None = None,
    ceiling_dbtp: float = 0.0,
    overwrite: bool = False,
) -> float:
    """Estimated residual of a plan against a slowly varying gain (dB re the output).

    Parameters
    ----------
    gain_db : np.ndarray, shape (ticks,)
        The plan's gain (leveler, make-up and limiter).
    power : np.ndarray, shape (ticks,)
        Mean square of each tick before the gain.
    tick_rate_hz : float
    post_limiter_peak_db, clipping : np.ndarray, optional
        The ticks' peaks after the limiter, and where the clipper works.
    ceiling_dbtp : float
    overwrite : bool
        Work in ``gain_db``'s own memory when it is float64 (its values are lost).

    Notes
    -----
    The limiter's part: ``sum P (g - g_slow)^2``, with ``g`` the linear gain and ``g_slow``
    its least-squares fit per :data:`SLOW_GAIN_S` frame, linear between the frames' centres
    (:func:`_slow_gain`): a gain that ripples within a bass period multiplies
    the bass by that ripple. The clipper's: a clipped tick loses at most its samples' share
    above the curve; taken as a quarter of the tick at the peak's excess (a transient's top
    is a few samples), an over-estimate for sharp peaks.
    """
    # In place: an hour's ticks (5 M) hold three arrays at a time, not six.
    power = np.asarray(power, dtype=np.float64)
    gain = np.asarray(gain_db, dtype=np.float64)
    gain = np.divide(gain, 20.0, out=gain if overwrite else None)
    np.power(10.0, gain, out=gain)
    slow = _slow_gain(gain, power, max(int(round(SLOW_GAIN_S * tick_rate_hz)), 1))
    weighted = power * slow
    weighted *= slow
    output = float(np.sum(weighted))
    del weighted
    if output <= 0:
        return -200.0
    # The gain goes linearly from each tick's value to the next one's: the mean square of
    # its deviation over a tick is (a^2 + ab + b^2) / 3 of the deviations a, b at its ends.
    deviation = np.subtract(gain, slow, out=gain)
    del slow
    following = np.append(deviation[1:], deviation[-1:])
    squares = deviation * deviation
    squares += np.multiply(deviation, following, out=deviation)
    squares += np.multiply(following, following, out=following)
    del deviation, following
    np.multiply(power, squares, out=squares)
    residual = float(np.sum(squares)) / 3.0
    del squares
    if clipping is not None and post_limiter_peak_db is not None and np.any(clipping):
        from matcher.dsp.clipper import soft_clip

        ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        knee = ceiling * 10.0 ** (-KNEE_DB / 20.0)
        peak = 10.0 ** (post_limiter_peak_db[clipping] / 20.0)
        taken = peak - soft_clip(peak, ceiling, knee)
        # The tick's mean square is ``power``; its peak sample's square is peak^2.
        residual += float(np.sum(0.25 * taken**2))
    return float(10.0 * np.log10(max(residual, 1e-30) / output))
