"""The vector store role, over Qdrant.

One collection holds every point; each modality has its own named dense vector (``text``, ``image``,
``video``), sized from the models that were loaded, and a point carries only the vectors that apply to
it. Text points may also carry the ``sparse`` named vector (BM25 term weights, see :mod:`rag.sparse`),
created with Qdrant's IDF modifier so that IDF is computed at query time. Per source, one extra
vector-less point (``kind="source"``) records what was ingested and from which content hash.

Reads see finished versions only. A new version's points are written with ``unfinished: true`` (reads
exclude them); once all are stored, the older version is hidden the same way, the record is written, the
flag is removed from the new points (:meth:`QdrantStore.publish`) and the older version is deleted. A crash
at any step leaves nothing visible that the record does not name, and :meth:`QdrantStore.recover` finishes
or removes what it left (see :meth:`QdrantStore.unfinished`).

The collection records the models behind its vectors (and the encoder behind its sparse vector) in its
metadata; opening it with other models, dimensions or sparse encoder (or without the sparse vector that
the settings ask for) raises :class:`SchemaMismatchError` instead of mixing vectors.

The same code drives the embedded store (``QdrantClient(path=...)``, the default) and a Qdrant server
(``url=...``); qdrant-client types never leave this module.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np

from rag.config import QdrantSettings
from rag.errors import SchemaMismatchError, StoreError
from rag.locks import PriorityLock
from rag.sparse import SparseVector

__all__ = [
    "UNFINISHED",
    "CollectionSchema",
    "PointRecord",
    "QdrantStore",
    "QueryVector",
    "SourceRecord",
    "SparseSchema",
    "StoreFilter",
    "StoredHit",
    "UnfinishedVersion",
    "VectorSchema",
    "point_id",
    "source_point_id",
]

log = logging.getLogger(__name__)

# 2: the schema records sparse vectors ("sparse": {name: {"encoder", "modifier"}}); 1 had dense only.
SCHEMA_VERSION = 2
_NAMESPACE = uuid.UUID("6f1c3c4e-5a8e-4d0b-9d7a-2b1f0e6c9a11")
_SOURCE_KIND = "source"
# Payload flag of the points of a version that is not (or no longer) the finished one; reads exclude them.
UNFINISHED = "unfinished"
_KEYWORD_FIELDS = ("tenant", "source_id", "name", "modality", "kind", "content_hash", "mime_type")
_INTEGER_FIELDS = ("page",)
_BOOL_FIELDS = (UNFINISHED,)
# Points per upsert request in the embedded store, whose writes hold it (local mode stores ~100 points/s).
_EMBEDDED_WRITE_TURN = 32


def point_id(tenant: str, source_id: str, content_hash: str, locator: str) -> str:
    """Deterministic point id: the same tenant, source, content and locator always give the same id."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join((tenant, source_id, content_hash, locator))))


def source_point_id(tenant: str, source_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join((tenant, source_id, "__source__"))))


@dataclass(frozen=True, slots=True)
class VectorSchema:
    name: str
    dimension: int
    model_id: str


@dataclass(frozen=True, slots=True)
class SparseSchema:
    """A sparse named vector and the encoder its weights come from (IDF applied by Qdrant)."""

    name: str
    encoder_id: str


@dataclass(frozen=True)
class CollectionSchema:
    vectors: tuple[VectorSchema, ...]
    sparse: tuple[SparseSchema, ...] = ()

    def as_metadata(self) -> dict[str, Any]:
        return {
            "rag_schema": {
                "version": SCHEMA_VERSION,
                "vectors": {v.name: {"model": v.model_id, "dim": v.dimension} for v in self.vectors},
                "sparse": {s.name: {"encoder": s.encoder_id, "modifier": "idf"} for s in self.sparse},
            }
        }


# A query for one named vector: dense (numpy) or sparse.
QueryVector: TypeAlias = np.ndarray | SparseVector


