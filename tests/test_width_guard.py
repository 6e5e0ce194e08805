"""The width's guards: a side boost never takes a band's left/right correlation below 0, nor
adds more than 1 dB to its loss on the mono fold-down, and every boost held back is told.

Correlation and fold-down loss are measured here with scipy's Butterworth band-passes on
the left and right channels (Pearson's correlation, and ``L² + R²`` against
``(L + R)² / 2``), independent of the package's mid/side analysis.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from typer.testing import CliRunner

import signals

from matcher import FitConfig, Settings, analyze, fit, render
from matcher.cli.app import app
from matcher.fitting.settings import WidthLimit, frequency_range_text
from matcher.notes import NOTE, width_notes

RATE = 44100
DURATION_S = 8.0
EDGES_HZ = (300.0, 3000.0, 10000.0)
MIX_CORRELATIONS = (0.95, 0.95, 0.1, 0.9)
"""Mono-like bass and midrange (corr 0.95), an already wide 3-10 kHz, narrow air."""
REFERENCE_CORRELATIONS = (0.9, -0.3, -0.4, 0.8)
"""The reference's midrange and 3-10 kHz wider than mono-compatible (negative correlation)."""
THIRD_OCTAVES_HZ = 1000.0 * 2.0 ** (np.arange(-16, 13) / 3.0)  # 25 Hz-16 kHz
CORRELATION_TOLERANCE = 0.03
LOSS_TOLERANCE_DB = 0.15
CONFIG = FitConfig(dynamics_amount=0.0, remove_dc=False, highpass_hz=None)
UNGUARDED = replace(CONFIG, width_min_correlation=-1.0, width_max_fold_down_db=None)


