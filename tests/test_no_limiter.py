"""``--no-limiter`` (issue 17): the master peak-normalised instead of limited, measured with
pyloudnorm and the ideal 16x meter, against the mix itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import signals
import soundfile as sf
from typer.testing import CliRunner

from matcher.cli.app import EXIT_BAD_INPUT, app

ROOT = Path(__file__).resolve().parent.parent
RATE = 44100
runner = CliRunner()


@pytest.fixture(scope="module")
def drums(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nolimiter")
    mix = 0.3 * signals.drum_loop(6.0, RATE, seed=31)
    sf.write(str(folder / "mix.wav"), mix, RATE, subtype="FLOAT")
    return folder / "mix.wav", mix


def _master(mix: Path, out: Path, *options: str):
    result = runner.invoke(app, ["match", str(mix), "--ref", str(ROOT / "examples" / "reference.flac"), "-o", str(out),
                                 "--only", "loudness", "--no-limiter", "--bit-depth", "32f", *options])
    assert result.exit_code == 0, result.output
    return result, sf.read(str(out), dtype="float64", always_2d=True)[0]


def _gain_and_residual_db(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The least-squares gain from mix to master below 16 kHz, and what it leaves (dB re the
    master there): above ~20 kHz every master of the loudness chain is band-limited (its
    true peak is then read right), which is not a gain."""
    from scipy import signal

    sos = signal.butter(8, 16000.0, fs=RATE, output="sos")
    x, y = signal.sosfiltfilt(sos, x, axis=0), signal.sosfiltfilt(sos, y, axis=0)
    gain = float(np.sum(x * y) / np.sum(x * x))
    return 20 * np.log10(gain), 10 * np.log10(np.sum((y - gain * x) ** 2) / np.sum(y**2))


def test_an_unreachable_target_gives_the_mix_peak_normalised_to_the_ceiling(drums, tmp_path):
    mix, x = drums
    result, y = _master(mix, tmp_path / "m.wav", "--lufs", "-8")
    _, residual_db = _gain_and_residual_db(x, y)
    # One gain: the master is the mix scaled (float32 rounding is what is left).
    assert residual_db <= -120.0
    peak = signals.true_peak_ideal_dbtp(y)
    assert -1.3 <= peak <= -1.0  # at the ceiling, less the meter's margins
    assert "out of reach without the limiter (--no-limiter)" in " ".join(result.stderr.split())


def test_a_reachable_target_is_met_with_one_gain(drums, tmp_path):
    mix, x = drums
    target = pyloudnorm.Meter(RATE).integrated_loudness(x) + 3.0
    assert signals.true_peak_ideal_dbtp(x) + 3.0 <= -1.5  # 3 dB up stays under the ceiling
    _, y = _master(mix, tmp_path / "m.wav", "--lufs", f"{target:.2f}")
    gain_db, residual_db = _gain_and_residual_db(x, y)
    assert residual_db <= -120.0 and gain_db == pytest.approx(3.0, abs=0.05)
    assert pyloudnorm.Meter(RATE).integrated_loudness(y) == pytest.approx(target, abs=0.05)


def test_the_settings_keep_it_and_render_the_same_file(drums, tmp_path):
    import hashlib

    mix, _ = drums
    settings = tmp_path / "s.json"
    _master(mix, tmp_path / "m.wav", "--save-settings", str(settings))
    assert '"enabled": false' in settings.read_text(encoding="utf-8")
    result = runner.invoke(app, ["render", str(mix), "--settings", str(settings), "-o", str(tmp_path / "r.wav")])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256((tmp_path / "r.wav").read_bytes()).digest() == hashlib.sha256((tmp_path / "m.wav").read_bytes()).digest()


@pytest.mark.parametrize("option", [["--force-loudness"], ["--max-distortion", "-20"]])
def test_options_of_the_limiter_are_refused_without_it(drums, tmp_path, option):
    mix, _ = drums
    result = runner.invoke(app, ["match", str(mix), "--ref", str(ROOT / "examples" / "reference.flac"),
                                 "-o", str(tmp_path / "m.wav"), "--no-limiter", *option])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "has no effect with --no-limiter" in result.stderr and list(tmp_path.iterdir()) == []
