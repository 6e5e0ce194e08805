"""The loudness chain: a limiter whose gain does not follow the bass, a band-limited clipper
for transients, a distortion budget, and a true peak that holds on an ideal reconstruction.

Distortion is measured as the benchmark does (a sine fitted by least squares and taken out:
THD+N; the sidebands of a 7 kHz tone under 60 Hz: IMD), true peaks with the ideal 16x
reconstruction of ``signals.true_peak_ideal_dbtp``.
"""

from __future__ import annotations

import numpy as np
import pytest
from signals import PAD_PARTIALS_HZ, band_limited, drum_loop, pad_under_kick, partial_gain_db, true_peak_ideal_dbtp
from test_render import make_settings

from matcher import render
from matcher.analysis.truepeak import TruePeakDetector
from matcher.dsp.clipper import TransientClipper
from matcher.dsp.filters import FLAT_TO_NYQUIST, band_limit_gain, four_x_gap_db, guarantee_margin_db
from matcher.rendering.chain import TRANSIENT_LENGTH_S, distortion_db, transient_allowance

RATE = 44100


def _tone(freq_hz: float, seconds: float = 8.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    x = amplitude * np.sin(2 * np.pi * freq_hz * t)
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    return np.repeat((x * ramp)[:, None], 2, axis=1)


def _thd_n_db(y: np.ndarray, freq_hz: float) -> float:
    """Everything but the tone, re the tone, over the middle half (a sine fitted and removed)."""
    m = y[y.shape[0] // 4 : 3 * y.shape[0] // 4, 0].astype(np.float64)
    t = np.arange(m.shape[0]) / RATE
    basis = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t), np.ones_like(t)], axis=1)
    coefficients, *_ = np.linalg.lstsq(basis, m, rcond=None)
    fitted = basis @ coefficients
    return float(10 * np.log10(np.mean((m - fitted) ** 2) / np.mean((fitted - coefficients[2]) ** 2)))


