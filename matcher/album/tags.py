"""Metadata on delivered files: title, artist, album, track number, ISRC and ReplayGain 2.0.

Tags are written with mutagen: libsndfile stores only a fixed set of strings (title, artist,
album, track number...), not arbitrary Vorbis comments such as ``REPLAYGAIN_TRACK_GAIN``, and
cannot add tags to a file that is already written.

What each container gets
------------------------
FLAC
    Every tag given, as Vorbis comments (names upper-case, one value each, replacing earlier
    values of the same name whatever their case). ReplayGain belongs here.
WAV
    Two tag stores, written from the same values so that they agree:

    - a ``LIST``/``INFO`` chunk (``INAM`` title, ``IART`` artist, ``IPRD`` album, ``ITRK``
      track number), the RIFF-native form that Windows Explorer, DAWs, Audacity, ffmpeg
      and libsndfile (hence python-soundfile) read; its text is UTF-8;
    - an ID3v2.3 chunk (``id3 ``: ``TIT2``, ``TPE1``, ``TALB``, ``TRCK`` as ``n/total``,
      ``TSRC`` ISRC), which music players and taggers (foobar2000, MusicBee, Mp3tag, VLC,
      Kodi, Picard) read and which carries Unicode reliably. Version 2.3 rather than 2.4
      because older Windows and Apple software reads only 2.3.

    This is what Mp3tag and foobar2000 write to WAV files.
AIFF
    An ID3v2.3 chunk (``ID3 ``) as above, the form iTunes/Apple Music and Logic write.

ReplayGain and tags outside this list are not written to WAV or AIFF: no player applies
ReplayGain from a WAV, and a tag there that nothing reads would only mislead.
"""

from __future__ import annotations

import math
import os
import re
import struct
from pathlib import Path

from matcher.errors import AudioFileError, DeliveryError

REPLAYGAIN_REFERENCE_LUFS = -18.0
"""ReplayGain 2.0's reference level: a gain brings a track's integrated loudness (ITU-R
BS.1770) to -18 LUFS."""

_ABSOLUTE_GATE_LUFS = -70.0

REQUIRED_TAGS = ("TITLE", "TRACKNUMBER")
"""Tags every delivered file must carry."""

ID3_FRAMES = {
    "TITLE": "TIT2", "ARTIST": "TPE1", "ALBUM": "TALB", "TRACKNUMBER": "TRCK", "ISRC": "TSRC"
}
"""Tag names stored in the ID3 chunk of WAV and AIFF files (``TRACKTOTAL`` joins ``TRCK``)."""

RIFF_INFO_IDS = {"TITLE": "INAM", "ARTIST": "IART", "ALBUM": "IPRD", "TRACKNUMBER": "ITRK"}
"""Tag names stored in the ``LIST``/``INFO`` chunk of WAV files."""

_FIELD_NAME = re.compile(r"[\x20-\x3c\x3e-\x7d]+")  # a Vorbis comment field name: no '='
_TRACK_NUMBER = re.compile(r"([0-9]+)(?:/([0-9]+))?")


