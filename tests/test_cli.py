"""Command-line tests: ``automaster match`` and ``automaster analyze`` through typer's CliRunner.

Loudness is checked with pyloudnorm and true peak with ``scipy.signal.resample_poly``, both
independent of the package. Bad input must end in exit code 2, one line on stderr naming the
culprit, no traceback, and no file written or changed anywhere under ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf
from scipy.signal import welch
from typer.testing import CliRunner

import signals

from matcher import Analysis, AutomasterError, EqSettings, LoudnessSettings, Settings
from matcher.cli.app import EXIT_BAD_INPUT, app

SAMPLE_RATE_HZ = 44100
DURATION_S = 4.0
FRAMES = int(SAMPLE_RATE_HZ * DURATION_S)
LOUDNESS_TOLERANCE_LU = 0.15
TRUE_PEAK_TOLERANCE_DB = 0.01

runner = CliRunner()


# --- seeded signals (generators from tests/signals.py) ------------------------------------


def _mix_signal(channels: int = 2, seed: int = 1) -> np.ndarray:
    """An unmastered mix: a drum loop with bass and pad, peaking at 0.3 (about -10 dBTP)."""
    x = signals.drum_loop(DURATION_S, SAMPLE_RATE_HZ, seed=seed, channels=channels)
    return 0.3 * x / np.max(np.abs(x))


def _reference_signal(seed: int = 2, level: float = 0.8) -> np.ndarray:
    """A loud master: drums and pink noise driven into a soft clipper, sample peak ``level``."""
    drums = signals.drum_loop(DURATION_S, SAMPLE_RATE_HZ, seed=seed)
    noise = signals.pink_noise(
        DURATION_S, SAMPLE_RATE_HZ, rms=0.2, seed=seed + 100, correlation=0.5
    )
    x = np.tanh(1.5 * (drums + noise) / np.max(np.abs(drums + noise)))
    return level * x / np.max(np.abs(x))


def _noise_mix() -> np.ndarray:
    """Broadband partly correlated pink noise at about -23 LUFS."""
    return signals.pink_noise(DURATION_S, SAMPLE_RATE_HZ, rms=0.05, seed=4, correlation=0.5)


def _write(path: Path, data: np.ndarray, subtype: str = "PCM_24") -> Path:
    sf.write(str(path), data, SAMPLE_RATE_HZ, subtype=subtype)
    return path


# --- independent measurements ------------------------------------------------------------


def _read(path: Path) -> np.ndarray:
    data, _ = sf.read(str(path), dtype="float64", always_2d=True)
    return data


def _lufs(data: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """Integrated loudness by pyloudnorm (BS.1770)."""
    return float(pyloudnorm.Meter(sample_rate_hz).integrated_loudness(data))


def _true_peak_dbtp(data: np.ndarray) -> float:
    """4x oversampled peak (scipy's polyphase resampler)."""
    return signals.true_peak_reference_dbtp(data)


def _band_levels_db(data: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Power of the channel sum in third-octave bands from 40 Hz to 16 kHz (dB)."""
    freqs_hz, psd = welch(data.sum(axis=1), sample_rate_hz, nperseg=8192 * sample_rate_hz // SAMPLE_RATE_HZ)
    centers_hz = 1000.0 * 2.0 ** (np.arange(-14, 13) / 3.0)
    levels = []
    for fc in centers_hz:
        band = (freqs_hz >= fc * 2 ** (-1 / 6)) & (freqs_hz < fc * 2 ** (1 / 6))
        levels.append(10 * np.log10(psd[band].sum()))
    return np.array(levels)


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` (hidden ones too) with its sha256, or "dir"."""

    def digest(p: Path) -> str:
        return "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()

    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*"))}


def _match(mix: Path, refs: list[Path], out: Path | None, *options: str):
    args = ["match", str(mix)]
    for ref in refs:
        args += ["--ref", str(ref)]
    if out is not None:
        args += ["-o", str(out)]
    return runner.invoke(app, [*args, *options])


def _ok(result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mix_audio() -> np.ndarray:
    return _mix_signal()


@pytest.fixture(scope="module")
def ref_audio() -> np.ndarray:
    return _reference_signal()


@pytest.fixture
def mix(tmp_path, mix_audio) -> Path:
    return _write(tmp_path / "mix.wav", mix_audio)


@pytest.fixture
def ref(tmp_path, ref_audio) -> Path:
    return _write(tmp_path / "ref.wav", ref_audio)


# --- good input --------------------------------------------------------------------------


def test_match_writes_master_matching_reference_loudness_under_ceiling(
    tmp_path, mix, ref, mix_audio, ref_audio
):
    out = tmp_path / "out.wav"
    result = _match(mix, [ref], out)
    _ok(result)
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.frames) == (SAMPLE_RATE_HZ, 2, mix_audio.shape[0])
    master = _read(out)
    # Raised to the reference's loudness the mix would peak well above the ceiling, so this
    # only passes if the limiter holds the peaks without costing loudness.
    assert _true_peak_dbtp(mix_audio) + _lufs(ref_audio) - _lufs(mix_audio) > -1.0 + 1.5
    assert abs(_lufs(master) - _lufs(_read(ref))) <= LOUDNESS_TOLERANCE_LU
    assert _true_peak_dbtp(master) <= -1.0 + TRUE_PEAK_TOLERANCE_DB
    assert {p.name for p in tmp_path.iterdir()} == {"mix.wav", "ref.wav", "out.wav"}
    assert "out.wav" in result.stdout


def test_match_default_output_is_beside_the_mix(tmp_path, ref, mix_audio):
    folder = tmp_path / "songs"
    folder.mkdir()
    mix = _write(folder / "song.wav", mix_audio)
    _ok(_match(mix, [ref], None))
    assert sorted(p.name for p in folder.iterdir()) == ["song.wav", "song_master.wav"]
    assert sf.info(str(folder / "song_master.wav")).frames == mix_audio.shape[0]


def test_match_explicit_loudness_target(tmp_path, mix, ref):
    out = tmp_path / "out.wav"
    _ok(_match(mix, [ref], out, "--lufs", "-16"))
    assert abs(_lufs(_read(out)) - -16.0) <= LOUDNESS_TOLERANCE_LU


def test_match_lower_ceiling(tmp_path, mix, ref):
    out = tmp_path / "out.wav"
    _ok(_match(mix, [ref], out, "--ceiling", "-2"))
    assert _true_peak_dbtp(_read(out)) <= -2.0 + TRUE_PEAK_TOLERANCE_DB


@pytest.mark.parametrize(
    ("name", "options", "container", "subtype"),
    [
        ("out.wav", ["--bit-depth", "16"], "WAV", "PCM_16"),
        ("out.wav", ["--bit-depth", "24"], "WAV", "PCM_24"),
        ("out.wav", ["--bit-depth", "32f"], "WAV", "FLOAT"),
        ("out.flac", [], "FLAC", "PCM_24"),
        ("out.flac", ["--bit-depth", "16"], "FLAC", "PCM_16"),
        ("out.aiff", [], "AIFF", "PCM_24"),
        ("out.aif", ["--bit-depth", "16"], "AIFF", "PCM_16"),
    ],
)
def test_match_output_format(tmp_path, mix, ref, name, options, container, subtype):
    out = tmp_path / name
    _ok(_match(mix, [ref], out, *options))
    info = sf.info(str(out))
    assert (info.format, info.subtype) == (container, subtype)
    assert info.frames == FRAMES


def test_a_reference_at_another_rate_is_matched_at_the_mix_rate(tmp_path):
    # A 48 kHz mix of pink noise and a 96 kHz reference of pink noise with a treble boost
    # (about +6 dB above 3 kHz): the master stays at 48 kHz and takes on the reference's
    # loudness and tonal shape, each measured at its own rate.
    mix_audio = signals.pink_noise(DURATION_S, 48000, rms=0.05, seed=4, correlation=0.5)
    noise = signals.pink_noise(DURATION_S, 96000, rms=0.1, seed=5, correlation=0.5)
    treble = scipy.signal.sosfiltfilt(scipy.signal.butter(4, 3000, "highpass", fs=96000, output="sos"), noise, axis=0)
    ref_audio = noise + treble
    mix, ref, out = tmp_path / "mix.wav", tmp_path / "ref.flac", tmp_path / "out.wav"
    sf.write(str(mix), mix_audio, 48000, subtype="PCM_24")
    sf.write(str(ref), ref_audio, 96000, subtype="PCM_24")
    _ok(_match(mix, [ref], out))
    master, rate = sf.read(str(out), dtype="float64", always_2d=True)
    assert rate == 48000 and master.shape == mix_audio.shape
    assert abs(_lufs(master, 48000) - _lufs(ref_audio, 96000)) <= LOUDNESS_TOLERANCE_LU
    shape_master = _band_levels_db(master, 48000)
    shape_ref = _band_levels_db(ref_audio, 96000)
    shape_mix = _band_levels_db(mix_audio, 48000)
    # Shape mismatch: the spread of the band-level differences, from 50 Hz up.
    assert np.ptp((shape_mix - shape_ref)[1:]) > 5.0  # the boost is there to be matched
    assert np.ptp((shape_master - shape_ref)[1:]) <= 1.5, shape_master - shape_ref


def test_match_mono_mix_gives_mono_master(tmp_path, ref):
    mono = _write(tmp_path / "mono.wav", _mix_signal(channels=1))
    out = tmp_path / "out.wav"
    # The reference's -11 LUFS takes a mono drum loop past the distortion budget: forced.
    _ok(_match(mono, [ref], out, "--force-loudness"))
    info = sf.info(str(out))
    assert (info.channels, info.frames) == (1, FRAMES)
    master = _read(out)
    assert abs(_lufs(master) - _lufs(_read(ref))) <= LOUDNESS_TOLERANCE_LU
    assert _true_peak_dbtp(master) <= -1.0 + TRUE_PEAK_TOLERANCE_DB


def test_match_unreachable_target_finishes_under_the_ceiling_with_a_warning(tmp_path, mix, ref):
    # -2 LUFS under a -1 dBTP ceiling is out of reach; the loudness search must give up.
    out = tmp_path / "out.wav"
    result = _match(mix, [ref], out, "--lufs", "-2")
    _ok(result)
    master = _read(out)
    assert _true_peak_dbtp(master) <= -1.0 + TRUE_PEAK_TOLERANCE_DB
    assert _lufs(master) < -2.0 - 1.0
    assert "mix.wav" in result.stderr.replace("\n", "")


def test_match_save_settings(tmp_path, mix, ref):
    out, settings_path = tmp_path / "out.wav", tmp_path / "s.json"
    _ok(_match(mix, [ref], out, "--ceiling", "-1.5", "--save-settings", str(settings_path)))
    text = settings_path.read_text(encoding="utf-8")
    assert "schema_version" in json.loads(text)
    settings = Settings.from_json(text)
    assert settings.limiter.ceiling_dbtp == -1.5
    assert not list(tmp_path.glob(".*.tmp"))


def test_match_eq_amount_zero_keeps_the_mix_spectrum(tmp_path):
    noise = _noise_mix()
    mix = _write(tmp_path / "noise.wav", noise)
    # A reference 12 dB darker above 1.5 kHz: the full EQ would tilt the mix a lot.
    dark = signals.biquad_eq(_noise_mix(), SAMPLE_RATE_HZ, "highshelf", 1500.0, -12.0)
    ref = _write(tmp_path / "dark.wav", dark)
    # A target 4 dB above the mix keeps the limiter idle, so only a gain should remain.
    target_lufs = f"{_lufs(noise) + 4.0:.1f}"
    flat, matched = tmp_path / "flat.wav", tmp_path / "matched.wav"
    _ok(_match(mix, [ref], flat, "--eq-amount", "0", "--lufs", target_lufs))
    _ok(_match(mix, [ref], matched, "--lufs", target_lufs))

    def shape_deviation_db(path: Path) -> float:
        diff = _band_levels_db(_read(path)) - _band_levels_db(noise)
        return float(np.max(np.abs(diff - np.median(diff))))

    assert shape_deviation_db(flat) <= 0.3
    # The same check must see the full EQ, or it could not fail.
    assert shape_deviation_db(matched) > 3.0


def test_match_several_references_target_their_mean_loudness(tmp_path, mix):
    loud = _write(tmp_path / "loud.wav", _reference_signal(seed=3, level=0.9))
    quiet = _write(tmp_path / "quiet.wav", _reference_signal(seed=4, level=0.45))
    out = tmp_path / "out.wav"
    _ok(_match(mix, [loud, quiet], out))
    loud_lufs, quiet_lufs = _lufs(_read(loud)), _lufs(_read(quiet))
    assert loud_lufs - quiet_lufs > 5.0
    assert abs(_lufs(_read(out)) - (loud_lufs + quiet_lufs) / 2) <= LOUDNESS_TOLERANCE_LU


def test_match_force_replaces_existing_output(tmp_path, mix, ref):
    out = tmp_path / "out.wav"
    out.write_bytes(b"old master")
    _ok(_match(mix, [ref], out, "--force"))
    assert sf.info(str(out)).frames == FRAMES
    assert {p.name for p in tmp_path.iterdir()} == {"mix.wav", "ref.wav", "out.wav"}


def test_written_files_get_the_permissions_a_new_file_would(tmp_path, mix, ref):
    # The atomic writer's temporary files are private (0600): the master and the settings
    # must get what the umask gives a new file, and a replaced file keeps its own mode.
    import os

    umask = os.umask(0o022)
    try:
        out, settings = tmp_path / "out.wav", tmp_path / "settings.json"
        _ok(_match(mix, [ref], out, "--save-settings", str(settings)))
        assert out.stat().st_mode & 0o777 == 0o644
        assert settings.stat().st_mode & 0o777 == 0o644
        out.chmod(0o640)
        _ok(_match(mix, [ref], out, "--force"))
        assert out.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)


def test_suggest_shows_the_settings_and_writes_only_their_json(tmp_path, mix, ref):
    settings_path = tmp_path / "s.json"
    before = set(_snapshot(tmp_path))
    result = runner.invoke(app, ["suggest", str(mix), "--ref", str(ref), "--json", str(settings_path)])
    _ok(result)
    for needle in ("suggested settings", "predicted loudness", "predicted true peak", "largest moves", "leveler", "width (dB)", "fixes",
                   "compressor below 120 Hz", "compressor above 6k Hz"):
        assert needle in result.stdout
    assert set(_snapshot(tmp_path)) - before == {"s.json"}
    Settings.from_json(settings_path.read_text(encoding="utf-8"))


def _suggested(tmp_path, mix, ref, *options) -> Settings:
    path = tmp_path / "suggested.json"
    _ok(runner.invoke(app, ["suggest", str(mix), "--ref", str(ref), "--json", str(path), *options]))
    return Settings.from_json(path.read_text(encoding="utf-8"))


def test_amounts_and_switches_per_stage(tmp_path, mix, ref):
    full = _suggested(tmp_path, mix, ref)
    assert (full.eq.amount, full.width.amount, full.dynamics.amount) == (1.0, 1.0, 1.0)
    assert full.fixes.remove_dc and full.fixes.highpass_hz == 20.0
    assert full.dynamics.target_lra_lu is not None and full.loudness.target_lufs is not None
    some = _suggested(tmp_path, mix, ref, "--amount", "eq=60,width=100,dynamics=0")
    assert (some.eq.amount, some.width.amount, some.dynamics.amount) == (0.6, 1.0, 0.0)
    assert some.eq.gain_db == full.eq.gain_db  # an amount scales the fitted curve, it does not refit
    only = _suggested(tmp_path, mix, ref, "--only", "eq,loudness")
    assert (only.eq.amount, only.width.amount, only.dynamics.amount) == (1.0, 0.0, 0.0)
    assert only.fixes.is_neutral and only.loudness.target_lufs == full.loudness.target_lufs
    width_only = _suggested(tmp_path, mix, ref, "--only", "width", "--mono-below", "90")
    assert (width_only.eq.amount, width_only.width.amount, width_only.loudness.target_lufs) == (0.0, 1.0, None)
    assert width_only.width.mono_below_hz == 90.0
    fixes = _suggested(tmp_path, mix, ref, "--no-fix", "dc,highpass")
    assert not fixes.fixes.remove_dc and fixes.fixes.highpass_hz is None
    assert _suggested(tmp_path, mix, ref, "--highpass", "30").fixes.highpass_hz == 30.0


def test_suggest_then_render_gives_the_same_file_as_match(tmp_path, mix, ref):
    options = ["--ceiling", "-1.5", "--amount", "eq=80,width=50,dynamics=70", "--bit-depth", "16"]
    suggested, saved = tmp_path / "suggested.json", tmp_path / "saved.json"
    matched, rendered = tmp_path / "matched.wav", tmp_path / "rendered.wav"
    _ok(runner.invoke(app, ["suggest", str(mix), "--ref", str(ref), "--json", str(suggested), *options]))
    _ok(_match(mix, [ref], matched, "--save-settings", str(saved), *options))
    assert suggested.read_text(encoding="utf-8") == saved.read_text(encoding="utf-8")
    _ok(runner.invoke(app, ["render", str(mix), "--settings", str(suggested), "-o", str(rendered)]))
    assert rendered.read_bytes() == matched.read_bytes()  # dither included: seeded


def test_the_suggested_figures_are_what_the_master_measures(tmp_path, mix, ref):
    from matcher.jobs import master_file, suggest_file
    from matcher.fitting.config import FitConfig

    plan = suggest_file(mix, [ref], FitConfig()).plan
    out = tmp_path / "out.wav"
    report = master_file(mix, [ref], out, FitConfig()).report
    master = _read(out)
    assert plan.predicted_lufs == pytest.approx(_lufs(master), abs=0.05)
    # The plan predicts the clipped transients at its aim; band-limited, they ring back a
    # little (the take measures and corrects them).
    assert plan.predicted_true_peak_dbtp == pytest.approx(_true_peak_dbtp(master), abs=0.2)
    # The take measures what the clipper took off the transients' loudness, which the plan's
    # model leaves out, and the corrected plan makes it up (a few tenths of a dB here).
    assert plan.makeup_gain_db == pytest.approx(report.gain_db, abs=0.3)


def test_render_applies_edited_settings(tmp_path, mix, ref):
    saved, out = tmp_path / "s.json", tmp_path / "out.wav"
    _ok(_match(mix, [ref], tmp_path / "first.wav", "--save-settings", str(saved)))
    edited = json.loads(saved.read_text(encoding="utf-8"))
    edited["loudness"]["target_lufs"] = -18.0
    edited["eq"]["amount"] = 0.0
    saved.write_text(json.dumps(edited), encoding="utf-8")
    _ok(runner.invoke(app, ["render", str(mix), "--settings", str(saved), "-o", str(out)]))
    master = _read(out)
    assert _lufs(master) == pytest.approx(-18.0, abs=LOUDNESS_TOLERANCE_LU)
    assert _true_peak_dbtp(master) <= -1.0 + TRUE_PEAK_TOLERANCE_DB


def test_analyze_prints_table(mix):
    result = runner.invoke(app, ["analyze", str(mix)])
    _ok(result)
    assert "LUFS" in result.stdout
    assert "band dynamics" in result.stdout and "spread" in result.stdout


def test_analyze_json_loudness_agrees_with_pyloudnorm(tmp_path, mix, mix_audio):
    json_path = tmp_path / "a.json"
    _ok(runner.invoke(app, ["analyze", str(mix), "--json", str(json_path)]))
    analysis = Analysis.from_json(json_path.read_text(encoding="utf-8"))
    assert abs(analysis.integrated_lufs - _lufs(_read(mix))) <= 0.1
    assert analysis.channels == 2 and analysis.sample_rate_hz == SAMPLE_RATE_HZ


def _itu_max_momentary_lufs(x: np.ndarray) -> float:
    """Independent loudest 400 ms window at 48 kHz: BS.1770-4's own K-weighting coefficients
    (its tables 1 and 2), ``lfilter``, and a window sliding one sample at a time."""
    shelf = ([1.53512485958697, -2.69169618940638, 1.19839281085285], [1.0, -1.69065929318241, 0.73248077421585])
    highpass = ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621])
    y = scipy.signal.lfilter(*highpass, scipy.signal.lfilter(*shelf, x, axis=0), axis=0)
    window = np.convolve(np.sum(y**2, axis=1), np.ones(19200), mode="valid") / 19200
    return float(-0.691 + 10 * np.log10(window.max()))


