"""What streaming services do to a master's level: their loudness normalisation.

The services and their figures are the shipped platform table's (``models/platforms.json``,
:func:`matcher.targets.platform_targets`: the targets with a ``normalisation``), each with its
source: e.g. Spotify normalises to -14 LUFS and raises a quiet track only until 1 dB of
headroom remains (its true peak at -1 dBTP); YouTube, Tidal and Amazon Music turn loud tracks
down to -14 LUFS and never raise quiet ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from matcher.targets import platform_targets


@dataclass(frozen=True)
class ServiceGain:
    """The gain a service applies to a track, and the level it then plays at."""

    service: str
    target_lufs: float
    gain_db: float
    played_lufs: float
    note: str


def streaming_gains(integrated_lufs: float, true_peak_dbtp: float) -> tuple[ServiceGain, ...]:
    """The gain each streaming service of the platform table would apply to a track.

    Parameters
    ----------
    integrated_lufs : float
        The track's integrated loudness (ITU-R BS.1770).
    true_peak_dbtp : float
        Its true peak.

    Returns
    -------
    tuple of ServiceGain
        In the table's order; a negative gain turns the track down.
    """
    gains = []
    for target in platform_targets():
        service = target.normalisation
        if service is None:
            continue
        wanted = service.reference_lufs - integrated_lufs
        if wanted <= 0:
            gain, note = wanted, "turned down" if wanted < -0.05 else "played as it is"
        elif not service.raises:
            gain, note = 0.0, "quieter than its level; never raised"
        else:
            limit = -1.0 if service.raise_peak_limit_dbtp is None else service.raise_peak_limit_dbtp
            headroom = max(limit - true_peak_dbtp, 0.0)
            gain = min(wanted, headroom)
            note = "raised" if gain == wanted else f"raised only to {limit:g} dBTP peaks"
        gains.append(
            ServiceGain(target.title, service.reference_lufs, round(gain, 2), round(integrated_lufs + gain, 2), note)
        )
    return tuple(gains)
