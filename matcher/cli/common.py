"""What the command-line modules share: consoles, error handling, progress, the options of
the mastering commands and the warnings about a mix."""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

import typer
from rich.console import Console

from matcher.errors import AutomasterError

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
stdout = Console()
stderr = Console(stderr=True)


class State:
    debug = False


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    stderr.print(f"automaster: error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Turn package errors into one line on stderr and exit code 2."""
    try:
        yield
    except AutomasterError as exc:
        if State.debug:
            raise
        fail(str(exc))
    except KeyboardInterrupt:
        stderr.print("automaster: interrupted; no output written")
        raise typer.Exit(EXIT_INTERRUPTED)


@contextmanager
def progress(total_frames: int, label: str) -> Iterator:
    """A progress bar on stderr for long jobs on a terminal; a no-op callback otherwise."""
    if not (stderr.is_terminal and total_frames > 0):
        yield lambda frames: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total_frames)
        yield lambda frames: progress.advance(task, frames)


def parse_percent(value: float, name: str) -> float:
    if not 0.0 <= value <= 100.0:
        fail(f"{name} {value:g} is outside 0-100 %")
    return value / 100.0


MIX_ARGUMENT_HELP = "The mix to master (WAV, FLAC, AIFF, OGG, MP3)."
REF_HELP = (
    "Reference track, FILE or FILE:WEIGHT (a fraction of the blend); repeat for several. Without "
    "--ref, --library or --style, the starter library's nearest references are used."
)
LUFS_HELP = "Integrated loudness target (LUFS) instead of the references' loudness."
CEILING_HELP = "True-peak ceiling (dBTP)."
EQ_AMOUNT_HELP = "How much of the matching EQ to apply (0-100 %); same as --amount eq=N."
AMOUNT_HELP = "Amount per stage, in %: e.g. eq=60,width=100,dynamics=0 (stages: eq, width, dynamics)."
ONLY_HELP = (
    "Run only these stages: eq, width, dynamics, loudness, fixes (e.g. eq,loudness). Without "
    "loudness the mix keeps its level and only the limiter acts."
)
NO_FIX_HELP = "Switch mix fixes off: dc, highpass, polarity, balance (comma-separated)."
HIGHPASS_HELP = "Corner of the subsonic high-pass (Hz, 24 dB/octave)."
MONO_BELOW_HELP = "Make the image mono below this frequency (Hz)."
BIT_DEPTH_HELP = "Output sample format: 16, 24 or 32f."
AMOUNT_STAGES = ("eq", "width", "dynamics")
STAGES = (*AMOUNT_STAGES, "loudness", "fixes")
FIXES = ("dc", "highpass", "polarity", "balance")

# Options match and suggest share: declared once, so the two commands cannot drift apart.
REF_OPTION = typer.Option(None, "--ref", "-r", help=REF_HELP)
LIBRARY_CHOICE_OPTION = typer.Option(
    None, "--library", "-l", help="Choose the references from this library: the --k nearest to the mix, blended."
)
K_OPTION = typer.Option(3, "--k", help="How many of the library's nearest references to blend.")
STYLE_OPTION = typer.Option(
    None,
    "--style",
    help="Match toward a style of the library (--library; else the per-user one if it has styles, else the starter "
    "library's): see 'library styles'.",
)
LUFS_OPTION = typer.Option(None, "--lufs", help=LUFS_HELP)
CEILING_OPTION = typer.Option(-1.0, "--ceiling", help=CEILING_HELP)
EQ_AMOUNT_OPTION = typer.Option(None, "--eq-amount", help=EQ_AMOUNT_HELP)
AMOUNT_OPTION = typer.Option(None, "--amount", help=AMOUNT_HELP)
ONLY_OPTION = typer.Option(None, "--only", help=ONLY_HELP)
NO_FIX_OPTION = typer.Option(None, "--no-fix", help=NO_FIX_HELP)
HIGHPASS_OPTION = typer.Option(20.0, "--highpass", help=HIGHPASS_HELP)
MONO_BELOW_OPTION = typer.Option(None, "--mono-below", help=MONO_BELOW_HELP)
BIT_DEPTH_OPTION = typer.Option("24", "--bit-depth", help=BIT_DEPTH_HELP)


def parse_names(value: str, allowed: tuple[str, ...], option: str) -> list[str]:
    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    for name in names:
        if name not in allowed:
            fail(f"{option} {value!r}: unknown {name!r}; choose from {', '.join(allowed)}")
    return names


