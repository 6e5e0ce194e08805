"""The cases of ``bench_quality.py``: each a mix and a reference written to files, what the
measurement needs to know about them, and how an output of them is measured.

Seven groups (see ``benchmarks/README.md``, "Sound quality"): sines driven into the ceiling,
intermodulation, pre-echo, a quiet break, a fade-out, pumping, and real music at -7 and -8
LUFS. Every figure comes from ``quality_metrics.py`` (numpy, scipy, pyloudnorm).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

import quality_metrics as qm
import quality_signals as qs

GROUPS = ("sines", "imd", "pre_echo", "break", "fade", "pumping", "music")
SAMPLE_RATE = 44100
CEILING_DBTP = -1.0
MIX_PEAK_DBTP = -3.0  # generated and corpus mixes are scaled to this true peak
MAX_LAG_SAMPLES = 2048
PRE_ECHO_SEARCH_MS = 400.0
MUSIC_TARGETS_LUFS = (-8.0, -7.0)
# 44.1 kHz corpus tracks of different kinds; valley has the most energy in 20-150 Hz of the
# corpus (-1.7 dB of the whole, Welch on the mid signal; -4.3 dB in 20-60 Hz).
MUSIC_TRACKS = (
    "dev_stk_valley",
    "dev_nexuiz_brokenlight",
    "dev_muldjord_chaos_god",
    "dev_widelands_beauty_of_the_flat_lands",
)
BASS_HEAVY_TRACK = "dev_stk_valley"


@dataclasses.dataclass(frozen=True)
class Case:
    """A mix and its reference, and what measuring an output of them needs.

    ``target_lufs`` is the loudness asked: the reference's integrated loudness, and
    automaster's ``--lufs`` where its range allows (None: the reference's loudness alone).
    ``facts`` holds the group's parameters (frequencies, onsets and spans in samples), all
    JSON values.
    """

    group: str
    name: str
    mix_path: Path
    ref_path: Path
    target_lufs: float | None
    duration_s: float
    facts: Mapping[str, object]


def scaled_to_true_peak(x: np.ndarray, peak_dbtp: float) -> np.ndarray:
    """``x`` times the gain that puts its 16x true peak at ``peak_dbtp``."""
    return x * 10.0 ** ((peak_dbtp - qm.true_peak_dbtp(x)) / 20.0)


def scaled_to_lufs(x: np.ndarray, sample_rate: int, lufs: float) -> np.ndarray:
    """``x`` times the gain that puts its integrated loudness at ``lufs`` (may exceed full
    scale; written as float)."""
    return x * 10.0 ** ((lufs - qm.integrated_lufs(x, sample_rate)) / 20.0)


def pushed_lufs(x: np.ndarray, sample_rate: int, push_db: float) -> float:
    """The loudness at which ``x``'s true peak lands ``push_db`` above the ceiling (before
    any limiting): its loudness plus the gain that takes its true peak there."""
    return qm.integrated_lufs(x, sample_rate) + CEILING_DBTP + push_db - qm.true_peak_dbtp(x)


def write_pair(work: Path, stem: str, mix: np.ndarray, ref: np.ndarray, sample_rate: int) -> tuple[Path, Path]:
    """Write mix and reference as 32-bit float WAVs."""
    mix_path, ref_path = work / f"mix_{stem}.wav", work / f"ref_{stem}.wav"
    sf.write(mix_path, mix.astype(np.float32), sample_rate, subtype="FLOAT")
    sf.write(ref_path, ref.astype(np.float32), sample_rate, subtype="FLOAT")
    return mix_path, ref_path


def seconds(x: float) -> int:
    """A time in seconds as a sample count at ``SAMPLE_RATE``."""
    return round(x * SAMPLE_RATE)


# --- building ----------------------------------------------------------------------------


def sine_cases(work: Path, quick: bool) -> list[Case]:
    """50 Hz, 1 kHz and 10 kHz sines pushed 3, 6 and 10 dB into the ceiling (quick: 50 Hz
    and 1 kHz, 6 dB, 8 s)."""
    duration_s = 8.0 if quick else 20.0
    freqs = (50.0, 1000.0) if quick else (50.0, 1000.0, 10000.0)
    pushes = (6.0,) if quick else (3.0, 6.0, 10.0)
    cases = []
    for freq_hz in freqs:
        mix = qs.sine(freq_hz, duration_s, SAMPLE_RATE, MIX_PEAK_DBTP)
        for push_db in pushes:
            target = pushed_lufs(mix, SAMPLE_RATE, push_db)
            stem = f"sine_{freq_hz:g}hz_push{push_db:g}"
            paths = write_pair(work, stem, mix, scaled_to_lufs(mix, SAMPLE_RATE, target), SAMPLE_RATE)
            facts = {"freq_hz": freq_hz, "push_db": push_db,
                     "steady": [seconds(duration_s / 4), seconds(3 * duration_s / 4)]}
            cases.append(Case("sines", f"{freq_hz:g} Hz +{push_db:g} dB", *paths, target, duration_s, facts))
    return cases


def imd_cases(work: Path, quick: bool) -> list[Case]:
    """60 Hz + 7 kHz at 4:1, pushed 6 dB into the ceiling."""
    duration_s = 8.0 if quick else 20.0
    mix = qs.two_tone(60.0, 7000.0, duration_s, SAMPLE_RATE, MIX_PEAK_DBTP)
    target = pushed_lufs(mix, SAMPLE_RATE, 6.0)
    paths = write_pair(work, "imd", mix, scaled_to_lufs(mix, SAMPLE_RATE, target), SAMPLE_RATE)
    facts = {"low_hz": 60.0, "high_hz": 7000.0, "push_db": 6.0,
             "steady": [seconds(duration_s / 4), seconds(3 * duration_s / 4)]}
    return [Case("imd", "60 Hz + 7 kHz +6 dB", *paths, target, duration_s, facts)]


def pre_echo_cases(work: Path, quick: bool) -> list[Case]:
    """Kicks and snares after silence, against the same hits low-passed at 2 kHz with +10 dB
    below 100 Hz (at its own loudness)."""
    duration_s = 10.0 if quick else 20.0
    hits = qs.drum_hits(duration_s, SAMPLE_RATE, seed=3)
    ref = qs.low_boost_high_cut(hits.audio, SAMPLE_RATE)
    paths = write_pair(work, "pre_echo", hits.audio, ref, SAMPLE_RATE)
    facts = {"kicks": list(hits.kicks), "snares": list(hits.snares)}
    return [Case("pre_echo", "kicks, low boost + high cut", *paths, None, duration_s, facts)]


def break_cases(work: Path, quick: bool) -> list[Case]:
    """Music with a 4 s break of white hiss at -60 dBFS in the middle, mastered to the
    loudness that pushes the music 4 dB into the ceiling."""
    side_s = 8.0 if quick else 13.0
    music = scaled_to_true_peak(qs.music(2 * side_s + 4.0, SAMPLE_RATE, seed=1), MIX_PEAK_DBTP)
    mix = qs.with_break(music, SAMPLE_RATE, side_s, 4.0, -60.0, seed=2)
    target = pushed_lufs(music, SAMPLE_RATE, 4.0)
    paths = write_pair(work, "break", mix, scaled_to_lufs(mix, SAMPLE_RATE, target), SAMPLE_RATE)
    span_s = min(side_s - 1.0, 7.5)
    facts = {
        "break": [seconds(side_s + 0.5), seconds(side_s + 3.5)],
        "music": [[seconds(side_s - 0.5 - span_s), seconds(side_s - 0.5)],
                  [seconds(side_s + 4.5), seconds(side_s + 4.5 + span_s)]],
    }
    return [Case("break", "4 s hiss at -60 dBFS", *paths, target, 2 * side_s + 4.0, facts)]


def fade_cases(work: Path, quick: bool) -> list[Case]:
    """Music with a 30 dB fade (linear in dB) over its last 8 s, mastered to the loudness
    that pushes the music 4 dB into the ceiling."""
    duration_s = 16.0 if quick else 28.0
    music = scaled_to_true_peak(qs.music(duration_s, SAMPLE_RATE, seed=4), MIX_PEAK_DBTP)
    mix = qs.with_fade_out(music, SAMPLE_RATE, 8.0, 30.0)
    target = pushed_lufs(music, SAMPLE_RATE, 4.0)
    paths = write_pair(work, "fade", mix, scaled_to_lufs(mix, SAMPLE_RATE, target), SAMPLE_RATE)
    facts = {"fade": [seconds(duration_s - 8.0), seconds(duration_s)], "depth_db": 30.0}
    return [Case("fade", "30 dB over 8 s", *paths, target, duration_s, facts)]


def pumping_cases(work: Path, quick: bool) -> list[Case]:
    """A pad under a 120 BPM kick, pushed 4 dB into the ceiling, and at -9 LUFS."""
    duration_s = 8.0 if quick else 16.0
    made = qs.pad_under_kick(duration_s, SAMPLE_RATE)
    mix = scaled_to_true_peak(made.audio, MIX_PEAK_DBTP)
    beat = seconds(made.beat_s)
    # A whole beat on both sides, clear of the pad's 1 s fades.
    kicks = [k for k in made.kicks if k - beat >= seconds(1.5) and k + beat <= mix.shape[0] - seconds(1.5)]
    cases = []
    targets = [("4 dB limiting", pushed_lufs(mix, SAMPLE_RATE, 4.0))]
    if not quick:
        targets.append(("-9 LUFS", -9.0))
    mix_lufs, mix_peak_dbtp = qm.integrated_lufs(mix, SAMPLE_RATE), qm.true_peak_dbtp(mix)
    for label, target in targets:
        stem = "pumping_" + label.replace(" ", "_")
        paths = write_pair(work, stem, mix, scaled_to_lufs(mix, SAMPLE_RATE, target), SAMPLE_RATE)
        facts = {"kicks": kicks, "partials_hz": list(made.partials_hz), "beat_s": made.beat_s,
                 "push_db": target - mix_lufs + mix_peak_dbtp - CEILING_DBTP}
        cases.append(Case("pumping", label, *paths, target, duration_s, facts))
    return cases


def music_cases(work: Path, quick: bool, corpus: Path) -> list[Case]:
    """Corpus excerpts from the middle (60 s; quick: 30 s of the bass-heavy track at -8
    LUFS only), scaled to a -3 dBTP peak, mastered to -8 and -7 LUFS against the same
    excerpt at that loudness."""
    excerpt_s = 30.0 if quick else 60.0
    tracks = (BASS_HEAVY_TRACK,) if quick else MUSIC_TRACKS
    targets = MUSIC_TARGETS_LUFS[:1] if quick else MUSIC_TARGETS_LUFS
    cases = []
    for track in tracks:
        path = corpus / f"{track}.wav"
        if not path.is_file():
            print(f"note: {path} not found; its music cases are skipped")
            continue
        info = sf.info(path)
        frames = min(info.frames, round(excerpt_s * info.samplerate))
        audio, rate = sf.read(path, frames=frames, start=(info.frames - frames) // 2, dtype="float64", always_2d=True)
        if rate != SAMPLE_RATE:
            print(f"note: {path.name} is at {rate} Hz; its music cases are skipped")
            continue
        mix = scaled_to_true_peak(audio, MIX_PEAK_DBTP)
        short = track.removeprefix("dev_")
        for target in targets:
            paths = write_pair(work, f"music_{short}_{-target:g}", mix, scaled_to_lufs(mix, SAMPLE_RATE, target), rate)
            facts = {"track": path.name, "bass_heavy": track == BASS_HEAVY_TRACK}
            cases.append(Case("music", f"{short[:24]} {target:g}", *paths, target, frames / rate, facts))
    return cases


BUILDERS: dict[str, Callable[[Path, bool], list[Case]]] = {
    "sines": sine_cases,
    "imd": imd_cases,
    "pre_echo": pre_echo_cases,
    "break": break_cases,
    "fade": fade_cases,
    "pumping": pumping_cases,
}


def build_cases(groups: Sequence[str], work: Path, corpus: Path, quick: bool) -> list[Case]:
    """Write the mixes and references of ``groups`` (in GROUPS order) to ``work``."""
    cases: list[Case] = []
    for group in GROUPS:
        if group in groups:
            cases += music_cases(work, quick, corpus) if group == "music" else BUILDERS[group](work, quick)
    return cases


# --- measuring ---------------------------------------------------------------------------

Figures = dict[str, object]
TIME_ALIGNED_GROUPS = ("pre_echo", "break", "fade", "pumping", "music")  # sines have no lag to find


def _sines(case: Case, mix: np.ndarray, out: np.ndarray, rate: int) -> Figures:
    lo, hi = case.facts["steady"]
    f = case.facts["freq_hz"]
    return {"thd_n_db": qm.thd_n_db(out[lo:hi], rate, f), "thd_db": qm.thd_db(out[lo:hi], rate, f)}


def _imd(case: Case, mix: np.ndarray, out: np.ndarray, rate: int) -> Figures:
    lo, hi = case.facts["steady"]
    low, high = case.facts["low_hz"], case.facts["high_hz"]
    return {"imd_db": qm.imd_db(out[lo:hi], rate, low, high), "thd_n_db": qm.thd_n_db(out[lo:hi], rate, (low, high))}


def _pre_echo(case: Case, mix: np.ndarray, out: np.ndarray, rate: int) -> Figures:
    found = qm.pre_echo(out, case.facts["kicks"], rate, PRE_ECHO_SEARCH_MS)
    return {"pre_echo_db": found.worst_db, "pre_echo_ms": found.earliest_ms, "pre_echo_per_kick_db": list(found.per_onset_db)}


def _break(case: Case, mix: np.ndarray, out: np.ndarray, rate: int) -> Figures:
    brk, music = tuple(case.facts["break"]), [tuple(span) for span in case.facts["music"]]
    return {
        "break_lift_db": qm.break_lift_db(mix, out, brk, music),
        "break_change_db": qm.level_change_db(mix, out, [brk]),
        "music_change_db": qm.level_change_db(mix, out, music),
    }


def _fade(case: Case, mix: np.ndarray, out: np.ndarray, rate: int) -> Figures:
    found = qm.fade_figures(mix, out, rate, tuple(case.facts["fade"]))
    return {
        "fade_depth_error_db": found.depth_error_db,
        "fade_output_depth_db": found.output_depth_db,
        "fade_input_depth_db": found.input_depth_db,
        "fade_gain_end_db": found.gain_db[-1],
        "fade_gain_times_s": list(found.times_s),
        "fade_gain_db": list(found.gain_db),
    }


def _pumping(case: Case, mix: np.ndarray, out: np.ndarray, rate: int) -> Figures:
    found = qm.pad_ducking(mix, out, rate, case.facts["partials_hz"], case.facts["kicks"], case.facts["beat_s"])
    balance = qm.kick_balance_db(mix, out, rate, case.facts["partials_hz"])
    return {"pad_dip_db": found.dip_db, "pad_recovery_ms": found.recovery_ms, "kick_balance_db": balance,
            "pad_dips_db": list(found.dips_db), "pad_recoveries_ms": list(found.recoveries_ms)}


def _music(case: Case, mix: np.ndarray, out: np.ndarray, rate: int) -> Figures:
    found = qm.bass_residual(mix, out, rate)
    return {"bass_residual_db": found.residual_db, "gain_swing_db": found.gain_swing_db}


MEASURES: dict[str, Callable[[Case, np.ndarray, np.ndarray, int], Figures]] = {
    "sines": _sines, "imd": _imd, "pre_echo": _pre_echo, "break": _break, "fade": _fade, "pumping": _pumping,
    "music": _music,
}


def measure(case: Case, output_path: Path) -> Figures:
    """Every figure of one output of ``case``: its true peak, loudness (and error to the
    target), the lag found against the mix (time-domain groups, which are measured on the
    output moved back by it), and the group's own figures."""
    mix, rate = sf.read(case.mix_path, dtype="float64", always_2d=True)
    out, out_rate = sf.read(output_path, dtype="float64", always_2d=True)
    if out_rate != rate or out.shape[1] != mix.shape[1]:
        raise ValueError(f"output is {out_rate} Hz, {out.shape[1]} channels; the mix {rate} Hz, {mix.shape[1]}")
    figures: Figures = {"true_peak_dbtp": qm.true_peak_dbtp(out), "lufs": qm.integrated_lufs(out, rate)}
    if case.target_lufs is not None:
        figures["lufs_error_lu"] = figures["lufs"] - case.target_lufs
    if case.group in TIME_ALIGNED_GROUPS:
        lag = qm.alignment_lag_samples(out, mix, MAX_LAG_SAMPLES)
        figures["lag_samples"] = lag
        out = qm.shift_to_align(out, lag, mix.shape[0])
    figures.update(MEASURES[case.group](case, mix, out, rate))
    return figures


