"""The store over qdrant-client: a Qdrant server or cluster (``RAG_QDRANT__URL``), or qdrant-client's local
mode (``RAG_QDRANT__EMBEDDED=local``: a pure-Python stand-in for the server's API, slow past ~20k points,
kept as the server's stand-in in tests and for stores written before Qdrant Edge).

The schema is kept in the collection's metadata; qdrant-client types never leave this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from rag.config import QdrantSettings
from rag.errors import StoreError, StoreUnavailableError
from rag.records import PointPayload
from rag.sparse import SparseVector
from rag.store.base import StoreBase, has_terms
from rag.store.filters import Condition, Flagged, Match, Range, Where
from rag.store.owner import OwnerLock
from rag.store.protocol import StoreCapabilities
from rag.store.records import UNFINISHED, PointRecord, QueryVector, StoredHit
from rag.store.schema import CollectionSchema, foreign

__all__ = ["QdrantStore"]

log = logging.getLogger(__name__)

# Points per upsert request in local mode, whose writes hold the store (it stores ~100 points/s).
_LOCAL_WRITE_TURN = 32
_UNAVAILABLE_STATUS = frozenset({502, 503, 504})


def _unavailable(what: str, location: str, reason: str) -> StoreUnavailableError:
    return StoreUnavailableError(f"Qdrant at {location} cannot be reached ({what}): {reason}", reason=reason)


def _without_credentials(url: str) -> str:
    """``http://user:secret@host:6333`` → ``http://***@host:6333``: messages reach logs and API clients."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


