"""Styles: groups of similar references in a library, each with a centre to match toward.

The profiles' standardised features are clustered with scikit-learn's k-means (the number
of groups chosen by the silhouette score when not given). Each group is named after what
sets its centre apart from the library (``loud-bright``, ``dynamic-wide``...), and its
centre is the blend of its members' analyses (:func:`matcher.analysis.combine.combine`),
which ``match --style NAME`` matches toward. Saved as ``styles.json`` in the library.

Removing a profile or analysing it again (``library rescan``) does not group the library
again: each style keeps its name and its other members, and its centre is made again from
the members left (:func:`restyle`); a style left with no members is dropped. Grouping again
would rename and reshuffle styles a user has chosen by name; ``library styles`` does that
when asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from matcher.analysis.combine import combine
from matcher.analysis.result import Analysis
from matcher.errors import LibraryError
from matcher.io.writing import write_text_atomic
from matcher.library.features import FEATURE_NAMES, GROUPS, Standardiser
from matcher.library.store import (
    Library,
    default_library_dir,
    is_starter_library,
    starter_library_dir,
    today,
    unique_name,
)
from matcher.serialization import from_json, to_json

MAX_STYLES = 8
DESCRIBED_Z = 0.5
"""How far (in library standard deviations) a centre must stand out for a word of its name."""


@dataclass(frozen=True)
class Style:
    """One group of references.

    Attributes
    ----------
    name : str
    members : tuple of str
        Profile names.
    centre_features : tuple of float
        Mean feature vector of the members (``FEATURE_NAMES``; dB, LU).
    target : Analysis
        The members' blend: what ``match --style`` matches toward.
    """

    name: str
    members: tuple[str, ...]
    centre_features: tuple[float, ...]
    target: Analysis


@dataclass(frozen=True)
class StyleSpace:
    """The standardised feature space the styles were grouped in, ``z = (x - mean) / scale``
    (the library's :class:`~matcher.library.features.Standardiser` when they were made):
    with the centres, the whole of the style model."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def of(cls, standardiser: Standardiser) -> StyleSpace:
        return cls(tuple(standardiser.mean.tolist()), tuple(standardiser.scale.tolist()))

    def __call__(self, x) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)


@dataclass(frozen=True)
class StyleSet:
    """A library's styles, as saved in ``styles.json``: the groups, their centres, and the
    space they were grouped in (``space``; None in styles saved before it was kept)."""

    SCHEMA_VERSION = 1

    made: str
    feature_names: tuple[str, ...]
    styles: tuple[Style, ...]
    schema_version: int = SCHEMA_VERSION
    space: StyleSpace | None = None

    def get(self, name: str, where: str = "the library") -> Style:
        """The style called ``name``; ``where`` names the library in the error."""
        for style in self.styles:
            if style.name == name:
                return style
        known = ", ".join(s.name for s in self.styles)
        raise LibraryError(f"{where} has no style named {name!r}; its styles are: {known}")

    def to_json(self) -> str:
        return to_json(self)

    @classmethod
    def from_json(cls, text: str, what: str = "styles JSON") -> StyleSet:
        return from_json(cls, text, what)


