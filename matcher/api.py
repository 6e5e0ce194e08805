"""automaster from Python, file to file: what the command line does, as functions.

    >>> import matcher
    >>> result = matcher.master("mix.wav", ["favourite.wav"], "master.wav", lufs=-14)
    >>> result.lufs, result.true_peak_dbtp
    (-14.0, -1.05)

Each function takes the options of its command (as keyword arguments, with the units in
their names), refuses what the command refuses with the same one-line message (an
:class:`~matcher.errors.AutomasterError`), writes its files atomically, and returns the
figures the command prints, with the notes it prints on stderr (warnings about the mix,
references chosen, a target out of reach) as :class:`~matcher.notes.Note` objects. The
masters are bit for bit the command line's.

The array API (:func:`matcher.analyze`, :func:`matcher.fit`, :func:`matcher.render`) works
on numpy arrays instead of files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from matcher.analysis.result import Analysis
from matcher.fitting.settings import Settings
from matcher.io.lossy import LossyDelivery
from matcher.notes import (
    Note,
    cut_short_notes,
    expanding_note,
    held_back_note,
    mastered_notes,
    out_of_reach_note,
    planned_notes,
)
from matcher.options import (
    PYTHON_NAMES,
    OptionNames,
    fit_config,
    parse_references,
    reference_target,
)
from matcher.rendering.renderer import GainPlan, RenderReport

if TYPE_CHECKING:
    from matcher.jobs import Fitted
    from matcher.preview.data import Listen

PathLike = str | os.PathLike
Reference = PathLike | tuple[PathLike, float]
"""A reference file, or a file and its share of the blend (``("b.wav", 0.3)``: 30 %)."""
Progress = Callable[[int], None]
"""Called with the number of frames of every block read (for a progress display)."""


@dataclass(frozen=True)
class MasterResult:
    """A master written, and what it measures (on the written file, as it was written).

    Attributes
    ----------
    output : Path
    lufs, true_peak_dbtp, loudness_range_lu, plr_db : float
        The master's integrated loudness, true peak, loudness range and peak-to-loudness ratio.
    gain_db : float
        Make-up gain applied before the limiter.
    target_lufs : float or None
        The loudness target (None: the mix kept its level).
    target_reached : bool
        False when the target was out of reach under the ceiling (a note says so).
    settings : Settings
        What was rendered (save it with ``settings.to_json()``; render it again with
        :func:`render_file`).
    report : RenderReport
        Everything rendering measured and did (limiter, compressor, leveler).
    analysis : Analysis or None
        The mix's analysis (None for :func:`render_file`, which analyses nothing).
    references : tuple of str
        The references matched (file names, or library profiles chosen).
    weights : tuple of float or None
        Their shares of the blend (None: equal).
    notes : tuple of Note
    report_page, plot : Path or None
        The report page and the curves picture, when asked for.
    copies : tuple of Path
        Further lossless outputs: the master's samples in other containers.
    deliveries : tuple of LossyDelivery
        Lossy outputs, each encoded from the master so that its decoded audio holds the
        ceiling (its decoded true peak, clipped samples and the gain that took).

    With lossy outputs only, ``output`` is the first of them and the figures above are the
    master's the render made for them (not kept).
    """

    output: Path
    lufs: float
    true_peak_dbtp: float
    loudness_range_lu: float
    plr_db: float
    gain_db: float
    target_lufs: float | None
    target_reached: bool
    settings: Settings
    report: RenderReport
    analysis: Analysis | None
    references: tuple[str, ...]
    weights: tuple[float, ...] | None
    notes: tuple[Note, ...]
    report_page: Path | None = None
    plot: Path | None = None
    copies: tuple[Path, ...] = ()
    deliveries: tuple[LossyDelivery, ...] = ()


@dataclass(frozen=True)
class Suggestion:
    """The settings ``master`` would render, and what the master would measure.

    Attributes
    ----------
    settings : Settings
    plan : GainPlan
        The solved gain curve and the figures behind it.
    predicted_lufs, predicted_true_peak_dbtp, predicted_loudness_range_lu : float or None
    target_reached : bool
    analysis : Analysis
        The mix's analysis.
    references, weights, notes
        As in :class:`MasterResult`.
    report_page, plot : Path or None
        The preview's page and picture (:func:`preview`).
    reference_analyses : tuple of Analysis
        What was matched toward (blended with ``weights``).
    excerpt_start_s, excerpt_lufs, equal_loudness_lufs : float or None
        A preview page's excerpt: where it starts in the mix, the master's loudness there, and
        the level the page's players are brought to for the fair comparison.
    """

    settings: Settings
    plan: GainPlan
    predicted_lufs: float | None
    predicted_true_peak_dbtp: float | None
    predicted_loudness_range_lu: float | None
    target_reached: bool
    analysis: Analysis
    references: tuple[str, ...]
    weights: tuple[float, ...] | None
    notes: tuple[Note, ...]
    report_page: Path | None = None
    plot: Path | None = None
    reference_analyses: tuple[Analysis, ...] = ()
    excerpt_start_s: float | None = None
    excerpt_lufs: float | None = None
    equal_loudness_lufs: float | None = None


@dataclass(frozen=True)
class Options:
    """A mastering job's options, checked: the fit configuration and the references."""

    config: object
    paths: list[Path]
    weights: list[float] | None
    choose: object


