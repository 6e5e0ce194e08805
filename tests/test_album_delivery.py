"""Delivery pieces of album mastering: Red Book arithmetic, ISRC/UPC checks, CUE sheets, tags."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.wave import WAVE
from signals import sine

from matcher.album import redbook
from matcher.album.cue import CueSheet, CueTrack, parse_cue, render_cue
from matcher.album.tags import replaygain_tags, write_tags
from matcher.errors import AudioFileError, AutomasterError, DeliveryError

RATE = redbook.CD_SAMPLE_RATE_HZ


def frames(minutes: int, seconds: int, ff: int) -> int:
    """Frames of mm:ss:ff, worked out here independently of the module."""
    return (minutes * 60 + seconds) * 75 + ff


# ---------------------------------------------------------------- Red Book arithmetic


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "00:00:00"),
        (74, "00:00:74"),
        (75, "00:01:00"),
        (75 * 60, "01:00:00"),
        (frames(4, 1, 40), "04:01:40"),
        (int(79.8 * 60 * 75), "79:48:00"),
        (100 * 60 * 75, "100:00:00"),
    ],
)
def test_msf(count, text):
    assert redbook.msf(count) == text
    assert redbook.parse_msf(text) == count


@given(st.integers(min_value=0, max_value=10**7))
def test_msf_parse_round_trip(count):
    assert redbook.parse_msf(redbook.msf(count)) == count


@pytest.mark.parametrize("text", ["00:60:00", "00:00:75", "1:2:3", "00:00", "aa:bb:cc"])
def test_parse_msf_refuses_bad_times(text):
    with pytest.raises(ValueError):
        redbook.parse_msf(text)


def test_msf_refuses_negative_frames():
    with pytest.raises(ValueError):
        redbook.msf(-1)


def test_frame_and_sample_conversions():
    assert redbook.SAMPLES_PER_FRAME == 588
    assert redbook.frames_to_samples(75) == 44100  # one second
    assert redbook.samples_to_frames(44100) == 75
    assert redbook.samples_to_frames(np.int64(588 * 7)) == 7
    with pytest.raises(ValueError, match="frame boundary"):
        redbook.samples_to_frames(44101)
    assert [redbook.round_up_to_frame(n) for n in (0, 1, 587, 588, 589)] == [0, 588, 588, 588, 1176]


@given(st.integers(min_value=0, max_value=10**9))
def test_round_up_to_frame_is_the_next_boundary(samples):
    rounded = redbook.round_up_to_frame(samples)
    assert rounded % 588 == 0
    assert samples <= rounded < samples + 588


# ---------------------------------------------------------------- ISRC and UPC/EAN


@pytest.mark.parametrize(
    "code", ["US-S1Z-99-00001", "uss1z9900001", " USS1Z9900001 ", "us-s1z-99-00001"]
)
def test_isrc_accepted(code):
    assert redbook.normalise_isrc(code) == "USS1Z9900001"


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("USS1Z990000", "11 characters"),
        ("USS1Z99000012", "13 characters"),
        ("US-S1Z-99-0001", "11 characters"),
        ("USS1Z9A00001", "year"),
        ("USS1Z99000O1", "designation"),
        ("1SS1Z9900001", "country"),
        ("U-SS1Z-99-00001", "dashes"),
        ("USS1*9900001", "registrant"),
        ("ÜSS1Z9900001", "ASCII"),
    ],
)
def test_isrc_refused_with_reason(code, why):
    with pytest.raises(DeliveryError) as info:
        redbook.normalise_isrc(code)
    assert code in str(info.value)
    assert why in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, AutomasterError)


@pytest.mark.parametrize(
    ("code", "ean13"),
    [
        ("4006381333931", "4006381333931"),  # EAN-13
        ("9780306406157", "9780306406157"),  # an ISBN-13 is an EAN-13
        ("036000291452", "0036000291452"),  # UPC-A becomes EAN-13 with a leading 0
        ("0 36000 29145 2", "0036000291452"),
        ("036000-291452", "0036000291452"),
    ],
)
def test_catalog_accepted(code, ean13):
    assert redbook.normalise_catalog(code) == ean13


def test_catalog_wrong_check_digit_names_the_expected_one():
    with pytest.raises(DeliveryError, match=r"'4006381333932'.*expected 1"):
        redbook.normalise_catalog("4006381333932")
    with pytest.raises(DeliveryError, match="expected 2"):
        redbook.normalise_catalog("036000291453")


@pytest.mark.parametrize("code", ["12345", "40063813339311", "40063813339A1", ""])
def test_catalog_wrong_length_or_characters(code):
    with pytest.raises(DeliveryError, match="UPC/EAN"):
        redbook.normalise_catalog(code)


# ---------------------------------------------------------------- disc limits


def test_check_disc_accepts_a_disc_at_the_limits():
    four_s = 4 * RATE
    full = int(79.8 * 60 * RATE)
    redbook.check_disc([four_s] * 99, [0] * 99)
    gaps = [2 * RATE] + [0] * 9
    redbook.check_disc([four_s] * 9 + [full - 9 * four_s - 2 * RATE], gaps)


def test_check_disc_refuses_100_tracks():
    with pytest.raises(DeliveryError, match="100 tracks.*at most 99"):
        redbook.check_disc([10 * RATE] * 100, [0] * 100)


def test_check_disc_names_a_short_track():
    lengths = [30 * RATE, 30 * RATE, round(3.9 * RATE), 30 * RATE]
    with pytest.raises(DeliveryError, match=r"track 3 is 3\.90 s long.*at least 4 s"):
        redbook.check_disc(lengths, [0] * 4)


def test_check_disc_refuses_80_minutes():
    with pytest.raises(DeliveryError, match=r"runs 80:00 \(12\.0 s too long\).*79:48"):
        redbook.check_disc([5 * 60 * RATE] * 16, [0] * 16)


def test_check_disc_counts_pregaps_and_rounds_the_total_up():
    full = int(79.8 * 60 * RATE)
    with pytest.raises(DeliveryError, match="runs 79:49"):
        redbook.check_disc([full - 2 * RATE], [2 * RATE + 588])


def test_check_disc_needs_one_gap_per_track():
    with pytest.raises(ValueError, match="2 track lengths but 1 pregaps"):
        redbook.check_disc([10 * RATE, 10 * RATE], [0])


# ---------------------------------------------------------------- CUE sheets


def _sheet() -> CueSheet:
    return CueSheet(
        image_file="album.wav",
        title="The Album",
        performer="The Band",
        catalog="036000291452",
        tracks=(
            CueTrack(1, "First Song", "The Band", "US-S1Z-99-00001", None, 0),
            CueTrack(
                2, "Second Song", None, None,
                588 * frames(3, 59, 40), 588 * frames(4, 1, 40),
            ),
            CueTrack(3, "Third", "Guest", "GBAAA1234567", None, 588 * frames(79, 40, 0)),
        ),
    )


EXPECTED_CUE = (
    "CATALOG 0036000291452\r\n"
    'PERFORMER "The Band"\r\n'
    'TITLE "The Album"\r\n'
    'FILE "album.wav" WAVE\r\n'
    "  TRACK 01 AUDIO\r\n"
    '    TITLE "First Song"\r\n'
    '    PERFORMER "The Band"\r\n'
    "    ISRC USS1Z9900001\r\n"
    "    INDEX 01 00:00:00\r\n"
    "  TRACK 02 AUDIO\r\n"
    '    TITLE "Second Song"\r\n'
    "    INDEX 00 03:59:40\r\n"
    "    INDEX 01 04:01:40\r\n"
    "  TRACK 03 AUDIO\r\n"
    '    TITLE "Third"\r\n'
    '    PERFORMER "Guest"\r\n'
    "    ISRC GBAAA1234567\r\n"
    "    INDEX 01 79:40:00\r\n"
)


def test_render_cue_writes_the_standard_sheet():
    assert render_cue(_sheet()) == EXPECTED_CUE


def test_cue_round_trip():
    sheet = _sheet()
    back = parse_cue(render_cue(sheet))
    assert back == sheet
    assert back.tracks[1].pregap_start_samples == 588 * frames(3, 59, 40)
    assert back.catalog == "0036000291452" and back.tracks[0].isrc == "USS1Z9900001"


def test_parse_cue_reads_lf_bom_comments_and_bare_values():
    text = (
        "\ufeffREM GENRE Rock\n"
        "TITLE Album\n"
        'FILE "image.wav" WAVE\n'
        "  TRACK 01 AUDIO\n"
        '    TITLE "One"\n'
        "    INDEX 01 00:00:00\n"
        "  TRACK 02 AUDIO\n"
        "    INDEX 00 00:10:00\n"
        "    INDEX 01 00:12:00\n"
    )
    sheet = parse_cue(text)
    assert sheet.title == "Album" and sheet.image_file == "image.wav"
    assert sheet.performer is None and sheet.catalog is None
    assert [t.start_samples for t in sheet.tracks] == [0, 12 * RATE]
    assert sheet.tracks[1].pregap_start_samples == 10 * RATE
    assert sheet.tracks[1].title == ""


@pytest.mark.parametrize(
    "extra",
    ['FILE "other.wav" WAVE', "    PREGAP 00:02:00", "    INDEX 02 00:30:00", "    FLAGS DCP"],
)
def test_parse_cue_refuses_what_render_never_writes(extra):
    with pytest.raises(DeliveryError, match="CUE line 14"):
        line = "    INDEX 01 04:01:40\r\n"
        parse_cue(EXPECTED_CUE.replace(line, f"{line}{extra}\r\n"))


def test_parse_cue_needs_index_01():
    with pytest.raises(DeliveryError, match="track 03 has no INDEX 01"):
        parse_cue(EXPECTED_CUE.replace("    INDEX 01 79:40:00\r\n", ""))


def test_cue_lines_end_in_crlf():
    text = render_cue(_sheet())
    assert text.endswith("\r\n")
    assert text.count("\n") == text.count("\r\n") == 18


@pytest.mark.parametrize(
    ("field", "value"),
    [("start_samples", 1000), ("start_samples", 44100 + 1), ("pregap_start_samples", 587)],
)
def test_cue_positions_must_be_on_frame_boundaries(field, value):
    kwargs = dict(number=1, title="x", performer=None, isrc=None, pregap_start_samples=None,
                  start_samples=588 * 10)
    kwargs[field] = value
    with pytest.raises(ValueError, match="frame boundary"):
        CueTrack(**kwargs)


def test_cue_pregap_must_come_before_the_track():
    with pytest.raises(ValueError, match="INDEX 00"):
        CueTrack(2, "x", None, None, 588 * 20, 588 * 20)


def test_cue_titles_lose_quotes_and_line_breaks():
    track = CueTrack(1, 'Say "Hi"\r\nNow\tand\x00then', 'The "B" Band', None, None, 0)
    sheet = CueSheet("album.wav", 'Best "Of"\n', None, None, (track,))
    text = render_cue(sheet)
    lines = text.split("\r\n")
    assert '    TITLE "Say \'Hi\' Now and then"' in lines
    assert '    PERFORMER "The \'B\' Band"' in lines
    assert 'TITLE "Best \'Of\'"' in lines
    assert all(line.count('"') in (0, 2) for line in lines)
    assert len(lines) == 7  # 6 lines and the empty string after the last CRLF
    assert parse_cue(text) == sheet


def test_cue_sheet_checks_numbering_order_and_codes():
    one = CueTrack(1, "a", None, None, None, 0)
    with pytest.raises(DeliveryError, match="consecutively"):
        CueSheet("a.wav", "t", None, None, (one, CueTrack(3, "b", None, None, None, 588 * 75 * 10)))
    with pytest.raises(DeliveryError, match="not after track 1"):
        CueSheet("a.wav", "t", None, None, (CueTrack(1, "a", None, None, None, 588 * 100),
                                             CueTrack(2, "b", None, None, 588 * 50, 588 * 200)))
    with pytest.raises(DeliveryError, match="expected 1"):
        CueSheet("a.wav", "t", None, "4006381333932", (one,))
    with pytest.raises(DeliveryError, match="year"):
        CueTrack(1, "a", None, "USS1Z9A00001", None, 0)
    with pytest.raises(DeliveryError, match="image file"):
        CueSheet('my "album".wav', "t", None, None, (one,))
    with pytest.raises(DeliveryError, match="at least one track"):
        CueSheet("a.wav", "t", None, None, ())


# ---------------------------------------------------------------- ReplayGain


@pytest.mark.parametrize(
    ("lufs", "gain"),
    [(-9.0, "-9.00 dB"), (-23.0, "+5.00 dB"), (-18.0, "+0.00 dB"), (-18.004, "+0.00 dB"),
     (-14.126, "-3.87 dB")],
)
def test_replaygain_gain(lufs, gain):
    tags = replaygain_tags(lufs, 0.5, -12.0, 1.0)
    assert tags["REPLAYGAIN_TRACK_GAIN"] == gain
    assert tags["REPLAYGAIN_ALBUM_GAIN"] == "-6.00 dB"


def test_replaygain_tags_are_the_four_of_the_standard():
    tags = replaygain_tags(-10.0, 10 ** (-1 / 20), -11.0, 1.0)
    assert list(tags) == [
        "REPLAYGAIN_TRACK_GAIN",
        "REPLAYGAIN_TRACK_PEAK",
        "REPLAYGAIN_ALBUM_GAIN",
        "REPLAYGAIN_ALBUM_PEAK",
    ]
    assert tags["REPLAYGAIN_TRACK_PEAK"] == "0.891251"  # -1 dBTP
    assert tags["REPLAYGAIN_ALBUM_PEAK"] == "1.000000"
    assert tags["REPLAYGAIN_ALBUM_GAIN"] == "-7.00 dB"


@pytest.mark.parametrize(("lufs", "peak"), [(-200.0, 0.5), (float("nan"), 0.5), (-10.0, 0.0),
                                            (-10.0, float("inf"))])
def test_replaygain_refuses_silence_and_nonsense(lufs, peak):
    with pytest.raises(DeliveryError):
        replaygain_tags(lufs, peak, -10.0, 0.5)


# ---------------------------------------------------------------- tags on files


SONG_TAGS = {
    "TITLE": "Café Noir",
    "ARTIST": "The Band",
    "ALBUM": "The Album",
    "TRACKNUMBER": "3",
    "TRACKTOTAL": "12",
    "ISRC": "USS1Z9900001",
}


EXPECTED_STRINGS = ("Café Noir", "The Band", "The Album", "3")
"""What libsndfile reads back: title, artist, album, track number."""


def _audio_file(path, fmt, subtype="PCM_16", channels=2, seconds=0.5):
    audio = sine(997.0, seconds, RATE, amplitude=0.5, channels=channels)
    sf.write(path, audio, RATE, subtype=subtype, format=fmt)
    return sf.read(path, dtype="int16" if subtype == "PCM_16" else "float64")[0]


def test_flac_tags_read_back(tmp_path):
    # A temporary name like the atomic writer's: the container is known from the bytes.
    path = tmp_path / ".song.flac.a1b2.tmp"
    before = _audio_file(path, "FLAC")
    tags = {**SONG_TAGS, **replaygain_tags(-9.0, 0.95, -10.0, 0.98)}
    write_tags(path, tags)

    flac = FLAC(path)
    for key, value in tags.items():
        assert flac.tags[key] == [value]
    assert flac.tags["REPLAYGAIN_TRACK_GAIN"] == ["-9.00 dB"]
    with sf.SoundFile(path) as f:
        assert (f.title, f.artist, f.album, f.tracknumber) == EXPECTED_STRINGS
    assert np.array_equal(sf.read(path, dtype="int16")[0], before)


def test_flac_tags_replace_earlier_values(tmp_path):
    path = tmp_path / "song.flac"
    _audio_file(path, "FLAC")
    flac = FLAC(path)
    if flac.tags is None:
        flac.add_tags()
    flac.tags["title"] = ["old"]
    flac.tags["replaygain_track_gain"] = ["+1.00 dB"]
    flac.save()
    write_tags(path, {"TITLE": "new", "TRACKNUMBER": "1", "REPLAYGAIN_TRACK_GAIN": "-2.00 dB"})
    flac = FLAC(path)
    assert flac.tags["TITLE"] == ["new"]
    assert flac.tags["REPLAYGAIN_TRACK_GAIN"] == ["-2.00 dB"]


def _riff_chunks(path) -> tuple[bool, list[bytes]]:
    """Whether the RIFF size matches the file, and the top-level chunk ids in order."""
    data = path.read_bytes()
    riff_size = struct.unpack("<I", data[4:8])[0]
    ids, offset = [], 12
    while offset < len(data):
        chunk_id, size = struct.unpack("<4sI", data[offset : offset + 8])
        ids.append(chunk_id)
        offset += 8 + size + size % 2
    assert offset == len(data)
    return riff_size + 8 == len(data), ids


def test_wav_tags_read_back_by_libsndfile_and_mutagen(tmp_path):
    path = tmp_path / ".song.wav.x.tmp"
    before = _audio_file(path, "WAV")
    write_tags(path, {**SONG_TAGS, **replaygain_tags(-9.0, 0.95, -10.0, 0.98)})

    with sf.SoundFile(path) as f:  # the LIST/INFO chunk
        assert (f.title, f.artist, f.album, f.tracknumber) == EXPECTED_STRINGS
    id3 = WAVE(path).tags  # the ID3 chunk
    assert id3["TIT2"].text == ["Café Noir"]
    assert id3["TPE1"].text == ["The Band"]
    assert id3["TALB"].text == ["The Album"]
    assert id3["TRCK"].text == ["3/12"]
    assert id3["TSRC"].text == ["USS1Z9900001"]
    assert id3.version[:2] == (2, 3)
    assert not id3.getall("TXXX")  # no ReplayGain in a WAV
    assert np.array_equal(sf.read(path, dtype="int16")[0], before)
    consistent, ids = _riff_chunks(path)
    assert consistent
    assert ids.count(b"LIST") == 1 and ids.count(b"id3 ") == 1


def test_wav_tags_written_twice_keep_one_of_each(tmp_path):
    path = tmp_path / "song.wav"
    before = _audio_file(path, "WAV")
    write_tags(path, SONG_TAGS)
    write_tags(path, {"TITLE": "Second", "TRACKNUMBER": "4"})
    with sf.SoundFile(path) as f:
        assert (f.title, f.tracknumber, f.artist) == ("Second", "4", "")
    id3 = WAVE(path).tags
    assert id3["TIT2"].text == ["Second"] and id3["TRCK"].text == ["4"]
    assert "TPE1" not in id3  # both stores say the same thing
    assert np.array_equal(sf.read(path, dtype="int16")[0], before)
    consistent, ids = _riff_chunks(path)
    assert consistent
    assert ids.count(b"LIST") == 1 and ids.count(b"JUNK") >= 1 and ids.count(b"id3 ") == 1


def test_wav_with_an_odd_sized_data_chunk(tmp_path):
    path = tmp_path / "odd.wav"
    audio = np.linspace(-0.5, 0.5, 1001)
    sf.write(path, audio, RATE, subtype="PCM_U8")
    before = sf.read(path)[0]
    write_tags(path, {"TITLE": "Odd", "TRACKNUMBER": "1"})
    assert sf.SoundFile(path).title == "Odd"
    assert np.array_equal(sf.read(path)[0], before)
    assert _riff_chunks(path)[0]


def test_aiff_tags_read_back(tmp_path):
    path = tmp_path / "song.aiff"
    before = _audio_file(path, "AIFF")
    write_tags(path, SONG_TAGS)
    id3 = AIFF(path).tags
    assert id3["TIT2"].text == ["Café Noir"] and id3["TRCK"].text == ["3/12"]
    assert np.array_equal(sf.read(path, dtype="int16")[0], before)


@pytest.mark.parametrize(
    ("tags", "match"),
    [
        ({"TRACKNUMBER": "1"}, "TITLE tag is required"),
        ({"TITLE": "a"}, "TRACKNUMBER tag is required"),
        ({"TITLE": " ", "TRACKNUMBER": "1"}, "TITLE tag is required"),
        ({"TITLE": "a", "TRACKNUMBER": "one"}, "number or number/total"),
        ({"TITLE": "a", "TRACKNUMBER": "1", "TRACKTOTAL": "x"}, "TRACKTOTAL"),
        ({"TITLE": "a", "TRACKNUMBER": "1", "A=B": "x"}, "field name"),
        ({"TITLE": "a\x00b", "TRACKNUMBER": "1"}, "NUL"),
        ({"TITLE": "a", "title": "b", "TRACKNUMBER": "1"}, "twice"),
    ],
)
def test_write_tags_refuses_bad_tags(tmp_path, tags, match):
    path = tmp_path / "song.flac"
    _audio_file(path, "FLAC")
    with pytest.raises(DeliveryError, match=match):
        write_tags(path, tags)


def test_write_tags_refuses_a_file_that_is_not_audio(tmp_path):
    path = tmp_path / "notes.flac"
    path.write_text("not audio")
    with pytest.raises(AudioFileError, match="not a FLAC, WAV or AIFF"):
        write_tags(path, {"TITLE": "a", "TRACKNUMBER": "1"})
    with pytest.raises(AudioFileError, match="cannot be read"):
        write_tags(tmp_path / "missing.flac", {"TITLE": "a", "TRACKNUMBER": "1"})
