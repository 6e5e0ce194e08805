"""Quantisation to the output word length, with TPDF dither when reducing to 16 bit."""

from __future__ import annotations

import numpy as np

FULL_SCALE = {"16": 2.0**15, "24": 2.0**23}


class Quantizer:
    """Rounds samples onto the grid of the output format.

    Parameters
    ----------
    bit_depth : {"16", "24", "32f"}
    dither : bool
        Add TPDF dither of 2 LSB peak to peak before rounding to 16 bit (AES17-style
        practice; 24-bit output is rounded without dither, its noise floor being far below
        any playback chain's).
    seed : int
        Seed of the dither noise: the same input and seed give a bit-identical output.

    Notes
    -----
    Values are returned as float32 exactly on the grid (``k / 2**15`` for 16 bit; float32
    holds every 24-bit value exactly), clipped to the format's range, so that writing them
    converts without further rounding.
    """

    def __init__(self, bit_depth: str, dither: bool = True, seed: int = 0):
        if bit_depth not in ("16", "24", "32f"):
            raise ValueError(f"bit depth {bit_depth!r}; choose 16, 24 or 32f")
        self.bit_depth = bit_depth
        self.dither = dither and bit_depth == "16"
        self.seed = seed
        self.reset()

    @property
    def max_error(self) -> float:
        """Largest difference between an output sample and its input, below clipping."""
        if self.bit_depth == "32f":
            return 0.0  # relative float32 rounding only (2**-24 of the sample)
        lsb = 1.0 / FULL_SCALE[self.bit_depth]
        return (1.5 if self.dither else 0.5) * lsb

    @property
    def clip_level(self) -> float:
        """Largest magnitude an output sample can have."""
        return np.inf if self.bit_depth == "32f" else 1.0 - 1.0 / FULL_SCALE[self.bit_depth]

    def reset(self) -> None:
        """Restart the dither sequence."""
        # Only a dithering quantiser draws noise: numpy.random is not even imported otherwise.
        self._rng = np.random.default_rng(self.seed) if self.dither else None

    def process(self, block: np.ndarray) -> np.ndarray:
        """Quantise a block of shape (n, channels); returns a new float32 array."""
        block = np.asarray(block)
        if self.bit_depth == "32f":
            return block.astype(np.float32)
        # Float32 input is scaled and rounded in float32 (exact: 2**23 * x fits its
        # mantissa); wider input in float64, so that no rounding precedes the grid's.
        work = np.float32 if block.dtype == np.float32 else np.float64
        scale = FULL_SCALE[self.bit_depth]
        scaled = np.multiply(block, scale, dtype=work)
        if self.dither:
            scaled += self._rng.random(block.shape, dtype=work)
            scaled -= self._rng.random(block.shape, dtype=work)
        np.rint(scaled, out=scaled)
        np.clip(scaled, -scale, scale - 1, out=scaled)
        scaled *= 1.0 / scale
        return scaled.astype(np.float32, copy=False)
