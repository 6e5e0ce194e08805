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

A rough plan (estimated above :data:`ROUGH_DB`, or short of its target) is priced beside
the *slow chain*: a limiter too slow to follow any bass wave (50 ms lookahead and hold,
150 ms release) and the clipper on every peak, up to :data:`SLOW_CLIP_DB`, its correction
kept below :data:`SLOW_CLIP_BAND_HZ`. Its gain adds next to nothing, its clipper does the
work, and a clipper's products depend on what they land on: the slow chain is taken only
when it is as loud, cleaner on the estimate, ducks what lies between the hits no more
(:func:`ducking_db`), and, band by band (:class:`BandEnergies`, the clipper run on pass
1's kept signal), is nowhere much rougher than the characters' plan
(:meth:`~matcher.rendering.renderer.Renderer._slower`). On three loud corpus tracks at -8
and -7 LUFS its 20-150 Hz residual measured 8-15 dB under the characters' (bench_quality); a pad under a kick, a drum loop
whose pad the kick's clipping modulates, and a bass line over thin material keep the
characters.
"""

from __future__ import annotations

import numpy as np

from matcher.dsp.clipper import KNEE_DB
from matcher.dsp.envelope import dilated, moving_average, sliding_max
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
SLOW_CLIP_DB = 3.0
"""Most the slow chain's clipper may take off any peak (not only a transient's)."""
SLOW_CLIP_BAND_HZ = 5000.0
"""The slow chain's clipper keeps its correction below this (see :mod:`matcher.dsp.clipper`):
on four loud corpus tracks its products above 8 kHz went from -15..-19 dB (the whole band)
to -28..-38 dB, those in 1.5-8 kHz 0.7-2.1 dB higher (the band price watches those)."""
ROUGH_DB = -24.0
"""A plan estimated above this (dB, :func:`distortion_db`) is rough enough for the slow chain
to be priced beside it."""
SLOW_CLEANER_DB = 3.0
"""The slow chain is taken when it is this much cleaner, as loud, and ducks no more."""
DUCKING_WINDOW_S = 1.0
QUIET_UNDER_DB = 6.0
DUCKING_PERCENTILE = 90.0
DUCKING_SLACK_DB = 0.25
DUCKING_SLACK_RATIO = 0.2
"""The slow chain may duck :data:`DUCKING_SLACK_DB`, or this share of what the characters'
plan ducks, more than that plan: a dB more on top of 6 dB of ducking (stk_valley at -7 LUFS,
7.1 against 6.2 dB, for 7 dB less bass distortion) is not the dB more on top of 0.3 dB of
a pad under a kick (1.4 against 0.3 dB)."""
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


def ducking_db(gain_db: np.ndarray, power: np.ndarray, tick_rate_hz: float) -> float:
    """How far a gain curve ducks what is quiet around loud hits: pumping (dB).

    The ticks :data:`QUIET_UNDER_DB` under the mean power of the :data:`DUCKING_WINDOW_S`
    around them (the pad between two kicks, the room between two chords) are compared with
    the highest gain within that window: the :data:`DUCKING_PERCENTILE` th percentile of
    the difference. A gain that only turns the hits down, or turns everything down alike,
    ducks nothing; one that holds its reduction past the hit into what follows does. On
    the benchmark's pad under a 120 BPM kick 4 dB into the ceiling: today's chain 0.3 dB,
    the slow chain 1.4 dB (its pad dips 12.9 dB against 6.1); on four loud corpus tracks
    the slow chain ducks less than today's (5.9 against 6.2 dB, 0.2-1.5 against 3.9-5.2).

    Parameters
    ----------
    gain_db, power : np.ndarray, shape (ticks,)
        The plan's gain, and each tick's mean square before it.
    tick_rate_hz : float
    """
    n = gain_db.shape[0]
    half = max(int(round(DUCKING_WINDOW_S * tick_rate_hz / 2)), 1)
    if n == 0:
        return 0.0
    power = np.asarray(power, dtype=np.float64)
    around = moving_average(power, half, half)
    quiet = power < around * 10.0 ** (-QUIET_UNDER_DB / 10.0)
    quiet &= power > 0
    if not np.any(quiet):
        return 0.0
    del around
    highest = sliding_max(np.asarray(gain_db, dtype=np.float64), before=half, after=half)
    ducked = highest[quiet] - gain_db[quiet]
    return float(np.percentile(ducked, DUCKING_PERCENTILE))


PRICE_BANDS_HZ = (20.0, 150.0, 1500.0, 8000.0, 16000.0)
"""Edges of the bands a clipping plan is priced in (the benchmark's bass band, the low mids,
the presence region, the air)."""
BAND_ROUGHER_DB = 2.0
"""The slow chain may be this much rougher than the characters' plan in one band (for
being far cleaner in the others): on three loud corpus tracks it measured 0.5-1.9 dB over
the characters' residual in 1.5-8 kHz, 2.5-11 dB under it below 1.5 kHz."""
PRICE_FRAME = 8192


