"""``automaster album``: master the songs of an album together, and deliver its CD image."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from matcher.cli.common import (
    AMOUNT_OPTION,
    CEILING_OPTION,
    FORCE_LOUDNESS_OPTION,
    MAX_DISTORTION_OPTION,
    EQ_AMOUNT_OPTION,
    EQ_PHASE_OPTION,
    HIGHPASS_OPTION,
    K_OPTION,
    LIBRARY_CHOICE_OPTION,
    LUFS_OPTION,
    MONO_BELOW_OPTION,
    NO_FIX_OPTION,
    ONLY_OPTION,
    STYLE_OPTION,
    add_column,
    errors,
    new_table,
    option_values,
    print_notes,
    reference_pairs,
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
    k: Optional[int] = K_OPTION,
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
    highpass: Optional[float] = HIGHPASS_OPTION,
    mono_below: Optional[float] = MONO_BELOW_OPTION,
    eq_phase: Optional[str] = EQ_PHASE_OPTION,
    force_loudness: bool = FORCE_LOUDNESS_OPTION,
    max_distortion: Optional[float] = MAX_DISTORTION_OPTION,
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing outputs."),
) -> None:
    """Master an album: its songs together, and its CD image.

    Songs are matched to the references in tone and density, their loudness balanced as the
    mixes had it, trimmed, faded and spaced; per-song files, a 16-bit CD image with its CUE
    sheet (PQ data), and a report."""
    from matcher.api import master_album
    from matcher.notes import choice_note
    from matcher.options import CLI_NAMES

    with errors():
        spec_given = len(inputs) == 1 and inputs[0].suffix.lower() == ".toml"
        result = master_album(
            inputs[0] if spec_given else inputs, output, reference_pairs(ref), library=library, k=k, style=style,
            lufs=lufs, ceiling_dbtp=ceiling if ceiling != -1.0 or not spec_given else None, title=title,
            performer=performer, gap_s=gap, file_format=file_format, quietest_lu=quietest,
            **_stage_options(eq_amount, amount, only, no_fix, highpass, mono_below, eq_phase, force_loudness, max_distortion),
            force=force, names=CLI_NAMES,
        )
    print_notes(choice_note(result.choice))
    _print(result)


def _stage_options(eq_amount, amount, only, no_fix, highpass, mono_below, eq_phase, force_loudness, max_distortion) -> dict:
    """The stage options of the mastering commands (the album sets loudness and format)."""
    values = option_values(
        None, -1.0, eq_amount, "32f", amount, only, no_fix, highpass, mono_below, eq_phase, force_loudness, max_distortion
    )
    keys = (
        "amount", "only", "no_fix", "highpass_hz", "mono_below_hz", "eq_phase", "force_loudness", "max_distortion_db"
    )
    return {key: values[key] for key in keys}


def _print(result) -> None:
    from matcher.album.redbook import SAMPLES_PER_FRAME, msf

    table = new_table(f"album: {result.image} ({result.album_lufs:.1f} LUFS)")
    for heading in ("#", "title", "start", "target", "LUFS", "dBTP", "LRA", "PLR", "Spotify"):
        add_column(table, heading, justify="left" if heading == "title" else "right")
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
        )
    for r in result.songs:
        if r.cd_gain_db < 0:
            stderr.print(
                f"automaster: note: song {r.number} is {-r.cd_gain_db:.2f} dB lower in the CD image than in its file: "
                "resampled to 44.1 kHz, its true peak would have gone over the ceiling",
            )
    if result.channels == 1:
        stderr.print(
            f"automaster: note: the songs are mono, and so are their files; the CD image carries each on both "
            f"channels, where a loudness meter reads it 3.0 dB louder ({result.album_lufs:.1f} LUFS for the album, "
            f"{result.songs_album_lufs:.1f} LUFS in the songs' own files): the same samples, the same peaks",
        )
    stdout.print(
        f"CUE sheet: {result.cue}; report (with every streaming service's gain): {result.report} "
        f"and {result.report.with_suffix('.html').name}",
    )
