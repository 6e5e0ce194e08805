"""Rendering: loudness on target, true peak under the ceiling, no time shift, no pumping."""

import contextlib
from dataclasses import replace

import numpy as np
import pyloudnorm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals import (
    drum_loop,
    pink_noise,
    sine,
    stepped_gain,
    true_peak_ideal_dbtp,
    true_peak_reference_dbtp,
    white_noise,
)

from matcher import (
    BandCompressor,
    DynamicsSettings,
    EqSettings,
    FixSettings,
    LimiterSettings,
    LoudnessSettings,
    OutputSettings,
    Settings,
    WidthSettings,
    render,
)
from matcher.analysis.analyzer import analyze
from matcher.analysis.loudness import LoudnessMeter
from matcher.analysis.spectrum import band_centers_hz
from matcher.analysis.truepeak import TruePeakDetector
from matcher.rendering.renderer import (
    CORRECTION_MARGIN_DB,
    MAX_TAKES,
    Measurement,
    Renderer,
    collect_into,
    render_stream,
)


def make_settings(
    target_lufs=-14.0, ceiling=-1.0, mid=None, side=None, bit_depth="24", amount=1.0, fixes=None, dynamics=None,
    force=False,
):
    """Settings with an EQ of ``mid`` and a width of ``side - mid``; no fixes, no leveler."""
    centers = tuple(band_centers_hz().tolist())
    zeros = np.zeros(len(centers))
    mid = np.asarray(mid, dtype=float) if mid is not None else zeros
    side = np.asarray(side, dtype=float) if side is not None else mid
    return Settings(
        eq=EqSettings(centers, tuple(mid), amount),
        width=WidthSettings(centers, tuple(side - mid), amount),
        loudness=LoudnessSettings(target_lufs, force=force),
        dynamics=dynamics if dynamics is not None else DynamicsSettings(),
        fixes=fixes if fixes is not None else FixSettings(remove_dc=False, highpass_hz=None),
        limiter=LimiterSettings(ceiling_dbtp=ceiling),
        output=OutputSettings(bit_depth=bit_depth),
    )


def our_lufs(x, rate):
    return analyze(x, rate).integrated_lufs


# A drum loop reaches -10 LUFS within the distortion budget; -8 and -6 only when forced
# (the faster limiter characters, whose output is measured and corrected).
@pytest.mark.parametrize("target, force", [(-23.0, False), (-14.0, False), (-10.0, False), (-8.0, True), (-6.0, True)])
def test_loudness_lands_on_target_with_true_peak_under_ceiling(target, force):
    x = drum_loop(6.0, 44100, seed=1) * 0.3
    y = render(x, 44100, make_settings(target, force=force))
    assert our_lufs(y, 44100) == pytest.approx(target, abs=0.05)
    assert pyloudnorm.Meter(44100).integrated_loudness(y) == pytest.approx(target - 0.043, abs=0.1)
    assert true_peak_ideal_dbtp(y) <= -1.0
    assert true_peak_reference_dbtp(y) <= -1.0  # a short-filter meter too
    assert y.shape == x.shape


def test_a_target_beyond_the_distortion_budget_stops_at_the_loudest_clean_master():
    x = drum_loop(6.0, 44100, seed=1) * 0.3
    renderer = Renderer(make_settings(-2.0), 44100, 2)
    plan = renderer.plan(lambda: [x])
    assert not plan.target_reached
    assert plan.distortion_db <= LoudnessSettings(None).max_distortion_db + 0.05
    assert plan.unclean_distortion_db > plan.distortion_db and plan.unclean_lufs > plan.predicted_lufs
    blocks = []
    report = render_stream(lambda: [x], 44100, 2, make_settings(-2.0), lambda: collect_into(blocks))
    y = np.concatenate(blocks)
    assert not report.target_reached
    assert report.output_lufs == pytest.approx(plan.predicted_lufs, abs=0.1)
    assert true_peak_ideal_dbtp(y) <= -1.0
    forced = render(x, 44100, make_settings(-2.0, force=True))
    assert our_lufs(forced, 44100) > report.output_lufs + 1.0  # forcing buys loudness, with distortion
    assert true_peak_ideal_dbtp(forced) <= -1.0


