"""``automaster preview``: a report page of the suggested master, rendering only an excerpt."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from matcher.cli.common import (
    AMOUNT_OPTION,
    DITHER_OPTION,
    FORCE_LOUDNESS_OPTION,
    MAX_DISTORTION_OPTION,
    EQ_AMOUNT_OPTION,
    EQ_PHASE_OPTION,
    HIGHPASS_OPTION,
    K_OPTION,
    LIBRARY_CHOICE_OPTION,
    LUFS_OPTION,
    MIX_ARGUMENT_HELP,
    MONO_BELOW_OPTION,
    NO_FIX_OPTION,
    NO_LIMITER_OPTION,
    ONLY_OPTION,
    REF_OPTION,
    SAMPLE_RATE_OPTION,
    STYLE_OPTION,
    TARGET_OPTION,
    TARGETED_BIT_DEPTH_OPTION,
    TARGETED_CEILING_OPTION,
    errors,
    frames_of,
    option_values,
    print_notes,
    print_pages,
    progress,
    reference_pairs,
    split_references,
    stdout,
)

REPORT_HELP = "Write a report page (self-contained HTML): curves, figures, settings, a fair before/after."
PLOT_HELP = "Also write the tonal-curve picture as a PNG."
REPORT_OPTION = typer.Option(None, "--report", help=REPORT_HELP)
PLOT_OPTION = typer.Option(None, "--plot", help=PLOT_HELP)


def preview(
    mix: Path = typer.Argument(..., help=MIX_ARGUMENT_HELP),
    ref: Optional[List[Path]] = REF_OPTION,
    library: Optional[Path] = LIBRARY_CHOICE_OPTION,
    k: Optional[int] = K_OPTION,
    style: Optional[str] = STYLE_OPTION,
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="The report page (.html). Default: MIX_report.html beside the mix."
    ),
    plot: Optional[Path] = PLOT_OPTION,
    lufs: Optional[float] = LUFS_OPTION,
    ceiling: Optional[float] = TARGETED_CEILING_OPTION,
    eq_amount: Optional[float] = EQ_AMOUNT_OPTION,
    amount: Optional[str] = AMOUNT_OPTION,
    only: Optional[str] = ONLY_OPTION,
    no_fix: Optional[str] = NO_FIX_OPTION,
    highpass: Optional[float] = HIGHPASS_OPTION,
    mono_below: Optional[float] = MONO_BELOW_OPTION,
    eq_phase: Optional[str] = EQ_PHASE_OPTION,
    bit_depth: Optional[str] = TARGETED_BIT_DEPTH_OPTION,
    force_loudness: bool = FORCE_LOUDNESS_OPTION,
    max_distortion: Optional[float] = MAX_DISTORTION_OPTION,
    target: Optional[str] = TARGET_OPTION,
    sample_rate: Optional[int] = SAMPLE_RATE_OPTION,
    no_limiter: bool = NO_LIMITER_OPTION,
    dither: Optional[str] = DITHER_OPTION,
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing report or picture."),
) -> None:
    """Show what 'match' would do, as a report page.

    The page has the curves, the figures and settings, and the loudest 25 s before and after
    at equal loudness; only that excerpt is rendered."""
    from matcher.api import preview_report
    from matcher.cli.report import print_suggestion
    from matcher.options import CLI_NAMES

    with errors():
        refs, _ = split_references(ref)
        with progress(frames_of([mix]) * 2 + frames_of(refs), f"previewing {mix.name}") as advance:
            result = preview_report(
                mix, reference_pairs(ref), output, library=library, k=k, style=style, plot=plot, force=force,
                **option_values(
                    lufs, ceiling, eq_amount, bit_depth, amount, only, no_fix, highpass, mono_below, eq_phase,
                    force_loudness, max_distortion, target, sample_rate, no_limiter, dither,
                ),
                progress=advance, names=CLI_NAMES,
            )
        print_notes(result.notes)
        print_pages(result.report_page, result.plot)
        print_suggestion(stdout, mix, result.settings, result.plan)
