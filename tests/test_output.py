"""What the command line prints: never wrapped to a pipe or a file, folded (not cut) in a
narrow terminal, no user text read as markup or emoji codes, JSON to standard output with
``-``, help text in whole sentences.

The pipe and terminal tests run the installed ``automaster`` in a process of its own, from
a folder with a long path, with ``COLUMNS`` unset, 40 and 200; the terminal ones through a
pseudo-terminal of 40 and 200 columns.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import signals

from matcher import Analysis, Settings
from matcher.cli.app import app
from matcher.io.writing import AtomicAudioWriter

SAMPLE_RATE_HZ = 44100
DURATION_S = 4.0
WAIT_S = 300
LONG = "a-folder-with-a-long-name-as-people-have-them-" * 2
BOX = re.compile(r"[\s│┃|─━┌┐└┘├┤┬┴┼╭╮╰╯┏┓┗┛┡┩╇┣┫╋]+")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

runner = CliRunner()


def _automaster() -> str:
    found = shutil.which("automaster", path=str(Path(sys.executable).parent)) or shutil.which("automaster")
    if found is None:
        pytest.skip("the automaster command is not installed")
    return found


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder with a long path, holding a mix and a reference."""
    root = tmp_path_factory.mktemp("output") / LONG / LONG
    root.mkdir(parents=True)
    mix = signals.drum_loop(DURATION_S, SAMPLE_RATE_HZ, seed=1)
    ref = signals.pink_noise(DURATION_S, SAMPLE_RATE_HZ, rms=0.2, seed=2, correlation=0.5)
    sf.write(str(root / "my mix.wav"), 0.3 * mix / np.max(np.abs(mix)), SAMPLE_RATE_HZ, subtype="PCM_24")
    sf.write(str(root / "bright.wav"), ref, SAMPLE_RATE_HZ, subtype="PCM_24")
    return root


def _environment(columns: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    env["XDG_DATA_HOME"] = env.get("XDG_DATA_HOME", "")  # keep the user's library out of it
    return env


def _piped(args: list[str], columns: str | None) -> subprocess.CompletedProcess:
    done = subprocess.run([_automaster(), *args], env=_environment(columns), capture_output=True, text=True,
                          timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    return done


COLUMNS = pytest.mark.parametrize("columns", [None, "40", "200"], ids=["COLUMNS unset", "COLUMNS=40", "COLUMNS=200"])


@COLUMNS
def test_to_a_pipe_nothing_is_wrapped(folder, tmp_path, columns):
    out = folder / f"my mix master {columns}.wav"
    library = tmp_path / "library"
    done = _piped(["match", str(folder / "my mix.wav"), "--ref", str(folder / "bright.wav"), "-o", str(out),
                   "--force"], columns)
    assert f"master written: {out}\n" in done.stdout  # the whole path, on one line
    lines = done.stdout.splitlines()
    assert len(lines) > 10 and not any("…" in line for line in lines)
    first = _piped(["library", "add", str(folder / "bright.wav"), "--library", str(library)], columns)
    assert f"{folder / 'bright.wav'}: added as bright\n" in first.stdout
    again = _piped(["library", "add", str(folder / "bright.wav"), "--library", str(library)], columns)
    assert f"{folder / 'bright.wav'}: already in the library as bright\n" in again.stdout
    listed = _piped(["library", "list", "--library", str(library)], columns)
    row = next(line for line in listed.stdout.splitlines() if "bright" in line and str(folder) in line)
    for value in ("bright", str(folder / "bright.wav")):
        assert value in row, listed.stdout


def _in_terminal(args: list[str], columns: int) -> str:
    """What the command shows in a terminal ``columns`` wide (ANSI codes removed)."""
    import fcntl
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = _environment(None)
    env["TERM"] = "xterm"
    process = subprocess.Popen([_automaster(), *args], stdin=follower, stdout=follower, stderr=follower, env=env,
                               close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], WAIT_S)
        if not ready:
            process.kill()
            raise AssertionError("no output from the command")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=WAIT_S) == 0
    return ANSI.sub("", b"".join(chunks).decode("utf-8", "replace").replace("\r", ""))


