from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from rag.errors import SchemaMismatchError, StoreError
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
    source_point_id,
)

SCHEMA = CollectionSchema((VectorSchema("text", 4, "text-model"), VectorSchema("image", 3, "image-model")))


@pytest.fixture
def store(make_store) -> Store:
    s = make_store()
    s.ensure_collection(SCHEMA)
    return s


def _payload(tenant: str, source: str, kind: str, content_hash: str = "h1", page: int | None = None) -> dict:
    modality = {"text": "text", "image": "image", "page": "image"}[kind]
    return {
        "tenant": tenant,
        "source_id": source,
        "name": Path(source).name,
        "path": source,
        "mime_type": "text/plain",
        "kind": kind,
        "modality": modality,
        "content_hash": content_hash,
        "page": page,
    }


def _text(tenant: str, source: str, locator: str, vec: list[float], **kw) -> PointRecord:
    h = kw.get("content_hash", "h1")
    return PointRecord(
        point_id(tenant, source, h, locator), {"text": np.array(vec)}, _payload(tenant, source, "text", **kw)
    )


def _image(tenant: str, source: str, locator: str, vec: list[float], **kw) -> PointRecord:
    h = kw.get("content_hash", "h1")
    return PointRecord(
        point_id(tenant, source, h, locator), {"image": np.array(vec)}, _payload(tenant, source, "page", **kw)
    )


def test_point_ids_are_deterministic_uuids_and_depend_on_every_part():
    a = point_id("t", "/s", "h", "chunk-0")
    assert a == point_id("t", "/s", "h", "chunk-0")
    assert (
        len(
            {
                a,
                point_id("u", "/s", "h", "chunk-0"),
                point_id("t", "/x", "h", "chunk-0"),
                point_id("t", "/s", "g", "chunk-0"),
                point_id("t", "/s", "h", "chunk-1"),
            }
        )
        == 5
    )
    assert source_point_id("t", "/s") != source_point_id("u", "/s")


def test_collection_has_one_named_vector_per_modality_with_model_metadata(store: Store):
    store.upsert([_text("a", "/doc", "c0", [1, 0, 0, 0]), _image("a", "/doc", "p1", [1, 0, 0], page=1)])
    sizes = {
        name: len(vec)
        for p in store.retrieve([r.id for r in store.points()], vectors=True)
        for name, vec in p.vectors.items()
    }
    assert sizes == {"text": 4, "image": 3}
    assert store.stored_schema() == {
        "text": {"model": "text-model", "dim": 4},
        "image": {"model": "image-model", "dim": 3},
    }


def test_collection_schema_gives_back_the_schema_it_was_created_with(make_store):
    store = make_store()
    assert store.collection_schema() is None and store.total() == 0
    schema = CollectionSchema(SCHEMA.vectors, sparse=(SparseSchema("sparse", "bm25/v1"),))
    store.ensure_collection(schema)
    assert store.collection_schema() == schema


def test_total_counts_every_point_where_count_counts_the_searchable_ones(store: Store):
    store.upsert([_text("a", "/d", "c0", [1, 0, 0, 0]), _text("b", "/e", "c0", [0, 1, 0, 0])])
    store.put_source(SourceRecord("a", "/d", "/d", "d", "text/plain", "h1", 1, "2026-01-01T00:00:00+00:00"))
    store.upsert([_text("a", "/d", "c1", [1, 1, 0, 0], content_hash="h2")])
    store.hide_stale_many("a", {"/d": "h1"})  # the h2 point is flagged unfinished
    assert store.count() == 2 and store.total() == 4


def test_retrieve_reads_only_the_vectors_named_and_the_payload_if_asked(make_store):
    store = make_store()
    store.ensure_collection(CollectionSchema(SCHEMA.vectors, sparse=(SparseSchema("sparse", "bm25/v1"),)))
    record = _text("a", "/doc", "c0", [1, 0, 0, 0])
    record.vectors["sparse"] = SparseVector((3, 7), (0.5, 1.5))
    store.upsert([record])
    [full] = store.retrieve([record.id], vectors=True)
    assert set(full.vectors) == {"text", "sparse"} and full.payload["tenant"] == "a"
    [dense] = store.retrieve([record.id], vectors=["text"], payload=False)
    assert set(dense.vectors) == {"text"} and not dense.payload
    np.testing.assert_allclose(dense.vectors["text"], [1, 0, 0, 0])
    [bare] = store.retrieve([record.id])
    assert bare.vectors == {} and bare.payload == full.payload


