"""Calibration on synthetic score distributions: two modalities with a gap, one scale after calibration."""

from __future__ import annotations

import numpy as np

from rag.extractive import split_sentences
from rag.relevance import calibrate, null_stats


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
