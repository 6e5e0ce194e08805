"""Seeded test material for ``bench_quality.py``: sines, two tones, drum hits with silent
gaps, a drums-bass-pad loop, a pad under a kick, breaks and fades. Stereo float64 of shape
(samples, channels), full scale +-1; every generator that draws noise takes its own seed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import signal

EDGE_FADE_S = 0.05
PAD_PARTIALS_HZ = (523.25, 659.26, 783.99)  # C5 E5 G5: above the kick, 125 Hz or more apart


def raised_cosine_edges(x: np.ndarray, fade_s: float, sample_rate: int) -> np.ndarray:
    """``x`` with raised-cosine fades of ``fade_s`` at both ends (a new array)."""
    m = min(round(fade_s * sample_rate), x.shape[0] // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(m) / m)
    y = np.array(x, dtype=np.float64)
    y[:m] *= ramp[:, None]
    y[y.shape[0] - m :] *= ramp[::-1, None]
    return y


def stereo(mono: np.ndarray) -> np.ndarray:
    """The same signal in both channels."""
    return np.repeat(mono[:, None], 2, axis=1)


def sine(freq_hz: float, duration_s: float, sample_rate: int, peak_dbfs: float) -> np.ndarray:
    """A steady stereo sine with short fades at both ends."""
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    tone = 10.0 ** (peak_dbfs / 20.0) * np.sin(2 * np.pi * freq_hz * t)
    return raised_cosine_edges(stereo(tone), EDGE_FADE_S, sample_rate)


def two_tone(low_hz: float, high_hz: float, duration_s: float, sample_rate: int, peak_dbfs: float) -> np.ndarray:
    """SMPTE RP 120 two-tone signal: ``low_hz`` and ``high_hz`` at 4:1 amplitude, the sum
    peaking at ``peak_dbfs``."""
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    tones = 0.8 * np.sin(2 * np.pi * low_hz * t) + 0.2 * np.sin(2 * np.pi * high_hz * t)
    return raised_cosine_edges(stereo(tones * 10.0 ** (peak_dbfs / 20.0)), EDGE_FADE_S, sample_rate)


@dataclasses.dataclass(frozen=True)
class Hits:
    """Drum hits and where they start (sample indices)."""

    audio: np.ndarray
    kicks: tuple[int, ...]
    snares: tuple[int, ...]


def kick_sound(sample_rate: int, length_s: float = 0.3, decay_per_s: float = 12.0) -> np.ndarray:
    """A kick with a sharp onset: a cosine sweeping 160 Hz down to 50 Hz, at full amplitude
    from its first sample, decaying, with a 20 ms fade at its end; shape (samples,)."""
    tt = np.arange(round(length_s * sample_rate)) / sample_rate
    phase = 2 * np.pi * (50.0 * tt + 110.0 / 30.0 * (1.0 - np.exp(-30.0 * tt)))
    kick = np.cos(phase) * np.exp(-decay_per_s * tt)
    m = round(0.02 * sample_rate)
    kick[-m:] *= np.linspace(1.0, 0.0, m)
    return kick


def snare_sound(sample_rate: int, seed: int, length_s: float = 0.2) -> np.ndarray:
    """A snare with a sharp onset: a 190 Hz tone and noise (stereo), decaying; (samples, 2)."""
    rng = np.random.default_rng(seed)
    n = round(length_s * sample_rate)
    tt = np.arange(n) / sample_rate
    body = 0.5 * np.cos(2 * np.pi * 190.0 * tt) * np.exp(-30.0 * tt)
    noise = 0.6 * rng.standard_normal((n, 2)) * np.exp(-25.0 * tt)[:, None]
    snare = body[:, None] + noise
    m = round(0.02 * sample_rate)
    snare[-m:] *= np.linspace(1.0, 0.0, m)[:, None]
    return snare


def drum_hits(duration_s: float, sample_rate: int, seed: int, period_s: float = 2.0, peak_dbfs: float = -6.0) -> Hits:
    """A kick every ``period_s`` (from 0.5 s on) and a snare half a period after each, each
    preceded by digital silence (the hits last 0.3 s at most)."""
    n = round(duration_s * sample_rate)
    x = np.zeros((n, 2))
    kick = kick_sound(sample_rate)
    kicks, snares = [], []
    for i, start_s in enumerate(np.arange(0.5, duration_s - period_s / 2.0, period_s)):
        k = round(start_s * sample_rate)
        x[k : k + kick.size] += kick[:, None]
        s = round((start_s + period_s / 2.0) * sample_rate)
        snare = snare_sound(sample_rate, seed + i)
        x[s : s + snare.shape[0]] += 0.7 * snare
        kicks.append(k)
        snares.append(s)
    x *= 10.0 ** (peak_dbfs / 20.0) / np.abs(x).max()
    return Hits(x, tuple(kicks), tuple(snares))


def music(duration_s: float, sample_rate: int, seed: int, bpm: float = 120.0) -> np.ndarray:
    """Drums, bass and pad, like ``tests/signals.py``'s drum loop: a kick on every beat, a
    snare on the off-beats, a bass line (55 and 82.5 Hz, two bars each), a four-note pad, a
    little noise; 0.01 s fades. Peaks near 0 dBFS."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    beat_s = 60.0 / bpm
    x = np.zeros((n, 2))
    kick = 0.9 * kick_sound(sample_rate)
    for i, start_s in enumerate(np.arange(0.0, duration_s, beat_s)):
        k = round(start_s * sample_rate)
        m = min(n - k, kick.size)
        x[k : k + m] += kick[:m, None]
        s = round((start_s + beat_s / 2.0) * sample_rate)
        if s < n:
            snare = 0.5 * snare_sound(sample_rate, seed * 1000 + i)
            m = min(n - s, snare.shape[0])
            x[s : s + m] += snare[:m]
    bar_s = 4 * beat_s
    bass = 0.3 * np.sin(2 * np.pi * 55.0 * t * (1.0 + 0.5 * (np.floor(t / (2 * bar_s)) % 2)))
    pad = 0.06 * sum(np.sin(2 * np.pi * f * t + p) for f, p in ((220.0, 0.0), (277.2, 1.0), (329.6, 2.0), (440.0, 3.0)))
    x += bass[:, None]
    x[:, 0] += pad
    x[:, 1] += 0.8 * pad
    x += 0.01 * rng.standard_normal((n, 2))
    return raised_cosine_edges(x, 0.01, sample_rate)


