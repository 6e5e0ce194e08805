"""File-level jobs for the CLI: analyse a file, master a file. No printing here."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from matcher.analysis.analyzer import Analyzer
from matcher.analysis.condition import only_dc
from matcher.analysis.result import Analysis
from matcher.errors import InvalidAudioError
from matcher.fitting.config import FitConfig
from matcher.fitting.fit import fit
from matcher.fitting.settings import Settings
from matcher.io.reading import AudioInfo, AudioSource, open_audio
from matcher.io.writing import AtomicAudioWriter, check_output_path
from matcher.rendering.renderer import GainPlan, Renderer, RenderReport

Progress = Callable[[int], None]


class Cancelled(Exception):
    """An analysis stopped because a job beside it failed or the user interrupted."""


def analyze_source(
    source: AudioSource, true_peak: bool = True, stop: threading.Event | None = None, condition: bool = True
) -> Analysis:
    """Analyse every block of a source; raise :class:`Cancelled` once ``stop`` is set."""
    analyzer = Analyzer(source.info.sample_rate_hz, source.info.channels, true_peak, condition)
    for block in source():
        if stop is not None and stop.is_set():
            raise Cancelled(str(source.info.path))
        analyzer.process(block)
    return analyzer.finish()


def analyze_file(path: Path, on_block: Progress | None = None) -> tuple[AudioInfo, Analysis]:
    """Open, validate and analyse one file."""
    info = open_audio(path)
    return info, analyze_source(AudioSource(info, on_block))


def require_audible(info: AudioInfo, analysis: Analysis) -> None:
    """Refuse a silent file, or one that is only a DC offset, with a message naming it."""
    if analysis.is_silent:
        raise InvalidAudioError(f"{info.path}: silent (no audio above -70 LUFS)")
    if only_dc(analysis):
        raise InvalidAudioError(f"{info.path}: only a DC offset (no audio besides a constant level)")


def fit_files(
    mix_path: Path,
    reference_paths: Sequence[Path],
    config: FitConfig,
    on_block: Progress | None = None,
) -> tuple[AudioSource, Analysis, Settings]:
    """Open and analyse mix and references, and fit; the mix stays open for rendering."""
    mix_info = open_audio(mix_path)
    ref_infos = [open_audio(p) for p in reference_paths]

    # Fitting needs no true peaks of the inputs: skipping them saves 40 % of the analysis;
    # nor the references' condition (DC, clipping...), which only the mix's warnings use.
    # The mix is kept in memory for the render; references are read once. Files are
    # analysed two at a time (decoding and FFTs release the GIL).
    # When one job fails (or Ctrl-C arrives) the others stop at their next block.
    stop = threading.Event()

    def analyse(info: AudioInfo, keep: bool) -> tuple[AudioSource, Analysis]:
        source = AudioSource(info, on_block, cache=keep)
        analysis = analyze_source(source, true_peak=False, stop=stop, condition=keep)
        require_audible(info, analysis)
        return source, analysis

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="automaster-analysis") as pool:
        jobs = [pool.submit(analyse, mix_info, True)] + [pool.submit(analyse, i, False) for i in ref_infos]
        try:
            (mix_source, mix_analysis), *refs = [job.result() for job in jobs]
        except BaseException:
            stop.set()
            for job in jobs:
                job.cancel()
            raise
    return mix_source, mix_analysis, fit(mix_analysis, [analysis for _, analysis in refs], config)


def master_file(
    mix_path: Path,
    reference_paths: Sequence[Path],
    output_path: Path,
    config: FitConfig,
    force: bool = False,
    on_block: Progress | None = None,
) -> tuple[Analysis, Settings, RenderReport]:
    """Analyse mix and references, fit, and render the master to ``output_path``."""
    check_output_path(output_path, [mix_path, *reference_paths], force)
    mix_source, mix_analysis, settings = fit_files(mix_path, reference_paths, config, on_block)
    return mix_analysis, settings, render_file(mix_source, settings, output_path)


def suggest_file(
    mix_path: Path,
    reference_paths: Sequence[Path],
    config: FitConfig,
    on_block: Progress | None = None,
) -> tuple[Analysis, Settings, GainPlan]:
    """The settings ``master_file`` would render, and its plan: what the master would measure.

    Runs the analysis, the fit and pass 1 of the render (EQ, true peak and loudness
    measurement, the loudness solve); writes nothing.
    """
    mix_source, mix_analysis, settings = fit_files(mix_path, reference_paths, config, on_block)
    info = mix_source.info
    plan = Renderer(settings, info.sample_rate_hz, info.channels).plan(lambda: mix_source(report=False))
    return mix_analysis, settings, plan


def render_settings_file(
    mix_path: Path, settings: Settings, output_path: Path, force: bool = False, on_block: Progress | None = None
) -> RenderReport:
    """Render saved (possibly edited) settings onto a mix: no analysis, no fitting."""
    check_output_path(output_path, [mix_path], force)
    return render_file(AudioSource(open_audio(mix_path), on_block), settings, output_path)


def render_file(source: AudioSource, settings: Settings, output_path: Path) -> RenderReport:
    """Render ``settings`` onto ``source`` and write the result atomically.

    Progress (``source.on_block``) counts the mix as pass 1 reads it, then the first take's
    blocks as they are written: a take may run from the renderer's own copy of the
    equalised mix, and a second take is rare.
    """
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

    return renderer.render(lambda: source(report=takes == 0), open_take)
