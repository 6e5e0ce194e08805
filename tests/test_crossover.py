"""Crossovers for multiband dynamics: the bands sum back to the input, with Linkwitz-Riley slopes."""

import numpy as np
import pytest
import scipy.signal
from signals import pink_noise

from matcher.dsp.crossover import Crossover, crossover_bank, linkwitz_riley_low

CROSSOVERS_HZ = [120.0, 1000.0, 6000.0]


def split(x, crossovers_hz, rate, block):
    crossover = Crossover(crossovers_hz, rate)
    parts = [crossover.process(x[i : i + block]) for i in range(0, x.shape[0], block)]
    return np.concatenate(parts + [crossover.finish()])


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
def test_neutral_bands_sum_to_the_input_flat_and_without_time_shift(rate):
    # An impulse through the split and back: the sum's response, measured by FFT.
    x = np.zeros((rate, 1))
    x[rate // 2, 0] = 1.0
    bands = split(x, CROSSOVERS_HZ, rate, 4096)
    total = bands.sum(axis=2)[:, 0]
    assert int(np.argmax(np.abs(total))) == rate // 2  # no time shift
    response_db = 20 * np.log10(np.abs(np.fft.rfft(total)))
    assert np.max(np.abs(response_db)) < 0.01  # flat within ±0.01 dB (±0.1 asked)


def test_music_like_signal_comes_back_sample_for_sample():
    x = pink_noise(3.0, 44100, rms=0.2, seed=1).astype(np.float32)
    bands = split(x, CROSSOVERS_HZ, 44100, 10007)
    assert bands.shape == x.shape + (4,)
    np.testing.assert_allclose(bands.sum(axis=2), x, atol=2e-6)


@pytest.mark.parametrize("block", [1000, 65536, 300000])
def test_any_block_size_gives_the_same_bands(block):
    x = pink_noise(3.0, 48000, seed=2).astype(np.float32)
    whole = split(x, CROSSOVERS_HZ, 48000, x.shape[0])
    np.testing.assert_allclose(split(x, CROSSOVERS_HZ, 48000, block), whole, atol=1e-6)


def test_bands_follow_linkwitz_riley_slopes():
    # Against the analytic 4th-order Linkwitz-Riley magnitudes, wherever they are above -60 dB.
    rate = 48000
    bank = crossover_bank(CROSSOVERS_HZ, rate)
    freqs = np.geomspace(20.0, 20000.0, 200)
    response = np.column_stack([scipy.signal.freqz(bank[:, k], worN=freqs, fs=rate)[1] for k in range(4)])
    lows = [np.zeros_like(freqs)] + [linkwitz_riley_low(freqs, f) for f in CROSSOVERS_HZ] + [np.ones_like(freqs)]
    for k in range(4):
        ideal = lows[k + 1] - lows[k]
        measured = np.abs(response[:, k])
        audible = ideal > 0.001
        np.testing.assert_allclose(20 * np.log10(measured[audible]), 20 * np.log10(ideal[audible]), atol=0.01)


def test_adjacent_bands_cross_at_minus_6_db():
    rate = 44100
    bank = crossover_bank(CROSSOVERS_HZ, rate)
    for k, f in enumerate(CROSSOVERS_HZ):
        response = [scipy.signal.freqz(bank[:, band], worN=[f], fs=rate)[1][0] for band in (k, k + 1)]
        # -6.02 dB, give or take the neighbouring crossovers' skirts (0.02 dB at a decade)
        np.testing.assert_allclose(20 * np.log10(np.abs(response)), [-6.02, -6.02], atol=0.02)


@pytest.mark.parametrize("crossovers", [[], [1000.0, 500.0], [0.0, 100.0], [100.0, 30000.0]])
def test_bad_crossovers_are_refused(crossovers):
    with pytest.raises(ValueError):
        crossover_bank(crossovers, 48000)
