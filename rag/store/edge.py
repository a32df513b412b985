"""The embedded store over Qdrant Edge (``qdrant-edge-py``): Qdrant's own engine inside this process.

Layout, under ``RAG_QDRANT__PATH`` (default ``DATA_DIR/qdrant``): ``edge/<collection>/`` holds the shard
directory (Edge's files: segments, WAL; named by the file ``current``, ``shard`` when there is none),
``schema.json`` and ``owner.lock``. An Edge shard has no collection and so no collection metadata: the schema
lives in ``schema.json`` next to the shard, written before the shard is created and replaced atomically
(temporary file, fsync, rename, fsync of the directory). A file rather than a reserved point, because a point
would be seen by every scroll, count and filtered delete and would have to be excluded from each; the file is
read without opening the shard. A shard without the file was not created by this project and is refused; a
file without a shard (a crash between the two) is simply written again.

What Edge 0.9.0 allows, measured (``benchmarks/README.md``): searches, counts and scrolls from several threads
while another thread upserts or updates payloads (each call releases the GIL); writes are serialised here (one
writer at a time, on the store's lock; reads never wait for it). ``optimize()``, the only way to build HNSW,
is manual, blocking, and holds the GIL for its whole run (minutes at 100k points), stopping every Python
thread; a shard directory opens in one process only (a second ``load`` fails on the WAL lock). But a flushed
shard's directory can be copied while it stays open, and the copy loads in another process with other HNSW
and optimizer settings (``EdgeShard.load(path, config)`` writes them into the copy); an
``UpdateOperation`` can be applied to two shards; a shard directory tolerates a file of ours in it. So the
index is built from a copy in a child process, the writes made meanwhile are replayed, and the copy is swapped
in (:mod:`rag.store.edge_index`). A build starts after an ingest (:meth:`EdgeStore.publish`), or 30 s after
the store is opened, when it holds more than ``RAG_QDRANT__EXACT_BELOW`` points and a fifth of them are not
in the index; searches use the index (``hnsw_ef`` = ``RAG_QDRANT__HNSW_EF``) only once one exists, and are
exact before. Points written after a build sit in Edge's appendable segment, which is always scanned exactly,
so they are found at once. Not used, and why: ``update_from_snapshot``/``snapshot_manifest`` (a snapshot
carries the whole shard, no cheaper than the copy); ``prevent_unoptimized`` (it would hide new points until an
optimize ran in this process); quantization and ``VectorStorageDatatype`` (the datatype of a shard's existing
segments cannot be changed by ``load``; measured options are in ``benchmarks/README.md``).

Edge's catches handled here: point ids must be integers or UUIDs (ours are UUIDs) and come back as
``uuid.UUID``; ``retrieve`` needs ``with_payload`` and ``with_vector``; a boolean in a match condition is
sent as the integer 1 and matches nothing, so the ``unfinished`` flag (written ``true`` or not at all) is
matched as "not empty"; RRF's ``k`` defaults to 2 unless given, so ``rrf_k`` is always passed;
``info().indexed_vectors_count`` counts plainly scanned vectors too, so the index is recorded by us
(``rag_hnsw.json`` inside the shard directory, which moves with it).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rag.config import QdrantSettings
from rag.errors import StoreError
from rag.records import PointPayload
from rag.sparse import SparseVector
from rag.store.base import StoreBase, has_terms
from rag.store.edge_index import (
    Build,
    IndexRecord,
    SwapGate,
    clean_layout,
    copy_tree,
    current_dir,
    fsync_dir,
    new_shard_dir,
    set_current,
    write_atomically,
)
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
# A new HNSW build starts once this share of the points is not in the index (added since the last build).
_REBUILD_SHARE = 0.2
# An opened store checks whether an index is due after this long (a one-shot CLI command has closed it by
# then: a build only pays off in a process that keeps running, such as ``rag serve``).
_OPEN_CHECK_DELAY_S = 30.0
# Indexing threshold given to the build: every segment over 1 KB gets HNSW (Edge's default is 10 MB).
_INDEXING_THRESHOLD_KB = 1
# The child's niceness: a build takes the CPU the searches leave.
_BUILD_NICE = 10
# The query planner scores a filter's matches exactly below this many KB of vectors (Qdrant's default).
_FULL_SCAN_THRESHOLD_KB = 10_000


class EdgeStore(StoreBase):
    """One Qdrant Edge shard per collection, owned by this process (a second opener is refused)."""

    capabilities = StoreCapabilities(single_process=True, concurrent_reads=True, hnsw=True)
    _writes_take_turns = True

    def __init__(self, settings: QdrantSettings, *, path: Path) -> None:
        super().__init__(settings, path=path)
        self.root = path / "edge" / settings.collection
        self._shard_dir = self.root / "shard"
        self._shard: Any = None
        self._opened = False
        self._importing = False
        self._owner = OwnerLock(self.root / "owner.lock", store=str(self.root))
        self._gate = SwapGate()  # reads wait only while a built shard is swapped in
        self._index: IndexRecord | None = None  # the live shard's HNSW index, if it has one
        self._build: Build | None = None
        self._build_lock = threading.Lock()  # one build at a time
        self._build_thread: threading.Thread | None = None
        self._builds_allowed = False  # from open to close (guarded by _build_lock)
        self._timer: threading.Timer | None = None
        self.last_swap_s: float | None = None  # how long reads were held back by the last swap
        self.last_copy_s: float | None = None  # how long writes were held back by the last build's shard copy

    @property
    def location(self) -> str:
        return str(self.root)

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        if self._opened:
            return
        self._owner.acquire()  # first: while a copy runs, another opener hears who holds the store
        try:
            if self.root.is_dir():
                removed = clean_layout(self.root)
                if removed:
                    log.info("removed unfinished index build(s) at %s: %s", self.location, ", ".join(removed))
            self._shard_dir = current_dir(self.root)
            if not self._importing:
                self._refuse_unreadable()
            if self._shard_exists():
                from qdrant_edge import EdgeShard

                with self._errors("load"):
                    self._shard = EdgeShard.load(str(self._shard_dir))
                self._index = IndexRecord.read(self._shard_dir)
        except StoreError:
            self._owner.release()
            raise
        self._opened = True
        with self._build_lock:
            self._builds_allowed = True
        self._timer = threading.Timer(_OPEN_CHECK_DELAY_S, self._maybe_build)
        self._timer.daemon = True
        self._timer.start()

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
        write_atomically(self.root / _IMPORT_FILE, json.dumps({"resume": resume}))

    def end_import(self) -> None:
        (self.root / _IMPORT_FILE).unlink(missing_ok=True)
        fsync_dir(self.root)
        self._importing = False

    def close(self) -> None:
        """Close the shard; an index build in progress is abandoned (the next ingest or open starts it again)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with self._build_lock:  # no build starts from now on; the one in progress ends here
            self._builds_allowed = False
        self._cancel_build()
        if self._shard is not None:
            with self._lock.hold(), self._errors("close"):
                self._shard.close()
            self._shard = None
        self._index = None
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
            write_atomically(self.root / _SCHEMA_FILE, json.dumps(schema.as_metadata(), indent=1))
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
        self._cancel_build()
        with self._call("drop", write=True):
            self._shard.close()
            self._shard = None
            shutil.rmtree(self._shard_dir)  # the shard first: a schema file without a shard is harmless
            (self.root / _SCHEMA_FILE).unlink(missing_ok=True)
        self._index = None
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
            self._update(q.UpdateOperation.upsert_points(batch))

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

    def retrieve(
        self, ids: Sequence[str], *, vectors: bool | Sequence[str] = False, payload: bool = True
    ) -> list[PointRecord]:
        if not self.exists():
            return []
        with_vector = vectors if isinstance(vectors, bool) else list(vectors)
        with self._call("retrieve"):
            return [_record(p) for p in self._edge.retrieve(list(ids), payload, with_vector)]

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
                self._update(q.UpdateOperation.delete_points_by_filter(flt))
        return count

    def _flag(self, where: Where) -> None:
        import qdrant_edge as q

        with self._call("set_payload", write=True):
            self._update(q.UpdateOperation.set_payload_by_filter(_filter(where), {UNFINISHED: True}))

    def _unflag(self, target: Sequence[str] | Where) -> None:
        import qdrant_edge as q

        op = (
            q.UpdateOperation.delete_payload_by_filter(_filter(target), [UNFINISHED])
            if isinstance(target, Where)
            else q.UpdateOperation.delete_payload(list(target), [UNFINISHED])
        )
        with self._call("delete_payload", write=True):
            self._update(op)

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
        params = q.SearchParams(exact=True) if exact else q.SearchParams(hnsw_ef=self.settings.hnsw_ef)
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
        params = q.SearchParams(exact=True) if exact else q.SearchParams(hnsw_ef=self.settings.hnsw_ef)
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

    # -- turns, and the HNSW index -------------------------------------------------------------------

    def _turn(self, *, write: bool) -> AbstractContextManager[None]:
        """Writes take turns on the lock; reads pass, except while a built shard is swapped in."""
        return self._lock.hold() if write else self._gate.read()

    def _update(self, operation: Any) -> None:
        """One write on the live shard (its write turn held), recorded for a build in progress to replay."""
        self._edge.update(operation)
        build = self._build
        if build is not None:
            build.record(operation)

    def publish(self, ids: Sequence[str]) -> None:
        super().publish(ids)
        self._maybe_build()  # an ingest's versions are finished: the index may be due

    def publish_version(self, tenant: str, source_id: str, content_hash: str) -> None:
        super().publish_version(tenant, source_id, content_hash)
        self._maybe_build()

    def _exact(self) -> bool:
        return self._index is None or super()._exact()

    def index_state(self) -> str:
        """ "exact search (N points)" or "HNSW index (N points)", with "building HNSW index (started …)" first."""
        if not self.exists():
            return "no collection yet"
        points = self._points_total()
        index = self._index
        if index is not None and points > self.settings.exact_below:
            state = f"HNSW index ({points} points, {index.points} indexed)"
        else:
            state = f"exact search ({points} points)"
        build = self._build
        if build is not None:
            return f"building HNSW index (started {build.started_at}, {build.points} points); now {state}"
        return state

    def index_due(self) -> bool:
        """Whether an HNSW build is worth starting: over ``RAG_QDRANT__EXACT_BELOW`` points, a fifth not indexed."""
        if self._shard is None or self._build is not None:
            return False
        points = self._points_total()
        indexed = self._index.points if self._index is not None else 0
        return points > self.settings.exact_below and points - indexed > _REBUILD_SHARE * points

    def _maybe_build(self) -> None:
        try:
            if self._builds_allowed and not self._importing and self.index_due():
                self.build_index()
        except StoreError as exc:
            log.warning("HNSW index build not started at %s: %s", self.location, exc)

    def build_index(self) -> bool:
        """Start building the HNSW index in the background (a child process); False if one is running already.

        Writes wait for the copy of the shard (its files, under the write lock); nothing waits for the build.
        :meth:`wait_for_index` waits for it to end.
        """
        with self._build_lock:
            if self._build is not None or not self._builds_allowed or self._importing:
                return False
            spec = self._build_spec()
            directory = new_shard_dir(self.root)
            with self._call("flush", write=True):
                t_copy = time.monotonic()
                self._edge.flush()
                copy_tree(self._shard_dir, directory)
                self.last_copy_s = time.monotonic() - t_copy
                build = Build(directory, spec, points=int(self._edge.info().points_count))
                self._build = build
            thread = threading.Thread(target=self._run_build, args=(build,), name="rag-hnsw-build", daemon=True)
            self._build_thread = thread
            thread.start()
        log.info("building an HNSW index over %d points at %s (in a child process)", build.points, self.location)
        return True

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Wait for the build in progress (if any) to end; False if it is still running after ``timeout``."""
        thread = self._build_thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _build_spec(self) -> dict[str, Any]:
        schema = self.collection_schema()
        if schema is None:
            raise StoreError(f"collection {self.collection!r} at {self.location} does not exist yet")
        return {
            "vectors": {v.name: v.dimension for v in schema.vectors},
            "sparse": [s.name for s in schema.sparse],
            "m": self.settings.hnsw_m,
            "ef_construct": self.settings.hnsw_ef_construct,
            "full_scan_threshold_kb": _FULL_SCAN_THRESHOLD_KB,
            "indexing_threshold_kb": _INDEXING_THRESHOLD_KB,
            "threads": 1,
            "nice": _BUILD_NICE,
        }

    def _run_build(self, build: Build) -> None:
        """The build's thread: the child, then the replay of the journal and the swap (see rag.store.edge_index)."""
        from qdrant_edge import EdgeShard

        built: Any = None
        swapped = False
        t0 = time.monotonic()
        try:
            status, err = build.run_child()
            if build.cancelled:
                return
            if status != 0:
                log.warning("HNSW index build at %s failed (exit status %d): %s", self.location, status, err)
                return
            built_s = time.monotonic() - t0
            built = EdgeShard.load(str(build.directory))
            done = 0
            while len(build.journal) - done > 64 and not build.cancelled:  # most of it while writes go on
                done = _replay(built, build.journal, done)
            with self._lock.hold():
                if build.cancelled or self._shard is None:
                    return
                replayed = _replay(built, build.journal, done)
                record = IndexRecord(
                    build.points, int(build.spec["m"]), int(build.spec["ef_construct"]), build.started_at
                )
                record.write(build.directory)
                built.flush()
                old, old_dir = self._shard, self._shard_dir
                t_swap = time.monotonic()
                with self._gate.swap():
                    set_current(self.root, build.directory)  # the commit point
                    self._shard, self._shard_dir, self._index = built, build.directory, record
                    self._total = None
                self.last_swap_s = time.monotonic() - t_swap
                swapped = True
                self._build = None
                old.close()
                shutil.rmtree(old_dir, ignore_errors=True)
            log.info(
                "HNSW index over %d points at %s: built in %.1f s, %d later writes replayed, reads held %.4f s",
                build.points,
                self.location,
                built_s,
                replayed,
                self.last_swap_s,
            )
        except Exception:  # a worker boundary: the store goes on searching exactly
            log.exception("HNSW index build at %s failed; searches stay exact", self.location)
        finally:
            if not swapped:
                if built is not None:
                    built.close()
                shutil.rmtree(build.directory, ignore_errors=True)
            with self._build_lock:
                if self._build is build:
                    self._build = None

    def _cancel_build(self) -> None:
        build, thread = self._build, self._build_thread
        if build is not None:
            build.cancel()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._build_thread = None


def _replay(shard: Any, journal: list[Any], start: int) -> int:
    """Apply ``journal[start:]`` (as long as it is now) to ``shard``; returns how far it got."""
    stop = len(journal)
    for operation in journal[start:stop]:
        shard.update(operation)
    return stop


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
