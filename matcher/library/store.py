"""A folder of reference profiles: each reference analysed once, kept as JSON, found by name.

Layout of a library folder::

    profiles/NAME.json   one Profile each (the Analysis, the file's sha256, source, tags, date)
    index.npz            names, hashes, sources, tags and feature vectors of every profile,
                         so that a library of 100 000 loads without reading 100 000 files
    styles.json          the library's styles, once ``automaster library styles`` made them

The index is rebuilt from the profiles whenever it is missing or does not list the same
profiles as the folder holds (a profile added or removed by hand). No pickle anywhere: JSON
and ``.npz`` only.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matcher.analysis.result import Analysis
from matcher.errors import AudioFileError, LibraryError, SettingsError
from matcher.io.writing import write_bytes_atomic, write_text_atomic
from matcher.library.features import FEATURE_NAMES, features
from matcher.serialization import from_json, to_json

INDEX_SCHEMA_VERSION = 1
APP_FOLDER = "automaster"
TAG_SEPARATOR = ","
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def default_library_dir() -> Path:
    """The per-user library folder: ``$XDG_DATA_HOME/automaster/library`` (XDG Base
    Directory), by default ``~/.local/share/automaster/library``."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / APP_FOLDER / "library"


def starter_library_dir() -> Path:
    """The starter library that ships inside the package (profiles of freely licensed
    music; see its README for sources and licences): ``models/starter`` of the repository,
    installed in ``matcher.models``."""
    from matcher.targets import model_path

    return model_path("starter")


