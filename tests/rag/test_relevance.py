"""Calibration on synthetic score distributions: two modalities with a gap, one scale after calibration."""

from __future__ import annotations

import numpy as np

from rag.extractive import split_sentences
from rag.relevance import MARGIN, Z_MID, calibrate, null_stats


def test_calibrated_matches_of_the_weak_modality_rank_above_non_matches_of_the_strong_one() -> None:
    rng = np.random.default_rng(0)
    # Text-text cosine: unrelated pairs around 0.05, matches around 0.6. Text-image (CLIP): unrelated around
    # 0.20 with a narrow spread, matches around 0.32: lower than the best unrelated texts.
    text_null = null_stats("text", "text", rng.normal(0.05, 0.08, 5000), 500)
    image_null = null_stats("image", "text", rng.normal(0.20, 0.02, 5000), 500)
    text_non_matching = rng.normal(0.05, 0.08, 200)
    text_non_matching = text_non_matching[text_non_matching < 0.3]
    image_matching = rng.normal(0.32, 0.01, 50)
    assert image_matching.min() < text_non_matching.max() + 0.1  # raw scores would rank them wrongly
    image_relevance = [calibrate(s, image_null) for s in image_matching]
    text_relevance = [calibrate(s, text_null) for s in text_non_matching]
    assert min(image_relevance) > max(text_relevance)
    assert min(image_relevance) > 0.5 > max(text_relevance)
    assert all(0.0 <= r <= 1.0 for r in [*image_relevance, *text_relevance])


def test_the_null_is_robust_to_a_few_related_pairs() -> None:
    rng = np.random.default_rng(1)
    clean = rng.normal(0.0, 0.07, 4000)
    contaminated = np.concatenate([clean, np.full(100, 0.7)])  # a background query that matched
    a, b = null_stats("text", "text", clean, 100), null_stats("text", "text", contaminated, 100)
    assert abs(a.center - b.center) < 0.01 and abs(a.spread - b.spread) < 0.01
    assert calibrate(a.center, a) < 0.01


def test_sentences_drop_headings_and_markup() -> None:
    text = (
        "# Warranty\n\nThe battery carries a 12-year warranty. Register it in the [app](https://x.example) "
        "within 60 days.\n"
    )
    assert split_sentences(text) == [
        "The battery carries a 12-year warranty.",
        "Register it in the app within 60 days.",
    ]


def _unrelated(rng: np.random.Generator, shape: int | tuple[int, int]) -> np.ndarray:
    """Cosines of unrelated pairs: centred on 0, heavier-tailed than a normal (as real ones are)."""
    return 0.05 * rng.standard_t(15, shape)


def _best_of(rng: np.random.Generator, points: int, queries: int = 24) -> np.ndarray:
    """The best of ``points`` unrelated scores, for each of ``queries`` unrelated questions."""
    return _unrelated(rng, (queries, points)).max(axis=1)


def test_the_edge_follows_the_best_hits_of_unrelated_questions_as_the_collection_grows() -> None:
    rng = np.random.default_rng(2)
    pairs = _unrelated(rng, 20_000)
    small = null_stats("text", "text", pairs, 20, best=_best_of(rng, 20))
    large = null_stats("text", "text", pairs, 10_000, best=_best_of(rng, 10_000))
    fixed = null_stats("text", "text", pairs, 10_000)  # no best hits measured: the fixed edge
    assert fixed.edge == Z_MID and fixed.best is None
    # The best of 20 unrelated points lies ~2 spreads up: the edge does not go under the fixed one.
    assert small.best is not None and small.best < Z_MID - MARGIN and small.edge == Z_MID
    # The best of 10,000 lies ~5 spreads up (SciFact's 9,713 points: 4.7); the edge is MARGIN above that.
    assert large.best is not None and large.best > 4.0 and large.edge == large.best + MARGIN
    # An off-domain question in the large collection: its best hit is one more best-of-10,000 draw. The fixed
    # edge passes most of them; the measured edge refuses nearly all.
    off_domain = _best_of(rng, 10_000, queries=200)
    assert np.mean([calibrate(s, fixed) >= 0.6 for s in off_domain]) > 0.5
    assert np.mean([calibrate(s, large) >= 0.6 for s in off_domain]) < 0.05
    # A real match (cosine 0.6, ten spreads up) is near certain under either.
    assert calibrate(0.6, large) > 0.99
