"""Silence stays silent (issue 16, item 4): how much a master lifts a break of hiss and a
fade's tail beyond the music, the leveler's ride, and the loudness error.

Each mix (synthetic, and an excerpt of each corpus track given) is mastered three ways
against one reference: as it is ("clean"), with 4 s in its middle replaced by white hiss at
-60 dBFS ("break"), and faded out by 30 dB over its last 8 s ("fade"). Printed per case:

- break: the break's RMS change (0.25 s in from its edges) minus that of the music in the
  4 s either side (dB);
- fade: the depth lost (RMS of the 2 s before the fade minus that of its last second,
  mix minus master), and the largest rise of the gain through the fade over its start
  (1 s steps, dB);
- both also K-weighted ("K": the RMS of the signals through pyloudnorm's BS.1770 filters,
  the level a loudness meter reads), beside the plain RMS, which the bass dominates;
- the leveler's ratio and ride (dB), and the loudness error against the target
  (pyloudnorm, LU).

It prints figures and asserts nothing. Run it from the checkout (it imports the engine the
Python path finds first, so an older checkout can be measured the same way):

    python benchmarks/bench_silence.py /path/to/corpus [--tracks a.wav,b.wav] [--ref c.wav]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from signals import biquad_eq, drum_loop, fade_out, pink_noise, stepped_gain, with_break  # noqa: E402

from matcher import analyze, fit  # noqa: E402
from matcher.rendering.renderer import collect_into, render_stream  # noqa: E402

EXCERPT_S = 60.0
BREAK_S = 4.0
FADE_S = 8.0
FADE_DB = 30.0
DEFAULT_TRACKS = ("dev_wesnoth_traveling_minstrels.wav", "dev_stk_menutheme.wav", "dev_widelands_beauty_of_the_flat_lands.wav")
DEFAULT_REFERENCE = "dev_nexuiz_ninesix.wav"


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2) + 1e-30))


def k_weighted(x: np.ndarray, rate: int) -> np.ndarray:
    """``x`` through pyloudnorm's BS.1770 K-weighting filters (an independent meter): the
    RMS of the result is the level a loudness meter reads."""
    y = np.asarray(x, dtype=np.float64)
    for stage in pyloudnorm.Meter(rate)._filters.values():
        y = stage.apply_filter(y)
    return y


def master(mix: np.ndarray, rate: int, reference) -> tuple[np.ndarray, object, object]:
    settings = fit(analyze(mix, rate), reference)
    parts: list[np.ndarray] = []
    report = render_stream(lambda: [mix.astype(np.float32)], rate, mix.shape[1], settings, lambda: collect_into(parts))
    return np.concatenate(parts).astype(np.float64), settings, report


def break_lift_db(mix: np.ndarray, out: np.ndarray, rate: int, start_s: float) -> float:
    at = lambda t: int(round(t * rate))
    inside = slice(at(start_s + 0.25), at(start_s + BREAK_S - 0.25))
    music = np.r_[at(start_s - 4.0) : at(start_s), at(start_s + BREAK_S) : at(start_s + BREAK_S + 4.0)]
    change = lambda part: rms_db(out[part]) - rms_db(mix[part])
    return change(inside) - change(music)


def fade_figures(mix: np.ndarray, out: np.ndarray, rate: int) -> tuple[float, float]:
    n, at = mix.shape[0], lambda t: int(round(t * rate))
    depth = lambda x: rms_db(x[n - at(FADE_S + 2.0) : n - at(FADE_S)]) - rms_db(x[n - at(1.0) :])
    gains = [rms_db(out[n - at(FADE_S - k) : n - at(FADE_S - k - 1)]) - rms_db(mix[n - at(FADE_S - k) : n - at(FADE_S - k - 1)])
             for k in range(int(FADE_S))]
    return depth(mix) - depth(out), max(g - gains[0] for g in gains)


def run_cases(name: str, music: np.ndarray, rate: int, reference) -> None:
    middle = music.shape[0] / rate / 2 - BREAK_S / 2
    cases = {
        "clean": music,
        "break": with_break(music, middle, BREAK_S, rate, hiss_dbfs=-60.0, seed=11),
        "fade": fade_out(music, FADE_S, FADE_DB, rate),
    }
    meter = pyloudnorm.Meter(rate)
    for case, mix in cases.items():
        out, settings, report = master(mix, rate, reference)
        figure = ""
        k_mix, k_out = k_weighted(mix, rate), k_weighted(out, rate)
        if case == "break":
            figure = (f"break lift beyond music {break_lift_db(mix, out, rate, middle):+5.1f} dB "
                      f"(K {break_lift_db(k_mix, k_out, rate, middle):+5.1f})")
        elif case == "fade":
            (lost, bulge), (k_lost, k_bulge) = fade_figures(mix, out, rate), fade_figures(k_mix, k_out, rate)
            figure = f"fade depth lost {lost:+5.1f} dB (K {k_lost:+5.1f}), largest rise {bulge:+5.1f} (K {k_bulge:+5.1f})"
        ratio = "off" if report.leveler_ratio is None else f"{report.leveler_ratio:.2f}"
        error = meter.integrated_loudness(out) - settings.loudness.target_lufs
        print(f"{name:<48} {case:<6}{figure:<68}leveler {ratio:>5} "
              f"{report.leveler_min_gain_db:+5.1f}..{report.leveler_max_gain_db:+4.1f} dB  loudness {error:+.2f} LU",
              flush=True)


def synthetic(rate: int) -> tuple[np.ndarray, np.ndarray]:
    """A drum mix in sections, and a bright, dense reference (tests/test_silence.py's)."""
    x = drum_loop(EXCERPT_S, rate, seed=1) * 0.5
    x = x * stepped_gain(x.shape[0], [0, -7, 0, -5, -1, -8, 0, 0], 7.5, rate)
    r = biquad_eq(drum_loop(EXCERPT_S, rate, seed=7) * 0.5, rate, "highshelf", 3000.0, 16.0)
    bed = pink_noise(EXCERPT_S, rate, rms=0.06, seed=7, correlation=0.5)
    r = r + bed * stepped_gain(r.shape[0], [0, -4, 1, -3, 0, -5, 2, -2, 0, -4], 6.0, rate, ramp_s=0.01)
    return x, 0.9 * r * stepped_gain(r.shape[0], [0, -3, 0, -2], 7.5, rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", type=Path, nargs="?")
    parser.add_argument("--tracks", default=",".join(DEFAULT_TRACKS), help="corpus files, comma-separated")
    parser.add_argument("--ref", default=DEFAULT_REFERENCE, help="the reference, a corpus file")
    args = parser.parse_args()
    rate = 44100
    mix, reference = synthetic(rate)
    run_cases("synthetic (drums in sections)", mix, rate, analyze(reference, rate))
    if args.corpus_dir is None:
        return
    ref, ref_rate = sf.read(str(args.corpus_dir / args.ref), dtype="float32", always_2d=True)
    reference = analyze(ref, ref_rate)
    for track in args.tracks.split(","):
        audio, rate = sf.read(str(args.corpus_dir / track), dtype="float32", always_2d=True)
        start = max(0, (audio.shape[0] - int(EXCERPT_S * rate)) // 2)
        music = audio[start : start + int(EXCERPT_S * rate)].astype(np.float64)
        run_cases(f"{track} (ref {args.ref})", music, rate, reference)


if __name__ == "__main__":
    main()
