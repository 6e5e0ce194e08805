"""Where a batch's mixes are mastered: local worker processes, or a Dask cluster.

Both runners take the batch's :class:`~matcher.batch.jobs.Recipe` once and yield a
:class:`~matcher.batch.jobs.JobResult` per mix as each finishes, in the order they finish.
A mix that fails gives a failed result; so does a worker that dies under a mix (killed,
out of memory): the other mixes go on. Use a runner as a context manager: leaving it on an
exception (Ctrl-C) stops the workers; a local worker stopped while writing removes its
temporary file, and one killed outright leaves it for :func:`~matcher.batch.manifest.remove_leftovers`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from matcher.batch.jobs import FAILED, BatchJob, JobResult, Recipe, master_one
from matcher.errors import AutomasterError

STOP_TIMEOUT_S = 10.0
"""How long stopped workers get to clean up before they are killed."""
CONNECT_TIMEOUT_S = 10.0
SWITCH_INTERVAL_S = 0.0005
"""The command line's GIL switch interval (see ``matcher.cli.app``), for the workers too."""


@dataclass(frozen=True)
class WorkerOptions:
    """How a local worker process runs the engine.

    Attributes
    ----------
    overlap_stages : bool
        Let the engine overlap its stages on threads (see
        :func:`matcher.concurrency.stages_overlapped`): for a lone worker, which has the
        machine to itself; several workers, one per core, each run theirs one after another.
    keep_freed_memory : bool
        Tune glibc's allocator as the command line does (see :mod:`matcher._allocator`).
    """

    overlap_stages: bool = True
    keep_freed_memory: bool = True


def _worker_lost(job: BatchJob, recipe: Recipe, why: str) -> JobResult:
    return JobResult(
        str(job.mix_path), str(job.output_path), FAILED, recipe.fingerprint,
        error=f"{job.mix_path}: {why}", internal_error=True,
    )


# --- local processes -------------------------------------------------------------------


def _stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


def _worker_main(conn, recipe: Recipe, options: WorkerOptions) -> None:
    """A worker process: master each job it is sent, send back the result, until told to stop."""
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if options.keep_freed_memory:
        from matcher._allocator import keep_freed_memory

        keep_freed_memory()
    try:
        while True:
            try:
                job = conn.recv()
            except EOFError:  # the parent is gone
                return
            if job is None:
                return
            conn.send(master_one(job, recipe, options.overlap_stages))
    except KeyboardInterrupt:  # stopped by the parent: the atomic writer has cleaned up
        return
    except BrokenPipeError:  # the parent is gone; the master, if written, is complete
        return
    finally:
        conn.close()


