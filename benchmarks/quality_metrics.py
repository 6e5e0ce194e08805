"""Sound-quality measurements for ``bench_quality.py``, independent of automaster.

Only numpy, scipy and pyloudnorm: nothing here imports the package, so the figures stay
valid while the engine changes. ``tests/test_quality_metrics.py`` checks every function
against an analytic truth. Audio is float64 of shape (samples, channels), or (samples,)
where a function says so; times are in samples unless the name carries another unit.

- :func:`true_peak_dbtp`: an ideal 16x true-peak meter (a Kaiser-windowed sinc 2048 taps
  long per phase), well beyond ITU-R BS.1770-4's 4x, so that it can judge a 4x meter's output.
- :func:`thd_db`, :func:`thd_n_db`, :func:`imd_db`: harmonic distortion, distortion plus
  noise (the fundamental notched out by a least-squares sine fit) and SMPTE intermodulation.
- :func:`pre_echo`: energy before a sharp onset relative to the onset's.
- :func:`level_change_db`, :func:`break_lift_db`, :func:`fade_figures`: output against input
  level over chosen spans.
- :func:`pad_ducking`: the level of chosen partials, output against input, around kicks.
- :func:`bass_residual`: what a static filter and a slowly varying gain cannot explain of the
  output in 20-150 Hz.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np
import pyloudnorm
import scipy.fft
from scipy import signal

TRUE_PEAK_OVERSAMPLING = 16
TRUE_PEAK_TAPS_PER_PHASE = 2048
TRUE_PEAK_KAISER_BETA = 12.0
TRUE_PEAK_FFT_SIZE = 1 << 16
HARMONICS = range(2, 11)
FOLDED_TOO_CLOSE_HZ = 5.0  # a folded harmonic this close to DC, Nyquist or f0 is left out
IMD_ORDERS = 4
PRE_ECHO_WINDOW_MS = (5.0, 50.0)  # before the onset
ONSET_WINDOW_MS = 10.0  # from the onset
PRE_ECHO_THRESHOLD_DB = -60.0
ENVELOPE_LOWPASS_HZ = 40.0
ENVELOPE_HOP_S = 0.005
BASELINE_GUARD_S = 0.025  # the envelope filter's reach: a kick pulls this much before it down
RECOVERY_DB = 0.5
BASS_BAND_HZ = (20.0, 150.0)
GAIN_FRAME_S = 0.05
TRANSFER_NPERSEG = 16384
TRANSFER_ROUNDS = 2  # estimates of the filter after the first, each with the slow gain taken out
GAIN_FRAMES_WITHIN_DB = 30.0  # frames quieter than the loudest by more are not gain-fitted
TINY = 1e-30


def _two_d(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def power_db(energy_ratio: float) -> float:
    """10 log10 of a ratio of energies (-inf for 0)."""
    return 10.0 * math.log10(energy_ratio) if energy_ratio > 0 else -math.inf


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770-4, pyloudnorm) of (samples, channels) audio."""
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(_two_d(audio)))


# --- true peak ---------------------------------------------------------------------------


@functools.cache
def _interpolator_phases() -> np.ndarray:
    """Coefficients of the 16 phases of the interpolator, shape (16, 2048).

    Phase p computes the signal at n + p/16 from x[n - 1023] .. x[n + 1024]: a sinc cut off
    at half the sample rate, under a Kaiser window (beta 12, about -118 dB of stopband)
    spanning the 2048 taps, so that the transition band is about 0.004 fs wide: flat to
    0.498 fs. A short interpolator (a 4x meter's 12 taps a phase, or even 128) misreads
    signals with content close to fs/2, such as white noise after a limiter, by 0.1 dB or
    more. Each phase is scaled to unity gain at DC; phase 0 is the identity.
    """
    half = TRUE_PEAK_TAPS_PER_PHASE // 2
    offsets = np.arange(-half + 1, half + 1)
    phases = []
    for p in range(TRUE_PEAK_OVERSAMPLING):
        t = offsets - p / TRUE_PEAK_OVERSAMPLING
        window = np.i0(TRUE_PEAK_KAISER_BETA * np.sqrt(np.clip(1.0 - (t / half) ** 2, 0.0, None)))
        taps = np.sinc(t) * window / np.i0(TRUE_PEAK_KAISER_BETA)
        phases.append(taps / taps.sum())
    return np.array(phases)