class QdrantStore(StoreBase):
    """Qdrant through qdrant-client: a server by URL, or local mode at ``path`` when no URL is set."""

    def __init__(self, settings: QdrantSettings, *, path: Path) -> None:
        super().__init__(settings, path=path)
        self._client: Any = None
        local = settings.url is None
        # Local mode is not safe for concurrent use from several threads; a server's client is.
        self.capabilities = StoreCapabilities(single_process=local, concurrent_reads=not local, hnsw=not local)
        self._owner = OwnerLock(path / "owner.lock", store=str(path)) if local else None

    @property
    def location(self) -> str:
        """Where the store is, for messages: the server URL without credentials, or the embedded directory."""
        return _without_credentials(self.settings.url) if self.settings.url else str(self.path)

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        if self._client is not None:
            return
        from qdrant_client import QdrantClient

        try:
            if self._owner is not None:
                self.path.mkdir(parents=True, exist_ok=True)
                self._owner.acquire()
                self._client = QdrantClient(path=str(self.path))
            else:
                key = self.settings.api_key.get_secret_value() if self.settings.api_key else None
                self._client = QdrantClient(
                    url=self.settings.url,
                    api_key=key,
                    timeout=self.settings.timeout_s,
                    prefer_grpc=self.settings.prefer_grpc,
                )
        except (RuntimeError, OSError, ValueError) as exc:
            if self._owner is not None:
                self._owner.release()
            hint = (
                " (another process has it open; use a Qdrant server for concurrent access)"
                if "already accessed" in str(exc)
                else ""
            )
            raise StoreError(f"cannot open Qdrant at {self.location}: {exc}{hint}") from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._owner is not None:
            self._owner.release()

    def begin_import(self, resume: str) -> None:
        """No mark: a server's collection is read by whoever connects; a copy that stopped is finished by
        running it again (``resume``)."""

    def end_import(self) -> None:
        """Nothing to remove (see :meth:`begin_import`)."""

    @property
    def _qc(self) -> Any:
        if self._client is None:
            self.open()
        return self._client

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        try:
            yield
        except UnexpectedResponse as exc:
            if exc.status_code in _UNAVAILABLE_STATUS:  # a proxy or a server still starting
                raise _unavailable(what, self.location, f"HTTP {exc.status_code}") from exc
            raise StoreError(f"Qdrant {what} failed at {self.location}: {exc}") from exc
        except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
            # Connection refused or reset, timeouts (the client's RAG_QDRANT__TIMEOUT_S): transient.
            raise _unavailable(what, self.location, str(exc) or type(exc).__name__) from exc

    def ping(self) -> bool:
        try:
            with self._call("ping"):
                self._qc.get_collections()
        except StoreError:
            return False
        return True

    # -- schema ----------------------------------------------------------------------------------

    def exists(self) -> bool:
        with self._call("collection_exists"):
            return bool(self._qc.collection_exists(self.collection))

    def _schema_metadata(self) -> dict[str, Any] | None:
        if not self.exists():
            return None
        with self._call("get_collection"):
            info = self._qc.get_collection(self.collection)
        schema: dict[str, Any] | None = (info.config.metadata or {}).get("rag_schema")
        if not schema:
            raise foreign(self.collection, self.location)
        return schema

    def _create(self, schema: CollectionSchema) -> None:
        from qdrant_client import models

        vectors = {
            v.name: models.VectorParams(size=v.dimension, distance=models.Distance.COSINE) for v in schema.vectors
        }
        kwargs: dict[str, Any] = {}
        if schema.sparse:
            kwargs["sparse_vectors_config"] = {
                s.name: models.SparseVectorParams(modifier=models.Modifier.IDF) for s in schema.sparse
            }
        if not self.capabilities.single_process:
            kwargs["shard_number"] = self.settings.shard_number
            kwargs["replication_factor"] = self.settings.replication_factor
            kwargs["hnsw_config"] = models.HnswConfigDiff(
                m=self.settings.hnsw_m, ef_construct=self.settings.hnsw_ef_construct
            )
        with self._call("create_collection", write=True):
            self._qc.create_collection(self.collection, vectors_config=vectors, metadata=schema.as_metadata(), **kwargs)
        if not self.capabilities.single_process:  # local mode has no payload indexes (it scans)
            self._create_payload_indexes()

    def drop_collection(self) -> bool:
        if not self.exists():
            return False
        log.warning("deleting collection %s at %s", self.collection, self.location)
        with self._call("delete_collection", write=True):
            self._qc.delete_collection(self.collection)
        return True

    def _create_payload_indexes(self) -> None:
        from qdrant_client import models

        index_types: dict[str, Any] = {
            "tenant": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
            "keyword": models.PayloadSchemaType.KEYWORD,
            "integer": models.PayloadSchemaType.INTEGER,
            "flag": models.PayloadSchemaType.BOOL,
        }
        with self._call("create_payload_index", write=True):
            for name, index in PointPayload.indexed_fields().items():
                self._qc.create_payload_index(self.collection, name, field_schema=index_types[index])

    # -- primitives ------------------------------------------------------------------------------

    @property
    def _write_turn(self) -> int:
        size = self.settings.upsert_batch_size
        # each request holds local mode: keep turns short
        return min(size, _LOCAL_WRITE_TURN) if self.capabilities.single_process else size

    def _write_points(self, points: Sequence[PointRecord]) -> None:
        from qdrant_client import models

        batch = [
            models.PointStruct(
                id=r.id,
                vector={name: _to_qdrant(vec) for name, vec in r.vectors.items() if has_terms(vec)},
                payload=dict(r.payload),
            )
            for r in points
        ]
        with self._call("upsert", write=True):
            self._qc.upsert(self.collection, points=batch, wait=True)

    def _scroll(
        self, where: Where | None, *, fields: Sequence[str] | None, vectors: bool, page: int = 1024
    ) -> Iterator[PointRecord]:
        flt = _filter(where) if where is not None else None
        offset = None
        while True:
            with self._call("scroll"):
                points, offset = self._qc.scroll(
                    self.collection,
                    scroll_filter=flt,
                    limit=page,
                    offset=offset,
                    with_payload=list(fields) if fields is not None else True,
                    with_vectors=vectors,
                )
            yield from (_record(p) for p in points)
            if offset is None:
                return

    def retrieve(
        self, ids: Sequence[str], *, vectors: bool | Sequence[str] = False, payload: bool = True
    ) -> list[PointRecord]:
        with_vectors = vectors if isinstance(vectors, bool) else list(vectors)
        with self._call("retrieve"):
            found = self._qc.retrieve(self.collection, ids=list(ids), with_payload=payload, with_vectors=with_vectors)
        return [_record(p) for p in found]

    def _count(self, where: Where) -> int:
        with self._call("count"):
            return int(self._qc.count(self.collection, count_filter=_filter(where), exact=True).count)

    def _delete(self, where: Where) -> int:
        from qdrant_client import models

        flt = _filter(where)
        with self._call("delete", write=True):
            count = self._qc.count(self.collection, count_filter=flt, exact=True).count
            if count:
                self._qc.delete(self.collection, points_selector=models.FilterSelector(filter=flt), wait=True)
        return int(count)

    def _flag(self, where: Where) -> None:
        with self._call("set_payload", write=True):
            self._qc.set_payload(self.collection, {UNFINISHED: True}, points=_filter(where))

    def _unflag(self, target: Sequence[str] | Where) -> None:
        points = _filter(target) if isinstance(target, Where) else list(target)
        with self._call("delete_payload", write=True):
            self._qc.delete_payload(self.collection, [UNFINISHED], points=points)

    def _points_total(self) -> int:
        with self._call("count"):
            return int(self._qc.count(self.collection, exact=False).count)

    def _query(
        self,
        pairs: Sequence[tuple[str, QueryVector]],
        where: Where,
        *,
        limit: int,
        prefetch_limit: int,
        fusion: Literal["rrf", "dbsf"],
        rrf_k: int,
        weights: Sequence[float],
        exact: bool,
    ) -> list[StoredHit]:
        from qdrant_client import models

        flt = _filter(where)
        params = self._search_params(exact)
        prefetch = [
            models.Prefetch(query=_to_qdrant(vec), using=name, limit=prefetch_limit, filter=flt, params=params)
            for name, vec in pairs
        ]
        query: Any = (
            models.RrfQuery(rrf=models.Rrf(k=rrf_k, weights=list(weights)))
            if fusion == "rrf"
            else models.FusionQuery(fusion=models.Fusion.DBSF)
        )
        with self._call("query_points"):
            response = self._qc.query_points(
                self.collection, prefetch=prefetch, query=query, limit=limit, with_payload=True, with_vectors=False
            )
        return [StoredHit(id=str(p.id), score=float(p.score), payload=p.payload or {}) for p in response.points]

    def _search_params(self, exact: bool) -> Any:
        """Exact, or the configured ``hnsw_ef`` on a server (local mode always scans and warns about any)."""
        from qdrant_client import models

        if exact:
            return models.SearchParams(exact=True)
        return None if self.capabilities.single_process else models.SearchParams(hnsw_ef=self.settings.hnsw_ef)

    def _query_each(
        self, pairs: Sequence[tuple[str, QueryVector]], where: Where, *, limit: int, exact: bool
    ) -> list[list[StoredHit]]:
        from qdrant_client import models

        flt = _filter(where)
        params = self._search_params(exact)
        requests = [
            models.QueryRequest(
                query=_to_qdrant(vec), using=name, limit=limit, filter=flt, params=params, with_payload=True
            )
            for name, vec in pairs
        ]
        with self._call("query_batch_points"):
            responses = self._qc.query_batch_points(self.collection, requests=requests)
        return [
            [StoredHit(id=str(p.id), score=float(p.score), payload=p.payload or {}) for p in r.points]
            for r in responses
        ]


