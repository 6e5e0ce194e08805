"""The CUE sheet of a single-file album image: track starts, pregaps, titles, ISRC and UPC/EAN.

The sheet follows the CDRWIN syntax that CD burners and rippers read::

    CATALOG 0036000291452
    PERFORMER "The Band"
    TITLE "The Album"
    FILE "album.wav" WAVE
      TRACK 01 AUDIO
        TITLE "First Song"
        PERFORMER "The Band"
        ISRC USS1Z9900001
        INDEX 01 00:00:00
      TRACK 02 AUDIO
        TITLE "Second Song"
        INDEX 00 03:59:40
        INDEX 01 04:01:40

Gaps between songs are in the image (as silence), so a pregap is written as ``INDEX 00`` (the
pregap's start) before ``INDEX 01`` (the track's start), never as a ``PREGAP`` command, which
would ask the burner to add silence of its own. The standard 2 s before track 1 is added by
the burner and is not in the image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from matcher.album import redbook
from matcher.errors import DeliveryError

LINE_END = "\r\n"
"""CUE sheets are written with CRLF line ends: they come from DOS/Windows tools (CDRWIN) and
several burners read nothing else correctly; every reader we know accepts CRLF."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def cue_text(text: str) -> str:
    """Text as a CUE sheet can quote it.

    CUE has no escape for ``"`` inside a quoted string, so double quotes become single quotes
    (``'``). Line breaks, tabs and other control characters become one space each run, and the
    ends are stripped. Nothing else changes; note that CD-Text holds at most 80 characters a
    field and that burners differ on characters outside Latin-1.
    """
    return _CONTROL.sub(" ", text.replace('"', "'")).strip()


@dataclass(frozen=True)
class CueTrack:
    """One track of a CUE sheet.

    Text is cleaned with :func:`cue_text` and the ISRC normalised to its 12-character form
    when the track is made, so that the object holds exactly what the sheet will say (and
    ``parse_cue(render_cue(sheet)) == sheet``). An empty performer is taken as none.

    Parameters
    ----------
    number : int
        Track number, 1-99.
    title, performer : str
        CD-Text of the track.
    isrc : str or None
        ISRC, with or without dashes (:func:`redbook.normalise_isrc`).
    pregap_start_samples : int or None
        Start of the gap before the track (``INDEX 00``), or None when there is no gap.
    start_samples : int
        Start of the track (``INDEX 01``).

    Positions are sample counts from the start of the image at 44.1 kHz and must lie on CD
    frame boundaries (multiples of 588); ``ValueError`` otherwise.
    """

    number: int
    title: str
    performer: str | None
    isrc: str | None
    pregap_start_samples: int | None
    start_samples: int

    def __post_init__(self) -> None:
        if isinstance(self.number, bool) or not 1 <= int(self.number) <= redbook.MAX_TRACKS:
            raise DeliveryError(f"track number {self.number!r}: must be 1-{redbook.MAX_TRACKS}")
        object.__setattr__(self, "number", int(self.number))
        object.__setattr__(self, "title", cue_text(self.title))
        object.__setattr__(self, "performer", _optional_text(self.performer))
        if self.isrc is not None:
            object.__setattr__(self, "isrc", redbook.normalise_isrc(self.isrc))
        start = _frame_position(self.start_samples, f"track {self.number}: INDEX 01")
        object.__setattr__(self, "start_samples", start)
        if self.pregap_start_samples is not None:
            pregap = _frame_position(self.pregap_start_samples, f"track {self.number}: INDEX 00")
            if pregap >= start:
                raise ValueError(
                    f"track {self.number}: the pregap (INDEX 00 at {pregap} samples) must start "
                    f"before the track (INDEX 01 at {start}); use None for no gap"
                )
            object.__setattr__(self, "pregap_start_samples", pregap)

    @property
    def first_index_samples(self) -> int:
        """Where the track's first index is: its pregap's start if it has one, else its start."""
        if self.pregap_start_samples is None:
            return self.start_samples
        return self.pregap_start_samples


@dataclass(frozen=True)
class CueSheet:
    """A CUE sheet for one WAVE image holding every track.

    ``catalog`` (UPC-A or EAN-13) is normalised to 13 digits, text is cleaned as in
    :class:`CueTrack`. Tracks must be numbered consecutively and start in order.

    Raises
    ------
    DeliveryError
        No tracks, more than 99, numbers out of sequence, tracks out of order, a bad UPC/EAN,
        or an image file name a CUE sheet cannot quote.
    """

    image_file: str
    title: str
    performer: str | None
    catalog: str | None
    tracks: tuple[CueTrack, ...]

    def __post_init__(self) -> None:
        if not self.image_file or self.image_file != cue_text(self.image_file):
            raise DeliveryError(
                f"image file name {self.image_file!r}: must be non-empty, without double quotes, "
                "control characters or spaces at its ends"
            )
        object.__setattr__(self, "title", cue_text(self.title))
        object.__setattr__(self, "performer", _optional_text(self.performer))
        if self.catalog is not None:
            object.__setattr__(self, "catalog", redbook.normalise_catalog(self.catalog))
        tracks = tuple(self.tracks)
        object.__setattr__(self, "tracks", tracks)
        if not tracks:
            raise DeliveryError("a CUE sheet needs at least one track")
        if len(tracks) > redbook.MAX_TRACKS:
            raise DeliveryError(f"{len(tracks)} tracks; a CD holds at most {redbook.MAX_TRACKS}")
        for before, after in zip(tracks[:-1], tracks[1:], strict=True):
            if after.number != before.number + 1:
                raise DeliveryError(
                    f"track {after.number} follows track {before.number}; "
                    "tracks must be numbered consecutively"
                )
            if after.first_index_samples <= before.start_samples:
                raise DeliveryError(
                    f"track {after.number} starts at {after.first_index_samples} samples, "
                    f"not after track {before.number} (at {before.start_samples})"
                )


