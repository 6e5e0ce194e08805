"""``automaster batch``: master many mixes into one folder, on local processes or Dask.

The engine side is :mod:`matcher.batch`; this module parses the options, shows progress,
keeps the manifest up to date as results come in, and prints the final table. Only typer
and the shared helpers are imported at start-up: the engine loads when the command runs.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Optional

import typer

from matcher.cli.common import (
    add_column,
    new_table,
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
    MONO_BELOW_OPTION,
    NO_FIX_OPTION,
    ONLY_OPTION,
    REF_OPTION,
    STYLE_OPTION,
    errors,
    fail,
    fit_config,
    reference_target,
    stderr,
    stdout,
    print_notes,
)

if TYPE_CHECKING:
    from matcher.batch.jobs import BatchJob
    from matcher.fitting.config import FitConfig
    from matcher.jobs import Chooser

FORMATS = ("wav", "flac", "aiff")


def default_workers() -> int:
    """The cores this process may run on (a container's or ``taskset``'s share, not the
    machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


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
    ceiling: float = CEILING_OPTION,
    eq_amount: Optional[float] = EQ_AMOUNT_OPTION,
    amount: Optional[str] = AMOUNT_OPTION,
    only: Optional[str] = ONLY_OPTION,
    no_fix: Optional[str] = NO_FIX_OPTION,
    highpass: Optional[float] = HIGHPASS_OPTION,
    mono_below: Optional[float] = MONO_BELOW_OPTION,
    bit_depth: str = BIT_DEPTH_OPTION,
) -> None:
    """Master many mixes into one folder.

    Every MIX is mastered into OUT (MIX_master.wav each) against the same references, a
    library's nearest ones or a style, as 'match' would; a manifest (JSON and CSV) lists
    what became of each.

    References are analysed once. A mix that fails is listed with its error and the others
    go on (exit code 2 at the end). Run the same command again to finish a batch that was
    stopped: complete masters are skipped."""
    with errors():
        plan = _plan(
            mixes or [], ref or [], library, style, k, out, workers, scheduler, output_format, force,
            fit_config(lufs, ceiling, eq_amount, bit_depth, amount, only, no_fix, highpass, mono_below),
        )
        code = _run(plan)
    raise typer.Exit(code)


@dataclass(frozen=True)
class _Plan:
    """The checked options of one ``batch`` command."""

    jobs: list[BatchJob]
    refs: list[Path]
    weights: list[float] | None
    choose: Chooser | None
    out: Path
    workers: int
    scheduler: str | None
    extension: str
    force: bool
    config: FitConfig


def _plan(mixes, refs, library, style, k, out, workers, scheduler, output_format, force, config) -> _Plan:
    """Check the options (one line and exit 2 for a bad one) before anything is read or written."""
    from matcher.batch.jobs import OUTPUT_EXTENSIONS, plan_jobs
    from matcher.errors import AudioFileError
    from matcher.io.writing import output_format as check_format

    if not mixes:
        fail("no mixes given: automaster batch MIX... --ref REF --out DIR")
    paths, weights, choose = reference_target(refs, library, k, style)
    if workers is not None and workers < 1:
        fail(f"--workers {workers}: at least 1")
    if workers is not None and scheduler is not None:
        fail("--workers is for local processes; with --scheduler the Dask workers do the work")
    fmt = output_format.lower()
    if fmt not in FORMATS:
        fail(f"--format {output_format!r}: choose {', '.join(FORMATS)}")
    extension = OUTPUT_EXTENSIONS[fmt]
    try:
        check_format(Path(f"x{extension}"), config.output.bit_depth)
    except AudioFileError as exc:  # its message names the file: name the option instead
        fail(f"--format {fmt}: {str(exc).partition(': ')[2]}")
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: is a file, not a folder")
    parent = out.absolute().parent
    if not out.exists() and not parent.is_dir():
        fail(f"--out {out}: its folder {parent} does not exist")
    if scheduler is not None:
        from matcher.batch.runner import import_distributed

        import_distributed()
    return _Plan(
        jobs=plan_jobs(mixes, out, extension, paths),
        refs=paths,
        weights=weights,
        choose=choose,
        out=out.absolute(),
        workers=workers or default_workers(),
        scheduler=scheduler,
        extension=extension,
        force=force,
        config=config,
    )