def test_analyze_of_a_1_s_file_says_which_figures_need_3_s(tmp_path):
    # 1 s at 48 kHz: a drum loop with a loud 400 ms from 0.35 s, between the 100 ms
    # readings (their best holds 350 ms of it: about 0.5 LU low).
    rate = 48000
    x = 0.05 * signals.drum_loop(1.0, rate, seed=8)
    x[int(0.35 * rate) : int(0.75 * rate)] *= 6.0
    path, json_path = tmp_path / "one_second.wav", tmp_path / "one_second.json"
    sf.write(str(path), x, rate, subtype="FLOAT")
    result = runner.invoke(app, ["analyze", str(path), "--json", str(json_path)])
    _ok(result)
    analysis = json.loads(json_path.read_text(encoding="utf-8"))
    # What is defined from 0.4 s on is measured ...
    assert abs(analysis["integrated_lufs"] - _lufs(x, rate)) <= 0.1
    assert abs(analysis["max_momentary_lufs"] - _itu_max_momentary_lufs(x)) <= 0.02
    # ... and what needs 3 s is null, never a number.
    assert analysis["loudness_range_lu"] is None
    assert analysis["max_short_term_lufs"] is None
    assert analysis["short_term_lufs"] == []
    assert Analysis.from_json(json_path.read_text(encoding="utf-8")).loudness_range_lu is None
    def row(label: str) -> str:
        (line,) = [line for line in result.stdout.splitlines() if f" {label} " in line]
        return line

    assert "undefined (needs 3 s, the file is 1 s)" in row("loudness range")
    assert "undefined (needs 3 s, the file is 1 s)" in row("short-term loudness")
    assert f"max {analysis['max_momentary_lufs']:.1f} LUFS" in row("momentary loudness")
    assert f"{analysis['integrated_lufs']:.2f} LUFS" in row("integrated loudness")


