"""The EQ's phase modes: magnitude, pre-echo, alignment, stereo coherence, streaming, and the
settings and options that choose them.

Pre-echo is measured on click kicks and snares (:func:`signals.click_drums`) through a
curve a mastering EQ meets in practice at its worst: +10 dB below 100 Hz and -10 dB above
4 kHz, with the default fixes (DC removal, 20 Hz high-pass).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st
from signals import click_drums, pink_noise, pre_echo, white_noise

from matcher import (
    BandCompressor,
    DynamicsSettings,
    EqSettings,
    LoudnessSettings,
    OutputSettings,
    Settings,
    WidthSettings,
    render,
)
from matcher.analysis.spectrum import band_centers_hz
from matcher.dsp.eq import PHASES, MidSideEQ
from matcher.dsp.filters import butterworth_highpass_gain, interpolate_curve_db, linear_phase_eq, minimum_phase_eq
from matcher.errors import SettingsError, UsageError
from matcher.fitting.fit import fit
from matcher.fitting.settings import EQ_PHASES
from matcher.options import PYTHON_NAMES, fit_config
from matcher.rendering.renderer import Renderer, collect_into, render_stream

RATE = 44100
CENTERS = band_centers_hz()
BOOST_AND_CUT_DB = np.where(CENTERS < 100.0, 10.0, np.where(CENTERS > 4000.0, -10.0, 0.0))
"""The pre-echo test's curve: +10 dB below 100 Hz, -10 dB above 4 kHz."""
SMOOTH_DB = 4.0 * np.tanh(np.log2(CENTERS / 1000.0) / 3.0) + 3.0 * np.exp(-np.log2(CENTERS / 60.0) ** 2)
"""A curve as the fit makes them: a tilt and a broad low bump (within ±7 dB)."""
WIDTH_DB = 3.0 * np.sin(np.log2(CENTERS / 100.0))
"""A width curve: ±3 dB swings of the side, one every two octaves."""
BAND_HZ = (30.0, 16000.0)
DEFAULT_PHASE = fit_config().eq_phase


def impulse_responses(eq: MidSideEQ, length: int, at: int) -> tuple[np.ndarray, np.ndarray]:
    """The mid and side impulse responses of an EQ, time zero at sample ``at``."""
    x = np.zeros((length, 2), dtype=np.float32)
    x[at] = (1.0, 1.0)  # mid only
    mid = np.concatenate([eq.process(x), eq.finish()])[:, 0]
    eq.reset()
    x[at] = (1.0, -1.0)  # side only
    side = np.concatenate([eq.process(x), eq.finish()])[:, 0]
    eq.reset()
    return mid.astype(np.float64), side.astype(np.float64)


def response_db(h: np.ndarray, frequencies_hz: np.ndarray) -> np.ndarray:
    _, response = scipy.signal.freqz(h, worN=frequencies_hz, fs=RATE)
    return 20 * np.log10(np.abs(response))


def drum_settings(phase: str, width: WidthSettings | None = None) -> Settings:
    """The pre-echo test's settings: the EQ's curve, default fixes, no loudness change."""
    return Settings(
        eq=EqSettings(tuple(CENTERS), tuple(BOOST_AND_CUT_DB), phase=phase),
        width=width,
        loudness=LoudnessSettings(None),
        output=OutputSettings("32f"),
    )


# --- the filters ------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", [BOOST_AND_CUT_DB, SMOOTH_DB, -SMOOTH_DB])
@pytest.mark.parametrize("highpass_hz", [(), (20.0,)])
def test_minimum_phase_eq_is_scipys_minimum_phase_of_the_linear_eq(curve, highpass_hz):
    # scipy's homomorphic design returns the square root of its input's magnitude: given
    # h * h, it designs the minimum-phase filter with h's magnitude, which is unique. (scipy
    # adds 1e-7 of the smallest magnitude before the logarithm: differences of 1e-8.)
    linear = linear_phase_eq(CENTERS, curve, RATE, highpass_hz)
    minimum = minimum_phase_eq(CENTERS, curve, RATE, highpass_hz)
    expected = scipy.signal.minimum_phase(np.convolve(linear, linear), method="homomorphic", n_fft=1 << 19)
    assert minimum.shape == linear.shape == expected.shape
    np.testing.assert_allclose(minimum, expected, rtol=0, atol=1e-7)
    f = np.geomspace(*BAND_HZ, 500)
    np.testing.assert_allclose(response_db(minimum, f), response_db(linear, f), atol=0.01)
    # Minimum phase: no filter of this magnitude has more of its energy this early.
    early = np.cumsum(minimum**2) - np.cumsum(linear**2)
    assert np.min(early) > -1e-9 and minimum[0] > 0


