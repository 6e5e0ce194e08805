"""A moved slider heard at once: the "after" excerpt rendered again from a suggestion's kept
analyses and gain plan, without analysing or planning the whole mix again.

A suggestion (:func:`matcher.studio.work.run_job`) keeps a *session* beside its report: the
mix's and the references' analyses with their weights (JSON), the excerpt's start and the
equal-loudness level of the page, and the gain plan's curves (``.npz``). When only the
amounts, the EQ phase, mono-below or the fixes change, :func:`quick_after` fits again from
the kept analyses (milliseconds) and renders the excerpt through the kept plan (what
:func:`matcher.preview.build.render_excerpt` does for every preview): the plan was solved
for the settings before, so the excerpt is brought down to the suggestion's excerpt level
where it came out louder (a new plan would lower its make-up gain). When the plan's aim
changes too (loudness, ceiling, platform), the excerpt is planned on its own
(:func:`matcher.preview.build.draft_excerpt`), as far above the new target as the
suggestion's excerpt was above its whole master (0.35 s on the benchmark's 3-minute track;
up to 1.6 s where the target is out of reach and the plan searches its distortion budget).
Either is close, not exact, and the exact suggestion follows as a job and replaces it (its
own draft first); where the kept plan stopped short of its target, other amounts may reach
further, which only the suggestion hears. Other references or a style are not quick: they
wait for the job.

It runs in a process of its own, kept warm (:class:`QuickLane`), which holds the last few
sessions in memory, so that renders in the job workers never make a slider wait.
"""

from __future__ import annotations

import json
import multiprocessing
import uuid
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PLAN_OPTIONS = ("amount", "eq_phase", "mono_below_hz", "no_fix")
"""What the kept plan can follow: the settings' shape, not the plan's aim."""
AIM_OPTIONS = ("lufs", "ceiling_dbtp", "target")
"""What a draft of the excerpt follows: the plan's aim (the references stay)."""
SESSIONS_KEPT = 8
QUICK_CLIPS_KEPT = 4


def quick_kind(base: dict, changed: dict) -> str | None:
    """How a quick excerpt follows ``changed`` page options from ``base``'s: ``"plan"``
    through the kept plan (only the settings' shape changed), ``"draft"`` planned on its own
    (the loudness, ceiling or platform changed too), None (the references or the style
    changed: the suggestion follows)."""
    keys = set(base) | set(changed)
    differing = {k for k in keys if base.get(k) != changed.get(k)}
    if differing <= set(PLAN_OPTIONS):
        return "plan"
    if differing <= set(PLAN_OPTIONS) | set(AIM_OPTIONS):
        return "draft"
    return None


def save_session(folder: Path, suggestion_id: str, suggestion) -> None:
    """Keep what a quick excerpt needs of a finished suggestion (``suggestion``: the
    :class:`matcher.api.Suggestion` of :func:`matcher.api.preview_report`)."""
    plan = suggestion.plan
    session = {
        "mix": suggestion.analysis.to_json(),
        "references": [r.to_json() for r in suggestion.reference_analyses],
        "weights": None if suggestion.weights is None else list(suggestion.weights),
        "start_s": suggestion.excerpt_start_s,
        "master_lufs": suggestion.predicted_lufs,
        "excerpt_lufs": suggestion.excerpt_lufs,
        "common_lufs": suggestion.equal_loudness_lufs,
        "plan": {
            "tick_samples": plan.tick_samples, "makeup_gain_db": plan.makeup_gain_db, "release_ms": plan.release_ms,
            "target_reached": plan.target_reached, "output_gain_db": plan.output_gain_db,
            "clip_band_hz": plan.clip_band_hz, "clip_aim_db": plan.clip_aim_db,
        },
    }
    (folder / f"{suggestion_id}.session.json").write_text(json.dumps(session), encoding="utf-8")
    curves = {"gain_db": plan.gain_db, "reduction_db": plan.reduction_db}
    if plan.clipping is not None:
        curves["clipping"] = plan.clipping
    with open(folder / f"{suggestion_id}.plan.npz", "wb") as f:
        np.savez(f, **curves)


@dataclass(frozen=True)
class _Session:
    mix: object
    references: tuple
    weights: list | None
    start_s: float
    excerpt_lufs: float
    common_lufs: float
    plan: object
    reference: object
    """The references' blend (as the report's curves draw it)."""
    master_lufs: float | None
    """The loudness the suggestion's plan predicts for the whole master (its target, or
    short of it when out of reach)."""


def _load(folder: Path, suggestion_id: str) -> _Session:
    from matcher.analysis.combine import combine
    from matcher.analysis.result import Analysis
    from matcher.rendering.renderer import GainPlan

    data = json.loads((folder / f"{suggestion_id}.session.json").read_text(encoding="utf-8"))
    with np.load(folder / f"{suggestion_id}.plan.npz", allow_pickle=False) as curves:
        arrays = {k: curves[k] for k in curves.files}
    p = data["plan"]
    plan = GainPlan(
        p["tick_samples"], arrays["gain_db"], p["makeup_gain_db"], arrays["reduction_db"], p["release_ms"],
        p["target_reached"], clipping=arrays.get("clipping"), output_gain_db=p["output_gain_db"],
        clip_band_hz=p["clip_band_hz"], clip_aim_db=p["clip_aim_db"],
    )
    references = tuple(Analysis.from_json(r) for r in data["references"])
    return _Session(
        Analysis.from_json(data["mix"]), references, data["weights"], data["start_s"], data["excerpt_lufs"],
        data["common_lufs"], plan, combine(list(references), data["weights"]), data.get("master_lufs"),
    )


