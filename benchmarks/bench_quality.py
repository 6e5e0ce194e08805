"""Sound quality of automaster against Matchering on cases that expose distortion, pre-echo,
pumping, lifted breaks, shallow fades and true-peak overs.

Run ``python benchmarks/bench_quality.py CORPUS_DIR`` (see ``benchmarks/README.md``, "Sound
quality"). Both tools run end to end as subprocesses on the same files, taking turns:
``automaster match MIX --ref REF [--lufs X]`` and Matchering 2.0's ``process``. Every figure is
measured here by ``quality_metrics.py`` (numpy, scipy, pyloudnorm), independently of the
package. This script prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import json
import math
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import soundfile as sf

from bench_match import default_automaster_prefix, matchering_argv, run_measured, tool_version
from quality_cases import (
    CEILING_DBTP,
    COLUMNS,
    COMMON_COLUMNS,
    GROUPS,
    TARGETS,
    TITLES,
    Case,
    Figures,
    Target,
    build_cases,
    measure,
)

EQUAL_POINT = "automaster at M's point"
TOOL_NAMES = ("automaster", "matchering", EQUAL_POINT)
FILE_NAMES = {"automaster": "automaster", "matchering": "matchering", EQUAL_POINT: "automaster_at_matchering"}
AUTOMASTER_LUFS_RANGE = (-60.0, 0.0)  # what `automaster match --lufs` accepts
AUTOMASTER_CEILING_RANGE = (-20.0, 0.0)  # what `automaster match --ceiling` accepts
EQUAL_POINT_GROUPS = ("pumping", "music")
"""Where automaster also runs at Matchering's own operating point: the loudness Matchering's
output measured and, as the ceiling, its true peak (at most 0 dBTP, the most ``--ceiling``
allows). Matchering limits at about 0 dBFS and leaves inter-sample peaks over it: at the
case's target and -1 dBTP automaster does 1-2 dB more limiting than it did."""
NAME_WIDTH = 28


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one tool did on one case: status "ok", "failed" or "n/a", its process's wall
    time, and the figures of its output."""

    status: str
    wall_s: float | None = None
    figures: Figures = dataclasses.field(default_factory=dict)
    error: str = ""


Run = tuple[Case, dict[str, Outcome]]


def finite(value: object) -> bool:
    """A real number, neither infinite nor NaN."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def automaster_argv(prefix: Sequence[str], case: Case, out: Path) -> list[str]:
    """``automaster match`` against the case's reference; ``--lufs`` too when the target lies
    in the range the option accepts (the reference is at the target's loudness either way)."""
    argv = [*prefix, "match", str(case.mix_path), "--ref", str(case.ref_path), "-o", str(out), "--force"]
    lo, hi = AUTOMASTER_LUFS_RANGE
    if case.target_lufs is not None and lo <= case.target_lufs <= hi:
        argv += ["--lufs", f"{case.target_lufs:.3f}"]
    return argv


def matchering_case_argv(case: Case, out: Path) -> list[str]:
    """Matchering 2.0's ``process`` with the case's mix and reference (24-bit WAV out)."""
    return matchering_argv(case.mix_path, case.ref_path, out)


def equal_point_argv(prefix: Sequence[str], case: Case, out: Path, matchering: "Outcome") -> list[str] | None:
    """``automaster match`` at Matchering's loudness and true peak on this case (None: no
    such run, the case's group is not compared so or Matchering has no figures)."""
    lufs, peak = matchering.figures.get("lufs"), matchering.figures.get("true_peak_dbtp")
    if case.group not in EQUAL_POINT_GROUPS or matchering.status != "ok" or not (finite(lufs) and finite(peak)):
        return None
    ceiling = min(max(math.ceil(peak * 100.0) / 100.0, AUTOMASTER_CEILING_RANGE[0]), AUTOMASTER_CEILING_RANGE[1])
    return [*prefix, "match", str(case.mix_path), "--ref", str(case.ref_path), "-o", str(out), "--force",
            "--lufs", f"{lufs:.3f}", "--ceiling", f"{ceiling:.2f}"]


Tools = dict[str, Callable[..., list[str] | None] | None]  # None: not available here


def run_case(case: Case, tools: Tools, work: Path, timeout_s: float) -> dict[str, Outcome]:
    """Run each available tool on ``case`` in turn, then measure its output; automaster at
    Matchering's operating point last, from Matchering's figures."""
    outcomes: dict[str, Outcome] = {}
    for name in TOOL_NAMES:
        command = tools[name]
        stem = work / f"out_{case.mix_path.stem}_{FILE_NAMES[name]}"
        out = stem.with_suffix(".wav")
        argv = None
        if command is not None:
            argv = command(case, out, outcomes["matchering"]) if name == EQUAL_POINT else command(case, out)
        if argv is None:
            outcomes[name] = Outcome("n/a")
            continue
        out.unlink(missing_ok=True)
        measured = run_measured(argv, stem, timeout_s)
        if measured.exit_code != 0 or not out.exists():
            reason = f"exit {measured.exit_code}: {measured.stderr_tail}" if measured.exit_code else "no output file"
            outcomes[name] = Outcome("failed", measured.wall_s, error=reason)
            continue
        try:
            outcomes[name] = Outcome("ok", measured.wall_s, measure(case, out))
        except (sf.SoundFileError, OSError, ValueError) as exc:
            outcomes[name] = Outcome("failed", measured.wall_s, error=f"cannot measure output: {exc}")
    return outcomes


