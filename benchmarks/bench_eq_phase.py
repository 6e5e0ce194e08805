"""The EQ's phase modes side by side: pre-echo, magnitude error, mid/side phase coherence.

Run ``python benchmarks/bench_eq_phase.py [SETTINGS.json ...]``. Pre-echo is measured on
click kicks and snares (``tests/signals.py``: ``click_drums``, ``pre_echo``) through +10 dB
below 100 Hz and -10 dB above 4 kHz with the default fixes, as ``tests/test_eq_phase.py``
does: alone, through a fit's kind of multiband compressor, and with the width curve of
each settings file given (from ``automaster suggest --json``; their EQ and width curves
also give the magnitude and coherence figures). It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.signal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from signals import click_drums, pre_echo  # noqa: E402

from matcher import (  # noqa: E402
    BandCompressor,
    DynamicsSettings,
    EqSettings,
    LoudnessSettings,
    OutputSettings,
    Settings,
    WidthSettings,
    render,
)
from matcher.analysis.spectrum import band_centers_hz  # noqa: E402
from matcher.dsp.eq import PHASES, MidSideEQ  # noqa: E402
from matcher.dsp.filters import butterworth_highpass_gain, interpolate_curve_db  # noqa: E402

RATE = 44100
BAND_HZ = (30.0, 16000.0)
COMPRESSOR = (
    BandCompressor(-32.0, 2.0, attack_ms=30.0, release_ms=250.0, makeup_db=6.0),
    BandCompressor(-24.0, 2.0, attack_ms=15.0, release_ms=180.0, makeup_db=4.0),
    BandCompressor(-27.0, 1.0),
    BandCompressor(-38.0, 1.0),
)


def responses(eq: MidSideEQ, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Complex responses of the EQ's mid and side at ``f``, measured through the EQ."""
    at, length = RATE, 3 * RATE
    out = []
    for side_sign in (1.0, -1.0):
        x = np.zeros((length, 2), dtype=np.float32)
        x[at] = (1.0, side_sign)
        h = np.concatenate([eq.process(x), eq.finish()])[:, 0].astype(np.float64)
        eq.reset()
        out.append(scipy.signal.freqz(h, worN=f, fs=RATE)[1] * np.exp(2j * np.pi * f * at / RATE))
    return out[0], out[1]


def curve_figures(centers, eq_db, width_db, phase: str) -> tuple[float, float, float, float]:
    """Largest magnitude error of the whole (mid and side) against the curves, of mid and of
    side against the linear-phase filters (dB), and the largest mid/side phase difference
    (degrees), over 30 Hz-16 kHz."""
    f = np.geomspace(*BAND_HZ, 2000)
    mid_db = interpolate_curve_db(centers, eq_db, f) + 20 * np.log10(butterworth_highpass_gain(f, 20.0))
    side_db = mid_db + interpolate_curve_db(centers, width_db, f)
    build = lambda p: MidSideEQ(centers, eq_db, eq_db + width_db, RATE, 2, highpass_hz=20.0, zero_dc=True, phase=p)
    mid, side = responses(build(phase), f)
    lin_mid, lin_side = responses(build("linear"), f)
    to_db = lambda r: 20 * np.log10(np.abs(r))
    target = max(np.max(np.abs(to_db(mid) - mid_db)), np.max(np.abs(to_db(side) - side_db)))
    linear_mid = np.max(np.abs(to_db(mid) - to_db(lin_mid)))
    linear_side = np.max(np.abs(to_db(side) - to_db(lin_side)))
    coherence = float(np.max(np.abs(np.degrees(np.angle(side / mid)))))
    return float(target), float(linear_mid), float(linear_side), coherence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="*", type=Path, help="settings JSON files (automaster suggest --json)")
    args = parser.parse_args()
    centers = band_centers_hz()
    boost_and_cut_db = np.where(centers < 100.0, 10.0, np.where(centers > 4000.0, -10.0, 0.0))
    x, onsets = click_drums(RATE)
    fitted = [(p.stem, json.loads(p.read_text())) for p in args.settings]
    print("pre-echo: energy 5-50 ms before an onset over its first 10 ms (dB), worst of the kicks (all mid) "
          "and of the snares (noise as much in the side as in the mid); earliest: first sample within -60 dB "
          "of the onset's peak, before it (ms)")
    print("mode     case                              kicks: pre-echo  earliest  snares: pre-echo  earliest   render")
    for phase in PHASES:
        base = Settings(
            eq=EqSettings(tuple(centers), tuple(boost_and_cut_db), phase=phase),
            loudness=LoudnessSettings(None),
            output=OutputSettings("32f"),
        )
        cases = [("EQ", base), ("EQ + compressor", replace(base, dynamics=DynamicsSettings(bands=COMPRESSOR)))]
        for name, data in fitted:
            width = WidthSettings(tuple(data["width"]["band_centers_hz"]), tuple(data["width"]["side_gain_db"]))
            cases.append((f"EQ + width of {name}"[:36], replace(base, width=width)))
        for case, settings in cases:
            start = time.perf_counter()
            y = render(x, RATE, settings)
            elapsed_s = time.perf_counter() - start
            kicks = pre_echo(y, onsets[::2], RATE)
            snares = pre_echo(y, onsets[1::2], RATE)
            print(f"{phase:8s} {case:36s} {kicks[0]:13.1f} {kicks[1]:9.1f} {snares[0]:17.1f} {snares[1]:9.1f}"
                  f"  {elapsed_s:6.2f} s")
    if fitted:
        print("\nfitted curves: largest error over 30 Hz-16 kHz of mid and side against their curves, of mid "
              "and of side against the linear-phase filters (dB); largest mid/side phase difference (degrees)")
        print("mode     settings                          vs curve  mid vs linear  side vs linear  mid/side phase")
        for name, data in fitted:
            c = np.asarray(data["eq"]["band_centers_hz"])
            eq_db = np.asarray(data["eq"]["gain_db"])
            width_db = interpolate_curve_db(np.asarray(data["width"]["band_centers_hz"]),
                                            np.asarray(data["width"]["side_gain_db"]), c)
            for phase in PHASES:
                target, linear_mid, linear_side, coherence = curve_figures(c, eq_db, width_db, phase)
                print(f"{phase:8s} {name[:32]:32s} {target:9.3f} {linear_mid:14.4f} {linear_side:15.3f} "
                      f"{coherence:15.1f}")


if __name__ == "__main__":
    main()