def test_points_carry_only_their_own_vectors_and_fused_search_returns_both(store: Store):
    store.upsert([_text("a", "/doc", "c0", [1, 0, 0, 0]), _image("a", "/doc", "p1", [1, 0, 0], page=1)])
    points = store.retrieve([point_id("a", "/doc", "h1", "c0")], vectors=True)
    assert set(points[0].vectors) == {"text"}
    np.testing.assert_allclose(points[0].vectors["text"], [1, 0, 0, 0])
    hits = store.search(
        {"text": np.array([1, 0, 0, 0.0]), "image": np.array([1, 0, 0.0])},
        where=StoreFilter(tenant="a"),
        limit=10,
        prefetch_limit=10,
    )
    assert {h.payload["kind"] for h in hits} == {"text", "page"}


def test_upsert_of_same_ids_keeps_count(store: Store):
    records = [_text("a", "/doc", f"c{i}", [1, i, 0, 0]) for i in range(5)]
    store.upsert(records)
    store.upsert(records)
    assert store.count() == 5


def test_upsert_is_batched(make_store, monkeypatch: pytest.MonkeyPatch):
    store = make_store(upsert_batch_size=4)
    store.ensure_collection(SCHEMA)
    calls: list[int] = []
    real = store._write_points
    monkeypatch.setattr(store, "_write_points", lambda points: (calls.append(len(points)), real(points))[1])
    store.upsert([_text("a", "/doc", f"c{i}", [1, i, 0, 0]) for i in range(10)])
    assert calls == [4, 4, 2] and store.count() == 10


def test_filters_by_tenant_source_modality_and_page(store: Store):
    store.upsert(
        [
            _text("a", "/one.txt", "c0", [1, 0, 0, 0]),
            _text("a", "/two.pdf", "c0", [1, 0.1, 0, 0], page=2),
            _text("a", "/two.pdf", "c1", [1, 0.2, 0, 0], page=5),
            _image("a", "/two.pdf", "p2", [1, 0, 0], page=2),
            _text("b", "/one.txt", "c0", [1, 0, 0, 0]),
        ]
    )
    q = {"text": np.array([1, 0, 0, 0.0]), "image": np.array([1, 0, 0.0])}

    def ids(**kw):
        hits = store.search(q, where=StoreFilter(**kw), limit=10, prefetch_limit=10)
        return sorted((h.payload["tenant"], h.payload["name"], h.payload["kind"], h.payload["page"]) for h in hits)

    assert all(t == "b" for t, *_ in ids(tenant="b")) and len(ids(tenant="b")) == 1
    assert ids(tenant="a", sources=("two.pdf",)) == [
        ("a", "two.pdf", "page", 2),
        ("a", "two.pdf", "text", 2),
        ("a", "two.pdf", "text", 5),
    ]
    assert ids(tenant="a", sources=("/one.txt",)) == [("a", "one.txt", "text", None)]
    assert ids(tenant="a", modalities=("image",)) == [("a", "two.pdf", "page", 2)]
    assert ids(tenant="a", page_from=3) == [("a", "two.pdf", "text", 5)]
    assert ids(tenant="a", page_from=1, page_to=2) == [("a", "two.pdf", "page", 2), ("a", "two.pdf", "text", 2)]


def test_rrf_k_and_dbsf_change_scores(store: Store):
    store.upsert([_text("a", "/d", f"c{i}", [1, i * 0.1, 0, 0]) for i in range(3)])
    q = {"text": np.array([1, 0, 0, 0.0])}
    flt = StoreFilter(tenant="a")
    k60 = store.search(q, where=flt, limit=3, prefetch_limit=10, rrf_k=60)
    k2 = store.search(q, where=flt, limit=3, prefetch_limit=10, rrf_k=2)
    assert k60[0].score == pytest.approx(1 / 60)  # Qdrant: 1 / (k + rank), rank from 0
    assert k2[0].score == pytest.approx(1 / 2)
    dbsf = store.search(q, where=flt, limit=3, prefetch_limit=10, fusion="dbsf")
    assert [h.id for h in dbsf] == [h.id for h in k60]


