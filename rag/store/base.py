"""What every backend does the same way, written once over a few primitives each backend provides.

Reads see finished versions only. A new version's points are written with ``unfinished: true`` (reads
exclude them); once all are stored, the older version is hidden the same way, the record is written, the
flag is removed from the new points (:meth:`StoreBase.publish`) and the older version is deleted. A crash
at any step leaves nothing visible that the record does not name, and :meth:`StoreBase.recover` finishes
or removes what it left (see :meth:`StoreBase.unfinished`).

One collection holds every point; each modality has its own named dense vector (``text``, ``image``,
``video``), sized from the models that were loaded, and a point carries only the vectors that apply to
it. Text points may also carry the ``sparse`` named vector (BM25 term weights, see :mod:`rag.sparse`),
weighted by IDF at query time. Per source, one extra vector-less point (``kind="source"``) records what was
ingested and from which content hash. The collection records the models behind its vectors (see
:mod:`rag.store.schema`); opening it with other ones raises :class:`~rag.errors.SchemaMismatchError`.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from rag.config import QdrantSettings
from rag.errors import StoreError
from rag.locks import PriorityLock
from rag.sparse import SparseVector
from rag.store import filters as f
from rag.store.filters import Where
from rag.store.protocol import StoreCapabilities
from rag.store.records import (
    SOURCE_KIND,
    UNFINISHED,
    PointRecord,
    QueryVector,
    SourceRecord,
    StoredHit,
    StoreFilter,
    UnfinishedVersion,
    source_point_id,
)
from rag.store.schema import CollectionSchema, SparseSchema, VectorSchema, check_schema

__all__ = ["StoreBase"]

log = logging.getLogger(__name__)

# How long a point count read for the exact-search threshold is trusted (it only decides exact vs HNSW).
_TOTAL_TTL_S = 5.0
# RRF weight of a sparse (BM25) prefetch; dense ones weigh 1. In hybrid search ties are common (first in one
# list and second in the other fuse to the same score) and the engines order them arbitrarily (Qdrant Edge by
# its segments: one run differed from the next). Qdrant's weighted RRF scores a hit at 0-based position p
# ``1 / ((p + 1) / w + k - 1)``, so a weight a hair over 1 lifts deeper positions slightly more than the top
# ones: of two tied hits, the one ranked better by the dense vectors (which understand paraphrase) wins. It
# moves no order between scores more than about 0.01% apart.
SPARSE_RRF_WEIGHT = 1.001


class StoreBase(ABC):
    """The store protocol (:class:`~rag.store.protocol.Store`) over a backend's primitives."""

    capabilities: StoreCapabilities
    # Whether writes take turns on the lock even where reads need none (Qdrant Edge: one writer at a time).
    _writes_take_turns = False

    def __init__(self, settings: QdrantSettings, *, path: Path) -> None:
        self.settings = settings
        self.path = path
        self.collection = settings.collection
        # Backends that are not safe for concurrent use take turns on this lock, searches before writes (an
        # ingest writes in short turns, so a search waits for one turn at most).
        self._lock = PriorityLock()
        self._total: tuple[float, int] | None = None

    # -- primitives ------------------------------------------------------------------------------

    @property
    @abstractmethod
    def location(self) -> str: ...

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def ping(self) -> bool: ...

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def drop_collection(self) -> bool:
        """Delete the collection and every point in it; False when it did not exist."""

    @abstractmethod
    def _errors(self, what: str) -> AbstractContextManager[None]:
        """Translate the backend's exceptions into :class:`StoreError` (naming ``what`` failed)."""

    @abstractmethod
    def _schema_metadata(self) -> dict[str, Any] | None:
        """The stored ``rag_schema`` (None when the collection does not exist)."""

    @abstractmethod
    def _create(self, schema: CollectionSchema) -> None: ...

    @property
    @abstractmethod
    def _write_turn(self) -> int:
        """Points per write request."""

    @abstractmethod
    def _write_points(self, points: Sequence[PointRecord]) -> None:
        """One upsert request."""

    @abstractmethod
    def _scroll(
        self, where: Where | None, *, fields: Sequence[str] | None, vectors: bool, page: int = 1024
    ) -> Iterator[PointRecord]:
        """Every point matching ``where``, with only ``fields`` of the payload (None: all of it)."""

    @abstractmethod
    def retrieve(
        self, ids: Sequence[str], *, vectors: bool | Sequence[str] = False, payload: bool = True
    ) -> list[PointRecord]:
        """The points with these ids that exist, with their whole payload (or none) and ``vectors``: all, none, or
        only these named ones (the search path reads its dense vectors without the sparse one, whose
        conversion costs most)."""

    @abstractmethod
    def _count(self, where: Where) -> int: ...

    @abstractmethod
    def _delete(self, where: Where) -> int:
        """Delete what matches; returns how many points went."""

    @abstractmethod
    def _flag(self, where: Where) -> None:
        """Set the unfinished flag on what matches."""

    @abstractmethod
    def _unflag(self, target: Sequence[str] | Where) -> None:
        """Remove the unfinished flag from these points (ids) or from what matches."""

    @abstractmethod
    def _points_total(self) -> int:
        """Every stored point (a cheap, possibly approximate count)."""

    @abstractmethod
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
    ) -> list[StoredHit]: ...

    @abstractmethod
    def _query_each(
        self, pairs: Sequence[tuple[str, QueryVector]], where: Where, *, limit: int, exact: bool
    ) -> list[list[StoredHit]]:
        """One plain nearest search per pair, in one batched request; raw scores (cosine, BM25)."""

    # -- turns -----------------------------------------------------------------------------------

    @contextmanager
    def _call(self, what: str, *, write: bool = False) -> Iterator[None]:
        """One request to the backend: its turn on the lock where the backend needs one, errors translated."""
        with self._turn(write=write), self._errors(what):
            yield

    def _turn(self, *, write: bool) -> AbstractContextManager[None]:
        if (write and self._writes_take_turns) or not self.capabilities.concurrent_reads:
            return self._lock.hold(urgent=not write)
        return nullcontext()

    # -- schema ----------------------------------------------------------------------------------

    def stored_schema(self) -> dict[str, dict[str, Any]] | None:
        """The ``{vector: {"model", "dim"}}`` the collection was built with, or None if it does not exist."""
        schema = self._schema_metadata()
        return None if schema is None else dict(schema["vectors"])

    def stored_sparse(self) -> dict[str, dict[str, Any]] | None:
        """The ``{sparse vector: {"encoder", "modifier"}}`` the collection was built with ({} for schema 1)."""
        schema = self._schema_metadata()
        return None if schema is None else dict(schema.get("sparse") or {})

    def collection_schema(self) -> CollectionSchema | None:
        """The stored schema as a record (moving a store creates the same collection elsewhere)."""
        schema = self._schema_metadata()
        if schema is None:
            return None
        return CollectionSchema(
            tuple(VectorSchema(name, int(v["dim"]), str(v["model"])) for name, v in schema["vectors"].items()),
            sparse=tuple(SparseSchema(name, str(s["encoder"])) for name, s in (schema.get("sparse") or {}).items()),
        )

    def check_schema(self, schema: CollectionSchema, *, mode: Literal["write", "read"]) -> list[str]:
        """Raise :class:`~rag.errors.SchemaMismatchError` when ``schema`` cannot be used with the stored one.

        Returns notes about stored vectors the current models do not cover (those are left alone).
        """
        return check_schema(
            self._schema_metadata(), schema, mode=mode, collection=self.collection, location=self.location
        )

    def ensure_collection(self, schema: CollectionSchema, *, recreate: bool = False) -> list[str]:
        """Create the collection for ``schema`` (or check the existing one); returns notes for the user."""
        if recreate and self.exists():
            log.warning("recreating collection %s at %s", self.collection, self.location)
            self.drop_collection()
        if self.exists():
            return self.check_schema(schema, mode="write")
        try:
            self._create(schema)
        except (StoreError, ValueError):
            # Another worker created it first (ingest workers started together): use theirs if it fits.
            if not self.exists():
                raise
            return self.check_schema(schema, mode="write")
        return []

    # -- writes ----------------------------------------------------------------------------------

    def upsert(self, records: Sequence[PointRecord]) -> None:
        size = self._write_turn
        for start in range(0, len(records), size):
            self._write_points(records[start : start + size])

    def put_source(self, record: SourceRecord) -> None:
        self.put_sources([record])

    def put_sources(self, records: Sequence[SourceRecord]) -> None:
        """Write source records (one vector-less point each) in one request."""
        if records:
            self._write_points([PointRecord(source_point_id(r.tenant, r.source_id), {}, r.payload()) for r in records])

    def hide_stale_many(self, tenant: str, keep: Mapping[str, str]) -> None:
        """Flag the other versions of these sources unfinished, so that no read sees them from now on."""
        if keep:
            self._flag(f.stale_versions(tenant, keep))

    def publish(self, ids: Sequence[str]) -> None:
        """Make these points (of versions whose records are written) visible to reads."""
        size = self.settings.upsert_batch_size * 4
        for start in range(0, len(ids), size):
            self._unflag(list(ids[start : start + size]))

    def publish_version(self, tenant: str, source_id: str, content_hash: str) -> None:
        """:meth:`publish` for every point of one version (recovery: the point ids are not known)."""
        self._unflag(f.of_version(tenant, source_id, content_hash))

    def delete_stale(self, tenant: str, source_id: str, keep_hash: str) -> int:
        """Delete the source's points from other content versions (never its source record)."""
        return self.delete_stale_many(tenant, {source_id: keep_hash})

    def delete_stale_many(self, tenant: str, keep: Mapping[str, str]) -> int:
        """:meth:`delete_stale` for several sources (``{source_id: keep_hash}``) in one filtered delete."""
        return self._delete(f.stale_versions(tenant, keep)) if keep else 0

    def delete_version(self, tenant: str, source_id: str, content_hash: str) -> int:
        """Delete the points of one content version (a failed ingest's partial writes)."""
        return self._delete(f.of_version(tenant, source_id, content_hash))

    def delete_source(self, tenant: str, source_id: str) -> int:
        """Delete every point of the source, its record included; returns how many points went."""
        if not self.exists():
            return 0
        return self._delete(f.for_filter(StoreFilter(tenant=tenant, sources=(source_id,), include_unfinished=True)))

    def unfinished(self, tenant: str | None = None, *, thorough: bool = False) -> list[UnfinishedVersion]:
        """Versions whose points no read sees (of ``tenant``, or of all tenants).

        Those are the versions flagged unfinished (found through the flag's index). ``thorough`` also finds,
        in one pass over the whole store, versions that their source's record does not name although they are
        not flagged: stores written before the flag existed left those behind when a run was killed.
        """
        if not self.exists():
            return []
        where = f.of_tenant(tenant) if thorough else f.flagged(tenant)
        fields = ["tenant", "source_id", "content_hash", "kind", "ingested_at", UNFINISHED]
        records: dict[tuple[str, str], str] = {}
        versions: dict[tuple[str, str, str], list[Any]] = {}  # -> [points, started_at, any flagged]
        for point in self._scroll(where, fields=fields, vectors=False):
            p = point.payload
            source = (str(p.get("tenant")), str(p.get("source_id")))
            if p.get("kind") == SOURCE_KIND:
                records[source] = str(p.get("content_hash"))
                continue
            entry = versions.setdefault((*source, str(p.get("content_hash"))), [0, p.get("ingested_at"), False])
            entry[0] += 1
            entry[2] = entry[2] or p.get(UNFINISHED) is True
        if not thorough:
            for t, source_id in {(t, sid) for t, sid, _ in versions}:
                record = self.get_source(t, source_id)
                if record is not None:
                    records[(t, source_id)] = record.content_hash
        found = []
        for (t, source_id, content_hash), (count, started, flagged) in versions.items():
            published = records.get((t, source_id)) == content_hash
            if flagged or not published:
                found.append(UnfinishedVersion(t, source_id, content_hash, count, started, published))
        return sorted(found, key=lambda v: (v.tenant, v.source_id, v.content_hash))

    def recover(self, *, older_than_s: float | None = None, thorough: bool = False) -> list[UnfinishedVersion]:
        """Finish or remove what killed runs left: publish versions their records name, delete the others.

        ``older_than_s``: leave unpublished versions younger than this alone (by the time their run started),
        since other ingest workers may still be writing them; None removes every one (one process owns the
        store). ``thorough``: see :meth:`unfinished`. Returns the versions recovered.
        """
        cutoff = None if older_than_s is None else datetime.now(UTC) - timedelta(seconds=older_than_s)
        done: list[UnfinishedVersion] = []
        for version in self.unfinished(thorough=thorough):
            if version.published:
                self.publish_version(version.tenant, version.source_id, version.content_hash)
            elif cutoff is not None and not _started_before(version.started_at, cutoff):
                continue
            else:
                self.delete_version(version.tenant, version.source_id, version.content_hash)
            done.append(version)
        if done:
            log.warning(
                "recovered %d unfinished version(s) at %s (%d points): %s",
                len(done),
                self.location,
                sum(v.points for v in done),
                ", ".join(sorted({v.source_id for v in done}))[:500],
            )
        return done

    # -- reads -----------------------------------------------------------------------------------

    def get_source(self, tenant: str, source_id: str) -> SourceRecord | None:
        if not self.exists():
            return None
        found = self.retrieve([source_point_id(tenant, source_id)])
        if not found or found[0].payload.get("tenant") != tenant:
            return None
        return SourceRecord.from_payload(found[0].payload)

    def list_sources(self, tenant: str) -> list[SourceRecord]:
        if not self.exists():
            return []
        where = f.for_filter(StoreFilter(tenant=tenant, kinds=(SOURCE_KIND,)))
        records = [SourceRecord.from_payload(p.payload) for p in self._scroll(where, fields=None, vectors=False)]
        return sorted(records, key=lambda r: r.source_id)

    def source_ids(self, tenant: str) -> set[str]:
        """Every source id of the tenant that has points (records included), in one pass over the collection."""
        if not self.exists():
            return set()
        where = f.for_filter(StoreFilter(tenant=tenant, include_unfinished=True))
        return {str(p.payload.get("source_id")) for p in self._scroll(where, fields=["source_id"], vectors=False)}

    def count(self, tenant: str | None = None) -> int:
        """Points of finished versions (of ``tenant``, or of all tenants), source records not counted."""
        return self._count(f.finished_points(tenant)) if self.exists() else 0

    def total(self) -> int:
        """Every stored point, exactly: flagged ones and source records included (0 without a collection)."""
        return self._count(Where()) if self.exists() else 0

    def points(self, *, vectors: bool = True) -> Iterator[PointRecord]:
        """Every stored point, flagged ones and source records included (snapshots, checks, moving out)."""
        if self.exists():
            yield from self._scroll(None, fields=None, vectors=vectors)

    def search(
        self,
        queries: Mapping[str, QueryVector] | Sequence[tuple[str, QueryVector]],
        *,
        where: StoreFilter,
        limit: int,
        prefetch_limit: int,
        fusion: Literal["rrf", "dbsf"] = "rrf",
        rrf_k: int = 60,
    ) -> list[StoredHit]:
        """One fused query: a prefetch per (named vector, query vector), fused by RRF (``rrf_k``) or DBSF.

        A query vector is dense (numpy) or a :class:`~rag.sparse.SparseVector`; empty sparse queries are skipped.
        Exact (every matching point scored) while the store holds at most ``RAG_QDRANT__EXACT_BELOW`` points.
        """
        pairs = list(queries.items()) if isinstance(queries, Mapping) else list(queries)
        pairs = [(name, vec) for name, vec in pairs if has_terms(vec)]
        if not pairs:
            return []
        hits = self._query(
            pairs,
            f.for_filter(where),
            limit=limit,
            prefetch_limit=prefetch_limit,
            fusion=fusion,
            rrf_k=rrf_k,
            weights=[SPARSE_RRF_WEIGHT if isinstance(vec, SparseVector) else 1.0 for _, vec in pairs],
            exact=self._exact(),
        )
        # Equal scores in one order on every backend and every run.
        return sorted(hits, key=lambda hit: (-hit.score, hit.id))

    def search_each(
        self,
        queries: Mapping[str, QueryVector] | Sequence[tuple[str, QueryVector]],
        *,
        where: StoreFilter | None,
        limit: int,
    ) -> list[list[StoredHit]]:
        """The hits of each (named vector, query vector) alone, with its raw score, in one batched request: what
        a fused query's prefetches find, for a fusion done outside the engine (:mod:`rag.fusion`).

        One list per pair, in order (an empty sparse query gets an empty list), each best first. ``where`` None:
        the finished points of every tenant (the relevance calibration's null, which returns no content).
        """
        pairs = list(queries.items()) if isinstance(queries, Mapping) else list(queries)
        searched = [i for i, (_, vec) in enumerate(pairs) if has_terms(vec)]
        out: list[list[StoredHit]] = [[] for _ in pairs]
        if not searched:
            return out
        found = self._query_each(
            [pairs[i] for i in searched],
            f.finished_points(None) if where is None else f.for_filter(where),
            limit=limit,
            exact=self._exact(),
        )
        for i, hits in zip(searched, found, strict=True):
            out[i] = sorted(hits, key=lambda hit: (-hit.score, hit.id))
        return out

    def index_state(self) -> str:
        """How searches run now: exact while the store is small or has no HNSW index (Qdrant Edge builds none)."""
        if not self.exists():
            return "no collection yet"
        points = self._points_total()
        if self.capabilities.hnsw and points > self.settings.exact_below:
            return f"HNSW index ({points} points, over RAG_QDRANT__EXACT_BELOW={self.settings.exact_below})"
        return f"exact search ({points} points)"

    def _exact(self) -> bool:
        now = time.monotonic()
        if self._total is None or now - self._total[0] > _TOTAL_TTL_S:
            self._total = (now, self._points_total())
        return self._total[1] <= self.settings.exact_below


def has_terms(vec: QueryVector) -> bool:
    return not isinstance(vec, SparseVector) or len(vec) > 0


def _started_before(started_at: str | None, cutoff: datetime) -> bool:
    """Whether a version's start time is before ``cutoff``; a missing or unreadable time counts as old."""
    if not started_at:
        return True
    try:
        started = datetime.fromisoformat(started_at)
    except ValueError:
        return True
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return started < cutoff
