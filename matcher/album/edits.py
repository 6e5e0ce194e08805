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


def fade_gain(length: int, curve: str, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Gain rising from 0 to 1 over ``length`` samples (a fade-in; reversed, a fade-out), for
    the samples ``start`` to ``stop`` of the fade (default: all of it).

    Curves: ``linear``; ``sine``, a quarter sine (equal power: two of them crossfade at
    constant power); ``log``, straight in dB from -60 dB to 0 dB (sounds even to the ear);
    ``s-curve``, a half cosine (gentle at both ends).
    """
    stop = length if stop is None else min(stop, length)
    if length <= 0 or stop <= start:
        return np.ones(0)
    index = np.arange(start, stop) + 0.5
    t = index / length
    if curve == "linear":
        return t
    if curve == "sine":
        return np.sin(0.5 * np.pi * t)
    if curve == "log":
        return 10.0 ** (-60.0 * (1.0 - t) / 20.0) * np.minimum(1.0, index / 32.0)
    if curve == "s-curve":
        return 0.5 - 0.5 * np.cos(np.pi * t)
    raise ValueError(f"fade curve {curve!r}")


def apply_fades(audio: np.ndarray, sample_rate_hz: int, fade_in_s: float, fade_out_s: float, curve: str) -> np.ndarray:
    """``audio`` (n, channels) with a fade-in at its start and a fade-out at its end, in place."""
    return Fades(audio.shape[0], sample_rate_hz, fade_in_s, fade_out_s, curve).process(audio)


class Fades:
    """A song's fade-in and fade-out, applied block by block (in place) as the song streams
    past: the same gains as :func:`apply_fades` on the whole song.

    Parameters
    ----------
    frames : int
        The song's length in samples (the fade-out ends at its last sample).
    sample_rate_hz : int
    fade_in_s, fade_out_s : float
    curve : str
        See :func:`fade_gain`.
    """

    def __init__(self, frames: int, sample_rate_hz: int, fade_in_s: float, fade_out_s: float, curve: str):
        fade_gain(1, curve)  # an unknown curve is refused here, not at the first fade
        self.frames = frames
        self.curve = curve
        self.fade_in_samples = min(frames, int(round(fade_in_s * sample_rate_hz)))
        self.fade_out_samples = min(frames, int(round(fade_out_s * sample_rate_hz)))
        self.reset()

    def reset(self) -> None:
        """Back to the song's first sample."""
        self.position = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Fade the next ``block`` (n, channels) in place and return it."""
        start, n = self.position, block.shape[0]
        self.position += n
        fade_in, fade_out = self.fade_in_samples, self.fade_out_samples
        if start < fade_in:
            gain = fade_gain(fade_in, self.curve, start, start + n)
            block[: gain.shape[0]] *= gain[:, None].astype(block.dtype)
        out_start = self.frames - fade_out  # the fade-out's first sample
        if fade_out and start + n > out_start:
            # Sample i of the song has the fade-out gain of fade-in sample frames - 1 - i.
            first = max(start, out_start)
            last = min(start + n, self.frames)
            if last > first:
                gain = fade_gain(fade_out, self.curve, self.frames - last, self.frames - first)[::-1]
                block[first - start : last - start] *= gain[:, None].astype(block.dtype)
        return block
