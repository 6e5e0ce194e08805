"""What streaming services do to a master's level: their loudness normalisation.

Figures from ``STANDARDS.md`` (published or widely reported; they change over time):
Spotify normalises to -14 LUFS and raises a quiet track only until 1 dB of headroom remains
(its true peak at -1 dBTP); Apple Music to about -16 LUFS, raising the same way (Sound Check
applies no limiter: modelled with the same 1 dB of headroom); YouTube, Tidal and Amazon Music
to -14 LUFS, turning loud tracks down and never raising quiet ones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    """A service's normalisation: its reference level, and whether (and how far) it raises."""

    name: str
    target_lufs: float
    raises: bool
    peak_limit_dbtp: float = -1.0
    """When raising: the gain stops where the true peak reaches this."""


SERVICES: tuple[Service, ...] = (
    Service("Spotify", -14.0, raises=True),
    Service("Apple Music", -16.0, raises=True),
    Service("YouTube", -14.0, raises=False),
    Service("Tidal", -14.0, raises=False),
    Service("Amazon Music", -14.0, raises=False),
)


@dataclass(frozen=True)
class ServiceGain:
    """The gain a service applies to a track, and the level it then plays at."""

    service: str
    target_lufs: float
    gain_db: float
    played_lufs: float
    note: str


def streaming_gains(integrated_lufs: float, true_peak_dbtp: float) -> tuple[ServiceGain, ...]:
    """The gain each of :data:`SERVICES` would apply to a track.

    Parameters
    ----------
    integrated_lufs : float
        The track's integrated loudness (ITU-R BS.1770).
    true_peak_dbtp : float
        Its true peak.

    Returns
    -------
    tuple of ServiceGain
        In the order of :data:`SERVICES`; a negative gain turns the track down.
    """
    gains = []
    for service in SERVICES:
        wanted = service.target_lufs - integrated_lufs
        if wanted <= 0:
            gain, note = wanted, "turned down" if wanted < -0.05 else "played as it is"
        elif not service.raises:
            gain, note = 0.0, "quieter than its level; never raised"
        else:
            headroom = max(service.peak_limit_dbtp - true_peak_dbtp, 0.0)
            gain = min(wanted, headroom)
            note = "raised" if gain == wanted else f"raised only to {service.peak_limit_dbtp:g} dBTP peaks"
        gains.append(ServiceGain(service.name, service.target_lufs, round(gain, 2), round(integrated_lufs + gain, 2), note))
    return tuple(gains)
