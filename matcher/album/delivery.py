"""An album's outputs, written as each song is rendered: the song's own file and its span of
the CD image, block by block, so that no more than one song's blocks are in memory and the
image never is.

A song's take (see :meth:`matcher.rendering.renderer.Renderer.render`) goes through
:meth:`SongOutput.take`: fades, then its own file (its rate and layout, the asked word
length) and, resampled to 44.1 kHz stereo and quantised to 16 bit with TPDF dither, a
temporary CD segment. A take the renderer does not keep is discarded with its files. Once a
song is done, :class:`CdImage` appends its segment to the image after the song's gap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from matcher.album import redbook
from matcher.album.edits import Fades
from matcher.analysis.loudness import LoudnessMeter, SubBlockEnergies
from matcher.analysis.truepeak import TruePeakDetector
from matcher.dsp.dither import Quantizer
from matcher.dsp.resample import PolyphaseResampler
from matcher.errors import AudioFileError
from matcher.io.writing import AtomicAudioWriter
from matcher.units import FLOOR_DB, gain_to_db

CD_CHANNELS = 2
COPY_FRAMES = 1 << 16


@dataclass(frozen=True)
class Measured:
    """A delivered song's file, measured as it was written (ITU-R BS.1770-4, EBU Tech 3342)."""

    lufs: float
    true_peak_dbtp: float
    loudness_range_lu: float
    frames: int
    energies: SubBlockEnergies = field(repr=False, compare=False)
    """Its K-weighted energy per 100 ms (a few kB a minute): the album's loudness as its
    files read it is measured over every song's, one after another."""


def joined_loudness_lufs(measured: list[Measured]) -> float:
    """Integrated loudness (BS.1770-4) of songs played one after another, as ReplayGain 2.0
    measures an album: every song's 400 ms blocks gated together, at its own rate and layout."""
    energies = [m.energies for m in measured]
    return SubBlockEnergies(
        np.concatenate([e.sums for e in energies]), np.concatenate([e.lengths for e in energies])
    ).integrated_lufs()


class SongOutput:
    """One song's deliverables while it is rendered.

    Parameters
    ----------
    path : Path
        The song's own file.
    sample_rate_hz, channels : int
        Its rate and layout (the render's).
    bit_depth : str
        Its word length ("16", "24" or "32f").
    number : int
        Track number: the seed of both dithers.
    frames : int
        The song's length in samples (for the fade-out).
    fade_in_s, fade_out_s : float
    fade_curve : str
    """

    def __init__(
        self, path: Path, sample_rate_hz: int, channels: int, bit_depth: str, number: int, frames: int,
        fade_in_s: float, fade_out_s: float, fade_curve: str,
    ):
        self.path = path
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.bit_depth = bit_depth
        self.number = number
        self.frames = frames
        self._fades = (fade_in_s, fade_out_s, fade_curve)
        self.writer: AtomicAudioWriter | None = None
        """The song's file, finished and not yet in place (see :meth:`commit`)."""
        self.segment: AtomicAudioWriter | None = None
        """Its CD segment (44.1 kHz stereo, 16 bit, padded to a whole CD frame)."""
        self.segment_frames = 0
        self.measured: Measured | None = None

    @contextlib.contextmanager
    def take(self) -> Iterator:
        """The destination of one take: a sink for the render's blocks (n, channels). On an
        exception inside (a take not kept, an error, Ctrl-C) both files of the take are removed."""
        self.discard()
        fades = Fades(self.frames, self.sample_rate_hz, *self._fades)
        quantizer = Quantizer(self.bit_depth, seed=self.number)
        cd_quantizer = Quantizer("16", seed=self.number)
        resampler = None
        if self.sample_rate_hz != redbook.CD_SAMPLE_RATE_HZ:
            resampler = PolyphaseResampler(self.sample_rate_hz, redbook.CD_SAMPLE_RATE_HZ, self.channels)
        meter = LoudnessMeter(self.sample_rate_hz, self.channels)
        peaks = TruePeakDetector(self.sample_rate_hz, with_short_interpolator=False)
        state = {"peak": 0.0, "frames": 0, "cd_frames": 0}
        writer = AtomicAudioWriter(self.path, self.sample_rate_hz, self.channels, self.bit_depth, defer=True)
        segment = AtomicAudioWriter(_segment_path(self.path), redbook.CD_SAMPLE_RATE_HZ, CD_CHANNELS, "16", defer=True)

        def to_cd(block: np.ndarray) -> None:
            if block.shape[0]:
                cd = np.repeat(block, CD_CHANNELS, axis=1) if block.shape[1] == 1 else block
                segment.write(cd_quantizer.process(cd))
                state["cd_frames"] += block.shape[0]

        def sink(block: np.ndarray) -> None:
            master = fades.process(np.array(block, dtype=np.float32))
            delivered = quantizer.process(master)
            writer.write(delivered)
            meter.process(delivered)
            found = peaks.process(delivered)
            if found.size:
                state["peak"] = max(state["peak"], float(found.max()))
            state["frames"] += delivered.shape[0]
            to_cd(master if resampler is None else resampler.process(master))

        with writer, segment:
            yield sink
            if resampler is not None:
                to_cd(resampler.finish())
            padding = redbook.round_up_to_frame(state["cd_frames"]) - state["cd_frames"]
            if padding:
                segment.write(np.zeros((padding, CD_CHANNELS), dtype=np.float32))
        found = peaks.finish()
        peak = max(state["peak"], float(found.max()) if found.size else 0.0)
        energies = meter.finish()
        self.writer, self.segment = writer, segment
        self.segment_frames = state["cd_frames"] + padding
        self.measured = Measured(
            lufs=energies.integrated_lufs(),
            true_peak_dbtp=float(gain_to_db(peak)) if peak > 0 else FLOOR_DB,
            loudness_range_lu=energies.loudness_range_lu(),
            frames=state["frames"],
            energies=energies,
        )

    def discard(self) -> None:
        """Remove the song's file and segment (kept or not)."""
        for writer in (self.writer, self.segment):
            if writer is not None:
                writer.discard()
        self.writer = self.segment = None

    def drop_segment(self) -> None:
        """Remove the CD segment once it is in the image."""
        if self.segment is not None:
            self.segment.discard()
            self.segment = None


