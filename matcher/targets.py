"""Delivery targets: the loudness, ceiling and word length a master is made to for an outlet
(``--target spotify``), from the table the package ships in ``models/platforms.json``.

The table is data, read with :mod:`importlib.resources` from the installed package
(``matcher.models``, mapped from the repository's top-level ``models/`` folder); in a source
checkout that is not installed, from that folder itself. Each figure carries its source.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from dataclasses import dataclass
from pathlib import Path

from matcher.errors import UsageError

TABLE = "platforms.json"


@dataclass(frozen=True)
class Normalisation:
    """A streaming player's loudness normalisation.

    Attributes
    ----------
    reference_lufs : float
        The level it plays every track at.
    raises : bool
        Whether it raises tracks quieter than that (else only turns loud ones down).
    raise_peak_limit_dbtp : float or None
        When raising: the gain stops where the track's true peak reaches this.
    source : str
    """

    reference_lufs: float
    raises: bool
    raise_peak_limit_dbtp: float | None
    source: str


@dataclass(frozen=True)
class PlatformTarget:
    """One outlet's figures.

    Attributes
    ----------
    name : str
        What ``--target`` takes (``spotify``, ``cd``...).
    title : str
    lufs : float or None
        Integrated loudness to master to (None: the references').
    ceiling_dbtp : float
    bit_depth : {"16", "24", "32f"}
    sample_rate_hz : int or None
        The rate the outlet requires (None: the mix's own).
    sources : dict of str to str
        Where each figure comes from, by field name.
    normalisation : Normalisation or None
        What the outlet's player does to a track's level (None: nothing).
    """

    name: str
    title: str
    lufs: float | None
    ceiling_dbtp: float
    bit_depth: str
    sample_rate_hz: int | None
    sources: dict
    normalisation: Normalisation | None = None


def model_path(name: str) -> Path:
    """A file or folder of the shipped models, on disk: in the installed package
    (``matcher.models``), or in a source checkout that is not installed, its ``models/``."""
    try:
        return Path(str(importlib.resources.files("matcher.models") / name))
    except ModuleNotFoundError:
        # matcher/ and models/ side by side.
        return Path(__file__).resolve().parent.parent / "models" / name


def model_text(name: str) -> str:
    """The text of a file of the shipped models."""
    return model_path(name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def platform_targets() -> tuple[PlatformTarget, ...]:
    """Every target of the shipped table, in its order."""
    table = json.loads(model_text(TABLE))
    return tuple(
        PlatformTarget(
            t["name"], t["title"], None if t["lufs"] is None else float(t["lufs"]), float(t["ceiling_dbtp"]),
            str(t["bit_depth"]), None if t["sample_rate_hz"] is None else int(t["sample_rate_hz"]), dict(t["sources"]),
            _normalisation(t.get("normalisation")),
        )
        for t in table["targets"]
    )


def _normalisation(entry: dict | None) -> Normalisation | None:
    if entry is None:
        return None
    limit = entry.get("raise_peak_limit_dbtp")
    return Normalisation(
        float(entry["reference_lufs"]), bool(entry["raises"]), None if limit is None else float(limit), str(entry["source"])
    )


def platform_target(name: str, option: str = "--target") -> PlatformTarget:
    """The target called ``name`` (case-insensitive).

    Raises
    ------
    UsageError
        No such target; the message lists them.
    """
    wanted = str(name).strip().lower()
    for target in platform_targets():
        if target.name == wanted:
            return target
    names = ", ".join(t.name for t in platform_targets())
    raise UsageError(f"{option} {name!r}: unknown target; choose from {names}")