def options(
    references: Sequence[Reference] = (),
    *,
    library: PathLike | None = None,
    k: int | None = None,
    style: str | None = None,
    lufs: float | None = None,
    ceiling_dbtp: float | None = None,
    amount: Mapping[str, float] | None = None,
    only: Iterable[str] | str | None = None,
    no_fix: Iterable[str] | str = (),
    highpass_hz: float | None = None,
    mono_below_hz: float | None = None,
    bit_depth: str | None = None,
    eq_phase: str | None = None,
    force_loudness: bool = False,
    max_distortion_db: float | None = None,
    names: OptionNames = PYTHON_NAMES,
    target: str | None = None,
    sample_rate_hz: int | None = None,
    limiter: bool = True,
    dither: str | None = None,
) -> Options:
    """Check a job's options (see :func:`master`); raises :class:`~matcher.errors.UsageError`."""
    config = fit_config(
        lufs=lufs,
        ceiling_dbtp=ceiling_dbtp,
        amounts=amount,
        only=_names(only) if only is not None else None,
        no_fix=_names(no_fix),
        highpass_hz=highpass_hz,
        mono_below_hz=mono_below_hz,
        bit_depth=bit_depth,
        eq_phase=eq_phase,
        force_loudness=force_loudness,
        max_distortion_db=max_distortion_db,
        names=names,
        target=target,
        sample_rate_hz=sample_rate_hz,
        limiter=limiter,
        dither=dither,
    )
    pairs = [(Path(r[0]), float(r[1])) if isinstance(r, tuple) else (Path(r), None) for r in references]
    paths, weights, choose = reference_target(pairs, None if library is None else Path(library), k, style, names)
    return Options(config, paths, weights, choose)