class CdImage:
    """The album's CD image (44.1 kHz, 16-bit stereo WAV), written in play order: gaps of
    silence and the songs' segments, every length a whole CD frame; metered as it is written.

    Use as a context manager; the finished file stays temporary until :meth:`commit`.
    """

    def __init__(self, path: Path):
        self.writer = AtomicAudioWriter(path, redbook.CD_SAMPLE_RATE_HZ, CD_CHANNELS, "16", defer=True)
        self.meter = LoudnessMeter(redbook.CD_SAMPLE_RATE_HZ, CD_CHANNELS)
        self.position = 0
        """Samples written so far (the next song's start, when it has no gap)."""

    def __enter__(self) -> "CdImage":
        self.writer.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.writer.__exit__(exc_type, exc, tb)

    def gap(self, samples: int) -> None:
        """Silence before a song (a whole number of CD frames)."""
        for start in range(0, samples, COPY_FRAMES):
            self._write(np.zeros((min(COPY_FRAMES, samples - start), CD_CHANNELS), dtype=np.float32))

    def append(self, song: SongOutput) -> int:
        """Copy a song's CD segment into the image; return where it starts (samples)."""
        start = self.position
        if song.segment is None or song.segment.temporary_path is None:
            raise RuntimeError("the song has no CD segment to append")
        try:
            with sf.SoundFile(str(song.segment.temporary_path)) as f:
                while True:
                    block = f.read(COPY_FRAMES, dtype="float32", always_2d=True)
                    if not block.shape[0]:
                        break
                    self._write(block)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise AudioFileError(f"{song.path}: its CD segment cannot be read back ({exc})") from None
        song.drop_segment()
        return start

    def loudness_lufs(self) -> float:
        """Integrated loudness of the image so far (BS.1770-4)."""
        return float(self.meter.finish().integrated_lufs())

    def commit(self) -> None:
        self.writer.commit()

    def discard(self) -> None:
        self.writer.discard()

    def _write(self, block: np.ndarray) -> None:
        self.writer.write(block)
        self.meter.process(block)
        self.position += block.shape[0]


def _segment_path(song_path: Path) -> Path:
    """Where a song's CD segment is written (as a temporary file beside it, never renamed)."""
    return song_path.with_name(f".{song_path.stem}.cd.wav")