# --- reporting ---------------------------------------------------------------------------


def cell(value: object, spec: str, width: int) -> str:
    """A right-aligned figure; "-" when missing, "inf"/"-inf" spelled out."""
    if value is None:
        text = "-"
    elif isinstance(value, float) and math.isinf(value):
        text = "inf" if value > 0 else "-inf"
    else:
        text = format(value, spec)
    return f"{text:>{width}}"


def tool_cells(outcome: Outcome, columns: Sequence[tuple[str, str, str]], width: int, ceiling: float) -> str:
    if outcome.status != "ok":
        label = "FAILED" if outcome.status == "failed" else outcome.status
        return f"{label:>{width}}" + " " * ((width + 1) * len(columns))
    figures = outcome.figures
    cells = [cell(figures.get(key), spec, width) for key, _, spec in columns]
    over = "!" if finite(figures.get("true_peak_dbtp")) and figures["true_peak_dbtp"] > ceiling else " "
    return " ".join(cells) + over + cell(outcome.wall_s, ".1f", width - 1)


def print_group(group: str, runs: Sequence[Run]) -> None:
    """One table: a row per case, the tools side by side, the issue's targets beside."""
    columns = (*COLUMNS[group], *COMMON_COLUMNS)
    width = 8
    heads = " ".join(f"{label:>{width}}" for _, label, _ in columns) + f" {'time':>{width - 1}}"
    print(f"\n{TITLES[group]}")
    print(f"{'':{NAME_WIDTH}}{'':>8} | " + " | ".join(f"{name:^{len(heads)}}" for name in TOOL_NAMES))
    print(f"{'case':{NAME_WIDTH}}{'target':>8} | " + " | ".join(heads for _ in TOOL_NAMES))
    for case, outcomes in runs:
        target = cell(case.target_lufs, ".2f", 8)
        row = " | ".join(tool_cells(outcomes[name], columns, width, math.inf if name == EQUAL_POINT else CEILING_DBTP)
                         for name in TOOL_NAMES)
        print(f"{case.name[:NAME_WIDTH]:{NAME_WIDTH}}{target} | {row}")
    asked = [t.label for t in TARGETS if t.group == group]
    if asked:
        print("  asked: " + "; ".join(asked))
    for case, outcomes in runs:
        for name in TOOL_NAMES:
            if outcomes[name].status == "failed":
                print(f"  FAILED {name} on {case.name}: " + outcomes[name].error.replace("\n", "\n    "))


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A target judged for one tool: the worst value over its cases, and whether it is met
    (None: not judged, no figure)."""

    value: float | None
    met: bool | None
    note: str = ""


def judge(target: Target, runs: Sequence[Run], tool: str) -> Verdict:
    """The worst case's figure against ``target`` for ``tool``."""
    if target.relative and tool == "matchering":
        return Verdict(None, None, "reference")
    chosen = [(c, o) for c, o in runs if (not target.group or c.group == target.group) and target.applies(c)]
    pairs = []
    for _, outcomes in chosen:
        mine, theirs = outcomes[tool], outcomes["matchering"]
        if mine.status != "ok" or not finite(mine.figures.get(target.key)):
            if mine.status == "failed":
                return Verdict(None, False, "failed")
            continue
        other = theirs.figures.get(target.key) if theirs.status == "ok" else None
        pairs.append((mine.figures[target.key], other if finite(other) else None))
    if not pairs:
        return Verdict(None, None, "not run")
    if target.key == "true_peak_dbtp":
        if tool == EQUAL_POINT:
            return Verdict(max(a for a, _ in pairs), None, "Matchering's own peak")
        above = sum(a > CEILING_DBTP for a, _ in pairs)
        return Verdict(max(a for a, _ in pairs), above == 0, f"{above}/{len(pairs)} above")
    results = [target.met(a, m) for a, m in pairs]
    worst = next((pair for pair, ok in zip(pairs, results, strict=True) if not ok), pairs[0])
    if target.relative and worst[1] is None:
        return Verdict(worst[0], None, "no Matchering figure")
    note = f"vs {worst[1]:.1f}" if target.relative else ""
    return Verdict(worst[0], all(results), note)


def verdict_text(v: Verdict) -> str:
    if v.met is None and v.value is None:
        return v.note or "-"
    status = "met" if v.met else ("not met" if v.met is not None else "?")
    value = f"{v.value:+.2f}" if v.value is not None else "-"
    return f"{value} {status}" + (f" ({v.note})" if v.note else "")


