"""Retrieval metrics over ranked document ids, as BEIR and MTEB compute them (pytrec_eval conventions).

* Relevance comes from qrels: ``{query id: {doc id: grade}}``; a grade above 0 is relevant.
* nDCG@k uses the grade itself as the gain (trec_eval's ``ndcg_cut``): DCG = Σ grade / log2(rank + 1), the
  ideal DCG from the best k grades judged for the query.
* Recall@k: relevant documents in the top k / relevant documents judged.
* MRR@k: 1 / rank of the first relevant document in the top k (0 if none).
* Queries without a relevant judged document are left out of the means (BEIR does the same).

Rankings are lists in rank order: ties must already be broken (pytrec_eval breaks score ties by doc id).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "METRICS",
    "evaluate",
    "expected_calibration_error",
    "metric_names",
    "mrr_at_k",
    "ndcg_at_k",
    "per_query",
    "recall_at_k",
]

Qrels = Mapping[str, int]

METRICS = ("ndcg", "recall", "mrr")


def _top(ranked: Sequence[str], k: int) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for doc in ranked:
        if doc not in seen:
            seen.add(doc)
            out.append(doc)
            if len(out) == k:
                break
    return out


def ndcg_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    dcg = sum(max(qrels.get(doc, 0), 0) / math.log2(rank + 1) for rank, doc in enumerate(_top(ranked, k), start=1))
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg


def recall_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    relevant = {doc for doc, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_top(ranked, k))) / len(relevant)


def mrr_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    for rank, doc in enumerate(_top(ranked, k), start=1):
        if qrels.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def metric_names(
    ndcg_k: Iterable[int] = (10,), recall_k: Iterable[int] = (10, 100), mrr_k: Iterable[int] = (10,)
) -> list[str]:
    return [f"ndcg@{k}" for k in ndcg_k] + [f"recall@{k}" for k in recall_k] + [f"mrr@{k}" for k in mrr_k]


_FUNCS = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}


def per_query(ranked: Sequence[str], qrels: Qrels, names: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in names:
        metric, _, k = name.partition("@")
        out[name] = _FUNCS[metric](ranked, qrels, int(k))
    return out


def evaluate(
    run: Mapping[str, Sequence[str]], qrels: Mapping[str, Qrels], names: Sequence[str] | None = None
) -> dict[str, float]:
    """Mean of each metric (``"ndcg@10"``, ``"recall@100"``, ...) over the judged queries of ``run``.

    A judged query missing from ``run`` counts as an empty ranking (scores 0), as in BEIR.
    """
    names = list(names or metric_names())
    judged = [q for q, rels in qrels.items() if any(g > 0 for g in rels.values())]
    if not judged:
        return dict.fromkeys(names, 0.0)
    totals = dict.fromkeys(names, 0.0)
    for query in judged:
        for name, value in per_query(run.get(query, ()), qrels[query], names).items():
            totals[name] += value
    return {name: total / len(judged) for name, total in totals.items()}


def expected_calibration_error(pairs: Sequence[tuple[float, bool]], bins: int = 10) -> float:
    """ECE of probability-like scores against 0/1 outcomes: the mean, weighted by bin size, of |mean score -
    fraction true| over ``bins`` equal-width bins of the score."""
    if not pairs:
        return 0.0
    totals = [[0, 0.0, 0] for _ in range(bins)]  # count, sum of scores, true outcomes
    for score, outcome in pairs:
        entry = totals[min(bins - 1, max(0, int(score * bins)))]
        entry[0] += 1
        entry[1] += score
        entry[2] += int(outcome)
    return sum(abs(s / n - t / n) * n for n, s, t in totals if n) / len(pairs)
