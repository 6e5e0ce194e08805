"""Render settings onto audio in two streaming passes.

Pass 1 runs the EQ and measures, per control tick of about 0.7 ms, the true peak and the
K-weighted energy of the equalised signal. From those small arrays the make-up gain and the
limiter's gain curve are solved so that the output lands exactly on the loudness target
with every true peak at or below the ceiling. The limiter is the gentlest of
``LIMITER_CHARACTERS`` that gets there without being driven hard; the output of a fast one
is rendered, measured and corrected before the plan is final. Pass 2 applies the gain
curve to the equalised signal, quantises, meters (unless pass 1 already measured that very
signal) and hands each block to the caller.

The equalised signal is kept between the passes (float32) when it fits in
``EQ_CACHE_LIMIT_BYTES``; longer files are equalised again in pass 2, with identical
results. Memory is then bounded by the block size and the tick arrays (a few MB per hour),
never by the length of the file. In both passes the meters run on a second thread, beside
the EQ or the quantiser.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple

import numpy as np

from matcher.analysis.loudness import (
    KWeightedPower,
    LoudnessMeter,
    SubBlockEnergies,
    subblock_boundaries,
)
from matcher.analysis.truepeak import TruePeakDetector
from matcher.concurrency import BackgroundConsumer
from matcher.dsp.dither import Quantizer
from matcher.dsp.eq import MidSideEQ
from matcher.dsp.limiter import TruePeakLimiter
from matcher.dsp.segments import SegmentReducer
from matcher.fitting.settings import Settings
from matcher.render.loudness_solver import Solution, solve_gain
from matcher.units import FLOOR_DB, gain_to_db

CHUNK_SAMPLES = 1 << 16
EQ_CACHE_LIMIT_BYTES = 256 << 20
MAX_TICK_SAMPLES = 32
REACHED_LU = 0.02

class LimiterCharacter(NamedTuple):
    """Scales of the settings' limiter times, sustain weight, and true-peak margin (dB)."""

    hold: float
    release: float
    lookahead: float
    sustain_weight: float
    margin_db: float


LIMITER_CHARACTERS = tuple(LimiterCharacter(*c) for c in (
    # Gentlest first. A loud target under a strict ceiling may need faster limiting than the
    # settings' times allow; the first character that reaches the target without being
    # driven more than loudness_solver.MAX_DRIVE_DB is used, so moderate targets keep the
    # gentle one. The last acts almost as a clipper: only hyper-compressed references call
    # for it. Fast gain changes modulate the signal and add inter-sample peaks of their own:
    # from the third character on, the limited signal is measured and the plan corrected
    # wherever it exceeds the ceiling (Renderer._verified), so every character aims only
    # slightly below it (last column, dB).
    (1.0, 1.0, 1.0, 1.0, 0.05),
    (0.5, 0.5, 1.0, 0.5, 0.05),
    (0.3, 0.2, 1.0, 0.0, 0.05),
    (0.1, 0.06, 0.5, 0.0, 0.05),
    (0.0, 0.02, 0.25, 0.0, 0.05),
))
VERIFIED_FROM_CHARACTER = 2
"""Characters from this index on have their output's true peaks measured and corrected."""
VERIFY_ROUNDS = 6
VERIFY_MARGIN_DB = 0.02
"""Extra reduction where a measured true peak exceeded the ceiling."""

BlockSource = Callable[[], Iterable[np.ndarray]]


@dataclass(frozen=True)
class RenderReport:
    """What rendering did and what came out.

    Attributes
    ----------
    gain_db : float
        Make-up gain applied before the limiter.
    target_reached : bool
        False when the loudness target is out of reach under the ceiling: the output is
        then as loud as the fastest limiter character makes it.
    limiter_release_ms : float
        Release of the limiter character used.
    limiter_max_reduction_db, limiter_active_fraction : float
        Largest gain reduction, and fraction of the time the limiter reduced at all.
    output_lufs, output_true_peak_dbtp, output_sample_peak_dbfs, output_plr_db : float
        Measured on the quantised output; or, for the fast limiter characters, measured
        while solving on the same signal before quantisation (which moves it by at most one
        LSB), with the true peak read by both interpolators.
    output_loudness_range_lu : float
    """

    gain_db: float
    target_reached: bool
    limiter_release_ms: float
    limiter_max_reduction_db: float
    limiter_active_fraction: float
    output_lufs: float
    output_true_peak_dbtp: float
    output_sample_peak_dbfs: float
    output_plr_db: float
    output_loudness_range_lu: float


