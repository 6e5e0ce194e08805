"""The studio's jobs: suggestions and renders, run in worker processes.

A job is a row of the store (:mod:`matcher.studio.store`); :class:`JobRunner`, a thread of
the server, hands the queued ones to a pool of worker processes (spawned, so that no lock
of the server's threads is inherited), at most ``workers`` at a time, and the worker writes
the result and the job's end into the store itself. A job whose worker dies (killed, out of
memory) is marked failed with the reason; one the server was running when it stopped is put
back in the queue when it starts again. Each job runs the public API as the command line
does (:func:`matcher.api.preview_report`, :func:`matcher.api.render_file`), so a version's
file is the one ``automaster render MIX --settings`` writes from its settings.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from matcher.studio.store import Store

PROGRESS_INTERVAL_S = 0.2
"""A job writes its progress to the store at most this often."""
AMOUNTS = ("eq", "dynamics", "width")


def api_options(options: dict) -> dict:
    """The suggestion options a page sends (JSON) as the API's keyword arguments, each
    checked for its type; the API checks their values.

    Raises
    ------
    ValueError
        An unknown option or a value of the wrong type.
    """
    allowed = {
        "lufs": (float, type(None)),
        "ceiling_dbtp": (float, type(None)),
        "eq_phase": (str, type(None)),
        "mono_below_hz": (float, type(None)),
        "target": (str, type(None)),
        "amount": (dict,),
        "no_fix": (list,),
        "style": (str, type(None)),
        "k": (int, type(None)),
    }
    out: dict = {}
    for key, value in options.items():
        if key == "my_library":  # the user's own reference library (its nearest k, or its styles)
            if not isinstance(value, bool):
                raise ValueError(f"option 'my_library': {value!r} is not true or false")
            if value:
                from matcher.library.store import default_library_dir

                out["library"] = default_library_dir()
            continue
        if key not in allowed:
            raise ValueError(f"unknown option {key!r}")
        if key == "k" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and float in allowed[key]:
            value = float(value)
        if not isinstance(value, allowed[key]) or isinstance(value, bool):
            raise ValueError(f"option {key!r}: {value!r} is not of the right type")
        if key == "amount":
            if set(value) - set(AMOUNTS) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()
            ):
                raise ValueError(f"option 'amount': {value!r}; give eq, dynamics and width in %")
            value = {k: float(v) for k, v in value.items()}
        if key == "no_fix" and not all(isinstance(v, str) for v in value):
            raise ValueError("option 'no_fix': a list of names")
        if value is not None:
            out[key] = value
    return out


def reference_files(store: Store, mix_id: str, options: dict) -> list[Path]:
    """The uploaded references a suggestion matches toward: none when it names a style or
    the user's library (the user's choice then; the files stay for the next suggestion)."""
    if options.get("style") or options.get("library"):
        return []
    return [store.file(r["file"]) for r in store.references(mix_id)]


def run_job(root: str, job_id: str) -> None:
    """Run one job in a worker process and write its outcome into the store."""
    from matcher.errors import AutomasterError

    store = Store(Path(root))
    job = store.job(job_id)
    if job is None:
        return
    try:
        if job.kind == "suggest":
            _suggest(store, job.id, job.target_id)
        else:
            _render(store, job.id, job.target_id)
    except AutomasterError as exc:
        store.finish_job(job.id, str(exc))
    except Exception as exc:  # noqa: BLE001 - the job fails alone; the studio goes on
        store.finish_job(job.id, f"internal error: {type(exc).__name__}: {exc}")
    else:
        store.finish_job(job.id)


def _progress(store: Store, job_id: str, total_frames: int):
    done = [0, 0.0]

    def advance(frames: int) -> None:
        done[0] += frames
        now = time.monotonic()
        if now - done[1] >= PROGRESS_INTERVAL_S:
            done[1] = now
            store.set_progress(job_id, 0.99 * done[0] / max(total_frames, 1))

    return advance


def _frames(path: Path) -> int:
    import soundfile as sf

    try:
        return sf.info(str(path)).frames
    except (OSError, RuntimeError):
        return 0


def _suggest(store: Store, job_id: str, suggestion_id: str) -> None:
    from matcher.api import preview_report

    suggestion = store.suggestion(suggestion_id)
    mix = store.mix(suggestion["mix_id"])
    mix_path = store.file(mix["file"])
    options = api_options(json.loads(suggestion["options"]))
    refs = reference_files(store, mix["id"], options)
    total = 2 * _frames(mix_path) + sum(_frames(r) for r in refs)
    report = f"{suggestion_id}.html"
    result = preview_report(mix_path, refs, store.file(report), force=True, progress=_progress(store, job_id, total),
                            on_fitted=lambda settings: store.stage_suggestion(suggestion_id, settings.to_json()),
                            on_listen=lambda listen: _keep_listen(store, suggestion_id, listen), **options)
    figures = {
        "lufs": result.predicted_lufs,
        "true_peak_dbtp": result.predicted_true_peak_dbtp,
        "loudness_range_lu": result.predicted_loudness_range_lu,
        "target_reached": result.target_reached,
        "references": list(result.references),
        "notes": [str(n) for n in result.notes],
    }
    _show_names(store.file(report), [mix, *store.references(mix["id"])])
    from matcher.studio.quick import save_session

    save_session(store.files, suggestion_id, result)
    store.finish_suggestion(suggestion_id, result.settings.to_json(), report, figures)


CLIP_STAGES = ("draft", "exact")
CLIP_LABELS = ("before", "after", "reference")


def clip_file(suggestion_id: str, stage: str, label: str) -> str:
    """The stored name of a suggestion's excerpt (``stage``: draft, exact or quick). The mix's
    and the reference's are the same samples at every stage: one file each."""
    if label in ("before", "reference"):
        return f"{suggestion_id}.{label}.flac"
    return f"{suggestion_id}.{stage}-{label}.flac"


