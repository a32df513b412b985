"""Check what an ingest run left in the store: snapshots to compare runs, and the crash-safety invariant.

Used by the ingest tests (interrupted runs, parallel workers); works on any :class:`~rag.store.Store`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from rag.media import MediaStore
from rag.store import Store

__all__ = ["VOLATILE_PAYLOAD", "assert_consistent", "assert_same_collection", "collection_snapshot"]

VOLATILE_PAYLOAD = frozenset({"ingested_at"})


def collection_snapshot(store: Store, media_root: Path) -> dict[str, Any]:
    """Everything a run leaves behind, minus timestamps: points (payload, vectors), source records, media."""
    points: dict[str, dict[str, Any]] = {}
    for point in store.points(vectors=True):
        payload = {k: v for k, v in point.payload.items() if k not in VOLATILE_PAYLOAD}
        vectors = {name: _as_array(vec) for name, vec in point.vectors.items()}
        points[point.id] = {"payload": payload, "vectors": vectors}
    # Stored images, and any half-written temporary file a killed run left behind.
    media = sorted(p.relative_to(media_root).as_posix() for p in media_root.rglob("*") if p.is_file())
    return {"points": points, "media": media}


def _as_array(vector: Any) -> np.ndarray:
    """A dense vector as is; a sparse one as its (index, value) pairs sorted by index, flattened."""
    if hasattr(vector, "indices"):
        pairs = sorted(zip(vector.indices, vector.values, strict=True))
        return np.asarray(pairs, dtype=np.float64).reshape(-1)
    return np.asarray(vector, dtype=np.float32)


def assert_same_collection(actual: dict[str, Any], expected: dict[str, Any], *, atol: float = 1e-5) -> None:
    assert sorted(actual["points"]) == sorted(expected["points"])
    for point_id, want in expected["points"].items():
        got = actual["points"][point_id]
        assert got["payload"] == want["payload"], point_id
        assert sorted(got["vectors"]) == sorted(want["vectors"]), point_id
        for name, vec in want["vectors"].items():
            np.testing.assert_allclose(got["vectors"][name], vec, atol=atol, err_msg=point_id)
    assert actual["media"] == expected["media"]


def assert_consistent(snapshot: dict[str, Any], *, tenant: str = "default") -> None:
    """The crash-safety invariant: every stored point belongs to the recorded version of its source, each
    record counts exactly its points, and every stored image belongs to a recorded version (no leftovers)."""
    payloads = [p["payload"] for p in snapshot["points"].values() if p["payload"]["tenant"] == tenant]
    records = {p["source_id"]: p for p in payloads if p["kind"] == "source"}
    versions = Counter((p["source_id"], p["content_hash"]) for p in payloads if p["kind"] != "source")
    assert dict(versions) == {(sid, r["content_hash"]): r["points"] for sid, r in records.items()}
    allowed = {f"{tenant}/{MediaStore.source_key(tenant, sid)}/{r['content_hash'][:16]}" for sid, r in records.items()}
    own = [ref for ref in snapshot["media"] if ref.startswith(f"{tenant}/")]
    assert {ref.rsplit("/", 1)[0] for ref in own} <= allowed
    refs = {p["image_ref"] for p in payloads if p.get("image_ref")}
    assert refs <= set(snapshot["media"])