def test_search_each_gives_each_vector_its_own_hits_with_raw_scores(make_store):
    store = make_store()
    store.ensure_collection(CollectionSchema(SCHEMA.vectors, sparse=(SparseSchema("sparse", "bm25/v1"),)))
    terms = {"c0": SparseVector((1, 2), (1.0, 1.0)), "c1": SparseVector((3,), (1.0,))}
    for i, vec in enumerate([[1, 0, 0, 0], [0.6, 0.8, 0, 0]]):
        record = _text("a", "/d", f"c{i}", vec)
        store.upsert([PointRecord(record.id, {**record.vectors, "sparse": terms[f"c{i}"]}, record.payload)])
    store.upsert([_text("b", "/d", "c0", [1, 0, 0, 0]), _image("a", "/p", "p1", [0, 1, 0])])
    store.upsert([_text("a", "/d", "c9", [1, 0, 0, 0], content_hash="h2")])
    store.hide_stale_many("a", {"/d": "h1"})  # the h2 point: unfinished, never read
    queries = [
        ("text", np.array([1, 0, 0, 0.0])),
        ("sparse", SparseVector((), ())),
        ("sparse", SparseVector((2,), (1.0,))),
        ("image", np.array([0, 1, 0.0])),
    ]
    text, empty, sparse, image = store.search_each(queries, where=StoreFilter(tenant="a"), limit=10)
    c0, c1 = (point_id("a", "/d", "h1", f"c{i}") for i in range(2))
    assert [h.id for h in text] == [c0, c1]
    assert [round(h.score, 4) for h in text] == [1.0, 0.6]  # cosine, not a fused rank score
    assert empty == [] and [h.id for h in sparse] == [c0] and sparse[0].score > 0
    assert [h.payload["kind"] for h in image] == ["page"]
    everyone = store.search_each([("text", np.array([1, 0, 0, 0.0]))], where=None, limit=10)[0]
    assert sorted(h.payload["tenant"] for h in everyone) == ["a", "a", "b"]  # no unfinished point


def test_source_records_are_vectorless_and_never_searched(store: Store):
    store.upsert([_text("a", "/d", "c0", [1, 0, 0, 0])])
    record = SourceRecord("a", "/d", "/d", "d", "text/plain", "h1", 1, "2026-01-01T00:00:00+00:00")
    store.put_source(record)
    assert store.get_source("a", "/d") == record
    assert store.get_source("b", "/d") is None
    assert store.count() == 1
    hits = store.search({"text": np.array([1, 0, 0, 0.0])}, where=StoreFilter(tenant="a"), limit=10, prefetch_limit=10)
    assert [h.payload["kind"] for h in hits] == ["text"]
    assert [r.source_id for r in store.list_sources("a")] == ["/d"]


def test_delete_stale_keeps_current_version_and_record(store: Store):
    store.upsert([_text("a", "/d", f"c{i}", [1, i, 0, 0], content_hash="old") for i in range(3)])
    store.upsert([_text("a", "/d", f"c{i}", [1, i, 0, 0], content_hash="new") for i in range(2)])
    store.put_source(SourceRecord("a", "/d", "/d", "d", "text/plain", "old", 3, "now"))
    assert store.delete_stale("a", "/d", keep_hash="new") == 3
    assert store.count() == 2
    assert store.get_source("a", "/d") is not None
    assert store.delete_source("a", "/d") == 3  # 2 points + the record
    assert store.count() == 0 and store.get_source("a", "/d") is None


def test_delete_stale_many_is_exact_per_source_and_tenant(store: Store):
    # /a keeps "h1"; /b moved from "h1" to "h2" (same content as /a had): each keeps only its own version.
    store.upsert([_text("t", "/a", f"c{i}", [1, i, 0, 0], content_hash="h1") for i in range(2)])
    store.upsert([_text("t", "/b", f"c{i}", [0, 1, i, 0], content_hash="h1") for i in range(3)])
    store.upsert([_text("t", "/b", "c0", [0, 1, 0, 0], content_hash="h2")])
    store.upsert([_text("other", "/b", "c0", [0, 1, 0, 0], content_hash="h1")])
    store.put_sources(
        [
            SourceRecord("t", "/a", "/a", "a", "text/plain", "h1", 2, "now"),
            SourceRecord("t", "/b", "/b", "b", "text/plain", "h1", 3, "now"),
        ]
    )
    assert store.delete_stale_many("t", {"/a": "h1", "/b": "h2"}) == 3
    assert store.delete_stale_many("t", {}) == 0
    assert store.count("t") == 3 and store.count("other") == 1
    assert [r.source_id for r in store.list_sources("t")] == ["/a", "/b"]


