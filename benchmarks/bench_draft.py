"""The studio's first listen (issue 18): how close a suggestion's *draft* is to its exact
excerpt, and how much sooner it comes.

A draft (:func:`matcher.preview.build.draft_listen`) plans the loudest 25 s on their own,
aimed at the target moved by how much louder than the whole master that span will be; the
exact excerpt goes through the whole mix's plan. For pairs of corpus tracks (each track
mastered toward the next), prints the draft's "after" loudness over the exact one's (LU,
pyloudnorm on the decoded FLAC clips), the level-matched residual between them (dB re the
exact clip), and the time from the start of the suggestion to each (in this process, after
a warm-up).

    python benchmarks/bench_draft.py ~/corpus [--pairs 6]
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf

from matcher.jobs import preview_file
from matcher.options import PYTHON_NAMES, fit_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", type=Path)
    parser.add_argument("--pairs", type=int, default=6)
    args = parser.parse_args()
    tracks = sorted(args.corpus_dir.glob("*.wav"))
    if len(tracks) < 2:
        raise SystemExit(f"{args.corpus_dir}: fewer than two .wav tracks")
    pairs = [(tracks[i], tracks[(i + 1) % len(tracks)]) for i in range(min(args.pairs, len(tracks)))]
    config = fit_config(names=PYTHON_NAMES)
    preview_file(pairs[0][0], [pairs[0][1]], config)  # warm-up: imports, FFT plans
    print(f"{'mix':<34} {'reference':<34} {'draft-exact LU':>14} {'residual dB':>11} {'draft s':>8} {'exact s':>8}")
    errors = []
    for mix, ref in pairs:
        heard, times = [], []
        start = time.perf_counter()

        def keep(listen, heard=heard, times=times, start=start):
            times.append(time.perf_counter() - start)
            heard.append(listen)

        preview_file(mix, [ref], config, on_listen=keep)
        draft, exact = (_after(listen) for listen in heard)
        rate = sf.info(str(mix)).samplerate
        meter = pyloudnorm.Meter(rate)
        lufs_draft, lufs_exact = meter.integrated_loudness(draft), meter.integrated_loudness(exact)
        matched = draft * 10 ** ((lufs_exact - lufs_draft) / 20)
        residual = 10 * np.log10(np.mean((matched - exact) ** 2) / np.mean(exact**2))
        errors.append(lufs_draft - lufs_exact)
        print(f"{mix.stem[:34]:<34} {ref.stem[:34]:<34} {lufs_draft - lufs_exact:+14.2f} {residual:11.1f}"
              f" {times[0]:8.2f} {times[1]:8.2f}")
    print(f"draft - exact: mean {np.mean(errors):+.2f} LU, largest {max(errors, key=abs):+.2f} LU over {len(errors)} pairs")


def _after(listen) -> np.ndarray:
    clip = next(e for e in listen.excerpts if e.label == "after")
    return sf.read(io.BytesIO(clip.data), always_2d=True)[0]


if __name__ == "__main__":
    main()
