"""The server without its store: it starts, says why on /readyz and with 503s, and connects when it can."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

from rag.api import readiness
from rag.api.readiness import StoreConnection
from rag.errors import SchemaMismatchError, StoreUnavailableError
from tests.rag.api.support import ACME

SECRET = "hunter2-qdrant-password"

# qdrant-client checks the server's version in a thread of its own and warns when it gets no answer.
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version:UserWarning")


@pytest.fixture(autouse=True)
def _quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readiness, "_FIRST_WAIT_S", 0.01)


def _refusing_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed on return: connections are refused


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


def _until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not reached in {timeout}s: {what}")


def _server_client(make_client: Callable[..., TestClient], port: int, **qdrant: Any) -> TestClient:
    url = f"http://admin:{SECRET}@127.0.0.1:{port}"
    return make_client("minilm", qdrant={"url": url, "timeout_s": 1, "reconnect_max_s": 0.05, **qdrant})


def _store_check(client: TestClient, contains: str) -> dict[str, Any] | None:
    ready = client.get("/readyz")
    assert ready.status_code in (200, 503)
    body: dict[str, Any] = ready.json()
    return body if ready.status_code == 503 and contains in body["checks"]["store"] else None


def _assert_store_routes_refuse(client: TestClient, reason: str) -> None:
    chat = {"model": "rag", "messages": [{"role": "user", "content": "warranty?"}]}
    for method, path, body in (
        ("POST", "/v1/search", {"query": "warranty"}),
        ("POST", "/v1/answer", {"question": "warranty?"}),
        ("POST", "/v1/chat/completions", chat),
        ("GET", "/v1/sources", None),
        ("POST", "/v1/ingest/paths", {"paths": ["/tmp"]}),
        ("POST", "/v1/jobs/0123/retry", None),
        ("DELETE", "/v1/sources/a.md", None),
    ):
        response = client.request(method, path, headers=ACME, json=body)
        assert response.status_code == 503, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "store_unavailable" and reason in error["message"], (path, error)
        assert SECRET not in response.text and "127.0.0.1" not in response.text and "Traceback" not in response.text
    assert client.get("/v1/models", headers=ACME).status_code == 200  # needs no store


def test_a_refusing_qdrant_leaves_the_server_up_and_not_ready(make_client: Any) -> None:
    client = _server_client(make_client, _refusing_port())
    assert client.get("/healthz").json() == {"status": "ok"}
    body = _until(lambda: _store_check(client, "Connection refused"), "readyz reports the refused connection")
    assert body["status"] == "not ready" and body["checks"]["models"] == "ok"
    assert "reconnecting" in body["checks"]["store"] and SECRET not in str(body)
    _assert_store_routes_refuse(client, "Connection refused")


def test_a_hanging_qdrant_times_out_and_requests_fail_fast(make_client: Any, hanging_port: int) -> None:
    client = _server_client(make_client, hanging_port)
    assert client.get("/healthz").status_code == 200
    # Before the first attempt has timed out, requests are refused at once rather than waiting for it.
    _assert_store_routes_refuse(client, "")
    _until(lambda: _store_check(client, "timed out"), "readyz reports the timeout (RAG_QDRANT__TIMEOUT_S)")
    _assert_store_routes_refuse(client, "timed out")


def test_the_server_becomes_ready_once_qdrant_answers(make_client: Any, tmp_path: Path) -> None:
    client = _server_client(make_client, _refusing_port())
    _until(lambda: _store_check(client, "Connection refused"), "first attempts refused")
    rag = client.app.state.services.rag  # type: ignore[attr-defined]
    # "Qdrant is back": the same store object now reaches a working Qdrant (a local-mode client stands in for it).
    refused, rag._store._client = rag._store._client, QdrantClient(path=str(tmp_path / "qdrant"))
    if refused is not None:
        refused.close()
    _until(lambda: client.get("/readyz").status_code == 200, "ready after reconnecting")
    search = client.post("/v1/search", headers=ACME, json={"query": "warranty"})
    assert search.status_code == 200 and search.json()["hits"] == []


def test_a_store_lost_after_start_gives_503s_then_reconnects(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from qdrant_client.http.exceptions import ResponseHandlingException

    client = make_client("minilm", qdrant={"embedded": "local"})  # qdrant-client, standing in for a server's
    assert client.get("/readyz").status_code == 200
    qdrant = client.app.state.services.rag._store._client  # type: ignore[attr-defined]
    down = threading.Event()
    down.set()
    real_query, real_exists = qdrant.query_points, qdrant.collection_exists

    def query_points(*args: Any, **kwargs: Any) -> Any:
        if down.is_set():
            raise ResponseHandlingException(ConnectionError("[Errno 111] Connection refused"))
        return real_query(*args, **kwargs)

    def collection_exists(*args: Any, **kwargs: Any) -> Any:
        if down.is_set():
            raise ResponseHandlingException(ConnectionError("[Errno 111] Connection refused"))
        return real_exists(*args, **kwargs)

    monkeypatch.setattr(qdrant, "query_points", query_points)
    monkeypatch.setattr(qdrant, "collection_exists", collection_exists)  # reconnection fails too, for now
    lost = client.post("/v1/search", headers=ACME, json={"query": "warranty"})  # a 503, not a 500
    assert lost.status_code == 503 and lost.json()["error"]["code"] == "store_unavailable"
    assert "Connection refused" in lost.json()["error"]["message"]
    _assert_store_routes_refuse(client, "Connection refused")  # refused at once, Qdrant is not asked
    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz").json()["search"] is None  # only said when the store answers
    down.clear()
    _until(lambda: client.get("/readyz").status_code == 200, "ready after reconnecting")
    assert client.post("/v1/search", headers=ACME, json={"query": "warranty"}).status_code == 200


# -- StoreConnection alone -------------------------------------------------------------------------


class _Scripted:
    """A connect function that raises the given errors in turn, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def _unavailable() -> StoreUnavailableError:
    return StoreUnavailableError("Qdrant at http://x cannot be reached", reason="timed out")


