"""Reference library: profiles kept in a folder, the nearest references, styles, weights.

Distances are checked against a plain numpy computation of the documented measure
(standardised features, each group weighted equally), loudness against pyloudnorm, and the
blend's loudness against the weighted mean the weights promise.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from typer.testing import CliRunner

import signals

from matcher import analyze
from matcher.cli.app import EXIT_BAD_INPUT, app
from matcher.library.choice import CLOSENESS_FLOOR, LibraryChoice, StyleChoice
from matcher.library.features import FEATURE_NAMES, GROUPS, MIN_SCALE, features
from matcher.library.store import Index, Library, Profile, starter_library_dir
from matcher.library.styles import load_styles, make_styles, save_styles

RATE_HZ = 44100
DURATION_S = 4.0
LOUDNESS_TOLERANCE_LU = 0.15

runner = CliRunner()


def _track(tilt: float, rms: float, seed: int) -> np.ndarray:
    return signals.tilted_noise(DURATION_S, RATE_HZ, tilt, rms=rms, seed=seed)


def _write(path: Path, x: np.ndarray) -> Path:
    sf.write(str(path), x, RATE_HZ, subtype="PCM_24")
    return path


def _lufs(x: np.ndarray) -> float:
    return float(pyloudnorm.Meter(RATE_HZ).integrated_loudness(x))


def _profile(name: str, x: np.ndarray, tags: tuple[str, ...] = ()) -> Profile:
    return Profile(name, hashlib.sha256(x.tobytes()).hexdigest(), f"generated {name}", tags, "2026-12-01", analyze(x, RATE_HZ))


# Six references: three loud and bright, three quiet and dark.
TRACKS = {
    "bright_a": (3.0, 0.25, 1),
    "bright_b": (3.5, 0.22, 2),
    "bright_c": (2.5, 0.28, 3),
    "dark_a": (-3.0, 0.05, 4),
    "dark_b": (-3.5, 0.06, 5),
    "dark_c": (-2.5, 0.045, 6),
}


@pytest.fixture(scope="module")
def six(tmp_path_factory) -> Library:
    root = tmp_path_factory.mktemp("library")
    library = Library(root)
    library.add([_profile(name, _track(*spec)) for name, spec in TRACKS.items()])
    return library


def _run(*args: str):
    return runner.invoke(app, list(args))


def _ok(result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"


def _one_line_error(result, needle: str) -> None:
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr


# --- the store ---------------------------------------------------------------------------


def test_a_profile_round_trips_through_json():
    profile = _profile("x", _track(1.0, 0.1, 9), ("rock", "loud"))
    assert Profile.from_json(profile.to_json()) == profile


def test_the_index_is_rebuilt_when_missing_or_out_of_step(six, tmp_path):
    library = Library(tmp_path / "lib")
    library.add([six.get(name) for name in ("bright_a", "dark_a")])
    first = Library(library.root).index()
    assert sorted(first.names.tolist()) == ["bright_a", "dark_a"]
    library.index_path.unlink()
    rebuilt = Library(library.root).index()
    np.testing.assert_array_equal(rebuilt.features[np.argsort(rebuilt.names)], first.features[np.argsort(first.names)])
    # A profile copied in by hand is found; one deleted by hand is gone.
    (library.profiles_dir / "dark_b.json").write_text(six.get("dark_b").to_json(), encoding="utf-8")
    (library.profiles_dir / "bright_a.json").unlink()
    assert sorted(Library(library.root).names()) == ["dark_a", "dark_b"]
    with np.load(library.index_path, allow_pickle=False) as stored:  # no pickle needed to read it
        assert sorted(stored["names"].tolist()) == ["dark_a", "dark_b"]


def test_names_are_made_unique_and_safe(tmp_path):
    library = Library(tmp_path)
    x = _track(0.0, 0.1, 1)
    stored = library.add([_profile("my song (final)", x), _profile("my song (final)", x * 0.5)])
    assert [p.name for p in stored] == ["my_song_final", "my_song_final-2"]


# --- the library commands ----------------------------------------------------------------


def test_library_add_list_show_remove(tmp_path):
    lib = tmp_path / "lib"
    a = _write(tmp_path / "bright.wav", _track(3.0, 0.2, 1))
    b = _write(tmp_path / "dark.wav", _track(-3.0, 0.05, 2))
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"not audio at all" * 100)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)}
    result = _run("library", "add", str(a), str(bad), str(b), "--tag", "demo", "--library", str(lib))
    assert result.exit_code == EXIT_BAD_INPUT  # one bad file: the others are still added
    assert "noise.wav" in result.stderr and result.stderr.count("error") == 1
    assert sorted(Library(lib).names()) == ["bright", "dark"]
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)} == before
    # The audio is not copied: profiles and the index only.
    assert sorted(p.name for p in lib.rglob("*") if p.is_file()) == ["bright.json", "dark.json", "index.npz"]
    stored = Library(lib).get("bright")
    assert stored.tags == ("demo",) and stored.source == str(a.resolve())
    assert stored.sha256 == hashlib.sha256(a.read_bytes()).hexdigest()
    assert stored.analysis.integrated_lufs == pytest.approx(_lufs(sf.read(str(a))[0]), abs=0.1)

    again = _run("library", "add", str(a), "--library", str(lib))
    _ok(again)
    assert "already in the library as bright" in again.stdout
    assert len(Library(lib)) == 2

    listed = runner.invoke(app, ["library", "list", "--library", str(lib)], env={"COLUMNS": "200"})
    _ok(listed)
    assert "bright" in listed.stdout and "dark" in listed.stdout and "demo" in listed.stdout
    shown = _run("library", "show", "dark", "--library", str(lib))
    _ok(shown)
    assert "integrated loudness" in shown.stdout and str(b.resolve()) in shown.stdout.replace("\n", "")
    _ok(_run("library", "remove", "dark", "--library", str(lib)))
    assert Library(lib).names() == ["bright"]
    _one_line_error(_run("library", "remove", "dark", "--library", str(lib)), "'dark'")


def test_library_rescan_updates_changed_files_and_keeps_missing_ones(tmp_path):
    lib = tmp_path / "lib"
    a = _write(tmp_path / "a.wav", _track(0.0, 0.1, 1))
    b = _write(tmp_path / "b.wav", _track(0.0, 0.1, 2))
    _ok(_run("library", "add", str(a), str(b), "--library", str(lib)))
    _write(a, _track(0.0, 0.3, 1))  # a louder take of the same file
    b.unlink()
    result = _run("library", "rescan", "--library", str(lib))
    _ok(result)
    assert "1 updated" in result.stdout and "1 missing" in result.stdout
    updated = Library(lib).get("a")
    assert updated.sha256 == hashlib.sha256(a.read_bytes()).hexdigest()
    assert updated.analysis.integrated_lufs == pytest.approx(_lufs(sf.read(str(a))[0]), abs=0.1)
    assert "b" in Library(lib).names()


# --- choosing references -----------------------------------------------------------------


def _reference_distances(library: Library, mix_features: np.ndarray) -> dict[str, float]:
    """The documented measure, computed here independently: z-scores by the library's mean
    and standard deviation (at least MIN_SCALE), each group weighted 1/sqrt(its size)."""
    index = library.index()
    x = index.features
    scale = np.maximum(x.std(axis=0), MIN_SCALE)
    group_size = np.array([GROUPS.count(g) for g in GROUPS])
    z = (x - x.mean(axis=0)) / scale / np.sqrt(group_size)
    q = (mix_features - x.mean(axis=0)) / scale / np.sqrt(group_size)
    return {str(n): float(np.sqrt(np.sum((row - q) ** 2))) for n, row in zip(index.names, z)}


def test_the_nearest_references_and_their_weights(six):
    mix = analyze(_track(2.8, 0.1, 11), RATE_HZ)  # bright, but quieter than the bright ones
    choice = LibraryChoice(six.root, k=2)(mix)
    expected = _reference_distances(six, features(mix))
    nearest = sorted(expected, key=expected.get)[:2]
    assert list(choice.names) == nearest and all(n.startswith("bright") for n in nearest)
    np.testing.assert_allclose(choice.distances, [expected[n] for n in nearest], rtol=1e-6)
    inverse = np.array([1.0 / (expected[n] + CLOSENESS_FLOOR) for n in nearest])
    np.testing.assert_allclose(choice.weights, inverse / inverse.sum(), rtol=1e-6)
    assert len(FEATURE_NAMES) == features(mix).shape[0]


def test_the_mix_is_not_its_own_reference(six):
    choice = LibraryChoice(six.root, k=2)(six.get("dark_a").analysis)
    assert "dark_a" not in choice.names and len(choice.names) == 2


def test_an_albums_references_are_the_nearest_to_its_songs_taken_together(six):
    # Two dark songs and a bright one, the bright one twice as long; one dark song is in the
    # library itself (dark_a) and must not be chosen.
    songs = [analyze(_track(-2.8, 0.02, 21), RATE_HZ), six.get("dark_a").analysis, analyze(_track(2.8, 0.1, 22), RATE_HZ)]
    lengths = [1.0, 1.0, 2.0]
    choice = LibraryChoice(six.root, k=3).for_songs(songs, lengths)
    # Independently: the references with the smallest weighted mean squared distance to the
    # songs, in the documented measure; distances to the songs' weighted centre.
    w = np.array(lengths) / sum(lengths)
    per_song = [_reference_distances(six, features(song)) for song in songs]
    names = [n for n in TRACKS if n != "dark_a"]
    msd = {n: sum(wi * d[n] ** 2 for wi, d in zip(w, per_song)) for n in names}
    expected = sorted(names, key=msd.get)[:3]
    assert list(choice.names) == expected and "dark_a" not in choice.names
    # Distances are to the songs' weighted centre, in the same standardised units.
    index = six.index()
    x = index.features
    scale = np.maximum(x.std(axis=0), MIN_SCALE) * np.sqrt([GROUPS.count(g) for g in GROUPS])
    centre = sum(wi * (features(song) - x.mean(axis=0)) / scale for wi, song in zip(w, songs))
    to_centre = {str(n): float(np.linalg.norm((row - x.mean(axis=0)) / scale - centre)) for n, row in zip(index.names, x)}
    np.testing.assert_allclose(choice.distances, [to_centre[n] for n in expected], rtol=1e-6)
    inverse = 1.0 / (np.array(choice.distances) + CLOSENESS_FLOOR)
    np.testing.assert_allclose(choice.weights, inverse / inverse.sum(), rtol=1e-6)
    assert "taken together" in choice.how
    # One song alone is chosen for as match would choose for it (its own profile left out).
    alone = LibraryChoice(six.root, k=2).for_songs([six.get("bright_b").analysis])
    assert alone.names == LibraryChoice(six.root, k=2)(six.get("bright_b").analysis).names
    assert "bright_b" not in alone.names


def test_match_with_a_library_blends_the_nearest_and_says_so(tmp_path, six):
    mix_audio = _track(-2.8, 0.02, 12)  # dark and quiet
    mix = _write(tmp_path / "mix.wav", mix_audio)
    out = tmp_path / "out.wav"
    result = _run("match", str(mix), "--library", str(six.root), "--k", "2", "-o", str(out))
    _ok(result)
    line = next(line for line in result.stderr.splitlines() if "references:" in line)
    choice = LibraryChoice(six.root, k=2)(analyze(mix_audio, RATE_HZ))
    for name, d in zip(choice.names, choice.distances):
        assert f"{name} (distance {d:.2f}" in line
    assert all(n.startswith("dark") for n in choice.names)
    # The blend's loudness is the weighted mean of the chosen references' loudness.
    target = sum(w * six.get(n).analysis.integrated_lufs for n, w in zip(choice.names, choice.weights))
    assert _lufs(sf.read(str(out))[0]) == pytest.approx(target, abs=LOUDNESS_TOLERANCE_LU)


def test_explicit_reference_weights(tmp_path):
    quiet = _track(0.0, 0.03, 1)
    loud = _track(0.0, 0.2, 2)
    a, b = _write(tmp_path / "a.wav", quiet), _write(tmp_path / "b.wav", loud)
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 3))
    out = tmp_path / "out.wav"
    _ok(_run("match", str(mix), "--ref", str(a), "--ref", f"{b}:0.3", "-o", str(out)))
    # 70 % a and 30 % b: the loudness target is their weighted mean (both are reachable).
    target = 0.7 * _lufs(sf.read(str(a))[0]) + 0.3 * _lufs(sf.read(str(b))[0])
    assert _lufs(sf.read(str(out))[0]) == pytest.approx(target, abs=LOUDNESS_TOLERANCE_LU)


@pytest.mark.parametrize(
    ("refs", "needle"),
    [(["x.wav:0.6", "y.wav:0.5", "z.wav"], "add up to 1.1, leaving nothing for"), (["x.wav:-1"], "must be a number >= 0")],
)
def test_bad_reference_weights(tmp_path, refs, needle):
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 3))
    args = ["match", str(mix), "-o", str(tmp_path / "out.wav")]
    for r in refs:
        args += ["--ref", str(tmp_path / r)]
    _one_line_error(_run(*args), needle)
    assert [p.name for p in tmp_path.iterdir()] == ["mix.wav"]


# --- styles ------------------------------------------------------------------------------


def test_styles_split_the_library_and_match_toward_a_centre(tmp_path, six):
    library = Library(tmp_path / "lib")
    library.add([six.get(n) for n in TRACKS])
    result = _run("library", "styles", "--library", str(library.root))
    _ok(result)
    styles = load_styles(library)
    groups = sorted(sorted(s.members) for s in styles.styles)
    assert groups == [["bright_a", "bright_b", "bright_c"], ["dark_a", "dark_b", "dark_c"]]
    loud = next(s for s in styles.styles if "bright_a" in s.members)
    assert "loud" in loud.name or "bright" in loud.name  # named after what sets it apart
    json.loads(library.styles_path.read_text(encoding="utf-8"))  # plain JSON
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 13))
    out = tmp_path / "out.wav"
    result = _run("match", str(mix), "--library", str(library.root), "--style", loud.name, "-o", str(out))
    _ok(result)
    assert f"style {loud.name!r}" in result.stderr
    target = np.mean([six.get(n).analysis.integrated_lufs for n in loud.members])
    assert _lufs(sf.read(str(out))[0]) == pytest.approx(target, abs=LOUDNESS_TOLERANCE_LU)
    assert StyleChoice(library.root, loud.name)(analyze(sf.read(str(mix))[0], RATE_HZ)).analyses[0] == loud.target


def _two_styles(root: Path, six: Library) -> Library:
    """The six references in a library of their own, grouped into the bright and the dark."""
    library = Library(root)
    library.add([six.get(n) for n in TRACKS])
    save_styles(library, make_styles(library, 2))
    return library


def _style_of(library: Library, member: str):
    return next(s for s in load_styles(library).styles if member in s.members)


def test_a_removed_profile_leaves_its_style_and_match_blends_the_others(tmp_path, six):
    library = _two_styles(tmp_path / "lib", six)
    bright, dark = _style_of(library, "bright_a"), _style_of(library, "dark_a")
    assert sorted(bright.members) == ["bright_a", "bright_b", "bright_c"]
    names = [s.name for s in load_styles(library).styles]
    result = _run("library", "remove", "bright_c", "--library", str(library.root))
    _ok(result)
    assert f"style {bright.name}: now the blend of bright_a, bright_b" in result.stdout
    after = load_styles(library)
    assert [s.name for s in after.styles] == names  # not grouped again: the same names
    assert sorted(after.get(bright.name).members) == ["bright_a", "bright_b"]
    assert after.get(dark.name) == dark  # untouched

    measured = {n: _lufs(_track(*TRACKS[n])) for n in ("bright_a", "bright_b", "bright_c")}
    remaining_lufs = np.mean([measured["bright_a"], measured["bright_b"]])
    all_three_lufs = np.mean(list(measured.values()))
    assert abs(all_three_lufs - remaining_lufs) > 3 * LOUDNESS_TOLERANCE_LU  # the check below can tell them apart
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 13))
    out = tmp_path / "out.wav"
    result = _run("match", str(mix), "--library", str(library.root), "--style", bright.name, "-o", str(out))
    _ok(result)
    assert "2 references: bright_a, bright_b" in result.stderr and "bright_c" not in result.stderr
    # The blend is an equal one: its loudness is the mean of the members' measured loudness.
    assert _lufs(sf.read(str(out))[0]) == pytest.approx(remaining_lufs, abs=LOUDNESS_TOLERANCE_LU)


def test_a_style_left_with_no_members_is_gone(tmp_path, six):
    library = _two_styles(tmp_path / "lib", six)
    dark, bright = _style_of(library, "dark_a"), _style_of(library, "bright_a")
    result = _run("library", "remove", "dark_a", "dark_b", "dark_c", "--library", str(library.root))
    _ok(result)
    assert f"style {dark.name}: no references left; the style is gone" in result.stdout
    assert load_styles(library).styles == (bright,)
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 13))
    _one_line_error(_run("match", str(mix), "--library", str(library.root), "--style", dark.name), "no style named")
    # With the last style gone, so are the styles: --style says there are none yet.
    _ok(_run("library", "remove", "bright_a", "bright_b", "bright_c", "--library", str(library.root)))
    assert not library.styles_path.exists()
    _one_line_error(_run("match", str(mix), "--library", str(library.root), "--style", bright.name), "no styles yet")


def test_rescan_makes_the_centre_of_a_changed_members_style_again(tmp_path):
    files = {
        name: _write(tmp_path / f"{name}.wav", _track(*TRACKS[name]))
        for name in ("bright_a", "bright_b", "dark_a", "dark_b")
    }
    lib = tmp_path / "lib"
    _ok(_run("library", "add", *map(str, files.values()), "--library", str(lib)))
    _ok(_run("library", "styles", "--count", "2", "--library", str(lib)))
    library = Library(lib)
    bright, dark = _style_of(library, "bright_a"), _style_of(library, "dark_a")
    _write(files["bright_b"], _track(3.5, 0.11, 2))  # the same track, 6 dB quieter
    result = _run("library", "rescan", "--library", str(lib))
    _ok(result)
    assert f"style {bright.name}: now the blend of" in result.stdout
    after = load_styles(library)
    assert after.get(dark.name) == dark
    remade = after.get(bright.name)
    assert remade.members == bright.members
    measured = np.mean([_lufs(sf.read(str(files[n]))[0]) for n in remade.members])
    assert bright.target.integrated_lufs - measured > 2.0  # the old centre is far from it
    assert remade.target.integrated_lufs == pytest.approx(measured, abs=0.1)
    quieter = library.get("bright_b").analysis
    assert remade.centre_features[FEATURE_NAMES.index("loudness_lufs")] == pytest.approx(
        np.mean([library.get("bright_a").analysis.integrated_lufs, quieter.integrated_lufs]), abs=1e-3
    )


def test_styles_naming_a_profile_deleted_by_hand_are_refused(tmp_path, six):
    library = _two_styles(tmp_path / "lib", six)
    (library.profiles_dir / "dark_b.json").unlink()
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 13))
    dark = _style_of(library, "dark_a")
    _one_line_error(
        _run("match", str(mix), "--library", str(library.root), "--style", dark.name),
        "'dark_b', which is no longer in the library",
    )


def test_styles_are_the_same_every_time(six):
    assert make_styles(six) == make_styles(six)


def test_unknown_style_and_empty_library_are_one_line_errors(tmp_path, six):
    library = Library(tmp_path / "lib")
    library.add([six.get(n) for n in TRACKS])
    save_styles(library, make_styles(library, 2))
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 13))
    _one_line_error(_run("match", str(mix), "--library", str(library.root), "--style", "polka"), "no style named 'polka'")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(_run("match", str(mix), "--library", str(empty)), "the library is empty")
    _one_line_error(_run("match", str(mix), "--ref", str(mix), "--library", str(empty)), "not both")
    assert not (tmp_path / "mix_master.wav").exists()


# --- library folders that are missing, empty or something else -------------------------


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its sha256, or "dir"."""
    return {
        str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
    }


