"""Benchmark automaster against Matchering on excerpts of real music.

Run ``python benchmarks/bench_match.py CORPUS_DIR`` (see ``benchmarks/README.md``). Both tools
run end to end as subprocesses; every figure is measured here, independently of the package,
with pyloudnorm (ITU-R BS.1770-4) and scipy. This script prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.metadata
import importlib.util
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from signal import SIGKILL

import numpy as np
import pyloudnorm
import soundfile as sf
from scipy import signal

from image_metrics import image_errors, image_figures

CASE_KINDS = ("recovery", "cross")
TOOL_NAMES = ("automaster", "matchering")
TONAL_TARGET_LUFS = -23.0
BAND_CENTERS_HZ = 1000.0 * 10.0 ** (np.arange(-14, 13) / 10.0)  # IEC 61260 base-10, 40 Hz..16 kHz
WELCH_NPERSEG = 16384
STFT_SIZES = (512, 2048, 8192)
LOG_EPS = 1e-5  # about -100 dB: floor for log magnitudes
DIST_BAND_HZ = (40.0, 16000.0)
MAX_LAG_SAMPLES = 2048
ALIGN_WINDOW_S = 10.0
OVERSAMPLING = 4
TP_BLOCK_SAMPLES = 1 << 17
TP_MARGIN_SAMPLES = 64  # > resample_poly's filter half-length (10 input samples at 4x)
CEILING_DBTP = -1.0

SHORT_NOTES = ("would take more distortion than the budget allows", "is out of reach under a")
"""What ``automaster match`` says on stderr when it stops short of a target: beyond its
distortion budget, or where more limiting would only squash the mix."""

MATCHERING_SNIPPET = (
    "import matchering as mg, sys; "
    "mg.process(target=sys.argv[1], reference=sys.argv[2], results=[mg.pcm24(sys.argv[3])])"
)

# A fork inherits its parent's peak RSS (Linux carries the old address space's high-water mark
# across exec), so a child started from this large process would report at least our own
# peak. This small launcher (python -S, ~8 MB) spawns the tool from a fresh address space,
# reaps it with wait4 and writes its wall time, CPU times and ru_maxrss (KiB) to the file argv[1].
LAUNCHER = r"""
import os, sys, time
t0 = time.perf_counter()
try:
    pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
except OSError as exc:
    sys.stderr.write("cannot start %s: %s\n" % (sys.argv[2], exc))
    sys.exit(127)
