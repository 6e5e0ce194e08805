"""Atomic writing: a temporary file in the target folder, flushed, then renamed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from matcher.errors import AudioFileError, OutputExistsError

FORMATS = {".wav": "WAV", ".flac": "FLAC", ".aif": "AIFF", ".aiff": "AIFF"}
SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}
SFC_SET_ADD_PEAK_CHUNK = 0x1050
"""libsndfile's command (sndfile.h) that switches off the PEAK chunk of float files: it holds
the time of writing, so that the same master written twice would differ in four bytes."""


def output_format(path: str | os.PathLike, bit_depth: str) -> tuple[str, str]:
    """Container and sample format for a file name and bit depth.

    Raises
    ------
    AudioFileError
        Unknown extension, or a combination the container cannot hold (float FLAC).
    """
    p = Path(path)
    container = FORMATS.get(p.suffix.lower())
    if container is None:
        raise AudioFileError(f"{p}: unknown output format; use .wav, .flac, .aif or .aiff")
    subtype = SUBTYPES[bit_depth]
    if container == "FLAC" and subtype == "FLOAT":
        raise AudioFileError(f"{p}: FLAC cannot hold 32-bit float; use 16 or 24 bit, or .wav")
    return container, subtype


def check_output_path(path: Path, inputs: list[Path], force: bool) -> None:
    """Refuse to overwrite an input, or an existing file without ``force``."""
    for source in inputs:
        if path.exists() and source.exists() and os.path.samefile(path, source):
            raise AudioFileError(f"{path}: is an input file; choose another output")
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: already exists (use --force to overwrite)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise AudioFileError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise AudioFileError(f"{path}: folder {folder} is not writable")


class AtomicAudioWriter:
    """Write audio to ``path`` through a temporary file that is renamed only on success.

    Use as a context manager: on any exception (or Ctrl-C) the temporary file is removed and
    ``path`` is left as it was.

    With ``defer=True`` the finished temporary file is kept (``temporary_path``) until
    :meth:`commit` renames it or :meth:`discard` removes it: for files that are only done
    once others are (an album's songs get their album gain tags last).
    """

    def __init__(self, path: str | os.PathLike, sample_rate_hz: int, channels: int, bit_depth: str, defer: bool = False):
        self.path = Path(path)
        self.defer = defer
        self.bit_depth = bit_depth
        self._container, self._subtype = output_format(self.path, bit_depth)
        self._sample_rate_hz = sample_rate_hz
        self._channels = channels
        self._tmp: Path | None = None
        self._file: sf.SoundFile | None = None

    def __enter__(self) -> "AtomicAudioWriter":
        folder = self.path.parent if str(self.path.parent) else Path(".")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
            self._tmp = Path(tmp)
            os.fchmod(fd, new_file_mode(self.path))
            os.close(fd)
            self._file = sf.SoundFile(
                tmp, "w", self._sample_rate_hz, self._channels, self._subtype, format=self._container
            )
            if self._subtype == "FLOAT":
                _without_peak_chunk(self._file)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            self._discard()
            raise AudioFileError(f"{self.path}: cannot be written ({exc})") from None
        return self

    def write(self, block: np.ndarray) -> None:
        """Append a block of quantised float samples, shape (n, channels)."""
        assert self._file is not None
        try:
            self._file.write(_to_file_dtype(np.asarray(block), self.bit_depth))
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            raise AudioFileError(f"{self.path}: write failed ({exc})") from None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            assert self._file is not None and self._tmp is not None
            self._file.close()
            _fsync(self._tmp)
            if not self.defer:
                os.replace(self._tmp, self.path)
        except (OSError, sf.LibsndfileError, RuntimeError) as err:
            self._discard()
            raise AudioFileError(f"{self.path}: cannot be written ({err})") from None

    @property
    def temporary_path(self) -> Path | None:
        """The finished but not yet renamed file of a deferred writer."""
        return self._tmp

    def commit(self) -> None:
        """Rename a deferred writer's finished file into place."""
        assert self._tmp is not None
        try:
            os.replace(self._tmp, self.path)
        except OSError as err:
            self._discard()
            raise AudioFileError(f"{self.path}: cannot be written ({err.strerror})") from None

    def discard(self) -> None:
        """Remove a deferred writer's file."""
        self._discard()

    def _discard(self) -> None:
        if self._file is not None and not self._file.closed:
            try:
                self._file.close()
            except Exception:  # noqa: BLE001 - already failing; removing the file matters more
                pass
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()


def _without_peak_chunk(file: sf.SoundFile) -> None:
    """Leave out the PEAK chunk (and its time stamp) of a float file opened for writing, before
    anything is written: a master must be the same bytes whenever it is written. soundfile has
    no call for it; its libsndfile binding does."""
    sf._snd.sf_command(file._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)


def _to_file_dtype(block: np.ndarray, bit_depth: str) -> np.ndarray:
    """Exact integer (or float32) samples for values already on the output grid."""
    if bit_depth == "16":
        return np.round(block * 2.0**15).astype(np.int16)
    if bit_depth == "24":
        # libsndfile stores the top 24 bits of int32 samples; k / 2**23 scaled by 2**31 is
        # exactly the integer k * 256 (the quantiser clips k to 2**23 - 1).
        return (block * 2.0**31).astype(np.int32)
    return block.astype(np.float32)


def _process_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _process_umask()
"""Read once, at import: setting the umask to read it is not thread-safe."""


def new_file_mode(path: Path) -> int:
    """Permissions for a file written over ``path``: those of the file it replaces, or what
    the user's umask gives a new file (mkstemp's temporary files are private, 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_UMASK


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temporary file, flush, fsync, rename)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes, sync: bool = True) -> None:
    """Write a file atomically: a temporary file in the same folder, flushed, then renamed.

    ``sync=False`` skips the fsync (for files that can be rebuilt, such as an index).
    """
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise AudioFileError(f"{p}: cannot be written ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(fd, new_file_mode(p))
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException as exc:  # Ctrl-C too: no temporary file is left behind
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise AudioFileError(f"{p}: cannot be written ({exc.strerror})") from None
        raise
