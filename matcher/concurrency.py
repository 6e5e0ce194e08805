"""Overlap two stages of a stream on two cores.

The heavy work of every stage is FFTs, matrix products and numpy array arithmetic, which
release the GIL, so a plain thread gives real parallelism: while the main thread produces
block k + 1 (say, the EQ), a background thread consumes block k (say, the meters).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def prefer_single_threaded_blas() -> None:
    """Ask BLAS, through the environment, for one thread; only before numpy is imported.

    The command line runs its own worker threads: a BLAS thread pool would only spin
    beside them (OpenBLAS's idle threads busy-wait for a while after loading). Settings
    the user made are kept. In-process users get the same effect from
    :func:`pinned_native_threads`.
    """
    for variable in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")


_PIN_LOCK = threading.Lock()
_pin_holders = 0
_pin_limits = None


@contextlib.contextmanager
def pinned_native_threads() -> Iterator[None]:
    """Run BLAS and OpenMP on one thread while any engine work of this process runs.

    Two reasons. A master must be the same bit for bit whatever runs it: OpenBLAS splits a
    matrix product differently over 1 and over 2 threads, and the sums come out different
    in the last bit (a true peak, a K-weighted energy), which moves a gain by one LSB
    somewhere. And the engine runs its stages on threads of its own: a BLAS that also
    spreads each product over every core makes those threads wait on each other (analysing
    a 3-minute track took 18-33 s instead of 2 s from Python with the default pool).

    The limit is process-wide (the native libraries have one setting each), so it is held
    by reference count: the first engine call to enter sets it, the last to leave restores
    the caller's settings. Engine calls running side by side in threads (a Dask worker, a
    web server) therefore never see the limit lifted under them. Nested use is cheap.
    """
    global _pin_holders, _pin_limits
    with _PIN_LOCK:
        if _pin_holders == 0:
            from threadpoolctl import threadpool_limits

            _release_blas_control()
            _pin_limits = threadpool_limits(limits=1)
        _pin_holders += 1
    try:
        yield
    finally:
        with _PIN_LOCK:
            _pin_holders -= 1
            if _pin_holders == 0 and _pin_limits is not None:
                _release_blas_control()
                _pin_limits.restore_original_limits()
                _pin_limits = None
                _release_blas_control()


def _release_blas_control() -> None:
    """Let this thread set OpenBLAS's thread count.

    threadpoolctl (3.8 and later) lets only one thread, the first to set a limit, change a
    process-wide OpenBLAS pool, and silently ignores every other thread: the engine's limit
    set from a Dask worker's or a web server's thread did nothing, and its products ran on
    two threads there (one master one byte different from the same job run elsewhere).
    The engine's limit is held for every thread by the reference count above, so whichever
    thread takes or gives it back may do so.
    """
    import threadpoolctl

    clear = getattr(getattr(threadpoolctl, "OpenBLASController", None), "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


F = TypeVar("F", bound=Callable)


def engine_call(function: F) -> F:
    """Decorate an engine entry point: it runs under :func:`pinned_native_threads`."""

    @functools.wraps(function)
    def pinned(*args, **kwargs):
        with pinned_native_threads():
            return function(*args, **kwargs)

    return pinned  # type: ignore[return-value]


_OVERLAP: contextvars.ContextVar[bool] = contextvars.ContextVar("automaster_overlap_stages", default=True)


@contextlib.contextmanager
def stages_overlapped(enabled: bool) -> Iterator[None]:
    """Overlap the engine's stages on threads of their own (the default), or run them one
    after another in the calling thread, while the block runs (in this thread or task).

    A worker that masters a mix while every other core masters another (``automaster
    batch``) runs its stages one after another: the other cores are busy already, and
    handing blocks between threads only costs (see ``benchmarks/README.md``). The output
    is the same either way.
    """
    token = _OVERLAP.set(enabled)
    try:
        yield
    finally:
        _OVERLAP.reset(token)


def overlapping() -> bool:
    """Whether the engine overlaps its stages on threads (see :func:`stages_overlapped`)."""
    return _OVERLAP.get()


_DONE = object()


class BackgroundConsumer(Generic[T]):
    """Calls ``consume(item)`` for every item handed to it, in order, on a second thread.

    Use as a context manager; leaving the block waits for every item to be consumed and
    re-raises, in the calling thread, the first exception the consumer raised.

    Parameters
    ----------
    consume : callable
    depth : int
        Items that may wait in the queue: bounds the memory held in flight.
    """

    def __init__(self, consume: Callable[[T], None], depth: int = 2):
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = threading.Thread(
            target=self._loop, name="automaster-consumer", daemon=True
        )

    def __enter__(self) -> BackgroundConsumer[T]:
        if overlapping():
            self._thread.start()
        else:
            self._thread = None
        return self

    def __call__(self, item: T) -> None:
        """Queue an item (blocks while the queue is full); raises a consumer error early."""
        if self._thread is None:  # stages one after another: consume it now
            self._consume(item)
            return
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._thread is None:
            return
        self._queue.put(_DONE)
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None:
                try:
                    self._consume(item)
                except BaseException as exc:
                    self._error = exc


def prefetched(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` on a second thread, up to ``depth`` items ahead of the caller.

    While the caller works on item k, the thread produces item k + 1: two stages of a
    stream overlap. An exception in the producer is raised in the caller, at the item it
    would have produced; a caller that stops early stops the producer at its next item.
    Without :func:`overlapping` stages, items are produced as the caller asks for them.
    """
    if not overlapping():
        yield from items
        return
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                handoff.put((item, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            handoff.put((_DONE, exc))
            return
        handoff.put((_DONE, None))

    thread = threading.Thread(target=produce, name="automaster-producer", daemon=True)
    thread.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                handoff.get(timeout=0.01)
            except queue.Empty:
                pass
        thread.join()