def true_peak_dbtp(audio: np.ndarray) -> float:
    """True peak in dBTP: the largest magnitude of the signal reconstructed at 16 times the
    sample rate, over all channels.

    The interpolator is the long Kaiser-windowed sinc of :func:`_interpolator_phases`
    (flat to 0.498 fs), applied by FFT in overlap-save blocks; the signal is taken as zero
    outside the file, so the reconstruction runs on past both ends. Shape (samples,) or
    (samples, channels). Returns -inf for silence.
    """
    x = _two_d(audio)
    phases = _interpolator_phases()
    taps = phases.shape[1]
    # Single precision halves the time; its rounding (about 1e-7 of full scale) moves a peak
    # by less than 1e-5 dB.
    padded = np.concatenate([np.zeros((taps, x.shape[1])), x, np.zeros((taps, x.shape[1]))]).astype(np.float32)
    nfft = TRUE_PEAK_FFT_SIZE
    step = nfft - taps + 1
    # The phase filters correlate (x[n + k] for k = -1023..1024): reversed, they convolve.
    spectra = scipy.fft.rfft(phases[:, ::-1].astype(np.float32), nfft, axis=1)
    peak = 0.0
    for start in range(0, padded.shape[0] - taps + 1, step):
        block = padded[start : start + nfft]
        valid = block.shape[0] - taps + 1
        for channel in range(x.shape[1]):
            spectrum = scipy.fft.rfft(block[:, channel], nfft)
            out = scipy.fft.irfft(spectra * spectrum[None, :], nfft, axis=1)
            peak = max(peak, float(np.abs(out[:, taps - 1 : taps - 1 + valid]).max()))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


# --- tones, distortion and intermodulation -----------------------------------------------


def tone_amplitudes(x: np.ndarray, sample_rate: int, freqs_hz: Sequence[float]) -> np.ndarray:
    """Peak amplitudes of the sinusoids at exactly ``freqs_hz`` in ``x`` of shape (samples,).

    The DFT of ``x`` under a 4-term Blackman-Harris window, evaluated at each frequency (not
    at a bin): twice its magnitude over the window's sum. Sidelobes are below -92 dB, so a
    tone more than a few Hz away (over seconds) does not leak into another's reading.
    """
    x = np.asarray(x, dtype=np.float64)
    window = signal.windows.blackmanharris(x.size, sym=False)
    weighted = window * x
    n = np.arange(x.size)
    amplitudes = []
    for freq_hz in freqs_hz:
        phasor = np.exp(-2j * np.pi * (freq_hz / sample_rate) * n)
        amplitudes.append(2.0 * abs(np.dot(weighted, phasor)) / window.sum())
    return np.array(amplitudes)


def folded_hz(freq_hz: float, sample_rate: int) -> float:
    """Where ``freq_hz`` lands in 0..fs/2 after sampling at ``sample_rate`` (aliasing)."""
    return abs((freq_hz + sample_rate / 2.0) % sample_rate - sample_rate / 2.0)


def harmonic_freqs_hz(fundamental_hz: float, sample_rate: int) -> list[float]:
    """Harmonics 2-10 of ``fundamental_hz``, folded into 0..fs/2 (a clipper at the sample rate
    aliases its harmonics there); those that fold within 5 Hz of DC, Nyquist or the
    fundamental are left out."""
    kept = []
    for k in HARMONICS:
        f = folded_hz(k * fundamental_hz, sample_rate)
        if min(f, sample_rate / 2.0 - f, abs(f - fundamental_hz)) >= FOLDED_TOO_CLOSE_HZ:
            kept.append(f)
    return kept


def thd_db(audio: np.ndarray, sample_rate: int, fundamental_hz: float) -> float:
    """Total harmonic distortion in dB: the RMS sum of harmonics 2-10 (folded, see
    :func:`harmonic_freqs_hz`) relative to the fundamental, worst channel."""
    worst = -math.inf
    for x in _two_d(audio).T:
        levels = tone_amplitudes(x, sample_rate, [fundamental_hz, *harmonic_freqs_hz(fundamental_hz, sample_rate)])
        worst = max(worst, power_db(float(np.sum(levels[1:] ** 2)) / max(levels[0] ** 2, TINY)))
    return worst