def master(
    mix: PathLike,
    references: Sequence[Reference] = (),
    output: PathLike | Sequence[PathLike] | None = None,
    *,
    library: PathLike | None = None,
    k: int | None = None,
    style: str | None = None,
    lufs: float | None = None,
    ceiling_dbtp: float | None = None,
    amount: Mapping[str, float] | None = None,
    only: Iterable[str] | str | None = None,
    no_fix: Iterable[str] | str = (),
    highpass_hz: float | None = None,
    mono_below_hz: float | None = None,
    bit_depth: str | None = None,
    eq_phase: str | None = None,
    force_loudness: bool = False,
    max_distortion_db: float | None = None,
    target: str | None = None,
    sample_rate_hz: int | None = None,
    limiter: bool = True,
    dither: str | None = None,
    save_settings: PathLike | None = None,
    report_page: PathLike | None = None,
    plot: PathLike | None = None,
    force: bool = False,
    progress: Progress | None = None,
    names: OptionNames = PYTHON_NAMES,
) -> MasterResult:
    """Master a mix file to match reference files (``automaster match``).

    Parameters
    ----------
    mix : path
        WAV, FLAC, AIFF, OGG or MP3, at least 3 s.
    references : sequence of path or (path, share)
        Reference files; ``("b.wav", 0.3)`` gives one its share of the blend. None given
        (and no ``library`` or ``style``): the starter library's nearest references.
    output : path or sequence of paths, optional
        ``.wav``, ``.flac``, ``.aif(f)``, or lossy ``.mp3``, ``.ogg`` (Vorbis), ``.opus``,
        ``.m4a`` (AAC, with the ``ffmpeg`` extra);
        default ``MIX_master.wav`` beside the mix. Several: the mix is analysed, fitted and
        rendered once; the first lossless one is the master, the others lossless copies of
        it, and each lossy one is encoded from it so that its decoded audio holds the
        ceiling (:func:`~matcher.io.lossy.deliver_lossy`).
    library, k : path and int, optional
        Blend the ``k`` (default 3) profiles of a reference library nearest to the mix.
    style : str, optional
        Match toward a style of the library (or of the per-user or starter library).
    lufs : float, optional
        Integrated loudness target instead of the references'.
    ceiling_dbtp : float, optional
        True-peak ceiling (default -1 dBTP, or the ``target``'s).
    amount : mapping, optional
        Percent of each stage's match: ``{"eq": 60, "width": 100, "dynamics": 0}``.
    only : iterable of str or str, optional
        Run only these stages (``eq``, ``width``, ``dynamics``, ``loudness``, ``fixes``).
    no_fix : iterable of str or str
        Mix fixes to switch off (``dc``, ``highpass``, ``polarity``, ``balance``).
    highpass_hz, mono_below_hz : float, optional
        The subsonic high-pass's corner (default 20 Hz); mono below a frequency.
    bit_depth : {"16", "24", "32f"}, optional
        Default 24, or the ``target``'s.
    eq_phase : {"linear", "minimum", "mixed"}, optional
        Phase of the EQ's filters. ``"mixed"`` (the default): the EQ minimum-phase, no
        ringing ahead of a transient, and the width linear-phase, the image exact;
        ``"minimum"``: everything minimum-phase; ``"linear"``: everything linear-phase,
        which rings ahead of transients (pre-echo).
    force_loudness : bool
        Reach the loudness target even where the chain must add more distortion than its
        budget (faster limiting, more clipping); by default the master stops at the loudest
        level within the budget and a note says how far short it is and what reaching it
        would cost.
    max_distortion_db : float, optional
        The budget: the most the loudness chain may add, against a slowly varying gain
        (dB re the output; default -16).
    target : str, optional
        An outlet (``spotify``, ``apple-music``, ``youtube``, ``tidal``, ``amazon``,
        ``deezer``, ``cd``, ``ebu-r128``, ``podcast``; :func:`~matcher.targets.platform_targets`):
        its loudness, ceiling, word length and sample rate for those not given (``cd``: 44.1
        kHz, 16 bit).
    sample_rate_hz : int, optional
        The master's sample rate: the mix is resampled (libsoxr, very high quality) before
        the chain, which then holds the ceiling at that rate; None: the mix's.
    limiter : bool
        False: no limiter (nor clipper); the master is peak-normalised, one gain lowered until
        its true peak holds the ceiling, and no louder than that allows (a note says how far
        short of the target it is).
    dither : {"tpdf", "hp-tpdf", "shaped", "none"}, optional
        The dither of a 16-bit master (default TPDF; ``"hp-tpdf"``: high-pass TPDF;
        ``"shaped"``: error-feedback noise shaping, needs the ``ffmpeg`` extra).
    save_settings, report_page, plot : path, optional
        Also write the settings (JSON), a report page (HTML) and the curves (PNG).
    force : bool
        Replace existing output files (never an input).

    Returns
    -------
    MasterResult

    Raises
    ------
    AutomasterError
        Bad input or options (one line naming the file or the options); nothing is written.
    """
    mix = Path(mix)
    job = options(
        references, library=library, k=k, style=style, lufs=lufs, ceiling_dbtp=ceiling_dbtp, amount=amount,
        only=only, no_fix=no_fix, highpass_hz=highpass_hz, mono_below_hz=mono_below_hz, bit_depth=bit_depth,
        eq_phase=eq_phase, force_loudness=force_loudness, max_distortion_db=max_distortion_db, names=names,
        target=target, sample_rate_hz=sample_rate_hz, limiter=limiter, dither=dither,
    )
    return _master_job(mix, _output_paths(mix, output), job, force, progress, save_settings, report_page, plot)[0]


