"""The :class:`Settings` a person can read, save, edit and render: the output of fit."""

from __future__ import annotations

from dataclasses import dataclass, field

from matcher.serialization import from_json, to_json

BIT_DEPTHS = ("16", "24", "32f")
EQ_PHASES = ("linear", "minimum", "mixed")
"""The phase modes of :class:`~matcher.dsp.eq.MidSideEQ` (its ``PHASES``, not imported: the
command line starts without numpy)."""
DEFAULT_EQ_PHASE = "mixed"
"""The phase of the EQ the fit chooses: no pre-echo from its large moves, the image kept
exactly (see :class:`~matcher.dsp.eq.MidSideEQ`; the README gives the measurements)."""


def _check_curve(name: str, centers: tuple[float, ...], gains: tuple[float, ...], amount: float) -> None:
    if len(gains) != len(centers):
        raise ValueError(f"{name}: band_centers_hz and the gains must be equally long")
    if any(b <= a for a, b in zip(centers, centers[1:])):
        raise ValueError(f"{name}: band_centers_hz must increase")
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"{name} amount {amount} is outside 0-1")


@dataclass(frozen=True)
class FixSettings:
    """Repairs of the mix, applied before everything else; each can be switched off.

    ``remove_dc`` gives the filters exactly zero gain at 0 Hz. ``highpass_hz`` is the corner
    of a 24 dB/octave (Butterworth magnitude) subsonic high-pass, None for none; both run
    in the EQ's filters, at no cost of their own, in its phase (``eq.phase``). ``invert_right``
    flips the right channel's polarity. ``balance_db`` is the left-minus-right level
    difference to remove (half from each side).
    """

    remove_dc: bool = True
    highpass_hz: float | None = 20.0
    invert_right: bool = False
    balance_db: float = 0.0

    def __post_init__(self):
        if self.highpass_hz is not None and not 5.0 <= self.highpass_hz <= 200.0:
            raise ValueError(f"high-pass {self.highpass_hz} Hz is outside 5-200 Hz")
        if abs(self.balance_db) > 12.0:
            raise ValueError(f"balance correction {self.balance_db} dB is outside -12..12")

    @property
    def is_neutral(self) -> bool:
        """True when no fix changes the signal."""
        return not self.remove_dc and self.highpass_hz is None and not self.invert_right and self.balance_db == 0.0

    def describe(self) -> str:
        """The fixes in words, as the terminal report and the report page state them
        ("none" when there are none)."""
        parts = []
        if self.remove_dc:
            parts.append("DC removed")
        if self.highpass_hz is not None:
            parts.append(f"high-pass {self.highpass_hz:.0f} Hz")
        if self.invert_right:
            parts.append("right channel's polarity flipped")
        if self.balance_db:
            parts.append(f"balance corrected by {self.balance_db:+.1f} dB (left minus right)")
        return ", ".join(parts) if parts else "none"


@dataclass(frozen=True)
class EqSettings:
    """Matching EQ (the tonal balance), as gains at band centres, applied to mid and side alike.

    ``gain_db`` is the full match; ``amount`` (0-1) scales it when rendering. Between band
    centres gains are interpolated in log-frequency; beyond the first and last band they are
    held. ``phase`` (one of :data:`EQ_PHASES`) is the phase of the filters that
    apply it, the width and the fixes (see :class:`~matcher.dsp.eq.MidSideEQ`); every phase
    has the same magnitude response. Settings saved without it are linear-phase, as they
    were rendered then; the fit chooses :data:`DEFAULT_EQ_PHASE`.
    """

    band_centers_hz: tuple[float, ...]
    gain_db: tuple[float, ...]
    amount: float = 1.0
    phase: str = "linear"

    def __post_init__(self):
        _check_curve("eq", self.band_centers_hz, self.gain_db, self.amount)
        if self.phase not in EQ_PHASES:
            raise ValueError(f"EQ phase {self.phase!r}; choose one of {', '.join(EQ_PHASES)}")

    @property
    def is_neutral(self) -> bool:
        """True when rendering this EQ would change nothing."""
        return self.amount == 0.0 or not any(self.gain_db)


WIDTH_GUARDS = ("near_mono", "low_end", "correlation", "fold_down")
"""What may hold a widening back: a mix band with (nearly) no side to widen, the bass kept
mono-compatible (side 1 dB under the mid up to 120 Hz), the band's left/right correlation
kept at or above a minimum (0 by default), and the loss on the mono fold-down kept within
a limit (1 dB more than the mix's by default). See :mod:`matcher.fitting.width`."""
GUARD_NAMES = {
    "near_mono": "near-mono guard",
    "low_end": "low-end guard",
    "correlation": "correlation guard",
    "fold_down": "fold-down guard",
}


