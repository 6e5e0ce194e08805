"""Band splitting for multiband dynamics: linear-phase crossovers with Linkwitz-Riley slopes.

Each crossover has the magnitude of a 4th-order Linkwitz-Riley pair, ``1 / (1 + (f/fc)^4)``
for its low side and the rest, ``(f/fc)^4 / (1 + (f/fc)^4)``, for its high side: -6 dB
each at ``fc``, 24 dB per octave beyond it. The bands are taken with zero phase (a
symmetric FIR whose delay is compensated) instead of the IIR pair's phase: band k is the
low side of crossover k minus the low side of crossover k - 1. The bands therefore sum to
the input exactly, with no time shift and no phase change anywhere, which an IIR
Linkwitz-Riley tree does not give (it sums to an all-pass, delaying the bass). The price
is pre-ringing at the lowest crossover, as in every linear-phase multiband.
"""

from __future__ import annotations

import numpy as np

from matcher.dsp import fft
from matcher.dsp.convolve import LinearPhaseFilter

LOWEST_CROSSOVER_PERIODS = 4.0
"""Half-length of the FIRs, in periods of the lowest crossover. The zero-phase responses
decay exponentially (at 2 pi fc sin(pi/4) per second): after 4 periods they are below
-150 dB, so they are cut there unwindowed, and follow the Linkwitz-Riley curves within
0.001 dB down to -60 dB. (A Blackman window over the same span smoothed the curves by
several dB on the slopes.)"""


def crossover_taps(crossovers_hz: np.ndarray, sample_rate_hz: float) -> int:
    """Odd FIR length for the lowest crossover (about 0.13 s at 60 Hz)."""
    half = int(np.ceil(LOWEST_CROSSOVER_PERIODS * sample_rate_hz / float(np.min(crossovers_hz))))
    return 2 * half + 1


def linkwitz_riley_low(frequencies_hz: np.ndarray, crossover_hz: float) -> np.ndarray:
    """Magnitude of the low side of a 4th-order Linkwitz-Riley crossover."""
    return 1.0 / (1.0 + (np.asarray(frequencies_hz, dtype=np.float64) / crossover_hz) ** 4)


def crossover_bank(crossovers_hz, sample_rate_hz: float) -> np.ndarray:
    """Zero-phase FIRs of the bands between the crossovers, centred on their middle tap.

    Parameters
    ----------
    crossovers_hz : array_like, shape (bands - 1,)
        Increasing crossover frequencies, below Nyquist.
    sample_rate_hz : float

    Returns
    -------
    np.ndarray, shape (taps, bands)
        Column k is band k (lowest first); the columns sum to a unit impulse at the middle
        tap, to float64 precision.
    """
    crossovers = np.asarray(crossovers_hz, dtype=np.float64)
    if crossovers.ndim != 1 or crossovers.size == 0:
        raise ValueError("at least one crossover frequency is needed")
    if np.any(np.diff(crossovers) <= 0) or crossovers[0] <= 0 or crossovers[-1] >= sample_rate_hz / 2:
        raise ValueError(f"crossovers {crossovers.tolist()} Hz must increase and lie below Nyquist")
    taps = crossover_taps(crossovers, sample_rate_hz)
    delay = taps // 2
    n_fft = 1 << int(np.ceil(np.log2(4 * taps)))
    freqs_hz = np.arange(n_fft // 2 + 1) * sample_rate_hz / n_fft
    lows = []
    for crossover in crossovers:
        zero_phase = fft.irfft(linkwitz_riley_low(freqs_hz, crossover), n=n_fft)
        lows.append(np.concatenate([zero_phase[n_fft - delay :], zero_phase[: delay + 1]]))
    impulse = np.zeros(taps)
    impulse[delay] = 1.0
    edges = [np.zeros(taps), *lows, impulse]
    return np.column_stack([edges[k + 1] - edges[k] for k in range(len(crossovers) + 1)])


class Crossover(LinearPhaseFilter):
    """Splits a stream of shape (n, channels) into bands, shape (n, channels, bands).

    The output lines up with the input (the FIR delay is compensated) and, summed over the
    bands, equals it (float32 rounding: about -140 dB). :meth:`finish` returns the rest.

    Parameters
    ----------
    crossovers_hz : array_like, shape (bands - 1,)
    sample_rate_hz : float
    """

    def __init__(self, crossovers_hz, sample_rate_hz: float):
        self.crossovers_hz = tuple(float(f) for f in crossovers_hz)
        self.bands = len(self.crossovers_hz) + 1
        super().__init__(crossover_bank(self.crossovers_hz, sample_rate_hz)[:, None, :], np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed a block of shape (n, channels); return the aligned bands ready so far."""
        return super().process(np.asarray(block, dtype=np.float32)[:, :, None])
