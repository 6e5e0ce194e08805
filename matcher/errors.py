"""The package's exceptions.

Each error derives from :class:`AutomasterError` and from the builtin it resembles, so that
callers can catch either (as python-soundfile does with ``LibsndfileError``).
"""

from __future__ import annotations


class AutomasterError(Exception):
    """Base class of every error raised on purpose by automaster."""


class InvalidAudioError(AutomasterError, ValueError):
    """Audio that cannot be mastered: silent, too short, non-finite, too many channels."""


class AudioFileError(AutomasterError, OSError):
    """A file that cannot be read or written as audio."""


class OutputExistsError(AudioFileError, FileExistsError):
    """The output file exists and overwriting was not asked for."""


class SettingsError(AutomasterError, ValueError):
    """Settings or analysis JSON that is malformed or of an unknown schema version."""


class LibraryError(AutomasterError, LookupError):
    """A reference library, profile or style that does not exist or cannot be used."""


class DeliveryError(AutomasterError, ValueError):
    """Delivery data that a CD or its metadata cannot carry: a malformed ISRC or UPC/EAN, too
    many tracks, a track or disc of the wrong length, a tag that cannot be written."""


class UsageError(AutomasterError, ValueError):
    """Options that cannot be used as given: a value out of range, an unknown name, options
    that contradict each other, or one that has no effect given the others."""
