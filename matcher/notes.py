"""What a person should be told about a master besides its figures: the references chosen,
inputs cut short, the mix's problems and the fixes applied to them, a mix that already
matches, widenings held back to keep the mix mono-compatible, a leveler that expands or that
holds back for the distortion budget, and a loudness target out of reach. The command line prints these notes, a batch
keeps them in its manifest, the Python API returns them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matcher.analysis.condition import mix_problems
from matcher.analysis.result import Analysis
from matcher.fitting.settings import Settings
from matcher.io.reading import MIN_DURATION_S, open_audio
from matcher.library.choice import Choice

REFERENCES = "references"
WARNING = "warning"
FIX = "fix"
NOTE = "note"
EXPANDS_BELOW_RATIO = 0.995
"""A leveler ratio below this (shown as 1:1.01 or more) expands enough to be told."""


@dataclass(frozen=True)
class Note:
    """One thing to tell: its kind (``references``, ``warning``, ``fix``, ``note``), the
    file it is about (empty when none) and the text."""

    kind: str
    subject: str
    text: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.text}" if self.subject else self.text


def choice_note(choice: Choice | None) -> list[Note]:
    """Which references a chooser picked, and why (nothing for references given)."""
    if choice is None:
        return []
    if choice.distances is None:
        chosen = ", ".join(choice.names)
    else:
        chosen = ", ".join(
            f"{name} (distance {d:.2f}, weight {100 * w:.0f} %)"
            for name, d, w in zip(choice.names, choice.distances, choice.weights)
        )
    return [Note(REFERENCES, chosen, choice.how)]


def cut_short_notes(paths: Sequence[Path], min_duration_s: float = MIN_DURATION_S) -> list[Note]:
    """Inputs whose header promises more audio than the file holds (``min_duration_s``: the
    shortest file the job accepts)."""
    notes = []
    for path in paths:
        problem = open_audio(path, min_duration_s).cut_short
        if problem is not None:
            notes.append(Note(WARNING, str(path), problem))
    return notes


def mix_notes(mix: Path, analysis: Analysis, settings: Settings | None = None) -> list[Note]:
    """The mix's problems, and the fixes the settings apply to them."""
    notes = [Note(WARNING, str(mix), problem) for problem in mix_problems(analysis)]
    if settings is None:
        return notes
    fixes = settings.fixes
    if fixes.invert_right:
        notes.append(Note(FIX, str(mix), "the right channel's polarity is flipped (--no-fix polarity keeps it)"))
    if fixes.balance_db:
        notes.append(Note(FIX, str(mix), f"the channels are levelled by {abs(fixes.balance_db):.1f} dB (--no-fix balance keeps them)"))
    if already_matches(analysis, settings):
        notes.append(Note(
            NOTE, str(mix),
            "already matches the reference (the same audio?): the master is the mix, its peaks brought under the ceiling",
        ))
    return notes


def width_notes(mix: Path, settings: Settings) -> list[Note]:
    """The side boosts the width's guards held back, one note per range of bands
    (:class:`~matcher.fitting.settings.WidthLimit`)."""
    if settings.width is None:
        return []
    return [Note(NOTE, str(mix), f"width: {limit.describe()}") for limit in settings.width.limited]


def out_of_reach_note(
    mix: Path,
    settings: Settings,
    output_lufs: float,
    master: str = "the master is",
    unclean_lufs: float | None = None,
    unclean_distortion_db: float | None = None,
) -> Note:
    """A loudness target the chain did not reach: beyond its distortion budget (and what
    reaching it would cost), or beyond the ceiling altogether."""
    loudness, ceiling = settings.loudness, settings.limiter.ceiling_dbtp
    target = loudness.target_lufs
    short = target - output_lufs
    if unclean_lufs is not None and unclean_distortion_db is not None and unclean_lufs >= target - 0.05:
        return Note(
            WARNING,
            str(mix),
            f"{target:.1f} LUFS would take more distortion than the budget allows: {master} {output_lufs:.1f} LUFS, "
            f"{short:.1f} LU short, with distortion at {loudness.max_distortion_db:.0f} dB or less; reaching it "
            f"would add distortion at {unclean_distortion_db:.0f} dB against a slowly varying gain "
            f"(--force-loudness reaches it; --max-distortion sets the budget)",
        )
    if not settings.limiter.enabled:
        return Note(
            WARNING,
            str(mix),
            f"{target:.1f} LUFS is out of reach without the limiter (--no-limiter): peak-normalised to the "
            f"{ceiling:.1f} dBTP ceiling, {master} {output_lufs:.1f} LUFS, {short:.1f} LU short",
        )
    return Note(
        WARNING,
        str(mix),
        f"{target:.1f} LUFS is out of reach under a {ceiling:.1f} dBTP ceiling (more limiting would only squash the "
        f"mix); {master} {output_lufs:.1f} LUFS, {short:.1f} LU short",
    )


