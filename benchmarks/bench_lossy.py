"""Lossy deliverables: does every decoded file hold the ceiling, and what do they cost?

Masters the benchmark's full-length track (bench_match's ``--full-track`` case: the corpus
track closest to 180 s, degraded with seed 0, against the next closest) with ``-o
master.wav`` alone and with ``-o master.wav -o master.EXT`` for each lossy format, the runs
taking turns, and prints each run's wall time (median of ``--repeat``), its ratio to the WAV
alone, and each lossy file's decoded true peak by this benchmark's own ideal 16x meter
(``quality_metrics.true_peak_dbtp``), its clipped samples and loudness.

    python benchmarks/bench_lossy.py ~/corpus [--repeat 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_metrics as qm  # noqa: E402
from bench_match import default_automaster_prefix, full_track_case  # noqa: E402

CEILING_DBTP = -1.0
FORMATS = (".mp3", ".ogg", ".opus")


def run(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_lossy_"))
    work.mkdir(parents=True, exist_ok=True)
    case = full_track_case(sorted(args.corpus_dir.glob("*.wav")), 0, work)
    prefix = default_automaster_prefix()
    base = [*prefix, "match", str(case.mix_path), "--ref", str(case.ref_path), "--force"]
    runs = {"wav": ["-o", str(work / "master.wav")]}
    for ext in FORMATS:
        runs[f"wav + {ext[1:]}"] = ["-o", str(work / "master.wav"), "-o", str(work / f"master{ext}")]
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, outputs in runs.items():  # taking turns: the machine's slow moments are shared
            times[name].append(run([*base, *outputs]))
    print(f"{case.mix_name} ({case.duration_s:.0f} s) against {case.ref_name}; median of {args.repeat}")
    wav = statistics.median(times["wav"])
    print(f"{'outputs':<14} {'wall s':>7} {'ratio':>6}   decoded: {'TP dBTP':>8} {'clipped':>7} {'LUFS':>7}")
    for name, values in times.items():
        wall = statistics.median(values)
        line = f"{name:<14} {wall:7.2f} {wall / wav:6.2f}"
        if name != "wav":
            ext = "." + name.split("+ ")[1]
            decoded, rate = sf.read(str(work / f"master{ext}"), dtype="float64", always_2d=True)
            peak = qm.true_peak_dbtp(decoded)
            verdict = "holds" if peak <= CEILING_DBTP else "OVER"
            line += (f"   {peak:+8.3f} {int(np.count_nonzero(np.abs(decoded) >= 1.0)):7d} "
                     f"{qm.integrated_lufs(decoded, rate):7.2f}  {verdict}")
        print(line)
    print("asked (issue 17): every decoded file at or under the ceiling; wav + mp3 at most 1.3x the wav alone")


if __name__ == "__main__":
    main()