class _Worker:
    def __init__(self, context, recipe: Recipe, options: WorkerOptions, number: int):
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, recipe, options), name=f"automaster-worker-{number}", daemon=True
        )
        with _sigint_ignored():
            self.process.start()
        child.close()
        self.job: BatchJob | None = None

    def give(self, job: BatchJob | None) -> None:
        self.job = job
        self.conn.send(job)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start a process with SIGINT ignored (it keeps that across ``exec``), so that a Ctrl-C
    at the terminal, which reaches the whole process group, is left to this process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class LocalRunner:
    """Master mixes on ``workers`` processes of this machine.

    Processes are started with ``spawn`` (this process has threads: forking it is unsafe),
    each is sent the recipe once and then one job at a time, so that a process that dies
    costs exactly the mix it was mastering; it is replaced and the batch goes on.
    """

    def __init__(self, recipe: Recipe, workers: int, options: WorkerOptions | None = None):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.recipe = recipe
        self.workers = workers
        self.options = options
        self._pool: list[_Worker] = []
        self._started = 0

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(stop=exc_type is not None)

    def _new_worker(self, options: WorkerOptions) -> _Worker:
        import multiprocessing

        self._started += 1
        return _Worker(multiprocessing.get_context("spawn"), self.recipe, options, self._started)

    def results(self, jobs: Sequence[BatchJob]) -> Iterator[JobResult]:
        """Master ``jobs``; yield each result as it comes."""
        from multiprocessing.connection import wait

        queue = deque(jobs)
        processes = min(self.workers, len(queue))
        # Measured on 2 cores: 2 workers running their stages one after another master about
        # 5 % more mixes per minute than 2 workers overlapping them on threads (medians of
        # 2-5 runs, 60 s excerpts and whole tracks); a lone worker overlapping them masters
        # 25-35 % more than one that does not (see benchmarks/README.md).
        options = self.options or WorkerOptions(overlap_stages=processes == 1)
        while len(self._pool) < processes:
            self._pool.append(self._new_worker(options))
        for worker in self._pool:
            if queue:
                worker.give(queue.popleft())
        while any(w.job is not None for w in self._pool):
            busy = [w for w in self._pool if w.job is not None]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                job = worker.job
                assert job is not None
                try:
                    result = worker.conn.recv()
                except (EOFError, OSError):
                    worker.process.join()
                    code = worker.process.exitcode
                    result = _worker_lost(job, self.recipe, f"the worker process died (exit code {code}; out of memory?)")
                    self._pool.remove(worker)
                    worker.conn.close()
                    worker = self._new_worker(options) if queue else None
                    if worker is not None:
                        self._pool.append(worker)
                if worker is not None:
                    worker.job = None
                    if queue:
                        worker = self._give(worker, queue.popleft(), options)
                yield result

    def _give(self, worker: _Worker, job: BatchJob, options: WorkerOptions) -> _Worker:
        """Send ``job`` to ``worker``, or to a new one if it died after its last result."""
        try:
            worker.give(job)
            return worker
        except OSError:
            self._pool.remove(worker)
            worker.conn.close()
            worker.process.join()
            fresh = self._new_worker(options)
            self._pool.append(fresh)
            fresh.give(job)
            return fresh

    def stop(self) -> None:
        """Stop every worker now: one mastering a mix discards what it was writing."""
        self.close(stop=True)

    def close(self, stop: bool = False) -> None:
        """Let the workers go; ``stop`` interrupts the ones still mastering (SIGTERM)."""
        for worker in self._pool:
            if not worker.process.is_alive():
                continue
            if stop:
                worker.process.terminate()
            else:
                with contextlib.suppress(OSError):
                    worker.give(None)
        for worker in self._pool:
            worker.process.join(STOP_TIMEOUT_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._pool = []


# --- Dask ------------------------------------------------------------------------------


def import_distributed():
    """``dask.distributed``, or an error saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise AutomasterError(
            "--scheduler needs Dask, which is not installed: pip install 'automaster[distributed]'"
        ) from None
    return distributed


class DaskRunner:
    """Master mixes on the workers of a Dask scheduler (``dask.distributed``).

    The recipe is sent to every worker once (``scatter(broadcast=True)``), then a task per
    mix; the workers need automaster installed and the mixes and output folder at the same
    paths. A task whose worker is lost is retried by Dask on another worker, up to its
    ``distributed.scheduler.allowed-failures``; after that the mix fails alone.
    """

    def __init__(self, recipe: Recipe, address: str):
        self.recipe = recipe
        self.address = address
        self._client = None
        self._futures: list = []

    def __enter__(self) -> DaskRunner:
        distributed = import_distributed()
        try:
            self._client = distributed.Client(self.address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise AutomasterError(f"cannot reach the Dask scheduler at {self.address} ({exc})") from None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._client is not None
        try:
            if exc_type is not None:
                self.stop()
        finally:
            self._client.close()

    def stop(self) -> None:
        """Cancel the tasks: the ones not started are dropped; one already running finishes
        on its worker (Dask does not interrupt running code), writing its master atomically."""
        if self._client is not None and self._futures:
            self._client.cancel(self._futures)
            self._futures = []

    def workers(self) -> int:
        """Workers connected to the scheduler now."""
        assert self._client is not None
        return len(self._client.scheduler_info().get("workers", {}))

    def results(self, jobs: Sequence[BatchJob]) -> Iterator[JobResult]:
        distributed = import_distributed()
        client = self._client
        assert client is not None
        if not jobs:
            return
        [recipe] = client.scatter([self.recipe], broadcast=True, hash=False)
        by_future = {}
        for job in jobs:
            # A Dask cluster runs a task per core: each runs its stages one after another.
            future = client.submit(master_one, job, recipe, False, pure=False)
            by_future[future] = job
        self._futures = list(by_future)
        for future in distributed.as_completed(list(by_future), loop=client.loop):
            job = by_future[future]
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker, a task Dask gave up on
                yield _worker_lost(job, self.recipe, f"the Dask task failed ({type(exc).__name__}: {exc})")
            finally:
                future.release()
