"""``automaster batch``: many mixes, references analysed once, a manifest, resuming, Dask.

Loudness is checked with pyloudnorm and true peak with scipy's polyphase resampler
(``signals.true_peak_reference_dbtp``), both independent of the package. A batch must
master the good mixes exactly as ``automaster match`` does, list a bad one with its error
and exit 2, leave no temporary file, and on a second run redo only what is missing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from typer.testing import CliRunner

import signals

from matcher.analysis.result import Analysis
from matcher.batch import recipe as batch_recipe
from matcher.batch.jobs import FAILED, OK, PENDING, SKIPPED, BatchJob
from matcher.batch.manifest import CSV_COLUMNS, LOCK_NAME, Manifest
from matcher.cli.app import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, app
from matcher.fitting.config import FitConfig
from matcher.library.choice import Choice

SAMPLE_RATE_HZ = 44100
DURATION_S = 4.0
FRAMES = int(SAMPLE_RATE_HZ * DURATION_S)
LOUDNESS_TOLERANCE_LU = 0.15
TRUE_PEAK_TOLERANCE_DB = 0.01
WAIT_S = 120.0
"""Longest wait for a subprocess's batch to reach a point (a safety net, not a timing)."""

runner = CliRunner()


# --- signals and files -------------------------------------------------------------------


def _mix_signal(seed: int = 1, level: float = 0.3, duration_s: float = DURATION_S) -> np.ndarray:
    """An unmastered mix: a drum loop with bass and pad, sample peak ``level``."""
    x = signals.drum_loop(duration_s, SAMPLE_RATE_HZ, seed=seed)
    return level * x / np.max(np.abs(x))


def _reference_signal(seed: int = 2, level: float = 0.8) -> np.ndarray:
    """A loud master: drums and pink noise driven into a soft clipper."""
    drums = signals.drum_loop(DURATION_S, SAMPLE_RATE_HZ, seed=seed)
    noise = signals.pink_noise(DURATION_S, SAMPLE_RATE_HZ, rms=0.2, seed=seed + 100, correlation=0.5)
    x = np.tanh(1.5 * (drums + noise) / np.max(np.abs(drums + noise)))
    return level * x / np.max(np.abs(x))


def _write(path: Path, data: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, SAMPLE_RATE_HZ, subtype="PCM_24")
    return path