_sessions: OrderedDict[tuple[str, str], _Session] = OrderedDict()


def quick_after(root: str, suggestion_id: str, mix_file: str, options: dict, kind: str = "plan") -> dict:
    """The "after" excerpt of ``options`` through the kept session of ``suggestion_id``
    (``kind``: of :func:`quick_kind`): the token of its FLAC file
    (:func:`~matcher.studio.work.clip_file` of stage ``quick``), its volume and gain (dB)
    for the page's equal-loudness players, its loudness (LUFS), its sample peak (dBFS), the
    curves of the page's plots with the master's measured on it
    (:func:`matcher.preview.plots.curve_data`), whether it is a draft, and the seconds it
    took here (``took_s``)."""
    import time

    import soundfile as sf

    from matcher.analysis.analyzer import Analyzer
    from matcher.fitting.fit import fit
    from matcher.io.writing import write_bytes_atomic
    from matcher.options import PYTHON_NAMES, fit_config
    from matcher.preview.build import EXCERPT_S, draft_excerpt, encode_flac, render_excerpt
    from matcher.preview.plots import curve_data
    from matcher.studio.work import api_options, clip_file

    began = time.perf_counter()
    folder = Path(root) / "files"
    key = (root, suggestion_id)
    session = _sessions.get(key)
    if session is None:
        session = _sessions[key] = _load(folder, suggestion_id)
        while len(_sessions) > SESSIONS_KEPT:
            _sessions.popitem(last=False)
    _sessions.move_to_end(key)
    given = {k: v for k, v in api_options(options).items() if k not in ("style", "library", "k")}
    if "amount" in given:
        given["amounts"] = given.pop("amount")
    config = fit_config(names=PYTHON_NAMES, **given)
    settings = fit(session.mix, list(session.references), config, session.weights)
    mix_path = folder / mix_file
    info = sf.info(str(mix_path))
    rate_hz = settings.output.sample_rate_hz or info.samplerate  # the master's, as the report's
    if kind == "draft":
        # The plan's aim moved: the excerpt planned on its own, as far above the new target
        # as the suggestion's excerpt was above its whole master.
        target = settings.loudness.target_lufs
        span = None
        if target is not None and session.master_lufs is not None and np.isfinite(session.excerpt_lufs) \
                and np.isfinite(session.master_lufs):
            span = target + session.excerpt_lufs - session.master_lufs
        after = draft_excerpt(mix_path, session.mix, settings, rate_hz, info.channels, session.start_s, EXCERPT_S,
                              span_lufs=span)
    else:
        after = render_excerpt(mix_path, settings, session.plan, rate_hz, info.channels, session.start_s, EXCERPT_S)
    # Measured once, for its level and its curves (no true peak: no curve needs it; no curve
    # depends on the level the excerpt is then brought to).
    analyzer = Analyzer(rate_hz, after.shape[1], true_peak=False, condition=False)
    analyzer.process(after)
    measured = analyzer.finish()
    lufs = measured.integrated_lufs
    # The suggestion's plan aims the whole master at its loudness: the new settings' excerpt
    # is brought to where the suggestion's was (a new plan's make-up would take it there),
    # and never above the plan's output.
    correction_db = min(session.excerpt_lufs - lufs, 0.0) if np.isfinite(lufs) and kind == "plan" else 0.0
    if correction_db < 0.0:
        after = (after * np.float32(10.0 ** (correction_db / 20.0))).astype(np.float32)
        lufs += correction_db
    peak = float(np.max(np.abs(after))) if after.size else 0.0
    token = uuid.uuid4().hex
    write_bytes_atomic(folder / clip_file(suggestion_id, "quick", token), encode_flac(after, rate_hz), sync=False)
    _prune(folder, suggestion_id)
    volume = float(min(1.0, 10.0 ** ((session.common_lufs - lufs) / 20.0)))
    curves = curve_data(session.mix, session.reference, measured, settings)
    return {"clip": token, "volume": volume, "gain_db": min(session.common_lufs - lufs, 0.0), "lufs": lufs,
            "sample_peak_dbfs": 20.0 * np.log10(max(peak, 1e-10)), "curves": curves,
            "draft": kind == "draft", "took_s": time.perf_counter() - began}


def _prune(folder: Path, suggestion_id: str) -> None:
    """Keep a suggestion's newest :data:`QUICK_CLIPS_KEPT` quick excerpts (a page may still be
    fetching the one before)."""
    found = sorted(folder.glob(f"{suggestion_id}.quick-*.flac"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in found[QUICK_CLIPS_KEPT:]:
        old.unlink(missing_ok=True)


class QuickLane:
    """One warm process for quick excerpts, apart from the job workers."""

    def __init__(self):
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self._pool.submit(_warm)

    def submit(self, root: str, suggestion_id: str, mix_file: str, options: dict, kind: str = "plan") -> Future:
        try:
            return self._pool.submit(quick_after, root, suggestion_id, mix_file, options, kind)
        except RuntimeError:  # its process died: a new one
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            return self._pool.submit(quick_after, root, suggestion_id, mix_file, options, kind)

    def stop(self) -> None:
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _warm() -> None:
    """Import the engine ahead of the first slider."""
    import matcher.api  # noqa: F401
    import matcher.preview.build  # noqa: F401
    import matcher.preview.plots  # noqa: F401