def test_analyze_of_a_0_3_s_file_is_refused_in_one_line(tmp_path):
    path, json_path = tmp_path / "blip.wav", tmp_path / "blip.json"
    _write(path, _mix_signal()[: int(0.3 * SAMPLE_RATE_HZ)])
    result = runner.invoke(app, ["analyze", str(path), "--json", str(json_path)])
    assert result.exit_code == EXIT_BAD_INPUT
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"automaster: error: {path}: 0.30 s long; at least 0.4 s is needed"]
    assert not json_path.exists()


def test_analyze_of_a_long_file_shows_the_loudest_windows(tmp_path, mix, mix_audio):
    json_path = tmp_path / "a.json"
    result = runner.invoke(app, ["analyze", str(mix), "--json", str(json_path)])
    _ok(result)
    analysis = Analysis.from_json(json_path.read_text(encoding="utf-8"))
    assert analysis.max_short_term_lufs is not None and analysis.loudness_range_lu is not None
    # The loudest of every window start is at least the loudest of the 100 ms readings.
    assert max(analysis.short_term_lufs) <= analysis.max_short_term_lufs + 1e-3
    assert analysis.max_momentary_lufs >= analysis.max_short_term_lufs
    assert f"max {analysis.max_momentary_lufs:.1f} LUFS" in result.stdout
    assert f"max {analysis.max_short_term_lufs:.1f} LUFS" in result.stdout
    assert "undefined" not in result.stdout


