"""What a user asks of the fit: targets, amounts and limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from matcher.fitting.settings import DISTORTION_BUDGET_DB, DEFAULT_EQ_PHASE, EQ_PHASES, LimiterSettings, OutputSettings


@dataclass(frozen=True)
class FitConfig:
    """Options of :func:`matcher.fitting.fit.fit`.

    Attributes
    ----------
    target_lufs : float or None
        Explicit loudness target; None takes the references' loudness.
    follow_loudness : bool
        False keeps the mix's level (make-up gain 0 dB; the limiter still holds the ceiling).
    max_distortion_db, force_loudness
        The loudness chain's distortion budget, and whether to reach the target past it
        (see :class:`~matcher.fitting.settings.LoudnessSettings`).
    eq_amount : float
        0-1, how much of the matching EQ to apply.
    eq_smoothing_octaves : float
        Width (full width at half maximum, octaves) of the smoothing of the EQ curve.
    eq_phase : {"linear", "minimum", "mixed"}
        Phase of the EQ's filters (:attr:`~matcher.fitting.settings.EqSettings.phase`).
    eq_max_boost_db, eq_max_cut_db : float
        Limits of the EQ curve.
    eq_low_taper_hz, eq_high_taper_hz : (float, float)
        Below the first and above the second range the EQ fades to 0 dB, where measured
        curves are least reliable (rumble, and lossy references' missing top octave).
    width_amount, dynamics_amount : float
        0-1, how much of the width match and of the loudness-range match to apply.
    width_smoothing_octaves, width_max_db : float
        Smoothing and limit (either way) of the width curve.
    width_min_correlation : float
        -1..1: the lowest left/right correlation a side boost may leave in a band (-1: no
        limit); see :mod:`matcher.fitting.width`.
    width_max_fold_down_db : float or None
        The most a side boost may add to a band's loss on the mono fold-down (dB, > 0;
        None: no limit).
    mono_below_hz : float or None
        Make the image mono below this frequency.
    remove_dc, highpass_hz, fix_polarity, fix_balance
        The mix fixes: DC removal, the subsonic high-pass's corner (None: none), flipping
        the right channel of a mix whose channels cancel (left/right correlation below
        :data:`~matcher.analysis.condition.CORRELATION_WARNING`), and levelling channels
        more than :data:`~matcher.analysis.condition.BALANCE_WARNING_DB` apart.
    limiter, output : LimiterSettings, OutputSettings
        Passed through to the settings.
    """

    target_lufs: float | None = None
    follow_loudness: bool = True
    max_distortion_db: float = DISTORTION_BUDGET_DB
    force_loudness: bool = False
    eq_amount: float = 1.0
    width_amount: float = 1.0
    dynamics_amount: float = 1.0
    width_smoothing_octaves: float = 0.17
    width_max_db: float = 20.0
    width_min_correlation: float = 0.0
    width_max_fold_down_db: float | None = 1.0
    mono_below_hz: float | None = None
    remove_dc: bool = True
    highpass_hz: float | None = 20.0
    fix_polarity: bool = True
    fix_balance: bool = True
    eq_smoothing_octaves: float = 0.25
    eq_phase: str = DEFAULT_EQ_PHASE
    eq_max_boost_db: float = 12.0
    eq_max_cut_db: float = 12.0
    eq_low_taper_hz: tuple[float, float] = (20.0, 30.0)
    eq_high_taper_hz: tuple[float, float] = (16000.0, 20000.0)
    limiter: LimiterSettings = field(default_factory=LimiterSettings)
    output: OutputSettings = field(default_factory=OutputSettings)

    def __post_init__(self):
        for name in ("eq", "width", "dynamics"):
            amount = getattr(self, f"{name}_amount")
            if not 0.0 <= amount <= 1.0:
                raise ValueError(f"{name} amount {amount} is outside 0-1")
        if self.highpass_hz is not None and not 5.0 <= self.highpass_hz <= 200.0:
            raise ValueError(f"high-pass {self.highpass_hz:g} Hz is outside 5-200 Hz")
        if self.mono_below_hz is not None and not 20.0 <= self.mono_below_hz <= 500.0:
            raise ValueError(f"mono below {self.mono_below_hz:g} Hz is outside 20-500 Hz")
        if self.eq_phase not in EQ_PHASES:
            raise ValueError(f"EQ phase {self.eq_phase!r}; choose one of {', '.join(EQ_PHASES)}")
        if not -1.0 <= self.width_min_correlation < 1.0:
            raise ValueError(f"width minimum correlation {self.width_min_correlation:g} is outside -1..1")
        if self.width_max_fold_down_db is not None and not self.width_max_fold_down_db > 0.0:
            raise ValueError(f"width fold-down limit {self.width_max_fold_down_db:g} dB must be above 0")
        if self.eq_smoothing_octaves < 0:
            raise ValueError("eq smoothing must be >= 0 octaves")
        if not -90.0 <= self.max_distortion_db <= 0.0:
            raise ValueError(f"distortion budget {self.max_distortion_db:g} dB is outside -90..0")
        if self.target_lufs is not None and not -60.0 <= self.target_lufs <= 0.0:
            raise ValueError(f"target {self.target_lufs} LUFS is outside -60..0")