_, status, usage = os.wait4(pid, 0)
wall_s = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    f.write('{"wall_s": %r, "user_s": %r, "sys_s": %r, "max_rss_kib": %d}'
            % (wall_s, usage.ru_utime, usage.ru_stime, usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)  # killed by signal N: 128 + N, as shells report
"""


@dataclasses.dataclass(frozen=True)
class Degradation:
    """Random level drop and three RBJ biquads that turn a track into a "mix"."""

    level_db: float
    low_shelf_hz: float
    low_shelf_db: float
    high_shelf_hz: float
    high_shelf_db: float
    peak_hz: float
    peak_db: float
    peak_q: float


@dataclasses.dataclass(frozen=True)
class Case:
    """One mix/reference pair; ``original_path`` is set when the mix has a known original."""

    kind: str
    mix_name: str
    ref_name: str
    mix_path: Path
    ref_path: Path
    original_path: Path | None
    duration_s: float
    degradation: Degradation


@dataclasses.dataclass(frozen=True)
class Tool:
    """A mastering tool run as a subprocess; ``argv`` is None when it is not available."""

    name: str
    argv: Callable[[Path, Path, Path], list[str]] | None


@dataclasses.dataclass(frozen=True)
class Result:
    """What one tool did on one case; metrics are None when the run failed or was skipped."""

    status: str  # "ok", "failed" or "n/a"
    wall_s: float | None = None
    user_s: float | None = None
    sys_s: float | None = None
    realtime_factor: float | None = None
    peak_mem_mb: float | None = None
    lufs_err_lu: float | None = None
    true_peak_dbtp: float | None = None
    tonal_err_db: float | None = None
    dist_db: float | None = None
    lag_samples: int | None = None
    target_reachable: bool | None = None
    said_short: bool | None = None
    """automaster only: it said it stopped short of the target (beyond its distortion budget,
    or where more limiting would only squash the mix); None for a tool that never says."""
    dyn_err_db: float | None = None
    lra_err_lu: float | None = None
    width_err_db: float | None = None
    error: str = ""


@dataclasses.dataclass(frozen=True)
class Measured:
    """Exit code, wall and CPU times and peak memory of one tool process, and its last
    stderr lines."""

    exit_code: int
    wall_s: float | None
    peak_mem_mb: float | None
    stderr_tail: str
    user_s: float | None = None
    sys_s: float | None = None
    said_short: bool = False
    """Its stderr said it stopped short of the target (see SHORT_NOTES)."""


Run = tuple[Case, dict[str, Result]]  # a case and what each tool did on it


# --- cases -------------------------------------------------------------------------------


def rbj_sos(kind: str, freq_hz: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """One RBJ Audio-EQ-Cookbook biquad ("low_shelf", "high_shelf", "peak") as a (1, 6) sos."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * freq_hz / sample_rate
    cos_w0, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    if kind == "peak":
        b = [1 + alpha * a, -2 * cos_w0, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cos_w0, 1 - alpha / a]
    else:
        sign = 1.0 if kind == "low_shelf" else -1.0
        k = 2.0 * math.sqrt(a) * alpha
        b = [
            a * ((a + 1) - sign * (a - 1) * cos_w0 + k),
            sign * 2 * a * ((a - 1) - sign * (a + 1) * cos_w0),
            a * ((a + 1) - sign * (a - 1) * cos_w0 - k),
        ]
        den = [
            (a + 1) + sign * (a - 1) * cos_w0 + k,
            -sign * 2 * ((a - 1) + sign * (a + 1) * cos_w0),
            (a + 1) + sign * (a - 1) * cos_w0 - k,
        ]
    return np.array([b + den]) / den[0]


def random_degradation(seed: int, track_index: int) -> Degradation:
    """Draw degradation parameters; frequencies log-uniform, gains uniform in +-6 dB."""
    rng = np.random.default_rng([seed, track_index])

    def log_uniform(lo_hz: float, hi_hz: float) -> float:
        return float(np.exp(rng.uniform(np.log(lo_hz), np.log(hi_hz))))

    return Degradation(
        level_db=-float(rng.uniform(6.0, 14.0)),
        low_shelf_hz=log_uniform(60.0, 250.0),
        low_shelf_db=float(rng.uniform(-6.0, 6.0)),
        high_shelf_hz=log_uniform(3000.0, 10000.0),
        high_shelf_db=float(rng.uniform(-6.0, 6.0)),
        peak_hz=log_uniform(200.0, 5000.0),
        peak_db=float(rng.uniform(-6.0, 6.0)),
        peak_q=float(rng.uniform(0.7, 2.0)),
    )


def degrade(audio: np.ndarray, sample_rate: int, d: Degradation) -> np.ndarray:
    """Apply ``d`` to ``audio`` of shape (samples, channels); returns a new array."""
    shelf_q = 1.0 / math.sqrt(2.0)  # shelf slope S = 1
    sos = np.vstack(
        [
            rbj_sos("low_shelf", d.low_shelf_hz, d.low_shelf_db, shelf_q, sample_rate),
            rbj_sos("high_shelf", d.high_shelf_hz, d.high_shelf_db, shelf_q, sample_rate),
            rbj_sos("peak", d.peak_hz, d.peak_db, d.peak_q, sample_rate),
        ]
    )
    return signal.sosfilt(sos, audio * 10.0 ** (d.level_db / 20.0), axis=0)


def short_name(path: Path) -> str:
    """Track name without the corpus split prefix, at most 18 characters."""
    return path.stem.removeprefix("dev_")[:18]


def write_float_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write (samples, channels) audio as a 32-bit float WAV."""
    sf.write(path, audio.astype(np.float32), sample_rate, subtype="FLOAT")


def build_cases(tracks: Sequence[Path], args: argparse.Namespace, work: Path) -> list[Case]:
    """Write excerpts and degraded mixes to ``work`` and pair them into cases."""
    excerpts: list[tuple[str, Path, Path, float, Degradation]] = []
    for index, path in enumerate(tracks):
        info = sf.info(path)
        frames = round(args.excerpt_s * info.samplerate)
        if info.frames < frames:
            print(
                f"skipping {path.name}: {info.duration:.1f} s < {args.excerpt_s} s", file=sys.stderr
            )
            continue
        audio, sample_rate = sf.read(
            path, frames=frames, start=(info.frames - frames) // 2, dtype="float64", always_2d=True
        )
        d = random_degradation(args.seed, index)
        ref_path, mix_path = work / f"ref_{path.stem}.wav", work / f"mix_{path.stem}.wav"
        write_float_wav(ref_path, audio, sample_rate)
        write_float_wav(mix_path, degrade(audio, sample_rate, d), sample_rate)
        excerpts.append((short_name(path), ref_path, mix_path, frames / sample_rate, d))
    n = len(excerpts)
    offset = max(1, n // 2)
    cases = []
    for i, (name, ref_path, mix_path, duration_s, d) in enumerate(excerpts):
        if "recovery" in args.cases:
            cases.append(Case("recovery", name, name, mix_path, ref_path, ref_path, duration_s, d))
        if "cross" in args.cases and n > 1:
            other_name, other_path = excerpts[(i + offset) % n][:2]
            cases.append(Case("cross", name, other_name, mix_path, other_path, None, duration_s, d))
    return cases


def full_track_case(tracks: Sequence[Path], seed: int, work: Path) -> Case:
    """Mix: the track closest to 180 s, degraded; reference: the next closest, full length."""
    by_distance = sorted(range(len(tracks)), key=lambda i: abs(sf.info(tracks[i]).duration - 180.0))
    mix_index, ref_index = by_distance[0], by_distance[1]
    audio, sample_rate = sf.read(tracks[mix_index], dtype="float64", always_2d=True)
    d = random_degradation(seed, mix_index)
    mix_path = work / f"mix_full_{tracks[mix_index].stem}.wav"
    write_float_wav(mix_path, degrade(audio, sample_rate, d), sample_rate)
    return Case(
        "full",
        short_name(tracks[mix_index]),
        short_name(tracks[ref_index]),
        mix_path,
        tracks[ref_index],
        None,
        audio.shape[0] / sample_rate,
        d,
    )


# --- running the tools -------------------------------------------------------------------


def automaster_argv(prefix: Sequence[str], mix: Path, ref: Path, out: Path) -> list[str]:
    """``automaster match`` command line."""
    return [*prefix, "match", str(mix), "--ref", str(ref), "-o", str(out), "--force"]


def matchering_argv(mix: Path, ref: Path, out: Path) -> list[str]:
    """Matchering 2.0 command line (24-bit WAV output)."""
    return [sys.executable, "-c", MATCHERING_SNIPPET, str(mix), str(ref), str(out)]


def default_automaster_prefix() -> list[str]:
    """Run automaster the way Matchering is run: this interpreter, no wrapper in between.

    ``automaster`` on PATH may be a shim (pyenv's bash wrapper costs ~0.1 s per start);
    the console script pip installed beside this interpreter is run with it directly.
    """
    script = Path(sysconfig.get_path("scripts")) / "automaster"
    if script.is_file():
        return [sys.executable, str(script)]
    found = shutil.which("automaster")
    return [found] if found else ["automaster"]


def make_tools(args: argparse.Namespace) -> list[Tool]:
    """Set up both tools; a tool that cannot run here gets ``argv`` None."""
    prefix = shlex.split(args.automaster_cmd) if args.automaster_cmd else default_automaster_prefix()
    automaster = None
    if prefix and shutil.which(prefix[0]):
        automaster = functools.partial(automaster_argv, prefix)
    else:
        print(
            f"warning: {args.automaster_cmd or 'automaster'!r} not found; automaster columns are n/a",
            file=sys.stderr,
        )
    has_matchering = not args.no_matchering and importlib.util.find_spec("matchering") is not None
    if not args.no_matchering and not has_matchering:
        print("note: matchering is not installed; its columns are n/a", file=sys.stderr)
    return [
        Tool("automaster", automaster),
        Tool("matchering", matchering_argv if has_matchering else None),
    ]


def run_measured(argv: list[str], log_stem: Path, timeout_s: float) -> Measured:
    """Run ``argv`` through the launcher; stdout and stderr go to ``log_stem``.out/.err."""
    stats_path = log_stem.with_suffix(".stats.json")
    stats_path.unlink(missing_ok=True)
    with (
        open(log_stem.with_suffix(".out"), "wb") as out,
        open(log_stem.with_suffix(".err"), "wb") as err,
    ):
        # A session of its own, so a timeout can stop the launcher and the tool together.
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, str(stats_path), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, SIGKILL)
            proc.wait()
            return Measured(-SIGKILL, timeout_s, None, f"timed out after {timeout_s:g} s")
    text = log_stem.with_suffix(".err").read_text(errors="replace")
    tail = "\n".join(text.splitlines()[-5:])
    if not stats_path.exists():
        return Measured(proc.returncode or 1, None, None, tail)
    stats = json.loads(stats_path.read_text())
    return Measured(
        proc.returncode, stats["wall_s"], stats["max_rss_kib"] / 1024.0, tail, stats["user_s"], stats["sys_s"],
        any(note in text for note in SHORT_NOTES),
    )


# --- metrics -----------------------------------------------------------------------------


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770-4) of (samples, channels) audio."""
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio))


