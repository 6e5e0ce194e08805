"""A batch's recipe: the references analysed once, and the fingerprint of the job.

The references are analysed in the batch's own process, two at a time, exactly as
``automaster match`` analyses them (no true peak, no condition: the fit needs neither), and
their :class:`~matcher.analysis.result.Analysis` objects are sent to the workers, which
therefore never read a reference file: on several machines the references need not be
shared, only the mixes and the output folder.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from matcher.analysis.result import Analysis
from matcher.batch.jobs import Recipe
from matcher.fitting.config import FitConfig
from matcher.library.choice import Choice

ANALYSIS_THREADS = 2


def analyse_reference(path: Path, stop: threading.Event | None = None) -> Analysis:
    """Open, validate and analyse one reference as ``match`` does.

    Raises
    ------
    AudioFileError, InvalidAudioError
        Unreadable, too short, silent or only a DC offset (the message names the file).
    """
    from matcher.io.reading import AudioSource, open_audio
    from matcher.jobs import analyze_source, require_audible

    info = open_audio(path)
    analysis = analyze_source(AudioSource(info), true_peak=False, stop=stop, condition=False)
    require_audible(info, analysis)
    return analysis


def analyse_references(paths: Sequence[Path]) -> tuple[Analysis, ...]:
    """Analyse reference files, two at a time; the first failure stops the others."""
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=ANALYSIS_THREADS, thread_name_prefix="automaster-reference") as pool:
        jobs = [pool.submit(analyse_reference, path, stop) for path in paths]
        try:
            return tuple(job.result() for job in jobs)
        except BaseException:
            stop.set()
            for job in jobs:
                job.cancel()
            raise


def make_recipe(
    config: FitConfig,
    reference_paths: Sequence[Path] = (),
    weights: Sequence[float] | None = None,
    choose=None,
    extension: str = ".wav",
) -> Recipe:
    """Analyse the references (or check the chooser's library) and fingerprint the job.

    Raises
    ------
    AutomasterError
        A reference that cannot be used, or a library or style that does not exist.
    """
    references = analyse_references(reference_paths)
    weights = tuple(float(w) for w in weights) if weights is not None else None
    choose = portable_chooser(choose)
    return Recipe(
        config=config,
        references=references,
        reference_names=tuple(p.name for p in reference_paths),
        weights=weights,
        choose=choose,
        fingerprint=fingerprint(config, references, weights, choose, extension),
    )


def fingerprint(
    config: FitConfig,
    references: Sequence[Analysis],
    weights: Sequence[float] | None,
    choose,
    extension: str,
) -> str:
    """Hex sha256 of everything a master depends on besides the mix itself.

    The fitting options, the references' analyses and weights, or what the chooser would
    choose from (its library's profiles, or its style's centre), the output format and the
    version of automaster. Two runs with the same fingerprint on the same mix write the
    same file.
    """
    from matcher import __version__

    described = {
        "automaster": __version__,
        "config": dataclasses.asdict(config),
        "references": [json.loads(a.to_json()) for a in references],
        "weights": list(weights) if weights is not None else None,
        "chooser": describe_chooser(choose),
        "extension": extension,
    }
    text = json.dumps(described, sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NearestChoice:
    """The ``k`` profiles of a library nearest to the mix: what
    :class:`~matcher.library.choice.LibraryChoice` chooses, with the library's search tree
    built once per worker process instead of once per mix.

    Attributes
    ----------
    library_dir : Path or None
        None is the starter library of the automaster that runs the chooser: it ships
        inside the package, so its folder differs from one installation (one machine) to
        the next.
    k : int
    profiles_sha256 : str
        Digest of the library's profiles when the batch began (:func:`library_digest`): a
        long-lived worker (Dask's) builds the tree again for a library that changed.
    """

    library_dir: Path | None
    k: int
    profiles_sha256: str

    def __call__(self, mix: Analysis) -> Choice:
        return _nearest_references(self.library_dir, self.profiles_sha256).query(mix, self.k)


@functools.lru_cache(maxsize=4)
def _nearest_references(library_dir: Path | None, profiles_sha256: str):
    from matcher.library.choice import NearestReferences
    from matcher.library.store import Library, starter_library_dir

    return NearestReferences(Library(library_dir if library_dir is not None else starter_library_dir()))


def library_digest(folder: Path) -> str:
    """Hex sha256 of a library's profiles: names, audio hashes and features.

    Raises
    ------
    LibraryError
        No library in ``folder`` (a missing folder, or not a library), or an empty one.
    """
    from matcher.library.store import Library

    index = Library(folder).require_profiles()
    digest = hashlib.sha256()
    for name, sha256, row in zip(index.names.tolist(), index.sha256.tolist(), index.features):
        digest.update(f"{name}\0{sha256}\0".encode("utf-8"))
        digest.update(row.tobytes())
    return digest.hexdigest()


def portable_chooser(choose):
    """The chooser to send to the workers: library folders made absolute (a Dask worker
    has its own working folder), the starter library found in each worker's own
    installation, a library's search tree built once per worker.

    Raises
    ------
    LibraryError
        An empty or missing library.
    """
    from matcher.library.choice import LibraryChoice, StyleChoice
    from matcher.library.store import starter_library_dir

    if isinstance(choose, LibraryChoice):
        folder = Path(choose.library_dir)
        starter = folder.resolve() == starter_library_dir().resolve()
        return NearestChoice(None if starter else folder.absolute(), choose.k, library_digest(folder))
    if isinstance(choose, StyleChoice):
        return replace(choose, library_dir=Path(choose.library_dir).absolute())
    return choose


def describe_chooser(choose) -> dict | None:
    """What a chooser's choices depend on, checking that it can choose at all.

    Raises
    ------
    LibraryError
        An empty or missing library, or a style the library does not have.
    """
    from matcher.library.choice import LibraryChoice, StyleChoice
    from matcher.library.store import Library

    if isinstance(choose, LibraryChoice):
        choose = portable_chooser(choose)
    if choose is None:
        return None
    if isinstance(choose, NearestChoice):
        where = "starter" if choose.library_dir is None else str(choose.library_dir)
        return {"library": where, "k": choose.k, "profiles": choose.profiles_sha256}
    if isinstance(choose, StyleChoice):
        from matcher.library.styles import find_style

        style = find_style(Library(choose.library_dir), choose.name)
        return {
            "library": str(Path(choose.library_dir).absolute()),
            "style": choose.name,
            "centre": json.loads(style.target.to_json()),
        }
    return {"chooser": repr(choose)}
