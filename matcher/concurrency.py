"""Overlap two stages of a stream on two cores.

The heavy work of every stage is FFTs and numpy array arithmetic, which release the GIL, so
a plain thread gives real parallelism: while the main thread produces block k + 1 (say, the
EQ), a background thread consumes block k (say, the meters).
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")

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
        self._thread = threading.Thread(target=self._loop, name="automaster-consumer", daemon=True)

    def __enter__(self) -> BackgroundConsumer[T]:
        self._thread.start()
        return self

    def __call__(self, item: T) -> None:
        """Queue an item (blocks while the queue is full); raises a consumer error early."""
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def __exit__(self, exc_type, exc, tb) -> None:
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
