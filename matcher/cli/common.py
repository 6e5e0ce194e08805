"""What the command-line modules share: consoles, error handling, progress, the options of
the mastering commands and the warnings about a mix."""

from __future__ import annotations

import math
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

import typer
from rich.console import Console, ConsoleDimensions
from rich.table import Table
from typer.core import TyperCommand

from matcher.errors import AutomasterError

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
UNWRAPPED_WIDTH = 100_000
"""The width a console reports when it writes to a pipe or a file: never reached, so that
nothing is wrapped and every table is drawn at its natural width."""


class PlainConsole(Console):
    """A rich console for automaster's output: nothing the user wrote is ever read as markup
    or emoji codes (a file named ``[bold]x.wav`` or ``x.wav:smile:`` prints as it is), and
    lines are never broken by us: on a terminal long lines are left for the terminal to fold
    (a path copied from it stays whole) and tables fold their cells to the terminal's width;
    to a pipe or a file nothing is wrapped at all, whatever ``COLUMNS`` says."""

    def __init__(self, **kwargs):
        super().__init__(markup=False, emoji=False, highlight=False, soft_wrap=True, **kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        if not self.is_terminal:
            return ConsoleDimensions(UNWRAPPED_WIDTH, 25)
        return Console.size.fget(self)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


stdout = PlainConsole()
stderr = PlainConsole(stderr=True)


def new_table(title: str | None = None, show_header: bool = True) -> Table:
    """A table whose cells fold onto more lines in a narrow terminal instead of being cut
    (add its columns with :func:`add_column`)."""
    return Table(title=title, show_header=show_header, title_justify="left")


def add_column(table: Table, heading: str = "", justify: str = "left", style: str | None = None) -> None:
    """A column that folds its cells (long words included) rather than cutting them."""
    table.add_column(heading, justify=justify, style=style, overflow="fold", no_wrap=False)


class State:
    debug = False


class _Command(TyperCommand):
    """A command whose usage line names its arguments as click does (``MIX``, ``FILES...``),
    not as typer's ``{mix}``."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [re.sub(r"\{([^}]*)\}", lambda m: m.group(1).upper(), piece) for piece in super().collect_usage_pieces(ctx)]


class Typer(typer.Typer):
    """automaster's command groups: plain help text (its lines joined into paragraphs, no
    markup read in it) and usage lines in click's style."""

    def __init__(self, **kwargs):
        super().__init__(rich_markup_mode=None, **kwargs)

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or _Command, **kwargs)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    stderr.print(f"automaster: error: {message}")
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
        stderr.print("automaster: interrupted (no partial file is left)")
        raise typer.Exit(EXIT_INTERRUPTED)


@contextmanager
def progress(total_frames: int, label: str) -> Iterator:
    """A progress bar on stderr for long jobs on a terminal; a no-op callback otherwise."""
    if not (stderr.is_terminal and total_frames > 0):
        yield lambda frames: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total_frames)
        yield lambda frames: progress.advance(task, frames)


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
HIGHPASS_HELP = "Corner of the subsonic high-pass (Hz, 24 dB/octave; default 20)."
MONO_BELOW_HELP = "Make the image mono below this frequency (Hz)."
BIT_DEPTH_HELP = "Output sample format: 16, 24 or 32f."
EQ_PHASE_HELP = (
    "Phase of the EQ's filters: mixed (default: the EQ minimum-phase, nothing rings ahead of a "
    "transient, and the width linear-phase, the image exact), minimum (everything minimum-phase), "
    "or linear (no phase shift, but pre-echo before transients)."
)

# Options match and suggest share: declared once, so the two commands cannot drift apart.
REF_OPTION = typer.Option(None, "--ref", "-r", help=REF_HELP)
LIBRARY_CHOICE_OPTION = typer.Option(
    None, "--library", "-l", help="Choose the references from this library: the --k nearest to the mix, blended."
)
K_OPTION = typer.Option(None, "--k", help="How many of the library's nearest references to blend (default 3).")
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
HIGHPASS_OPTION = typer.Option(None, "--highpass", help=HIGHPASS_HELP)
MONO_BELOW_OPTION = typer.Option(None, "--mono-below", help=MONO_BELOW_HELP)
BIT_DEPTH_OPTION = typer.Option("24", "--bit-depth", help=BIT_DEPTH_HELP)
TARGETED_CEILING_OPTION = typer.Option(None, "--ceiling", help=CEILING_HELP + " Default -1.0, or the --target's.")
TARGETED_BIT_DEPTH_OPTION = typer.Option(None, "--bit-depth", help=BIT_DEPTH_HELP + " Default 24, or the --target's.")
DITHER_OPTION = typer.Option(
    None, "--dither",
    help="Dither of a 16-bit master: tpdf (default), hp-tpdf (high-pass TPDF: 4.6 dB less noise below 2 kHz), "
         "shaped (error-feedback noise shaping, F-weighted: about 12 dB less noise below 2 kHz and 22 dB less at "
         "2-5 kHz, more above 15 kHz; at 44.1 and 48 kHz, needs automaster[ffmpeg]) or none.",
)
NO_LIMITER_OPTION = typer.Option(
    False, "--no-limiter",
    help="No limiter: the master peak-normalised to the ceiling (one gain), no louder than that allows.",
)
SAMPLE_RATE_OPTION = typer.Option(
    None, "--sample-rate",
    help="The master's sample rate in Hz (the mix is resampled with libsoxr before the chain). Default: the mix's, "
         "or the --target's.",
)
TARGET_OPTION = typer.Option(
    None, "--target",
    help="Master for an outlet: spotify, apple-music, youtube, tidal, amazon, deezer, cd, ebu-r128 or podcast "
         "(its loudness, ceiling and word length, where --lufs, --ceiling and --bit-depth are not given; "
         "automaster targets lists them with their sources).",
)
EQ_PHASE_OPTION = typer.Option(None, "--eq-phase", help=EQ_PHASE_HELP)
FORCE_LOUDNESS_OPTION = typer.Option(
    False, "--force-loudness",
    help="Reach the loudness target even past the distortion budget (faster limiting, more clipping).",
)
MAX_DISTORTION_OPTION = typer.Option(
    None, "--max-distortion",
    help="The loudness chain's distortion budget: the most it may add against a slowly varying gain (dB; default -16).",
)