def _run(plan: _Plan) -> int:
    """Analyse the references, master what is not done yet, keep the manifest; the exit code."""
    from matcher.batch import manifest as mf
    from matcher.batch.jobs import FAILED, longest_first
    from matcher.batch.recipe import make_recipe
    from matcher.batch.runner import DaskRunner, LocalRunner
    from matcher.notes import cut_short_notes

    print_notes(cut_short_notes(plan.refs))
    recipe = make_recipe(plan.config, plan.refs, plan.weights, plan.choose, plan.extension)
    runner = DaskRunner(recipe, plan.scheduler) if plan.scheduler else LocalRunner(recipe, plan.workers)
    with runner:  # a scheduler out of reach fails here, before anything is written
        try:
            plan.out.mkdir(exist_ok=True)
        except OSError as exc:
            fail(f"--out {plan.out}: cannot be created ({exc.strerror})")
        with mf.locked(plan.out):
            manifest = mf.Manifest.load(plan.out)
            mf.remove_leftovers(plan.out, [j.output_path.name for j in plan.jobs] + [mf.MANIFEST_JSON, mf.MANIFEST_CSV])
            triage = mf.triage(plan.jobs, manifest, recipe.fingerprint, plan.force)
            results = {r.mix: r for r in triage.skipped + triage.refused}
            for entry in [*triage.skipped, *triage.refused, *mf.pending(triage.to_do, recipe.fingerprint)]:
                manifest.record(entry)
            # From the first save on, an interruption leaves a manifest behind and says so
            # (before it, nothing was written).
            try:
                manifest.save()
                if plan.scheduler and triage.to_do and runner.workers() == 0:
                    stderr.print(f"automaster: note: no Dask workers at {plan.scheduler} yet; waiting for them")
                with _progress(len(plan.jobs), len(results)) as advance:
                    for result in runner.results(longest_first(triage.to_do)):
                        if result.status == FAILED:
                            result = mf.without_output(result)
                        results[result.mix] = result
                        manifest.record(result)
                        manifest.save()
                        advance()
            except KeyboardInterrupt:
                runner.stop()
                if not plan.scheduler:  # the local workers are gone: what they were writing goes too
                    mf.remove_leftovers(plan.out, [j.output_path.name for j in triage.to_do])
                manifest.save()
                finished = sum(1 for r in results.values() if r.done)
                stderr.print(
                    f"automaster: interrupted; {finished} of {len(plan.jobs)} mixes are done, as "
                    f"{manifest.json_path} lists (run the same command again to finish)"
                )
                raise typer.Exit(EXIT_INTERRUPTED)
    order = {str(j.mix_path): i for i, j in enumerate(plan.jobs)}
    ordered = sorted(results.values(), key=lambda r: order[r.mix])
    _report(ordered, manifest)
    failed = [r for r in ordered if r.status == FAILED]
    if any(r.internal_error for r in failed):
        return EXIT_INTERNAL
    return EXIT_BAD_INPUT if failed else 0


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
        TextColumn("{task.description}", markup=False),
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


def _report(results, manifest) -> None:
    """The table of every mix on stdout; warnings and errors on stderr."""
    from matcher.batch.jobs import FAILED, OK
    from matcher.batch.manifest import reference_label

    table = new_table(f"batch: {manifest.out_dir}")
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
                stderr.print(f"automaster: warning: {r.mix}: {warning}", markup=False, highlight=False, soft_wrap=True)
        if r.status == FAILED:
            stderr.print(f"automaster: error: {r.error}", markup=False, highlight=False, soft_wrap=True)
    counts = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    stdout.print(f"{len(results)} mixes: {summary}; manifest: {manifest.json_path}", markup=False, highlight=False, soft_wrap=True)
