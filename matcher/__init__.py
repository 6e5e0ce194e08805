"""automaster: reference-matching automatic mastering.

    >>> import matcher
    >>> result = matcher.master("mix.wav", ["favourite.wav"], "master.wav", lufs=-14)

or on arrays:

    >>> from matcher import analyze, fit, render
    >>> settings = fit(analyze(mix, rate), analyze(reference, ref_rate))
    >>> master = render(mix, rate, settings)

The names below are imported on first use (PEP 562), so that importing one part of the
package, or starting the command line, does not load numpy and the whole engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Analysis": "matcher.analysis.result",
    "AudioFileError": "matcher.errors",
    "AutomasterError": "matcher.errors",
    "BandCompressor": "matcher.fitting.settings",
    "DynamicsSettings": "matcher.fitting.settings",
    "EqSettings": "matcher.fitting.settings",
    "FixSettings": "matcher.fitting.settings",
    "FitConfig": "matcher.fitting.config",
    "InvalidAudioError": "matcher.errors",
    "MasterResult": "matcher.api",
    "Note": "matcher.notes",
    "Suggestion": "matcher.api",
    "UsageError": "matcher.errors",
    "analyze_file": "matcher.api",
    "master_album": "matcher.api",
    "master_batch": "matcher.api",
    "library_add": "matcher.api",
    "library_remove": "matcher.api",
    "library_styles": "matcher.api",
    "open_library": "matcher.api",
    "master": "matcher.api",
    "master_targets": "matcher.api",
    "preview_report": "matcher.api",
    "render_file": "matcher.api",
    "suggest": "matcher.api",
    "LimiterSettings": "matcher.fitting.settings",
    "LoudnessSettings": "matcher.fitting.settings",
    "OutputSettings": "matcher.fitting.settings",
    "Settings": "matcher.fitting.settings",
    "SettingsError": "matcher.errors",
    "WidthSettings": "matcher.fitting.settings",
    "analyze": "matcher.analysis.analyzer",
    "combine": "matcher.analysis.combine",
    "fit": "matcher.fitting.fit",
    "render": "matcher.rendering.renderer",
}

__all__ = [
    "Analysis",
    "AudioFileError",
    "AutomasterError",
    "BandCompressor",
    "DynamicsSettings",
    "EqSettings",
    "FitConfig",
    "FixSettings",
    "InvalidAudioError",
    "MasterResult",
    "Note",
    "Suggestion",
    "UsageError",
    "analyze_file",
    "master_album",
    "master_batch",
    "library_add",
    "library_remove",
    "library_styles",
    "open_library",
    "master",
    "master_targets",
    "preview_report",
    "render_file",
    "suggest",
    "LimiterSettings",
    "LoudnessSettings",
    "OutputSettings",
    "Settings",
    "SettingsError",
    "WidthSettings",
    "analyze",
    "combine",
    "fit",
    "render",
]

if TYPE_CHECKING:
    from matcher.analysis.analyzer import analyze
    from matcher.api import (
        MasterResult,
        Suggestion,
        analyze_file,
        master_album,
        master_batch,
        library_add,
        library_remove,
        library_styles,
        master,
        master_targets,
        open_library,
        preview_report,
        render_file,
        suggest,
    )
    from matcher.notes import Note
    from matcher.analysis.combine import combine
    from matcher.analysis.result import Analysis
    from matcher.errors import AudioFileError, AutomasterError, InvalidAudioError, SettingsError, UsageError
    from matcher.fitting.config import FitConfig
    from matcher.fitting.fit import fit
    from matcher.fitting.settings import (
        BandCompressor,
        DynamicsSettings,
        EqSettings,
        FixSettings,
        LimiterSettings,
        LoudnessSettings,
        OutputSettings,
        Settings,
        WidthSettings,
    )
    from matcher.rendering.renderer import render


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'matcher' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