def _keep_listen(store: Store, suggestion_id: str, listen) -> None:
    """Keep a suggestion's excerpts (FLAC files) and curves for the page's players and plots:
    the draft first, then the report's (a :class:`matcher.preview.data.Listen`)."""
    from matcher.io.writing import write_bytes_atomic
    from matcher.preview.plots import curve_data

    stage = "exact" if listen.exact else "draft"
    clips = {}
    for excerpt in listen.excerpts:
        path = store.file(clip_file(suggestion_id, stage, excerpt.label))
        if excerpt.label == "after" or not path.is_file() or path.read_bytes() != excerpt.data:
            write_bytes_atomic(path, excerpt.data, sync=False)
        clips[excerpt.label] = {"gain_db": excerpt.equal_loudness_gain_db, "lufs": excerpt.lufs,
                                "start_s": excerpt.start_s, "duration_s": excerpt.duration_s}
    store.set_listen(suggestion_id, {
        "stage": stage, "clips": clips, "common_lufs": listen.equal_loudness_lufs,
        "curves": curve_data(listen.mix, listen.reference, listen.result, listen.settings),
    })


def _show_names(page: Path, records: list[dict]) -> None:
    """Put the files' names as the user gave them (escaped) in place of the stored names
    (ids, unique) on a report page."""
    from html import escape

    text = page.read_text(encoding="utf-8")
    for record in records:
        text = text.replace(record["file"], escape(record["name"]))
    page.write_text(text, encoding="utf-8")


def _render(store: Store, job_id: str, version_id: str) -> None:
    from matcher.api import render_file
    from matcher.fitting.settings import Settings

    version = store.version(version_id)
    mix = store.mix(version["mix_id"])
    mix_path = store.file(mix["file"])
    name = f"{version_id}.{version['format']}"
    settings = Settings.from_json(version["settings"], "the version's settings")
    result = render_file(mix_path, settings, store.file(name), force=True,
                         progress=_progress(store, job_id, 2 * _frames(mix_path)))
    figures = {
        "lufs": result.lufs,
        "true_peak_dbtp": result.true_peak_dbtp,
        "loudness_range_lu": result.loudness_range_lu,
        "plr_db": result.plr_db,
        "gain_db": result.gain_db,
    }
    if result.deliveries:  # a lossy file: what its decoded audio measures
        delivered = result.deliveries[0]
        figures.update(lufs=delivered.decoded_lufs, true_peak_dbtp=delivered.decoded_true_peak_dbtp,
                       clipped_samples=delivered.clipped_samples, encodes=delivered.encodes,
                       gain_before_encoding_db=delivered.gain_db, format_name=delivered.format_name)
    store.finish_version(version_id, name, figures)


class JobRunner:
    """Runs the store's queued jobs on ``workers`` processes, oldest first, until stopped."""

    def __init__(self, store: Store, workers: int = 2):
        self.store = store
        self.workers = max(1, int(workers))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._running: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Put the jobs a stopped server left running back in the queue, remove what their
        writers left unfinished, and start; returns how many were put back."""
        requeued = self.store.requeue_running()
        for leftover in self.store.files.glob(".*.tmp"):  # a render's unfinished file, its worker killed
            leftover.unlink(missing_ok=True)
        self._pool = self._new_pool()
        self._thread = threading.Thread(target=self._loop, name="automaster-studio-jobs", daemon=True)
        self._thread.start()
        return requeued

    def notify(self) -> None:
        """A job was queued."""
        self._wake.set()

    def stop(self) -> None:
        """Stop taking jobs and stop the workers: what was running stays ``running`` in the
        store, to be queued again at the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._pool is not None:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                free = self.workers - len(self._running)
            for _ in range(free):
                job = self.store.next_queued()
                if job is None:
                    break
                self._submit(job.id)
            self._wake.wait(timeout=0.5)
            self._wake.clear()

    def _submit(self, job_id: str) -> None:
        try:
            future = self._pool.submit(run_job, str(self.store.root), job_id)
        except RuntimeError:  # a broken pool: a worker died; start a new one
            self._pool = self._new_pool()
            future = self._pool.submit(run_job, str(self.store.root), job_id)
        with self._lock:
            self._running[job_id] = future
        future.add_done_callback(lambda f, job_id=job_id: self._done(job_id, f))

    def _done(self, job_id: str, future: Future) -> None:
        with self._lock:
            self._running.pop(job_id, None)
        if self._stop.is_set():
            return
        if not future.cancelled() and future.exception() is not None:
            self.store.finish_job(job_id, f"the worker stopped: {future.exception()}")
        self._wake.set()