def test_the_leveler_does_not_lift_loud_passages_into_a_limiter_over_budget():
    # Verses 6 dB under the choruses, the references' range the mix's own: at -8.5 LUFS the
    # leveler makes up for the limiter's narrowing of the range (it expands); at -8 that
    # make-up would lift the choruses into a limiter past the distortion budget and stop the
    # master short, so the plan goes without it and reaches the target within the budget.
    rate = 44100
    x = drum_loop(24.0, rate, seed=2) * stepped_gain(24 * rate, [0.0, -6.0], 4.0, rate) * 0.3
    dynamics = DynamicsSettings(target_lra_lu=analyze(x, rate).loudness_range_lu)
    budget = LoudnessSettings(None).max_distortion_db
    made_up = Renderer(make_settings(-8.5, dynamics=dynamics), rate, 2).plan(lambda: [x])
    assert made_up.target_reached and not made_up.leveler_held_back and made_up.leveler_ratio < 0.7
    plan = Renderer(make_settings(-8.0, dynamics=dynamics), rate, 2).plan(lambda: [x])
    assert plan.leveler_held_back and plan.leveler_ratio == pytest.approx(1.0, abs=0.01)
    assert plan.target_reached and plan.distortion_db <= budget + 0.05
    blocks = []
    report = render_stream(lambda: [x], rate, 2, make_settings(-8.0, dynamics=dynamics), lambda: collect_into(blocks))
    y = np.concatenate(blocks)
    assert report.leveler_held_back and report.target_reached
    assert our_lufs(y, rate) == pytest.approx(-8.0, abs=0.05)
    assert true_peak_ideal_dbtp(y) <= -1.0


SIGNALS = {
    "drums": lambda seed: drum_loop(4.0, 44100, seed=seed),
    "pink": lambda seed: pink_noise(4.0, 44100, seed=seed),
    "white": lambda seed: white_noise(4.0, 44100, seed=seed),
    "high_sine": lambda seed: sine(17000.0 + 300 * seed, 4.0, 44100, phase=seed),
    "square_ish": lambda seed: np.clip(sine(110.0 * (seed + 1), 4.0, 44100, amplitude=3.0), -0.5, 0.5),
}


@settings(max_examples=30, deadline=None)
@given(
    kind=st.sampled_from(sorted(SIGNALS)),
    seed=st.integers(0, 5),
    # Up to -3 LUFS: loud enough that full-band noise needs the fastest limiter characters.
    target=st.floats(-24.0, -3.0),
    ceiling=st.floats(-6.0, -0.1),
    tilt_db=st.floats(-6.0, 6.0),
)
def test_true_peak_never_above_ceiling(kind, seed, target, ceiling, tilt_db):
    x = SIGNALS[kind](seed)
    centers = band_centers_hz()
    tilt = tilt_db * np.log2(centers / 1000.0) / 5.0
    y = render(x, 44100, make_settings(target, ceiling, mid=tilt, side=-tilt))
    assert np.all(np.isfinite(y))
    assert true_peak_ideal_dbtp(y) <= ceiling


@pytest.mark.parametrize("mid_db", [0.0, 6.0])
def test_neutral_settings_render_transparently(mid_db):
    # Issue 3: every amount at zero and no gain give back the input within -120 dBFS
    # (before dither: 32-bit float output). The EQ, width, compressor and leveler are all
    # set, at amount 0.
    x = drum_loop(4.0, 44100, seed=11) * 0.5  # peaks well under the ceiling
    curve = np.full(len(band_centers_hz()), mid_db)
    settings = replace(
        make_settings(bit_depth="32f", mid=curve, side=-curve, amount=0.0,
                      dynamics=DynamicsSettings(target_lra_lu=1.0, amount=0.0,
                                                bands=(BandCompressor(-40.0, 4.0, makeup_db=6.0),) * 4)),
        loudness=LoudnessSettings(None),
    )  # EQ, width and leveler all at amount 0; fixes off
    y = render(x, 44100, settings)
    assert y.shape == x.shape
    assert np.max(np.abs(y - x)) < 10 ** (-120 / 20)


def test_no_time_shift_through_eq_and_gain():
    x = pink_noise(5.0, 48000, rms=0.01, seed=3)
    tilt = 3.0 * np.log2(band_centers_hz() / 1000.0) / 5.0
    y = render(x, 48000, make_settings(-30.0, mid=tilt, side=tilt, bit_depth="32f"))
    corr = np.correlate(y[20000:60000, 0], x[20000 - 50 : 60000 + 50, 0], mode="valid")
    assert int(np.argmax(corr)) - 50 == 0


