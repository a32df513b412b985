"""Ingest jobs: run outside the request, in a small thread pool that shares the loaded models.

A job is queued by a request and answered at once with its id; the pool runs it through :meth:`RAG.ingest`,
whose progress hook keeps the job's counters current and stops the run between two files when the job is
cancelled (an ingest stopped there is crash-safe, like any other). Jobs live in memory: a restart forgets
them, not what they ingested.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from rag.errors import RagError
from rag.records import FileFailure, IngestReport

__all__ = ["Ingest", "JobCancelled", "JobManager", "JobView"]

log = logging.getLogger(__name__)

# completed_with_errors: the run finished, and the report lists the files that failed.
JobStatus = Literal["queued", "running", "succeeded", "completed_with_errors", "failed", "cancelled"]
_DONE = ("succeeded", "completed_with_errors", "failed", "cancelled")


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
    status: JobStatus
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    files_submitted: int = Field(description="Files uploaded, or paths named, by the request.")
    files_done: int = Field(default=0, description="Files finished so far (ingested, unchanged, skipped, failed).")
    current: str | None = Field(default=None, description="The file finished last.")
    report: IngestReport | None = None
    error: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Job:
    def __init__(
        self, tenant: str, paths: list[Path], prepare: Callable[[], list[Path]] | None, within: Sequence[Path]
    ) -> None:
        self.id = uuid.uuid4().hex
        self.tenant = tenant
        self.paths = paths
        self.prepare = prepare
        self.within = within
        self.status: JobStatus = "queued"
        self.created_at = _now()
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.files_done = 0
        self.current: str | None = None
        self.report: IngestReport | None = None
        self.error: str | None = None
        self.cancel = threading.Event()
        self.lock = threading.Lock()

    def view(self, *, display: Callable[[str], str]) -> JobView:
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
                current=display(self.current) if self.current else None,
                report=_display_report(report, display) if report is not None else None,
                error=self.error,
            )


def _display_report(report: IngestReport, display: Callable[[str], str]) -> IngestReport:
    def shown(entries: list[FileFailure]) -> list[FileFailure]:
        return [f.model_copy(update={"path": display(f.path), "reason": display(f.reason)}) for f in entries]

    report.skipped, report.failed = shown(report.skipped), shown(report.failed)
    report.omitted = [o.model_copy(update={"reason": display(o.reason)}) for o in report.omitted]
    report.stopped = display(report.stopped) if report.stopped else report.stopped
    return report


class JobManager:
    def __init__(
        self,
        ingest: Ingest,
        *,
        workers: int = 1,
        max_jobs: int = 1000,
        display: Callable[[str], str] = str,
    ) -> None:
        self._ingest = ingest
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-job")
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._lock = threading.Lock()
        self._max_jobs = max_jobs
        self._display = display

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
        job = _Job(tenant, list(paths), prepare, within)
        with self._lock:
            self._forget_old()
            if len(self._jobs) >= self._max_jobs:
                raise RagError(f"too many unfinished jobs ({len(self._jobs)}); try again later")
            self._jobs[job.id] = job
        self._pool.submit(self._run, job)
        return job.view(display=self._display)

    def _forget_old(self) -> None:
        while len(self._jobs) >= self._max_jobs:
            oldest = next((j for j in self._jobs.values() if j.status in _DONE), None)
            if oldest is None:
                return
            del self._jobs[oldest.id]

    def _find(self, tenant: str, job_id: str) -> _Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.tenant == tenant else None

    def get(self, tenant: str, job_id: str) -> JobView | None:
        job = self._find(tenant, job_id)
        return job.view(display=self._display) if job is not None else None

    def list(self, tenant: str) -> list[JobView]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.tenant == tenant]
        return [j.view(display=self._display) for j in reversed(jobs)]

    def cancel(self, tenant: str, job_id: str) -> JobView | None:
        """Ask a job to stop: a queued job never starts, a running one stops after its current file."""
        job = self._find(tenant, job_id)
        if job is None:
            return None
        job.cancel.set()
        with job.lock:
            if job.status == "queued":
                job.status, job.finished_at = "cancelled", _now()
        return job.view(display=self._display)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every job submitted so far has finished (tests and shutdown)."""
        done = threading.Event()
        self._pool.submit(done.set)
        done.wait(timeout)

    def shutdown(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- worker ----------------------------------------------------------------------------------

    def _run(self, job: _Job) -> None:
        with job.lock:
            if job.status != "queued" or job.cancel.is_set():
                job.status, job.finished_at = "cancelled", job.finished_at or _now()
                return
            job.status, job.started_at = "running", _now()

        def on_progress(report: IngestReport, path: str) -> None:
            with job.lock:
                job.report = report
                job.files_done += 1
                job.current = path
            if job.cancel.is_set():
                raise JobCancelled

        status: JobStatus = "succeeded"
        error: str | None = None
        try:
            paths = job.prepare() if job.prepare is not None else job.paths
            report = self._ingest(paths, tenant=job.tenant, progress=False, on_progress=on_progress, within=job.within)
            with job.lock:
                job.report = report
            if report.failed:
                status, error = "completed_with_errors", f"{report.failed_total} of {report.files_seen} files failed"
        except JobCancelled:
            status = "cancelled"
        except RagError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # the worker thread must record every failure, never die silently
            log.exception("ingest job %s failed", job.id)
            status, error = "failed", f"internal error: {type(exc).__name__}"
        with job.lock:
            job.status, job.error, job.finished_at = status, error, _now()