class Measurement(NamedTuple):
    """Of a rendered gain curve: true peak per tick (dBTP, both interpolators) and the
    K-weighted energies of its 100 ms sub-blocks."""

    peak_db: np.ndarray
    energies: SubBlockEnergies

    def lowered(self, gain_db: float) -> Measurement:
        """The same signal turned down by ``gain_db``."""
        energies = SubBlockEnergies(self.energies.sums * 10.0 ** (-gain_db / 10.0), self.energies.lengths)
        return Measurement(self.peak_db - gain_db, energies)


@dataclass(frozen=True)
class GainPlan:
    """Solved gain per control tick (dB), and the figures behind it.

    ``measured`` is set when the plan's own output (before quantisation) was rendered and
    measured while solving; pass 2 then reports those figures instead of metering again.
    """

    tick_samples: int
    gain_db: np.ndarray
    makeup_gain_db: float
    reduction_db: np.ndarray
    release_ms: float
    target_reached: bool = True
    measured: Measurement | None = None


def tick_samples(sample_rate_hz: int) -> int:
    """Control tick: the largest divisor of the 100 ms sub-block that is at most 32 samples."""
    subblock = int(subblock_boundaries(sample_rate_hz)(1))
    return max(d for d in range(1, MAX_TICK_SAMPLES + 1) if subblock % d == 0)


