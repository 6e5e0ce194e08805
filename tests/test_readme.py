"""The README's examples run as written: its Python blocks, in a folder holding the bundled
examples, and what they print and write holds on independent meters (pyloudnorm)."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import pyloudnorm
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture
def examples(tmp_path, monkeypatch) -> Path:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _lufs(path: Path) -> float:
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return float(pyloudnorm.Meter(rate).integrated_loudness(data))


def test_the_readme_has_a_file_and_an_array_example():
    blocks = _python_blocks()
    assert len(blocks) == 2 and "matcher.master(" in blocks[0] and "render(" in blocks[1]


def test_the_file_level_example_runs_and_its_figures_hold(examples):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_python_blocks()[0], "README.md", "exec"), {})
    out = printed.getvalue()
    lufs = float(re.search(r"(-?\d+\.\d+) LUFS, true peak", out).group(1))
    assert abs(lufs - _lufs(examples / "master.wav")) < 0.05  # what it prints is what the file measures
    assert abs(lufs - -14.0) < 0.3
    assert (examples / "again.wav").read_bytes() == (examples / "master.wav").read_bytes()
    assert "would be" in out and "reference:" in out


def test_the_array_example_runs(examples):
    exec(compile(_python_blocks()[1], "README.md", "exec"), {})
    written, rate = sf.read(str(examples / "master-arrays.wav"), dtype="float64", always_2d=True)
    mix = examples / "examples" / "mix.flac"
    assert rate == sf.info(str(mix)).samplerate and written.shape[0] == sf.info(str(mix)).frames
    reference = _lufs(examples / "examples" / "reference.flac")
    lufs = float(pyloudnorm.Meter(rate).integrated_loudness(written))
    # The arrays give what `match` gives, which says whether the reference's loudness was in
    # reach under the ceiling and the distortion budget, and stays under it when it was not.
    import matcher

    result = matcher.master(mix, [examples / "examples" / "reference.flac"], examples / "by-file.wav")
    assert abs(lufs - _lufs(examples / "by-file.wav")) < 0.05
    if result.target_reached:
        assert abs(lufs - reference) < 0.5
    else:
        assert lufs < reference and result.notes
