"""Mono songs in an album: planned at the loudness they have where they are delivered.

Beside stereo songs a mono mix is delivered as dual mono, and must measure the same in its
own file and in its span of the CD image, at its planned level (pyloudnorm, ITU-R BS.1770-4:
a mono signal on both channels reads 3 dB above the same signal alone). An album of mono
songs keeps mono files; its stereo image reads 3 dB above them, and the ReplayGain album
gain is the files' own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf
from typer.testing import CliRunner

import signals

from matcher.album.cue import parse_cue
from matcher.cli.app import app

RATE_HZ = 44100
SAME_LU = 0.1
DUAL_MONO_LU = 10 * np.log10(2)
runner = CliRunner()


def _lufs(x: np.ndarray, rate: int) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(x))


def _ok(result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"


def _write(path: Path, audio: np.ndarray, rate: int = RATE_HZ) -> Path:
    sf.write(str(path), audio, rate, subtype="PCM_24")
    return path


def _image_span(out: Path, track: int, song_frames: int, song_rate: int) -> np.ndarray:
    """The samples of a song in the CD image: from its INDEX 01, its length at 44.1 kHz."""
    image, rate = sf.read(str(out / "album.wav"), always_2d=True)
    assert rate == 44100 and image.shape[1] == 2
    start = parse_cue((out / "album.cue").read_text(encoding="utf-8")).tracks[track - 1].start_samples
    length = -(-song_frames * 44100 // song_rate)
    return image[start : start + length]


def _reference(tmp_path: Path) -> Path:
    ref = 0.5 * np.tanh(2 * signals.drum_loop(8.0, RATE_HZ, seed=4) + signals.pink_noise(8.0, RATE_HZ, 0.2, seed=5))
    return _write(tmp_path / "ref.wav", ref)


def test_a_mono_song_beside_stereo_ones_measures_the_same_in_its_file_and_the_image(tmp_path):
    loud = _write(tmp_path / "loud.wav", 0.3 * signals.drum_loop(6.0, RATE_HZ, seed=1))
    ballad = _write(tmp_path / "ballad.wav", signals.tilted_noise(6.0, RATE_HZ, -1.0, rms=0.03, seed=2))
    # At 48 kHz, so that it is resampled for the image; nothing above 20 kHz, which the
    # image's 44.1 kHz could not carry (white noise up to 24 kHz would read 0.1 LU less there).
    lowpass = scipy.signal.butter(8, 20000, fs=48000, output="sos")
    mix = scipy.signal.sosfiltfilt(lowpass, 0.15 * signals.drum_loop(6.0, 48000, seed=3, channels=1), axis=0)
    mono = _write(tmp_path / "mono.wav", mix, 48000)
    out = tmp_path / "out"
    _ok(runner.invoke(app, ["album", str(loud), str(mono), str(ballad), "--ref", str(_reference(tmp_path)),
                            "-o", str(out), "--format", "flac"]))
    song, rate = sf.read(str(out / "02 mono.flac"), always_2d=True)
    assert rate == 48000 and song.shape[1] == 2 and np.array_equal(song[:, 0], song[:, 1])  # dual mono
    in_file = _lufs(song, rate)
    in_image = _lufs(_image_span(out, 2, song.shape[0], rate), 44100)
    assert in_image == pytest.approx(in_file, abs=SAME_LU)
    report = json.loads((out / "album.json").read_text(encoding="utf-8"))
    planned = report["songs"][1]["target_lufs"]
    assert in_file == pytest.approx(planned, abs=SAME_LU)
    # Its level beside the others is its dual-mono mix's: the mix alone reads 3 dB less.
    mix, mix_rate = sf.read(str(mono), always_2d=True)
    assert report["songs"][1]["mix_lufs"] == pytest.approx(_lufs(mix, mix_rate) + DUAL_MONO_LU, abs=SAME_LU)


def test_an_album_of_mono_songs_keeps_mono_files_and_says_what_the_image_reads(tmp_path):
    first = _write(tmp_path / "first.wav", 0.2 * signals.drum_loop(6.0, RATE_HZ, seed=6, channels=1))
    second = _write(tmp_path / "second.wav", signals.tilted_noise(6.0, RATE_HZ, -0.5, rms=0.05, channels=1, seed=7))
    out = tmp_path / "out"
    result = runner.invoke(app, ["album", str(first), str(second), "--ref", str(_reference(tmp_path)), "-o", str(out),
                                 "--format", "flac"])
    _ok(result)
    assert "3.0 dB louder" in result.stderr
    files = [out / "01 first.flac", out / "02 second.flac"]
    report = json.loads((out / "album.json").read_text(encoding="utf-8"))
    songs = []
    for number, path in enumerate(files, start=1):
        song, rate = sf.read(str(path), always_2d=True)
        assert song.shape[1] == 1
        songs.append(song)
        in_file = _lufs(song, rate)
        assert in_file == pytest.approx(report["songs"][number - 1]["target_lufs"], abs=SAME_LU)
        # The image carries the same samples on both channels.
        assert _lufs(_image_span(out, number, song.shape[0], rate), 44100) == pytest.approx(in_file + DUAL_MONO_LU, abs=SAME_LU)
    # ReplayGain's album gain is that of the mono files measured together, not the image's.
    from mutagen.flac import FLAC

    album_gain_db = float(FLAC(str(files[0]))["REPLAYGAIN_ALBUM_GAIN"][0].split()[0])
    assert album_gain_db == pytest.approx(-18.0 - _lufs(np.concatenate(songs), RATE_HZ), abs=SAME_LU)