class BandEnergies:
    """Energy of a stream of blocks (n, channels) in bands, from Hann-windowed frames of
    :data:`PRICE_FRAME` samples end to end (a frame of zeros is not transformed: a clipper's
    correction is zero but around what it took).

    Parameters
    ----------
    sample_rate_hz : float
    edges_hz : sequence of float
        Band edges, rising; energy outside them is not counted.
    """

    def __init__(self, sample_rate_hz: float, edges_hz):
        freqs = np.fft.rfftfreq(PRICE_FRAME, 1.0 / sample_rate_hz)
        self._bands = len(edges_hz) - 1
        band = np.searchsorted(np.asarray(edges_hz, dtype=np.float64), freqs, side="right") - 1
        self._band = np.where((band >= 0) & (band < self._bands), band, self._bands)
        self._window = np.hanning(PRICE_FRAME)[:, None]
        self._pending: list[np.ndarray] = []
        self._held = 0
        self._sums = np.zeros(self._bands + 1)

    def process(self, block: np.ndarray) -> None:
        self._pending.append(np.asarray(block))
        self._held += block.shape[0]
        if self._held < PRICE_FRAME:
            return
        joined = np.concatenate(self._pending)
        whole = (joined.shape[0] // PRICE_FRAME) * PRICE_FRAME
        for start in range(0, whole, PRICE_FRAME):
            self._add(joined[start : start + PRICE_FRAME])
        rest = joined[whole:]
        self._pending, self._held = ([rest] if rest.shape[0] else []), rest.shape[0]

    def _add(self, frame: np.ndarray) -> None:
        if not np.any(frame):
            return
        spectrum = np.fft.rfft(frame * self._window, axis=0)
        power = np.sum(spectrum.real**2 + spectrum.imag**2, axis=1)
        self._sums += np.bincount(self._band, weights=power, minlength=self._bands + 1)

    def result(self) -> np.ndarray:
        """Energy per band (the last frame completed with zeros)."""
        if self._held:
            joined = np.concatenate(self._pending)
            frame = np.zeros((PRICE_FRAME, joined.shape[1]))
            frame[: joined.shape[0]] = joined
            self._add(frame)
            self._pending, self._held = [], 0
        return self._sums[: self._bands].copy()


class PeakNormaliser:
    """No limiter: one reduction for the whole file, what brings its highest peak under the
    ceiling (the interface of :class:`~matcher.dsp.limiter.TruePeakLimiter`). A master made
    with it is its input times a gain: no distortion, and no loudness past the point where the
    peaks meet the ceiling."""

    release_ms = 0.0

    def __init__(self, ceiling_dbtp: float):
        self.ceiling_dbtp = ceiling_dbtp

    def reduction_db(self, peak_db: np.ndarray, gain_db: float, allowance_db: np.ndarray | None = None) -> np.ndarray:
        peak = float(np.max(peak_db)) if peak_db.size else -np.inf
        return np.full(peak_db.shape[0], max(peak + gain_db - self.ceiling_dbtp, 0.0))


class AllowingLimiter:
    """A limiter that lets transients through ``allowance_db`` over its ceiling, for the
    clipper after it to take (the same interface as
    :class:`~matcher.dsp.limiter.TruePeakLimiter`); ``clip_band_hz``: the clipper keeps its
    correction below this (None: the whole band)."""

    def __init__(self, limiter, allowance_db: np.ndarray, clip_band_hz: float | None = None):
        self.limiter = limiter
        self.allowance_db = allowance_db
        self.clip_band_hz = clip_band_hz
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
