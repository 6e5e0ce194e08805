"""One mix of a batch: what a worker is sent, what it does, and what it sends back.

A worker gets the batch's :class:`Recipe` once (the references already analysed, or a
chooser, and the fitting options) and a :class:`BatchJob` per mix. :func:`master_one` runs
the same :func:`~matcher.jobs.master_file` as ``automaster match``, so a batch's master
is bit for bit the master ``match`` writes, and returns a :class:`JobResult` whatever
happens to the mix: one bad file never stops a batch. Everything here pickles, so that it
can be sent to another process or another machine.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from matcher.analysis.result import Analysis
from matcher.errors import AudioFileError, AutomasterError
from matcher.fitting.config import FitConfig
from matcher.library.choice import Choice

if TYPE_CHECKING:
    from matcher.jobs import Chooser

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped: done"
PENDING = "pending"
"""Submitted and not finished: the batch was interrupted while the mix was being mastered."""
DONE = (OK, SKIPPED)

OUTPUT_SUFFIX = "_master"
OUTPUT_EXTENSIONS = {"wav": ".wav", "flac": ".flac", "aiff": ".aiff"}


@dataclass(frozen=True)
class Recipe:
    """What every mix of a batch shares.

    Attributes
    ----------
    config : FitConfig
    references : tuple of Analysis
        The references, analysed once by the batch; empty when ``choose`` picks them.
    reference_names : tuple of str
        Their file names, for the manifest.
    weights : tuple of float or None
        Their blend weights (fractions summing to 1); None for an equal blend.
    choose : callable or None
        Picks references per mix from its analysis (a
        :class:`~matcher.library.choice.LibraryChoice` or
        :class:`~matcher.library.choice.StyleChoice`); used when there are no references.
    fingerprint : str
        Hex digest of all of the above and the output format: a master made with another
        fingerprint is another job's (see :func:`matcher.batch.recipe.fingerprint`).
    """

    config: FitConfig
    references: tuple[Analysis, ...]
    reference_names: tuple[str, ...]
    weights: tuple[float, ...] | None
    choose: Chooser | None
    fingerprint: str


@dataclass(frozen=True)
class BatchJob:
    """One mix and where its master goes (absolute paths: the same on every machine)."""

    mix_path: Path
    output_path: Path


@dataclass(frozen=True)
class JobResult:
    """What became of one mix; one entry of the manifest.

    Attributes
    ----------
    mix, output : str
        Absolute paths of the mix and of its master.
    status : str
        ``ok``, ``failed``, ``skipped: done`` (mastered by an earlier run of the same
        batch) or ``pending`` (the run stopped while the mix was being mastered).
    fingerprint : str
        Of the job (:attr:`Recipe.fingerprint`).
    mix_sha256 : str or None
        Of the mix's bytes, as mastered.
    references, weights : tuple
        The references the master matches and their blend weights (fractions).
    how : str or None
        How a chooser picked them (None for references given).
    output_lufs, output_true_peak_dbtp : float or None
        Measured on the written master (ITU-R BS.1770-4; 4x oversampled true peak).
    frames : int or None
        Length of the mix and of its master, in sample frames.
    output_bytes : int or None
        Size of the master file: with ``frames``, how a later run tells a complete master.
    time_s : float or None
        Wall time the worker spent on the mix.
    error : str or None
        One line naming the file and the problem, for a failed mix.
    internal_error : bool
        The failure is a defect of automaster, not of the input.
    warnings : tuple of str
        About the mix (clipped, already limited...) and the master (target out of reach).
    worker : str or None
        ``host:pid`` of the process that mastered it.
    """

    mix: str
    output: str
    status: str
    fingerprint: str
    mix_sha256: str | None = None
    references: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    how: str | None = None
    output_lufs: float | None = None
    output_true_peak_dbtp: float | None = None
    frames: int | None = None
    output_bytes: int | None = None
    time_s: float | None = None
    error: str | None = None
    internal_error: bool = False
    warnings: tuple[str, ...] = ()
    worker: str | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE

    def as_skipped(self) -> JobResult:
        return replace(self, status=SKIPPED)


def output_for(mix_path: Path, out_dir: Path, extension: str) -> Path:
    """``OUT/<mix stem>_master.<extension>``."""
    return out_dir / f"{mix_path.stem}{OUTPUT_SUFFIX}{extension}"


def plan_jobs(
    mix_paths: Sequence[Path], out_dir: Path, extension: str, references: Sequence[Path] = ()
) -> list[BatchJob]:
    """A job per mix, paths made absolute; a mix given twice counts once.

    Raises
    ------
    AudioFileError
        Two mixes whose masters would have the same name (the same stem in two folders),
        or a master that would be written over one of the mixes or ``references``.
    """
    out_dir = out_dir.absolute()
    jobs: dict[Path, BatchJob] = {}
    by_output: dict[Path, Path] = {}
    for given in mix_paths:
        mix = given.absolute()
        if mix in jobs:
            continue
        output = output_for(mix, out_dir, extension)
        if output in by_output:
            raise AudioFileError(
                f"{by_output[output]} and {mix} would both be mastered to {output}; "
                "master them into different --out folders"
            )
        by_output[output] = mix
        jobs[mix] = BatchJob(mix, output)
    inputs = {source: source for source in [*jobs, *(r.absolute() for r in references)]}
    for source in list(inputs):  # the same file under another name (a link) too
        with contextlib.suppress(OSError):
            stat = source.stat()
            inputs[(stat.st_dev, stat.st_ino)] = source
    for job in jobs.values():
        clash = inputs.get(job.output_path)
        with contextlib.suppress(OSError):
            stat = job.output_path.stat()
            clash = clash or inputs.get((stat.st_dev, stat.st_ino))
        if clash is not None:
            raise AudioFileError(f"{job.output_path}: is an input file ({clash}); choose another --out folder")
    return list(jobs.values())


def longest_first(jobs: Sequence[BatchJob]) -> list[BatchJob]:
    """Jobs in order of decreasing mix length (frames; unreadable files last), so that the
    last mixes to finish are short ones and no worker waits long for the others at the end.
    """
    import soundfile as sf

    def frames(job: BatchJob) -> int:
        try:
            return sf.info(str(job.mix_path)).frames
        except (OSError, RuntimeError):  # the worker will say what is wrong with it
            return -1

    return sorted(jobs, key=frames, reverse=True)


def master_one(job: BatchJob, recipe: Recipe, overlap: bool | None = None) -> JobResult:
    """Master one mix as ``automaster match`` would; never raises for a bad input.

    The master is written atomically (it appears complete, or not at all) over whatever
    the batch decided may be replaced. A package error gives a ``failed`` result with its
    one-line message; any other exception too, flagged as internal, so that a defect met by
    one mix does not stop the others. Ctrl-C (``KeyboardInterrupt``) is let through.
    ``overlap``, when given, says whether the engine overlaps its stages on threads
    (:func:`matcher.concurrency.stages_overlapped`; the master is the same either way).
    """
    from matcher.concurrency import stages_overlapped

    if overlap is None:
        return _master_one(job, recipe)
    with stages_overlapped(overlap):
        return _master_one(job, recipe)


def _master_one(job: BatchJob, recipe: Recipe) -> JobResult:
    from matcher.jobs import master_file
    from matcher.library.store import file_sha256

    start = time.perf_counter()
    base = JobResult(str(job.mix_path), str(job.output_path), FAILED, recipe.fingerprint, worker=_worker_name())
    try:
        sha256 = file_sha256(job.mix_path)
    except OSError:
        sha256 = None  # master_file names the problem
    base = replace(base, mix_sha256=sha256)
    if recipe.choose is None:
        references, weights, _ = _used(recipe, None)
        base = replace(base, references=references, weights=weights)
    try:
        mastered = master_file(
            job.mix_path,
            recipe.references,
            job.output_path,
            recipe.config,
            force=True,
            weights=recipe.weights,
            choose=recipe.choose,
        )
        references, weights, how = _used(recipe, mastered.choice)
        report = mastered.report
        return replace(
            base,
            status=OK,
            references=references,
            weights=weights,
            how=how,
            output_lufs=_finite(report.output_lufs),
            output_true_peak_dbtp=_finite(report.output_true_peak_dbtp),
            frames=_frames(job.output_path),
            output_bytes=job.output_path.stat().st_size,
            time_s=time.perf_counter() - start,
            warnings=_warnings(job.mix_path, mastered),
        )
    except AutomasterError as exc:
        return replace(base, error=str(exc), time_s=time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - isolated: the batch goes on, the result says what
        message = f"{job.mix_path}: internal error: {type(exc).__name__}: {exc}"
        return replace(base, error=message, internal_error=True, time_s=time.perf_counter() - start)


def _used(recipe: Recipe, choice: Choice | None) -> tuple[tuple[str, ...], tuple[float, ...], str | None]:
    if choice is not None:
        return choice.names, tuple(choice.weights), choice.how
    n = len(recipe.reference_names)
    weights = recipe.weights if recipe.weights is not None else (1.0,) * n
    total = sum(weights)
    return recipe.reference_names, tuple(w / total for w in weights), None


def _frames(path: Path) -> int:
    import soundfile as sf

    return int(sf.info(str(path)).frames)


def _warnings(mix_path: Path, mastered) -> tuple[str, ...]:
    """The warnings ``match`` would print about this mix and its master."""
    from matcher.notes import WARNING, mastered_notes

    notes = mastered_notes(mix_path, (), mastered)
    return tuple(note.text for note in notes if note.kind == WARNING)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