def test_mono_in_mono_out_at_96k():
    x = drum_loop(4.0, 96000, seed=4, channels=1)
    y = render(x[:, 0], 96000, make_settings(-12.0))
    assert y.ndim == 1 and y.shape[0] == x.shape[0]
    assert our_lufs(y, 96000) == pytest.approx(-12.0, abs=0.05)
    assert true_peak_reference_dbtp(y[:, None]) <= -1.0


def test_blockwise_rendering_equals_whole_file():
    x = drum_loop(5.0, 44100, seed=5)
    s = make_settings(-10.0, mid=np.linspace(-3, 3, len(band_centers_hz())), bit_depth="32f")
    whole = render(x, 44100, s)
    parts = []
    blocks = [x[i : i + 12345] for i in range(0, x.shape[0], 12345)]
    render_stream(lambda: iter(blocks), 44100, 2, s, lambda: collect_into(parts))
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)  # float32 output grid


@pytest.mark.parametrize("target", [-10.0, -6.0])  # -6 LUFS: the checked fast characters too
def test_rendering_without_the_kept_eq_signal_is_identical(monkeypatch, target):
    # Files too long to keep the equalised signal are equalised again in pass 2.
    from matcher.rendering import renderer as renderer_module

    # With every stage: the compressor runs again too, and must give the same signal.
    x = drum_loop(5.0, 44100, seed=8) * 0.5
    dynamics = DynamicsSettings(target_lra_lu=3.0, bands=(BandCompressor(-30.0, 2.0, makeup_db=2.0),) * 4)
    s = make_settings(target, mid=np.linspace(-3, 3, len(band_centers_hz())), bit_depth="24", dynamics=dynamics,
                      fixes=FixSettings())
    kept = render(x, 44100, s)
    monkeypatch.setattr(renderer_module, "EQ_CACHE_LIMIT_BYTES", 0)
    np.testing.assert_array_equal(render(x, 44100, s), kept)


def test_same_input_and_settings_give_bit_identical_16_bit_output():
    x = drum_loop(4.0, 44100, seed=6) * 0.5
    s = make_settings(-12.0, bit_depth="16")
    a, b = render(x, 44100, s), render(x, 44100, s)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.round(a * 32768), a * 32768)


def test_sustained_material_does_not_pump():
    # A steady tone pushed 8 dB into the limiter: the gain settles and stays put.
    x = sine(80.0, 8.0, 44100, amplitude=0.5, fade_s=0.0) + sine(1000.0, 8.0, 44100, amplitude=0.2, fade_s=0.0)
    y = render(x, 44100, make_settings(our_lufs(x, 44100) + 8.0, bit_depth="32f"))
    window = 4410
    level_db = [20 * np.log10(np.sqrt(np.mean(y[i : i + window, 0] ** 2))) for i in range(2 * 44100, 7 * 44100, window)]
    assert np.ptp(level_db) < 0.2


def test_limiter_leaves_quiet_material_untouched():
    # The gain, and the master's band limit (everything above 95.5 % of Nyquist removed).
    from matcher.dsp.filters import band_limit_gain

    x = pink_noise(4.0, 44100, rms=0.02, seed=7)  # peaks far under the ceiling
    y = render(x, 44100, make_settings(our_lufs(x, 44100) + 2.0, bit_depth="32f"))
    spectrum = np.fft.rfft(x, axis=0) * band_limit_gain(np.fft.rfftfreq(x.shape[0], 1 / 44100), 44100)[:, None]
    expected = np.fft.irfft(spectrum, n=x.shape[0], axis=0) * 10 ** (2.0 / 20)
    y, expected = y[4410:-4410], expected[4410:-4410]
    gain = float(np.sum(y * expected) / np.sum(expected * expected))
    assert 20 * np.log10(gain) == pytest.approx(0.0, abs=0.1)  # the lost top octave's share of the loudness
    np.testing.assert_allclose(y, gain * expected, atol=1e-3 * 0.02)


def test_solver_needs_a_limiter():
    from matcher.rendering.loudness_solver import solve_gain

    with pytest.raises(ValueError, match="at least one limiter"):
        solve_gain(np.zeros(10), np.ones(10), 5, [], -14.0)


