"""Albums end to end: ``automaster album`` on 3-minute songs, for several numbers of songs.

Each song is 3 minutes (44.1 kHz stereo, 16-bit WAV) of a corpus track (44.1 kHz ones,
repeated as needed) or, with ``--synthetic``, of seeded synthetic music (drums, bass, chords
and noise); songs are scaled to a spread of mix levels; the reference is another corpus
track (or a denser synthetic one). The spec asks for FLAC songs, 2 s gaps with one segue and
fades. For each album size: wall time, CPU time, peak memory (the process's maximum resident
set, from ``wait4``), the songs' loudness relative to the loudest against their mixes', and
the CUE positions; then a summary of peak memory by album size (it should not grow with the
number of songs: the album keeps one song in memory at a time).

    python benchmarks/bench_album.py /path/to/corpus [--songs 3,12] [--minutes 3]
    python benchmarks/bench_album.py --synthetic [--songs 3,12]
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from bench_match import default_automaster_prefix, run_measured

RATE_HZ = 44100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", type=Path, nargs="?", default=None)
    parser.add_argument("--synthetic", action="store_true", help="synthetic songs and reference instead of a corpus")
    parser.add_argument("--songs", default="3,12", help="album sizes to run, comma-separated (default 3,12)")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--reference", default=None, help="corpus file name of the reference (default: the first)")
    parser.add_argument("--details", action="store_true", help="also print every song's start and levels")
    parser.add_argument(
        "--automaster-cmd", default=None, help="command prefix for automaster, split with shlex (default: the script pip installed)"
    )
    args = parser.parse_args()
    if (args.corpus_dir is None) == (not args.synthetic):
        parser.error("give a corpus folder or --synthetic (not both)")
    sizes = [int(n) for n in args.songs.split(",") if n.strip()]
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        n = int(args.minutes * 60 * RATE_HZ)
        if args.synthetic:
            reference = work / "reference.wav"
            sf.write(str(reference), np.tanh(2.5 * synthetic_song(n, seed=1000)), RATE_HZ, subtype="PCM_16")
            source = lambda k: synthetic_song(n, seed=k)  # noqa: E731
        else:
            tracks = sorted(t for t in args.corpus_dir.glob("*.wav") if sf.info(str(t)).samplerate == RATE_HZ)
            reference = args.corpus_dir / args.reference if args.reference else tracks[0]
            sources = [t for t in tracks if t != reference]

            def source(k: int) -> np.ndarray:
                audio, _ = sf.read(str(sources[k % len(sources)]), dtype="float32", always_2d=True)
                return np.resize(audio, (n, audio.shape[1])) if audio.shape[0] < n else audio[:n]

        songs: list[Path] = []
        for size in sizes:
            offsets_db = np.linspace(0.0, -9.0, size)  # a spread of mix levels
            for k in range(len(songs), size):
                audio = source(k)
                audio = audio / max(1.0, float(np.max(np.abs(audio)))) * 0.7
                path = work / f"song{k + 1:02d}.wav"
                sf.write(str(path), audio, RATE_HZ, subtype="PCM_16")
                songs.append(path)
            summary.append((size, run_album(work, songs[:size], offsets_db, reference, args)))
    print()
    print("songs  minutes of audio  wall s  peak MB")
    for size, (wall_s, peak_mb) in summary:
        print(f"{size:>5}  {size * args.minutes:>16.0f}  {wall_s:>6.1f}  {peak_mb:>7.0f}")


def run_album(work: Path, songs: list[Path], offsets_db: np.ndarray, reference: Path, args) -> tuple[float, float]:
    """Master one album of ``songs`` (each scaled by its offset through the spec's mix level:
    the files are rewritten at that level) and print its figures."""
    size = len(songs)
    album_dir = work / f"album{size}"
    album_dir.mkdir()
    scaled = []
    for k, path in enumerate(songs):
        audio, _ = sf.read(str(path), dtype="float32", always_2d=True)
        target = album_dir / path.name
        sf.write(str(target), audio * np.float32(10 ** (offsets_db[k] / 20)), RATE_HZ, subtype="PCM_16")
        scaled.append(target)
    spec = album_dir / "album.toml"
    lines = ['title = "Benchmark"', f'references = ["{reference}"]', 'format = "flac"', "quietest_lu = -12.0"]
    for k, path in enumerate(scaled):
        lines += ["[[song]]", f'file = "{path}"', f'title = "Song {k + 1}"', "fade_out_s = 2.0"]
        if k == 5 or (size < 6 and k == size - 1 and k > 0):
            lines.append("gap_s = 0")
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = album_dir / "out"
    out.mkdir()
    prefix = shlex.split(args.automaster_cmd) if args.automaster_cmd else default_automaster_prefix()
    measured = run_measured([*prefix, "album", str(spec), "-o", str(out)], album_dir / "album", 3600.0)
    if measured.exit_code != 0:
        raise SystemExit(f"album of {size} failed:\n{measured.stderr_tail}")
    report = json.loads((out / "album.json").read_text(encoding="utf-8"))
    audio_s = size * args.minutes * 60
    print(f"songs                      {size} x {args.minutes:g} min ({audio_s / 60:.0f} min of audio)")
    print(f"wall time (s)              {measured.wall_s:.1f}   (asked: under 60 s for 12 x 3 min)")
    print(f"CPU user / system (s)      {measured.user_s:.1f} / {measured.sys_s:.1f}")
    print(f"realtime factor (x)        {audio_s / measured.wall_s:.0f}")
    print(f"peak memory (MB)           {measured.peak_mem_mb:.0f}   (asked: at most 500 MB, not growing with the songs)")
    print(f"album loudness (LUFS)      {report['album_lufs']:.1f}, shift {report['shift_db']:+.1f} dB")
    mix = np.array([s["mix_lufs"] for s in report["songs"]])
    out_lufs = np.array([s["lufs"] for s in report["songs"]])
    wanted = np.clip(mix - mix.max(), -12.0, 0.0)
    print(f"relative level error max   {np.max(np.abs((out_lufs - out_lufs.max()) - wanted)):.2f} LU   (asked: within 1 LU)")
    print(f"true peak max (dBTP)       {max(s['true_peak_dbtp'] for s in report['songs']):.2f}")
    if args.details:
        print("song  start     mix LUFS  LUFS   dBTP")
        for s in report["songs"]:
            print(f"{s['number']:>4}  {s['start']}  {s['mix_lufs']:>7.1f}  {s['lufs']:>5.1f}  {s['true_peak_dbtp']:>5.1f}")
    print()
    return measured.wall_s, measured.peak_mem_mb


def synthetic_song(n: int, seed: int) -> np.ndarray:
    """Seeded music-like stereo (n, 2) float32: kicks, noise snares, a bass line, a chord pad
    and a little decorrelated noise; the tempo, key and balance vary with the seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE_HZ
    beat_s = 60.0 / rng.uniform(80, 140)
    x = np.zeros((n, 2), dtype=np.float32)
    kick_n, snare_n = int(0.3 * RATE_HZ), int(0.15 * RATE_HZ)
    tk = np.arange(kick_n) / RATE_HZ
    kick = (0.9 * np.sin(2 * np.pi * (50 + 80 * np.exp(-tk * 30)) * tk) * np.exp(-tk * 12)).astype(np.float32)
    decay = np.exp(-np.arange(snare_n) / RATE_HZ * 25).astype(np.float32)
    for start in np.arange(0, n / RATE_HZ, beat_s):
        i = int(start * RATE_HZ)
        m = min(n - i, kick_n)
        x[i : i + m] += kick[:m, None]
        j = i + int(beat_s / 2 * RATE_HZ)
        if j < n:
            m = min(n - j, snare_n)
            x[j : j + m] += 0.4 * rng.standard_normal((m, 2)).astype(np.float32) * decay[:m, None]
    root_hz = 55.0 * 2 ** (rng.integers(0, 12) / 12)
    bass = 0.3 * np.sin(2 * np.pi * root_hz * t * (1 + 0.5 * (np.floor(t / (4 * beat_s)) % 2)))
    pad = sum(0.08 * np.sin(2 * np.pi * 4 * root_hz * r * t + p) for r, p in ((1.0, 0), (1.26, 1), (1.5, 2)))
    x += bass[:, None].astype(np.float32)
    x[:, 0] += (pad * rng.uniform(0.6, 1.0)).astype(np.float32)
    x[:, 1] += (pad * rng.uniform(0.6, 1.0)).astype(np.float32)
    x += 0.02 * rng.standard_normal((n, 2)).astype(np.float32)
    return x


if __name__ == "__main__":
    main()
