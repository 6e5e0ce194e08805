"""``automaster album``: master the songs of an album together, and deliver its CD image."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer

from matcher.cli.common import (
    AMOUNT_OPTION,
    CEILING_OPTION,
    EQ_AMOUNT_OPTION,
    HIGHPASS_OPTION,
    K_OPTION,
    LIBRARY_CHOICE_OPTION,
    LUFS_OPTION,
    MONO_BELOW_OPTION,
    NO_FIX_OPTION,
    ONLY_OPTION,
    STYLE_OPTION,
    errors,
    fail,
    fit_config,
    parse_references,
    reference_target,
    report_choice,
    stderr,
    stdout,
)


def album(
    inputs: List[Path] = typer.Argument(..., help="An album spec (.toml), or the mixes in play order."),
    ref: Optional[List[Path]] = typer.Option(
        None,
        "--ref",
        "-r",
        help="Reference (FILE or FILE:WEIGHT), repeat for several; with mixes, or a spec that names none. Without "
        "--ref, --library or --style, the starter library's references nearest to the album's songs are used.",
    ),
    library: Optional[Path] = LIBRARY_CHOICE_OPTION,
    k: int = K_OPTION,
    style: Optional[str] = STYLE_OPTION,
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the songs, the CD image, its CUE sheet and the report."),
    title: Optional[str] = typer.Option(None, "--title", help="Album title, with mixes."),
    performer: Optional[str] = typer.Option(None, "--performer", help="Album performer, with mixes."),
    gap: float = typer.Option(2.0, "--gap", help="Seconds of silence before each song, with mixes (0: segues)."),
    file_format: str = typer.Option("wav", "--format", help="The songs' files: wav, flac or aiff, with mixes."),
    quietest: float = typer.Option(
        -8.0, "--quietest", help="No song more than this many LU under the loudest (e.g. -8), with mixes."
    ),
    lufs: Optional[float] = LUFS_OPTION,
    ceiling: float = CEILING_OPTION,
    eq_amount: Optional[float] = EQ_AMOUNT_OPTION,
    amount: Optional[str] = AMOUNT_OPTION,
    only: Optional[str] = ONLY_OPTION,
    no_fix: Optional[str] = NO_FIX_OPTION,
    highpass: float = HIGHPASS_OPTION,
    mono_below: Optional[float] = MONO_BELOW_OPTION,
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing outputs."),
) -> None:
    """Master an album: songs matched to the references in tone and density, their loudness
    balanced as the mixes had it, trimmed, faded and spaced; per-song files, a 16-bit CD
    image with its CUE sheet (PQ data), and a report."""
    from matcher.album.master import master_album
    from matcher.album.spec import FORMATS, load_spec, spec_from_files

    with errors():
        if len(inputs) == 1 and inputs[0].suffix.lower() == ".toml":
            spec = load_spec(inputs[0])
            if spec.references and (ref or library is not None or style is not None):
                fail(f"{inputs[0]}: names its references; give them there or with --ref/--library/--style, not both")
            if lufs is not None or ceiling != -1.0:
                spec = _with(spec, lufs, ceiling)
        else:
            if file_format not in FORMATS:
                fail(f"--format {file_format!r}: choose {', '.join(FORMATS)}")
            if gap < 0:
                fail(f"--gap {gap:g}: must be 0 or more seconds")
            if not -40.0 <= quietest <= 0.0:
                fail(f"--quietest {quietest:g}: choose -40 to 0 LU")
            spec = spec_from_files(
                inputs, [], lufs, ceiling, title=title or "Untitled", performer=performer,
                gap_s=gap, format=file_format, quietest_lu=quietest,
            )
        # The album's references, as match takes them: --ref files, or else chosen once for
        # the whole album from --library, --style or the starter library.
        _, _, choose = reference_target(ref, library, k, style)
        if ref:
            spec = replace(spec, references=tuple(str(r) for r in ref))
        config = fit_config(None, spec.ceiling_dbtp, eq_amount, "32f", amount, only, no_fix, highpass, mono_below)
        created = not output.is_dir()
        if created:
            if not output.parent.is_dir():
                fail(f"{output}: folder {output.parent} does not exist")
            output.mkdir()
        try:
            result = master_album(spec, output, config, force, parse_references=_references, choose=choose)
        except BaseException:
            if created and not any(output.iterdir()):
                output.rmdir()  # nothing was delivered: leave no trace
            raise
    report_choice(result.choice)
    _print(result)


def _with(spec, lufs, ceiling):
    return replace(spec, lufs=lufs if lufs is not None else spec.lufs, ceiling_dbtp=ceiling)


def _references(values):
    paths, weights = parse_references([Path(v) for v in values])
    return paths, weights


def _print(result) -> None:
    from rich.table import Table

    from matcher.album.redbook import SAMPLES_PER_FRAME, msf

    table = Table(title=f"album: {result.image} ({result.album_lufs:.1f} LUFS)", title_justify="left")
    for heading in ("#", "title", "start", "target", "LUFS", "dBTP", "LRA", "PLR", "Spotify"):
        if heading == "title":
            table.add_column(heading, overflow="fold", min_width=10)
        else:
            table.add_column(heading, justify="right", no_wrap=True)
    for r in result.songs:
        gains = {g.service: g.gain_db for g in r.streaming}
        table.add_row(
            str(r.number),
            r.title,
            msf(r.start_samples // SAMPLES_PER_FRAME),
            f"{r.target_lufs:.1f}",
            f"{r.lufs:.1f}",
            f"{r.true_peak_dbtp:.1f}",
            f"{r.loudness_range_lu:.1f}",
            f"{r.plr_db:.1f}",
            f"{gains.get('Spotify', 0.0):+.1f}",
        )
    stdout.print(table)
    if result.shift_db:
        stderr.print(
            f"automaster: note: the album is {-result.shift_db:.1f} dB under its target so that every song keeps "
            "its level relative to the others under the ceiling",
            markup=False,
        )
    if result.channels == 1:
        stderr.print(
            f"automaster: note: the songs are mono, and so are their files; the CD image carries each on both "
            f"channels, where a loudness meter reads it 3.0 dB louder ({result.album_lufs:.1f} LUFS for the album, "
            f"{result.songs_album_lufs:.1f} LUFS in the songs' own files): the same samples, the same peaks",
            markup=False,
            highlight=False,
        )
    stdout.print(
        f"CUE sheet: {result.cue}; report (with every streaming service's gain): {result.report} "
        f"and {result.report.with_suffix('.html').name}",
        markup=False,
        highlight=False,
    )