def make_styles(library: Library, n_styles: int | None = None, seed: int = 0) -> StyleSet:
    """Cluster a library's profiles into styles.

    Parameters
    ----------
    library : Library
        At least two profiles.
    n_styles : int, optional
        Number of styles; by default the count from 2 to 8 with the best silhouette score.
    seed : int
        Seed of k-means' initialisation: the same library gives the same styles.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    index = library.index()
    n = len(index)
    if n < 2:
        raise LibraryError(f"{library.root}: styles need at least 2 profiles; the library has {n}")
    if n_styles is not None and not 1 <= n_styles <= n:
        raise LibraryError(f"{n_styles} styles asked of a library of {n} profiles")
    standardiser = Standardiser(index.features)
    z = standardiser(index.features)

    def cluster(k: int) -> np.ndarray:
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)

    if n_styles is not None:
        labels = cluster(n_styles)
    else:
        candidates = range(2, min(MAX_STYLES, n - 1) + 1)
        scored = [(silhouette_score(z, labels), labels) for labels in map(cluster, candidates)]
        labels = max(scored, key=lambda s: s[0])[1] if scored else np.zeros(n, dtype=int)
    z_groups = _group_scores(z)
    taken: set[str] = set()
    styles = []
    for label in sorted(set(labels.tolist()), key=lambda lab: -np.sum(labels == lab)):
        rows = np.flatnonzero(labels == label)
        name = unique_name(_describe(z_groups[rows].mean(axis=0)), taken)
        taken.add(name)
        styles.append(_style(library, name, tuple(str(index.names[r]) for r in rows)))
    return StyleSet(made=today(), feature_names=FEATURE_NAMES, styles=tuple(styles), space=StyleSpace.of(standardiser))


def nearest_style(styles: StyleSet, analysis: Analysis) -> tuple[Style, float]:
    """The style whose centre is nearest to a track, and how far (standardised units), by the
    style model alone (its space and centres): what ``--style`` would best suit.

    Raises
    ------
    LibraryError
        Styles saved before their space was kept (remake them: ``library styles``).
    """
    from matcher.library.features import features

    if styles.space is None:
        raise LibraryError("these styles were saved without their feature space (remake them: automaster library styles)")
    point = styles.space(features(analysis))
    distances = [float(np.linalg.norm(styles.space(s.centre_features) - point)) for s in styles.styles]
    best = int(np.argmin(distances))
    return styles.styles[best], distances[best]


def _style(library: Library, name: str, members: tuple[str, ...]) -> Style:
    """The style ``name`` of these members: their mean features and their blend."""
    index = library.index()
    rows = [index.row(m) for m in members]
    return Style(
        name=name,
        members=members,
        centre_features=tuple(np.round(index.features[rows].mean(axis=0), 3).tolist()),
        target=combine([library.get(m).analysis for m in members]),
    )


@dataclass(frozen=True)
class Restyled:
    """A style that :func:`restyle` changed.

    Attributes
    ----------
    name : str
    members : tuple of str
        The members left; empty when the style was dropped.
    """

    name: str
    members: tuple[str, ...]


def restyle(library: Library, changed: Iterable[str] = ()) -> tuple[Restyled, ...]:
    """Bring a library's styles in step with its profiles, without grouping them again.

    Members no longer in the library leave their style; a style that lost a member, or
    has a member named in ``changed`` (analysed again), gets its centre and blend made
    again from its members. A style with no members left is dropped, and ``styles.json``
    with the last one (``--style`` then falls back as it does for a library without
    styles). Styles made by another version are left alone: :func:`load_styles` refuses
    them anyway.

    Parameters
    ----------
    library : Library
    changed : iterable of str
        Profiles whose analysis changed since the styles were made.

    Returns
    -------
    tuple of Restyled
        The styles changed, in their order.
    """
    path = library.styles_path
    if not path.is_file():
        return ()
    styles = _read_styles(library)
    if styles.feature_names != FEATURE_NAMES:
        return ()
    present = set(library.names())
    changed = set(changed)
    kept, changes = [], []
    for style in styles.styles:
        members = tuple(m for m in style.members if m in present)
        if members == style.members and not changed.intersection(members):
            kept.append(style)
            continue
        changes.append(Restyled(style.name, members))
        if members:
            kept.append(_style(library, style.name, members))
    if kept and changes:
        save_styles(library, replace(styles, styles=tuple(kept)))
    elif changes:
        path.unlink()
    return tuple(changes)


def save_styles(library: Library, styles: StyleSet) -> None:
    write_text_atomic(library.styles_path, styles.to_json())


def load_styles(library: Library) -> StyleSet:
    """The styles saved in a library, every member of which is one of its profiles.

    Raises
    ------
    LibraryError
        No library there, no styles yet, styles of another version, or a member no longer
        in the library (a profile deleted by hand).
    """
    present = set(library.index().names.tolist())
    if not library.styles_path.is_file():
        raise LibraryError(f"{library.root}: no styles yet (make them: automaster library styles)")
    styles = _read_styles(library)
    path = library.styles_path
    if styles.feature_names != FEATURE_NAMES:
        raise LibraryError(f"{path}: made by another version (remake them: automaster library styles)")
    for style in styles.styles:
        gone = [m for m in style.members if m not in present]
        if gone:
            raise LibraryError(
                f"{path}: style {style.name!r} holds {gone[0]!r}, which is no longer in the library "
                "(remake the styles: automaster library styles)"
            )
    return styles


def find_style(library: Library, name: str) -> Style:
    """The style called ``name`` in a library."""
    where = "the starter library" if is_starter_library(library.root) else str(library.root)
    return load_styles(library).get(name, where)


def style_library_dir(folder: Path | None) -> Path:
    """The library whose styles ``--style`` names: ``folder`` when given; else the per-user
    library once it has styles, else the starter library (``library styles`` lists the
    same ones)."""
    if folder is not None:
        return Path(folder)
    own = Library(default_library_dir())
    return own.root if own.styles_path.is_file() else starter_library_dir()


def _read_styles(library: Library) -> StyleSet:
    path = library.styles_path
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LibraryError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    return StyleSet.from_json(text, str(path))


# Words for what sets a centre apart: (score, word when high, word when low).
_WORDS = ("loudness", "loud", "quiet"), ("dynamics", "dynamic", "dense"), ("brightness", "bright", "dark"), \
    ("bass", "bass-heavy", "lean"), ("width", "wide", "narrow")


def _group_scores(z: np.ndarray) -> np.ndarray:
    """Per profile, five scores in standard deviations: loudness, dynamics, brightness
    (treble octaves over bass octaves), bass, width."""
    names = np.array(FEATURE_NAMES)
    groups = np.array(GROUPS)
    tone = z[:, groups == "tone"]
    treble = np.isin(names[groups == "tone"], ["tone_4000hz_db", "tone_8000hz_db", "tone_16000hz_db"])
    bass = np.isin(names[groups == "tone"], ["tone_63hz_db", "tone_125hz_db"])
    # Standardised features carry their group weight: undo it so that scores are in
    # standard deviations again.
    return np.column_stack(
        [
            z[:, groups == "loudness"].mean(axis=1),
            z[:, groups == "dynamics"].mean(axis=1) * np.sqrt(np.sum(groups == "dynamics")),
            (tone[:, treble].mean(axis=1) - tone[:, bass].mean(axis=1)) * np.sqrt(tone.shape[1]) / 2,
            tone[:, bass].mean(axis=1) * np.sqrt(tone.shape[1]),
            z[:, groups == "width"].mean(axis=1) * np.sqrt(np.sum(groups == "width")),
        ]
    )


def _describe(scores: np.ndarray) -> str:
    """Two words for the strongest scores, or ``balanced``."""
    order = np.argsort(-np.abs(scores))
    words = [_WORDS[i][1] if scores[i] > 0 else _WORDS[i][2] for i in order[:2] if abs(scores[i]) >= DESCRIBED_Z]
    return "-".join(words) or "balanced"