# --- what is shown, and what is asked ----------------------------------------------------

Column = tuple[str, str, str]  # figure key, heading, format
COLUMNS: dict[str, tuple[Column, ...]] = {
    "sines": (("thd_n_db", "THD+N", ".1f"), ("thd_db", "THD", ".1f")),
    "imd": (("imd_db", "IMD", ".1f"), ("thd_n_db", "THD+N", ".1f")),
    "pre_echo": (("pre_echo_db", "preecho", ".1f"), ("pre_echo_ms", "early_ms", ".1f"), ("lag_samples", "lag", "d")),
    "break": (("break_lift_db", "lift", ".2f"), ("break_change_db", "break", "+.1f"), ("music_change_db", "music", "+.1f")),
    "fade": (("fade_depth_error_db", "deptherr", "+.2f"), ("fade_output_depth_db", "depth", ".1f"),
             ("fade_gain_end_db", "gain_end", "+.1f")),
    "pumping": (("pad_dip_db", "dip", ".2f"), ("pad_recovery_ms", "rec_ms", ".0f"),
                ("kick_balance_db", "balance", "+.1f")),
    "music": (("bass_residual_db", "bassres", ".1f"), ("gain_swing_db", "swing", ".1f")),
}
COMMON_COLUMNS: tuple[Column, ...] = (("lufs", "LUFS", ".2f"), ("true_peak_dbtp", "TP", "+.3f"))

