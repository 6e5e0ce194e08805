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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux only")
def test_freed_memory_is_handed_back_on_glibc():
    import ctypes.util

    from matcher._allocator import release_freed_memory

    assert release_freed_memory() is (ctypes.util.find_library("c") is not None)


def test_stages_one_after_another_stay_on_the_calling_thread_and_only_there():
    import threading as th

    from matcher.concurrency import overlapping, prefetched, stages_overlapped

    def threads_used() -> set[int]:
        used = set()

        def produce():
            for item in range(10):
                used.add(th.get_ident())
                yield item

        with BackgroundConsumer(lambda item: used.add(th.get_ident())) as later:
            for item in prefetched(produce(), depth=1):
                later(item)
        return used

    assert overlapping() and threads_used() != {th.get_ident()}
    with stages_overlapped(False):
        assert not overlapping()
        assert threads_used() == {th.get_ident()}
        other = []
        thread = th.Thread(target=lambda: other.append(overlapping()))
        thread.start()
        thread.join()
        assert other == [True]  # the choice is the calling thread's (a Dask task's), no one else's
    assert overlapping()


def test_stages_one_after_another_give_the_same_master(tmp_path):
    import signals
    import soundfile as sf

    from matcher.jobs import master_file
    from matcher.concurrency import stages_overlapped
    from matcher.fitting.config import FitConfig

    rate = 44100
    mix, ref = tmp_path / "mix.wav", tmp_path / "ref.wav"
    sf.write(str(mix), 0.2 * signals.drum_loop(4.0, rate, seed=1), rate, subtype="PCM_24")
    sf.write(str(ref), signals.pink_noise(4.0, rate, rms=0.2, seed=2), rate, subtype="PCM_24")
    master_file(mix, [ref], tmp_path / "overlapped.wav", FitConfig())
    with stages_overlapped(False):
        master_file(mix, [ref], tmp_path / "in_turn.wav", FitConfig())
    assert (tmp_path / "overlapped.wav").read_bytes() == (tmp_path / "in_turn.wav").read_bytes()
