"""Lossy deliverables (MP3, Ogg Vorbis, Opus) whose decoded audio holds the ceiling.

A lossy encoder does not keep the waveform: its quantisation noise and band-limiting add
peaks, between samples and on them, so a master at -1 dBTP can decode above 0 dBTP. Apple's
Digital Masters tools measure the decoded file (``afclip``); the practice is to lower the
level before encoding until the decoded file holds the ceiling. :func:`deliver_lossy` does
that: it encodes the master, decodes what it wrote, reads its true peak with the master's
guarantee meter (which never reads an ideal band-limited reconstruction low) and, while the
decoded file is over the ceiling, lowers the gain before the encoder by the excess (and a
little) and encodes again.

The encoders are libsndfile's, through ``soundfile`` (the package's audio I/O): LAME for MP3
(constant 320 kbit/s), libvorbis (quality 10), libopus (its highest bit rate). LAME through
``lameenc`` was tried for speed (3.9 s instead of 8.6 s to encode a 3-minute master, at its
``-q 2``): its files carry no gapless header, so they decode 1,456 samples longer (the
encoder's delay and padding), and it needed 0.34 dB less level before encoding to hold
-1 dBTP where libsndfile's LAME needed 0.18 dB. Every encoder runs block by block, so a
long master is never held whole. Opus is defined at
48 kHz (and 8-24 kHz): other rates are resampled to 48 kHz first (libsoxr, as the album's
CD image is). AAC (``.m4a``, 256 kbit/s) has no libsndfile encoder: it is FFmpeg's native
encoder through PyAV (``pip install automaster[ffmpeg]``), which also decodes it back.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from matcher.analysis.loudness import LoudnessMeter
from matcher.analysis.truepeak import TruePeakDetector
from matcher.concurrency import engine_call
from matcher.errors import AudioFileError
from matcher.io.reading import AudioSource, ResampledSource, open_audio
from matcher.io.writing import new_file_mode
from matcher.units import db_to_gain, gain_to_db

BLOCK_SAMPLES = 1 << 16
METER_FRAME_SAMPLES = 32
"""The guarantee meter's frame (its interpolation is one banded matrix product per frame)."""


@dataclass(frozen=True)
class LossyFormat:
    """A lossy container and codec libsndfile writes."""

    name: str
    container: str
    subtype: str
    rates_hz: tuple[int, ...] | None
    """The sample rates the codec takes (None: the master's own, up to 48 kHz)."""
    bitrate_mode: str | None


LOSSY_FORMATS = {
    ".mp3": LossyFormat("MP3 320 kbit/s", "MP3", "MPEG_LAYER_III", (32000, 44100, 48000), "CONSTANT"),
    ".ogg": LossyFormat("Ogg Vorbis q10", "OGG", "VORBIS", None, None),
    ".opus": LossyFormat("Opus", "OGG", "OPUS", (48000,), None),
    ".m4a": LossyFormat("AAC 256 kbit/s", "M4A", "AAC", (8000, 11025, 16000, 22050, 32000, 44100, 48000), None),
}
AAC_BIT_RATE = 256000
MAX_ENCODES = 5
"""Encodes at most: the first, and corrections of the decoded file's excess."""
CORRECTION_MARGIN_DB = 0.05
"""Each correction lowers the level this much further than the decoded excess: an encoder's
peaks move a little with its input's level."""


def is_lossy(path: str | os.PathLike) -> bool:
    """Whether the file name asks for a lossy deliverable."""
    return Path(path).suffix.lower() in LOSSY_FORMATS


def lossy_format(path: str | os.PathLike) -> LossyFormat:
    """The lossy format a file name asks for.

    Raises
    ------
    AudioFileError
        Not a lossy extension.
    """
    fmt = LOSSY_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise AudioFileError(f"{path}: not a lossy format; use .mp3, .ogg, .opus or .m4a")
    return fmt


@dataclass(frozen=True)
class LossyDelivery:
    """A lossy file written from a master, and what its decoded audio measures.

    Attributes
    ----------
    path : Path
    format_name : str
    sample_rate_hz : int
        The file's rate (Opus: 48 kHz whatever the master's).
    gain_db : float
        Gain before the encoder (<= 0): what holding the ceiling after decoding took.
    decoded_true_peak_dbtp : float
        True peak of the decoded file, by the master's guarantee meter (reading plus margin).
    decoded_lufs : float
        Integrated loudness of the decoded file (ITU-R BS.1770-4).
    clipped_samples : int
        Samples of the decoded file at or beyond full scale (what ``afclip`` counts on-sample).
    encodes : int
        How many times it was encoded.
    ceiling_dbtp : float
    """

    path: Path
    format_name: str
    sample_rate_hz: int
    gain_db: float
    decoded_true_peak_dbtp: float
    decoded_lufs: float
    clipped_samples: int
    encodes: int
    ceiling_dbtp: float

    @property
    def holds(self) -> bool:
        """The decoded file is at or under the ceiling."""
        return self.decoded_true_peak_dbtp <= self.ceiling_dbtp


