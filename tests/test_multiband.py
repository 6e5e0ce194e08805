"""The multiband compressor: transparent when neutral, its static curve, band isolation,
its times, linked channels, its level scale, and the fit of its settings."""

import numpy as np
import pytest
from signals import drum_loop, pink_noise, sine

from matcher import FitConfig, analyze, fit, render
from matcher.dsp.multiband import (
    FLOOR_KNEE_DB,
    BandParameters,
    MultibandCompressor,
    gain_reduction_db,
    static_gain_db,
)

RATE = 44100
CROSSOVERS = (120.0, 1000.0, 6000.0)


def lr_low(f_hz, crossover_hz):
    """Linkwitz-Riley (4th order) low-pass magnitude."""
    return 1.0 / (1.0 + (f_hz / crossover_hz) ** 4)


def band_response(f_hz, band):
    edges = [0.0, *(lr_low(f_hz, c) for c in CROSSOVERS), 1.0]
    return edges[band + 1] - edges[band]


def neutral(threshold_db=-30.0):
    return BandParameters(threshold_db, 1.0, 6.0, 20.0, 200.0, 0.0, 12.0)


def run(x, bands, rate=RATE, split=65536):
    x = np.asarray(x, dtype=np.float32)
    compressor = MultibandCompressor(CROSSOVERS, bands, rate, x.shape[1])
    out = [compressor.process(x[i : i + split]) for i in range(0, x.shape[0], split)] + [compressor.finish()]
    return np.concatenate(out), compressor


@pytest.mark.parametrize(("rate", "channels", "split"), [(44100, 2, 65536), (48000, 1, 1000), (96000, 2, 7777)])
def test_neutral_bands_give_back_the_input(rate, channels, split):
    x = drum_loop(3.0, rate, seed=3, channels=channels) * 0.5
    y, _ = run(x, [neutral()] * 4, rate, split)
    assert y.shape == x.shape
    assert np.max(np.abs(y - x)) < 10 ** (-120 / 20)


def test_static_curve_is_the_soft_knee_compressor():
    levels = np.array([-40.0, -23.0, -20.0, -17.0, -10.0, 0.0])
    reduction = gain_reduction_db(levels, -20.0, 4.0, 6.0)
    slope = 0.75
    expected = [0.0, 0.0, slope * 3.0**2 / 12.0, slope * 3.0, slope * 10.0, slope * 20.0]
    assert reduction == pytest.approx(expected, abs=1e-12)
    # Continuous at the knee's edges, and never negative (never expands).
    edges = gain_reduction_db(np.array([-23.0 - 1e-9, -23.0 + 1e-9, -17.0 - 1e-9, -17.0 + 1e-9]), -20.0, 4.0, 6.0)
    assert edges[1] - edges[0] == pytest.approx(0.0, abs=1e-9)
    assert edges[3] - edges[2] == pytest.approx(0.0, abs=1e-8)
    assert np.all(gain_reduction_db(np.linspace(-90, 0, 50), -20.0, 2.0, 6.0) >= 0.0)


