"""Loudness (ITU-R BS.1770-4) and loudness range (EBU Tech 3342) against truths and pyloudnorm."""

import json
import tracemalloc
from dataclasses import replace

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st
from signals import pink_noise, sine, stepped_sine, white_noise

from matcher.analysis.analyzer import analyze
from matcher.analysis.loudness import LoudnessMeter, energy_to_lufs, loudness_maxima
from matcher.analysis.result import Analysis
from matcher.dsp.segments import SlidingSumMaxima
from matcher.library.store import Profile

# BS.1770-4 tables 1 and 2: the K-weighting biquads at 48 kHz.
ITU_SHELF = ([1.53512485958697, -2.69169618940638, 1.19839281085285], [1.0, -1.69065929318241, 0.73248077421585])
ITU_HIGHPASS = ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621])


def itu_integrated_lufs(x: np.ndarray) -> float:
    """Independent BS.1770-4 meter at 48 kHz: the standard's coefficients, lfilter, gating."""
    y = scipy.signal.lfilter(*ITU_HIGHPASS, scipy.signal.lfilter(*ITU_SHELF, x, axis=0), axis=0)
    hop = 4800
    blocks = (y.shape[0] - 4 * hop) // hop + 1
    z = np.array([np.sum(np.mean(y[j * hop : j * hop + 4 * hop] ** 2, axis=0)) for j in range(blocks)])
    lk = -0.691 + 10 * np.log10(z)
    z = z[lk > -70]
    rel = -0.691 + 10 * np.log10(z.mean()) - 10
    z = z[-0.691 + 10 * np.log10(z) > rel]
    return float(-0.691 + 10 * np.log10(z.mean()))


def meter_lufs(x, rate, block=None):
    meter = LoudnessMeter(rate, x.shape[1])
    step = block or x.shape[0]
    for i in range(0, x.shape[0], step):
        meter.process(x[i : i + step])
    return meter.finish()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_integrated_matches_the_standards_coefficients(seed):
    x = pink_noise(6.0, 48000, rms=0.05 * (seed + 1), seed=seed)
    x[: 48000] *= 0.02  # a quiet intro that the gate must drop
    assert meter_lufs(x, 48000).integrated_lufs() == pytest.approx(itu_integrated_lufs(x), abs=0.005)


@pytest.mark.parametrize("rate", [22050, 32000, 44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2])
def test_integrated_agrees_with_pyloudnorm(rate, channels):
    # pyloudnorm normalises the RLB high-pass numerator (0.995 for BS.1770's 1.0): a constant
    # offset of about -0.04 dB, plus small bilinear-design differences away from 48 kHz.
    x = pink_noise(5.0, rate, rms=0.1, channels=channels, seed=rate)
    ours = meter_lufs(x, rate).integrated_lufs()
    theirs = pyloudnorm.Meter(rate).integrated_loudness(x)
    assert ours == pytest.approx(theirs + 0.043, abs=0.05)


def test_full_scale_1khz_sine_reads_its_level():
    # EBU Tech 3341 test 1 style: 997 Hz sine at -23 dBFS in both channels reads -23 LUFS.
    x = sine(997.0, 20.0, 48000, amplitude=10 ** (-23 / 20), fade_s=0.0)
    assert meter_lufs(x, 48000).integrated_lufs() == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("block", [1000, 4799, 65536])
def test_blockwise_equals_whole(block):
    x = white_noise(4.0, 44100, seed=3)
    assert meter_lufs(x, 44100, block).integrated_lufs() == pytest.approx(
        meter_lufs(x, 44100).integrated_lufs(), abs=1e-9
    )


@pytest.mark.parametrize("gain_db", [-20.0, -6.0, 3.0])
def test_gain_moves_loudness_by_the_same_amount(gain_db):
    x = pink_noise(5.0, 44100, seed=4)
    base = meter_lufs(x, 44100).integrated_lufs()
    assert meter_lufs(x * 10 ** (gain_db / 20), 44100).integrated_lufs() == pytest.approx(base + gain_db, abs=1e-6)