def master_targets(
    mix: PathLike,
    references: Sequence[Reference] = (),
    output: PathLike | Sequence[PathLike] | None = None,
    *,
    targets: Sequence[str],
    save_settings: PathLike | None = None,
    report_page: PathLike | None = None,
    plot: PathLike | None = None,
    force: bool = False,
    progress: Progress | None = None,
    names: OptionNames = PYTHON_NAMES,
    **option_values,
) -> tuple[MasterResult, ...]:
    """One master per delivery target (``automaster match --target A --target B``): the mix
    and references analysed once, fitted to each target, and rendered each time. Every
    output (and settings, page, plot) gets the target's name before its extension:
    ``master.wav`` becomes ``master_spotify.wav``, ``master_cd.wav``. Takes :func:`master`'s
    options; those a target sets it sets for its own master only."""
    from matcher.errors import UsageError
    from matcher.targets import platform_target

    mix = Path(mix)
    chosen = [platform_target(t, names.target).name for t in targets]
    if len(set(chosen)) != len(chosen):
        raise UsageError(f"{names.target}: a target given twice ({', '.join(chosen)})")
    jobs = [(name, options(references, names=names, target=name, **option_values)) for name in chosen]
    paths = _output_paths(mix, output)
    results, fitted = [], None
    for name, job in jobs:
        named = lambda p: None if p is None else _with_target(Path(p), name)
        result, fitted = _master_job(
            mix, [_with_target(p, name) for p in paths], job, force, progress, named(save_settings),
            named(report_page), named(plot), fitted,
        )
        results.append(result)
    return tuple(results)


def _with_target(path: Path, name: str) -> Path:
    return path.with_name(f"{path.stem}_{name}{path.suffix}")


def _output_paths(mix: Path, output: PathLike | Sequence[PathLike] | None) -> list[Path]:
    if output is None:
        return [mix.with_name(f"{mix.stem}_master.wav")]
    if isinstance(output, (str, os.PathLike)):
        return [Path(output)]
    return [Path(p) for p in output]


@contextlib.contextmanager
def _planned_outputs(paths: list[Path], bit_depth: str, inputs: list[Path], force: bool):
    """The outputs asked for, sorted (:func:`~matcher.io.lossy.plan_outputs`) and checked
    before any work; a temporary master (lossy outputs only) is removed at the end."""
    from matcher.io.lossy import plan_outputs
    from matcher.io.writing import check_output_path

    outputs = plan_outputs(paths, bit_depth)
    for path in outputs.asked:
        check_output_path(path, inputs, force)
    try:
        yield outputs
    finally:
        if outputs.temporary:
            outputs.master.unlink(missing_ok=True)


def _copies_and_deliveries(outputs, settings: Settings) -> tuple[LossyDelivery, ...]:
    """The master's lossless copies, and its lossy files (decoding under its ceiling)."""
    from matcher.io.lossy import copy_master, deliver_all

    for path in outputs.copies:
        copy_master(outputs.master, path, settings.output.bit_depth)
    return deliver_all(outputs.master, outputs.lossy, settings.limiter.ceiling_dbtp)