MISSING_LIBRARY = {
    "match": lambda mix, lib: ["match", mix, "--library", lib],
    "match --style": lambda mix, lib: ["match", mix, "--library", lib, "--style", "loud"],
    "suggest": lambda mix, lib: ["suggest", mix, "--library", lib],
    "preview": lambda mix, lib: ["preview", mix, "--library", lib],
    "batch": lambda mix, lib: ["batch", mix, "--library", lib, "--out", str(Path(mix).parent / "out")],
    "library list": lambda mix, lib: ["library", "list", "--library", lib],
    "library show": lambda mix, lib: ["library", "show", "bright_a", "--library", lib],
    "library remove": lambda mix, lib: ["library", "remove", "bright_a", "--library", lib],
    "library rescan": lambda mix, lib: ["library", "rescan", "--library", lib],
    "library styles": lambda mix, lib: ["library", "styles", "--library", lib],
}


@pytest.mark.parametrize("build", MISSING_LIBRARY.values(), ids=MISSING_LIBRARY.keys())
def test_a_missing_library_folder_is_named_not_called_empty(tmp_path, build):
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 13))
    missing = tmp_path / "no-such-library"
    before = _snapshot(tmp_path)
    _one_line_error(_run(*build(str(mix), str(missing))), f"{missing}: the library folder does not exist")
    assert _snapshot(tmp_path) == before