@engine_call
def deliver_lossy(master: Path, output: Path, ceiling_dbtp: float) -> LossyDelivery:
    """Encode the master file at ``master`` into ``output`` (format by its extension) so that
    its decoded audio is at or under ``ceiling_dbtp`` on the guarantee meter; written
    atomically (a temporary file in the output's folder, renamed when done). Its meters run
    on one BLAS thread (an engine call), so the check decides the same gain, and the file is
    the same bytes, whatever the thread pools.

    Raises
    ------
    AudioFileError
        The master cannot be read, or the output cannot be written.
    """
    fmt = lossy_format(output)
    info = open_audio(master, min_duration_s=0.0)
    rate = _encoded_rate(info.sample_rate_hz, fmt)
    folder = output.parent if str(output.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=output.suffix, dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        gain_db = 0.0
        for encodes in range(1, MAX_ENCODES + 1):
            _encode(master, tmp, fmt, rate, info.channels, gain_db)
            peak_dbtp, clipped, lufs = _decoded_figures(tmp)
            excess = peak_dbtp - ceiling_dbtp
            if excess <= 0.0 or encodes == MAX_ENCODES:
                break
            gain_db -= excess + CORRECTION_MARGIN_DB
        os.chmod(tmp, new_file_mode(output))
        os.replace(tmp, output)
    except (OSError, sf.LibsndfileError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        raise AudioFileError(f"{output}: cannot be written ({exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return LossyDelivery(output, fmt.name, rate, gain_db, peak_dbtp, lufs, clipped, encodes, ceiling_dbtp)


def deliver_all(master: Path, outputs: tuple[Path, ...], ceiling_dbtp: float) -> tuple[LossyDelivery, ...]:
    """:func:`deliver_lossy` for each output, two at a time (the encoders and decoders are C
    libraries that let go of the GIL; each file is its own, the same bytes either way)."""
    if len(outputs) < 2:
        return tuple(deliver_lossy(master, path, ceiling_dbtp) for path in outputs)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="automaster-lossy") as pool:
        return tuple(pool.map(lambda path: deliver_lossy(master, path, ceiling_dbtp), outputs))


def _encoded_rate(rate_hz: int, fmt: LossyFormat) -> int:
    """The rate the codec is given: the master's when it takes it, else the nearest it takes
    above (Opus: 48 kHz), else its highest."""
    if fmt.rates_hz is None:
        if rate_hz > 48000:
            return 48000
        return rate_hz
    if rate_hz in fmt.rates_hz:
        return rate_hz
    higher = [r for r in fmt.rates_hz if r >= rate_hz]
    return min(higher) if higher else max(fmt.rates_hz)


def _blocks(path: Path, rate_hz: int) -> Iterator[np.ndarray]:
    """The file's samples (float32) in blocks, resampled to ``rate_hz`` when it differs (the
    render's own readers, :class:`~matcher.io.reading.AudioSource` and
    :class:`~matcher.io.reading.ResampledSource`)."""
    source = AudioSource(open_audio(path, min_duration_s=0.0), cache=False)
    if source.info.sample_rate_hz != rate_hz:
        source = ResampledSource(source, rate_hz)
    return source(report=False)


def _encode(master: Path, tmp: Path, fmt: LossyFormat, rate_hz: int, channels: int, gain_db: float) -> None:
    gain = np.float32(db_to_gain(gain_db))
    if fmt.container == "M4A":
        _encode_aac(master, tmp, rate_hz, channels, gain)
        return
    options = {"compression_level": 0.0}
    if fmt.bitrate_mode is not None:
        options["bitrate_mode"] = fmt.bitrate_mode
    with sf.SoundFile(str(tmp), "w", rate_hz, channels, fmt.subtype, format=fmt.container, **options) as out:
        for block in _blocks(master, rate_hz):
            if block.shape[0]:
                out.write(block * gain if gain_db else block)
    if fmt.container == "OGG":
        _fix_ogg_serial(tmp)


OGG_SERIAL = 0x616D7374
"""The Ogg stream's serial number: libsndfile draws a random one, so that the same master
encoded twice would differ in every page's header (and CRC). ``amst``."""


def _fix_ogg_serial(path: Path) -> None:
    """Give every page of a single-stream Ogg file :data:`OGG_SERIAL` (mutagen writes each
    page again with its CRC), page by page through a second file."""
    from mutagen.ogg import OggPage

    size = path.stat().st_size
    fixed = path.with_name(path.name + ".serial")
    try:
        with open(path, "rb") as source, open(fixed, "wb") as out:
            while source.tell() < size:
                page = OggPage(source)
                page.serial = OGG_SERIAL
                out.write(page.write())
        os.replace(fixed, path)
    finally:
        fixed.unlink(missing_ok=True)


def _av():
    try:
        import av
    except ImportError:
        raise AudioFileError("AAC (.m4a) needs PyAV: pip install 'automaster[ffmpeg]'") from None
    return av


def _encode_aac(master: Path, tmp: Path, rate_hz: int, channels: int, gain: np.float32) -> None:
    av = _av()
    layout = "stereo" if channels == 2 else "mono"
    position = 0
    with av.open(str(tmp), "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate_hz, layout=layout)
        stream.bit_rate = AAC_BIT_RATE
        for block in _blocks(master, rate_hz):
            if not block.shape[0]:
                continue
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray((block * gain).T), format="fltp", layout=layout)
            frame.sample_rate = rate_hz
            frame.pts = position
            position += block.shape[0]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _decoded(path: Path) -> tuple[int, int, Iterator[np.ndarray]]:
    """A file as its decoder gives it: rate, channels and float32 blocks (n, channels)."""
    if path.suffix.lower() == ".m4a":
        av = _av()
        container = av.open(str(path))
        stream = container.streams.audio[0]

        def frames() -> Iterator[np.ndarray]:
            with container:
                for frame in container.decode(stream):
                    yield np.ascontiguousarray(frame.to_ndarray().T, dtype=np.float32)

        return stream.rate, stream.channels, frames()
    f = sf.SoundFile(str(path))

    def blocks() -> Iterator[np.ndarray]:
        with f:
            while True:
                block = f.read(BLOCK_SAMPLES, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                yield block

    return f.samplerate, f.channels, blocks()


def _decoded_figures(path: Path) -> tuple[float, int, float]:
    """True peak (dBTP, the guarantee meter's reading plus its margin), the count of samples
    at or beyond full scale and the integrated loudness (LUFS) of a file as its decoder
    gives it."""
    rate, channels, blocks = _decoded(path)
    detector = TruePeakDetector(rate, frame_samples=METER_FRAME_SAMPLES, guarantee=True)
    meter = LoudnessMeter(rate, channels)
    peak = 0.0
    clipped = 0
    for block in blocks:
        meter.process(block)
        clipped += int(np.count_nonzero(np.abs(block) >= 1.0))
        readings = detector.process(block)
        if readings.size:
            peak = max(peak, float(np.nanmax(readings)))
    readings = detector.finish()
    if readings.size:
        peak = max(peak, float(np.nanmax(readings)))
    lufs = float(meter.finish().integrated_lufs())
    return float(gain_to_db(peak)) + detector.margin_db, clipped, lufs


@dataclass(frozen=True)
class Outputs:
    """Where one run writes: the master (rendered once), other lossless copies of it, and
    lossy deliverables encoded from it.

    Attributes
    ----------
    master : Path
        The file the render writes: the first lossless output asked for, else a temporary
        file beside the first output (removed once the lossy files are made).
    copies : tuple of Path
        Further lossless outputs (WAV, FLAC, AIFF): the master's samples in another container.
    lossy : tuple of Path
    temporary : bool
        The master is not one of the outputs asked for.
    """

    master: Path
    copies: tuple[Path, ...]
    lossy: tuple[Path, ...]
    temporary: bool

    @property
    def asked(self) -> tuple[Path, ...]:
        """Every output asked for, the master's first when it is one."""
        return (*(() if self.temporary else (self.master,)), *self.copies, *self.lossy)


def plan_outputs(paths: list[Path], bit_depth: str) -> Outputs:
    """Sort the outputs asked for (in order) into the master, copies and lossy files.

    Raises
    ------
    AudioFileError
        An unknown extension, a format that cannot hold ``bit_depth``, or a path given twice.
    """
    from matcher.io.writing import FORMATS, output_format

    if not paths:
        raise AudioFileError("no output file given")
    for path in paths:
        if not is_lossy(path) and path.suffix.lower() not in FORMATS:
            raise AudioFileError(
                f"{path}: unknown output format; use .wav, .flac, .aif or .aiff, or lossy .mp3, .ogg, .opus or .m4a"
            )
    seen: set[str] = set()
    for path in paths:
        key = os.path.normcase(os.path.abspath(path))
        if key in seen:
            raise AudioFileError(f"{path}: given twice as an output")
        seen.add(key)
    lossless = [p for p in paths if not is_lossy(p)]
    for path in lossless:
        output_format(path, bit_depth)
    lossy = tuple(p for p in paths if is_lossy(p))
    if lossless:
        return Outputs(lossless[0], tuple(lossless[1:]), lossy, False)
    first = paths[0]
    folder = first.parent if str(first.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{first.stem}.master.", suffix=".wav", dir=folder)
    os.close(fd)
    os.unlink(name)  # the render's atomic writer makes it
    return Outputs(Path(name), (), lossy, True)


def copy_master(master: Path, output: Path, bit_depth: str) -> None:
    """Write the master's samples into another lossless container, atomically (the same
    samples: its bit depth is the master's)."""
    from matcher.io.writing import AtomicAudioWriter

    try:
        info = sf.info(str(master))
    except (OSError, sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{master}: cannot be read ({exc})") from None
    dtype = "float32" if bit_depth == "32f" else "int32"
    with AtomicAudioWriter(output, info.samplerate, info.channels, bit_depth) as writer, sf.SoundFile(str(master)) as f:
        while True:
            block = f.read(BLOCK_SAMPLES, dtype=dtype, always_2d=True)
            if block.shape[0] == 0:
                break
            writer.write(block if dtype == "float32" else block.astype(np.float64) / 2.0**31)
