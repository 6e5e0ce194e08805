"""``automaster``: master a mix to match reference tracks, from the command line.

Exit codes: 0 success, 1 unexpected internal error, 2 bad input or usage (the message names
the file and the problem), 130 interrupted.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.console import Console

from matcher._allocator import keep_freed_memory
from matcher.concurrency import prefer_single_threaded_blas
from matcher.errors import AutomasterError

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
SWITCH_INTERVAL_S = 0.0005

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Reference-matching automatic mastering: master a mix so it stands beside the tracks you love.",
)
stdout = Console()
stderr = Console(stderr=True)


class State:
    debug = False


def _print_version(value: bool) -> None:
    if value:
        from matcher import __version__

        stdout.print(f"automaster {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    State.debug = debug


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    stderr.print(f"automaster: error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn package errors into one line on stderr and exit code 2."""
    try:
        yield
    except AutomasterError as exc:
        if State.debug:
            raise
        _fail(str(exc))
    except KeyboardInterrupt:
        stderr.print("automaster: interrupted; no output written")
        raise typer.Exit(EXIT_INTERRUPTED)


@contextmanager
def _progress(total_frames: int, label: str) -> Iterator:
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


def _parse_percent(value: float, name: str) -> float:
    if not 0.0 <= value <= 100.0:
        _fail(f"{name} {value:g} is outside 0-100 %")
    return value / 100.0


MIX_ARGUMENT_HELP = "The mix to master (WAV, FLAC, AIFF, OGG, MP3)."
REF_HELP = "Reference track; repeat for several."
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
REF_OPTION = typer.Option(..., "--ref", "-r", help=REF_HELP)
LUFS_OPTION = typer.Option(None, "--lufs", help=LUFS_HELP)
CEILING_OPTION = typer.Option(-1.0, "--ceiling", help=CEILING_HELP)
EQ_AMOUNT_OPTION = typer.Option(None, "--eq-amount", help=EQ_AMOUNT_HELP)
AMOUNT_OPTION = typer.Option(None, "--amount", help=AMOUNT_HELP)
ONLY_OPTION = typer.Option(None, "--only", help=ONLY_HELP)
NO_FIX_OPTION = typer.Option(None, "--no-fix", help=NO_FIX_HELP)
HIGHPASS_OPTION = typer.Option(20.0, "--highpass", help=HIGHPASS_HELP)
MONO_BELOW_OPTION = typer.Option(None, "--mono-below", help=MONO_BELOW_HELP)
BIT_DEPTH_OPTION = typer.Option("24", "--bit-depth", help=BIT_DEPTH_HELP)


def _names(value: str, allowed: tuple[str, ...], option: str) -> list[str]:
    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    for name in names:
        if name not in allowed:
            _fail(f"{option} {value!r}: unknown {name!r}; choose from {', '.join(allowed)}")
    return names


def _amounts(value: str | None) -> dict[str, float]:
    """``eq=60,width=100`` as fractions per stage."""
    amounts: dict[str, float] = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        name, sep, number = item.partition("=")
        (name,) = _names(name, AMOUNT_STAGES, "--amount") or [""]
        try:
            percent = float(number) if sep else math.nan
        except ValueError:
            percent = math.nan
        if math.isnan(percent):
            _fail(f"--amount {value!r}: {item.strip()!r} is not STAGE=PERCENT")
        amounts[name] = _parse_percent(percent, f"--amount {name}")
    return amounts