@pytest.mark.parametrize(
    "other",
    [
        CollectionSchema((VectorSchema("text", 8, "text-model"), VectorSchema("image", 3, "image-model"))),
        CollectionSchema((VectorSchema("text", 4, "another-model"), VectorSchema("image", 3, "image-model"))),
        CollectionSchema((VectorSchema("text", 4, "text-model"), VectorSchema("video", 3, "image-model"))),
    ],
    ids=["dimension", "model", "new-vector"],
)
def test_schema_mismatch_is_reported_and_recreate_fixes_it(store: Store, other: CollectionSchema):
    store.upsert([_text("a", "/d", "c0", [1, 0, 0, 0])])
    with pytest.raises(SchemaMismatchError) as err:
        store.ensure_collection(other)
    assert "'t'" in str(err.value) and "--recreate" in str(err.value)
    assert store.count() == 1  # nothing was touched
    store.ensure_collection(other, recreate=True)
    assert store.count() == 0
    assert store.stored_schema() == other.as_metadata()["rag_schema"]["vectors"]


def test_reading_with_a_subset_of_vectors_is_allowed_with_a_note(store: Store):
    subset = CollectionSchema((VectorSchema("text", 4, "text-model"),))
    notes = store.check_schema(subset, mode="read")
    assert notes and "image" in notes[0]
    assert store.ensure_collection(subset) == notes  # writing a subset is allowed too: no vector is mixed


def _foreign(engine: str, path: Path) -> None:
    """A collection named "t" at ``path`` that this project did not create (no schema)."""
    if engine == "edge":
        import qdrant_edge

        config = qdrant_edge.EdgeConfig(vectors={"text": qdrant_edge.EdgeVectorParams(4, qdrant_edge.Distance.Cosine)})
        qdrant_edge.EdgeShard.create(str(path / "edge" / "t" / "shard"), config).close()
    else:
        from qdrant_client import QdrantClient, models

        client = QdrantClient(path=str(path))
        client.create_collection(
            "t", vectors_config={"text": models.VectorParams(size=4, distance=models.Distance.COSINE)}
        )
        client.close()


def test_foreign_collection_is_refused(engine: str, make_store, tmp_path: Path):
    _foreign(engine, tmp_path / "q")
    s = make_store()
    with pytest.raises(SchemaMismatchError, match="not created by this project"):
        s.ensure_collection(SCHEMA)


@pytest.mark.integration  # two Python processes
def test_a_second_process_is_refused_in_one_line_naming_the_store_and_its_owner(
    engine: str, store: Store, tmp_path: Path
):
    import os
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from rag.errors import StoreError\n"
        "from tests.rag.store.conftest import open_store\n"
        f"try:\n    open_store({engine!r}, Path({str(tmp_path / 'q')!r}))\n"
        "except StoreError as e:\n    print('ERR', e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERR the embedded store at "), out.stdout + out.stderr
    assert str(tmp_path / "q") in lines[0] and f"in use by process {os.getpid()}" in lines[0]
    assert "HTTP API" in lines[0] and "RAG_QDRANT__URL" in lines[0] and "stop the server" in lines[0]
    store.close()  # once the owner is gone, the next process opens it
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and "ERR" not in out.stdout, out.stdout + out.stderr


# -- reads see finished versions only ---------------------------------------------------------------


def _record(tenant: str, source: str, content_hash: str, points: int) -> SourceRecord:
    return SourceRecord(tenant, source, source, Path(source).name, "text/plain", content_hash, points, "2026-01-01")


def _unfinished(record: PointRecord, started: str = "2026-01-01T00:00:00+00:00") -> PointRecord:
    payload = {**record.payload, UNFINISHED: True, "ingested_at": started}
    return PointRecord(record.id, record.vectors, payload)


def _visible(store: Store, tenant: str = "a") -> set[tuple[str, str]]:
    q = {"text": np.array([1, 0, 0, 0.0])}
    hits = store.search(q, where=StoreFilter(tenant=tenant), limit=100, prefetch_limit=100)
    return {(h.payload["source_id"], h.payload["content_hash"]) for h in hits}


