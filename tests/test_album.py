"""Album mastering: the spec, the edits, the loudness balance, and the delivered image whose
CUE sheet must point at where each song really starts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import signals

from matcher.album.cue import parse_cue
from matcher.album.edits import Fades, apply_fades, fade_gain, sound_bounds, trim_span
from matcher.album.master import balanced_targets
from matcher.album.redbook import SAMPLES_PER_FRAME, parse_msf
from matcher.album.spec import load_spec
from matcher.cli.app import EXIT_BAD_INPUT, app
from matcher.errors import SettingsError

RATE_HZ = 44100
CEILING_DBTP = -1.0
runner = CliRunner()


# --- edits and balance -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("curve", "half"), [("linear", 0.5), ("sine", np.sin(np.pi / 4)), ("s-curve", 0.5), ("log", 10 ** (-30 / 20))]
)
def test_fade_curves(curve, half):
    g = fade_gain(10001, curve)
    assert g[0] < 0.01 and g[-1] > 0.999
    assert np.all(np.diff(g) >= 0)
    assert g[5000] == pytest.approx(half, rel=1e-3)


def test_sine_fades_cross_at_constant_power():
    g = fade_gain(1000, "sine")
    np.testing.assert_allclose(g**2 + g[::-1] ** 2, 1.0, atol=1e-12)


def test_fades_and_trim_bounds():
    x = np.zeros((10 * RATE_HZ, 2))
    x[2 * RATE_HZ : 8 * RATE_HZ] = signals.pink_noise(6.0, RATE_HZ, rms=0.1, seed=1)
    bounds = sound_bounds([x[:12345], x[12345:]], -60.0)  # across a block boundary
    assert bounds is not None
    assert abs(bounds[0] - 2 * RATE_HZ) < 5 and abs(bounds[1] - 8 * RATE_HZ) < 5
    assert trim_span(bounds, x.shape[0], RATE_HZ, 0.1) == (bounds[0] - 4410, bounds[1] + 4410)
    assert sound_bounds([np.zeros((100, 2))], -60.0) is None
    y = apply_fades(np.ones((RATE_HZ, 1)), RATE_HZ, 0.5, 0.25, "linear")
    assert y[0, 0] < 1e-4 and y[RATE_HZ // 4, 0] == pytest.approx(0.5, abs=1e-3)
    assert y[RATE_HZ // 2 + 10, 0] == 1.0 and y[-1, 0] < 1e-4


def test_balance_keeps_relative_levels_within_bounds():
    targets = balanced_targets([-12.0, -18.0, -30.0, -14.0], -9.0, -8.0, [0.0, 0.0, 0.0, -1.0])
    np.testing.assert_allclose(targets, [-9.0, -15.0, -17.0, -12.0])


# --- the spec ----------------------------------------------------------------------------


def test_spec_reads_and_resolves_paths(tmp_path):
    spec_path = tmp_path / "album.toml"
    spec_path.write_text(
        """
