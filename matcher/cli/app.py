"""``automaster``: master a mix to match reference tracks, from the command line.

Exit codes: 0 success, 1 unexpected internal error, 2 bad input or usage (the message names
the file and the problem), 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from matcher._allocator import keep_freed_memory
from matcher.cli.album import album
from matcher.cli.common import (
    AMOUNT_OPTION,
    BIT_DEPTH_OPTION,
    CEILING_OPTION,
    EQ_AMOUNT_OPTION,
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
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
    State,
    errors,
    fit_config,
    frames_of,
    progress,
    reference_target,
    stderr,
    stdout,
    tell_outcome,
    warn_cut_short,
    warn_out_of_reach,
)
from matcher.cli.library import library_app
from matcher.cli.preview import PLOT_OPTION, REPORT_OPTION, check_page_paths, preview, write_pages
from matcher.concurrency import prefer_single_threaded_blas

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "app", "main"]

SWITCH_INTERVAL_S = 0.0005

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Reference-matching automatic mastering: master a mix so it stands beside the tracks you love.",
)


def _print_version(value: bool) -> None:
    if value:
        from matcher import __version__

        stdout.print(f"automaster {__version__}")
        raise typer.Exit()


app.add_typer(library_app, name="library")
app.command()(preview)
app.command()(album)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    State.debug = debug


@app.command()
def match(
    mix: Path = typer.Argument(..., help=MIX_ARGUMENT_HELP),
    ref: Optional[List[Path]] = REF_OPTION,
    library: Optional[Path] = LIBRARY_CHOICE_OPTION,
    k: int = K_OPTION,
    style: Optional[str] = STYLE_OPTION,
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Output file (.wav, .flac, .aiff). Default: MIX_master.wav beside the mix."
    ),
    lufs: Optional[float] = LUFS_OPTION,
    ceiling: float = CEILING_OPTION,
    eq_amount: Optional[float] = EQ_AMOUNT_OPTION,
    amount: Optional[str] = AMOUNT_OPTION,
    only: Optional[str] = ONLY_OPTION,
    no_fix: Optional[str] = NO_FIX_OPTION,
    highpass: float = HIGHPASS_OPTION,
    mono_below: Optional[float] = MONO_BELOW_OPTION,
    bit_depth: str = BIT_DEPTH_OPTION,
    save_settings: Optional[Path] = typer.Option(None, "--save-settings", help="Also save the settings as JSON."),
    report_page: Optional[Path] = REPORT_OPTION,
    plot: Optional[Path] = PLOT_OPTION,
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing output file."),
) -> None:
    """Master MIX so that it matches the reference track(s): loudness, tonal balance, width and
    loudness range."""
    from matcher.cli.report import print_match_summary
    from matcher.io.writing import output_format, write_text_atomic
    from matcher.jobs import master_file

    output = output if output is not None else mix.with_name(f"{mix.stem}_master.wav")
    with errors():
        config = fit_config(lufs, ceiling, eq_amount, bit_depth, amount, only, no_fix, highpass, mono_below)
        refs, weights, choose = reference_target(ref, library, k, style)
        output_format(output, bit_depth)
        check_page_paths([report_page, plot], [mix, *refs, output], force)
        total = frames_of([mix]) * 3 + frames_of(refs)
        with progress(total, f"mastering {mix.name}") as advance:
            mastered = master_file(
                mix, refs, output, config, force, advance, weights, choose, true_peaks=report_page is not None
            )
        settings, report = mastered.settings, mastered.report
        tell_outcome(mix, refs, mastered, report.target_reached, report.output_lufs)
        if save_settings is not None:
            write_text_atomic(save_settings, settings.to_json())
        if report_page is not None or plot is not None:
            from matcher.jobs import report_after_match

            write_pages(report_after_match(mix, refs, mastered, output), report_page, plot)
        print_match_summary(stdout, output, settings, report)


@app.command()
def suggest(
    mix: Path = typer.Argument(..., help=MIX_ARGUMENT_HELP),
    ref: Optional[List[Path]] = REF_OPTION,
    library: Optional[Path] = LIBRARY_CHOICE_OPTION,
    k: int = K_OPTION,
    style: Optional[str] = STYLE_OPTION,
    lufs: Optional[float] = LUFS_OPTION,
    ceiling: float = CEILING_OPTION,
    eq_amount: Optional[float] = EQ_AMOUNT_OPTION,
    amount: Optional[str] = AMOUNT_OPTION,
    only: Optional[str] = ONLY_OPTION,
    no_fix: Optional[str] = NO_FIX_OPTION,
    highpass: float = HIGHPASS_OPTION,
    mono_below: Optional[float] = MONO_BELOW_OPTION,
    bit_depth: str = BIT_DEPTH_OPTION,
    json_path: Optional[Path] = typer.Option(
        None, "--json", help="Save the settings as JSON (edit them, then: automaster render MIX --settings FILE)."
    ),
) -> None:
    """Show the settings 'match' would use, and what the master would measure; render nothing."""
    from matcher.cli.report import print_suggestion
    from matcher.io.writing import write_text_atomic
    from matcher.jobs import suggest_file

    with errors():
        config = fit_config(lufs, ceiling, eq_amount, bit_depth, amount, only, no_fix, highpass, mono_below)
        refs, weights, choose = reference_target(ref, library, k, style)
        with progress(frames_of([mix]) * 2 + frames_of(refs), f"analysing {mix.name}") as advance:
            suggested = suggest_file(mix, refs, config, advance, weights, choose)
        settings, plan = suggested.settings, suggested.plan
        tell_outcome(mix, refs, suggested, plan.target_reached, plan.predicted_lufs, "the master would be")
        if json_path is not None:
            write_text_atomic(json_path, settings.to_json())
        print_suggestion(stdout, mix, settings, plan)


@app.command()
def render(
    mix: Path = typer.Argument(..., help=MIX_ARGUMENT_HELP),
    settings_path: Path = typer.Option(..., "--settings", "-s", help="Settings JSON (from suggest --json or match --save-settings)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Output file (.wav, .flac, .aiff). Default: MIX_master.wav beside the mix."
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing output file."),
) -> None:
    """Render saved (possibly edited) settings onto MIX exactly: no analysis, no fitting."""
    from matcher.cli.report import print_match_summary
    from matcher.errors import AudioFileError
    from matcher.fitting.settings import Settings
    from matcher.io.writing import output_format
    from matcher.jobs import render_settings_file

    output = output if output is not None else mix.with_name(f"{mix.stem}_master.wav")
    with errors():
        try:
            text = settings_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AudioFileError(f"{settings_path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        settings = Settings.from_json(text, str(settings_path))
        output_format(output, settings.output.bit_depth)
        with progress(frames_of([mix]) * 2, f"rendering {mix.name}") as advance:
            report = render_settings_file(mix, settings, output, force, advance)
        warn_cut_short([mix])
        if not report.target_reached:
            warn_out_of_reach(mix, settings, report.output_lufs)
        print_match_summary(stdout, output, settings, report)


@app.command()
def analyze(
    file: Path = typer.Argument(..., help="Audio file to analyse."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the full analysis as JSON to this file."),
) -> None:
    """Measure loudness, peaks, loudness range and tonal balance of FILE (at least 0.4 s long;
    short-term loudness and loudness range need 3 s)."""
    from matcher.analysis.loudness import MOMENTARY_S
    from matcher.cli.report import print_analysis
    from matcher.io.writing import write_text_atomic
    from matcher.jobs import analyze_file

    with errors():
        with progress(frames_of([file]), f"analysing {file.name}") as advance:
            _, analysis = analyze_file(file, advance, min_duration_s=MOMENTARY_S)
        warn_cut_short([file], min_duration_s=MOMENTARY_S)
        if json_path is not None:
            write_text_atomic(json_path, analysis.to_json())
        print_analysis(stdout, file, analysis)


from matcher.cli.batch import batch  # noqa: E402 - registered after the commands above

app.command()(batch)


def main() -> None:
    """Console entry point."""
    keep_freed_memory()
    prefer_single_threaded_blas()
    # The engine's threads hand the GIL back and forth at every numpy call; a thread that
    # holds it in pure Python (an import: scipy.fft is 0.2 s of it) would make each of
    # those calls wait up to the default 5 ms switch interval.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        app()
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except Exception as exc:  # noqa: BLE001 - last resort: one line, unless --debug
        if State.debug or "--debug" in sys.argv:
            raise
        stderr.print(f"automaster: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", markup=False)
        code = EXIT_INTERNAL
    else:
        code = 0
    # Every file is written and closed and every thread joined: leave without tearing down
    # each imported module (numpy, scipy, rich: about 70 ms, 5 % of mastering a 3-minute
    # track), as mypy's command line does.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    """The process exit status for a ``SystemExit`` code, as the interpreter would set it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
