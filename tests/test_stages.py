"""The stages beyond EQ and loudness: mix fixes, width, and the leveler (loudness range)."""

from dataclasses import replace

import numpy as np
import pyloudnorm
import pytest
from signals import band_limited, drum_loop, pink_noise, sine
from test_render import make_settings

from matcher import DynamicsSettings, FitConfig, FixSettings, WidthSettings, analyze, fit, render
from matcher.analysis.spectrum import band_centers_hz
from matcher.fitting.settings import LoudnessSettings

RATE = 44100


def level_db(x):
    return 10 * np.log10(np.mean(np.asarray(x) ** 2))


def tone_gain_db(freq_hz, fixes, seconds=4.0):
    """Gain a steady tone gets through the fixes alone (middle of the signal, 32-bit float)."""
    x = sine(freq_hz, seconds, RATE, amplitude=0.25)
    y = render(x, RATE, replace(make_settings(bit_depth="32f", fixes=fixes), loudness=LoudnessSettings(None)))
    middle = slice(RATE, 3 * RATE)
    return level_db(y[middle, 0]) - level_db(x[middle, 0])


def test_dc_is_removed_and_music_is_untouched():
    music = drum_loop(4.0, RATE, seed=2) * 0.4
    settings = replace(make_settings(bit_depth="32f", fixes=FixSettings(remove_dc=True, highpass_hz=None)),
                       loudness=LoudnessSettings(None))
    with_dc = render(music + np.array([0.05, -0.03]), RATE, settings)  # -26 and -30 dBFS of DC
    without = render(music, RATE, settings)
    middle = slice(RATE // 2, -RATE // 2)  # away from the FIR's settling at the ends
    # The filter is linear and maps a constant to exactly 0: only rounding is left.
    assert np.max(np.abs(with_dc[middle] - without[middle])) < 1e-6
    assert tone_gain_db(30.0, FixSettings(remove_dc=True, highpass_hz=None)) == pytest.approx(0.0, abs=0.02)


@pytest.mark.parametrize(
    ("freq_hz", "expected_db", "tolerance_db"),
    # A 4th-order Butterworth high-pass: -10 log10(1 + (fc / f) ** 8). The linear-phase FIR
    # (0.37 s) resolves about 8 Hz: below the corner the slope is followed more loosely.
    [(10.0, -24.08, 3.0), (20.0, -3.01, 0.4), (40.0, -0.017, 0.1), (1000.0, 0.0, 0.01)],
)
def test_subsonic_highpass_follows_its_analytic_curve(freq_hz, expected_db, tolerance_db):
    fixes = FixSettings(remove_dc=False, highpass_hz=20.0)
    assert tone_gain_db(freq_hz, fixes, seconds=6.0) == pytest.approx(expected_db, abs=tolerance_db)


def test_inverted_right_channel_is_detected_flipped_and_switchable():
    base = pink_noise(6.0, RATE, rms=0.1, seed=5, correlation=0.8)
    mix = base * np.array([1.0, -1.0])
    a = analyze(mix, RATE)
    assert a.lr_correlation < -0.5
    settings = fit(a, analyze(base, RATE))
    assert settings.fixes.invert_right
    y = render(mix, RATE, settings)
    assert analyze(y, RATE).lr_correlation > 0.5
    # The EQ was fitted on the flipped mix: the master's tonal balance is the reference's.
    assert np.max(np.abs(np.asarray(settings.eq.gain_db)[(band_centers_hz() > 100) & (band_centers_hz() < 8000)])) < 1.0
    kept = fit(a, analyze(base, RATE), FitConfig(fix_polarity=False))
    assert not kept.fixes.invert_right


def test_unbalanced_channels_are_levelled():
    base = pink_noise(6.0, RATE, rms=0.1, seed=6, correlation=0.5)
    mix = base * np.array([10 ** (3 / 20), 1.0])
    settings = fit(analyze(mix, RATE), analyze(base, RATE))
    assert settings.fixes.balance_db == pytest.approx(3.0, abs=0.1)
    y = render(mix, RATE, settings)
    assert level_db(y[:, 0]) - level_db(y[:, 1]) == pytest.approx(0.0, abs=0.1)
    assert fit(analyze(mix, RATE), analyze(base, RATE), FitConfig(fix_balance=False)).fixes.balance_db == 0.0
    slight = base * np.array([10 ** (1 / 20), 1.0])  # within taste: left alone
    assert fit(analyze(slight, RATE), analyze(base, RATE)).fixes.balance_db == 0.0


def side_to_mid_db(x, lo_hz, hi_hz):
    spectrum = np.fft.rfft(x, axis=0)
    f = np.fft.rfftfreq(x.shape[0], 1 / RATE)
    band = (f >= lo_hz) & (f <= hi_hz)
    mid = np.sum(np.abs(spectrum[band, 0] + spectrum[band, 1]) ** 2)
    side = np.sum(np.abs(spectrum[band, 0] - spectrum[band, 1]) ** 2)
    return 10 * np.log10(side / mid)


def with_side_gain(x, gain):
    mid, side = (x[:, 0] + x[:, 1]) / 2, (x[:, 0] - x[:, 1]) / 2 * gain
    return np.column_stack([mid + side, mid - side])


def test_width_is_fitted_toward_the_reference_and_scaled_by_its_amount():
    reference = pink_noise(8.0, RATE, rms=0.1, seed=7, correlation=0.5)
    mix = with_side_gain(reference, 10 ** (-6 / 20))  # 6 dB narrower everywhere
    config = FitConfig(remove_dc=False, highpass_hz=None, dynamics_amount=0.0)
    settings = fit(analyze(mix, RATE), analyze(reference, RATE), config)
    y = render(mix, RATE, settings)
    for lo, hi in ((200, 400), (1000, 2000), (4000, 8000)):
        assert side_to_mid_db(y, lo, hi) == pytest.approx(side_to_mid_db(reference, lo, hi), abs=0.5)
    half = fit(analyze(mix, RATE), analyze(reference, RATE), replace(config, width_amount=0.5))
    y = render(mix, RATE, half)
    assert side_to_mid_db(y, 1000, 2000) - side_to_mid_db(mix, 1000, 2000) == pytest.approx(3.0, abs=0.5)
    # The tonal balance is the EQ's job: matched already, so flat.
    assert np.max(np.abs(np.asarray(settings.eq.gain_db)[(band_centers_hz() > 100) & (band_centers_hz() < 8000)])) < 0.5


def test_low_end_correlation_is_never_driven_negative():
    # A reference whose bass is wider than mono-compatible (side above mid), a mix with mono bass.
    rng_ref = pink_noise(8.0, RATE, rms=0.1, seed=8, correlation=0.0)
    reference = with_side_gain(rng_ref, 2.0)
    mix = with_side_gain(rng_ref, 0.3)
    # The guards of the whole range (correlation, fold-down: tests/test_width_guard.py) would
    # hold the width back everywhere; off, the low end's own guard is left to show.
    config = FitConfig(dynamics_amount=0.0, width_min_correlation=-1.0, width_max_fold_down_db=None)
    settings = fit(analyze(mix, RATE), analyze(reference, RATE), config)
    y = render(mix, RATE, settings)
    assert side_to_mid_db(reference, 40, 110) > 3.0
    assert side_to_mid_db(y, 40, 110) <= 0.0
    assert analyze(y, RATE).band_lr_correlation[0] >= 0.0
    # Higher up the width follows the reference.
    assert side_to_mid_db(y, 1000, 4000) == pytest.approx(side_to_mid_db(reference, 1000, 4000), abs=0.7)


def test_mono_below_removes_the_low_side_only():
    x = pink_noise(6.0, RATE, rms=0.1, seed=9, correlation=0.3)
    centers = tuple(band_centers_hz().tolist())
    settings = replace(
        make_settings(bit_depth="32f"),
        loudness=LoudnessSettings(None),
        width=WidthSettings(centers, tuple(0.0 for _ in centers), mono_below_hz=150.0),
    )
    y = render(x, RATE, settings)
    assert side_to_mid_db(y, 30, 60) < side_to_mid_db(x, 30, 60) - 25.0
    assert side_to_mid_db(y, 1000, 8000) == pytest.approx(side_to_mid_db(x, 1000, 8000), abs=0.05)


def sections(levels_db, section_s=6.0, seed=10):
    """Pink noise whose level steps through ``levels_db``: a known loudness range."""
    x = pink_noise(section_s * len(levels_db), RATE, rms=0.1, seed=seed, correlation=0.5)
    gain = np.repeat(10 ** (np.asarray(levels_db) / 20), int(section_s * RATE))
    return x[: gain.shape[0]] * gain[:, None]


def independent_lra(x):
    return pyloudnorm.Meter(RATE).loudness_range(x)


@pytest.mark.parametrize("target_lu", [4.0, 8.0, 14.0])
def test_leveler_brings_the_loudness_range_to_its_target(target_lu):
    x = sections([0, -8, -3, -10, 0, -6, -2, -9])
    start = independent_lra(x)
    assert 7.0 < start < 11.0
    settings = make_settings(-20.0, bit_depth="32f", dynamics=DynamicsSettings(target_lra_lu=target_lu))
    y = render(x, RATE, settings)
    assert independent_lra(y) == pytest.approx(target_lu, abs=0.5)
    assert analyze(y, RATE).integrated_lufs == pytest.approx(-20.0, abs=0.05)
    half = make_settings(-20.0, bit_depth="32f", dynamics=DynamicsSettings(target_lra_lu=target_lu, amount=0.5))
    assert independent_lra(render(x, RATE, half)) == pytest.approx((start + target_lu) / 2, abs=0.6)


def test_leveler_rides_slowly_and_within_its_range():
    x = sections([0, -12, 0, -12], section_s=8.0)
    settings = make_settings(-20.0, bit_depth="32f", dynamics=DynamicsSettings(target_lra_lu=2.0, max_gain_db=4.0))
    y = render(x, RATE, settings)
    gain_db = 10 * np.log10(np.convolve(y[:, 0] ** 2, np.ones(4410), "valid") / np.convolve(x[:, 0] ** 2, np.ones(4410), "valid"))
    ride = gain_db - np.median(gain_db)
    assert np.ptp(ride) <= 2 * 4.0 + 0.5  # within ±max_gain_db (plus the 100 ms meter's wobble)
    assert np.max(np.abs(np.diff(ride[::441]))) < 1.5  # no step over 1.5 dB in 10 ms: no pumping


def test_a_matched_loudness_range_leaves_the_leveler_flat():
    x = sections([0, -8, -3, -10])
    a = analyze(x, RATE)
    settings = fit(a, a, FitConfig(remove_dc=False, highpass_hz=None))
    assert settings.dynamics.target_lra_lu == pytest.approx(a.loudness_range_lu, abs=0.01)
    y = render(x, RATE, settings)
    # Band-limited, as every master, its gain given back; the first and last 100 ms left out
    # (the reference's band limit wraps the signal's abrupt ends around).
    reference = band_limited(x, RATE)
    gain = float(np.sum(y * reference) / np.sum(reference**2))
    assert abs(20 * np.log10(gain)) < 0.1
    edge = RATE // 10
    assert np.max(np.abs(y - gain * reference)[edge:-edge]) < 10 ** (-60 / 20)
