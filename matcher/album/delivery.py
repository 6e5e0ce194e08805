"""An album's outputs, written as each song is rendered: the song's own file and its span of
the CD image, block by block, so that no more than one song's blocks are in memory and the
image never is.

A song's take (see :meth:`matcher.rendering.renderer.Renderer.render`) goes through
:meth:`SongOutput.take`: fades, then its own file (its rate and layout, the asked word
length) and, resampled to 44.1 kHz stereo and quantised to 16 bit with TPDF dither, a
temporary CD segment. A take the renderer does not keep is discarded with its files. Once a
song is done, :class:`CdImage` appends its segment to the image after the song's gap.

Resampling moves a song's true peak: a master at 48 kHz may hold energy between 20 and 24 kHz
(its band limit is its own rate's), which the 44.1 kHz image cannot; without it, a clipped or
limited peak rings back up (by 0.4-0.6 dB on a hot master). A resampled segment is therefore
kept in float, metered with the guarantee's meter, and quantised as it goes into the image,
lowered by what it would go over the ceiling (:attr:`SongOutput.cd_gain_db`, reported).
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
from matcher.dsp.resample import StreamResampler
from matcher.errors import AudioFileError
from matcher.io.writing import AtomicAudioWriter
from matcher.units import FLOOR_DB, gain_to_db

CD_CHANNELS = 2
COPY_FRAMES = 1 << 16
CD_PEAK_FRAME = 128
CD_PEAK_MARGIN_DB = 0.01
"""Kept under the ceiling by a resampled segment lowered to it: room for its 16-bit dither
(2 LSB at most, 0.0006 dB at -1 dBFS)."""


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
    ceiling_dbtp : float
        The CD segment's true peak is held under it (see the module's notes on resampling).
    """

    def __init__(
        self, path: Path, sample_rate_hz: int, channels: int, bit_depth: str, number: int, frames: int,
        fade_in_s: float, fade_out_s: float, fade_curve: str, ceiling_dbtp: float = 0.0,
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
        self.sound_frames = 0
        """Of the segment, before its padding to a whole CD frame."""
        self.ceiling_dbtp = ceiling_dbtp
        self.cd_gain_db = 0.0
        """Gain of the CD segment against the song's file: negative when resampling to 44.1 kHz
        raised its true peak over the ceiling and the segment was lowered to hold it."""
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
            resampler = StreamResampler(self.sample_rate_hz, redbook.CD_SAMPLE_RATE_HZ, self.channels)
        meter = LoudnessMeter(self.sample_rate_hz, self.channels)
        peaks = TruePeakDetector(self.sample_rate_hz, with_short_interpolator=False)
        state = {"peak": 0.0, "frames": 0, "cd_frames": 0}
        writer = AtomicAudioWriter(self.path, self.sample_rate_hz, self.channels, self.bit_depth, defer=True)
        # A resampled segment stays in float until it is metered (see the module's notes).
        segment = AtomicAudioWriter(
            _segment_path(self.path), redbook.CD_SAMPLE_RATE_HZ, CD_CHANNELS, "16" if resampler is None else "32f",
            defer=True,
        )
        cd_peaks = None if resampler is None else TruePeakDetector(
            redbook.CD_SAMPLE_RATE_HZ, frame_samples=CD_PEAK_FRAME, guarantee=True
        )
        state["cd_peak"] = 0.0

        def to_cd(block: np.ndarray) -> None:
            if block.shape[0]:
                cd = np.repeat(block, CD_CHANNELS, axis=1) if block.shape[1] == 1 else block
                if cd_peaks is None:
                    segment.write(cd_quantizer.process(cd))
                else:
                    cd = np.asarray(cd, dtype=np.float32)
                    segment.write(cd)
                    _note_peak(state, cd_peaks.process(cd))
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
            if cd_peaks is not None:
                _note_peak(state, cd_peaks.finish())
        self.cd_gain_db = 0.0
        if cd_peaks is not None and state["cd_peak"] > 0:
            over = float(gain_to_db(state["cd_peak"])) + cd_peaks.margin_db - (self.ceiling_dbtp - CD_PEAK_MARGIN_DB)
            self.cd_gain_db = -over if over > 0 else 0.0
        found = peaks.finish()
        peak = max(state["peak"], float(found.max()) if found.size else 0.0)
        energies = meter.finish()
        self.writer, self.segment = writer, segment
        self.segment_frames = state["cd_frames"] + padding
        self.sound_frames = state["cd_frames"]
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


def _note_peak(state: dict, found: np.ndarray) -> None:
    if found.size:
        state["cd_peak"] = max(state["cd_peak"], float(np.nanmax(found)))


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
        # A float segment (resampled) is lowered to its ceiling and quantised here; a 16-bit
        # one is copied as it is.
        quantizer = Quantizer("16", seed=song.number) if song.segment.bit_depth == "32f" else None
        gain = np.float32(10.0 ** (song.cd_gain_db / 20.0))
        read = 0
        try:
            with sf.SoundFile(str(song.segment.temporary_path)) as f:
                while True:
                    block = f.read(COPY_FRAMES, dtype="float32", always_2d=True)
                    if not block.shape[0]:
                        break
                    if quantizer is not None:
                        # The padding to a whole CD frame stays digital silence.
                        sound = max(0, min(block.shape[0], song.sound_frames - read))
                        read += block.shape[0]
                        block = np.concatenate([quantizer.process(block[:sound] * gain), np.zeros_like(block[sound:])])
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
