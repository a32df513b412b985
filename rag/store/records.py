"""The records the store takes and gives back, and the point ids: the same for every backend."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from rag.sparse import SparseVector

__all__ = [
    "SOURCE_KIND",
    "UNFINISHED",
    "PointRecord",
    "QueryVector",
    "SourceRecord",
    "StoreFilter",
    "StoredHit",
    "UnfinishedVersion",
    "point_id",
    "source_point_id",
]

_NAMESPACE = uuid.UUID("6f1c3c4e-5a8e-4d0b-9d7a-2b1f0e6c9a11")
# ``kind`` of the one vector-less point per source that records what was ingested.
SOURCE_KIND = "source"
# Payload flag (``true``, or absent) of the points of a version that is not (or no longer) the finished one;
# reads exclude them. The point payload declares it (``rag.records.PointPayload.unfinished``, indexed as a flag).
UNFINISHED = "unfinished"


def point_id(tenant: str, source_id: str, content_hash: str, locator: str) -> str:
    """Deterministic point id: the same tenant, source, content and locator always give the same id.

    A UUID, as every backend takes (Qdrant Edge accepts only integers and UUIDs)."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join((tenant, source_id, content_hash, locator))))


def source_point_id(tenant: str, source_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join((tenant, source_id, "__source__"))))


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
            "kind": SOURCE_KIND,
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
