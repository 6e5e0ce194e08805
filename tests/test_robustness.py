"""Property tests (Hypothesis): any block split gives the same results, and ``match`` on
generated audio of any level, length, spectrum and channel count never crashes, never
writes NaN or infinity, and never goes above the ceiling."""

from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signals import drum_loop, true_peak_reference_dbtp
from test_render import make_settings
from typer.testing import CliRunner

from matcher import BandCompressor, DynamicsSettings, FixSettings
from matcher.analysis.analyzer import Analyzer, analyze
from matcher.analysis.spectrum import band_centers_hz
from matcher.cli.app import app
from matcher.rendering.renderer import collect_into, render_stream

RATE = 22050


def split(x: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """``x`` cut into blocks of the given sizes, cycled."""
    blocks, start, k = [], 0, 0
    while start < x.shape[0]:
        blocks.append(x[start : start + sizes[k % len(sizes)]])
        start += sizes[k % len(sizes)]
        k += 1
    return blocks


SIZES = st.lists(st.integers(min_value=1, max_value=70000), min_size=1, max_size=6)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(sizes=SIZES)
def test_any_block_split_gives_the_same_master(sizes):
    x = drum_loop(5.0, RATE, seed=4) * 0.5
    dynamics = DynamicsSettings(target_lra_lu=2.0, bands=(BandCompressor(-30.0, 2.0, makeup_db=1.0),) * 4)
    s = make_settings(-9.0, mid=np.linspace(-3, 3, len(band_centers_hz())), bit_depth="32f", dynamics=dynamics,
                      fixes=FixSettings())
    whole, parts = [], []
    render_stream(lambda: [x], RATE, 2, s, lambda: collect_into(whole))
    render_stream(lambda: iter(split(x, sizes)), RATE, 2, s, lambda: collect_into(parts))
    difference = np.max(np.abs(np.concatenate(parts) - np.concatenate(whole)))
    assert difference < 10 ** (-100 / 20)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(sizes=SIZES)
def test_any_block_split_gives_the_same_analysis(sizes):
    x = drum_loop(6.0, RATE, seed=5) * 0.4
    whole = analyze(x, RATE)
    analyzer = Analyzer(RATE, 2)
    for block in split(x, sizes):
        analyzer.process(block)
    parts = analyzer.finish()
    assert abs(parts.integrated_lufs - whole.integrated_lufs) <= 0.05
    assert abs(parts.loudness_range_lu - whole.loudness_range_lu) <= 0.05
    assert abs(parts.true_peak_dbtp - whole.true_peak_dbtp) <= 0.01
    assert np.max(np.abs(np.subtract(parts.mid_spectrum_db, whole.mid_spectrum_db))) <= 0.01


def generated(seed: int, seconds: float, channels: int, level_db: float, tilt_db: float, tone: bool) -> np.ndarray:
    """Noise with a spectral tilt (dB per octave), optionally with a loud tone, at a peak level."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    spectrum = rng.standard_normal((n // 2 + 1, channels)) + 1j * rng.standard_normal((n // 2 + 1, channels))
    f = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0)
    spectrum *= ((f / 1000.0) ** (tilt_db / 6.02))[:, None]
    x = np.fft.irfft(spectrum, n=n, axis=0)
    if tone:
        x += 3 * np.std(x) * np.sin(2 * np.pi * 220 * np.arange(n) / RATE)[:, None] * (np.arange(n) > n // 2)[:, None]
    return x / np.max(np.abs(x)) * 10 ** (level_db / 20)


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 1000),
    seconds=st.floats(3.0, 7.0),
    channels=st.sampled_from([1, 2]),
    level_db=st.floats(-50.0, 20.0),
    tilt_db=st.floats(-9.0, 6.0),
    tone=st.booleans(),
    ref_level_db=st.floats(-30.0, 0.0),
)
def test_match_on_generated_audio_never_fails(tmp_path: Path, seed, seconds, channels, level_db, tilt_db, tone,
                                             ref_level_db):
    mix = tmp_path / f"mix_{seed}.wav"
    ref = tmp_path / f"ref_{seed}.wav"
    out = tmp_path / f"out_{seed}.wav"
    sf.write(str(mix), generated(seed, seconds, channels, level_db, tilt_db, tone), RATE, subtype="FLOAT")
    sf.write(str(ref), generated(seed + 1, 5.0, 2, ref_level_db, -3.0, False), RATE, subtype="PCM_24")
    result = CliRunner().invoke(app, ["match", str(mix), "--ref", str(ref), "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    master, rate = sf.read(str(out), dtype="float64", always_2d=True)
    assert rate == RATE and master.shape == (int(seconds * RATE), channels)
    assert np.all(np.isfinite(master))
    assert true_peak_reference_dbtp(master) <= -1.0 + 0.01