def replaygain_tags(
    track_lufs: float, track_peak: float, album_lufs: float, album_peak: float
) -> dict[str, str]:
    """ReplayGain 2.0 tags of a track in an album.

    The gain is ``-18 LUFS - integrated loudness``, written with a sign and two decimals
    (``"+5.00 dB"``); the peak is a linear amplitude with six decimals (``"0.891251"``,
    1.0 = full scale), here the true peak. ``REPLAYGAIN_REFERENCE_LOUDNESS`` is not written:
    ReplayGain 2.0 dropped it, and readers disagree on its unit (89 dB SPL in 1.0, LUFS in
    some 2.0 taggers), so it can only confuse a player.

    Parameters
    ----------
    track_lufs, album_lufs : float
        Integrated loudness (ITU-R BS.1770) of the track and of the whole album measured as
        one programme (not the mean of the tracks), LUFS; above the -70 LUFS absolute gate.
    track_peak, album_peak : float
        True peak of the track and of the album (the largest track peak), linear amplitude.

    Returns
    -------
    dict
        ``REPLAYGAIN_TRACK_GAIN``, ``REPLAYGAIN_TRACK_PEAK``, ``REPLAYGAIN_ALBUM_GAIN``,
        ``REPLAYGAIN_ALBUM_PEAK``.

    Raises
    ------
    DeliveryError
        A loudness that is not finite or at or below -70 LUFS (silence has no ReplayGain), or
        a peak that is not finite and positive.
    """
    tags: dict[str, str] = {}
    for scope, lufs, peak in (("TRACK", track_lufs, track_peak), ("ALBUM", album_lufs, album_peak)):
        if not math.isfinite(lufs) or lufs <= _ABSOLUTE_GATE_LUFS:
            raise DeliveryError(
                f"{scope.lower()} loudness {lufs} LUFS: ReplayGain needs a finite loudness "
                f"above {_ABSOLUTE_GATE_LUFS:g} LUFS"
            )
        if not math.isfinite(peak) or peak <= 0:
            raise DeliveryError(
                f"{scope.lower()} peak {peak}: must be a finite, positive linear amplitude"
            )
        gain_db = round(REPLAYGAIN_REFERENCE_LUFS - lufs, 2) + 0.0  # + 0.0: no "-0.00"
        tags[f"REPLAYGAIN_{scope}_GAIN"] = f"{gain_db:+.2f} dB"
        tags[f"REPLAYGAIN_{scope}_PEAK"] = f"{peak:.6f}"
    return tags


def write_tags(path: str | os.PathLike, tags: dict[str, str]) -> None:
    """Write tags into a FLAC, WAV or AIFF file, in place.

    The container is recognised from the file's first bytes, not its name, so this works on
    a temporary file (``.song.flac.x1y2.tmp``). Writing tags rewrites parts of the file and
    is not atomic: call it on the temporary file before it is renamed into place, never on a
    delivered file. What each container stores is listed in the module's docstring; names
    outside it are left out of WAV and AIFF files.

    Parameters
    ----------
    path : path-like
        An audio file already written and closed.
    tags : dict of str to str
        Vorbis-comment names (case-insensitive; stored upper-case) and values. ``TITLE`` and
        ``TRACKNUMBER`` (``"3"`` or ``"3/12"``) are required; ``TRACKTOTAL`` must be digits.

    Raises
    ------
    DeliveryError
        A required tag is missing or empty, a name is not a valid field name, a value holds
        a NUL character, or a track number is malformed.
    AudioFileError
        The file is not FLAC, WAV or AIFF, is damaged, or cannot be written.
    """
    from mutagen import MutagenError

    p = Path(path)
    clean = _checked(tags, p)
    container = _container(p)
    try:
        if container == "FLAC":
            _write_flac(p, clean)
        elif container == "WAV":
            _write_riff_info(p, clean)
            _write_id3(p, clean, container)
        else:
            _write_id3(p, clean, container)
    except (MutagenError, OSError) as exc:
        raise AudioFileError(f"{p}: tags cannot be written ({exc})") from None


def _checked(tags: dict[str, str], path: Path) -> dict[str, str]:
    clean: dict[str, str] = {}
    for name, value in tags.items():
        key = str(name).upper()
        if not _FIELD_NAME.fullmatch(key):
            raise DeliveryError(f"{path}: tag name {name!r} is not a valid field name")
        if not isinstance(value, str):
            raise DeliveryError(f"{path}: tag {key} must be text, got {value!r}")
        if "\x00" in value:
            raise DeliveryError(f"{path}: tag {key} holds a NUL character")
        if key in clean:
            raise DeliveryError(f"{path}: tag {key} given twice (names ignore case)")
        clean[key] = value
    for key in REQUIRED_TAGS:
        if not clean.get(key, "").strip():
            raise DeliveryError(f"{path}: the {key} tag is required")
    if not _TRACK_NUMBER.fullmatch(clean["TRACKNUMBER"]):
        raise DeliveryError(
            f"{path}: TRACKNUMBER {clean['TRACKNUMBER']!r} must be a number or number/total"
        )
    if "TRACKTOTAL" in clean and not clean["TRACKTOTAL"].isdigit():
        raise DeliveryError(f"{path}: TRACKTOTAL {clean['TRACKTOTAL']!r} must be a number")
    return clean


