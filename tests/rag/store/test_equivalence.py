"""Both backends give the same answers: random sequences of upserts, version finalisations (the unfinished /
publish protocol), deletes, recoveries and searches are applied to Qdrant Edge and to qdrant-client, and every
read is compared (ids and order; scores to a tolerance)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag.sparse import SparseVector
from rag.store import (
    UNFINISHED,
    CollectionSchema,
    PointRecord,
    SourceRecord,
    SparseSchema,
    Store,
    StoreFilter,
    VectorSchema,
    point_id,
)
from tests.rag.store.conftest import ENGINES, open_store

SCHEMA = CollectionSchema((VectorSchema("text", 4, "m"),), sparse=(SparseSchema("sparse", "bm25"),))
TENANTS = ("a", "b")
SOURCES = ("/x", "/y", "/z")
HASHES = ("h1", "h2", "h3")


def _unit(seed: str, n: int) -> np.ndarray:
    """A pseudo-random vector per seed: distinct points never tie on score."""
    rng = np.random.default_rng(int(hashlib.sha256(seed.encode()).hexdigest()[:12], 16))
    return rng.standard_normal(n).astype(np.float32)


def _sparse(seed: str) -> SparseVector:
    rng = np.random.default_rng(int(hashlib.sha256(seed.encode()).hexdigest()[:12], 16))
    terms = sorted({int(t) for t in rng.integers(0, 12, 3)})
    return SparseVector(tuple(terms), tuple(float(w) for w in rng.uniform(0.5, 2.0, len(terms))))


def _version(tenant: str, source: str, content_hash: str, points: int) -> list[PointRecord]:
    records = []
    for i in range(points):
        pid = point_id(tenant, source, content_hash, f"c{i}")
        payload = {
            "tenant": tenant,
            "source_id": source,
            "name": source.strip("/"),
            "kind": "text",
            "modality": "text",
            "content_hash": content_hash,
            "page": i,
            "ingested_at": "2026-01-01T00:00:00+00:00",
            UNFINISHED: True,
        }
        records.append(PointRecord(pid, {"text": _unit(pid, 4), "sparse": _sparse(pid)}, payload))
    return records


write = st.tuples(st.sampled_from(TENANTS), st.sampled_from(SOURCES), st.sampled_from(HASHES))
operation = st.one_of(
    st.tuples(st.just("write"), write, st.integers(1, 5), st.booleans()),  # finalised, or left unfinished
    st.tuples(st.just("delete_source"), st.sampled_from(TENANTS), st.sampled_from(SOURCES)),
    st.tuples(st.just("delete_version"), write),
    st.tuples(st.just("recover"), st.booleans()),
    st.tuples(
        st.just("search"),
        st.sampled_from(TENANTS),
        st.integers(0, 10**6),
        st.sampled_from(["text", "sparse", "both"]),
        st.one_of(st.integers(1, 60).map(lambda k: ("rrf", k)), st.just(("dbsf", 0))),
        st.one_of(st.none(), st.sampled_from(SOURCES)),
        st.one_of(st.none(), st.integers(0, 4)),
    ),
)


def _apply(store: Store, op: tuple[Any, ...]) -> Any:
    kind = op[0]
    if kind == "write":
        (tenant, source, content_hash), points, finalise = op[1:]
        records = _version(tenant, source, content_hash, points)
        store.upsert(records)
        if finalise:  # as the ingest pipeline finalises a version
            keep = {source: content_hash}
            store.hide_stale_many(tenant, keep)
            store.put_source(SourceRecord(tenant, source, source, source, "text/plain", content_hash, points, "now"))
            store.publish([r.id for r in records])
            return store.delete_stale_many(tenant, keep)
        return None
    if kind == "delete_source":
        return store.delete_source(op[1], op[2])
    if kind == "delete_version":
        return store.delete_version(*op[1])
    if kind == "recover":
        return [(v.tenant, v.source_id, v.content_hash, v.points) for v in store.recover(thorough=op[1])]
    _, tenant, seed, using, (fusion, k), source, page_from = op
    queries: list[tuple[str, Any]] = []
    if using in ("text", "both"):
        queries.append(("text", _unit(f"q{seed}", 4)))
    if using in ("sparse", "both"):
        queries.append(("sparse", _sparse(f"q{seed}")))
    where = StoreFilter(tenant=tenant, sources=(source,) if source else (), page_from=page_from)
    hits = store.search(queries, where=where, limit=100, prefetch_limit=1000, fusion=fusion, rrf_k=k or 60)
    return [(h.id, round(h.score, 3)) for h in hits]


def _removes_points(op: tuple[Any, ...], result: Any, written: set[str]) -> bool:
    """Whether ``op`` (which returned ``result``) removed or replaced a stored point; ``written`` collects the
    ids written so far."""
    if op[0] == "write":
        (tenant, source, content_hash), points, _ = op[1:]
        ids = {r.id for r in _version(tenant, source, content_hash, points)}
        replaced = bool(ids & written)
        written |= ids
        return replaced or bool(result)  # result: the stale points a finalisation deleted
    return op[0] in ("delete_source", "delete_version", "recover") and bool(result)


def _reads(store: Store) -> Any:
    return (
        [store.count(t) for t in TENANTS],
        store.count(),
        [store.list_sources(t) for t in TENANTS],
        [sorted(store.source_ids(t)) for t in TENANTS],
        store.unfinished(thorough=True),
    )


@pytest.mark.slow  # 30 random sequences on both engines
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=12))
@example(  # found by this test: a sparse DBSF search after points were replaced and deleted
    ops=[
        ("write", ("a", "/x", "h1"), 1, False),
        ("write", ("a", "/x", "h1"), 1, False),
        ("delete_source", "a", "/x"),
        ("write", ("b", "/x", "h2"), 3, True),
        ("write", ("a", "/x", "h1"), 1, False),
        ("delete_source", "a", "/x"),
        ("search", "b", 100000, "sparse", ("dbsf", 0), None, None),
    ]
)
def test_edge_and_qdrant_client_answer_every_sequence_alike(ops: list[tuple[Any, ...]]):
    with tempfile.TemporaryDirectory() as tmp:
        stores = [open_store(engine, Path(tmp) / engine) for engine in ENGINES]
        try:
            for store in stores:
                store.ensure_collection(SCHEMA)
            deleted = False  # since a point was first removed or replaced, BM25's IDF may differ (see below)
            written: set[str] = set()
            for op in ops:
                edge, local = (_apply(store, op) for store in stores)
                if op[0] == "search" and deleted and op[3] != "text":
                    # Qdrant's engine keeps a deleted point's terms in the IDF statistics of its segment until
                    # the segment is optimised; local mode recounts live points. Same points found, scores differ.
                    assert sorted(i for i, _ in edge) == sorted(i for i, _ in local), op
                elif op[0] == "search":
                    assert [i for i, _ in edge] == [i for i, _ in local], op
                    np.testing.assert_allclose([s for _, s in edge], [s for _, s in local], rtol=1e-2, atol=1e-3)
                else:
                    assert edge == local, op
                deleted = deleted or _removes_points(op, edge, written)
                assert _reads(stores[0]) == _reads(stores[1]), op
        finally:
            for store in stores:
                store.close()
