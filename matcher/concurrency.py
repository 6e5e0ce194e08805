"""Overlap two stages of a stream on two cores.

The heavy work of every stage is FFTs, matrix products and numpy array arithmetic, which
release the GIL, so a plain thread gives real parallelism: while the main thread produces
block k + 1 (say, the EQ), a background thread consumes block k (say, the meters).
"""

from __future__ import annotations

import contextlib
import contextvars
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
    :func:`single_threaded_blas`.
    """
    for variable in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run BLAS on one thread while the block runs.

    The engine runs its stages on threads of its own; a BLAS that also spreads each matrix
    product over every core makes those threads wait on each other (two true-peak meters
    side by side: 1.6x slower on two cores). The limit is process-wide and lifted on exit.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


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
