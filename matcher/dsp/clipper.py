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
    tanh((|u| - knee) / (ceiling - knee))`` with the sign of ``u`` (linear amplitudes)."""
    magnitude = np.abs(u)
    span = ceiling - knee
    over = magnitude > knee
    out = u.copy()
    bent = knee + span * np.tanh((magnitude[over] - knee) / span)
    out[over] = np.sign(u[over]) * bent
    return out


def frame_matrix(frame_samples: int) -> np.ndarray:
    """Interpolation of one frame: window (frame + 2 half) rows to 4 phases x frame columns,
    phase 0 included (through the filter, so that interpolation and decimation are each
    other's transpose)."""
    from matcher.analysis.truepeak import polyphase_frame_matrix

    bank = polyphase_bank(flat_interpolator(FACTOR, TAPS_PER_PHASE), FACTOR, TAPS_PER_PHASE)
    return polyphase_frame_matrix(bank, frame_samples)


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

    Notes
    -----
    The output lines up with the input and has as many samples; internally it runs
    ``TAPS_PER_PHASE`` samples behind (the decimation spreads each correction half a filter
    to either side).
    """

    def __init__(
        self, ceiling_dbtp: float, tick_samples: int, active: np.ndarray, knee_db: float = KNEE_DB, iterations: int = ITERATIONS
    ):
        self.iterations = iterations
        self.ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        self.knee = self.ceiling * 10.0 ** (-knee_db / 20.0)
        self.aim = self.ceiling * 10.0 ** (-AIM_UNDER_DB / 20.0)
        self.tick_samples = tick_samples
        self.active = np.asarray(active, dtype=bool)
        self._half = TAPS_PER_PHASE // 2
        self._matrix = frame_matrix(tick_samples).astype(np.float32)
        self.clipped_ticks = 0
        self.reset()

    def reset(self) -> None:
        self._pending: np.ndarray | None = None  # from the window start of the next tick on
        # The correction is zero but in the windows of clipped ticks: only those stretches
        # are kept, as (start in _pending, values), in order and apart.
        self._corrections: list[tuple[int, np.ndarray]] = []
        self._out_from = self._half  # the first sample of _pending not yet delivered
        self._first_tick = 0  # the tick whose window starts at _pending[0]
        self._delivered = 0
        self._received = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed a block; return the output ready so far (aligned, float32)."""
        block = np.asarray(block, dtype=np.float32)
        if self._pending is None:
            self._pending = np.zeros((self._half, block.shape[1]), dtype=np.float32)
        self._received += block.shape[0]
        return self._run(block)

    def finish(self) -> np.ndarray:
        """Return the rest of the output."""
        if self._pending is None:
            return np.zeros((0, 0), dtype=np.float32)
        pad = np.zeros((self.tick_samples + 2 * self._half, self._pending.shape[1]), dtype=np.float32)
        return self._run(pad)[: self._received - self._delivered]

    def _run(self, block: np.ndarray) -> np.ndarray:
        """Clip the marked ticks whose windows lie in ``_pending`` followed by ``block``, and
        deliver what no later tick's window reaches.

        Neither the block nor a correction as long as it is copied: most ticks pass through,
        and their output is their input plus a zero correction."""
        step, half = self.tick_samples, self._half
        stream = _Joined(self._pending, block)
        # Tick k's window (its samples and half a filter either side) is stream[k step : k step + step + 2 half].
        ticks = (stream.length - 2 * half) // step
        if ticks <= 0:
            self._pending = np.concatenate([self._pending, block])
            return np.zeros((0, block.shape[1]), dtype=np.float32)
        corrections = self._corrections
        for k in np.flatnonzero(self._marks(self._first_tick, ticks)):
            start, stop = k * step, k * step + step + 2 * half
            if corrections and corrections[-1][0] + corrections[-1][1].shape[0] > start:
                at, values = corrections[-1]  # overlaps the window of an earlier clipped tick
                if at + values.shape[0] < stop:
                    values = np.concatenate([values, np.zeros((stop - at - values.shape[0], values.shape[1]), np.float32)])
                    corrections[-1] = (at, values)
            else:
                at, values = start, np.zeros((stop - start, block.shape[1]), dtype=np.float32)
                corrections.append((at, values))
            window = stream.take(start, stop)
            correction = values[start - at : stop - at]
            clipped = False
            for iteration in range(self.iterations):
                u = (window + correction).T @ self._matrix  # (channels, 4 phases x step)
                # The curve once; then only what the band-limiting brought back over the ceiling.
                if iteration == 0:
                    if float(np.abs(u).max()) <= self.knee:
                        break
                    excess = soft_clip(u, self.ceiling, self.knee) - u
                else:
                    if float(np.abs(u).max()) <= self.ceiling:
                        break
                    excess = np.clip(u, -self.aim, self.aim) - u
                correction += (excess @ self._matrix.T).T / FACTOR
                clipped = True
            self.clipped_ticks += clipped
        # Samples before the next tick's window are final.
        done = ticks * step
        out = stream.plus_zero(self._out_from, done)
        kept: list[tuple[int, np.ndarray]] = []
        for at, values in corrections:
            end = at + values.shape[0]
            low, high = max(at, self._out_from), min(end, done)
            if low < high:
                out[low - self._out_from : high - self._out_from] = stream.take(low, high) + values[low - at : high - at]
            if end > done:
                kept.append((max(at, done) - done, values[max(at, done) - at :]))
        self._corrections = kept
        self._pending = stream.take(done, stream.length).copy()
        self._out_from = 0
        self._first_tick += ticks
        self._delivered += out.shape[0]
        return out

    def _marks(self, first: int, count: int) -> np.ndarray:
        marks = np.zeros(count, dtype=bool)
        end = min(first + count, self.active.shape[0])
        if end > first:
            marks[: end - first] = self.active[first:end]
        return marks


class _Joined:
    """Two arrays of shape (n, channels) read as one, without joining them."""

    def __init__(self, first: np.ndarray, second: np.ndarray):
        self._first, self._second = first, second
        self._split = first.shape[0]
        self.length = first.shape[0] + second.shape[0]

    def take(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (a view where they lie in one of the two)."""
        split = self._split
        if stop <= split:
            return self._first[start:stop]
        if start >= split:
            return self._second[start - split : stop - split]
        return np.concatenate([self._first[start:], self._second[: stop - split]])

    def plus_zero(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` plus a zero correction, a new array: ``x + 0.0`` is ``x``,
        but for ``-0.0``, which becomes ``+0.0``, as a correction's zeros make it."""
        split = self._split
        zero = np.float32(0.0)
        stop = max(stop, start)
        out = np.empty((stop - start, self._first.shape[1]), dtype=np.float32)
        cut = min(max(split - start, 0), stop - start)
        if cut:
            np.add(self._first[start : start + cut], zero, out=out[:cut])
        if cut < stop - start:
            np.add(self._second[start + cut - split : stop - split], zero, out=out[cut:])
        return out
