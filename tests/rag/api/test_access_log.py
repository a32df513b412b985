"""The access log: one line per request with route, status and duration; never a key, a signature or a query."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.rag.api.support import ACME

KEY = ACME["Authorization"].removeprefix("Bearer ")
SIG = "c2lnbmF0dXJlLXNlY3JldA"
QUESTION = "what does the confidential warranty say"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "rag.access"]


def test_one_line_per_request_without_secrets(make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = make_client("minilm")
    caplog.set_level(logging.INFO, logger="rag.access")
    caplog.clear()
    assert client.get(f"/v1/sources?sig={SIG}&exp=99", headers=ACME).status_code == 200
    assert client.get(f"/v1/media/acme/abc.png?sig={SIG}&exp=1", headers={"X-API-Key": KEY}).status_code in (403, 404)
    assert client.post("/v1/search", headers=ACME, json={"query": QUESTION}).status_code == 200
    assert client.get("/v1/sources", headers={"Authorization": "Bearer wrong-key-0123456789"}).status_code == 401
    lines = _lines(caplog)
    assert len(lines) == 4, lines
    sources, media, search, refused = lines
    assert sources.startswith("GET /v1/sources 200 ") and sources.endswith("tenant=acme")
    assert media.startswith("GET /v1/media/{ref:path} 40")
    assert search.startswith("POST /v1/search 200 ")
    assert refused.startswith("GET /v1/sources 401 ") and refused.endswith("tenant=-")
    assert all(line.split()[3].endswith("ms") for line in lines)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("rag"))
    for secret in (KEY, SIG, "wrong-key", QUESTION, "exp=", "abc.png"):
        assert secret not in logged


def test_the_access_log_can_be_turned_off(make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = make_client("minilm", api={"access_log": False})
    caplog.set_level(logging.INFO, logger="rag.access")
    assert client.get("/v1/sources", headers=ACME).status_code == 200
    assert _lines(caplog) == []


@pytest.mark.parametrize("enabled", [True, False])
def test_rag_serve_shows_the_access_log(monkeypatch: pytest.MonkeyPatch, enabled: bool) -> None:
    import uvicorn

    from rag.api.access_log import AccessLog
    from rag.cli import main

    ran: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(app=app, **kw))
    monkeypatch.setattr(logging.getLogger("rag.access"), "level", logging.NOTSET)
    monkeypatch.setenv("RAG_API__ACCESS_LOG", str(enabled).lower())
    assert main(["serve"]) == 0
    assert ran["access_log"] is False  # uvicorn's own line has the query string
    assert any(m.cls is AccessLog for m in ran["app"].user_middleware) is enabled
    # Shown even at the default RAG_LOG_LEVEL=WARNING.
    assert (logging.getLogger("rag.access").level == logging.INFO) is enabled