def thd_n_db(audio: np.ndarray, sample_rate: int, fundamentals_hz: float | Sequence[float]) -> float:
    """Distortion plus noise in dB, worst channel: the energy of what is left once the
    least-squares fit of sines at exactly ``fundamentals_hz`` (one frequency or several, as
    for a two-tone signal) plus a constant is subtracted, relative to the fitted sines'
    energy. Full band (DC excluded, up to fs/2)."""
    freqs_hz = [fundamentals_hz] if np.isscalar(fundamentals_hz) else list(fundamentals_hz)
    x2 = _two_d(audio)
    t = np.arange(x2.shape[0]) / sample_rate
    columns = [f(2 * np.pi * freq_hz * t) for freq_hz in freqs_hz for f in (np.cos, np.sin)]
    basis = np.stack([*columns, np.ones_like(t)], axis=1)
    worst = -math.inf
    for x in x2.T:
        coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
        tones = basis[:, :-1] @ coef[:-1]
        residual = x - basis @ coef
        worst = max(worst, power_db(float(np.sum(residual**2)) / max(float(np.sum(tones**2)), TINY)))
    return worst


def imd_db(audio: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> float:
    """SMPTE-style intermodulation in dB, worst channel: the RMS sum of the sidebands at
    ``high_hz`` +- n ``low_hz`` (n = 1..4) relative to the ``high_hz`` tone."""
    sidebands = [high_hz + sign * n * low_hz for n in range(1, IMD_ORDERS + 1) for sign in (-1, 1)]
    worst = -math.inf
    for x in _two_d(audio).T:
        levels = tone_amplitudes(x, sample_rate, [high_hz, *sidebands])
        worst = max(worst, power_db(float(np.sum(levels[1:] ** 2)) / max(levels[0] ** 2, TINY)))
    return worst


# --- alignment and pre-echo --------------------------------------------------------------


def alignment_lag_samples(
    output: np.ndarray, reference: np.ndarray, max_lag_samples: int, window_samples: int = 1 << 20
) -> int:
    """The lag (positive: ``output`` is late) within +-``max_lag_samples`` that maximises the
    cross-correlation of the two mid signals (channel means) over at most ``window_samples``
    from the middle."""
    y = _two_d(output).mean(axis=1)
    x = _two_d(reference).mean(axis=1)
    n = min(x.size, y.size, window_samples)
    start = (min(x.size, y.size) - n) // 2
    x, y = x[start : start + n], y[start : start + n]
    nfft = scipy.fft.next_fast_len(2 * n)
    corr = scipy.fft.irfft(scipy.fft.rfft(y, nfft) * np.conj(scipy.fft.rfft(x, nfft)), nfft)
    lags = np.concatenate([np.arange(0, max_lag_samples + 1), np.arange(-max_lag_samples, 0)])
    return int(lags[np.argmax(corr[lags])])


def shift_to_align(output: np.ndarray, lag_samples: int, length: int) -> np.ndarray:
    """``output`` moved ``lag_samples`` earlier (later if negative), zero-padded or cut to
    ``length`` samples."""
    y = _two_d(output)
    y = y[lag_samples:] if lag_samples >= 0 else np.concatenate([np.zeros((-lag_samples, y.shape[1])), y])
    if y.shape[0] < length:
        y = np.concatenate([y, np.zeros((length - y.shape[0], y.shape[1]))])
    return y[:length]


@dataclasses.dataclass(frozen=True)
class PreEcho:
    """Energy that arrives before sharp onsets.

    Attributes
    ----------
    worst_db : float
        The largest over onsets of 10 log10(energy in the 5-50 ms before the onset / energy
        of the 10 ms from the onset), all channels summed.
    per_onset_db : tuple of float
    earliest_ms : float
        The largest over onsets of how long before the onset the output first exceeds
        -60 dB re the peak of its 10 ms from the onset (0 if it never does within the
        search span).
    """

    worst_db: float
    per_onset_db: tuple[float, ...]
    earliest_ms: float


def pre_echo(output: np.ndarray, onsets: Sequence[int], sample_rate: int, search_ms: float) -> PreEcho:
    """Pre-echo of ``output`` before each onset (sample indices into ``output``), looking for
    the earliest excess up to ``search_ms`` before each onset."""
    y = _two_d(output)
    near, far = (round(ms * sample_rate / 1000.0) for ms in PRE_ECHO_WINDOW_MS)
    onset_len = round(ONSET_WINDOW_MS * sample_rate / 1000.0)
    search = round(search_ms * sample_rate / 1000.0)
    ratios, earliest = [], 0.0
    for onset in onsets:
        if onset - max(far, search) < 0 or onset + onset_len > y.shape[0]:
            raise ValueError(f"onset at sample {onset} is too close to an end of the signal")
        head = y[onset : onset + onset_len]
        ratios.append(power_db(float(np.sum(y[onset - far : onset - near] ** 2)) / max(float(np.sum(head**2)), TINY)))
        threshold = np.abs(head).max() * 10.0 ** (PRE_ECHO_THRESHOLD_DB / 20.0)
        above = np.flatnonzero(np.abs(y[onset - search : onset]).max(axis=1) > threshold)
        if above.size:
            earliest = max(earliest, (search - above[0]) * 1000.0 / sample_rate)
    return PreEcho(max(ratios), tuple(ratios), earliest)


# --- levels over spans: breaks and fades -------------------------------------------------


def level_change_db(before: np.ndarray, after: np.ndarray, spans: Sequence[tuple[int, int]]) -> float:
    """How much louder ``after`` is than ``before`` over the sample ``spans`` taken together:
    10 log10 of the ratio of their energies (all channels)."""
    b, a = _two_d(before), _two_d(after)
    energy_before = sum(float(np.sum(b[lo:hi] ** 2)) for lo, hi in spans)
    energy_after = sum(float(np.sum(a[lo:hi] ** 2)) for lo, hi in spans)
    return power_db(energy_after / max(energy_before, TINY))


def break_lift_db(
    mix: np.ndarray, output: np.ndarray, break_span: tuple[int, int], music_spans: Sequence[tuple[int, int]]
) -> float:
    """How much more a quiet break is raised than the music around it: the output/input level
    change (RMS) over ``break_span`` minus that over ``music_spans``, in dB."""
    return level_change_db(mix, output, [break_span]) - level_change_db(mix, output, music_spans)


@dataclasses.dataclass(frozen=True)
class FadeFigures:
    """A fade-out, output against input.

    Attributes
    ----------
    input_depth_db, output_depth_db : float
        Level (RMS, dB) of the first 400 ms of the fade minus that of its last 400 ms.
    depth_error_db : float
        ``output_depth_db - input_depth_db`` (negative: the output's fade is shallower).
    times_s : tuple of float
        Start of each 400 ms window through the fade, from the fade's start.
    gain_db : tuple of float
        Output/input level change over each window, relative to the first window's.
    """

    input_depth_db: float
    output_depth_db: float
    depth_error_db: float
    times_s: tuple[float, ...]
    gain_db: tuple[float, ...]


def fade_figures(
    mix: np.ndarray, output: np.ndarray, sample_rate: int, fade_span: tuple[int, int], window_s: float = 0.4,
    step_s: float = 0.5,
) -> FadeFigures:
    """Fade depth of ``output`` against ``mix`` over ``fade_span`` (samples), and the
    output/input gain through the fade every ``step_s``."""
    x, y = _two_d(mix), _two_d(output)
    start, end = fade_span
    window = round(window_s * sample_rate)

    def level_db(a: np.ndarray, lo: int) -> float:
        return power_db(float(np.mean(a[lo : lo + window] ** 2)))

    input_depth = level_db(x, start) - level_db(x, end - window)
    output_depth = level_db(y, start) - level_db(y, end - window)
    starts = list(range(start, end - window + 1, round(step_s * sample_rate)))
    gains = [level_change_db(x, y, [(lo, lo + window)]) for lo in starts]
    return FadeFigures(
        input_depth,
        output_depth,
        output_depth - input_depth,
        tuple((lo - start) / sample_rate for lo in starts),
        tuple(g - gains[0] for g in gains),
    )


# --- pumping: the level of a pad around kicks --------------------------------------------


def partial_envelopes(audio: np.ndarray, sample_rate: int, partials_hz: Sequence[float]) -> np.ndarray:
    """Amplitude envelopes of the mid signal at each of ``partials_hz``, every 5 ms, shape
    (frames, partials): complex demodulation (the signal times exp(-j 2 pi f t)), then a
    4th-order Butterworth low-pass at 40 Hz run forward and backward, times two. Partials
    should be more than 100 Hz apart, and from anything else that is loud."""
    mid = _two_d(audio).mean(axis=1)
    t = np.arange(mid.size) / sample_rate
    sos = signal.butter(4, ENVELOPE_LOWPASS_HZ, fs=sample_rate, output="sos")
    hop = round(ENVELOPE_HOP_S * sample_rate)
    envelopes = []
    for f in partials_hz:
        base = mid * np.exp(-2j * np.pi * f * t)
        smooth = signal.sosfiltfilt(sos, base.real) + 1j * signal.sosfiltfilt(sos, base.imag)
        envelopes.append(2.0 * np.abs(smooth[::hop]))
    return np.stack(envelopes, axis=1)


@dataclasses.dataclass(frozen=True)
class Ducking:
    """How far a pad's level dips after each kick, output against input.

    Attributes
    ----------
    dip_db : float
        Median over kicks of the dip: the highest output/input gain of the pad's partials in
        the beat before the kick (from 25 ms after the kick before to 25 ms before this one)
        minus the lowest in the beat from 25 ms before the kick (a lookahead limiter ducks
        early; the envelope filter smears a step over about 20 ms each way).
    recovery_ms : float
        Median over kicks of the time from the kick until the gain, past its lowest, is back
        within 0.5 dB of that highest value, a kick whose gain is not back within the beat counting as
        infinitely long (so inf when most are not).
    dips_db, recoveries_ms : tuple of float
        Per kick (inf: not back within the beat).
    """

    dip_db: float
    recovery_ms: float
    dips_db: tuple[float, ...]
    recoveries_ms: tuple[float, ...]


def pad_gain_db(mix: np.ndarray, output: np.ndarray, sample_rate: int, partials_hz: Sequence[float]) -> np.ndarray:
    """Output/input gain of the partials together (power sum), dB, every 5 ms."""
    env_in = partial_envelopes(mix, sample_rate, partials_hz)
    env_out = partial_envelopes(output, sample_rate, partials_hz)
    return 10.0 * np.log10(np.maximum(np.sum(env_out**2, axis=1), TINY) / np.maximum(np.sum(env_in**2, axis=1), TINY))


def pad_ducking(
    mix: np.ndarray, output: np.ndarray, sample_rate: int, partials_hz: Sequence[float], kicks: Sequence[int],
    beat_s: float,
) -> Ducking:
    """Dip and recovery of the pad's gain after each kick (sample indices); kicks need a
    whole beat of signal on both sides."""
    gain = pad_gain_db(mix, output, sample_rate, partials_hz)
    hop = round(ENVELOPE_HOP_S * sample_rate)
    beat = round(beat_s * sample_rate / hop)
    guard = round(BASELINE_GUARD_S * sample_rate / hop)
    dips, recoveries = [], []
    for kick in kicks:
        k = round(kick / hop)
        if k - beat < 0 or k + beat > gain.size:
            raise ValueError(f"kick at sample {kick} has less than a beat on one side")
        before, after = gain[k - beat + guard : k - guard], gain[k - guard : k + beat - guard]
        trough = int(np.argmin(after))
        dips.append(float(before.max() - after[trough]))
        back = np.flatnonzero(after[trough:] >= before.max() - RECOVERY_DB)
        frames = trough + back[0] - guard if back.size else math.inf
        recoveries.append(frames * hop * 1000.0 / sample_rate)
    return Ducking(float(np.median(dips)), float(np.median(recoveries)), tuple(dips), tuple(recoveries))


KICK_BAND_HZ = (20.0, 250.0)


def kick_balance_db(mix: np.ndarray, output: np.ndarray, sample_rate: int, partials_hz: Sequence[float]) -> float:
    """How far the kick's band moved against the pad, output against input (dB; 0: the
    balance kept, negative: the kick quieter against the pad): the energy of the mid signal
    in ``KICK_BAND_HZ`` (4th-order Butterworth band-pass, forward and backward) re the pad's
    partials' (:func:`partial_envelopes`, power summed), in the output minus in the mix. A
    chain can keep a pad from ducking by turning the kick's band down for good: a remix, not
    a master; this reads it."""
    sos = signal.butter(4, KICK_BAND_HZ, btype="bandpass", fs=sample_rate, output="sos")

    def ratio(audio: np.ndarray) -> float:
        kick = float(np.mean(signal.sosfiltfilt(sos, _two_d(audio).mean(axis=1)) ** 2))
        pad = float(np.mean(np.sum(partial_envelopes(audio, sample_rate, partials_hz) ** 2, axis=1)) / 2.0)
        return kick / max(pad, TINY)

    return power_db(ratio(output) / max(ratio(mix), TINY))


# --- what a filter and a slow gain cannot explain ----------------------------------------


@dataclasses.dataclass(frozen=True)
class BassResidual:
    """What is left of the output in a band once a static filter and a slowly varying gain
    of the input are taken away.

    Attributes
    ----------
    residual_db : float
        Energy of the residual in 20-150 Hz relative to the output's energy there.
    gain_swing_db : float
        The slow broadband gain's highest minus lowest value (per 50 ms frame, frames within
        30 dB of the loudest): how far the gain moved, an estimate of the deepest gain
        reduction when the limiter does the moving.
    """

    residual_db: float
    gain_swing_db: float


def static_transfer(mix: np.ndarray, output: np.ndarray, gain: np.ndarray | None = None) -> np.ndarray:
    """The best static linear filter from ``mix`` to ``output`` applied to ``mix``, per
    channel: H = S_xy / S_xx (Welch, 16384-point Hann segments), as a linear-phase FIR of
    16384 taps (Hann window), its delay compensated. With ``gain`` (per sample), H is
    estimated from ``output / gain``: the filter of the output with that gain taken out."""
    x, y = _two_d(mix), _two_d(output)
    if gain is not None:
        y = y / np.maximum(gain, TINY)[:, None]
    n = TRANSFER_NPERSEG
    shaped = np.empty_like(x)
    for c in range(x.shape[1]):
        _, s_xy = signal.csd(x[:, c], y[:, c], nperseg=n, window="hann", detrend=False)
        _, s_xx = signal.welch(x[:, c], nperseg=n, window="hann", detrend=False)
        h = np.fft.fftshift(np.fft.irfft(s_xy / np.maximum(s_xx, TINY), n)) * signal.windows.hann(n, sym=False)
        shaped[:, c] = signal.oaconvolve(x[:, c], h)[n // 2 : n // 2 + x.shape[0]]
    return shaped


def gain_free_transfer(mix: np.ndarray, output: np.ndarray, sample_rate: int) -> np.ndarray:
    """:func:`static_transfer` of ``mix`` to ``output`` once the output's slow gain is
    taken out, applied to ``mix``.

    A limiter's gain follows the music: it is lowest where the music is loudest, so the
    plain cross-spectral estimate mixes the gain into the filter (on a tone burst turned down
    8-15 dB as it plays, the residual read 7-12 dB high). The filter and the slow gain are
    therefore estimated in turn, TRANSFER_ROUNDS times: the gain of the filtered mix to the
    output, then the filter of the output with that gain divided out.
    """
    shaped = static_transfer(mix, output)
    for _ in range(TRANSFER_ROUNDS):
        gain, _ = slow_gain(shaped, _two_d(output), sample_rate)
        shaped = static_transfer(mix, output, np.abs(gain))
    return shaped


def slow_gain(source: np.ndarray, target: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares gain from ``source`` to ``target`` per 50 ms frame (all channels
    together), linearly interpolated between frame centres to every sample; returns it and
    the frame gains used (frames more than 30 dB below the loudest are skipped)."""
    frame = round(GAIN_FRAME_S * sample_rate)
    count = source.shape[0] // frame
    s = source[: count * frame].reshape(count, frame, -1)
    t = target[: count * frame].reshape(count, frame, -1)
    energy = np.sum(s**2, axis=(1, 2))
    gains = np.sum(s * t, axis=(1, 2)) / np.maximum(energy, TINY)
    keep = energy >= energy.max() * 10.0 ** (-GAIN_FRAMES_WITHIN_DB / 10.0)
    centres = (np.arange(count) + 0.5) * frame
    per_sample = np.interp(np.arange(source.shape[0]), centres[keep], gains[keep])
    return per_sample, gains[keep]


def bass_residual(mix: np.ndarray, output: np.ndarray, sample_rate: int) -> BassResidual:
    """Residual in 20-150 Hz and gain swing of ``output`` (aligned with ``mix``, same length).

    The mix is passed through :func:`gain_free_transfer` (which takes out any EQ), then both are
    band-passed to 20-150 Hz (4th-order Butterworth, forward and backward); the slow gain
    (:func:`slow_gain`) of the band-passed mix to the band-passed output is applied and the
    residual is the band-passed output minus that.
    """
    x, y = _two_d(mix), _two_d(output)
    shaped = gain_free_transfer(x, y, sample_rate)
    sos = signal.butter(4, BASS_BAND_HZ, btype="bandpass", fs=sample_rate, output="sos")
    shaped_band = signal.sosfiltfilt(sos, shaped, axis=0)
    output_band = signal.sosfiltfilt(sos, y, axis=0)
    gain, _ = slow_gain(shaped_band, output_band, sample_rate)
    residual = output_band - gain[:, None] * shaped_band
    _, broadband = slow_gain(shaped, y, sample_rate)
    broadband = np.abs(broadband[broadband != 0])
    swing = 20.0 * math.log10(broadband.max() / broadband.min()) if broadband.size else math.nan
    return BassResidual(
        power_db(float(np.sum(residual**2)) / max(float(np.sum(output_band**2)), TINY)), swing
    )
