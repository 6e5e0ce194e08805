"""Quantisation to the output word length, with TPDF dither when reducing to 16 bit.

Two dithers: plain TPDF (the difference of two independent uniform draws per sample, 2 LSB
peak to peak, white), and high-pass TPDF (the difference of one uniform sequence and itself a
sample later, Wannamaker's "HP-TPDF": the same triangular distribution, so it removes the
quantisation's distortion as well, with its power rising 6 dB per octave toward Nyquist). The
second leaves less noise where hearing is keenest: the total error (the rounding's own, white,
plus the dither) measures 1/12 LSB^2 at low frequencies against TPDF's 3/12 (-4.8 dB), and
5/12 at Nyquist (+2.2 dB). Error-feedback noise shaping (``"shaped"``), whose loop quantises
sample by sample, is :mod:`matcher.dsp.noiseshaping`'s (FFmpeg's libswresample); at rates
it has no filter for, high-pass TPDF is used.
"""

from __future__ import annotations

import numpy as np

FULL_SCALE = {"16": 2.0**15, "24": 2.0**23}
DITHER_SHAPES = ("tpdf", "hp-tpdf", "shaped")


class Quantizer:
    """Rounds samples onto the grid of the output format.

    Parameters
    ----------
    bit_depth : {"16", "24", "32f"}
    dither : bool
        Add TPDF dither of 2 LSB peak to peak before rounding to 16 bit (AES17-style
        practice; 24-bit output is rounded without dither, its noise floor being far below
        any playback chain's).
    shape : {"tpdf", "hp-tpdf", "shaped"}
        ``"hp-tpdf"``: high-pass TPDF (see the module's notes); ``"shaped"``: error-feedback
        noise shaping (:class:`~matcher.dsp.noiseshaping.NoiseShaper`) at 44.1 and 48 kHz,
        high-pass TPDF at other rates. Noise shaping hands samples back a frame at a time:
        :meth:`process` may return fewer than it was given, :meth:`finish` the rest.
    seed : int
        Seed of the dither noise: the same input and seed give a bit-identical output
        (noise shaping's noise is libswresample's own, fixed).
    sample_rate_hz, channels : int, optional
        Needed for ``"shaped"``.

    Notes
    -----
    Values are returned as float32 exactly on the grid (``k / 2**15`` for 16 bit; float32
    holds every 24-bit value exactly), clipped to the format's range, so that writing them
    converts without further rounding.
    """

    def __init__(
        self,
        bit_depth: str,
        dither: bool = True,
        seed: int = 0,
        shape: str = "tpdf",
        sample_rate_hz: int | None = None,
        channels: int | None = None,
    ):
        if bit_depth not in ("16", "24", "32f"):
            raise ValueError(f"bit depth {bit_depth!r}; choose 16, 24 or 32f")
        if shape not in DITHER_SHAPES:
            raise ValueError(f"dither shape {shape!r}; choose {', '.join(DITHER_SHAPES)}")
        self.bit_depth = bit_depth
        self.dither = dither and bit_depth == "16"
        self.seed = seed
        self._shaper = None
        self._channels = channels or 0
        if shape == "shaped" and self.dither:
            from matcher.dsp.noiseshaping import NoiseShaper, shapes_at

            if sample_rate_hz is None or channels is None:
                raise ValueError("noise shaping needs the sample rate and the channels")
            if shapes_at(sample_rate_hz):
                self._shaper = NoiseShaper(sample_rate_hz, channels)
            else:
                shape = "hp-tpdf"
        self.shape = shape
        self.reset()

    @property
    def max_error(self) -> float:
        """Largest difference between an output sample and its input, below clipping."""
        if self.bit_depth == "32f":
            return 0.0  # relative float32 rounding only (2**-24 of the sample)
        lsb = 1.0 / FULL_SCALE[self.bit_depth]
        if self._shaper is not None:
            from matcher.dsp.noiseshaping import MAX_ERROR_LSB

            return MAX_ERROR_LSB * lsb
        return (1.5 if self.dither else 0.5) * lsb

    @property
    def clip_level(self) -> float:
        """Largest magnitude an output sample can have."""
        return np.inf if self.bit_depth == "32f" else 1.0 - 1.0 / FULL_SCALE[self.bit_depth]

    def reset(self) -> None:
        """Restart the dither sequence."""
        # Only a dithering quantiser draws noise: numpy.random is not even imported otherwise.
        self._rng = np.random.default_rng(self.seed) if self.dither and self._shaper is None else None
        self._last: np.ndarray | None = None  # the high-pass dither's previous draw, per channel
        if self._shaper is not None:
            self._shaper.reset()

    def process(self, block: np.ndarray) -> np.ndarray:
        """Quantise a block of shape (n, channels); returns a new float32 array."""
        block = np.asarray(block)
        self._channels = block.shape[1]
        if self.bit_depth == "32f":
            return block.astype(np.float32)
        if self._shaper is not None:
            return self._shaper.process(block)
        # Float32 input is scaled and rounded in float32 (exact: 2**23 * x fits its
        # mantissa); wider input in float64, so that no rounding precedes the grid's.
        work = np.float32 if block.dtype == np.float32 else np.float64
        scale = FULL_SCALE[self.bit_depth]
        scaled = np.multiply(block, scale, dtype=work)
        if self.dither and self.shape == "hp-tpdf":
            # One uniform sequence, drawn in order whatever the blocks: d[n] = r[n] - r[n-1]
            # (r[-1], the first draw of all).
            if self._last is None:
                self._last = self._rng.random(block.shape[1], dtype=work)
            draws = self._rng.random(block.shape, dtype=work)
            if block.shape[0]:
                previous = np.empty_like(draws)
                previous[0] = self._last
                previous[1:] = draws[:-1]
                self._last = draws[-1].copy()
                scaled += draws
                scaled -= previous
        elif self.dither:
            scaled += self._rng.random(block.shape, dtype=work)
            scaled -= self._rng.random(block.shape, dtype=work)
        np.rint(scaled, out=scaled)
        np.clip(scaled, -scale, scale - 1, out=scaled)
        scaled *= 1.0 / scale
        return scaled.astype(np.float32, copy=False)

    def finish(self) -> np.ndarray:
        """What is still held (noise shaping's last frame); empty for the other dithers."""
        if self._shaper is not None:
            return self._shaper.finish()
        return np.zeros((0, self._channels), dtype=np.float32)
