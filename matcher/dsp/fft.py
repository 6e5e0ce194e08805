"""The real FFTs of ``scipy.fft`` (pocketfft), without importing ``scipy.fft``.

Importing ``scipy.fft`` takes 0.25 to 0.5 s (its array-API layer pulls in ``numpy.f2py``,
``numpy.testing`` and ``scipy.special``), all of it holding the GIL, at the start of every
analysis. The transforms themselves are scipy's compiled pocketfft module, which imports on
its own in under a millisecond: it is loaded from scipy's folder directly, and called with
the arguments ``scipy.fft.rfft`` and ``scipy.fft.irfft`` give it, so that every transform is
bit for bit scipy's (``tests/test_dsp.py`` compares them). Where the module is not where
scipy 1.4 to 1.17 keep it, ``scipy.fft`` is imported and used as before.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

WORKERS = 1
"""Threads per FFT call: the engine runs its stages on threads of its own instead."""

_POCKETFFT = "scipy.fft._pocketfft.pypocketfft"
_FORWARD_NORM = 0  # scipy.fft's norm=None ("backward"): no scaling forward, 1/n inverse
_INVERSE_NORM = 2


def rfft(x: np.ndarray, n: int | None = None, axis: int = -1) -> np.ndarray:
    """``scipy.fft.rfft(x, n, axis, workers=WORKERS)``."""
    module = _pocketfft()
    if module is None:
        import scipy.fft

        return scipy.fft.rfft(x, n=n, axis=axis, workers=WORKERS)
    x = _as_float(x)
    if np.iscomplexobj(x):
        raise TypeError("x must be a real sequence")
    if n is not None:
        x = _fit_length(x, n, axis)
    elif x.shape[axis] < 1:
        raise ValueError(f"invalid number of data points ({x.shape[axis]}) specified")
    return module.r2c(x, (axis,), True, _FORWARD_NORM, None, WORKERS)


def irfft(x: np.ndarray, n: int | None = None, axis: int = -1) -> np.ndarray:
    """``scipy.fft.irfft(x, n, axis, workers=WORKERS)``."""
    module = _pocketfft()
    if module is None:
        import scipy.fft

        return scipy.fft.irfft(x, n=n, axis=axis, workers=WORKERS)
    x = _as_float(x)
    if not np.iscomplexobj(x):
        x = x + 0.0j
    if n is None:
        n = (x.shape[axis] - 1) * 2
        if n < 1:
            raise ValueError(f"invalid number of data points ({n}) specified")
    else:
        x = _fit_length(x, n // 2 + 1, axis)
    return module.c2r(x, (axis,), n, False, _INVERSE_NORM, None, WORKERS)


@functools.lru_cache(maxsize=1)
def _pocketfft() -> ModuleType | None:
    """scipy's pocketfft module, loaded from scipy's folder without running ``scipy.fft``
    (None where it cannot be found or loaded)."""
    if _POCKETFFT in sys.modules:
        return sys.modules[_POCKETFFT]
    try:
        scipy_spec = importlib.util.find_spec("scipy")  # finds the package without running it
        folders = [] if scipy_spec is None else list(scipy_spec.submodule_search_locations or [])
        for folder in folders:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = Path(folder, "fft", "_pocketfft", "pypocketfft" + suffix)
                if not path.is_file():
                    continue
                spec = importlib.util.spec_from_file_location(_POCKETFFT, path)
                if spec is None or spec.loader is None:
                    continue
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                if not all(hasattr(module, name) for name in ("r2c", "c2r")):
                    return None
                # Under its own name: scipy.fft, imported later, finds it loaded.
                sys.modules.setdefault(_POCKETFFT, module)
                return sys.modules[_POCKETFFT]
    except (ImportError, OSError, ValueError):
        return None
    return None


def _as_float(x) -> np.ndarray:
    """The input as scipy.fft takes it: floating or complex, native byte order, aligned."""
    x = np.asarray(x)
    if x.dtype == np.float16:
        return np.asarray(x, np.float32)
    if x.dtype.kind not in "fc":
        return np.asarray(x, np.float64)
    dtype = x.dtype.newbyteorder("=")
    return np.array(x, dtype=dtype, copy=True if not x.flags["ALIGNED"] else None)


def _fit_length(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """``x`` cut or zero-padded to ``n`` points along ``axis``."""
    if n < 1:
        raise ValueError(f"invalid number of data points ({n}) specified")
    index = [slice(None)] * x.ndim
    if x.shape[axis] >= n:
        index[axis] = slice(0, n)
        return x[tuple(index)]
    index[axis] = slice(0, x.shape[axis])
    shape = list(x.shape)
    shape[axis] = n
    padded = np.zeros(shape, x.dtype)
    padded[tuple(index)] = x
    return padded
