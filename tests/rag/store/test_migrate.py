"""Moving a store out and back (``rag migrate``): Edge → qdrant-client (local mode stands in for a server) → Edge."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rag.errors import StoreError
from rag.sparse import SparseVector
from rag.store import (
    CollectionSchema,
    PointRecord,
    SourceRecord,
    SparseSchema,
    Store,
    StoreFilter,
    VectorSchema,
    point_id,
)
from rag.store.migrate import migrate
from tests.rag.store.conftest import open_store

SCHEMA = CollectionSchema(
    (VectorSchema("text", 4, "text-model"), VectorSchema("image", 3, "image-model")),
    sparse=(SparseSchema("sparse", "bm25"),),
)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal(n).astype(np.float32)
    return v / np.linalg.norm(v)


def _fill(store: Store, *, sources: int = 12) -> None:
    """Text points with dense and sparse vectors, page images, source records, and one unfinished version."""
    rng = np.random.default_rng(7)
    store.ensure_collection(SCHEMA)
    for s in range(sources):
        tenant, source = ("a", "b")[s % 2], f"/docs/{s}.pdf"
        records = []
        for i in range(5):
            terms = tuple(sorted(rng.choice(50, size=3, replace=False).tolist()))
            payload = {"tenant": tenant, "source_id": source, "kind": "text", "modality": "text", "content_hash": "h1"}
            records.append(
                PointRecord(
                    point_id(tenant, source, "h1", f"c{i}"),
                    {"text": _unit(rng, 4), "sparse": SparseVector(terms, tuple(rng.uniform(0.1, 2, 3).tolist()))},
                    {**payload, "text": f"chunk {i} of {source}", "page": i + 1},
                )
            )
        page = {"tenant": tenant, "source_id": source, "kind": "page", "modality": "image", "content_hash": "h1"}
        records.append(PointRecord(point_id(tenant, source, "h1", "p1"), {"image": _unit(rng, 3)}, {**page, "page": 1}))
        store.upsert(records)
        store.put_source(SourceRecord(tenant, source, source, f"{s}.pdf", "application/pdf", "h1", 6, "2026-01-01"))
    # a version being written (flagged unfinished): copied as it is, flag included
    newer = {"tenant": "a", "source_id": "/docs/0.pdf", "kind": "text", "modality": "text", "content_hash": "h2"}
    store.upsert([PointRecord(point_id("a", "/docs/0.pdf", "h2", "c0"), {"text": _unit(rng, 4)}, newer)])
    store.hide_stale_many("a", {"/docs/0.pdf": "h1"})


def _snapshot(store: Store) -> dict[str, tuple[dict, dict]]:
    out = {}
    for p in store.points(vectors=True):
        # float32 in Qdrant Edge, float64 in local mode's sparse vectors: compared to 5 decimals
        vectors = {k: (v.indices, tuple(round(x, 5) for x in v.values)) if isinstance(v, SparseVector)
                   else np.round(v, 5).tolist() for k, v in p.vectors.items()}  # fmt: skip
        out[p.id] = (dict(p.payload), vectors)
    return out


def _searches(store: Store) -> list[list[tuple[str, float]]]:
    rng = np.random.default_rng(3)
    results = []
    for tenant in ("a", "b"):
        for _ in range(4):
            queries = {
                "text": _unit(rng, 4),
                "image": _unit(rng, 3),
                "sparse": SparseVector((1, 2, 3, 7), (1.0, 1.0, 0.5, 0.5)),
            }
            # every point of the tenant, with no cut: which of several tied points an engine keeps at a cut
            # (a prefetch's, the limit) is its own (segment) order, not a property of the points
            hits = store.search(queries, where=StoreFilter(tenant=tenant), limit=100, prefetch_limit=100)
            results.append([(h.id, round(h.score, 4)) for h in hits])
    return results


def test_edge_to_server_and_back_keeps_every_point_and_every_search_result(tmp_path: Path, stores):
    edge = stores("edge", tmp_path / "edge")
    _fill(edge)
    server = stores("local", tmp_path / "server")  # local mode stands in for a Qdrant server
    back = stores("edge", tmp_path / "back")

    out = migrate(edge, server, resume="again")
    home = migrate(server, back, resume="again")

    assert out.points == home.points == edge.total() == 12 * 7 + 1
    assert out.written == out.points and out.skipped == 0
    assert out.searchable == home.searchable == edge.count() == 12 * 6
    assert _snapshot(server) == _snapshot(edge) == _snapshot(back)
    assert _searches(server) == _searches(edge) == _searches(back)
    assert back.collection_schema() == server.collection_schema() == SCHEMA
    assert back.unfinished() == edge.unfinished() and len(back.unfinished()) == 1


class _Stop(Exception):
    pass


def test_a_copy_that_stopped_is_refused_until_run_again_and_then_skips_what_is_there(tmp_path: Path, stores):
    source = stores("local", tmp_path / "old")
    _fill(source)
    target = stores("edge", tmp_path / "new")
    pages = 0

    def stop_after_two(_: int) -> None:
        nonlocal pages
        pages += 1
        if pages == 2:
            raise _Stop

    with pytest.raises(_Stop):
        migrate(source, target, resume="`rag migrate --from local --to edge`", page=16, on_page=stop_after_two)
    target.close()
    # no other run reads the half-filled store
    with pytest.raises(StoreError, match=r"did not finish; run `rag migrate --from local --to edge` again"):
        stores("edge", tmp_path / "new")

    target = _unopened_edge(tmp_path / "new")
    report = migrate(source, target, resume="again", page=16)
    assert report.skipped == 32 and report.written == report.points - 32
    target.close()
    again = stores("edge", tmp_path / "new")  # the marker is gone
    assert _snapshot(again) == _snapshot(source)


def _unopened_edge(path: Path) -> Store:
    """A new run's target: not opened yet (migrate marks it, then opens it despite the old marker)."""
    from rag.config import QdrantSettings
    from rag.store import EdgeStore

    return EdgeStore(QdrantSettings(collection="t"), path=path)