def parse_amounts(value: str | None) -> dict[str, float]:
    """``eq=60,width=100`` as percents per stage (checked by :func:`matcher.options.fit_config`)."""
    amounts: dict[str, float] = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        name, sep, number = item.partition("=")
        try:
            percent = float(number) if sep else math.nan
        except ValueError:
            percent = math.nan
        if math.isnan(percent):
            fail(f"--amount {value!r}: {item.strip()!r} is not STAGE=PERCENT")
        amounts[name.strip().lower()] = percent
    return amounts


def split_references(values: List[Path] | None) -> tuple[List[Path], List[float | None]]:
    """``--ref`` values, each ``FILE`` or ``FILE:WEIGHT``, as paths and the weights given
    (None where none; see :func:`matcher.options.split_weight`)."""
    from matcher.options import split_weight

    pairs = [split_weight(v) for v in values or []]
    return [p for p, _ in pairs], [w for _, w in pairs]


def reference_pairs(values: List[Path] | None) -> list:
    """``--ref`` values as the API's references: a path, or a path and its share."""
    return [p if w is None else (p, w) for p, w in zip(*split_references(values))]


def reference_target(ref: List[Path] | None, library: Path | None, k: int | None, style: str | None):
    """The references of the mastering options: ``(paths, weights, chooser)`` (see
    :func:`matcher.options.reference_target`)."""
    from matcher.options import reference_target as target

    paths, given = split_references(ref)
    return target(list(zip(paths, given)), library, k, style)


def option_values(
    lufs: float | None,
    ceiling: float | None,
    eq_amount: float | None,
    bit_depth: str | None,
    amount: str | None = None,
    only: str | None = None,
    no_fix: str | None = None,
    highpass: float | None = None,
    mono_below: float | None = None,
    eq_phase: str | None = None,
    force_loudness: bool = False,
    max_distortion: float | None = None,
    target: str | None = None,
    sample_rate: int | None = None,
    no_limiter: bool = False,
    dither: str | None = None,
) -> dict:
    """The mastering options of the command line as the Python API's keyword arguments."""
    amounts = parse_amounts(amount)
    if eq_amount is not None:
        if "eq" in amounts:
            fail("give the EQ amount once: --eq-amount or --amount eq=N")
        if not 0.0 <= eq_amount <= 100.0:
            fail(f"--eq-amount {eq_amount:g} is outside 0-100 %")
        amounts["eq"] = eq_amount
    return dict(
        lufs=lufs,
        ceiling_dbtp=ceiling,
        amount=amounts,
        only=None if only is None else only.split(","),
        no_fix=(no_fix or "").split(","),
        highpass_hz=highpass,
        mono_below_hz=mono_below,
        bit_depth=bit_depth,
        eq_phase=eq_phase,
        force_loudness=force_loudness,
        max_distortion_db=max_distortion,
        **({} if target is None else {"target": target}),
        **({} if sample_rate is None else {"sample_rate_hz": sample_rate}),
        **({"limiter": False} if no_limiter else {}),
        **({} if dither is None else {"dither": dither}),
    )


def fit_config(*values):
    """The FitConfig of the mastering options (see :func:`matcher.options.fit_config`)."""
    from matcher.options import fit_config as config

    options = option_values(*values)
    options["amounts"] = options.pop("amount")
    return config(**options)


def print_notes(notes) -> None:
    """Notes (:mod:`matcher.notes`) on stderr, one line each."""
    for note in notes:
        stderr.print(f"automaster: {note.kind}: {note}")


def print_pages(report_page: Path | None, plot: Path | None) -> None:
    if report_page is not None:
        stdout.print(f"report written: {report_page}")
    if plot is not None:
        stdout.print(f"tonal curves written: {plot}")


def is_stdout(path: Path) -> bool:
    """``-`` names standard output."""
    return str(path) == "-"


def print_json(text: str) -> None:
    """JSON on standard output, as it is (nothing else goes there)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


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
