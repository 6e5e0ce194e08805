"""The 16-bit output's noise, dither by dither: the spectrum of what quantisation adds.

Quantises noise of 20 LSB RMS (so that the rounding error is uniform and white) with each of
automaster's dithers and prints the total error's power in bands, dB re the rounding error
alone (1/12 LSB^2, white), beside the analytic values: TPDF +4.8 dB everywhere; high-pass
TPDF 10 log10(1 + 4 sin^2(pi f / fs)).

    python benchmarks/bench_dither.py [--rate 44100]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import signal

from matcher.dsp.dither import Quantizer

BANDS_HZ = ((20, 200), (200, 2000), (2000, 6000), (6000, 12000), (12000, 16000), (16000, 20000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=44100)
    rate = parser.parse_args().rate
    rng = np.random.default_rng(5)
    x = rng.standard_normal((rate * 20, 2)) * 20.0 / 2**15
    white = (1.0 / 12.0) / (rate / 2.0)
    print(f"total error of the 16-bit quantiser, dB re rounding alone ({rate} Hz)")
    print(f"{'dither':<16}" + "".join(f"{f'{lo}-{hi} Hz':>14}" for lo, hi in BANDS_HZ))
    for label, dither, shape in (("none", False, "tpdf"), ("tpdf", True, "tpdf"), ("shaped", True, "shaped")):
        y = Quantizer("16", dither, 9, shape).process(x).astype(np.float64)
        f, psd = signal.welch((y - x)[:, 0] * 2**15, fs=rate, nperseg=8192)
        row = [10 * np.log10(np.mean(psd[(f >= lo) & (f < hi)]) / white) for lo, hi in BANDS_HZ]
        print(f"{label:<16}" + "".join(f"{v:14.2f}" for v in row))
        if shape == "shaped":
            # The analytic spectrum averaged over the same bins.
            analytic = [10 * np.log10(np.mean(1 + 4 * np.sin(np.pi * f[(f >= lo) & (f < hi)] / rate) ** 2))
                        for lo, hi in BANDS_HZ]
            print(f"{'  analytic':<16}" + "".join(f"{v:14.2f}" for v in analytic))
    print(f"{'tpdf analytic':<16}" + "".join(f"{10 * np.log10(3):14.2f}" for _ in BANDS_HZ))


if __name__ == "__main__":
    main()