title = "Night Drive"
performer = "The Examples"
references = ["refs/a.wav", "refs/b.wav:0.3"]
gap_s = 1.5
[[song]]
file = "one.wav"
title = "One"
isrc = "US-S1Z-26-00001"
[[song]]
file = "two.wav"
gap_s = 0
fade_out_s = 3
""",
        encoding="utf-8",
    )
    spec = load_spec(spec_path)
    assert [s.file for s in spec.songs] == [tmp_path / "one.wav", tmp_path / "two.wav"]
    assert spec.references == (str(tmp_path / "refs/a.wav"), f"{tmp_path / 'refs/b.wav'}:0.3")
    assert spec.songs[1].title == "two" and spec.gap_before_s(0) == 1.5 and spec.gap_before_s(1) == 0.0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[song]]\nfile = "a.wav"\ncolour = "red"', "unknown key(s) colour"),
        ('fade_curve = "cubic"\n[[song]]\nfile = "a.wav"', "fade_curve"),
        ('title = "x"', "no songs"),
        ('[[song]]\ntitle = "no file"', "no file"),
        ('gap_s = -1\n[[song]]\nfile = "a.wav"', "gap_s = -1"),
        ("this is not = = toml", "not valid TOML"),
    ],
)
def test_bad_specs_name_the_file_and_the_key(tmp_path, text, needle):
    spec_path = tmp_path / "album.toml"
    spec_path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_spec(spec_path)
    assert "album.toml" in str(err.value) and needle in str(err.value)


# --- a whole album -----------------------------------------------------------------------


def _songs(tmp_path: Path) -> dict[str, Path]:
    """Three songs: a loud one with 2 s of silence before it, a ballad 6 dB quieter, and a
    48 kHz mono one; and a dense reference."""
    loud = 0.3 * signals.drum_loop(6.0, RATE_HZ, seed=1)
    loud = np.concatenate([np.zeros((2 * RATE_HZ, 2)), loud])
    ballad = signals.tilted_noise(6.0, RATE_HZ, -1.0, rms=0.03, seed=2)
    mono = 0.15 * signals.drum_loop(6.0, 48000, seed=3, channels=1)
    ref = 0.8 * np.tanh(2 * signals.drum_loop(8.0, RATE_HZ, seed=4) + signals.pink_noise(8.0, RATE_HZ, 0.2, seed=5))
    paths = {}
    for name, audio, rate in (("loud", loud, RATE_HZ), ("ballad", ballad, RATE_HZ), ("mono", mono, 48000), ("ref", ref, RATE_HZ)):
        paths[name] = tmp_path / f"{name}.wav"
        sf.write(str(paths[name]), audio, rate, subtype="PCM_24")
    return paths


def _spec(
    tmp_path: Path, paths: dict[str, Path], extra: str = "", isrc: str = "US-S1Z-26-00001", catalog: str = "036000291452"
) -> Path:
    spec = tmp_path / "album.toml"
    spec.write_text(
        f"""
