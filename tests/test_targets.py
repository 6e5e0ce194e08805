"""Delivery targets (``--target``, issue 17): the shipped table in ``models/``, how it sets
the options, and masters made to it, measured with pyloudnorm and the ideal 16x meter."""

from __future__ import annotations

import json
from pathlib import Path

import pyloudnorm
import pytest
import signals
import soundfile as sf
from typer.testing import CliRunner

from matcher import AutomasterError
from matcher.cli.app import EXIT_BAD_INPUT, app
from matcher.options import fit_config
from matcher.targets import TABLE, model_text, platform_target, platform_targets

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_the_table_is_the_models_folder_and_every_figure_has_its_source():
    shipped = json.loads((ROOT / "models" / TABLE).read_text(encoding="utf-8"))
    assert json.loads(model_text(TABLE)) == shipped
    names = [t.name for t in platform_targets()]
    assert len(set(names)) == len(names)
    assert {"spotify", "apple-music", "youtube", "tidal", "amazon", "deezer", "cd", "ebu-r128", "podcast"} <= set(names)
    for target in platform_targets():
        for field in ("lufs", "ceiling_dbtp", "bit_depth"):
            assert target.sources.get(field), f"{target.name}: no source for {field}"
        if target.sample_rate_hz is not None:
            assert target.sources.get("sample_rate_hz")
        assert target.bit_depth in ("16", "24", "32f") and -3.0 <= target.ceiling_dbtp <= 0.0
        if target.normalisation is not None:
            assert target.normalisation.source and -24.0 <= target.normalisation.reference_lufs <= -9.0
            # A player that raises quiet tracks stops at a peak limit; one that does not has none.
            assert (target.normalisation.raise_peak_limit_dbtp is not None) == target.normalisation.raises


def test_the_streaming_services_are_the_tables_outlets_that_normalise():
    from matcher.analysis.streaming import streaming_gains

    normalising = [t for t in platform_targets() if t.normalisation is not None]
    assert {t.name for t in normalising} == {"spotify", "apple-music", "youtube", "tidal", "amazon", "deezer"}
    gains = streaming_gains(-30.0, -20.0)
    assert [g.service for g in gains] == [t.title for t in normalising]
    # A streaming target masters to the level its own player plays at: no gain there.
    for target in normalising:
        at_target = {g.service: g for g in streaming_gains(target.lufs, target.ceiling_dbtp)}[target.title]
        assert at_target.gain_db == 0.0 and at_target.note == "played as it is"


def test_a_source_checkout_reads_the_models_folder_itself(monkeypatch):
    import importlib.resources

    def not_installed(package):
        raise ModuleNotFoundError(package)

    monkeypatch.setattr(importlib.resources, "files", not_installed)
    assert model_text(TABLE) == (ROOT / "models" / TABLE).read_text(encoding="utf-8")