def test_minimum_phase_eq_removes_dc_exactly_and_keeps_20_hz():
    with_dc = minimum_phase_eq(CENTERS, SMOOTH_DB, RATE)
    without = minimum_phase_eq(CENTERS, SMOOTH_DB, RATE, zero_dc=True)
    assert abs(without.sum()) < 1e-12 < abs(with_dc.sum())
    f = np.geomspace(20.0, 20000.0, 300)
    np.testing.assert_allclose(response_db(without, f), response_db(with_dc, f), atol=0.01)


@pytest.mark.parametrize("phase", PHASES)
def test_every_mode_follows_the_curves(phase):
    # Mid: the EQ and the 20 Hz high-pass; side: also the width and a 60 Hz mono-below slope.
    eq = MidSideEQ(CENTERS, SMOOTH_DB, SMOOTH_DB + WIDTH_DB, RATE, 2, highpass_hz=20.0, zero_dc=True,
                   side_highpass_hz=60.0, phase=phase)
    mid, side = impulse_responses(eq, 3 * RATE, RATE)
    f = np.geomspace(*BAND_HZ, 800)
    target_mid = 20 * np.log10(butterworth_highpass_gain(f, 20.0)) + interpolate_curve_db(CENTERS, SMOOTH_DB, f)
    target_side = target_mid + interpolate_curve_db(CENTERS, WIDTH_DB, f) + 20 * np.log10(
        butterworth_highpass_gain(f, 60.0))
    np.testing.assert_allclose(response_db(mid, f), target_mid, atol=0.1)
    above = f >= 50.0  # below, the side's 24 dB/octave slope is too steep for a 0.1 dB check
    np.testing.assert_allclose(response_db(side, f)[above], target_side[above], atol=0.1)
    # Every mode has the magnitude of the linear-phase filters.
    linear = MidSideEQ(CENTERS, SMOOTH_DB, SMOOTH_DB + WIDTH_DB, RATE, 2, highpass_hz=20.0, zero_dc=True,
                       side_highpass_hz=60.0)
    lin_mid, lin_side = impulse_responses(linear, 3 * RATE, RATE)
    np.testing.assert_allclose(response_db(mid, f), response_db(lin_mid, f), atol=0.01)
    np.testing.assert_allclose(response_db(side, f)[above], response_db(lin_side, f)[above], atol=0.05)


@pytest.mark.parametrize("phase, coherent", [("linear", True), ("minimum", False), ("mixed", True)])
def test_mid_and_side_keep_the_same_phase_in_linear_and_mixed(phase, coherent):
    # Where the side's gain differs from the mid's, a different phase would pan sources:
    # linear and mixed keep the phases equal at every frequency, minimum does not.
    eq = MidSideEQ(CENTERS, BOOST_AND_CUT_DB, BOOST_AND_CUT_DB + WIDTH_DB, RATE, 2, highpass_hz=20.0, phase=phase)
    mid, side = impulse_responses(eq, 3 * RATE, RATE)
    f = np.geomspace(*BAND_HZ, 800)
    _, mid_response = scipy.signal.freqz(mid, worN=f, fs=RATE)
    _, side_response = scipy.signal.freqz(side, worN=f, fs=RATE)
    difference_deg = np.degrees(np.abs(np.angle(side_response / mid_response)))
    if coherent:
        assert np.max(difference_deg) < 0.5
    else:
        assert np.max(difference_deg) > 10.0


