"""The matching EQ: linear-phase FIRs on mid and side, with their delay compensated."""

from __future__ import annotations

import numpy as np

from matcher.dsp.convolve import LinearPhaseFilter
from matcher.dsp.filters import linear_phase_eq


class MidSideEQ:
    """Linear-phase EQ of mid ``(L+R)/2`` and side ``(L-R)/2``; the output lines up with the input.

    The convolution runs in float32, as in most mastering plug-ins: on pink noise at
    -12 dBFS through ±12 dB curves the difference from float64 is -145 dBFS RMS, 130 dB
    below the signal and about the level of 24-bit rounding noise, at half the cost.

    Parameters
    ----------
    band_centers_hz, mid_gain_db, side_gain_db : array_like, shape (bands,)
        The curves (gains already scaled by any amount).
    sample_rate_hz : float
    channels : int
        1 (the mid curve is applied) or 2.
    highpass_hz : float, optional
        A 24 dB/octave subsonic high-pass on both, in the same FIRs.
    zero_dc : bool
        Remove DC exactly (see :func:`~matcher.dsp.filters.linear_phase_eq`).
    side_highpass_hz : float, optional
        A 24 dB/octave high-pass on the side only: the image is mono below it.
    channel_gains : (float, float), optional
        Gains of left and right before the mid/side matrix (a polarity flip is -1; a
        balance correction scales each side), at no extra cost.
    band_limit : bool
        Also band-limit to :data:`~matcher.dsp.filters.BAND_LIMIT` of Nyquist, in the same FIRs.
    """

    def __init__(
        self,
        band_centers_hz,
        mid_gain_db,
        side_gain_db,
        sample_rate_hz: float,
        channels: int,
        highpass_hz: float | None = None,
        zero_dc: bool = False,
        side_highpass_hz: float | None = None,
        channel_gains: tuple[float, float] | None = None,
        band_limit: bool = False,
    ):
        centers = np.asarray(band_centers_hz, dtype=np.float64)
        corners = () if highpass_hz is None else (highpass_hz,)
        mid = linear_phase_eq(centers, np.asarray(mid_gain_db, dtype=np.float64), sample_rate_hz, corners, zero_dc, band_limit)
        if channels == 1:
            bank = mid[:, None]
        else:
            side_corners = corners + (() if side_highpass_hz is None else (side_highpass_hz,))
            side = linear_phase_eq(
                centers, np.asarray(side_gain_db, dtype=np.float64), sample_rate_hz, side_corners, zero_dc, band_limit
            )
            bank = np.column_stack([mid, side])
        self.channels = channels
        self._gains = None if channel_gains is None or channels == 1 else np.asarray(channel_gains, np.float32) * 0.5
        self._filter = LinearPhaseFilter(bank, np.float32)

    @property
    def delay_samples(self) -> int:
        """Latency of the FIR, compensated internally."""
        return self._filter.delay_samples

    def reset(self) -> None:
        """Forget the signal seen so far."""
        self._filter.reset()

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed a block of shape (n, channels); return the aligned output ready so far."""
        return self._from_ms(self._filter.process(self._to_ms(block)))

    def finish(self) -> np.ndarray:
        """Return the rest of the output; over the stream, as many samples as went in."""
        return self._from_ms(self._filter.finish().reshape(-1, self.channels))

    def _to_ms(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32)
        if self.channels == 1:
            return block
        ms = np.empty_like(block)
        if self._gains is not None:
            left = block[:, 0] * self._gains[0]
            right = block[:, 1] * self._gains[1]
            np.add(left, right, out=ms[:, 0])
            np.subtract(left, right, out=ms[:, 1])
            return ms
        np.add(block[:, 0], block[:, 1], out=ms[:, 0])
        np.subtract(block[:, 0], block[:, 1], out=ms[:, 1])
        ms *= 0.5
        return ms

    def _from_ms(self, ms: np.ndarray) -> np.ndarray:
        if self.channels == 1:
            return ms
        lr = np.empty_like(ms)
        np.add(ms[:, 0], ms[:, 1], out=lr[:, 0])
        np.subtract(ms[:, 0], ms[:, 1], out=lr[:, 1])
        return lr
