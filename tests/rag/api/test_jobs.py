"""JobManager with a scripted ingest function: progress, cancellation, failures, tenant scoping, forgetting."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from rag.api.jobs import JobManager
from rag.errors import StoreError
from rag.records import FileFailure, IngestReport


class ScriptedIngest:
    """Reports one file at a time; waits on ``gate`` before each one when it is given."""

    def __init__(self, files: int = 3, *, gate: threading.Event | None = None, fail: Exception | None = None):
        self.files = files
        self.gate = gate
        self.fail = fail
        self.started = threading.Event()
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        paths: Sequence[Path],
        *,
        tenant: str,
        progress: bool,
        on_progress: Callable[[IngestReport, str], None],
        within: Sequence[Path],
    ) -> IngestReport:
        self.calls.append({"paths": list(paths), "tenant": tenant, "within": list(within)})
        self.started.set()
        report = IngestReport()
        for i in range(self.files):
            if self.gate is not None:
                assert self.gate.wait(10)
                self.gate.clear()
            if self.fail is not None:
                raise self.fail
            report.files_seen += 1
            report.ingested += 1
            on_progress(report, f"/data/f{i}.md")
        return report


def test_a_job_reports_progress_and_its_report() -> None:
    ingest = ScriptedIngest(files=3)
    jobs = JobManager(ingest)
    job = jobs.submit("acme", [Path("/data")], within=[Path("/data")])
    jobs.wait(10)
    done = jobs.get("acme", job.id)
    assert done is not None and done.status == "succeeded"
    assert done.files_done == 3 and done.current == "/data/f2.md" and done.report is not None
    assert done.report.ingested == 3
    assert ingest.calls == [{"paths": [Path("/data")], "tenant": "acme", "within": [Path("/data")]}]
    jobs.shutdown()


def test_jobs_are_visible_to_their_tenant_only() -> None:
    jobs = JobManager(ScriptedIngest(files=1))
    job = jobs.submit("acme", [Path("/a")])
    jobs.wait(10)
    assert jobs.get("globex", job.id) is None and jobs.cancel("globex", job.id) is None
    assert jobs.list("globex") == [] and [j.id for j in jobs.list("acme")] == [job.id]
    jobs.shutdown()


def test_cancel_stops_a_running_job_after_its_current_file_and_a_queued_one_before_it_starts() -> None:
    gate = threading.Event()
    ingest = ScriptedIngest(files=5, gate=gate)
    jobs = JobManager(ingest, workers=1)
    running = jobs.submit("acme", [Path("/a")])
    queued = jobs.submit("acme", [Path("/b")])
    assert ingest.started.wait(10)
    gate.set()  # first file
    _until(lambda: (jobs.get("acme", running.id) or running).files_done == 1)
    assert jobs.cancel("acme", queued.id).status == "cancelled"  # type: ignore[union-attr]
    jobs.cancel("acme", running.id)
    gate.set()  # the second file finishes, then the job stops
    jobs.wait(10)
    stopped = jobs.get("acme", running.id)
    assert stopped is not None and stopped.status == "cancelled" and stopped.files_done == 2
    assert len(ingest.calls) == 1  # the queued job never ran
    jobs.shutdown()


@pytest.mark.parametrize(
    ("fail", "status", "error"),
    [(StoreError("Qdrant upsert failed"), "failed", "Qdrant upsert failed"), (ValueError("bug"), "failed", "internal")],
)
def test_a_failing_job_is_recorded(fail: Exception, status: str, error: str) -> None:
    jobs = JobManager(ScriptedIngest(files=1, fail=fail))
    job = jobs.submit("acme", [Path("/a")])
    jobs.wait(10)
    seen = jobs.get("acme", job.id)
    assert seen is not None and seen.status == status and error in (seen.error or "")
    jobs.shutdown()


def test_files_that_fail_make_the_job_completed_with_errors_and_paths_are_shown_for_display() -> None:
    def ingest(paths: Any, *, tenant: str, progress: bool, on_progress: Any, within: Any) -> IngestReport:
        report = IngestReport(files_seen=2, ingested=1)
        report.failed.append(FileFailure(path="/srv/uploads/acme/bad.pdf", reason="truncated PDF"))
        return report

    jobs = JobManager(ingest, display=lambda p: p.removeprefix("/srv/uploads/acme/"))
    job = jobs.submit("acme", [Path("/a")])
    jobs.wait(10)
    seen = jobs.get("acme", job.id)
    assert seen is not None and seen.status == "completed_with_errors" and seen.error == "1 of 2 files failed"
    assert seen.report is not None and seen.report.failed[0].path == "bad.pdf"
    jobs.shutdown()


def test_old_finished_jobs_are_forgotten_first() -> None:
    jobs = JobManager(ScriptedIngest(files=1), max_jobs=3)
    ids = []
    for _ in range(5):
        ids.append(jobs.submit("acme", [Path("/a")]).id)
        jobs.wait(10)
    assert [j.id for j in jobs.list("acme")] == ids[:1:-1]
    jobs.shutdown()


def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