def print_summary(runs: Sequence[Run]) -> list[dict[str, object]]:
    """A line per target, each tool judged; returns the same as JSON records."""
    records = []
    print(f"\n{'targets (issue 16)':66}" + "".join(f"{n:>28}" for n in TOOL_NAMES))
    for target in TARGETS:
        verdicts = {name: judge(target, runs, name) for name in TOOL_NAMES}
        print(f"  {target.label:64}" + "".join(f"{verdict_text(verdicts[n]):>28}" for n in TOOL_NAMES))
        records.append({"target": target.label,
                        **{n: {"value": v.value, "met": v.met, "note": v.note} for n, v in verdicts.items()}})
    walls = {n: [o[n].wall_s for _, o in runs if o[n].wall_s is not None] for n in TOOL_NAMES}
    print(f"  {'wall time, all cases (s)':64}" + "".join(
        f"{(format(sum(w), '.1f') if w else '-'):>28}" for w in walls.values()))
    return records


def finite_or_none(value: object) -> object:
    """JSON has no infinities or NaN: map them to null, inside lists too."""
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, header: dict[str, object], runs: Sequence[Run], targets: list[dict[str, object]]) -> None:
    """Every figure of every case and tool, the targets' verdicts, and the run's header."""
    cases = []
    for case, outcomes in runs:
        record = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(case).items()}
        record["results"] = {
            name: {"status": o.status, "wall_s": o.wall_s, "error": o.error,
                   "figures": {k: finite_or_none(v) for k, v in o.figures.items()}}
            for name, o in outcomes.items()
        }
        cases.append(record)
    path.write_text(json.dumps({**header, "targets": targets, "cases": cases}, indent=2))


# --- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus_dir", type=Path, help="folder of the corpus WAVs (for the real-music cases)")
    p.add_argument("--cases", default=",".join(GROUPS), help=f"comma-separated groups: {','.join(GROUPS)}")
    p.add_argument("--json", type=Path, default=None, help="also write every figure here")
    p.add_argument("--no-matchering", action="store_true")
    p.add_argument("--quick", action="store_true", help="fewer, shorter cases (about 2 minutes)")
    p.add_argument("--automaster-cmd", default=None,
                   help="command prefix (split with shlex); default: this Python running the installed automaster script")
    p.add_argument("--timeout-s", type=float, default=600.0, help="stop a tool run after this (s)")
    p.add_argument("--work", type=Path, default=None, help="work folder, kept (default: a temp folder, removed)")
    args = p.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if unknown := set(args.cases) - set(GROUPS):
        p.error(f"unknown case group(s): {', '.join(sorted(unknown))}; known: {', '.join(GROUPS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    prefix = shlex.split(args.automaster_cmd) if args.automaster_cmd else default_automaster_prefix()
    has_matchering = not args.no_matchering and importlib.util.find_spec("matchering") is not None
    if not args.no_matchering and not has_matchering:
        print("note: matchering is not installed; its columns are n/a", file=sys.stderr)
    if not shutil.which(prefix[0]):
        print(f"warning: {prefix[0]!r} not found; automaster columns are n/a", file=sys.stderr)
    tools: Tools = {
        "automaster": functools.partial(automaster_argv, prefix) if shutil.which(prefix[0]) else None,
        "matchering": matchering_case_argv if has_matchering else None,
        EQUAL_POINT: functools.partial(equal_point_argv, prefix) if has_matchering and shutil.which(prefix[0]) else None,
    }
    temp_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="bench_quality_")) if temp_work else args.work
    work.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    try:
        cases = build_cases(args.cases, work, args.corpus_dir, args.quick)
        for i, case in enumerate(cases, 1):
            outcomes = run_case(case, tools, work, args.timeout_s)
            times = ", ".join(f"{n} {o.status}" + (f" {o.wall_s:.1f} s" if o.wall_s else "") for n, o in outcomes.items())
            print(f"[{i}/{len(cases)}] {case.group} {case.name}: {times}", file=sys.stderr)
            runs.append((case, outcomes))
    finally:
        if temp_work:
            shutil.rmtree(work, ignore_errors=True)
    versions = {name: tool_version(name) for name in ("automaster", "matchering")}
    print(f"command: {command}\n" + "   ".join(f"{n} {v}" for n, v in versions.items())
          + f"   quick: {'yes' if args.quick else 'no'}   ceiling: {CEILING_DBTP:g} dBTP (automaster's; "
          "Matchering limits at its own, about 0 dBFS)\n"
          "Figures in dB unless named; TP: true peak, 16x ideal reconstruction, dBTP ('!': above the ceiling); "
          "time: the tool's wall time, s\n"
          f"{EQUAL_POINT}: automaster asked for the loudness Matchering's output measured, with its true peak "
          "as the ceiling (at most 0 dBTP): the two engines doing the same job")
    for group in GROUPS:
        chosen = [(c, o) for c, o in runs if c.group == group]
        if chosen:
            print_group(group, chosen)
    targets = print_summary(runs)
    if args.json:
        header = {"command": command, "versions": versions, "quick": args.quick, "ceiling_dbtp": CEILING_DBTP}
        write_json(args.json, header, runs, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
