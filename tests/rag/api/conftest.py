"""API fixtures: an app over tiny/bundled models, a TestClient per tenant key, and job polling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.api import create_app
from tests.rag.api.support import KEYS


@pytest.fixture
def make_client(make_rag: Callable[..., Any]) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def factory(kind: str = "clip", *, keys: dict[str, str] | None = None, host: str = "127.0.0.1", **kw: Any):
        api = {"keys": KEYS if keys is None else keys, **kw.pop("api", {})}
        rag = make_rag(kind, api=api, **kw)
        client = TestClient(create_app(rag=rag), client=(host, 50000), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)
