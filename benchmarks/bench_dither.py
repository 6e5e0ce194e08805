"""The 16-bit output's noise, dither by dither: the spectrum of what quantisation adds.

Quantises noise of 20 LSB RMS (so that the rounding error is uniform and white) with each of
automaster's dithers and prints the total error's power in bands, dB re the rounding error
alone (1/12 LSB^2, white), beside the analytic values: TPDF +4.8 dB everywhere; high-pass
TPDF 10 log10(1 + 4 sin^2(pi f / fs)); noise shaping (``--dither shaped``: error feedback
through Wannamaker's F-weighted filter h, FFmpeg's libswresample) 10 log10(3 |1 - sum_k h_k
z^-(k+1)|^2), its error measured against the input times the shaper's small output gain.

    python benchmarks/bench_dither.py [--rate 44100]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import signal

from matcher.dsp.dither import Quantizer

BANDS_HZ = ((20, 200), (200, 2000), (2000, 5000), (5000, 9000), (9000, 13000), (13000, 16000), (16000, 20000))
F_WEIGHTED = (2.412, -3.370, 3.937, -4.174, 3.353, -2.205, 1.281, -0.569, 0.0847)
"""Wannamaker (1992), "Psychoacoustically optimal noise shaping", JAES 40(7/8): 9-tap F-weighted."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=44100)
    rate = parser.parse_args().rate
    rng = np.random.default_rng(5)
    x = rng.standard_normal((rate * 20, 2)) * 20.0 / 2**15
    white = (1.0 / 12.0) / (rate / 2.0)
    print(f"total error of the 16-bit quantiser, dB re rounding alone ({rate} Hz)")
    print(f"{'dither':<16}" + "".join(f"{f'{lo}-{hi} Hz':>13}" for lo, hi in BANDS_HZ))
    for label, dither, shape in (("none", False, "tpdf"), ("tpdf", True, "tpdf"), ("hp-tpdf", True, "hp-tpdf"),
                                 ("shaped", True, "shaped")):
        q = Quantizer("16", dither, 9, shape, rate, 2)
        y = np.concatenate([q.process(x), q.finish()]).astype(np.float64)
        gain = np.sum(y * x) / np.sum(x * x)
        f, psd = signal.welch((y - gain * x)[:, 0] * 2**15, fs=rate, nperseg=8192)
        row = [10 * np.log10(np.mean(psd[(f >= lo) & (f < hi)]) / white) for lo, hi in BANDS_HZ]
        print(f"{label + ('' if q.shape == shape else ' (' + q.shape + ')'):<16}" + "".join(f"{v:13.2f}" for v in row))
        if q.shape == "hp-tpdf":
            analytic = [10 * np.log10(np.mean(1 + 4 * np.sin(np.pi * f[(f >= lo) & (f < hi)] / rate) ** 2))
                        for lo, hi in BANDS_HZ]
            print(f"{'  analytic':<16}" + "".join(f"{v:13.2f}" for v in analytic))
        elif q.shape == "shaped":
            _, response = signal.freqz(np.concatenate([[1.0], -np.asarray(F_WEIGHTED)]), worN=f, fs=rate)
            power = 3 * np.abs(response) ** 2
            analytic = [10 * np.log10(np.mean(power[(f >= lo) & (f < hi)])) for lo, hi in BANDS_HZ]
            print(f"{'  analytic':<16}" + "".join(f"{v:13.2f}" for v in analytic))
            print(f"{'  output gain':<16}{20 * np.log10(gain):+13.4f} dB")
    print(f"{'tpdf analytic':<16}" + "".join(f"{10 * np.log10(3):13.2f}" for _ in BANDS_HZ))


if __name__ == "__main__":
    main()
