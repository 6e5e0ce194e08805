"""The file-level Python API: what the command line does, as functions that return its
figures. Loudness is checked with pyloudnorm; masters against the command line's bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from typer.testing import CliRunner

import signals

import matcher
from matcher.cli.app import app

RATE = 44100
DURATION_S = 4.0


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _lufs(path: Path) -> float:
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return float(pyloudnorm.Meter(rate).integrated_loudness(data))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    for name, seed, level in (("a", 1, 0.3), ("b", 3, 0.2)):
        x = signals.drum_loop(DURATION_S, RATE, seed=seed)
        sf.write(str(root / f"{name}.wav"), level * x / np.max(np.abs(x)), RATE, subtype="PCM_24")
    ref = np.tanh(1.5 * signals.pink_noise(DURATION_S, RATE, rms=0.3, seed=5, correlation=0.5))
    sf.write(str(root / "ref.wav"), 0.8 * ref / np.max(np.abs(ref)), RATE, subtype="PCM_24")
    return root


def test_master_returns_what_the_file_measures_and_matches_the_command(files, tmp_path):
    result = matcher.master(files / "a.wav", [files / "ref.wav"], tmp_path / "api.wav", lufs=-14.0)
    assert abs(result.lufs - _lufs(result.output)) < 0.05 and abs(result.lufs - -14.0) < 0.3
    assert result.target_reached and result.references == ("ref.wav",)
    assert result.true_peak_dbtp <= -1.0 + 1e-6
    cli = tmp_path / "cli.wav"
    done = CliRunner().invoke(app, ["match", str(files / "a.wav"), "--ref", str(files / "ref.wav"), "-o", str(cli),
                                    "--lufs", "-14"])
    assert done.exit_code == 0, done.output
    assert _sha(cli) == _sha(result.output)


def test_options_that_contradict_raise_a_usage_error_naming_both(files, tmp_path):
    with pytest.raises(matcher.UsageError, match="lufs= -14 has no effect with only= eq"):
        matcher.master(files / "a.wav", [files / "ref.wav"], tmp_path / "x.wav", lufs=-14, only="eq")
    assert not (tmp_path / "x.wav").exists()
    with pytest.raises(matcher.AutomasterError, match="absent.wav"):
        matcher.master(files / "absent.wav", [files / "ref.wav"], tmp_path / "x.wav")


def test_suggest_predicts_the_master(files, tmp_path):
    suggestion = matcher.suggest(files / "a.wav", [(files / "ref.wav", 1.0)], lufs=-12.0, json_path=tmp_path / "s.json")
    result = matcher.render_file(files / "a.wav", tmp_path / "s.json", tmp_path / "rendered.wav")
    assert abs(suggestion.predicted_lufs - result.lufs) < 0.3
    assert matcher.Settings.from_json((tmp_path / "s.json").read_text(encoding="utf-8")) == suggestion.settings


def test_preview_report_writes_its_page(files, tmp_path):
    suggestion = matcher.preview_report(files / "a.wav", [files / "ref.wav"], tmp_path / "page.html")
    assert suggestion.report_page == tmp_path / "page.html"
    assert (tmp_path / "page.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_master_batch_masters_each_mix_as_master_does(files, tmp_path):
    outcome = matcher.master_batch([files / "a.wav", files / "b.wav"], tmp_path / "out", [files / "ref.wav"], workers=1)
    assert [r.status for r in outcome.results] == ["ok", "ok"]
    single = matcher.master(files / "b.wav", [files / "ref.wav"], tmp_path / "b.wav")
    assert _sha(tmp_path / "out" / "b_master.wav") == _sha(single.output)
    assert outcome.manifest_path == (tmp_path / "out" / "manifest.json").absolute()


def test_library_functions(files, tmp_path):
    library = tmp_path / "library"
    added = matcher.library_add([files / "ref.wav", files / "a.wav", files / "absent.wav"], library, tags=("demo",))
    assert [a.status for a in added] == ["added", "added", "failed"] and "absent.wav" in added[2].error
    assert [a.status for a in matcher.library_add([files / "ref.wav"], library)] == ["already"]
    lib = matcher.open_library(library)
    assert sorted(lib.names()) == ["a", "ref"]
    assert abs(lib.get("ref").analysis.integrated_lufs - _lufs(files / "ref.wav")) < 0.1
    matcher.library_remove(["a"], library)
    assert matcher.open_library(library).names() == ["ref"]


def test_master_album_of_mixes(files, tmp_path):
    result = matcher.master_album([files / "a.wav", files / "b.wav"], tmp_path / "album", [files / "ref.wav"],
                                  title="Two", gap_s=1.0, lufs=-16.0)
    assert [song.number for song in result.songs] == [1, 2]
    assert result.image.is_file() and result.cue.is_file()
    loudest = max(song.lufs for song in result.songs)
    assert abs(loudest - -16.0) < 0.3
