"""Gated, smoothed mid/side spectra against analytic truths."""

import numpy as np
import pytest
from signals import biquad_eq, pink_noise, sine, white_noise

from matcher.analysis.analyzer import analyze
from matcher.analysis.spectrum import DYNAMICS_CROSSOVERS_HZ, band_centers_hz


def curve(analysis, which="mid"):
    return np.array(getattr(analysis, f"{which}_spectrum_db")), np.array(analysis.band_centers_hz)


def test_band_grid_is_sixth_octave_from_20_hz_to_20_khz():
    c = band_centers_hz()
    assert c[0] >= 20.0 and c[0] < 20.0 * 2 ** (1 / 6)
    assert c[-1] <= 20000.0 and c[-1] > 20000.0 / 2 ** (1 / 6)
    np.testing.assert_allclose(np.diff(np.log2(c)), 1 / 6)


def test_white_noise_is_flat_at_its_density():
    x = white_noise(6.0, 44100, rms=0.1, seed=1)
    mid, centers = curve(analyze(x, 44100))
    band = (centers > 40) & (centers < 20000)
    expected_db = 10 * np.log10(2 * 0.1**2 / 2 / 44100)  # mid = (L+R)/2 of independent channels
    np.testing.assert_allclose(mid[band], expected_db, atol=1.0)
    assert np.mean(mid[band]) == pytest.approx(expected_db, abs=0.15)


def test_pink_noise_falls_3_db_per_octave():
    mid, centers = curve(analyze(pink_noise(8.0, 48000, seed=2), 48000))
    band = (centers > 50) & (centers < 16000)
    slope = np.polyfit(np.log2(centers[band]), mid[band], 1)[0]
    assert slope == pytest.approx(-3.01, abs=0.15)


def test_shelf_shows_in_the_curve_difference():
    x = pink_noise(8.0, 44100, seed=3)
    y = biquad_eq(x, 44100, "highshelf", 3000.0, 6.0)
    diff = curve(analyze(y, 44100))[0] - curve(analyze(x, 44100))[0]
    centers = np.array(band_centers_hz())
    assert np.mean(diff[(centers > 100) & (centers < 500)]) == pytest.approx(0.0, abs=0.2)
    assert np.mean(diff[(centers > 10000) & (centers < 18000)]) == pytest.approx(6.0, abs=0.3)


def test_quiet_intro_is_gated_out_of_the_curve():
    loud = white_noise(6.0, 44100, rms=0.1, seed=4)
    quiet_intro = np.concatenate([pink_noise(6.0, 44100, rms=0.003, seed=5), loud])
    np.testing.assert_allclose(curve(analyze(quiet_intro, 44100))[0], curve(analyze(loud, 44100))[0], atol=0.3)


def test_width_of_mono_and_of_decorrelated_stereo():
    x = pink_noise(6.0, 44100, seed=6)
    wide = np.array(analyze(x, 44100).width_db)
    mono = np.array(analyze(np.repeat(x[:, :1], 2, axis=1), 44100).width_db)
    band = (np.array(band_centers_hz()) > 50) & (np.array(band_centers_hz()) < 16000)
    assert np.mean(wide[band]) == pytest.approx(0.0, abs=0.5)  # independent channels: side = mid
    assert np.all(mono[band] < -100)


def test_bands_above_nyquist_are_marked_unmeasured():
    mid, centers = curve(analyze(white_noise(5.0, 22050, seed=7), 22050))
    assert np.all(mid[centers > 0.95 * 11025] == -200.0)
    assert np.all(mid[centers < 10000] > -100)


# --- dynamics bands ------------------------------------------------------------------------


def band_levels(analysis):
    return np.array(analysis.band_level_percentiles_db)  # (bands, [p10, p50, p95])


def lr_band_gain(freq_hz, band):
    """Power response of dynamics band k at one frequency (Linkwitz-Riley magnitudes)."""
    from matcher.dsp.crossover import linkwitz_riley_low

    edges = [0.0] + [linkwitz_riley_low(freq_hz, f) for f in DYNAMICS_CROSSOVERS_HZ] + [1.0]
    return (edges[band + 1] - edges[band]) ** 2


@pytest.mark.parametrize("freq_hz, band", [(60.0, 0), (400.0, 1), (2500.0, 2), (12000.0, 3)])
def test_a_steady_tone_reads_its_level_in_its_band_with_no_spread(freq_hz, band):
    x = sine(freq_hz, 8.0, 44100, amplitude=0.5, fade_s=0.0)
    levels = band_levels(analyze(x, 44100))
    expected_db = 10 * np.log10(0.5**2 / 2 * lr_band_gain(freq_hz, band))
    np.testing.assert_allclose(levels[band], expected_db, atol=0.1)
    assert levels[band, 2] - levels[band, 0] < 0.1


def test_the_spread_of_a_band_is_the_swing_of_its_level():
    # 2.5 kHz alternating every 2 s between two levels 12 dB apart; pink noise 40 dB down
    # keeps the other bands measurable.
    loud = sine(2500.0, 2.0, 44100, amplitude=0.5, fade_s=0.0)
    soft = sine(2500.0, 2.0, 44100, amplitude=0.5 * 10 ** (-12 / 20), fade_s=0.0)
    x = np.concatenate([loud, soft] * 5) + pink_noise(20.0, 44100, rms=0.003, seed=1)
    p10, p50, p95 = band_levels(analyze(x, 44100))[2]
    assert p95 - p10 == pytest.approx(12.0, abs=0.3)


def test_a_pause_does_not_count_as_dynamics():
    tone = sine(400.0, 10.0, 44100, amplitude=0.3, fade_s=0.0)
    with_pause = np.concatenate([tone, np.zeros((3 * 44100, 2)), tone])
    np.testing.assert_allclose(
        band_levels(analyze(with_pause, 44100))[1], band_levels(analyze(tone, 44100))[1], atol=0.5
    )


def test_band_levels_of_silence_are_marked_unmeasured():
    assert np.all(band_levels(analyze(np.zeros((44100 * 4, 2)), 44100)) == -200.0)