TITLES = {
    "sines": "1. Sines driven into the ceiling (THD+N, THD harmonics 2-10; dB re the fundamental)",
    "imd": "2. Intermodulation, SMPTE 60 Hz + 7 kHz 4:1 (IMD: sidebands +-1..4 x 60 Hz re 7 kHz; dB)",
    "pre_echo": "3. Pre-echo before kicks (5-50 ms before re 10 ms from the onset, worst kick; dB; "
                "earliest excess over -60 dB, ms)",
    "break": "4. A break of hiss at -60 dBFS (lift: break's level change minus the music's; dB)",
    "fade": "5. A 30 dB fade over 8 s (depth error: output's fade depth minus the input's; dB)",
    "pumping": "6. Pad under a 120 BPM kick (dip: pad's gain dip after each kick, median; dB; "
               "recovery within 0.5 dB, ms)",
    "music": "7. Real music (bass residual in 20-150 Hz re the output there; dB; swing of the slow gain, dB)",
}


@dataclasses.dataclass(frozen=True)
class Target:
    """One of the issue's targets: the figure ``key`` of the cases that ``applies`` selects,
    met when ``met(automaster, matchering)`` holds (the worst case counts)."""

    label: str
    group: str
    applies: Callable[[Case], bool]
    key: str
    met: Callable[[float, float | None], bool]
    relative: bool = False  # judged against Matchering's figure, so not judged for Matchering