def _master_job(
    mix: Path,
    paths: list[Path],
    job: Options,
    force: bool,
    progress: Progress | None,
    save_settings: PathLike | None,
    report_page: PathLike | None,
    plot: PathLike | None,
    fitted: Fitted | None = None,
) -> tuple[MasterResult, Fitted | None]:
    """One master of a checked job to its outputs, and the analyses it fitted (for another)."""
    from matcher.io.writing import check_output_path, write_text_atomic
    from matcher.jobs import master_file, report_after_match

    bit_depth = job.config.output.bit_depth
    inputs = [mix, *job.paths]
    with _planned_outputs(paths, bit_depth, inputs, force) as outputs:
        for path in (Path(p) for p in (save_settings, report_page, plot) if p is not None):
            check_output_path(path, [*inputs, *outputs.asked], force)
        mastered = master_file(
            mix, job.paths, outputs.master, job.config, force, progress, job.weights, job.choose,
            true_peaks=report_page is not None, fitted=fitted,
        )
        settings, report = mastered.settings, mastered.report
        deliveries = _copies_and_deliveries(outputs, settings)
        if save_settings is not None:
            write_text_atomic(save_settings, settings.to_json())
        notes = mastered_notes(mix, job.paths, mastered)
        if report_page is not None or plot is not None:
            data = report_after_match(mix, job.paths, mastered, outputs.master, notes, deliveries)
            _write_pages(data, report_page, plot)
    return MasterResult(
        output=outputs.asked[0],
        lufs=report.output_lufs,
        true_peak_dbtp=report.output_true_peak_dbtp,
        loudness_range_lu=report.output_loudness_range_lu,
        plr_db=report.output_plr_db,
        gain_db=report.gain_db,
        target_lufs=settings.loudness.target_lufs,
        target_reached=report.target_reached,
        settings=settings,
        report=report,
        analysis=mastered.analysis,
        references=_reference_names(job.paths, mastered.choice),
        weights=mastered.weights,
        notes=tuple(notes),
        report_page=None if report_page is None else Path(report_page),
        plot=None if plot is None else Path(plot),
        copies=outputs.copies,
        deliveries=deliveries,
    ), mastered.fitted


def suggest(
    mix: PathLike,
    references: Sequence[Reference] = (),
    *,
    json_path: PathLike | None = None,
    progress: Progress | None = None,
    names: OptionNames = PYTHON_NAMES,
    **option_values,
) -> Suggestion:
    """The settings :func:`master` would render, and what the master would measure
    (``automaster suggest``); renders nothing. Takes :func:`master`'s options;
    ``json_path`` saves the settings."""
    from matcher.io.writing import write_text_atomic
    from matcher.jobs import suggest_file

    mix = Path(mix)
    job = options(references, names=names, **option_values)
    suggested = suggest_file(mix, job.paths, job.config, progress, job.weights, job.choose)
    if json_path is not None:
        write_text_atomic(json_path, suggested.settings.to_json())
    return _suggestion(mix, job, suggested)


def preview_report(
    mix: PathLike,
    references: Sequence[Reference] = (),
    output: PathLike | None = None,
    *,
    plot: PathLike | None = None,
    force: bool = False,
    progress: Progress | None = None,
    names: OptionNames = PYTHON_NAMES,
    on_fitted: Callable[[Settings], None] | None = None,
    on_listen: Callable[[Listen], None] | None = None,
    **option_values,
) -> Suggestion:
    """A report page of what :func:`master` would do (``automaster preview``): the curves,
    the figures, the settings and the loudest 25 s before and after at equal loudness.
    Takes :func:`master`'s options; ``output`` defaults to ``MIX_report.html``;
    ``on_fitted`` is handed the settings as soon as they are fitted (before the plan and the
    page, which take most of the time); ``on_listen`` a draft of the excerpts and the curves
    right after (a :class:`~matcher.preview.data.Listen`, the excerpt planned on its own), then
    the page's own."""
    from matcher.io.writing import check_output_path
    from matcher.jobs import preview_file

    mix = Path(mix)
    output = Path(output) if output is not None else mix.with_name(f"{mix.stem}_report.html")
    job = options(references, names=names, **option_values)
    for path in (output, plot):
        if path is not None:
            check_output_path(Path(path), [mix, *job.paths], force)
    suggested, data = preview_file(mix, job.paths, job.config, progress, job.weights, job.choose, on_fitted,
                                   on_listen)
    _write_pages(data, output, plot)
    result = _suggestion(mix, job, suggested)
    from dataclasses import replace

    after = next(e for e in data.excerpts if e.label == "after")
    return replace(result, report_page=output, plot=None if plot is None else Path(plot),
                   excerpt_start_s=after.start_s, excerpt_lufs=after.lufs, equal_loudness_lufs=data.equal_loudness_lufs)