def expanding_note(mix: Path, settings: Settings, leveler_ratio: float | None) -> list[Note]:
    """A leveler that widens the loudness range (its ratio below 1): the master is made more
    dynamic than the mix, which a person should know (nothing when it does not)."""
    if leveler_ratio is None or leveler_ratio >= EXPANDS_BELOW_RATIO:
        return []
    dynamics = settings.dynamics
    return [Note(
        NOTE, str(mix),
        f"the leveler expands the loudness range (ratio 1:{1.0 / leveler_ratio:.2f}, at most ±{dynamics.max_gain_db:g} dB) "
        f"toward the references' {dynamics.target_lra_lu:.1f} LU: it makes the mix more dynamic, not less "
        "(--amount dynamics=0 leaves the dynamics alone)",
    )]


def held_back_note(mix: Path, settings: Settings, held_back: bool, range_lu: float | None) -> list[Note]:
    """The leveler not making up for the limiter's narrowing of the loudness range, because
    the make-up would have taken the master past the distortion budget (nothing otherwise)."""
    if not held_back:
        return []
    reached = "" if range_lu is None else f" to {range_lu:.1f} LU"
    return [Note(
        NOTE, str(mix),
        f"the limiter narrows the loudness range{reached} (the references' {settings.dynamics.target_lra_lu:.1f} LU): "
        "the leveler does not make up for it, since lifting the loud passages into the limiter would take the "
        "master past the distortion budget",
    )]


def outcome_notes(
    mix: Path,
    references: Sequence[Path],
    analysis: Analysis,
    settings: Settings,
    choice: Choice | None,
    target_reached: bool,
    output_lufs: float | None,
    master: str = "the master is",
    unclean_lufs: float | None = None,
    unclean_distortion_db: float | None = None,
    leveler_ratio: float | None = None,
    leveler_held_back: bool = False,
    range_lu: float | None = None,
) -> list[Note]:
    """Everything to tell after a mix was fitted (and rendered): the references chosen,
    inputs cut short, the mix's problems and fixes, widenings held back, a leveler that
    expands (its ratio, as rendered or planned) or that holds back for the distortion budget
    (with the master's loudness range), and a loudness target out of reach."""
    notes = choice_note(choice) + cut_short_notes([mix, *references]) + mix_notes(mix, analysis, settings)
    notes += width_notes(mix, settings)
    notes += expanding_note(mix, settings, leveler_ratio)
    notes += held_back_note(mix, settings, leveler_held_back, range_lu)
    if not target_reached and output_lufs is not None and settings.loudness.target_lufs is not None:
        notes.append(out_of_reach_note(mix, settings, output_lufs, master, unclean_lufs, unclean_distortion_db))
    return notes


def planned_notes(mix: Path, references: Sequence[Path], suggested) -> list[Note]:
    """:func:`outcome_notes` of a plan not rendered (``suggest``, ``preview``): a
    :class:`~matcher.jobs.Suggested`."""
    plan = suggested.plan
    return outcome_notes(
        mix, references, suggested.analysis, suggested.settings, suggested.choice, plan.target_reached,
        plan.predicted_lufs, "the master would be", plan.unclean_lufs, plan.unclean_distortion_db,
        leveler_ratio=plan.leveler_ratio, leveler_held_back=plan.leveler_held_back, range_lu=plan.predicted_lra_lu,
    )


def mastered_notes(mix: Path, references: Sequence[Path], mastered) -> list[Note]:
    """:func:`outcome_notes` of a rendered master: a :class:`~matcher.jobs.Mastered`."""
    report = mastered.report
    return outcome_notes(
        mix, references, mastered.analysis, mastered.settings, mastered.choice, report.target_reached,
        report.output_lufs, unclean_lufs=report.unclean_lufs, unclean_distortion_db=report.unclean_distortion_db,
        leveler_ratio=report.leveler_ratio, leveler_held_back=report.leveler_held_back,
        range_lu=report.output_loudness_range_lu,
    )


def page_notes(notes: Sequence[Note]) -> list[str]:
    """What a report page lists: every note but the references chosen (the page names
    them), as the command line prints it, without the file (the page is about one mix)."""
    return [f"{note.kind}: {note.text}" for note in notes if note.kind != REFERENCES]


def already_matches(analysis: Analysis, settings: Settings) -> bool:
    """True when the fit changes nothing but the peaks: flat EQ and width, no compression, the
    mix's own loudness and loudness range as targets."""
    width = settings.width
    dynamics = settings.dynamics
    target = settings.loudness.target_lufs
    return (
        max(map(abs, settings.eq.gain_db), default=0.0) < 0.1
        and (width is None or max(map(abs, width.side_gain_db), default=0.0) < 0.1)
        and all(b.ratio == 1.0 for b in dynamics.bands)
        and (dynamics.target_lra_lu is None or abs(dynamics.target_lra_lu - analysis.loudness_range_lu) < 0.1)
        and (target is None or abs(target - analysis.integrated_lufs) < 0.05)
    )
