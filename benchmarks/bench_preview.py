"""The report page: how long ``automaster preview`` takes beside ``match`` and ``match --report``.

For each corpus track given (default: the first two 44.1 kHz tracks), the track is the mix
and the next one the reference; each command runs ``--repeat`` times, alternating, and the
median wall time, peak memory and the page's size are printed. The preview renders only its
25 s excerpt; ``match --report`` renders the whole master and measures it.

    python benchmarks/bench_preview.py /path/to/corpus [--tracks N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import soundfile as sf
from bench_match import default_automaster_prefix, run_measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", type=Path)
    parser.add_argument("--tracks", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tracks = sorted(t for t in args.corpus_dir.glob("*.wav") if sf.info(str(t)).samplerate == 44100)
    prefix = default_automaster_prefix()
    print(f"{'mix':<36}{'length':>8}{'command':>16}{'wall s':>9}{'peak MB':>9}{'page MB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for k in range(min(args.tracks, len(tracks) - 1)):
            mix, ref = tracks[k], tracks[k + 1]
            commands = {
                "match": lambda out: [*prefix, "match", str(mix), "--ref", str(ref), "-o", str(out / "m.wav"), "--force"],
                "match --report": lambda out: [
                    *prefix, "match", str(mix), "--ref", str(ref), "-o", str(out / "m.wav"), "--force",
                    "--report", str(out / "r.html"),
                ],
                "preview": lambda out: [*prefix, "preview", str(mix), "--ref", str(ref), "-o", str(out / "p.html"), "--force"],
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            memory: dict[str, float] = {name: 0.0 for name in commands}
            for r in range(args.repeat):
                for name, argv in commands.items():
                    measured = run_measured(argv(work), work / f"{k}_{r}", 600.0)
                    if measured.exit_code != 0:
                        raise SystemExit(f"{name} failed on {mix.name}:\n{measured.stderr_tail}")
                    times[name].append(measured.wall_s)
                    memory[name] = max(memory[name], measured.peak_mem_mb or 0.0)
            pages = {"match --report": work / "r.html", "preview": work / "p.html"}
            length = sf.info(str(mix)).duration
            for name in commands:
                page = f"{pages[name].stat().st_size / 1e6:.1f}" if name in pages else ""
                print(f"{mix.name:<36}{length:>7.0f}s{name:>16}{statistics.median(times[name]):>9.2f}{memory[name]:>9.0f}{page:>9}")


if __name__ == "__main__":
    main()
