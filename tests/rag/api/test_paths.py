"""Server-side paths stay inside the allowed roots: what a job reports, walks and reads (issue 12).

A tree per test: ``inbox`` (the allowed root, with a real ``sub`` folder and links out) and, beside it,
``secret`` with files whose names must never appear in a response.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.rag.api.support import ACME, upload, wait_job

NOTE = b"# Warranty\n\nThe panels carry a ten year warranty.\n"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root, secret = tmp_path / "inbox", tmp_path / "secret"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "note.md").write_bytes(NOTE)
    secret.mkdir()
    for name in ("SECRET-a.md", "SECRET-b.conf", "SECRET-c.txt"):
        (secret / name).write_bytes(b"# top secret\n")
    (root / "link").symlink_to(secret, target_is_directory=True)
    (root / "sub" / "file.md").symlink_to(secret / "SECRET-a.md")
    return root, secret


def _client(make_client: Any, tmp_path: Path, root: Path, **api: Any) -> Any:
    return make_client("minilm", data_dir=tmp_path / "data", api={"allowed_roots": [str(root)], **api})


def _post(client: Any, *paths: str) -> tuple[int, dict[str, Any]]:
    """The answer to a paths request: the error, or the finished job."""
    response = client.post("/v1/ingest/paths", headers=ACME, json={"paths": list(paths)})
    if response.status_code != 202:
        return response.status_code, response.json()["error"]
    return 202, wait_job(client, response.json()["job"]["id"], ACME)


def test_a_pattern_climbing_out_of_a_real_folder_is_refused_before_anything_is_listed(
    make_client: Any, tmp_path: Path, tree: tuple[Path, Path]
) -> None:
    root, _ = tree
    client = _client(make_client, tmp_path, root)
    for pattern in (f"{root}/s[u]b/../../secret/*", f"{root}/sub/../../secret/*.md", f"{root}/../secret"):
        status, error = _post(client, pattern)
        assert (status, error["code"]) == (400, "parent_path"), pattern
        assert "'..' is not allowed" in error["message"]
    jobs = json.dumps(client.get("/v1/jobs", headers=ACME).json())
    assert "SECRET" not in jobs and client.get("/v1/sources", headers=ACME).json() == []


@pytest.mark.parametrize(
    ("present", "absent"),
    [
        ("{secret}/SECRET-a.md", "{secret}/NONE.md"),
        ("{secret}/SECRET-*.md", "{secret}/NONE-*.md"),
        ("{root}/link/SECRET-a.md", "{root}/link/NONE.md"),
        ("{root}/link/SECRET-*", "{root}/link/NONE-*"),
        ("{root}/l[i]nk/SECRET-a.md", "{root}/l[i]nk/NONE.md"),
        ("{root}/s[u]b/../../secret/SECRET-a.md", "{root}/s[u]b/../../secret/NONE.md"),
    ],
)
def test_a_file_outside_gets_the_same_answer_whether_it_exists_or_not(
    make_client: Any, tmp_path: Path, tree: tuple[Path, Path], present: str, absent: str
) -> None:
    root, secret = tree
    client = _client(make_client, tmp_path, root)

    def answer(shape: str) -> str:
        """Status, and the error or what the report says, with the path given (quoted back) taken out."""
        given = shape.format(root=root, secret=secret)
        status, body = _post(client, given)
        if status == 202:
            body = {k: body["report"][k] for k in ("failed", "skipped", "omitted", "ingested", "files_seen")}
        return f"{status} {json.dumps(body)}".replace(json.dumps(given)[1:-1], "<given>")

    shown, hidden = answer(present), answer(absent)
    assert shown == hidden
    assert "SECRET" not in shown


def test_links_inside_a_root_are_never_followed_out(make_client: Any, tmp_path: Path, tree: tuple[Path, Path]) -> None:
    root, _ = tree
    client = _client(make_client, tmp_path, root)
    status, job = _post(client, str(root), f"{root}/**", f"{root}/*/*")
    assert status == 202 and job["status"] == "succeeded", job
    report = job["report"]
    assert report["ingested"] == 1 and report["failed"] == []
    assert sorted((Path(f["path"]).relative_to(root).as_posix(), f["reason"]) for f in report["skipped"]) == [
        ("link", "link leads outside the allowed roots"),
        ("sub/file.md", "link leads outside the allowed roots"),
    ]
    assert "SECRET" not in json.dumps(client.get("/v1/jobs", headers=ACME).json())
    assert [s["name"] for s in client.get("/v1/sources", headers=ACME).json()] == ["note.md"]


def test_the_servers_own_folders_are_outside_the_roots(make_client: Any, tmp_path: Path) -> None:
    # The root holds the data folder: one tenant must not ingest another's uploads (or the store) by path.
    client = make_client("minilm", data_dir=tmp_path / "data", api={"allowed_roots": [str(tmp_path)]})
    upload(client, ACME, {"mine.md": NOTE})
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "shared.md").write_bytes(NOTE)
    for given in (f"{tmp_path}/data", f"{tmp_path}/data/uploads/acme/mine.md", f"{tmp_path}/data/*/*"):
        status, error = _post(client, given)
        assert (status, error["code"]) == (403, "path_not_allowed"), given
    status, job = _post(client, str(tmp_path))
    assert status == 202 and job["report"]["ingested"] == 1, job  # docs/shared.md
    assert [(Path(f["path"]).name, f["reason"]) for f in job["report"]["skipped"]] == [
        ("data", "outside the allowed roots")
    ]


def test_the_walk_stops_at_its_limit_and_says_so(make_client: Any, tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    for i in range(8):
        (root / f"{i}.md").write_bytes(NOTE + str(i).encode())
    client = _client(make_client, tmp_path, root, max_walk_files=3)
    status, job = _post(client, str(root))
    assert status == 202 and job["status"] == "completed_with_errors"
    report = job["report"]
    assert report["ingested"] == 3
    assert report["stopped"] == "stopped after 3 files and folders (RAG_API__MAX_WALK_FILES); ingest a narrower folder"
    assert [(f["path"], f["stage"]) for f in report["failed"]] == [(str(root), "limit")]


def test_a_job_report_lists_a_bounded_number_of_files_and_counts_the_rest(make_client: Any, tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    (root / "note.md").write_bytes(NOTE)
    for i in range(40):
        (root / f"data-{i:02d}.xyz").write_bytes(b"x")
    for i in range(4):
        (root / f"raw-{i}.bin").write_bytes(b"x")
    for i in range(5):
        (root / f"table-{i}.csv").write_bytes(b"x")
    client = _client(make_client, tmp_path, root, max_report_entries=3)
    status, job = _post(client, str(root), *(f"{root}/gone-{i}.md" for i in range(6)))
    assert status == 202
    report = job["report"]
    assert report["files_seen"] == 1 + 40 + 4 + 5 + 6 and report["ingested"] == 1  # exact
    assert len(report["skipped"]) == 3 and len(report["failed"]) == 3
    omitted = {(o["outcome"], o["reason"]): o["count"] for o in report["omitted"]}
    assert omitted == {
        # At most 3 reason groups per list: 2 named, the rest under "(other reasons)".
        ("skipped", "unsupported file type '.xyz'"): 37,
        ("skipped", "unsupported file type '.bin'"): 4,
        ("skipped", "(other reasons)"): 5,
        ("failed", "no such file or directory"): 3,
    }
    assert job["error"] == "6 of 56 files failed"


@pytest.mark.parametrize(
    ("name", "data"),
    [("x.mp4", b"\x00not a video at all" * 50), ("x.png", b"\x89PNG\r\n\x1a\n broken"), ("d/x.pdf", b"%PDF-1.4 junk")],
)
def test_a_failed_upload_is_shown_by_its_uploaded_name_in_path_and_reason(
    make_client: Any, tmp_path: Path, name: str, data: bytes
) -> None:
    client = make_client("minilm", data_dir=tmp_path / "data")
    job = upload(client, ACME, {name: data})
    assert job["status"] == "completed_with_errors", job
    [failure] = job["report"]["failed"]
    assert failure["path"] == name
    shown = json.dumps(client.get("/v1/jobs", headers=ACME).json())
    assert str(tmp_path) not in shown and "uploads" not in shown, shown


def test_a_file_name_that_is_not_utf8_fails_with_its_reason_and_the_job_still_shows(
    make_client: Any, tmp_path: Path
) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    (root / "ok.md").write_bytes(NOTE)
    (root / os.fsdecode(b"caf\xe9.md")).write_bytes(NOTE)  # a latin-1 name: not valid UTF-8
    client = _client(make_client, tmp_path, root)
    status, job = _post(client, str(root))
    assert status == 202 and job["status"] == "completed_with_errors", job
    [failed] = job["report"]["failed"]
    assert failed["path"] == f"{root}/caf\\xe9.md" and "not valid UTF-8" in failed["reason"]
    assert client.get("/v1/jobs", headers=ACME).status_code == 200
    assert [s["path"] for s in client.get("/v1/sources", headers=ACME).json()] == [str(root / "ok.md")]