@pytest.mark.parametrize(
    "levels, expected_lu",
    [  # EBU Tech 3342 test signals 1-4 (1 kHz sine, 20 s per level; levels in LUFS).
        ([-20, -30], 10.0),
        ([-20, -15], 5.0),
        ([-40, -20], 20.0),
        ([-50, -35, -20, -35, -50], 15.0),
    ],
)
def test_loudness_range_ebu_3342_cases(levels, expected_lu):
    # Calibrate: shift the sine so that each step reads its level in LUFS.
    x = stepped_sine(levels, 20.0, 48000)
    offset = meter_lufs(stepped_sine([levels[0]], 20.0, 48000), 48000).integrated_lufs() - levels[0]
    x = x * 10 ** (-offset / 20)
    assert meter_lufs(x, 48000).loudness_range_lu() == pytest.approx(expected_lu, abs=1.0)


def test_short_term_series_of_a_steady_signal_is_flat():
    x = sine(1000.0, 10.0, 44100, amplitude=0.1, fade_s=0.0)
    analysis = analyze(x, 44100)
    st = np.array(analysis.short_term_lufs)
    assert st.shape[0] == 10 * 10 - 30 + 1
    assert np.ptp(st) < 0.01
    assert st[0] == pytest.approx(analysis.integrated_lufs, abs=0.01)


def test_silence_is_a_documented_result():
    analysis = analyze(np.zeros((44100 * 4, 2)), 44100)
    assert analysis.is_silent
    assert analysis.integrated_lufs == -200.0
    assert analysis.true_peak_dbtp == -200.0


