"""The FFTs of ``scipy.fft``, imported on first use.

Importing ``scipy.fft`` takes about 0.2 s (its array-API layer pulls in ``numpy.f2py`` and
``numpy.testing``), all of it holding the GIL. Imported on first use, inside the first
analysis, it overlaps with the decoding of the mix on the other thread, which releases the
GIL; ``automaster --help`` and argument errors never pay for it.
"""

from __future__ import annotations

import numpy as np

WORKERS = 1
"""Threads per FFT call: the engine runs its stages on threads of its own instead."""


def rfft(x: np.ndarray, n: int | None = None, axis: int = -1) -> np.ndarray:
    """``scipy.fft.rfft`` on one thread."""
    import scipy.fft

    return scipy.fft.rfft(x, n=n, axis=axis, workers=WORKERS)


def irfft(x: np.ndarray, n: int | None = None, axis: int = -1) -> np.ndarray:
    """``scipy.fft.irfft`` on one thread."""
    import scipy.fft

    return scipy.fft.irfft(x, n=n, axis=axis, workers=WORKERS)
