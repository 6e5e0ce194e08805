"""A large reference library: how long it takes to load, and to answer a nearest-reference query.

Builds a library of N generated profiles (default 100 000) from the starter library's
analyses: each a starter profile with its tonal curve tilted, its loudness, loudness range
and width moved at random (seeded), so that the features spread as a real catalogue's
would. Profiles are written straight to the folder (no fsync: this is a benchmark), then:

- build: the first open, which reads every profile and writes ``index.npz``;
- import: importing scikit-learn's ``NearestNeighbors`` (paid once per process);
- load: opening the library from its index, standardising, fitting the neighbours model;
- query: the 3 nearest to a mix (median and max over many mixes), with the 3 profiles read.

    python benchmarks/bench_library.py [--profiles 100000] [--work DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from matcher.library.store import Library, Profile, starter_library_dir


def generated_profiles(count: int, seed: int = 0):
    """``count`` profiles varied from the starter library's (seeded)."""
    starter = Library(starter_library_dir())
    bases = [starter.get(name).analysis for name in starter.names()]
    centers = np.asarray(bases[0].band_centers_hz)
    octaves = np.log2(centers / 1000.0)
    rng = np.random.default_rng(seed)
    for k in range(count):
        base = bases[k % len(bases)]
        tilt = rng.normal(0.0, 1.0) * octaves  # dB per octave about 1 kHz
        level = rng.normal(0.0, 2.0)
        width = rng.normal(0.0, 2.0)
        mid = np.asarray(base.mid_spectrum_db)
        side = np.asarray(base.side_spectrum_db)
        valid = mid > -200
        analysis = dataclasses.replace(
            base,
            integrated_lufs=base.integrated_lufs + level,
            loudness_range_lu=max(0.5, base.loudness_range_lu + rng.normal(0.0, 1.5)),
            sample_peak_dbfs=base.sample_peak_dbfs + level,
            short_term_lufs=(),
            mid_spectrum_db=tuple(np.where(valid, mid + tilt + level, mid).round(2).tolist()),
            side_spectrum_db=tuple(np.where(valid, side + tilt + level + width, side).round(2).tolist()),
            width_db=tuple(np.where(np.asarray(base.width_db) > -200, np.asarray(base.width_db) + width, -200.0).round(2).tolist()),
        )
        yield Profile(f"gen{k:06d}", f"{k:064x}", f"generated from {base.duration_s:.0f} s starter", ("generated",), "2026-12-01", analysis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--work", type=Path, default=None, help="library folder (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp) / "library"
        profiles_dir = root / "profiles"
        profiles_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        existing = sum(1 for _ in profiles_dir.glob("*.json"))
        if existing != args.profiles:
            for old in profiles_dir.glob("*.json"):
                old.unlink()
            (root / "index.npz").unlink(missing_ok=True)
            for profile in generated_profiles(args.profiles):
                (profiles_dir / f"{profile.name}.json").write_text(profile.to_json(), encoding="utf-8")
        t_write = time.perf_counter() - t0

        had_index = (root / "index.npz").is_file()
        t0 = time.perf_counter()
        Library(root).index()
        t_build = time.perf_counter() - t0

        t0 = time.perf_counter()
        from sklearn.neighbors import NearestNeighbors  # noqa: F401 - timed

        t_import = time.perf_counter() - t0

        from matcher.library.choice import NearestReferences

        t0 = time.perf_counter()
        finder = NearestReferences(Library(root))
        t_load = time.perf_counter() - t0

        starter = Library(starter_library_dir())
        mixes = [p.analysis for p in generated_profiles(args.queries, seed=1)]
        times = []
        for mix in mixes:
            t0 = time.perf_counter()
            choice = finder.query(mix, 3)
            times.append(time.perf_counter() - t0)
        assert len(choice.names) == 3
        size_mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
        index_mb = (root / "index.npz").stat().st_size / 1e6
        print(f"profiles                         {len(finder.index):>10d}   (from {len(starter)} starter profiles)")
        print(f"library on disk (MB)             {size_mb:>10.0f}   (index.npz {index_mb:.1f} MB)")
        print(f"generate and write profiles (s)  {t_write:>10.1f}")
        what = "first open, index kept (s)" if had_index else "first open: build the index (s)"
        print(f"{what:<33}{t_build:>10.1f}")
        print(f"import scikit-learn (s)          {t_import:>10.2f}")
        print(f"load from the index (s)          {t_load:>10.3f}   (asked: <= 2 s)")
        print(f"query, 3 nearest, median (ms)    {1000 * statistics.median(times):>10.2f}   (asked: <= 20 ms)")
        print(f"query, 3 nearest, max (ms)       {1000 * max(times):>10.2f}")


if __name__ == "__main__":
    main()
