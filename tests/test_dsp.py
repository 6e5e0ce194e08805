"""Filters, convolution, envelopes and true peak against scipy and analytic truths."""

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st
from signals import sine, true_peak_reference_dbtp, white_noise

from matcher.analysis.truepeak import TruePeakDetector, gained_peak_bounds, true_peak_dbtp
from matcher.dsp.convolve import FFTConvolver, LinearPhaseFilter
from matcher.dsp.dither import Quantizer
from matcher.dsp.envelope import dilated, moving_average, release, sliding_max
from matcher.dsp.recursive import RecursiveFilter
from matcher.dsp.resample import StreamResampler
from matcher.dsp.eq import MidSideEQ
from matcher.dsp.filters import (
    kweighting_biquads,
    linear_phase_eq,
    oversampling_bank,
)


def stream(processor, x, block, finish):
    parts = [processor.process(x[i : i + block]) for i in range(0, x.shape[0], block)]
    return np.concatenate(parts + [getattr(processor, finish)()])


@pytest.mark.parametrize("block", [1, 999, 20000, 300000])
def test_convolver_equals_scipy_for_any_block_size(block):
    rng = np.random.default_rng(0)
    h = rng.standard_normal(300)
    x = rng.standard_normal((30000, 2))
    y = stream(FFTConvolver(h), x, block, "flush")
    np.testing.assert_allclose(y, scipy.signal.lfilter(h, [1.0], x, axis=0), atol=1e-10)


def sosfilt(sections, x):
    sos = np.array([np.concatenate([b, a]) / a[0] for b, a in sections])
    return scipy.signal.sosfilt(sos, x, axis=0)


@pytest.mark.parametrize("block", [1, 777, 4096, 100000])
@pytest.mark.parametrize("rate", [44100, 48000, 96000])
def test_kweighting_by_blocks_equals_sosfilt(block, rate):
    rng = np.random.default_rng(rate)
    x = rng.standard_normal((rate + 5003, 2)) * 0.3
    # A loud 25 Hz tone near the high-pass's poles: float32 throughout came out 1e-4 off here.
    x[:, 1] += np.sin(2 * np.pi * 25.0 * np.arange(x.shape[0]) / rate)
    x = x.astype(np.float32)
    expected = sosfilt(kweighting_biquads(rate), x.astype(np.float64))
    got = stream(RecursiveFilter(kweighting_biquads(rate)), x, block, "flush")
    assert got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * np.max(np.abs(expected)))


def test_recursive_filter_output_does_not_depend_on_the_split():
    x = np.random.default_rng(2).standard_normal((50000, 1)).astype(np.float32)
    whole = stream(RecursiveFilter(kweighting_biquads(44100)), x, x.shape[0], "flush")
    split = stream(RecursiveFilter(kweighting_biquads(44100)), x, 1234, "flush")
    np.testing.assert_array_equal(split, whole)


@pytest.mark.parametrize("block_samples, blocks_per_group", [(1, 1), (8, 3), (64, 32)])
def test_recursive_filter_of_any_cascade(block_samples, blocks_per_group):
    # Three sections: a resonant peak, a low-pass and a high-pass, at 48 kHz.
    sections = [
        (np.array([1.02, -1.9, 0.9]), np.array([1.0, -1.9, 0.92])),
        tuple(scipy.signal.butter(2, 5000, fs=48000)),
        tuple(scipy.signal.butter(2, 100, "highpass", fs=48000)),
    ]
    x = np.random.default_rng(3).standard_normal((20000, 2)).astype(np.float32)
    got = stream(RecursiveFilter(sections, block_samples, blocks_per_group), x, 3000, "flush")
    expected = sosfilt(sections, x.astype(np.float64))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * np.max(np.abs(expected)))


def test_linear_phase_eq_follows_its_curve():
    centers = np.array([50.0, 200.0, 1000.0, 5000.0, 15000.0])
    gains = np.array([6.0, -3.0, 0.0, 4.0, -6.0])
    h = linear_phase_eq(centers, gains, 48000)
    _, response = scipy.signal.freqz(h, worN=centers, fs=48000)
    np.testing.assert_allclose(20 * np.log10(np.abs(response)), gains, atol=0.3)
    np.testing.assert_allclose(h, h[::-1], atol=1e-15)  # symmetric: linear phase