def _container(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot be read ({exc.strerror})") from None
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    raise AudioFileError(f"{path}: not a FLAC, WAV or AIFF file; tags cannot be written")


def _write_flac(path: Path, tags: dict[str, str]) -> None:
    from mutagen.flac import FLAC

    audio = FLAC(path)
    if audio.tags is None:
        audio.add_tags()
    for key, value in tags.items():
        audio.tags[key] = [value]  # replaces every earlier value of this name, in any case
    audio.save()


def _write_id3(path: Path, tags: dict[str, str], container: str) -> None:
    from mutagen import id3
    from mutagen.aiff import AIFF
    from mutagen.wave import WAVE

    audio = WAVE(path) if container == "WAV" else AIFF(path)
    if audio.tags is None:
        audio.add_tags()
    for frame_id in ID3_FRAMES.values():  # the chunk then says what the INFO chunk says
        audio.tags.delall(frame_id)
    values = {key: tags[key] for key in ID3_FRAMES if key in tags}
    if "TRACKTOTAL" in tags and "/" not in values["TRACKNUMBER"]:
        values["TRACKNUMBER"] = f"{values['TRACKNUMBER']}/{tags['TRACKTOTAL']}"
    for key, value in values.items():
        frame_id = ID3_FRAMES[key]
        frame = getattr(id3, frame_id)(encoding=id3.Encoding.UTF8, text=[value])
        audio.tags.setall(frame_id, [frame])
    audio.save(v2_version=3)  # UTF-8 text becomes UTF-16, which ID3v2.3 has


def _write_riff_info(path: Path, tags: dict[str, str]) -> None:
    """Append a ``LIST``/``INFO`` chunk to a WAV file; earlier ones become ``JUNK``.

    Retyping an old chunk as ``JUNK`` (which every RIFF reader skips) keeps this to a few
    bytes written in place, whatever the size of the audio.
    """
    body = b"INFO"
    for key, chunk_id in RIFF_INFO_IDS.items():
        if key in tags:
            value = tags[key].split("/")[0] if key == "TRACKNUMBER" else tags[key]
            text = value.encode("utf-8") + b"\x00"
            body += chunk_id.encode("ascii") + struct.pack("<I", len(text)) + text
            body += b"\x00" * (len(text) % 2)
    chunk = b"LIST" + struct.pack("<I", len(body)) + body
    with open(path, "r+b") as f:
        file_size = os.fstat(f.fileno()).st_size
        f.seek(4)
        riff_end = 8 + struct.unpack("<I", f.read(4))[0]
        old_info: list[int] = []
        offset = 12
        while offset + 8 <= min(riff_end, file_size):
            f.seek(offset)
            chunk_id, size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"LIST" and f.read(4) == b"INFO":
                old_info.append(offset)
            offset += 8 + size + size % 2
        if offset > file_size + 1 or offset < riff_end:
            raise AudioFileError(f"{path}: damaged WAV file (a chunk runs past its end)")
        if file_size > offset:
            raise AudioFileError(f"{path}: {file_size - offset} bytes after the WAV data")
        new_riff_size = offset + len(chunk) - 8
        if new_riff_size >= 2**32:
            raise AudioFileError(f"{path}: too large for a WAV file once tagged")
        for old in old_info:
            f.seek(old)
            f.write(b"JUNK")
        f.seek(file_size)
        f.write(b"\x00" * (offset - file_size) + chunk)  # the missing pad byte, if any
        f.seek(4)
        f.write(struct.pack("<I", new_riff_size))
