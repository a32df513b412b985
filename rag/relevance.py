"""Calibrated relevance: one 0-1 scale across named vectors and modalities, from statistics the collection gives.

Raw scores do not compare across vectors: MiniLM's text-text cosine of an unrelated pair is around 0.05, CLIP's
text-image cosine of an unrelated pair around 0.2 and of a matching one around 0.3 (the modality gap), and
BM25 is unbounded. So each (named vector, query modality) gets a *null*: the scores that queries unrelated to
the collection's points get against them, measured on the collection itself.

* Text queries: :data:`BACKGROUND_QUERIES` (everyday questions on unrelated subjects), encoded by the vector's
  model, scored against a sample of the collection's points of that vector.
* Image queries: the sampled points of the vector scored against each other (self-pairs left out).

The null's centre and spread are robust (median, 1.4826 x MAD): a background question that happens to match
the collection moves a few pairs out of thousands, not the statistics. A raw score becomes
``z = (score - centre) / spread`` and ``relevance = sigmoid(SLOPE * (z - edge))``: a score at the *edge* is an
even bet.

The edge is where unrelated questions' *best* hits lie, not their typical pairs: a question is answered from its
best hits, and the best of N unrelated points climbs with N (about sqrt(2 ln N) spreads for a normal null: 3.7 at
1,000 points, 4.3 at 10,000). So for text queries the background questions are also searched in the whole
collection, and the edge is the median z of their best hits plus :data:`MARGIN`, never below :data:`Z_MID`. Measured
on SciFact (5,183 abstracts, 9,713 points): the background questions' best hits lie at z 4.7; the fixed edge of 4
refused only 44-48% of off-domain questions (FiQA's finance questions), the collection's own edge (6.4) refuses 97%
of them and 2% of SciFact's claims (benchmarks/results/relevance_scifact.md). Image queries (no background
questions) keep the fixed edge :data:`Z_MID`. A hit's relevance is the best over its dense vectors; a vector with
fewer than :data:`MIN_POINTS` points has no null, and its hits no relevance (not gated).

The statistics are recomputed lazily and cached in memory (per process), not written to the collection: they cost
one scroll of at most :data:`SAMPLE_POINTS` points, one encode of the background queries per model and one batched
search of them (well under a second with MiniLM on a CPU), they follow the collection as it grows (recomputed once
its point count has changed by :data:`REFRESH_CHANGE`), and no store backend has to carry a new record. A hit's
relevance comes from its dense vectors only (every point has one of its modality). BM25 gets a null too, for
calibrated fusion (:mod:`rag.fusion`): the scores the background questions get, through the store (whose IDF real
queries get), on the points they share a term with. It is not used for a hit's relevance: on the sample sets, adding
it to the gate let more off-domain questions through (one shared word such as "feed" is enough).
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rag.sparse import SPARSE_VECTOR, SparseEncoder, SparseVector

if TYPE_CHECKING:
    from rag.embedder import Embedder
    from rag.store import Store

__all__ = [
    "BACKGROUND_QUERIES",
    "Calibrator",
    "NullStats",
    "calibrate",
    "cosine",
    "cosines",
    "describe",
    "logit",
]

log = logging.getLogger(__name__)

# Logistic on the z-score against the null (see the module docstring). SLOPE and Z_MID were chosen on the
# bundled sample sets; MARGIN on SciFact's train claims with FiQA and Climate-FEVER questions as negatives and on
# the sample set (the most that refuses at most ~2 % of answerable questions on each), then checked on SciFact's
# test claims (benchmarks/results/relevance_scifact.md).
Z_MID = 4.0
SLOPE = 1.5
MARGIN = 1.75
SAMPLE_POINTS = 1024
# Fewer points of a vector than this give no usable null (a spread from a handful of pairs means nothing):
# their hits get no relevance, and the gate lets them through.
MIN_POINTS = 16
REFRESH_CHANGE = 0.2  # relative change of the point count that triggers a recomputation
_COUNT_TTL_S = 30.0  # how long a point count read for the refresh check is trusted
_MIN_SPREAD = 1e-3

BACKGROUND_QUERIES = (
    "What time does the post office open on Saturdays?",
    "How do I remove a red wine stain from a carpet?",
    "Who won the football world cup in 1998?",
    "What is the capital city of Mongolia?",
    "How many legs does a spider have?",
    "Best way to learn to play the violin as an adult",
    "Why is the sky blue during the day?",
    "Recipe for a vegetarian lasagna with spinach",
    "How far is the moon from the earth?",
    "What should I pack for a week of hiking in the mountains?",
    "When was the printing press invented?",
    "How do I tie a bowline knot?",
    "Which vitamins are found in oranges?",
    "How to train a puppy to stop biting",
    "What is the plot of Hamlet?",
    "Tips for growing tomatoes on a balcony",
    "How does a bicycle gear system work?",
    "What is the difference between a crocodile and an alligator?",
    "How long should I boil an egg for a soft yolk?",
    "Famous paintings in the Louvre museum",
    "What are the rules of chess castling?",
    "How do bees make honey?",
    "Cheap flights to Lisbon in spring",
    "How to knit a scarf for beginners",
)


@dataclass(frozen=True, slots=True)
class NullStats:
    """Scores of unrelated pairs for one named vector and query modality."""

    vector: str
    query_modality: str
    center: float
    spread: float
    pairs: int
    points: int
    edge: float = Z_MID
    """The z-score of an even bet (see the module docstring)."""
    best: float | None = None
    """Median z of the background questions' best hits in the collection (None: not measured)."""

    def z(self, score: float) -> float:
        return (score - self.center) / self.spread


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def logit(score: float, stats: NullStats) -> float:
    """The log-odds of :func:`calibrate` (what :mod:`rag.fusion` adds up)."""
    return SLOPE * (stats.z(score) - stats.edge)