def test_static_curve_with_a_floor_gives_the_make_up_back_only_within_the_music():
    # 4:1 above -20 dB (6 dB knee), 6 dB make-up, at most 12 dB of reduction, floor at -50 dB:
    # the make-up comes in over the 12 dB above the floor, along 3u^2 - 2u^3.
    band = BandParameters(-20.0, 4.0, 6.0, 20.0, 200.0, 6.0, 12.0, -50.0)
    assert FLOOR_KNEE_DB == 12.0
    levels = np.array([-90.0, -50.0, -47.0, -44.0, -41.0, -38.0, -30.0, -20.0, -10.0, 0.0])
    smoothstep = lambda u: 3 * u**2 - 2 * u**3
    expected = [
        0.0, 0.0, 6.0 * smoothstep(0.25), 3.0, 6.0 * smoothstep(0.75), 6.0, 6.0,
        6.0 - 0.75 * 3.0**2 / 12.0, 6.0 - 0.75 * 10.0, 6.0 - 12.0,
    ]
    assert static_gain_db(levels, band) == pytest.approx(expected, abs=1e-12)
    # Without a floor: the make-up at every level, as before the floor existed.
    unfloored = band._replace(floor_db=None)
    reduction = np.minimum(gain_reduction_db(levels, -20.0, 4.0, 6.0), 12.0)
    assert static_gain_db(levels, unfloored) == pytest.approx(6.0 - reduction, abs=1e-12)
    # The gain and its slope are continuous at the floor's edges (the range's clip, at 12 dB
    # of reduction, is a corner), and the output level still rises with the input level
    # (the floor's knee expands, gently: at most 1.5 * 6 / 12 dB per dB).
    fine = np.linspace(-80.0, 0.0, 80001)
    gain = static_gain_db(fine, band)
    slope = np.diff(gain) / np.diff(fine)
    assert np.max(np.abs(np.diff(gain))) < 2e-3
    assert np.max(np.abs(np.diff(slope[fine[1:] < -30.0]))) < 1e-3
    assert np.max(slope) == pytest.approx(1.5 * 6.0 / 12.0, abs=1e-3)
    assert np.all(np.diff(fine + gain) > 0)


@pytest.mark.parametrize("band_level_db", [-70.0, -50.0, -44.0, -30.0])
def test_a_steady_tone_gets_the_static_curve_with_its_floor(band_level_db):
    # A 500 Hz tone whose band-1 level (through the band's response r1) sits below, at, in
    # and above the floor's knee: its gain is the static curve's at that level.
    r = [band_response(500.0, b) for b in range(4)]
    amplitude = np.sqrt(2) * 10 ** ((band_level_db - 20 * np.log10(r[1])) / 20)
    x = sine(500.0, 4.0, RATE, amplitude=amplitude)
    band1 = BandParameters(-25.0, 3.0, 6.0, 10.0, 100.0, 6.0, 20.0, -50.0)
    y, _ = run(x, [neutral(), band1, neutral(), neutral()])
    gain = 10 ** (float(static_gain_db(np.array([band_level_db]), band1)[0]) / 20)
    expected = 20 * np.log10(r[0] + gain * r[1] + r[2] + r[3])
    assert tone_level_db(y[:, 0], 500.0) - tone_level_db(x[:, 0], 500.0) == pytest.approx(expected, abs=0.05)


def test_the_floor_keeps_the_make_up_between_beats_and_drops_it_in_a_break():
    # Drums, 4 s of hiss 50 dB down, drums: the hiss keeps its level, the drums their make-up.
    drums = drum_loop(12.0, RATE, seed=12) * 0.5
    hiss = 10 ** (-60 / 20) * np.random.default_rng(13).standard_normal((4 * RATE, 2))
    x = np.concatenate([drums[: 6 * RATE], hiss, drums[6 * RATE :]])
    # Ratio 1 (no reduction) and 6 dB of make-up in every band: the make-up alone.
    bands = [BandParameters(0.0, 1.0, 6.0, 5.0, 80.0, 6.0, 12.0, None)] * 4
    y_plain, _ = run(x, bands)
    y_floor, _ = run(x, [b._replace(floor_db=-55.0) for b in bands])
    rms_db = lambda v: 10 * np.log10(np.mean(v**2))
    brk = slice(int(7.5 * RATE), int(9.5 * RATE))  # from 1.5 s into the break
    music = slice(2 * RATE, 5 * RATE)
    assert rms_db(y_plain[brk]) - rms_db(x[brk]) == pytest.approx(6.0, abs=0.1)
    assert rms_db(y_floor[brk]) - rms_db(x[brk]) == pytest.approx(0.0, abs=0.1)
    assert rms_db(y_floor[music]) - rms_db(x[music]) == pytest.approx(6.0, abs=0.1)


