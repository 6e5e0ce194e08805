"""Filter design: K-weighting, linear- and minimum-phase EQ from a curve, and the 4x oversampling bank."""

from __future__ import annotations

import functools

import numpy as np

from matcher.dsp import fft
from matcher.units import FLOOR_DB, db_to_gain


def kweighting_biquads(sample_rate_hz: float) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The two biquads of the K-weighting filter of ITU-R BS.1770-4 at any sample rate.

    The pre-filter (high shelf, about +4 dB above 1.5 kHz) and the RLB high-pass (about
    38 Hz) are re-derived from their analogue prototypes through the bilinear transform; at
    48 kHz this reproduces the coefficients printed in BS.1770-4, table 1 and 2.

    Returns
    -------
    ((b, a), (b, a)) : coefficients of the shelf and of the high-pass, ``a[0] == 1``.
    """
    k = np.tan(np.pi * 1681.974450955533 / sample_rate_hz)
    q = 0.7071752369554196
    vh = 10.0 ** (3.999843853973347 / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf_b = np.array([(vh + vb * k / q + k * k), 2.0 * (k * k - vh), (vh - vb * k / q + k * k)]) / a0
    shelf_a = np.array([a0, 2.0 * (k * k - 1.0), 1.0 - k / q + k * k]) / a0
    k = np.tan(np.pi * 38.13547087602444 / sample_rate_hz)
    q = 0.5003270373238773
    a0 = 1.0 + k / q + k * k
    hp_b = np.array([1.0, -2.0, 1.0])
    hp_a = np.array([a0, 2.0 * (k * k - 1.0), 1.0 - k / q + k * k]) / a0
    return (shelf_b, shelf_a), (hp_b, hp_a)


def eq_delay_samples(sample_rate_hz: float) -> int:
    """Half the length of the matching EQ's FIR: 0.186 s, for 1/6-octave detail at 40 Hz."""
    return int(round(0.186 * sample_rate_hz))


def interpolate_curve_db(
    band_centers_hz: np.ndarray, gains_db: np.ndarray, frequencies_hz: np.ndarray
) -> np.ndarray:
    """Gains of a curve at arbitrary frequencies: linear in log-frequency, held at the ends."""
    f = np.maximum(np.asarray(frequencies_hz, dtype=np.float64), 1e-3)
    return np.interp(np.log2(f), np.log2(band_centers_hz), gains_db)


def butterworth_highpass_gain(frequencies_hz: np.ndarray, corner_hz: float, order: int = 4) -> np.ndarray:
    """Magnitude of a Butterworth high-pass: ``1 / sqrt(1 + (fc / f) ** (2 * order))``."""
    f = np.maximum(np.asarray(frequencies_hz, dtype=np.float64), 1e-9)
    return 1.0 / np.sqrt(1.0 + (corner_hz / f) ** (2 * order))


