"""The manifest of a batch's output folder, and how a batch resumes from it.

``OUT/manifest.json`` lists every mix the folder's batches were given: its status, the
references it was matched to, what its master measures, and what a later run needs to tell
whether the master is complete and still the one asked for (the mix's sha256, the job's
fingerprint, the master's frame count and size). ``OUT/manifest.csv`` holds the same rows
for a spreadsheet. Both are rewritten atomically after every mix, so that a batch stopped
at any moment (Ctrl-C, a crash, ``kill -9``) leaves a manifest of what was finished.

Before a run submits anything it lists its mixes as ``pending``: the masters the manifest
lists are the batch's own, and a later run may replace them; a file of the same name the
manifest does not list is someone else's, and is replaced only with ``--force``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from matcher.batch.jobs import FAILED, PENDING, BatchJob, JobResult
from matcher.errors import AudioFileError, OutputExistsError, SettingsError
from matcher.io.writing import write_text_atomic
from matcher.serialization import from_json, to_json

MANIFEST_JSON = "manifest.json"
MANIFEST_CSV = "manifest.csv"
LOCK_NAME = ".automaster-batch.lock"
TEMPORARY_SUFFIX = ".tmp"
"""The atomic writers' temporary files are ``.<name>.<random>.tmp`` beside ``<name>``."""

CSV_COLUMNS = (
    "file", "reference", "output_lufs", "true_peak_dbtp", "time_s", "status", "mix", "output", "mix_sha256", "error",
)


@dataclass(frozen=True)
class ManifestFile:
    """``manifest.json``: one :class:`~matcher.batch.jobs.JobResult` per mix."""

    SCHEMA_VERSION = 1

    automaster_version: str
    updated: str
    mixes: tuple[JobResult, ...]
    schema_version: int = SCHEMA_VERSION


class Manifest:
    """The manifest of one output folder, held in memory; :meth:`save` writes it out.

    Parameters
    ----------
    out_dir : path
    entries : iterable of JobResult
        One per mix (the last one wins).
    """

    def __init__(self, out_dir: Path, entries: Iterable[JobResult] = ()):
        self.out_dir = Path(out_dir)
        self._entries: dict[str, JobResult] = {e.mix: e for e in entries}
        self._outputs = {e.output for e in self._entries.values()}

    @property
    def json_path(self) -> Path:
        return self.out_dir / MANIFEST_JSON

    @property
    def csv_path(self) -> Path:
        return self.out_dir / MANIFEST_CSV

    @classmethod
    def load(cls, out_dir: Path) -> Manifest:
        """The folder's manifest; an empty one when there is none yet.

        Raises
        ------
        SettingsError
            A ``manifest.json`` that is not one (nothing is overwritten then).
        """
        path = Path(out_dir) / MANIFEST_JSON
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(out_dir)
        except (OSError, UnicodeDecodeError) as exc:
            raise AudioFileError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        try:
            stored = from_json(ManifestFile, text, str(path))
        except SettingsError as exc:
            raise SettingsError(f"{exc} (not a batch manifest? remove it, or choose another --out folder)") from None
        return cls(out_dir, stored.mixes)

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[JobResult]:
        return list(self._entries.values())

    def get(self, mix: Path) -> JobResult | None:
        return self._entries.get(str(mix))

    def owns(self, output: Path) -> bool:
        """Whether ``output`` is a master a batch of this folder was asked to write."""
        return str(output) in self._outputs

    def record(self, result: JobResult) -> None:
        self._entries[result.mix] = result
        self._outputs.add(result.output)

    def save(self) -> None:
        """Rewrite ``manifest.json`` and ``manifest.csv`` atomically."""
        from matcher import __version__

        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        write_text_atomic(self.json_path, to_json(ManifestFile(__version__, stamp, tuple(self._entries.values()))))
        write_text_atomic(self.csv_path, csv_text(self._entries.values()))