# --- bad input ---------------------------------------------------------------------------

# Each case builds its files under tmp_path and returns the command line and the text the
# one-line error message must contain (the offending file's name, or the offending option).
Case = Callable[[Path], tuple[list[str], str]]


def _inputs(tmp: Path) -> tuple[Path, Path, Path]:
    """A good mix and reference, and an output folder."""
    out_dir = tmp / "out"
    out_dir.mkdir()
    mix = _write(tmp / "mix.wav", _mix_signal())
    return mix, _write(tmp / "ref.wav", _reference_signal()), out_dir


def _bad_mix(build: Callable[[Path], Path]) -> Case:
    def case(tmp: Path):
        _, ref, out_dir = _inputs(tmp)
        bad = build(tmp)
        return ["match", str(bad), "--ref", str(ref), "-o", str(out_dir / "out.wav")], bad.name

    return case


def _bad_ref(build: Callable[[Path], Path]) -> Case:
    def case(tmp: Path):
        mix, _, out_dir = _inputs(tmp)
        bad = build(tmp)
        return ["match", str(mix), "--ref", str(bad), "-o", str(out_dir / "out.wav")], bad.name

    return case


def _bad_output(name: str, *options: str) -> Case:
    def case(tmp: Path):
        mix, ref, out_dir = _inputs(tmp)
        out = out_dir / name
        return ["match", str(mix), "--ref", str(ref), "-o", str(out), *options], Path(name).name

    return case


