"""An album's references when none are given, as match takes them: the starter library, a
library's nearest or a style, chosen once for the whole album; the loudest song lands on the
chosen blend's loudness, measured with pyloudnorm."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from typer.testing import CliRunner

import signals

from matcher.cli.app import EXIT_BAD_INPUT, app
from matcher.library.store import Library, starter_library_dir
from matcher.library.styles import load_styles

RATE_HZ = 44100
LOUDNESS_TOLERANCE_LU = 0.2
runner = CliRunner()


def _lufs(path: Path) -> float:
    x, rate = sf.read(str(path), always_2d=True)
    return float(pyloudnorm.Meter(rate).integrated_loudness(x))


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> dict[str, Path]:
    """A loud song with 2 s of silence before it (trimmed in the album), a quieter darker
    one, and a dense reference."""
    tmp = tmp_path_factory.mktemp("songs")
    loud = np.concatenate([np.zeros((2 * RATE_HZ, 2)), 0.3 * signals.drum_loop(6.0, RATE_HZ, seed=1)])
    ballad = signals.tilted_noise(6.0, RATE_HZ, -1.0, rms=0.03, seed=2)
    ref = 0.5 * np.tanh(2 * signals.drum_loop(8.0, RATE_HZ, seed=4) + signals.pink_noise(8.0, RATE_HZ, 0.2, seed=5))
    paths = {}
    for name, audio in (("loud", loud), ("ballad", ballad), ("ref", ref)):
        paths[name] = tmp / f"{name}.wav"
        sf.write(str(paths[name]), audio, RATE_HZ, subtype="PCM_24")
    return paths


def _ok(result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"


def _choice_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("automaster: references:")]


def _blend_lufs(library: Library, line: str) -> float:
    """The loudness a choice aims at: its references' loudness, weighted as stderr says."""
    chosen = re.findall(r"([\w.-]+) \(distance [0-9.]+, weight ([0-9]+) %\)", line)
    assert chosen, line
    weights = np.array([float(w) for _, w in chosen])
    levels = np.array([library.get(name).analysis.integrated_lufs for name, _ in chosen])
    return float(weights @ levels / weights.sum())


def test_an_album_without_references_takes_them_once_from_the_starter_library(tmp_path, songs):
    out = tmp_path / "out"
    result = runner.invoke(app, ["album", str(songs["loud"]), str(songs["ballad"]), "-o", str(out)])
    _ok(result)
    lines = _choice_lines(result)
    assert len(lines) == 1, result.stderr  # one choice for the album, not one per song
    assert "starter library" in lines[0] and "2 songs taken together" in lines[0]
    report = json.loads((out / "album.json").read_text(encoding="utf-8"))
    chosen = report["chosen_references"]
    assert len(chosen["names"]) == 3 and all(name in lines[0] for name in chosen["names"])
    assert sum(chosen["weights"]) == pytest.approx(1.0, abs=1e-3)
    # The loudest song is at the blend's loudness (less the album's shift, if any).
    target = _blend_lufs(Library(starter_library_dir()), lines[0]) + report["shift_db"]
    assert _lufs(out / "01 loud.wav") == pytest.approx(target, abs=LOUDNESS_TOLERANCE_LU)


def test_a_spec_without_references_takes_them_from_a_library_never_its_own_songs(tmp_path, songs):
    library = tmp_path / "lib"
    library.mkdir()
    _ok(runner.invoke(app, ["library", "add", str(songs["loud"]), str(songs["ballad"]), str(songs["ref"]),
                            "--library", str(library)]))
    spec = tmp_path / "album.toml"
    spec.write_text(
        f'title = "No references"\n[[song]]\nfile = "{songs["loud"]}"\n[[song]]\nfile = "{songs["ballad"]}"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["album", str(spec), "--library", str(library), "--k", "1", "-o", str(out)])
    _ok(result)
    # The loud song is trimmed for the album (its features no longer those of its file):
    # it is still known as the album's own, by its file.
    (line,) = _choice_lines(result)
    assert "ref (distance" in line and "loud (" not in line and "ballad (" not in line
    report = json.loads((out / "album.json").read_text(encoding="utf-8"))
    assert report["chosen_references"]["names"] == ["ref"]
    assert _lufs(out / "01 loud.wav") == pytest.approx(_lufs(songs["ref"]) + report["shift_db"], abs=LOUDNESS_TOLERANCE_LU)


def test_an_album_toward_a_style(tmp_path, songs, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no library of one's own: the starter's styles
    style = load_styles(Library(starter_library_dir())).styles[0]
    out = tmp_path / "out"
    result = runner.invoke(app, ["album", str(songs["loud"]), str(songs["ballad"]), "--style", style.name, "-o", str(out)])
    _ok(result)
    (line,) = _choice_lines(result)
    assert f"style {style.name!r}" in line
    report = json.loads((out / "album.json").read_text(encoding="utf-8"))
    target = style.target.integrated_lufs + report["shift_db"]
    assert _lufs(out / "01 loud.wav") == pytest.approx(target, abs=LOUDNESS_TOLERANCE_LU)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--style", "polka"], "no style named 'polka'"),
        (["--library", "EMPTY"], "the library is empty"),
        (["--ref", "REF", "--style", "polka"], "not both"),
        (["--k", "0"], "--k 0"),
    ],
)
def test_bad_reference_options_stop_the_album_before_any_work(tmp_path, songs, options, needle):
    (tmp_path / "empty").mkdir()
    options = [str(tmp_path / "empty") if o == "EMPTY" else str(songs["ref"]) if o == "REF" else o for o in options]
    out = tmp_path / "out"
    result = runner.invoke(app, ["album", str(songs["loud"]), str(songs["ballad"]), *options, "-o", str(out)])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert not out.exists()


def test_a_spec_with_references_refuses_others_on_the_command_line(tmp_path, songs):
    spec = tmp_path / "album.toml"
    spec.write_text(f'references = ["{songs["ref"]}"]\n[[song]]\nfile = "{songs["loud"]}"\n', encoding="utf-8")
    out = tmp_path / "out"
    for options in (["--style", "loud-narrow"], ["--ref", str(songs["ref"])], ["--library", str(tmp_path)]):
        result = runner.invoke(app, ["album", str(spec), *options, "-o", str(out)])
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "album.toml" in lines[0] and "not both" in lines[0]
        assert not out.exists()
