"""A song's edits: trimming leading and trailing silence, fades in and out."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from matcher.units import db_to_gain


def sound_bounds(blocks: Iterable[np.ndarray], threshold_dbfs: float) -> tuple[int, int] | None:
    """First and one-past-last sample with a magnitude above ``threshold_dbfs`` in any
    channel; None when nothing is.

    Parameters
    ----------
    blocks : iterable of np.ndarray, shape (n, channels)
    threshold_dbfs : float
    """
    level = db_to_gain(threshold_dbfs)
    first = last = None
    position = 0
    for block in blocks:
        loud = np.flatnonzero(np.max(np.abs(block), axis=1) > level)
        if loud.size:
            if first is None:
                first = position + int(loud[0])
            last = position + int(loud[-1]) + 1
        position += block.shape[0]
    return None if first is None else (first, last)


def trim_span(bounds: tuple[int, int] | None, frames: int, sample_rate_hz: int, margin_s: float) -> tuple[int, int]:
    """The span to keep: the sound with ``margin_s`` of silence either side (the whole file
    when there is no sound above the threshold)."""
    if bounds is None:
        return 0, frames
    margin = int(round(margin_s * sample_rate_hz))
    return max(0, bounds[0] - margin), min(frames, bounds[1] + margin)


def fade_gain(length: int, curve: str) -> np.ndarray:
    """Gain rising from 0 to 1 over ``length`` samples (a fade-in; reversed, a fade-out).

    Curves: ``linear``; ``sine``, a quarter sine (equal power: two of them crossfade at
    constant power); ``log``, straight in dB from -60 dB to 0 dB (sounds even to the ear);
    ``s-curve``, a half cosine (gentle at both ends).
    """
    if length <= 0:
        return np.ones(0)
    t = (np.arange(length) + 0.5) / length
    if curve == "linear":
        return t
    if curve == "sine":
        return np.sin(0.5 * np.pi * t)
    if curve == "log":
        return np.where(t > 0, 10.0 ** (-60.0 * (1.0 - t) / 20.0), 0.0) * np.minimum(1.0, t * length / 32.0)
    if curve == "s-curve":
        return 0.5 - 0.5 * np.cos(np.pi * t)
    raise ValueError(f"fade curve {curve!r}")


def apply_fades(audio: np.ndarray, sample_rate_hz: int, fade_in_s: float, fade_out_s: float, curve: str) -> np.ndarray:
    """``audio`` (n, channels) with a fade-in at its start and a fade-out at its end, in place."""
    n = audio.shape[0]
    fade_in = min(n, int(round(fade_in_s * sample_rate_hz)))
    fade_out = min(n, int(round(fade_out_s * sample_rate_hz)))
    if fade_in:
        audio[:fade_in] *= fade_gain(fade_in, curve)[:, None].astype(audio.dtype)
    if fade_out:
        audio[n - fade_out :] *= fade_gain(fade_out, curve)[::-1, None].astype(audio.dtype)
    return audio
