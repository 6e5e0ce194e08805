"""Open and validate audio files, and stream them as float blocks of shape (n, channels)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf

from matcher.errors import AudioFileError, InvalidAudioError

MIN_DURATION_S = 3.0
BLOCK_FRAMES = 1 << 18
DECODE_FRAMES = 1 << 20
"""Frames per read when decoding into memory: few calls into libsndfile, each of which
releases the GIL for its whole length, so that the decoding goes on while another thread
holds the GIL (importing, say) instead of waiting for it at every block."""
CACHE_LIMIT_BYTES = 256 * 1024 * 1024
"""Files up to this size (as float32) are decoded once and kept in memory."""


@dataclass(frozen=True)
class AudioInfo:
    """Format of a validated audio file."""

    path: Path
    sample_rate_hz: int
    channels: int
    frames: int
    format: str
    subtype: str
    promised_frames: int | None = None
    """What the header promises when the file holds less (a WAV or AIFF cut off in copying);
    None when the file is whole."""

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz

    @property
    def cut_short(self) -> str | None:
        """A sentence on how much of the audio is missing, or None for a whole file."""
        if self.promised_frames is None:
            return None
        promised_s = self.promised_frames / self.sample_rate_hz
        return (
            f"cut short: the header promises {promised_s:.2f} s, the file holds {self.duration_s:.2f} s "
            "(only that part is used)"
        )


_CUT_DATA_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
"""libsndfile's log line for a WAV's or an AIFF's audio chunk longer than the file."""


def _promised_frames(parse_log: str, frames: int) -> int | None:
    """The frames a cut-off file's header promises, from libsndfile's parse log."""
    found = _CUT_DATA_CHUNK.search(parse_log or "")
    if found is None:
        return None
    promised_bytes, present_bytes = int(found.group(1)), int(found.group(2))
    if present_bytes <= 0 or promised_bytes <= present_bytes:
        return None
    return round(frames * promised_bytes / present_bytes)


def open_audio(path: str | os.PathLike, min_duration_s: float = MIN_DURATION_S) -> AudioInfo:
    """Check that ``path`` is a readable mono or stereo audio file of a usable length.

    Raises
    ------
    AudioFileError
        Missing, a directory, unreadable, or not audio.
    InvalidAudioError
        Empty, too short, or more than two channels.
    """
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFileError(f"{p}: is a directory, not an audio file")
    if not os.access(p, os.R_OK):
        raise AudioFileError(f"{p}: permission denied")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioFileError(f"{p}: not a readable audio file ({_reason(exc)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise InvalidAudioError(f"{p}: contains no audio")
    if info.channels > 2:
        raise InvalidAudioError(f"{p}: {info.channels} channels; only mono and stereo are supported")
    duration_s = info.frames / info.samplerate
    if duration_s < min_duration_s:
        # Rounded down, so that a file just short of the minimum never reads as long enough.
        shown = f"{np.floor(duration_s * 100) / 100:.2f} s"
        length = f"{info.frames} sample{'s' * (info.frames != 1)}" if duration_s < 0.01 else shown
        raise InvalidAudioError(f"{p}: {length} long; at least {min_duration_s:g} s is needed")
    frames = int(info.frames)
    return AudioInfo(
        p, int(info.samplerate), int(info.channels), frames, info.format, info.subtype, _promised_frames(info.extra_info, frames)
    )


class AudioSource:
    """Re-readable stream of a validated file's samples, as float blocks.

    Small files are decoded once and kept (float32, exact for 16- and 24-bit PCM); long ones
    are decoded from disk on every pass. Every block is checked for NaN and infinity.

    Parameters
    ----------
    info : AudioInfo
    on_block : callable, optional
        Called with the number of frames of every block read (for progress displays).
    cache : bool
        Keep a small file in memory (for sources read more than once).
    """

    def __init__(self, info: AudioInfo, on_block: Callable[[int], None] | None = None, cache: bool = True):
        self.info = info
        self.on_block = on_block
        self._cache: np.ndarray | None = None
        if cache and 0 < info.frames and info.frames * info.channels * 4 <= CACHE_LIMIT_BYTES:
            decoded = np.empty((info.frames, info.channels), dtype=np.float32)
            filled, extra = 0, []
            for block in self._read(decoded):
                if np.shares_memory(block, decoded):
                    filled += block.shape[0]
                else:  # the header understated the length (some compressed formats)
                    extra.append(block)
            self._cache = np.concatenate([decoded[:filled], *extra]) if extra else decoded[:filled]

    def __call__(self, report: bool = True) -> Iterator[np.ndarray]:
        """Yield the file's blocks, shape (n, channels), float32; ``report=False`` reads them
        without calling ``on_block``."""
        if self._cache is None:
            yield from self._read(report=report)
            return
        for start in range(0, self._cache.shape[0], BLOCK_FRAMES):
            block = self._cache[start : start + BLOCK_FRAMES]
            if report and self.on_block:
                self.on_block(block.shape[0])
            yield block

    def _read(self, into: np.ndarray | None = None, report: bool = True) -> Iterator[np.ndarray]:
        """Decode block by block; with ``into``, decode straight into that array's rows."""
        p = self.info.path
        try:
            with sf.SoundFile(str(p)) as f:
                while True:
                    position = f.tell()
                    if into is not None and position < into.shape[0]:
                        rows = into[position : position + DECODE_FRAMES]
                        block = f.read(dtype="float32", always_2d=True, out=rows)
                    else:
                        block = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
                    if block.shape[0] == 0:
                        break
                    # A sum is cheap and not finite whenever a sample is not (or, rarely,
                    # when huge finite samples overflow it: the exact test then decides).
                    if not np.isfinite(block.sum(dtype=np.float64)) and not np.all(np.isfinite(block)):
                        at = f.tell() - block.shape[0] + int(np.argmax(~np.isfinite(block).all(axis=1)))
                        raise InvalidAudioError(
                            f"{p}: non-finite sample (NaN or infinity) at {at / self.info.sample_rate_hz:.3f} s"
                        )
                    if report and into is None and self._cache is None and self.on_block:
                        self.on_block(block.shape[0])
                    yield block
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioFileError(f"{p}: could not be decoded ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    text = text.split(": ", 1)[-1] if text.startswith("Error opening") else text
    return text.removeprefix("Error : ").rstrip(".")


class ResampledSource:
    """An :class:`AudioSource` at another sample rate (libsoxr, :class:`~matcher.dsp.resample.StreamResampler`),
    with the same interface; each pass resamples the blocks again (the same samples every
    time: the resampler does not depend on the blocks' sizes)."""

    def __init__(self, source: AudioSource, sample_rate_hz: int):
        from dataclasses import replace

        self.source = source
        self.on_block = source.on_block
        info = source.info
        frames = round(info.frames * sample_rate_hz / info.sample_rate_hz)
        self.info = replace(info, sample_rate_hz=int(sample_rate_hz), frames=frames, promised_frames=None)

    def __call__(self, report: bool = True) -> Iterator[np.ndarray]:
        from matcher.dsp.resample import StreamResampler
        from matcher.dsp.stages import through

        resampler = StreamResampler(self.source.info.sample_rate_hz, self.info.sample_rate_hz, self.info.channels)
        return through(resampler, self.source(report=report))