def true_peak_dbtp(audio: np.ndarray) -> float:
    """Peak over channels of ``audio`` (samples, channels) oversampled 4x, in dBTP."""
    n = audio.shape[0]
    peak = 0.0
    for start in range(0, n, TP_BLOCK_SAMPLES):
        stop = min(start + TP_BLOCK_SAMPLES, n)
        lo, hi = max(start - TP_MARGIN_SAMPLES, 0), min(stop + TP_MARGIN_SAMPLES, n)
        up = signal.resample_poly(audio[lo:hi], OVERSAMPLING, 1, axis=0)
        peak = max(
            peak,
            float(np.max(np.abs(up[(start - lo) * OVERSAMPLING : (stop - lo) * OVERSAMPLING]))),
        )
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def third_octave_db(audio: np.ndarray, sample_rate: int, loudness_lufs: float) -> np.ndarray:
    """Third-octave band levels (dB, at ``BAND_CENTERS_HZ``) of the mid signal at -23 LUFS."""
    mid = audio.mean(axis=1) * 10.0 ** ((TONAL_TARGET_LUFS - loudness_lufs) / 20.0)
    freqs_hz, psd = signal.welch(mid, fs=sample_rate, nperseg=min(WELCH_NPERSEG, mid.size))
    df_hz = freqs_hz[1] - freqs_hz[0]
    edges_hz = np.stack(
        [BAND_CENTERS_HZ * 2.0 ** (-1 / 6), BAND_CENTERS_HZ * 2.0 ** (1 / 6)], axis=1
    )
    power = np.array([psd[(freqs_hz >= lo) & (freqs_hz < hi)].sum() * df_hz for lo, hi in edges_hz])
    return 10.0 * np.log10(power + 1e-20)


