"""Hybrid search: the ``sparse`` named vector in the store, the schema that records it, and the retriever."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.config import QdrantSettings
from rag.errors import RetrievalError, SchemaMismatchError
from rag.sparse import Bm25Encoder
from rag.store import (
    SCHEMA_VERSION,
    CollectionSchema,
    EdgeStore,
    PointRecord,
    QdrantStore,
    SparseSchema,
    Store,
    StoreFilter,
    VectorSchema,
    point_id,
)

ENC = Bm25Encoder()
DENSE = (VectorSchema("text", 4, "text-model"),)
HYBRID = CollectionSchema(DENSE, sparse=(SparseSchema("sparse", ENC.encoder_id),))
DENSE_ONLY = CollectionSchema(DENSE)


def _store(tmp_path: Path, schema: CollectionSchema, engine: str = "local") -> Store:
    s = EdgeStore if engine == "edge" else QdrantStore
    s = s(QdrantSettings(collection="h"), path=tmp_path / "q")
    s.ensure_collection(schema)
    return s


def _point(i: int, text: str, vec: list[float], *, sparse: bool = True) -> PointRecord:
    vectors: dict = {"text": np.array(vec, dtype=np.float32)}
    if sparse:
        vectors["sparse"] = ENC.encode_documents([text])[0]
    payload = {"tenant": "a", "source_id": f"/d{i}", "kind": "text", "modality": "text", "text": text}
    return PointRecord(point_id("a", f"/d{i}", "h", "chunk-0"), vectors, payload)


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_hybrid_collection_records_the_sparse_encoder_and_fuses_sparse_with_dense(tmp_path: Path, engine: str):
    s = _store(tmp_path, HYBRID, engine)
    meta = s._schema_metadata()  # type: ignore[attr-defined]
    assert meta is not None and meta["version"] == SCHEMA_VERSION == 2
    assert s.stored_sparse() == {"sparse": {"encoder": ENC.encoder_id, "modifier": "idf"}}
    s.upsert(
        [
            _point(0, "The Helios battery warranty lasts twelve years.", [1, 0, 0, 0]),
            _point(1, "Clean the solar panels twice a year.", [0, 1, 0, 0]),
            _point(2, "Inverters convert direct current.", [0, 0, 1, 0], sparse=False),
        ]
    )
    where = StoreFilter(tenant="a")
    q_sparse = ENC.encode_query("battery warranty")
    sparse_only = s.search([("sparse", q_sparse)], where=where, limit=5, prefetch_limit=10)
    assert [h.payload["source_id"] for h in sparse_only] == ["/d0"]  # only term matches
    dense_q = np.array([0, 0.9, 0.1, 0], dtype=np.float32)
    fused = s.search([("text", dense_q), ("sparse", q_sparse)], where=where, limit=5, prefetch_limit=10)
    # RRF: d0 (sparse rank 1, dense rank 3) and d1 (dense rank 1) tie on top, d2 (dense rank 2) follows them.
    assert {h.payload["source_id"] for h in fused[:2]} == {"/d0", "/d1"} and fused[2].payload["source_id"] == "/d2"
    # An empty sparse query (stopwords only) is skipped, not sent.
    empty = ENC.encode_query("what is it")
    assert s.search([("sparse", empty)], where=where, limit=5, prefetch_limit=10) == []
    assert len(s.search([("text", dense_q), ("sparse", empty)], where=where, limit=5, prefetch_limit=10)) == 3
    s.close()


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_an_rrf_tie_goes_to_the_hit_the_dense_vectors_rank_higher_on_every_run(tmp_path: Path, engine: str):
    s = _store(tmp_path, HYBRID, engine)
    # d0: dense 1st, sparse 2nd; d1: dense 2nd, sparse 1st (more query terms). Unweighted RRF: the same score.
    s.upsert(
        [
            _point(0, "The battery is covered for twelve years.", [1, 0, 0, 0]),
            _point(1, "Battery warranty: the warranty of the battery.", [0.8, 0.6, 0, 0]),
        ]
    )
    where = StoreFilter(tenant="a")
    pairs = [("text", np.array([1, 0, 0, 0], dtype=np.float32)), ("sparse", ENC.encode_query("battery warranty"))]
    assert [h.payload["source_id"] for h in s.search(pairs[1:], where=where, limit=5, prefetch_limit=10)] == [
        "/d1",
        "/d0",
    ]
    for _ in range(3):
        fused = s.search(pairs, where=where, limit=5, prefetch_limit=10)
        assert [h.payload["source_id"] for h in fused] == ["/d0", "/d1"]
        assert fused[0].score - fused[1].score < 1e-5  # a tie broken by a hair, not a different ranking
    s.close()


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_collection_without_the_sparse_vector_is_refused_with_recreate_hint(tmp_path: Path, engine: str):
    s = _store(tmp_path, DENSE_ONLY, engine)
    s.upsert([_point(0, "text", [1, 0, 0, 0], sparse=False)])
    for mode in ("read", "write"):
        with pytest.raises(SchemaMismatchError) as err:
            s.check_schema(HYBRID, mode=mode)  # type: ignore[arg-type]
        message = str(err.value)
        assert "no 'sparse' sparse vector" in message and "--recreate" in message
        assert "RAG_RETRIEVAL__SPARSE" in message
    with pytest.raises(SchemaMismatchError):
        s.ensure_collection(HYBRID)
    assert s.count() == 1  # nothing was touched
    s.ensure_collection(HYBRID, recreate=True)
    assert s.stored_sparse() == {"sparse": {"encoder": ENC.encoder_id, "modifier": "idf"}}
    s.close()


def test_schema_version_1_collections_count_as_dense_only(tmp_path: Path):
    from qdrant_client import models

    s = QdrantStore(QdrantSettings(collection="old"), path=tmp_path / "q")
    s._qc.create_collection(  # as an earlier version wrote it
        "old",
        vectors_config={"text": models.VectorParams(size=4, distance=models.Distance.COSINE)},
        metadata={"rag_schema": {"version": 1, "vectors": {"text": {"model": "text-model", "dim": 4}}}},
    )
    assert s.stored_sparse() == {}
    assert s.check_schema(DENSE_ONLY, mode="write") == []
    with pytest.raises(SchemaMismatchError, match="before hybrid search"):
        s.check_schema(HYBRID, mode="read")
    s.close()


def test_sparse_encoder_change_or_disabling_sparse_is_detected(tmp_path: Path):
    s = _store(tmp_path, HYBRID)
    other = CollectionSchema(DENSE, sparse=(SparseSchema("sparse", Bm25Encoder(avgdl=10).encoder_id),))
    with pytest.raises(SchemaMismatchError, match="avgdl=10"):
        s.check_schema(other, mode="read")
    # Sparse turned off: reading is fine (the sparse vector is just not searched); writing would leave it partial.
    notes = s.check_schema(DENSE_ONLY, mode="read")
    assert notes == ["sparse sparse vector is not searched (RAG_RETRIEVAL__SPARSE=false)"]
    with pytest.raises(SchemaMismatchError, match="new points would lack"):
        s.check_schema(DENSE_ONLY, mode="write")
    s.close()


# -- through RAG (real MiniLM) ---------------------------------------------------------------------

DOCS = {
    "warranty.md": "The Helios battery comes with a twelve year warranty covering capacity loss.",
    "cleaning.md": "Rinse the photovoltaic modules with clean water in spring and autumn.",
    "inverter.md": "The Zephyr-9 inverter converts direct current into alternating current for the grid.",
}


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    for name, text in DOCS.items():
        (root / name).write_text(text + "\n")
    return root


def test_rag_ingests_sparse_vectors_for_text_and_searches_each_vector_alone_or_fused(make_rag, docs: Path):
    rag = make_rag("minilm")
    assert rag.ingest([docs], progress=False).ok
    retriever, _ = rag.search_roles()
    assert retriever.vector_names == ("text", "sparse")
    points = list(rag._store.points())
    assert all(sorted(p.vectors) == ["sparse", "text"] for p in points if p.payload["kind"] == "text")
    # A made-up product name: BM25 matches it exactly.
    sparse = retriever.search("Zephyr-9", tenant="default", vectors=("sparse",))
    assert [Path(h.path).name for h in sparse] == ["inverter.md"]
    dense = retriever.search("how do I wash my solar panels", tenant="default", vectors=("text",), limit=1)
    assert Path(dense[0].path).name == "cleaning.md"
    fused = rag.search("Helios battery warranty", limit=3)
    assert Path(fused[0].path).name == "warranty.md" and len(fused) == 3
    # One encoding, several searches.
    encoded = retriever.encode("Helios battery warranty")
    assert set(encoded) == {"text", "sparse"}
    only_sparse = retriever.search_encoded(encoded, tenant="default", vectors=("sparse",))
    assert [Path(h.path).name for h in only_sparse] == ["warranty.md"]
    with pytest.raises(RetrievalError, match="no 'image' vector"):
        retriever.search("x", tenant="default", vectors=("image",))
    # A modality filter keeps the sparse prefetch (sparse points are text).
    from rag.records import SearchFilters

    assert rag.search("Zephyr-9", filters=SearchFilters(modalities=["text"]), limit=1)[0].path.endswith("inverter.md")


def test_sparse_disabled_and_old_collections(make_rag, docs: Path):
    plain = make_rag("minilm", retrieval={"sparse": False})
    assert plain.ingest([docs], progress=False).ok
    assert plain.search_roles()[0].vector_names == ("text",)
    assert plain._store.stored_sparse() == {}
    plain.close()
    hybrid = make_rag("minilm")  # same data dir: the collection built without the sparse vector
    with pytest.raises(SchemaMismatchError, match="--recreate"):
        hybrid.search("battery")
    with pytest.raises(SchemaMismatchError, match="--recreate"):
        hybrid.ingest([docs], progress=False)
    assert hybrid.ingest([docs], recreate=True, progress=False).ok
    assert hybrid.search_roles()[0].search("Zephyr-9", tenant="default", vectors=("sparse",))
