"""One batch from start to end: its options checked, the references analysed once, the mixes
not done yet mastered on local processes or Dask, the manifest kept up to date as results
come in. The command line and the Python API both run it; nothing here prints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from matcher.batch.jobs import FAILED, BatchJob, JobResult
from matcher.errors import AudioFileError, UsageError
from matcher.fitting.config import FitConfig
from matcher.notes import NOTE, Note, cut_short_notes
from matcher.options import CLI_NAMES, OptionNames

FORMATS = ("wav", "flac", "aiff")


def default_workers() -> int:
    """The cores this process may run on (a container's or ``taskset``'s share, not the
    machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class BatchPlan:
    """The checked options of one batch."""

    jobs: list[BatchJob]
    refs: list[Path]
    weights: list[float] | None
    choose: object
    out: Path
    workers: int
    scheduler: str | None
    extension: str
    force: bool
    config: FitConfig


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch did: every mix's result in the order given, and the manifest."""

    results: list[JobResult]
    manifest_path: Path

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if r.status == FAILED]


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C once the manifest was written: it lists the ``finished`` of ``total`` mixes."""

    def __init__(self, finished: int, total: int, manifest_path: Path):
        super().__init__(f"{finished} of {total} mixes are done, as {manifest_path} lists")
        self.finished, self.total, self.manifest_path = finished, total, manifest_path


def plan_batch(
    mixes: Sequence[Path],
    out: Path,
    config: FitConfig,
    refs: list[Path],
    weights: list[float] | None,
    choose,
    workers: int | None = None,
    scheduler: str | None = None,
    output_format: str = "wav",
    force: bool = False,
    names: OptionNames = CLI_NAMES,
) -> BatchPlan:
    """Check a batch's options before anything is read or written (a one-line
    :class:`~matcher.errors.UsageError` for a bad one)."""
    from matcher.batch.jobs import OUTPUT_EXTENSIONS, plan_jobs
    from matcher.io.writing import output_format as check_format

    python = names is not CLI_NAMES
    out_name = "out=" if python else "--out"
    workers_name, format_name, scheduler_name = (
        ("workers=", "file_format=", "scheduler=") if python else ("--workers", "--format", "--scheduler")
    )
    if not mixes:
        raise UsageError("no mixes given: automaster batch MIX... --ref REF --out DIR")
    if workers is not None and workers < 1:
        raise UsageError(f"{workers_name} {workers}: at least 1")
    if workers is not None and scheduler is not None:
        raise UsageError(f"{workers_name} is for local processes; with {scheduler_name} the Dask workers do the work")
    fmt = output_format.lower()
    if fmt not in FORMATS:
        raise UsageError(f"{format_name} {output_format!r}: choose {', '.join(FORMATS)}")
    extension = OUTPUT_EXTENSIONS[fmt]
    try:
        check_format(Path(f"x{extension}"), config.output.bit_depth)
    except AudioFileError as exc:  # its message names the file: name the option instead
        raise UsageError(f"{format_name} {fmt}: {str(exc).partition(': ')[2]}") from None
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out_name} {out}: is a file, not a folder")
    parent = out.absolute().parent
    if not out.exists() and not parent.is_dir():
        raise UsageError(f"{out_name} {out}: its folder {parent} does not exist")
    if scheduler is not None:
        from matcher.batch.runner import import_distributed

        import_distributed()
    return BatchPlan(
        jobs=plan_jobs([Path(m) for m in mixes], out, extension, refs),
        refs=refs,
        weights=weights,
        choose=choose,
        out=out.absolute(),
        workers=workers or default_workers(),
        scheduler=scheduler,
        extension=extension,
        force=force,
        config=config,
    )


def run_batch(
    plan: BatchPlan,
    tell: Callable[[Note], None] = lambda note: None,
    started: Callable[[int, int], None] = lambda total, done: None,
    finished: Callable[[JobResult], None] = lambda result: None,
) -> BatchOutcome:
    """Analyse the references, master what is not done yet, keep the manifest.

    ``tell`` receives the notes on the way (references cut short, no Dask worker yet);
    ``started(total, done)`` is called once the mixes already done are known, and
    ``finished`` with every new result.

    Raises
    ------
    BatchInterrupted
        Ctrl-C after the manifest was first written (it lists what finished); a plain
        ``KeyboardInterrupt`` before that, when nothing was written.
    """
    from matcher.batch import manifest as mf
    from matcher.batch.jobs import longest_first
    from matcher.batch.recipe import make_recipe
    from matcher.batch.runner import DaskRunner, LocalRunner

    for note in cut_short_notes(plan.refs):
        tell(note)
    recipe = make_recipe(plan.config, plan.refs, plan.weights, plan.choose, plan.extension)
    runner = DaskRunner(recipe, plan.scheduler) if plan.scheduler else LocalRunner(recipe, plan.workers)
    with runner:  # a scheduler out of reach fails here, before anything is written
        try:
            plan.out.mkdir(exist_ok=True)
        except OSError as exc:
            raise AudioFileError(f"{plan.out}: cannot be created ({exc.strerror})") from None
        with mf.locked(plan.out):
            manifest = mf.Manifest.load(plan.out)
            mf.remove_leftovers(plan.out, [j.output_path.name for j in plan.jobs] + [mf.MANIFEST_JSON, mf.MANIFEST_CSV])
            triage = mf.triage(plan.jobs, manifest, recipe.fingerprint, plan.force)
            results = {r.mix: r for r in triage.skipped + triage.refused}
            for entry in [*triage.skipped, *triage.refused, *mf.pending(triage.to_do, recipe.fingerprint)]:
                manifest.record(entry)
            # From the first save on, an interruption leaves a manifest behind and says so.
            try:
                manifest.save()
                if plan.scheduler and triage.to_do and runner.workers() == 0:
                    tell(Note(NOTE, "", f"no Dask workers at {plan.scheduler} yet; waiting for them"))
                started(len(plan.jobs), len(results))
                for result in runner.results(longest_first(triage.to_do)):
                    if result.status == FAILED:
                        result = mf.without_output(result)
                    results[result.mix] = result
                    manifest.record(result)
                    manifest.save()
                    finished(result)
            except KeyboardInterrupt:
                runner.stop()
                if not plan.scheduler:  # the local workers are gone: what they were writing goes too
                    mf.remove_leftovers(plan.out, [j.output_path.name for j in triage.to_do])
                manifest.save()
                done = sum(1 for r in results.values() if r.done)
                raise BatchInterrupted(done, len(plan.jobs), manifest.json_path) from None
    order = {str(j.mix_path): i for i, j in enumerate(plan.jobs)}
    return BatchOutcome(sorted(results.values(), key=lambda r: order[r.mix]), manifest.json_path)
