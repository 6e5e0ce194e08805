"""Multiband compression in the short-time Fourier domain.

The signal is cut into frames of about 46 ms (hop: half a frame) under a square-root Hann
window, which is also the synthesis window: the squared windows sum to exactly 1, so with
every gain at 1 the frames overlap-add back to the input. In each frame the spectrum is
split into the bands of the analysis (:data:`matcher.analysis.spectrum.DYNAMICS_CROSSOVERS_HZ`)
by their Linkwitz-Riley magnitudes, which sum to 1 at every frequency: the same split as
the linear-phase :class:`matcher.dsp.crossover.Crossover`, without its 4 band signals in
memory. Each band's compressor reads the mid signal's band level of the frame (mean square,
the scale of the analysis's band-level percentiles), turns it into a gain reduction by a
soft-knee curve, smooths the reduction with its attack and release, and the frame's
spectrum is multiplied by the sum of the band gains times the band responses. Between
frames the gains cross-fade with the windows. Left and right get the same gains (linked),
so the image does not move.

A compressor frame sees about 23 ms ahead of the samples it finishes (the second half of
its window): like a short lookahead, it clamps a transient as it starts rather than after.
Attack and release shorter than a hop (23 ms) act as a hop.

A downward compressor with make-up gain lifts everything below its threshold by the make-up:
the hiss of a break, a fade's tail, a noise floor. Each band may therefore have a *floor*
(``floor_db``): below it the make-up is not applied and the net gain is 0 dB; over the
``FLOOR_KNEE_DB`` above it the make-up comes in along a smoothstep, as an expander's range
would. The floor reads its own detector, which follows a rising level at once and lets a
falling one decay with ``FLOOR_RELEASE_S`` (22 dB a second), so that the gaps between beats
keep their make-up and a break loses it within a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from matcher.dsp import fft
from matcher.dsp.crossover import linkwitz_riley_low

FRAME_S = 0.046
FLOOR_KNEE_DB = 12.0
"""Above a band's floor, the make-up comes in over this many dB."""
FLOOR_RELEASE_S = 0.2
"""Time constant of the floor's detector as the level falls (in power)."""


class BandParameters(NamedTuple):
    """One band's compressor (levels in dB re full-scale mean square of the mid signal)."""

    threshold_db: float
    ratio: float
    knee_db: float
    attack_ms: float
    release_ms: float
    makeup_db: float
    max_reduction_db: float
    floor_db: float | None = None
    """Below this level the make-up is not applied (None: at every level)."""


def band_responses(frequencies_hz: np.ndarray, crossovers_hz: Sequence[float]) -> np.ndarray:
    """Amplitude responses of the bands between the crossovers, shape (freqs, bands); they
    sum to 1 at every frequency."""
    edges = [np.zeros_like(frequencies_hz, dtype=np.float64)]
    edges += [linkwitz_riley_low(frequencies_hz, f) for f in crossovers_hz]
    edges += [np.ones_like(frequencies_hz, dtype=np.float64)]
    return np.stack([edges[k + 1] - edges[k] for k in range(len(edges) - 1)], axis=1)


def gain_reduction_db(level_db: np.ndarray, threshold_db, ratio, knee_db) -> np.ndarray:
    """Static soft-knee compression curve: reduction (dB, >= 0) at each level.

    Below ``threshold - knee/2`` nothing; above ``threshold + knee/2`` the straight
    ``(1 - 1/ratio) (level - threshold)``; in between the quadratic that joins them.
    """
    slope = 1.0 - 1.0 / np.asarray(ratio, dtype=np.float64)
    over = np.asarray(level_db, dtype=np.float64) - threshold_db
    knee = np.maximum(np.asarray(knee_db, dtype=np.float64), 1e-9)
    in_knee = slope * (over + knee / 2.0) ** 2 / (2.0 * knee)
    return np.where(over <= -knee / 2.0, 0.0, np.where(over >= knee / 2.0, slope * over, in_knee))


