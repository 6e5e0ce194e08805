"""``automaster preview``: a report page of the suggested master, rendering only an excerpt."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from matcher.cli.common import (
    AMOUNT_OPTION,
    BIT_DEPTH_OPTION,
    CEILING_OPTION,
    EQ_AMOUNT_OPTION,
    HIGHPASS_OPTION,
    K_OPTION,
    LIBRARY_CHOICE_OPTION,
    LUFS_OPTION,
    MIX_ARGUMENT_HELP,
    MONO_BELOW_OPTION,
    NO_FIX_OPTION,
    ONLY_OPTION,
    REF_OPTION,
    STYLE_OPTION,
    errors,
    fit_config,
    frames_of,
    progress,
    reference_target,
    stdout,
    tell_outcome,
)

REPORT_HELP = "Write a report page (self-contained HTML): curves, figures, settings, a fair before/after."
PLOT_HELP = "Also write the tonal-curve picture as a PNG."
REPORT_OPTION = typer.Option(None, "--report", help=REPORT_HELP)
PLOT_OPTION = typer.Option(None, "--plot", help=PLOT_HELP)


def check_page_paths(paths: List[Optional[Path]], inputs: List[Path], force: bool) -> None:
    """Refuse report and picture paths that would overwrite an input or an existing file."""
    from matcher.io.writing import check_output_path

    for path in paths:
        if path is not None:
            check_output_path(path, inputs, force)


def write_pages(data, report: Optional[Path], plot: Optional[Path]) -> None:
    """Write the report page and the picture that were asked for."""
    if report is not None:
        from matcher.preview.page import write_page

        write_page(data, report)
        stdout.print(f"report written: {report}", markup=False, highlight=False)
    if plot is not None:
        from matcher.preview.plots import write_curves_png

        write_curves_png(data, plot)
        stdout.print(f"tonal curves written: {plot}", markup=False, highlight=False)


def preview(
    mix: Path = typer.Argument(..., help=MIX_ARGUMENT_HELP),
    ref: Optional[List[Path]] = REF_OPTION,
    library: Optional[Path] = LIBRARY_CHOICE_OPTION,
    k: int = K_OPTION,
    style: Optional[str] = STYLE_OPTION,
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="The report page (.html). Default: MIX_report.html beside the mix."
    ),
    plot: Optional[Path] = PLOT_OPTION,
    lufs: Optional[float] = LUFS_OPTION,
    ceiling: float = CEILING_OPTION,
    eq_amount: Optional[float] = EQ_AMOUNT_OPTION,
    amount: Optional[str] = AMOUNT_OPTION,
    only: Optional[str] = ONLY_OPTION,
    no_fix: Optional[str] = NO_FIX_OPTION,
    highpass: float = HIGHPASS_OPTION,
    mono_below: Optional[float] = MONO_BELOW_OPTION,
    bit_depth: str = BIT_DEPTH_OPTION,
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing report or picture."),
) -> None:
    """Show what 'match' would do as a report page: the curves, the figures and settings, and
    the loudest 25 s before and after at equal loudness; renders only that excerpt."""
    from matcher.cli.report import print_suggestion
    from matcher.jobs import preview_file

    output = output if output is not None else mix.with_name(f"{mix.stem}_report.html")
    with errors():
        config = fit_config(lufs, ceiling, eq_amount, bit_depth, amount, only, no_fix, highpass, mono_below)
        refs, weights, choose = reference_target(ref, library, k, style)
        check_page_paths([output, plot], [mix, *refs], force)
        with progress(frames_of([mix]) * 2 + frames_of(refs), f"previewing {mix.name}") as advance:
            suggested, data = preview_file(mix, refs, config, advance, weights, choose)
        plan = suggested.plan
        tell_outcome(mix, refs, suggested, plan.target_reached, plan.predicted_lufs, "the master would be")
        write_pages(data, output, plot)
        print_suggestion(stdout, mix, suggested.settings, plan)