@dataclass(frozen=True)
class WidthLimit:
    """A widening the fit held back: adjacent bands whose side boost a guard limited.

    ``low_hz`` and ``high_hz`` are the centres of the first and last band. ``guards`` names
    the guards that held boosts back in the range (``WIDTH_GUARDS``), first the one of the
    band that needed it most (the boost furthest over its own limit); the figures are that
    band's. The gains are side gains as rendered (the width ``amount`` applied): the boost
    the match wanted and the boost applied. The predictions are the band's left/right
    correlation ``(M - S) / (M + S)`` (mid and side powers: the analysis's definition) and
    the loss on the mono fold-down added to the mix's (dB), with either gain.
    """

    low_hz: float
    high_hz: float
    guards: tuple[str, ...]
    wanted_db: float
    applied_db: float
    correlation_wanted: float
    correlation_applied: float
    fold_down_wanted_db: float
    fold_down_applied_db: float

    def __post_init__(self):
        if not self.guards or any(g not in WIDTH_GUARDS for g in self.guards):
            raise ValueError(f"width limit guards {self.guards}; each must be one of {', '.join(WIDTH_GUARDS)}")
        if not 0.0 < self.low_hz <= self.high_hz:
            raise ValueError(f"width limit range {self.low_hz}-{self.high_hz} Hz is not a range")

    def describe(self) -> str:
        """The limit in words: what was wanted where, what was applied, and why."""
        reasons = {
            "near_mono": "the mix is nearly mono there: its side is 40 dB or more under the mid",
            "low_end": "up to 120 Hz the side stays 1 dB under the mid: the bass stays mono-compatible",
            "correlation": (
                f"the left/right correlation would have fallen to {self.correlation_wanted:+.2f}; "
                f"kept at {self.correlation_applied:+.2f}"
            ),
            "fold_down": (
                f"the mono fold-down would have lost {self.fold_down_wanted_db:.1f} dB more than the mix's; "
                f"kept to {self.fold_down_applied_db:.1f} dB"
            ),
        }
        text = (
            f"side {self.wanted_db:+.1f} dB wanted at {frequency_range_text(self.low_hz, self.high_hz)}, "
            f"{self.applied_db:+.1f} dB applied ({reasons[self.guards[0]]})"
        )
        others = [GUARD_NAMES[g] for g in self.guards[1:]]
        if others:
            text += f"; in this range the {' and the '.join(others)} also held it back"
        return text


def frequency_range_text(low_hz: float, high_hz: float) -> str:
    """A range of band centres to two significant figures: ``"500 Hz-1 kHz"``, ``"2-4 kHz"``,
    ``"63 Hz"``."""

    def number_and_unit(f: float) -> tuple[str, str]:
        f = float(f"{f:.2g}")
        return (f"{f / 1000:g}", "kHz") if f >= 1000 else (f"{f:g}", "Hz")

    (low, low_unit), (high, high_unit) = number_and_unit(low_hz), number_and_unit(high_hz)
    if (low, low_unit) == (high, high_unit):
        return f"{low} {low_unit}"
    return f"{low}-{high} {high_unit}" if low_unit == high_unit else f"{low} {low_unit}-{high} {high_unit}"


@dataclass(frozen=True)
class WidthSettings:
    """Stereo width per band: gain of the side ``(L-R)/2`` relative to the mid, in dB.

    +3 dB in a band widens it by 3 dB of side-to-mid power, 0 keeps it; ``amount`` (0-1)
    scales the curve. ``mono_below_hz``, when set, removes the side below that frequency
    (a 24 dB/octave linear-phase slope), whatever the amount. ``limited`` records the
    widenings the fit's guards held back (:class:`WidthLimit`), for the person reading the
    settings; rendering does not use it.
    """

    band_centers_hz: tuple[float, ...]
    side_gain_db: tuple[float, ...]
    amount: float = 1.0
    mono_below_hz: float | None = None
    limited: tuple[WidthLimit, ...] = ()

    def __post_init__(self):
        _check_curve("width", self.band_centers_hz, self.side_gain_db, self.amount)
        if self.mono_below_hz is not None and not 20.0 <= self.mono_below_hz <= 500.0:
            raise ValueError(f"mono below {self.mono_below_hz} Hz is outside 20-500 Hz")

    @property
    def is_neutral(self) -> bool:
        """True when rendering this would change nothing."""
        return self.mono_below_hz is None and (self.amount == 0.0 or not any(self.side_gain_db))


