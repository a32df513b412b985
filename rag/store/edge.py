"""The embedded store over Qdrant Edge (``qdrant-edge-py``): Qdrant's own engine inside this process.

Layout, under ``RAG_QDRANT__PATH`` (default ``DATA_DIR/qdrant``): ``edge/<collection>/`` holds ``shard/``
(Edge's files: segments, WAL), ``schema.json`` and ``owner.lock``. An Edge shard has no collection and so no
collection metadata: the schema lives in ``schema.json`` next to the shard, written before the shard is
created and replaced atomically (temporary file, fsync, rename, fsync of the directory). A file rather than a
reserved point, because a point would be seen by every scroll, count and filtered delete and would have to be
excluded from each; the file is read without opening the shard. A shard without the file was not created by
this project and is refused; a file without a shard (a crash between the two) is simply written again.

What Edge 0.9.0 allows at once, measured (``benchmarks/README.md``): searches, counts and scrolls from
several threads while another thread upserts or updates payloads (each call releases the GIL); writes are
serialised here (one writer at a time, on the store's lock, reads never wait for it). ``optimize()`` (which
builds HNSW) holds the GIL for its whole run, stopping every Python thread of the process, so it is never
called here: searches are plain (exact) scans, which stay fast at the sizes measured.

Edge's catches handled here: point ids must be integers or UUIDs (ours are UUIDs) and come back as
``uuid.UUID``; ``retrieve`` needs ``with_payload`` and ``with_vector``; a boolean in a match condition is
sent as the integer 1 and matches nothing, so the ``unfinished`` flag (written ``true`` or not at all) is
matched as "not empty"; RRF's ``k`` defaults to 2 unless given, so ``rrf_k`` is always passed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rag.config import QdrantSettings
from rag.errors import StoreError
from rag.records import PointPayload
from rag.sparse import SparseVector
from rag.store.base import StoreBase, has_terms
from rag.store.filters import Condition, Flagged, Match, Range, Where
from rag.store.owner import OwnerLock
from rag.store.protocol import StoreCapabilities
from rag.store.records import UNFINISHED, PointRecord, QueryVector, StoredHit
from rag.store.schema import CollectionSchema, foreign

__all__ = ["EdgeStore"]

log = logging.getLogger(__name__)

_SCHEMA_FILE = "schema.json"
# Present while a copy (``rag migrate``) fills the store; see EdgeStore.begin_import.
_IMPORT_FILE = "import.json"


class EdgeStore(StoreBase):
    """One Qdrant Edge shard per collection, owned by this process (a second opener is refused)."""

    capabilities = StoreCapabilities(single_process=True, concurrent_reads=True)
    _writes_take_turns = True

    def __init__(self, settings: QdrantSettings, *, path: Path) -> None:
        super().__init__(settings, path=path)
        self.root = path / "edge" / settings.collection
        self._shard_dir = self.root / "shard"
        self._shard: Any = None
        self._opened = False
        self._importing = False
        self._owner = OwnerLock(self.root / "owner.lock", store=str(self.root))

    @property
    def location(self) -> str:
        return str(self.root)

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        if self._opened:
            return
        self._owner.acquire()  # first: while a copy runs, another opener hears who holds the store
        try:
            if not self._importing:
                self._refuse_unreadable()
            if self._shard_exists():
                from qdrant_edge import EdgeShard

                with self._errors("load"):
                    self._shard = EdgeShard.load(str(self._shard_dir))
        except StoreError:
            self._owner.release()
            raise
        self._opened = True

    def _refuse_unreadable(self) -> None:
        """Never show a store that is not all there: a copy into it that did not finish, or an older engine's."""
        try:
            marker = json.loads((self.root / _IMPORT_FILE).read_text())
        except FileNotFoundError:
            marker = None
        except (OSError, ValueError) as exc:
            marker = {"resume": f"(unreadable {_IMPORT_FILE}: {exc})"}
        if marker is not None:
            raise StoreError(
                f"the embedded store at {self.location} is being filled by a copy that did not finish; run "
                f"{marker.get('resume')} again to complete it (it continues where it stopped)"
            )
        legacy = self.path / "collection" / self.collection
        if legacy.is_dir() and not self._shard_exists():
            raise StoreError(
                f"{self.path} holds collection {self.collection!r} written by qdrant-client's local mode (the "
                "embedded engine before Qdrant Edge), which Qdrant Edge cannot read: copy it into Qdrant Edge with "
                "`rag migrate --from local --to edge`, keep using it with RAG_QDRANT__EMBEDDED=local, or choose "
                "another RAG_QDRANT__PATH for a new store"
            )

    def begin_import(self, resume: str) -> None:
        """Mark the store as being filled by a copy: until :meth:`end_import`, other runs refuse to open it.

        The marker (``import.json`` next to the shard, naming the command that finishes the copy) is written
        once this process owns the store, so it never lands in a store another process is using.
        """
        self._importing = True
        self.open()
        _write_atomically(self.root / _IMPORT_FILE, json.dumps({"resume": resume}))

    def end_import(self) -> None:
        (self.root / _IMPORT_FILE).unlink(missing_ok=True)
        _fsync_dir(self.root)
        self._importing = False

    def close(self) -> None:
        if self._shard is not None:
            with self._lock.hold(), self._errors("close"):
                self._shard.close()
            self._shard = None
        self._opened = False
        self._owner.release()

    def ping(self) -> bool:
        try:
            self.open()
        except StoreError:
            return False
        return True

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (ValueError, OSError) as exc:
            raise StoreError(f"Qdrant Edge {what} failed at {self.location}: {exc}") from exc
        except Exception as exc:
            # qdrant_edge raises the bare Exception for every engine error (no subclass to catch); anything
            # more specific is a bug of ours and goes through untouched.
            if type(exc) is not Exception:
                raise
            raise StoreError(f"Qdrant Edge {what} failed at {self.location}: {exc}") from exc

    @property
    def _edge(self) -> Any:
        self.open()
        if self._shard is None:
            raise StoreError(f"collection {self.collection!r} at {self.location} does not exist yet")
        return self._shard

    def _shard_exists(self) -> bool:
        return (self._shard_dir / "edge_config.json").is_file()

    # -- schema ----------------------------------------------------------------------------------

    def exists(self) -> bool:
        self.open()
        return self._shard is not None

    def _schema_metadata(self) -> dict[str, Any] | None:
        if not self.exists():
            return None
        try:
            schema: dict[str, Any] | None = json.loads((self.root / _SCHEMA_FILE).read_text()).get("rag_schema")
        except FileNotFoundError:
            schema = None
        except (OSError, ValueError, AttributeError) as exc:
            raise StoreError(
                f"cannot read the schema of collection {self.collection!r} at {self.location}: {exc}"
            ) from exc
        if not schema:
            raise foreign(self.collection, self.location)
        return schema

    def _create(self, schema: CollectionSchema) -> None:
        import qdrant_edge as q

        self.open()
        config = q.EdgeConfig(
            vectors={v.name: q.EdgeVectorParams(size=v.dimension, distance=q.Distance.Cosine) for v in schema.vectors},
            sparse_vectors={s.name: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf) for s in schema.sparse} or None,
        )
        with self._call("create", write=True):
            if self._shard is not None:  # another thread of this process created it meanwhile: check theirs
                raise StoreError(f"collection {self.collection!r} at {self.location} exists already")
            _write_atomically(self.root / _SCHEMA_FILE, json.dumps(schema.as_metadata(), indent=1))
            if self._shard_dir.exists():  # a create killed before Edge wrote its config
                shutil.rmtree(self._shard_dir)
            self._shard = q.EdgeShard.create(str(self._shard_dir), config)
            # Payload indexes on every filtered field.
            index_types: dict[str, Any] = {
                "tenant": q.KeywordIndexParams(is_tenant=True),
                "keyword": q.PayloadSchemaType.Keyword,
                "integer": q.PayloadSchemaType.Integer,
                "flag": q.PayloadSchemaType.Bool,
            }
            for name, index in PointPayload.indexed_fields().items():
                self._shard.update(q.UpdateOperation.create_field_index(name, index_types[index]))
        self._total = None

    def drop_collection(self) -> bool:
        if not self.exists():
            return False
        log.warning("deleting collection %s at %s", self.collection, self.location)
        with self._call("drop", write=True):
            self._shard.close()
            self._shard = None
            shutil.rmtree(self._shard_dir)  # the shard first: a schema file without a shard is harmless
            (self.root / _SCHEMA_FILE).unlink(missing_ok=True)
        self._total = None
        return True

    # -- primitives ------------------------------------------------------------------------------

    @property
    def _write_turn(self) -> int:
        return self.settings.upsert_batch_size

    def _write_points(self, points: Sequence[PointRecord]) -> None:
        import qdrant_edge as q

        batch = [
            q.Point(r.id, {name: _to_edge(vec) for name, vec in r.vectors.items() if has_terms(vec)}, dict(r.payload))
            for r in points
        ]
        with self._call("upsert", write=True):
            self._edge.update(q.UpdateOperation.upsert_points(batch))

    def _scroll(
        self, where: Where | None, *, fields: Sequence[str] | None, vectors: bool, page: int = 1024
    ) -> Iterator[PointRecord]:
        import qdrant_edge as q

        flt = _filter(where) if where is not None else None
        payload: Any = list(fields) if fields is not None else True
        offset = None
        while True:
            request = q.ScrollRequest(offset=offset, limit=page, filter=flt, with_payload=payload, with_vector=vectors)
            with self._call("scroll"):
                points, offset = self._edge.scroll(request)
            yield from (_record(p) for p in points)
            if offset is None:
                return

    def retrieve(self, ids: Sequence[str], *, vectors: bool = False) -> list[PointRecord]:
        if not self.exists():
            return []
        with self._call("retrieve"):
            return [_record(p) for p in self._edge.retrieve(list(ids), True, vectors)]

    def _count(self, where: Where) -> int:
        import qdrant_edge as q

        with self._call("count"):
            return int(self._edge.count(q.CountRequest(exact=True, filter=_filter(where))))

    def _delete(self, where: Where) -> int:
        import qdrant_edge as q

        flt = _filter(where)
        with self._call("delete", write=True):
            count = int(self._edge.count(q.CountRequest(exact=True, filter=flt)))
            if count:
                self._edge.update(q.UpdateOperation.delete_points_by_filter(flt))
        return count

    def _flag(self, where: Where) -> None:
        import qdrant_edge as q

        with self._call("set_payload", write=True):
            self._edge.update(q.UpdateOperation.set_payload_by_filter(_filter(where), {UNFINISHED: True}))

    def _unflag(self, target: Sequence[str] | Where) -> None:
        import qdrant_edge as q

        op = (
            q.UpdateOperation.delete_payload_by_filter(_filter(target), [UNFINISHED])
            if isinstance(target, Where)
            else q.UpdateOperation.delete_payload(list(target), [UNFINISHED])
        )
        with self._call("delete_payload", write=True):
            self._edge.update(op)

    def _points_total(self) -> int:
        with self._call("info"):
            return int(self._edge.info().points_count)

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
        import qdrant_edge as q

        flt = _filter(where)
        params = q.SearchParams(exact=exact)
        prefetches = [
            q.Prefetch(
                limit=prefetch_limit, query=q.Query.Nearest(_to_edge(vec), using=name), filter=flt, params=params
            )
            for name, vec in pairs
        ]
        fused: Any = q.Fusion.Rrf(k=rrf_k, weights=list(weights)) if fusion == "rrf" else q.Fusion.Dbsf()
        request = q.QueryRequest(limit=limit, prefetches=prefetches, query=fused, with_payload=True, with_vector=False)
        with self._call("query"):
            found = self._edge.query(request)
        return [StoredHit(id=str(p.id), score=float(p.score), payload=p.payload or {}) for p in found]

    def _query_each(
        self, pairs: Sequence[tuple[str, QueryVector]], where: Where, *, limit: int, exact: bool
    ) -> list[list[StoredHit]]:
        import qdrant_edge as q

        flt = _filter(where)
        params = q.SearchParams(exact=exact)
        requests = [
            q.QueryRequest(
                limit=limit,
                query=q.Query.Nearest(_to_edge(vec), using=name),
                filter=flt,
                params=params,
                with_payload=True,
                with_vector=False,
            )
            for name, vec in pairs
        ]
        with self._call("query_batch"):
            found = self._edge.query_batch(q.QueryBatchRequest(requests))
        return [[StoredHit(id=str(p.id), score=float(p.score), payload=p.payload or {}) for p in one] for one in found]


