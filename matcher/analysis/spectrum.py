"""Smoothed mid and side spectra on a fractional-octave grid, gated to the loud passages,
and the dynamics of the mid signal in a few broad bands.

The signal is cut into Hann-windowed frames of about 0.19 s with 50 % overlap. Each frame's
mid ``(L + R) / 2`` and side ``(L - R) / 2`` power spectra are smoothed into bands 1/6 octave
apart; frames more than 10 dB below the power mean of the frames above -70 dBFS are dropped
(quiet intros, breaks and fades), and the rest are power-averaged. Levels are power spectral
density in dB re 1 FS²/Hz, so white noise gives a flat curve whatever the band width.

The same frames give the mid signal's level in the bands of the multiband dynamics
(``DYNAMICS_CROSSOVERS_HZ``, Linkwitz-Riley slopes) about every 90 ms, from which the
distribution of its 400 ms band levels is taken: how dense each part of the spectrum is.
"""

from __future__ import annotations

import numpy as np

from matcher.dsp import fft
from matcher.dsp.crossover import linkwitz_riley_low
from matcher.units import FLOOR_DB, power_to_db

BANDS_PER_OCTAVE = 6
LOWEST_BAND_HZ = 20.0
HIGHEST_BAND_HZ = 20000.0
ABSOLUTE_GATE_DB = -70.0
RELATIVE_GATE_DB = -10.0
USABLE_FRACTION_OF_NYQUIST = 0.95
DYNAMICS_CROSSOVERS_HZ = (120.0, 1000.0, 6000.0)
"""Crossovers of the bands whose dynamics are measured (and, later, compressed)."""
DYNAMICS_WINDOW_S = 0.4
DYNAMICS_PERCENTILES = (10.0, 50.0, 95.0)
DYNAMICS_RANGE_DB = 40.0
"""400 ms windows more than this below a band's loudest are left out (pauses, fades)."""


def band_centers_hz(bands_per_octave: int = BANDS_PER_OCTAVE) -> np.ndarray:
    """Band centres ``1000 * 2**(k / bands_per_octave)`` from 20 Hz to 20 kHz."""
    k_lo = int(np.ceil(bands_per_octave * np.log2(LOWEST_BAND_HZ / 1000.0)))
    k_hi = int(np.floor(bands_per_octave * np.log2(HIGHEST_BAND_HZ / 1000.0)))
    return 1000.0 * 2.0 ** (np.arange(k_lo, k_hi + 1) / bands_per_octave)


def frame_length(sample_rate_hz: float) -> int:
    """FFT frame of about 0.19 s (8192 samples at 44.1 and 48 kHz), a power of two."""
    return 1 << int(round(np.log2(0.186 * sample_rate_hz)))


