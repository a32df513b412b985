"""JobManager with a scripted ingest function: progress, cancellation, failures, tenant scoping, forgetting, and
its records across restarts and crashes (the jobs database)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from rag.api.errors import rag_status
from rag.api.jobs import JobManager
from rag.errors import BusyError, StoreError
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


def test_a_finished_job_survives_a_restart_and_stays_with_its_tenant(tmp_path: Path) -> None:
    def ingest(paths: Any, *, tenant: str, progress: bool, on_progress: Any, within: Any) -> IngestReport:
        report = IngestReport(files_seen=2, ingested=1)
        report.failed.append(FileFailure(path="/srv/uploads/acme/b\udcff.pdf", reason="truncated PDF"))
        on_progress(report, "/srv/uploads/acme/a.md")
        return report

    display = lambda p: p.removeprefix("/srv/uploads/acme/")  # noqa: E731
    db = tmp_path / "jobs.sqlite3"
    jobs = JobManager(ingest, display=display, db=db)
    job = jobs.submit("acme", [Path("a.md"), Path("b\udcff.pdf")], prepare=lambda: [Path("/srv/uploads/acme/a.md")])
    jobs.wait(10)
    before = jobs.get("acme", job.id)
    jobs.shutdown()

    again = JobManager(ingest, display=display, db=db)
    after = again.get("acme", job.id)
    assert after == before and after is not None and after.status == "completed_with_errors"
    # Not UTF-8: kept exactly in the database, shown with the raw byte escaped (JSON has no lone surrogates).
    assert after.report is not None and after.report.failed[0].path == "b\\xff.pdf"
    assert "b\\\\xff.pdf" in after.model_dump_json()
    assert after.current == "a.md" and after.files_done == 1 and after.files_submitted == 2
    assert again.get("globex", job.id) is None and again.list("globex") == []
    assert [j.id for j in again.list("acme")] == [job.id]
    again.shutdown()


class ListedIngest:
    """Reports the files it is given one by one; stops for good before file ``stop_at`` (a server about to die)."""

    def __init__(self, stop_at: int) -> None:
        self.stop_at = stop_at
        self.stopped = threading.Event()
        self.release = threading.Event()

    def __call__(self, paths: Any, *, tenant: str, progress: bool, on_progress: Any, within: Any) -> IngestReport:
        report = IngestReport()
        for i, path in enumerate(paths):
            if i == self.stop_at:
                self.stopped.set()
                assert self.release.wait(10)
            report.files_seen += 1
            report.ingested += 1
            on_progress(report, str(path))
        return report


def _crash_copy(db: Path, to: Path) -> Path:
    """The database as a server killed now leaves it (every committed write), while the server runs on."""
    source, copy = sqlite3.connect(db), sqlite3.connect(to)
    source.backup(copy)
    source.close()
    copy.close()
    return to


@pytest.mark.parametrize(("every_s", "saved_done"), [(0.0, 1), (3600.0, 0)])
def test_a_job_running_at_a_crash_is_interrupted_with_the_files_it_did_not_finish(
    tmp_path: Path, every_s: float, saved_done: int
) -> None:
    ingest = ListedIngest(stop_at=1)
    jobs = JobManager(ingest, db=tmp_path / "jobs.sqlite3", progress_every_s=every_s)
    paths = [Path("/data/a.md"), Path("/data/b.md"), Path("/data/docs")]
    running = jobs.submit("acme", paths)
    queued = jobs.submit("acme", [Path("/data/c.md")])
    assert ingest.stopped.wait(10)
    crashed = _crash_copy(tmp_path / "jobs.sqlite3", tmp_path / "crashed.sqlite3")

    restarted = JobManager(ingest, db=crashed)
    seen = restarted.get("acme", running.id)
    assert seen is not None and seen.status == "interrupted" and seen.files_done == saved_done
    assert seen.error is not None and "stopped while the job was running" in seen.error
    # a.md finished (if its progress was saved); b.md did not; of the folder nothing is known but files_done
    assert seen.unfinished == [str(p) for p in paths[saved_done:]]
    waiting = restarted.get("acme", queued.id)
    assert waiting is not None and waiting.status == "interrupted" and waiting.unfinished == ["/data/c.md"]
    assert "stopped while the job was queued" in (waiting.error or "")
    request = restarted.request("acme", running.id)
    assert request is not None and request.paths == paths and request.files == paths and not request.staged
    restarted.shutdown()
    ingest.release.set()
    jobs.shutdown()


def test_an_upload_whose_files_were_not_in_place_at_the_crash_has_none_to_retry(tmp_path: Path) -> None:
    gate = threading.Event()

    def prepare() -> list[Path]:
        assert gate.wait(10)
        return [Path("/srv/uploads/acme/a.md")]

    jobs = JobManager(ScriptedIngest(files=1), db=tmp_path / "jobs.sqlite3")
    job = jobs.submit("acme", [Path("a.md")], prepare=prepare)
    _until(lambda: (jobs.get("acme", job.id) or job).status == "running")
    crashed = JobManager(ScriptedIngest(), db=_crash_copy(tmp_path / "jobs.sqlite3", tmp_path / "crashed.sqlite3"))
    seen, request = crashed.get("acme", job.id), crashed.request("acme", job.id)
    assert seen is not None and seen.status == "interrupted" and seen.unfinished == ["a.md"]
    assert request is not None and request.staged and request.files is None and request.paths == [Path("a.md")]
    assert crashed.request("globex", job.id) is None
    crashed.shutdown()
    gate.set()
    jobs.wait(10)
    request = jobs.request("acme", job.id)
    assert request is not None and request.files == [Path("/srv/uploads/acme/a.md")]
    jobs.shutdown()


def test_a_shutdown_interrupts_running_and_queued_jobs_rather_than_cancelling_them(tmp_path: Path) -> None:
    ingest = ListedIngest(stop_at=1)
    jobs = JobManager(ingest, db=tmp_path / "jobs.sqlite3", progress_every_s=0)
    running = jobs.submit("acme", [Path("/data/a.md"), Path("/data/b.md"), Path("/data/c.md")])
    queued = jobs.submit("acme", [Path("/data/d.md")])
    assert ingest.stopped.wait(10)
    stopping = threading.Thread(target=jobs.shutdown)
    stopping.start()
    _until(lambda: jobs._stopping.is_set())
    ingest.release.set()  # b.md finishes, then the job stops
    stopping.join(10)

    restarted = JobManager(ingest, db=tmp_path / "jobs.sqlite3")
    first, second = restarted.get("acme", running.id), restarted.get("acme", queued.id)
    assert first is not None and first.status == "interrupted" and first.files_done == 2
    assert first.unfinished == ["/data/c.md"] and "shut down while the job was running" in (first.error or "")
    assert second is not None and second.status == "interrupted" and second.unfinished == ["/data/d.md"]
    restarted.shutdown()


def test_finished_jobs_are_not_shown_unfinished_files_and_cancelled_ones_are(tmp_path: Path) -> None:
    gate = threading.Event()
    jobs = JobManager(ScriptedIngest(files=2, gate=gate), db=tmp_path / "jobs.sqlite3")
    cancelled = jobs.submit("acme", [Path("/data")])
    queued = jobs.submit("acme", [Path("/other")])
    jobs.cancel("acme", cancelled.id)
    gate.set()
    jobs.cancel("acme", queued.id)
    jobs.wait(10)
    jobs.shutdown()
    restarted = JobManager(ScriptedIngest(files=1), db=tmp_path / "jobs.sqlite3")
    one, two = restarted.get("acme", cancelled.id), restarted.get("acme", queued.id)
    assert one is not None and one.status == "cancelled" and one.unfinished == ["/data"]
    assert two is not None and two.status == "cancelled" and two.unfinished == ["/other"]
    done = restarted.submit("acme", [Path("/data/x.md")])
    restarted.wait(10)
    shown = restarted.get("acme", done.id)
    assert shown is not None and shown.status == "succeeded" and shown.unfinished is None
    restarted.shutdown()


def test_the_newest_finished_jobs_are_kept_across_restarts_and_unfinished_ones_always(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    jobs = JobManager(ScriptedIngest(files=1), max_jobs=3, db=db)
    ids = []
    for _ in range(5):
        ids.append(jobs.submit("acme", [Path("/a")]).id)
        jobs.wait(10)
    jobs.shutdown()
    assert [j.id for j in JobManager(ScriptedIngest(), max_jobs=3, db=db).list("acme")] == ids[:1:-1]
    # a lower limit after a restart forgets more of the finished ones, at once
    fewer = JobManager(ScriptedIngest(), max_jobs=1, db=db)
    assert [j.id for j in fewer.list("acme")] == ids[-1:]
    fewer.shutdown()
    rows = sqlite3.connect(db).execute("SELECT id FROM jobs").fetchall()
    assert rows == [(ids[-1],)]


def test_unfinished_jobs_are_never_forgotten(tmp_path: Path) -> None:
    gate = threading.Event()
    jobs = JobManager(ScriptedIngest(files=1, gate=gate), max_jobs=2, db=tmp_path / "jobs.sqlite3")
    first, second = jobs.submit("acme", [Path("/a")]), jobs.submit("acme", [Path("/b")])
    with pytest.raises(BusyError, match="too many unfinished jobs") as refused:
        jobs.submit("acme", [Path("/c")])
    assert rag_status(refused.value) == 429  # the API answers "try again later", not a 400 or a 500
    assert {j.id for j in jobs.list("acme")} == {first.id, second.id}
    gate.set()
    _until(lambda: (jobs.get("acme", first.id) or first).status == "succeeded")
    gate.set()
    jobs.wait(10)
    jobs.shutdown()


def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


_DYING_SERVER = """
import sys, threading
from pathlib import Path
from rag.api.jobs import JobManager
from rag.records import IngestReport

