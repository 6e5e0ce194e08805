"""``automaster library``: keep analysed references in a folder, and group them into styles."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from matcher.cli.common import EXIT_BAD_INPUT, Typer, errors, fail, frames_of, progress, stderr, stdout

library_app = Typer(
    no_args_is_help=True,
    help="Keep analysed references.\n\nAdd, list, show, remove and rescan them, and group them into styles.",
)

LIBRARY_HELP = "The library folder (default: $XDG_DATA_HOME/automaster/library)."
LIBRARY_OPTION = typer.Option(None, "--library", "-l", help=LIBRARY_HELP)


def open_library(folder: Optional[Path]):
    """The library at ``folder``, or the per-user one."""
    from matcher.library.store import Library, default_library_dir

    return Library(folder if folder is not None else default_library_dir())


def say(text: str) -> None:
    """A line on stdout, as it is (file names are never markup)."""
    stdout.print(text)


@library_app.command("add")
def add(
    files: List[Path] = typer.Argument(..., help="Reference tracks to analyse and keep."),
    tag: List[str] = typer.Option([], "--tag", "-t", help="Tag for these references; repeat for several."),
    library: Optional[Path] = LIBRARY_OPTION,
) -> None:
    """Analyse files and keep their profiles.

    Each file is analysed once; the audio is not copied."""
    from matcher.api import library_add

    tags = tuple(dict.fromkeys(t.strip() for t in tag if t.strip()))
    for t in tags:
        if "," in t:
            fail(f"--tag {t!r}: a tag cannot hold a comma")
    with errors():
        open_library(library)
        if library is not None:
            _check_new_library_folder(library)
        with progress(frames_of(files), "analysing references") as advance:
            outcome = library_add(files, library, tags, advance)
    for added in outcome:
        if added.status == "failed":
            stderr.print(f"automaster: error: {added.error}")
        elif added.status == "already":
            say(f"{added.path}: already in the library as {added.name}")
        else:
            say(f"{added.path}: added as {added.name}")
    failed = sum(1 for added in outcome if added.status == "failed")
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


def _check_new_library_folder(folder: Path) -> None:
    """``--library`` of ``add``: an existing folder, or a new one in an existing folder (the
    per-user library is made with its parents; a folder given by hand, as ``batch --out``)."""
    if folder.exists() and not folder.is_dir():
        fail(f"--library {folder}: is a file, not a library folder")
    parent = folder.absolute().parent
    if not folder.exists() and not parent.is_dir():
        fail(f"--library {folder}: its folder {parent} does not exist")


@library_app.command("list")
def list_(library: Optional[Path] = LIBRARY_OPTION) -> None:
    """List the library's profiles."""
    from matcher.library.store import starter_library_dir

    with errors():
        lib = open_library(library)
        if library is None and not lib.root.exists():
            say(
                f"no library of your own yet at {lib.root} (add references: automaster library add FILES; "
                f"the starter library's: automaster library list --library {starter_library_dir()})"
            )
            return
        index = lib.index()
    if len(index) == 0:
        say(f"the library at {lib.root} is empty (add references: automaster library add FILES)")
        return
    stdout.print(profiles_table(f"{lib.root}: {_profiles(len(index))}", index))


def profiles_table(title: str, index):
    """The profiles of an :class:`~matcher.library.store.Index` as a table that keeps every
    value whole in a narrow terminal."""
    from matcher.cli.tables import FittedTable
    from matcher.library.features import FEATURE_NAMES

    lufs = index.features[:, FEATURE_NAMES.index("loudness_lufs")]
    lra = index.features[:, FEATURE_NAMES.index("loudness_range_lu")]
    rows = [
        (
            str(index.names[k]),
            str(index.tags[k]).replace(",", ", "),
            f"{lufs[k]:.1f}",
            f"{lra[k]:.1f}",
            f"{int(index.duration_s[k] // 60)}:{index.duration_s[k] % 60:04.1f}",
            str(index.added[k]),
            str(index.sources[k]),
        )
        for k in range(len(index))
    ]
    return FittedTable.of(
        title,
        ("name", "tags", "LUFS", "LRA", "length", "added", "source"),
        rows,
        numbers=("LUFS", "LRA", "length"),
        whole=("added",),
    )


@library_app.command("show")
def show(
    name: str = typer.Argument(..., help="Profile name (see: automaster library list)."),
    library: Optional[Path] = LIBRARY_OPTION,
) -> None:
    """Show one profile: where it came from, and its analysis."""
    from matcher.cli.report import print_analysis

    with errors():
        profile = open_library(library).get(name)
    say(f"{profile.name}: {profile.source}")
    say(f"sha256 {profile.sha256}, added {profile.added}, tags: {', '.join(profile.tags) or '-'}")
    print_analysis(stdout, Path(profile.name), profile.analysis)