def band_weights(centers_hz: np.ndarray, sample_rate_hz: float, n_fft: int) -> np.ndarray:
    """Gaussian band filters of 1/6-octave width (at least two FFT bins), rows sum to one.

    Returns
    -------
    np.ndarray, shape (bands, n_fft // 2 + 1)
    """
    freqs_hz = np.arange(n_fft // 2 + 1) * sample_rate_hz / n_fft
    fwhm_octaves = 1.0 / BANDS_PER_OCTAVE
    sigma_hz = np.maximum(centers_hz * np.log(2.0) * fwhm_octaves / 2.355, 2.0 * sample_rate_hz / n_fft)
    weights = np.exp(-0.5 * ((freqs_hz[None, :] - centers_hz[:, None]) / sigma_hz[:, None]) ** 2)
    weights[:, 0] = 0.0
    return weights / weights.sum(axis=1, keepdims=True)


class SpectrumAnalyzer:
    """Streaming gated mid/side band spectra.

    Parameters
    ----------
    sample_rate_hz : float
    channels : int
        1 (mid only, side is silent) or 2.
    """

    def __init__(self, sample_rate_hz: float, channels: int):
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.n_fft = frame_length(sample_rate_hz)
        self.hop = self.n_fft // 2
        self.centers_hz = band_centers_hz()
        # One dense product per block gives, per frame: the 1/6-octave bands (although each
        # touches about a twentieth of the bins, BLAS does it in the time of summing each
        # band's bins, and without holding the GIL, which per-band numpy calls did, stalling
        # the analysis beside this one); the dynamics bands' mean-square power (Linkwitz-Riley
        # power responses, corrected for the window); and, last, the frame's energy
        # (Parseval: sum x^2 = sum_k c_k |X_k|^2 / n).
        parseval = np.full(self.n_fft // 2 + 1, 2.0 / self.n_fft)
        parseval[[0, -1]] = 1.0 / self.n_fft
        weights = band_weights(self.centers_hz, sample_rate_hz, self.n_fft)
        window = np.hanning(self.n_fft + 1)[:-1]
        self._window = window.astype(np.float32)
        freqs_hz = np.arange(self.n_fft // 2 + 1) * sample_rate_hz / self.n_fft
        edges = [np.zeros_like(freqs_hz)]
        edges += [linkwitz_riley_low(freqs_hz, f) for f in DYNAMICS_CROSSOVERS_HZ]
        edges += [np.ones_like(freqs_hz)]
        dynamics = np.stack([(edges[k + 1] - edges[k]) ** 2 for k in range(len(edges) - 1)], axis=1)
        dynamics *= (parseval / (self.n_fft * np.mean(window**2)))[:, None]
        self._band_matrix = np.column_stack([weights.T, dynamics, parseval]).astype(np.float32)
        self._dynamics_columns = slice(weights.shape[0], weights.shape[0] + dynamics.shape[1])
        # PSD scaling: one-sided, per Hz, for a Hann-windowed frame.
        self._scale = 2.0 / (sample_rate_hz * np.sum(window**2))
        self.reset()

    def reset(self) -> None:
        """Forget the signal seen so far."""
        # Mid and side, channel-major: frames are contiguous rows (windowing frames strided
        # across interleaved channels took ten times as long).
        self._buffer = np.zeros((2, 0), dtype=np.float32)
        self._mid: list[np.ndarray] = []
        self._side: list[np.ndarray] = []
        self._dynamics: list[np.ndarray] = []  # (frames, [mid, side], bands)
        self._energies: list[np.ndarray] = []  # (frames, [mid, side])

    def process(self, block: np.ndarray) -> None:
        """Feed a block of shape (n, channels)."""
        block = np.asarray(block, dtype=np.float32)
        kept = self._buffer.shape[1]
        buffer = np.zeros((2, kept + block.shape[0]), dtype=np.float32)
        buffer[:, :kept] = self._buffer
        mid, side = buffer[0, kept:], buffer[1, kept:]
        if self.channels == 1:
            mid[:] = block[:, 0]
        else:
            np.add(block[:, 0], block[:, 1], out=mid)
            np.subtract(block[:, 0], block[:, 1], out=side)
            buffer[:, kept:] *= 0.5
        self._buffer = buffer
        self._consume()

    def _consume(self) -> None:
        frames = (self._buffer.shape[1] - self.n_fft) // self.hop + 1
        if frames <= 0:
            return
        view = np.lib.stride_tricks.sliding_window_view(self._buffer, self.n_fft, axis=1)
        windows = view[:, : frames * self.hop : self.hop] * self._window
        spectrum = fft.rfft(windows, axis=-1)
        psd = spectrum.real**2
        psd += spectrum.imag**2
        product = (psd @ self._band_matrix).astype(np.float64)
        bands = product[..., : self._dynamics_columns.start] * self._scale
        self._mid.append(bands[0])
        self._side.append(bands[1])
        self._dynamics.append(np.moveaxis(product[..., self._dynamics_columns], 0, 1))
        self._energies.append(product[..., -1].T)
        self._buffer = self._buffer[:, frames * self.hop :]

    def finish(self) -> "BandSpectra":
        """End of stream: the gated, power-averaged band spectra."""
        if not self._mid and self._buffer.shape[1]:
            # Shorter than one frame: analyse it zero-padded, as one frame.
            pad = np.zeros((2, self.n_fft - self._buffer.shape[1]), dtype=np.float32)
            self._buffer = np.concatenate([self._buffer, pad], axis=1)
            self._consume()
        if not self._mid:
            return BandSpectra.silent(self.centers_hz)
        dynamics = np.concatenate(self._dynamics)
        frames_per_window = max(1, round(DYNAMICS_WINDOW_S * self.sample_rate_hz / self.hop))
        dynamics_db = band_level_percentiles(dynamics[:, 0], frames_per_window)
        mid = np.concatenate(self._mid)
        side = np.concatenate(self._side)
        energies = np.concatenate(self._energies)
        # Mean square of the windowed frame's mid and side: gating needs only its level.
        keep = gate_frames(energies.sum(axis=1) / self.n_fft)
        if not np.any(keep):
            return BandSpectra.silent(self.centers_hz)
        usable = self.centers_hz <= USABLE_FRACTION_OF_NYQUIST * self.sample_rate_hz / 2
        mid_db = np.where(usable, power_to_db(mid[keep].mean(axis=0)), FLOOR_DB)
        side_db = np.where(usable, power_to_db(side[keep].mean(axis=0)), FLOOR_DB)
        loud_energies = energies[keep].sum(axis=0)
        loud_band_energies = dynamics[keep].sum(axis=0)
        return BandSpectra(
            self.centers_hz,
            mid_db,
            side_db,
            float(np.mean(keep)),
            dynamics_db,
            correlation(*loud_energies),
            correlation(*loud_band_energies),
        )


def correlation(mid_energy, side_energy):
    """Left/right correlation from mid and side energies: ``(M - S) / (M + S)``.

    Since ``L R = M^2 - S^2`` and ``(L^2 + R^2) / 2 = M^2 + S^2``, this is the sum of
    ``L R`` over the channels' mean energy: the Pearson correlation when the channels are
    equally loud, smaller in magnitude when they are not (by 1.5 % at 1.5 dB apart, 6 % at
    3 dB). 1 for silence.
    """
    mid_energy, side_energy = np.asarray(mid_energy, dtype=np.float64), np.asarray(side_energy, dtype=np.float64)
    total = mid_energy + side_energy
    return np.where(total > 0, (mid_energy - side_energy) / np.where(total > 0, total, 1.0), 1.0)


def band_level_percentiles(frame_power: np.ndarray, frames_per_window: int) -> np.ndarray:
    """Percentiles (``DYNAMICS_PERCENTILES``) of windowed band levels, per band.

    Parameters
    ----------
    frame_power : np.ndarray, shape (frames, bands)
        Mean-square band power of each frame.
    frames_per_window : int
        Frames averaged into one window (hop: one frame).

    Returns
    -------
    np.ndarray, shape (bands, percentiles)
        dB re full-scale mean square; windows more than ``DYNAMICS_RANGE_DB`` below the
        band's loudest, or below -70 dB, are left out; a band with none reads -200.
    """
    frames, bands = frame_power.shape
    width = min(frames_per_window, frames)
    sums = np.cumsum(np.vstack([np.zeros((1, bands)), frame_power]), axis=0)
    level_db = power_to_db((sums[width:] - sums[:-width]) / width)
    result = np.full((bands, len(DYNAMICS_PERCENTILES)), FLOOR_DB)
    for band in range(bands):
        levels = level_db[:, band]
        kept = levels[(levels >= levels.max() - DYNAMICS_RANGE_DB) & (levels > ABSOLUTE_GATE_DB)]
        if kept.size:
            result[band] = np.percentile(kept, DYNAMICS_PERCENTILES)
    return result


def gate_frames(frame_power: np.ndarray) -> np.ndarray:
    """Frames within 10 dB of the power mean of the frames above -70 dBFS."""
    level_db = power_to_db(frame_power)
    loud = level_db > ABSOLUTE_GATE_DB
    if not np.any(loud):
        return loud
    threshold_db = power_to_db(frame_power[loud].mean()) + RELATIVE_GATE_DB
    return loud & (level_db > threshold_db)


class BandSpectra:
    """Mid and side band levels (dB re 1 FS²/Hz), the fraction of frames kept by the gate,
    the percentiles of the mid signal's 400 ms levels in the dynamics bands (bands x 3, dB),
    and the left/right correlation of the loud frames, overall and per dynamics band."""

    def __init__(self, centers_hz, mid_db, side_db, kept_fraction, dynamics_db=None, lr_correlation=1.0,
                 band_lr_correlation=None):
        self.centers_hz = np.asarray(centers_hz, dtype=np.float64)
        self.mid_db = np.asarray(mid_db, dtype=np.float64)
        self.side_db = np.asarray(side_db, dtype=np.float64)
        self.kept_fraction = kept_fraction
        bands = len(DYNAMICS_CROSSOVERS_HZ) + 1
        silent = np.full((bands, len(DYNAMICS_PERCENTILES)), FLOOR_DB)
        self.dynamics_db = silent if dynamics_db is None else np.asarray(dynamics_db, dtype=np.float64)
        self.lr_correlation = float(lr_correlation)
        self.band_lr_correlation = np.ones(bands) if band_lr_correlation is None else np.asarray(band_lr_correlation)

    @classmethod
    def silent(cls, centers_hz: np.ndarray) -> "BandSpectra":
        floor = np.full(centers_hz.shape, FLOOR_DB)
        return cls(centers_hz, floor, floor.copy(), 0.0)