@dataclass(frozen=True)
class BandCompressor:
    """One band of the multiband compressor.

    Levels are the band's mean square in the mid signal (dB re full scale), the scale of
    the analysis's ``band_level_percentiles_db``. Above ``threshold_db`` (centred in a
    ``knee_db`` soft knee) the level is reduced by ``1 - 1/ratio`` dB per dB, by at most
    ``max_reduction_db``; ``makeup_db`` is added back. Below ``floor_db`` the make-up is not
    applied (the net gain is 0 dB: a break's hiss or a fade's tail is not lifted); it comes
    in over the 12 dB above the floor (:data:`matcher.dsp.multiband.FLOOR_KNEE_DB`). None
    applies the make-up at every level, as settings saved before the floor existed did.
    """

    threshold_db: float
    ratio: float = 1.0
    knee_db: float = 6.0
    attack_ms: float = 20.0
    release_ms: float = 200.0
    makeup_db: float = 0.0
    max_reduction_db: float = 6.0
    floor_db: float | None = None

    def __post_init__(self):
        if not 1.0 <= self.ratio <= 20.0:
            raise ValueError(f"compressor ratio {self.ratio} is outside 1-20 (it never expands)")
        if not -120.0 <= self.threshold_db <= 0.0:
            raise ValueError(f"compressor threshold {self.threshold_db} dB is outside -120..0")
        if not (0.0 <= self.knee_db <= 24.0 and 0.1 <= self.attack_ms <= 500.0 and 1.0 <= self.release_ms <= 5000.0):
            raise ValueError("compressor knee or times out of range (knee 0-24 dB, attack 0.1-500 ms, release 1-5000 ms)")
        if not (-12.0 <= self.makeup_db <= 12.0 and 0.0 <= self.max_reduction_db <= 24.0):
            raise ValueError("compressor make-up (-12..12 dB) or range (0-24 dB) out of range")
        if self.floor_db is not None and not -150.0 <= self.floor_db < self.threshold_db:
            raise ValueError(f"compressor floor {self.floor_db} dB is outside -150 dB..the threshold")


@dataclass(frozen=True)
class DynamicsSettings:
    """Dynamics: a multiband compressor, then a leveler that rides the gain toward a loudness
    range (EBU Tech 3342).

    ``bands`` (one :class:`BandCompressor` per band between ``crossovers_hz``, lowest
    first; empty for none) compress each band's short-term level. Rendering then measures
    the short-term loudness (3 s) and rides the gain against it, slowly (``smoothing_s``)
    and by at most ``max_gain_db`` either way, so that the master's loudness range, the
    limiter's share included, reaches ``input + amount * (target - input)``. A target below
    the range compresses, above it expands. ±4 dB by default: an engineer's hand on the
    fader moves a section by a few dB, and a ride much wider than that rebalances the
    arrangement, which is the mix's business. Breaks, intros and fade tails (more than
    10-16 LU under the integrated loudness) ride with the music around them, never on
    their own (:mod:`matcher.rendering.leveler`). ``amount`` also scales each compressor's slope
    (``1 - 1/ratio``) and make-up; 0 leaves the dynamics alone.
    """

    target_lra_lu: float | None = None
    amount: float = 1.0
    max_gain_db: float = 4.0
    smoothing_s: float = 1.0
    crossovers_hz: tuple[float, ...] = (120.0, 1000.0, 6000.0)
    bands: tuple[BandCompressor, ...] = ()

    def __post_init__(self):
        if self.bands and len(self.bands) != len(self.crossovers_hz) + 1:
            raise ValueError(f"{len(self.crossovers_hz)} crossovers need {len(self.crossovers_hz) + 1} band compressors")
        if any(b <= a for a, b in zip(self.crossovers_hz, self.crossovers_hz[1:])) or any(
            not 20.0 <= f <= 20000.0 for f in self.crossovers_hz
        ):
            raise ValueError("crossovers must increase, within 20 Hz-20 kHz")
        if not 0.0 <= self.amount <= 1.0:
            raise ValueError(f"dynamics amount {self.amount} is outside 0-1")
        if self.target_lra_lu is not None and not 0.0 <= self.target_lra_lu <= 40.0:
            raise ValueError(f"loudness range target {self.target_lra_lu} LU is outside 0-40")
        if not 0.0 <= self.max_gain_db <= 20.0:
            raise ValueError(f"leveler range {self.max_gain_db} dB is outside 0-20")
        if not 0.0 <= self.smoothing_s <= 10.0:
            raise ValueError(f"leveler smoothing {self.smoothing_s} s is outside 0-10")

    @property
    def leveler_is_neutral(self) -> bool:
        """True when the leveler does nothing."""
        return self.target_lra_lu is None or self.amount == 0.0 or self.max_gain_db == 0.0

    @property
    def compressor_is_neutral(self) -> bool:
        """True when no band compressor changes anything."""
        return self.amount == 0.0 or all(b.ratio == 1.0 and b.makeup_db == 0.0 for b in self.bands)