@pytest.mark.parametrize("columns", [40, 200])
def test_in_a_terminal_tables_fold_their_cells_and_keep_everything(folder, columns):
    out = folder / f"terminal master {columns}.wav"
    shown = _in_terminal(["match", str(folder / "my mix.wav"), "--ref", str(folder / "bright.wav"), "-o", str(out),
                          "--force"], columns)
    assert "…" not in shown
    collapsed = BOX.sub("", shown)
    assert BOX.sub("", f"master written: {out}") in collapsed
    for label in ("loudness", "true peak", "PLR", "loudness range", "gain applied", "limiter", "EQ (dB)"):
        assert BOX.sub("", label) in collapsed
    assert re.search(r"-?\d+\.\d\dLUFS\(target-?\d+\.\d\d\)", collapsed), shown
    widest = max(len(line) for line in shown.splitlines() if "│" in line)
    assert widest <= columns


HOSTILE_NAMES = ["[bold]mix.wav", "mix:smile:.wav", "[link=x]mix[red].wav"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_file_names_are_never_markup_or_emoji(tmp_path, name):
    mix = tmp_path / name
    sf.write(str(mix), 0.3 * signals.drum_loop(DURATION_S, SAMPLE_RATE_HZ, seed=1), SAMPLE_RATE_HZ)
    result = runner.invoke(app, ["analyze", str(mix)])
    assert result.exit_code == 0, result.output
    assert str(mix) in result.stdout
    missing = runner.invoke(app, ["match", str(mix), "--ref", str(tmp_path / name.replace("mix", "ref"))])
    assert missing.exit_code == 2
    assert str(tmp_path / name.replace("mix", "ref")) in missing.stderr
    assert "😄" not in result.stdout + missing.stderr


def test_a_weight_that_is_an_emoji_code_is_printed_as_given(tmp_path):
    # --ref x.wav:smile: is a file name (no number after the colon), printed as it is.
    result = runner.invoke(app, ["match", str(tmp_path / "mix.wav"), "--ref", f"{tmp_path / 'x.wav'}:smile:"])
    assert result.exit_code == 2
    assert "😄" not in result.stderr


def test_json_to_standard_output(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    analysed = runner.invoke(app, ["analyze", str(folder / "my mix.wav"), "--json", "-"])
    assert analysed.exit_code == 0, analysed.output
    analysis = Analysis.from_json(analysed.stdout)
    assert analysis.channels == 2 and abs(analysis.duration_s - DURATION_S) < 1e-3
    suggested = runner.invoke(app, ["suggest", str(folder / "my mix.wav"), "--ref", str(folder / "bright.wav"),
                                    "--json", "-"])
    assert suggested.exit_code == 0, suggested.output
    settings = Settings.from_json(suggested.stdout)
    assert json.loads(settings.to_json()) == json.loads(suggested.stdout)
    assert not (tmp_path / "-").exists()


def test_help_is_whole_sentences_and_usage_names_arguments():
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    commands = top.stdout.split("Commands:")[1]
    for name in ("match", "suggest", "render", "analyze", "preview", "batch", "album", "library"):
        line = next(line for line in commands.splitlines() if line.strip().startswith(name + " "))
        assert line.rstrip().endswith("."), line  # a whole first sentence, not cut
    match = runner.invoke(app, ["match", "--help"])
    assert "match [OPTIONS] MIX\n" in match.stdout
    assert "{" not in match.stdout.split("\n\n")[0]
    add = runner.invoke(app, ["library", "add", "--help"])
    assert "FILES..." in add.stdout


@pytest.mark.parametrize("suffix", [".wav", ".aiff"])
def test_a_float_master_is_the_same_bytes_whenever_it_is_written(tmp_path, suffix):
    # libsndfile gives float files a PEAK chunk holding the time of writing: the same master
    # written a second later differed in four bytes. The writer leaves the chunk out.
    x = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(4410) / 44100)[:, None].repeat(2, axis=1).astype(np.float32)
    plain = tmp_path / f"plain{suffix}"
    sf.write(str(plain), x, 44100, subtype="FLOAT")
    assert b"PEAK" in plain.read_bytes()[:512]  # what the check below would see
    written = tmp_path / f"master{suffix}"
    with AtomicAudioWriter(written, 44100, 2, "32f") as writer:
        writer.write(x)
    data = written.read_bytes()
    assert b"PEAK" not in data[:512]
    np.testing.assert_array_equal(sf.read(str(written), dtype="float32")[0], x)
