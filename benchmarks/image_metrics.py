"""How a master's dynamics and stereo image compare with its reference's (issue 3's figures).

Measured here with scipy and pyloudnorm, independently of the package:

- band-dynamics spread: per octave band (63 Hz-8 kHz) of the mid signal, the 95th minus the
  10th percentile of 400 ms band levels (hop 100 ms), ignoring windows more than 40 dB below
  the band's loudest;
- loudness range: EBU Tech 3342, pyloudnorm's implementation;
- width: side-to-mid power ratio (dB) per third-octave band, 100 Hz-10 kHz.

Each error is output against reference: the RMS over bands of the difference for the band
figures, the absolute difference for the loudness range.
"""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
from scipy import signal

OCTAVE_CENTERS_HZ = 1000.0 * 2.0 ** np.arange(-4, 4)  # 62.5 Hz .. 8 kHz
WINDOW_S = 0.4
HOP_S = 0.1
IGNORE_BELOW_LOUDEST_DB = 40.0
WIDTH_CENTERS_HZ = 1000.0 * 10.0 ** (np.arange(-10, 11) / 10.0)  # 100 Hz .. 10 kHz
WIDTH_NPERSEG = 16384


def band_dynamics_spread_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Spread (dB) of 400 ms band levels of the mid signal, per octave band.

    Octave bands are 6th-order Butterworth band-passes (edges at fc / sqrt(2) and
    fc * sqrt(2)), run forward and backward so that no band lags another.
    """
    mid = audio.mean(axis=1)
    window = round(WINDOW_S * sample_rate)
    hop = round(HOP_S * sample_rate)
    spreads = []
    for center in OCTAVE_CENTERS_HZ:
        sos = signal.butter(3, [center / math.sqrt(2.0), center * math.sqrt(2.0)], "bandpass", fs=sample_rate,
                            output="sos")
        band = signal.sosfiltfilt(sos, mid)
        energy = np.concatenate([[0.0], np.cumsum(band * band)])
        starts = np.arange(0, band.size - window + 1, hop)
        power = (energy[starts + window] - energy[starts]) / window
        level_db = 10.0 * np.log10(power + 1e-20)
        kept = level_db[level_db >= level_db.max() - IGNORE_BELOW_LOUDEST_DB]
        low, high = np.percentile(kept, [10.0, 95.0])
        spreads.append(high - low)
    return np.array(spreads)


def loudness_range_lu(audio: np.ndarray, sample_rate: int) -> float:
    """Loudness range (LU, EBU Tech 3342) by pyloudnorm; NaN where it cannot tell."""
    meter = pyloudnorm.Meter(sample_rate)
    if not hasattr(meter, "loudness_range"):  # pyloudnorm before 0.2
        return math.nan
    return float(meter.loudness_range(audio))


def width_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Side-to-mid power ratio (dB) per third-octave band; mono reads as -inf side."""
    if audio.shape[1] < 2:
        return np.full(WIDTH_CENTERS_HZ.shape, -200.0)
    mid = (audio[:, 0] + audio[:, 1]) / 2.0
    side = (audio[:, 0] - audio[:, 1]) / 2.0
    nperseg = min(WIDTH_NPERSEG, mid.size)
    freqs_hz, mid_psd = signal.welch(mid, fs=sample_rate, nperseg=nperseg)
    _, side_psd = signal.welch(side, fs=sample_rate, nperseg=nperseg)
    ratios = []
    for center in WIDTH_CENTERS_HZ:
        band = (freqs_hz >= center * 2.0 ** (-1 / 6)) & (freqs_hz < center * 2.0 ** (1 / 6))
        ratios.append(10.0 * np.log10((side_psd[band].sum() + 1e-20) / (mid_psd[band].sum() + 1e-20)))
    return np.maximum(np.array(ratios), -200.0)


def rms_difference_db(values: np.ndarray, reference: np.ndarray) -> float:
    """RMS over bands of ``values - reference``."""
    return float(np.sqrt(np.mean((np.asarray(values) - np.asarray(reference)) ** 2)))


def image_figures(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float, np.ndarray]:
    """Band-dynamics spreads, loudness range and width of one signal."""
    return band_dynamics_spread_db(audio, sample_rate), loudness_range_lu(audio, sample_rate), width_db(audio, sample_rate)


def image_errors(output: tuple, reference: tuple) -> dict[str, float]:
    """Errors of an output's figures against its reference's (see :func:`image_figures`)."""
    (spread, lra, width), (ref_spread, ref_lra, ref_width) = output, reference
    return {
        "dyn_err_db": rms_difference_db(spread, ref_spread),
        "lra_err_lu": abs(lra - ref_lra) if math.isfinite(lra) and math.isfinite(ref_lra) else math.nan,
        "width_err_db": rms_difference_db(width, ref_width),
    }