def makeup_share(level_db: np.ndarray, floor_db, knee_db: float = FLOOR_KNEE_DB) -> np.ndarray:
    """Share of the make-up (0-1) applied at each level: 0 at and below ``floor_db``, 1 from
    ``floor_db + knee_db`` up, the smoothstep ``3u^2 - 2u^3`` in between (continuous, with
    a continuous slope). A floor of ``-inf`` applies the make-up everywhere."""
    u = np.clip((np.asarray(level_db, dtype=np.float64) - floor_db) / knee_db, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def static_gain_db(level_db: np.ndarray, band: BandParameters) -> np.ndarray:
    """Net gain (dB) of a band at a steady level: the make-up times its share at that level,
    minus the soft-knee reduction (at most ``max_reduction_db``)."""
    floor = -np.inf if band.floor_db is None else band.floor_db
    reduction = np.minimum(gain_reduction_db(level_db, band.threshold_db, band.ratio, band.knee_db),
                           band.max_reduction_db)
    return band.makeup_db * makeup_share(level_db, floor) - reduction


def frame_samples(sample_rate_hz: float) -> int:
    """The compressor's frame length: the power of two nearest to ``FRAME_S``; its hop is half.

    Frames start every hop from the start of the stream, so a stream that starts a whole
    number of hops later is framed the same way from there on."""
    return 1 << round(float(np.log2(FRAME_S * sample_rate_hz)))


class MultibandCompressor:
    """Linked multiband compressor over a stream of blocks of shape (n, channels).

    Parameters
    ----------
    crossovers_hz : sequence of float
    bands : sequence of BandParameters
        One per band (``len(crossovers_hz) + 1``), lowest first.
    sample_rate_hz : float
    channels : int

    Notes
    -----
    Over a stream the output has as many samples as the input and lines up with it.
    :attr:`reduction_db` collects every frame's gain reduction per band, for reports.
    """

    def __init__(self, crossovers_hz: Sequence[float], bands: Sequence[BandParameters], sample_rate_hz: float,
                 channels: int):
        if len(bands) != len(crossovers_hz) + 1:
            raise ValueError("one set of band parameters per band")
        self.channels = channels
        n = frame_samples(sample_rate_hz)
        self.n_fft, self.hop = n, n // 2
        window = np.sqrt(np.hanning(n + 1)[:-1])
        self._window = window.astype(np.float32)
        freqs_hz = np.arange(n // 2 + 1) * sample_rate_hz / n
        responses = band_responses(freqs_hz, crossovers_hz)
        self._responses = responses.T.astype(np.float32)  # (bands, bins)
        parseval = np.full(n // 2 + 1, 2.0 / n)
        parseval[[0, -1]] = 1.0 / n
        # Mean square of the band signal in the frame, from the windowed frame's spectrum.
        self._detector = (responses**2 * (parseval / (n * np.mean(window**2)))[:, None]).astype(np.float32)
        p = np.array(bands, dtype=np.float64)
        self._threshold, self._ratio, self._knee = p[:, 0], p[:, 1], p[:, 2]
        frame_rate = sample_rate_hz / self.hop
        self._attack = np.exp(-1.0 / np.maximum(p[:, 3] * 1e-3 * frame_rate, 1e-9))
        self._release = np.exp(-1.0 / np.maximum(p[:, 4] * 1e-3 * frame_rate, 1e-9))
        self._makeup, self._range = p[:, 5], p[:, 6]
        self._floor = np.array([-np.inf if b.floor_db is None else b.floor_db for b in bands], dtype=np.float64)
        self._floor_release = float(np.exp(-1.0 / (FLOOR_RELEASE_S * frame_rate)))
        self.reset()

    def reset(self) -> None:
        """Forget the signal seen so far."""
        self._buffer = np.zeros((self.channels, self.hop), dtype=np.float32)  # leading half frame
        self._tail = np.zeros((self.channels, self.hop), dtype=np.float32)
        self._state = np.zeros(len(self._threshold))
        self._floor_state = np.zeros(len(self._threshold))
        self._delivered = 0
        self._received = 0
        self._skip = self.hop  # output of the leading padding, still to drop
        self._reductions: list[np.ndarray] = []

    @property
    def reduction_db(self) -> np.ndarray:
        """Gain reduction of every frame so far, shape (frames, bands) (dB, make-up not counted)."""
        return np.concatenate(self._reductions) if self._reductions else np.zeros((0, len(self._threshold)))

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed a block of shape (n, channels); return the aligned output ready so far."""
        block = np.asarray(block, dtype=np.float32)
        self._received += block.shape[0]
        self._buffer = np.concatenate([self._buffer, block.T], axis=1)
        return self._run()

    def finish(self) -> np.ndarray:
        """Return the rest of the output."""
        missing = self._received - self._delivered
        self._buffer = np.concatenate([self._buffer, np.zeros((self.channels, self.n_fft), np.float32)], axis=1)
        return self._run()[:missing]

    def _run(self) -> np.ndarray:
        frames = (self._buffer.shape[1] - self.n_fft) // self.hop + 1
        if frames <= 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        view = np.lib.stride_tricks.sliding_window_view(self._buffer, self.n_fft, axis=1)[:, : frames * self.hop : self.hop]
        windowed = view * self._window
        spectrum = fft.rfft(windowed, axis=-1)  # (channels, frames, bins)
        if self.channels == 1:
            mid = spectrum[0]
        else:
            mid = spectrum[0] + spectrum[1]
            mid *= 0.5
        power = (mid.real**2 + mid.imag**2) @ self._detector  # (frames, bands)
        level_db = 10.0 * np.log10(np.maximum(power, 1e-20))
        target = np.minimum(gain_reduction_db(level_db, self._threshold, self._ratio, self._knee), self._range)
        reduction = self._smooth(target)
        self._reductions.append(reduction.astype(np.float32))
        makeup = self._makeup * self._makeup_share(power)
        gains = (10.0 ** ((makeup - reduction) / 20.0)).astype(np.float32) @ self._responses
        spectrum *= gains[None]
        frames_out = fft.irfft(spectrum, n=self.n_fft, axis=-1)
        frames_out *= self._window
        # Overlap-add: each frame's first half plus the previous frame's second half.
        out = np.empty((self.channels, frames * self.hop), dtype=np.float32)
        np.add(frames_out[:, 0, : self.hop], self._tail, out=out[:, : self.hop])
        if frames > 1:
            np.add(
                frames_out[:, 1:, : self.hop],
                frames_out[:, :-1, self.hop :],
                out=out[:, self.hop :].reshape(self.channels, frames - 1, self.hop),
            )
        self._tail = frames_out[:, -1, self.hop :].copy()
        self._buffer = self._buffer[:, frames * self.hop :]
        skip = min(self._skip, out.shape[1])
        self._skip -= skip
        out = out[:, skip:]
        self._delivered += out.shape[1]
        return out.T

    def _makeup_share(self, power: np.ndarray) -> np.ndarray:
        """Share of the make-up per frame and band, from the floor's detector: the band power,
        held at once when it rises and released with ``FLOOR_RELEASE_S`` when it falls."""
        floored = np.isfinite(self._floor)
        share = np.ones_like(power, dtype=np.float64)
        if not np.any(floored):
            return share
        held = np.empty(power.shape, dtype=np.float64)
        release = self._floor_release
        for band in np.flatnonzero(floored):
            state = float(self._floor_state[band])
            column = power[:, band].astype(np.float64).tolist()
            levels = []
            for value in column:
                state = max(value, value + release * (state - value))
                levels.append(state)
            held[:, band] = levels
            self._floor_state[band] = state
        level_db = 10.0 * np.log10(np.maximum(held[:, floored], 1e-20))
        share[:, floored] = makeup_share(level_db, self._floor[floored])
        return share

    def _smooth(self, target: np.ndarray) -> np.ndarray:
        """Attack when the reduction grows, release when it falls; per band, frame by frame."""
        out = np.empty_like(target)
        for band in range(target.shape[1]):
            state = float(self._state[band])
            if state == 0.0 and not np.any(target[:, band]):
                # A band that never compresses (ratio 1): 0 + c (0 - 0) stays 0 at every frame.
                out[:, band] = 0.0
                self._state[band] = 0.0
                continue
            attack, release = float(self._attack[band]), float(self._release[band])
            column = target[:, band].tolist()
            smoothed = []
            for value in column:
                coefficient = attack if value > state else release
                state = value + coefficient * (state - value)
                smoothed.append(state)
            out[:, band] = smoothed
            self._state[band] = state
        return out