def parse_amounts(value: str | None) -> dict[str, float]:
    """``eq=60,width=100`` as fractions per stage."""
    amounts: dict[str, float] = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        name, sep, number = item.partition("=")
        (name,) = parse_names(name, AMOUNT_STAGES, "--amount") or [""]
        try:
            percent = float(number) if sep else math.nan
        except ValueError:
            percent = math.nan
        if math.isnan(percent):
            fail(f"--amount {value!r}: {item.strip()!r} is not STAGE=PERCENT")
        amounts[name] = parse_percent(percent, f"--amount {name}")
    return amounts


def parse_references(values: List[Path]) -> tuple[List[Path], List[float] | None]:
    """``--ref`` values, each ``FILE`` or ``FILE:WEIGHT``, as paths and blend weights.

    Weights are fractions of the blend (``--ref a.wav --ref b.wav:0.3`` is 70 % a, 30 % b):
    references without one share what the others leave of 1, equally. Given for every
    reference, they are relative (``a.wav:2 b.wav:1`` is two thirds a). None when no
    reference has a weight (an equal blend). A file whose name ends in ``:NUMBER`` and
    exists is taken as it is.
    """
    paths: list[Path] = []
    given: list[float | None] = []
    for value in values:
        text = str(value)
        name, sep, number = text.rpartition(":")
        weight = None
        if sep and name and not value.exists():
            try:
                weight = float(number)
            except ValueError:
                weight = None
            if weight is not None and not (math.isfinite(weight) and weight >= 0):
                fail(f"--ref {text}: the weight must be a number >= 0")
        paths.append(Path(name) if weight is not None else value)
        given.append(weight)
    if all(w is None for w in given):
        return paths, None
    stated = sum(w for w in given if w is not None)
    unstated = [i for i, w in enumerate(given) if w is None]
    if unstated:
        if stated >= 1.0:
            left = ", ".join(str(paths[i]) for i in unstated)
            fail(f"--ref weights add up to {stated:g}, leaving nothing for {left}")
        share = (1.0 - stated) / len(unstated)
        given = [share if w is None else w for w in given]
    elif stated <= 0:
        fail("--ref weights are all 0")
    return paths, [float(w) for w in given]


def reference_target(ref: List[Path] | None, library: Path | None, k: int, style: str | None):
    """The references of ``match``'s options: ``(paths, weights, chooser)``.

    Files given with ``--ref`` (weights from ``FILE:WEIGHT``), or a chooser: a style's centre,
    the ``k`` nearest profiles of ``--library``, or, with none of these, of the starter
    library that ships with automaster.
    """
    if ref and (library is not None or style is not None):
        fail("give --ref, or --library and --style, not both")
    if k < 1:
        fail(f"--k {k}: choose at least 1 reference")
    if ref:
        paths, weights = parse_references(ref)
        return paths, weights, None
    from matcher.library.choice import LibraryChoice, StyleChoice
    from matcher.library.store import default_library_dir, starter_library_dir

    if style is not None:
        if library is None:  # the user's own styles, or else the starter library's
            library = default_library_dir()
            library = library if (library / "styles.json").is_file() else starter_library_dir()
        return [], None, StyleChoice(library, style)
    return [], None, LibraryChoice(library if library is not None else starter_library_dir(), k)


def report_choice(choice) -> None:
    """Say on stderr which references a chooser picked, and why."""
    if choice is None:
        return
    if choice.distances is None:
        chosen = ", ".join(choice.names)
    else:
        chosen = ", ".join(
            f"{name} (distance {d:.2f}, weight {100 * w:.0f} %)"
            for name, d, w in zip(choice.names, choice.distances, choice.weights)
        )
    stderr.print(f"automaster: references: {chosen}: {choice.how}", markup=False, highlight=False, soft_wrap=True)