def test_library_add_makes_a_library_folder_only_in_an_existing_folder(tmp_path):
    track = _write(tmp_path / "song.wav", _track(0.0, 0.1, 1))
    before = _snapshot(tmp_path)
    _one_line_error(
        _run("library", "add", str(track), "--library", str(tmp_path / "nowhere" / "lib")),
        f"its folder {tmp_path / 'nowhere'} does not exist",
    )
    _one_line_error(_run("library", "add", str(track), "--library", str(track)), "is a file, not a library folder")
    assert _snapshot(tmp_path) == before
    _ok(_run("library", "add", str(track), "--library", str(tmp_path / "lib")))
    assert Library(tmp_path / "lib").names() == ["song"]


def test_an_empty_folder_is_an_empty_library_and_a_folder_of_other_things_is_not_one(tmp_path):
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 13))
    empty = tmp_path / "empty"
    empty.mkdir()
    listed = _run("library", "list", "--library", str(empty))
    _ok(listed)
    assert "is empty" in listed.stdout
    _one_line_error(_run("match", str(mix), "--library", str(empty)), f"{empty}: the library is empty")
    _one_line_error(_run("library", "show", "mix", "--library", str(empty)), "no profile named 'mix'")
    audio = tmp_path / "audio"
    audio.mkdir()
    _write(audio / "song.wav", _track(0.0, 0.1, 1))
    before = _snapshot(tmp_path)
    for args in (["match", str(mix)], ["library", "list"], ["library", "rescan"]):
        _one_line_error(_run(*args, "--library", str(audio)), f"{audio}: not a reference library")
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / "mix_master.wav").exists()