def test_transient_errors_are_retried_until_connected() -> None:
    connect = _Scripted(_unavailable(), _unavailable(), _unavailable())
    connection = StoreConnection(connect, max_wait_s=0.02)
    assert connection.problem == "connecting to the store"
    connection.start()
    try:
        _until(lambda: connection.problem is None, "connected")
    finally:
        connection.close()
    assert connect.calls == 4


def test_an_error_retrying_cannot_fix_is_reported_and_not_retried() -> None:
    mismatch = SchemaMismatchError("collection 'rag' was built with other models")
    connect = _Scripted(_unavailable(), mismatch)
    connection = StoreConnection(connect, max_wait_s=0.02)
    connection.start()
    try:
        _until(lambda: connection.problem == str(mismatch), "the mismatch reported")
        assert connection._thread is not None
        connection._thread.join(5)
        assert not connection._thread.is_alive()
    finally:
        connection.close()
    assert connect.calls == 2


def test_a_first_attempt_in_the_callers_thread() -> None:
    connection = StoreConnection(_Scripted(_unavailable()), max_wait_s=0.02)
    connection.connect()
    assert connection.problem == "Qdrant cannot be reached (timed out); reconnecting in the background"
    connection.start()
    try:
        _until(lambda: connection.problem is None, "connected by the thread")
        connection.lost("connection reset")
        assert connection.problem is not None and "connection reset" in connection.problem
        _until(lambda: connection.problem is None, "reconnected")
    finally:
        connection.close()


def test_readyz_says_how_searches_run_when_the_store_is_up(make_client: Any) -> None:
    client = make_client("minilm")  # the embedded store, Qdrant Edge
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["search"] in ("no collection yet", "exact search (0 points)")
