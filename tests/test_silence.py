"""Silence stays silent (issue 16, item 4): no stage lifts a break, a noise floor or a fade's
tail more than the music around it; the leveler rides the music's sections within ±4 dB
and says when it expands."""

from __future__ import annotations

import json

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from signals import biquad_eq, drum_loop, fade_out, pink_noise, stepped_gain, with_break
from typer.testing import CliRunner

import matcher
from matcher import FitConfig, analyze, fit
from matcher.cli.app import app
from matcher.fitting.settings import DynamicsSettings, Settings
from matcher.rendering.leveler import Leveler, Ride
from matcher.rendering.quiet import guarded, quiet_guard_db, solve_guarded

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


def test_a_leveler_held_back_for_the_distortion_budget_says_so(tmp_path):
    # Choruses 6 dB over the verses, the reference the same song at -8 LUFS: making up for
    # the limiter's narrowing of the range would lift the choruses into a limiter past the
    # budget; the leveler holds back, the master reaches -8 LUFS, and both commands say why.
    x = drum_loop(24.0, RATE, seed=2) * stepped_gain(24 * RATE, [0.0, -6.0], 4.0, RATE) * 0.3
    sf.write(str(tmp_path / "mix.wav"), x, RATE, subtype="FLOAT")
    gain = 10 ** ((-8.0 - pyloudnorm.Meter(RATE).integrated_loudness(x)) / 20)
    sf.write(str(tmp_path / "ref.wav"), x * gain, RATE, subtype="FLOAT")
    result = runner.invoke(app, ["suggest", str(tmp_path / "mix.wav"), "--ref", str(tmp_path / "ref.wav")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "does not make up for it" in line]
    assert len(notes) == 1 and notes[0].startswith("automaster: note: ") and "distortion budget" in notes[0]
    mastered = matcher.master(tmp_path / "mix.wav", [tmp_path / "ref.wav"], tmp_path / "master.wav")
    assert mastered.report.leveler_held_back and mastered.target_reached
    assert mastered.lufs == pytest.approx(mastered.target_lufs, abs=0.05)
    held = [n for n in mastered.notes if "does not make up for it" in n.text]
    assert len(held) == 1 and f"to {mastered.loudness_range_lu:.1f} LU" in held[0].text


def test_a_leveler_that_compresses_says_nothing_of_it(expanding_job):
    root = expanding_job
    result = runner.invoke(app, ["suggest", str(root / "ref.wav"), "--ref", str(root / "mix.wav")])
    assert result.exit_code == 0, result.output
    assert "ratio" in result.stdout and "expand" not in result.stderr


# The quiet-passage guard, on energies per 100 ms sub-block.

def lufs_energy(lufs):
    return 10.0 ** ((np.asarray(lufs, dtype=np.float64) + 0.691) / 10.0)


def beaten(seconds: float, lufs: float, seed: int = 0) -> np.ndarray:
    """Sub-block energies of music at about ``lufs``: a beat every 0.5 s, 6 dB of swing, and
    a little randomness."""
    n = round(seconds * SUBBLOCKS_PER_S)
    swing_db = np.where(np.arange(n) % 5 == 0, 3.0, -1.0) + np.random.default_rng(seed).normal(0.0, 0.5, n)
    return lufs_energy(lufs + swing_db)


def lift_of(input_energy, output_energy, where):
    return 10 * np.log10(np.sum(output_energy[where]) / np.sum(input_energy[where]))


def test_a_uniform_lift_is_left_alone():
    # An EQ that lifts everything, breaks included, by 6 dB: the music's lift, no guard.
    x = np.concatenate([beaten(20, -14), lufs_energy(np.full(40, -60.0)), beaten(20, -14, seed=1)])
    assert np.all(quiet_guard_db(x, x * 10**0.6) == 0.0)
    # Nor is a break lifted less than the music, or a quiet section (12 LU down) lifted more.
    y = x * 10**0.6
    y[200:240] = x[200:240]
    assert np.all(quiet_guard_db(x, y) == 0.0)
    z = np.concatenate([beaten(20, -14), beaten(8, -26, seed=2), beaten(20, -14, seed=1)])
    lifted = z.copy()
    lifted[200:280] *= 10**1.0
    assert np.all(quiet_guard_db(z, lifted) == 0.0)


def test_a_break_lifted_more_than_the_music_is_brought_back_to_the_music_plus_1_db():
    music_before, music_after = beaten(20, -14), beaten(20, -14, seed=1)
    hiss = lufs_energy(np.full(40, -58.0))
    x = np.concatenate([music_before, hiss, music_after])
    y = x * 10**0.3  # the music: +3 dB
    y[200:240] *= 10**1.8  # the break's hiss: 18 dB more (a bright EQ, a compressor's make-up)
    guard = quiet_guard_db(x, y)
    guarded_y = y * 10 ** (guard / 10)
    assert lift_of(x, guarded_y, slice(203, 237)) == pytest.approx(3.0 + 1.0, abs=0.1)
    assert np.all(guard[:200] == 0.0) and np.all(guard[240:] == 0.0)  # the music untouched
    assert np.all(guard[203:237] < -15.0)  # from 0.3 s into the break
    assert np.all(guard <= 0.0) and np.max(np.abs(np.diff(guard))) < 10.0


def test_a_drum_hit_in_a_break_is_not_touched():
    x = np.concatenate([beaten(20, -14), lufs_energy(np.full(60, -58.0)), beaten(20, -14, seed=1)])
    x[230] = lufs_energy(-12.0)
    y = x * 2.0
    y[200:260] *= 100.0
    y[230] = x[230] * 2.0  # the hit is lifted as the music is
    guard = quiet_guard_db(x, y)
    assert np.all(guard[229:232] == 0.0)  # the hit and the sub-blocks either side
    assert np.all(guard[205:226] < -15.0) and np.all(guard[235:256] < -15.0)


def test_a_fade_tail_is_guarded_steadily_through_its_beats():
    # A fade of 30 LU over 8 s after 20 s of music; from 15 LU down the chain lifts the
    # kicks of its tail 14 dB more than the music, the rest 4 dB more: the guard follows the
    # tail as a whole, not beat by beat, and ends at the music's lift plus 1 dB.
    music = beaten(20, -14)
    fade = beaten(8, -14, seed=3) * lufs_energy(-np.linspace(0, 30, 80) - 0.691)
    x = np.concatenate([music, fade])
    y = x * 10**0.3
    kicks = np.arange(x.shape[0]) % 5 == 0
    y[240:] *= np.where(kicks[240:], 10**1.4, 10**0.4)
    guard = quiet_guard_db(x, y)
    tail = slice(265, 280)  # its last 1.5 s
    assert lift_of(x, y * 10 ** (guard / 10), tail) == pytest.approx(4.0, abs=1.0)
    assert np.max(np.abs(np.diff(guard[240:]))) < 1.5  # no pumping with the beat
    assert np.all(guard[:200] == 0.0)


def test_silence_reads_as_no_lift_and_lengths_may_differ_by_a_sub_block():
    x = np.concatenate([beaten(20, -14), np.zeros(40), beaten(20, -14, seed=1)])
    y = x * 2.0
    y[200:240] = lufs_energy(-110.0)  # filter ringing in digital silence
    assert np.all(quiet_guard_db(x, y) == 0.0)
    assert quiet_guard_db(x[:-1], y).shape == y.shape


def test_the_guard_joins_the_ride():
    guard = np.array([0.0, -3.0, -6.0, 0.0])
    assert guarded(None, np.zeros(4)) is None
    assert guarded(None, guard) == Ride(0.0, guard)
    ride = Ride(0.5, np.array([1.0, 1.0, 2.0, 2.0]))
    assert guarded(ride, np.zeros(4)) is ride
    assert np.array_equal(guarded(ride, guard).subblock_gain_db, [1.0, -2.0, -4.0, 2.0])
    assert guarded(ride, guard).slope == 0.5


# Mastered end to end: a mix with a break of hiss, or a fade-out, matched to a reference
# that asks for a bright EQ (+9 dB at 10 kHz), compression (make-up 4-8 dB) and a loud
# master (heavy limiting). Levels are measured on the files with numpy and pyloudnorm.

SONG_S = 60.0
BREAK_S = (28.0, 32.0)
FADE_S = 8.0
FADE_DB = 30.0
SECTIONS_DB = [0, -7, 0, -5, -1, -8, 0, 0]  # 7.5 s each: the fade is within the last, steady one


def song(seed: int = 1) -> np.ndarray:
    x = drum_loop(SONG_S, RATE, seed=seed) * 0.5
    return x * stepped_gain(x.shape[0], SECTIONS_DB, 7.5, RATE)


def bright_dense_reference(seed: int = 7) -> np.ndarray:
    r = biquad_eq(drum_loop(SONG_S, RATE, seed=seed) * 0.5, RATE, "highshelf", 3000.0, 16.0)
    bed = pink_noise(SONG_S, RATE, rms=0.06, seed=seed, correlation=0.5)
    r = r + bed * stepped_gain(r.shape[0], [0, -4, 1, -3, 0, -5, 2, -2, 0, -4], 6.0, RATE, ramp_s=0.01)
    return 0.9 * r * stepped_gain(r.shape[0], [0, -3, 0, -2], 7.5, RATE)


def rms_db(x) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def at(t_s: float) -> int:
    return int(round(t_s * RATE))


def break_lift_beyond_music_db(mix: np.ndarray, master: np.ndarray) -> float:
    """Level change (RMS, dB) of the break, 0.25 s in from each edge, minus that of the
    music in the 4 s either side of it."""
    inside = slice(at(BREAK_S[0] + 0.25), at(BREAK_S[1] - 0.25))
    music = np.r_[at(BREAK_S[0] - 4.0) : at(BREAK_S[0]), at(BREAK_S[1]) : at(BREAK_S[1] + 4.0)]
    change = lambda part: rms_db(master[part]) - rms_db(mix[part])
    return change(inside) - change(music)


def fade_depth_db(x: np.ndarray) -> float:
    """Level (RMS, dB) of the 2 s before the fade minus that of the fade's last second."""
    n = x.shape[0]
    return rms_db(x[n - at(FADE_S + 2.0) : n - at(FADE_S)]) - rms_db(x[n - at(1.0) :])


def master_to_files(root, mix: np.ndarray, name: str, **options):
    # The reference's loudness is reached whatever the distortion budget says: what is
    # tested is what the chain does to breaks and fades at that loudness.
    sf.write(str(root / f"{name}.wav"), mix.astype(np.float32), RATE, subtype="FLOAT")
    options.setdefault("force_loudness", True)
    result = matcher.master(root / f"{name}.wav", [root / "ref.wav"], root / f"{name}_master.wav", **options)
    master, _ = sf.read(str(result.output), dtype="float64", always_2d=True)
    return result, master


def without_the_guard(monkeypatch):
    from matcher.rendering import quiet

    monkeypatch.setattr(quiet, "quiet_guard_db", lambda i, o: np.zeros(np.shape(o)))


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("silence")
    sf.write(str(root / "ref.wav"), bright_dense_reference().astype(np.float32), RATE, subtype="FLOAT")
    return root


@pytest.fixture(scope="module")
def break_mix() -> np.ndarray:
    return with_break(song(), BREAK_S[0], BREAK_S[1] - BREAK_S[0], RATE, hiss_dbfs=-60.0, seed=11)


def on_target(result, master) -> None:
    measured = pyloudnorm.Meter(RATE).integrated_loudness(master)
    assert measured == pytest.approx(result.target_lufs, abs=0.3)
    assert -4.0 - 1e-6 <= result.report.leveler_min_gain_db and result.report.leveler_max_gain_db <= 4.0 + 1e-6


def test_a_break_of_hiss_is_lifted_no_more_than_the_music(reference_file, break_mix, monkeypatch):
    result, master = master_to_files(reference_file, break_mix, "break")
    settings = result.settings
    eq_10k_db = np.interp(np.log2(10000.0), np.log2(settings.eq.band_centers_hz), settings.eq.gain_db)
    assert eq_10k_db > 6.0 and max(b.makeup_db for b in settings.dynamics.bands) > 4.0  # what lifts hiss
    assert break_lift_beyond_music_db(break_mix, master) <= 3.0
    on_target(result, master)
    # Without the guard the EQ and the limiter's make-up lift the hiss far more than the
    # music; the music around the break is the same with or without it.
    without_the_guard(monkeypatch)
    _, unguarded = master_to_files(reference_file, break_mix, "break_unguarded")
    assert break_lift_beyond_music_db(break_mix, unguarded) > 8.0
    music = np.r_[at(BREAK_S[0] - 4.0) : at(BREAK_S[0]), at(BREAK_S[1]) : at(BREAK_S[1] + 4.0)]
    assert rms_db(master[music]) == pytest.approx(rms_db(unguarded[music]), abs=0.1)


def test_a_fade_out_keeps_its_depth(reference_file):
    mix = fade_out(song(seed=2), FADE_S, FADE_DB, RATE)
    result, master = master_to_files(reference_file, mix, "fade")
    assert fade_depth_db(mix) > 25.0
    assert fade_depth_db(master) == pytest.approx(fade_depth_db(mix), abs=2.0)
    on_target(result, master)


def test_a_song_without_quiet_passages_is_mastered_as_before(reference_file, monkeypatch):
    # Nothing far under the music: the guard does nothing, the master is the same bit for bit.
    mix = song(seed=3)
    result, master = master_to_files(reference_file, mix, "clean")
    on_target(result, master)
    without_the_guard(monkeypatch)
    _, unguarded = master_to_files(reference_file, mix, "clean_unguarded")
    assert np.array_equal(master, unguarded)


@pytest.fixture(scope="module")
def analyses(break_mix):
    """The analyses of the mix with a break and of the reference."""
    return analyze(break_mix, RATE), analyze(bright_dense_reference(), RATE)


def test_settings_saved_before_the_floor_load_without_it(analyses):
    settings = fit(*analyses)
    assert Settings.from_json(settings.to_json()) == settings
    compressed = [b for b in settings.dynamics.bands if b.ratio > 1.0]
    assert compressed and all(b.floor_db is not None and b.floor_db < b.threshold_db for b in compressed)
    data = json.loads(settings.to_json())
    for band in data["dynamics"]["bands"]:
        del band["floor_db"]
    data["dynamics"]["max_gain_db"] = 6.0
    old = Settings.from_json(json.dumps(data))
    assert old.schema_version == settings.schema_version
    assert all(b.floor_db is None for b in old.dynamics.bands)
    assert old.dynamics.max_gain_db == 6.0


def test_the_fit_puts_the_floor_15_db_under_the_bands_10th_percentile(analyses):
    # Without the EQ the band levels after it are the mix's own.
    mix, reference = analyses
    settings = fit(mix, reference, FitConfig(eq_amount=0.0))
    for band, (p10, _, _) in zip(settings.dynamics.bands, mix.band_level_percentiles_db):
        if band.ratio > 1.0:
            assert band.floor_db == pytest.approx(p10 - 15.0, abs=0.01)


class FakePlan:
    def __init__(self, gain_db):
        self.gain_db = gain_db


def test_the_gain_is_solved_again_until_the_guard_settles():
    # A "limiter" that takes 2 dB off the music, and 5 dB once the quiet passage is guarded
    # (the loudness solve picked another character): the guard is planned again from that
    # plan, so the break ends at the music's lift plus 1 dB as the final plan has it.
    ticks = 4
    x = np.concatenate([beaten(20, -14), lufs_energy(np.full(40, -58.0)), beaten(20, -14, seed=1)])
    lifted = x * 10**0.6
    lifted[200:240] *= 10**1.5
    music = np.ones(x.shape[0], dtype=bool)
    music[200:240] = False
    solved = []

    def solve(ride):
        guarded_ = ride is not None and np.any(ride.subblock_gain_db < 0)
        reduction_db = np.where(music, 5.0 if guarded_ else 2.0, 0.0)
        own = np.zeros(x.shape[0]) if ride is None else ride.subblock_gain_db
        solved.append(ride)
        return FakePlan(np.repeat(own - reduction_db, ticks))

    energy_after = lambda gain_db: lifted * 10 ** (gain_db.reshape(-1, ticks).mean(axis=1) / 10)
    plan = solve_guarded(solve, None, x, energy_after, ticks)
    final = energy_after(plan.gain_db)
    assert len(solved) == 3
    assert lift_of(x, final, slice(205, 235)) - lift_of(x, final, slice(0, 200)) == pytest.approx(1.0, abs=0.15)
    # Without a quiet passage, one solve.
    solved.clear()
    solve_guarded(solve, None, beaten(40, -14), lambda gain_db: beaten(40, -14) * 2.0, ticks)
    assert len(solved) == 1
