"""Noise-shaped dither to 16 bit: error feedback through FFmpeg's libswresample (PyAV).

Error-feedback noise shaping quantises sample by sample, feeding each sample's rounding
error back through a filter so that the error's spectrum is pushed out of the band where
hearing is keenest (2-5 kHz) toward 15-20 kHz; numpy cannot vectorise that loop, and
libswresample has it, well kept, with the published filters. This module uses its
F-weighted filter (Wannamaker's 9-tap "psychoacoustically optimal" shape, designed at
46 kHz and used at 44.1 and 48 kHz) with TPDF dither inside the loop. Measured on a sine
(``benchmarks/bench_dither.py``): about 12 dB less noise than plain TPDF below 2 kHz and
22 dB less at 2-5 kHz, 22 dB more at 16-20 kHz, the masking curve of a quiet listening
room.

Two properties of libswresample are handled here:

- Its dither noise is a buffer as long as the longest call, generated once from a fixed
  seed and reused from its start whenever a call does not fit after the last: the output
  depends on how the stream is cut into calls. Every call here is :data:`FRAME_SAMPLES`
  long (the last one shorter), whatever the blocks it is given, so the output is the same
  for any blocking; a block's samples come out once a whole frame is in
  (:meth:`NoiseShaper.process` returns fewer samples than given, :meth:`NoiseShaper.finish`
  the rest). The noise repeats every frame (5.9 s at 44.1 kHz), far apart for a dither.
- It scales its output down a little (0.0064 dB for this filter) to leave room for the
  shaped noise at full scale; the master is measured after it, like any quantisation.
"""

from __future__ import annotations

import numpy as np

from matcher.errors import UsageError

METHOD = "f_weighted"
RATES_HZ = (44100, 48000)
"""Rates the filter is made for (within 5 % of its 46 kHz design): other rates fall back."""
FRAME_SAMPLES = 1 << 18
SUM_ABS_TAPS = 21.39
"""Sum of the magnitudes of the filter's nine taps (Wannamaker 1992, F-weighted)."""
OUTPUT_SCALE_LOSS = 7.5e-4
"""libswresample's output scaling for this filter, 1 - 10**(276 / 200) * 2 / 65536 = 0.99927
(its headroom for the shaped noise), bounded above."""
MAX_ERROR_LSB = 1.5 * (1.0 + SUM_ABS_TAPS) + OUTPUT_SCALE_LOSS * 2.0**15
"""Largest difference between an output sample and its input (LSB), below clipping: the
rounding and dither (at most 1.5 LSB), the filter's sum over past errors (each at most
1.5 LSB), and the output's scaling at full scale (which only lowers a sample)."""


def available() -> bool:
    """Whether PyAV (FFmpeg) is installed."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    """Raises UsageError, saying how to install it, without PyAV."""
    if not available():
        raise UsageError("--dither shaped needs FFmpeg through PyAV: pip install 'automaster[ffmpeg]'")


def shapes_at(sample_rate_hz: int) -> bool:
    """Whether noise shaping has a filter at this rate (else high-pass TPDF is used)."""
    return int(sample_rate_hz) in RATES_HZ


class NoiseShaper:
    """Quantises float blocks (n, channels) to 16 bit with noise-shaped dither, in frames of
    :data:`FRAME_SAMPLES`; returns float32 samples exactly on the 16-bit grid."""

    def __init__(self, sample_rate_hz: int, channels: int):
        require()
        if not shapes_at(sample_rate_hz):
            raise ValueError(f"noise shaping has no filter at {sample_rate_hz} Hz")
        if channels not in (1, 2):
            raise ValueError(f"{channels} channels; noise shaping takes mono or stereo")
        self.sample_rate_hz = int(sample_rate_hz)
        self.channels = channels
        self._graph = self._pts = None
        self._pending: list[np.ndarray] = []
        self._held = 0
        self.reset()

    def reset(self) -> None:
        """Start again: a new filter graph, nothing held."""
        from av.filter import Graph

        layout = "stereo" if self.channels == 2 else "mono"
        graph = Graph()
        source = graph.add_abuffer(format="flt", sample_rate=self.sample_rate_hz, layout=layout, channels=self.channels)
        shaper = graph.add("aresample", f"osf=s16:dither_method={METHOD}")
        sink = graph.add("abuffersink")
        source.link_to(shaper)
        shaper.link_to(sink)
        graph.configure()
        self._graph, self._layout, self._pts = graph, layout, 0
        self._pending, self._held = [], 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Take a block; return the quantised samples of every frame now complete."""
        block = np.asarray(block, dtype=np.float32)
        if block.shape[0]:
            self._pending.append(block)
            self._held += block.shape[0]
        out = []
        while self._held >= FRAME_SAMPLES:
            out.append(self._frame(self._take(FRAME_SAMPLES)))
        return self._joined(out)

    def finish(self) -> np.ndarray:
        """The quantised rest (one shorter frame)."""
        out = [self._frame(self._take(self._held))] if self._held else []
        return self._joined(out)

    def _take(self, count: int) -> np.ndarray:
        held = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending = [held[count:]] if held.shape[0] > count else []
        self._held -= count
        return held[:count]

    def _frame(self, samples: np.ndarray) -> np.ndarray:
        import av

        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples).reshape(1, -1), format="flt", layout=self._layout
        )
        frame.sample_rate = self.sample_rate_hz
        frame.pts = self._pts
        self._pts += samples.shape[0]
        self._graph.push(frame)
        pieces = []
        while True:
            try:
                pulled = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                break
            pieces.append(pulled.to_ndarray().reshape(-1, self.channels))
        quantised = np.concatenate(pieces) if pieces else np.zeros((0, self.channels), dtype=np.int16)
        if quantised.shape[0] != samples.shape[0]:
            raise RuntimeError(f"noise shaping returned {quantised.shape[0]} samples for {samples.shape[0]}")
        return quantised.astype(np.float32) * np.float32(2.0**-15)

    def _joined(self, out: list[np.ndarray]) -> np.ndarray:
        if not out:
            return np.zeros((0, self.channels), dtype=np.float32)
        return out[0] if len(out) == 1 else np.concatenate(out)
