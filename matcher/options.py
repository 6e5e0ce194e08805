"""The mastering options a person gives, checked and turned into a fit configuration and a
choice of references: shared by the command line and the Python API, so that both accept,
refuse and mean the same things.

An option that would have no effect given the others (``--lufs`` with ``--only eq``) is
refused with a message naming both, never silently ignored.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from matcher.errors import UsageError
from matcher.fitting.config import FitConfig
from matcher.fitting.settings import (
    DEFAULT_EQ_PHASE,
    EQ_PHASES,
    SAMPLE_RATES_HZ,
    LimiterSettings,
    OutputSettings,
)

AMOUNT_STAGES = ("eq", "width", "dynamics")
STAGES = (*AMOUNT_STAGES, "loudness", "fixes")
FIXES = ("dc", "highpass", "polarity", "balance")
BIT_DEPTHS = ("16", "24", "32f")
DITHERS = ("tpdf", "hp-tpdf", "shaped", "none")
DEFAULT_HIGHPASS_HZ = 20.0
DEFAULT_K = 3


@dataclass(frozen=True)
class OptionNames:
    """How the options are named in messages: as command-line flags or as keyword arguments."""

    lufs: str
    amount: str
    only: str
    no_fix: str
    highpass: str
    mono_below: str
    ref: str
    library: str
    k: str
    style: str
    bit_depth: str
    eq_phase: str
    force_loudness: str
    max_distortion: str
    target: str = "--target"
    sample_rate: str = "--sample-rate"
    no_limiter: str = "--no-limiter"
    dither: str = "--dither"


CLI_NAMES = OptionNames(
    "--lufs", "--amount", "--only", "--no-fix", "--highpass", "--mono-below", "--ref", "--library", "--k",
    "--style", "--bit-depth", "--eq-phase", "--force-loudness", "--max-distortion", "--target", "--sample-rate",
    "--no-limiter", "--dither",
)
PYTHON_NAMES = OptionNames(
    "lufs=", "amount=", "only=", "no_fix=", "highpass_hz=", "mono_below_hz=", "references=", "library=", "k=",
    "style=", "bit_depth=", "eq_phase=", "force_loudness=", "max_distortion_db=", "target=", "sample_rate_hz=",
    "limiter=False", "dither=",
)


def checked_names(values: Collection[str], allowed: tuple[str, ...], option: str) -> list[str]:
    """Lower-cased names, each one of ``allowed``."""
    names = [str(v).strip().lower() for v in values if str(v).strip()]
    for name in names:
        if name not in allowed:
            raise UsageError(f"{option} {','.join(values)!r}: unknown {name!r}; choose from {', '.join(allowed)}")
    return names


def fit_config(
    *,
    lufs: float | None = None,
    ceiling_dbtp: float | None = None,
    amounts: Mapping[str, float] | None = None,
    only: Collection[str] | None = None,
    no_fix: Collection[str] = (),
    highpass_hz: float | None = None,
    mono_below_hz: float | None = None,
    bit_depth: str | None = None,
    eq_phase: str | None = None,
    force_loudness: bool = False,
    max_distortion_db: float | None = None,
    names: OptionNames = CLI_NAMES,
    target: str | None = None,
    sample_rate_hz: int | None = None,
    limiter: bool = True,
    dither: str | None = None,
) -> FitConfig:
    """The fit configuration of a person's options.

    Parameters
    ----------
    lufs : float, optional
        Loudness target (LUFS) instead of the references'.
    ceiling_dbtp : float, optional
        Default -1 dBTP, or the ``target``'s.
    amounts : mapping of stage to percent (0-100), optional
        How much of the ``eq``, ``width`` and ``dynamics`` match to apply (default 100 %).
    only : collection of str, optional
        Run only these stages (of :data:`STAGES`); None: all.
    no_fix : collection of str
        Mix fixes (of :data:`FIXES`) to switch off.
    highpass_hz, mono_below_hz : float, optional
        The subsonic high-pass's corner (default 20 Hz), and mono below a frequency.
    bit_depth : {"16", "24", "32f"}, optional
        Default 24, or the ``target``'s.
    eq_phase : {"linear", "minimum", "mixed"}, optional
        Phase of the EQ's filters (default :data:`~matcher.fitting.settings.DEFAULT_EQ_PHASE`).
    force_loudness : bool
        Reach the loudness target even past the distortion budget.
    max_distortion_db : float, optional
        The loudness chain's distortion budget (default -16 dB; see
        :class:`~matcher.fitting.settings.LoudnessSettings`).
    target : str, optional
        An outlet of :func:`~matcher.targets.platform_targets` (``spotify``, ``cd``...): its
        loudness, ceiling, word length and sample rate, for those not given.
    sample_rate_hz : int, optional
        The output's sample rate (the mix is resampled with libsoxr); None: the mix's.
    limiter : bool
        False: no limiter; the master is peak-normalised (one gain, lowered until its true
        peak holds the ceiling), as loud as that allows.
    dither : {"tpdf", "hp-tpdf", "shaped", "none"}, optional
        The 16-bit output's dither (default TPDF; ``"hp-tpdf"``: high-pass TPDF, 4.6 dB less
        noise below 2 kHz; ``"shaped"``: error-feedback noise shaping, F-weighted, at 44.1 and
        48 kHz, needs PyAV; see :mod:`matcher.dsp.dither`).

    Raises
    ------
    UsageError
        A value out of range, an unknown name, or an option that has no effect given the
        others; the message names the options.
    """
    chosen = None
    if target is not None:
        from matcher.targets import platform_target

        chosen = platform_target(target, names.target)
        ceiling_dbtp = chosen.ceiling_dbtp if ceiling_dbtp is None else ceiling_dbtp
        bit_depth = chosen.bit_depth if bit_depth is None else bit_depth
        sample_rate_hz = chosen.sample_rate_hz if sample_rate_hz is None else sample_rate_hz
    if sample_rate_hz is not None and sample_rate_hz not in SAMPLE_RATES_HZ:
        rates = ", ".join(f"{r:d}" for r in SAMPLE_RATES_HZ)
        raise UsageError(f"{names.sample_rate} {sample_rate_hz}: choose one of {rates} (Hz)")
    ceiling_dbtp = -1.0 if ceiling_dbtp is None else ceiling_dbtp
    bit_depth = "24" if bit_depth is None else bit_depth
    if bit_depth not in BIT_DEPTHS:
        raise UsageError(f"{names.bit_depth} {bit_depth!r}: choose 16, 24 or 32f")
    stages = set(checked_names(only, STAGES, names.only)) if only is not None else set(STAGES)
    if chosen is not None and lufs is None and chosen.lufs is not None and "loudness" in stages:
        lufs = chosen.lufs
    only_text = f"{names.only} {','.join(sorted(stages))}"
    percents = {}
    for stage, percent in (amounts or {}).items():
        (stage,) = checked_names([stage], AMOUNT_STAGES, names.amount)
        percent = float(percent)
        if not 0.0 <= percent <= 100.0:  # NaN fails this too
            raise UsageError(f"{names.amount} {stage}={percent:g} is outside 0-100 %")
        if stage not in stages:
            raise UsageError(f"{names.amount} {stage}={percent:g} has no effect with {only_text}: the {stage} stage is off")
        percents[stage] = percent
    switched_off = set(checked_names(no_fix, FIXES, names.no_fix))
    if lufs is not None and "loudness" not in stages:
        raise UsageError(
            f"{names.lufs} {lufs:g} has no effect with {only_text}: the loudness stage is off "
            f"(add loudness to {names.only})"
        )
    if switched_off and "fixes" not in stages:
        raise UsageError(f"{names.no_fix} {','.join(sorted(switched_off))} has no effect with {only_text}: the fixes are off")
    if highpass_hz is not None and ("fixes" not in stages or "highpass" in switched_off):
        why = f"{only_text}: the fixes are off" if "fixes" not in stages else f"{names.no_fix} highpass"
        raise UsageError(f"{names.highpass} {highpass_hz:g} has no effect with {why}")
    if (force_loudness or max_distortion_db is not None) and "loudness" not in stages:
        given = names.force_loudness if force_loudness else f"{names.max_distortion} {max_distortion_db:g}"
        raise UsageError(f"{given} has no effect with {only_text}: the loudness stage is off")
    if dither is not None:
        dither = str(dither).strip().lower()
        if dither not in DITHERS:
            raise UsageError(f"{names.dither} {dither!r}: choose {', '.join(DITHERS)}")
        if dither == "shaped":
            from matcher.dsp.noiseshaping import require

            require()
    if not limiter and (force_loudness or max_distortion_db is not None):
        given = names.force_loudness if force_loudness else f"{names.max_distortion} {max_distortion_db:g}"
        raise UsageError(f"{given} has no effect with {names.no_limiter}: nothing limits or clips")
    if force_loudness and max_distortion_db is not None:
        raise UsageError(f"{names.max_distortion} {max_distortion_db:g} has no effect with {names.force_loudness}")
    if mono_below_hz is not None and "width" not in stages:
        raise UsageError(f"{names.mono_below} {mono_below_hz:g} has no effect with {only_text}: the width stage is off")
    if eq_phase is not None:
        given, eq_phase = eq_phase, str(eq_phase).strip().lower()
        if eq_phase not in EQ_PHASES:
            raise UsageError(f"{names.eq_phase} {given!r}: choose {', '.join(EQ_PHASES)}")
        if not stages & {"eq", "width", "fixes"}:
            raise UsageError(f"{names.eq_phase} {eq_phase} has no effect with {only_text}: no stage filters the mix")
    fixes = set(FIXES) - switched_off if "fixes" in stages else set()
    try:
        return FitConfig(
            target_lufs=lufs,
            follow_loudness="loudness" in stages,
            eq_amount=percents.get("eq", 100.0) / 100.0 if "eq" in stages else 0.0,
            width_amount=percents.get("width", 100.0) / 100.0 if "width" in stages else 0.0,
            dynamics_amount=percents.get("dynamics", 100.0) / 100.0 if "dynamics" in stages else 0.0,
            remove_dc="dc" in fixes,
            highpass_hz=(DEFAULT_HIGHPASS_HZ if highpass_hz is None else highpass_hz) if "highpass" in fixes else None,
            fix_polarity="polarity" in fixes,
            fix_balance="balance" in fixes,
            mono_below_hz=mono_below_hz,
            eq_phase=DEFAULT_EQ_PHASE if eq_phase is None else eq_phase,
            limiter=LimiterSettings(ceiling_dbtp=ceiling_dbtp, enabled=limiter),
            output=OutputSettings(
                bit_depth=bit_depth, sample_rate_hz=sample_rate_hz, dither=dither != "none",
                dither_shape=dither if dither in ("hp-tpdf", "shaped") else "tpdf",
            ),
            force_loudness=force_loudness,
            **({} if max_distortion_db is None else {"max_distortion_db": max_distortion_db}),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def split_weight(value: str | Path) -> tuple[Path, float | None]:
    """A reference given as ``FILE`` or ``FILE:WEIGHT``: its path and weight (None when it
    has none). A file whose name ends in ``:NUMBER`` and exists is taken as it is."""
    name, sep, number = str(value).rpartition(":")
    if sep and name and not Path(value).exists():
        try:
            return Path(name), float(number)
        except ValueError:
            pass
    return Path(value), None


def parse_references(values: Sequence[str | Path], option: str = "--ref") -> tuple[list[Path], list[float] | None]:
    """``FILE`` / ``FILE:WEIGHT`` references as paths and blend weights (:func:`blend_weights`)."""
    pairs = [split_weight(v) for v in values]
    paths = [p for p, _ in pairs]
    return paths, blend_weights([w for _, w in pairs], paths, option)


def blend_weights(given: Sequence[float | None], paths: Sequence[Path], option: str = "--ref") -> list[float] | None:
    """Blend weights of references, each given as a fraction of the blend or not at all.

    References without a weight share what the others leave of 1, equally (``a``, ``b`` at
    0.3: 70 % a, 30 % b); given for every reference, weights are relative (2 and 1: two
    thirds and one third). None when no reference has a weight (an equal blend).
    """
    for path, weight in zip(paths, given):
        if weight is not None and not (math.isfinite(weight) and weight >= 0):
            raise UsageError(f"{option} {path}:{weight:g}: the weight must be a number >= 0")
    if all(w is None for w in given):
        return None
    stated = sum(w for w in given if w is not None)
    unstated = [i for i, w in enumerate(given) if w is None]
    if unstated:
        if stated >= 1.0:
            left = ", ".join(str(paths[i]) for i in unstated)
            raise UsageError(f"{option} weights add up to {stated:g}, leaving nothing for {left}")
        share = (1.0 - stated) / len(unstated)
        given = [share if w is None else w for w in given]
    elif stated <= 0:
        raise UsageError(f"{option} weights are all 0")
    return [float(w) for w in given]


def reference_target(
    references: Sequence[tuple[Path, float | None]],
    library: Path | None = None,
    k: int | None = None,
    style: str | None = None,
    names: OptionNames = CLI_NAMES,
):
    """The references to match: ``(paths, weights, chooser)``.

    Files (each with its share of the blend, or None), or a chooser: a style's centre, the
    ``k`` (default 3) nearest profiles of ``library``, or, with none of these, of the starter
    library that ships with automaster.
    """
    if references and (library is not None or style is not None):
        raise UsageError(f"give {names.ref}, or {names.library} and {names.style}, not both")
    if k is not None and k < 1:
        raise UsageError(f"{names.k} {k}: choose at least 1 reference")
    if k is not None and references:
        raise UsageError(f"{names.k} {k} has no effect with {names.ref}: the references are given")
    if k is not None and style is not None:
        raise UsageError(f"{names.k} {k} has no effect with {names.style}: a style blends all its members")
    if references:
        paths = [Path(p) for p, _ in references]
        return paths, blend_weights([w for _, w in references], paths, names.ref), None
    from matcher.library.choice import LibraryChoice, StyleChoice
    from matcher.library.store import Library, starter_library_dir
    from matcher.library.styles import find_style, style_library_dir

    # The library and the style are checked here, before any audio is read: a missing
    # folder, one that is not a library, an empty library and an unknown style are
    # LibraryErrors.
    if style is not None:
        library = style_library_dir(library)
        find_style(Library(library), style)
        return [], None, StyleChoice(library, style)
    library = library if library is not None else starter_library_dir()
    Library(library).require_profiles()
    return [], None, LibraryChoice(library, k or DEFAULT_K)