# --- the starter library -----------------------------------------------------------------


def test_match_without_a_reference_uses_the_starter_library(tmp_path):
    starter = Library(starter_library_dir())
    assert len(starter) >= 10
    for name in starter.names():
        assert "Debian package" in starter.get(name).source  # says where it came from
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 14))
    out = tmp_path / "out.wav"
    result = _run("match", str(mix), "-o", str(out))
    _ok(result)
    assert "the starter library" in result.stderr
    chosen = LibraryChoice(starter_library_dir(), 3)(analyze(sf.read(str(mix))[0], RATE_HZ))
    assert all(name in result.stderr for name in chosen.names)
    assert signals.true_peak_reference_dbtp(sf.read(str(out))[0]) <= -1.0 + 0.01


def test_the_starter_index_is_current():
    # The shipped index lists exactly the shipped profiles, with their features.
    stored = Index.from_npz(starter_library_dir() / "index.npz")
    library = Library(starter_library_dir())
    profiles = [library.get(n) for n in sorted(stored.names.tolist())]
    rebuilt = Index.of(profiles)
    order = np.argsort(stored.names)
    np.testing.assert_allclose(stored.features[order], rebuilt.features, atol=1e-9)


def test_the_starter_style_model_is_its_space_and_centres_and_places_every_member():
    # models/starter/styles.json holds the whole style model: the standardised space the
    # profiles were grouped in (that of the shipped profiles) and the centres. By the JSON
    # alone, every member is nearest its own style's centre, and a member's analysis is
    # placed in its style.
    from matcher.library.features import Standardiser
    from matcher.library.styles import nearest_style

    library = Library(starter_library_dir())
    text = library.styles_path.read_text(encoding="utf-8")
    assert set(json.loads(text)["space"]) == {"mean", "scale"}
    styles = load_styles(library)
    index = library.index()
    recomputed = Standardiser(index.features)
    np.testing.assert_allclose(styles.space.mean, recomputed.mean, rtol=0, atol=1e-9)
    np.testing.assert_allclose(styles.space.scale, recomputed.scale, rtol=0, atol=1e-9)
    assert len(styles.styles) >= 2
    for style in styles.styles:
        for member in style.members:
            placed, distance = nearest_style(styles, library.get(member).analysis)
            assert placed.name == style.name, member
            others = [np.linalg.norm(styles.space(o.centre_features) - styles.space(index.features[index.row(member)]))
                      for o in styles.styles if o is not style]
            assert distance < min(others)