def _filter(where: Where) -> Any:
    import qdrant_edge as q

    def condition(c: Condition) -> Any:
        if isinstance(c, Match):
            match: Any = q.MatchValue(c.values[0]) if len(c.values) == 1 else q.MatchAny(list(c.values))
            return q.FieldCondition(key=c.key, match=match)
        if isinstance(c, Range):
            return q.FieldCondition(key=c.key, range=q.RangeFloat(gte=c.gte, lte=c.lte))
        if isinstance(c, Flagged):
            # Edge sends MatchValue(True) as the integer 1, which matches no boolean: "set" is "not empty".
            return q.Filter(must_not=[q.IsEmptyCondition(c.key)])
        return _filter(c)

    return q.Filter(
        must=[condition(c) for c in where.must] or None,
        should=[condition(c) for c in where.should] or None,
        must_not=[condition(c) for c in where.must_not] or None,
    )


def _record(point: Any) -> PointRecord:
    vectors = {name: _from_edge(vec) for name, vec in (point.vector or {}).items()}
    return PointRecord(id=str(point.id), vectors=vectors, payload=point.payload or {})


def _to_edge(vec: QueryVector) -> Any:
    if isinstance(vec, SparseVector):
        import qdrant_edge as q

        return q.SparseVector(list(vec.indices), list(vec.values))
    return np.asarray(vec, dtype=np.float32).tolist()


def _from_edge(vec: Any) -> np.ndarray | SparseVector:
    if hasattr(vec, "indices"):
        pairs = sorted(zip(vec.indices, vec.values, strict=True))
        return SparseVector(tuple(int(i) for i, _ in pairs), tuple(float(v) for _, v in pairs))
    return np.asarray(vec, dtype=np.float32)


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
