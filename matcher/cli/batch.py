"""``automaster batch``: master many mixes into one folder, on local processes or Dask.

The engine side is :mod:`matcher.batch`; this module parses the options, shows progress,
keeps the manifest up to date as results come in, and prints the final table. Only typer
and the shared helpers are imported at start-up: the engine loads when the command runs.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from matcher.cli.common import (
    add_column,
    new_table,
    AMOUNT_OPTION,
    DITHER_OPTION,
    FORCE_LOUDNESS_OPTION,
    MAX_DISTORTION_OPTION,
    EQ_AMOUNT_OPTION,
    EQ_PHASE_OPTION,
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    HIGHPASS_OPTION,
    K_OPTION,
    LIBRARY_CHOICE_OPTION,
    LUFS_OPTION,
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
    fit_config,
    reference_target,
    stderr,
    stdout,
    print_notes,
)

def batch(
    mixes: Optional[List[Path]] = typer.Argument(
        None, help="The mixes to master (WAV, FLAC, AIFF, OGG, MP3).", metavar="MIX...", show_default=False
    ),
    ref: Optional[List[Path]] = REF_OPTION,
    library: Optional[Path] = LIBRARY_CHOICE_OPTION,
    k: Optional[int] = K_OPTION,
    style: Optional[str] = STYLE_OPTION,
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created if missing; its parent must exist)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Local worker processes (default: one per core)."),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help="Run on a Dask cluster instead: the scheduler's address, e.g. tcp://host:8786."
    ),
    output_format: str = typer.Option("wav", "--format", help="Output container: wav, flac or aiff."),
    force: bool = typer.Option(False, "--force", "-f", help="Redo every mix, replacing existing masters."),
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
) -> None:
    """Master many mixes into one folder.

    Every MIX is mastered into OUT (MIX_master.wav each) against the same references, a
    library's nearest ones or a style, as 'match' would; a manifest (JSON and CSV) lists
    what became of each.

    References are analysed once. A mix that fails is listed with its error and the others
    go on (exit code 2 at the end). Run the same command again to finish a batch that was
    stopped: complete masters are skipped."""
    from matcher.batch.session import BatchInterrupted, plan_batch, run_batch

    with errors():
        refs, weights, choose = reference_target(ref, library, k, style)
        plan = plan_batch(
            mixes or [], out,
            fit_config(
                lufs, ceiling, eq_amount, bit_depth, amount, only, no_fix, highpass, mono_below, eq_phase,
                force_loudness, max_distortion, target, sample_rate, no_limiter, dither,
            ),
            refs, weights, choose, workers, scheduler, output_format, force,
        )
        with ExitStack() as bar:
            advance = [lambda: None]

            def started(total: int, done: int) -> None:
                advance[0] = bar.enter_context(_progress(total, done))

            try:
                outcome = run_batch(plan, lambda note: print_notes([note]), started, lambda result: advance[0]())
            except BatchInterrupted as stopped:
                bar.close()
                stderr.print(f"automaster: interrupted; {stopped} (run the same command again to finish)")
                raise typer.Exit(EXIT_INTERRUPTED)
        _report(outcome.results, plan.out, outcome.manifest_path)
    if any(r.internal_error for r in outcome.failed):
        raise typer.Exit(EXIT_INTERNAL)
    raise typer.Exit(EXIT_BAD_INPUT if outcome.failed else 0)


@contextmanager
def _progress(total: int, done: int) -> Iterator:
    """A bar over the mixes on stderr when it is a terminal; a no-op otherwise."""
    if not (stderr.is_terminal and total > done):
        yield lambda: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("mixes"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task("mastering", total=total, completed=done)
        yield lambda: progress.advance(task, 1)


def _report(results, out: Path, manifest_path: Path) -> None:
    """The table of every mix on stdout; warnings and errors on stderr."""
    from matcher.batch.jobs import FAILED, OK
    from matcher.batch.manifest import reference_label

    table = new_table(f"batch: {out}")
    for name, justify in (("file", "left"), ("reference", "left"), ("LUFS", "right"), ("true peak", "right"),
                          ("time", "right"), ("status", "left")):
        add_column(table, name, justify=justify)
    for r in results:
        table.add_row(
            Path(r.mix).name,
            reference_label(r),
            f"{r.output_lufs:.1f}" if r.output_lufs is not None else "",
            f"{r.output_true_peak_dbtp:.1f} dBTP" if r.output_true_peak_dbtp is not None else "",
            f"{r.time_s:.1f} s" if r.time_s is not None else "",
            r.status,
        )
    stdout.print(table)
    for r in results:
        if r.status == OK:
            for warning in r.warnings:
                stderr.print(f"automaster: warning: {r.mix}: {warning}")
        if r.status == FAILED:
            stderr.print(f"automaster: error: {r.error}")
    counts = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    stdout.print(f"{len(results)} mixes: {summary}; manifest: {manifest_path}")
