"""An album's specification: its songs in order, their titles and codes, gaps, fades and
overrides, read from a small TOML file.

Every key, its type, default and meaning, with a complete example, is documented in the
README's "The album spec" section (a test loads that example with :func:`load_spec`, and
checks the documented defaults against the loader's). Relative paths are relative to the
spec file's folder.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matcher.errors import SettingsError

FADE_CURVES = ("linear", "sine", "log", "s-curve")
FORMATS = ("wav", "flac", "aiff")
DEFAULT_GAP_S = 2.0
DEFAULT_QUIETEST_LU = -8.0


@dataclass(frozen=True)
class SongSpec:
    """One song of the album, in play order."""

    file: Path
    title: str
    performer: str | None = None
    isrc: str | None = None
    gap_s: float | None = None
    """Silence before the song (None: the album's ``gap_s``); 0 for a segue."""
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    references: tuple[str, ...] = ()
    """References of this song alone (FILE or FILE:WEIGHT; empty: the album's)."""
    loudness_offset_lu: float = 0.0
    """Added to the level the album balance gives the song."""


@dataclass(frozen=True)
class AlbumSpec:
    """The whole album."""

    songs: tuple[SongSpec, ...]
    title: str = "Untitled"
    performer: str | None = None
    catalog: str | None = None
    references: tuple[str, ...] = ()
    lufs: float | None = None
    ceiling_dbtp: float = -1.0
    quietest_lu: float = DEFAULT_QUIETEST_LU
    gap_s: float = DEFAULT_GAP_S
    trim: bool = True
    trim_threshold_dbfs: float = -60.0
    trim_margin_s: float = 0.1
    fade_curve: str = "sine"
    format: str = "wav"
    bit_depth: str = "24"
    source: Path | None = field(default=None, compare=False)
    """The spec file (None: built from the command line)."""

    def gap_before_s(self, k: int) -> float:
        gap = self.songs[k].gap_s
        return self.gap_s if gap is None else gap


ALBUM_KEYS = {
    "title", "performer", "catalog", "references", "lufs", "ceiling", "quietest_lu", "gap_s", "trim",
    "trim_threshold_dbfs", "trim_margin_s", "fade_curve", "format", "bit_depth", "song",
}
SONG_KEYS = {"file", "title", "performer", "isrc", "gap_s", "fade_in_s", "fade_out_s", "references", "loudness_offset_lu"}


def load_spec(path: Path) -> AlbumSpec:
    """Read and check an album spec (TOML).

    Raises
    ------
    SettingsError
        Unreadable, not TOML, an unknown key, a value of the wrong kind or out of range; the
        message names the file and the key.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not a text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None
    return _album(data, path)


def spec_from_files(
    mixes: Sequence[Path], references: Sequence[str], lufs: float | None = None, ceiling_dbtp: float = -1.0, **options: Any
) -> AlbumSpec:
    """An album of mixes in the order given, each titled by its file name."""
    songs = tuple(SongSpec(file=Path(m), title=Path(m).stem) for m in mixes)
    return AlbumSpec(songs=songs, references=tuple(references), lufs=lufs, ceiling_dbtp=ceiling_dbtp, **options)


def _album(data: dict, path: Path) -> AlbumSpec:
    where = str(path)
    unknown = set(data) - ALBUM_KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    folder = path.parent
    songs_data = data.get("song")
    if not isinstance(songs_data, list) or not songs_data:
        raise SettingsError(f"{where}: no songs ([[song]] tables with a file each)")
    songs = tuple(_song(s, folder, f"{where}: song {k + 1}") for k, s in enumerate(songs_data))
    spec = AlbumSpec(
        songs=songs,
        title=_text(data, "title", where, "Untitled"),
        performer=_text(data, "performer", where, None),
        catalog=_text(data, "catalog", where, None),
        references=tuple(_resolve(r, folder) for r in _texts(data, "references", where)),
        lufs=_number(data, "lufs", where, None, -70.0, 0.0),
        ceiling_dbtp=_number(data, "ceiling", where, -1.0, -20.0, 0.0),
        quietest_lu=_number(data, "quietest_lu", where, DEFAULT_QUIETEST_LU, -40.0, 0.0),
        gap_s=_number(data, "gap_s", where, DEFAULT_GAP_S, 0.0, 60.0),
        trim=_flag(data, "trim", where, True),
        trim_threshold_dbfs=_number(data, "trim_threshold_dbfs", where, -60.0, -120.0, -10.0),
        trim_margin_s=_number(data, "trim_margin_s", where, 0.1, 0.0, 10.0),
        fade_curve=_choice(data, "fade_curve", where, "sine", FADE_CURVES),
        format=_choice(data, "format", where, "wav", FORMATS),
        bit_depth=_choice(_bit_depth_as_text(data), "bit_depth", where, "24", ("16", "24", "32f")),
        source=path,
    )
    return spec


def _song(data: Any, folder: Path, where: str) -> SongSpec:
    if not isinstance(data, dict):
        raise SettingsError(f"{where}: expected a table")
    unknown = set(data) - SONG_KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    file = _text(data, "file", where, None)
    if file is None:
        raise SettingsError(f"{where}: no file")
    resolved = Path(_resolve(file, folder))
    return SongSpec(
        file=resolved,
        title=_text(data, "title", where, resolved.stem),
        performer=_text(data, "performer", where, None),
        isrc=_text(data, "isrc", where, None),
        gap_s=_number(data, "gap_s", where, None, 0.0, 60.0),
        fade_in_s=_number(data, "fade_in_s", where, 0.0, 0.0, 60.0),
        fade_out_s=_number(data, "fade_out_s", where, 0.0, 0.0, 60.0),
        references=tuple(_resolve(r, folder) for r in _texts(data, "references", where)),
        loudness_offset_lu=_number(data, "loudness_offset_lu", where, 0.0, -20.0, 20.0),
    )


def _bit_depth_as_text(data: dict) -> dict:
    """``bit_depth = 16`` or ``24`` as written without quotes: the same as ``"16"``, ``"24"``."""
    value = data.get("bit_depth")
    if isinstance(value, int) and not isinstance(value, bool) and value in (16, 24):
        return {**data, "bit_depth": str(value)}
    return data


def _resolve(value: str, folder: Path) -> str:
    """A path relative to the spec's folder; a ``:WEIGHT`` suffix is kept."""
    name, sep, weight = value.rpartition(":")
    if sep and name and _is_number(weight) and not (folder / value).exists():
        return f"{folder / name if not Path(name).is_absolute() else name}:{weight}"
    return str(folder / value) if not Path(value).is_absolute() else value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _text(data: dict, key: str, where: str, default: str | None) -> str | None:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise SettingsError(f"{where}: {key} must be text")
    return value


def _texts(data: dict, key: str, where: str) -> list[str]:
    value = data.get(key, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{where}: {key} must be a file name or a list of them")
    return value


def _number(data: dict, key: str, where: str, default: float | None, low: float, high: float) -> float | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{where}: {key} must be a number")
    if not low <= value <= high:
        raise SettingsError(f"{where}: {key} = {value:g} is outside {low:g} to {high:g}")
    return float(value)


def _flag(data: dict, key: str, where: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise SettingsError(f"{where}: {key} must be true or false")
    return value


def _choice(data: dict, key: str, where: str, default: str, allowed: tuple[str, ...]) -> str:
    value = data.get(key, default)
    if value not in allowed:
        raise SettingsError(f"{where}: {key} = {value!r}; choose {', '.join(allowed)}")
    return value