@library_app.command("remove")
def remove(
    names: List[str] = typer.Argument(..., help="Profile names."),
    library: Optional[Path] = LIBRARY_OPTION,
) -> None:
    """Forget profiles (the audio files are not touched). They leave their styles, whose
    centres are made again from the other members."""
    from matcher.api import library_remove

    with errors():
        restyled = library_remove(names, library)
    for name in dict.fromkeys(names):
        say(f"removed {name}")
    tell_restyled(restyled)


@library_app.command("rescan")
def rescan(library: Optional[Path] = LIBRARY_OPTION) -> None:
    """Analyse changed references again.

    Files whose sha256 changed are analysed again; missing ones are reported."""
    from matcher.errors import AutomasterError
    from matcher.jobs import analyze_file
    from matcher.library.store import Profile, file_sha256, today
    from matcher.library.styles import restyle

    counts = {"unchanged": 0, "updated": 0, "missing": 0, "failed": 0}
    updated = []
    with errors():
        lib = open_library(library)
        for name in lib.names():
            profile = lib.get(name)
            source = Path(profile.source)
            if not source.is_file():
                say(f"{name}: {source} is missing; the profile is kept")
                counts["missing"] += 1
                continue
            sha256 = file_sha256(source)
            if sha256 == profile.sha256:
                counts["unchanged"] += 1
                continue
            try:
                _, analysis = analyze_file(source)
            except AutomasterError as exc:
                stderr.print(f"automaster: error: {exc}")
                counts["failed"] += 1
                continue
            lib.replace(Profile(name, sha256, profile.source, profile.tags, today(), analysis))
            say(f"{name}: {source} changed; analysed again")
            counts["updated"] += 1
            updated.append(name)
        tell_restyled(restyle(lib, updated))
    say(", ".join(f"{n} {what}" for what, n in counts.items()))
    if counts["failed"]:
        raise typer.Exit(EXIT_BAD_INPUT)


def tell_restyled(changes) -> None:
    """What :func:`~matcher.library.styles.restyle` did, a line per style."""
    for change in changes:
        if change.members:
            say(f"style {change.name}: now the blend of {', '.join(change.members)}")
        else:
            say(f"style {change.name}: no references left; the style is gone")
    if changes:
        say("(the styles keep their names; to group the library again: automaster library styles)")


@library_app.command("styles")
def styles(
    count: Optional[int] = typer.Option(
        None, "--count", "-n", help="Number of styles (default: chosen by silhouette)."
    ),
    library: Optional[Path] = LIBRARY_OPTION,
) -> None:
    """Group the library into styles.

    k-means on the profiles' features; saved as styles.json in the library, for: automaster
    match MIX --style NAME. Without a library of your own (two references or more), list the
    styles --style uses: the starter library's."""
    from matcher.library.store import Library, starter_library_dir
    from matcher.library.styles import load_styles, make_styles, save_styles

    with errors():
        lib = open_library(library)
        exists = library is not None or lib.root.exists()
        own = len(lib.index()) if exists else 0
        if own >= 2 or (library is not None and not lib.styles_path.is_file()):
            made = make_styles(lib, count)  # fewer than 2 profiles: an error that says so
            save_styles(lib, made)
            title = f"{_count(len(made.styles), 'style')}, saved in {lib.styles_path}"
        elif exists and lib.styles_path.is_file():  # styles left after profiles were removed
            if count is not None:
                fail(f"--count {count}: {lib.root} has {_profiles(own)}; styles need at least 2")
            made = load_styles(lib)
            title = f"{_count(len(made.styles), 'style')} in {lib.styles_path}"
            title += f" ({_profiles(own)}: too few to group again)"
        else:
            if count is not None:
                mine = f"{lib.root} has {_profiles(own)}" if exists else f"no library at {lib.root}"
                fail(
                    f"--count {count}: {mine}, and the starter library's styles are fixed (group your own: "
                    "automaster library add FILES, then automaster library styles)"
                )
            mine = f"{lib.root} has {_profiles(own)} (styles need 2)" if exists else f"no library of your own at {lib.root}"
            say(f"{mine}; the starter library's styles, which --style uses:")
            made = load_styles(Library(starter_library_dir()))
            title = f"the starter library's {len(made.styles)} styles"
    stdout.print(styles_table(title, made))


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _profiles(n: int) -> str:
    return _count(n, "profile")


def styles_table(title: str, made):
    """A :class:`~matcher.library.styles.StyleSet` as a table: name, centre's loudness and
    loudness range, members."""
    from matcher.cli.tables import FittedTable
    from matcher.library.features import FEATURE_NAMES

    rows = []
    for style in made.styles:
        centre = dict(zip(FEATURE_NAMES, style.centre_features))
        lufs, lra = centre["loudness_lufs"], centre["loudness_range_lu"]
        rows.append((style.name, f"{lufs:.1f}", f"{lra:.1f}", ", ".join(style.members)))
    return FittedTable.of(title, ("style", "LUFS", "LRA", "references"), rows, numbers=("LUFS", "LRA"))
