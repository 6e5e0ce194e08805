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
from matcher.cli.batch import batch
from matcher.cli.common import (
    AMOUNT_OPTION,
    DITHER_OPTION,
    EQ_AMOUNT_OPTION,
    EQ_PHASE_OPTION,
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    FORCE_LOUDNESS_OPTION,
    HIGHPASS_OPTION,
    K_OPTION,
    LIBRARY_CHOICE_OPTION,
    LUFS_OPTION,
    MAX_DISTORTION_OPTION,
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
    State,
    Typer,
    add_column,
    errors,
    frames_of,
    is_stdout,
    new_table,
    option_values,
    print_json,
    print_notes,
    print_pages,
    progress,
    reference_pairs,
    split_references,
    stderr,
    stdout,
)
from matcher.cli.library import library_app
from matcher.cli.preview import PLOT_OPTION, REPORT_OPTION, preview
from matcher.cli.serve import serve
from matcher.concurrency import prefer_single_threaded_blas
from matcher.options import CLI_NAMES

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "app", "main"]

SWITCH_INTERVAL_S = 0.0005

app = Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Reference-matching automatic mastering: master a mix so it stands beside the tracks you love.",
)


def _print_version(value: bool) -> None:
    if value:
        from matcher import __version__

        stdout.print(f"automaster {__version__}")
        raise typer.Exit()




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
    k: Optional[int] = K_OPTION,
    style: Optional[str] = STYLE_OPTION,
    output: Optional[List[Path]] = typer.Option(
        None, "--output", "-o",
        help="Output file (.wav, .flac, .aiff; lossy .mp3, .ogg, .opus, .m4a, each encoded so that it decodes under the "
             "ceiling). Repeat for several from one render. Default: MIX_master.wav beside the mix.",
    ),
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
    target: Optional[List[str]] = TARGET_OPTION,
    sample_rate: Optional[int] = SAMPLE_RATE_OPTION,
    no_limiter: bool = NO_LIMITER_OPTION,
    dither: Optional[str] = DITHER_OPTION,
    save_settings: Optional[Path] = typer.Option(None, "--save-settings", help="Also save the settings as JSON."),
    report_page: Optional[Path] = REPORT_OPTION,
    plot: Optional[Path] = PLOT_OPTION,
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing output file."),
) -> None:
    """Master MIX to match reference tracks.

    The master gets the references' loudness, tonal balance, width and loudness range, every
    true peak under the ceiling."""
    from matcher.api import master, master_targets
    from matcher.cli.report import print_match_summary

    with errors():
        refs, _ = split_references(ref)
        targets = list(target or [])
        with progress(frames_of([mix]) * (1 + 2 * max(len(targets), 1)) + frames_of(refs),
                      f"mastering {mix.name}") as advance:
            values = option_values(
                lufs, ceiling, eq_amount, bit_depth, amount, only, no_fix, highpass, mono_below,
                eq_phase, force_loudness, max_distortion, targets[0] if len(targets) == 1 else None, sample_rate,
                no_limiter, dither,
            )
            common = dict(save_settings=save_settings, report_page=report_page, plot=plot, force=force,
                          progress=advance, names=CLI_NAMES)
            if len(targets) > 1:
                results = master_targets(mix, reference_pairs(ref), output or None, targets=targets, library=library,
                                         k=k, style=style, **values, **common)
            else:
                results = (master(mix, reference_pairs(ref), output or None, library=library, k=k, style=style,
                                  **values, **common),)
        for result in results:
            print_notes(result.notes)
            print_pages(result.report_page, result.plot)
            print_match_summary(stdout, result.output, result.settings, result.report, result.copies,
                                result.deliveries)


