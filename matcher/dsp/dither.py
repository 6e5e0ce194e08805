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
    Values are returned as float64 exactly on the grid (``k / 2**15`` for 16 bit), clipped
    to the format's range, so that writing them converts without further rounding.
    """

    def __init__(self, bit_depth: str, dither: bool = True, seed: int = 0):
        if bit_depth not in ("16", "24", "32f"):
            raise ValueError(f"bit depth {bit_depth!r}; choose 16, 24 or 32f")
        self.bit_depth = bit_depth
        self.dither = dither and bit_depth == "16"
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        """Restart the dither sequence."""
        self._rng = np.random.default_rng(self.seed)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Quantise a block of shape (n, channels)."""
        block = np.asarray(block, dtype=np.float64)
        if self.bit_depth == "32f":
            return block.astype(np.float32).astype(np.float64)
        scale = FULL_SCALE[self.bit_depth]
        scaled = block * scale
        if self.dither:
            scaled += self._rng.random(block.shape) - self._rng.random(block.shape)
        return np.clip(np.round(scaled), -scale, scale - 1) / scale