def tonal_error_db(curve_db: np.ndarray, ref_curve_db: np.ndarray) -> float:
    """RMS of the band-level difference once its mean (a pure gain) is removed, in dB."""
    diff_db = curve_db - ref_curve_db
    return float(np.sqrt(np.mean((diff_db - diff_db.mean()) ** 2)))


@functools.cache
@functools.lru_cache(maxsize=None)
def measure_reference(path: Path) -> tuple[float, np.ndarray]:
    """Integrated loudness (LUFS) and third-octave curve (dB) of a reference file."""
    audio, sample_rate = sf.read(path, dtype="float64", always_2d=True)
    loudness_lufs = integrated_lufs(audio, sample_rate)
    return loudness_lufs, third_octave_db(audio, sample_rate, loudness_lufs)


@functools.lru_cache(maxsize=None)
def loudest_under_ceiling_lufs(path: Path) -> float:
    """How loud the reference itself can be made with its true peak under the ceiling by
    hard clipping (the crudest loudness maximiser): the clipping depth that makes the
    clipped and re-levelled signal loudest at CEILING_DBTP is searched (to 0.05 dB).

    A target above this is out of reach for any mastering that respects the ceiling
    without gross distortion; the summary reports such cases apart.
    """
    audio, sample_rate = sf.read(path, dtype="float64", always_2d=True)
    peak = float(np.max(np.abs(audio)))

    def clipped(depth_db: float) -> np.ndarray:
        level = peak * 10.0 ** (-depth_db / 20.0)
        y = np.clip(audio, -level, level)
        return y * 10.0 ** ((CEILING_DBTP - true_peak_dbtp(y)) / 20.0)

    # Loudness against clipping depth rises, then falls once the clipped signal's own
    # overshoot costs more than the clipping gains: scan 0-30 dB in 2 dB steps, then narrow
    # in on the loudest by golden-section search to 0.05 dB.
    depths = np.arange(0.0, 31.0, 2.0)
    scanned = [integrated_lufs(clipped(d), sample_rate) for d in depths]
    k = int(np.argmax(scanned))
    lo, hi = depths[max(k - 1, 0)], depths[min(k + 1, len(depths) - 1)]
    best = scanned[k]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    f1, f2 = integrated_lufs(clipped(x1), sample_rate), integrated_lufs(clipped(x2), sample_rate)
    while hi - lo > 0.05:
        if f1 >= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - ratio * (hi - lo)
            f1 = integrated_lufs(clipped(x1), sample_rate)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + ratio * (hi - lo)
            f2 = integrated_lufs(clipped(x2), sample_rate)
    return max(best, f1, f2)


