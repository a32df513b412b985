"""Metrics against values computed by hand (trec_eval / BEIR conventions)."""

from __future__ import annotations

import math

import pytest

from rag.eval.metrics import evaluate, metric_names, mrr_at_k, ndcg_at_k, recall_at_k

QRELS = {"a": 2, "b": 1, "c": 0}  # c is judged but not relevant


def test_ndcg_uses_graded_gains_and_the_ideal_order():
    # ranking: x (0), a (2), b (1): DCG = 2/log2(3) + 1/log2(4) = 1.26186 + 0.5; IDCG = 2/1 + 1/log2(3)
    dcg = 2 / math.log2(3) + 1 / 2
    idcg = 2 + 1 / math.log2(3)
    assert ndcg_at_k(["x", "a", "b"], QRELS, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "b"], QRELS, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "a"], QRELS, 10) == pytest.approx((1 + 2 / math.log2(3)) / idcg)
    # cut at k: only "x" is inside the top 1
    assert ndcg_at_k(["x", "a"], QRELS, 1) == 0.0
    # k smaller than the number of relevant documents: the ideal is cut too
    assert ndcg_at_k(["a"], QRELS, 1) == pytest.approx(1.0)
    assert ndcg_at_k(["c"], QRELS, 10) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0  # nothing relevant


def test_recall_and_mrr():
    assert recall_at_k(["x", "a", "c"], QRELS, 10) == pytest.approx(0.5)
    assert recall_at_k(["x", "a", "b"], QRELS, 2) == pytest.approx(0.5)
    assert recall_at_k(["b", "a"], QRELS, 2) == 1.0
    assert mrr_at_k(["x", "c", "b"], QRELS, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "c", "b"], QRELS, 2) == 0.0
    assert mrr_at_k(["a"], QRELS, 10) == 1.0


def test_duplicate_ids_count_once_at_their_first_rank():
    assert ndcg_at_k(["a", "a", "b"], QRELS, 2) == pytest.approx(1.0)
    assert recall_at_k(["x", "x", "x", "a"], QRELS, 2) == 0.5


def test_evaluate_averages_over_judged_queries_and_missing_runs_count_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}  # q3 has nothing relevant: left out
    run = {"q1": ["a", "x"], "q3": ["c"]}
    scores = evaluate(run, qrels, ["ndcg@10", "recall@10", "mrr@10"])
    assert scores == {"ndcg@10": 0.5, "recall@10": 0.5, "mrr@10": 0.5}
    assert evaluate({}, {"q": {"a": 0}}, ["mrr@10"]) == {"mrr@10": 0.0}


def test_default_metric_names():
    assert metric_names() == ["ndcg@10", "recall@10", "recall@100", "mrr@10"]


def test_expected_calibration_error() -> None:
    from rag.eval.metrics import expected_calibration_error

    assert expected_calibration_error([(0.9, True)] * 9 + [(0.9, False)]) == pytest.approx(0.0)
    assert expected_calibration_error([(0.95, False), (0.05, True)]) == pytest.approx(0.95)
    assert expected_calibration_error([]) == 0.0