def test_the_package_list_holds_every_package_and_the_models():
    # pyproject lists the packages (the top-level models/ folder is installed as
    # matcher.models, which setuptools' find cannot map): a new package must be listed.
    import tomllib
    from setuptools import find_packages

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(project["tool"]["setuptools"]["packages"])
    assert listed == set(find_packages(str(ROOT), include=["matcher*"])) | {"matcher.models"}
    assert project["tool"]["setuptools"]["package-dir"]["matcher.models"] == "models"
    # Every file of models/ is installed (a pattern of package-data holds it).
    import fnmatch

    patterns = project["tool"]["setuptools"]["package-data"]["matcher.models"]
    shipped = [p.relative_to(ROOT / "models").as_posix() for p in (ROOT / "models").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py"]
    assert shipped and all(any(fnmatch.fnmatch(name, pattern) for pattern in patterns) for name in shipped)
    assert any(name.startswith("starter/profiles/") for name in shipped)


def test_a_target_sets_what_was_not_given():
    spotify = fit_config(target="spotify")
    assert spotify.target_lufs == -14.0 and spotify.limiter.ceiling_dbtp == -1.0 and spotify.output.bit_depth == "24"
    cd = fit_config(target="CD")
    assert cd.target_lufs is None and cd.limiter.ceiling_dbtp == -0.3 and cd.output.bit_depth == "16"
    given = fit_config(target="ebu-r128", lufs=-20.0, ceiling_dbtp=-2.0, bit_depth="32f")
    assert given.target_lufs == -20.0 and given.limiter.ceiling_dbtp == -2.0 and given.output.bit_depth == "32f"
    plain = fit_config()
    assert plain.target_lufs is None and plain.limiter.ceiling_dbtp == -1.0 and plain.output.bit_depth == "24"
    with pytest.raises(AutomasterError, match="--target 'spotfy': unknown target; choose from spotify"):
        platform_target("spotfy")


def test_a_master_for_a_broadcast_target_measures_it(tmp_path):
    out = tmp_path / "master.wav"
    result = runner.invoke(app, ["match", str(ROOT / "examples" / "mix.flac"), "--ref",
                                 str(ROOT / "examples" / "reference.flac"), "-o", str(out), "--target", "ebu-r128"])
    assert result.exit_code == 0, result.output
    master, rate = sf.read(str(out), dtype="float64", always_2d=True)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(master)
    assert lufs == pytest.approx(-23.0, abs=0.1)
    assert signals.true_peak_ideal_dbtp(master) <= -1.0
    assert sf.info(str(out)).subtype == "PCM_24"
    # The summary says what each service would do: YouTube never raises a quiet master;
    # Spotify raises it until its peaks reach -1 dBTP (measured independently here).
    text = " ".join(result.stdout.split())
    assert "YouTube +0.0 dB (quieter than its level; never raised)" in text
    from matcher.analysis.streaming import streaming_gains

    spotify = streaming_gains(lufs, signals.true_peak_ideal_dbtp(master))[0]
    said = float(text.split("Spotify ")[1].split(" dB")[0])
    assert said == pytest.approx(spotify.gain_db, abs=0.1)


def test_a_cd_target_makes_a_16_bit_master_under_its_ceiling(tmp_path):
    out = tmp_path / "master.wav"
    result = runner.invoke(app, ["match", str(ROOT / "examples" / "mix.flac"), "--ref",
                                 str(ROOT / "examples" / "reference.flac"), "-o", str(out), "--target", "cd"])
    assert result.exit_code == 0, result.output
    assert sf.info(str(out)).subtype == "PCM_16" and sf.info(str(out)).samplerate == 44100
    master = sf.read(str(out), dtype="float64", always_2d=True)[0]
    assert signals.true_peak_ideal_dbtp(master) <= -0.3


def test_a_cd_target_resamples_a_48_khz_mix_and_holds_its_ceiling_at_44_1(tmp_path):
    import hashlib

    mix = tmp_path / "mix48.wav"
    sf.write(str(mix), 0.3 * signals.drum_loop(6.0, 48000, seed=5), 48000, subtype="PCM_24")
    out, settings = tmp_path / "cd.wav", tmp_path / "cd.json"
    result = runner.invoke(app, ["match", str(mix), "--ref", str(ROOT / "examples" / "reference.flac"), "-o", str(out),
                                 "--target", "cd", "--save-settings", str(settings)])
    assert result.exit_code == 0, result.output
    info = sf.info(str(out))
    assert info.samplerate == 44100 and info.subtype == "PCM_16"
    assert abs(info.frames - round(6.0 * 44100)) <= 1
    master = sf.read(str(out), dtype="float64", always_2d=True)[0]
    assert signals.true_peak_ideal_dbtp(master) <= -0.3
    reference = sf.read(str(ROOT / "examples" / "reference.flac"), dtype="float64", always_2d=True)
    wanted = pyloudnorm.Meter(reference[1]).integrated_loudness(reference[0])
    assert pyloudnorm.Meter(44100).integrated_loudness(master) == pytest.approx(wanted, abs=0.3)
    # The settings hold the rate: rendering them again gives the same file.
    again = tmp_path / "again.wav"
    result = runner.invoke(app, ["render", str(mix), "--settings", str(settings), "-o", str(again)])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(out.read_bytes()).hexdigest()


def test_a_sample_rate_of_no_standard_is_one_line(tmp_path):
    result = runner.invoke(app, ["match", str(ROOT / "examples" / "mix.flac"), "--ref",
                                 str(ROOT / "examples" / "reference.flac"), "-o", str(tmp_path / "o.wav"),
                                 "--sample-rate", "45000"])
    assert result.exit_code == EXIT_BAD_INPUT
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--sample-rate 45000: choose one of" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_the_targets_command_lists_every_target():
    result = runner.invoke(app, ["targets"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for target in platform_targets():
        assert target.name in text and target.title in text


def test_several_targets_give_one_master_each_the_same_as_alone(tmp_path):
    import hashlib

    mix, ref = ROOT / "examples" / "mix.flac", ROOT / "examples" / "reference.flac"
    result = runner.invoke(app, ["match", str(mix), "--ref", str(ref), "-o", str(tmp_path / "m.wav"),
                                 "--target", "spotify", "--target", "cd"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m_cd.wav", "m_spotify.wav"]
    assert sf.info(str(tmp_path / "m_cd.wav")).subtype == "PCM_16"
    assert sf.info(str(tmp_path / "m_spotify.wav")).subtype == "PCM_24"
    # Analysed once, fitted to each: the same files as runs for one target each.
    for name in ("spotify", "cd"):
        alone = tmp_path / "alone" / name
        alone.mkdir(parents=True)
        single = runner.invoke(app, ["match", str(mix), "--ref", str(ref), "-o", str(alone / "m.wav"), "--target", name])
        assert single.exit_code == 0, single.output
        assert hashlib.sha256((alone / "m.wav").read_bytes()).digest() == \
            hashlib.sha256((tmp_path / f"m_{name}.wav").read_bytes()).digest()
    twice = runner.invoke(app, ["match", str(mix), "--ref", str(ref), "-o", str(tmp_path / "x.wav"),
                                "--target", "cd", "--target", "CD"])
    assert twice.exit_code == EXIT_BAD_INPUT and "given twice" in twice.stderr


def test_the_dither_option_is_kept_in_the_settings_and_renders_the_same_file(tmp_path):
    import hashlib

    mix, ref = ROOT / "examples" / "mix.flac", ROOT / "examples" / "reference.flac"
    settings = tmp_path / "s.json"
    result = runner.invoke(app, ["match", str(mix), "--ref", str(ref), "-o", str(tmp_path / "m.wav"),
                                 "--bit-depth", "16", "--dither", "shaped", "--save-settings", str(settings)])
    assert result.exit_code == 0, result.output
    assert "noise-shaped dither (F-weighted" in " ".join(result.stdout.split())
    # Noise shaping's larger error (up to 58 LSB, -55 dBFS) is within the peak guarantee.
    written, _ = sf.read(str(tmp_path / "m.wav"), dtype="float64", always_2d=True)
    assert signals.true_peak_ideal_dbtp(written) <= -1.0
    saved = json.loads(settings.read_text(encoding="utf-8"))["output"]
    assert saved["dither"] is True and saved["dither_shape"] == "shaped"
    again = runner.invoke(app, ["render", str(mix), "--settings", str(settings), "-o", str(tmp_path / "r.wav")])
    assert again.exit_code == 0, again.output
    assert hashlib.sha256((tmp_path / "r.wav").read_bytes()).digest() == \
        hashlib.sha256((tmp_path / "m.wav").read_bytes()).digest()
    plain = runner.invoke(app, ["match", str(mix), "--ref", str(ref), "-o", str(tmp_path / "n.wav"),
                                "--bit-depth", "16", "--dither", "none"])
    assert plain.exit_code == 0 and "no dither" in " ".join(plain.stdout.split())