title = "Test Album"
performer = "Tester"
catalog = "{catalog}"
references = ["{paths['ref'].name}"]
format = "flac"
{extra}
[[song]]
file = "{paths['loud'].name}"
title = "Loud <one>"
isrc = "{isrc}"
[[song]]
file = "{paths['ballad'].name}"
title = "Ballad"
gap_s = 0
[[song]]
file = "{paths['mono'].name}"
title = "Mono"
gap_s = 1.0
fade_out_s = 2.0
""",
        encoding="utf-8",
    )
    return spec


@pytest.fixture(scope="module")
def album(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("album")
    paths = _songs(tmp)
    out = tmp / "out"
    result = runner.invoke(app, ["album", str(_spec(tmp, paths)), "-o", str(out)])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return tmp, paths, out, result


def _lufs(x: np.ndarray, rate: int) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(x))


def _stereo_lufs(path: Path) -> float:
    """Loudness of a mix as a stereo album takes it: a mono one as dual mono."""
    x, rate = sf.read(str(path), always_2d=True)
    return _lufs(np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x, rate)


def test_the_cue_sheet_points_where_each_song_starts_in_the_image(album):
    tmp, paths, out, _ = album
    image, rate = sf.read(str(out / "album.wav"), always_2d=True)
    assert rate == 44100 and image.shape[1] == 2 and image.shape[0] % SAMPLES_PER_FRAME == 0
    assert sf.info(str(out / "album.wav")).subtype == "PCM_16"
    sheet = parse_cue((out / "album.cue").read_text(encoding="utf-8"))
    assert sheet.catalog == "0036000291452" and sheet.title == "Test Album" and sheet.image_file == "album.wav"
    assert sheet.tracks[0].isrc == "USS1Z2600001"
    songs = sorted(out.glob("0*.flac"))
    assert [p.name for p in songs] == ["01 Loud _one_.flac", "02 Ballad.flac", "03 Mono.flac"]
    # Locate each song in the image by its own file's first second (resampled for the 48 kHz
    # one), and compare with INDEX 01.
    from scipy.signal import correlate, resample_poly

    for track, song in zip(sheet.tracks, songs):
        audio, song_rate = sf.read(str(song), always_2d=True)
        if song_rate != 44100:
            audio = resample_poly(audio, 147, 160, axis=0)
        probe = audio[:44100].mean(axis=1)
        if audio.shape[1] == 1:
            probe = audio[:44100, 0]
        mono_image = image.mean(axis=1)
        # Normalised cross-correlation: loud stretches elsewhere must not win.
        c = correlate(mono_image, probe, mode="valid", method="fft")
        running = np.concatenate([[0.0], np.cumsum(mono_image**2)])
        energy = running[probe.shape[0] :] - running[: -probe.shape[0]]
        found = int(np.argmax(c / np.sqrt(energy + 1e-12)))
        assert abs(found - track.start_samples) <= SAMPLES_PER_FRAME, (track.number, found, track.start_samples)
    # Gaps: 2 s before the first (INDEX 00 at 0), a segue, then 1 s.
    assert sheet.tracks[0].pregap_start_samples == 0 and sheet.tracks[0].start_samples == 2 * 44100
    assert sheet.tracks[1].pregap_start_samples is None
    assert sheet.tracks[2].start_samples - sheet.tracks[2].pregap_start_samples == 44100


def test_the_album_keeps_the_mixes_relative_levels_under_the_ceiling(album):
    tmp, paths, out, _ = album
    songs = sorted(out.glob("0*.flac"))
    mixes = [paths["loud"], paths["ballad"], paths["mono"]]
    mix_levels = np.array([_stereo_lufs(p) for p in mixes])
    out_levels = np.array([_lufs(*sf.read(str(p), always_2d=True)) for p in songs])
    expected = np.clip(mix_levels - mix_levels.max(), -8.0, 0.0)
    np.testing.assert_allclose(out_levels - out_levels.max(), expected, atol=1.0)
    ref_lufs = _lufs(*sf.read(str(paths["ref"]), always_2d=True))
    report = json.loads((out / "album.json").read_text(encoding="utf-8"))
    assert out_levels.max() == pytest.approx(ref_lufs + report["shift_db"], abs=0.5)  # the loudest reaches the target
    for song in songs:
        audio, _ = sf.read(str(song), always_2d=True)
        assert signals.true_peak_reference_dbtp(audio) <= CEILING_DBTP + 0.05
    image, _ = sf.read(str(out / "album.wav"), always_2d=True)
    # The 48 kHz song, resampled for the image, would go over (its master holds energy up to
    # 22.9 kHz): it is lowered there by what the report says, and the image holds the ceiling.
    assert signals.true_peak_reference_dbtp(image) <= CEILING_DBTP + 0.01
    gains = [song["cd_gain_db"] for song in report["songs"]]
    assert gains[0] == gains[1] == 0.0 and -1.0 < gains[2] < 0.0
    sheet = parse_cue((out / "album.cue").read_text(encoding="utf-8"))
    start = sheet.tracks[2].start_samples
    span = image[start : start + sf.info(str(songs[2])).frames * 44100 // 48000]
    assert _lufs(span, 44100) - out_levels[2] == pytest.approx(gains[2], abs=0.1)


def test_trim_fades_tags_and_report(album):
    tmp, paths, out, result = album
    from mutagen.flac import FLAC

    first = FLAC(str(out / "01 Loud _one_.flac"))
    assert first["TITLE"] == ["Loud <one>"] and first["TRACKNUMBER"][0].startswith("1")
    assert first["REPLAYGAIN_TRACK_GAIN"][0].endswith(" dB") and "REPLAYGAIN_ALBUM_GAIN" in first
    audio, rate = sf.read(str(out / "01 Loud _one_.flac"), always_2d=True)
    assert audio.shape[0] < 6.3 * rate  # the 2 s of silence trimmed (0.1 s margin kept)
    track_gain = float(first["REPLAYGAIN_TRACK_GAIN"][0].split()[0])
    assert track_gain == pytest.approx(-18.0 - _lufs(audio, rate), abs=0.1)
    mono, mono_rate = sf.read(str(out / "03 Mono.flac"), always_2d=True)
    tail = np.sqrt(np.mean(mono[-int(0.2 * mono_rate) :] ** 2))
    body = np.sqrt(np.mean(mono[: 3 * mono_rate] ** 2))
    assert mono_rate == 48000 and tail < 0.1 * body  # faded out
    # Beside stereo songs the mono mix is delivered as dual mono: both channels the same.
    assert mono.shape[1] == 2 and np.array_equal(mono[:, 0], mono[:, 1])
    report = json.loads((out / "album.json").read_text(encoding="utf-8"))
    assert [s["title"] for s in report["songs"]] == ["Loud <one>", "Ballad", "Mono"]
    for song in report["songs"]:
        assert {"lufs", "true_peak_dbtp", "loudness_range_lu", "plr_db", "streaming", "start"} <= set(song)
        assert parse_msf(song["start"]) * SAMPLES_PER_FRAME == song["start_samples"]
        assert song["start_s"] == pytest.approx(song["start_samples"] / 44100, abs=1e-3)
    assert "Ballad" in result.stdout and "album.cue" in result.stdout
    page = (out / "album.html").read_text(encoding="utf-8")
    assert "Loud &lt;one&gt;" in page and "<one>" not in page and "http:" not in page and "https:" not in page
    assert "INDEX 01 00:02:00" in page and page.count("<tr>") == 4  # a head and three songs


def test_album_from_mixes_on_the_command_line(tmp_path):
    paths = _songs(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["album", str(paths["loud"]), str(paths["ballad"]), "--ref", str(paths["ref"]), "-o", str(out), "--gap", "0.5",
         "--quietest", "-3"],
    )
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    sheet = parse_cue((out / "album.cue").read_text(encoding="utf-8"))
    assert [t.title for t in sheet.tracks] == ["loud", "ballad"]
    report = json.loads((out / "album.json").read_text(encoding="utf-8"))
    levels = [s["lufs"] for s in report["songs"]]
    assert levels[0] - levels[1] == pytest.approx(3.0, abs=1.0)  # the ballad was 6+ LU under: bounded at 3
    # 0.5 s is 37.5 CD frames: the gap is rounded up to 38, so the song starts on a frame.
    assert sheet.tracks[1].start_samples - sheet.tracks[1].pregap_start_samples == 38 * SAMPLES_PER_FRAME


@pytest.mark.parametrize(
    ("isrc", "catalog", "needle"),
    [("US-S1Z-26-0000X", "036000291452", "US-S1Z-26-0000X"), ("US-S1Z-26-00001", "4006381333932", "4006381333932")],
)
def test_bad_codes_fail_before_any_work(tmp_path, isrc, catalog, needle):
    paths = _songs(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["album", str(_spec(tmp_path, paths, isrc=isrc, catalog=catalog)), "-o", str(out)])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0]
    assert not out.exists()


def test_a_song_too_short_for_a_cd_is_refused(tmp_path):
    paths = _songs(tmp_path)
    short = tmp_path / "short.wav"
    sf.write(str(short), np.concatenate([0.3 * signals.drum_loop(3.5, RATE_HZ, seed=7), np.zeros((RATE_HZ, 2))]), RATE_HZ)
    out = tmp_path / "out"
    result = runner.invoke(app, ["album", str(paths["loud"]), str(short), "--ref", str(paths["ref"]), "-o", str(out)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "short.wav" in result.stderr and "4 s" in result.stderr
    assert not out.exists()


def test_an_album_target_out_of_reach_lowers_every_song_together(tmp_path):
    paths = _songs(tmp_path)
    spec = _spec(tmp_path, paths, "lufs = -2.0")  # no song gets there under -1 dBTP
    out = tmp_path / "out"
    result = runner.invoke(app, ["album", str(spec), "-o", str(out)])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    report = json.loads((out / "album.json").read_text(encoding="utf-8"))
    assert report["shift_db"] < -0.5 and "under its target" in result.stderr
    songs = sorted(out.glob("0*.flac"))
    mixes = [paths["loud"], paths["ballad"], paths["mono"]]
    mix_levels = np.array([_stereo_lufs(p) for p in mixes])
    out_levels = np.array([_lufs(*sf.read(str(p), always_2d=True)) for p in songs])
    np.testing.assert_allclose(out_levels - out_levels.max(), np.clip(mix_levels - mix_levels.max(), -8.0, 0.0), atol=1.0)
    for song in songs:
        assert signals.true_peak_reference_dbtp(sf.read(str(song), always_2d=True)[0]) <= CEILING_DBTP + 0.05


def test_a_silent_song_or_an_earlier_delivery_stops_the_album_cleanly(tmp_path):
    paths = _songs(tmp_path)
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros((6 * RATE_HZ, 2)), RATE_HZ)
    out = tmp_path / "out"
    result = runner.invoke(app, ["album", str(paths["loud"]), str(silent), "--ref", str(paths["ref"]), "-o", str(out)])
    assert result.exit_code == EXIT_BAD_INPUT and "silent.wav" in result.stderr and not out.exists()
    out.mkdir()
    (out / "album.cue").write_text("an earlier delivery", encoding="utf-8")
    result = runner.invoke(app, ["album", str(paths["loud"]), "--ref", str(paths["ref"]), "-o", str(out)])
    assert result.exit_code == EXIT_BAD_INPUT and "--force" in result.stderr
    assert [p.name for p in out.iterdir()] == ["album.cue"]
    assert (out / "album.cue").read_text(encoding="utf-8") == "an earlier delivery"


@settings(max_examples=30, deadline=None)
@given(
    frames=st.integers(1, 5000),
    fade_in=st.integers(0, 6000),
    fade_out=st.integers(0, 6000),
    blocks=st.lists(st.integers(1, 1500), min_size=1, max_size=8),
    curve=st.sampled_from(["linear", "sine", "log", "s-curve"]),
)
def test_fades_block_by_block_equal_fades_on_the_whole_song(frames, fade_in, fade_out, blocks, curve):
    # The whole song faded by the closed forms: a fade-in of n samples rises through
    # fade_gain(n)[i] at sample i, and the fade-out mirrors it onto the song's last samples.
    x = np.random.default_rng(frames).uniform(-1, 1, (frames, 2)).astype(np.float32)
    expected = x.astype(np.float64)
    n_in, n_out = min(frames, fade_in), min(frames, fade_out)
    expected[:n_in] *= fade_gain(n_in, curve)[:, None]
    expected[frames - n_out :] *= fade_gain(n_out, curve)[::-1, None]
    fades = Fades(frames, 1000, fade_in / 1000, fade_out / 1000, curve)
    got, start, k = x.copy(), 0, 0
    while start < frames:
        fades.process(got[start : start + blocks[k % len(blocks)]])
        start += blocks[k % len(blocks)]
        k += 1
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_an_album_stopped_while_it_is_written_leaves_nothing_behind(tmp_path, monkeypatch):
    # Ctrl-C after the second song went into the image: its file, the first song's, their
    # CD segments and the image are all temporary until the album is done, and all removed.
    from matcher.album import delivery

    append = delivery.CdImage.append
    appended = []

    def append_then_interrupt(self, song):
        appended.append(append(self, song))
        if len(appended) == 2:
            raise KeyboardInterrupt
        return appended[-1]

    monkeypatch.setattr(delivery.CdImage, "append", append_then_interrupt)
    paths = _songs(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["album", str(_spec(tmp_path, paths)), "-o", str(out)])
    assert result.exit_code == 130 and len(appended) == 2
    assert not out.exists()  # the folder it made is gone: nothing was left in it