@functools.lru_cache(maxsize=None)
def reference_image(path: Path) -> tuple:
    """Band-dynamics spreads, loudness range and width of a reference file."""
    audio, sample_rate = sf.read(path, dtype="float64", always_2d=True)
    return image_figures(audio, sample_rate)


def align_lag_samples(audio: np.ndarray, original: np.ndarray, sample_rate: int) -> int:
    """Lag (samples, +-2048) of ``audio`` behind ``original`` maximising mid cross-correlation."""
    n = min(audio.shape[0], original.shape[0], round(ALIGN_WINDOW_S * sample_rate))
    corr = signal.correlate(
        audio[:n].mean(axis=1), original[:n].mean(axis=1), mode="full", method="fft"
    )
    lags = signal.correlation_lags(n, n, mode="full")
    keep = np.abs(lags) <= MAX_LAG_SAMPLES
    return int(lags[keep][np.argmax(corr[keep])])


def log_stft_distance_db(audio: np.ndarray, original: np.ndarray, sample_rate: int) -> float:
    """Multi-resolution mean absolute log-STFT magnitude difference (dB), 40 Hz..16 kHz."""
    per_size = []
    for nfft in STFT_SIZES:
        per_channel = []
        for ch in range(original.shape[1]):
            mags_db = []
            for x in (audio[:, ch], original[:, ch]):
                freqs_hz, _, spec = signal.stft(
                    x,
                    fs=sample_rate,
                    window="hann",
                    nperseg=nfft,
                    noverlap=nfft - nfft // 4,
                    boundary=None,
                    padded=False,
                )
                band = (freqs_hz >= DIST_BAND_HZ[0]) & (freqs_hz <= DIST_BAND_HZ[1])
                mags_db.append(20.0 * np.log10(np.abs(spec[band]) + LOG_EPS))
            per_channel.append(float(np.mean(np.abs(mags_db[0] - mags_db[1]))))
        per_size.append(np.mean(per_channel))
    return float(np.mean(per_size))