@pytest.mark.parametrize("phase", PHASES)
def test_mid_only_eq_filters_left_and_right_alike(phase):
    # Different content left and right, width neutral: each channel through the same filter
    # (the EQ's impulse response), with no leak between them, checked by scipy's convolution.
    x = white_noise(2.0, RATE, seed=21)
    x[:, 1] = pink_noise(2.0, RATE, seed=22)[:, 0]
    settings_ = replace(drum_settings(phase), width=WidthSettings(tuple(CENTERS), (0.0,) * len(CENTERS)))
    eq = Renderer(settings_, RATE, 2)._eq()
    at = RATE // 2
    impulse = np.zeros((x.shape[0] + at, 2))
    impulse[at] = (1.0, 1.0)
    h = np.concatenate([eq.process(impulse), eq.finish()])
    np.testing.assert_array_equal(h[:, 0], h[:, 1])
    eq.reset()
    y = np.concatenate([eq.process(x), eq.finish()])
    for channel in (0, 1):
        expected = scipy.signal.oaconvolve(x[:, channel], h[:, 0])[at : at + x.shape[0]]
        np.testing.assert_allclose(y[:, channel], expected, rtol=0, atol=2e-6)


# --- rendering --------------------------------------------------------------------------------


def test_default_phase_has_no_pre_echo():
    # Issue 16: the linear-phase EQ rang up to 115 ms ahead of a kick, at -16.6 dB.
    x, onsets = click_drums(RATE)
    y = render(x, RATE, drum_settings(DEFAULT_PHASE))
    pre_echo_db, earliest_ms = pre_echo(y, onsets, RATE)
    assert pre_echo_db <= -30.0
    assert earliest_ms < 1.0
    linear_db, linear_ms = pre_echo(render(x, RATE, drum_settings("linear")), onsets, RATE)
    assert linear_db > -20.0 and linear_ms > 50.0  # the measurement sees what it is for


def test_the_compressor_adds_no_pre_echo_above_the_limit():
    # The multiband compressor's frames (46 ms) multiply each frame's spectrum by the band
    # gains: where those differ between bands, that is a zero-phase filter within the
    # frame, which rings ahead of a transient by up to a frame. With a fit's kind of bands
    # (2:1 below 1 kHz, several dB of make-up) it stays far under the limit.
    bands = (
        BandCompressor(-32.0, 2.0, attack_ms=30.0, release_ms=250.0, makeup_db=6.0),
        BandCompressor(-24.0, 2.0, attack_ms=15.0, release_ms=180.0, makeup_db=4.0),
        BandCompressor(-27.0, 1.0, makeup_db=0.0),
        BandCompressor(-38.0, 1.0, makeup_db=0.0),
    )
    x, onsets = click_drums(RATE)
    compressed = replace(drum_settings(DEFAULT_PHASE), dynamics=DynamicsSettings(bands=bands))
    parts: list[np.ndarray] = []
    report = render_stream(lambda: [x], RATE, 2, compressed, lambda: collect_into(parts))
    assert max(report.compressor_max_reduction_db) > 3.0  # it compresses the hits
    pre_echo_db, _ = pre_echo(np.concatenate(parts), onsets, RATE)
    assert pre_echo_db <= -30.0


def test_mixed_phase_keeps_mid_transients_clean_with_the_width_active():
    # The width rings ahead only on the side; the kicks are all mid.
    x, onsets = click_drums(RATE)
    width = WidthSettings(tuple(CENTERS), tuple(WIDTH_DB - 6.0 * (CENTERS < 100)), mono_below_hz=40.0)
    y = render(x, RATE, drum_settings("mixed", width))
    kicks_db, kicks_ms = pre_echo(y, onsets[::2], RATE)
    assert kicks_db < -100.0 and kicks_ms == 0.0


@pytest.mark.parametrize("phase", PHASES)
def test_no_time_shift_and_no_polarity_flip(phase):
    x = white_noise(4.0, RATE, rms=0.05, seed=23)
    y = render(x, RATE, drum_settings(phase, WidthSettings(tuple(CENTERS), tuple(WIDTH_DB))))
    for channel in (0, 1):
        corr = np.correlate(y[20000:100000, channel], x[20000 - 50 : 100000 + 50, channel], mode="valid")
        lag = int(np.argmax(np.abs(corr)))
        assert lag - 50 == 0 and corr[lag] > 0