def describe(stats: NullStats) -> str:
    """How :func:`calibrate` turns this vector's scores into relevance, with its parameters (for reports)."""
    edge = (
        f"median z of {len(BACKGROUND_QUERIES)} background questions' best hits ({stats.best:.2f}) + {MARGIN}"
        if stats.best is not None and stats.edge > Z_MID
        else f"fixed {Z_MID}"
    )
    return f"sigmoid({SLOPE} * (z - edge)), z = (score - center) / spread; edge = {edge}"


def calibrate(score: float, stats: NullStats) -> float:
    """A raw score as a relevance estimate in [0, 1] against its null (see the module docstring)."""
    return _sigmoid(logit(score, stats))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(np.dot(a, b) / (na * nb)) if na > 0 and nb > 0 else 0.0


def cosines(vec: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """:func:`cosine` of ``vec`` against each row of ``matrix`` (0 where either has no length)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    query = np.asarray(vec, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(query))
    dots = matrix @ query
    return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)


def null_stats(
    vector: str, query_modality: str, scores: np.ndarray, points: int, *, best: np.ndarray | None = None
) -> NullStats:
    """Robust centre and spread of a sample of unrelated-pair ``scores``; with ``best`` (the best scores of
    unrelated queries in the whole collection), the edge above them (see the module docstring)."""
    flat = np.asarray(scores, dtype=np.float64).ravel()
    center = float(np.median(flat))
    spread = max(1.4826 * float(np.median(np.abs(flat - center))), _MIN_SPREAD)
    if best is None or len(best) == 0:
        return NullStats(vector, query_modality, center, spread, int(flat.size), points)
    best_z = float(np.median((np.asarray(best, dtype=np.float64) - center) / spread))
    edge = max(Z_MID, best_z + MARGIN)
    return NullStats(vector, query_modality, center, spread, int(flat.size), points, edge=edge, best=best_z)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


class Calibrator:
    """The nulls of a collection's dense vectors, computed on first use and refreshed as the collection changes."""

    def __init__(
        self,
        *,
        embedders: Mapping[str, Embedder],
        store: Store,
        sparse: SparseEncoder | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.embedders = embedders
        self.store = store
        self.sparse = sparse
        self._clock = clock
        self._lock = threading.Lock()
        self._stats: dict[tuple[str, str], NullStats | None] = {}
        self._computed_at_count: int | None = None
        self._checked_at = -math.inf

    def stats(self, vector: str, query_modality: str) -> NullStats | None:
        """The null for ``vector`` and queries of ``query_modality``; None when it cannot be measured."""
        if vector not in self.embedders and not (vector == SPARSE_VECTOR and self.sparse and query_modality == "text"):
            return None
        with self._lock:
            self._refresh_if_changed()
            key = (vector, query_modality)
            if key not in self._stats:
                self._stats[key] = self._measure(vector, query_modality)
            return self._stats[key]

    def relevance(self, vector: str, query_modality: str, score: float) -> float | None:
        stats = self.stats(vector, query_modality)
        return None if stats is None else calibrate(score, stats)

    def _refresh_if_changed(self) -> None:
        now = self._clock()
        if now - self._checked_at < _COUNT_TTL_S:
            return
        self._checked_at = now
        count = self.store.count()
        before = self._computed_at_count
        if before is None or abs(count - before) > REFRESH_CHANGE * max(before, 1):
            if before is not None:
                log.info("relevance calibration: %d -> %d points, measuring the nulls again", before, count)
            self._stats.clear()
            self._computed_at_count = count

    def _measure(self, vector: str, query_modality: str) -> NullStats | None:
        if vector == SPARSE_VECTOR and vector not in self.embedders:
            return self._measure_sparse()
        dense = (p.vectors.get(vector) for p in self.store.points(vectors=True))
        found = (v for v in dense if v is not None and not isinstance(v, SparseVector))
        sample = [np.asarray(v, dtype=np.float32) for v in itertools.islice(found, SAMPLE_POINTS)]
        if len(sample) < MIN_POINTS:
            log.info(
                "relevance: %d points of %s, too few to measure a null; its hits are not gated", len(sample), vector
            )
            return None
        points = _unit(np.stack(sample))
        embedder = self.embedders[vector]
        best: np.ndarray | None = None
        if query_modality == "text":
            if "text" not in embedder.modalities:
                return None
            queries = _unit(embedder.encode_queries(list(BACKGROUND_QUERIES)))
            scores = queries @ points.T
            # Their best hits in the whole collection (every tenant: a stricter edge for a small tenant).
            tops = self.store.search_each([(vector, q.tolist()) for q in queries], where=None, limit=1)
            best = np.array([hits[0].score for hits in tops if hits], dtype=np.float64)
        else:
            pairwise = points @ points.T
            scores = pairwise[~np.eye(len(points), dtype=bool)]
        stats = null_stats(vector, query_modality, scores, len(points), best=best)
        log.info(
            "relevance null for %s (%s queries): centre %.4f, spread %.4f over %d pairs; edge z %.2f%s",
            vector,
            query_modality,
            stats.center,
            stats.spread,
            stats.pairs,
            stats.edge,
            "" if stats.best is None else f" (background best hits at z {stats.best:.2f})",
        )
        return stats

    def _measure_sparse(self) -> NullStats | None:
        """BM25's null: the scores the background queries get on the points they share a term with (a point
        sharing none scores nothing and is never returned). Searched through the store, whose IDF is the one
        real queries get."""
        assert self.sparse is not None
        queries = [(SPARSE_VECTOR, self.sparse.encode_query(q)) for q in BACKGROUND_QUERIES]
        found = self.store.search_each(queries, where=None, limit=SAMPLE_POINTS)
        scores = np.array([hit.score for hits in found for hit in hits if hit.score > 0], dtype=np.float64)
        if len(scores) < MIN_POINTS:
            log.info("relevance: %d background BM25 matches, too few to measure a null", len(scores))
            return None
        stats = null_stats(SPARSE_VECTOR, "text", scores, self.store.count())
        log.info(
            "relevance null for %s: centre %.4f, spread %.4f over %d matches",
            SPARSE_VECTOR,
            stats.center,
            stats.spread,
            stats.pairs,
        )
        return stats
