"""Ingest jobs: run outside the request, in a small thread pool that shares the loaded models.

A job is queued by a request and answered at once with its id; the pool runs it through :meth:`RAG.ingest`,
whose progress hook keeps the job's counters current and stops the run between two files when the job is
cancelled (an ingest stopped there is crash-safe, like any other).

Every job is also a row in the jobs database (:mod:`rag.api.job_store`), written on each change of state and
at most every ``progress_every_s`` on progress, so a restart keeps them. A job the server stopped before it
finished (a crash, a restart, a shutdown) is ``interrupted``: its ``unfinished`` paths say what did not
finish, and :meth:`JobManager.request` gives what a client needs to submit it again. Ingest skips unchanged
files by their hash, so running a whole job again only does the part that was missing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from rag.api.job_store import JobRecord, JobStatus, JobStore
from rag.errors import BusyError, RagError
from rag.records import FileFailure, IngestReport, readable

__all__ = ["FINISHED", "Ingest", "JobCancelled", "JobManager", "JobRequest", "JobStatus", "JobView"]

log = logging.getLogger(__name__)

FINISHED: tuple[JobStatus, ...] = ("succeeded", "completed_with_errors", "failed", "cancelled", "interrupted")
_STOPPED_EARLY = ("failed", "cancelled", "interrupted")


class Ingest(Protocol):
    def __call__(
        self,
        paths: Sequence[Path],
        *,
        tenant: str,
        progress: bool,
        on_progress: Callable[[IngestReport, str], None],
        within: Sequence[Path],
    ) -> IngestReport: ...


class JobCancelled(Exception):
    """Raised from the progress hook to stop a cancelled job between two files."""


class JobView(BaseModel):
    """What the API shows of a job."""

    model_config = ConfigDict(extra="forbid")

    id: str
    status: JobStatus = Field(
        description="queued, running, then succeeded, completed_with_errors (the report lists the files that "
        "failed), failed, cancelled, or interrupted (the server stopped before the job finished: retry it)."
    )
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    files_submitted: int = Field(description="Files uploaded, or paths named, by the request.")
    files_done: int = Field(default=0, description="Files finished so far (ingested, unchanged, skipped, failed).")
    current: str | None = Field(default=None, description="The file finished last.")
    unfinished: list[str] | None = Field(
        default=None,
        description="For a job that stopped early (interrupted, cancelled, failed): the files, folders and "
        "patterns of the request not known to be finished. A folder or pattern stays listed: of its files, only "
        "how many finished is known (files_done).",
    )
    report: IngestReport | None = None
    error: str | None = None


@dataclass(frozen=True)
class JobRequest:
    """What a job was asked to do, for submitting it again."""

    status: JobStatus
    paths: list[Path]
    """As submitted: uploaded names, or server paths, folders and patterns."""
    staged: bool
    """The job's files were put in place by its ``prepare`` step (an upload)."""
    files: list[Path] | None
    """What ``prepare`` put in place; None if it never finished (the upload is lost: send the files again)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Job:
    def __init__(self, record: JobRecord, prepare: Callable[[], list[Path]] | None = None) -> None:
        self.id = record.id
        self.tenant = record.tenant
        self.paths = [Path(p) for p in record.paths]
        self.staged = record.staged
        self.files = [Path(p) for p in record.files] if record.files is not None else None
        self.within = [Path(p) for p in record.within]
        self.prepare = prepare
        self.status: JobStatus = record.status
        self.created_at = record.created_at
        self.started_at = record.started_at
        self.finished_at = record.finished_at
        self.files_done = record.files_done
        self.current = record.current
        self.report = record.report
        self.error = record.error
        self.unfinished: dict[str, None] = dict.fromkeys(record.unfinished)
        self.keys: dict[str, str] = {}  # a finished file's path as ingest reports it -> the entry in unfinished
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        self.saved_at = 0.0

    def record(self) -> JobRecord:
        with self.lock:
            return JobRecord(
                id=self.id,
                tenant=self.tenant,
                status=self.status,
                created_at=self.created_at,
                paths=tuple(str(p) for p in self.paths),
                staged=self.staged,
                files=tuple(str(p) for p in self.files) if self.files is not None else None,
                within=tuple(str(p) for p in self.within),
                unfinished=tuple(self.unfinished),
                started_at=self.started_at,
                finished_at=self.finished_at,
                files_done=self.files_done,
                current=self.current,
                report=self.report.model_copy(deep=True) if self.report is not None else None,
                error=self.error,
            )

    def files_in_place(self, files: list[Path]) -> None:
        """The files to ingest are known: they are what is unfinished now, matched by path and resolved path."""
        keys = {}
        for file in files:
            keys[str(file)] = str(file)
            keys[str(file.resolve())] = str(file)  # ingest reports resolved paths
        with self.lock:
            self.files = files
            self.unfinished = dict.fromkeys(str(f) for f in files)
            self.keys = keys

    def view(self, *, display: Callable[[str], str]) -> JobView:
        def shown(text: str) -> str:
            return readable(display(text))

        with self.lock:
            report = self.report.model_copy(deep=True) if self.report is not None else None
            return JobView(
                id=self.id,
                status=self.status,
                created_at=self.created_at,
                started_at=self.started_at,
                finished_at=self.finished_at,
                files_submitted=len(self.paths),
                files_done=self.files_done,
                current=shown(self.current) if self.current else None,
                unfinished=[shown(p) for p in self.unfinished] if self.status in _STOPPED_EARLY else None,
                report=_display_report(report, shown) if report is not None else None,
                error=shown(self.error) if self.error else None,
            )


def _display_report(report: IngestReport, display: Callable[[str], str]) -> IngestReport:
    def shown(entries: list[FileFailure]) -> list[FileFailure]:
        return [f.model_copy(update={"path": display(f.path), "reason": display(f.reason)}) for f in entries]

    report.skipped, report.failed = shown(report.skipped), shown(report.failed)
    report.omitted = [o.model_copy(update={"reason": display(o.reason)}) for o in report.omitted]
    report.stopped = display(report.stopped) if report.stopped else report.stopped
    return report


class JobManager:
    """Runs ingest jobs and keeps their records; ``db`` (a file) keeps them across restarts, None in memory.

    Opening the database marks the jobs that an earlier server left queued or running as ``interrupted``.
    """

    def __init__(
        self,
        ingest: Ingest,
        *,
        workers: int = 1,
        max_jobs: int = 1000,
        display: Callable[[str], str] = str,
        db: Path | None = None,
        progress_every_s: float = 0.5,
    ) -> None:
        self._ingest = ingest
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._lock = threading.Lock()
        self._max_jobs = max_jobs
        self._display = display
        self._progress_every_s = progress_every_s
        self._stopping = threading.Event()
        self._store = JobStore(db)
        self._restore()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-job")

    def _restore(self) -> None:
        for record in self._store.load():
            job = _Job(record)
            if job.status not in FINISHED:
                self._interrupt(job, "stopped")
            self._jobs[job.id] = job
        with self._lock:
            self._forget_old(keep=self._max_jobs)

    def _interrupt(self, job: _Job, how: str) -> None:
        with job.lock:
            job.error = f"the server {how} while the job was {job.status}; retry the job to finish it"
            job.status, job.finished_at = "interrupted", _now()
        self._save(job)

    def submit(
        self,
        tenant: str,
        paths: Sequence[Path],
        *,
        prepare: Callable[[], list[Path]] | None = None,
        within: Sequence[Path] = (),
    ) -> JobView:
        """Queue an ingest of ``paths`` (``prepare``, if given, runs first in the worker and returns them).

        ``within``: folders the files must resolve into (see :func:`ingest.discover.discover`).
        """
        shown = tuple(str(p) for p in paths)
        record = JobRecord(
            id=uuid.uuid4().hex,
            tenant=tenant,
            status="queued",
            created_at=_now(),
            paths=shown,
            staged=prepare is not None,
            files=None if prepare is not None else shown,
            within=tuple(str(p) for p in within),
            unfinished=shown,
        )
        job = _Job(record, prepare)
        if prepare is None:
            job.files_in_place(list(paths))
        with self._lock:
            self._forget_old(keep=self._max_jobs - 1)
            if len(self._jobs) >= self._max_jobs:
                raise BusyError(f"too many unfinished jobs ({len(self._jobs)}); try again later")
            self._jobs[job.id] = job
        self._save(job)
        self._pool.submit(self._run, job)
        return job.view(display=self._display)

    def _forget_old(self, *, keep: int) -> None:
        """Forget the oldest finished jobs until at most ``keep`` remain; unfinished ones are never forgotten."""
        while len(self._jobs) > keep:
            oldest = next((j for j in self._jobs.values() if j.status in FINISHED), None)
            if oldest is None:
                return
            del self._jobs[oldest.id]
            self._store.delete(oldest.id)

    def _find(self, tenant: str, job_id: str) -> _Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.tenant == tenant else None

    def get(self, tenant: str, job_id: str) -> JobView | None:
        job = self._find(tenant, job_id)
        return job.view(display=self._display) if job is not None else None

    def request(self, tenant: str, job_id: str) -> JobRequest | None:
        """What the job was asked to do (to submit it again), or None if the tenant has no such job."""
        job = self._find(tenant, job_id)
        if job is None:
            return None
        with job.lock:
            files = list(job.files) if job.files is not None else None
            return JobRequest(status=job.status, paths=list(job.paths), staged=job.staged, files=files)

    def list(self, tenant: str, *, limit: int | None = None, offset: int = 0) -> list[JobView]:
        """The tenant's jobs, newest first: ``limit`` of them after skipping ``offset``."""
        with self._lock:
            jobs = [j for j in reversed(self._jobs.values()) if j.tenant == tenant]
        end = None if limit is None else offset + limit
        return [j.view(display=self._display) for j in jobs[offset:end]]

    def cancel(self, tenant: str, job_id: str) -> JobView | None:
        """Ask a job to stop: a queued job never starts, a running one stops after its current file."""
        job = self._find(tenant, job_id)
        if job is None:
            return None
        job.cancel.set()
        with job.lock:
            cancelled = job.status == "queued"
            if cancelled:
                job.status, job.finished_at = "cancelled", _now()
        if cancelled:
            self._save(job)
        return job.view(display=self._display)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every job submitted so far has finished (tests and shutdown)."""
        done = threading.Event()
        self._pool.submit(done.set)
        done.wait(timeout)

    def shutdown(self) -> None:
        """Stop running jobs after their current file; they and the queued ones end ``interrupted``."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            left = [j for j in self._jobs.values() if j.status not in FINISHED]
        for job in left:
            self._interrupt(job, "shut down")
        self._store.close()

    def _save(self, job: _Job) -> None:
        job.saved_at = time.monotonic()
        self._store.save(job.record())

    # -- worker ----------------------------------------------------------------------------------

    def _run(self, job: _Job) -> None:
        with job.lock:
            start = job.status == "queued" and not job.cancel.is_set() and not self._stopping.is_set()
            if start:
                job.status, job.started_at = "running", _now()
        if not start:
            if self._stopping.is_set() and not job.cancel.is_set():
                self._interrupt(job, "shut down")
            else:
                with job.lock:
                    job.status, job.finished_at = "cancelled", job.finished_at or _now()
                self._save(job)
            return
        self._save(job)

        def on_progress(report: IngestReport, path: str) -> None:
            with job.lock:
                job.report = report
                job.files_done += 1
                job.current = path
                job.unfinished.pop(job.keys.get(path, path), None)
            if time.monotonic() - job.saved_at >= self._progress_every_s:
                self._save(job)
            if job.cancel.is_set() or self._stopping.is_set():
                raise JobCancelled

        status: JobStatus = "succeeded"
        error: str | None = None
        try:
            if job.prepare is not None:
                job.files_in_place(job.prepare())
                self._save(job)
            files = job.files if job.files is not None else job.paths
            report = self._ingest(files, tenant=job.tenant, progress=False, on_progress=on_progress, within=job.within)
            with job.lock:
                job.report = report
                job.unfinished.clear()
            if report.failed:
                status, error = "completed_with_errors", f"{report.failed_total} of {report.files_seen} files failed"
        except JobCancelled:
            if not job.cancel.is_set():  # stopped by a shutdown, not by its client
                self._interrupt(job, "shut down")
                return
            status = "cancelled"
        except RagError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # the worker thread must record every failure, never die silently
            log.exception("ingest job %s failed", job.id)
            status, error = "failed", f"internal error: {type(exc).__name__}"
        with job.lock:
            job.status, job.error, job.finished_at = status, error, _now()
        self._save(job)
