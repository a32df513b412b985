"""The store contract runs against every backend: Qdrant Edge, and qdrant-client (its local mode stands in for a
Qdrant server, since none runs here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.config import QdrantSettings
from rag.store import EdgeStore, QdrantStore, Store

ENGINES = ("edge", "local")


def open_store(engine: str, path: Path, **settings: Any) -> Store:
    cls = EdgeStore if engine == "edge" else QdrantStore
    store = cls(QdrantSettings(**{"collection": "t", "embedded": engine, **settings}), path=path)
    store.open()
    return store


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stores() -> Iterator[Callable[..., Store]]:
    """:func:`open_store` for any engine and path; every store it opened is closed after the test, also when the
    test fails (closing twice is harmless: a test may close one to open its path again)."""
    opened: list[Store] = []

    def factory(engine: str, path: Path, **settings: Any) -> Store:
        store = open_store(engine, path, **settings)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def make_store(engine: str, tmp_path: Path, stores: Callable[..., Store]) -> Callable[..., Store]:
    """A store of the test's engine (each test runs on every engine), at ``tmp_path / "q"`` by default."""

    def factory(path: Path | None = None, **settings: Any) -> Store:
        return stores(engine, path or tmp_path / "q", **settings)

    return factory