def test_styles_saved_without_their_space_load_and_say_so_when_placing(tmp_path, six):
    from matcher import AutomasterError
    from matcher.library.styles import nearest_style

    library = _two_styles(tmp_path / "lib", six)
    made = load_styles(library)
    assert made.space is not None and nearest_style(made, six.get("bright_a").analysis)[0].members == _style_of(
        library, "bright_a").members
    data = json.loads(library.styles_path.read_text(encoding="utf-8"))
    del data["space"]
    library.styles_path.write_text(json.dumps(data), encoding="utf-8")
    old = load_styles(library)
    assert old.space is None and old.styles == made.styles
    with pytest.raises(AutomasterError, match="remake them"):
        nearest_style(old, six.get("bright_a").analysis)


def test_every_style_the_readme_names_is_a_style_of_the_starter_library():
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"--style[ =]([a-z][a-z0-9._-]*)", readme))  # NAME, in capitals, is a placeholder
    assert named, "the README names no style: this test would check nothing"
    starter = {s.name for s in load_styles(Library(starter_library_dir())).styles}
    assert named <= starter, f"README names styles the starter library lacks: {sorted(named - starter)}"


def test_the_default_library_is_the_per_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    track = _write(tmp_path / "song.wav", _track(0.0, 0.1, 1))
    before = runner.invoke(app, ["library", "list"], env={"COLUMNS": "300"})
    _ok(before)  # no library yet is not an error: it says so, and where the starter library is
    assert "no library of your own yet at" in before.stdout and str(starter_library_dir()) in before.stdout
    assert not (tmp_path / "data").exists()
    _ok(_run("library", "add", str(track)))
    assert (tmp_path / "data" / "automaster" / "library" / "profiles" / "song.json").is_file()
    assert "song" in _run("library", "list").stdout


