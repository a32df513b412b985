"""The extractive answer's sentence choice: cosine to the question, the question's rarer terms, source rank."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from rag.extractive import RANK_PENALTY, best_sentences
from rag.records import Citation, Hit
from rag.sparse import Bm25Encoder


class _Flat:
    """A text model that finds every sentence equally close to every question (cosine 1): only the terms and
    the ranks can tell the sentences apart."""

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 4), dtype=np.float32)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 4), dtype=np.float32)


def _source(number: int, text: str) -> Citation:
    hit = Hit(
        id=f"id-{number}",
        rank=number,
        score=1.0 / number,
        modality="text",
        kind="text",
        source_id=f"/docs/{number}.md",
        path=f"/docs/{number}.md",
        mime_type="text/markdown",
        text=text,
        tenant="default",
    )
    return Citation(number=number, hit=hit)


def test_the_sentence_holding_the_questions_rare_term_is_chosen_first():
    sources = [
        _source(1, "Batteries store energy for the home. Every battery has a warranty card in the box."),
        _source(2, "Opening the Helios casing voids the battery warranty at once."),
    ]
    embedder = cast("Any", _Flat())
    terms = Bm25Encoder().terms
    picked = best_sentences(["What voids the Helios battery warranty?"], sources, embedder, count=1, terms=terms)
    # "Helios" and "void" are held by one sentence only; "battery" and "warranty" by several.
    assert picked == [(2, 0, "Opening the Helios casing voids the battery warranty at once.")]
    # Without an analyser, plain lower-cased words are matched ("voids" as written).
    assert best_sentences(["what voids it"], sources, embedder, count=1) == picked


class _Closer:
    """Sentences naming the converter are a little closer to any question (cosine 0.995) than others (0.990)."""

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(np.array([1.0, 0.0], dtype=np.float32), (len(texts), 1))

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        rows = [[0.995, np.sqrt(1 - 0.995**2)] if "converter" in t else [0.99, np.sqrt(1 - 0.99**2)] for t in texts]
        return np.array(rows, dtype=np.float32)


def test_a_slightly_closer_sentence_of_a_lower_ranked_source_loses_to_the_first_sources():
    first = "The inverter restarts itself after a grid fault."
    second = "The converter restarts itself after a grid fault."
    sources = [_source(1, first), _source(2, second)]
    embedder = cast("Any", _Closer())
    # 0.990 for the first source against 0.995 - RANK_PENALTY for the second.
    assert RANK_PENALTY > 0.005
    assert best_sentences(["Does it restart after a fault?"], sources, embedder, count=1) == [(1, 0, first)]
    # Both are shown when two are asked for, in reading order.
    assert [n for n, _, _ in best_sentences(["Does it restart?"], sources, embedder, count=2)] == [1, 2]
