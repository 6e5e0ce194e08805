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
        n = min(k + 1, len(self.index))  # one more, in case the nearest is the mix itself
        distances, rows = self._model.kneighbors(self.standardise(features(mix))[None, :], n_neighbors=n)
        distances, rows = distances[0], rows[0]
        itself = distances < SAME_AUDIO_DISTANCE
        if np.all(itself):
            raise LibraryError(f"{self.library.root}: the library holds nothing but the mix itself")
        distances, rows = distances[~itself][:k], rows[~itself][:k]
        names = tuple(str(self.index.names[r]) for r in rows)
        return Choice(
            names=names,
            weights=tuple(closeness_weights(distances).tolist()),
            distances=tuple(distances.tolist()),
            analyses=tuple(self.library.get(name).analysis for name in names),
            how=f"the {len(names)} nearest of {len(self.index)} in {_library_label(self.library.root)}",
        )


@dataclass(frozen=True)
class LibraryChoice:
    """The ``k`` profiles of a library nearest to the mix, weighted by closeness: Euclidean
    distance between standardised features (see :class:`NearestReferences`)."""

    library_dir: Path
    k: int = 3

    def __call__(self, mix: Analysis) -> Choice:
        return NearestReferences(Library(self.library_dir)).query(mix, self.k)


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


def _library_label(folder: Path) -> str:
    if is_starter_library(folder):
        return "the starter library (no --ref given; see matcher/references/README.md)"
    return str(folder)
