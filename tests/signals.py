"""Seeded test signals, shape (samples, channels), float64, full scale ±1.

Each generator takes its own ``seed`` and uses a private ``numpy.random.Generator``, so no
test touches global random state.
"""

from __future__ import annotations

import numpy as np
import scipy.signal


def sine(freq_hz: float, duration_s: float, sample_rate_hz: int, amplitude: float = 0.5,
         channels: int = 2, phase: float = 0.0, fade_s: float = 0.01) -> np.ndarray:
    """A sine with raised-cosine fades, the same in every channel."""
    t = np.arange(int(duration_s * sample_rate_hz)) / sample_rate_hz
    x = amplitude * np.sin(2 * np.pi * freq_hz * t + phase)
    return np.repeat(_fade(x, fade_s, sample_rate_hz)[:, None], channels, axis=1)


def white_noise(duration_s: float, sample_rate_hz: int, rms: float = 0.1, channels: int = 2,
                seed: int = 0) -> np.ndarray:
    """Independent Gaussian white noise in each channel."""
    rng = np.random.default_rng(seed)
    return rms * rng.standard_normal((int(duration_s * sample_rate_hz), channels))


def pink_noise(duration_s: float, sample_rate_hz: int, rms: float = 0.1, channels: int = 2,
               seed: int = 0, correlation: float = 0.0) -> np.ndarray:
    """Pink (-3 dB/octave) noise; ``correlation`` mixes a common part into every channel."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate_hz)
    spectrum = rng.standard_normal((n // 2 + 1, channels)) + 1j * rng.standard_normal((n // 2 + 1, channels))
    common = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    spectrum = np.sqrt(1 - correlation) * spectrum + np.sqrt(correlation) * common[:, None]
    f = np.arange(n // 2 + 1) * sample_rate_hz / n
    spectrum /= np.sqrt(np.maximum(f, 10.0))[:, None]
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n=n, axis=0)
    return x * rms / np.sqrt(np.mean(x**2))


def tilted_noise(duration_s: float, sample_rate_hz: int, tilt_db_per_octave: float, rms: float = 0.1,
                 channels: int = 2, seed: int = 0, correlation: float = 0.5) -> np.ndarray:
    """Pink noise tilted by ``tilt_db_per_octave`` about 1 kHz (positive: brighter)."""
    x = pink_noise(duration_s, sample_rate_hz, 1.0, channels, seed, correlation)
    spectrum = np.fft.rfft(x, axis=0)
    f = np.maximum(np.fft.rfftfreq(x.shape[0], 1.0 / sample_rate_hz), 10.0)
    spectrum *= (10.0 ** (tilt_db_per_octave * np.log2(f / 1000.0) / 20.0))[:, None]
    y = np.fft.irfft(spectrum, n=x.shape[0], axis=0)
    return y * rms / np.sqrt(np.mean(y**2))


def drum_loop(duration_s: float, sample_rate_hz: int, seed: int = 0, channels: int = 2) -> np.ndarray:
    """Music-like test material: decaying kicks, noise snares, a bass line and a pad."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    beat_s = 0.5
    x = np.zeros((n, channels))
    for start in np.arange(0, duration_s, beat_s):
        i = int(start * sample_rate_hz)
        m = min(n - i, int(0.3 * sample_rate_hz))
        tt = np.arange(m) / sample_rate_hz
        kick = 0.9 * np.sin(2 * np.pi * (50 + 80 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 12)
        x[i : i + m] += kick[:, None]
        j = i + int(beat_s / 2 * sample_rate_hz)
        if j < n:
            k = min(n - j, int(0.15 * sample_rate_hz))
            snare = 0.4 * rng.standard_normal((k, channels)) * np.exp(-np.arange(k) / sample_rate_hz * 25)[:, None]
            x[j : j + k] += snare
    bass = 0.3 * np.sin(2 * np.pi * 55 * t * (1 + 0.5 * (np.floor(t / 2) % 2)))
    pad = 0.08 * sum(np.sin(2 * np.pi * f * t + p) for f, p in ((220, 0), (277.2, 1), (329.6, 2), (440, 3)))
    x += bass[:, None]
    x[:, 0] += pad
    x[:, -1] += 0.8 * pad
    x += 0.01 * rng.standard_normal((n, channels))
    return _fade(x, 0.01, sample_rate_hz)


def click_drums(sample_rate_hz: int, hits: int = 6, spacing_s: float = 1.0, seed: int = 0,
                amplitude: float = 0.25) -> tuple[np.ndarray, list[int]]:
    """Click kicks and snares, alternating, each after silence: the material that exposes an
    EQ's pre-echo. Returns the stereo signal and the onsets (samples).

    A kick is a 1 ms broadband click on a sine falling from 150 Hz to 50 Hz, the same in
    both channels (all mid); a snare is a 180 Hz body under decaying noise that differs
    between the channels (mid and side). Each lasts 0.3 s and ends in a 20 ms fade to
    exact silence; onsets are ``spacing_s`` apart, the first 0.6 s in.
    """
    rng = np.random.default_rng(seed)
    length = int(0.3 * sample_rate_hz)
    t = np.arange(length) / sample_rate_hz
    fade = np.minimum(1.0, (length - np.arange(length)) / (0.02 * sample_rate_hz))
    x = np.zeros((int((hits + 1) * spacing_s * sample_rate_hz), 2))
    onsets = []
    for k in range(hits):
        start = int((k + 0.6) * spacing_s * sample_rate_hz)
        onsets.append(start)
        if k % 2 == 0:
            sweep = 2 * np.pi * (50.0 * t + 100.0 / 25.0 * (1.0 - np.exp(-25.0 * t)))
            click = np.exp(-t * 1000.0) * rng.standard_normal(length)
            hit = np.repeat((np.sin(sweep) * np.exp(-t * 8.0) + 0.6 * click)[:, None], 2, axis=1)
        else:
            body = 0.5 * np.sin(2 * np.pi * 180.0 * t) * np.exp(-t * 20.0)
            hit = body[:, None] + 0.6 * rng.standard_normal((length, 2)) * np.exp(-t * 18.0)[:, None]
        x[start : start + length] += amplitude * hit * fade[:, None]
    return x, onsets


def pre_echo(y: np.ndarray, onsets: list[int], sample_rate_hz: int) -> tuple[float, float]:
    """An output's ringing ahead of the onsets of :func:`click_drums`, worst over onsets.

    Returns
    -------
    pre_echo_db : float
        Energy 5-50 ms before an onset over the energy of the 10 ms from it (dB; both
        channels).
    earliest_ms : float
        How long before an onset the output first exceeds -60 dB of the onset's peak (the
        largest sample in its first 10 ms), looking back 0.5 s; 0 if never.
    """
    ms = lambda value: int(round(value * sample_rate_hz / 1000.0))
    worst_db, earliest_ms = -np.inf, 0.0
    for onset in onsets:
        attack = y[onset : onset + ms(10)]
        ahead = y[onset - ms(50) : onset - ms(5)]
        worst_db = max(worst_db, 10 * np.log10(max(np.sum(ahead**2), 1e-30) / np.sum(attack**2)))
        before = np.max(np.abs(y[onset - ms(500) : onset]), axis=1)
        audible = np.nonzero(before > np.max(np.abs(attack)) * 10 ** (-60 / 20))[0]
        if audible.size:
            earliest_ms = max(earliest_ms, (before.shape[0] - audible[0]) * 1000.0 / sample_rate_hz)
    return float(worst_db), earliest_ms


def stepped_sine(levels_db: list[float], step_s: float, sample_rate_hz: int, freq_hz: float = 1000.0,
                 channels: int = 2) -> np.ndarray:
    """A sine whose level steps through ``levels_db`` (dBFS peak per channel), ``step_s`` each."""
    t = np.arange(int(step_s * sample_rate_hz * len(levels_db))) / sample_rate_hz
    gain = np.repeat(10.0 ** (np.asarray(levels_db) / 20.0), int(step_s * sample_rate_hz))
    x = gain * np.sin(2 * np.pi * freq_hz * t)
    return np.repeat(x[:, None], channels, axis=1)


def tone_segments(segments: list[tuple[float, float | None]], sample_rate_hz: int, freq_hz: float = 1000.0,
                  channels: int = 2) -> np.ndarray:
    """One sine whose per-channel peak level steps through ``segments``, no fades.

    Each segment is ``(duration_s, level_dbfs)``, ``None`` for silence. The sine runs on
    unbroken through the steps (its phase is continuous); segment edges are rounded to
    samples from the running total, so that durations such as 0.15 s add up without drift.
    The EBU Tech 3341 and 3342 test tones are built this way.
    """
    edges = np.round(np.cumsum([0.0] + [d for d, _ in segments]) * sample_rate_hz).astype(np.int64)
    gain = np.zeros(edges[-1])
    for (_, level_db), start, end in zip(segments, edges[:-1], edges[1:]):
        if level_db is not None:
            gain[start:end] = 10.0 ** (level_db / 20.0)
    x = gain * np.sin(2 * np.pi * freq_hz * np.arange(edges[-1]) / sample_rate_hz)
    return np.repeat(x[:, None], channels, axis=1)


def tone_with_burst(sample_rate_hz: int, offset_samples: int, duration_s: float = 2.0,
                    channels: int = 2) -> np.ndarray:
    """EBU Tech 3341 true-peak signals 20-23: a sine at fs/6, amplitude 0.5, holding one
    period of a sine at fs/4, amplitude 1.0, phase-continuous on both sides.

    Synthesised at four times ``sample_rate_hz`` (the burst's peak falls on a sample there),
    with 10 ms raised-cosine fades, low-pass filtered at fs/2 (255-tap Kaiser-windowed sinc)
    and decimated by four from sample ``offset_samples`` (0-3) on. With offsets 0-3 this
    reproduces the EBU test set's files seq-3341-20 to -23 to within 0.002 of full scale.
    """
    rate4 = 4 * sample_rate_hz
    half = 24 * int(duration_s / 2 * rate4 / 24)  # whole periods of fs/6 (24 samples at 4 fs)
    tone = 0.5 * np.sin(2 * np.pi * np.arange(half) / 24)
    x4 = _fade(np.concatenate([tone, np.sin(2 * np.pi * np.arange(16) / 16), tone]), 0.01, rate4)
    lowpass = scipy.signal.firwin(255, 0.25, window=("kaiser", 8.0))
    x = scipy.signal.oaconvolve(x4, lowpass, mode="same")[offset_samples::4]
    return np.repeat(x[:, None], channels, axis=1)


def biquad_eq(x: np.ndarray, sample_rate_hz: int, kind: str, freq_hz: float, gain_db: float,
              q: float = 0.707) -> np.ndarray:
    """RBJ-cookbook shelf or peaking EQ, applied with scipy.signal (independent of automaster)."""
    a_lin = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq_hz / sample_rate_hz
    alpha = np.sin(w0) / (2 * q)
    cos = np.cos(w0)
    if kind == "peak":
        b = [1 + alpha * a_lin, -2 * cos, 1 - alpha * a_lin]
        a = [1 + alpha / a_lin, -2 * cos, 1 - alpha / a_lin]
    else:
        sq = 2 * np.sqrt(a_lin) * alpha
        if kind == "lowshelf":
            b = [a_lin * ((a_lin + 1) - (a_lin - 1) * cos + sq), 2 * a_lin * ((a_lin - 1) - (a_lin + 1) * cos),
                 a_lin * ((a_lin + 1) - (a_lin - 1) * cos - sq)]
            a = [(a_lin + 1) + (a_lin - 1) * cos + sq, -2 * ((a_lin - 1) + (a_lin + 1) * cos),
                 (a_lin + 1) + (a_lin - 1) * cos - sq]
        else:
            b = [a_lin * ((a_lin + 1) + (a_lin - 1) * cos + sq), -2 * a_lin * ((a_lin - 1) + (a_lin + 1) * cos),
                 a_lin * ((a_lin + 1) + (a_lin - 1) * cos - sq)]
            a = [(a_lin + 1) - (a_lin - 1) * cos + sq, 2 * ((a_lin - 1) - (a_lin + 1) * cos),
                 (a_lin + 1) - (a_lin - 1) * cos - sq]
    return scipy.signal.lfilter(b, a, x, axis=0)


def true_peak_reference_dbtp(x: np.ndarray) -> float:
    """Independent true-peak meter: scipy's polyphase 4x resampler."""
    up = scipy.signal.resample_poly(np.asarray(x, dtype=np.float64), 4, 1, axis=0)
    return float(20 * np.log10(max(np.max(np.abs(up)), 1e-12)))


def band_limited(x: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """``x`` as a master's band limit leaves it: unchanged up to 92 % of Nyquist, a
    raised-cosine fade to nothing at 95.5 % (the documented band limit, applied here in the
    frequency domain of the whole signal)."""
    x = np.asarray(x, dtype=np.float64)
    f = np.fft.rfftfreq(x.shape[0], 1.0 / sample_rate_hz) / (sample_rate_hz / 2)
    position = np.clip((f - 0.92) / (0.955 - 0.92), 0.0, 1.0)
    gain = 0.5 + 0.5 * np.cos(np.pi * position)
    spectrum = np.fft.rfft(x, axis=0)
    return np.fft.irfft(spectrum * (gain[:, None] if x.ndim == 2 else gain), n=x.shape[0], axis=0)


def true_peak_ideal_dbtp(x: np.ndarray, factor: int = 16) -> float:
    """Independent true-peak meter: the ideal band-limited reconstruction, 16x by zero-padding
    the spectrum of the whole signal (exact for a periodic signal; the signals here begin and
    end in silence or fades, so the wrap-around adds nothing)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0] + x.shape[0] % 2
    spectrum = np.fft.rfft(x, n=n, axis=0)
    padded = np.zeros((factor * n // 2 + 1, x.shape[1]), dtype=complex)
    padded[: spectrum.shape[0]] = spectrum
    padded[n // 2] *= 0.5  # the Nyquist bin splits between its two images
    up = np.fft.irfft(padded, n=factor * n, axis=0) * factor
    return float(20 * np.log10(max(np.max(np.abs(up)), 1e-12)))


def _fade(x: np.ndarray, fade_s: float, sample_rate_hz: int) -> np.ndarray:
    m = min(int(fade_s * sample_rate_hz), x.shape[0] // 2)
    if m == 0:
        return x
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(m) / m)
    x = x.copy()
    x[:m] = (x[:m].T * ramp).T
    x[-m:] = (x[-m:].T * ramp[::-1]).T
    return x


def banded_stereo_noise(duration_s: float, sample_rate_hz: int, edges_hz, correlations, rms: float = 0.1,
                        seed: int = 0) -> np.ndarray:
    """Pink stereo noise whose left/right correlation steps between frequency regions.

    ``correlations[k]`` (-1..1) holds between ``edges_hz[k - 1]`` and ``edges_hz[k]``
    (``len(edges_hz) + 1`` values, lowest first): each channel is ``sqrt(1 - |c|)`` of its
    own noise plus ``sqrt(|c|)`` of a common one, with its sign flipped in the right
    channel where ``c`` is negative.
    """
    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate_hz)
    bins = n // 2 + 1
    own = rng.standard_normal((bins, 2)) + 1j * rng.standard_normal((bins, 2))
    common = rng.standard_normal(bins) + 1j * rng.standard_normal(bins)
    f = np.arange(bins) * sample_rate_hz / n
    c = np.asarray(correlations, dtype=np.float64)[np.searchsorted(np.asarray(edges_hz, dtype=np.float64), f)]
    spectrum = np.sqrt(1 - np.abs(c))[:, None] * own + np.sqrt(np.abs(c))[:, None] * common[:, None] * np.column_stack(
        [np.ones(bins), np.sign(c) + (c == 0)]
    )
    spectrum /= np.sqrt(np.maximum(f, 10.0))[:, None]
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n=n, axis=0)
    return x * rms / np.sqrt(np.mean(x**2))


def stepped_gain(frames: int, levels_db: list[float], section_s: float, sample_rate_hz: int,
                 ramp_s: float = 0.2) -> np.ndarray:
    """A gain of shape (frames, 1) that steps through ``levels_db`` every ``section_s``
    (repeating), with linear ramps (in dB) of ``ramp_s`` between sections: verses and
    choruses."""
    level_db = np.resize(np.repeat(np.asarray(levels_db, dtype=np.float64), int(section_s * sample_rate_hz)), frames)
    ramp = max(int(ramp_s * sample_rate_hz), 1)
    padded = np.pad(level_db, (ramp // 2, ramp - ramp // 2 - 1), mode="edge")
    sums = np.concatenate([[0.0], np.cumsum(padded)])  # a moving average of ``ramp`` samples
    level_db = (sums[ramp:] - sums[:-ramp]) / ramp
    return (10.0 ** (level_db / 20.0))[:, None]


def with_break(x: np.ndarray, start_s: float, duration_s: float, sample_rate_hz: int,
               hiss_dbfs: float = -60.0, seed: int = 0) -> np.ndarray:
    """``x`` with ``duration_s`` from ``start_s`` replaced by white hiss (RMS ``hiss_dbfs``
    in each channel): a break in which only the noise floor is left."""
    a, b = int(start_s * sample_rate_hz), int((start_s + duration_s) * sample_rate_hz)
    x = x.copy()
    x[a:b] = white_noise(duration_s + 1.0, sample_rate_hz, 10 ** (hiss_dbfs / 20), x.shape[1], seed)[: b - a]
    return x


def fade_out(x: np.ndarray, duration_s: float, depth_db: float, sample_rate_hz: int) -> np.ndarray:
    """``x`` faded out over its last ``duration_s``, straight in dB down to ``-depth_db``."""
    m = int(duration_s * sample_rate_hz)
    x = x.copy()
    x[-m:] *= (10.0 ** (np.linspace(0.0, -depth_db, m) / 20.0))[:, None]
    return x


PAD_PARTIALS_HZ = (523.25, 659.26, 783.99)


def pad_under_kick(duration_s: float, sample_rate_hz: int, bpm: float = 120.0) -> tuple[np.ndarray, list[int]]:
    """A C major pad (sines at ``PAD_PARTIALS_HZ``, 0.05 each, 0.5 s fades) under a kick on
    every beat from the first: a cosine sweeping 160 Hz down to 50 Hz at 0.8, from full
    amplitude at its first sample, decaying at 8/s over 0.4 s. Returns the stereo signal,
    shape (samples, 2), and the kicks' first samples."""
    n = round(duration_s * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    pad = sum(0.05 * np.sin(2 * np.pi * f * t + i) for i, f in enumerate(PAD_PARTIALS_HZ))
    pad *= np.clip(np.minimum(t, t[-1] - t) / 0.5, 0.0, 1.0)
    tk = np.arange(round(0.4 * sample_rate_hz)) / sample_rate_hz
    kick = 0.8 * np.cos(2 * np.pi * (50.0 * tk + 110.0 / 30.0 * (1.0 - np.exp(-30.0 * tk)))) * np.exp(-8.0 * tk)
    kick[-round(0.02 * sample_rate_hz) :] *= np.linspace(1.0, 0.0, round(0.02 * sample_rate_hz))
    x = np.repeat(pad[:, None], 2, axis=1)
    kicks = []
    for start_s in np.arange(60.0 / bpm, duration_s - 0.4, 60.0 / bpm):
        k = round(start_s * sample_rate_hz)
        x[k : k + kick.size] += kick[:, None]
        kicks.append(k)
    return x, kicks


def partial_gain_db(x: np.ndarray, y: np.ndarray, sample_rate_hz: int, partials_hz, hop_s: float = 0.005) -> np.ndarray:
    """Output/input gain (dB) of sines at ``partials_hz`` together, every ``hop_s``: each
    demodulated (times exp(-j 2 pi f t)) and low-passed at 40 Hz (4th-order Butterworth,
    forward and backward), in the mid signal; their powers summed."""
    sos = scipy.signal.butter(4, 40.0, fs=sample_rate_hz, output="sos")
    t = np.arange(x.shape[0]) / sample_rate_hz
    hop = round(hop_s * sample_rate_hz)

    def power(signal: np.ndarray) -> np.ndarray:
        mid = np.asarray(signal, dtype=np.float64).mean(axis=1)
        total = np.zeros(mid[::hop].shape[0])
        for f in partials_hz:
            base = mid * np.exp(-2j * np.pi * f * t)
            smooth = scipy.signal.sosfiltfilt(sos, base.real) + 1j * scipy.signal.sosfiltfilt(sos, base.imag)
            total += np.abs(smooth[::hop]) ** 2
        return total

    return 10.0 * np.log10(np.maximum(power(y), 1e-30) / np.maximum(power(x), 1e-30))
