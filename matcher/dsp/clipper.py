"""An oversampled, band-limited soft clipper for the shortest transients.

A maximiser spreads its work over stages that each do their part cleanly: the limiter turns
the music down slowly, and a clipper shaves the tops of the fastest transients (a kick's
first cycle, a snare's crack), a dB or two, where a limiter would have to duck everything
with them. Clipping at the sample rate folds its harmonics back into the audio band and
hides peaks between the samples; this one works on the signal interpolated 4x, and puts
back only the band-limited part of what it removed:

    y = x + (1/L) U^T (f(U x) - U x)

with ``U`` the 4x interpolation (the flat least-squares prototype of
:func:`~matcher.dsp.filters.flat_interpolator`), ``f`` the soft curve and ``U^T / L`` the
matching decimation (the prototype is symmetric: decimating through it is the transpose of
interpolating). Where no 4x sample passes the knee, ``f(U x) = U x`` and the output is the
input exactly: the clipper adds nothing at all to music below it. Only the control ticks a
plan marks are oversampled; the rest pass straight through.

A clipper driven over the whole of a loud master (the slow chain of
:mod:`matcher.rendering.chain`) takes the tops of bass waves, whose corners are mostly high
harmonics: put back whole, they land where a pad or a voice is quiet (on a pad under a kick,
products at -14 dB in 1.5-8 kHz). Its correction can therefore be band-limited further
(``band_limit_hz``): decimated through a low-pass of that pass band instead of the
interpolator itself, so that what it takes off a bass wave stays in the bass's own region.
A top of high frequencies it cannot take whole is left to the limiter after the take's
measurement.

The curve is linear up to the knee, ``knee_db`` under the ceiling, then bends smoothly
(``tanh``) toward the ceiling, which it approaches but never reaches. Band-limiting what it
removed can leave the output a little over the ceiling (the removed peak's ringing); the
limiter after the take's measurement takes care of that.
"""

from __future__ import annotations

import numpy as np

from matcher.dsp.filters import flat_interpolator, polyphase_bank

FACTOR = 4
TAPS_PER_PHASE = 64
KNEE_DB = 3.0
ITERATIONS = 4
AIM_UNDER_DB = 1.0
"""The passes after the first clip what came back over the ceiling to this far under it:
band-limiting returns part of every cut, so aiming at the ceiling itself converges slowly."""
"""Clip, band-limit, clip what the band-limiting brought back, ...: a sharp transient's top
is mostly high frequencies, which the band-limiting removes from what was taken off, so one
pass leaves it about 1 dB over; each pass takes most of what is left."""


def soft_clip(u: np.ndarray, ceiling: float, knee: float) -> np.ndarray:
    """The clipper's curve: ``u`` unchanged up to ``knee``, then ``knee + (ceiling - knee)
    tanh((|u| - knee) / (ceiling - knee))`` with the sign of ``u`` (linear amplitudes).

    The bend is computed over the whole array (where ``u`` is under the knee it bends
    nothing, and is not used), not on copies picked out by a mask: a loud master's clipper
    bends millions of samples, and a contiguous tanh runs vectorised."""
    u = np.asarray(u)
    span = ceiling - knee
    excess = np.abs(u)
    excess -= knee
    over = excess > 0
    np.maximum(excess, 0.0, out=excess)
    excess /= span
    bent = np.tanh(excess, out=excess)
    bent *= span
    bent += knee
    return np.where(over, np.copysign(bent, u), u)


BAND_STOP_RATIO = 1.6
"""A band-limited correction's stop band begins this far above its pass band's edge."""


def frame_matrix(frame_samples: int, passband: float | None = None) -> np.ndarray:
    """Interpolation of one frame: window (frame + 2 half) rows to 4 phases x frame columns,
    phase 0 included (through the filter, so that interpolation and decimation are each
    other's transpose). ``passband`` (a fraction of Nyquist): a low-pass of that pass band
    instead of the interpolator, for a band-limited decimation."""
    from matcher.analysis.truepeak import polyphase_frame_matrix

    if passband is None:
        prototype = flat_interpolator(FACTOR, TAPS_PER_PHASE)
    else:
        prototype = flat_interpolator(FACTOR, TAPS_PER_PHASE, passband, min(BAND_STOP_RATIO * passband, 1.0))
    bank = polyphase_bank(prototype, FACTOR, TAPS_PER_PHASE)
    return polyphase_frame_matrix(bank, frame_samples)


