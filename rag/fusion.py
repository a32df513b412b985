"""Calibrated fusion (``RAG_RETRIEVAL__FUSION=calibrated``): each named vector's hits, searched alone with their
raw scores (:meth:`rag.store.Store.search_each`, one batched request), turned into relevance by that vector's
calibration (:mod:`rag.relevance`) and combined as independent evidence.

RRF fuses ranks, so a vector's tenth hit weighs nearly as much as its first however poor it is; DBSF rescales
each list by its own spread, so the best of a list of unrelated hits looks as good as a real match. Calibrated
relevance says how far a score lies above what unrelated queries get *for that vector*, so lists that found
nothing add nothing. The evidence is combined as a noisy OR, ``1 - prod(1 - r_i)``: a point two vectors find
is more likely relevant than one either finds alone, and a point a vector did not return (below its prefetch,
or, for BM25, sharing no term) gets nothing from it. Points are ranked by ``sum(softplus(logit_i))`` (the
same order as the noisy OR, without its saturation at 1.0: two near-certain matches keep their order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

from rag.store import StoredHit

__all__ = ["Logit", "fuse_calibrated"]

# A raw score of one vector -> the logit of its calibrated relevance.
Logit = Callable[[float], float]


def _softplus(x: float) -> float:
    """``-log(1 - sigmoid(x))``, the evidence a relevance of ``sigmoid(x)`` adds to a noisy OR."""
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def fuse_calibrated(lists: Sequence[Sequence[StoredHit]], logits: Sequence[Logit], *, limit: int) -> list[StoredHit]:
    """The best ``limit`` points of ``lists`` (one per searched vector, raw scores) by noisy-OR relevance, which
    becomes their score; ``logits[i]`` calibrates ``lists[i]``. Ties go to the smaller id, as in the store."""
    evidence: dict[str, float] = {}
    first: dict[str, StoredHit] = {}
    for hits, logit in zip(lists, logits, strict=True):
        for hit in hits:
            evidence[hit.id] = evidence.get(hit.id, 0.0) + _softplus(logit(hit.score))
            first.setdefault(hit.id, hit)
    ranked = sorted(evidence, key=lambda point: (-evidence[point], point))[:limit]
    return [replace(first[point], score=1.0 - math.exp(-evidence[point])) for point in ranked]
