"""Fit: settings that bring a mix to its references' loudness and tonal balance."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from matcher.analysis.combine import combine
from matcher.analysis.condition import BALANCE_WARNING_DB, CORRELATION_WARNING
from matcher.analysis.result import Analysis
from matcher.concurrency import engine_call
from matcher.errors import InvalidAudioError
from matcher.fitting.config import FitConfig
from matcher.dsp.multiband import band_responses, gain_reduction_db
from matcher.fitting.settings import (
    BandCompressor,
    DynamicsSettings,
    EqSettings,
    FixSettings,
    LoudnessSettings,
    Settings,
    WidthSettings,
)
from matcher.fitting.width import guard_width
from matcher.units import FLOOR_DB

USABLE_RANGE_DB = 80.0
"""Bands more than this below a curve's loudest band are noise, not music: not matched."""
OFFSET_RANGE_HZ = (100.0, 8000.0)
MIN_SPREAD_EXCESS_DB = 2.0
"""A band whose level spread exceeds the reference's by less than this is not compressed."""
PREFERRED_COMPRESSOR_SLOPE = 0.5
"""Ratio 2:1 where the threshold can sit between the band's 10th percentile and median."""
MAX_COMPRESSOR_SLOPE = 0.75
"""Ratio 4:1 at most."""
COMPRESSOR_RANGE_DB = 12.0
COMPRESSOR_KNEE_DB = 6.0
COMPRESSOR_FLOOR_BELOW_P10_DB = 15.0
"""A compressed band's floor (below which its make-up is not applied) sits this far under
the band's 10th percentile: the make-up is whole from 3 dB under it up
(:data:`matcher.dsp.multiband.FLOOR_KNEE_DB` is 12 dB), so the music keeps it, and a break's
hiss or a fade's tail, further down, is not lifted."""
COMPRESSOR_TIMES_MS = ((30.0, 250.0), (15.0, 180.0), (8.0, 120.0), (5.0, 80.0))
"""Attack and release per band, lowest first: slower where the waves are longer, so that
the gain does not follow the bass's own cycles (distortion) or the beat (pumping)."""


@engine_call
def fit(
    mix: Analysis,
    reference: Analysis | Sequence[Analysis],
    config: FitConfig | None = None,
    weights: Sequence[float] | None = None,
) -> Settings:
    """Derive mastering settings that move ``mix`` toward ``reference``.

    Parameters
    ----------
    mix : Analysis
    reference : Analysis or sequence of Analysis
        Several references are blended with :func:`matcher.analysis.combine.combine`.
    config : FitConfig, optional
    weights : sequence of float, optional
        Relative weight of each reference in the blend (>= 0); equal by default.

    Returns
    -------
    Settings

    Raises
    ------
    InvalidAudioError
        The mix or a reference is silent.
    """
    config = config if config is not None else FitConfig()
    references = [reference] if isinstance(reference, Analysis) else list(reference)
    if mix.is_silent:
        raise InvalidAudioError("the mix is silent (nothing above -70 LUFS)")
    if any(r.is_silent for r in references):
        raise InvalidAudioError("a reference is silent (nothing above -70 LUFS)")
    target = combine(references, weights)
    fixes = _fixes(mix, config)
    mix_mid_db, mix_side_db, mix_width_db = mix.mid_spectrum_db, mix.side_spectrum_db, np.asarray(mix.width_db)
    if fixes.invert_right:  # the flipped mix's mid is its side and the other way round
        mix_mid_db, mix_side_db, mix_width_db = mix_side_db, mix_mid_db, -mix_width_db
    centers = np.asarray(mix.band_centers_hz)
    mid_diff, mid_valid = _difference(mix_mid_db, target.mid_spectrum_db)
    side_diff, side_valid = _difference(mix_side_db, target.side_spectrum_db)
    in_range = (centers >= OFFSET_RANGE_HZ[0]) & (centers <= OFFSET_RANGE_HZ[1]) & mid_valid
    offset_db = float(np.mean(mid_diff[in_range])) if np.any(in_range) else 0.0
    eq_limits = (-config.eq_max_cut_db, config.eq_max_boost_db)
    mid_gain = _shape(mid_diff - offset_db, mid_valid, centers, config.eq_smoothing_octaves, eq_limits, config)
    eq = EqSettings(
        band_centers_hz=tuple(centers.tolist()),
        gain_db=tuple(np.round(mid_gain, 2).tolist()),
        amount=config.eq_amount,
        phase=config.eq_phase,
    )
    width = None
    if mix.channels == 2:
        width_limits = (-config.width_max_db, config.width_max_db)
        width_gain = _shape(
            side_diff - mid_diff, side_valid & mid_valid, centers, config.width_smoothing_octaves, width_limits, config
        )
        width_gain, limited = guard_width(
            centers, width_gain, mix_width_db, mix.sample_rate_hz, config.width_amount,
            config.width_min_correlation, config.width_max_fold_down_db, mix.dynamics_crossovers_hz,
        )
        width = WidthSettings(
            band_centers_hz=tuple(centers.tolist()),
            side_gain_db=tuple(np.round(width_gain, 2).tolist()),
            amount=config.width_amount,
            mono_below_hz=config.mono_below_hz,
            limited=limited,
        )
    target_lra = target.loudness_range_lu
    dynamics = DynamicsSettings(
        target_lra_lu=round(float(target_lra), 2) if target_lra is not None and np.isfinite(target_lra) else None,
        amount=config.dynamics_amount,
        crossovers_hz=tuple(mix.dynamics_crossovers_hz),
        # A flipped mix's band levels were measured on its cancelling mid: no compressor.
        bands=() if fixes.invert_right else _compressors(mix, target, mix_mid_db, mid_gain * config.eq_amount),
    )
    target_lufs = config.target_lufs if config.target_lufs is not None else round(target.integrated_lufs, 2)
    if not config.follow_loudness:
        target_lufs = None
    return Settings(
        eq=eq,
        loudness=LoudnessSettings(target_lufs, config.max_distortion_db, config.force_loudness),
        width=width,
        dynamics=dynamics,
        fixes=fixes,
        limiter=config.limiter,
        output=config.output,
    )


