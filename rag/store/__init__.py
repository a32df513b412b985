"""The vector store role: one protocol (:class:`Store`), two backends.

- :class:`EdgeStore` (:mod:`rag.store.edge`): Qdrant Edge, Qdrant's engine inside this process; the embedded
  default (``RAG_QDRANT__PATH`` or ``DATA_DIR/qdrant``), owned by one process.
- :class:`QdrantStore` (:mod:`rag.store.qdrant`): qdrant-client, for a Qdrant server or cluster
  (``RAG_QDRANT__URL``), or its local mode (``RAG_QDRANT__EMBEDDED=local``), the pure-Python stand-in for the
  server's API.

:func:`make_store` picks one from the settings. The records, the point ids, the schema check and the payload
conditions are shared (:mod:`rag.store.records`, :mod:`rag.store.schema`, :mod:`rag.store.filters`), and so is
the logic of finished versions (:mod:`rag.store.base`); no backend type or Qdrant type leaves the package.
"""

from __future__ import annotations

from pathlib import Path

from rag.config import QdrantSettings
from rag.store.edge import EdgeStore
from rag.store.protocol import Store, StoreCapabilities
from rag.store.qdrant import QdrantStore
from rag.store.records import (
    UNFINISHED,
    PointRecord,
    QueryVector,
    SourceRecord,
    StoredHit,
    StoreFilter,
    UnfinishedVersion,
    point_id,
    source_point_id,
)
from rag.store.schema import SCHEMA_VERSION, CollectionSchema, SparseSchema, VectorSchema

__all__ = [
    "SCHEMA_VERSION",
    "UNFINISHED",
    "CollectionSchema",
    "EdgeStore",
    "PointRecord",
    "QdrantStore",
    "QueryVector",
    "SourceRecord",
    "SparseSchema",
    "Store",
    "StoreCapabilities",
    "StoreFilter",
    "StoredHit",
    "UnfinishedVersion",
    "VectorSchema",
    "make_store",
    "point_id",
    "source_point_id",
]


def make_store(settings: QdrantSettings, *, path: Path) -> Store:
    """The backend the settings ask for: a Qdrant server when ``url`` is set, else the embedded engine."""
    if settings.url is None and settings.embedded == "edge":
        return EdgeStore(settings, path=path)
    return QdrantStore(settings, path=path)