SUPERBLOCK_TICKS = 1024
"""The clipper works on the marked ticks of this many control ticks at a time, all at once
(see :class:`TransientClipper`); superblocks start at multiples of it, so the output does
not depend on how the stream is cut into blocks."""


class TransientClipper:
    """Soft-clips the marked control ticks of a stream of blocks of shape (n, channels),
    linked across channels (the same curve applies to each; a transient in one does not
    move the other).

    Parameters
    ----------
    ceiling_dbtp : float
        What the curve approaches.
    tick_samples : int
        Samples per control tick.
    active : np.ndarray of bool, shape (ticks,)
        The ticks to clip; ticks past its end pass through.
    knee_db : float
        Where the curve starts bending, under the ceiling.
    band_limit_hz : float, optional
        Keep the correction below this frequency (needs ``sample_rate_hz``) in all passes
        but the last; None: below the interpolator's own edge, 96 % of Nyquist.

    Notes
    -----
    The output lines up with the input and has as many samples; internally it runs up to a
    superblock (:data:`SUPERBLOCK_TICKS`) behind. Within a superblock every marked tick is
    clipped at once, each pass on the signal with the corrections of the pass before (a
    tick's 4x samples are its own; what the decimation spreads half a filter either side
    adds up): ``y = x + (1/L) U^T (f(U x) - U x)`` over the superblock's marked ticks. A
    superblock sees the corrections of the ones before it.
    """

    def __init__(
        self,
        ceiling_dbtp: float,
        tick_samples: int,
        active: np.ndarray,
        knee_db: float = KNEE_DB,
        iterations: int = ITERATIONS,
        band_limit_hz: float | None = None,
        sample_rate_hz: float | None = None,
    ):
        self.iterations = iterations
        self.ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        self.knee = self.ceiling * 10.0 ** (-knee_db / 20.0)
        self.aim = self.ceiling * 10.0 ** (-AIM_UNDER_DB / 20.0)
        self.tick_samples = tick_samples
        self.active = np.asarray(active, dtype=bool)
        self._half = TAPS_PER_PHASE // 2
        self._window = tick_samples + 2 * self._half
        # Ticks this many apart have windows that do not overlap: their corrections are
        # added in one indexed step.
        self._groups = -(-self._window // tick_samples)
        self._matrix = frame_matrix(tick_samples).astype(np.float32)
        self._down = self._matrix
        if band_limit_hz is not None:
            if sample_rate_hz is None:
                raise ValueError("a band-limited clipper needs the sample rate")
            passband = 2.0 * band_limit_hz / sample_rate_hz
            if passband < 1.0 / BAND_STOP_RATIO:
                self._down = frame_matrix(tick_samples, passband).astype(np.float32)
        self.clipped_ticks = 0
        self.reset()

    def reset(self) -> None:
        # The stream padded with half a filter of zeros in front: tick k's window (its
        # samples and half a filter either side) is padded[k step : k step + window].
        self._buffer: np.ndarray | None = None  # padded[_origin:]
        self._correction: np.ndarray | None = None  # what is added to it
        self._origin = 0
        self._next_tick = 0  # the first tick not clipped yet
        self._delivered = 0
        self._received = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed a block; return the output ready so far (aligned, float32)."""
        block = np.asarray(block, dtype=np.float32)
        if self._buffer is None:
            self._buffer = np.zeros((self._half, block.shape[1]), dtype=np.float32)
            self._correction = np.zeros_like(self._buffer)
        self._received += block.shape[0]
        self._append(block)
        return self._run(final=False)

    def finish(self) -> np.ndarray:
        """Return the rest of the output."""
        if self._buffer is None:
            return np.zeros((0, 0), dtype=np.float32)
        pad = (self._groups + 1) * self.tick_samples + 2 * self._half
        self._append(np.zeros((pad, self._buffer.shape[1]), dtype=np.float32))
        return self._run(final=True)[: self._received - self._delivered]

    def _append(self, block: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, block])
        self._correction = np.concatenate([self._correction, np.zeros_like(block)])

    def _run(self, final: bool) -> np.ndarray:
        """Clip every superblock whose ticks' windows the buffer holds (at the end, the last
        ticks too), and deliver what no later tick's window reaches."""
        step = self.tick_samples
        end = self._origin + self._buffer.shape[0]
        available = (end - self._groups * step) // step + 1  # ticks whose windows' rows are all here
        while self._next_tick < available:
            first = self._next_tick
            last = (first // SUPERBLOCK_TICKS + 1) * SUPERBLOCK_TICKS
            if last > available:
                if not final:
                    break
                last = available
            self._clip(first, last)
            self._next_tick = last
        # Padded samples before the next tick's window are final; output sample i is padded
        # sample i + half.
        done = max(self._next_tick * step - self._origin, 0)
        start = self._delivered + self._half - self._origin
        out = self._buffer[start:done] + self._correction[start:done]
        self._delivered += out.shape[0]
        self._buffer = self._buffer[done:]
        self._correction = self._correction[done:]
        self._origin += done
        return out

    def _clip(self, first: int, last: int) -> None:
        """All passes of the clipper on the marked ticks from ``first`` to ``last``.

        The buffer starts on a tick (``_origin`` is a multiple of the tick): read as rows of
        a tick's samples, a window is ``_groups`` whole rows from its tick on, and what a
        pass adds to it is added a row of ticks at a time, each tick's row its own."""
        marks = np.zeros(last - first, dtype=bool)
        known = min(last, self.active.shape[0])
        if known > first:
            marks[: known - first] = self.active[first:known]
        ticks = first + np.flatnonzero(marks)
        if ticks.size == 0:
            return
        step, groups, window_length = self.tick_samples, self._groups, self._window
        channels = self._buffer.shape[1]
        whole = (self._buffer.shape[0] // step) * step
        signal_rows = self._buffer[:whole].reshape(-1, step, channels)
        correction_rows = self._correction[:whole].reshape(-1, step, channels)  # a view: added to in place
        rows = (ticks - self._origin // step)[:, None] + np.arange(groups)[None, :]
        signal = signal_rows[rows].reshape(ticks.size, groups * step, channels)[:, :window_length]
        working = np.arange(ticks.size)
        clipped = np.zeros(ticks.size, dtype=bool)
        for iteration in range(self.iterations):
            taken = correction_rows[rows[working]].reshape(working.size, groups * step, channels)
            window = signal[working] + taken[:, :window_length]
            flat = window.transpose(0, 2, 1).reshape(-1, window_length)
            u = (flat @ self._matrix).reshape(working.size, channels, -1)
            peak = np.abs(u).max(axis=(1, 2))
            # The curve once; then only what the band-limiting brought back over the ceiling.
            over = peak > (self.knee if iteration == 0 else self.ceiling)
            if not np.any(over):
                break
            working, u = working[over], u[over]
            if iteration == 0:
                excess = soft_clip(u, self.ceiling, self.knee) - u
            else:
                excess = np.clip(u, -self.aim, self.aim) - u
            down = self._matrix if iteration == self.iterations - 1 else self._down
            change = np.zeros((working.size, groups * step, channels), dtype=np.float32)
            product = (excess.reshape(-1, excess.shape[2]) @ down.T) / FACTOR
            change[:, :window_length] = product.reshape(working.size, channels, window_length).transpose(0, 2, 1)
            change = change.reshape(working.size, groups, step, channels)
            clipped[working] = True
            for row in range(groups):  # the ticks' rows are distinct within one row offset
                correction_rows[rows[working, row]] += change[:, row]
        self.clipped_ticks += int(np.count_nonzero(clipped))