def test_linear_phase_filter_has_no_time_shift():
    h = linear_phase_eq(np.array([100.0, 10000.0]), np.array([6.0, -6.0]), 44100)
    x = np.zeros((40000, 1))
    x[12345] = 1.0
    y = stream(LinearPhaseFilter(h[:, None]), x, 7000, "finish")
    assert y.shape == x.shape
    assert int(np.argmax(np.abs(y[:, 0]))) == 12345


def test_mid_side_eq_acts_on_side_only():
    x = white_noise(3.0, 44100, seed=2)
    centers = np.array([100.0, 10000.0])
    eq = MidSideEQ(centers, [0.0, 0.0], [6.0, 6.0], 44100, 2)
    y = stream(eq, x, 10000, "finish")
    mid_in, side_in = (x[:, 0] + x[:, 1]) / 2, (x[:, 0] - x[:, 1]) / 2
    mid_out, side_out = (y[:, 0] + y[:, 1]) / 2, (y[:, 0] - y[:, 1]) / 2
    core = slice(20000, -20000)
    np.testing.assert_allclose(mid_out[core], mid_in[core], atol=1e-4)
    assert 20 * np.log10(np.std(side_out[core]) / np.std(side_in[core])) == pytest.approx(6.0, abs=0.1)


def test_sliding_max_equals_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n, before, after = rng.integers(1, 80), rng.integers(0, 10), rng.integers(0, 10)
        x = rng.standard_normal(n)
        brute = [x[max(0, k - before) : k + after + 1].max() for k in range(n)]
        np.testing.assert_array_equal(sliding_max(x, before, after), brute)


def test_release_equals_the_recursion():
    u = np.maximum(0, np.random.default_rng(4).standard_normal(1000))
    expected, v = [], 0.0
    for value in u:
        v = max(value, 0.95 * v)
        expected.append(v)
    np.testing.assert_allclose(release(u, 0.95), expected, rtol=1e-12)


def test_release_in_its_input_memory_gives_the_same_values():
    u = np.maximum(0, np.random.default_rng(5).standard_normal(200_003))  # several ramp chunks
    expected = release(u, 0.999)
    overwritten = u.copy()
    np.testing.assert_array_equal(release(overwritten, 0.999, overwrite=True), expected)


def test_dilated_is_the_sliding_max_of_the_mask():
    rng = np.random.default_rng(6)
    for _ in range(50):
        n, before, after = rng.integers(0, 80), rng.integers(0, 4), rng.integers(0, 4)
        mask = rng.random(n) < 0.2
        np.testing.assert_array_equal(dilated(mask, before, after), sliding_max(mask.astype(np.float64), before, after) > 0)


def test_a_limiter_allowance_takes_the_peaks_that_much_lower():
    from matcher.dsp.limiter import TruePeakLimiter

    rng = np.random.default_rng(7)
    peak_db = rng.normal(-6.0, 4.0, 20000)
    allowance_db = np.where(rng.random(20000) < 0.05, 2.0, 0.0)
    limiter = TruePeakLimiter(-1.0, 5.0, 10.0, 100.0, 1470.0, sustain_weight=0.5)
    np.testing.assert_array_equal(
        limiter.reduction_db(peak_db, 3.0, allowance_db), limiter.reduction_db(peak_db - allowance_db, 3.0)
    )


def test_moving_average_of_constant_is_constant():
    np.testing.assert_allclose(moving_average(np.full(50, 3.0), 4, 2), 3.0)


@pytest.mark.parametrize("n, before, after", [(1, 0, 0), (5, 3, 0), (5, 0, 7), (60, 3, 4), (10, 20, 20)])
def test_moving_average_matches_a_direct_mean_with_windows_clipped_at_the_ends(n, before, after):
    x = np.random.default_rng(n).random(n)
    expected = [x[max(0, k - before) : min(n, k + after + 1)].mean() for k in range(n)]
    np.testing.assert_allclose(moving_average(x, before, after), expected, rtol=1e-12)


def test_true_peak_of_an_intersample_peak():
    # fs/4 sine at 45 degrees: samples at -3 dB of the true peak.
    x = sine(12000.0, 1.0, 48000, amplitude=1.0, phase=np.pi / 4, fade_s=0.0)
    peaks = stream(TruePeakDetector(48000, frame_samples=32), x, 5000, "finish")
    assert peaks.shape == (1500,)
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-3.01, abs=0.01)
    np.testing.assert_allclose(20 * np.log10(peaks[100:-100]), 0.0, atol=0.02)


