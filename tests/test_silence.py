"""Silence stays silent (issue 16, item 4): no stage lifts a break, a noise floor or a fade's
tail more than the music around it; the leveler rides the music's sections within ±4 dB
and says when it expands."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from signals import pink_noise
from typer.testing import CliRunner

import matcher
from matcher.cli.app import app
from matcher.fitting.settings import DynamicsSettings
from matcher.rendering.leveler import Leveler

RATE = 44100
SUBBLOCKS_PER_S = 10
runner = CliRunner()


def sections_energy(*sections: tuple[float, float]) -> np.ndarray:
    """Mean K-weighted power per 100 ms sub-block of ``(loudness_lufs, seconds)`` sections."""
    return np.concatenate([
        np.full(round(seconds * SUBBLOCKS_PER_S), 10.0 ** ((lufs + 0.691) / 10.0)) for lufs, seconds in sections
    ])


def test_the_leveler_rides_the_sections_and_a_break_moves_with_the_music_around_it():
    # Chorus, quiet verse, a 6 s break 38 LU down, verse, chorus. A compressing ride lifts the
    # verses and lowers the choruses; the break takes the verses' ride, no more (before, it
    # rode as if at the loudness-range gate: lifted by the ride's whole range).
    energy = sections_energy((-14, 12), (-22, 12), (-60, 6), (-22, 12), (-14, 12))
    ride = Leveler(energy, 4.0, 1.0).ride(0.5).subblock_gain_db
    verse = ride[np.r_[140:220, 320:400]]  # away from the edges, where the smoothing joins sections
    chorus = ride[np.r_[0:100, 440:540]]
    middle_of_break = ride[255:285]  # where the 3 s short-term window holds only the break
    assert np.mean(verse) > 2.0
    assert np.mean(chorus) < -0.5
    assert np.max(np.abs(middle_of_break - np.mean(verse))) < 0.2
    assert np.max(ride[200:340]) < np.mean(verse) + 0.2  # the verses' ends and the break's edges too


def test_a_fade_tail_rides_with_the_music_before_it():
    # 20 s of steady music, then a fade of 30 LU over 8 s (sub-block by sub-block). The ride
    # of the steady music is about 0 dB; before, the fade's tail was lifted by the whole range.
    fade = [(-14.0 - 30.0 * k / 79, 0.1) for k in range(80)]
    energy = sections_energy((-14, 20), *fade)
    ride = Leveler(energy, 4.0, 1.0).ride(0.6).subblock_gain_db
    music = ride[20:180]
    tail = ride[-15:]  # the last 1.5 s: 24 LU and more under the music
    assert np.max(np.abs(music)) < 0.5
    # The fade's first seconds, still music, are ridden up as a quiet verse would be, and
    # count a little in the music around the tail: within 1 dB of the song's ride.
    assert np.max(np.abs(tail - np.mean(music))) < 1.0


@pytest.mark.parametrize("slope", [-1.0, -0.5, 0.5, 0.9])
def test_the_ride_never_leaves_its_range(slope):
    assert DynamicsSettings().max_gain_db == 4.0
    energy = sections_energy((-8, 8), (-30, 8), (-10, 8), (-28, 8), (-9, 8), (-32, 8))
    ride = Leveler(energy, DynamicsSettings().max_gain_db, 1.0).ride(slope).subblock_gain_db
    assert np.max(np.abs(ride)) <= 4.0 + 1e-9
    assert np.ptp(ride) > 3.0  # it does ride


def sectioned_noise(levels_db, section_s=6.0, seed=20):
    """Pink noise whose level steps through ``levels_db``: a known loudness range."""
    x = pink_noise(section_s * len(levels_db), RATE, rms=0.1, seed=seed, correlation=0.5)
    gain = np.repeat(10 ** (np.asarray(levels_db) / 20), int(section_s * RATE))
    return x[: gain.shape[0]] * gain[:, None]


@pytest.fixture(scope="module")
def expanding_job(tmp_path_factory):
    """A squashed mix (2 dB steps) and a dynamic reference (10 dB steps), as files."""
    root = tmp_path_factory.mktemp("expanding")
    sf.write(str(root / "mix.wav"), sectioned_noise([0, -2, 0, -2, 0, -2]), RATE, subtype="FLOAT")
    sf.write(str(root / "ref.wav"), sectioned_noise([0, -10, 0, -10, 0, -10], seed=21), RATE, subtype="FLOAT")
    return root


def test_a_leveler_that_expands_says_so(expanding_job):
    root = expanding_job
    result = runner.invoke(app, ["suggest", str(root / "mix.wav"), "--ref", str(root / "ref.wav")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "expands the loudness range" in line]
    assert len(notes) == 1, result.stderr
    assert notes[0].startswith("automaster: note: ") and "ratio 1:" in notes[0] and "±4 dB" in notes[0]
    # The same note with the master, and its ride within ±4 dB.
    out = root / "master.wav"
    mastered = matcher.master(root / "mix.wav", [root / "ref.wav"], out)
    assert mastered.report.leveler_ratio < 1.0
    assert [n.kind for n in mastered.notes if "expands" in n.text] == ["note"]
    assert -4.0 - 1e-6 <= mastered.report.leveler_min_gain_db and mastered.report.leveler_max_gain_db <= 4.0 + 1e-6


def test_a_leveler_that_compresses_says_nothing_of_it(expanding_job):
    root = expanding_job
    result = runner.invoke(app, ["suggest", str(root / "ref.wav"), "--ref", str(root / "mix.wav")])
    assert result.exit_code == 0, result.output
    assert "ratio" in result.stdout and "expand" not in result.stderr