def test_points_of_unfinished_versions_are_never_read_nor_counted(store: Store):
    store.upsert([_text("a", "/old", f"c{i}", [1, i, 0, 0]) for i in range(2)])
    store.put_source(_record("a", "/old", "h1", 2))
    store.upsert([_unfinished(_text("a", "/new", f"c{i}", [1, i, 0, 0])) for i in range(3)])
    assert _visible(store) == {("/old", "h1")}
    assert store.count() == 2 and store.count("a") == 2
    assert [r.source_id for r in store.list_sources("a")] == ["/old"]
    # ... but deletes and the stale-point scan see them
    assert store.source_ids("a") == {"/old", "/new"}
    [found] = store.unfinished("a")
    assert (found.source_id, found.content_hash, found.points, found.published) == ("/new", "h1", 3, False)
    assert store.delete_source("a", "/new") == 3
    assert store.unfinished("a") == []


def test_finalising_a_new_version_never_shows_two_versions_or_none(store: Store):
    """The steps of the pipeline's finalisation, with a read after each: one version is visible throughout."""
    old = [_text("a", "/doc", f"c{i}", [1, i, 0, 0], content_hash="h1") for i in range(2)]
    store.upsert(old)
    store.put_source(_record("a", "/doc", "h1", 2))
    new = [_unfinished(_text("a", "/doc", f"c{i}", [1, i, 0, 0], content_hash="h2")) for i in range(3)]
    store.upsert(new)
    assert _visible(store) == {("/doc", "h1")}
    store.hide_stale_many("a", {"/doc": "h2"})
    assert _visible(store) == set()  # between two steps: the old version is hidden, the new not yet shown
    store.put_source(_record("a", "/doc", "h2", 3))
    store.publish([r.id for r in new])
    assert _visible(store) == {("/doc", "h2")}
    assert store.delete_stale_many("a", {"/doc": "h2"}) == 2
    assert _visible(store) == {("/doc", "h2")} and store.count("a") == 3
    assert store.unfinished("a", thorough=True) == []
    stored = store.retrieve([new[0].id])[0].payload
    assert UNFINISHED not in stored  # a finished point's payload is as before the flag existed


@pytest.mark.parametrize("killed_after", ["upsert", "hide", "record", "publish"])
def test_recovery_after_a_kill_at_each_step_leaves_exactly_the_recorded_version(store: Store, killed_after):
    old = [_text("a", "/doc", f"c{i}", [1, i, 0, 0], content_hash="h1") for i in range(2)]
    store.upsert(old)
    store.put_source(_record("a", "/doc", "h1", 2))
    new = [_unfinished(_text("a", "/doc", f"c{i}", [1, i, 0, 0], content_hash="h2")) for i in range(3)]
    steps = {
        "upsert": lambda: store.upsert(new),
        "hide": lambda: store.hide_stale_many("a", {"/doc": "h2"}),
        "record": lambda: store.put_source(_record("a", "/doc", "h2", 3)),
        "publish": lambda: store.publish([r.id for r in new[:2]]),  # killed half-way through publishing
    }
    for name, step in steps.items():
        step()
        if name == killed_after:
            break
    recorded = store.get_source("a", "/doc")
    assert recorded is not None
    assert _visible(store) <= {("/doc", recorded.content_hash)}  # before recovery: nothing unrecorded is read
    store.recover()
    assert _visible(store) == {("/doc", recorded.content_hash)}
    assert store.count("a") == recorded.points
    assert store.unfinished(thorough=True) == []


def test_recovery_on_a_server_spares_young_versions_another_worker_may_be_writing(store: Store):
    store.upsert([_unfinished(_text("a", "/old-crash", "c0", [1, 0, 0, 0]), started="2020-01-01T00:00:00+00:00")])
    young = datetime.now(UTC).isoformat(timespec="seconds")
    store.upsert([_unfinished(_text("a", "/running", "c0", [1, 0, 0, 0]), started=young)])
    recovered = store.recover(older_than_s=3600)
    assert [v.source_id for v in recovered] == ["/old-crash"]
    assert [v.source_id for v in store.unfinished("a")] == ["/running"]


def test_a_thorough_scan_finds_unrecorded_versions_of_stores_from_before_the_flag(store: Store):
    store.upsert([_text("a", "/doc", "c0", [1, 0, 0, 0], content_hash="h1")])
    store.put_source(_record("a", "/doc", "h1", 1))
    store.upsert([_text("a", "/doc", "c0", [1, 0, 0, 0], content_hash="h0")])  # an old half-written version
    assert store.unfinished("a") == []
    [found] = store.unfinished("a", thorough=True)
    assert (found.content_hash, found.published) == ("h0", False)
    store.recover(thorough=True)
    assert store.unfinished("a", thorough=True) == [] and store.count("a") == 1