@pytest.mark.parametrize("frames, length, block", [(30, 10007, 997), (32, 40, 7), (7, 3, 1), (1, 500, 64)])
@pytest.mark.parametrize("with_short", [False, True])
def test_true_peak_frames_equal_direct_interpolation(frames, length, block, with_short):
    # Independent computation: each interpolator phase by direct convolution
    # (scipy.signal.lfilter) of the zero-padded signal, then the frame maxima.
    x = np.random.default_rng(length).standard_normal((length, 2)) * 0.3
    bank = oversampling_bank(4)
    half = (bank.shape[0] - 1) // 2
    padded = np.pad(x, ((0, 2 * half), (0, 0)))
    columns = [c for c in range(bank.shape[1] if with_short else 4) if c % 4]
    phases = [np.abs(x)] + [
        np.abs(scipy.signal.lfilter(bank[:, c], [1.0], padded, axis=0)[half:][:length]) for c in columns
    ]
    per_sample = np.max(phases, axis=(0, 2))
    expected = [per_sample[i : i + frames].max() for i in range(0, length, frames)]
    detector = TruePeakDetector(44100, with_short_interpolator=with_short, frame_samples=frames)
    np.testing.assert_allclose(stream(detector, x, block, "finish"), expected, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("frames, block", [(30, 997), (7, 64), (32, 100000)])
def test_true_peak_of_selected_frames_only(frames, block):
    x = np.random.default_rng(frames).standard_normal((10007, 2)) * 0.3
    count = -(-x.shape[0] // frames)
    # Short of the stream's frames: those past the mask are measured too.
    selected = np.random.default_rng(1).random(count - 5) < 0.2
    selected[-1] = True
    full = stream(TruePeakDetector(44100, frame_samples=frames), x, block, "finish")
    some = stream(TruePeakDetector(44100, frame_samples=frames, selected=selected), x, block, "finish")
    measured = np.concatenate([selected, np.ones(5, dtype=bool)])
    np.testing.assert_allclose(some[measured], full[measured], rtol=1e-6)
    assert np.all(np.isnan(some[~measured]))


def gained_and_quantised(x, tick_gain, tick, quantizer):
    """What a take does: the gain linear between tick knots (held after the last), then
    the output's rounding and clipping."""
    knots = np.append(tick_gain, tick_gain[-1])
    n = np.arange(x.shape[0])
    j, r = n // tick, (n % tick) / tick
    gain = knots[j] + (knots[j + 1] - knots[j]) * r
    return quantizer.process((x * gain[:, None]).astype(np.float32))


@settings(max_examples=40, deadline=None)
@given(
    tick=st.sampled_from([5, 21, 30, 32]),
    bit_depth=st.sampled_from(["16", "24", "32f"]),
    level_db=st.floats(-30.0, 6.0),
    jump_db=st.floats(0.0, 24.0),
    seed=st.integers(0, 1000),
)
def test_gained_peak_bounds_hold(tick, bit_depth, level_db, jump_db, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((4000, 2)) * 0.3).astype(np.float32)
    x[1000:1100] *= 8.0  # a transient
    ticks = -(-x.shape[0] // tick)
    # Smooth stretches, steps and fast wiggles of the gain, up to jump_db per tick.
    gain_db = level_db + np.cumsum(rng.choice([0.0, 0.0, 1.0, -1.0], ticks) * rng.random(ticks) * jump_db)
    gain_db = np.clip(gain_db, level_db - 30.0, level_db + 12.0)
    quantizer = Quantizer(bit_depth, dither=True, seed=seed)
    before = stream(TruePeakDetector(44100, frame_samples=tick), x, 4000, "finish")
    y = gained_and_quantised(x, 10 ** (gain_db / 20), tick, quantizer)
    after = stream(TruePeakDetector(44100, frame_samples=tick), y, 4000, "finish")
    upper, lower = gained_peak_bounds(before, 10 ** (gain_db / 20), tick, quantizer.max_error, quantizer.clip_level)
    assert np.all(after <= upper)
    assert np.all(lower <= after)


def test_gained_peak_bounds_are_tight_where_the_gain_holds():
    x = np.random.default_rng(5).standard_normal((3000, 1)) * 0.2
    peaks = stream(TruePeakDetector(44100, frame_samples=30), x, 3000, "finish")
    upper, lower = gained_peak_bounds(peaks, np.full(peaks.shape, 0.5), 30)
    np.testing.assert_allclose(upper, 0.5 * peaks, rtol=1e-4)
    np.testing.assert_allclose(lower, 0.5 * peaks, rtol=1e-4)


@settings(max_examples=25, deadline=None)
@given(freq=st.floats(50.0, 18000.0), phase=st.floats(0.0, 6.3), amp=st.floats(0.01, 2.0))
def test_true_peak_agrees_with_scipy_resampler(freq, phase, amp):
    x = sine(freq, 0.3, 44100, amplitude=amp, phase=phase, fade_s=0.05)
    assert true_peak_dbtp(x, 44100) == pytest.approx(true_peak_reference_dbtp(x), abs=0.1)


def test_tpdf_dither_is_two_lsb_peak_to_peak_and_seeded():
    x = np.full((100000, 2), 0.25 + 0.3 / 32768)
    y = Quantizer("16", dither=True, seed=7).process(x)
    error = (y - x) * 32768
    assert np.all(np.abs(error) <= 1.5 + 1e-9)
    assert np.mean(error) == pytest.approx(0.0, abs=0.02)  # dither removes the rounding bias
    np.testing.assert_array_equal(Quantizer("16", True, 7).process(x), Quantizer("16", True, 7).process(x))
    np.testing.assert_array_equal(np.round(y * 32768), y * 32768)  # exactly on the 16-bit grid


def test_24_bit_rounds_without_dither():
    x = np.random.default_rng(5).uniform(-0.9, 0.9, (1000, 2))
    y = Quantizer("24").process(x)
    assert np.max(np.abs(y - x)) <= 0.5 / 2**23 + 1e-15


def test_convolver_with_a_bank_of_filters_per_channel():
    # Filters of shape (taps, 1, k) on input (n, channels, 1): k outputs per channel.
    rng = np.random.default_rng(6)
    h = rng.standard_normal((300, 1, 3))
    x = rng.standard_normal((30000, 2, 1))
    got = stream(FFTConvolver(h), x, 999, "flush")
    expected = np.stack(
        [np.stack([scipy.signal.lfilter(h[:, 0, k], [1.0], x[:, c, 0]) for k in range(3)], -1) for c in range(2)], 1
    )
    np.testing.assert_allclose(got, expected, atol=1e-10)


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_long_arrays_are_processed_in_pieces_with_the_same_result(monkeypatch, chunk):
    # An hour's control curves are worked through a piece at a time (memory): the pieces'
    # edges must not show in the result, which equals the one-piece computation bit for bit.
    from matcher.analysis import truepeak
    from matcher.rendering import loudness_solver

    rng = np.random.default_rng(chunk)
    n = 147 * 40 + 11
    peaks, gains = rng.random(n), rng.random(n) * 2.0
    power, gain_db = rng.random(n) * 1e-3, rng.normal(0.0, 3.0, n)
    whole_bounds = gained_peak_bounds(peaks, gains, 30, 1e-5, 1.0)
    whole_lufs = loudness_solver.output_loudness_lufs(power, 147, gain_db)
    reduction_db = np.maximum(rng.normal(0.0, 2.0, n), 0.0)
    whole_limited_lufs = loudness_solver.output_loudness_lufs(power, 147, 1.5 - reduction_db)
    monkeypatch.setattr(truepeak, "BOUNDS_CHUNK_FRAMES", chunk)
    monkeypatch.setattr(loudness_solver, "LOUDNESS_CHUNK_TICKS", chunk * 147)
    pieces = gained_peak_bounds(peaks, gains, 30, 1e-5, 1.0)
    np.testing.assert_array_equal(pieces[0], whole_bounds[0])
    np.testing.assert_array_equal(pieces[1], whole_bounds[1])
    assert loudness_solver.output_loudness_lufs(power, 147, gain_db) == whole_lufs
    # The make-up and the reduction, a piece at a time, as their difference in one array.
    assert loudness_solver.output_loudness_lufs(power, 147, 1.5, reduction_db) == whole_limited_lufs


@settings(max_examples=25, deadline=None)
@given(
    rates=st.sampled_from([(48000, 44100), (96000, 44100), (22050, 44100), (32000, 44100), (44100, 48000), (88200, 44100)]),
    length=st.integers(1, 30000),
    blocks=st.lists(st.integers(1, 9000), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_streaming_resampler_does_not_depend_on_the_blocks(rates, length, blocks, seed):
    import soxr

    from_hz, to_hz = rates
    x = np.random.default_rng(seed).standard_normal((length, 2)).astype(np.float32)
    resampler = StreamResampler(from_hz, to_hz, 2)
    parts, start, k = [], 0, 0
    while start < length:  # the block sizes drawn, cycled
        parts.append(resampler.process(x[start : start + blocks[k % len(blocks)]]))
        start += blocks[k % len(blocks)]
        k += 1
    parts.append(resampler.finish())
    got = np.concatenate(parts)
    # Bit for bit what libsoxr gives on the whole signal, of the length the rates give.
    expected = soxr.resample(x, from_hz, to_hz, quality="VHQ")
    assert got.dtype == np.float32 and abs(got.shape[0] - length * to_hz / from_hz) <= 1
    np.testing.assert_array_equal(got, expected)
    resampler.reset()
    np.testing.assert_array_equal(np.concatenate([resampler.process(x), resampler.finish()]), got)


def _sine_level_db(x: np.ndarray, rate: int, hz: float) -> float:
    """Amplitude (dBFS) of the sine at ``hz`` in ``x``: a least-squares fit of sin and cos."""
    t = np.arange(x.shape[0]) / rate
    basis = np.stack([np.sin(2 * np.pi * hz * t), np.cos(2 * np.pi * hz * t)], axis=1)
    coefficients, *_ = np.linalg.lstsq(basis, x.astype(np.float64), rcond=None)
    return float(20 * np.log10(np.hypot(*coefficients)))


def test_resampling_to_cd_keeps_the_band_and_rejects_what_the_cd_cannot_hold():
    rate, seconds = 48000, 1.0
    t = np.arange(int(rate * seconds)) / rate
    for hz, expected_db, tolerance_db in ((1000.0, -6.0, 0.01), (19000.0, -6.0, 0.01), (20000.0, -6.0, 0.01)):
        x = (0.5 * np.sin(2 * np.pi * hz * t))[:, None].astype(np.float32)
        resampler = StreamResampler(rate, 44100, 1)
        y = np.concatenate([resampler.process(x), resampler.finish()])[2000:-2000, 0]
        assert abs(_sine_level_db(y, 44100, hz) - expected_db) < tolerance_db + 0.03  # 0.5 = -6.02 dBFS
    # 23 kHz cannot be on a CD: its alias at 21.1 kHz must be at least 100 dB down.
    x = (0.5 * np.sin(2 * np.pi * 23000.0 * t))[:, None].astype(np.float32)
    resampler = StreamResampler(rate, 44100, 1)
    y = np.concatenate([resampler.process(x), resampler.finish()])[2000:-2000, 0]
    assert np.max(np.abs(y)) < 0.5 * 10 ** (-100 / 20)
    # Its transition band ends before the new Nyquist rate: at 98.9 % (21.8 kHz) noise is 60 dB
    # down (a resampler cut at the Nyquist rate, as resample_poly's default, lets half through).
    noise = np.random.default_rng(3).standard_normal((rate * 2, 1)).astype(np.float32) * 0.1
    resampler = StreamResampler(rate, 44100, 1)
    y = np.concatenate([resampler.process(noise), resampler.finish()])[:, 0]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.shape[0]))) ** 2
    freqs = np.fft.rfftfreq(y.shape[0], 1 / 44100)
    band = spectrum[(freqs > 1000) & (freqs < 19000)].mean()
    top = spectrum[freqs > 21800].mean()
    assert 10 * np.log10(top / band) < -60
    assert abs(10 * np.log10(spectrum[(freqs > 19500) & (freqs < 20000)].mean() / band)) < 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fft_is_scipy_fft_bit_for_bit(dtype):
    # matcher.dsp.fft calls scipy's pocketfft module without importing scipy.fft: every
    # transform the engine makes (strided frames, zero-padded and cut impulse responses,
    # real spectra inverted) must come out exactly as scipy.fft's.
    import scipy.fft

    from matcher.dsp import fft

    rng = np.random.default_rng(3)
    signal = rng.standard_normal((2, 40000)).astype(dtype)
    frames = np.lib.stride_tricks.sliding_window_view(signal, 4096, axis=1)[:, ::1500]
    impulse = rng.standard_normal(3001).astype(dtype)
    cases = [
        (fft.rfft(frames, axis=-1), scipy.fft.rfft(frames, axis=-1, workers=1)),
        (fft.rfft(impulse, n=8192), scipy.fft.rfft(impulse, n=8192, workers=1)),
        (fft.rfft(impulse, n=2048), scipy.fft.rfft(impulse, n=2048, workers=1)),
        (fft.rfft(signal.T, axis=0), scipy.fft.rfft(signal.T, axis=0, workers=1)),
    ]
    spectrum = scipy.fft.rfft(frames, axis=-1, workers=1)
    magnitude = np.abs(spectrum[0, 0]).astype(np.float64)
    cases += [
        (fft.irfft(spectrum, n=4096, axis=-1), scipy.fft.irfft(spectrum, n=4096, axis=-1, workers=1)),
        (fft.irfft(spectrum, axis=-1), scipy.fft.irfft(spectrum, axis=-1, workers=1)),
        (fft.irfft(magnitude, n=6000), scipy.fft.irfft(magnitude, n=6000, workers=1)),
        (fft.irfft(magnitude, n=1000), scipy.fft.irfft(magnitude, n=1000, workers=1)),
    ]
    for ours, theirs in cases:
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert np.array_equal(ours, theirs)


def test_fft_does_not_import_scipy_fft():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from matcher.dsp import fft; fft.irfft(fft.rfft(np.ones(64)));"
        "print(fft._pocketfft() is not None, 'scipy.fft' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "False"]


@pytest.mark.parametrize("taps, edges", [(101, (0.0, 0.3, 0.4, 1.0)), (385, (0.0, 0.96 / 4, 1.04 / 4, 1.0))])
def test_least_squares_fir_equals_scipy_firls(taps, edges):
    from matcher.dsp.filters import least_squares_fir

    ours = least_squares_fir(taps, edges, (4.0, 0.0), (20.0, 1.0))
    theirs = scipy.signal.firls(taps, edges, (4.0, 4.0, 0.0, 0.0), weight=(20.0, 1.0), fs=2.0)
    np.testing.assert_allclose(ours, theirs, atol=1e-9)


# --- dither: TPDF and high-pass TPDF --------------------------------------------------------


def _error_band_db(shape: str, dither: bool, low_hz: float, high_hz: float, rate: int = 44100) -> float:
    """Power of the 16-bit quantiser's total error (output minus input) in a band, re LSB^2
    per unit bandwidth of the white rounding error alone (1/12 LSB^2 spread to Nyquist)."""
    from scipy import signal

    from matcher.dsp.dither import Quantizer

    rng = np.random.default_rng(5)
    x = rng.standard_normal((rate * 4, 2)) * 20.0 / 2**15  # noise of 20 LSB: rounding error uniform, white
    q = Quantizer("16", dither, 9, shape, rate, 2)
    y = np.concatenate([q.process(x), q.finish()]).astype(np.float64)
    gain = np.sum(y * x) / np.sum(x * x)  # noise shaping scales its output a little (0.005 dB)
    assert abs(20 * np.log10(gain)) < 0.01
    error = (y - gain * x)[:, 0] * 2**15
    f, psd = signal.welch(error, fs=rate, nperseg=4096)
    band = (f >= low_hz) & (f < high_hz)
    white = (1.0 / 12.0) / (rate / 2.0)
    return float(10 * np.log10(np.mean(psd[band]) / white))


def test_the_dithers_noise_spectra_are_their_analytic_ones():
    # Rounding alone: 1/12 LSB^2, white (0 dB here). TPDF adds two uniform draws: 3/12, +4.8
    # dB everywhere. High-pass TPDF adds r[n] - r[n-1]: (1/12) 4 sin^2(pi f / fs), so the total
    # is 1/12 (1 + 4 sin^2): +0.3 dB at 1-2 kHz, +7.0 dB at 19-21 kHz.
    def shaped_db(f_hz):
        return 10 * np.log10(1 + 4 * np.sin(np.pi * f_hz / 44100) ** 2)

    assert _error_band_db("tpdf", False, 1000, 2000) == pytest.approx(0.0, abs=0.3)
    assert _error_band_db("tpdf", True, 1000, 2000) == pytest.approx(10 * np.log10(3), abs=0.3)
    assert _error_band_db("tpdf", True, 19000, 21000) == pytest.approx(10 * np.log10(3), abs=0.3)
    assert _error_band_db("hp-tpdf", True, 1000, 2000) == pytest.approx(shaped_db(1500), abs=0.3)
    assert _error_band_db("hp-tpdf", True, 19000, 21000) == pytest.approx(shaped_db(20000), abs=0.4)


# Wannamaker's F-weighted error-feedback filter (1992), as published: the error fed back
# through it makes the total error (TPDF dither and rounding, 3/12 LSB^2, white) times
# |1 - sum_k h_k z^-(k+1)|^2.
F_WEIGHTED = (2.412, -3.370, 3.937, -4.174, 3.353, -2.205, 1.281, -0.569, 0.0847)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_noise_shaping_has_the_analytic_spectrum_of_its_filter(rate):
    from scipy import signal

    def analytic_db(low_hz, high_hz):
        f = np.linspace(low_hz, high_hz, 400)
        _, response = signal.freqz(np.concatenate([[1.0], -np.asarray(F_WEIGHTED)]), worN=f, fs=rate)
        return 10 * np.log10(3 * np.mean(np.abs(response) ** 2))

    for low, high in ((200, 2000), (2000, 5000), (9000, 13000), (16000, 20000)):
        assert _error_band_db("shaped", True, low, high, rate) == pytest.approx(analytic_db(low, high), abs=0.3)
    # Where hearing is keenest, far less noise than TPDF's (+4.8 dB): 12 dB and more below 5 kHz.
    assert analytic_db(200, 2000) < 10 * np.log10(3) - 12 and analytic_db(2000, 5000) < 10 * np.log10(3) - 20


def test_the_dithers_are_the_same_whatever_the_blocks_and_bounded():
    from matcher.dsp.dither import Quantizer

    rate = 44100
    rng = np.random.default_rng(0)
    quiet = rng.standard_normal((100000, 2)) * 1e-3
    # Loud noise near full scale for the noise shaper: its error is largest there.
    loud = np.clip(rng.standard_normal((700000, 2)) * 0.25, -0.97, 0.97)
    for shape, x in (("hp-tpdf", quiet), ("shaped", quiet), ("shaped", loud)):
        first = Quantizer("16", True, 1, shape, rate, 2)
        whole = np.concatenate([first.process(x), first.finish()])
        q = Quantizer("16", True, 1, shape, rate, 2)
        cuts = (0, 777, 50000, 300001, x.shape[0])
        parts = np.concatenate([q.process(x[a:b]) for a, b in zip(cuts, cuts[1:])] + [q.finish()])
        assert whole.shape == x.shape and np.array_equal(whole, parts), shape
        # Every output sample within the quantiser's stated bound of its input: TPDF's 1.5
        # LSB; the noise shaper's 1.5 LSB times (1 + the sum of its taps' magnitudes), plus
        # its output scaling.
        assert np.max(np.abs(whole.astype(np.float64) - x)) <= q.max_error, shape
    assert Quantizer("16", True, 1, "hp-tpdf").max_error * 2**15 == 1.5
    assert Quantizer("16", True, 1, "shaped", rate, 2).max_error * 2**15 < 60


def test_noise_shaping_falls_back_to_high_pass_tpdf_where_it_has_no_filter():
    from matcher.dsp.dither import Quantizer

    x = np.random.default_rng(2).standard_normal((20000, 2)) * 1e-3
    shaped = Quantizer("16", True, 3, "shaped", 96000, 2)
    assert shaped.shape == "hp-tpdf"
    assert np.array_equal(shaped.process(x), Quantizer("16", True, 3, "hp-tpdf").process(x))
    # 24-bit and no-dither outputs are not shaped either: rounded as before.
    assert np.array_equal(Quantizer("24", True, 3, "shaped", 44100, 2).process(x), Quantizer("24").process(x))
