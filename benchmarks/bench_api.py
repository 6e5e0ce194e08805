"""The Python API against the command line, on the same job: wall time and peak memory.

Each run is a fresh process (the command, or ``python -c "import matcher; ..."``), the two
taking turns so that the machine's drift hits both alike; peak memory is the process's own
maximum resident set (``wait4``). Three jobs: mastering a mix (``master`` / ``match``),
analysing a file (``analyze_file`` / ``analyze``), and the array API (``analyze``, ``fit``
and ``render`` on numpy arrays, then ``soundfile.write``) against ``match``.

    python benchmarks/bench_api.py MIX REF [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

API_MASTER = (
    "import sys, matcher\n"
    "matcher.master(sys.argv[1], [sys.argv[2]], sys.argv[3], force=True)\n"
)
API_ANALYZE = "import sys, matcher\nmatcher.analyze_file(sys.argv[1])\n"
API_ARRAYS = (
    "import sys, soundfile as sf, matcher\n"
    "mix, rate = sf.read(sys.argv[1], dtype='float32', always_2d=True)\n"
    "ref, ref_rate = sf.read(sys.argv[2], dtype='float32', always_2d=True)\n"
    "settings = matcher.fit(matcher.analyze(mix, rate), matcher.analyze(ref, ref_rate))\n"
    "sf.write(sys.argv[3], matcher.render(mix, rate, settings), rate, subtype='PCM_24')\n"
)


def run(command: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak resident memory (MB) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{process.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mix", type=Path)
    parser.add_argument("ref", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    automaster = shutil.which("automaster", path=str(Path(sys.executable).parent)) or shutil.which("automaster")
    if automaster is None:
        raise SystemExit("the automaster command is not installed")
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    out = work / "master.wav"
    mix, ref = str(args.mix.resolve()), str(args.ref.resolve())
    jobs = {
        "master": (
            [automaster, "match", mix, "--ref", ref, "-o", str(out), "--force"],
            [sys.executable, "-c", API_MASTER, mix, ref, str(out)],
        ),
        "analyze": ([automaster, "analyze", mix], [sys.executable, "-c", API_ANALYZE, mix]),
        "arrays": (
            [automaster, "match", mix, "--ref", ref, "-o", str(out), "--force"],
            [sys.executable, "-c", API_ARRAYS, mix, ref, str(out)],
        ),
    }
    print(f"mix {args.mix.name}, reference {args.ref.name}, {args.repeat} runs each, taking turns; medians")
    print(f"{'job':10} {'CLI s':>7} {'API s':>7} {'API/CLI':>8} {'CLI MB':>7} {'API MB':>7} {'API/CLI':>8}")
    for name, (cli, api) in jobs.items():
        figures: dict[str, list[tuple[float, float]]] = {"cli": [], "api": []}
        run(cli)  # warm the file cache
        for _ in range(args.repeat):
            figures["cli"].append(run(cli))
            figures["api"].append(run(api))
        cli_s = statistics.median(f[0] for f in figures["cli"])
        api_s = statistics.median(f[0] for f in figures["api"])
        cli_mb = statistics.median(f[1] for f in figures["cli"])
        api_mb = statistics.median(f[1] for f in figures["api"])
        print(f"{name:10} {cli_s:7.2f} {api_s:7.2f} {api_s / cli_s:8.2f} {cli_mb:7.0f} {api_mb:7.0f} {api_mb / cli_mb:8.2f}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