@dataclass(frozen=True, slots=True)
class PointRecord:
    id: str
    vectors: Mapping[str, np.ndarray | SparseVector]
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SourceRecord:
    tenant: str
    source_id: str
    path: str
    name: str
    mime_type: str
    content_hash: str
    points: int
    ingested_at: str
    title: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "kind": _SOURCE_KIND,
            "tenant": self.tenant,
            "source_id": self.source_id,
            "path": self.path,
            "name": self.name,
            "mime_type": self.mime_type,
            "content_hash": self.content_hash,
            "points": self.points,
            "ingested_at": self.ingested_at,
            "title": self.title,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> SourceRecord:
        return cls(**{k: payload.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class StoreFilter:
    """Payload conditions; ``tenant`` is mandatory so no query can cross tenants."""

    tenant: str
    sources: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    page_from: int | None = None
    page_to: int | None = None
    # Deletes and recovery also see the points of unfinished versions; reads never do.
    include_unfinished: bool = False


@dataclass(frozen=True, slots=True)
class UnfinishedVersion:
    """Points of a version that no read sees: a version being written, or what a killed run left behind.

    ``published``: the source record names this version, so its points only need their flag removed (a run
    was killed between writing the record and publishing); otherwise the points are leftovers to delete.
    """

    tenant: str
    source_id: str
    content_hash: str
    points: int
    started_at: str | None
    published: bool


@dataclass(frozen=True, slots=True)
class StoredHit:
    id: str
    score: float
    payload: Mapping[str, Any] = field(default_factory=dict)


class QdrantStore:
    """Qdrant behind our own interface. Cheap to construct; :meth:`open` connects."""

    def __init__(self, settings: QdrantSettings, *, path: Path) -> None:
        self.settings = settings
        self.path = path
        self.collection = settings.collection
        self._client: Any = None
        # The embedded client is not safe for concurrent use from several threads: one call at a time, and
        # searches before writes (an ingest writes in short turns, so a search waits for one turn at most).
        # A server's client is thread-safe.
        self._lock = PriorityLock()

    @property
    def embedded(self) -> bool:
        return self.settings.url is None

    @property
    def location(self) -> str:
        return self.settings.url or str(self.path)

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        if self._client is not None:
            return
        from qdrant_client import QdrantClient

        try:
            if self.embedded:
                self.path.mkdir(parents=True, exist_ok=True)
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

    @property
    def client(self) -> Any:
        if self._client is None:
            self.open()
        return self._client

    @contextmanager
    def _call(self, what: str, *, urgent: bool = False) -> Iterator[None]:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        with self._lock.hold(urgent=urgent) if self.embedded else nullcontext():
            try:
                yield
            except (UnexpectedResponse, ResponseHandlingException, ConnectionError, TimeoutError) as exc:
                raise StoreError(f"Qdrant {what} failed at {self.location}: {exc}") from exc

    def ping(self) -> bool:
        try:
            with self._call("ping"):
                self.client.get_collections()
        except StoreError:
            return False
        return True

    # -- schema ----------------------------------------------------------------------------------

    def exists(self) -> bool:
        with self._call("collection_exists"):
            return bool(self.client.collection_exists(self.collection))

    def _stored_metadata(self) -> dict[str, Any] | None:
        if not self.exists():
            return None
        with self._call("get_collection"):
            info = self.client.get_collection(self.collection)
        metadata = info.config.metadata or {}
        schema: dict[str, Any] | None = metadata.get("rag_schema")
        if not schema:
            raise SchemaMismatchError(
                f"collection {self.collection!r} at {self.location} was not created by this project; "
                "choose another name with RAG_QDRANT__COLLECTION"
            )
        return schema

    def stored_schema(self) -> dict[str, dict[str, Any]] | None:
        """The ``{vector: {"model", "dim"}}`` the collection was built with, or None if it does not exist."""
        schema = self._stored_metadata()
        if schema is None:
            return None
        vectors: dict[str, dict[str, Any]] = schema["vectors"]
        return vectors

    def stored_sparse(self) -> dict[str, dict[str, Any]] | None:
        """The ``{sparse vector: {"encoder", "modifier"}}`` the collection was built with ({} for schema 1)."""
        schema = self._stored_metadata()
        if schema is None:
            return None
        sparse: dict[str, dict[str, Any]] = schema.get("sparse") or {}
        return sparse

    def check_schema(self, schema: CollectionSchema, *, mode: Literal["write", "read"]) -> list[str]:
        """Raise :class:`SchemaMismatchError` when ``schema`` cannot be used with the stored collection.

        Returns notes about stored vectors the current models do not cover (those are left alone).
        """
        stored = self.stored_schema()
        if stored is None:
            return []
        problems: list[str] = []
        for vector in schema.vectors:
            have = stored.get(vector.name)
            if have is None:
                problems.append(f"it has no {vector.name!r} vector (the loaded models add one: {vector.model_id})")
            elif have.get("model") != vector.model_id or int(have.get("dim", -1)) != vector.dimension:
                problems.append(
                    f"its {vector.name!r} vector holds {have.get('model')} ({have.get('dim')} dims), "
                    f"the loaded model is {vector.model_id} ({vector.dimension} dims)"
                )
        if problems and (mode == "write" or len(problems) == len(schema.vectors)):
            raise SchemaMismatchError(
                f"collection {self.collection!r} at {self.location} was built with other models: "
                + "; ".join(problems)
                + ". Vectors of different models are never mixed: recreate it (`rag ingest --recreate PATH...`, "
                "which deletes its points) or use another collection (RAG_QDRANT__COLLECTION)."
            )
        names = {v.name for v in schema.vectors}
        return [
            f"{name} vector ({meta.get('model')}) is not searched: its model is not loaded"
            for name, meta in stored.items()
            if name not in names
        ] + self._check_sparse(schema, mode=mode)

    def _check_sparse(self, schema: CollectionSchema, *, mode: Literal["write", "read"]) -> list[str]:
        """Sparse vectors must match exactly: stored weights from another encoder (or none) would be searched wrong."""
        stored = self.stored_sparse() or {}
        problems: list[str] = []
        for sparse in schema.sparse:
            have = stored.get(sparse.name)
            if have is None:
                problems.append(
                    f"it has no {sparse.name!r} sparse vector (it was built before hybrid search or with "
                    "RAG_RETRIEVAL__SPARSE=false)"
                )
            elif have.get("encoder") != sparse.encoder_id:
                problems.append(
                    f"its {sparse.name!r} sparse vector holds weights of {have.get('encoder')!r}, "
                    f"the configured encoder is {sparse.encoder_id!r}"
                )
        wanted = {s.name for s in schema.sparse}
        extra = [name for name in stored if name not in wanted]
        if mode == "write":
            problems.extend(
                f"it has a {name!r} sparse vector that new points would lack (RAG_RETRIEVAL__SPARSE=false)"
                for name in extra
            )
        if problems:
            raise SchemaMismatchError(
                f"collection {self.collection!r} at {self.location} does not match the sparse (hybrid search) "
                "settings: " + "; ".join(problems) + ". Recreate it (`rag ingest --recreate PATH...`, which deletes "
                "its points, then ingest again) or set RAG_RETRIEVAL__SPARSE to match how it was built."
            )
        return [f"{name} sparse vector is not searched (RAG_RETRIEVAL__SPARSE=false)" for name in extra]

    def ensure_collection(self, schema: CollectionSchema, *, recreate: bool = False) -> list[str]:
        """Create the collection for ``schema`` (or check the existing one); returns notes for the user."""
        from qdrant_client import models

        if recreate and self.exists():
            log.warning("recreating collection %s at %s", self.collection, self.location)
            with self._call("delete_collection"):
                self.client.delete_collection(self.collection)
        if self.exists():
            return self.check_schema(schema, mode="write")
        vectors = {
            v.name: models.VectorParams(size=v.dimension, distance=models.Distance.COSINE) for v in schema.vectors
        }
        kwargs: dict[str, Any] = {}
        if schema.sparse:
            kwargs["sparse_vectors_config"] = {
                s.name: models.SparseVectorParams(modifier=models.Modifier.IDF) for s in schema.sparse
            }
        if not self.embedded:
            kwargs["shard_number"] = self.settings.shard_number
            kwargs["replication_factor"] = self.settings.replication_factor
        try:
            with self._call("create_collection"):
                self.client.create_collection(
                    self.collection, vectors_config=vectors, metadata=schema.as_metadata(), **kwargs
                )
        except (StoreError, ValueError):
            # Another worker created it first (ingest workers started together): use theirs if it fits.
            if not self.exists():
                raise
            return self.check_schema(schema, mode="write")
        if not self.embedded:
            self._create_payload_indexes()
        return []

    def drop_collection(self) -> bool:
        """Delete the collection and every point in it; False when it did not exist."""
        if not self.exists():
            return False
        log.warning("deleting collection %s at %s", self.collection, self.location)
        with self._call("delete_collection"):
            self.client.delete_collection(self.collection)
        return True

    def _create_payload_indexes(self) -> None:
        from qdrant_client import models

        with self._call("create_payload_index"):
            self.client.create_payload_index(
                self.collection,
                "tenant",
                field_schema=models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
            )
            for name in _KEYWORD_FIELDS[1:]:
                self.client.create_payload_index(self.collection, name, field_schema=models.PayloadSchemaType.KEYWORD)
            for name in _INTEGER_FIELDS:
                self.client.create_payload_index(self.collection, name, field_schema=models.PayloadSchemaType.INTEGER)
            for name in _BOOL_FIELDS:
                self.client.create_payload_index(self.collection, name, field_schema=models.PayloadSchemaType.BOOL)

    # -- writes ----------------------------------------------------------------------------------

    def upsert(self, records: Sequence[PointRecord]) -> None:
        from qdrant_client import models

        size = self.settings.upsert_batch_size
        if self.embedded:
            size = min(size, _EMBEDDED_WRITE_TURN)  # each request holds the embedded store: keep turns short
        for start in range(0, len(records), size):
            batch = [
                models.PointStruct(
                    id=r.id,
                    vector={name: _to_qdrant(vec) for name, vec in r.vectors.items() if _has_terms(vec)},
                    payload=dict(r.payload),
                )
                for r in records[start : start + size]
            ]
            with self._call("upsert"):
                self.client.upsert(self.collection, points=batch, wait=True)

    def put_source(self, record: SourceRecord) -> None:
        self.put_sources([record])

    def put_sources(self, records: Sequence[SourceRecord]) -> None:
        """Write source records (one vector-less point each) in one request."""
        from qdrant_client import models

        if not records:
            return
        points = [
            models.PointStruct(id=source_point_id(r.tenant, r.source_id), vector={}, payload=r.payload())
            for r in records
        ]
        with self._call("upsert"):
            self.client.upsert(self.collection, points=points, wait=True)

    def get_source(self, tenant: str, source_id: str) -> SourceRecord | None:
        if not self.exists():
            return None
        with self._call("retrieve"):
            found = self.client.retrieve(self.collection, ids=[source_point_id(tenant, source_id)], with_payload=True)
        if not found or (found[0].payload or {}).get("tenant") != tenant:
            return None
        return SourceRecord.from_payload(found[0].payload or {})

    def list_sources(self, tenant: str) -> list[SourceRecord]:
        if not self.exists():
            return []
        records: list[SourceRecord] = []
        flt = self._filter(StoreFilter(tenant=tenant, kinds=(_SOURCE_KIND,)))
        offset = None
        while True:
            with self._call("scroll"):
                points, offset = self.client.scroll(
                    self.collection, scroll_filter=flt, limit=256, offset=offset, with_payload=True, with_vectors=False
                )
            records.extend(SourceRecord.from_payload(p.payload or {}) for p in points)
            if offset is None:
                break
        return sorted(records, key=lambda r: r.source_id)

    def _delete(self, flt: Any) -> int:
        from qdrant_client import models

        with self._call("delete"):
            count = self.client.count(self.collection, count_filter=flt, exact=True).count
            if count:
                self.client.delete(self.collection, points_selector=models.FilterSelector(filter=flt), wait=True)
        return int(count)

    def source_ids(self, tenant: str) -> set[str]:
        """Every source id of the tenant that has points (records included), in one pass over the collection."""
        if not self.exists():
            return set()
        found: set[str] = set()
        flt = self._filter(StoreFilter(tenant=tenant, include_unfinished=True))
        offset = None
        while True:
            with self._call("scroll"):
                points, offset = self.client.scroll(
                    self.collection,
                    scroll_filter=flt,
                    limit=1024,
                    offset=offset,
                    with_payload=["source_id"],
                    with_vectors=False,
                )
            found.update(str((p.payload or {}).get("source_id")) for p in points)
            if offset is None:
                return found

    def delete_stale(self, tenant: str, source_id: str, keep_hash: str) -> int:
        """Delete the source's points from other content versions (never its source record)."""
        return self.delete_stale_many(tenant, {source_id: keep_hash})

    def delete_stale_many(self, tenant: str, keep: Mapping[str, str]) -> int:
        """:meth:`delete_stale` for several sources (``{source_id: keep_hash}``) in one filtered delete.

        (Without payload indexes, as in the embedded store, each filtered delete scans the collection.)
        """
        if not keep:
            return 0
        return self._delete(self._stale_filter(tenant, keep))

    def hide_stale_many(self, tenant: str, keep: Mapping[str, str]) -> None:
        """Flag the other versions of these sources unfinished, so that no read sees them from now on."""
        if not keep:
            return
        with self._call("set_payload"):
            self.client.set_payload(self.collection, {UNFINISHED: True}, points=self._stale_filter(tenant, keep))

    def _stale_filter(self, tenant: str, keep: Mapping[str, str]) -> Any:
        from qdrant_client import models

        stale: list[Any] = [
            models.Filter(
                must=[models.FieldCondition(key="source_id", match=models.MatchValue(value=source_id))],
                must_not=[models.FieldCondition(key="content_hash", match=models.MatchValue(value=keep_hash))],
            )
            for source_id, keep_hash in keep.items()
        ]
        return models.Filter(
            must=[models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant))],
            must_not=[models.FieldCondition(key="kind", match=models.MatchValue(value=_SOURCE_KIND))],
            should=stale,
        )

    def publish(self, ids: Sequence[str]) -> None:
        """Make these points (of versions whose records are written) visible to reads."""
        size = self.settings.upsert_batch_size * 4
        for start in range(0, len(ids), size):
            with self._call("delete_payload"):
                self.client.delete_payload(self.collection, [UNFINISHED], points=list(ids[start : start + size]))

    def publish_version(self, tenant: str, source_id: str, content_hash: str) -> None:
        """:meth:`publish` for every point of one version (recovery: the point ids are not known)."""
        from qdrant_client import models

        flt = self._filter(StoreFilter(tenant=tenant, include_unfinished=True))
        flt.must.extend(
            [
                models.FieldCondition(key="source_id", match=models.MatchValue(value=source_id)),
                models.FieldCondition(key="content_hash", match=models.MatchValue(value=content_hash)),
            ]
        )
        flt.must_not = [models.FieldCondition(key="kind", match=models.MatchValue(value=_SOURCE_KIND))]
        with self._call("delete_payload"):
            self.client.delete_payload(self.collection, [UNFINISHED], points=flt)

    def unfinished(self, tenant: str | None = None, *, thorough: bool = False) -> list[UnfinishedVersion]:
        """Versions whose points no read sees (of ``tenant``, or of all tenants).

        Those are the versions flagged unfinished (found through the flag's index). ``thorough`` also finds,
        in one pass over the whole store, versions that their source's record does not name although they are
        not flagged: stores written before the flag existed left those behind when a run was killed.
        """
        if not self.exists():
            return []
        from qdrant_client import models

        must: list[Any] = [models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant))] if tenant else []
        if not thorough:
            must.append(models.FieldCondition(key=UNFINISHED, match=models.MatchValue(value=True)))
        fields = ["tenant", "source_id", "content_hash", "kind", "ingested_at", UNFINISHED]
        records: dict[tuple[str, str], str] = {}
        versions: dict[tuple[str, str, str], list[Any]] = {}  # -> [points, started_at, any flagged]
        offset = None
        while True:
            with self._call("scroll"):
                points, offset = self.client.scroll(
                    self.collection,
                    scroll_filter=models.Filter(must=must) if must else None,
                    limit=1024,
                    offset=offset,
                    with_payload=fields,
                    with_vectors=False,
                )
            for point in points:
                p = point.payload or {}
                source = (str(p.get("tenant")), str(p.get("source_id")))
                if p.get("kind") == _SOURCE_KIND:
                    records[source] = str(p.get("content_hash"))
                    continue
                entry = versions.setdefault((*source, str(p.get("content_hash"))), [0, p.get("ingested_at"), False])
                entry[0] += 1
                entry[2] = entry[2] or p.get(UNFINISHED) is True
            if offset is None:
                break
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

    def delete_version(self, tenant: str, source_id: str, content_hash: str) -> int:
        """Delete the points of one content version (a failed ingest's partial writes)."""
        from qdrant_client import models

        flt = self._filter(StoreFilter(tenant=tenant, sources=(source_id,), include_unfinished=True))
        flt.must.append(models.FieldCondition(key="content_hash", match=models.MatchValue(value=content_hash)))
        flt.must_not = [models.FieldCondition(key="kind", match=models.MatchValue(value=_SOURCE_KIND))]
        return self._delete(flt)

    def delete_source(self, tenant: str, source_id: str) -> int:
        """Delete every point of the source, its record included; returns how many points went."""
        if not self.exists():
            return 0
        return self._delete(self._filter(StoreFilter(tenant=tenant, sources=(source_id,), include_unfinished=True)))

    def count(self, tenant: str | None = None) -> int:
        """Points of finished versions (of ``tenant``, or of all tenants), source records not counted."""
        if not self.exists():
            return 0
        from qdrant_client import models

        must_not: list[Any] = [
            models.FieldCondition(key="kind", match=models.MatchValue(value=_SOURCE_KIND)),
            models.FieldCondition(key=UNFINISHED, match=models.MatchValue(value=True)),
        ]
        must: list[Any] = [models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant))] if tenant else []
        with self._call("count"):
            return int(
                self.client.count(
                    self.collection, count_filter=models.Filter(must=must, must_not=must_not), exact=True
                ).count
            )

    # -- reads -----------------------------------------------------------------------------------

    def _filter(self, flt: StoreFilter) -> Any:
        from qdrant_client import models

        must: list[Any] = [models.FieldCondition(key="tenant", match=models.MatchValue(value=flt.tenant))]
        if flt.sources:
            values = list(flt.sources)
            must.append(
                models.Filter(
                    should=[
                        models.FieldCondition(key="source_id", match=models.MatchAny(any=values)),
                        models.FieldCondition(key="name", match=models.MatchAny(any=values)),
                    ]
                )
            )
        if flt.modalities:
            must.append(models.FieldCondition(key="modality", match=models.MatchAny(any=list(flt.modalities))))
        if flt.kinds:
            must.append(models.FieldCondition(key="kind", match=models.MatchAny(any=list(flt.kinds))))
        if flt.page_from is not None or flt.page_to is not None:
            must.append(models.FieldCondition(key="page", range=models.Range(gte=flt.page_from, lte=flt.page_to)))
        must_not: list[Any] = []
        if not flt.include_unfinished:
            must_not.append(models.FieldCondition(key=UNFINISHED, match=models.MatchValue(value=True)))
        return models.Filter(must=must, must_not=must_not or None)

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
        """
        from qdrant_client import models

        pairs = list(queries.items()) if isinstance(queries, Mapping) else list(queries)
        pairs = [(name, vec) for name, vec in pairs if _has_terms(vec)]
        if not pairs:
            return []
        flt = self._filter(where)
        prefetch = [
            models.Prefetch(query=_to_qdrant(vec), using=name, limit=prefetch_limit, filter=flt) for name, vec in pairs
        ]
        query: Any = (
            models.RrfQuery(rrf=models.Rrf(k=rrf_k))
            if fusion == "rrf"
            else models.FusionQuery(fusion=models.Fusion.DBSF)
        )
        with self._call("query_points", urgent=True):
            response = self.client.query_points(
                self.collection, prefetch=prefetch, query=query, limit=limit, with_payload=True, with_vectors=False
            )
        return [StoredHit(id=str(p.id), score=float(p.score), payload=p.payload or {}) for p in response.points]


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


def _has_terms(vec: QueryVector) -> bool:
    return not isinstance(vec, SparseVector) or len(vec) > 0


def _to_qdrant(vec: QueryVector) -> Any:
    if isinstance(vec, SparseVector):
        from qdrant_client import models

        return models.SparseVector(indices=list(vec.indices), values=list(vec.values))
    return np.asarray(vec, dtype=np.float32).tolist()