def fit_config(
    lufs: float | None,
    ceiling: float,
    eq_amount: float | None,
    bit_depth: str,
    amount: str | None = None,
    only: str | None = None,
    no_fix: str | None = None,
    highpass: float = 20.0,
    mono_below: float | None = None,
):
    """The FitConfig of the options ``match`` and ``suggest`` share; bad values exit 2."""
    from matcher.fitting.config import FitConfig
    from matcher.fitting.settings import LimiterSettings, OutputSettings

    if bit_depth not in ("16", "24", "32f"):
        fail(f"--bit-depth {bit_depth!r}: choose 16, 24 or 32f")
    amounts = parse_amounts(amount)
    if eq_amount is not None:
        if "eq" in amounts:
            fail("give the EQ amount once: --eq-amount or --amount eq=N")
        amounts["eq"] = parse_percent(eq_amount, "--eq-amount")
    stages = set(parse_names(only, STAGES, "--only")) if only is not None else set(STAGES)
    fixes = set(FIXES) - set(parse_names(no_fix or "", FIXES, "--no-fix")) if "fixes" in stages else set()
    try:
        return FitConfig(
            target_lufs=lufs,
            follow_loudness="loudness" in stages,
            eq_amount=amounts.get("eq", 1.0) if "eq" in stages else 0.0,
            width_amount=amounts.get("width", 1.0) if "width" in stages else 0.0,
            dynamics_amount=amounts.get("dynamics", 1.0) if "dynamics" in stages else 0.0,
            remove_dc="dc" in fixes,
            highpass_hz=highpass if "highpass" in fixes else None,
            fix_polarity="polarity" in fixes,
            fix_balance="balance" in fixes,
            mono_below_hz=mono_below,
            limiter=LimiterSettings(ceiling_dbtp=ceiling),
            output=OutputSettings(bit_depth=bit_depth),
        )
    except ValueError as exc:
        fail(str(exc))


def warn_about_the_mix(mix: Path, analysis, settings=None) -> None:
    """The mix's problems on stderr, and the fixes the settings apply to them."""
    from matcher.analysis.condition import mix_problems

    for problem in mix_problems(analysis):
        stderr.print(f"automaster: warning: {mix}: {problem}", markup=False, highlight=False, soft_wrap=True)
    fixes = settings.fixes if settings is not None else None
    notes = []
    if fixes is not None and fixes.invert_right:
        notes.append("the right channel's polarity is flipped (--no-fix polarity keeps it)")
    if fixes is not None and fixes.balance_db:
        notes.append(f"the channels are levelled by {abs(fixes.balance_db):.1f} dB (--no-fix balance keeps them)")
    for note in notes:
        stderr.print(f"automaster: fix: {mix}: {note}", markup=False, highlight=False, soft_wrap=True)
    if settings is not None and already_matches(analysis, settings):
        stderr.print(
            f"automaster: note: {mix}: already matches the reference (the same audio?): the master is the mix, "
            "its peaks brought under the ceiling",
            markup=False, highlight=False, soft_wrap=True,
        )


def warn_cut_short(paths: List[Path], min_duration_s: float | None = None) -> None:
    """Warn about inputs whose header promises more audio than the file holds
    (``min_duration_s``: the shortest file the command accepts, if not the usual 3 s)."""
    from matcher.io.reading import MIN_DURATION_S, open_audio

    for path in paths:
        problem = open_audio(path, MIN_DURATION_S if min_duration_s is None else min_duration_s).cut_short
        if problem is not None:
            stderr.print(f"automaster: warning: {path}: {problem}", markup=False, highlight=False, soft_wrap=True)


def tell_outcome(
    mix: Path,
    references: List[Path],
    outcome,
    target_reached: bool,
    output_lufs: float | None,
    master: str = "the master is",
) -> None:
    """Everything ``match``, ``suggest`` and ``preview`` say on stderr after fitting: the
    references chosen, inputs cut short, the mix's problems and fixes, and a loudness target
    out of reach. ``outcome`` is a :class:`~matcher.jobs.Mastered` or ``Suggested``."""
    report_choice(outcome.choice)
    warn_cut_short([mix, *references])
    warn_about_the_mix(mix, outcome.analysis, outcome.settings)
    if not target_reached and output_lufs is not None:
        warn_out_of_reach(mix, outcome.settings, output_lufs, master)


def already_matches(analysis, settings) -> bool:
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


def warn_out_of_reach(mix: Path, settings, output_lufs: float, master: str = "the master is") -> None:
    stderr.print(
        f"automaster: warning: {mix}: {settings.loudness.target_lufs:.1f} LUFS is out of reach under a "
        f"{settings.limiter.ceiling_dbtp:.1f} dBTP ceiling (more limiting would only squash the mix); "
        f"{master} {output_lufs:.1f} LUFS",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def frames_of(paths: List[Path]) -> int:
    """Total frames of the files that can be opened (for the progress bar only)."""
    import soundfile as sf

    total = 0
    for p in paths:
        try:
            total += sf.info(str(p)).frames
        except Exception:  # noqa: BLE001 - the real error is reported when the file is opened
            pass
    return total
