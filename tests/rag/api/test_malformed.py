"""Malformed requests on every route: each gets a 4xx in the OpenAI error shape, never a 500, and the server
keeps answering. One app serves the whole table (one upload first, so that names can clash with it)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.api import create_app
from tests.rag.api.support import ACME, KEYS, upload

JSON = {**ACME, "Content-Type": "application/json"}


def _post(path: str, body: Any) -> Callable[[TestClient], Any]:
    return lambda c: c.post(path, headers=JSON, content=json.dumps(body))


def _raw(path: str, content: bytes, headers: dict[str, str] | None = None) -> Callable[[TestClient], Any]:
    return lambda c: c.post(path, headers=headers or JSON, content=content)


def _files(*files: tuple[str, bytes]) -> Callable[[TestClient], Any]:
    return lambda c: c.post("/v1/ingest", headers=ACME, files=[("files", f) for f in files])


def _chat(*messages: Any, **extra: Any) -> Callable[[TestClient], Any]:
    return _post("/v1/chat/completions", {"model": "rag", "messages": list(messages), **extra})


def _user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


CASES: list[tuple[str, Callable[[TestClient], Any]]] = [
    # uploads: names the file system cannot hold, file/folder clashes, empty and odd names
    ("upload file and folder of one name", _files(("c1", b"hello"), ("c1/x.txt", b"hello"))),
    ("upload folder then file of one name", _files(("c2/x.txt", b"hello"), ("c2", b"hello"))),
    ("upload under an uploaded file", _files(("name.txt/x.txt", b"hello"))),
    ("upload over an uploaded folder", _files(("folder", b"hello"))),
    ("upload with an empty name", _files(("", b"hello"))),
    ("upload named only dots", _files(("../..", b"hello"))),
    ("upload named only direction controls", _files(("\u202e\u2066/\u200f", b"hello"))),
    ("upload twice the same name", _files(("twice.md", b"a"), ("twice.md", b"b"))),
    ("upload without files", lambda c: c.post("/v1/ingest", headers=ACME)),
    ("upload as JSON", _post("/v1/ingest", {"files": ["a.txt"]})),
    ("upload form field, not a file", lambda c: c.post("/v1/ingest", headers=ACME, data={"files": "x"})),
    # server-side paths
    ("paths with NUL", _post("/v1/ingest/paths", {"paths": ["/tmp/a\x00b"]})),
    ("paths empty list", _post("/v1/ingest/paths", {"paths": []})),
    ("paths not a list", _post("/v1/ingest/paths", {"paths": "/tmp"})),
    ("paths list of numbers", _post("/v1/ingest/paths", {"paths": [5]})),
    ("paths relative", _post("/v1/ingest/paths", {"paths": ["relative/dir"]})),
    ("paths lone surrogate", _raw("/v1/ingest/paths", b'{"paths": ["/tmp/\\ud800"]}')),
    # jobs and sources: path parameters
    ("job unknown id", lambda c: c.get("/v1/jobs/does-not-exist", headers=ACME)),
    ("job id with controls", lambda c: c.get("/v1/jobs/%00%1b[31m", headers=ACME)),
    ("cancel unknown job", lambda c: c.delete("/v1/jobs/" + "x" * 5000, headers=ACME)),
    ("retry unknown job", lambda c: c.post("/v1/jobs/%00nope/retry", headers=ACME)),
    ("delete unknown source", lambda c: c.delete("/v1/sources/nope.md", headers=ACME)),
    ("delete source with NUL", lambda c: c.delete("/v1/sources/a%00b", headers=ACME)),
    # search: types, ranges, encodings, content types
    ("search query a number", _post("/v1/search", {"query": 5})),
    ("search limit a string", _post("/v1/search", {"query": "x", "limit": "10"})),
    ("search limit huge", _post("/v1/search", {"query": "x", "limit": 10**30})),
    ("search limit negative", _post("/v1/search", {"query": "x", "limit": -1})),
    ("search limit NaN", _raw("/v1/search", b'{"query": "x", "limit": NaN}')),
    ("search page Infinity", _raw("/v1/search", b'{"query": "x", "filters": {"page_from": Infinity}}')),
    ("search page huge", _post("/v1/search", {"query": "x", "filters": {"page_from": 10**30}})),
    ("search pages reversed", _post("/v1/search", {"query": "x", "filters": {"page_from": 5, "page_to": 2}})),
    ("search filters a list", _post("/v1/search", {"query": "x", "filters": []})),
    ("search sources of numbers", _post("/v1/search", {"query": "x", "filters": {"sources": [5]}})),
    ("search unknown source", _post("/v1/search", {"query": "x", "filters": {"sources": ["nope"]}})),
    ("search lone surrogate", _raw("/v1/search", b'{"query": "\\ud800"}')),
    ("search surrogate in filter", _raw("/v1/search", b'{"query": "x", "filters": {"sources": ["\\udfff"]}}')),
    ("search non-UTF-8 body", _raw("/v1/search", b'{"query": "\xff\xfe"}')),
    ("search deeply nested", _raw("/v1/search", b'{"query": ' + b"[" * 5000 + b"]" * 5000 + b"}")),
    ("search body not JSON", _raw("/v1/search", b"{not json")),
    ("search body a JSON list", _post("/v1/search", [1, 2])),
    ("search as text/plain", _raw("/v1/search", b'{"query": "x"}', {**ACME, "Content-Type": "text/plain"})),
    ("search image a number", _post("/v1/search", {"image": 5})),
    ("search image bad base64", _post("/v1/search", {"image": "data:image/png;base64,!!!!"})),
    ("search image wrong mime", _post("/v1/search", {"image": "data:text/plain;base64,aGVsbG8="})),
    ("search image a URL", _post("/v1/search", {"image": "http://127.0.0.1:1/cat.png"})),
    ("search image a path", _post("/v1/search", {"image": "/etc/passwd"})),
    ("search empty", _post("/v1/search", {})),
    # answers
    ("answer question a number", _post("/v1/answer", {"question": 5})),
    ("answer history a string", _post("/v1/answer", {"question": "x", "history": "x"})),
    (
        "answer history system role",
        _post("/v1/answer", {"question": "x", "history": [{"role": "system", "content": "x"}]}),
    ),
    ("answer stream a string", _post("/v1/answer", {"question": "x", "stream": "x"})),
    (
        "answer stream, unknown source",
        _post("/v1/answer", {"question": "x", "stream": True, "filters": {"sources": ["n"]}}),
    ),
    ("answer lone surrogate", _raw("/v1/answer", b'{"question": "\\ud800"}')),
    ("answer lone surrogate streamed", _raw("/v1/answer", b'{"question": "\\ud800", "stream": true}')),
    # OpenAI-compatible chat
    ("chat image_url a number", _chat(_user([{"type": "image_url", "image_url": 5}]))),
    ("chat image_url.url a number", _chat(_user([{"type": "image_url", "image_url": {"url": 5}}]))),
    ("chat image_url missing", _chat(_user([{"type": "image_url"}]))),
    ("chat text part a number", _chat(_user([{"type": "text", "text": 5}]))),
    ("chat content part not an object", _chat(_user([5]))),
    ("chat content an object", _chat(_user({"a": 1}))),
    ("chat no messages", _chat()),
    ("chat messages a string", _post("/v1/chat/completions", {"model": "rag", "messages": "hi"})),
    ("chat only a system message", _chat({"role": "system", "content": "x"})),
    ("chat model a number", _post("/v1/chat/completions", {"model": 5, "messages": [_user("x")]})),
    ("chat unknown model", _post("/v1/chat/completions", {"model": "gpt-9", "messages": [_user("x")]})),
    (
        "chat lone surrogate",
        _raw("/v1/chat/completions", b'{"model": "rag", "messages": [{"role": "user", "content": "\\ud800"}]}'),
    ),
    (
        "chat surrogate in a part",
        _raw(
            "/v1/chat/completions",
            b'{"model": "rag", "messages": [{"role": "user", "content": [{"type": "text", "text": "\\ud800"}]}]}',
        ),
    ),
    ("chat image bad base64", _chat(_user([{"type": "image_url", "image_url": {"url": "data:image/png;base64,!!"}}]))),
    (
        "chat image from the web",
        _chat(_user([{"type": "image_url", "image_url": {"url": "http://127.0.0.1:1/x.png"}}])),
    ),
    ("chat body null", _raw("/v1/chat/completions", b"null")),
    # media and others
    ("media unknown", lambda c: c.get("/v1/media/acme/nope.jpg", headers=ACME)),
    ("media size unknown", lambda c: c.get("/v1/media/acme/nope.jpg?size=huge", headers=ACME)),
    ("media forged signature", lambda c: c.get("/v1/media/acme/x.jpg?exp=1&sig=abc")),
    ("unknown route", lambda c: c.get("/v1/nothing-here", headers=ACME)),
    ("wrong method", lambda c: c.put("/v1/search", headers=ACME)),
    ("models with a bad key", lambda c: c.get("/v1/models", headers={"Authorization": "Bearer nope"})),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, loaded_models: Callable[[str], Any]) -> Iterator[TestClient]:
    from rag.config import Settings
    from rag.engine import RAG

    root = tmp_path_factory.mktemp("malformed")
    (root / "inbox").mkdir()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=root / "data",
        models={"profile": "offline"},
        api={"keys": KEYS, "allowed_roots": [str(root / "inbox")]},
    )
    rag = RAG(settings, models=loaded_models("minilm"), reranker=None, generator=None)
    with TestClient(create_app(rag=rag), client=("127.0.0.1", 50000), raise_server_exceptions=False) as c:
        job = upload(c, ACME, {"name.txt": b"Some text about panels.", "folder/inside.txt": b"More text on panels."})
        assert job["status"] == "succeeded", job
        yield c
    rag.close()


@pytest.mark.parametrize(("label", "send"), CASES, ids=[c[0] for c in CASES])
def test_a_malformed_request_gets_a_clear_4xx_and_the_server_goes_on(client: TestClient, label: str, send: Any):
    response = send(client)
    assert 400 <= response.status_code < 500, (label, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), label
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert set(error) >= {"type", "message", "code"} and error["message"], error
    assert "\x00" not in error["message"] and "\ud800" not in response.text
    assert client.get("/healthz").status_code == 200
    after = client.post("/v1/search", headers=ACME, json={"query": "panels"})
    assert after.status_code == 200 and after.json()["hits"], after.text


def test_the_table_covers_every_route_and_forty_requests() -> None:
    assert len(CASES) >= 40
    app = create_app()
    routes = {r.path for r in app.routes if getattr(r, "path", "").startswith("/v1")}
    covered = ["/v1/ingest", "/v1/ingest/paths", "/v1/jobs", "/v1/sources", "/v1/search", "/v1/answer"]
    covered += ["/v1/chat/completions", "/v1/models", "/v1/media"]
    for route in routes:
        assert any(route.startswith(prefix) for prefix in covered), route


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("é" * 200 + ".txt", "é" * 98 + ".txt"),  # 2 bytes each: cut to 200 bytes (file systems hold 255)
        ("a" * 300 + ".txt", "a" * 196 + ".txt"),  # the extension is kept
        ("d" * 300 + "/x.md", "d" * 200 + "/x.md"),
        ("notes\u202edm.txt", "notesdm.txt"),  # no direction override that disguises the extension
    ],
)
def test_long_or_disguised_upload_names_are_stored_cut_with_their_extension(client: TestClient, name: str, stored: str):
    job = upload(client, ACME, {name: b"A short note about inverters."})
    assert job["status"] in ("succeeded", "completed_with_errors"), job
    names = [s["name"] for s in client.get("/v1/sources", headers=ACME).json()]
    assert Path(stored).name in names, names
    assert all(len(part.encode()) <= 200 for part in Path(stored).parts)