def tone_level_db(x, freq_hz, rate=RATE):
    """Level of one tone (dB re full-scale mean square) by projection on it, in the middle."""
    middle = x[x.shape[0] // 4 : 3 * x.shape[0] // 4]
    t = np.arange(middle.shape[0]) / rate
    c, s = np.cos(2 * np.pi * freq_hz * t), np.sin(2 * np.pi * freq_hz * t)
    amplitude = 2 * np.hypot(middle @ c, middle @ s) / middle.shape[0]
    return 10 * np.log10(amplitude**2 / 2)


def test_a_loud_band_is_compressed_by_its_ratio_and_the_others_are_untouched():
    # 500 Hz at -10 dB mean square in band 1 (120 Hz-1 kHz), 5 kHz at -30 dB in band 2.
    x = sine(500.0, 4.0, RATE, amplitude=np.sqrt(2) * 10 ** (-10 / 20)) + sine(5000.0, 4.0, RATE, amplitude=np.sqrt(2) * 10 ** (-30 / 20))
    band1 = BandParameters(-22.0, 4.0, 0.0, 10.0, 100.0, 1.5, 20.0)
    y, compressor = run(x, [neutral(), band1, neutral(), neutral()])
    # Band 1 reads the tone through its response r1 (0.94 at 500 Hz): the gain there is
    # -(1 - 1/4) * (level - threshold) + 1.5 dB; the tone also passes bands 0 and 2 (ungained).
    r = [band_response(500.0, b) for b in range(4)]
    gain = 10 ** ((-0.75 * (-10.0 + 20 * np.log10(r[1]) + 22.0) + 1.5) / 20)
    expected = -10.0 + 20 * np.log10(r[0] + gain * r[1] + r[2] + r[3])
    assert tone_level_db(y[:, 0], 500.0) == pytest.approx(expected, abs=0.1)
    assert tone_level_db(y[:, 0], 5000.0) == pytest.approx(tone_level_db(x[:, 0], 5000.0), abs=0.05)
    steady = compressor.reduction_db[20:-20]
    assert np.all(steady[:, [0, 2, 3]] == 0.0)


def test_attack_and_release_times():
    # A 500 Hz tone steps from -50 to -10 dB and back: 30 dB over a -40 dB threshold.
    quiet, loud = 10 ** (-50 / 20) * np.sqrt(2), 10 ** (-10 / 20) * np.sqrt(2)
    amplitude = np.concatenate([np.full(RATE, quiet), np.full(2 * RATE, loud), np.full(2 * RATE, quiet)])
    t = np.arange(amplitude.shape[0]) / RATE
    x = np.repeat((amplitude * np.sin(2 * np.pi * 500 * t))[:, None], 2, axis=1)
    band1 = BandParameters(-40.0, 4.0, 0.0, 100.0, 400.0, 0.0, 40.0)
    _, compressor = run(x, [neutral(), band1, neutral(), neutral()])
    reduction = compressor.reduction_db[:, 1]
    frame_s = compressor.hop / RATE
    final = reduction[int(2.8 / frame_s)]
    assert final == pytest.approx(0.75 * (30.0 + 20 * np.log10(band_response(500.0, 1))), abs=0.1)

    def reached(start_s, fraction, rising):
        frames = reduction[int(start_s / frame_s) :]
        hit = frames >= fraction * final if rising else frames <= (1 - fraction) * final
        return np.argmax(hit) * frame_s

    # One-pole smoothing: 63 % after one time constant, 95 % after three (± a 23 ms hop).
    assert reached(1.0, 0.63, True) == pytest.approx(0.100, abs=0.035)
    assert reached(1.0, 0.95, True) == pytest.approx(0.300, abs=0.05)
    assert reached(3.0, 0.63, False) == pytest.approx(0.400, abs=0.05)


def test_channels_are_linked():
    # A loud tone in the left channel only: the right's quiet tone gets the same reduction.
    left = sine(500.0, 3.0, RATE, amplitude=0.5, channels=1)[:, 0]
    x = np.column_stack([left, 0.01 * left])
    band1 = BandParameters(-30.0, 3.0, 0.0, 10.0, 100.0, 0.0, 20.0)
    y, _ = run(x, [neutral(), band1, neutral(), neutral()])
    change_left = tone_level_db(y[:, 0], 500.0) - tone_level_db(x[:, 0], 500.0)
    change_right = tone_level_db(y[:, 1], 500.0) - tone_level_db(x[:, 1], 500.0)
    assert change_left < -5.0
    assert change_right == pytest.approx(change_left, abs=0.05)


def test_the_detector_reads_the_analysis_level_scale():
    # Steady pink noise: the compressor's band levels are the analysis's 400 ms band levels,
    # so a threshold 8 dB under the analysed median gives 8 * (1 - 1/2) = 4 dB of reduction.
    # In the lowest band the compressor's 46 ms frames (21.5 Hz bins; the analysis has
    # 0.19 s) leak more from above: there it reads up to 1.5 dB high, elsewhere up to 1 dB.
    x = pink_noise(8.0, RATE, rms=0.1, seed=4, correlation=0.7)
    medians = [p[1] for p in analyze(x, RATE).band_level_percentiles_db]
    bands = [BandParameters(m - 8.0, 2.0, 0.0, 50.0, 500.0, 0.0, 20.0) for m in medians]
    _, compressor = run(x, bands)
    steady = compressor.reduction_db[40:-40]
    medians = np.median(steady, axis=0)
    assert medians[0] == pytest.approx(4.0, abs=0.75)
    assert medians[1:] == pytest.approx([4.0] * 3, abs=0.5)


def bursts(seconds, seed):
    """Steady pink noise with a low band (60 Hz) that comes and goes every 2 s."""
    x = pink_noise(seconds, RATE, rms=0.05, seed=seed, correlation=0.8)
    t = np.arange(x.shape[0]) / RATE
    envelope = np.where((t // 2) % 2 == 0, 1.0, 10 ** (-14 / 20))
    bass = 0.3 * np.sin(2 * np.pi * 60 * t) * np.convolve(envelope, np.ones(441) / 441, "same")
    return x + bass[:, None]


def test_fit_compresses_the_band_that_breathes_more_than_the_reference():
    mix = bursts(16.0, seed=5)
    t = np.arange(mix.shape[0]) / RATE
    reference = pink_noise(16.0, RATE, rms=0.05, seed=6, correlation=0.8)
    reference = reference + (0.3 * 10 ** (-4 / 20) * np.sin(2 * np.pi * 60 * t))[:, None]  # steady bass
    a_mix, a_ref = analyze(mix, RATE), analyze(reference, RATE)
    config = FitConfig(remove_dc=False, highpass_hz=None, eq_amount=0.0, width_amount=0.0)
    settings = fit(a_mix, a_ref, config)
    bands = settings.dynamics.bands
    assert bands[0].ratio > 1.5
    assert all(b.ratio == 1.0 for b in bands[1:])  # the same spread as the reference there
    spread = lambda a: a.band_level_percentiles_db[0][2] - a.band_level_percentiles_db[0][0]
    settings = type(settings)(**{**settings.__dict__, "dynamics": type(settings.dynamics)(
        **{**settings.dynamics.__dict__, "target_lra_lu": None})})  # the compressor alone
    out = analyze(render(mix, RATE, settings), RATE)
    before, after = spread(a_mix) - spread(a_ref), spread(out) - spread(a_ref)
    assert before > 8.0
    assert after < before / 2


def test_fit_never_expands():
    mix = pink_noise(10.0, RATE, rms=0.05, seed=7, correlation=0.8)
    reference = bursts(10.0, seed=8)
    settings = fit(analyze(mix, RATE), analyze(reference, RATE))
    assert all(b.ratio == 1.0 and b.makeup_db == 0.0 for b in settings.dynamics.bands)
