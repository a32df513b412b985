"""The query orchestrator's retrieval step: encode the query once per distinct model, then run one fused
Qdrant query with a prefetch per named vector.

Text queries also prefetch from the ``sparse`` vector (BM25, when hybrid search is on). ``vectors=`` limits
a search to some named vectors (one alone, for evaluation and benchmarks); :meth:`Retriever.encode` and
:meth:`Retriever.search_encoded` split encoding from searching so that one encoding serves several searches.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.config import Fusion, RetrievalSettings
from rag.embedder import Embedder
from rag.errors import RetrievalError
from rag.fusion import fuse_calibrated
from rag.records import AudioClip, Hit, PointPayload, SearchFilters
from rag.regions import ANCHORS, hit_regions
from rag.relevance import Calibrator, cosines, logit
from rag.sparse import SPARSE_VECTOR, SparseEncoder, SparseVector
from rag.store import UNFINISHED, QueryVector, Store, StoredHit, StoreFilter, point_id

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Retriever"]

log = logging.getLogger(__name__)


def _query_modality(query: object) -> str:
    if isinstance(query, str):
        return "text"
    return "audio" if isinstance(query, AudioClip) else "image"


# A text chunk's locator: "chunk-3", or "page-2/chunk-0" in a PDF (its neighbours share the prefix).
_CHUNK = re.compile(r"(.*?)chunk-(\d+)")

# The modality of the points a named vector holds (dense vectors are named after theirs).
_VECTOR_MODALITY = {SPARSE_VECTOR: "text"}


class Retriever:
    def __init__(
        self,
        *,
        embedders: Mapping[str, Embedder],
        store: Store,
        settings: RetrievalSettings,
        sparse: SparseEncoder | None = None,
    ) -> None:
        self.embedders = embedders
        self.store = store
        self.settings = settings
        self.sparse = sparse
        self.calibrator = Calibrator(embedders=embedders, store=store, sparse=sparse)

    @property
    def vector_names(self) -> tuple[str, ...]:
        """Every named vector this retriever can search."""
        return (*self.embedders, *((SPARSE_VECTOR,) if self.sparse is not None else ()))

    def encode(
        self, query: str | Image.Image | AudioClip, *, vectors: Sequence[str] | None = None
    ) -> dict[str, QueryVector]:
        """Query vector per named vector (only ``vectors``, when given), encoding once per distinct model."""
        modality = _query_modality(query)
        by_model: dict[int, np.ndarray] = {}
        encoded: dict[str, QueryVector] = {}
        for name, embedder in self.embedders.items():
            if modality not in embedder.modalities or (vectors is not None and name not in vectors):
                continue
            key = id(embedder)
            if key not in by_model:
                by_model[key] = embedder.encode_queries([query])[0]
            encoded[name] = by_model[key]
        if self.sparse is not None and isinstance(query, str) and (vectors is None or SPARSE_VECTOR in vectors):
            encoded[SPARSE_VECTOR] = self.sparse.encode_query(query)
        if not encoded:
            only = f" among {', '.join(vectors)}" if vectors is not None else ""
            raise RetrievalError(f"no loaded model{only} can encode a {modality} query")
        return encoded

    def search(
        self,
        query: str | Image.Image | AudioClip | Sequence[str | Image.Image | AudioClip],
        *,
        tenant: str,
        filters: SearchFilters | None = None,
        limit: int | None = None,
        vectors: Sequence[str] | None = None,
    ) -> list[Hit]:
        """One fused search; several queries (a question and an image) each prefetch from every vector.

        ``vectors``: search only these named vectors (e.g. ``("text",)`` or ``("sparse",)``); default all.
        """
        queries = [query] if isinstance(query, str) or not isinstance(query, Sequence) else list(query)
        queries = [q for q in queries if not (isinstance(q, str) and not q.strip())]
        if not queries:
            raise RetrievalError("the query is empty")
        self._check_vectors(vectors)
        pairs: list[tuple[str, QueryVector]] = []
        modalities: list[str] = []
        for one in queries:
            encoded = self.encode(one, vectors=vectors)
            pairs.extend(encoded.items())
            modalities.extend([_query_modality(one)] * len(encoded))
        return self.search_encoded(pairs, tenant=tenant, filters=filters, limit=limit, query_modalities=modalities)

    def _check_vectors(self, vectors: Sequence[str] | None) -> None:
        unknown = sorted(set(vectors or ()) - set(self.vector_names))
        if unknown:
            raise RetrievalError(
                f"no {', '.join(map(repr, unknown))} vector to search (available: {', '.join(self.vector_names)})"
            )

    def search_encoded(
        self,
        pairs: Mapping[str, QueryVector] | Sequence[tuple[str, QueryVector]],
        *,
        tenant: str,
        filters: SearchFilters | None = None,
        limit: int | None = None,
        vectors: Sequence[str] | None = None,
        query_modalities: Sequence[str] | None = None,
        fusion: Fusion | None = None,
    ) -> list[Hit]:
        """One fused search over already encoded (named vector, query vector) pairs, optionally only ``vectors``.

        ``query_modalities``: the modality of the query behind each pair ("text" for all, when not given).
        ``fusion``: instead of ``RAG_RETRIEVAL__FUSION`` (``rag eval`` compares them).
        """
        fusion = fusion or self.settings.fusion
        self._check_vectors(vectors)
        if not self.store.exists():
            raise RetrievalError(
                f"collection {self.store.collection!r} at {self.store.location} does not exist yet: "
                "ingest something first (`rag ingest PATH...`)"
            )
        flt = self._store_filter(tenant, filters or SearchFilters())
        items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
        kinds = list(query_modalities or ["text"] * len(items))
        # A vector can only return points of its own modality: skip prefetches that cannot match.
        keep = [
            i
            for i, (name, _) in enumerate(items)
            if (vectors is None or name in vectors)
            and (not flt.modalities or _VECTOR_MODALITY.get(name, name) in flt.modalities)
        ]
        chosen = [items[i] for i in keep]
        prefetch = max(self.settings.prefetch_limit, limit or 0)
        stored = None
        if fusion == "calibrated":
            stored = self._calibrated(chosen, [kinds[i] for i in keep], flt, limit or self.settings.limit, prefetch)
        if stored is None:
            stored = self.store.search(
                chosen,
                where=flt,
                limit=limit or self.settings.limit,
                prefetch_limit=prefetch,
                fusion="dbsf" if fusion == "dbsf" else "rrf",
                rrf_k=self.settings.rrf_k,
            )
        hits = [to_hit(h, rank) for rank, h in enumerate(stored, start=1)]
        return self.score(hits, [(*items[i], kinds[i]) for i in keep])

    def _calibrated(
        self,
        pairs: Sequence[tuple[str, QueryVector]],
        kinds: Sequence[str],
        flt: StoreFilter,
        limit: int,
        prefetch: int,
    ) -> list[StoredHit] | None:
        """Calibrated fusion (:mod:`rag.fusion`); None when a searched vector has no calibration (too few points
        to measure its null), and RRF fuses instead."""
        nulls = [self.calibrator.stats(name, kind) for (name, _), kind in zip(pairs, kinds, strict=True)]
        if any(stats is None for stats in nulls):
            log.debug("calibrated fusion: a vector has no calibration yet, fusing by RRF")
            return None
        lists = self.store.search_each(pairs, where=flt, limit=prefetch)
        return fuse_calibrated(lists, [partial(logit, stats=stats) for stats in nulls if stats], limit=limit)

    def score(self, hits: Sequence[Hit], queries: Sequence[tuple[str, QueryVector, str]]) -> list[Hit]:
        """``hits`` with their raw cosine per dense vector and calibrated relevance, for these (named vector,
        query vector, query modality) triples; several queries on one vector: the best of them counts."""
        dense = [(name, np.asarray(vec), kind) for name, vec, kind in queries if name in self.embedders]
        if not hits or not dense:
            return list(hits)
        names = sorted({name for name, _, _ in dense})
        stored = {p.id: p.vectors for p in self.store.retrieve([h.id for h in hits], vectors=names, payload=False)}
        raw: list[dict[str, float]] = [{} for _ in hits]
        relevance: list[float | None] = [None] * len(hits)
        for name, vec, kind in dense:
            # One matrix product per query vector over the hits that have this (dense) vector.
            rows = [
                (i, point)
                for i, hit in enumerate(hits)
                if (point := stored.get(hit.id, {}).get(name)) is not None and not isinstance(point, SparseVector)
            ]
            if not rows:
                continue
            values = cosines(vec, np.stack([np.asarray(point, dtype=np.float32) for _, point in rows]))
            for (i, _), value in zip(rows, values.tolist(), strict=True):
                raw[i][name] = round(max(value, raw[i].get(name, -1.0)), 6)
                calibrated, best = self.calibrator.relevance(name, kind, value), relevance[i]
                if calibrated is not None and (best is None or calibrated > best):
                    relevance[i] = calibrated
        return [
            hit.model_copy(update={"scores": scores, "relevance": None if r is None else round(r, 6)})
            for hit, scores, r in zip(hits, raw, relevance, strict=True)
        ]

    def adjacent(self, hits: Sequence[Hit]) -> list[Hit]:
        """The chunks just before and after each text chunk among ``hits`` (same source and version), not among
        ``hits`` themselves; each ``context_of`` its hit, with that hit's rank, score and relevance. Looked up by
        their point ids (one ``retrieve``), which the ingest derives from the source, version and locator."""
        wanted: dict[str, Hit] = {}
        for hit in hits:
            match = _CHUNK.fullmatch(hit.locator or "") if hit.kind == "text" and hit.content_hash else None
            if match is None:
                continue
            prefix, index = match.group(1), int(match.group(2))
            for other in (index - 1, index + 1):
                if other >= 0:
                    key = point_id(hit.tenant, hit.source_id, hit.content_hash or "", f"{prefix}chunk-{other}")
                    wanted.setdefault(key, hit)
        known = {hit.id for hit in hits}
        ids = [key for key in wanted if key not in known]
        if not ids:
            return []
        found = {p.id: p for p in self.store.retrieve(ids, vectors=False, payload=True)}
        out: list[Hit] = []
        for key in ids:
            point, anchor = found.get(key), wanted[key]
            if point is None or point.payload.get(UNFINISHED) is True:
                continue
            neighbour = to_hit(StoredHit(id=key, score=anchor.score, payload=point.payload), anchor.rank)
            if neighbour.tenant != anchor.tenant or neighbour.source_id != anchor.source_id:
                continue
            out.append(neighbour.model_copy(update={"relevance": anchor.relevance, "context_of": anchor.id}))
        return out

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
    p = PointPayload.from_payload(stored.payload)
    anchors = [tuple(a) for a in p.extra.get(ANCHORS) or ()]
    return Hit(
        id=stored.id,
        rank=rank,
        score=stored.score,
        modality=p.modality,
        kind=p.kind,
        source_id=p.source_id,
        path=p.path,
        mime_type=p.mime_type,
        title=p.title,
        page=p.page,
        char_start=p.char_start,
        char_end=p.char_end,
        start_s=p.start_s,
        end_s=p.end_s,
        text=p.text,
        image_ref=p.image_ref,
        tenant=p.tenant,
        anchors=anchors,
        regions=hit_regions(p.kind, p.page, anchors),
        locator=p.locator or None,
        content_hash=p.content_hash or None,
    )
