"""The :class:`Analysis` of one piece of audio, the contract between analyze and fit."""

from __future__ import annotations

from dataclasses import dataclass

from matcher.serialization import from_json, to_json


@dataclass(frozen=True)
class Analysis:
    """What automaster measures of a track.

    Levels of silence are reported as -200 (dB, LUFS, dBTP) so that every field is finite.
    Spectra are power spectral densities in dB re 1 FS²/Hz, on ``band_centers_hz``; bands
    above 95 % of the file's Nyquist frequency read -200.

    Attributes
    ----------
    sample_rate_hz, channels, duration_s
        Format and length of the audio.
    integrated_lufs : float
        Gated integrated loudness, ITU-R BS.1770-4.
    loudness_range_lu : float or None
        Loudness range, EBU Tech 3342; None for audio shorter than 3 s (no short-term
        window), where it is undefined.
    sample_peak_dbfs, true_peak_dbtp : float
        Largest sample, and largest value of the 4x oversampled signal (None: not measured).
    plr_db : float or None
        Peak-to-loudness ratio, ``true_peak_dbtp - integrated_lufs`` (None: not measured).
    short_term_lufs : tuple of float
        Short-term (3 s) loudness every ``short_term_hop_s`` seconds; empty for audio
        shorter than 3 s.
    band_centers_hz, mid_spectrum_db, side_spectrum_db : tuple of float
        Gated, 1/6-octave smoothed spectra of mid ``(L+R)/2`` and side ``(L-R)/2``.
    width_db : tuple of float
        Side-to-mid power ratio per band (dB); -200 for mono.
    gated_fraction : float
        Fraction of the spectral frames kept by the loudness gate (0-1).
    dynamics_crossovers_hz : tuple of float
        Crossovers of the dynamics bands (Linkwitz-Riley slopes).
    band_level_percentiles_db : tuple of tuple of float
        Per dynamics band, the 10th, 50th and 95th percentiles of the mid signal's 400 ms
        band levels (dB re full-scale mean square; hop about 90 ms), leaving out windows
        more than 40 dB below the band's loudest: the spread of the 95th over the 10th is
        how much the band breathes. -200 for a band with nothing to measure.
    lr_correlation, band_lr_correlation : float, tuple of float
        Left/right correlation of the loud part, overall and per dynamics band: 1 for mono,
        0 for unrelated channels, negative when they cancel in mono (mono compatibility).
    dc_offset_dbfs : tuple of float or None
        Mean of each channel (dBFS; -200 for none).
    channel_balance_db : float or None
        Left minus right, mean square over the whole track (0 for mono).
    clipped_runs : int or None
        Runs of three or more equal samples at full scale (flat tops), all channels.
    leading_silence_s, trailing_silence_s : float or None
        Time before the first and after the last sample above -60 dBFS.
        These five describe a mix's condition; None where it was not measured (the
        references of a match, and blends).
    max_momentary_lufs, max_short_term_lufs : float or None
        The loudest momentary (400 ms) and short-term (3 s) loudness over every window start
        (EBU Tech 3341, ungated; -200 for silence). None where it was not measured (``match``
        and blends leave it out; analyses saved before it existed) or where the audio is
        shorter than the window.
    """

    SCHEMA_VERSION = 2

    sample_rate_hz: int
    channels: int
    duration_s: float
    integrated_lufs: float
    loudness_range_lu: float | None
    sample_peak_dbfs: float
    true_peak_dbtp: float | None
    plr_db: float | None
    short_term_hop_s: float
    short_term_lufs: tuple[float, ...]
    band_centers_hz: tuple[float, ...]
    mid_spectrum_db: tuple[float, ...]
    side_spectrum_db: tuple[float, ...]
    width_db: tuple[float, ...]
    gated_fraction: float
    dynamics_crossovers_hz: tuple[float, ...]
    band_level_percentiles_db: tuple[tuple[float, ...], ...]
    lr_correlation: float
    band_lr_correlation: tuple[float, ...]
    dc_offset_dbfs: tuple[float, ...] | None
    channel_balance_db: float | None
    clipped_runs: int | None
    leading_silence_s: float | None
    trailing_silence_s: float | None
    max_momentary_lufs: float | None = None
    max_short_term_lufs: float | None = None
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        """Serialise to JSON."""
        return to_json(self)

    @classmethod
    def from_json(cls, text: str, what: str = "analysis JSON") -> "Analysis":
        """Load from :meth:`to_json` output."""
        return from_json(cls, text, what)

    @property
    def is_silent(self) -> bool:
        """True when nothing passes the -70 LUFS absolute gate."""
        return self.integrated_lufs <= -70.0