def _compressors(
    mix: Analysis, target: Analysis, mix_mid_db, eq_gain_db: np.ndarray
) -> tuple[BandCompressor, ...]:
    """Per dynamics band, a compressor that narrows the mix's spread of band levels (95th
    minus 10th percentile of 400 ms levels) to the reference's; bands that already breathe
    no more than the reference are left alone (ratio 1: never expanded).

    Levels are the mix's after the EQ. The threshold and ratio take the 95th percentile
    down by the excess: 2:1 from a threshold between the band's 10th percentile and median,
    steeper (up to 4:1) when that range does not allow it, at most 12 dB of reduction. The
    make-up gain gives back the band's mean reduction (power-weighted over its
    percentiles), so the EQ's tonal balance holds. Below a floor well under the band's 10th
    percentile (``COMPRESSOR_FLOOR_BELOW_P10_DB``) the make-up is not applied: a compressor
    with make-up would otherwise lift every break and noise floor by it.
    """
    if tuple(target.dynamics_crossovers_hz) != tuple(mix.dynamics_crossovers_hz):
        return ()
    centers = np.asarray(mix.band_centers_hz)
    responses = band_responses(centers, mix.dynamics_crossovers_hz) ** 2  # (centres, bands)
    power = 10.0 ** (np.asarray(mix_mid_db) / 10.0) * centers  # per-Hz density times bandwidth
    shift_db = 10.0 * np.log10(
        np.maximum(responses.T @ (power * 10.0 ** (eq_gain_db / 10.0)), 1e-30) / np.maximum(responses.T @ power, 1e-30)
    )
    mix_levels = np.asarray(mix.band_level_percentiles_db)
    ref_levels = np.asarray(target.band_level_percentiles_db)
    bands = []
    for band, (attack, release) in enumerate(COMPRESSOR_TIMES_MS[: mix_levels.shape[0]]):
        low, median, high = mix_levels[band] + shift_db[band]
        excess = (high - low) - (ref_levels[band, 2] - ref_levels[band, 0])
        measured = min(mix_levels[band].min(), ref_levels[band].min()) > FLOOR_DB
        threshold = float(np.clip(median, -120.0, 0.0))
        if not measured or excess < MIN_SPREAD_EXCESS_DB or high - low < 1.0:
            bands.append(BandCompressor(round(threshold, 2), 1.0, COMPRESSOR_KNEE_DB, attack, release, 0.0,
                                        COMPRESSOR_RANGE_DB))
            continue
        # 2:1 from where that takes the 95th percentile down by the excess, the threshold kept
        # between the 10th percentile and the median (a steeper ratio past either, up to 4:1).
        threshold = float(np.clip(np.clip(high - excess / PREFERRED_COMPRESSOR_SLOPE, low, median), -120.0, 0.0))
        slope = min(excess / max(high - threshold, 1e-9), MAX_COMPRESSOR_SLOPE)
        ratio = 1.0 / (1.0 - slope)
        levels = np.array([low, median, high])
        reduction = np.minimum(gain_reduction_db(levels, threshold, ratio, COMPRESSOR_KNEE_DB), COMPRESSOR_RANGE_DB)
        weights = 10.0 ** (levels / 10.0)
        makeup = -10.0 * np.log10(np.sum(weights * 10.0 ** (-reduction / 10.0)) / np.sum(weights))
        floor = float(np.clip(low - COMPRESSOR_FLOOR_BELOW_P10_DB, -150.0, threshold - 1.0))
        bands.append(BandCompressor(round(threshold, 2), round(float(ratio), 2), COMPRESSOR_KNEE_DB, attack, release,
                                    round(float(np.clip(makeup, 0.0, 12.0)), 2), COMPRESSOR_RANGE_DB,
                                    round(floor, 2)))
    return tuple(bands) if len(bands) == len(mix.dynamics_crossovers_hz) + 1 else ()