def band_figures(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per third octave: Pearson's left/right correlation and the mono fold-down loss (dB)."""
    correlations, losses = [], []
    for fc in THIRD_OCTAVES_HZ:
        sos = scipy.signal.butter(4, [fc * 2 ** (-1 / 6), fc * 2 ** (1 / 6)], btype="bandpass", fs=RATE, output="sos")
        y = scipy.signal.sosfiltfilt(sos, np.asarray(x, dtype=np.float64), axis=0)
        left, right = y[:, 0], y[:, 1]
        correlations.append(np.sum(left * right) / np.sqrt(np.sum(left**2) * np.sum(right**2)))
        losses.append(10 * np.log10(np.sum(left**2 + right**2) / np.sum((left + right) ** 2 / 2)))
    return np.array(correlations), np.array(losses)


@pytest.fixture(scope="module")
def wide_case():
    mix = signals.banded_stereo_noise(DURATION_S, RATE, EDGES_HZ, MIX_CORRELATIONS, rms=0.1, seed=21)
    reference = signals.banded_stereo_noise(DURATION_S, RATE, EDGES_HZ, REFERENCE_CORRELATIONS, rms=0.1, seed=22)
    mix_analysis, reference_analysis = analyze(mix, RATE), analyze(reference, RATE)
    return mix, mix_analysis, reference_analysis


def test_the_mix_and_reference_are_what_the_test_says(wide_case):
    mix, _, _ = wide_case
    correlation, _ = band_figures(mix)
    mid = (THIRD_OCTAVES_HZ > 400) & (THIRD_OCTAVES_HZ < 2500)
    assert np.all(correlation[mid] > 0.9)


def test_unguarded_width_would_go_out_of_phase(wide_case):
    # Without the guards the match makes the midrange phasey: the guards below have teeth.
    mix, mix_analysis, reference_analysis = wide_case
    master = render(mix, RATE, fit(mix_analysis, reference_analysis, UNGUARDED))
    correlation, loss = band_figures(master)
    _, mix_loss = band_figures(mix)
    mid = (THIRD_OCTAVES_HZ > 400) & (THIRD_OCTAVES_HZ < 2500)
    assert np.all(correlation[mid] < -0.15)
    assert np.all(loss[mid] - mix_loss[mid] > 3.0)


def test_guarded_width_keeps_every_band_in_phase_and_mono_compatible(wide_case):
    mix, mix_analysis, reference_analysis = wide_case
    settings = fit(mix_analysis, reference_analysis, CONFIG)
    master = render(mix, RATE, settings)
    correlation, loss = band_figures(master)
    mix_correlation, mix_loss = band_figures(mix)
    assert np.all(correlation >= -CORRELATION_TOLERANCE), dict(zip(THIRD_OCTAVES_HZ.round(), correlation.round(3)))
    added = loss - mix_loss
    assert np.all(added <= 1.0 + LOSS_TOLERANCE_DB), dict(zip(THIRD_OCTAVES_HZ.round(), added.round(2)))
    # Still wider than the mix where the reference is wider: held back, not switched off.
    mid = (THIRD_OCTAVES_HZ > 400) & (THIRD_OCTAVES_HZ < 1800)
    assert np.all(added[mid] > 0.7)
    assert np.all(correlation[mid] < mix_correlation[mid] - 0.3)
    # 3-10 kHz was already wide: at most to uncorrelated.
    high = (THIRD_OCTAVES_HZ > 3500) & (THIRD_OCTAVES_HZ < 9000)
    assert np.all(correlation[high] <= mix_correlation[high])
    assert np.all(correlation[high] < 0.05)


def test_guarded_curve_has_no_narrow_notches(wide_case):
    _, mix_analysis, reference_analysis = wide_case
    settings = fit(mix_analysis, reference_analysis, CONFIG)
    gain = np.asarray(settings.width.side_gain_db)
    centers = np.asarray(settings.width.band_centers_hz)
    inner = (centers > 200) & (centers < 12000)
    # A notch: a band more than 1 dB under both its neighbours.
    dips = np.minimum(gain[:-2] - gain[1:-1], gain[2:] - gain[1:-1])
    assert np.max(dips[inner[1:-1]]) < 1.0
    # Cuts are never held back: the curves agree wherever the match cuts the side.
    wanted = np.asarray(fit(mix_analysis, reference_analysis, UNGUARDED).width.side_gain_db)
    assert np.array_equal(gain[wanted <= 0], wanted[wanted <= 0])
    assert np.all(gain <= wanted + 1e-9)


def test_limited_moves_are_recorded_with_their_bands_and_guards(wide_case):
    _, mix_analysis, reference_analysis = wide_case
    limits = fit(mix_analysis, reference_analysis, CONFIG).width.limited
    assert limits
    covered = [(limit.low_hz, limit.high_hz) for limit in limits]
    assert min(low for low, _ in covered) > 200 and max(high for _, high in covered) < 13000
    assert all(any(low <= f <= high for low, high in covered) for f in (400, 700, 1400, 2500, 5000, 8000))
    midrange = next(limit for limit in limits if limit.low_hz <= 700 <= limit.high_hz)
    assert midrange.guards[0] == "fold_down"
    # Wanted: the reference's side-to-mid ratio over the mix's, about 18.6 dB; held to
    # the 1 dB fold-down loss the mix's ratio allows (about 10.5 dB).
    assert midrange.wanted_db == pytest.approx(10 * np.log10((1.3 / 0.7) / (0.05 / 1.95)), abs=1.5)
    assert midrange.applied_db == pytest.approx(10 * np.log10(0.2589 / (0.05 / 1.95) + 1.2589), abs=1.0)
    assert midrange.fold_down_wanted_db > 3.0 and midrange.fold_down_applied_db <= 1.0
    high = next(limit for limit in limits if limit.low_hz <= 8000 <= limit.high_hz)
    assert high.guards == ("correlation",)
    assert high.correlation_wanted < 0.0 <= high.correlation_applied
    assert high.applied_db < high.wanted_db


def test_limits_are_told_as_notes(wide_case):
    _, mix_analysis, reference_analysis = wide_case
    settings = fit(mix_analysis, reference_analysis, CONFIG)
    width = width_notes(Path("mix.wav"), settings)
    assert [note.text for note in width] == [f"width: {limit.describe()}" for limit in settings.width.limited]
    assert all(note.kind == NOTE and note.subject == "mix.wav" for note in width)
    high = next(limit for limit in settings.width.limited if limit.low_hz <= 8000 <= limit.high_hz)
    assert f"{frequency_range_text(high.low_hz, high.high_hz)}, {high.applied_db:+.1f} dB applied (the left/right correlation would have fallen to " \
        f"{high.correlation_wanted:+.2f}; kept at +0.00)" in " ".join(note.text for note in width)
    midrange = next(limit for limit in settings.width.limited if limit.low_hz <= 700 <= limit.high_hz)
    assert f"(the mono fold-down would have lost {midrange.fold_down_wanted_db:.1f} dB more than the mix's; kept to " \
        f"{midrange.fold_down_applied_db:.1f} dB)" in " ".join(note.text for note in width)



def test_the_guards_hold_at_the_width_amount(wide_case):
    mix, mix_analysis, reference_analysis = wide_case
    settings = fit(mix_analysis, reference_analysis, replace(CONFIG, width_amount=0.5))
    correlation, loss = band_figures(render(mix, RATE, settings))
    _, mix_loss = band_figures(mix)
    assert np.all(correlation >= -CORRELATION_TOLERANCE)
    assert np.all(loss - mix_loss <= 1.0 + LOSS_TOLERANCE_DB)
    # Half the midrange's match (about 9.3 dB) is within its fold-down limit: not held back.
    assert not any(limit.low_hz <= 700 <= limit.high_hz for limit in settings.width.limited)
    assert any(limit.low_hz <= 8000 <= limit.high_hz for limit in settings.width.limited)


def test_a_width_the_guards_allow_is_matched_as_before():
    # The reference at correlation 0.7, the mix 6 dB narrower: the boost adds about 0.5 dB
    # of fold-down loss and leaves the correlation well above 0.
    reference = signals.pink_noise(DURATION_S, RATE, rms=0.1, seed=23, correlation=0.7)
    mid, side = (reference[:, 0] + reference[:, 1]) / 2, (reference[:, 0] - reference[:, 1]) / 2 * 10 ** (-6 / 20)
    mix = np.column_stack([mid + side, mid - side])
    mix_analysis, reference_analysis = analyze(mix, RATE), analyze(reference, RATE)
    settings = fit(mix_analysis, reference_analysis, CONFIG)
    assert settings.width.limited == ()
    assert settings.width == fit(mix_analysis, reference_analysis, UNGUARDED).width
    master = render(mix, RATE, settings)
    for low, high in ((200, 400), (1000, 2000), (4000, 8000)):
        band = (THIRD_OCTAVES_HZ >= low) & (THIRD_OCTAVES_HZ <= high)
        master_loss, reference_loss = band_figures(master)[1][band], band_figures(reference)[1][band]
        # The fold-down loss is 10 log10(1 + side/mid): equal losses, equal widths.
        assert np.all(np.abs(master_loss - reference_loss) < 0.15)
    assert width_notes(Path("mix.wav"), settings) == []


def test_limits_round_trip_and_old_settings_load(wide_case):
    _, mix_analysis, reference_analysis = wide_case
    settings = fit(mix_analysis, reference_analysis, CONFIG)
    text = settings.to_json()
    assert Settings.from_json(text) == settings
    data = json.loads(text)
    assert data["width"]["limited"][0]["guards"] == list(settings.width.limited[0].guards)
    # Settings saved before the guards existed have no "limited": they load, with none.
    del data["width"]["limited"]
    old = Settings.from_json(json.dumps(data))
    assert old.width.limited == () and old.width.side_gain_db == settings.width.side_gain_db


def test_a_limit_names_known_guards_only():
    with pytest.raises(ValueError, match="guards"):
        WidthLimit(500.0, 1000.0, ("loudness",), 12.0, 4.0, -0.05, 0.0, 3.0, 1.0)
    with pytest.raises(ValueError, match="minimum correlation"):
        FitConfig(width_min_correlation=1.0)
    with pytest.raises(ValueError, match="fold-down"):
        FitConfig(width_max_fold_down_db=0.0)


def test_suggest_tells_and_saves_the_limits(tmp_path, wide_case):
    mix, _, _ = wide_case
    reference = signals.banded_stereo_noise(DURATION_S, RATE, EDGES_HZ, REFERENCE_CORRELATIONS, rms=0.1, seed=22)
    sf.write(str(tmp_path / "mix.wav"), mix, RATE, subtype="FLOAT")
    sf.write(str(tmp_path / "ref.wav"), reference, RATE, subtype="FLOAT")
    saved = tmp_path / "settings.json"
    result = CliRunner().invoke(
        app, ["suggest", str(tmp_path / "mix.wav"), "--ref", str(tmp_path / "ref.wav"), "--json", str(saved)]
    )
    assert result.exit_code == 0, result.output
    settings = Settings.from_json(saved.read_text(encoding="utf-8"))
    assert settings.width.limited
    lines = [line for line in result.stderr.splitlines() if "width: side" in line]
    assert len(lines) == len(settings.width.limited)
    table = CliRunner().invoke(app, ["suggest", str(tmp_path / "mix.wav"), "--ref", str(tmp_path / "ref.wav")])
    assert table.exit_code == 0, table.output
    assert "width held back" in table.stdout and "fold-down" in table.stdout


def test_the_low_end_guard_sees_past_the_analysis_bands_reach():
    # Below about 220 Hz an analysis band is wider than 1/6 octave (an octave at 40 Hz): a
    # loud mono thump at 55-110 Hz makes the 30-45 Hz bands read narrow although their own
    # side is close to their mid. The guards take the widest band within reach.
    base = signals.banded_stereo_noise(DURATION_S, RATE, (45.0,), (0.3, 0.95), rms=0.1, seed=31)
    thump = scipy.signal.sosfiltfilt(
        scipy.signal.butter(4, [55, 110], btype="bandpass", fs=RATE, output="sos"),
        signals.white_noise(DURATION_S, RATE, channels=1, seed=33)[:, 0],
    )
    mix = base + (0.3 * thump / np.sqrt(np.mean(thump**2)))[:, None]
    reference = signals.banded_stereo_noise(DURATION_S, RATE, (120.0,), (-0.3, 0.8), rms=0.1, seed=32)
    settings = fit(analyze(mix, RATE), analyze(reference, RATE), CONFIG)
    master = render(mix, RATE, settings)
    low = (THIRD_OCTAVES_HZ >= 25) & (THIRD_OCTAVES_HZ <= 100)
    correlation, loss = band_figures(master)
    _, mix_loss = band_figures(mix)
    # Up to 120 Hz the side stays 1 dB under the mid: correlation (1 - r) / (1 + r) >= 0.115.
    low_end_correlation = (1 - 10 ** -0.1) / (1 + 10 ** -0.1)
    assert np.all(correlation[low] >= low_end_correlation - CORRELATION_TOLERANCE), correlation[low].round(3)
    assert np.all(loss[low] - mix_loss[low] <= 1.0 + LOSS_TOLERANCE_DB)
    assert any(limit.low_hz < 40 and "low_end" in limit.guards for limit in settings.width.limited)
