"""What a user asks of the fit: targets, amounts and limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from matcher.fitting.settings import LimiterSettings, OutputSettings


@dataclass(frozen=True)
class FitConfig:
    """Options of :func:`matcher.fitting.fit.fit`.

    Attributes
    ----------
    target_lufs : float or None
        Explicit loudness target; None takes the references' loudness.
    eq_amount : float
        0-1, how much of the matching EQ to apply.
    eq_smoothing_octaves : float
        Width (full width at half maximum, octaves) of the smoothing of the EQ curve.
    eq_max_boost_db, eq_max_cut_db : float
        Limits of the EQ curve.
    eq_low_taper_hz, eq_high_taper_hz : (float, float)
        Below the first and above the second range the EQ fades to 0 dB, where measured
        curves are least reliable (rumble, and lossy references' missing top octave).
    limiter, output : LimiterSettings, OutputSettings
        Passed through to the settings.
    """

    target_lufs: float | None = None
    eq_amount: float = 1.0
    eq_smoothing_octaves: float = 0.25
    eq_max_boost_db: float = 12.0
    eq_max_cut_db: float = 12.0
    eq_low_taper_hz: tuple[float, float] = (20.0, 30.0)
    eq_high_taper_hz: tuple[float, float] = (16000.0, 20000.0)
    limiter: LimiterSettings = field(default_factory=LimiterSettings)
    output: OutputSettings = field(default_factory=OutputSettings)

    def __post_init__(self):
        if not 0.0 <= self.eq_amount <= 1.0:
            raise ValueError(f"eq amount {self.eq_amount} is outside 0-1")
        if self.eq_smoothing_octaves < 0:
            raise ValueError("eq smoothing must be >= 0 octaves")
        if self.target_lufs is not None and not -60.0 <= self.target_lufs <= 0.0:
            raise ValueError(f"target {self.target_lufs} LUFS is outside -60..0")
