"""The album spec as the README documents it: its example is loaded by the real loader, and
its tables of keys name every key the loader knows, with the loader's defaults, so that the
documentation cannot drift from the code."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from matcher.album import redbook
from matcher.album.spec import ALBUM_KEYS, SONG_KEYS, load_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

README = Path(__file__).resolve().parents[1] / "README.md"
ATTRIBUTES = {"ceiling": "ceiling_dbtp"}
"""Spec keys whose attribute on AlbumSpec has another name (the unit in it)."""
NO_DEFAULT = "—"


def _album_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Album\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _example() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", _album_section(), flags=re.DOTALL)
    assert len(blocks) == 1, "the Album section should hold exactly one ```toml example"
    return blocks[0]


def _table(heading: str) -> dict[str, tuple[str, str, str]]:
    """The README's table of keys after ``heading``: key -> (type, default, meaning)."""
    section = _album_section()
    lines = section[section.index(heading) :].splitlines()[1:]
    rows: dict[str, tuple[str, str, str]] = {}
    started = False
    for line in lines:
        if not line.startswith("|"):
            if started:
                break
            continue
        started = True
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        found = re.fullmatch(r"`([a-z_]+)`", cells[0])
        if found:
            assert len(cells) == 4, line
            rows[found.group(1)] = (cells[1], cells[2], cells[3])
    return rows


def _literal(cell: str):
    """A default written as a TOML literal in backticks."""
    found = re.fullmatch(r"`(.+)`", cell)
    assert found, f"default {cell!r}: a TOML literal in backticks, or {NO_DEFAULT}"
    return tomllib.loads(f"value = {found.group(1)}")["value"]


def _same(loaded, documented) -> bool:
    if isinstance(loaded, tuple):
        loaded = list(loaded)
    return loaded == documented


def test_the_readme_example_spec_loads_and_means_what_it_says(tmp_path):
    text = _example()
    raw = tomllib.loads(text)
    # A complete example: every key the loader knows is shown.
    assert set(raw) == ALBUM_KEYS
    assert set().union(*(set(song) for song in raw["song"])) == SONG_KEYS
    path = tmp_path / "album.toml"
    path.write_text(text, encoding="utf-8")
    spec = load_spec(path)
    for key, value in raw.items():
        if key in ("song", "references"):
            continue
        assert _same(getattr(spec, ATTRIBUTES.get(key, key)), value), key
    assert spec.references == tuple(
        f"{tmp_path / r.rpartition(':')[0]}:{r.rpartition(':')[2]}" if r.count(":") else str(tmp_path / r)
        for r in raw["references"]
    )
    assert len(spec.songs) == len(raw["song"])
    for song, given in zip(spec.songs, raw["song"]):
        assert song.file == tmp_path / given["file"]
        assert song.references == tuple(str(tmp_path / r) for r in given.get("references", []))
        for key, value in given.items():
            if key not in ("file", "references"):
                assert _same(getattr(song, key), value), key
        if song.isrc is not None:
            redbook.normalise_isrc(song.isrc)  # the example's codes pass the Red Book checks
    redbook.normalise_catalog(spec.catalog)
    assert spec.gap_before_s(1) == 0.0 and spec.gap_before_s(0) == raw["gap_s"]


def test_the_readme_tables_list_every_key_with_the_loaders_default(tmp_path):
    album_rows = _table("Album keys")
    song_rows = _table("Song keys")
    assert set(album_rows) == ALBUM_KEYS - {"song"}
    assert set(song_rows) == SONG_KEYS
    path = tmp_path / "album.toml"
    path.write_text('[[song]]\nfile = "one.wav"\n', encoding="utf-8")
    spec = load_spec(path)  # every key at its default
    for key, (_, default, meaning) in album_rows.items():
        loaded = getattr(spec, ATTRIBUTES.get(key, key))
        assert meaning, key
        if default == NO_DEFAULT:
            assert loaded is None, key
        else:
            assert _same(loaded, _literal(default)), key
    song = spec.songs[0]
    for key, (_, default, meaning) in song_rows.items():
        assert meaning, key
        if key == "file":
            assert default == NO_DEFAULT  # required
        elif key == "title":
            assert default == NO_DEFAULT and song.title == "one" and "file's name" in meaning
        elif default == NO_DEFAULT:
            assert getattr(song, key) is None, key
        else:
            assert _same(getattr(song, key), _literal(default)), key


@pytest.mark.parametrize(("written", "loaded"), [("16", "16"), ('"16"', "16"), ("24", "24"), ('"32f"', "32f")])
def test_bit_depth_as_a_number_or_text(tmp_path, written, loaded):
    path = tmp_path / "album.toml"
    path.write_text(f'bit_depth = {written}\n[[song]]\nfile = "one.wav"\n', encoding="utf-8")
    assert load_spec(path).bit_depth == loaded