def linear_phase_eq(
    band_centers_hz: np.ndarray,
    gains_db: np.ndarray,
    sample_rate_hz: float,
    highpass_hz: tuple[float, ...] = (),
    zero_dc: bool = False,
    band_limit: bool = False,
) -> np.ndarray:
    """Design a linear-phase FIR that follows an EQ curve.

    Frequency sampling: the curve is interpolated onto a dense FFT grid, turned into a
    zero-phase impulse response and windowed (Blackman) to ``2 * eq_delay_samples + 1``
    taps.

    Parameters
    ----------
    band_centers_hz, gains_db : np.ndarray, shape (bands,)
        The curve; gains are held beyond its first and last band.
    sample_rate_hz : float
    highpass_hz : tuple of float
        Corners of 24 dB/octave high-passes (Butterworth magnitudes) multiplied into the curve.
    band_limit : bool
        Also remove everything above :data:`BAND_LIMIT` of Nyquist (:func:`band_limit_gain`).
    zero_dc : bool
        Make the gain at 0 Hz exactly zero (the taps sum to 0): a scaled copy of the window,
        whose spectrum is a low-pass about 8 Hz wide at 44.1 kHz, is subtracted, which leaves
        20 Hz and above unchanged within 0.01 dB.

    Returns
    -------
    np.ndarray, shape (taps,), taps odd; the delay is ``taps // 2`` samples.
    """
    delay = eq_delay_samples(sample_rate_hz)
    taps = 2 * delay + 1
    n_fft = 1 << int(np.ceil(np.log2(2 * taps)))
    freqs_hz = np.arange(n_fft // 2 + 1) * sample_rate_hz / n_fft
    magnitude = db_to_gain(interpolate_curve_db(band_centers_hz, gains_db, freqs_hz))
    for corner_hz in highpass_hz:
        magnitude *= butterworth_highpass_gain(freqs_hz, corner_hz)
    if band_limit:
        magnitude *= band_limit_gain(freqs_hz, sample_rate_hz)
    zero_phase = fft.irfft(magnitude, n=n_fft)
    centred = np.concatenate([zero_phase[n_fft - delay:], zero_phase[: delay + 1]])
    taps_out = centred * np.blackman(taps)
    return without_dc(taps_out) if zero_dc else taps_out


def without_dc(impulse_response: np.ndarray) -> np.ndarray:
    """The FIR with exactly zero gain at 0 Hz: a Blackman window as long as the FIR, scaled
    to the FIR's sum, is subtracted. Its spectrum is a low-pass about ``3 / length`` wide
    (8 Hz for the matching EQ at any rate), so 20 Hz and above change by less than 0.01 dB;
    being symmetric and inside the FIR's span, it adds nothing before a causal FIR's start.
    """
    window = np.blackman(impulse_response.shape[0])
    return impulse_response - window * (impulse_response.sum() / window.sum())


MINIMUM_PHASE_GRID = 8
"""The cepstrum's FFT grid, in filter lengths: on it the cepstrum of the matching EQ's FIRs
aliases less than -190 dB (a 20 Hz high-pass in the curve needs the most)."""


def minimum_phase(impulse_response: np.ndarray) -> np.ndarray:
    """The minimum-phase FIR with the magnitude response of ``impulse_response``.

    Homomorphic design (Oppenheim & Schafer, *Discrete-Time Signal Processing*, ch. 13):
    the real cepstrum of the magnitude on an FFT grid ``MINIMUM_PHASE_GRID`` times the
    filter's length is folded onto positive quefrencies, exponentiated back to a spectrum
    and transformed to the impulse response, which is cut to the input's length. An FIR's
    minimum-phase equivalent (its zeros outside the unit circle reflected inside) is no
    longer than the FIR, so the cut drops only cepstral aliasing; the magnitude is kept,
    not halved in dB as ``scipy.signal.minimum_phase`` does. A zero on the unit circle has
    no cepstrum: design without ``zero_dc`` and apply :func:`without_dc` afterwards.

    Parameters
    ----------
    impulse_response : np.ndarray, shape (taps,)

    Returns
    -------
    np.ndarray, shape (taps,): its energy as early as any FIR of that magnitude allows it;
    ``h[0] > 0``.
    """
    taps = impulse_response.shape[0]
    n_fft = 1 << int(np.ceil(np.log2(MINIMUM_PHASE_GRID * taps)))
    magnitude = np.abs(fft.rfft(impulse_response, n=n_fft))
    cepstrum = fft.irfft(np.log(np.maximum(magnitude, db_to_gain(FLOOR_DB))), n=n_fft)
    cepstrum[1 : n_fft // 2] *= 2.0
    cepstrum[n_fft // 2 + 1 :] = 0.0
    return fft.irfft(np.exp(fft.rfft(cepstrum)), n=n_fft)[:taps]


def minimum_phase_eq(
    band_centers_hz: np.ndarray,
    gains_db: np.ndarray,
    sample_rate_hz: float,
    highpass_hz: tuple[float, ...] = (),
    zero_dc: bool = False,
    band_limit: bool = False,
) -> np.ndarray:
    """Design a minimum-phase FIR with the magnitude response of :func:`linear_phase_eq`.

    Its delay is none: nothing comes out before the input, so a transient is not preceded
    by ringing; the EQ's phase shifts delay the low frequencies after it instead, as an
    analogue EQ does. The magnitude equals the linear-phase FIR's within 0.001 dB.

    Returns
    -------
    np.ndarray, shape (taps,), as many taps as :func:`linear_phase_eq`; time zero is tap 0.
    """
    taps_out = minimum_phase(linear_phase_eq(band_centers_hz, gains_db, sample_rate_hz, highpass_hz, False, band_limit))
    return without_dc(taps_out) if zero_dc else taps_out


BAND_LIMIT = (0.92, 0.955)
"""A master is band-limited to 95.5 % of Nyquist (21.1 kHz at 44.1 kHz, 22.9 kHz at 48 kHz),
fading from 92 %: inaudible, and it puts all of the output where the true-peak guarantee's
interpolator is flat (:data:`FLAT_TO_NYQUIST`), so that no content escapes its meter."""


def band_limit_gain(freqs_hz: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """1 up to ``BAND_LIMIT[0]`` of Nyquist, a raised-cosine fade to 0 at ``BAND_LIMIT[1]``."""
    low, high = (f * sample_rate_hz / 2.0 for f in BAND_LIMIT)
    position = np.clip((np.asarray(freqs_hz, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    return 0.5 + 0.5 * np.cos(np.pi * position)


OVERSAMPLING_TAPS_PER_PHASE = 64
FLAT_TO_NYQUIST = 0.96
"""Interpolators are flat (within 0.2 dB, 0.05 dB up to 94 %) up to this fraction of
Nyquist: content at 23 kHz in a 48 kHz file is read at its level."""
GUARANTEE_FACTOR = 16
GUARANTEE_TAPS_PER_PHASE = 96


@functools.lru_cache(maxsize=None)
def flat_interpolator(
    factor: int, taps_per_phase: int, passband: float = FLAT_TO_NYQUIST, stopband: float | None = None
) -> np.ndarray:
    """A least-squares interpolation prototype, flat to :data:`FLAT_TO_NYQUIST` of the
    original Nyquist frequency and stopping from ``2 - FLAT_TO_NYQUIST`` (where the images of
    that content begin), ``factor * taps_per_phase + 1`` taps, gain ``factor``.

    A windowed sinc of this length has a transition band centred on Nyquist, half of it
    inside the audio band: 32 taps per phase read a 22 kHz tone in a 48 kHz file 1.2 dB low,
    23 kHz 5.4 dB low. This design moves the whole transition above 96 % of Nyquist.
    ``passband`` and ``stopband`` (fractions of the original Nyquist) move the edges.
    """
    stopband = 2.0 - passband if stopband is None else stopband
    edges = (0.0, passband / factor, stopband / factor, 1.0)
    return least_squares_fir(factor * taps_per_phase + 1, edges, (float(factor), 0.0), (20.0, 1.0))


def least_squares_fir(
    taps: int, edges: tuple[float, ...], gains: tuple[float, ...], weights: tuple[float, ...]
) -> np.ndarray:
    """A linear-phase (type I) FIR of odd length minimising the weighted squared error to a
    piecewise-constant response, as ``scipy.signal.firls`` does (whose module costs half a
    second of import).

    Parameters
    ----------
    taps : int
        Odd.
    edges : tuple of float
        Band edges as fractions of Nyquist, two per band (gaps between bands are "don't
        care").
    gains, weights : tuple of float
        The response wanted in each band, and its weight.

    Notes
    -----
    With ``A(w) = sum_k a_k cos(k w)``, ``k = 0..M``, the normal equations ``Q a = b`` have
    ``Q_jk = sum_bands W int cos(j w) cos(k w) dw`` and ``b_j = sum_bands W G int cos(j w) dw``,
    both in closed form.
    """
    if taps % 2 == 0:
        raise ValueError("taps must be odd")
    m = (taps - 1) // 2
    k = np.arange(m + 1, dtype=np.float64)
    # The orders j - k and j + k of Q's entries run over -m..2m: the integrals are taken once
    # per order and gathered (the 16x guarantee's prototype has 769 x 769 entries, 3m + 1
    # orders), each the same number as when taken entry by entry.
    orders = np.arange(-m, 2 * m + 1, dtype=np.float64)
    diff = (np.arange(m + 1)[:, None] - np.arange(m + 1)[None, :]) + m
    total = (np.arange(m + 1)[:, None] + np.arange(m + 1)[None, :]) + m

    def integral_of_cos(order: np.ndarray, low: float, high: float) -> np.ndarray:
        """int_low^high cos(order w) dw, w in radians, for integer orders (0 included)."""
        safe = np.where(order == 0, 1.0, order)
        return np.where(order == 0, high - low, (np.sin(safe * high) - np.sin(safe * low)) / safe)

    q = np.zeros((m + 1, m + 1))
    b = np.zeros(m + 1)
    for band, (gain, weight) in enumerate(zip(gains, weights)):
        low, high = edges[2 * band] * np.pi, edges[2 * band + 1] * np.pi
        integrals = integral_of_cos(orders, low, high)
        q += weight * 0.5 * (integrals[diff] + integrals[total])
        b += weight * gain * integral_of_cos(k, low, high)
    a = np.linalg.solve(q, b)
    return np.concatenate([a[:0:-1] / 2.0, [a[0]], a[1:] / 2.0])


def polyphase_bank(prototype: np.ndarray, factor: int, taps_per_phase: int) -> np.ndarray:
    """The prototype's phases as columns: column q, run as a causal FIR, gives the signal
    at ``n + q / factor - taps_per_phase / 2``; shape (taps_per_phase + 1, factor)."""
    bank = np.zeros((taps_per_phase + 1, factor))
    for phase in range(factor):
        column = prototype[phase::factor]
        bank[: column.shape[0], phase] = column
    return bank


def oversampling_bank(factor: int = 4, taps_per_phase: int = OVERSAMPLING_TAPS_PER_PHASE) -> np.ndarray:
    """Polyphase interpolation filters for true-peak metering (ITU-R BS.1770-4, annex 2).

    Two interpolators side by side: a long least-squares design flat to 96 % of Nyquist
    (:func:`flat_interpolator`), close to ideal band-limited interpolation, and a short one
    (a Kaiser-windowed sinc, beta 5, 20 taps per phase: the design of
    ``scipy.signal.resample_poly`` and of the short filters many meters use). Short filters
    ring more on broadband transients and read up to 0.06 dB higher there; a limiter that
    watches both keeps its output under the ceiling on either kind of meter. Phase 0 of
    each is the original samples (read directly by the meters, not through the filter).

    Returns
    -------
    np.ndarray, shape (taps_per_phase + 1, 2 * factor)
        Column q of each half, run as a causal FIR, gives the signal at
        ``n + q / factor - taps_per_phase / 2``.
    """
    if taps_per_phase % 2 or taps_per_phase < 20:
        raise ValueError("taps_per_phase must be even and at least 20")
    length = factor * taps_per_phase + 1
    t = np.arange(length) - factor * taps_per_phase // 2
    short_length = 2 * 10 * factor + 1
    short_sinc = np.zeros(length)
    inner = slice((length - short_length) // 2, (length + short_length) // 2)
    short_sinc[inner] = np.sinc(t[inner] / factor) * np.kaiser(short_length, 5.0)
    short_sinc *= factor / short_sinc.sum()
    return np.concatenate(
        [
            polyphase_bank(flat_interpolator(factor, taps_per_phase), factor, taps_per_phase),
            polyphase_bank(short_sinc, factor, taps_per_phase),
        ],
        axis=1,
    )


def guarantee_bank() -> np.ndarray:
    """The interpolator of the output's true-peak guarantee: 16x, 96 taps per phase, flat
    to 96 % of Nyquist (:func:`guarantee_margin_db` covers what it may read low)."""
    return polyphase_bank(
        flat_interpolator(GUARANTEE_FACTOR, GUARANTEE_TAPS_PER_PHASE), GUARANTEE_FACTOR, GUARANTEE_TAPS_PER_PHASE
    )


@functools.lru_cache(maxsize=None)
def guarantee_margin_db() -> float:
    """What the 16x reading may fall short of an ideal band-limited reconstruction, for
    content up to :data:`FLAT_TO_NYQUIST` of Nyquist (0.074 dB): the fractional phases'
    deepest dip below unity gain there, plus the largest drop of a continuous peak between
    two 16x points (a sinusoid at that frequency peaking half-way between them). The
    guarantee meter adds it to every reading, so that it never reads low."""
    bank = guarantee_bank()
    omega = np.linspace(1e-3, FLAT_TO_NYQUIST, 512) * np.pi
    response = np.exp(-1j * np.outer(omega, np.arange(bank.shape[0]))) @ bank[:, 1:]
    lowest = float(np.abs(response).min())
    between = np.cos(np.pi * FLAT_TO_NYQUIST / (2 * GUARANTEE_FACTOR))
    return float(-20.0 * np.log10(min(lowest, 1.0) * between))


@functools.lru_cache(maxsize=None)
def four_x_gap_db() -> float:
    """How far the 4x meter's reading (both interpolators: :func:`oversampling_bank`) may
    fall below an ideal band-limited reconstruction, for content up to
    :data:`FLAT_TO_NYQUIST` of Nyquist (0.79 dB): the long interpolator's deepest dip there,
    plus a sinusoid at that frequency peaking half-way between two 4x points."""
    factor = 4
    bank = oversampling_bank(factor)[:, :factor]
    omega = np.linspace(1e-3, FLAT_TO_NYQUIST, 512) * np.pi
    response = np.exp(-1j * np.outer(omega, np.arange(bank.shape[0]))) @ bank[:, 1:]
    lowest = float(np.abs(response).min())
    between = np.cos(np.pi * FLAT_TO_NYQUIST / (2 * factor))
    return float(-20.0 * np.log10(min(lowest, 1.0) * between))
