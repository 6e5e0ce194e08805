"""CD (Red Book, IEC 60908) arithmetic and checks: frames, MSF times, ISRC, UPC/EAN, disc limits.

A CD carries 44.1 kHz 16-bit stereo PCM in frames (sectors) of 1/75 s, 588 samples each; track
and index positions are given as minutes:seconds:frames. Every length and position here is a
count of samples at 44.1 kHz (one sample = one stereo pair).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence

from matcher.errors import DeliveryError

CD_SAMPLE_RATE_HZ = 44100
FRAMES_PER_SECOND = 75
SAMPLES_PER_FRAME = CD_SAMPLE_RATE_HZ // FRAMES_PER_SECOND  # 588
MAX_TRACKS = 99
MIN_TRACK_S = 4.0
MAX_DISC_S = 79.8 * 60
"""The longest programme a CD holds (4788 s, 79:48), pregaps included."""

_MIN_TRACK_SAMPLES = round(MIN_TRACK_S * CD_SAMPLE_RATE_HZ)
_MAX_DISC_SAMPLES = round(MAX_DISC_S * CD_SAMPLE_RATE_HZ)


def msf(frames: int) -> str:
    """CD time ``mm:ss:ff`` of a count of frames (75 per second).

    Minutes are not wrapped into hours: 359100 frames is ``79:48:00``.

    Parameters
    ----------
    frames : int
        Frames from the start, >= 0.

    Returns
    -------
    str
        Two-digit (or longer) minutes, two-digit seconds (0-59), two-digit frames (0-74).
    """
    frames = _count(frames, "frames")
    seconds, ff = divmod(frames, FRAMES_PER_SECOND)
    mm, ss = divmod(seconds, 60)
    return f"{mm:02d}:{ss:02d}:{ff:02d}"


def parse_msf(text: str) -> int:
    """Frames of a CD time ``mm:ss:ff`` (the inverse of :func:`msf`).

    Raises
    ------
    ValueError
        Not three colon-separated numbers, seconds above 59 or frames above 74.
    """
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2})", text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a CD time mm:ss:ff")
    mm, ss, ff = (int(g) for g in match.groups())
    if ss >= 60 or ff >= FRAMES_PER_SECOND:
        raise ValueError(f"{text!r}: seconds must be 00-59 and frames 00-74")
    return (mm * 60 + ss) * FRAMES_PER_SECOND + ff


def frames_to_samples(frames: int) -> int:
    """Samples (at 44.1 kHz) in a count of CD frames: 588 per frame."""
    return _count(frames, "frames") * SAMPLES_PER_FRAME


def samples_to_frames(samples: int) -> int:
    """CD frames in a count of samples at 44.1 kHz, exactly.

    Raises
    ------
    ValueError
        ``samples`` is negative or not a multiple of 588 (not on a frame boundary).
    """
    frames, rest = divmod(_count(samples, "samples"), SAMPLES_PER_FRAME)
    if rest:
        raise ValueError(
            f"{samples} samples is not on a CD frame boundary "
            f"({frames} frames and {rest} samples; a frame is {SAMPLES_PER_FRAME} samples)"
        )
    return frames


def round_up_to_frame(samples: int) -> int:
    """The smallest multiple of 588 samples (a whole CD frame) that is >= ``samples``."""
    return -(-_count(samples, "samples") // SAMPLES_PER_FRAME) * SAMPLES_PER_FRAME


_ISRC_PARTS = (
    ("country code", 2, "[A-Z]", "letters"),
    ("registrant code", 3, "[A-Z0-9]", "letters or digits"),
    ("year", 2, "[0-9]", "digits"),
    ("designation code", 5, "[0-9]", "digits"),
)
_ISRC_DASHED = re.compile(r"[^-]{2}-[^-]{3}-[^-]{2}-[^-]{5}")


def normalise_isrc(code: str) -> str:
    """The 12-character form of an ISRC (ISO 3901), as a CUE sheet and the CD subcode carry it.

    An ISRC is ``CC-XXX-YY-NNNNN``: a 2-letter country code, a 3-character alphanumeric
    registrant code, 2 digits of year of reference and a 5-digit designation code. It is
    accepted with the dashes in those places or with none, in either case; surrounding spaces
    are ignored.

    Parameters
    ----------
    code : str
        For example ``"US-S1Z-99-00001"`` or ``"uss1z9900001"``.

    Returns
    -------
    str
        12 characters, letters upper-cased: ``"USS1Z9900001"``.

    Raises
    ------
    DeliveryError
        The message names the code and the part that is wrong.
    """
    given = code.strip()
    if not given.isascii():
        raise DeliveryError(f"ISRC {code!r}: only ASCII letters, digits and dashes are allowed")
    compact = given.replace("-", "").upper()
    if len(compact) != 12:
        raise DeliveryError(
            f"ISRC {code!r}: {len(compact)} characters; an ISRC has 12 (CC-XXX-YY-NNNNN)"
        )
    if "-" in given and not _ISRC_DASHED.fullmatch(given):
        raise DeliveryError(
            f"ISRC {code!r}: dashes must separate CC-XXX-YY-NNNNN (2, 3, 2 and 5 characters)"
        )
    start = 0
    for name, length, pattern, kind in _ISRC_PARTS:
        part = compact[start : start + length]
        if not re.fullmatch(f"{pattern}{{{length}}}", part, flags=re.ASCII):
            raise DeliveryError(
                f"ISRC {code!r}: the {name} {part!r} (characters {start + 1}-{start + length}) "
                f"must be {length} {kind}"
            )
        start += length
    return compact


def gs1_check_digit(digits: str) -> int:
    """GS1 check digit of a UPC/EAN body (the digits without the check digit).

    Weights 3 and 1 alternate from the rightmost body digit (which has weight 3); the check
    digit is ``(10 - sum mod 10) mod 10``.
    """
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"{digits!r} is not a string of digits")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def normalise_catalog(code: str) -> str:
    """The 13-digit EAN form of a disc's UPC-A or EAN-13 (the Media Catalog Number).

    Spaces and dashes in the input are ignored. A 12-digit UPC-A becomes its EAN-13 form with
    a leading 0, which is what a CUE sheet's ``CATALOG`` carries. The GS1 check digit is
    verified (:func:`gs1_check_digit`).

    Parameters
    ----------
    code : str
        For example ``"036000 291452"`` (UPC-A) or ``"4006381333931"`` (EAN-13).

    Returns
    -------
    str
        13 digits.

    Raises
    ------
    DeliveryError
        Not 12 or 13 digits, or a wrong check digit (the message gives the expected one).
    """
    digits = re.sub(r"[\s-]", "", code)
    if not digits.isascii() or not digits.isdigit():
        raise DeliveryError(f"UPC/EAN {code!r}: only digits, spaces and dashes are allowed")
    if len(digits) not in (12, 13):
        raise DeliveryError(
            f"UPC/EAN {code!r}: {len(digits)} digits; a UPC-A has 12 and an EAN-13 has 13"
        )
    expected = gs1_check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise DeliveryError(
            f"UPC/EAN {code!r}: check digit is {digits[-1]}, expected {expected}"
        )
    return digits.zfill(13)


def check_disc(track_lengths_samples: Sequence[int], pregaps_samples: Sequence[int]) -> None:
    """Check that tracks fit on a CD (Red Book limits).

    Parameters
    ----------
    track_lengths_samples : sequence of int
        Each track's length from its INDEX 01 to the next track's pregap (or the end), in
        samples at 44.1 kHz. The pregap is not counted in the 4 s minimum.
    pregaps_samples : sequence of int
        The gap before each track, in samples at 44.1 kHz, one per track. Include the standard
        2 s before track 1 when the disc's total running time is to be checked exactly.

    Raises
    ------
    DeliveryError
        More than 99 tracks, a track shorter than 4 s (named by number and length), or a
        disc longer than 79.8 minutes (total given as mm:ss).
    ValueError
        The two sequences differ in length, or a value is negative.
    """
    lengths = [_count(n, "track length samples") for n in track_lengths_samples]
    gaps = [_count(n, "pregap samples") for n in pregaps_samples]
    if len(lengths) != len(gaps):
        raise ValueError(f"{len(lengths)} track lengths but {len(gaps)} pregaps")
    if not lengths:
        raise DeliveryError("a CD needs at least one track")
    if len(lengths) > MAX_TRACKS:
        raise DeliveryError(f"{len(lengths)} tracks; a CD holds at most {MAX_TRACKS}")
    for number, length in enumerate(lengths, start=1):
        if length < _MIN_TRACK_SAMPLES:
            raise DeliveryError(
                f"track {number} is {length / CD_SAMPLE_RATE_HZ:.2f} s long; "
                f"a CD track must be at least {MIN_TRACK_S:g} s"
            )
    total = sum(lengths) + sum(gaps)
    if total > _MAX_DISC_SAMPLES:
        over_s = (total - _MAX_DISC_SAMPLES) / CD_SAMPLE_RATE_HZ
        raise DeliveryError(
            f"the disc runs {_mm_ss_up(total)} ({over_s:.1f} s too long); "
            f"a CD holds at most {_mm_ss_up(_MAX_DISC_SAMPLES)} (79.8 minutes)"
        )


def _mm_ss_up(samples: int) -> str:
    """``mm:ss`` of a length, rounded up to a whole second (so that an overlong disc never
    prints as the limit)."""
    seconds = -(-samples // CD_SAMPLE_RATE_HZ)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def _count(value: int, what: str) -> int:
    """A non-negative integer (numpy integers accepted; floats and bools refused)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    number = operator.index(value)
    if number < 0:
        raise ValueError(f"{what} must be >= 0, got {number}")
    return number
