"""The jobs database: WAL, rows round-trip, and it never stops a server from starting (corrupt, held, unusable)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from rag.api.job_store import JobRecord, JobStore
from rag.api.jobs import JobManager
from rag.records import FileFailure, IngestReport


def _record(job_id: str = "j1", **changes: object) -> JobRecord:
    values: dict[str, object] = {
        "id": job_id,
        "tenant": "acme",
        "status": "succeeded",
        "created_at": "2026-01-01T00:00:00+00:00",
        "paths": ("/data/a.md",),
        "staged": False,
        "files": ("/data/a.md",),
        "within": ("/data",),
        "unfinished": (),
        **changes,
    }
    return JobRecord(**values)  # type: ignore[arg-type]


def test_records_round_trip_in_a_wal_database(tmp_path: Path) -> None:
    report = IngestReport(files_seen=1, failed=[FileFailure(path="/data/\udcff.md", reason="bad")])
    record = _record(status="running", current="/data/\udcff.md", report=report, error="\u202e", files=None)
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.save(record)
    store.save(_record("j2"))
    store.delete("j2")
    store.close()
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("SELECT count(*) FROM jobs").fetchone() == (1,)
    db.close()
    again = JobStore(tmp_path / "jobs.sqlite3")
    assert again.load() == [record] and again.persistent
    again.close()


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, it is a note left by someone" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
)
def test_a_corrupt_database_is_moved_aside_and_the_server_starts_with_a_new_one(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "jobs.sqlite3"
    db.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="rag.api.job_store"):
        jobs = JobManager(lambda *a, **k: IngestReport(), db=db)
    aside = list(tmp_path.glob("jobs.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert "cannot be read" in caplog.text and aside[0].name in caplog.text
    job = jobs.submit("acme", [Path("/a")])
    jobs.wait(10)
    jobs.shutdown()
    restarted = JobManager(lambda *a, **k: IngestReport(), db=db)
    assert [j.id for j in restarted.list("acme")] == [job.id]
    restarted.shutdown()


def test_a_database_of_a_newer_schema_is_moved_aside(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    db.execute("PRAGMA user_version=99")
    db.close()
    JobStore(tmp_path / "jobs.sqlite3").close()
    assert len(list(tmp_path.glob("jobs.sqlite3.corrupt-*"))) == 1


def test_a_database_another_server_holds_leaves_this_one_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = JobStore(tmp_path / "jobs.sqlite3")
    first.save(_record(status="running"))
    with caplog.at_level(logging.WARNING, logger="rag.api.job_store"):
        second = JobStore(tmp_path / "jobs.sqlite3")
    assert not second.persistent and second.load() == [] and "another running server" in caplog.text
    second.save(_record("j2"))
    second.close()
    assert [r.id for r in first.load()] == ["j1"] and first.load()[0].status == "running"  # not interrupted
    first.close()
    assert JobStore(tmp_path / "jobs.sqlite3").persistent  # released with the first server


def test_an_unusable_data_directory_leaves_jobs_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "data").write_text("a file where the data directory should be")
    with caplog.at_level(logging.WARNING, logger="rag.api.job_store"):
        store = JobStore(tmp_path / "data" / "jobs.sqlite3")
    assert not store.persistent and "in memory only" in caplog.text
    store.save(_record())
    assert [r.id for r in store.load()] == ["j1"]
    store.close()


def test_a_row_that_cannot_be_read_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.save(_record("bad"))
    store.save(_record("good"))
    store.close()
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    db.execute("UPDATE jobs SET report = ? WHERE id = 'bad'", ('{"files_seen": "many"}',))
    db.commit()
    db.close()
    with caplog.at_level(logging.WARNING, logger="rag.api.job_store"):
        again = JobStore(tmp_path / "jobs.sqlite3")
    assert [r.id for r in again.load()] == ["good"] and "job bad" in caplog.text
    again.close()
