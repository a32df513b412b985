"""Job records in SQLite, so that a restart or a crash does not lose what a client was told about its jobs.

One row per job in ``DATA_DIR/jobs.sqlite3`` (WAL, ``synchronous=NORMAL``: a write survives a crash of the
server; a power cut may lose the last ones, never corrupt the file), written by :class:`~rag.api.jobs.JobManager`
on every change of state and, throttled, on progress. Columns that hold paths or messages are JSON with
non-ASCII escaped, so that file names that are not valid UTF-8 round-trip exactly.

The jobs database never stops the server from starting: a file SQLite cannot read is moved aside
(``jobs.sqlite3.corrupt-<time>``) with a warning and a fresh one is made; a data directory that cannot be
written, or a database that another running server holds (``jobs.sqlite3.lock``), leaves this server with
jobs kept in memory only, again with a warning. A failed write is logged and the job goes on.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import ValidationError

from rag.records import IngestReport

__all__ = ["JobRecord", "JobStatus", "JobStore"]

log = logging.getLogger(__name__)

# completed_with_errors: the run finished, and the report lists the files that failed.
# interrupted: the server stopped (crash, restart, shutdown) before the job finished; it can be retried.
JobStatus = Literal["queued", "running", "succeeded", "completed_with_errors", "failed", "cancelled", "interrupted"]

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    paths TEXT NOT NULL,
    staged INTEGER NOT NULL,
    files TEXT,
    within TEXT NOT NULL,
    unfinished TEXT NOT NULL,
    files_done INTEGER NOT NULL,
    current TEXT,
    report TEXT,
    error TEXT
)
"""
_COLUMNS = (
    "id, tenant, status, created_at, started_at, finished_at, paths, staged, files, within, unfinished, "
    "files_done, current, report, error"
)


@dataclass(frozen=True)
class JobRecord:
    """One job as stored: what was submitted, what ran, and how far it got."""

    id: str
    tenant: str
    status: JobStatus
    created_at: str
    paths: tuple[str, ...]
    """As submitted: uploaded names, or server paths, folders and patterns."""
    staged: bool
    """The job had a step that put its files in place first (an upload, moved out of staging)."""
    files: tuple[str, ...] | None
    """What the ingest was given; None while a staged job's files are not in place."""
    within: tuple[str, ...]
    unfinished: tuple[str, ...]
    """Files, folders or patterns of the request not known to be finished."""
    started_at: str | None = None
    finished_at: str | None = None
    files_done: int = 0
    current: str | None = None
    report: IngestReport | None = None
    error: str | None = None


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class JobStore:
    """The job table, behind one connection and a lock (the API's request and worker threads share it).

    ``path`` None keeps the table in memory (tests, or a server whose data directory is not usable).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._lock_file: IO[bytes] | None = None
        self._db = self._open(path)

    @property
    def persistent(self) -> bool:
        return self._lock_file is not None

    # -- opening ---------------------------------------------------------------------------------

    def _open(self, path: Path | None) -> sqlite3.Connection:
        if path is None:
            return self._connect(":memory:")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = _hold_lock(path.with_name(path.name + ".lock"))
        except OSError as exc:
            log.warning("jobs are kept in memory only: cannot use %s (%s)", path, exc.strerror or exc)
            return self._connect(":memory:")
        if self._lock_file is None:
            log.warning("jobs are kept in memory only: another running server keeps its jobs in %s", path)
            return self._connect(":memory:")
        try:
            try:
                return self._connect(str(path))
            except sqlite3.OperationalError:
                raise  # cannot open, read-only, I/O error: the file may be fine, so it stays where it is
            except sqlite3.DatabaseError as exc:  # not a database, malformed, or a schema this code does not know
                aside = _move_aside(path)
                log.warning(
                    "the jobs database %s cannot be read (%s): moved to %s, starting a new one", path, exc, aside
                )
            return self._connect(str(path))
        except (sqlite3.Error, OSError) as exc:
            log.warning("jobs are kept in memory only: cannot open %s (%s)", path, exc)
            self._release_lock()
            return self._connect(":memory:")

    @staticmethod
    def _connect(target: str) -> sqlite3.Connection:
        db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=5)
        try:
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {check[0] if check else 'no answer'}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version}, this server knows {_SCHEMA_VERSION}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        return db

    # -- rows ------------------------------------------------------------------------------------

    def load(self) -> list[JobRecord]:
        """Every stored job, oldest first (a row that cannot be read is skipped with a warning)."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq").fetchall()
        records = []
        for row in rows:
            try:
                records.append(_record(row))
            except (ValueError, TypeError, ValidationError) as exc:  # JSONDecodeError is a ValueError
                log.warning("job %s: its stored record cannot be read (%s); it is not shown", row[0], exc)
        return records

    def save(self, record: JobRecord) -> None:
        values = (
            record.id,
            record.tenant,
            record.status,
            record.created_at,
            record.started_at,
            record.finished_at,
            _dump(list(record.paths)),
            int(record.staged),
            _dump(list(record.files) if record.files is not None else None),
            _dump(list(record.within)),
            _dump(list(record.unfinished)),
            record.files_done,
            _dump(record.current),
            _dump(record.report.model_dump(mode="json") if record.report is not None else None),
            _dump(record.error),
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[1:])
        self._write(
            f"INSERT INTO jobs ({_COLUMNS}) VALUES ({', '.join('?' * len(values))}) "
            f"ON CONFLICT(id) DO UPDATE SET {updates}",
            values,
        )

    def delete(self, job_id: str) -> None:
        self._write("DELETE FROM jobs WHERE id = ?", (job_id,))

    def _write(self, sql: str, values: tuple[Any, ...]) -> None:
        try:
            with self._lock:
                self._db.execute(sql, values)
        except sqlite3.Error as exc:  # a full disk, say: the job goes on, its record lags behind
            log.warning("cannot write to the jobs database %s: %s", self.path, exc)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file releases its lock
            self._lock_file = None


def _record(row: tuple[Any, ...]) -> JobRecord:
    (job_id, tenant, status, created, started, finished, paths, staged, files, within, unfinished, done, current,
     report, error) = row  # fmt: skip
    stored_report = _load(report)
    return JobRecord(
        id=job_id,
        tenant=tenant,
        status=status,
        created_at=created,
        started_at=started,
        finished_at=finished,
        paths=tuple(_load(paths)),
        staged=bool(staged),
        files=tuple(_load(files)) if files is not None else None,
        within=tuple(_load(within)),
        unfinished=tuple(_load(unfinished)),
        files_done=int(done),
        current=_load(current),
        report=IngestReport.model_validate(stored_report) if stored_report is not None else None,
        error=_load(error),
    )


def _hold_lock(path: Path) -> IO[bytes] | None:
    """The open lock file, locked for this process; None when another process holds it."""
    handle = path.open("ab")
    if sys.platform == "win32":  # no advisory locks there: a second server is not detected
        return handle
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _move_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):  # the log belongs to the file it was written for
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, aside.with_name(aside.name + suffix))
    return aside
