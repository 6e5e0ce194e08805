"""The background consumer that overlaps the engine's stages."""

import sys
import threading

import pytest

from matcher.concurrency import BackgroundConsumer


def test_items_are_consumed_in_order_on_another_thread():
    seen, threads = [], set()

    def consume(item):
        seen.append(item)
        threads.add(threading.get_ident())

    with BackgroundConsumer(consume, depth=1) as later:
        for item in range(100):
            later(item)
    assert seen == list(range(100))
    assert threads and threading.get_ident() not in threads


def test_a_consumer_error_reaches_the_caller():
    def consume(item):
        if item == 3:
            raise ValueError("bad block")

    with pytest.raises(ValueError, match="bad block"), BackgroundConsumer(consume) as later:
        for item in range(10):
            later(item)


def test_a_producer_error_is_not_masked_and_the_thread_ends():
    consumer = BackgroundConsumer(lambda item: None)
    with pytest.raises(KeyError), consumer as later:
        later(1)
        raise KeyError("producer")
    assert not consumer._thread.is_alive()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux only")
def test_allocator_tuning_takes_on_glibc():
    import ctypes.util

    from matcher._allocator import keep_freed_memory

    assert keep_freed_memory() is (ctypes.util.find_library("c") is not None)