@app.command()
def suggest(
    mix: Path = typer.Argument(..., help=MIX_ARGUMENT_HELP),
    ref: Optional[List[Path]] = REF_OPTION,
    library: Optional[Path] = LIBRARY_CHOICE_OPTION,
    k: Optional[int] = K_OPTION,
    style: Optional[str] = STYLE_OPTION,
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
    json_path: Optional[Path] = typer.Option(
        None, "--json", help="Save the settings as JSON (- for standard output; edit them, then: automaster render MIX --settings FILE)."
    ),
) -> None:
    """Show the settings 'match' would use; render nothing.

    Also what the master would measure: loudness, true peak, PLR and loudness range."""
    from matcher.api import suggest as suggest_settings
    from matcher.cli.report import print_suggestion

    with errors():
        refs, _ = split_references(ref)
        with progress(frames_of([mix]) * 2 + frames_of(refs), f"analysing {mix.name}") as advance:
            result = suggest_settings(
                mix, reference_pairs(ref), library=library, k=k, style=style,
                **option_values(
                    lufs, ceiling, eq_amount, bit_depth, amount, only, no_fix, highpass, mono_below,
                    eq_phase, force_loudness, max_distortion, target, sample_rate, no_limiter, dither,
                ),
                json_path=None if json_path is None or is_stdout(json_path) else json_path, progress=advance,
                names=CLI_NAMES,
            )
        print_notes(result.notes)
        if json_path is not None and is_stdout(json_path):
            print_json(result.settings.to_json())
        else:
            print_suggestion(stdout, mix, result.settings, result.plan)


@app.command()
def render(
    mix: Path = typer.Argument(..., help=MIX_ARGUMENT_HELP),
    settings_path: Path = typer.Option(..., "--settings", "-s", help="Settings JSON (from suggest --json or match --save-settings)."),
    output: Optional[List[Path]] = typer.Option(
        None, "--output", "-o",
        help="Output file (.wav, .flac, .aiff; lossy .mp3, .ogg, .opus, .m4a, decoding under the ceiling). Repeat "
             "for several from one render. Default: MIX_master.wav beside the mix.",
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing output file."),
) -> None:
    """Render saved settings onto MIX.

    The settings (from suggest --json or match --save-settings, edited or not) are rendered
    exactly: no analysis, no fitting."""
    from matcher.api import render_file
    from matcher.cli.report import print_match_summary

    with errors():
        with progress(frames_of([mix]) * 2, f"rendering {mix.name}") as advance:
            result = render_file(mix, settings_path, output or None, force=force, progress=advance)
        print_notes(result.notes)
        print_match_summary(stdout, result.output, result.settings, result.report, result.copies, result.deliveries)


@app.command()
def analyze(
    file: Path = typer.Argument(..., help="Audio file to analyse."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the full analysis as JSON to this file (- for standard output)."),
) -> None:
    """Measure FILE: loudness, peaks, loudness range, tonal balance.

    FILE may be as short as 0.4 s; short-term loudness and loudness range need 3 s."""
    from matcher.analysis.loudness import MOMENTARY_S
    from matcher.api import analyze_file
    from matcher.cli.report import print_analysis
    from matcher.notes import cut_short_notes

    with errors():
        with progress(frames_of([file]), f"analysing {file.name}") as advance:
            analysis = analyze_file(
                file, json_path=None if json_path is None or is_stdout(json_path) else json_path, progress=advance
            )
        print_notes(cut_short_notes([file], min_duration_s=MOMENTARY_S))
        if json_path is not None and is_stdout(json_path):
            print_json(analysis.to_json())
        else:
            print_analysis(stdout, file, analysis)


@app.command()
def targets() -> None:
    """List the outlets --target takes: loudness, ceiling, word length and rate, and the
    source of each figure (models/platforms.json)."""
    from matcher.targets import platform_targets

    with errors():
        table = new_table("delivery targets (--target NAME)")
        for heading in ("name", "outlet", "LUFS", "ceiling", "word length", "rate", "sources"):
            add_column(table, heading)
        for t in platform_targets():
            sources = "; ".join(f"{field}: {text}" for field, text in t.sources.items())
            table.add_row(
                t.name, t.title, "the references'" if t.lufs is None else f"{t.lufs:g}", f"{t.ceiling_dbtp:g} dBTP",
                f"{t.bit_depth}-bit", "the mix's" if t.sample_rate_hz is None else f"{t.sample_rate_hz / 1000:g} kHz",
                sources,
            )
        stdout.print(table)


app.command()(preview)
app.command()(batch)
app.command()(album)
app.command()(serve)
app.add_typer(library_app, name="library")


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
        stderr.print(f"automaster: internal error: {type(exc).__name__}: {exc} (rerun with --debug)")
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