class Renderer:
    """Applies :class:`Settings` to a stream of blocks of shape (n, channels).

    Parameters
    ----------
    settings : Settings
    sample_rate_hz : int
    channels : int
        1 or 2.
    """

    def __init__(self, settings: Settings, sample_rate_hz: int, channels: int):
        self.settings = settings
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.tick_samples = tick_samples(sample_rate_hz)
        limiter = settings.limiter
        self.limiters = [
            TruePeakLimiter(
                ceiling_dbtp=limiter.ceiling_dbtp - c.margin_db,
                lookahead_ms=limiter.lookahead_ms * c.lookahead,
                hold_ms=limiter.hold_ms * c.hold,
                release_ms=limiter.release_ms * c.release,
                control_rate_hz=sample_rate_hz / self.tick_samples,
                sustain_weight=c.sustain_weight,
            )
            for c in LIMITER_CHARACTERS
        ]
        self._eq_cache: list[np.ndarray] | None = None

    def _eq(self) -> MidSideEQ | None:
        eq = self.settings.eq
        if eq.is_neutral:
            return None
        return MidSideEQ(
            eq.band_centers_hz,
            np.asarray(eq.mid_gain_db) * eq.amount,
            np.asarray(eq.side_gain_db) * eq.amount,
            self.sample_rate_hz,
            self.channels,
        )

    def _equalised(self, source: BlockSource) -> Iterable[np.ndarray]:
        """The EQ'd stream (float32), in chunks of at most CHUNK_SAMPLES."""
        if self._eq_cache is not None:
            yield from self._eq_cache
            return
        eq = self._eq()
        for block in source():
            for start in range(0, block.shape[0], CHUNK_SAMPLES):
                chunk = block[start : start + CHUNK_SAMPLES]
                out = chunk if eq is None else eq.process(chunk)
                if out.shape[0]:
                    yield out.astype(np.float32, copy=False)
        if eq is not None:
            tail = eq.finish()
            for start in range(0, tail.shape[0], CHUNK_SAMPLES):
                yield tail[start : start + CHUNK_SAMPLES].astype(np.float32, copy=False)

    def plan(self, source: BlockSource) -> GainPlan:
        """Pass 1: measure the equalised signal and solve the gain curve."""
        ticks = lambda j: np.asarray(j, dtype=np.int64) * self.tick_samples
        detector = TruePeakDetector(self.sample_rate_hz)
        kweighting = KWeightedPower(self.sample_rate_hz, self.channels)
        peaks = SegmentReducer(ticks, "max")
        energies = SegmentReducer(ticks, "sum")

        self._eq_cache = None
        cache: list[np.ndarray] | None = []
        cached_bytes = 0
        with (
            BackgroundConsumer(lambda block: peaks.process(detector.process(block))) as measure_peaks,
            BackgroundConsumer(lambda block: energies.process(kweighting.process(block))) as measure_energy,
        ):
            for block in self._equalised(source):
                measure_peaks(block)
                measure_energy(block)
                if cache is not None:
                    cache.append(block)
                    cached_bytes += block.nbytes
                    if cached_bytes > EQ_CACHE_LIMIT_BYTES:
                        cache = None
        self._eq_cache = cache
        peaks.process(detector.finish())
        energies.process(kweighting.flush())
        peak_db = gain_to_db(peaks.result(include_partial=True))
        power = energies.result(include_partial=True) / self.tick_samples
        target = self.settings.loudness.target_lufs
        ticks_per_subblock = int(subblock_boundaries(self.sample_rate_hz)(1)) // self.tick_samples
        if target is None or not np.any(power > 0):
            reduction = self.limiters[0].reduction_db(peak_db, 0.0)
            return GainPlan(self.tick_samples, -reduction, 0.0, reduction, self.limiters[0].release_ms)
        solution = solve_gain(peak_db, power, ticks_per_subblock, self.limiters, target)
        measured = None
        if solution.limiter_index >= VERIFIED_FROM_CHARACTER:
            solution, measured = self._verified(source, solution, peak_db, power, ticks_per_subblock, target)
        reached = solution.predicted_lufs >= target - REACHED_LU
        makeup, reduction = solution.gain_db, solution.reduction_db
        release_ms = self.limiters[solution.limiter_index].release_ms
        return GainPlan(self.tick_samples, makeup - reduction, makeup, reduction, release_ms, reached, measured)

    def _verified(
        self,
        source: BlockSource,
        solution: Solution,
        peak_db: np.ndarray,
        power: np.ndarray,
        ticks_per_subblock: int,
        target: float,
    ) -> tuple[Solution, Measurement]:
        """Measure the limited signal and correct a fast limiter's plan until it holds.

        Fast gain changes add inter-sample peaks the plan could not see, and shift the
        K-weighted loudness away from the plan's model (the gain moves within the filter's
        memory). Each round renders the gain curve, measures true peak per tick and
        integrated loudness, asks for more reduction exactly where the output is over, aims
        the model by its measured loudness error, and solves again.
        """
        ceiling = self.settings.limiter.ceiling_dbtp
        first = solution.limiter_index
        aim = target
        for _ in range(VERIFY_ROUNDS):
            measured = self._measure_limited(source, solution.gain_db - solution.reduction_db)
            out_lufs = measured.energies.integrated_lufs()
            excess = measured.peak_db - ceiling
            loudness_error = out_lufs - solution.predicted_lufs
            on_target = abs(out_lufs - target) <= REACHED_LU or solution.predicted_lufs < aim - REACHED_LU
            if not np.any(excess > 0) and on_target:
                return solution._replace(predicted_lufs=out_lufs), measured
            peak_db = peak_db + np.where(excess > -VERIFY_MARGIN_DB, excess + VERIFY_MARGIN_DB, 0.0)
            aim = target - loudness_error
            solution = solve_gain(peak_db, power, ticks_per_subblock, self.limiters[first:], aim)
            solution = solution._replace(limiter_index=first + solution.limiter_index)
            first = solution.limiter_index
        # Still not settled: keep the last plan, lowered as a whole below the largest excess.
        measured = self._measure_limited(source, solution.gain_db - solution.reduction_db)
        worst = float(np.max(measured.peak_db - ceiling))
        if worst > 0:
            lowered = worst + VERIFY_MARGIN_DB
            measured = measured.lowered(lowered)
            solution = solution._replace(gain_db=solution.gain_db - lowered)
        return solution._replace(predicted_lufs=measured.energies.integrated_lufs()), measured

    def _measure_limited(self, source: BlockSource, gain_db: np.ndarray) -> Measurement:
        """True peak per tick and sub-block energies of the equalised signal after a gain curve."""
        detector = TruePeakDetector(self.sample_rate_hz)
        meter = LoudnessMeter(self.sample_rate_hz, self.channels)
        peaks = SegmentReducer(lambda j: np.asarray(j, dtype=np.int64) * self.tick_samples, "max")
        with (
            BackgroundConsumer(lambda block: peaks.process(detector.process(block))) as measure_peaks,
            BackgroundConsumer(meter.process) as measure_loudness,
        ):
            for out in self._gained(source, gain_db):
                measure_peaks(out)
                measure_loudness(out)
        peaks.process(detector.finish())
        measured = gain_to_db(peaks.result(include_partial=True))
        return Measurement(measured[: gain_db.shape[0]], meter.finish())

    def _gained(self, source: BlockSource, gain_db: np.ndarray) -> Iterable[np.ndarray]:
        """The equalised stream times a gain curve (dB per tick, interpolated per sample)."""
        tick_gain = 10.0 ** (np.asarray(gain_db) / 20.0)
        tick_gain = np.append(tick_gain, tick_gain[-1:]) if tick_gain.size else np.ones(1)
        position = 0
        for block in self._equalised(source):
            yield block * _interpolated_gain(tick_gain, self.tick_samples, position, block.shape[0])[:, None]
            position += block.shape[0]

    def run(self, source: BlockSource, plan: GainPlan, sink: Callable[[np.ndarray], None]) -> RenderReport:
        """Pass 2: EQ, gain curve and quantisation; every output block goes to ``sink``."""
        output = self.settings.output
        quantizer = Quantizer(output.bit_depth, output.dither, output.dither_seed)
        # A plan measured while solving needs no second metering of the same signal.
        metering = plan.measured is None
        if metering:
            meter = LoudnessMeter(self.sample_rate_hz, self.channels)
            detector = TruePeakDetector(self.sample_rate_hz, with_short_interpolator=False)
        true_peak = sample_peak = 0.0

        def measure_peaks(out: np.ndarray) -> None:
            nonlocal true_peak
            peaks = detector.process(out)
            if peaks.size:
                true_peak = max(true_peak, float(peaks.max()))

        with contextlib.ExitStack() as stack:
            meters = [
                stack.enter_context(BackgroundConsumer(measure)) for measure in (measure_peaks, meter.process)
            ] if metering else []
            for gained in self._gained(source, plan.gain_db):
                out = quantizer.process(gained)
                for measure_later in meters:
                    measure_later(out)
                sample_peak = max(sample_peak, float(np.max(np.abs(out))) if out.size else 0.0)
                sink(out)
        self._eq_cache = None
        if metering:
            tail = detector.finish()
            if tail.size:
                true_peak = max(true_peak, float(tail.max()))
            energies = meter.finish()
            true_peak_dbtp = float(gain_to_db(true_peak))
        else:
            energies = plan.measured.energies
            true_peak_dbtp = float(np.max(plan.measured.peak_db)) if plan.measured.peak_db.size else FLOOR_DB
        lufs = energies.integrated_lufs()
        return RenderReport(
            gain_db=float(plan.makeup_gain_db),
            target_reached=plan.target_reached,
            limiter_release_ms=plan.release_ms,
            limiter_max_reduction_db=float(plan.reduction_db.max()) if plan.reduction_db.size else 0.0,
            limiter_active_fraction=float(np.mean(plan.reduction_db > 0.01)) if plan.reduction_db.size else 0.0,
            output_lufs=lufs,
            output_true_peak_dbtp=true_peak_dbtp,
            output_sample_peak_dbfs=float(gain_to_db(sample_peak)),
            output_plr_db=0.0 if lufs <= FLOOR_DB else true_peak_dbtp - lufs,
            output_loudness_range_lu=energies.loudness_range_lu(),
        )


