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
        self._correction: np.ndarray | None = None
        self._out_from = self._half  # the first sample of _pending not yet delivered
        self._first_tick = 0  # the tick whose window starts at _pending[0]
        self._delivered = 0
        self._received = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed a block; return the output ready so far (aligned, float32)."""
        block = np.asarray(block, dtype=np.float32)
        if self._pending is None:
            self._pending = np.zeros((self._half, block.shape[1]), dtype=np.float32)
            self._correction = np.zeros_like(self._pending)
        self._received += block.shape[0]
        self._pending = np.concatenate([self._pending, block])
        self._correction = np.concatenate([self._correction, np.zeros_like(block)])
        return self._run()

    def finish(self) -> np.ndarray:
        """Return the rest of the output."""
        if self._pending is None:
            return np.zeros((0, 0), dtype=np.float32)
        pad = np.zeros((self.tick_samples + 2 * self._half, self._pending.shape[1]), dtype=np.float32)
        self._pending = np.concatenate([self._pending, pad])
        self._correction = np.concatenate([self._correction, np.zeros_like(pad)])
        return self._run()[: self._received - self._delivered]

    def _run(self) -> np.ndarray:
        step, half = self.tick_samples, self._half
        # Tick k's window (its samples and half a filter either side) is _pending[k step : k step + step + 2 half].
        ticks = (self._pending.shape[0] - 2 * half) // step
        if ticks <= 0:
            return np.zeros((0, self._pending.shape[1]), dtype=np.float32)
        for k in np.flatnonzero(self._marks(self._first_tick, ticks)):
            span = slice(k * step, k * step + step + 2 * half)
            clipped = False
            for iteration in range(self.iterations):
                u = (self._pending[span] + self._correction[span]).T @ self._matrix  # (channels, 4 phases x step)
                # The curve once; then only what the band-limiting brought back over the ceiling.
                if iteration == 0:
                    if float(np.abs(u).max()) <= self.knee:
                        break
                    excess = soft_clip(u, self.ceiling, self.knee) - u
                else:
                    if float(np.abs(u).max()) <= self.ceiling:
                        break
                    excess = np.clip(u, -self.aim, self.aim) - u
                self._correction[span] += (excess @ self._matrix.T).T / FACTOR
                clipped = True
            self.clipped_ticks += clipped
        # Samples before the next tick's window are final.
        done = ticks * step
        out = self._pending[self._out_from : done] + self._correction[self._out_from : done]
        self._pending = self._pending[done:]
        self._correction = self._correction[done:]
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
