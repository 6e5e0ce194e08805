"""What a preview report shows: plain data, gathered by :mod:`matcher.preview.build` and
drawn by :mod:`matcher.preview.page` (HTML) and :mod:`matcher.preview.plots` (pictures).

Every text here may come from the user (file names, tags, profile names) and must be
escaped by whatever displays it.
"""

from __future__ import annotations

from dataclasses import dataclass

from matcher.analysis.result import Analysis
from matcher.analysis.streaming import ServiceGain
from matcher.fitting.settings import Settings


@dataclass(frozen=True)
class Series:
    """Values over time: ``values[k]`` at ``start_s + k * hop_s`` seconds."""

    hop_s: float
    values: tuple[float, ...]
    start_s: float = 0.0


@dataclass(frozen=True)
class Excerpt:
    """One audio player's clip, encoded for the page.

    Attributes
    ----------
    label : str
        "before", "after" or "reference".
    mime : str
        e.g. ``audio/flac``.
    data : bytes
        The encoded file.
    start_s, duration_s : float
        Where the clip starts in its track, and its length.
    lufs : float
        Its integrated loudness (BS.1770).
    equal_loudness_gain_db : float
        Gain (<= 0) that brings it to the common level of the equal-loudness comparison.
    """

    label: str
    mime: str
    data: bytes
    start_s: float
    duration_s: float
    lufs: float
    equal_loudness_gain_db: float


@dataclass(frozen=True)
class Figures:
    """Key figures of one track (None: not measured)."""

    integrated_lufs: float
    true_peak_dbtp: float | None
    loudness_range_lu: float
    plr_db: float | None


@dataclass(frozen=True)
class DeliveredFile:
    """A lossy file made from the master: its name (user text), format, what its decoded audio
    measures, and what each streaming service would do to it."""

    name: str
    format_name: str
    lufs: float
    true_peak_dbtp: float
    streaming: tuple[ServiceGain, ...]


@dataclass(frozen=True)
class PreviewData:
    """Everything the report page shows.

    Attributes
    ----------
    mix_name : str
        The mix's file name (user text).
    reference_names : tuple of str
        The references' file or profile names (user text).
    reference_note : str
        How the references were chosen (user text: paths, profile names).
    settings : Settings
        The settings of the master.
    mix, reference, result : Analysis
        Of the mix, of the references' blend, of the master. In a preview (``result_is_excerpt``)
        the result's curves are measured on the rendered excerpt only.
    result_is_excerpt : bool
    figures : dict of str to Figures
        ``"mix"``, ``"result"``, ``"reference"``.
    gain_db : float
        Make-up gain applied before the limiter.
    short_term : dict of str to Series
        Short-term loudness (LUFS, 3 s window) of ``"mix"``, ``"result"`` and ``"reference"``
        (the reference's may be missing: a library profile keeps no series). In a preview the
        result's is the plan's prediction.
    limiter_reduction_db : Series
        The limiter's gain reduction (dB, >= 0) over the master, at most every 100 ms (the
        largest in each step).
    excerpts : tuple of Excerpt
        "before" and "after", and "reference" when its audio is at hand.
    equal_loudness_lufs : float
        The level all excerpts are brought to for the fair comparison.
    streaming : tuple of ServiceGain
        What each streaming service would do to the master.
    notes : tuple of str
        Warnings and notes for the user (user text).
    deliveries : tuple of DeliveredFile
        The lossy files made from the master, as decoded, and what each service does to each.
    """

    mix_name: str
    reference_names: tuple[str, ...]
    reference_note: str
    settings: Settings
    mix: Analysis
    reference: Analysis
    result: Analysis
    result_is_excerpt: bool
    figures: dict[str, Figures]
    gain_db: float
    short_term: dict[str, Series]
    limiter_reduction_db: Series
    excerpts: tuple[Excerpt, ...]
    equal_loudness_lufs: float
    streaming: tuple[ServiceGain, ...]
    notes: tuple[str, ...] = ()
    deliveries: tuple[DeliveredFile, ...] = ()


@dataclass(frozen=True)
class Listen:
    """What a player and its plots need of a suggestion, before or beside its report page.

    Attributes
    ----------
    exact : bool
        True: the report page's own excerpts (the whole mix planned). False: a *draft*, the
        loudest 25 s planned on their own (:func:`matcher.preview.build.draft_listen`), heard
        while the whole mix is planned.
    excerpts : tuple of Excerpt
        As :attr:`PreviewData.excerpts`.
    equal_loudness_lufs : float
    settings : Settings
    mix, reference, result : Analysis
        As in :class:`PreviewData`; the result's curves are measured on the "after" excerpt.
    """

    exact: bool
    excerpts: tuple[Excerpt, ...]
    equal_loudness_lufs: float
    settings: Settings
    mix: Analysis
    reference: Analysis
    result: Analysis

    @classmethod
    def of(cls, data: PreviewData) -> Listen:
        """A report page's excerpts and curves."""
        return cls(True, data.excerpts, data.equal_loudness_lufs, data.settings, data.mix, data.reference, data.result)