@settings(max_examples=10, deadline=None)
@given(split=st.lists(st.integers(1, 40000), min_size=1, max_size=6), phase=st.sampled_from(PHASES))
def test_streaming_in_any_blocks_equals_the_whole(split, phase):
    x = pink_noise(2.5, RATE, seed=24).astype(np.float32)
    eq = MidSideEQ(CENTERS, BOOST_AND_CUT_DB, BOOST_AND_CUT_DB + WIDTH_DB, RATE, 2, highpass_hz=20.0, zero_dc=True,
                   side_highpass_hz=50.0, phase=phase)
    whole = np.concatenate([eq.process(x), eq.finish()])
    eq.reset()
    edges = np.unique(np.clip(np.cumsum(split), 0, x.shape[0]))
    parts = [eq.process(block) for block in np.split(x, edges)] + [eq.finish()]
    blocks = np.concatenate(parts)
    assert blocks.shape == whole.shape == x.shape
    np.testing.assert_allclose(blocks, whole, rtol=0, atol=1e-6)


@pytest.mark.parametrize("phase", PHASES)
def test_rendering_in_blocks_equals_rendering_the_whole(phase):
    x, _ = click_drums(RATE, hits=4)
    s = drum_settings(phase, WidthSettings(tuple(CENTERS), tuple(WIDTH_DB), mono_below_hz=40.0))
    whole = render(x, RATE, s)
    parts: list[np.ndarray] = []
    blocks = [x[i : i + 12345] for i in range(0, x.shape[0], 12345)]
    render_stream(lambda: iter(blocks), RATE, 2, s, lambda: collect_into(parts))
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=0, atol=1e-6)


# --- settings and options ---------------------------------------------------------------------


def test_settings_saved_without_the_phase_load_and_render_as_linear():
    x, _ = click_drums(RATE, hits=2)
    linear = drum_settings("linear")
    data = json.loads(linear.to_json())
    del data["eq"]["phase"]  # as saved before the field existed
    old = Settings.from_json(json.dumps(data))
    assert old.eq.phase == "linear" and old == linear
    np.testing.assert_array_equal(render(x, RATE, old), render(x, RATE, linear))
    assert not np.array_equal(render(x, RATE, old), render(x, RATE, drum_settings("minimum")))


def test_the_settings_know_every_phase_of_the_eq():
    assert EQ_PHASES == PHASES


@pytest.mark.parametrize("phase", PHASES)
def test_phase_round_trips_through_json(phase):
    s = drum_settings(phase)
    assert Settings.from_json(s.to_json()) == s
    assert json.loads(s.to_json())["eq"]["phase"] == phase


def test_unknown_phase_is_refused():
    with pytest.raises(ValueError, match="EQ phase"):
        EqSettings(tuple(CENTERS), tuple(SMOOTH_DB), phase="natural")
    data = json.loads(drum_settings("mixed").to_json())
    data["eq"]["phase"] = "natural"
    with pytest.raises(SettingsError, match="natural"):
        Settings.from_json(json.dumps(data))
    with pytest.raises(UsageError, match="eq_phase= 'natural'"):
        fit_config(eq_phase="natural", names=PYTHON_NAMES)
    with pytest.raises(UsageError, match="no effect"):
        fit_config(eq_phase="linear", only=["loudness"], names=PYTHON_NAMES)


@pytest.mark.parametrize("phase", [None, *PHASES])
def test_the_option_reaches_the_fitted_settings(phase, tmp_path):
    from matcher.analysis.analyzer import analyze

    mix = analyze(pink_noise(4.0, RATE, seed=25, correlation=0.5), RATE)
    reference = analyze(pink_noise(4.0, RATE, seed=26, correlation=0.3) * 2.0, RATE)
    fitted = fit(mix, reference, fit_config(eq_phase=None if phase is None else phase.upper()))
    assert fitted.eq.phase == (DEFAULT_PHASE if phase is None else phase)
