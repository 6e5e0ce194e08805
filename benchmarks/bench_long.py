"""Long mixes: wall time, CPU time and peak memory of one ``automaster match`` per length.

A mix of each asked length (minutes) is built by concatenating the corpus's 44.1 kHz tracks
(repeated as needed), written as 16-bit WAV, and mastered against one corpus track. Each
run's wall time, realtime factor, time per minute of audio relative to the shortest length,
and peak memory (max RSS of the process) are printed. Matchering runs on the same mixes
when it is installed (it refuses mixes over 15 minutes; that shows as a failed run).

    python benchmarks/bench_long.py /path/to/corpus --minutes 3,60
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from bench_match import Measured, default_automaster_prefix, matchering_argv, run_measured

SAMPLE_RATE_HZ = 44100


def build_mix(tracks: Sequence[Path], minutes: float, path: Path) -> None:
    """Concatenate ``tracks`` (repeating them) into ``minutes`` of 16-bit stereo WAV."""
    target = round(minutes * 60 * SAMPLE_RATE_HZ)
    written = 0
    with sf.SoundFile(str(path), "w", SAMPLE_RATE_HZ, 2, "PCM_16") as out:
        for k in range(10**6):
            audio, _ = sf.read(str(tracks[k % len(tracks)]), dtype="float32", always_2d=True)
            audio = audio[: target - written]
            out.write(np.repeat(audio, 2, axis=1) if audio.shape[1] == 1 else audio)
            written += audio.shape[0]
            if written >= target:
                return


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus_dir", type=Path, help="folder of WAV files (build_corpus.sh output)")
    p.add_argument("--minutes", default="3,60", help="comma-separated mix lengths (default 3,60)")
    p.add_argument("--no-matchering", action="store_true")
    p.add_argument("--timeout-s", type=float, default=3600.0)
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tracks = sorted(t for t in args.corpus_dir.glob("*.wav") if sf.info(str(t)).samplerate == SAMPLE_RATE_HZ)
    if len(tracks) < 2:
        raise SystemExit(f"{args.corpus_dir}: needs at least two 44.1 kHz WAV tracks")
    reference, sources = tracks[0], tracks[1:]
    minutes = [float(m) for m in args.minutes.split(",")]
    tools = {"automaster": lambda mix, out: [*default_automaster_prefix(), "match", str(mix), "--ref", str(reference),
                                             "-o", str(out), "--force"]}
    if not args.no_matchering:
        try:
            import matchering  # noqa: F401 - only whether it is installed
        except ImportError:
            print("matchering is not installed: automaster only")
        else:
            tools["matchering"] = lambda mix, out: matchering_argv(mix, reference, out)
    with tempfile.TemporaryDirectory(prefix="bench_long_", dir=args.work) as work_dir:
        work = Path(work_dir)
        results: dict[tuple[str, float], Measured] = {}
        for length in minutes:
            mix = work / f"mix_{length:g}min.wav"
            build_mix(sources, length, mix)
            for name, argv_of in tools.items():
                out = work / f"out_{name}_{length:g}min.wav"
                measured = run_measured(argv_of(mix, out), work / f"{name}_{length:g}min", args.timeout_s)
                results[(name, length)] = measured
                status = "ok" if measured.exit_code == 0 else f"failed ({measured.stderr_tail.splitlines()[-1:]})"
                print(f"[{length:g} min] {name}: {status}", flush=True)
                out.unlink(missing_ok=True)
            mix.unlink()
    print()
    print(f"{'tool':<12}{'minutes':>8}{'wall s':>9}{'user s':>9}{'sys s':>8}{'x realtime':>12}"
          f"{'s per min':>11}{'vs shortest':>13}{'peak MB':>9}")
    for name in tools:
        shortest = None
        for length in minutes:
            m = results[(name, length)]
            if m.exit_code != 0 or m.wall_s is None:
                print(f"{name:<12}{length:>8g}{'failed':>9}")
                continue
            per_minute = m.wall_s / length
            shortest = shortest if shortest is not None else per_minute
            print(f"{name:<12}{length:>8g}{m.wall_s:>9.1f}{m.user_s or 0:>9.1f}{m.sys_s or 0:>8.1f}"
                  f"{length * 60 / m.wall_s:>12.1f}{per_minute:>11.2f}{per_minute / shortest:>13.2f}"
                  f"{m.peak_mem_mb or 0:>9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