def _fit_config(
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
        _fail(f"--bit-depth {bit_depth!r}: choose 16, 24 or 32f")
    amounts = _amounts(amount)
    if eq_amount is not None:
        if "eq" in amounts:
            _fail("give the EQ amount once: --eq-amount or --amount eq=N")
        amounts["eq"] = _parse_percent(eq_amount, "--eq-amount")
    stages = set(_names(only, STAGES, "--only")) if only is not None else set(STAGES)
    fixes = set(FIXES) - set(_names(no_fix or "", FIXES, "--no-fix")) if "fixes" in stages else set()
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
        _fail(str(exc))


def _warn_about_the_mix(mix: Path, analysis, settings=None) -> None:
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
    if settings is not None and _already_matches(analysis, settings):
        stderr.print(
            f"automaster: note: {mix}: already matches the reference (the same audio?): the master is the mix, "
            "its peaks brought under the ceiling",
            markup=False, highlight=False, soft_wrap=True,
        )


def _warn_cut_short(paths: List[Path]) -> None:
    """Warn about inputs whose header promises more audio than the file holds."""
    from matcher.io.reading import open_audio

    for path in paths:
        problem = open_audio(path).cut_short
        if problem is not None:
            stderr.print(f"automaster: warning: {path}: {problem}", markup=False, highlight=False, soft_wrap=True)


def _already_matches(analysis, settings) -> bool:
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


def _warn_out_of_reach(mix: Path, settings, output_lufs: float, master: str = "the master is") -> None:
    stderr.print(
        f"automaster: warning: {mix}: {settings.loudness.target_lufs:.1f} LUFS is out of reach under a "
        f"{settings.limiter.ceiling_dbtp:.1f} dBTP ceiling (more limiting would only squash the mix); "
        f"{master} {output_lufs:.1f} LUFS",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def match(
    mix: Path = typer.Argument(..., help=MIX_ARGUMENT_HELP),
    ref: List[Path] = REF_OPTION,
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Output file (.wav, .flac, .aiff). Default: MIX_master.wav beside the mix."
    ),
    lufs: Optional[float] = LUFS_OPTION,
    ceiling: float = CEILING_OPTION,
    eq_amount: Optional[float] = EQ_AMOUNT_OPTION,
    amount: Optional[str] = AMOUNT_OPTION,
    only: Optional[str] = ONLY_OPTION,
    no_fix: Optional[str] = NO_FIX_OPTION,
    highpass: float = HIGHPASS_OPTION,
    mono_below: Optional[float] = MONO_BELOW_OPTION,
    bit_depth: str = BIT_DEPTH_OPTION,
    save_settings: Optional[Path] = typer.Option(None, "--save-settings", help="Also save the settings as JSON."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing output file."),
) -> None:
    """Master MIX so that it matches the reference track(s): loudness, tonal balance, width and
    loudness range."""
    from matcher.cli.files import master_file
    from matcher.cli.report import print_match_summary
    from matcher.io.writing import output_format, write_text_atomic

    output = output if output is not None else mix.with_name(f"{mix.stem}_master.wav")
    with _errors():
        config = _fit_config(lufs, ceiling, eq_amount, bit_depth, amount, only, no_fix, highpass, mono_below)
        output_format(output, bit_depth)
        total = _frames([mix]) * 3 + _frames(ref)
        with _progress(total, f"mastering {mix.name}") as advance:
            mastered = master_file(mix, ref, output, config, force, advance)
        mix_analysis, settings, report = mastered.analysis, mastered.settings, mastered.report
        _warn_cut_short([mix, *ref])
        _warn_about_the_mix(mix, mix_analysis, settings)
        if save_settings is not None:
            write_text_atomic(save_settings, settings.to_json())
        if not report.target_reached:
            _warn_out_of_reach(mix, settings, report.output_lufs)
        print_match_summary(stdout, output, settings, report)


@app.command()
def suggest(
    mix: Path = typer.Argument(..., help=MIX_ARGUMENT_HELP),
    ref: List[Path] = REF_OPTION,
    lufs: Optional[float] = LUFS_OPTION,
    ceiling: float = CEILING_OPTION,
    eq_amount: Optional[float] = EQ_AMOUNT_OPTION,
    amount: Optional[str] = AMOUNT_OPTION,
    only: Optional[str] = ONLY_OPTION,
    no_fix: Optional[str] = NO_FIX_OPTION,
    highpass: float = HIGHPASS_OPTION,
    mono_below: Optional[float] = MONO_BELOW_OPTION,
    bit_depth: str = BIT_DEPTH_OPTION,
    json_path: Optional[Path] = typer.Option(
        None, "--json", help="Save the settings as JSON (edit them, then: automaster render MIX --settings FILE)."
    ),
) -> None:
    """Show the settings 'match' would use, and what the master would measure; render nothing."""
    from matcher.cli.files import suggest_file
    from matcher.cli.report import print_suggestion
    from matcher.io.writing import write_text_atomic

    with _errors():
        config = _fit_config(lufs, ceiling, eq_amount, bit_depth, amount, only, no_fix, highpass, mono_below)
        with _progress(_frames([mix]) * 2 + _frames(ref), f"analysing {mix.name}") as advance:
            suggested = suggest_file(mix, ref, config, advance)
        mix_analysis, settings, plan = suggested.analysis, suggested.settings, suggested.plan
        _warn_cut_short([mix, *ref])
        _warn_about_the_mix(mix, mix_analysis, settings)
        if json_path is not None:
            write_text_atomic(json_path, settings.to_json())
        if not plan.target_reached and plan.predicted_lufs is not None:
            _warn_out_of_reach(mix, settings, plan.predicted_lufs, "the master would be")
        print_suggestion(stdout, mix, settings, plan)


@app.command()
def render(
    mix: Path = typer.Argument(..., help=MIX_ARGUMENT_HELP),
    settings_path: Path = typer.Option(..., "--settings", "-s", help="Settings JSON (from suggest --json or match --save-settings)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Output file (.wav, .flac, .aiff). Default: MIX_master.wav beside the mix."
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing output file."),
) -> None:
    """Render saved (possibly edited) settings onto MIX exactly: no analysis, no fitting."""
    from matcher.cli.files import render_settings_file
    from matcher.cli.report import print_match_summary
    from matcher.errors import AudioFileError
    from matcher.fitting.settings import Settings
    from matcher.io.writing import output_format

    output = output if output is not None else mix.with_name(f"{mix.stem}_master.wav")
    with _errors():
        try:
            text = settings_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AudioFileError(f"{settings_path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        settings = Settings.from_json(text, str(settings_path))
        output_format(output, settings.output.bit_depth)
        with _progress(_frames([mix]) * 2, f"rendering {mix.name}") as advance:
            report = render_settings_file(mix, settings, output, force, advance)
        _warn_cut_short([mix])
        if not report.target_reached:
            _warn_out_of_reach(mix, settings, report.output_lufs)
        print_match_summary(stdout, output, settings, report)


@app.command()
def analyze(
    file: Path = typer.Argument(..., help="Audio file to analyse."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the full analysis as JSON to this file."),
) -> None:
    """Measure loudness, peaks, loudness range and tonal balance of FILE."""
    from matcher.cli.files import analyze_file
    from matcher.cli.report import print_analysis
    from matcher.io.writing import write_text_atomic

    with _errors():
        with _progress(_frames([file]), f"analysing {file.name}") as advance:
            _, analysis = analyze_file(file, advance)
        _warn_cut_short([file])
        if json_path is not None:
            write_text_atomic(json_path, analysis.to_json())
        print_analysis(stdout, file, analysis)


def _frames(paths: List[Path]) -> int:
    """Total frames of the files that can be opened (for the progress bar only)."""
    import soundfile as sf

    total = 0
    for p in paths:
        try:
            total += sf.info(str(p)).frames
        except Exception:  # noqa: BLE001 - the real error is reported when the file is opened
            pass
    return total


def main() -> None:
    """Console entry point."""
    keep_freed_memory()
    prefer_single_threaded_blas()
    # The engine's threads hand the GIL back and forth at every numpy call; a thread that
    # holds it in pure Python (an import: scipy.fft is 0.2 s of it) would make each of
    # those calls wait up to the default 5 ms switch interval.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        app()
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except Exception as exc:  # noqa: BLE001 - last resort: one line, unless --debug
        if State.debug or "--debug" in sys.argv:
            raise
        stderr.print(f"automaster: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", markup=False)
        code = EXIT_INTERNAL
    else:
        code = 0
    # Every file is written and closed and every thread joined: leave without tearing down
    # each imported module (numpy, scipy, rich: about 70 ms, 5 % of mastering a 3-minute
    # track), as mypy's command line does.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    """The process exit status for a ``SystemExit`` code, as the interpreter would set it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
