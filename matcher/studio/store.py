"""The studio's records: mixes, their references, suggestions, versions and jobs, in SQLite.

One database file in the studio's data folder (``studio.sqlite3``), the audio beside it in
``files/`` under names the studio makes (``<id><extension>``): a user's file name is only
ever shown, never used as a path. Every call opens its own connection (the server's event
loop, its job thread and the worker processes each write), in WAL mode so that readers never
wait for a writer. A job is a row: ``queued``, ``running``, ``done`` or ``failed``; a
restart puts the ``running`` ones back in the queue (:meth:`Store.requeue_running`), so
nothing is silently dropped.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

SCHEMA_VERSION = 3
DATABASE = "studio.sqlite3"
FILES = "files"
ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
"""What an id looks like: anything else in a URL is refused before any lookup."""
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
KINDS = ("suggest", "render")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mixes (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, file TEXT NOT NULL, created REAL NOT NULL,
    seconds REAL NOT NULL, sample_rate_hz INTEGER NOT NULL, channels INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refs (
    id TEXT PRIMARY KEY, mix_id TEXT NOT NULL REFERENCES mixes(id), name TEXT NOT NULL,
    file TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS suggestions (
    id TEXT PRIMARY KEY, mix_id TEXT NOT NULL REFERENCES mixes(id), created REAL NOT NULL,
    options TEXT NOT NULL, settings TEXT, report TEXT, figures TEXT, listen TEXT
);
CREATE TABLE IF NOT EXISTS versions (
    id TEXT PRIMARY KEY, mix_id TEXT NOT NULL REFERENCES mixes(id), number INTEGER NOT NULL,
    created REAL NOT NULL, settings TEXT NOT NULL, format TEXT NOT NULL, file TEXT, figures TEXT,
    options TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, mix_id TEXT NOT NULL, target_id TEXT NOT NULL,
    state TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, error TEXT, created REAL NOT NULL,
    updated REAL NOT NULL
);
"""

_MIGRATIONS = {
    1: "ALTER TABLE suggestions ADD COLUMN listen TEXT;",  # 1 -> 2: the excerpts heard before the report
    2: "ALTER TABLE versions ADD COLUMN options TEXT;",  # 2 -> 3: the page's options a version was made with
}


def new_id() -> str:
    return uuid.uuid4().hex


def valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value or ""))


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    mix_id: str
    target_id: str
    """The suggestion or version the job makes."""
    state: str
    progress: float
    error: str | None