def _random_bytes(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(5).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    return path


def _read(path: Path) -> np.ndarray:
    data, _ = sf.read(str(path), dtype="float64", always_2d=True)
    return data


def _lufs(data: np.ndarray) -> float:
    return float(pyloudnorm.Meter(SAMPLE_RATE_HZ).integrated_loudness(data))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` (hidden ones too) with its sha256, or "dir"."""
    return {str(p.relative_to(root)): "dir" if p.is_dir() else _sha(p) for p in sorted(root.rglob("*"))}


def _stamps(paths) -> dict[str, tuple[int, str]]:
    return {p.name: (p.stat().st_mtime_ns, _sha(p)) for p in paths}


def _temporary_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.name.endswith(".tmp")]


def _batch(*args):
    return runner.invoke(app, ["batch", *map(str, args)])


def _manifest(out: Path) -> dict[str, dict]:
    """The manifest's entries by mix file name."""
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {Path(m["mix"]).name: m for m in data["mixes"]}


def _statuses(out: Path) -> dict[str, str]:
    return {name: m["status"] for name, m in _manifest(out).items()}


def _exit(result, code: int) -> None:
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"


@dataclass(frozen=True)
class Run:
    """A batch run and what it was given."""

    result: object
    inputs: Path
    out: Path
    inputs_before: dict[str, str]
    reference_analyses: int


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Run:
    """Two good mixes and random bytes named .wav, against one reference, on 2 workers.

    The batch's reference analysis is counted; each time it has analysed the file, the
    file is moved away until the batch ends, so a worker that read it would fail.
    """
    root = tmp_path_factory.mktemp("first")
    inputs = root / "inputs"
    a = _write(inputs / "a.wav", _mix_signal(seed=1))
    b = _write(inputs / "b.wav", _mix_signal(seed=3, level=0.15))
    bad = _random_bytes(inputs / "bad.wav")
    ref = _write(inputs / "ref.wav", _reference_signal())
    before = _snapshot(inputs)
    calls = []
    real = batch_recipe.analyse_reference

    def counted(path, stop=None):
        analysis = real(path, stop)
        calls.append(path)
        path.rename(path.with_name(path.name + ".away"))
        return analysis

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_recipe, "analyse_reference", counted)
        result = _batch(a, b, bad, "--ref", ref, "--out", root / "out", "--workers", "2")
    (inputs / "ref.wav.away").rename(ref)
    return Run(result, inputs, root / "out", before, len(calls))


# --- one batch ---------------------------------------------------------------------------


def test_good_mixes_are_mastered_to_the_reference_and_the_bad_one_fails_alone(first):
    _exit(first.result, EXIT_BAD_INPUT)
    ref_lufs = _lufs(_read(first.inputs / "ref.wav"))
    for name in ("a", "b"):
        master = _read(first.out / f"{name}_master.wav")
        assert master.shape == (FRAMES, 2)
        assert abs(_lufs(master) - ref_lufs) <= LOUDNESS_TOLERANCE_LU
        assert signals.true_peak_reference_dbtp(master) <= -1.0 + TRUE_PEAK_TOLERANCE_DB
    # b starts 6 dB below a: the two masters meet at the reference's loudness, so each mix
    # was fitted on its own.
    assert _lufs(_read(first.inputs / "a.wav")) - _lufs(_read(first.inputs / "b.wav")) > 5.0
    assert not (first.out / "bad_master.wav").exists()
    errors = [line for line in first.result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "bad.wav" in errors[0] and "not a readable audio file" in errors[0]


def test_the_manifest_lists_every_mix_in_json_and_csv(first):
    entries = _manifest(first.out)
    assert {n: e["status"] for n, e in entries.items()} == {"a.wav": OK, "b.wav": OK, "bad.wav": FAILED}
    ref_lufs = _lufs(_read(first.inputs / "ref.wav"))
    for name in ("a.wav", "b.wav"):
        entry = entries[name]
        assert entry["references"] == ["ref.wav"] and entry["weights"] == [1.0]
        assert entry["mix_sha256"] == _sha(first.inputs / name)
        assert entry["frames"] == FRAMES
        assert Path(entry["output"]) == first.out / name.replace(".wav", "_master.wav")
        # The manifest's figures are the master's, as measured independently.
        master = _read(Path(entry["output"]))
        assert entry["output_lufs"] == pytest.approx(_lufs(master), abs=0.05)
        assert abs(entry["output_lufs"] - ref_lufs) <= LOUDNESS_TOLERANCE_LU
        # The printed true peak is the guarantee's reading: never under the ideal, a little over.
        ideal = signals.true_peak_ideal_dbtp(master)
        assert ideal - 0.005 <= entry["output_true_peak_dbtp"] <= ideal + 0.15
        assert entry["error"] is None
    assert "bad.wav" in entries["bad.wav"]["error"]
    with open(first.out / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_file = {r["file"]: r for r in rows}
    assert by_file["bad.wav"]["status"] == FAILED and "bad.wav" in by_file["bad.wav"]["error"]
    assert by_file["a.wav"]["status"] == OK and by_file["a.wav"]["reference"] == "ref.wav"
    assert float(by_file["a.wav"]["output_lufs"]) == pytest.approx(entries["a.wav"]["output_lufs"], abs=0.01)
    for name in ("a.wav", "b.wav", "bad.wav"):
        assert name in first.result.stdout  # the final table


def test_a_batch_leaves_no_temporary_file_and_changes_no_input(first):
    assert _snapshot(first.inputs) == first.inputs_before
    assert sorted(p.name for p in first.out.iterdir()) == sorted(
        [LOCK_NAME, "a_master.wav", "b_master.wav", "manifest.csv", "manifest.json"]
    )
    assert not _temporary_files(first.out.parent)


def test_the_reference_is_analysed_once_per_batch_and_never_by_a_worker(first):
    # Two mixes mastered (and a third tried), and the reference file was away while they
    # were: the workers used the batch's analysis.
    assert first.reference_analyses == 1
    assert _statuses(first.out)["a.wav"] == OK and _statuses(first.out)["b.wav"] == OK


def test_a_batch_writes_what_match_writes(first, tmp_path):
    out = tmp_path / "matched.wav"
    result = runner.invoke(app, ["match", str(first.inputs / "a.wav"), "--ref", str(first.inputs / "ref.wav"), "-o", str(out)])
    _exit(result, 0)
    assert out.read_bytes() == (first.out / "a_master.wav").read_bytes()  # dither included: seeded


def test_a_batch_takes_matchs_delivery_options(first, tmp_path):
    # --target, --sample-rate, --dither and --no-limiter as match takes them: the same file.
    options = ["--target", "cd", "--sample-rate", "48000", "--dither", "hp-tpdf"]
    out = tmp_path / "matched.wav"
    _exit(runner.invoke(app, ["match", str(first.inputs / "a.wav"), "--ref", str(first.inputs / "ref.wav"), "-o",
                              str(out), *options]), 0)
    batch = _batch(first.inputs / "a.wav", "--ref", first.inputs / "ref.wav", "--out", tmp_path / "batch",
                   "--workers", "1", *options)
    _exit(batch, 0)
    written = tmp_path / "batch" / "a_master.wav"
    info = sf.info(str(written))
    assert (info.samplerate, info.subtype) == (48000, "PCM_16")
    assert written.read_bytes() == out.read_bytes()
    plain = tmp_path / "plain.wav"
    _exit(runner.invoke(app, ["match", str(first.inputs / "a.wav"), "--ref", str(first.inputs / "ref.wav"), "-o",
                              str(plain), "--no-limiter"]), 0)
    _exit(_batch(first.inputs / "a.wav", "--ref", first.inputs / "ref.wav", "--out", tmp_path / "plain",
                 "--workers", "1", "--no-limiter"), 0)
    assert (tmp_path / "plain" / "a_master.wav").read_bytes() == plain.read_bytes()
    assert plain.read_bytes() != (first.out / "a_master.wav").read_bytes()  # the option took effect


def test_one_worker_writes_what_two_write_and_shows_progress_on_a_terminal(first, tmp_path, monkeypatch):
    import io
    import re

    from rich.console import Console

    from matcher.cli import batch as batch_cli

    screen = io.StringIO()
    monkeypatch.setattr(batch_cli, "stderr", Console(file=screen, force_terminal=True, width=120))
    inputs = tmp_path / "inputs"
    mixes = [_write(inputs / name, _read(first.inputs / name)) for name in ("a.wav", "b.wav")]
    out = tmp_path / "out"
    _exit(_batch(*mixes, "--ref", first.inputs / "ref.wav", "--out", out, "--workers", "1"), 0)
    for name in ("a", "b"):
        assert (out / f"{name}_master.wav").read_bytes() == (first.out / f"{name}_master.wav").read_bytes()
    frames = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", f) for f in screen.getvalue().replace("\n", "\r").split("\r")]
    counts = [int(m.group(1)) for m in (re.search(r"mastering \S+\s+(\d)/2 mixes", f) for f in frames) if m]
    assert counts and counts == sorted(counts) and counts[-1] == 2, frames


# --- resuming ----------------------------------------------------------------------------


def test_a_second_run_skips_what_is_done_and_redoes_only_what_is_missing(tmp_path):
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    mixes = [_write(inputs / f"{n}.wav", _mix_signal(seed=s)) for n, s in (("a", 1), ("b", 3), ("c", 5))]
    ref = _write(inputs / "ref.wav", _reference_signal())
    command = [*mixes, "--ref", ref, "--out", out, "--workers", "2"]
    _exit(_batch(*command), 0)
    masters = [out / f"{n}_master.wav" for n in "abc"]
    done = _stamps(masters)

    again = _batch(*command)
    _exit(again, 0)
    assert set(_statuses(out).values()) == {SKIPPED}
    assert _stamps(masters) == done  # untouched: same time stamp, same bytes
    assert "3 mixes: 3 skipped: done" in again.stdout

    # As after a crash: a's master gone, b's cut short (a manifest that says done, an
    # output that is not), c's whole; temporary files of a killed writer beside them.
    masters[0].unlink()
    masters[1].write_bytes(masters[1].read_bytes()[: masters[1].stat().st_size // 2])
    leftovers = [out / ".a_master.wav.k1ll3d.tmp", out / ".manifest.json.x9z8y7.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"half written")
    resumed = _batch(*command)
    _exit(resumed, 0)
    assert _statuses(out) == {"a.wav": OK, "b.wav": OK, "c.wav": SKIPPED}
    now = _stamps(masters)
    assert now["c_master.wav"] == done["c_master.wav"]
    assert {n: s for n, (_, s) in now.items()} == {n: s for n, (_, s) in done.items()}  # the same masters again
    assert not _temporary_files(tmp_path)

    # A mix that changed is mastered again; one that became unreadable fails, and its
    # master from before is removed (it is no longer the master of that mix).
    _write(mixes[0], _mix_signal(seed=7))
    _random_bytes(mixes[2])
    changed = _batch(*command)
    _exit(changed, EXIT_BAD_INPUT)
    assert _statuses(out) == {"a.wav": OK, "b.wav": SKIPPED, "c.wav": FAILED}
    assert _sha(masters[0]) != done["a_master.wav"][1]
    assert not masters[2].exists()
    assert _stamps(masters[1:2]) == {"b_master.wav": now["b_master.wav"]}


def test_a_file_the_manifest_does_not_list_is_replaced_only_with_force(tmp_path):
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    a, b = _write(inputs / "a.wav", _mix_signal(seed=1)), _write(inputs / "b.wav", _mix_signal(seed=3))
    ref = _write(inputs / "ref.wav", _reference_signal())
    out.mkdir()
    (out / "a_master.wav").write_bytes(b"someone's earlier master")
    result = _batch(a, b, "--ref", ref, "--out", out, "--workers", "1")
    _exit(result, EXIT_BAD_INPUT)
    assert _statuses(out) == {"a.wav": FAILED, "b.wav": OK}
    assert (out / "a_master.wav").read_bytes() == b"someone's earlier master"
    assert "--force" in _manifest(out)["a.wav"]["error"]
    b_before = _stamps([out / "b_master.wav"])
    _exit(_batch(a, b, "--ref", ref, "--out", out, "--workers", "1", "--force"), 0)
    assert _statuses(out) == {"a.wav": OK, "b.wav": OK}
    assert sf.info(str(out / "a_master.wav")).frames == FRAMES
    assert _stamps([out / "b_master.wav"]) != b_before  # --force redoes the done ones too


def test_ctrl_c_says_what_was_written(tmp_path, monkeypatch):
    # Before the manifest is written nothing is left behind, and the message says so; after
    # it, the message names the manifest and what it lists as done.
    from matcher.batch import runner as batch_runner

    inputs, out = tmp_path / "inputs", tmp_path / "out"
    mix, ref = _write(inputs / "a.wav", _mix_signal(seed=1)), _write(inputs / "ref.wav", _reference_signal())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch_recipe, "analyse_references", interrupted)
    early = _batch(mix, "--ref", ref, "--out", out, "--workers", "1")
    _exit(early, EXIT_INTERRUPTED)
    assert "interrupted (no partial file is left)" in early.stderr and not out.exists()
    monkeypatch.undo()
    monkeypatch.setattr(batch_runner.LocalRunner, "results", interrupted)
    late = _batch(mix, "--ref", ref, "--out", out, "--workers", "1")
    _exit(late, EXIT_INTERRUPTED)
    assert f"interrupted; 0 of 1 mixes are done, as {out.absolute() / 'manifest.json'} lists" in late.stderr
    assert _statuses(out) == {"a.wav": PENDING}


@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_a_stopped_batch_loses_nothing_and_leaves_no_partial_file(tmp_path, how):
    # A real process, stopped once its manifest lists a mix as done: Ctrl-C (SIGINT to the
    # batch) or kill -9 of the batch and its workers together.
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    mixes = [_write(inputs / f"m{i}.wav", _mix_signal(seed=i + 1)) for i in range(6)]
    ref = _write(inputs / "ref.wav", _reference_signal())
    command = [sys.executable, "-m", "matcher", "batch", *map(str, mixes), "--ref", str(ref), "--out", str(out),
               "--workers", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if OK in _statuses(out).values():
                break
        except (OSError, ValueError):  # not written yet
            pass
        time.sleep(0.02)
    if how == "ctrl-c":
        proc.send_signal(signal.SIGINT)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=WAIT_S)
    statuses = _statuses(out)
    if how == "ctrl-c":
        assert proc.returncode == EXIT_INTERRUPTED, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr
        assert not _temporary_files(out)
    else:
        assert proc.returncode == -signal.SIGKILL
    assert OK in statuses.values() and PENDING in statuses.values(), statuses
    done = [out / name.replace(".wav", "_master.wav") for name, s in statuses.items() if s == OK]
    for master in done:
        assert sf.info(str(master)).frames == FRAMES
    stamps = _stamps(done)

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=WAIT_S)
    assert resumed.returncode == 0, resumed.stderr
    after = _statuses(out)
    assert {n for n, s in after.items() if s == SKIPPED} == {n for n, s in statuses.items() if s == OK}
    assert set(after.values()) <= {OK, SKIPPED}
    assert _stamps(done) == stamps
    assert not _temporary_files(out)
    for i in range(6):
        assert sf.info(str(out / f"m{i}_master.wav")).frames == FRAMES


# --- workers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DiesOnShortMixes:
    """A chooser that kills its worker process outright for a mix shorter than ``below_s``
    (as the kernel's out-of-memory killer would), and otherwise picks ``reference``."""

    below_s: float
    reference: Analysis

    def __call__(self, mix: Analysis) -> Choice:
        if mix.duration_s < self.below_s:
            os._exit(3)
        return Choice(("ref",), (1.0,), None, (self.reference,), "given")


def test_a_worker_that_dies_costs_only_its_mix(tmp_path):
    from matcher.batch.recipe import analyse_reference, make_recipe
    from matcher.batch.runner import LocalRunner

    ref = _write(tmp_path / "ref.wav", _reference_signal())
    a = _write(tmp_path / "a.wav", _mix_signal(seed=1))
    short = _write(tmp_path / "short.wav", _mix_signal(seed=2, duration_s=3.5))
    b = _write(tmp_path / "b.wav", _mix_signal(seed=3))
    recipe = make_recipe(FitConfig(), choose=DiesOnShortMixes(3.8, analyse_reference(ref)))
    out = tmp_path / "out"
    out.mkdir()
    jobs = [BatchJob(m, out / f"{m.stem}_master.wav") for m in (a, short, b)]
    with LocalRunner(recipe, workers=1) as local:
        results = {Path(r.mix).name: r for r in local.results(jobs)}
    assert {n: r.status for n, r in results.items()} == {"a.wav": OK, "short.wav": FAILED, "b.wav": OK}
    assert results["short.wav"].internal_error and "exit code 3" in results["short.wav"].error
    assert sorted(p.name for p in out.iterdir()) == ["a_master.wav", "b_master.wav"]


def test_the_fingerprint_follows_every_option_and_reference(first):
    from matcher.fitting.settings import LimiterSettings

    reference = batch_recipe.analyse_reference(first.inputs / "ref.wav")
    base = batch_recipe.fingerprint(FitConfig(), [reference], None, None, ".wav")
    assert base == batch_recipe.fingerprint(FitConfig(), [reference], None, None, ".wav")
    others = {
        batch_recipe.fingerprint(FitConfig(target_lufs=-14.0), [reference], None, None, ".wav"),
        batch_recipe.fingerprint(FitConfig(limiter=LimiterSettings(ceiling_dbtp=-2.0)), [reference], None, None, ".wav"),
        batch_recipe.fingerprint(FitConfig(), [reference, reference], [0.7, 0.3], None, ".wav"),
        batch_recipe.fingerprint(FitConfig(), [reference], None, None, ".flac"),
        batch_recipe.fingerprint(FitConfig(), [], None, None, ".wav"),
    }
    assert base not in others and len(others) == 5


def test_the_manifest_round_trips(tmp_path):
    from matcher.batch.jobs import JobResult

    entries = [
        JobResult("/m/a.wav", "/o/a_master.wav", OK, "f" * 64, "0" * 64, ("r.wav",), (1.0,), None, -9.5, -1.02, 176400,
                  1234, 1.5, None, False, ("clipped",), "host:1"),
        JobResult("/m/b.wav", "/o/b_master.wav", FAILED, "f" * 64, error="/m/b.wav: no such file"),
    ]
    Manifest(tmp_path, entries).save()
    loaded = Manifest.load(tmp_path)
    assert loaded.entries() == entries
    assert loaded.owns(Path("/o/b_master.wav")) and not loaded.owns(Path("/o/c_master.wav"))


# --- references from a library -----------------------------------------------------------


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Four references, two bright and loud, two dark and quiet, in two styles."""
    from matcher import analyze
    from matcher.library.store import Library, Profile
    from matcher.library.styles import make_styles, save_styles

    library = Library(tmp_path_factory.mktemp("library"))
    tracks = {"bright_a": (3.0, 0.25, 1), "bright_b": (3.5, 0.22, 2), "dark_a": (-3.0, 0.05, 4), "dark_b": (-3.5, 0.06, 5)}
    profiles = []
    for name, (tilt, rms, seed) in tracks.items():
        x = signals.tilted_noise(DURATION_S, SAMPLE_RATE_HZ, tilt, rms=rms, seed=seed)
        profiles.append(Profile(name, hashlib.sha256(x.tobytes()).hexdigest(), name, (), "2026-12-01", analyze(x, SAMPLE_RATE_HZ)))
    library.add(profiles)
    save_styles(library, make_styles(library, n_styles=2))
    return library


@pytest.mark.parametrize("how", ["library", "style"])
def test_library_and_style_choose_the_references_per_mix(tmp_path, library, how):
    from matcher.jobs import master_file
    from matcher.library.choice import LibraryChoice, StyleChoice
    from matcher.library.styles import load_styles

    inputs, out = tmp_path / "inputs", tmp_path / "out"
    mixes = [_write(inputs / "a.wav", _mix_signal(seed=1)), _write(inputs / "b.wav", _mix_signal(seed=3, level=0.1))]
    if how == "library":
        options, choose = ["--library", library.root, "--k", "2"], LibraryChoice(library.root, 2)
    else:
        style = load_styles(library).styles[0].name
        options, choose = ["--library", library.root, "--style", style], StyleChoice(library.root, style)
    _exit(_batch(*mixes, *options, "--out", out, "--workers", "2"), 0)
    entries = _manifest(out)
    for mix in mixes:
        expected = master_file(mix, [], tmp_path / "expected.wav", FitConfig(), force=True, choose=choose)
        entry = entries[mix.name]
        assert tuple(entry["references"]) == expected.choice.names
        assert entry["weights"] == pytest.approx(expected.choice.weights)
        assert entry["how"] == expected.choice.how
        assert (out / f"{mix.stem}_master.wav").read_bytes() == (tmp_path / "expected.wav").read_bytes()
    if how == "library":
        assert len(entries["a.wav"]["references"]) == 2


# --- Dask --------------------------------------------------------------------------------


def test_dask_masters_the_same_files_with_failures_isolated(first, tmp_path):
    distributed = pytest.importorskip("distributed")

    inputs, out = tmp_path / "inputs", tmp_path / "out"
    mixes = [_write(inputs / name, _read(first.inputs / name)) for name in ("a.wav", "b.wav")]
    mixes.append(_random_bytes(inputs / "bad.wav"))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        result = _batch(*mixes, "--ref", first.inputs / "ref.wav", "--out", out, "--scheduler", cluster.scheduler_address)
    _exit(result, EXIT_BAD_INPUT)
    assert _statuses(out) == _statuses(first.out)
    for name in ("a", "b"):
        assert (out / f"{name}_master.wav").read_bytes() == (first.out / f"{name}_master.wav").read_bytes()
    assert "bad.wav" in _manifest(out)["bad.wav"]["error"]
    assert not (out / "bad_master.wav").exists() and not _temporary_files(out)


def test_scheduler_without_dask_is_a_one_line_error(first, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    before = _snapshot(tmp_path)
    result = _batch(first.inputs / "a.wav", "--ref", first.inputs / "ref.wav", "--out", tmp_path / "out",
                    "--scheduler", "tcp://127.0.0.1:8786")
    _one_line_error(result, "pip install 'automaster[distributed]'")
    assert _snapshot(tmp_path) == before


# --- bad usage ---------------------------------------------------------------------------


def _one_line_error(result, needle: str) -> None:
    _exit(result, EXIT_BAD_INPUT)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert isinstance(result.exception, SystemExit)  # handled, not escaped


BAD_USAGE = {
    "no mixes": (lambda t: ["--ref", t / "ref.wav", "--out", t / "out"], "no mixes given"),
    "--ref and --library": (lambda t: [t / "a.wav", "--ref", t / "ref.wav", "--library", t, "--out", t / "out"], "not both"),
    "--out in a missing folder": (lambda t: [t / "a.wav", "--ref", t / "ref.wav", "--out", t / "nowhere" / "out"], "nowhere"),
    "--out is a file": (lambda t: [t / "a.wav", "--ref", t / "ref.wav", "--out", t / "a.wav"], "is a file"),
    "0 workers": (lambda t: [t / "a.wav", "--ref", t / "ref.wav", "--out", t / "out", "--workers", "0"], "--workers 0"),
    "--workers with --scheduler": (
        lambda t: [t / "a.wav", "--ref", t / "ref.wav", "--out", t / "out", "--workers", "2", "--scheduler", "tcp://h:1"],
        "--workers",
    ),
    "unknown format": (lambda t: [t / "a.wav", "--ref", t / "ref.wav", "--out", t / "out", "--format", "mp3"], "--format"),
    "float FLAC": (
        lambda t: [t / "a.wav", "--ref", t / "ref.wav", "--out", t / "out", "--format", "flac", "--bit-depth", "32f"],
        "FLAC cannot hold",
    ),
    "two mixes of one name": (
        lambda t: [t / "a.wav", t / "again" / "a.wav", "--ref", t / "ref.wav", "--out", t / "out"],
        "would both be mastered",
    ),
    "a master over a reference": (
        lambda t: [t / "a.wav", "--ref", t / "masters" / "a_master.wav", "--out", t / "masters"], "is an input file"
    ),
    "a bad reference": (lambda t: [t / "a.wav", "--ref", t / "bad.wav", "--out", t / "out"], "bad.wav"),
    "a reference weight below 0": (lambda t: [t / "a.wav", "--ref", f"{t / 'ref.wav'}:-1", "--out", t / "out"], ">= 0"),
    "an empty library": (lambda t: [t / "a.wav", "--library", t / "again", "--out", t / "out"], "library"),
    "an unknown option value": (lambda t: [t / "a.wav", "--ref", t / "ref.wav", "--out", t / "out", "--eq-amount", "150"],
                                "--eq-amount 150"),
}


@pytest.mark.parametrize("case", BAD_USAGE.values(), ids=BAD_USAGE.keys())
def test_bad_usage_is_one_line_exit_2_and_writes_nothing(tmp_path, case):
    build, needle = case
    _write(tmp_path / "a.wav", _mix_signal())
    _write(tmp_path / "again" / "a.wav", _mix_signal(seed=2))
    _write(tmp_path / "ref.wav", _reference_signal())
    _random_bytes(tmp_path / "bad.wav")
    _write(tmp_path / "masters" / "a_master.wav", _reference_signal())
    before = _snapshot(tmp_path)
    _one_line_error(_batch(*build(tmp_path)), needle)
    assert _snapshot(tmp_path) == before


def test_a_scheduler_out_of_reach_is_a_one_line_error_before_anything_is_written(first, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from matcher.batch import runner as batch_runner

    monkeypatch.setattr(batch_runner, "CONNECT_TIMEOUT_S", 0.5)
    before = _snapshot(tmp_path)
    result = _batch(first.inputs / "a.wav", "--ref", first.inputs / "ref.wav", "--out", tmp_path / "out",
                    "--scheduler", "tcp://127.0.0.1:1")
    _one_line_error(result, "cannot reach the Dask scheduler at tcp://127.0.0.1:1")
    assert _snapshot(tmp_path) == before


def test_an_internal_error_fails_its_mix_alone_and_exits_1(first, tmp_path, monkeypatch):
    # A defect met by one mix (simulated: the engine raises TypeError for it) fails that
    # mix alone, flagged as internal; the exit code (1) says it is automaster's fault.
    import matcher.jobs as files
    from matcher.batch import runner as batch_runner
    from matcher.batch.jobs import master_one

    real = files.master_file

    def flawed(mix_path, *args, **kwargs):
        if mix_path.name == "b.wav":
            raise TypeError("a defect")
        return real(mix_path, *args, **kwargs)

    class InProcess(batch_runner.LocalRunner):
        """The local runner, mastering in this process so that the patch applies."""

        def results(self, jobs):
            for job in jobs:
                yield master_one(job, self.recipe)

    monkeypatch.setattr(files, "master_file", flawed)
    monkeypatch.setattr(batch_runner, "LocalRunner", InProcess)
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    a = _write(inputs / "a.wav", _read(first.inputs / "a.wav"))
    b = _write(inputs / "b.wav", _read(first.inputs / "b.wav"))
    result = _batch(a, b, "--ref", first.inputs / "ref.wav", "--out", out)
    _exit(result, EXIT_INTERNAL)
    entries = _manifest(out)
    assert entries["a.wav"]["status"] == OK
    assert entries["b.wav"]["status"] == FAILED and entries["b.wav"]["internal_error"]
    assert entries["b.wav"]["error"] == f"{b}: internal error: TypeError: a defect"
    assert not (out / "b_master.wav").exists()
