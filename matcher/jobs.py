"""File-level jobs: analyse, fit, master or preview a mix given as files, as the command line, a
batch and an album run them. No printing here."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from matcher.analysis.analyzer import Analyzer
from matcher.analysis.condition import only_dc
from matcher.analysis.loudness import SubBlockEnergies
from matcher.analysis.result import Analysis
from matcher.concurrency import engine_call
from matcher.errors import InvalidAudioError
from matcher.fitting.config import FitConfig
from matcher.fitting.fit import fit
from matcher.fitting.settings import Settings
from matcher.io.reading import MIN_DURATION_S, AudioInfo, AudioSource, ResampledSource, open_audio
from matcher.io.writing import AtomicAudioWriter, check_output_path
from matcher.library.choice import Choice
from matcher.rendering.renderer import GainPlan, Renderer, RenderReport

if TYPE_CHECKING:
    from matcher.io.lossy import LossyDelivery
    from matcher.notes import Note
    from matcher.preview.data import Listen

Progress = Callable[[int], None]


class Cancelled(Exception):
    """An analysis stopped because a job beside it failed or the user interrupted."""


@engine_call
def analyze_source(
    source: AudioSource,
    true_peak: bool = True,
    stop: threading.Event | None = None,
    condition: bool = True,
    loudness_maxima: bool = False,
) -> Analysis:
    """Analyse every block of a source; raise :class:`Cancelled` once ``stop`` is set."""
    return _fed(source, true_peak, stop, condition, loudness_maxima).finish()


def _fed(
    source: AudioSource,
    true_peak: bool = True,
    stop: threading.Event | None = None,
    condition: bool = True,
    loudness_maxima: bool = False,
) -> Analyzer:
    """An analyzer fed every block of a source, not yet finished (see :func:`analyze_source`)."""
    analyzer = Analyzer(source.info.sample_rate_hz, source.info.channels, true_peak, condition, loudness_maxima)
    for block in source():
        if stop is not None and stop.is_set():
            raise Cancelled(str(source.info.path))
        analyzer.process(block)
    return analyzer


def analyze_file(
    path: Path, on_block: Progress | None = None, min_duration_s: float = MIN_DURATION_S
) -> tuple[AudioInfo, Analysis]:
    """Open, validate and analyse one file, with every figure (the loudness maxima too).

    ``min_duration_s``: the shortest file accepted. Mastering needs 3 s; a file to measure
    needs only one momentary window (:data:`~matcher.analysis.loudness.MOMENTARY_S`), and
    figures with longer windows are then None.
    """
    info = open_audio(path, min_duration_s)
    return info, analyze_source(AudioSource(info, on_block), loudness_maxima=True)


def require_audible(info: AudioInfo, analysis: Analysis) -> None:
    """Refuse a silent file, or one that is only a DC offset, with a message naming it."""
    if analysis.is_silent:
        raise InvalidAudioError(f"{info.path}: silent (no audio above -70 LUFS)")
    if only_dc(analysis):
        raise InvalidAudioError(f"{info.path}: only a DC offset (no audio besides a constant level)")


References = Sequence[Path | Analysis]
"""Reference files to analyse, or analyses already made (a library's profiles)."""
Chooser = Callable[[Analysis], Choice]
"""Picks the references and their weights for a mix, given its analysis (picklable)."""


@dataclass(frozen=True)
class Fitted:
    """A mix analysed and fitted, still open for rendering."""

    source: AudioSource
    analysis: Analysis
    settings: Settings
    choice: Choice | None
    """The references a chooser picked (None for references given)."""
    references: tuple[Analysis, ...] = ()
    """The analyses the settings were fitted to, in the order given (or chosen)."""
    weights: tuple[float, ...] | None = None
    """Their blend weights (None: equal)."""
    input_energies: SubBlockEnergies | None = None
    """The mix's K-weighted 100 ms sub-block energies from its analysis, which pass 1 of
    the render takes instead of measuring them again (see :meth:`Renderer.plan`)."""


@dataclass(frozen=True)
class Mastered:
    """What ``master_file`` did."""

    analysis: Analysis
    settings: Settings
    report: RenderReport
    choice: Choice | None
    references: tuple[Analysis, ...] = ()
    weights: tuple[float, ...] | None = None
    fitted: "Fitted | None" = None
    """The analysed mix and references, for another master of them (another target)."""


@dataclass(frozen=True)
class Suggested:
    """What ``suggest_file`` would do."""

    analysis: Analysis
    settings: Settings
    plan: GainPlan
    choice: Choice | None
    references: tuple[Analysis, ...] = ()
    weights: tuple[float, ...] | None = None


@engine_call
def fit_files(
    mix_path: Path,
    references: References,
    config: FitConfig,
    on_block: Progress | None = None,
    weights: Sequence[float] | None = None,
    choose: Chooser | None = None,
    true_peaks: bool = False,
) -> Fitted:
    """Open and analyse mix and references, and fit; the mix stays open for rendering.

    ``weights`` (one per reference, relative) blend the references; ``choose``, used when
    there are no references, picks them from the mix's analysis. ``true_peaks`` measures
    the inputs' true peaks too (a report page shows them; the fit needs none).
    """
    mix_info = open_audio(mix_path)
    ref_infos = [open_audio(r) for r in references if isinstance(r, Path)]

    # Fitting needs no true peaks of the inputs: skipping them saves 40 % of the analysis;
    # nor the references' condition (DC, clipping...), which only the mix's warnings use.
    # The mix is kept in memory for the render; references are read once. Files are
    # analysed two at a time (decoding and FFTs release the GIL).
    # When one job fails (or Ctrl-C arrives) the others stop at their next block.
    stop = threading.Event()

    def analyse(info: AudioInfo, keep: bool) -> tuple[AudioSource, Analysis, SubBlockEnergies]:
        source = AudioSource(info, on_block, cache=keep)
        analyzer = _fed(source, true_peak=true_peaks, stop=stop, condition=keep)
        analysis = analyzer.finish()
        require_audible(info, analysis)
        return source, analysis, analyzer.loudness_energies()

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="automaster-analysis") as pool:
        jobs = [pool.submit(analyse, mix_info, True)] + [pool.submit(analyse, i, False) for i in ref_infos]
        try:
            (mix_source, mix_analysis, mix_energies), *analysed = [job.result() for job in jobs]
        except BaseException:
            stop.set()
            for job in jobs:
                job.cancel()
            raise
    files = iter(analysis for _, analysis, _ in analysed)
    targets = [next(files) if isinstance(r, Path) else r for r in references]
    choice = None
    if not targets and choose is not None:
        choice = choose(mix_analysis)
        targets, weights = list(choice.analyses), list(choice.weights)
    settings = fit(mix_analysis, targets, config, weights)
    return Fitted(
        mix_source, mix_analysis, settings, choice, tuple(targets), None if weights is None else tuple(weights),
        mix_energies,
    )