def test_a_slow_limiter_is_not_driven_into_compression():
    # A song with quiet and loud sections pushed 8 dB: a slow limiter driven that hard holds
    # its reduction between peaks and squashed the loudness range from 9 to 2.6 LU; the
    # drive cap hands the job to the firmest clean character and the clipper, which shave
    # the peaks: 9.1 to 5.4 LU (the waveform-following characters, with their bass
    # distortion, kept 5.6; where the reference has the range, the leveler gives it back).
    x = (drum_loop(24.0, 44100, seed=4) * 0.5 + pink_noise(24.0, 44100, seed=5) * 0.15) * np.repeat(
        [0.35, 1.0, 0.5, 1.0, 0.35, 0.8], 4 * 44100
    )[:, None]
    source = analyze(x, 44100)
    blocks = []
    report = render_stream(lambda: [x], 44100, 2, make_settings(source.integrated_lufs + 8.0), lambda: collect_into(blocks))
    y = np.concatenate(blocks)
    assert report.output_lufs > source.integrated_lufs + 4.0
    assert analyze(y, 44100).loudness_range_lu > source.loudness_range_lu - 4.0
    assert true_peak_ideal_dbtp(y) <= -1.0


def _held_loud_plan(target=-10.0):
    """A drum loop pushed to ``target`` (the limiter and the clipper at work): its plan,
    corrected until its take holds, and that take's measurement (by the guarantee's meter)."""
    x = drum_loop(6.0, 44100, seed=1) * 0.3
    renderer = Renderer(make_settings(target), 44100, 2)
    plan = renderer.plan(lambda: [x])
    assert plan.solving is not None and plan.max_reduction_db > 3.0
    for _ in range(MAX_TAKES):
        blocks = []
        renderer.run(lambda: [x], plan, blocks.append)
        measured = _measure(renderer, np.concatenate(blocks))
        revised = renderer.revise(plan, measured)
        if revised is None:
            return renderer, plan, measured
        plan = revised
    raise AssertionError("no take held")


def _measure(renderer, y):
    detector = TruePeakDetector(44100, frame_samples=renderer.tick_samples, guarantee=True)
    peaks = np.concatenate([detector.process(y), detector.finish()])
    meter = LoudnessMeter(44100, 2)
    meter.process(y)
    return Measurement(20 * np.log10(peaks) + detector.margin_db, meter.finish())


def test_a_take_over_the_ceiling_gets_more_reduction_exactly_there():
    renderer, plan, measured = _held_loud_plan()
    assert np.max(measured.peak_db) <= -1.0
    assert measured.energies.integrated_lufs() == pytest.approx(-10.0, abs=0.02)
    unclipped = np.flatnonzero(plan.clipping[: len(measured.peak_db)] == 0) if plan.clipping is not None else None
    tick = int(unclipped[np.argmax(measured.peak_db[unclipped])])
    over = measured.peak_db.copy()
    over[tick] = -1.0 + 0.5
    revised = renderer.revise(plan, measured._replace(peak_db=over))
    assert revised is not None and revised.solving.take == plan.solving.take + 1
    assert revised.reduction_db[tick] >= plan.reduction_db[tick] + 0.5 - 0.05


def test_a_take_over_the_ceiling_where_the_clipper_worked_gives_those_transients_to_the_limiter():
    renderer, plan, measured = _held_loud_plan()
    assert plan.clipping is not None
    tick = int(np.flatnonzero(plan.clipping)[0])
    over = measured.peak_db.copy()
    over[tick] = -1.0 + 0.3
    revised = renderer.revise(plan, measured._replace(peak_db=over))
    assert revised.solving.limiters[0].allowance_db[tick - 2 : tick + 3].max() == 0.0
    assert revised.reduction_db[tick] > plan.reduction_db[tick] + 0.25


