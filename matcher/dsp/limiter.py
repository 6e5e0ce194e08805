"""A lookahead true-peak limiter, planned over the whole file at control rate.

The limiter sees the true-peak envelope of the signal (maximum of the 4x oversampled signal
in each control tick of about 0.7 ms) and returns the gain reduction for every tick:

1. the reduction each tick needs, ``u = max(0, peak + gain - ceiling)``;
2. held for ``hold_ms`` after, and ``lookahead_ms`` (plus a guard) before, every peak;
3. released exponentially with ``release_ms``;
4. floored by a slowly released average of the recent reduction (times ``sustain_weight``),
   so that dense, sustained material is turned down steadily instead of pumping at the
   rhythm of its peaks;
5. smoothed by a moving average over ``lookahead_ms``: the attack is a ramp of that length.

Steps 2 and 5 together guarantee that the smoothed reduction covers every peak, and the
``guard_ticks`` around it, in full: the output's true peak is at the ceiling or below.
Planning offline lets the loudness stage search the make-up gain exactly (see
:mod:`matcher.rendering.loudness_solver`).
"""

from __future__ import annotations

import numpy as np

from matcher.dsp.envelope import moving_average, release, sliding_max, time_coefficient

SUSTAIN_WINDOW_S = 0.4
SUSTAIN_RELEASE_S = 0.6


class TruePeakLimiter:
    """Plans the gain reduction of a lookahead true-peak limiter.

    Parameters
    ----------
    ceiling_dbtp : float
        Highest true peak allowed in the output.
    lookahead_ms, hold_ms, release_ms : float
        Attack ramp, hold after a peak and release time constant.
    control_rate_hz : float
        Rate of the envelope (ticks per second).
    guard_ticks : int
        Ticks around every peak over which the full reduction is held, covering the
        interpolation of the gain between ticks and the oversampling filter's support.
    """

    def __init__(
        self,
        ceiling_dbtp: float,
        lookahead_ms: float,
        hold_ms: float,
        release_ms: float,
        control_rate_hz: float,
        guard_ticks: int = 2,
        sustain_weight: float = 1.0,
    ):
        self.ceiling_dbtp = ceiling_dbtp
        self.release_ms = release_ms
        self.control_rate_hz = control_rate_hz
        self.attack_ticks = max(1, int(round(lookahead_ms * 1e-3 * control_rate_hz)))
        self.hold_ticks = max(0, int(round(hold_ms * 1e-3 * control_rate_hz)))
        self.guard_ticks = guard_ticks
        self.release_coefficient = time_coefficient(release_ms * 1e-3, control_rate_hz)
        self.sustain_ticks = int(round(SUSTAIN_WINDOW_S * control_rate_hz / 2))
        self.sustain_coefficient = time_coefficient(SUSTAIN_RELEASE_S, control_rate_hz)
        self.sustain_weight = sustain_weight

    def reduction_db(self, peak_db: np.ndarray, gain_db: float, allowance_db: np.ndarray | None = None) -> np.ndarray:
        """Gain reduction (dB, >= 0) per tick for a signal whose peaks are ``peak_db + gain_db``.

        Parameters
        ----------
        peak_db : np.ndarray, shape (ticks,)
            True-peak level of each control tick before the gain.
        gain_db : float
            Make-up gain applied before the limiter.
        allowance_db : np.ndarray, shape (ticks,), optional
            How far each tick may go over the ceiling (dB): its peak is taken that much lower.
        """
        # In place and freeing as it goes: an hour is 5 M ticks, 42 MB per array, and at
        # most two of them are made at a time.
        if allowance_db is None:
            need = np.array(peak_db, dtype=np.float64)
        else:
            need = np.subtract(peak_db, allowance_db, dtype=np.float64)
        need += gain_db - self.ceiling_dbtp
        np.maximum(need, 0.0, out=need)
        if not np.any(need > 0):
            return np.zeros_like(need)
        held = sliding_max(
            need,
            before=self.guard_ticks + self.hold_ticks,
            after=self.attack_ticks - 1 + self.guard_ticks,
        )
        del need
        average = None
        if self.sustain_weight > 0:
            average = moving_average(held, self.sustain_ticks, self.sustain_ticks)
            average *= self.sustain_weight
        combined = release(held, self.release_coefficient, overwrite=True)
        del held
        if average is not None:
            np.maximum(combined, release(average, self.sustain_coefficient, overwrite=True), out=combined)
            del average
        return moving_average(combined, self.attack_ticks - 1, 0)
