"""A master is the same bit for bit whatever runs it.

Two jobs (loud targets, 16-bit output with dither: the limiter's fast characters, the
checked takes and the dither all take part; in the second, a bass line over dense noise,
the slow chain, whose clipper works on all its ticks at once in matrix products, and
noise-shaped dither) are run
every way a user can run them, and every master's sha256 is compared with the one
``automaster match`` wrote in this process:
``render --settings``, the Python API (alone, in two threads at once, with the caller's
BLAS pool at two threads), the array API, the real command in a subprocess with BLAS and
OpenMP pools of any size, ``batch`` with one and two workers, Dask in-process and with
worker processes, and ``match`` while every core is busy with other work.

``.ci/run`` runs this module a second time with a busy loop on every core.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import signals

import matcher
from matcher.cli.app import app

SAMPLE_RATE_HZ = 44100
DURATION_S = 4.0
TARGETS_LUFS = {"characters": -10.0, "slow chain": -8.0}
DITHERS = {"characters": "tpdf", "slow chain": "shaped"}
"""The slow chain's job takes noise-shaped dither (FFmpeg's libswresample, through PyAV)."""
WAIT_S = 300

runner = CliRunner()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ok(result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"


def _options(root: Path) -> list[str]:
    return ["--lufs", f"{_target(root):g}", "--bit-depth", "16", "--dither", _dither(root)]


def _api_options(root: Path) -> dict:
    return dict(lufs=_target(root), bit_depth="16", dither=_dither(root))


def _dither(root: Path) -> str:
    return DITHERS[(root / "kind").read_text(encoding="utf-8")]


def _target(root: Path) -> float:
    return float((root / "target_lufs").read_text(encoding="utf-8"))


def _bass_line(seconds: float, seed: int) -> np.ndarray:
    """A bass line (41-62 Hz) over dense pink noise: loud, it takes the slow chain."""
    n = int(seconds * SAMPLE_RATE_HZ)
    t = np.arange(n) / SAMPLE_RATE_HZ
    notes = np.array([41.2, 55.0, 49.0, 61.7])[(t // 0.5).astype(int) % 4]
    phase = 2 * np.pi * np.cumsum(notes) / SAMPLE_RATE_HZ
    bass = 0.5 * (0.6 + 0.4 * np.exp(-(t % 0.5) * 6)) * (np.sin(phase) + 0.3 * np.sin(2 * phase))
    return bass[:, None] + signals.pink_noise(seconds, SAMPLE_RATE_HZ, rms=0.25, seed=seed)


@pytest.fixture(scope="module", params=list(TARGETS_LUFS))
def job(request, tmp_path_factory):
    """The inputs, and the master ``automaster match`` writes in this process (its sha256)."""
    root = tmp_path_factory.mktemp("determinism")
    (root / "target_lufs").write_text(str(TARGETS_LUFS[request.param]), encoding="utf-8")
    (root / "kind").write_text(request.param, encoding="utf-8")
    if request.param == "characters":
        mix = signals.drum_loop(DURATION_S, SAMPLE_RATE_HZ, seed=11)
    else:
        mix = _bass_line(DURATION_S, seed=11)
    drums = signals.drum_loop(DURATION_S, SAMPLE_RATE_HZ, seed=12)
    noise = signals.pink_noise(DURATION_S, SAMPLE_RATE_HZ, rms=0.2, seed=13, correlation=0.5)
    ref = np.tanh(2.0 * (drums + noise) / np.max(np.abs(drums + noise)))
    sf.write(str(root / "mix.wav"), 0.3 * mix / np.max(np.abs(mix)), SAMPLE_RATE_HZ, subtype="PCM_24")
    sf.write(str(root / "ref.wav"), 0.9 * ref / np.max(np.abs(ref)), SAMPLE_RATE_HZ, subtype="PCM_24")
    master = root / "match.wav"
    settings = root / "settings.json"
    _ok(runner.invoke(app, ["match", str(root / "mix.wav"), "--ref", str(root / "ref.wav"), "-o", str(master),
                            "--save-settings", str(settings), *_options(root)]))
    return root, _sha(master)


def _cli_args(root: Path, out: Path) -> list[str]:
    return ["match", str(root / "mix.wav"), "--ref", str(root / "ref.wav"), "-o", str(out), *_options(root)]


def test_the_job_uses_its_chain_and_dither(job):
    # The job must exercise what could differ: hard limiting or the slow chain, and dither.
    root, _ = job
    settings = matcher.Settings.from_json((root / "settings.json").read_text(encoding="utf-8"))
    suggestion = matcher.suggest(root / "mix.wav", [root / "ref.wav"], **_api_options(root))
    if (root / "kind").read_text(encoding="utf-8") == "characters":
        assert suggestion.plan.max_reduction_db > 3.0, "the limiter barely works: choose a louder target"
        assert suggestion.plan.clip_band_hz is None
    else:
        assert suggestion.plan.clip_band_hz is not None, "the slow chain is not taken: choose a louder target"
        assert suggestion.plan.clipping is not None and suggestion.plan.clipping.mean() > 0.05
    assert settings.output.bit_depth == "16" and settings.output.dither
    assert settings.output.dither_shape == _dither(root)


def test_render_from_saved_settings(job, tmp_path):
    root, expected = job
    out = tmp_path / "render.wav"
    _ok(runner.invoke(app, ["render", str(root / "mix.wav"), "--settings", str(root / "settings.json"), "-o", str(out)]))
    assert _sha(out) == expected


def test_python_api(job, tmp_path):
    root, expected = job
    result = matcher.master(root / "mix.wav", [root / "ref.wav"], tmp_path / "api.wav", **_api_options(root))
    assert _sha(result.output) == expected
    again = matcher.render_file(root / "mix.wav", result.settings, tmp_path / "rendered.wav")
    assert _sha(again.output) == expected


def test_python_api_in_two_threads_at_once(job, tmp_path):
    # As a Dask worker with two threads, or a web server, runs it.
    root, expected = job
    results: dict[int, str] = {}

    def work(k: int) -> None:
        out = matcher.master(root / "mix.wav", [root / "ref.wav"], tmp_path / f"thread{k}.wav", **_api_options(root)).output
        results[k] = _sha(out)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: expected, 1: expected}


def test_python_api_whatever_the_callers_blas_threads(job, tmp_path):
    from threadpoolctl import threadpool_limits

    root, expected = job
    with threadpool_limits(limits=2):
        result = matcher.master(root / "mix.wav", [root / "ref.wav"], tmp_path / "blas2.wav", **_api_options(root))
    assert _sha(result.output) == expected


def test_array_api_gives_the_files_samples(job):
    root, expected = job
    mix, rate = sf.read(str(root / "mix.wav"), dtype="float32", always_2d=True)
    ref, ref_rate = sf.read(str(root / "ref.wav"), dtype="float32", always_2d=True)
    settings = matcher.Settings.from_json((root / "settings.json").read_text(encoding="utf-8"))
    rendered = matcher.render(mix, rate, settings)
    written, _ = sf.read(str(root / "match.wav"), dtype="float64", always_2d=True)
    assert np.array_equal(np.round(rendered * 32768.0), np.round(written * 32768.0))
    fitted = matcher.fit(matcher.analyze(mix, rate), matcher.analyze(ref, ref_rate),
                         matcher.FitConfig(target_lufs=_target(root), output=settings.output))
    assert fitted.to_json() == settings.to_json()


def _automaster() -> str:
    found = shutil.which("automaster", path=str(Path(sys.executable).parent)) or shutil.which("automaster")
    if found is None:
        pytest.skip("the automaster command is not installed")
    return found


@pytest.mark.parametrize(
    "environment",
    [{}, {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "4"}, {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}],
    ids=["default", "blas 2, openmp 4", "blas 1"],
)
def test_the_command_in_a_process_of_its_own(job, tmp_path, environment):
    root, expected = job
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = tmp_path / "process.wav"
    done = subprocess.run([_automaster(), *_cli_args(root, out)], env={**env, **environment},
                          capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    assert _sha(out) == expected


def test_the_api_in_a_process_with_two_blas_threads(job, tmp_path):
    # numpy loaded with a two-thread pool, before automaster is imported.
    root, expected = job
    out = tmp_path / "api_process.wav"
    code = (
        "import sys, numpy, matcher\n"
        "matcher.master(sys.argv[1], [sys.argv[2]], sys.argv[3], lufs=float(sys.argv[4]), bit_depth='16', dither=sys.argv[5])\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", code, str(root / "mix.wav"), str(root / "ref.wav"), str(out),
                           str(_target(root)), _dither(root)],
                          env=env, capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    assert _sha(out) == expected


@pytest.mark.parametrize("workers", ["1", "2"])
def test_batch(job, tmp_path, workers):
    root, expected = job
    out = tmp_path / "batch"
    _ok(runner.invoke(app, ["batch", str(root / "mix.wav"), "--ref", str(root / "ref.wav"), "--out", str(out),
                            "--workers", workers, *_options(root)]))
    assert _sha(out / "mix_master.wav") == expected


@pytest.mark.parametrize("processes", [False, True], ids=["in-process", "worker processes"])
def test_dask(job, tmp_path, processes):
    distributed = pytest.importorskip("distributed")
    root, expected = job
    out = tmp_path / "dask"
    with distributed.LocalCluster(
        n_workers=2 if not processes else 1, threads_per_worker=2 if not processes else 1, processes=processes,
        dashboard_address=None,
    ) as cluster:
        result = runner.invoke(app, ["batch", str(root / "mix.wav"), "--ref", str(root / "ref.wav"), "--out", str(out),
                                     "--scheduler", cluster.scheduler_address, *_options(root)])
    _ok(result)
    assert _sha(out / "mix_master.wav") == expected


def test_match_on_a_loaded_machine(job, tmp_path):
    # Every core busy with other work while the command runs in a process of its own.
    root, expected = job
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        out = tmp_path / "loaded.wav"
        done = subprocess.run([_automaster(), *_cli_args(root, out)], capture_output=True, text=True, timeout=WAIT_S)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert done.returncode == 0, done.stderr
    assert _sha(out) == expected