def test_edge_refuses_a_local_mode_store_of_an_earlier_version_instead_of_reading_it_empty(tmp_path: Path, stores):
    local = stores("local", tmp_path / "q")
    local.ensure_collection(SCHEMA)
    local.upsert([_text("a", "/d", "c0", [1, 0, 0, 0])])
    local.close()
    with pytest.raises(StoreError, match=r"local mode.*`rag migrate --from local --to edge`.*EMBEDDED=local"):
        stores("edge", tmp_path / "q")


def test_edge_searches_run_while_another_thread_writes(tmp_path: Path, stores):
    import threading

    store = stores("edge", tmp_path / "q")
    store.ensure_collection(SCHEMA)
    store.upsert([_text("a", "/d", f"c{i}", [1, i, 0, 0]) for i in range(50)])
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            for n in range(20):
                store.upsert([_text("a", f"/w{n}", f"c{i}", [0, 1, i, 0]) for i in range(64)])
                store.hide_stale_many("a", {f"/w{n}": "other"})
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    searches = 0
    while not done.is_set() or searches < 5:
        hits = store.search(
            {"text": np.array([1, 0, 0, 0.0])}, where=StoreFilter(tenant="a"), limit=5, prefetch_limit=5
        )
        assert hits and all(h.payload["source_id"] == "/d" for h in hits)
        searches += 1
    writer.join()
    assert errors == [] and store.count("a") == 50  # every written point is hidden (flagged) again


def test_index_state_says_searches_are_exact_where_no_hnsw_index_is_built(make_store):
    store = make_store(exact_below=1)
    assert store.index_state() == "no collection yet"
    store.ensure_collection(SCHEMA)
    store.upsert([_text("a", "/d", f"c{i}", [1, i, 0, 0]) for i in range(3)])
    # Qdrant Edge builds HNSW only after an ingest (rag.store.edge_index); local mode always scans
    assert store.index_state() == "exact search (3 points)"


def test_index_state_on_a_server_names_its_hnsw_index_above_the_exact_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from rag.config import QdrantSettings
    from rag.store import QdrantStore

    server = QdrantStore(QdrantSettings(url="http://127.0.0.1:9", exact_below=10), path=tmp_path)
    monkeypatch.setattr(server, "exists", lambda: True)
    monkeypatch.setattr(server, "_points_total", lambda: 10)
    assert server.index_state() == "exact search (10 points)"
    monkeypatch.setattr(server, "_points_total", lambda: 11)
    assert server.index_state() == "HNSW index (11 points, over RAG_QDRANT__EXACT_BELOW=10)"


def test_a_server_collection_gets_the_hnsw_settings_and_searches_use_hnsw_ef(tmp_path: Path, stores, monkeypatch):
    """No Qdrant server runs here: local mode stands in, told it is a server, and the client calls are read."""
    import dataclasses
    import warnings

    store = stores("local", tmp_path / "q", hnsw_m=24, hnsw_ef_construct=150, hnsw_ef=77, exact_below=0)
    store.capabilities = dataclasses.replace(store.capabilities, single_process=False)
    calls: dict[str, list[dict]] = {"create_collection": [], "query_points": [], "query_batch_points": []}
    for name, seen in calls.items():
        real = getattr(store._qc, name)
        monkeypatch.setattr(
            store._qc, name, lambda *a, _real=real, _seen=seen, **kw: (_seen.append(kw), _real(*a, **kw))[1]
        )
    with warnings.catch_warnings():  # local mode warns (once a process) that indexes and search params do nothing
        warnings.simplefilter("ignore", UserWarning)
        store.ensure_collection(SCHEMA)
        store.upsert([_text("a", "/d", "c0", [1, 0, 0, 0])])
        store.search(
            {"text": [1, 0, 0, 0], "image": [1, 0, 0]}, where=StoreFilter(tenant="a"), limit=5, prefetch_limit=5
        )
        store.search_each({"text": [1, 0, 0, 0]}, where=StoreFilter(tenant="a"), limit=5)
    hnsw = calls["create_collection"][0]["hnsw_config"]
    assert (hnsw.m, hnsw.ef_construct) == (24, 150)
    assert [p.params.hnsw_ef for p in calls["query_points"][0]["prefetch"]] == [77, 77]
    assert calls["query_batch_points"][0]["requests"][0].params.hnsw_ef == 77