def _always(case: Case) -> bool:
    return True


TARGETS = (
    Target("THD+N of the 50 Hz sine 6 dB into the ceiling <= -40 dB", "sines",
           lambda c: c.facts["freq_hz"] == 50.0 and c.facts["push_db"] == 6.0, "thd_n_db", lambda a, m: a <= -40.0),
    Target("IMD <= -40 dB", "imd", _always, "imd_db", lambda a, m: a <= -40.0),
    Target("bass residual of the bass-heavy track at -8 LUFS >= 6 dB below Matchering's", "music",
           lambda c: c.facts["bass_heavy"] and c.target_lufs == -8.0, "bass_residual_db",
           lambda a, m: m is not None and a <= m - 6.0, relative=True),
    Target("pre-echo <= -30 dB", "pre_echo", _always, "pre_echo_db", lambda a, m: a <= -30.0),
    Target("break lift <= 3 dB", "break", _always, "break_lift_db", lambda a, m: a <= 3.0),
    Target("fade depth within 2 dB", "fade", _always, "fade_depth_error_db", lambda a, m: abs(a) <= 2.0),
    Target("pad ducking <= 3 dB (4 dB of limiting)", "pumping", lambda c: c.name == "4 dB limiting", "pad_dip_db",
           lambda a, m: a <= 3.0),
    Target("pad ducking <= 3 dB (-9 LUFS)", "pumping", lambda c: c.name == "-9 LUFS", "pad_dip_db",
           lambda a, m: a <= 3.0),
    Target(f"every true peak <= {CEILING_DBTP:g} dBTP", "", _always, "true_peak_dbtp",
           lambda a, m: a <= CEILING_DBTP),
)
