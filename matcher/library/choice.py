"""Which references a mix is matched to: the nearest ones in a library, or a style's centre.

A chooser is a small frozen object, callable with the mix's :class:`Analysis`, that returns a
:class:`Choice`. It holds only a folder and a number or a name, so that it can be sent to
another process or machine (a batch worker) and do its work there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matcher.analysis.result import Analysis
from matcher.errors import LibraryError
from matcher.library.features import Standardiser, features
from matcher.library.store import Library, is_starter_library
from matcher.library.styles import find_style

CLOSENESS_FLOOR = 0.05
"""Added to every distance (standardised units) before weighting by its inverse, so that a
reference identical to the mix weighs much more than the others, not everything."""

SAME_AUDIO_DISTANCE = 1e-4
"""Distances below this are the mix's own profile."""


@dataclass(frozen=True)
class Choice:
    """The references a mix is matched to, and why.

    Attributes
    ----------
    names : tuple of str
    weights : tuple of float
        Relative weights in the blend, summing to 1.
    distances : tuple of float or None
        Distance of each from the mix in standardised feature units; None for references
        given by hand.
    analyses : tuple of Analysis
    how : str
        One line on how they were chosen.
    """

    names: tuple[str, ...]
    weights: tuple[float, ...]
    distances: tuple[float, ...] | None
    analyses: tuple[Analysis, ...]
    how: str


def closeness_weights(distances: Sequence[float]) -> np.ndarray:
    """Blend weights from distances: inversely proportional to ``distance + CLOSENESS_FLOOR``."""
    w = 1.0 / (np.asarray(distances, dtype=np.float64) + CLOSENESS_FLOOR)
    return w / w.sum()


class NearestReferences:
    """A library's profiles ready to be searched: standardised, in a scikit-learn
    ``NearestNeighbors`` k-d tree (built in about 0.3 s for 10^5 profiles, then about a
    millisecond a query; its brute force takes 100 ms a query at that size, as the
    ``auto`` choice would for 19 features).

    Parameters
    ----------
    library : Library
        Not empty.
    """

    def __init__(self, library: Library):
        from sklearn.neighbors import NearestNeighbors

        self.library = library
        self.index = library.require_profiles()
        self.standardise = Standardiser(self.index.features)
        self._model = NearestNeighbors(algorithm="kd_tree").fit(self.standardise(self.index.features))

    def query(self, mix: Analysis, k: int) -> Choice:
        """The ``k`` profiles nearest to ``mix``, weighted by closeness (the mix's own profile,
        if the library holds it, left out)."""
        point = self.standardise(features(mix))
        names, distances = self._nearest(point, point[None, :], k, "the mix itself")
        how = f"the {len(names)} nearest of {len(self.index)} in {_library_label(self.library.root)}"
        return self._choice(names, distances, how)

    def query_songs(
        self, songs: Sequence[Analysis], k: int, weights: Sequence[float] | None = None, exclude_sha256: Sequence[str] = ()
    ) -> Choice:
        """The ``k`` profiles nearest to the centre of several songs (an album's), weighted by
        closeness to it; none of the songs' own profiles.

        The centre is the songs' mean in the standardised feature space (weighted by
        ``weights``, e.g. their lengths): the profiles nearest to it are those with the
        smallest mean squared distance to the songs, since for any point ``r``,
        ``sum_i w_i |r - s_i|^2 = |r - c|^2 + sum_i w_i |c - s_i|^2`` with ``sum_i w_i = 1``.
        Distances are to the centre. A profile is the songs' own when its features are
        those of a song, or its file's sha256 is in ``exclude_sha256`` (the songs' files: a
        song trimmed for the album no longer has quite the features of its file).
        """
        if not songs:
            raise ValueError("query_songs needs at least one song")
        points = np.array([self.standardise(features(song)) for song in songs])
        w = np.ones(len(songs)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(songs),) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("weights must be one non-negative number per song, not all zero")
        centre = (w / w.sum()) @ points
        names, distances = self._nearest(centre, points, k, "the album's own songs", set(exclude_sha256))
        return self._choice(
            names,
            distances,
            f"the {len(names)} nearest of {len(self.index)} in {_library_label(self.library.root)} to the album's "
            f"{len(songs)} song{'s' * (len(songs) != 1)} taken together (their centre, each song weighted by its length)",
        )

    def _nearest(
        self, point: np.ndarray, own: np.ndarray, k: int, what: str, own_sha256: set[str] = frozenset()
    ) -> tuple[tuple[str, ...], np.ndarray]:
        """Names and distances of the ``k`` profiles nearest to ``point`` (standardised),
        leaving out the audio being matched if the library holds it: profiles within
        ``SAME_AUDIO_DISTANCE`` of one of the ``own`` points, or of a file in ``own_sha256``."""
        hashed = int(np.isin(self.index.sha256, list(own_sha256)).sum()) if own_sha256 else 0
        n = min(k + own.shape[0] + hashed, len(self.index))  # room for every own profile among the nearest
        distances, rows = self._model.kneighbors(point[None, :], n_neighbors=n)
        distances, rows = distances[0], rows[0]
        found = self.standardise(self.index.features[rows])
        itself = np.any(np.linalg.norm(found[:, None, :] - own[None, :, :], axis=2) < SAME_AUDIO_DISTANCE, axis=1)
        if own_sha256:
            itself |= np.isin(self.index.sha256[rows], list(own_sha256))
        if np.all(itself):
            raise LibraryError(f"{self.library.root}: the library holds nothing but {what}")
        distances, rows = distances[~itself][:k], rows[~itself][:k]
        return tuple(str(self.index.names[r]) for r in rows), distances

    def _choice(self, names: tuple[str, ...], distances: np.ndarray, how: str) -> Choice:
        return Choice(
            names=names,
            weights=tuple(closeness_weights(distances).tolist()),
            distances=tuple(distances.tolist()),
            analyses=tuple(self.library.get(name).analysis for name in names),
            how=how,
        )