DISTORTION_BUDGET_DB = -16.0
"""The loudness chain's default distortion budget (see :mod:`matcher.rendering.chain`)."""


@dataclass(frozen=True)
class LoudnessSettings:
    """Integrated loudness (ITU-R BS.1770-4) the output is brought to, in LUFS.

    ``target_lufs`` None keeps the mix's level (make-up gain 0 dB): only the limiter acts.
    ``max_distortion_db``: the chain stops short of a target it could reach only by adding
    more than this (residual against a slowly varying gain, dB re the output; see
    :mod:`matcher.rendering.chain`). ``force``: reach the target anyway, with the cleanest
    chain that gets there (faster limiting, more clipping).
    """

    target_lufs: float | None
    max_distortion_db: float = DISTORTION_BUDGET_DB
    force: bool = False

    def __post_init__(self):
        if not -90.0 <= self.max_distortion_db <= 0.0:
            raise ValueError(f"distortion budget {self.max_distortion_db} dB is outside -90..0")


@dataclass(frozen=True)
class LimiterSettings:
    """Lookahead true-peak limiter; ``enabled=False``: none, the master peak-normalised
    instead (one gain, lowered as a whole until its true peak holds the ceiling)."""

    ceiling_dbtp: float = -1.0
    lookahead_ms: float = 2.0
    hold_ms: float = 10.0
    release_ms: float = 80.0
    enabled: bool = True

    def __post_init__(self):
        if not -20.0 <= self.ceiling_dbtp <= 0.0:
            raise ValueError(f"ceiling {self.ceiling_dbtp} dBTP is outside -20..0")
        if not (0.1 <= self.lookahead_ms <= 50 and 0 <= self.hold_ms <= 500 and 1 <= self.release_ms <= 5000):
            raise ValueError("limiter times out of range (lookahead 0.1-50 ms, hold 0-500 ms, release 1-5000 ms)")


SAMPLE_RATES_HZ = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000)


@dataclass(frozen=True)
class OutputSettings:
    """Word length of the output; TPDF dither (seeded) when reducing to 16 bit; the output's
    sample rate (None: the mix's; another: the mix is resampled with libsoxr before the
    chain, so that the ceiling is held at the rate delivered)."""

    bit_depth: str = "24"
    dither: bool = True
    dither_seed: int = 0
    sample_rate_hz: int | None = None
    dither_shape: str = "tpdf"
    """``"tpdf"``, ``"hp-tpdf"`` (high-pass TPDF) or ``"shaped"`` (error-feedback noise shaping
    at 44.1 and 48 kHz, high-pass TPDF at other rates; see :mod:`matcher.dsp.dither`)."""

    def __post_init__(self):
        if self.bit_depth not in BIT_DEPTHS:
            raise ValueError(f"bit depth {self.bit_depth!r}; choose one of {', '.join(BIT_DEPTHS)}")
        if self.dither_shape not in ("tpdf", "hp-tpdf", "shaped"):
            raise ValueError(f"dither {self.dither_shape!r}; choose tpdf, hp-tpdf or shaped")
        if self.sample_rate_hz is not None and self.sample_rate_hz not in SAMPLE_RATES_HZ:
            rates = ", ".join(f"{r:d}" for r in SAMPLE_RATES_HZ)
            raise ValueError(f"sample rate {self.sample_rate_hz} Hz; choose one of {rates}")


@dataclass(frozen=True)
class Settings:
    """Everything render needs, and nothing it has to guess. Saved and loaded as JSON."""

    SCHEMA_VERSION = 2

    eq: EqSettings
    loudness: LoudnessSettings
    width: WidthSettings | None = None
    dynamics: DynamicsSettings = field(default_factory=DynamicsSettings)
    fixes: FixSettings = field(default_factory=FixSettings)
    limiter: LimiterSettings = field(default_factory=LimiterSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        """Serialise to JSON."""
        return to_json(self)

    @classmethod
    def from_json(cls, text: str, what: str = "settings JSON") -> "Settings":
        """Load from :meth:`to_json` output (possibly edited by hand)."""
        return from_json(cls, text, what)
