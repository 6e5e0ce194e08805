"""Keep glibc from handing large blocks back to the kernel after every audio chunk.

Streaming DSP allocates and frees arrays of a few MB per chunk. With glibc's default,
adaptive thresholds, freed memory at the top of the heap is returned to the kernel and the
next chunk faults it in again, page by page: on a 3-minute track that is about a million page
faults and over half the wall time. Fixing the thresholds keeps those pages in the process;
peak memory is unchanged because the same few MB are reused. The streaming arrays are at
most about 8 MB; arrays as long as the file (a long file's control-rate curves: 42 MB per
hour) stay above the mmap threshold, so they go back to the kernel when freed. Kept in the
heap, an hour-long job's solver (on a thread of its own, with its own arena) grew it by
50 MB more than it used.

Only the command-line entry point calls :func:`keep_freed_memory`: a library must not change
the allocator of the program that imports it. Programs embedding automaster may call it too.

What the streaming passes free stays in the process, under each thread's heap: with the
thresholds fixed, up to 128 MB each, and a long file's pass 1 (its equalised signal kept
while it fits, then dropped, and its per-tick readings gathered in small pieces) left
350-500 MB free there when the solve's arrays were made. :func:`release_freed_memory` hands
such pages back at the few points where a long file's engine goes from streaming to
whole-file arrays; it changes no setting.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 128 << 20


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds; return False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


def release_freed_memory() -> bool:
    """Hand the pages of freed blocks back to the kernel (glibc's ``malloc_trim``), in every
    thread's heap; return False where that is not possible. It takes milliseconds, and the
    pages are faulted in again when they are next used: call it only between passes over a
    long file."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim.restype = ctypes.c_int
    malloc_trim(0)
    return True
