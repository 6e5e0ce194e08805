"""Gather what a report page shows, after ``match`` or for a quick ``preview``.

A preview fits the settings and plans the gain over the whole mix (pass 1 of rendering),
then renders only the excerpt: the loudest 25 s, with 3 s of the mix before it run
through the compressor and filters first so that their state is what the whole render's
would be there. Its result curves are measured on that excerpt, its short-term loudness
is the plan's prediction.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from matcher.analysis.analyzer import analyze
from matcher.analysis.combine import combine
from matcher.analysis.loudness import LoudnessMeter, SubBlockEnergies
from matcher.analysis.result import Analysis
from matcher.analysis.streaming import streaming_gains
from matcher.dsp.multiband import frame_samples
from matcher.fitting.settings import Settings
from matcher.preview.data import Excerpt, Figures, Listen, PreviewData, Series
from matcher.rendering.renderer import GainPlan, Renderer, collect_into, largest_per_subblock
from matcher.units import FLOOR_DB

EXCERPT_S = 25.0
PRE_ROLL_S = 3.0
POST_ROLL_S = 1.0
SHORT_TERM_WINDOW_S = 3.0
LIMITER_STEP_S = 0.1


@dataclass(frozen=True)
class ReferenceAudio:
    """A reference for the page: its name, its analysis, and its file when there is one."""

    name: str
    analysis: Analysis
    path: Path | None = None


def loudest_start_s(short_term_lufs: Sequence[float], hop_s: float, duration_s: float, excerpt_s: float = EXCERPT_S) -> float:
    """Start of the loudest ``excerpt_s`` of a track, from its short-term loudness.

    Short-term value k covers ``[k hop, k hop + 3 s]``; the excerpt whose windows hold the
    most energy wins. A track shorter than the excerpt starts at 0.
    """
    if duration_s <= excerpt_s or not len(short_term_lufs):
        return 0.0
    energy = 10.0 ** (np.maximum(np.asarray(short_term_lufs, dtype=np.float64), FLOOR_DB) / 10.0)
    n = max(1, int(round((excerpt_s - SHORT_TERM_WINDOW_S) / hop_s)) + 1)
    if energy.size <= n:
        return 0.0
    sums = np.convolve(energy, np.ones(n), mode="valid")
    return float(min(int(np.argmax(sums)) * hop_s, duration_s - excerpt_s))


def read_span(path: Path, start_s: float, duration_s: float, rate_hz: int | None = None) -> tuple[np.ndarray, int]:
    """Samples ``[start, start + duration)`` of a file, float32 (n, channels), and their rate:
    the file's, or ``rate_hz`` (the file resampled as the render resamples it)."""
    rate = int(rate_hz or sf.info(str(path)).samplerate)
    start = int(round(start_s * rate))
    return samples_at(path, start, start + int(round(duration_s * rate)), rate), rate


def samples_at(path: Path, first: int, stop: int, rate_hz: int) -> np.ndarray:
    """Samples ``[first, stop)`` (clipped to the end) of a file at ``rate_hz``: read as they
    are at the file's own rate; at another, the whole file resampled by the render's own
    streaming resampler (:class:`~matcher.io.reading.ResampledSource`), so that they are the
    very samples the master's chain is given."""
    info = sf.info(str(path))
    if info.samplerate == rate_hz:
        return sf.read(str(path), start=first, stop=min(stop, info.frames), dtype="float32", always_2d=True)[0]
    from matcher.io.reading import AudioSource, ResampledSource, open_audio

    source = ResampledSource(AudioSource(open_audio(path, min_duration_s=0.0), cache=False), rate_hz)
    kept: list[np.ndarray] = []
    position = 0
    for block in source(report=False):
        end = position + block.shape[0]
        if end > first and position < stop:
            kept.append(block[max(first - position, 0) : min(stop - position, block.shape[0])])
        position = end
        if position >= stop:
            break
    return np.concatenate(kept) if kept else np.zeros((0, info.channels), dtype=np.float32)