def _interpolated_gain(tick_gain: np.ndarray, tick_samples: int, start: int, count: int) -> np.ndarray:
    """Per-sample gain for samples ``start : start + count``: linear from each tick's value
    to the next one's, held at the last value past the end."""
    first = start // tick_samples
    last = (start + count - 1) // tick_samples + 1
    knots = tick_gain[np.minimum(np.arange(first, last + 1), tick_gain.shape[0] - 1)]
    ramp = np.arange(tick_samples) / tick_samples
    gain = knots[:-1, None] + (knots[1:] - knots[:-1])[:, None] * ramp[None, :]
    offset = start - first * tick_samples
    return gain.reshape(-1)[offset : offset + count]


def render_stream(
    source: BlockSource,
    sample_rate_hz: int,
    channels: int,
    settings: Settings,
    sink: Callable[[np.ndarray], None],
) -> RenderReport:
    """Render a stream: ``source()`` yields the input blocks (it is called twice)."""
    renderer = Renderer(settings, sample_rate_hz, channels)
    return renderer.run(source, renderer.plan(source), sink)


def render(audio: np.ndarray, sample_rate_hz: int, settings: Settings) -> np.ndarray:
    """Apply settings to a whole signal.

    Parameters
    ----------
    audio : np.ndarray, shape (samples, channels) or (samples,)
    sample_rate_hz : int
    settings : Settings

    Returns
    -------
    np.ndarray, same shape as ``audio``: the master, sample-aligned with the input.
    """
    audio = np.asarray(audio, dtype=np.float64)
    mono_1d = audio.ndim == 1
    frames = audio[:, None] if mono_1d else audio
    blocks: list[np.ndarray] = []
    render_stream(lambda: [frames], sample_rate_hz, frames.shape[1], settings, blocks.append)
    out = np.concatenate(blocks) if blocks else np.zeros((0, frames.shape[1]))
    return out[:, 0] if mono_1d else out