@engine_call
def master_file(
    mix_path: Path,
    references: References,
    output_path: Path,
    config: FitConfig,
    force: bool = False,
    on_block: Progress | None = None,
    weights: Sequence[float] | None = None,
    choose: Chooser | None = None,
    true_peaks: bool = False,
    fitted: Fitted | None = None,
) -> Mastered:
    """Analyse mix and references, fit, and render the master to ``output_path``
    (``true_peaks``: see :func:`fit_files`); with ``fitted`` (an earlier master's), fit its
    analyses to ``config`` instead of analysing again."""
    check_output_path(output_path, [mix_path, *(r for r in references if isinstance(r, Path))], force)
    if fitted is None:
        fitted = fit_files(mix_path, references, config, on_block, weights, choose, true_peaks)
    else:
        settings = fit(fitted.analysis, list(fitted.references), config, None if fitted.weights is None else list(fitted.weights))
        fitted = replace(fitted, settings=settings)
    report = render_file(fitted.source, fitted.settings, output_path, fitted.input_energies)
    return Mastered(fitted.analysis, fitted.settings, report, fitted.choice, fitted.references, fitted.weights, fitted)


@engine_call
def suggest_file(
    mix_path: Path,
    references: References,
    config: FitConfig,
    on_block: Progress | None = None,
    weights: Sequence[float] | None = None,
    choose: Chooser | None = None,
) -> Suggested:
    """The settings ``master_file`` would render, and its plan: what the master would measure.

    Runs the analysis, the fit and pass 1 of the render (EQ, true peak and loudness
    measurement, the loudness solve); writes nothing.
    """
    fitted = fit_files(mix_path, references, config, on_block, weights, choose)
    source, energies = at_output_rate(fitted.source, fitted.settings, fitted.input_energies)
    renderer = Renderer(fitted.settings, source.info.sample_rate_hz, source.info.channels)
    plan = renderer.plan(lambda: source(report=False), input_energies=energies)
    return Suggested(fitted.analysis, fitted.settings, plan, fitted.choice, fitted.references, fitted.weights)


def render_settings_file(
    mix_path: Path, settings: Settings, output_path: Path, force: bool = False, on_block: Progress | None = None
) -> RenderReport:
    """Render saved (possibly edited) settings onto a mix: no analysis, no fitting."""
    check_output_path(output_path, [mix_path], force)
    return render_file(AudioSource(open_audio(mix_path), on_block), settings, output_path)


def at_output_rate(
    source: AudioSource, settings: Settings, input_energies: SubBlockEnergies | None
) -> tuple[AudioSource | ResampledSource, SubBlockEnergies | None]:
    """The source at the settings' output rate (resampled when it differs; the analysis's
    sub-block energies, measured at the mix's rate, are then measured again by the render)."""
    rate = settings.output.sample_rate_hz
    if rate is None or rate == source.info.sample_rate_hz:
        return source, input_energies
    return ResampledSource(source, rate), None