def test_counts_are_checked_at_the_end(tmp_path: Path, stores):
    source = stores("edge", tmp_path / "a")
    _fill(source, sources=2)
    target = stores("edge", tmp_path / "b")
    target.ensure_collection(SCHEMA)
    target.upsert([PointRecord(point_id("z", "/other", "h", "c"), {"text": np.ones(4)}, {"tenant": "z"})])
    with pytest.raises(StoreError, match=r"0 point\(s\) missing, 1 not in the source"):
        migrate(source, target, resume="again")


def test_a_target_built_with_other_models_is_refused(tmp_path: Path, stores):
    from rag.errors import SchemaMismatchError

    source = stores("edge", tmp_path / "a")
    _fill(source, sources=1)
    target = stores("local", tmp_path / "b")
    target.ensure_collection(CollectionSchema((VectorSchema("text", 4, "another-model"),)))
    with pytest.raises(SchemaMismatchError):
        migrate(source, target, resume="again")
    with pytest.raises(StoreError, match="same store"):
        migrate(source, source, resume="again")


def test_cli_migrates_a_local_mode_store_of_an_earlier_version_into_edge_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from rag.cli import main

    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("RAG_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_QDRANT__COLLECTION", "t")
    legacy = open_store("local", tmp_path / "data" / "qdrant")
    _fill(legacy, sources=3)
    expected = _snapshot(legacy)
    legacy.close()
    with pytest.raises(StoreError, match="rag migrate --from local --to edge"):
        open_store("edge", tmp_path / "data" / "qdrant")

    assert main(["migrate", "--from", "local", "--to", "edge", "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["points"] == len(expected) == 3 * 7 + 1 and report["searchable"] == 3 * 6

    edge = open_store("edge", tmp_path / "data" / "qdrant")  # the default engine now opens it
    assert _snapshot(edge) == expected
    edge.close()
    assert main(["migrate", "--from", "local", "--to", "nowhere"]) == 2
    assert "unknown store 'nowhere'" in capsys.readouterr().err
