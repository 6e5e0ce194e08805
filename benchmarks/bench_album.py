"""A 12-song album end to end: ``automaster album`` on 3-minute songs cut from the corpus.

Each song is 3 minutes of a corpus track (44.1 kHz ones, repeated as needed, 16-bit WAV),
scaled to a spread of mix levels; the reference is another corpus track. The spec asks for
FLAC songs, 2 s gaps with one segue and fades. Printed: wall time, CPU time, peak memory,
the songs' loudness relative to the loudest against their mixes', and the CUE positions.

    python benchmarks/bench_album.py /path/to/corpus [--songs 12] [--minutes 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from bench_match import default_automaster_prefix, run_measured

RATE_HZ = 44100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", type=Path)
    parser.add_argument("--songs", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--reference", default=None, help="corpus file name of the reference (default: the first)")
    args = parser.parse_args()
    tracks = sorted(t for t in args.corpus_dir.glob("*.wav") if sf.info(str(t)).samplerate == RATE_HZ)
    reference = args.corpus_dir / args.reference if args.reference else tracks[0]
    sources = [t for t in tracks if t != reference]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        n = int(args.minutes * 60 * RATE_HZ)
        offsets_db = np.linspace(0.0, -9.0, args.songs)  # a spread of mix levels
        songs = []
        for k in range(args.songs):
            audio, _ = sf.read(str(sources[k % len(sources)]), dtype="float32", always_2d=True)
            audio = np.resize(audio, (n, audio.shape[1])) if audio.shape[0] < n else audio[:n]
            audio = audio / max(1.0, float(np.max(np.abs(audio)))) * 10 ** (offsets_db[k] / 20) * 0.7
            path = work / f"song{k + 1:02d}.wav"
            sf.write(str(path), audio, RATE_HZ, subtype="PCM_16")
            songs.append(path)
        spec = work / "album.toml"
        lines = ['title = "Benchmark"', f'references = ["{reference}"]', 'format = "flac"', "quietest_lu = -12.0"]
        for k, path in enumerate(songs):
            lines += ["[[song]]", f'file = "{path}"', f'title = "Song {k + 1}"', "fade_out_s = 2.0"]
            if k == 5:
                lines.append("gap_s = 0")
        spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = work / "out"
        out.mkdir()
        measured = run_measured([*default_automaster_prefix(), "album", str(spec), "-o", str(out)], work / "album", 3600.0)
        if measured.exit_code != 0:
            raise SystemExit(f"album failed:\n{measured.stderr_tail}")
        report = json.loads((out / "album.json").read_text(encoding="utf-8"))
        audio_s = args.songs * args.minutes * 60
        print(f"songs                      {args.songs} x {args.minutes:g} min ({audio_s / 60:.0f} min of audio)")
        print(f"wall time (s)              {measured.wall_s:.1f}   (asked: under 60 s for 12 x 3 min)")
        print(f"CPU user / system (s)      {measured.user_s:.1f} / {measured.sys_s:.1f}")
        print(f"realtime factor (x)        {audio_s / measured.wall_s:.0f}")
        print(f"peak memory (MB)           {measured.peak_mem_mb:.0f}")
        print(f"album loudness (LUFS)      {report['album_lufs']:.1f}, shift {report['shift_db']:+.1f} dB")
        mix = np.array([s["mix_lufs"] for s in report["songs"]])
        out_lufs = np.array([s["lufs"] for s in report["songs"]])
        wanted = np.clip(mix - mix.max(), -12.0, 0.0)
        print(f"relative level error max   {np.max(np.abs((out_lufs - out_lufs.max()) - wanted)):.2f} LU   (asked: within 1 LU)")
        print(f"true peak max (dBTP)       {max(s['true_peak_dbtp'] for s in report['songs']):.2f}")
        print("song  start     mix LUFS  LUFS   dBTP")
        for s in report["songs"]:
            print(f"{s['number']:>4}  {s['start']}  {s['mix_lufs']:>7.1f}  {s['lufs']:>5.1f}  {s['true_peak_dbtp']:>5.1f}")


if __name__ == "__main__":
    main()