# --- loudest windows over every window start (EBU Tech 3341 max M and max S) --------------


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=200),
    windows=st.tuples(st.integers(1, 50), st.integers(1, 50)),
    cuts=st.lists(st.integers(0, 200), max_size=6),
)
def test_sliding_sum_maxima_equal_brute_force_however_the_stream_is_cut(values, windows, cuts):
    x = np.asarray(values)
    tracker = SlidingSumMaxima(windows)
    for part in np.split(x, sorted(c for c in cuts if c <= x.shape[0])):
        tracker.process(part)
    for window, got in zip(windows, tracker.maxima):
        if x.shape[0] < window:
            assert got is None
        else:
            want = max(x[i : i + window].sum() for i in range(x.shape[0] - window + 1))
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_sliding_sum_maxima_memory_does_not_grow_with_the_stream():
    # What the tracker holds between blocks is one window, however long the stream: its
    # peak allocation over four minutes of 48 kHz blocks is that over one minute.
    def peak_bytes(minutes: int) -> int:
        tracker = SlidingSumMaxima((19200, 144000))
        block = np.random.default_rng(5).random(65536)
        tracemalloc.start()
        for _ in range(minutes * 60 * 48000 // block.shape[0]):
            tracker.process(block)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    one, four = peak_bytes(1), peak_bytes(4)
    assert four <= one * 1.05 + 4096
    assert four < 4 * (65536 + 144000) * 8  # a few arrays of a block and a window of float64


@pytest.mark.parametrize("rate", [44100, 48000])
def test_maxima_find_a_tone_between_the_100_ms_readings(rate):
    # A 400 ms tone 50 ms after the start: the 100 ms grid's best window holds 350 ms of it
    # (0.58 LU low); the loudest window over every start holds all of it. Its loudness is
    # that of the same tone held steady.
    x = sine(1000.0, 1.5, rate, amplitude=0.1, fade_s=0.0)
    steady = meter_lufs(x, rate).integrated_lufs()
    burst = np.zeros_like(x)
    start, length = int(0.05 * rate), int(0.4 * rate)
    burst[start : start + length] = x[start : start + length]
    energies = meter_lufs(burst, rate)
    grid_max = float(energy_to_lufs(energies.windows(4)).max())
    exact = loudness_maxima(burst, rate)
    assert grid_max == pytest.approx(steady + 10 * np.log10(0.35 / 0.4), abs=0.05)
    assert exact.momentary_lufs == pytest.approx(steady, abs=0.02)
    assert exact.short_term_lufs is None  # 1.5 s: no 3 s window


@pytest.mark.parametrize("block", [1000, 48000, 65537])
def test_maxima_blockwise_equal_whole(block):
    x = pink_noise(8.0, 48000, seed=9)
    x[2 * 48000 : 3 * 48000] *= 4.0  # a loud second somewhere
    whole = loudness_maxima(x, 48000)
    meter = LoudnessMeter(48000, 2, maxima=True)
    for i in range(0, x.shape[0], block):
        meter.process(x[i : i + block])
    meter.finish()
    assert meter.maxima().momentary_lufs == pytest.approx(whole.momentary_lufs, abs=1e-9)
    assert meter.maxima().short_term_lufs == pytest.approx(whole.short_term_lufs, abs=1e-9)
    # and no grid window is louder than the loudest of all windows
    energies = meter_lufs(x, 48000)
    assert float(energy_to_lufs(energies.windows(4)).max()) <= whole.momentary_lufs + 1e-9
    assert float(energies.short_term_lufs().max()) <= whole.short_term_lufs + 1e-9


def test_maxima_are_reset_with_the_meter_and_need_asking_for():
    loud = sine(1000.0, 4.0, 48000, amplitude=0.5, fade_s=0.0)
    meter = LoudnessMeter(48000, 2, maxima=True)
    meter.process(loud)
    meter.finish()
    meter.reset()
    meter.process(loud * 0.1)
    meter.finish()
    assert meter.maxima().momentary_lufs == pytest.approx(loudness_maxima(loud, 48000).momentary_lufs - 20.0, abs=0.01)
    with pytest.raises(ValueError, match="maxima=True"):
        LoudnessMeter(48000, 2).maxima()


def test_analysis_carries_the_maxima_only_when_asked():
    x = pink_noise(5.0, 44100, seed=11)
    with_maxima = analyze(x, 44100, loudness_maxima=True)
    exact = loudness_maxima(x, 44100)
    assert with_maxima.max_momentary_lufs == pytest.approx(exact.momentary_lufs, abs=1e-3)
    assert with_maxima.max_short_term_lufs == pytest.approx(exact.short_term_lufs, abs=1e-3)
    without = analyze(x, 44100)
    assert without.max_momentary_lufs is None and without.max_short_term_lufs is None
    assert replace(with_maxima, max_momentary_lufs=None, max_short_term_lufs=None) == without


def test_short_audio_has_no_short_term_loudness_or_range():
    # 1.2 s: integrated and momentary loudness are defined (400 ms windows), short-term
    # loudness and loudness range (3 s windows) are not: None and empty, never 0.
    x = pink_noise(1.2, 44100, rms=0.05, seed=12)
    analysis = analyze(x, 44100, loudness_maxima=True)
    assert analysis.integrated_lufs == pytest.approx(pyloudnorm.Meter(44100).integrated_loudness(x) + 0.043, abs=0.05)
    assert analysis.max_momentary_lufs == pytest.approx(loudness_maxima(x, 44100).momentary_lufs, abs=1e-3)
    assert analysis.loudness_range_lu is None
    assert analysis.max_short_term_lufs is None
    assert analysis.short_term_lufs == ()
    assert Analysis.from_json(analysis.to_json()) == analysis
    # From 3 s on, every figure is there.
    assert analyze(pink_noise(3.0, 44100, seed=12), 44100).loudness_range_lu is not None


def test_analyses_saved_before_the_maxima_still_load():
    # The starter library's profiles were written before the maxima were added: they load,
    # with the maxima None and every other figure as saved.
    from matcher.library.store import starter_library_dir

    path = next(iter(sorted((starter_library_dir() / "profiles").iterdir())))
    saved = json.loads(path.read_text(encoding="utf-8"))
    analysis = saved["analysis"]
    analysis.pop("max_momentary_lufs", None)
    analysis.pop("max_short_term_lufs", None)
    loaded = Analysis.from_json(json.dumps(analysis))
    assert loaded.max_momentary_lufs is None and loaded.max_short_term_lufs is None
    assert loaded.integrated_lufs == analysis["integrated_lufs"]
    assert loaded.loudness_range_lu == analysis["loudness_range_lu"]
    assert Profile.from_json(path.read_text(encoding="utf-8")).analysis.integrated_lufs == analysis["integrated_lufs"]
