"""automaster: reference-matching automatic mastering.

    >>> from matcher import analyze, fit, render
    >>> settings = fit(analyze(mix, rate), analyze(reference, ref_rate))
    >>> master = render(mix, rate, settings)
"""

from matcher.analysis.analyzer import analyze
from matcher.analysis.combine import combine
from matcher.analysis.result import Analysis
from matcher.errors import AudioFileError, AutomasterError, InvalidAudioError, SettingsError
from matcher.fitting.config import FitConfig
from matcher.fitting.fit import fit
from matcher.fitting.settings import EqSettings, LimiterSettings, LoudnessSettings, OutputSettings, Settings
from matcher.rendering.renderer import render

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "AudioFileError",
    "AutomasterError",
    "EqSettings",
    "FitConfig",
    "InvalidAudioError",
    "LimiterSettings",
    "LoudnessSettings",
    "OutputSettings",
    "Settings",
    "SettingsError",
    "analyze",
    "combine",
    "fit",
    "render",
]
