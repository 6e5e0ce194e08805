"""The condition of a mix: DC, balance, correlation, clipping, silence, and the warnings."""

import numpy as np
import pytest
from signals import pink_noise, sine, white_noise

from matcher.analysis.analyzer import analyze
from matcher.analysis.condition import ConditionMeter, mix_problems

RATE = 44100


def test_dc_offset_reads_the_mean_of_each_channel():
    x = pink_noise(5.0, RATE, rms=0.05, seed=1)
    x[:, 0] += 0.01  # -40 dBFS
    a = analyze(x, RATE)
    assert a.dc_offset_dbfs[0] == pytest.approx(-40.0, abs=0.2)
    assert a.dc_offset_dbfs[1] < -60.0


def test_balance_is_left_minus_right():
    x = pink_noise(5.0, RATE, rms=0.05, seed=2)
    x[:, 1] *= 0.5
    assert analyze(x, RATE).channel_balance_db == pytest.approx(20 * np.log10(2.0), abs=0.01)


@pytest.mark.parametrize("kind, expected", [("mono", 1.0), ("inverted", -1.0), ("unrelated", 0.0)])
def test_correlation_of_mono_inverted_and_unrelated_channels(kind, expected):
    left = pink_noise(6.0, RATE, rms=0.05, seed=3, channels=1)[:, 0]
    right = {"mono": left, "inverted": -left, "unrelated": pink_noise(6.0, RATE, rms=0.05, seed=4, channels=1)[:, 0]}
    a = analyze(np.column_stack([left, right[kind]]), RATE)
    assert a.lr_correlation == pytest.approx(expected, abs=0.05)
    np.testing.assert_allclose(a.band_lr_correlation, expected, atol=0.1)


def test_band_correlation_tells_a_mono_bass_from_wide_highs():
    bass = sine(60.0, 6.0, RATE, amplitude=0.3, fade_s=0.0)  # the same in both channels
    air = white_noise(6.0, RATE, rms=0.05, seed=5)  # unrelated channels
    a = analyze(bass + air, RATE)
    assert a.band_lr_correlation[0] == pytest.approx(1.0, abs=0.02)
    assert a.band_lr_correlation[-1] == pytest.approx(0.0, abs=0.05)


def test_clipped_runs_are_counted_once_whatever_the_blocks():
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (100000, 2))
    for i, start in enumerate([1000, 20000, 49998, 70000, 99997]):  # one across 50000, one at the end
        x[start : start + 4, 0] = 1.0 if i % 2 else -1.0
    x[30000:30002, 1] = 1.0  # two samples: a peak, not a clip
    for block in (1, 7, 33333, 50000, 100000):
        meter = ConditionMeter(RATE, 2)
        for start in range(0, x.shape[0], block):
            meter.process(x[start : start + block])
        assert meter.finish().clipped_runs == 5


def test_a_hard_clipped_tone_shows_one_run_per_half_period():
    x = np.clip(sine(100.0, 4.0, RATE, amplitude=2.0, fade_s=0.0), -1.0, 1.0)
    a = analyze(x, RATE)
    assert a.clipped_runs == pytest.approx(2 * 2 * 100 * 4, abs=4)  # 2 channels, 2 half-periods per cycle
    assert any(p.startswith("clipped") for p in mix_problems(a))


def test_leading_and_trailing_silence():
    tone = sine(440.0, 3.0, RATE, amplitude=0.3, fade_s=0.0)
    x = np.concatenate([np.zeros((2 * RATE, 2)), tone, np.zeros((int(1.5 * RATE), 2))])
    a = analyze(x, RATE)
    assert a.leading_silence_s == pytest.approx(2.0, abs=0.001)
    assert a.trailing_silence_s == pytest.approx(1.5, abs=0.001)
    assert any("silence at the start" in p for p in mix_problems(a))


def test_a_clean_mix_raises_no_warning_and_each_problem_its_own():
    clean = pink_noise(5.0, RATE, rms=0.05, seed=6, correlation=0.5)
    assert mix_problems(analyze(clean, RATE)) == []
    inverted = clean.copy()
    inverted[:, 1] = -clean[:, 0]
    assert any("out of phase" in p for p in mix_problems(analyze(inverted, RATE)))
    unbalanced = clean * [1.0, 0.6]
    assert any("unbalanced: the left channel" in p for p in mix_problems(analyze(unbalanced, RATE)))
    offset = clean + [0.02, 0.0]
    assert any("DC offset on the left" in p for p in mix_problems(analyze(offset, RATE)))
    squashed = np.tanh(8 * clean) * 0.9
    assert any("already limited" in p for p in mix_problems(analyze(squashed, RATE)))


def test_overs_in_a_float_mix_are_not_clipping():
    # A float mix peaking above full scale, unclipped: its tops are round, not flat.
    x = sine(100.0, 4.0, RATE, amplitude=1.5, fade_s=0.0)
    assert analyze(x, RATE).clipped_runs == 0


def test_a_reference_analysed_without_its_condition_round_trips_and_warns_of_nothing():
    from matcher import Analysis
    from matcher.analysis.analyzer import Analyzer

    x = np.clip(pink_noise(4.0, RATE, rms=0.5, seed=7), -1.0, 1.0)  # clipped and loud
    analyzer = Analyzer(RATE, 2, true_peak=False, condition=False)
    analyzer.process(x)
    a = analyzer.finish()
    assert a.clipped_runs is None and a.dc_offset_dbfs is None
    assert a.sample_peak_dbfs == pytest.approx(0.0, abs=1e-9)
    assert Analysis.from_json(a.to_json()) == a
    assert mix_problems(a) == []
    assert mix_problems(analyze(x, RATE))  # measured, it would warn