def _imd_db(y: np.ndarray, low_hz: float = 60.0, high_hz: float = 7000.0) -> float:
    m = y[y.shape[0] // 4 : 3 * y.shape[0] // 4, 0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(m * np.hanning(m.shape[0])))
    freqs = np.fft.rfftfreq(m.shape[0], 1 / RATE)

    def level(f: float) -> float:
        k = int(np.argmin(np.abs(freqs - f)))
        return float(np.sqrt(np.sum(spectrum[k - 3 : k + 4] ** 2)))

    sidebands = np.sqrt(sum(level(high_hz + s * n * low_hz) ** 2 for n in range(1, 5) for s in (-1, 1)))
    return float(20 * np.log10(sidebands / level(high_hz)))


def _pushed_target(x: np.ndarray, push_db: float, ceiling: float = -1.0) -> float:
    """The loudness that puts the signal's peak ``push_db`` over the ceiling."""
    from matcher.analysis.analyzer import analyze

    peak = 20 * np.log10(np.max(np.abs(x)))
    return analyze(x, RATE).integrated_lufs + (ceiling + push_db - peak)


def _pad_dips_db(x: np.ndarray, y: np.ndarray, kicks: list[int], beat_samples: int) -> np.ndarray:
    """Per kick with a whole beat on either side: the pad's highest gain in the beat before
    (from 25 ms after the kick before to 25 ms before this one) minus its lowest in the beat
    from 25 ms before the kick (a lookahead limiter ducks a little early)."""
    hop = round(0.005 * RATE)
    gain = partial_gain_db(x, y, RATE, PAD_PARTIALS_HZ)
    beat, guard = beat_samples // hop, round(0.025 * RATE) // hop
    dips = []
    for kick in kicks:
        k = kick // hop
        if k - beat < round(0.6 * RATE) // hop or k + beat > gain.shape[0] - round(0.6 * RATE) // hop:
            continue  # the pad's fades
        dips.append(gain[k - beat + guard : k - guard].max() - gain[k - guard : k + beat - guard].min())
    return np.asarray(dips)


@pytest.fixture(scope="module")
def pad_pushed_4_db():
    """A pad under a 120 BPM kick, mastered to the loudness that puts its peak 4 dB over the
    ceiling: (mix, master, kicks, target)."""
    x, kicks = pad_under_kick(6.0, RATE)
    target = _pushed_target(x, 4.0)
    return x, render(x, RATE, make_settings(target)), kicks, target


def test_a_pad_under_a_kick_pushed_4_db_into_the_ceiling_is_mastered_to_its_target(pad_pushed_4_db):
    from matcher.analysis.analyzer import analyze

    x, y, _, target = pad_pushed_4_db
    assert abs(analyze(y, RATE).integrated_lufs - target) <= 0.3
    assert true_peak_ideal_dbtp(y) <= -1.0


def test_a_pad_under_a_kick_dips_no_deeper_than_the_wide_band_limiter_makes_it(pad_pushed_4_db):
    # A guard on today's figure (7.8 dB measured here, 6.1 in bench_quality's case): the
    # kick's onset and its first 20 ms (160-110 Hz) drive the wide-band limiter, which
    # ducks the pad with it.
    x, y, kicks, _ = pad_pushed_4_db
    dips = _pad_dips_db(x, y, kicks, RATE // 2)
    assert dips.size >= 6
    assert np.median(dips) <= 8.5


def test_the_pad_dip_measure_reads_a_known_duck():
    x, kicks = pad_under_kick(6.0, RATE)
    duck = np.ones(x.shape[0])
    for kick in kicks:
        duck[kick : kick + round(0.06 * RATE)] = 10.0 ** (-3.0 / 20.0)
    # The envelope filter's ringing over a step reads it about 0.4 dB deep.
    assert np.median(_pad_dips_db(x, x * duck[:, None], kicks, RATE // 2)) == pytest.approx(3.0, abs=0.6)
    assert np.median(_pad_dips_db(x, x, kicks, RATE // 2)) == pytest.approx(0.0, abs=0.1)


@pytest.mark.xfail(strict=True, reason="issue 16 item 1: the pad dips about 8 dB after each kick")
def test_a_pad_under_a_kick_pushed_4_db_into_the_ceiling_dips_at_most_3_db(pad_pushed_4_db):
    x, y, kicks, _ = pad_pushed_4_db
    assert np.median(_pad_dips_db(x, y, kicks, RATE // 2)) <= 3.0


@pytest.mark.parametrize("freq_hz", [50.0, 1000.0])
def test_a_tone_pushed_6_db_into_the_ceiling_stays_clean(freq_hz):
    x = _tone(freq_hz)
    y = render(x, RATE, make_settings(_pushed_target(x, 6.0)))
    assert _thd_n_db(y, freq_hz) <= -40.0
    assert true_peak_ideal_dbtp(y) <= -1.0


def test_a_tone_pair_pushed_into_the_ceiling_has_no_intermodulation():
    x = _tone(60.0, amplitude=0.4) + _tone(7000.0, amplitude=0.1)
    y = render(x, RATE, make_settings(_pushed_target(x, 6.0)))
    assert _imd_db(y) <= -40.0
    assert true_peak_ideal_dbtp(y) <= -1.0


def _band_limited_noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(rng.standard_normal((n, 2)), axis=0)
    spectrum *= band_limit_gain(np.fft.rfftfreq(n, 1 / RATE), RATE)[:, None]
    return (0.1 * np.fft.irfft(spectrum, n=n, axis=0)).astype(np.float32)


def _ideal_per_tick(x: np.ndarray, tick: int, factor: int = 16) -> np.ndarray:
    n = x.shape[0]
    spectrum = np.fft.rfft(x.astype(np.float64), axis=0)
    padded = np.zeros((factor * n // 2 + 1, x.shape[1]), dtype=complex)
    padded[: spectrum.shape[0]] = spectrum
    padded[n // 2] *= 0.5
    up = np.fft.irfft(padded, n=factor * n, axis=0) * factor
    return 20 * np.log10(np.abs(up).reshape(-1, tick * factor, x.shape[1]).max(axis=(1, 2)))


@pytest.mark.parametrize("seed", [1, 2])
def test_the_guarantee_meter_never_reads_below_an_ideal_reconstruction(seed):
    tick = 30
    x = _band_limited_noise(2.0, seed)
    detector = TruePeakDetector(RATE, frame_samples=tick, guarantee=True)
    reading = 20 * np.log10(np.concatenate([detector.process(x), detector.finish()])) + detector.margin_db
    ideal = _ideal_per_tick(x, tick)
    assert np.all(reading >= ideal - 1e-3)  # every tick
    assert np.max(reading - ideal) <= guarantee_margin_db() + 0.02  # by no more than its margin
    # The 4x meter may miss up to its gap, over a tick and the next one's first point.
    four = TruePeakDetector(RATE, frame_samples=tick)
    four_x = 20 * np.log10(np.concatenate([four.process(x), four.finish()]))
    around = np.maximum(four_x, np.append(four_x[1:], four_x[-1]))
    assert np.all(around + four_x_gap_db() >= ideal - 1e-3)


@pytest.mark.parametrize("fraction", [0.5, 0.9, FLAT_TO_NYQUIST - 0.005])
def test_the_guarantee_meter_reads_content_near_nyquist(fraction):
    # A tone at 95.5 % of Nyquist (23 kHz in a 48 kHz file) reads at its level, not 5 dB low.
    rate = 48000
    n = rate
    k = round(fraction * n / 2)
    t = np.arange(n)
    x = np.repeat((0.5 * np.sin(2 * np.pi * k * t / n + 0.7))[:, None], 2, axis=1).astype(np.float32)
    detector = TruePeakDetector(rate, guarantee=True)
    reading = 20 * np.log10(np.concatenate([detector.process(x), detector.finish()])[40:-40].max())
    assert reading + detector.margin_db >= 20 * np.log10(0.5) - 1e-3
    assert reading <= 20 * np.log10(0.5) + 0.1


def _clip(
    x: np.ndarray, blocks: list[int], active=None, ceiling_dbtp: float = -1.0, band_limit_hz: float | None = None
) -> np.ndarray:
    tick = 30
    ticks = -(-x.shape[0] // tick)
    clipper = TransientClipper(
        ceiling_dbtp, tick, np.ones(ticks, bool) if active is None else active, band_limit_hz=band_limit_hz,
        sample_rate_hz=RATE,
    )
    out, start, k = [], 0, 0
    while start < x.shape[0]:
        size = blocks[k % len(blocks)]
        out.append(clipper.process(x[start : start + size]))
        start, k = start + size, k + 1
    out.append(clipper.finish())
    return np.concatenate(out)


def test_the_clipper_leaves_what_is_under_its_knee_exactly_as_it_was():
    x = _band_limited_noise(1.0, 3) * 0.3  # peaks far under the knee
    assert np.array_equal(_clip(x, [4096]), x)
    loud = _band_limited_noise(1.0, 4) * 8.0
    assert np.array_equal(_clip(loud, [1000], active=np.zeros(-(-loud.shape[0] // 30), bool)), loud)


def test_the_clipper_takes_transients_under_the_ceiling_band_limited_and_aligned():
    x = band_limited(drum_loop(4.0, RATE, seed=1), RATE).astype(np.float32)  # as the EQ leaves it
    x *= 10 ** ((-1.0 + 2.0) / 20) / np.max(np.abs(x))  # 2 dB over the ceiling
    y = _clip(x, [65536])
    assert y.shape == x.shape
    assert true_peak_ideal_dbtp(y) <= -1.0 + 0.05
    lag = np.argmax(np.correlate(y[:4096, 0], x[:4096, 0], mode="full")) - 4095
    assert lag == 0
    # What it took is band-limited: what lies above 96 % of Nyquist (the filter's transition)
    # is under 1 % of it, a few thousandths of a dB of any peak.
    taken = np.fft.rfft((y - x)[:, 0].astype(np.float64))
    freqs = np.fft.rfftfreq(x.shape[0], 1 / RATE)
    high = np.abs(taken[freqs > 0.97 * RATE / 2]) ** 2
    assert np.sum(high) < 1e-2 * np.sum(np.abs(taken) ** 2)
    # Block by block as whole.
    np.testing.assert_array_equal(_clip(x, [777, 3000, 65536]), y)


def test_transients_are_allowed_to_the_clipper_and_tones_are_not():
    tick_rate = RATE / 30
    tone = np.full(3000, -3.0)  # a tone's peaks stand 3 dB over its RMS
    power = np.full(3000, 10 ** (-6.0 / 10))
    assert not np.any(transient_allowance(tone, power, tick_rate))
    clicks = tone.copy()
    clicks[::500] = 12.0  # a short peak 15 dB over the signal around it
    allowance = transient_allowance(clicks, power, tick_rate)
    assert np.all(allowance[::500] > 0) and np.count_nonzero(allowance) == 6


def test_peaks_longer_than_a_transient_are_left_to_the_limiter():
    tick_rate = RATE / 30
    longest = round(TRANSIENT_LENGTH_S * tick_rate)
    peaks = np.full(6000, -3.0)
    power = np.full(6000, 10 ** (-6.0 / 10))
    for start, length in [(500, 1), (1500, longest), (2500, longest + 1), (3500, 4 * longest), (5990, 10)]:
        peaks[start : start + length] = 12.0
    allowance = transient_allowance(peaks, power, tick_rate)
    assert np.all(allowance[500:501] > 0) and np.all(allowance[1500 : 1500 + longest] > 0)
    assert not np.any(allowance[2500:]) and np.count_nonzero(allowance) == 1 + longest


def test_the_distortion_estimate_counts_a_gain_that_moves_within_50_ms():
    tick_rate = RATE / 30
    power = np.ones(30000)
    assert distortion_db(np.full(30000, -3.0), power, tick_rate) < -150  # a constant gain adds nothing
    ripple = -3.0 + 0.5 * np.sin(2 * np.pi * 100.0 * np.arange(30000) / tick_rate)  # a 100 Hz ripple
    depth = 10 ** (0.5 / 20) - 1  # its linear amplitude, re the mean gain
    expected = 10 * np.log10(depth**2 / 2)
    assert distortion_db(ripple, power, tick_rate) == pytest.approx(expected, abs=0.5)


@pytest.mark.parametrize("attack_s", [0.002, 0.02, 0.06])
def test_the_distortion_estimate_reads_what_the_gain_leaves_against_the_benchmarks_slow_gain(attack_s):
    # Dips of 8 dB every 0.5 s, ramped down over attack_s, held 30 ms, released over 200 ms,
    # applied per sample to noise; the residual is measured at the sample rate against the
    # least-squares gain of every 50 ms frame, linear between the frames' centres. Where the
    # frames fall on the dips moves that reading by +-1.5 dB: it is averaged (in energy) over
    # ten frame offsets. A moving average as the slow gain read up to 7 dB low.
    tick = 30
    tick_rate = RATE / tick
    ticks = round(4.0 * tick_rate)
    t = np.arange(ticks) / tick_rate % 0.5
    down, hold, up = attack_s, 0.03, 0.2
    depth = np.interp(t, [0.0, 0.1, 0.1 + down, 0.1 + down + hold, 0.1 + down + hold + up, 0.5], [0, 0, 8, 8, 0, 0])
    gain_db = -depth
    x = np.random.default_rng(3).standard_normal(ticks * tick)
    y = np.interp(np.arange(ticks * tick), np.arange(ticks) * tick, 10 ** (gain_db / 20)) * x
    frame = round(0.05 * RATE)
    readings = []
    for offset in range(0, frame, frame // 10):
        xx, yy = x[offset:], y[offset:]
        frames = yy.shape[0] // frame
        xs, ys = xx[: frames * frame].reshape(frames, frame), yy[: frames * frame].reshape(frames, frame)
        fitted = np.sum(xs * ys, axis=1) / np.sum(xs * xs, axis=1)
        slow = np.interp(np.arange(yy.shape[0]), (np.arange(frames) + 0.5) * frame, fitted)
        readings.append(np.sum((yy - slow * xx) ** 2) / np.sum(yy**2))
    measured = 10 * np.log10(np.mean(readings))
    power = (x.reshape(ticks, tick) ** 2).mean(axis=1)
    assert distortion_db(gain_db, power, tick_rate) == pytest.approx(measured, abs=1.2)


@pytest.mark.parametrize("target_lufs", [-12.0, -10.0])
def test_a_hot_master_holds_the_ceiling_at_its_first_take(target_lufs):
    # The clipper takes every transient the limiter lets by over the limiter's own ceiling
    # (under the nominal one by its margins): none reaches the output untouched, so the
    # take's guarantee meter finds nothing to correct and the file is rendered once.
    from matcher.rendering.renderer import collect_into, render_stream

    x = drum_loop(12.0, RATE, seed=4).astype(np.float32)
    parts: list[np.ndarray] = []
    report = render_stream(lambda: [x], RATE, 2, make_settings(target_lufs), lambda: collect_into(parts))
    y = np.concatenate(parts)
    assert report.clipped_fraction > 0  # the clipper is in the plan
    assert report.takes == 1
    assert true_peak_ideal_dbtp(y) <= -1.0
    assert report.target_reached and abs(report.output_lufs - target_lufs) < 0.1


def _clip_densely(
    x: np.ndarray, tick: int, active: np.ndarray, ceiling_dbtp: float = -1.0, band_limit_hz: float | None = None
) -> np.ndarray:
    """The clipper's arithmetic over the whole signal at once, with a correction as long as
    it: superblock after superblock, each pass on all its marked ticks, tick by tick."""
    from matcher.dsp.clipper import FACTOR, SUPERBLOCK_TICKS, soft_clip

    clipper = TransientClipper(ceiling_dbtp, tick, active, band_limit_hz=band_limit_hz, sample_rate_hz=RATE)
    half = clipper._half
    padded = np.concatenate([np.zeros((half, x.shape[1]), np.float32), x, np.zeros((tick + 2 * half, x.shape[1]), np.float32)])
    correction = np.zeros_like(padded)
    ticks = (padded.shape[0] - 2 * half) // tick
    for first in range(0, ticks, SUPERBLOCK_TICKS):
        marked = [k for k in range(first, min(first + SUPERBLOCK_TICKS, ticks)) if k < active.shape[0] and active[k]]
        for iteration in range(clipper.iterations):
            before = correction.copy()  # every tick of a pass sees the passes before it only
            still = []
            for k in marked:
                span = slice(k * tick, k * tick + tick + 2 * half)
                u = (padded[span] + before[span]).T @ clipper._matrix
                limit = clipper.knee if iteration == 0 else clipper.ceiling
                if float(np.abs(u).max()) <= limit:
                    continue
                still.append(k)
                target = soft_clip(u, clipper.ceiling, clipper.knee) if iteration == 0 else np.clip(u, -clipper.aim, clipper.aim)
                down = clipper._matrix if iteration == clipper.iterations - 1 else clipper._down
                correction[span] += ((target - u) @ down.T).T / FACTOR
            marked = still
    return (padded + correction)[half : half + x.shape[0]]


@pytest.mark.parametrize("seed", range(4))
def test_the_streamed_clipper_is_the_dense_arithmetic_whatever_the_blocks(seed):
    # Superblock by superblock, all marked ticks of a pass at once: what it delivers is
    # input plus correction as if both were whole arrays (x + 0.0 where nothing was taken,
    # which turns -0.0 into +0.0), the same bits whatever the blocks, and the tick-by-tick
    # arithmetic of the same passes within float32's rounding (the passes' products are
    # made in one matrix product rather than a tick at a time).
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((70000, 2)) * 0.4).astype(np.float32)  # two superblocks and a part
    x[rng.random(x.shape) < 0.02] *= 4.0
    x[rng.random(x.shape) < 0.01] = -0.0
    active = rng.random(-(-x.shape[0] // 30)) < [0.02, 0.2, 0.6, 1.0][seed]
    expected = _clip_densely(x, 30, active)
    first = _clip(x, [65536], active)
    assert first.shape == x.shape
    np.testing.assert_allclose(first, expected, rtol=0, atol=1e-6)
    untouched = expected == x
    assert np.array_equal(first[untouched].view(np.uint32), (x[untouched] + np.float32(0.0)).view(np.uint32))
    for blocks in ([777, 3000], [95, 31, 4000], [70000]):
        y = _clip(x, blocks, active)
        assert np.array_equal(y.view(np.uint32), first.view(np.uint32))


# --- the slow chain: a slow limiter and a band-limited clipper, priced band by band ----------


def _band_residual_db(x: np.ndarray, y: np.ndarray, low_hz: float, high_hz: float) -> float:
    """What is left of ``y`` in a band once the least-squares gain of every 50 ms frame of
    ``x`` there (linear between the frames' centres) is taken away, re ``y`` there (dB): the
    benchmark's residual against a slowly varying gain, left channel, no EQ to undo."""
    from scipy import signal as sig

    sos = sig.butter(4, (low_hz, high_hz), btype="bandpass", fs=RATE, output="sos")
    xb = sig.sosfiltfilt(sos, x[:, 0].astype(np.float64))
    yb = sig.sosfiltfilt(sos, y[:, 0].astype(np.float64))
    frame = round(0.05 * RATE)
    n = (xb.shape[0] // frame) * frame
    xs, ys = xb[:n].reshape(-1, frame), yb[:n].reshape(-1, frame)
    fitted = np.sum(xs * ys, axis=1) / np.maximum(np.sum(xs * xs, axis=1), 1e-20)
    slow = np.interp(np.arange(n), (np.arange(fitted.shape[0]) + 0.5) * frame, fitted)
    return float(10 * np.log10(np.sum((yb[:n] - slow * xb[:n]) ** 2) / np.sum(yb[:n] ** 2)))


def _bass_song(seconds: float = 12.0, seed: int = 5) -> np.ndarray:
    """A bass line (41-62 Hz, a note every 0.5 s, its second harmonic at -10 dB) over dense
    pink noise, as a rock mix's bass under its guitars."""
    from signals import pink_noise

    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    notes = np.array([41.2, 55.0, 49.0, 61.7])[(t // 0.5).astype(int) % 4]
    phase = 2 * np.pi * np.cumsum(notes) / RATE
    envelope = 0.6 + 0.4 * np.exp(-(t % 0.5) * 6)
    bass = 0.5 * envelope * (np.sin(phase) + 0.3 * np.sin(2 * phase))
    return (bass[:, None] + pink_noise(seconds, RATE, rms=0.25, seed=seed)).astype(np.float32)


def _master(x: np.ndarray, target_lufs: float):
    from matcher.rendering.renderer import collect_into, render_stream

    parts: list[np.ndarray] = []
    report = render_stream(lambda: [x], RATE, 2, make_settings(target_lufs), lambda: collect_into(parts))
    return report, np.concatenate(parts)


def test_a_loud_bass_line_gets_the_slow_chain_and_keeps_its_bass_clean(monkeypatch):
    from matcher.rendering import renderer
    from matcher.rendering.chain import SLOW_CLIP_BAND_HZ

    x = _bass_song()
    report, y = _master(x, -9.0)
    assert report.clip_band_hz == SLOW_CLIP_BAND_HZ and report.limiter_release_ms >= 150.0
    assert report.target_reached and abs(report.output_lufs - -9.0) <= 0.05
    assert true_peak_ideal_dbtp(y) <= -1.0
    monkeypatch.setattr(renderer, "ROUGH_DB", np.inf)  # the characters only
    kept, z = _master(x, -9.0)
    assert kept.clip_band_hz is None and kept.limiter_release_ms < 150.0
    assert abs(kept.output_lufs - report.output_lufs) <= 0.05
    # The characters' gain follows the bass; the slow chain's does not (-37.8 against -21.9
    # dB measured), and no band is rougher for it.
    assert _band_residual_db(x, y, 20.0, 150.0) <= _band_residual_db(x, z, 20.0, 150.0) - 10.0
    for low, high in [(150.0, 1500.0), (1500.0, 8000.0)]:
        assert _band_residual_db(x, y, low, high) <= _band_residual_db(x, z, low, high) + 2.0


def test_the_band_price_keeps_the_clipper_off_a_pad_it_would_intermodulate(monkeypatch):
    # A drum loop at -10 LUFS: the slow chain's estimate reads 6 dB cleaner than the
    # characters', but its clipper, taking the kick's tops, modulates the pad (220-440 Hz):
    # measured in its band, it prices that, and the characters keep the master.
    from matcher.rendering import renderer

    x = drum_loop(12.0, RATE, seed=4).astype(np.float32)
    report, y = _master(x, -10.0)
    assert report.clip_band_hz is None
    monkeypatch.setattr(renderer, "BAND_ROUGHER_DB", np.inf)  # no band price
    slow, z = _master(x, -10.0)
    assert slow.clip_band_hz is not None
    assert _band_residual_db(x, z, 150.0, 1500.0) >= _band_residual_db(x, y, 150.0, 1500.0) + 4.0


def test_the_ducking_price_keeps_the_slow_limiter_off_a_pad_under_a_kick(monkeypatch):
    from matcher.rendering import renderer

    x, kicks = pad_under_kick(6.0, RATE)
    target = _pushed_target(x, 4.0)
    monkeypatch.setattr(renderer, "BAND_ROUGHER_DB", np.inf)  # the ducking price alone
    report, y = _master(x.astype(np.float32), target)
    assert report.clip_band_hz is None
    monkeypatch.setattr(renderer, "DUCKING_SLACK_DB", np.inf)  # no price at all
    slow, z = _master(x.astype(np.float32), target)
    assert slow.clip_band_hz is not None
    assert np.median(_pad_dips_db(x, z, kicks, RATE // 2)) >= np.median(_pad_dips_db(x, y, kicks, RATE // 2)) + 2.0


def test_the_ducking_price_reads_a_held_reduction_and_not_a_hit_turned_down():
    from matcher.rendering.chain import ducking_db

    tick_rate = RATE / 30
    ticks = round(8.0 * tick_rate)
    beat, hit, hold = round(0.5 * tick_rate), round(0.02 * tick_rate), round(0.2 * tick_rate)
    position = np.arange(ticks) % beat
    power = np.where(position < hit, 1.0, 0.01)  # hits 20 dB over what lies between them
    assert ducking_db(np.where(position < hit, -6.0, 0.0), power, tick_rate) == pytest.approx(0.0, abs=1e-9)
    assert ducking_db(np.full(ticks, -5.0), power, tick_rate) == pytest.approx(0.0, abs=1e-9)
    # 4 dB held 200 ms past every hit: 43 % of the quiet ticks, more than the 10 % the 90th
    # percentile leaves.
    held = np.where(position < hit, -6.0, np.where(position < hit + hold, -4.0, 0.0))
    assert ducking_db(held, power, tick_rate) == pytest.approx(4.0, abs=1e-9)


def test_band_energies_read_tones_in_their_bands_whatever_the_blocks():
    from matcher.rendering.chain import BandEnergies

    t = np.arange(5 * RATE) / RATE
    x = np.stack([0.5 * np.sin(2 * np.pi * 100.0 * t), 0.05 * np.sin(2 * np.pi * 3000.0 * t)], axis=1)
    edges = (20.0, 150.0, 1500.0, 8000.0)
    meter = BandEnergies(RATE, edges)
    meter.process(x)
    energies = meter.result()
    assert 10 * np.log10(energies[0] / energies[2]) == pytest.approx(20.0, abs=0.01)
    assert energies[1] < 1e-6 * energies[0]
    pieces = BandEnergies(RATE, edges)
    for start in range(0, x.shape[0], 7777):
        pieces.process(x[start : start + 7777])
    np.testing.assert_array_equal(pieces.result(), energies)


def test_a_band_limited_clipper_keeps_what_it_takes_under_its_band():
    from matcher.dsp.clipper import BAND_STOP_RATIO

    x = band_limited(drum_loop(4.0, RATE, seed=1), RATE).astype(np.float32)
    x *= 10 ** ((-1.0 + 2.0) / 20) / np.max(np.abs(x))  # 2 dB over the ceiling
    ticks = -(-x.shape[0] // 30)
    whole = _clip(x, [65536])
    limited = _clip(x, [65536], band_limit_hz=5000.0)
    freqs = np.fft.rfftfreq(x.shape[0], 1 / RATE)
    stop = freqs > BAND_STOP_RATIO * 5000.0

    def high_share(y: np.ndarray) -> float:
        taken = np.abs(np.fft.rfft((y - x)[:, 0].astype(np.float64))) ** 2
        return float(np.sum(taken[stop]) / np.sum(taken))

    # Only the last of its passes, on what the band-limited ones left over the ceiling,
    # reaches the whole band.
    assert high_share(whole) > 0.05
    assert high_share(limited) < 0.2 * high_share(whole)
    assert true_peak_ideal_dbtp(limited) <= -1.0 + 0.3
    np.testing.assert_array_equal(_clip(x, [777, 3000], band_limit_hz=5000.0), limited)
    expected = _clip_densely(x, 30, np.ones(ticks, bool), band_limit_hz=5000.0)
    np.testing.assert_allclose(limited, expected, rtol=0, atol=1e-6)
