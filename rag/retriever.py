"""The query orchestrator's retrieval step: encode the query once per distinct model, then run one fused
Qdrant query with a prefetch per named vector.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import RetrievalSettings
from rag.embedder import Embedder
from rag.errors import RetrievalError
from rag.records import Hit, SearchFilters
from rag.store import QdrantStore, StoredHit, StoreFilter

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Retriever"]

log = logging.getLogger(__name__)


def _query_modality(query: object) -> str:
    return "text" if isinstance(query, str) else "image"


class Retriever:
    def __init__(self, *, embedders: Mapping[str, Embedder], store: QdrantStore, settings: RetrievalSettings) -> None:
        self.embedders = embedders
        self.store = store
        self.settings = settings

    def encode(self, query: str | Image.Image) -> dict[str, np.ndarray]:
        """Query vector per named vector, encoding once per distinct model."""
        modality = _query_modality(query)
        by_model: dict[int, np.ndarray] = {}
        vectors: dict[str, np.ndarray] = {}
        for name, embedder in self.embedders.items():
            if modality not in embedder.modalities:
                continue
            key = id(embedder)
            if key not in by_model:
                by_model[key] = embedder.encode_queries([query])[0]
            vectors[name] = by_model[key]
        if not vectors:
            raise RetrievalError(f"no loaded model can encode a {modality} query")
        return vectors

    def search(
        self,
        query: str | Image.Image | Sequence[str | Image.Image],
        *,
        tenant: str,
        filters: SearchFilters | None = None,
        limit: int | None = None,
    ) -> list[Hit]:
        """One fused search; several queries (a question and an image) each prefetch from every vector."""
        queries = [query] if isinstance(query, str) or not isinstance(query, Sequence) else list(query)
        queries = [q for q in queries if not (isinstance(q, str) and not q.strip())]
        if not queries:
            raise RetrievalError("the query is empty")
        if not self.store.exists():
            raise RetrievalError(
                f"collection {self.store.collection!r} at {self.store.location} does not exist yet: "
                "ingest something first (`rag ingest PATH...`)"
            )
        flt = self._store_filter(tenant, filters or SearchFilters())
        pairs: list[tuple[str, np.ndarray]] = []
        for one in queries:
            # A vector can only return points of its own modality: skip prefetches that cannot match.
            pairs.extend(
                (name, vec) for name, vec in self.encode(one).items() if not flt.modalities or name in flt.modalities
            )
        stored = self.store.search(
            pairs,
            where=flt,
            limit=limit or self.settings.limit,
            prefetch_limit=max(self.settings.prefetch_limit, limit or 0),
            fusion=self.settings.fusion,
            rrf_k=self.settings.rrf_k,
        )
        return [to_hit(h, rank) for rank, h in enumerate(stored, start=1)]

    @staticmethod
    def _store_filter(tenant: str, filters: SearchFilters) -> StoreFilter:
        sources: list[str] = []
        for value in filters.sources or []:
            path = Path(value).expanduser()
            sources.append(str(path.resolve()) if path.exists() else value)
        return StoreFilter(
            tenant=tenant,
            sources=tuple(sources),
            modalities=tuple(filters.modalities or ()),
            kinds=tuple(filters.kinds or ()),
            page_from=filters.page_from,
            page_to=filters.page_to,
        )


def to_hit(stored: StoredHit, rank: int) -> Hit:
    p: Mapping[str, Any] = stored.payload
    return Hit(
        id=stored.id,
        rank=rank,
        score=stored.score,
        modality=p["modality"],
        kind=p["kind"],
        source_id=p["source_id"],
        path=p["path"],
        mime_type=p.get("mime_type") or "application/octet-stream",
        title=p.get("title"),
        page=p.get("page"),
        char_start=p.get("char_start"),
        char_end=p.get("char_end"),
        start_s=p.get("start_s"),
        end_s=p.get("end_s"),
        text=p.get("text"),
        image_ref=p.get("image_ref"),
        tenant=p["tenant"],
    )