def distance_to_original(
    audio: np.ndarray, sample_rate: int, loudness_lufs: float, original_path: Path
) -> tuple[float, int]:
    """Loudness-matched, aligned log-STFT distance (dB) to the original, and the lag found."""
    original, original_rate = sf.read(original_path, dtype="float64", always_2d=True)
    if sample_rate != original_rate:
        g = math.gcd(sample_rate, original_rate)
        audio = signal.resample_poly(audio, original_rate // g, sample_rate // g, axis=0)
    if audio.shape[1] != original.shape[1]:
        raise ValueError(f"output has {audio.shape[1]} channels, original {original.shape[1]}")
    audio = audio * 10.0 ** ((integrated_lufs(original, original_rate) - loudness_lufs) / 20.0)
    lag = align_lag_samples(audio, original, original_rate)
    audio, original = (audio[lag:], original) if lag >= 0 else (audio, original[-lag:])
    n = min(audio.shape[0], original.shape[0])
    return log_stft_distance_db(audio[:n], original[:n], original_rate), lag


def evaluate(case: Case, out_path: Path) -> dict[str, float | int | None]:
    """All output metrics of one run."""
    audio, sample_rate = sf.read(out_path, dtype="float64", always_2d=True)
    loudness_lufs = integrated_lufs(audio, sample_rate)
    ref_lufs, ref_curve_db = measure_reference(case.ref_path)
    metrics: dict[str, float | int | None] = {
        "lufs_err_lu": abs(loudness_lufs - ref_lufs),
        "target_reachable": ref_lufs <= loudest_under_ceiling_lufs(case.ref_path),
        "true_peak_dbtp": true_peak_dbtp(audio),
        "tonal_err_db": tonal_error_db(
            third_octave_db(audio, sample_rate, loudness_lufs), ref_curve_db
        ),
        **image_errors(image_figures(audio, sample_rate), reference_image(case.ref_path)),
    }
    if case.original_path is not None:
        metrics["dist_db"], metrics["lag_samples"] = distance_to_original(
            audio, sample_rate, loudness_lufs, case.original_path
        )
    return metrics


def run_tools(case: Case, tools: Sequence[Tool], work: Path, timeout_s: float, repeat: int = 1) -> dict[str, Result]:
    """Run every tool on ``case``, ``repeat`` rounds of one run each, in turn: the tools
    share the machine's slow and fast moments, so the ratio of their median wall times is
    fair. Then measure each tool's last output."""
    runs: dict[str, list[Measured]] = {tool.name: [] for tool in tools}
    out_paths = {}
    for tool in tools:
        stem = work / f"out_{case.kind}_{case.mix_path.stem}_{case.ref_path.stem}_{tool.name}"
        out_paths[tool.name] = (stem, stem.with_suffix(".wav"))
    for _ in range(max(1, repeat)):
        for tool in tools:
            done = runs[tool.name]
            if tool.argv is None or (done and done[-1].exit_code != 0):
                continue
            stem, out_path = out_paths[tool.name]
            out_path.unlink(missing_ok=True)
            done.append(run_measured(tool.argv(case.mix_path, case.ref_path, out_path), stem, timeout_s))
    return {tool.name: _result(case, runs[tool.name], out_paths[tool.name][1]) if tool.argv else Result("n/a")
            for tool in tools}


def _result(case: Case, runs: list[Measured], out_path: Path) -> Result:
    """A tool's figures on a case: median wall and CPU times, largest memory, and the
    measurements of its last output."""
    measured = runs[-1]
    budget = {"said_short": True} if measured.said_short else {}
    walls = [m.wall_s for m in runs if m.wall_s is not None]
    mems = [m.peak_mem_mb for m in runs if m.peak_mem_mb is not None]
    users = [m.user_s for m in runs if m.user_s is not None]
    systems = [m.sys_s for m in runs if m.sys_s is not None]
    timing = {
        "wall_s": float(np.median(walls)) if walls else None,
        "user_s": float(np.median(users)) if users else None,
        "sys_s": float(np.median(systems)) if systems else None,
        "peak_mem_mb": max(mems) if mems else None,
        "realtime_factor": case.duration_s / float(np.median(walls)) if walls else None,
    }
    if measured.exit_code != 0 or not out_path.exists():
        error = (
            f"exit {measured.exit_code}: {measured.stderr_tail}"
            if measured.exit_code
            else "no output file"
        )
        return Result("failed", **timing, error=error)
    try:
        return Result("ok", **timing, **budget, **evaluate(case, out_path))
    except (sf.SoundFileError, OSError, ValueError) as exc:
        return Result("failed", **timing, error=f"cannot measure output: {exc}")


# --- reporting ---------------------------------------------------------------------------


def fmt(value: float | None, spec: str, width: int) -> str:
    """Right-aligned number, or "-" for a missing value."""
    return f"{'-' if value is None else format(value, spec):>{width}}"


CASE_COLUMNS = (
    ("lufs_err_lu", "LUFSerr", ".2f"),
    ("true_peak_dbtp", "TP", "+.2f"),
    ("tonal_err_db", "tonal", ".2f"),
    ("dist_db", "dist", ".2f"),
    ("wall_s", "time", ".1f"),
    ("peak_mem_mb", "memMB", ".0f"),
    ("lag_samples", "lag", "d"),
)


def print_case_table(runs: Sequence[Run]) -> None:
    """One row per case, the tools side by side."""
    group = " ".join(f"{label:>7}" for _, label, _ in CASE_COLUMNS)
    width = len(group)
    print(f"{'':48}" + " | ".join(f"{name:^{width}}" for name in TOOL_NAMES))
    print(f"{'case':9}{'mix':19}{'ref':19} " + " | ".join(group for _ in TOOL_NAMES))
    for case, row in runs:
        cells = []
        for name in TOOL_NAMES:
            r = row[name]
            if r.status == "ok":
                cells.append(
                    " ".join(fmt(getattr(r, key), spec, 7) for key, _, spec in CASE_COLUMNS)
                )
            else:
                label = "FAILED" if r.status == "failed" else r.status
                cells.append(f"{label:>7}" + " " * 8 * (len(CASE_COLUMNS) - 1))
        print(f"{case.kind:9}{case.mix_name:19}{case.ref_name:19} " + " | ".join(cells))
    for case, row in runs:
        for name in TOOL_NAMES:
            if row[name].status == "failed":
                error = row[name].error.replace("\n", "\n    ")
                print(f"FAILED {name} {case.kind} {case.mix_name} <- {case.ref_name}: {error}")


def summary_rows(pairs: Sequence[Run], kind: str) -> list[tuple[str, list[str]]]:
    """Summary lines for the cases of one kind: (label, one cell per tool)."""

    def values(name: str, get: Callable[[Case, Result], float | None]) -> list[float]:
        got = [get(case, row[name]) for case, row in pairs if row[name].status == "ok"]
        return [v for v in got if v is not None]

    def stat(func: Callable[[list[float]], float], key: str, spec: str) -> list[str]:
        return [
            format(func(v), spec) if (v := values(name, lambda _, r: getattr(r, key))) else "n/a"
            for name in TOOL_NAMES
        ]

    def above_ceiling(name: str) -> str:
        peaks = values(name, lambda _, r: r.true_peak_dbtp)
        return f"{sum(p > CEILING_DBTP for p in peaks)}/{len(peaks)}" if peaks else "n/a"

    def cpu(name: str) -> str:
        user = values(name, lambda _, r: r.user_s)
        system = values(name, lambda _, r: r.sys_s)
        return f"{np.median(user):.2f} / {np.median(system):.2f}" if user and system else "n/a"

    def failed(name: str) -> str:
        ran = [row[name].status for _, row in pairs if row[name].status != "n/a"]
        return f"{ran.count('failed')}/{len(ran)}" if ran else "n/a"

    per_60_s = [
        format(np.median(v), ".2f")
        if (v := values(n, lambda c, r: r.wall_s * 60.0 / c.duration_s))
        else "n/a"
        for n in TOOL_NAMES
    ]
    ratios = [
        row["automaster"].wall_s / row["matchering"].wall_s
        for _, row in pairs
        if row["automaster"].status == row["matchering"].status == "ok"
    ]
    def reachable(name: str, func: Callable[[list[float]], float]) -> str:
        errors = values(name, lambda _, r: r.lufs_err_lu if r.target_reachable else None)
        return format(func(errors), ".2f") if errors else "n/a"

    def not_said_short(name: str) -> str:
        errors = values(name, lambda _, r: r.lufs_err_lu if r.target_reachable and not r.said_short else None)
        return format(np.max(errors), ".2f") if errors else "n/a"

    def said_short(name: str) -> str:
        flags = values(name, lambda _, r: bool(r.said_short) if r.target_reachable else None)
        return f"{flags.count(True)}/{len(flags)}" if flags and name == "automaster" else "n/a"

    def out_of_reach(name: str) -> str:
        flags = values(name, lambda _, r: r.target_reachable)
        return f"{flags.count(False)}/{len(flags)}" if flags else "n/a"

    lines = [
        ("|LUFS error| median (LU)", stat(np.median, "lufs_err_lu", ".2f")),
        ("|LUFS error| max (LU)", stat(np.max, "lufs_err_lu", ".2f")),
        ("targets out of reach under the ceiling", [out_of_reach(n) for n in TOOL_NAMES]),
        ("|LUFS error| max, reachable targets (LU)", [reachable(n, np.max) for n in TOOL_NAMES]),
        ("reachable targets stopped short of, said so", [said_short(n) for n in TOOL_NAMES]),
        ("|LUFS error| max, the other reachable ones (LU)", [not_said_short(n) for n in TOOL_NAMES]),
        ("true peak max (dBTP)", stat(np.max, "true_peak_dbtp", "+.2f")),
        (f"outputs above {CEILING_DBTP:.1f} dBTP", [above_ceiling(n) for n in TOOL_NAMES]),
        ("tonal error median (dB)", stat(np.median, "tonal_err_db", ".2f")),
        ("distance to original median (dB)", stat(np.median, "dist_db", ".2f")),
        ("band-dynamics error median (dB)", stat(np.median, "dyn_err_db", ".2f")),
        ("loudness range error median (LU)", stat(np.median, "lra_err_lu", ".2f")),
        ("width error median (dB)", stat(np.median, "width_err_db", ".2f")),
        ("wall time median (s)", stat(np.median, "wall_s", ".2f")),
        ("wall time per 60 s of audio median (s)", per_60_s),
        ("CPU time median, user / system (s)", [cpu(n) for n in TOOL_NAMES]),
        ("realtime factor median (x)", stat(np.median, "realtime_factor", ".1f")),
        ("peak memory max (MB)", stat(np.max, "peak_mem_mb", ".0f")),
        ("failed runs", [failed(n) for n in TOOL_NAMES]),
        (
            "time ratio automaster/matchering (median)",
            [format(np.median(ratios), ".2f") if ratios else "n/a", ""],
        ),
    ]
    return [line for line in lines if kind == "recovery" or not line[0].startswith("distance")]


def print_summary(runs: Sequence[Run]) -> None:
    """Summary per case kind, tools side by side."""
    for kind in (*CASE_KINDS, "full"):
        pairs = [(c, r) for c, r in runs if c.kind == kind]
        if not pairs:
            continue
        title = f"{kind} ({len(pairs)} case{'s' * (len(pairs) != 1)})"
        print(f"\n{title:44}" + "".join(f"{n:>14}" for n in TOOL_NAMES))
        for label, cells in summary_rows(pairs, kind):
            print(f"  {label:42}" + "".join(f"{c:>14}" for c in cells))


def finite_or_none(value: object) -> object:
    """JSON has no infinities: map them to null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_json(path: Path, header: dict[str, object], runs: Sequence[Run]) -> None:
    """All per-case numbers, with the degradation parameters, as JSON."""
    records = []
    for case, row in runs:
        record = {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(case).items()
        }
        record["results"] = {
            n: {k: finite_or_none(v) for k, v in dataclasses.asdict(r).items()}
            for n, r in row.items()
        }
        records.append(record)
    path.write_text(json.dumps({**header, "cases": records}, indent=2))


# --- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus_dir", type=Path, help="folder of WAV files (build_corpus.sh output)")
    p.add_argument(
        "--automaster-cmd",
        default=None,
        help="command prefix (split with shlex); default: this Python running the installed automaster script",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--excerpt-s", type=float, default=60.0, help="excerpt length (s)")
    p.add_argument("--tracks", type=int, default=None, help="use only the first N tracks")
    p.add_argument("--cases", default="recovery,cross", help="comma-separated: recovery,cross")
    p.add_argument("--no-matchering", action="store_true")
    p.add_argument("--timeout-s", type=float, default=600.0, help="stop a tool run after this (s)")
    p.add_argument("--full-track", action="store_true", help="also run on one ~3-minute track")
    p.add_argument(
        "--repeat", type=int, default=1, help="run every tool N times per case; report the median wall time"
    )
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the temp work folder")
    p.add_argument("--json", type=Path, default=None, help="also write per-case numbers here")
    args = p.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if unknown := set(args.cases) - set(CASE_KINDS):
        p.error(f"unknown case kind(s): {', '.join(sorted(unknown))}")
    return args


def tool_version(dist_name: str) -> str:
    """Installed version of a distribution, or "not installed"."""
    try:
        return importlib.metadata.version(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    """Build the cases, run both tools on each, print the tables."""
    args = parse_args(argv)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    all_tracks = sorted(args.corpus_dir.glob("*.wav"))
    if not all_tracks:
        print(f"{args.corpus_dir}: no WAV files", file=sys.stderr)
        return 2
    temp_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="bench_match_")) if temp_work else args.work
    work.mkdir(parents=True, exist_ok=True)
    tools = make_tools(args)
    try:
        cases = build_cases(all_tracks[: args.tracks], args, work)
        if args.full_track and len(all_tracks) >= 2:
            cases.append(full_track_case(all_tracks, args.seed, work))
        runs: list[Run] = []
        for i, case in enumerate(cases, 1):
            row = run_tools(case, tools, work, args.timeout_s, args.repeat)
            times = ", ".join(
                f"{n} {r.status}" + (f" {r.wall_s:.1f} s" if r.wall_s else "")
                for n, r in row.items()
            )
            print(
                f"[{i}/{len(cases)}] {case.kind} {case.mix_name} <- {case.ref_name}: {times}",
                file=sys.stderr,
            )
            runs.append((case, row))
    finally:
        if temp_work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    versions = {name: tool_version(name) for name in TOOL_NAMES}
    header = {
        "command": command,
        "seed": args.seed,
        "excerpt_s": args.excerpt_s,
        "repeat": args.repeat,
        "versions": versions,
    }
    kept = "kept" if args.keep or not temp_work else "removed"
    print(
        f"command: {command}\nseed: {args.seed}   excerpt: {args.excerpt_s:g} s   repeat: {args.repeat}   "
        + "   ".join(f"{n} {v}" for n, v in versions.items())
        + f"   work: {work} ({kept})\n"
    )
    print_case_table(runs)
    print_summary(runs)
    if args.json:
        write_json(args.json, header, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
