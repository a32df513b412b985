"""Limits (upload, request, files, query length) and error bodies: always JSON, never a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.rag.api.support import ACME, upload


def _error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def test_a_file_over_the_upload_limit_is_refused_and_nothing_is_stored(make_client: Any) -> None:
    client = make_client("minilm", api={"max_upload_mb": 0.01})
    files = [("files", ("small.md", b"# ok\n\nfine\n")), ("files", ("big.md", b"x" * 20_000))]
    error = _error(client.post("/v1/ingest", headers=ACME, files=files), 413, "file_too_large")
    assert "big.md" in error["message"]
    assert client.get("/v1/jobs", headers=ACME).json() == []
    uploads = client.app.state.services.settings.upload_dir
    assert uploads.is_dir()  # the accepted file was staged there before the big one was refused
    assert [p for p in uploads.rglob("*") if p.is_file()] == []


def test_request_body_limits(make_client: Any) -> None:
    client = make_client("minilm", api={"max_request_mb": 0.05, "max_body_mb": 0.01})
    files = [("files", (f"f{i}.md", b"y" * 10_000)) for i in range(8)]
    _error(client.post("/v1/ingest", headers=ACME, files=files), 413, "body_too_large")
    _error(client.post("/v1/search", headers=ACME, json={"query": "z" * 20_000}), 413, "body_too_large")

    def chunked() -> Any:  # no Content-Length: the limit is enforced while reading
        yield json.dumps({"query": "z" * 20_000}).encode()

    headers = {**ACME, "Content-Type": "application/json"}
    _error(client.post("/v1/search", headers=headers, content=chunked()), 413)


def test_too_many_files(make_client: Any) -> None:
    client = make_client("minilm", api={"max_files": 2})
    files = [("files", (f"f{i}.md", b"# t\n\nbody\n")) for i in range(3)]
    _error(client.post("/v1/ingest", headers=ACME, files=files), 413, "too_many_files")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"query": "q" * 101}, 413, "query_too_long"),
        ({"query": "   "}, 400, "empty_query"),
        ({"query": "ok", "limit": 0}, 422, "validation_error"),
        ({"query": "ok", "unknown": 1}, 422, "validation_error"),
        ({"image": "https://example.com/cat.png"}, 400, "bad_image"),
        ({"image": "data:image/png;base64,bm90IGFuIGltYWdl"}, 400, "image_query_unsupported"),  # text models only
        ({"query": "ok", "filters": {"modalities": ["smell"]}}, 422, "validation_error"),
    ],
)
def test_bad_search_requests(make_client: Any, body: dict[str, Any], status: int, code: str) -> None:
    client = make_client("minilm", api={"max_query_chars": 100})
    error = _error(client.post("/v1/search", headers=ACME, json=body), status, code)
    assert "q" * 50 not in error["message"]  # inputs are not echoed back


def test_malformed_json_unknown_routes_and_methods(make_client: Any) -> None:
    client = make_client("minilm")
    headers = {**ACME, "Content-Type": "application/json"}
    _error(client.post("/v1/search", headers=headers, content=b"{not json"), 422)
    _error(client.get("/v1/nothing-here", headers=ACME), 404)
    _error(client.put("/v1/search", headers=ACME), 405)
    _error(client.get("/v1/jobs/does-not-exist", headers=ACME), 404, "job_not_found")
    _error(client.post("/v1/ingest", headers=ACME), 422)  # no files


def test_unexpected_errors_become_a_500_with_an_incident_id(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client("minilm")

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(client.app.state.services.rag, "search", explode)
    error = _error(client.post("/v1/search", headers=ACME, json={"query": "x"}), 500, "internal_error")
    assert "incident" in error["message"] and "secret internal detail" not in error["message"]


def test_a_bad_uploaded_file_fails_in_the_job_report_not_the_request(make_client: Any) -> None:
    client = make_client("minilm")
    job = upload(client, ACME, {"good.md": b"# Good\n\nreadable text\n", "broken.pdf": b"%PDF-1.7 truncated"})
    assert job["status"] == "completed_with_errors"
    (failed,) = job["report"]["failed"]
    assert failed["path"] == "broken.pdf" and failed["reason"]
    assert [s["name"] for s in client.get("/v1/sources", headers=ACME).json()] == ["good.md"]


@pytest.mark.parametrize("name", ["../../etc/passwd.md", "/abs/path.md", "..\\..\\win.md"])
def test_upload_names_cannot_escape_the_tenant_folder(make_client: Any, name: str) -> None:
    client = make_client("minilm")
    job = upload(client, ACME, {name: b"# T\n\ntext\n"})
    assert job["status"] == "succeeded", job
    (source,) = client.get("/v1/sources", headers=ACME).json()
    assert ".." not in source["path"] and not source["path"].startswith("/")
    uploads = client.app.state.services.settings.upload_dir.resolve() / "acme"
    assert all(p.resolve().is_relative_to(uploads) for p in uploads.rglob("*"))