def render_excerpt(
    mix_path: Path, settings: Settings, plan: GainPlan, sample_rate_hz: int, channels: int, start_s: float, duration_s: float
) -> np.ndarray:
    """The master's samples ``[start, start + duration)``, rendered from that span alone
    (``sample_rate_hz``: the master's, the settings' output rate or the mix's).

    The span is rendered from ``PRE_ROLL_S`` or a little more earlier (on a control tick and
    on a hop of the compressor's frames), with the plan's gain curve for those ticks, so that
    the filters and the compressor have settled, and to ``POST_ROLL_S`` later, for the
    linear-phase filters' and the limiter's look-ahead; both are then dropped.
    """
    tick = plan.tick_samples
    # On a tick (the gain curve) and on a hop of the compressor's frames (its framing).
    step = math.lcm(tick, frame_samples(sample_rate_hz) // 2)
    start = int(round(start_s * sample_rate_hz))
    first = max(0, (start - int(PRE_ROLL_S * sample_rate_hz)) // step * step)
    length = int(round(duration_s * sample_rate_hz))
    stop = start + length + int(POST_ROLL_S * sample_rate_hz)  # the filters look ahead
    audio = samples_at(mix_path, first, stop, sample_rate_hz)
    t0 = first // tick
    ticks = -(-audio.shape[0] // tick)
    span_plan = GainPlan(
        tick,
        plan.gain_db[t0 : t0 + ticks + 1],
        plan.makeup_gain_db,
        plan.reduction_db[t0 : t0 + ticks + 1],
        plan.release_ms,
        plan.target_reached,
        clipping=None if plan.clipping is None else plan.clipping[t0 : t0 + ticks + 1],
        output_gain_db=plan.output_gain_db,
        clip_band_hz=plan.clip_band_hz,
        clip_aim_db=plan.clip_aim_db,
    )
    blocks: list[np.ndarray] = []
    with collect_into(blocks) as sink:
        Renderer(settings, sample_rate_hz, channels).run(lambda: [audio], span_plan, sink)
    return np.concatenate(blocks)[start - first : start - first + length]


def draft_excerpt(
    mix_path: Path,
    mix: Analysis,
    settings: Settings,
    sample_rate_hz: int,
    channels: int,
    start_s: float,
    duration_s: float,
    energies: SubBlockEnergies | None = None,
    span_lufs: float | None = None,
) -> np.ndarray:
    """The master's samples ``[start, start + duration)`` as a *draft*: that span (with its
    pre- and post-roll) planned and rendered on its own, before the whole mix is planned.
    ``span_lufs``: the span's loudness when it is known (a suggestion's exact excerpt, its
    target moved), instead of the estimate below.

    The plan aims the whole master at the target loudness; the draft aims the span at the
    target moved by how much louder than the whole master it will be there: the mix's
    K-weighted sub-block ``energies`` (its analysis's) ridden by the leveler the plan will
    ride them with, else the mix's own difference. What it cannot see is the compressor's
    and the limiter's share of that difference, and the rest of the mix: the quiet-passage
    guard acts on the span only. So the draft is close to the exact excerpt (within 0.1 LU
    and a residual 30 dB down on the benchmark's 3-minute track), not the same.
    """
    start = int(round(start_s * sample_rate_hz))
    first = max(0, start - int(PRE_ROLL_S * sample_rate_hz))
    length = int(round(duration_s * sample_rate_hz))
    audio = samples_at(mix_path, first, start + length + int(POST_ROLL_S * sample_rate_hz), sample_rate_hz)
    aim = settings.loudness.target_lufs
    if aim is not None and span_lufs is not None:
        aim = span_lufs
    elif aim is not None:
        aim += _span_over_whole_lu(mix, settings, energies, audio[start - first : start - first + length],
                                   sample_rate_hz, start_s, duration_s)
    drafted = replace(settings, loudness=replace(settings.loudness, target_lufs=aim))
    renderer = Renderer(drafted, sample_rate_hz, channels)
    plan = renderer.plan(lambda: [audio])
    blocks: list[np.ndarray] = []
    with collect_into(blocks) as sink:
        renderer.run(lambda: [audio], plan, sink)
    return np.concatenate(blocks)[start - first : start - first + length]


def _span_over_whole_lu(
    mix: Analysis, settings: Settings, energies: SubBlockEnergies | None, span: np.ndarray, sample_rate_hz: int,
    start_s: float, duration_s: float,
) -> float:
    """How much louder than the whole master the span will be (LU), at most: the mix's own
    difference, narrowed as the loudness range is (the mix's to the range the settings aim
    at) and as the plan's leveler will ride the mix's sub-block ``energies``, whichever
    narrows it more (neither sees the compressor's share)."""
    here = measure_lufs(span, sample_rate_hz)
    if not (np.isfinite(here) and here > FLOOR_DB and mix.integrated_lufs > FLOOR_DB):
        return 0.0
    own = here - mix.integrated_lufs
    dynamics = settings.dynamics
    held = mix.loudness_range_lu
    aim = held + dynamics.amount * (dynamics.target_lra_lu - held)
    narrowed = own * min(1.0, max(aim, 0.0) / held) if held > 0.1 else own
    ridden = _ridden_span_over_whole_lu(settings, energies, start_s, duration_s)
    return narrowed if ridden is None else min(narrowed, ridden)


def _ridden_span_over_whole_lu(
    settings: Settings, energies: SubBlockEnergies | None, start_s: float, duration_s: float
) -> float | None:
    if energies is None or not energies.sums.size:
        return None
    from matcher.analysis.loudness import SUBBLOCK_S
    from matcher.rendering.leveler import Leveler

    sums = energies.sums
    dynamics = settings.dynamics
    if not dynamics.leveler_is_neutral:
        leveler = Leveler(sums / np.maximum(energies.lengths, 1.0), dynamics.max_gain_db, dynamics.smoothing_s)
        held = leveler.input_range_lu
        gain_db = leveler.fit(held + dynamics.amount * (dynamics.target_lra_lu - held)).subblock_gain_db
        sums = sums.copy()
        sums[: gain_db.shape[0]] *= 10.0 ** (gain_db / 10.0)
    first, stop = int(round(start_s / SUBBLOCK_S)), int(round((start_s + duration_s) / SUBBLOCK_S))
    whole = SubBlockEnergies(sums, energies.lengths).integrated_lufs()
    here = SubBlockEnergies(sums[first:stop], energies.lengths[first:stop]).integrated_lufs()
    return here - whole if np.isfinite(here) and np.isfinite(whole) and min(here, whole) > FLOOR_DB else None


def draft_listen(
    mix_path: Path,
    mix: Analysis,
    references: Sequence[ReferenceAudio],
    weights: Sequence[float] | None,
    settings: Settings,
    energies: SubBlockEnergies | None = None,
) -> Listen:
    """A suggestion heard before its whole-mix plan: the page's loudest 25 s, before and
    after (:func:`draft_excerpt`; ``energies``: the mix's K-weighted sub-block energies)
    and the heaviest reference's, at equal loudness."""
    channels = sf.info(str(mix_path)).channels
    start = loudest_start_s(mix.short_term_lufs, mix.short_term_hop_s, mix.duration_s)
    before, rate = read_span(mix_path, start, EXCERPT_S, settings.output.sample_rate_hz)
    after = draft_excerpt(mix_path, mix, settings, rate, channels, start, before.shape[0] / rate, energies)
    encoded, common = _with_reference([("before", before, rate, start), ("after", after, rate, start)],
                                      references, weights)
    return Listen(False, encoded, common, settings, mix, combine([r.analysis for r in references], weights),
                  analyze(after, rate))


def measure_lufs(audio: np.ndarray, sample_rate_hz: int) -> float:
    meter = LoudnessMeter(sample_rate_hz, audio.shape[1])
    meter.process(audio)
    return float(meter.finish().integrated_lufs())


def encode_flac(audio: np.ndarray, sample_rate_hz: int) -> bytes:
    """16-bit FLAC of a clip (every browser plays it)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), sample_rate_hz, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def excerpts(clips: Sequence[tuple[str, np.ndarray, int, float]]) -> tuple[tuple[Excerpt, ...], float]:
    """Encode clips ``(label, audio, rate, start_s)`` with the gains that bring each to the
    quietest one's loudness; returns them and that common loudness."""
    levels = [measure_lufs(audio, rate) for _, audio, rate, _ in clips]
    common = min(levels)
    encoded = tuple(
        Excerpt(label, "audio/flac", encode_flac(audio, rate), start_s, audio.shape[0] / rate, lufs, common - lufs)
        for (label, audio, rate, start_s), lufs in zip(clips, levels)
    )
    return encoded, common


def figures_of(analysis: Analysis) -> Figures:
    return Figures(analysis.integrated_lufs, analysis.true_peak_dbtp, analysis.loudness_range_lu, analysis.plr_db)


def short_term_of(analysis: Analysis) -> Series:
    return Series(analysis.short_term_hop_s, tuple(analysis.short_term_lufs))


def _heaviest(references: Sequence[ReferenceAudio], weights: Sequence[float] | None) -> ReferenceAudio:
    """The reference weighing most in the blend (the first of equals)."""
    w = list(weights) if weights is not None else [1.0] * len(references)
    return references[int(np.argmax(w))]


def _reference_clip(reference: ReferenceAudio) -> tuple[str, np.ndarray, int, float] | None:
    if reference.path is None:
        return None
    a = reference.analysis
    start = loudest_start_s(a.short_term_lufs, a.short_term_hop_s, a.duration_s)
    audio, rate = read_span(reference.path, start, EXCERPT_S)
    return "reference", audio, rate, start


def _with_reference(
    clips: list[tuple[str, np.ndarray, int, float]], references: Sequence[ReferenceAudio], weights: Sequence[float] | None
) -> tuple[tuple[Excerpt, ...], float]:
    """:func:`excerpts` of ``clips`` and of the heaviest reference's loudest 25 s, when its
    audio is at hand."""
    clip = _reference_clip(_heaviest(references, weights))
    return excerpts(clips + ([clip] if clip is not None else []))


@dataclass(frozen=True)
class _Page:
    """What a page needs from either source: the whole mix and references, and where the
    master's figures and curves come from."""

    mix_path: Path
    mix: Analysis
    references: Sequence[ReferenceAudio]
    weights: Sequence[float] | None
    reference_note: str
    settings: Settings
    notes: Sequence[str]


def _assemble(
    page: _Page,
    start_s: float,
    before: np.ndarray,
    after: np.ndarray,
    rate: int,
    result: Analysis,
    result_is_excerpt: bool,
    result_figures: Figures,
    result_short_term: Series | None,
    gain_db: float,
    reduction_db: np.ndarray,
) -> PreviewData:
    heaviest = _heaviest(page.references, page.weights)
    encoded, common = _with_reference([("before", before, rate, start_s), ("after", after, rate, start_s)],
                                      page.references, page.weights)
    reference = combine([r.analysis for r in page.references], page.weights)
    short_term = {"mix": short_term_of(page.mix)}
    if result_short_term is not None:
        short_term["result"] = result_short_term
    if heaviest.analysis.short_term_lufs:
        short_term["reference"] = short_term_of(heaviest.analysis)
    tp = result_figures.true_peak_dbtp
    return PreviewData(
        mix_name=page.mix_path.name,
        reference_names=tuple(r.name for r in page.references),
        reference_note=page.reference_note,
        settings=page.settings,
        mix=page.mix,
        reference=reference,
        result=result,
        result_is_excerpt=result_is_excerpt,
        figures={
            "mix": figures_of(page.mix),
            "result": result_figures,
            "reference": figures_of(reference),  # combine: the largest true peak, the mean PLR
        },
        gain_db=gain_db,
        short_term=short_term,
        limiter_reduction_db=Series(LIMITER_STEP_S, tuple(np.round(reduction_db, 2).tolist())),
        excerpts=encoded,
        equal_loudness_lufs=common,
        streaming=streaming_gains(result_figures.integrated_lufs, tp if tp is not None else FLOOR_DB),
        notes=tuple(page.notes),
    )


def preview_after_match(
    mix_path: Path,
    mix: Analysis,
    references: Sequence[ReferenceAudio],
    weights: Sequence[float] | None,
    reference_note: str,
    settings: Settings,
    report,
    master_path: Path,
    notes: Sequence[str] = (),
) -> PreviewData:
    """The page of a finished ``match``: the master is measured whole."""
    result = analyze(sf.read(str(master_path), dtype="float32", always_2d=True)[0], sf.info(str(master_path)).samplerate)
    start = loudest_start_s(mix.short_term_lufs, mix.short_term_hop_s, mix.duration_s)
    after, rate = read_span(master_path, start, EXCERPT_S)
    before, _ = read_span(mix_path, start, EXCERPT_S, rate)  # at the master's rate (--sample-rate)
    reduction = report.limiter_reduction_db if report.limiter_reduction_db is not None else np.zeros(0)
    page = _Page(mix_path, mix, references, weights, reference_note, settings, notes)
    measured = Figures(report.output_lufs, report.output_true_peak_dbtp, report.output_loudness_range_lu, report.output_plr_db)
    return _assemble(page, start, before, after, rate, result, False, measured, short_term_of(result), report.gain_db, reduction)


def preview_from_plan(
    mix_path: Path,
    mix: Analysis,
    references: Sequence[ReferenceAudio],
    weights: Sequence[float] | None,
    reference_note: str,
    settings: Settings,
    plan: GainPlan,
    notes: Sequence[str] = (),
) -> PreviewData:
    """The page of a preview: settings and plan for the whole mix, only the excerpt rendered;
    the master's figures and short-term loudness are the plan's predictions."""
    info = sf.info(str(mix_path))
    start = loudest_start_s(mix.short_term_lufs, mix.short_term_hop_s, mix.duration_s)
    before, rate = read_span(mix_path, start, EXCERPT_S, settings.output.sample_rate_hz)
    after = render_excerpt(mix_path, settings, plan, rate, info.channels, start, before.shape[0] / rate)
    result = analyze(after, rate)
    lufs = plan.predicted_lufs if plan.predicted_lufs is not None else result.integrated_lufs
    tp = plan.predicted_true_peak_dbtp if plan.predicted_true_peak_dbtp is not None else result.true_peak_dbtp
    lra = plan.predicted_lra_lu if plan.predicted_lra_lu is not None else result.loudness_range_lu
    predicted = Figures(lufs, tp, lra, None if tp is None else tp - lufs)
    short_term = None
    if plan.predicted_short_term_lufs is not None:
        short_term = Series(LIMITER_STEP_S, tuple(np.round(plan.predicted_short_term_lufs, 2).tolist()))
    reduction = largest_per_subblock(plan.reduction_db, rate, plan.tick_samples)
    page = _Page(mix_path, mix, references, weights, reference_note, settings, notes)
    return _assemble(page, start, before, after, rate, result, True, predicted, short_term, plan.makeup_gain_db, reduction)