class Store:
    """The studio's database and files under ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.files = self.root / FILES
        self.files.mkdir(parents=True, exist_ok=True)
        self.path = self.root / DATABASE
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            found = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if found is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            else:
                version = int(found[0])
                if version > SCHEMA_VERSION:
                    raise RuntimeError(f"{self.path}: studio database of schema {version}; this version reads "
                                       f"{SCHEMA_VERSION} and older")
                for step in range(version, SCHEMA_VERSION):
                    db.executescript(_MIGRATIONS[step])
                db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()

    def file(self, name: str) -> Path:
        """The path of a stored file (its name is one the studio made)."""
        return self.files / name

    # --- mixes and references -------------------------------------------------------------

    def add_mix(self, mix_id: str, name: str, file: str, seconds: float, rate_hz: int, channels: int) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO mixes VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (mix_id, name, file, time.time(), seconds, rate_hz, channels))

    def add_reference(self, ref_id: str, mix_id: str, name: str, file: str) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO refs VALUES (?, ?, ?, ?, ?)", (ref_id, mix_id, name, file, time.time()))

    def mix(self, mix_id: str) -> dict | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM mixes WHERE id=?", (mix_id,)).fetchone()
        return None if row is None else dict(row)

    def mixes(self) -> list[dict]:
        with self._connect() as db:
            return [dict(r) for r in db.execute("SELECT * FROM mixes ORDER BY created")]

    def references(self, mix_id: str) -> list[dict]:
        with self._connect() as db:
            return [dict(r) for r in db.execute("SELECT * FROM refs WHERE mix_id=? ORDER BY created", (mix_id,))]

    # --- suggestions and versions ---------------------------------------------------------

    def add_suggestion(self, suggestion_id: str, mix_id: str, options: dict) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO suggestions (id, mix_id, created, options) VALUES (?, ?, ?, ?)",
                       (suggestion_id, mix_id, time.time(), json.dumps(options, sort_keys=True)))

    def stage_suggestion(self, suggestion_id: str, settings: str) -> None:
        """The suggestion's settings, as soon as they are fitted (its report follows)."""
        with self._connect() as db:
            db.execute("UPDATE suggestions SET settings=? WHERE id=?", (settings, suggestion_id))

    def set_listen(self, suggestion_id: str, listen: dict) -> None:
        """What the suggestion's players and plots show (a draft first, then the report's)."""
        with self._connect() as db:
            db.execute("UPDATE suggestions SET listen=? WHERE id=?", (json.dumps(listen), suggestion_id))

    def finish_suggestion(self, suggestion_id: str, settings: str, report: str, figures: dict) -> None:
        with self._connect() as db:
            db.execute("UPDATE suggestions SET settings=?, report=?, figures=? WHERE id=?",
                       (settings, report, json.dumps(figures), suggestion_id))

    def suggestion(self, suggestion_id: str) -> dict | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM suggestions WHERE id=?", (suggestion_id,)).fetchone()
        return None if row is None else dict(row)

    def latest_suggestion(self, mix_id: str, having: str = "report") -> dict | None:
        """The mix's newest suggestion with its ``"report"``, its ``"settings"`` or its
        ``"listen"``."""
        done = {"report": "report IS NOT NULL", "settings": "settings IS NOT NULL", "listen": "listen IS NOT NULL"}[having]
        with self._connect() as db:
            row = db.execute(f"SELECT * FROM suggestions WHERE mix_id=? AND {done} "
                             "ORDER BY created DESC LIMIT 1", (mix_id,)).fetchone()
        return None if row is None else dict(row)

    def add_version(self, version_id: str, mix_id: str, settings: str, fmt: str, options: str | None = None) -> int:
        """A new version of a mix (its number: one more than the last); ``options``: the
        page's options (JSON) of the suggestion it renders."""
        with self._connect() as db:
            last = db.execute("SELECT MAX(number) FROM versions WHERE mix_id=?", (mix_id,)).fetchone()[0]
            number = (last or 0) + 1
            db.execute("INSERT INTO versions (id, mix_id, number, created, settings, format, options) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (version_id, mix_id, number, time.time(), settings, fmt, options))
        return number

    def finish_version(self, version_id: str, file: str, figures: dict) -> None:
        with self._connect() as db:
            db.execute("UPDATE versions SET file=?, figures=? WHERE id=?", (file, json.dumps(figures), version_id))

    def version(self, version_id: str) -> dict | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM versions WHERE id=?", (version_id,)).fetchone()
        return None if row is None else dict(row)

    def versions(self, mix_id: str) -> list[dict]:
        with self._connect() as db:
            return [dict(r) for r in db.execute("SELECT * FROM versions WHERE mix_id=? ORDER BY number", (mix_id,))]

    # --- jobs -----------------------------------------------------------------------------

    def add_job(self, kind: str, mix_id: str, target_id: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"job kind {kind!r}")
        job_id = new_id()
        now = time.time()
        with self._connect() as db:
            db.execute("INSERT INTO jobs (id, kind, mix_id, target_id, state, created, updated) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (job_id, kind, mix_id, target_id, QUEUED, now, now))
        return job_id

    def supersede(self, mix_id: str, kind: str, why: str) -> int:
        """End a mix's queued jobs of a kind that a newer one makes pointless (a slider moved
        again before the last suggestion started); how many."""
        with self._connect() as db:
            return db.execute("UPDATE jobs SET state=?, error=?, updated=? WHERE mix_id=? AND kind=? AND state=?",
                              (FAILED, why, time.time(), mix_id, kind, QUEUED)).rowcount

    def job(self, job_id: str) -> Job | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def jobs(self, mix_id: str) -> list[Job]:
        with self._connect() as db:
            return [_job(r) for r in db.execute("SELECT * FROM jobs WHERE mix_id=? ORDER BY created", (mix_id,))]

    def next_queued(self) -> Job | None:
        """The oldest queued job, marked running (atomically: one taker)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT * FROM jobs WHERE state=? ORDER BY created LIMIT 1", (QUEUED,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state=?, updated=? WHERE id=?", (RUNNING, time.time(), row["id"]))
        return replace(_job(row), state=RUNNING)

    def set_progress(self, job_id: str, progress: float) -> None:
        with self._connect() as db:
            db.execute("UPDATE jobs SET progress=?, updated=? WHERE id=? AND state=?",
                       (max(0.0, min(1.0, progress)), time.time(), job_id, RUNNING))

    def finish_job(self, job_id: str, error: str | None = None) -> None:
        with self._connect() as db:
            db.execute("UPDATE jobs SET state=?, progress=?, error=?, updated=? WHERE id=?",
                       (FAILED if error else DONE, 0.0 if error else 1.0, error, time.time(), job_id))

    def requeue_running(self) -> int:
        """Put the jobs a stopped server left running back in the queue; how many."""
        with self._connect() as db:
            return db.execute("UPDATE jobs SET state=?, progress=0, updated=? WHERE state=?",
                              (QUEUED, time.time(), RUNNING)).rowcount


def _job(row: sqlite3.Row) -> Job:
    return Job(row["id"], row["kind"], row["mix_id"], row["target_id"], row["state"], row["progress"], row["error"])
