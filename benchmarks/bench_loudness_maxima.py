"""The loudest momentary and short-term loudness over every window start: what they cost.

Prints, for a synthetic 3-minute stereo mix at 44.1 kHz, the CPU time of the loudness meter
and of an analysis as ``match`` runs it (no true peak), each without and with the maxima;
then feeds an hour of audio block by block (made on the fly, never held whole) to a meter
with maxima and prints its time and its peak traced memory. It prints figures; it asserts
nothing.

    python benchmarks/bench_loudness_maxima.py [--repeat 5] [--minutes 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from signals import drum_loop

from matcher.analysis.analyzer import CHUNK_SAMPLES, Analyzer
from matcher.analysis.loudness import LoudnessMeter
from matcher.concurrency import pinned_native_threads

SAMPLE_RATE_HZ = 44100


def cpu_seconds(run, repeat: int) -> float:
    """Median CPU time of ``run()`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return statistics.median(times)


def meter(x: np.ndarray, maxima: bool) -> None:
    m = LoudnessMeter(SAMPLE_RATE_HZ, x.shape[1], maxima=maxima)
    for start in range(0, x.shape[0], CHUNK_SAMPLES):
        m.process(x[start : start + CHUNK_SAMPLES])
    m.finish()


def analysis(x: np.ndarray, maxima: bool) -> None:
    a = Analyzer(SAMPLE_RATE_HZ, x.shape[1], true_peak=False, loudness_maxima=maxima)
    for start in range(0, x.shape[0], CHUNK_SAMPLES):
        a.process(x[start : start + CHUNK_SAMPLES])
    a.finish()


def long_stream(minutes: float) -> tuple[float, float, object]:
    """Wall time and peak traced memory (MB) of the maxima of ``minutes`` of audio."""
    block = (0.1 * drum_loop(CHUNK_SAMPLES / SAMPLE_RATE_HZ, SAMPLE_RATE_HZ, seed=3)).astype(np.float32)
    blocks = int(minutes * 60 * SAMPLE_RATE_HZ // block.shape[0])
    m = LoudnessMeter(SAMPLE_RATE_HZ, 2, maxima=True)
    tracemalloc.start()
    start = time.perf_counter()
    for k in range(blocks):
        m.process(block * (1.0 + 0.5 * np.sin(k / 7.0)))
    m.finish()
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return elapsed, peak, m.maxima()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--minutes", type=float, default=60.0, help="length of the long stream (default 60)")
    args = p.parse_args(argv)
    x = (0.3 * drum_loop(180.0, SAMPLE_RATE_HZ, seed=1)).astype(np.float32)
    with pinned_native_threads():
        for name, run in (("loudness meter", meter), ("analysis as match runs it", analysis)):
            without = cpu_seconds(lambda run=run: run(x, False), args.repeat)
            with_maxima = cpu_seconds(lambda run=run: run(x, True), args.repeat)
            print(
                f"{name:28s} 3 min: {without:.3f} s CPU, with maxima {with_maxima:.3f} s "
                f"(+{with_maxima - without:.3f} s, +{100 * (with_maxima / without - 1):.0f} %)"
            )
        elapsed, peak_mb, maxima = long_stream(args.minutes)
    print(f"maxima of {args.minutes:g} min fed block by block: {elapsed:.1f} s, peak traced memory {peak_mb:.1f} MB; {maxima}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