def test_a_style_without_a_library_comes_from_the_starter_library(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no library of one's own
    style = load_styles(Library(starter_library_dir())).styles[0]
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 15))
    out = tmp_path / "out.wav"
    result = _run("match", str(mix), "--style", style.name, "-o", str(out))
    _ok(result)
    assert f"style {style.name!r}" in result.stderr
    assert _lufs(sf.read(str(out))[0]) == pytest.approx(style.target.integrated_lufs, abs=LOUDNESS_TOLERANCE_LU)


def test_library_styles_without_a_library_lists_the_starter_librarys(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no library of one's own
    starter_before = _snapshot(starter_library_dir())
    result = runner.invoke(app, ["library", "styles"], env={"COLUMNS": "200"})
    _ok(result)
    assert "the starter library's styles, which --style uses" in result.stdout
    starter = load_styles(Library(starter_library_dir()))
    for style in starter.styles:
        assert style.name in result.stdout and all(m in result.stdout for m in style.members)
    assert _snapshot(starter_library_dir()) == starter_before  # listed, not made again
    assert not (tmp_path / "data").exists()
    _one_line_error(_run("library", "styles", "--count", "3"), "the starter library's styles are fixed")


def test_library_styles_and_style_read_the_same_library(tmp_path, monkeypatch, six):
    # With a library of one's own, 'library styles' groups it, and --style uses those styles.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    own = Library(tmp_path / "data" / "automaster" / "library")
    own.add([six.get(n) for n in TRACKS])
    result = runner.invoke(app, ["library", "styles", "--count", "2"], env={"COLUMNS": "200"})
    _ok(result)
    styles = load_styles(own)
    assert all(s.name in result.stdout for s in styles.styles)
    bright = _style_of(own, "bright_a")
    mix = _write(tmp_path / "mix.wav", _track(0.0, 0.05, 13))
    out = tmp_path / "out.wav"
    result = _run("match", str(mix), "--style", bright.name, "-o", str(out))
    _ok(result)
    assert f"style {bright.name!r} (3 references" in result.stderr and "starter" not in result.stderr
    assert _lufs(sf.read(str(out))[0]) == pytest.approx(bright.target.integrated_lufs, abs=LOUDNESS_TOLERANCE_LU)
    # Down to one profile, it cannot be grouped again: 'library styles' lists the style left,
    # the one --style still uses.
    _ok(_run("library", "remove", *[n for n in TRACKS if n != "bright_a"]))
    result = runner.invoke(app, ["library", "styles"], env={"COLUMNS": "200"})
    _ok(result)
    assert "1 profile: too few to group again" in result.stdout and bright.name in result.stdout
    assert [s.members for s in load_styles(own).styles] == [("bright_a",)]


# --- tables in a narrow terminal ----------------------------------------------------------


def _columns(rendered: str) -> list[str]:
    """Each column's text, its lines joined, without borders and spaces."""
    columns: dict[int, str] = {}
    for line in rendered.splitlines():
        cells = line.split("│")[1:-1]  # body lines only: the header's bars are ┃
        for k, cell in enumerate(cells):
            columns[k] = columns.get(k, "") + cell.replace(" ", "")
    return list(columns.values())


@pytest.mark.parametrize("width", [40, 80, 200])
def test_library_list_keeps_every_value_whole_in_any_width(width):
    import io

    from rich.console import Console

    from matcher.cli.library import profiles_table

    long_source = "/home/someone/music/references/" + "a-very-long-folder-name/" * 4 + "the song [live] (final).flac"
    profiles = [
        replace(_profile("widelands_beauty_of_the_flat_lands", _track(2.0, 0.1, 1), ("folk", "acoustic")),
                source=long_source),
        _profile("dark", _track(-3.0, 0.02, 2)),
    ]
    index = Index.of(profiles)
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(profiles_table("a library", index))
    rendered = console.file.getvalue()
    assert max(map(len, rendered.splitlines())) <= width
    lines = rendered.splitlines()
    columns = _columns(rendered)
    for k, profile in enumerate(profiles):
        lufs, lra = (index.features[k, FEATURE_NAMES.index(f)] for f in ("loudness_lufs", "loudness_range_lu"))
        figures = [f"{lufs:.1f}", f"{lra:.1f}", "0:04.0", profile.added]
        for figure in figures:  # each on one line, whole
            assert any(f" {figure} " in line for line in lines), (figure, rendered)
        for text in (profile.name, ", ".join(profile.tags), profile.source):  # folded, but all there
            assert any(text.replace(" ", "") in column for column in columns), (text, rendered)
    if width >= 80:  # one column per field while the numbers fit
        assert all(h in lines[1] + lines[2] for h in ("LUFS", "LRA", "length", "added", "source"))