def _fixes(mix: Analysis, config: FitConfig) -> FixSettings:
    """The fixes the mix needs, as far as the config allows them."""
    stereo = mix.channels == 2
    invert = stereo and config.fix_polarity and mix.lr_correlation < CORRELATION_WARNING
    balance = mix.channel_balance_db if stereo and config.fix_balance and mix.channel_balance_db is not None else 0.0
    if abs(balance) <= BALANCE_WARNING_DB:
        balance = 0.0
    return FixSettings(
        remove_dc=config.remove_dc,
        highpass_hz=config.highpass_hz,
        invert_right=bool(invert),
        balance_db=round(float(np.clip(balance, -12.0, 12.0)), 2),
    )


def _difference(mix_db, reference_db) -> tuple[np.ndarray, np.ndarray]:
    """Reference minus mix per band, and which bands both measure reliably."""
    mix_db = np.asarray(mix_db)
    reference_db = np.asarray(reference_db)
    valid = (
        (mix_db > FLOOR_DB)
        & (reference_db > FLOOR_DB)
        & (mix_db > mix_db.max() - USABLE_RANGE_DB)
        & (reference_db > reference_db.max() - USABLE_RANGE_DB)
    )
    return reference_db - mix_db, valid


def _shape(
    diff_db: np.ndarray,
    valid: np.ndarray,
    centers_hz: np.ndarray,
    smoothing_octaves: float,
    limits_db: tuple[float, float],
    config: FitConfig,
) -> np.ndarray:
    """Smooth, limit and taper a raw difference curve into gains."""
    if not np.any(valid):
        return np.zeros_like(diff_db)
    log_f = np.log2(centers_hz)
    filled = np.interp(log_f, log_f[valid], diff_db[valid])
    smoothed = _smooth(filled, log_f, smoothing_octaves)
    limited = np.clip(smoothed, *limits_db)
    return limited * _taper(log_f, valid, config)


def _smooth(curve: np.ndarray, log_f: np.ndarray, fwhm_octaves: float) -> np.ndarray:
    """Gaussian smoothing along log-frequency, normalised at the edges."""
    if fwhm_octaves <= 0:
        return curve
    sigma = fwhm_octaves / 2.355
    kernel = np.exp(-0.5 * ((log_f[:, None] - log_f[None, :]) / sigma) ** 2)
    return kernel @ curve / kernel.sum(axis=1)


def _taper(log_f: np.ndarray, valid: np.ndarray, config: FitConfig) -> np.ndarray:
    """1 where the curves are trusted, falling smoothly (raised cosine) to 0 outside."""
    lo_valid = log_f[valid].min()
    hi_valid = log_f[valid].max()
    low = (np.log2(config.eq_low_taper_hz[0]), np.log2(config.eq_low_taper_hz[1]))
    high = (np.log2(config.eq_high_taper_hz[0]), np.log2(config.eq_high_taper_hz[1]))
    # Beyond the measured range, fade out over half an octave.
    low = (max(low[0], lo_valid - 0.5), max(low[1], lo_valid))
    high = (min(high[0], hi_valid), min(high[1], hi_valid + 0.5))
    rise = _raised_cosine((log_f - low[0]) / max(low[1] - low[0], 1e-9))
    fall = _raised_cosine((high[1] - log_f) / max(high[1] - high[0], 1e-9))
    return rise * fall


def _raised_cosine(x: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))
