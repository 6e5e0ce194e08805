"""Batch mastering: throughput of ``automaster batch`` with 1, 2... local workers.

N mixes are cut from the corpus's 44.1 kHz tracks (excerpts from several points of each
track, or whole tracks), written as 16-bit WAV to a temp folder, and mastered against one
other corpus track by ``automaster batch`` once per asked worker count, each run into an
empty output folder. Printed per run: wall and CPU time, mixes per minute, realtime factor
(audio mastered per second of wall time), the speed-up over the first worker count, the
largest single process's peak memory and the peak of the whole process tree (sampled).
``--one-core`` adds a run of 1 worker pinned to one core (``taskset``): one core's
throughput, against which the scaling of the workers themselves shows (a lone worker
otherwise overlaps its stages on both cores). ``--with-match`` also masters the same mixes
with one ``automaster match`` process each, in turn, as a script would without ``batch``.
First, a check of the machine itself: how much more CPU-bound work (FFTs) 2 processes do
than 1, which is below 2 on a shared or throttled machine. It prints figures; it is not a test.

    python benchmarks/bench_batch.py /path/to/corpus --mixes 12 --workers 1,2,1,2 --one-core
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from bench_match import Measured, default_automaster_prefix, run_measured

SAMPLE_RATE_HZ = 44100
SAMPLE_INTERVAL_S = 0.1


def build_mixes(tracks: Sequence[Path], count: int, excerpt_s: float, folder: Path) -> list[tuple[Path, float]]:
    """``count`` mixes as 16-bit WAV in ``folder``: excerpts taken in turn from each track, at
    a different point each time round (whole tracks when ``excerpt_s`` is 0). Returns
    (path, duration in s) per mix."""
    mixes = []
    for i in range(count):
        track = tracks[i % len(tracks)]
        turn = i // len(tracks)
        frames = sf.info(str(track)).frames
        if excerpt_s > 0:
            length = min(frames, round(excerpt_s * SAMPLE_RATE_HZ))
            # Evenly spread starting points, a different one each time round the tracks.
            start = (frames - length) * ((turn * 0.381966) % 1.0) if turn else (frames - length) // 2
            audio, _ = sf.read(str(track), start=int(start), frames=length, dtype="float32", always_2d=True)
        else:
            audio, _ = sf.read(str(track), dtype="float32", always_2d=True)
        if audio.shape[1] == 1:
            audio = np.repeat(audio, 2, axis=1)
        audio = np.clip(audio * np.float32(0.5), -1.0, 1.0)  # a mix, 6 dB under the corpus master
        path = folder / f"mix{i:03d}_{track.stem}.wav"
        sf.write(str(path), audio, SAMPLE_RATE_HZ, subtype="PCM_16")
        mixes.append((path, audio.shape[0] / SAMPLE_RATE_HZ))
    return mixes


class TreeMemory:
    """Samples the summed RSS of the processes whose command line holds ``marker``, and of
    all their descendants, every ``SAMPLE_INTERVAL_S``; ``peak_mb`` after ``stop``. Sums of
    RSS count shared library pages once per process: an upper bound."""

    def __init__(self, marker: str):
        self.marker = marker
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        try:
            import psutil  # noqa: F401 - only whether it is there
        except ImportError:
            return self
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        import psutil

        roots: list[psutil.Process] = []
        peak = 0
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            if not roots:
                roots = [p for p in psutil.process_iter(["cmdline"]) if self.marker in " ".join(p.info["cmdline"] or ())]
            total, seen = 0, set()
            for root in roots:
                try:
                    family = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for p in family:
                    if p.pid in seen:
                        continue
                    seen.add(p.pid)
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            peak = max(peak, total)
        self.peak_mb = peak / 2**20 if peak else None


def _fft_work(seconds: float) -> int:
    """FFTs of 2^16 points for ``seconds``: CPU-bound work that hardly touches memory."""
    x = np.random.default_rng(0).standard_normal(1 << 16)
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        np.fft.rfft(x)
        done += 1
    return done


def machine_scaling(seconds: float = 2.0) -> float:
    """How much more CPU-bound work 2 processes do than 1 in the same time: 2.0 on two
    idle cores; less on a machine shared with other work (a busy host, steal time)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_fft_work, [0.1, 0.1])
        alone = pool.apply(_fft_work, (seconds,))
        together = sum(pool.map(_fft_work, [seconds, seconds]))
    return together / alone


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus_dir", type=Path, help="folder of WAV files (build_corpus.sh output)")
    p.add_argument("--mixes", type=int, default=12, help="number of mixes (default 12)")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    p.add_argument("--excerpt-s", type=float, default=60.0, help="mix length in s; 0: whole tracks (default 60)")
    p.add_argument("--one-core", action="store_true",
                   help="also run 1 worker pinned to one core (taskset -c 0): the throughput of one core")
    p.add_argument("--with-match", action="store_true", help="also master each mix with its own 'automaster match'")
    p.add_argument("--no-control", action="store_true", help="skip the check of the machine's own 2-process scaling")
    p.add_argument("--timeout-s", type=float, default=3600.0)
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tracks = sorted(t for t in args.corpus_dir.glob("*.wav") if sf.info(str(t)).samplerate == SAMPLE_RATE_HZ)
    if len(tracks) < 2:
        raise SystemExit(f"{args.corpus_dir}: needs at least two 44.1 kHz WAV tracks")
    reference, sources = tracks[0], tracks[1:]
    worker_counts: list[tuple[int, bool]] = [(int(w), False) for w in args.workers.split(",")]
    if args.one_core:
        worker_counts.append((1, True))
    prefix = default_automaster_prefix()
    print(f"bench_batch: {args.mixes} mixes of {args.excerpt_s:g} s (0: whole tracks), reference {reference.name}, "
          f"workers {args.workers}{' and 1 on one core' if args.one_core else ''}", flush=True)
    if not args.no_control:
        print(f"machine check: 2 processes of FFTs do x{machine_scaling():.2f} the work of 1 "
              "(2.00 on two idle cores)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_batch_", dir=args.work) as work_dir:
        work = Path(work_dir)
        (work / "mixes").mkdir()
        mixes = build_mixes(sources, args.mixes, args.excerpt_s, work / "mixes")
        audio_s = sum(d for _, d in mixes)
        runs: list[tuple[str, Measured, float | None, float | None]] = []
        for run, (workers, pinned) in enumerate(worker_counts):
            out = work / f"out_{run}_{workers}"
            argv = [*(["taskset", "-c", "0"] if pinned else []), *prefix, "batch", *(str(m) for m, _ in mixes),
                    "--ref", str(reference), "--out", str(out), "--workers", str(workers)]
            with TreeMemory(str(out)) as memory:
                measured = run_measured(argv, work / f"batch_{run}_{workers}", args.timeout_s)
            statuses = [m["status"] for m in json.loads((out / "manifest.json").read_text())["mixes"]] \
                if (out / "manifest.json").exists() else []
            worker_s = sum(m["time_s"] or 0 for m in json.loads((out / "manifest.json").read_text())["mixes"]) \
                if statuses else None
            ok = measured.exit_code == 0 and statuses.count("ok") == len(mixes)
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            name = f"batch -j {workers}" + (", 1 core" if pinned else "")
            print(f"[{name}] {'ok' if ok else 'FAILED: ' + measured.stderr_tail} "
                  f"(load average after: {load:.1f})", flush=True)
            runs.append((name, measured if ok else None, memory.peak_mb, worker_s))
        if args.with_match:
            start = time.perf_counter()
            total_user = total_sys = 0.0
            peak = 0.0
            failed = 0
            for i, (mix, _) in enumerate(mixes):
                argv = [*prefix, "match", str(mix), "--ref", str(reference), "-o", str(work / f"match_{i}.wav"), "--force"]
                m = run_measured(argv, work / f"match_{i}", args.timeout_s)
                failed += m.exit_code != 0
                total_user += m.user_s or 0
                total_sys += m.sys_s or 0
                peak = max(peak, m.peak_mem_mb or 0)
            wall_s = time.perf_counter() - start
            loop = Measured(0 if not failed else 1, wall_s, peak, "", total_user, total_sys)
            print(f"[match loop] {'ok' if not failed else f'{failed} FAILED'}", flush=True)
            runs.append(("match, one by one", loop if not failed else None, peak, None))
    print()
    print(f"{len(mixes)} mixes, {audio_s / 60:.1f} min of audio")
    print(f"{'run':<20}{'wall s':>8}{'user s':>8}{'sys s':>7}{'mixes/min':>11}{'x realtime':>12}"
          f"{'speed-up':>10}{'in-job s':>10}{'max proc MB':>13}{'tree MB':>9}")
    first = None
    for name, m, tree_mb, worker_s in runs:
        if m is None or not m.wall_s:
            print(f"{name:<20}{'failed':>8}")
            continue
        first = first if first is not None else m.wall_s
        print(f"{name:<20}{m.wall_s:>8.1f}{m.user_s or 0:>8.1f}{m.sys_s or 0:>7.1f}{len(mixes) / m.wall_s * 60:>11.1f}"
              f"{audio_s / m.wall_s:>12.1f}{first / m.wall_s:>10.2f}"
              f"{(f'{worker_s:.1f}' if worker_s is not None else ''):>10}"
              f"{m.peak_mem_mb or 0:>13.0f}{(f'{tree_mb:.0f}' if tree_mb else 'n/a'):>9}")
    print("speed-up: the first run's wall time over this run's (throughput ratio); in-job s: the workers' "
          "time summed over mixes (manifest); tree MB: peak summed RSS of all the run's processes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