def csv_text(results: Iterable[JobResult]) -> str:
    """The manifest as CSV: the final table's columns, then paths, sha256 and error."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        writer.writerow(
            [
                Path(r.mix).name,
                reference_label(r),
                _number(r.output_lufs, 2),
                _number(r.output_true_peak_dbtp, 2),
                _number(r.time_s, 2),
                r.status,
                r.mix,
                r.output,
                r.mix_sha256 or "",
                r.error or "",
            ]
        )
    return buffer.getvalue()


def reference_label(result: JobResult) -> str:
    """``ref.wav``, or ``a.wav 70 %, b.wav 30 %`` for a blend."""
    if len(result.references) == 1:
        return result.references[0]
    return ", ".join(f"{name} {100 * w:.0f} %" for name, w in zip(result.references, result.weights))


def _number(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


# --- resuming --------------------------------------------------------------------------


@dataclass(frozen=True)
class Triage:
    """A run's mixes sorted before anything is submitted.

    Attributes
    ----------
    skipped : list of JobResult
        Mastered by an earlier run of the same job, master complete: ``skipped: done``.
    refused : list of JobResult
        Failed at once: a file of the master's name that the manifest does not list.
    to_do : list of BatchJob
    """

    skipped: list[JobResult]
    refused: list[JobResult]
    to_do: list[BatchJob]


def triage(jobs: Sequence[BatchJob], manifest: Manifest, fingerprint: str, force: bool = False) -> Triage:
    """Which mixes are done, which may not be written, and which to master.

    A mix is done when the manifest lists it ``ok`` (or ``skipped: done``) with the same
    fingerprint, the same output path and the sha256 of the mix as it is now, and its master
    is there with the frame count and size the manifest recorded. ``force`` redoes every mix
    and replaces any file in the way.
    """
    skipped: list[JobResult] = []
    refused: list[JobResult] = []
    to_do: list[BatchJob] = []
    for job in jobs:
        entry = manifest.get(job.mix_path)
        if not force and entry is not None and is_complete(job, entry, fingerprint):
            skipped.append(entry.as_skipped())
        elif not force and job.output_path.exists() and not manifest.owns(job.output_path):
            error = OutputExistsError(
                f"{job.output_path}: already exists and is not listed in {manifest.json_path} "
                "(use --force to overwrite)"
            )
            refused.append(JobResult(str(job.mix_path), str(job.output_path), FAILED, fingerprint, error=str(error)))
        else:
            to_do.append(job)
    return Triage(skipped, refused, to_do)


def is_complete(job: BatchJob, entry: JobResult, fingerprint: str) -> bool:
    """Whether ``entry`` describes a finished master of this job that is still there, whole."""
    import soundfile as sf

    from matcher.library.store import file_sha256

    if not (entry.done and entry.fingerprint == fingerprint and entry.output == str(job.output_path)):
        return False
    try:
        if job.output_path.stat().st_size != entry.output_bytes:
            return False
        frames = sf.info(str(job.output_path)).frames
        mix_frames = sf.info(str(job.mix_path)).frames
        return frames == entry.frames == mix_frames and file_sha256(job.mix_path) == entry.mix_sha256
    except (OSError, RuntimeError):  # gone, unreadable, not audio (soundfile's errors derive from these)
        return False


def pending(jobs: Iterable[BatchJob], fingerprint: str) -> list[JobResult]:
    """Entries for jobs about to be submitted."""
    return [JobResult(str(j.mix_path), str(j.output_path), PENDING, fingerprint) for j in jobs]


def without_output(result: JobResult) -> JobResult:
    """A failed result whose stale master (an earlier job's) has been removed."""
    with contextlib.suppress(OSError):
        Path(result.output).unlink(missing_ok=True)
    return replace(result, frames=None, output_bytes=None)


def remove_leftovers(folder: Path, names: Iterable[str]) -> list[Path]:
    """Remove the temporary files a stopped writer left for any of ``names`` in ``folder``.

    A worker killed while writing (``kill -9``, a lost machine) leaves its
    ``.<name>.<random>.tmp``; nothing else is touched. Returns the removed paths.
    """
    wanted = set(names)
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        if not (entry.startswith(".") and entry.endswith(TEMPORARY_SUFFIX)):
            continue
        name = entry[1 : -len(TEMPORARY_SUFFIX)].rpartition(".")[0]
        if name in wanted:
            path = Path(folder) / entry
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """Hold the output folder for one batch at a time (an advisory lock, where there are any).

    Raises
    ------
    AudioFileError
        Another batch is running into the folder, or it cannot be written.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    path = Path(out_dir) / LOCK_NAME
    try:
        handle = open(path, "a")
    except OSError as exc:
        raise AudioFileError(f"{out_dir}: cannot be written ({exc.strerror})") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AudioFileError(f"{out_dir}: another batch is writing into this folder") from None
        except OSError:
            pass  # a file system without locks (some network mounts): go on unlocked
        yield