def test_the_last_correction_lowers_the_whole_output_below_the_largest_excess():
    renderer, plan, measured = _held_loud_plan()
    over = measured.peak_db.copy()
    over[len(over) // 2] = -1.0 + 0.7
    last = replace(plan, solving=plan.solving._replace(take=MAX_TAKES - 1))
    lowered = renderer.revise(last, measured._replace(peak_db=over))
    assert lowered.solving is None  # the lowered plan holds without a further check
    np.testing.assert_allclose(lowered.gain_db, plan.gain_db)  # before the clipper: unchanged
    assert lowered.output_gain_db == pytest.approx(-0.7 - CORRECTION_MARGIN_DB)


def test_a_missed_take_is_discarded_and_made_again(monkeypatch):
    x = drum_loop(6.0, 44100, seed=1) * 0.3
    renderer = Renderer(make_settings(-14.0), 44100, 2)
    checks = []

    def revise_once(self, plan, measured):
        checks.append(measured)
        if len(checks) == 1:  # the first take "misses": the plan comes back 1 dB lower
            return replace(plan, output_gain_db=plan.output_gain_db - 1.0)
        return None

    monkeypatch.setattr(Renderer, "revise", revise_once)
    takes = []

    @contextlib.contextmanager
    def open_take():
        blocks = []
        try:
            yield blocks.append
        except Exception:
            takes.append(("discarded", blocks))
            raise
        takes.append(("kept", blocks))

    report = renderer.render(lambda: [x], open_take)
    assert [fate for fate, _ in takes] == ["discarded", "kept"]
    first, kept = (np.concatenate(blocks) for _, blocks in takes)
    assert report.takes == 2
    np.testing.assert_allclose(kept, first * 10 ** (-1.0 / 20), atol=2.0**-22)
    assert report.output_lufs == pytest.approx(our_lufs(kept, 44100), abs=1e-6)


@pytest.mark.parametrize("bit_depth", ["16", "24"])
def test_a_take_meters_the_ticks_near_the_ceiling_and_bounds_the_rest(bit_depth):
    x = drum_loop(6.0, 44100, seed=7) * 0.5
    renderer = Renderer(make_settings(-14.0, bit_depth=bit_depth), 44100, 2)
    plan = renderer.plan(lambda: [x])
    blocks: list[np.ndarray] = []
    report, measured = renderer._take(lambda: [x], plan, blocks.append)
    detector = TruePeakDetector(44100, frame_samples=renderer.tick_samples, guarantee=True)
    out = np.concatenate(blocks)
    peaks = np.concatenate([detector.process(out), detector.finish()])
    true = 20 * np.log10(np.maximum(peaks, 1e-10)) + detector.margin_db
    metered = np.abs(measured.peak_db - true) < 1e-4
    assert 0.0 < np.mean(metered) < 0.9  # the bounds spared some ticks, not all
    assert np.all(measured.peak_db >= true - 1e-4)
    assert report.output_true_peak_dbtp == pytest.approx(true.max(), abs=1e-4)
    assert np.all(metered[true > true.max() - 0.05])
    assert report.output_true_peak_dbtp >= true_peak_ideal_dbtp(out)  # never below the ideal


def test_the_fastest_limiter_is_not_driven_past_what_adds_loudness():
    # Dense material and an absurd target (-1 LUFS under a -1 dBTP ceiling): driving the
    # fastest limiter the full 24 dB squashes everything for a few hundredths of a LU.
    from matcher.rendering.loudness_solver import (
        MAX_EXTRA_GAIN_DB,
        _limited,
        output_loudness_lufs,
        solve_gain,
    )

    x = pink_noise(6.0, 44100, rms=0.05, seed=9) + drum_loop(6.0, 44100, seed=9) * 0.2
    renderer = Renderer(make_settings(-1.0), 44100, 2)
    solving = renderer.plan(lambda: [x]).solving
    ticks = (solving.peak_db, solving.power, solving.ticks_per_subblock)
    fastest = renderer.limiters[-1]
    solution = solve_gain(*ticks, [fastest], -1.0)
    base_lufs = output_loudness_lufs(solving.power, solving.ticks_per_subblock, np.zeros(len(solving.power)))
    unlimited_gain_db = -1.0 - base_lufs
    full_drive = _limited(*ticks, fastest, 0, unlimited_gain_db + MAX_EXTRA_GAIN_DB)
    assert solution.predicted_lufs < -1.0  # out of reach
    assert solution.predicted_lufs > full_drive.predicted_lufs - 0.3  # nearly as loud as it gets
    # ... and far less squashed
    assert np.mean(solution.reduction_db) < np.mean(full_drive.reduction_db) - 10.0


@pytest.mark.parametrize("tau_db, target", [(2.0, -8.0), (6.0, -9.5), (0.7, -7.2)])
def test_the_root_search_on_two_cores_lands_as_exactly_in_fewer_rounds(tau_db, target):
    from concurrent.futures import ThreadPoolExecutor

    from matcher.rendering.loudness_solver import TOLERANCE_LU, Solution, _bracketed_root

    # A limited output's loudness against the make-up gain: saturating, with a kink.
    def loudness(gain_db: float) -> Solution:
        lufs = -7.0 - 3.0 * np.exp(-(gain_db - 10.0) / tau_db) + 0.05 * np.tanh(gain_db - 11.0)
        return Solution(0, gain_db, np.zeros(1), float(lufs))

    class Counting:
        rounds = 0

        def __init__(self, pool):
            self.pool = pool

        def map(self, f, items):
            Counting.rounds += 1
            return self.pool.map(f, items)

    serial_rounds = 0

    def counted(gain_db: float) -> Solution:
        nonlocal serial_rounds
        serial_rounds += 1
        return loudness(gain_db)

    low, high = loudness(8.0), loudness(20.0)
    serial = _bracketed_root(counted, low, high, target)
    with ThreadPoolExecutor(2) as pool:
        single_rounds = 0

        def counted_single(gain_db: float) -> Solution:
            nonlocal single_rounds
            single_rounds += 1
            return loudness(gain_db)

        paired = _bracketed_root(counted_single, low, high, target, Counting(pool))
    assert abs(serial.predicted_lufs - target) <= TOLERANCE_LU
    assert abs(paired.predicted_lufs - target) <= TOLERANCE_LU
    # Rounds: single evaluations plus paired ones (each pair evaluates two points).
    paired_rounds = Counting.rounds + (single_rounds - 2 * Counting.rounds)
    assert paired_rounds < serial_rounds


@pytest.mark.parametrize("target", [-7.0, -6.0])
def test_a_long_files_compact_search_gives_the_same_solution(monkeypatch, target):
    # Past PARALLEL_TICKS_LIMIT ticks the search runs one evaluation at a time and keeps
    # float32 reductions; the solution it returns is the same, its reduction exact. (Loud
    # targets: the search runs through every limiter character, and the plan is checked,
    # which keeps the solver's inputs.)
    from matcher.rendering import loudness_solver

    x = drum_loop(6.0, 44100, seed=12) * 0.5
    renderer = Renderer(make_settings(target), 44100, 2)
    solving = renderer.plan(lambda: [x]).solving
    inputs = (solving.peak_db, solving.power, solving.ticks_per_subblock, renderer.limiters, target)
    normal = loudness_solver.solve_gain(*inputs)
    monkeypatch.setattr(loudness_solver, "PARALLEL_TICKS_LIMIT", 0)
    compact = loudness_solver.solve_gain(*inputs)
    assert (compact.limiter_index, compact.gain_db, compact.predicted_lufs) == (
        normal.limiter_index, normal.gain_db, normal.predicted_lufs)
    assert compact.reduction_db.dtype == np.float64
    np.testing.assert_array_equal(compact.reduction_db, normal.reduction_db)


@pytest.mark.parametrize("rate", [44100, 48000, 11025])
def test_the_analysis_energies_give_the_plan_the_guard_would_measure(rate):
    # The quiet-passage guard takes the mix's K-weighted sub-block energies from its
    # analysis (match analyses the mix first) instead of measuring them again in pass 1: the
    # same filter and sums, so the same plan to the bit. At 11025 Hz the analysis's 100 ms
    # sub-blocks alternate 1102 and 1103 samples, the renderer's are 1102: it measures.
    from matcher.analysis.analyzer import Analyzer
    from matcher.rendering.renderer import _InputEnergy

    music = drum_loop(6.0, rate, seed=9) * 0.5
    x = np.concatenate([music, music[: rate * 2] * 0.003, music]).astype(np.float32)  # a hushed break
    dynamics = DynamicsSettings(target_lra_lu=3.0, bands=(BandCompressor(-30.0, 2.0, makeup_db=6.0),) * 4)
    s = make_settings(-9.0, mid=np.linspace(4, -2, len(band_centers_hz())), dynamics=dynamics, fixes=FixSettings())
    analyzer = Analyzer(rate, 2, true_peak=False)
    analyzer.process(x)
    analyzer.finish()
    energies = analyzer.loudness_energies()
    renderer = Renderer(s, rate, 2)
    subblock = int(rate // 10) if rate % 10 == 0 else 1102
    assert (_InputEnergy.given(energies, subblock) is None) == (rate % 10 != 0)
    measured = renderer.plan(lambda: [x])
    given_plan = Renderer(s, rate, 2).plan(lambda: [x], input_energies=energies)
    assert np.array_equal(given_plan.gain_db, measured.gain_db)
    assert given_plan.makeup_gain_db == measured.makeup_gain_db