def is_starter_library(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is the starter library."""
    return Path(folder).resolve() == starter_library_dir().resolve()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Profile:
    """One analysed reference.

    Attributes
    ----------
    name : str
        Unique in its library: the file's stem, made safe for a file name.
    sha256 : str
        Of the audio file's bytes, when it was analysed.
    source : str
        Where the audio was (a path, or for the starter library where it comes from).
    tags : tuple of str
    added : str
        ISO 8601 date of the analysis.
    analysis : Analysis
    """

    SCHEMA_VERSION = 1

    name: str
    sha256: str
    source: str
    tags: tuple[str, ...]
    added: str
    analysis: Analysis
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return to_json(self)

    @classmethod
    def from_json(cls, text: str, what: str = "profile JSON") -> Profile:
        profile = from_json(cls, text, what)
        if profile.analysis.schema_version != Analysis.SCHEMA_VERSION:
            raise SettingsError(
                f"{what}: analysis of schema_version {profile.analysis.schema_version}; "
                f"this version reads {Analysis.SCHEMA_VERSION} (run: automaster library rescan)"
            )
        return profile


@dataclass(frozen=True)
class Index:
    """Every profile's name, hash, source, tags, date and features, as arrays (row = profile)."""

    names: np.ndarray
    sha256: np.ndarray
    sources: np.ndarray
    tags: np.ndarray
    added: np.ndarray
    duration_s: np.ndarray
    features: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return int(self.names.shape[0])

    def row(self, name: str) -> int:
        hits = np.flatnonzero(self.names == name)
        if hits.size == 0:
            raise LibraryError(f"no profile named {name!r} in the library")
        return int(hits[0])

    @classmethod
    def of(cls, profiles: Sequence[Profile]) -> Index:
        return cls(
            names=np.array([p.name for p in profiles], dtype=str),
            sha256=np.array([p.sha256 for p in profiles], dtype=str),
            sources=np.array([p.source for p in profiles], dtype=str),
            tags=np.array([TAG_SEPARATOR.join(p.tags) for p in profiles], dtype=str),
            added=np.array([p.added for p in profiles], dtype=str),
            duration_s=np.array([p.analysis.duration_s for p in profiles], dtype=np.float64),
            features=np.array([features(p.analysis) for p in profiles], dtype=np.float64).reshape(
                len(profiles), len(FEATURE_NAMES)
            ),
        )

    def to_npz(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            schema_version=np.array(INDEX_SCHEMA_VERSION),
            feature_names=np.array(FEATURE_NAMES, dtype=str),
            **{name: getattr(self, name) for name in self.__dataclass_fields__},
        )
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, path: Path) -> Index | None:
        """The index stored at ``path``; None when it is unreadable or of another version."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["schema_version"]) != INDEX_SCHEMA_VERSION or tuple(data["feature_names"]) != FEATURE_NAMES:
                    return None
                return cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError):
            return None

    def without(self, rows: np.ndarray) -> Index:
        keep = np.ones(len(self), dtype=bool)
        keep[rows] = False
        return Index(**{name: getattr(self, name)[keep] for name in self.__dataclass_fields__})

    def plus(self, other: Index) -> Index:
        return Index(**{name: np.concatenate([getattr(self, name), getattr(other, name)]) for name in self.__dataclass_fields__})


class Library:
    """The reference profiles kept in one folder.

    Parameters
    ----------
    root : path
        The library folder; created by the first :meth:`add`. Reading a library whose
        folder does not exist, or a folder that holds other things but no profiles, is a
        :class:`~matcher.errors.LibraryError`; an empty folder is an empty library.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._index: Index | None = None

    @property
    def profiles_dir(self) -> Path:
        return self.root / "profiles"

    @property
    def index_path(self) -> Path:
        return self.root / "index.npz"

    @property
    def styles_path(self) -> Path:
        return self.root / "styles.json"

    # --- reading -----------------------------------------------------------------------

    def index(self) -> Index:
        """The index of every profile: loaded from ``index.npz``, or rebuilt when stale.

        Raises
        ------
        LibraryError
            The folder does not exist, is a file, or is not a library (not empty, and no
            ``profiles`` folder in it).
        """
        if self._index is None:
            self._index = self._load_index()
        return self._index

    def require_folder(self) -> None:
        """Raise :class:`LibraryError` unless the library's folder exists."""
        if not self.root.exists():
            raise LibraryError(f"{self.root}: the library folder does not exist")
        if not self.root.is_dir():
            raise LibraryError(f"{self.root}: is a file, not a library folder")

    def require_profiles(self) -> Index:
        """The index, which must list at least one profile."""
        index = self.index()
        if len(index) == 0:
            raise LibraryError(f"{self.root}: the library is empty (add references: automaster library add FILES)")
        return index

    def __len__(self) -> int:
        return len(self.index())

    def names(self) -> list[str]:
        return self.index().names.tolist()

    def get(self, name: str) -> Profile:
        """The profile called ``name``."""
        self.require_folder()
        path = self._profile_path(name)
        if not path.is_file():
            raise LibraryError(f"{self.root}: no profile named {name!r}")
        return self._read_profile(path)

    def find_hash(self, sha256: str) -> str | None:
        """The name of the profile of a file with this sha256, if any (none in a library
        not made yet)."""
        if not self.profiles_dir.is_dir():
            return None
        hits = np.flatnonzero(self.index().sha256 == sha256)
        return str(self.index().names[hits[0]]) if hits.size else None

    # --- changing ----------------------------------------------------------------------

    def add(self, profiles: Iterable[Profile]) -> list[Profile]:
        """Store profiles (their names made unique); returns them as stored."""
        self.profiles_dir.mkdir(parents=True, exist_ok=True)
        index = self.index()
        taken = set(index.names.tolist())
        stored = []
        for profile in profiles:
            name = unique_name(profile.name, taken)
            taken.add(name)
            profile = Profile(name, profile.sha256, profile.source, profile.tags, profile.added, profile.analysis)
            write_text_atomic(self._profile_path(name), profile.to_json())
            stored.append(profile)
        if stored:
            self._save_index(index.plus(Index.of(stored)))
        return stored

    def replace(self, profile: Profile) -> None:
        """Overwrite the stored profile of the same name (a rescanned file). The styles
        holding it are not changed here: :func:`matcher.library.styles.restyle` does that."""
        row = self.index().row(profile.name)
        write_text_atomic(self._profile_path(profile.name), profile.to_json())
        self._save_index(self.index().without(np.array([row])).plus(Index.of([profile])))

    def remove(self, name: str) -> None:
        """Forget a profile (the audio file is not touched). It stays in the styles until
        :func:`matcher.library.styles.restyle` takes it out (``library remove`` does)."""
        self.require_folder()
        path = self._profile_path(name)
        if not path.is_file():
            raise LibraryError(f"{self.root}: no profile named {name!r}")
        row = self.index().row(name)
        path.unlink()
        self._save_index(self.index().without(np.array([row])))

    # --- internals ---------------------------------------------------------------------

    def _profile_path(self, name: str) -> Path:
        if not name or _UNSAFE_NAME.search(name) or name.startswith("."):
            raise LibraryError(f"{name!r} is not a profile name (letters, digits, '.', '_' and '-')")
        return self.profiles_dir / f"{name}.json"

    def _read_profile(self, path: Path) -> Profile:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LibraryError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        return Profile.from_json(text, str(path))

    def _load_index(self) -> Index:
        self.require_folder()
        if not self.profiles_dir.is_dir():
            with os.scandir(self.root) as entries:
                if any(entries):  # an empty folder is an empty library; anything else is not one
                    raise LibraryError(f"{self.root}: not a reference library (no profiles folder in it)")
            return Index.of([])
        stored = Index.from_npz(self.index_path) if self.index_path.is_file() else None
        on_disk = sorted(entry.name[:-5] for entry in os.scandir(self.profiles_dir) if entry.name.endswith(".json"))
        if stored is not None and sorted(stored.names.tolist()) == on_disk:
            return stored
        index = Index.of([self._read_profile(self._profile_path(name)) for name in on_disk])
        try:
            self._save_index(index)
        except AudioFileError:  # a library one may read but not write (an installed one)
            self._index = index
        return index

    def _save_index(self, index: Index) -> None:
        write_bytes_atomic(self.index_path, index.to_npz(), sync=False)
        self._index = index


def unique_name(wanted: str, taken: set[str]) -> str:
    """``wanted`` made safe for a file name, with ``-2``, ``-3``... if already taken."""
    base = _UNSAFE_NAME.sub("_", wanted).strip("._") or "reference"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}-{k}"
    return name


def today() -> str:
    return datetime.date.today().isoformat()