def ingest(paths, *, tenant, progress, on_progress, within):
    report = IngestReport()
    for i, path in enumerate(paths):
        if i == 2:
            threading.Event().wait()  # killed here
        report.files_seen += 1
        report.ingested += 1
        on_progress(report, str(path))
    return report

jobs = JobManager(ingest, db=Path(sys.argv[1]), progress_every_s=0)
print(jobs.submit("acme", [Path(f"/data/{i}.md") for i in range(4)]).id, flush=True)
threading.Event().wait()
"""


@pytest.mark.integration
def test_a_job_of_a_killed_process_is_interrupted_at_the_next_start(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    db = tmp_path / "jobs.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    child = subprocess.Popen([sys.executable, "-c", _DYING_SERVER, str(db)], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None
        job_id = child.stdout.readline().decode().strip()

        def two_files_saved() -> bool:
            with sqlite3.connect(db) as reader:
                row = reader.execute("SELECT files_done FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return row is not None and row[0] == 2

        _until(two_files_saved, timeout=60)
    finally:
        child.kill()  # SIGKILL: no shutdown, no last write
        child.wait(30)
    restarted = JobManager(ScriptedIngest(), db=db)  # its lock died with the process
    seen = restarted.get("acme", job_id)
    assert seen is not None and seen.status == "interrupted" and seen.files_done == 2
    assert seen.unfinished == ["/data/2.md", "/data/3.md"] and seen.report is not None and seen.report.ingested == 2
    restarted.shutdown()


# -- the routes, over a server restarted on the same data directory ---------------------------------------


def test_jobs_a_crash_left_running_are_interrupted_and_retried_by_their_tenant(
    make_rag: Callable[..., Any], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from rag.api import create_app
    from rag.api.job_store import JobRecord, JobStore
    from tests.rag.api.support import ACME, GLOBEX, KEYS, wait_job

    root, data = tmp_path / "shared", tmp_path / "data"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "warranty.md").write_text("# Warranty\n\nThe Helios battery carries a ten year warranty.\n")
    uploaded = data / "uploads" / "acme" / "notes" / "panels.md"
    uploaded.parent.mkdir(parents=True)
    uploaded.write_text("# Panels\n\nEach solar panel is cleaned twice a year.\n")
    # What a server killed mid-job leaves: a paths job, an upload whose files were in place, and one whose were not.
    crashed = JobStore(data / "jobs.sqlite3")
    for job_id, paths, files, within in [
        ("paths", (str(root / "docs"),), (str(root / "docs"),), (str(root),)),
        ("placed", ("notes/panels.md",), (str(uploaded),), ()),
        ("lost", ("lost.md",), None, ()),
        ("odd", ("/data/\x00.md",), ("/data/\x00.md",), (str(root),)),  # a path no request may name now
    ]:
        crashed.save(
            JobRecord(
                id=job_id,
                tenant="acme",
                status="running",
                created_at="2026-01-01T00:00:00+00:00",
                paths=paths,
                staged=job_id in ("placed", "lost"),
                files=files,
                within=within,
                unfinished=files or paths,
            )
        )
    crashed.close()

    rag = make_rag("minilm", data_dir=data, api={"keys": KEYS, "allowed_roots": [str(root)]})
    with TestClient(create_app(rag=rag), client=("127.0.0.1", 50000)) as client:
        seen = client.get("/v1/jobs/paths", headers=ACME).json()
        assert seen["status"] == "interrupted" and seen["unfinished"] == [str(root / "docs")]
        assert "stopped while the job was running" in seen["error"]
        assert client.get("/v1/jobs/placed", headers=ACME).json()["unfinished"] == ["notes/panels.md"]

        assert client.post("/v1/jobs/paths/retry", headers=GLOBEX).status_code == 404
        retried = client.post("/v1/jobs/paths/retry", headers=ACME)
        assert retried.status_code == 202 and retried.json()["job"]["id"] != "paths"
        done = wait_job(client, retried.json()["job"]["id"], ACME)
        assert done["status"] == "succeeded" and done["report"]["ingested"] == 1

        lost = client.post("/v1/jobs/lost/retry", headers=ACME)
        assert lost.status_code == 409 and lost.json()["error"]["code"] == "upload_lost"
        assert "upload them again" in lost.json()["error"]["message"]

        odd = client.post("/v1/jobs/odd/retry", headers=ACME)
        assert odd.status_code == 409 and odd.json()["error"]["code"] == "job_not_retryable"
        placed = client.post("/v1/jobs/placed/retry", headers=ACME).json()["job"]
        assert placed["files_submitted"] == 1
        done = wait_job(client, placed["id"], ACME)
        assert done["status"] == "succeeded" and done["report"]["ingested"] == 1

        again = wait_job(client, client.post(f"/v1/jobs/{done['id']}/retry", headers=ACME).json()["job"]["id"], ACME)
        assert again["report"]["unchanged"] == 1 and again["report"]["ingested"] == 0  # nothing to do twice
        names = sorted(s["name"] for s in client.get("/v1/sources", headers=ACME).json())
        assert names == ["panels.md", "warranty.md"]
        ids = [j["id"] for j in client.get("/v1/jobs", headers=ACME).json()]

    # a restart of the server on the same data directory: every job is still there, finished as it was
    with TestClient(create_app(rag=rag), client=("127.0.0.1", 50000)) as client:
        assert [j["id"] for j in client.get("/v1/jobs", headers=ACME).json()] == ids
        assert client.get(f"/v1/jobs/{again['id']}", headers=ACME).json() == again
        assert client.get("/v1/jobs", headers=GLOBEX).json() == []


def test_a_job_still_running_cannot_be_retried(make_client: Callable[..., Any]) -> None:
    from tests.rag.api.support import ACME

    client = make_client("minilm", api={"ingest_workers": 1})
    gate = threading.Event()
    jobs = client.app.state.services.jobs

    def prepare() -> list[Path]:
        assert gate.wait(10)
        return []

    blocker = jobs.submit("acme", [Path("upload.md")], prepare=prepare)
    refused = client.post(f"/v1/jobs/{blocker.id}/retry", headers=ACME)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "job_not_finished"
    gate.set()


def test_the_job_list_is_paged_newest_first(make_client: Callable[..., Any]) -> None:
    from tests.rag.api.support import ACME, GLOBEX

    client = make_client("minilm")
    jobs = client.app.state.services.jobs
    ids = [jobs.submit("acme", [Path(f"/nowhere/{n}.md")]).id for n in range(5)]
    jobs.submit("globex", [Path("/nowhere/g.md")])
    jobs.wait(30)

    def page(**params: int) -> list[str]:
        response = client.get("/v1/jobs", headers=ACME, params=params)
        assert response.status_code == 200, response.text
        return [job["id"] for job in response.json()]

    assert page() == ids[::-1]
    assert page(limit=2) == ids[:2:-1] and page(limit=2, offset=2) == ids[2:0:-1] and page(offset=4) == ids[:1]
    assert page(offset=5) == []
    assert len(client.get("/v1/jobs", headers=GLOBEX).json()) == 1
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}):
        assert client.get("/v1/jobs", headers=ACME, params=bad).status_code == 422
