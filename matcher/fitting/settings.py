"""The :class:`Settings` a person can read, save, edit and render: the output of fit."""

from __future__ import annotations

from dataclasses import dataclass, field

from matcher.serialization import from_json, to_json

BIT_DEPTHS = ("16", "24", "32f")


@dataclass(frozen=True)
class EqSettings:
    """Matching EQ on mid and side, as gains at band centres.

    ``mid_gain_db`` and ``side_gain_db`` are the full match; ``amount`` (0-1) scales both when
    rendering. Between band centres gains are interpolated in log-frequency; beyond the
    first and last band they are held.
    """

    band_centers_hz: tuple[float, ...]
    mid_gain_db: tuple[float, ...]
    side_gain_db: tuple[float, ...]
    amount: float = 1.0

    def __post_init__(self):
        n = len(self.band_centers_hz)
        if len(self.mid_gain_db) != n or len(self.side_gain_db) != n:
            raise ValueError("band_centers_hz, mid_gain_db and side_gain_db must be equally long")
        if any(b <= a for a, b in zip(self.band_centers_hz, self.band_centers_hz[1:])):
            raise ValueError("band_centers_hz must increase")
        if not 0.0 <= self.amount <= 1.0:
            raise ValueError(f"eq amount {self.amount} is outside 0-1")

    @property
    def is_neutral(self) -> bool:
        """True when rendering this EQ would change nothing."""
        return self.amount == 0.0 or not any(self.mid_gain_db) and not any(self.side_gain_db)


@dataclass(frozen=True)
class LoudnessSettings:
    """Integrated loudness (ITU-R BS.1770-4) the output is brought to, in LUFS.

    ``target_lufs`` None keeps the mix's level (make-up gain 0 dB): only the limiter acts.
    """

    target_lufs: float | None


@dataclass(frozen=True)
class LimiterSettings:
    """Lookahead true-peak limiter."""

    ceiling_dbtp: float = -1.0
    lookahead_ms: float = 2.0
    hold_ms: float = 10.0
    release_ms: float = 80.0

    def __post_init__(self):
        if not -20.0 <= self.ceiling_dbtp <= 0.0:
            raise ValueError(f"ceiling {self.ceiling_dbtp} dBTP is outside -20..0")
        if not (0.1 <= self.lookahead_ms <= 50 and 0 <= self.hold_ms <= 500 and 1 <= self.release_ms <= 5000):
            raise ValueError("limiter times out of range (lookahead 0.1-50 ms, hold 0-500 ms, release 1-5000 ms)")


@dataclass(frozen=True)
class OutputSettings:
    """Word length of the output; TPDF dither (seeded) when reducing to 16 bit."""

    bit_depth: str = "24"
    dither: bool = True
    dither_seed: int = 0

    def __post_init__(self):
        if self.bit_depth not in BIT_DEPTHS:
            raise ValueError(f"bit depth {self.bit_depth!r}; choose one of {', '.join(BIT_DEPTHS)}")


@dataclass(frozen=True)
class Settings:
    """Everything render needs, and nothing it has to guess. Saved and loaded as JSON."""

    SCHEMA_VERSION = 1

    eq: EqSettings
    loudness: LoudnessSettings
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