@engine_call
def render_file(
    source: AudioSource, settings: Settings, output_path: Path, input_energies: SubBlockEnergies | None = None
) -> RenderReport:
    """Render ``settings`` onto ``source`` and write the result atomically (``input_energies``:
    the source's sub-block energies from its analysis, see :class:`Fitted`).

    Progress (``source.on_block``) counts the mix as pass 1 reads it, then the first take's
    blocks as they are written: a take may run from the renderer's own copy of the
    equalised mix, and a second take is rare.
    """
    source, input_energies = at_output_rate(source, settings, input_energies)
    info = source.info
    renderer = Renderer(settings, info.sample_rate_hz, info.channels)
    takes = 0

    @contextlib.contextmanager
    def open_take() -> Iterator[Callable[[np.ndarray], None]]:
        nonlocal takes
        takes += 1
        with AtomicAudioWriter(output_path, info.sample_rate_hz, info.channels, settings.output.bit_depth) as out:

            def write(block: np.ndarray) -> None:
                out.write(block)
                if source.on_block and takes == 1:
                    source.on_block(block.shape[0])

            yield write

    reads = 0

    def read() -> Iterator[np.ndarray]:
        # Pass 1 is counted as it reads the mix; a second read (the plan's 16x look at its
        # peaks, or a take, when the equalised mix was not kept) is not: a take counts the
        # blocks it writes.
        nonlocal reads
        reads += 1
        return source(report=reads == 1)

    return renderer.render(read, open_take, input_energies=input_energies)


def page_references(reference_paths: Sequence[Path | Analysis], fitted_references: Sequence[Analysis], choice: Choice | None):
    """The references of a report page: names, analyses, and files where there are any."""
    from matcher.preview.build import ReferenceAudio

    if choice is not None:
        return [ReferenceAudio(name, a) for name, a in zip(choice.names, choice.analyses)]
    return [
        ReferenceAudio(r.name if isinstance(r, Path) else f"reference {k + 1}", a, r if isinstance(r, Path) else None)
        for k, (r, a) in enumerate(zip(reference_paths, fitted_references))
    ]


@engine_call
def preview_file(
    mix_path: Path,
    references: References,
    config: FitConfig,
    on_block: Progress | None = None,
    weights: Sequence[float] | None = None,
    choose: Chooser | None = None,
    on_fitted: Callable[[Settings], None] | None = None,
    on_listen: Callable[[Listen], None] | None = None,
):
    """A report page's data without rendering the whole master: fit, plan, and render only
    the loudest excerpt (``on_fitted`` is handed the settings as soon as they are fitted,
    before the plan; ``on_listen``, when given, a draft of the excerpts and curves right
    after (:func:`~matcher.preview.build.draft_listen`), then the page's own). Returns
    ``(Suggested, PreviewData)``."""
    from matcher.notes import page_notes, planned_notes
    from matcher.preview.build import draft_listen, preview_from_plan
    from matcher.preview.data import Listen

    fitted = fit_files(mix_path, references, config, on_block, weights, choose, true_peaks=True)
    if on_fitted is not None:
        on_fitted(fitted.settings)
    on_page = page_references(references, fitted.references, fitted.choice)
    if on_listen is not None:
        on_listen(draft_listen(mix_path, fitted.analysis, on_page, fitted.weights, fitted.settings, fitted.input_energies))
    source, energies = at_output_rate(fitted.source, fitted.settings, fitted.input_energies)
    renderer = Renderer(fitted.settings, source.info.sample_rate_hz, source.info.channels)
    plan = renderer.plan(lambda: source(report=False), short_term=True, input_energies=energies)
    suggested = Suggested(fitted.analysis, fitted.settings, plan, fitted.choice, fitted.references, fitted.weights)
    note = fitted.choice.how if fitted.choice is not None else "the references you gave"
    data = preview_from_plan(
        mix_path,
        fitted.analysis,
        on_page,
        fitted.weights,
        note,
        fitted.settings,
        plan,
        notes=page_notes(planned_notes(mix_path, _paths(references), suggested)),
    )
    if on_listen is not None:
        on_listen(Listen.of(data))
    return suggested, data


def report_after_match(
    mix_path: Path,
    references: References,
    mastered: Mastered,
    master_path: Path,
    notes: Sequence[Note] = (),
    deliveries: Sequence[LossyDelivery] = (),
):
    """A report page's data for a finished master (measured whole), listing ``notes`` (see
    :func:`matcher.notes.mastered_notes`) and the lossy files made from it."""
    from matcher.analysis.streaming import streaming_gains
    from matcher.notes import page_notes
    from matcher.preview.build import preview_after_match
    from matcher.preview.data import DeliveredFile

    note = mastered.choice.how if mastered.choice is not None else "the references you gave"
    delivered = tuple(
        DeliveredFile(d.path.name, d.format_name, d.decoded_lufs, d.decoded_true_peak_dbtp,
                      streaming_gains(d.decoded_lufs, d.decoded_true_peak_dbtp))
        for d in deliveries
    )
    return replace(preview_after_match(
        mix_path,
        mastered.analysis,
        page_references(references, mastered.references, mastered.choice),
        mastered.weights,
        note,
        mastered.settings,
        mastered.report,
        master_path,
        notes=page_notes(notes),
    ), deliveries=delivered)


def _paths(references: References) -> list[Path]:
    """The references given as files (not as analyses from a library)."""
    return [r for r in references if isinstance(r, Path)]