@dataclass(frozen=True)
class LibraryChoice:
    """The ``k`` profiles of a library nearest to the mix, weighted by closeness: Euclidean
    distance between standardised features (see :class:`NearestReferences`)."""

    library_dir: Path
    k: int = 3

    def __call__(self, mix: Analysis) -> Choice:
        return NearestReferences(Library(self.library_dir)).query(mix, self.k)

    def for_songs(
        self, songs: Sequence[Analysis], weights: Sequence[float] | None = None, exclude_sha256: Sequence[str] = ()
    ) -> Choice:
        """One choice for several songs (an album): the ``k`` profiles nearest to their
        centre, none of them the songs' own (see :meth:`NearestReferences.query_songs`)."""
        return NearestReferences(Library(self.library_dir)).query_songs(songs, self.k, weights, exclude_sha256)

    def check(self) -> None:
        """Raise :class:`LibraryError` now if the library cannot be chosen from (missing or
        empty), before the songs are analysed."""
        NearestReferences(Library(self.library_dir))


@dataclass(frozen=True)
class StyleChoice:
    """The centre of one of a library's styles (see :mod:`matcher.library.styles`)."""

    library_dir: Path
    name: str

    def __call__(self, mix: Analysis) -> Choice:
        style = find_style(Library(self.library_dir), self.name)
        where = " of the starter library" if is_starter_library(self.library_dir) else ""
        n = len(style.members)
        members = f"{n} reference{'s' if n != 1 else ''}: {', '.join(style.members)}"
        return Choice(
            names=(f"style {style.name}",),
            weights=(1.0,),
            distances=None,
            analyses=(style.target,),
            how=f"the centre of style {style.name!r}{where} ({members})",
        )

    def for_songs(
        self, songs: Sequence[Analysis], weights: Sequence[float] | None = None, exclude_sha256: Sequence[str] = ()
    ) -> Choice:
        """One choice for several songs: the style's centre, whatever the songs."""
        return self(songs[0])

    def check(self) -> None:
        """Raise :class:`LibraryError` now if the library has no such style."""
        from matcher.library.styles import load_styles

        load_styles(Library(self.library_dir)).get(self.name)


def _library_label(folder: Path) -> str:
    if is_starter_library(folder):
        return "the starter library (no --ref given; see models/starter/README.md)"
    return str(folder)
