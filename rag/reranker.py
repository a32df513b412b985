"""The reranker role: rescore fused candidates with a (multimodal) cross-encoder.

Candidates reach the model by modality: text as text, images as PIL images, PDF pages as page image and
page text together. Scores come back calibrated to 0–1 (the sigmoid of the model's logit) so that one
relevance threshold works across modalities, which raw cosine and RRF scores cannot do (the modality gap).

A latency budget bounds the work: candidates are scored batch by batch in fused order, and those not
scored in time keep their fused order after the scored ones; the result's :class:`RerankInfo` says so.
Scores of repeated (query, item) pairs come from a small LRU cache; point ids include the content hash,
so a changed document is never served a stale score.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from rag.config import RerankSettings
from rag.media import ImageOpener
from rag.records import Hit, RerankInfo

__all__ = ["CrossEncoderReranker", "Reranker", "sigmoid"]

log = logging.getLogger(__name__)


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@runtime_checkable
class Reranker(Protocol):
    model_id: str

    def rerank(self, query: str, hits: Sequence[Hit], *, top_k: int) -> tuple[list[Hit], RerankInfo]: ...


class _ScoreCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> float | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: tuple[str, str], value: float) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class CrossEncoderReranker:
    """Wraps a loaded sentence-transformers ``CrossEncoder``."""

    def __init__(
        self,
        model: Any,
        *,
        model_id: str,
        settings: RerankSettings,
        load_image: ImageOpener,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._model = model
        self.model_id = model_id
        self.settings = settings
        self._load_image = load_image
        self._clock = clock
        self.modalities = frozenset(getattr(model, "modalities", None) or ["text"])
        self._cache = _ScoreCache(settings.cache_size)
        self._lock = threading.Lock()  # one forward pass at a time per model

    def _document(self, hit: Hit) -> Any | None:
        """What the model reads for a hit, or None when it cannot read anything of it."""
        multimodal = "image" in self.modalities
        image = self._load_image(hit.image_ref) if multimodal and hit.image_ref and hit.kind != "text" else None
        text = hit.text.strip() if hit.text else ""
        if image is not None and text:
            return {"text": text, "image": image}
        if image is not None:
            return image
        if text:
            return {"text": text} if multimodal else text
        return None

    def _logits(self, query: str, documents: Sequence[Any]) -> list[float]:
        import torch

        with self._lock:
            scores = self._model.predict(
                [(query, doc) for doc in documents],
                batch_size=self.settings.batch_size,
                activation_fn=torch.nn.Identity(),
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        return [float(s) for s in scores]

    def rerank(self, query: str, hits: Sequence[Hit], *, top_k: int) -> tuple[list[Hit], RerankInfo]:
        started = self._clock()
        budget_s = self.settings.budget_ms / 1000
        scores: dict[str, float] = {}
        cache_hits = 0
        todo: list[tuple[Hit, Any]] = []
        for hit in hits:
            cached = self._cache.get((query, hit.id))
            if cached is not None:
                scores[hit.id] = cached
                cache_hits += 1
                continue
            document = self._document(hit)
            if document is not None:
                todo.append((hit, document))
        note: str | None = None
        batch = self.settings.batch_size
        per_batch_s = 0.0
        for start in range(0, len(todo), batch):
            elapsed = self._clock() - started
            if elapsed + per_batch_s > budget_s:
                note = (
                    f"latency budget of {self.settings.budget_ms} ms reached after scoring "
                    f"{len(scores)} of {len(hits)} candidates; the rest keep their fused order"
                )
                break
            chunk = todo[start : start + batch]
            t0 = self._clock()
            logits = self._logits(query, [doc for _, doc in chunk])
            per_batch_s = max(per_batch_s, self._clock() - t0)
            for (hit, _), logit in zip(chunk, logits, strict=True):
                self._cache.put((query, hit.id), logit)
                scores[hit.id] = logit
        if note is None and len(scores) < len(hits):
            note = (
                f"{len(hits) - len(scores)} candidates could not be read by {self.model_id} and keep their fused order"
            )
        scored = sorted((h for h in hits if h.id in scores), key=lambda h: scores[h.id], reverse=True)
        rest = [h for h in hits if h.id not in scores]
        ranked = [
            h.model_copy(
                update={
                    "rank": i,
                    "fused_rank": h.rank,
                    "rerank_score": sigmoid(scores[h.id]) if h.id in scores else None,
                }
            )
            for i, h in enumerate([*scored, *rest][:top_k], start=1)
        ]
        info = RerankInfo(
            model=self.model_id,
            applied=True,
            scored=len(scores),
            candidates=len(hits),
            cache_hits=cache_hits,
            note=note,
            milliseconds=round((self._clock() - started) * 1000, 1),
        )
        if note:
            log.info("rerank: %s", note)
        return ranked, info