def with_break(
    x: np.ndarray, sample_rate: int, start_s: float, length_s: float, hiss_dbfs: float, seed: int
) -> np.ndarray:
    """``x`` with the span from ``start_s`` replaced by white hiss of RMS ``hiss_dbfs`` per
    channel (10 ms crossfades at both ends)."""
    rng = np.random.default_rng(seed)
    lo, hi = round(start_s * sample_rate), round((start_s + length_s) * sample_rate)
    keep = np.ones(x.shape[0])
    m = round(0.01 * sample_rate)
    keep[lo:hi] = 0.0
    keep[lo - m : lo] = np.linspace(1.0, 0.0, m)
    keep[hi : hi + m] = np.linspace(0.0, 1.0, m)
    hiss = np.zeros_like(x)
    hiss[lo:hi] = 10.0 ** (hiss_dbfs / 20.0) * rng.standard_normal((hi - lo, x.shape[1]))
    hiss[lo:hi] = raised_cosine_edges(hiss[lo:hi], 0.01, sample_rate)
    return x * keep[:, None] + hiss


def with_fade_out(x: np.ndarray, sample_rate: int, length_s: float, depth_db: float) -> np.ndarray:
    """``x`` faded over its last ``length_s`` by ``depth_db``, linearly in dB."""
    start = x.shape[0] - round(length_s * sample_rate)
    gain_db = np.zeros(x.shape[0])
    gain_db[start:] = -depth_db * np.arange(x.shape[0] - start) / (x.shape[0] - start - 1)
    return x * 10.0 ** (gain_db / 20.0)[:, None]


@dataclasses.dataclass(frozen=True)
class PadAndKick:
    """A sustained pad under a kick, and where the kicks start (sample indices)."""

    audio: np.ndarray
    kicks: tuple[int, ...]
    partials_hz: tuple[float, ...]
    beat_s: float


def pad_under_kick(duration_s: float, sample_rate: int, bpm: float = 120.0) -> PadAndKick:
    """A C major pad (sines at ``PAD_PARTIALS_HZ``, 0.05 each, 1 s fades) under a kick on
    every beat (0.8 peak, 0.4 s, slower decay), from the first beat on."""
    n = round(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    pad = sum(0.05 * np.sin(2 * np.pi * f * t + i) for i, f in enumerate(PAD_PARTIALS_HZ))
    x = raised_cosine_edges(stereo(pad), 1.0, sample_rate)
    beat_s = 60.0 / bpm
    kick = 0.8 * kick_sound(sample_rate, length_s=0.4, decay_per_s=8.0)
    kicks = []
    for start_s in np.arange(beat_s, duration_s - 0.4, beat_s):
        k = round(start_s * sample_rate)
        x[k : k + kick.size] += kick[:, None]
        kicks.append(k)
    return PadAndKick(x, tuple(kicks), PAD_PARTIALS_HZ, beat_s)


def low_boost_high_cut(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``x`` low-passed at 2 kHz (4th-order Butterworth) with +10 dB below 100 Hz (a
    2nd-order Butterworth low-pass at 100 Hz added in at +10 dB)."""
    lowpass = signal.butter(4, 2000.0, fs=sample_rate, output="sos")
    bass = signal.butter(2, 100.0, fs=sample_rate, output="sos")
    y = signal.sosfilt(lowpass, x, axis=0)
    return y + (10.0 ** (10.0 / 20.0) - 1.0) * signal.sosfilt(bass, y, axis=0)
