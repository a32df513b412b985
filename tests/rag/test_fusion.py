"""Calibrated fusion: each vector's raw scores as relevance against its own null, combined as a noisy OR."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from rag.fusion import fuse_calibrated
from rag.relevance import calibrate, logit, null_stats
from rag.store import StoredHit

# A dense vector whose unrelated pairs score about 0.05 (spread 0.05), and BM25 whose chance matches score
# about 2 (spread 1): raw scores on very different scales.
DENSE = null_stats("text", "text", [0.0, 0.05, 0.1] * 100, 100)
BM25 = null_stats("sparse", "text", [1.0, 2.0, 3.0] * 100, 100)


def _hits(*pairs: tuple[str, float]) -> list[StoredHit]:
    return [StoredHit(id=i, score=s) for i, s in pairs]


def _fuse(dense: list[StoredHit], sparse: list[StoredHit], limit: int = 10) -> list[StoredHit]:
    return fuse_calibrated([dense, sparse], [partial(logit, stats=DENSE), partial(logit, stats=BM25)], limit=limit)


def test_a_list_of_unrelated_hits_adds_nothing_where_ranks_would():
    # BM25 found only chance matches (its best, "b", is near its null); the dense vector found "a" clearly.
    fused = _fuse(_hits(("a", 0.6), ("b", 0.3)), _hits(("b", 2.5), ("c", 2.0)))
    assert [h.id for h in fused][:2] == ["a", "b"]
    # RRF would put "b" (second and first) above "a" (first and absent): 1/62 + 1/61 > 1/61.
    assert fused[0].score == pytest.approx(calibrate(0.6, DENSE)) and fused[0].score > 0.99
    assert fused[-1].id == "c" and fused[-1].score == pytest.approx(calibrate(2.0, BM25)) and fused[-1].score < 0.01


def test_two_vectors_finding_a_point_count_more_than_one():
    fused = _fuse(_hits(("a", 0.3), ("b", 0.3)), _hits(("b", 8.0)))
    assert [h.id for h in fused] == ["b", "a"]
    assert 0.0 <= fused[1].score < fused[0].score <= 1.0


def test_near_certain_matches_keep_their_order_and_ties_go_to_the_smaller_id():
    fused = _fuse(_hits(("z", 0.95), ("y", 0.9), ("x", 0.9)), [], limit=2)
    assert [h.id for h in fused] == ["z", "x"]  # both saturate near 1.0, yet z's evidence is larger


def test_a_vector_without_calibration_falls_back_to_rrf(make_rag, tmp_path: Path):
    """A collection too small to measure a null (under 16 points) is fused by RRF, not left unsearched."""
    for i, text in enumerate(["The Helios battery warranty lasts twelve years.", "Clean the panels twice a year."]):
        (tmp_path / f"d{i}.txt").write_text(text + "\n")
    rag = make_rag("minilm", retrieval={"fusion": "calibrated"})
    assert rag.ingest([tmp_path], progress=False).ok
    retriever, _ = rag.search_roles()
    hits = retriever.search("how long is the battery warranty", tenant="default")
    rrf = retriever.search_encoded(retriever.encode("how long is the battery warranty"), tenant="default", fusion="rrf")
    assert [h.id for h in hits] == [h.id for h in rrf] and hits[0].score == rrf[0].score
