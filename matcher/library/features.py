"""The numbers a reference is chosen by: a short feature vector per :class:`Analysis`.

Four groups describe a track as a mastering engineer would compare two: its tonal curve
(octave levels relative to its loudness), its loudness, its dynamics (loudness range, peak
to loudness, the breathing of each dynamics band) and its width (side to mid in the low,
middle and high range). Distances are taken on standardised features, each group weighted
so that it counts as much as any other, whatever its number of features.
"""

from __future__ import annotations

import numpy as np

from matcher.analysis.result import Analysis
from matcher.units import FLOOR_DB

OCTAVE_CENTERS_HZ = (63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
WIDTH_RANGES_HZ = ((20.0, 250.0), (250.0, 4000.0), (4000.0, 20000.0))
DYNAMICS_BANDS = 4

FEATURE_NAMES: tuple[str, ...] = (
    *(f"tone_{int(f)}hz_db" for f in OCTAVE_CENTERS_HZ),
    "loudness_lufs",
    "loudness_range_lu",
    "peak_to_loudness_db",
    *(f"band{b + 1}_spread_db" for b in range(DYNAMICS_BANDS)),
    *(f"width_{int(lo)}_{int(hi)}hz_db" for lo, hi in WIDTH_RANGES_HZ),
)
GROUPS: tuple[str, ...] = (
    *("tone",) * len(OCTAVE_CENTERS_HZ),
    "loudness",
    *("dynamics",) * (2 + DYNAMICS_BANDS),
    *("width",) * len(WIDTH_RANGES_HZ),
)
MIN_SCALE = np.array([1.0] * len(OCTAVE_CENTERS_HZ) + [1.0] + [0.5, 1.0] + [1.0] * DYNAMICS_BANDS + [1.0] * len(WIDTH_RANGES_HZ))
"""Smallest standard deviation used when standardising (dB or LU): in a small library of
similar tracks, a difference of a tenth of a dB must not count as several deviations."""

NARROWEST_WIDTH_DB = -40.0
"""Width of a mono band, and of a band with nothing in it: side 40 dB under mid."""


def group_weights() -> np.ndarray:
    """Per feature, ``1/sqrt(n)`` of its group's size ``n``: each group weighs the same in a
    squared distance."""
    groups = np.array(GROUPS)
    return np.array([1.0 / np.sqrt(np.sum(groups == g)) for g in GROUPS])


class Standardiser:
    """Standardises feature vectors by a library's mean and spread, and weights each group
    of features (tone, loudness, dynamics, width) equally."""

    def __init__(self, library_features: np.ndarray):
        x = np.asarray(library_features, dtype=np.float64)
        self.mean = x.mean(axis=0) if x.shape[0] else np.zeros(x.shape[1])
        spread = x.std(axis=0) if x.shape[0] > 1 else np.zeros(x.shape[1])
        self.scale = np.maximum(spread, MIN_SCALE) / group_weights()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale


def features(analysis: Analysis) -> np.ndarray:
    """The feature vector of an analysis, shape ``(len(FEATURE_NAMES),)``, in dB and LU.

    Bands with nothing to measure (-200) read as the neighbouring ones would suggest: an
    octave with no energy takes the lowest level of the others, a band with no dynamics no
    spread, and a mono track the narrowest width.
    """
    centers_hz = np.asarray(analysis.band_centers_hz)
    total_db = _power_sum_db(np.asarray(analysis.mid_spectrum_db), np.asarray(analysis.side_spectrum_db))
    tone = []
    for fc in OCTAVE_CENTERS_HZ:
        in_octave = (centers_hz >= fc / np.sqrt(2)) & (centers_hz < fc * np.sqrt(2)) & (total_db > FLOOR_DB)
        tone.append(float(np.mean(total_db[in_octave])) if np.any(in_octave) else np.nan)
    tone = np.asarray(tone) - analysis.integrated_lufs
    tone = np.where(np.isnan(tone), np.nanmin(tone) if np.any(~np.isnan(tone)) else 0.0, tone)

    levels = np.asarray(analysis.band_level_percentiles_db)
    spreads = np.where(np.all(levels > FLOOR_DB, axis=1), levels[:, -1] - levels[:, 0], 0.0)
    if spreads.size != DYNAMICS_BANDS:
        raise ValueError(f"an analysis with {spreads.size} dynamics bands; features need {DYNAMICS_BANDS}")

    width_db = np.asarray(analysis.width_db)
    widths = []
    for lo, hi in WIDTH_RANGES_HZ:
        in_range = (centers_hz >= lo) & (centers_hz < hi) & (width_db > FLOOR_DB)
        widths.append(max(float(np.mean(width_db[in_range])), NARROWEST_WIDTH_DB) if np.any(in_range) else NARROWEST_WIDTH_DB)

    peak_to_loudness = analysis.sample_peak_dbfs - analysis.integrated_lufs
    return np.concatenate(
        [tone, [analysis.integrated_lufs, analysis.loudness_range_lu, peak_to_loudness], spreads, widths]
    ).astype(np.float64)


def _power_sum_db(a_db: np.ndarray, b_db: np.ndarray) -> np.ndarray:
    """dB of the summed powers; -200 where both are -200."""
    total = 10.0 ** (a_db / 10.0) + 10.0 ** (b_db / 10.0)
    return np.where((a_db > FLOOR_DB) | (b_db > FLOOR_DB), 10.0 * np.log10(np.maximum(total, 1e-30)), FLOOR_DB)
