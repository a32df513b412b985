"""The store role: what the ingest pipeline, the retriever, the API and the evaluation ask of a vector store.

:class:`Store` is the contract; :mod:`rag.store.qdrant` (a Qdrant server, or qdrant-client's local mode) and
:mod:`rag.store.edge` (Qdrant Edge, the embedded default) implement it, and one contract suite
(``tests/rag/store``) runs against each. Where backends differ in behaviour, they say so in
:class:`StoreCapabilities`, never through their type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from rag.store.records import (
    PointRecord,
    QueryVector,
    SourceRecord,
    StoredHit,
    StoreFilter,
    UnfinishedVersion,
)
from rag.store.schema import CollectionSchema

__all__ = ["Store", "StoreCapabilities"]


@dataclass(frozen=True, slots=True)
class StoreCapabilities:
    """How a backend behaves where backends differ.

    ``single_process``: one process owns the store (an embedded one): no other writer exists, so everything a
    killed run left can be recovered at once, and a source with no point now has no stale version to delete.
    Its data lives in its directory only (removing the directory removes the store).
    ``concurrent_reads``: searches and other reads run while a write is in progress (otherwise they wait for
    the write's turn, and go before the next one).
    ``hnsw``: the backend builds an HNSW index (a server, or Qdrant Edge in a child process, in the background),
    used above ``RAG_QDRANT__EXACT_BELOW`` points; otherwise every search scores every matching point.
    """

    single_process: bool
    concurrent_reads: bool
    hnsw: bool = False


@runtime_checkable
class Store(Protocol):
    """A vector store holding one collection. Cheap to construct; :meth:`open` connects (or opens the files)."""

    @property
    def capabilities(self) -> StoreCapabilities: ...

    @property
    def collection(self) -> str: ...

    @property
    def location(self) -> str:
        """Where the store is, for messages (no credentials)."""
        ...

    # lifecycle
    def open(self) -> None: ...

    def close(self) -> None: ...

    def ping(self) -> bool: ...

    # schema
    def exists(self) -> bool: ...

    def stored_schema(self) -> dict[str, dict[str, object]] | None: ...

    def collection_schema(self) -> CollectionSchema | None:
        """The stored schema as a record (to create the same collection elsewhere); None if there is none."""
        ...

    def check_schema(self, schema: CollectionSchema, *, mode: Literal["write", "read"]) -> list[str]: ...

    def ensure_collection(self, schema: CollectionSchema, *, recreate: bool = False) -> list[str]: ...

    def drop_collection(self) -> bool: ...

    # moving a store: a copy in progress is marked, so that no other run reads it half-filled
    def begin_import(self, resume: str) -> None:
        """Mark the store as being filled by a copy (before :meth:`open`); ``resume`` says how to finish it."""
        ...

    def end_import(self) -> None:
        """The copy is complete and checked: the store may be opened as usual."""
        ...

    # writes: points of a version are written flagged unfinished, then finalised (see rag.store.base)
    def upsert(self, records: Sequence[PointRecord]) -> None: ...

    def put_source(self, record: SourceRecord) -> None: ...

    def put_sources(self, records: Sequence[SourceRecord]) -> None: ...

    def hide_stale_many(self, tenant: str, keep: Mapping[str, str]) -> None: ...

    def publish(self, ids: Sequence[str]) -> None: ...

    def publish_version(self, tenant: str, source_id: str, content_hash: str) -> None: ...

    def delete_stale(self, tenant: str, source_id: str, keep_hash: str) -> int: ...

    def delete_stale_many(self, tenant: str, keep: Mapping[str, str]) -> int: ...

    def delete_version(self, tenant: str, source_id: str, content_hash: str) -> int: ...

    def delete_source(self, tenant: str, source_id: str) -> int: ...

    def unfinished(self, tenant: str | None = None, *, thorough: bool = False) -> list[UnfinishedVersion]: ...

    def recover(self, *, older_than_s: float | None = None, thorough: bool = False) -> list[UnfinishedVersion]: ...

    # reads
    def get_source(self, tenant: str, source_id: str) -> SourceRecord | None: ...

    def list_sources(self, tenant: str) -> list[SourceRecord]: ...

    def source_ids(self, tenant: str) -> set[str]: ...

    def count(self, tenant: str | None = None) -> int: ...

    def total(self) -> int:
        """Every stored point, exactly: flagged ones and source records included (0 without a collection)."""
        ...

    def index_state(self) -> str:
        """How searches run now, for ``rag info`` and ``/readyz``: "exact search (N points)" or "HNSW index (…)"."""
        ...

    def retrieve(
        self, ids: Sequence[str], *, vectors: bool | Sequence[str] = False, payload: bool = True
    ) -> list[PointRecord]:
        """The points with these ids that exist; ``vectors``: all, none, or only these named ones."""
        ...

    def points(self, *, vectors: bool = True) -> Iterator[PointRecord]: ...

    def search(
        self,
        queries: Mapping[str, QueryVector] | Sequence[tuple[str, QueryVector]],
        *,
        where: StoreFilter,
        limit: int,
        prefetch_limit: int,
        fusion: Literal["rrf", "dbsf"] = "rrf",
        rrf_k: int = 60,
    ) -> list[StoredHit]: ...

    def search_each(
        self,
        queries: Mapping[str, QueryVector] | Sequence[tuple[str, QueryVector]],
        *,
        where: StoreFilter | None,
        limit: int,
    ) -> list[list[StoredHit]]:
        """Each (named vector, query vector) searched alone, raw scores, one batched request (see StoreBase)."""
        ...