def render_file(
    mix: PathLike,
    settings: Settings | PathLike,
    output: PathLike | Sequence[PathLike] | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> MasterResult:
    """Render settings onto a mix (``automaster render``): no analysis, no fitting.

    ``settings`` is a :class:`~matcher.fitting.settings.Settings` or the path of its JSON
    (from :func:`suggest` or ``save_settings``, edited or not). The settings :func:`master`
    used give a bit-identical master. ``output`` may name several files, as :func:`master`'s:
    the first lossless one is the master, other lossless ones its copies, lossy ones encoded
    from it so that they decode under the ceiling.
    """
    from matcher.errors import AudioFileError
    from matcher.jobs import render_settings_file

    mix = Path(mix)
    if not isinstance(settings, Settings):
        path = Path(settings)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AudioFileError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        settings = Settings.from_json(text, str(path))
    with _planned_outputs(_output_paths(mix, output), settings.output.bit_depth, [mix], force) as outputs:
        report = render_settings_file(mix, settings, outputs.master, force, progress)
        deliveries = _copies_and_deliveries(outputs, settings)
    notes = cut_short_notes([mix]) + expanding_note(mix, settings, report.leveler_ratio)
    notes += held_back_note(mix, settings, report.leveler_held_back, report.output_loudness_range_lu)
    if not report.target_reached and settings.loudness.target_lufs is not None:
        notes.append(out_of_reach_note(mix, settings, report.output_lufs, unclean_lufs=report.unclean_lufs,
                                       unclean_distortion_db=report.unclean_distortion_db))
    return MasterResult(
        output=outputs.asked[0],
        lufs=report.output_lufs,
        true_peak_dbtp=report.output_true_peak_dbtp,
        loudness_range_lu=report.output_loudness_range_lu,
        plr_db=report.output_plr_db,
        gain_db=report.gain_db,
        target_lufs=settings.loudness.target_lufs,
        target_reached=report.target_reached,
        settings=settings,
        report=report,
        analysis=None,
        references=(),
        weights=None,
        notes=tuple(notes),
        copies=outputs.copies,
        deliveries=deliveries,
    )


def analyze_file(path: PathLike, *, json_path: PathLike | None = None, progress: Progress | None = None) -> Analysis:
    """Measure a file (``automaster analyze``): loudness, peaks, loudness range, tonal
    balance, width and condition; ``json_path`` saves the analysis. A file may be as short
    as 0.4 s: the figures that need longer (short-term loudness, loudness range: 3 s) are
    then None."""
    from matcher.analysis.loudness import MOMENTARY_S
    from matcher.io.writing import write_text_atomic
    from matcher.jobs import analyze_file as analyse

    _, analysis = analyse(Path(path), progress, min_duration_s=MOMENTARY_S)
    if json_path is not None:
        write_text_atomic(json_path, analysis.to_json())
    return analysis


def _suggestion(mix: Path, job: Options, suggested) -> Suggestion:
    plan = suggested.plan
    notes = planned_notes(mix, job.paths, suggested)
    return Suggestion(
        settings=suggested.settings,
        plan=plan,
        predicted_lufs=plan.predicted_lufs,
        predicted_true_peak_dbtp=plan.predicted_true_peak_dbtp,
        predicted_loudness_range_lu=plan.predicted_lra_lu,
        target_reached=plan.target_reached,
        analysis=suggested.analysis,
        references=_reference_names(job.paths, suggested.choice),
        weights=suggested.weights,
        notes=tuple(notes),
        reference_analyses=tuple(suggested.references),
    )


def _write_pages(data, report_page: PathLike | None, plot: PathLike | None) -> None:
    if report_page is not None:
        from matcher.preview.page import write_page

        write_page(data, report_page)
    if plot is not None:
        from matcher.preview.plots import write_curves_png

        write_curves_png(data, plot)


def _reference_names(paths: Sequence[Path], choice) -> tuple[str, ...]:
    return tuple(choice.names) if choice is not None else tuple(p.name for p in paths)


def _names(value: Iterable[str] | str) -> list[str]:
    return [v for v in value.split(",")] if isinstance(value, str) else list(value)


# --- batch ---------------------------------------------------------------------------------


def master_batch(
    mixes: Sequence[PathLike],
    out: PathLike,
    references: Sequence[Reference] = (),
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    file_format: str = "wav",
    force: bool = False,
    names: OptionNames = PYTHON_NAMES,
    **option_values,
):
    """Master many mixes into one folder (``automaster batch``), exactly as :func:`master`
    would master each, on ``workers`` local processes (default one per core) or on the
    Dask cluster at ``scheduler``. Takes :func:`master`'s options (references, library,
    k, style, loudness...).

    A mix that fails is listed with its error and the others go on; the folder's
    ``manifest.json`` and ``manifest.csv`` list what became of each, and running the same
    batch again masters only what is not done.

    Returns
    -------
    matcher.batch.session.BatchOutcome
        ``results``: a :class:`~matcher.batch.jobs.JobResult` per mix, in the order given
        (``status``, ``output``, ``output_lufs``, ``output_true_peak_dbtp``, ``error``...).
    """
    from matcher.batch.session import plan_batch, run_batch

    job = options(references, names=names, **option_values)
    plan = plan_batch(
        [Path(m) for m in mixes], Path(out), job.config, job.paths, job.weights, job.choose, workers, scheduler,
        file_format, force, names,
    )
    return run_batch(plan)


# --- reference library -------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryAdded:
    """What :func:`library_add` did with one file: ``added`` (as ``name``), ``already`` there
    (as ``name``), or ``failed`` (``error`` says why)."""

    path: Path
    status: str
    name: str | None = None
    error: str | None = None


def open_library(library: PathLike | None = None):
    """The reference library in a folder (default: the per-user one), as a
    :class:`~matcher.library.store.Library`: ``names()``, ``get(name)``, ``index()``."""
    from matcher.library.store import Library, default_library_dir

    return Library(Path(library) if library is not None else default_library_dir())


def library_add(
    files: Sequence[PathLike],
    library: PathLike | None = None,
    tags: Sequence[str] = (),
    progress: Progress | None = None,
) -> list[LibraryAdded]:
    """Analyse reference files and keep their profiles (``automaster library add``).

    A file already in the library (the same sha256) is not analysed again; a file that
    cannot be used is reported as ``failed`` and the others are still added.
    """
    from matcher.errors import AutomasterError
    from matcher.jobs import analyze_file, require_audible
    from matcher.library.store import Profile, file_sha256, today

    lib = open_library(library)
    outcome = []
    for path in map(Path, files):
        try:
            sha256 = file_sha256(path) if path.is_file() else ""
            known = lib.find_hash(sha256) if sha256 else None
            if known is not None:
                outcome.append(LibraryAdded(path, "already", known))
                continue
            info, analysis = analyze_file(path, progress)
            require_audible(info, analysis)
        except AutomasterError as exc:
            outcome.append(LibraryAdded(path, "failed", error=str(exc)))
            continue
        except OSError as exc:
            outcome.append(LibraryAdded(path, "failed", error=f"{path}: cannot be read ({exc.strerror})"))
            continue
        (stored,) = lib.add([Profile(path.stem, sha256, str(path.resolve()), tuple(tags), today(), analysis)])
        outcome.append(LibraryAdded(path, "added", stored.name))
    return outcome


def library_remove(names: Sequence[str], library: PathLike | None = None):
    """Forget profiles (``automaster library remove``; the audio is not touched). They
    leave their styles, whose centres are made again from the other members; returns what
    changed in the styles (:class:`~matcher.library.styles.Restyled`)."""
    from matcher.library.styles import restyle

    lib = open_library(library)
    for name in names:
        lib.get(name)  # every name checked before any is removed
    for name in dict.fromkeys(names):
        lib.remove(name)
    return restyle(lib)


def library_styles(library: PathLike | None = None, count: int | None = None):
    """Group a library into styles (k-means, the count by silhouette unless given), save them
    in it and return them (``automaster library styles``), for ``style=`` of :func:`master`."""
    from matcher.library.styles import make_styles, save_styles

    lib = open_library(library)
    made = make_styles(lib, count)
    save_styles(lib, made)
    return made


# --- album -----------------------------------------------------------------------------------


def master_album(
    album: PathLike | Sequence[PathLike],
    output: PathLike,
    references: Sequence[Reference] = (),
    *,
    library: PathLike | None = None,
    k: int | None = None,
    style: str | None = None,
    lufs: float | None = None,
    ceiling_dbtp: float | None = None,
    title: str | None = None,
    performer: str | None = None,
    gap_s: float = 2.0,
    file_format: str = "wav",
    quietest_lu: float = -8.0,
    amount: Mapping[str, float] | None = None,
    only: Iterable[str] | str | None = None,
    no_fix: Iterable[str] | str = (),
    highpass_hz: float | None = None,
    mono_below_hz: float | None = None,
    eq_phase: str | None = None,
    force_loudness: bool = False,
    max_distortion_db: float | None = None,
    force: bool = False,
    names: OptionNames = PYTHON_NAMES,
):
    """Master an album (``automaster album``): an album spec (TOML, see the README), or the
    mixes in play order (with ``title``, ``performer``, ``gap_s``, ``file_format`` and
    ``quietest_lu``). The songs are matched to the same references (given, or chosen once for
    the whole album from ``library``/``style`` or the starter library), their loudness
    balanced, trimmed, faded and spaced; per-song files, a 16-bit CD image with its CUE
    sheet and a report go into the ``output`` folder (created if its parent exists).

    Returns
    -------
    matcher.album.master.AlbumResult
        Per song: its file, start, target, loudness, true peak, loudness range, PLR and
        streaming gains; the image, CUE sheet and report paths; ``choice``: the references
        chosen.
    """
    from dataclasses import replace

    from matcher.album.master import master_album as master
    from matcher.album.spec import FORMATS, load_spec, spec_from_files
    from matcher.errors import UsageError

    ref_name = names.ref
    if isinstance(album, (str, os.PathLike)) and Path(album).suffix.lower() == ".toml":
        spec = load_spec(Path(album))
        if spec.references and (references or library is not None or style is not None):
            raise UsageError(f"{album}: names its references; give them there or with {ref_name}, not both")
    else:
        mixes = [Path(album)] if isinstance(album, (str, os.PathLike)) else [Path(m) for m in album]
        if file_format not in FORMATS:
            raise UsageError(f"format {file_format!r}: choose {', '.join(FORMATS)}")
        if gap_s < 0:
            raise UsageError(f"gap {gap_s:g} s: must be 0 or more seconds")
        if not -40.0 <= quietest_lu <= 0.0:
            raise UsageError(f"quietest {quietest_lu:g} LU: choose -40 to 0 LU")
        spec = spec_from_files(mixes, [], None, -1.0, title=title or "Untitled", performer=performer, gap_s=gap_s,
                               format=file_format, quietest_lu=quietest_lu)
    spec = replace(
        spec,
        lufs=lufs if lufs is not None else spec.lufs,
        ceiling_dbtp=ceiling_dbtp if ceiling_dbtp is not None else spec.ceiling_dbtp,
    )
    # The album's references, as master takes them: files, or else chosen once for the whole
    # album from a library, a style or the starter library.
    job = options(
        references, library=library, k=k, style=style, ceiling_dbtp=spec.ceiling_dbtp, amount=amount, only=only,
        no_fix=no_fix, highpass_hz=highpass_hz, mono_below_hz=mono_below_hz, bit_depth="32f", eq_phase=eq_phase,
        force_loudness=force_loudness, max_distortion_db=max_distortion_db, names=names,
    )
    if references:
        shares = job.weights or [None] * len(job.paths)
        spec = replace(spec, references=tuple(str(p) if w is None else f"{p}:{w!r}" for p, w in zip(job.paths, shares)))
    out = Path(output)
    created = not out.is_dir()
    if created:
        if not out.parent.is_dir():
            from matcher.errors import AudioFileError

            raise AudioFileError(f"{out}: folder {out.parent} does not exist")
        out.mkdir()
    try:
        return master(spec, out, job.config, force, parse_references=parse_references, choose=job.choose)
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()  # nothing was delivered: leave no trace
        raise