def _bad_option(*options: str, needle: str) -> Case:
    def case(tmp: Path):
        mix, ref, out_dir = _inputs(tmp)
        out = out_dir / "out.wav"
        return ["match", str(mix), "--ref", str(ref), "-o", str(out), *options], needle

    return case


def _with_nonfinite(value: float) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        x = _mix_signal().astype(np.float32)
        x[FRAMES // 2, 0] = value
        return _write(tmp / "nonfinite.wav", x, subtype="FLOAT")

    return build


def _random_bytes(tmp: Path) -> Path:
    path = tmp / "text.wav"
    path.write_bytes(np.random.default_rng(5).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    return path


def _empty(tmp: Path) -> Path:
    path = tmp / "empty.wav"
    path.write_bytes(b"")
    return path


def _short(tmp: Path) -> Path:
    return _write(tmp / "short.wav", _mix_signal()[:SAMPLE_RATE_HZ])


def _silence(tmp: Path) -> Path:
    return _write(tmp / "silence.wav", np.zeros((5 * SAMPLE_RATE_HZ, 2)))


def _truncated_flac(tmp: Path) -> Path:
    """A FLAC cut off in the middle of a frame: its decoder loses sync."""
    whole = tmp / "whole.flac"
    sf.write(str(whole), _mix_signal(), SAMPLE_RATE_HZ, format="FLAC", subtype="PCM_24")
    data = whole.read_bytes()
    whole.unlink()
    path = tmp / "cut.flac"
    path.write_bytes(data[: 2 * len(data) // 3])
    return path


def _directory(tmp: Path) -> Path:
    path = tmp / "folder.wav"
    path.mkdir()
    return path


def _existing_output(tmp: Path):
    mix, ref, out_dir = _inputs(tmp)
    out = out_dir / "out.wav"
    out.write_bytes(b"an earlier master")
    return ["match", str(mix), "--ref", str(ref), "-o", str(out)], "out.wav"


def _output_is_mix(tmp: Path):
    mix, ref, _ = _inputs(tmp)
    return ["match", str(mix), "--ref", str(ref), "-o", str(mix), "--force"], "mix.wav"


def _output_is_ref(tmp: Path):
    mix, ref, _ = _inputs(tmp)
    return ["match", str(mix), "--ref", str(ref), "-o", str(ref), "--force"], "ref.wav"


def _output_in_missing_folder(tmp: Path):
    mix, ref, _ = _inputs(tmp)
    return ["match", str(mix), "--ref", str(ref), "-o", str(tmp / "nowhere" / "out.wav")], "out.wav"


def _analyze_missing(tmp: Path):
    _inputs(tmp)
    return ["analyze", str(tmp / "absent.wav")], "absent.wav"


def _settings_file(text: str | None):
    def build(tmp: Path):
        mix, _, out_dir = _inputs(tmp)
        path = tmp / "settings.json"
        if text is not None:
            path.write_text(text, encoding="utf-8")
        return ["render", str(mix), "--settings", str(path), "-o", str(out_dir / "out.wav")], "settings.json"

    return build


def _render_over_the_mix(tmp: Path):
    mix, _, _ = _inputs(tmp)
    path = tmp / "settings.json"
    path.write_text(Settings(EqSettings((100.0,), (0.0,)), LoudnessSettings(-14.0)).to_json(), encoding="utf-8")
    return ["render", str(mix), "--settings", str(path), "-o", str(mix), "--force"], "mix.wav"


BAD_INPUT: dict[str, Case] = {
    "missing mix": _bad_mix(lambda tmp: tmp / "absent.wav"),
    "missing reference": _bad_ref(lambda tmp: tmp / "absent.wav"),
    "directory as mix": _bad_mix(_directory),
    "random bytes as mix": _bad_mix(_random_bytes),
    "empty file as mix": _bad_mix(_empty),
    "truncated FLAC": _bad_mix(_truncated_flac),
    "random bytes as reference": _bad_ref(_random_bytes),
    "1 s mix": _bad_mix(_short),
    "header only (no samples)": _bad_mix(lambda tmp: _write(tmp / "header.wav", np.zeros((0, 2)))),
    "a single sample": _bad_mix(lambda tmp: _write(tmp / "one.wav", _mix_signal()[:1])),
    "DC offset only": _bad_mix(lambda tmp: _write(tmp / "dc.wav", np.full((5 * SAMPLE_RATE_HZ, 2), 0.1))),
    "1 s reference": _bad_ref(_short),
    "6-channel mix": _bad_mix(lambda tmp: _write(tmp / "surround.wav", np.tile(_mix_signal(), 3))),
    "NaN in mix": _bad_mix(_with_nonfinite(np.nan)),
    "inf in mix": _bad_mix(_with_nonfinite(np.inf)),
    "NaN in reference": _bad_ref(_with_nonfinite(np.nan)),
    "silent mix": _bad_mix(_silence),
    "silent reference": _bad_ref(_silence),
    "output in missing folder": _output_in_missing_folder,
    "output is the mix": _output_is_mix,
    "output is the reference": _output_is_ref,
    "existing output without --force": _existing_output,
    "unknown output extension": _bad_output("out.mp4"),
    "float FLAC": _bad_output("x.flac", "--bit-depth", "32f"),
    "eq amount 150": _bad_option("--eq-amount", "150", needle="--eq-amount 150"),
    "amount of 150 %": _bad_option("--amount", "width=150", needle="--amount width=150 is outside 0-100 %"),
    "amount of an unknown stage": _bad_option("--amount", "eq=50,loud=50", needle="unknown 'loud'"),
    "amount without a number": _bad_option("--amount", "eq", needle="not STAGE=PERCENT"),
    "eq amount given twice": _bad_option("--eq-amount", "50", "--amount", "eq=60", needle="give the EQ amount once"),
    "only an unknown stage": _bad_option("--only", "eq,volume", needle="unknown 'volume'"),
    "no-fix of an unknown fix": _bad_option("--no-fix", "dither", needle="unknown 'dither'"),
    "high-pass at 1 kHz": _bad_option("--highpass", "1000", needle="high-pass 1000"),
    "bit depth 12": _bad_option("--bit-depth", "12", needle="--bit-depth '12'"),
    # An option with no effect given the others is refused, naming both.
    "--lufs with --only eq": _bad_option("--only", "eq", "--lufs", "-14", needle="--lufs -14 has no effect with --only eq"),
    "an amount of a stage left out": _bad_option(
        "--only", "eq,loudness", "--amount", "width=50", needle="--amount width=50 has no effect with --only eq,loudness"
    ),
    "--eq-amount without eq": _bad_option("--only", "width", "--eq-amount", "50", needle="--amount eq=50 has no effect with --only width"),
    "--no-fix with the fixes off": _bad_option("--only", "eq", "--no-fix", "dc", needle="--no-fix dc has no effect with --only eq"),
    "--highpass with its fix off": _bad_option(
        "--no-fix", "highpass", "--highpass", "30", needle="--highpass 30 has no effect with --no-fix highpass"
    ),
    "--highpass with the fixes off": _bad_option("--only", "eq", "--highpass", "30", needle="--highpass 30 has no effect with --only eq"),
    "--mono-below without width": _bad_option(
        "--only", "eq", "--mono-below", "100", needle="--mono-below 100 has no effect with --only eq"
    ),
    "--k with --ref": _bad_option("--k", "2", needle="--k 2 has no effect with --ref"),
    "analyze missing file": _analyze_missing,
    "analyze, 0.3 s file": lambda tmp: (["analyze", str(_write(tmp / "blip.wav", _mix_signal()[: SAMPLE_RATE_HZ // 3]))], "blip.wav"),
    "suggest, 1 s mix": lambda tmp: (["suggest", str(_short(tmp)), "--ref", str(_inputs(tmp)[1])], "short.wav"),
    "library add, 1 s file": lambda tmp: (["library", "add", str(_short(tmp)), "--library", str(tmp / "lib")], "short.wav"),
    "suggest, silent mix": lambda tmp: (["suggest", str(_silence(tmp)), "--ref", str(_inputs(tmp)[1])], "silence.wav"),
    "render, missing settings": _settings_file(None),
    "render, settings not JSON": _settings_file("eq: flat"),
    "render, settings of another schema": _settings_file('{"schema_version": 99}'),
    "render, settings with a bad value": _settings_file(
        Settings(EqSettings((100.0,), (0.0,)), LoudnessSettings(-14.0)).to_json().replace('"bit_depth": "24"', '"bit_depth": "12"')
    ),
    "render over the mix": _render_over_the_mix,
}


@pytest.mark.parametrize("build", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, build):
    args, needle = build(tmp_path)
    before = _snapshot(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_BAD_INPUT, f"{result.output}\n{result.exception!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # handled, not escaped
    assert _snapshot(tmp_path) == before


def test_debug_lets_the_package_error_through(tmp_path):
    _, ref, out_dir = _inputs(tmp_path)
    absent, out = tmp_path / "absent.wav", out_dir / "out.wav"
    args = ["--debug", "match", str(absent), "--ref", str(ref), "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, AutomasterError)
    assert "absent.wav" in str(result.exception)
    assert not any(out_dir.iterdir())


def test_an_analysis_stops_at_the_next_block_once_told_to(tmp_path):
    import threading

    from matcher.jobs import Cancelled, analyze_source
    from matcher.io.reading import AudioSource, open_audio

    path = _write(tmp_path / "long.wav", signals.pink_noise(5.0, SAMPLE_RATE_HZ, seed=1))
    blocks = []
    stop = threading.Event()

    def progress(frames):
        blocks.append(frames)
        stop.set()  # as if another job failed while the first block was being read

    with pytest.raises(Cancelled):
        analyze_source(AudioSource(open_audio(path), progress), true_peak=False, stop=stop)
    assert len(blocks) == 1


@pytest.mark.skipif(
    not {"OGG", "MP3"} <= set(sf.available_formats()), reason="libsndfile without OGG/MP3 support"
)
def test_compressed_inputs_ogg_mix_and_mp3_reference(tmp_path, mix_audio, ref_audio):
    mix = tmp_path / "mix.ogg"
    ref = tmp_path / "ref.mp3"
    sf.write(str(mix), mix_audio, SAMPLE_RATE_HZ, format="OGG", subtype="VORBIS")
    sf.write(str(ref), ref_audio, SAMPLE_RATE_HZ, format="MP3", subtype="MPEG_LAYER_III")
    out = tmp_path / "master.wav"
    _ok(_match(mix, [ref], out))
    master, rate = sf.read(str(out), always_2d=True)
    reference, _ = sf.read(str(ref), always_2d=True)
    assert rate == SAMPLE_RATE_HZ and master.shape[1] == 2
    meter = pyloudnorm.Meter(SAMPLE_RATE_HZ)
    assert meter.integrated_loudness(master) == pytest.approx(meter.integrated_loudness(reference), abs=0.1)
    assert signals.true_peak_reference_dbtp(master) <= -1.0


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == "automaster 0.1.0"


def test_the_console_entry_point_keeps_exit_codes_and_output(tmp_path):
    # main() leaves through os._exit (no module teardown): exit codes and every line written
    # must still come out. Run as a real process.
    mix = _write(tmp_path / "mix.wav", _mix_signal())
    ref = _write(tmp_path / "ref.wav", _reference_signal())
    out = tmp_path / "master.wav"
    good = subprocess.run(
        [sys.executable, "-m", "matcher", "match", str(mix), "--ref", str(ref), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stderr
    assert "master written" in good.stdout and good.stdout.rstrip().endswith("┘")
    assert sf.info(str(out)).frames == FRAMES
    missing = tmp_path / "missing.wav"
    bad = subprocess.run(
        [sys.executable, "-m", "matcher", "analyze", str(missing)], capture_output=True, text=True
    )
    assert bad.returncode == EXIT_BAD_INPUT
    assert bad.stderr.strip() == f"automaster: error: {missing}: no such file"


def test_starting_the_command_line_does_not_load_the_engine():
    # The CLI asks BLAS for one thread through the environment, which works only before
    # numpy is loaded; and help or argument errors should not pay for numpy and scipy.
    code = "import sys, matcher, matcher.cli.app; print(sorted({'numpy', 'scipy'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("kept", [True, False])
def test_progress_counts_every_pass_once(tmp_path, monkeypatch, kept):
    # The progress bar's total is 3 x the mix (analysis, pass 1, the written take) plus the
    # references; the take is counted as written whether or not the EQ'd mix was kept.
    from matcher.jobs import master_file
    from matcher.fitting.config import FitConfig
    from matcher.rendering import renderer

    if not kept:
        monkeypatch.setattr(renderer, "EQ_CACHE_LIMIT_BYTES", 0)
    mix = _write(tmp_path / "mix.wav", _mix_signal())
    ref = _write(tmp_path / "ref.wav", _reference_signal())
    counted = []
    master_file(mix, [ref], tmp_path / "master.wav", FitConfig(), on_block=counted.append)
    assert sum(counted) == 3 * FRAMES + FRAMES


def test_a_terminal_sees_progress_with_a_time_estimate(tmp_path, monkeypatch, ref):
    # rich draws the bar only on a terminal: give the CLI's stderr console one that writes
    # to a buffer. 30 s of audio take about a second, ten of rich's refreshes.
    import io
    import re

    from rich.console import Console

    from matcher.cli import common

    screen = io.StringIO()
    monkeypatch.setattr(common, "stderr", Console(file=screen, force_terminal=True, width=120))
    mix = _write(tmp_path / "long.wav", np.tile(_mix_signal(), (8, 1)))
    _ok(_match(mix, [ref], tmp_path / "out.wav"))
    frames = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", f) for f in screen.getvalue().split("\r")]
    drawn = [re.search(r"mastering long.wav \S+\s+(\d+)% (\S+)", f) for f in frames]
    drawn = [(int(m.group(1)), m.group(2)) for m in drawn if m]
    percents = [p for p, _ in drawn]
    assert len(drawn) >= 3 and percents == sorted(percents) and percents[-1] == 100, drawn
    estimates = [eta for p, eta in drawn if p < 100 and re.fullmatch(r"\d+:\d\d:\d\d", eta)]
    assert estimates, drawn  # a real estimate before the end, not only "-:--:--"


def test_match_warns_about_a_clipped_mix_and_still_masters_it(tmp_path, ref):
    clipped = np.clip(_mix_signal() * 5.0, -1.0, 1.0)
    mix = _write(tmp_path / "clipped.wav", clipped)
    out = tmp_path / "out.wav"
    result = _match(mix, [ref], out)
    _ok(result)
    warnings = [line for line in result.stderr.splitlines() if "clipped:" in line]
    assert warnings and "clipped.wav" in warnings[0]
    assert _true_peak_dbtp(_read(out)) <= -1.0 + TRUE_PEAK_TOLERANCE_DB


def test_fixes_are_reported_applied_and_switchable(tmp_path, ref):
    noise = signals.pink_noise(DURATION_S, SAMPLE_RATE_HZ, rms=0.05, seed=9, correlation=0.9)
    flipped = _write(tmp_path / "flipped.wav", noise * np.array([1.0, -1.0]))
    out = tmp_path / "out.wav"
    # The width stage would narrow the cancelling side too: off, so only the fix acts.
    result = _match(flipped, [ref], out, "--force", "--amount", "width=0")
    _ok(result)
    assert "out of phase" in result.stderr and "polarity is flipped" in result.stderr
    master = _read(out)
    assert np.corrcoef(master[:, 0], master[:, 1])[0, 1] > 0.8  # mono-compatible again
    kept = _match(flipped, [ref], out, "--force", "--amount", "width=0", "--no-fix", "polarity")
    _ok(kept)
    assert "out of phase" in kept.stderr and "polarity is flipped" not in kept.stderr
    master = _read(out)
    assert np.corrcoef(master[:, 0], master[:, 1])[0, 1] < -0.8



def _other_rate(rate: int, subtype: str = "PCM_24", suffix: str = ".wav", mono: bool = False):
    def build(tmp: Path) -> Path:
        x = signals.drum_loop(DURATION_S, rate, seed=1, channels=1 if mono else 2)
        path = tmp / f"mix_{rate}{suffix}"
        sf.write(str(path), 0.3 * x / np.max(np.abs(x)), rate, subtype=subtype)
        return path

    return build


def _flac_named_wav(tmp: Path) -> Path:
    path = tmp / "really_flac.wav"
    sf.write(str(path), _mix_signal(), SAMPLE_RATE_HZ, format="FLAC", subtype="PCM_16")
    return path


def _truncated(tmp: Path) -> Path:
    """A 6 s WAV cut off after about 4 s: its header promises more than the file holds."""
    x = signals.drum_loop(6.0, SAMPLE_RATE_HZ, seed=1)
    whole = _write(tmp / "whole.wav", 0.3 * x / np.max(np.abs(x)))
    data = whole.read_bytes()
    whole.unlink()
    path = tmp / "truncated.wav"
    path.write_bytes(data[: 2 * len(data) // 3])
    return path


def _limited(tmp: Path) -> Path:
    return _write(tmp / "limited.wav", np.clip(_mix_signal() * 8, -0.5, 0.5))


# Unusual inputs that are valid: (build the mix, text stderr must contain, or "").
UNUSUAL_INPUT = {
    "FLAC data named .wav": (_flac_named_wav, ""),
    "8 kHz": (_other_rate(8000), ""),
    "48 kHz": (_other_rate(48000), ""),
    "88.2 kHz": (_other_rate(88200), ""),
    "192 kHz": (_other_rate(192000), ""),
    "384 kHz": (_other_rate(384000), ""),
    "8-bit": (_other_rate(SAMPLE_RATE_HZ, "PCM_U8"), ""),
    "AIFF": (_other_rate(SAMPLE_RATE_HZ, "PCM_24", ".aiff"), ""),
    "FLAC at 96 kHz": (_other_rate(96000, "PCM_24", ".flac"), ""),
    "mono": (_other_rate(SAMPLE_RATE_HZ, mono=True), ""),
    "float far above 0 dBFS": (lambda tmp: _write(tmp / "hot.wav", 30 * _mix_signal(), "FLOAT"), ""),
    "already brick-wall limited": (_limited, "already limited"),
    "truncated data (the part there is mastered)": (_truncated, "truncated.wav: cut short: the header promises 6.00 s"),
    "the reference itself": (lambda tmp: _write(tmp / "same.wav", _reference_signal()), "already matches the reference"),
}


@pytest.mark.parametrize("case", UNUSUAL_INPUT.values(), ids=UNUSUAL_INPUT.keys())
def test_unusual_input_gives_a_sensible_master_and_leaves_the_input_alone(tmp_path, case):
    build, needle = case
    mix = build(tmp_path)
    ref = _write(tmp_path / "ref.wav", _reference_signal())
    before = hashlib.sha256(mix.read_bytes()).hexdigest()
    out = tmp_path / "out" / "master.wav"
    out.parent.mkdir()
    result = _match(mix, [ref], out)
    _ok(result)
    assert needle in result.stderr
    assert "Traceback" not in result.output
    master, rate = sf.read(str(out), dtype="float64", always_2d=True)
    assert rate == sf.info(str(mix)).samplerate and master.shape[1] == sf.info(str(mix)).channels
    assert np.all(np.isfinite(master))
    assert _true_peak_dbtp(master) <= -1.0 + TRUE_PEAK_TOLERANCE_DB
    assert hashlib.sha256(mix.read_bytes()).hexdigest() == before
    assert [p.name for p in out.parent.iterdir()] == ["master.wav"]  # no temporary file left


def _assert_fails_cleanly(tmp_path: Path, mix: Path, ref: Path, *needles: str) -> None:
    """``match`` exits 2 with one line holding every needle, and leaves the folder as it was."""
    before = _snapshot(tmp_path)
    result = _match(mix, [ref], tmp_path / "out.wav")
    assert result.exit_code == EXIT_BAD_INPUT
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and all(needle in lines[0] for needle in needles), result.stderr
    assert _snapshot(tmp_path) == before


def test_a_full_disk_fails_cleanly(tmp_path, monkeypatch, mix, ref):
    # The disk fills up part-way through writing the master.
    import errno

    from matcher.io import writing

    real_write = writing.sf.SoundFile.write
    written = []

    def full(self, data):  # libsndfile's write: the first block fits, the next finds the disk full
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(data))
        return real_write(self, data)

    monkeypatch.setattr(writing.sf.SoundFile, "write", full)
    _assert_fails_cleanly(tmp_path, mix, ref, "out.wav", "No space left")


def test_a_read_only_output_folder_fails_cleanly(tmp_path, monkeypatch, mix, ref):
    # As root every folder is writable, so the refusal is simulated where the file is made.
    import errno

    from matcher.io import writing

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(writing.tempfile, "mkstemp", refuse)
    _assert_fails_cleanly(tmp_path, mix, ref, "out.wav", "Permission denied")


@pytest.mark.parametrize("where", ["fitting", "writing"])
def test_ctrl_c_stops_cleanly_and_leaves_nothing(tmp_path, monkeypatch, mix, ref, where):
    from matcher import jobs as files
    from matcher.dsp.dither import Quantizer

    if where == "fitting":
        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(files, "fit", interrupted)
    else:  # part-way through the master: the main thread quantises the second block
        real_process = Quantizer.process
        calls = []

        def process(self, block):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return real_process(self, block)

        monkeypatch.setattr(Quantizer, "process", process)
    before = _snapshot(tmp_path)
    result = _match(mix, [ref], tmp_path / "out.wav")
    assert result.exit_code == 130
    assert "interrupted (no partial file is left)" in result.stderr
    assert _snapshot(tmp_path) == before


def test_an_unreadable_file_is_named(tmp_path, monkeypatch, mix, ref):
    # As root every file is readable, so the refusal is simulated where the file is opened.
    import errno

    from matcher.io import reading

    real_info = reading.sf.info

    def info(path, *args, **kwargs):
        if str(path) == str(mix):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_info(path, *args, **kwargs)

    monkeypatch.setattr(reading.sf, "info", info)
    _assert_fails_cleanly(tmp_path, mix, ref, "mix.wav", "Permission denied")