def render_cue(sheet: CueSheet) -> str:
    """The text of a CUE sheet, CRLF line ends (:data:`LINE_END`) and a final line end.

    Write it as UTF-8 bytes as it is (a text-mode write on Windows would double the CR).
    """
    lines: list[str] = []
    if sheet.catalog is not None:
        lines.append(f"CATALOG {sheet.catalog}")
    if sheet.performer is not None:
        lines.append(f'PERFORMER "{sheet.performer}"')
    lines.append(f'TITLE "{sheet.title}"')
    lines.append(f'FILE "{sheet.image_file}" WAVE')
    for track in sheet.tracks:
        lines.append(f"  TRACK {track.number:02d} AUDIO")
        lines.append(f'    TITLE "{track.title}"')
        if track.performer is not None:
            lines.append(f'    PERFORMER "{track.performer}"')
        if track.isrc is not None:
            lines.append(f"    ISRC {track.isrc}")
        if track.pregap_start_samples is not None:
            lines.append(f"    INDEX 00 {_msf_of(track.pregap_start_samples)}")
        lines.append(f"    INDEX 01 {_msf_of(track.start_samples)}")
    return LINE_END.join(lines) + LINE_END


def parse_cue(text: str) -> CueSheet:
    """Read back a CUE sheet of the form :func:`render_cue` writes.

    Accepts CRLF or LF line ends, a UTF-8 byte-order mark, ``REM`` comments, and quoted or bare
    values. Anything else (several FILEs, ``PREGAP``, ``FLAGS``, indexes other than 00 and
    01, a non-AUDIO track) is refused rather than ignored, so that a round trip proves the
    file says what was meant.

    Raises
    ------
    DeliveryError
        The line number and what is wrong (or the sheet's own checks, as in :class:`CueSheet`).
    """
    header: dict[str, str] = {}
    image_file: str | None = None
    tracks: list[dict] = []
    for line_number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        command, _, rest = line.partition(" ")
        command = command.upper()
        rest = rest.strip()
        where = f"CUE line {line_number} ({line!r})"
        if command == "REM":
            continue
        if command == "FILE":
            if image_file is not None:
                raise DeliveryError(f"{where}: only one FILE is supported")
            name, file_type = _split_value(rest, where)
            if file_type.upper() != "WAVE":
                raise DeliveryError(f"{where}: the image must be a WAVE file")
            image_file = name
        elif command == "TRACK":
            number, _, kind = rest.partition(" ")
            if image_file is None:
                raise DeliveryError(f"{where}: TRACK before FILE")
            if kind.strip().upper() != "AUDIO" or not number.isdigit():
                raise DeliveryError(f"{where}: expected TRACK nn AUDIO")
            tracks.append({"number": int(number), "indexes": {}})
        elif command in ("TITLE", "PERFORMER", "ISRC", "CATALOG"):
            value, extra = _split_value(rest, where)
            if extra:
                raise DeliveryError(f"{where}: unexpected text after the value")
            target = tracks[-1] if tracks else header
            if (command == "CATALOG" and tracks) or (command == "ISRC" and not tracks):
                raise DeliveryError(f"{where}: {command} is not allowed here")
            if command in target:
                raise DeliveryError(f"{where}: {command} given twice")
            target[command] = value
        elif command == "INDEX":
            if not tracks:
                raise DeliveryError(f"{where}: INDEX before TRACK")
            index, _, position = rest.partition(" ")
            if index not in ("00", "01"):
                raise DeliveryError(f"{where}: only INDEX 00 and INDEX 01 are supported")
            try:
                frames = redbook.parse_msf(position)
            except ValueError as exc:
                raise DeliveryError(f"{where}: {exc}") from None
            tracks[-1]["indexes"][index] = redbook.frames_to_samples(frames)
        else:
            raise DeliveryError(f"{where}: {command} is not supported")
    if image_file is None:
        raise DeliveryError("CUE sheet has no FILE line")
    cue_tracks = []
    for track in tracks:
        if "01" not in track["indexes"]:
            raise DeliveryError(f"CUE track {track['number']:02d} has no INDEX 01")
        cue_tracks.append(
            CueTrack(
                number=track["number"],
                title=track.get("TITLE", ""),
                performer=track.get("PERFORMER"),
                isrc=track.get("ISRC"),
                pregap_start_samples=track["indexes"].get("00"),
                start_samples=track["indexes"]["01"],
            )
        )
    return CueSheet(
        image_file=image_file,
        title=header.get("TITLE", ""),
        performer=header.get("PERFORMER"),
        catalog=header.get("CATALOG"),
        tracks=tuple(cue_tracks),
    )


def _split_value(rest: str, where: str) -> tuple[str, str]:
    """A quoted (or bare) value and the text after it."""
    if rest.startswith('"'):
        end = rest.find('"', 1)
        if end < 0:
            raise DeliveryError(f"{where}: unterminated quoted string")
        return rest[1:end], rest[end + 1 :].strip()
    value, _, after = rest.partition(" ")
    if not value:
        raise DeliveryError(f"{where}: value missing")
    return value, after.strip()


def _optional_text(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = cue_text(text)
    return cleaned or None


def _frame_position(samples: int, what: str) -> int:
    try:
        redbook.samples_to_frames(samples)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    return int(samples)


def _msf_of(samples: int) -> str:
    return redbook.msf(redbook.samples_to_frames(samples))