def _filter(where: Where) -> Any:
    from qdrant_client import models

    def condition(c: Condition) -> Any:
        if isinstance(c, Match):
            match: Any = (
                models.MatchValue(value=c.values[0]) if len(c.values) == 1 else models.MatchAny(any=list(c.values))
            )
            return models.FieldCondition(key=c.key, match=match)
        if isinstance(c, Range):
            return models.FieldCondition(key=c.key, range=models.Range(gte=c.gte, lte=c.lte))
        if isinstance(c, Flagged):
            return models.FieldCondition(key=c.key, match=models.MatchValue(value=True))
        return _filter(c)

    return models.Filter(
        must=[condition(c) for c in where.must] or None,
        should=[condition(c) for c in where.should] or None,
        must_not=[condition(c) for c in where.must_not] or None,
    )


def _record(point: Any) -> PointRecord:
    vectors = {name: _from_qdrant(vec) for name, vec in (point.vector or {}).items()}
    return PointRecord(id=str(point.id), vectors=vectors, payload=point.payload or {})


def _to_qdrant(vec: QueryVector) -> Any:
    if isinstance(vec, SparseVector):
        from qdrant_client import models

        return models.SparseVector(indices=list(vec.indices), values=list(vec.values))
    return np.asarray(vec, dtype=np.float32).tolist()


def _from_qdrant(vec: Any) -> np.ndarray | SparseVector:
    if hasattr(vec, "indices"):
        pairs = sorted(zip(vec.indices, vec.values, strict=True))
        return SparseVector(tuple(int(i) for i, _ in pairs), tuple(float(v) for _, v in pairs))
    return np.asarray(vec, dtype=np.float32)
