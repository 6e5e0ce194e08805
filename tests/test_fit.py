"""Fitting: neutral on itself, restores a degraded mix, blends references, honours limits."""

import numpy as np
import pytest
from signals import band_limited, biquad_eq, drum_loop, pink_noise

from matcher import FitConfig, InvalidAudioError, analyze, combine, fit, render
from matcher.analysis.spectrum import band_centers_hz


def third_octave_error_db(a, b, rate):
    """RMS difference of the mid curves in 40 Hz-16 kHz after removing the mean difference."""
    ca, cb = np.array(analyze(a, rate).mid_spectrum_db), np.array(analyze(b, rate).mid_spectrum_db)
    centers = band_centers_hz()
    band = (centers >= 40) & (centers <= 16000)
    d = ca[band] - cb[band]
    return float(np.sqrt(np.mean((d - d.mean()) ** 2)))


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_of_a_track_to_itself_is_neutral(seed):
    x = drum_loop(6.0, 44100, seed=seed) * 0.25
    a = analyze(x, 44100)
    s = fit(a, a, FitConfig(remove_dc=False, highpass_hz=None))  # the fixes are tested on their own
    assert np.max(np.abs(s.eq.gain_db)) <= 0.2
    assert np.max(np.abs(s.width.side_gain_db)) <= 0.2
    assert s.loudness.target_lufs == pytest.approx(a.integrated_lufs, abs=0.01)
    y = render(x, 44100, s)
    assert analyze(y, 44100).integrated_lufs == pytest.approx(a.integrated_lufs, abs=0.05)
    # Peaks are under the ceiling, so the master is the mix, gain 0 dB (band-limited as
    # every master is: nothing above 95.5 % of Nyquist).
    # The band limit takes a few hundredths of a LU, which the gain gives back.
    reference = band_limited(x, 44100)
    gain = float(np.sum(y * reference) / np.sum(reference**2))
    assert abs(20 * np.log10(gain)) < 0.1
    assert np.sqrt(np.mean((y - gain * reference) ** 2)) < 10 ** (-60 / 20) * np.sqrt(np.mean(x**2))


def test_degraded_mix_is_restored_toward_the_original():
    original = pink_noise(8.0, 44100, rms=0.08, seed=2, correlation=0.5)
    mix = biquad_eq(original, 44100, "lowshelf", 120.0, 5.0)
    mix = biquad_eq(mix, 44100, "highshelf", 6000.0, -5.0)
    mix = biquad_eq(mix, 44100, "peak", 1000.0, 4.0, q=1.0) * 10 ** (-10 / 20)
    before = third_octave_error_db(mix, original, 44100)
    master = render(mix, 44100, fit(analyze(mix, 44100), analyze(original, 44100)))
    after = third_octave_error_db(master, original, 44100)
    assert before > 2.0
    assert after < 0.25
    assert analyze(master, 44100).integrated_lufs == pytest.approx(analyze(original, 44100).integrated_lufs, abs=0.05)


def test_eq_amount_scales_the_correction():
    original = pink_noise(6.0, 44100, seed=3)
    mix = biquad_eq(original, 44100, "highshelf", 4000.0, -6.0)
    half = fit(analyze(mix, 44100), analyze(original, 44100), FitConfig(eq_amount=0.5))
    assert half.eq.amount == 0.5
    centers = np.array(half.eq.band_centers_hz)
    top = (centers > 8000) & (centers < 14000)
    low = (centers > 100) & (centers < 1000)
    assert np.mean(np.array(half.eq.gain_db)[top]) - np.mean(np.array(half.eq.gain_db)[low]) == pytest.approx(
        6.0, abs=0.6
    )


def test_eq_is_limited_and_tapered():
    original = pink_noise(6.0, 44100, seed=4)
    mix = biquad_eq(original, 44100, "highshelf", 2000.0, -20.0)
    s = fit(analyze(mix, 44100), analyze(original, 44100), FitConfig(eq_max_boost_db=9.0))
    gains = np.array(s.eq.gain_db)
    centers = np.array(s.eq.band_centers_hz)
    assert gains.max() <= 9.0 + 1e-9
    assert np.all(np.abs(gains[centers < 20.5]) < 1e-9)
    assert np.all(np.abs(gains[centers >= 19999]) < 1e-9)


def test_explicit_target_overrides_reference_loudness():
    x = pink_noise(5.0, 44100, seed=5)
    s = fit(analyze(x, 44100), analyze(x * 2, 44100), FitConfig(target_lufs=-16.0))
    assert s.loudness.target_lufs == -16.0


def test_several_references_blend_power_averaged_at_mean_loudness():
    a = analyze(pink_noise(5.0, 44100, rms=0.1, seed=6), 44100)
    bright = analyze(biquad_eq(pink_noise(5.0, 44100, rms=0.05, seed=7), 44100, "highshelf", 3000, 6.0), 44100)
    blend = combine([a, bright])
    assert blend.integrated_lufs == pytest.approx((a.integrated_lufs + bright.integrated_lufs) / 2)
    centers = np.array(blend.band_centers_hz)
    hi = (centers > 8000) & (centers < 14000)
    rel = lambda an: np.array(an.mid_spectrum_db)[hi] - an.integrated_lufs  # noqa: E731
    expected = 10 * np.log10((10 ** (rel(a) / 10) + 10 ** (rel(bright) / 10)) / 2)
    np.testing.assert_allclose(rel(blend), expected, atol=1e-9)


def test_blended_band_dynamics_are_the_mean_relative_to_loudness():
    a = analyze(pink_noise(5.0, 44100, rms=0.1, seed=6), 44100)
    b = analyze(pink_noise(5.0, 44100, rms=0.02, seed=8), 44100)
    blend = combine([a, b], weights=[3.0, 1.0])
    rel = lambda an: np.array(an.band_level_percentiles_db) - an.integrated_lufs  # noqa: E731
    np.testing.assert_allclose(rel(blend), 0.75 * rel(a) + 0.25 * rel(b), atol=1e-9)
    assert blend.dynamics_crossovers_hz == a.dynamics_crossovers_hz


def test_silent_mix_is_refused():
    silent = analyze(np.zeros((44100 * 4, 2)), 44100)
    with pytest.raises(InvalidAudioError):
        fit(silent, analyze(pink_noise(4.0, 44100), 44100))


def test_a_reference_under_3_s_sets_no_loudness_range_target():
    # A reference of 2 s has no loudness range (Tech 3342 needs a 3 s window): the leveler
    # gets no target from it, alone or in a blend, and the rest is fitted as usual.
    mix = analyze(drum_loop(6.0, 44100, seed=3) * 0.25, 44100)
    short = analyze(pink_noise(2.0, 44100, rms=0.1, seed=4), 44100)
    long = analyze(pink_noise(6.0, 44100, rms=0.1, seed=4), 44100)
    assert short.loudness_range_lu is None and long.loudness_range_lu is not None
    assert fit(mix, short).dynamics.target_lra_lu is None
    assert fit(mix, long).dynamics.target_lra_lu == pytest.approx(long.loudness_range_lu, abs=0.01)
    blend = combine([short, long])
    assert blend.loudness_range_lu is None
    assert fit(mix, [short, long]).loudness.target_lufs == pytest.approx(blend.integrated_lufs, abs=0.01)
