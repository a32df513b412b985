"""The collection schema (which model fills which named vector) and the check that keeps models from mixing.

Pure code: a backend keeps the schema where it can (Qdrant's collection metadata, a file next to an Edge
shard) and hands the stored form to :func:`check_schema`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rag.errors import SchemaMismatchError

__all__ = ["SCHEMA_VERSION", "CollectionSchema", "SparseSchema", "VectorSchema", "check_schema", "foreign"]

# 2: the schema records sparse vectors ("sparse": {name: {"encoder", "modifier"}}); 1 had dense only.
SCHEMA_VERSION = 2


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


def foreign(collection: str, location: str) -> SchemaMismatchError:
    return SchemaMismatchError(
        f"collection {collection!r} at {location} was not created by this project; "
        "choose another name with RAG_QDRANT__COLLECTION"
    )


def check_schema(
    stored: Mapping[str, Any] | None,
    schema: CollectionSchema,
    *,
    mode: Literal["write", "read"],
    collection: str,
    location: str,
) -> list[str]:
    """Raise :class:`SchemaMismatchError` when ``schema`` cannot be used with the stored one (``rag_schema``).

    Returns notes about stored vectors the current models do not cover (those are left alone).
    """
    if stored is None:
        return []
    vectors: Mapping[str, Mapping[str, Any]] = stored["vectors"]
    problems: list[str] = []
    for vector in schema.vectors:
        have = vectors.get(vector.name)
        if have is None:
            problems.append(f"it has no {vector.name!r} vector (the loaded models add one: {vector.model_id})")
        elif have.get("model") != vector.model_id or int(have.get("dim", -1)) != vector.dimension:
            problems.append(
                f"its {vector.name!r} vector holds {have.get('model')} ({have.get('dim')} dims), "
                f"the loaded model is {vector.model_id} ({vector.dimension} dims)"
            )
    if problems and (mode == "write" or len(problems) == len(schema.vectors)):
        raise SchemaMismatchError(
            f"collection {collection!r} at {location} was built with other models: "
            + "; ".join(problems)
            + ". Vectors of different models are never mixed: recreate it (`rag ingest --recreate PATH...`, "
            "which deletes its points) or use another collection (RAG_QDRANT__COLLECTION)."
        )
    names = {v.name for v in schema.vectors}
    return [
        f"{name} vector ({meta.get('model')}) is not searched: its model is not loaded"
        for name, meta in vectors.items()
        if name not in names
    ] + _check_sparse(stored.get("sparse") or {}, schema, mode=mode, collection=collection, location=location)


def _check_sparse(
    stored: Mapping[str, Mapping[str, Any]],
    schema: CollectionSchema,
    *,
    mode: Literal["write", "read"],
    collection: str,
    location: str,
) -> list[str]:
    """Sparse vectors must match exactly: stored weights from another encoder (or none) would be searched wrong."""
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
            f"collection {collection!r} at {location} does not match the sparse (hybrid search) "
            "settings: " + "; ".join(problems) + ". Recreate it (`rag ingest --recreate PATH...`, which deletes "
            "its points, then ingest again) or set RAG_RETRIEVAL__SPARSE to match how it was built."
        )
    return [f"{name} sparse vector is not searched (RAG_RETRIEVAL__SPARSE=false)" for name in extra]
