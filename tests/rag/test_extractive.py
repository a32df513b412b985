"""The extractive answer's sentence choice: cosine or token matches to the question, the question's rarer terms,
source rank; the chunks next to the sources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from rag.extractive import RANK_PENALTY, answer, best_sentences
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


class _Tokens:
    """A mean-pooled model in miniature: each word is its own token, one-hot per distinct word, so a question
    token matches a sentence (cosine 1) exactly when the sentence holds that word."""

    token_level = True
    dimension = 64

    def _vector(self, word: str) -> np.ndarray:
        out = np.zeros(self.dimension, dtype=np.float32)
        out[sum(map(ord, word)) % self.dimension] = 1.0
        return out

    def encode_tokens(self, texts: Sequence[str], *, query: bool) -> list[np.ndarray]:
        words = [[w.strip(".,?").lower() for w in t.split()] for t in texts]
        return [np.stack([self._vector(w) for w in ws]) if ws else np.zeros((0, self.dimension)) for ws in words]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:  # never called on the token path
        raise AssertionError("sentence vectors asked for")

    encode_documents = encode_queries


def test_token_by_token_the_sentence_matching_the_rare_words_wins():
    sources = [
        _source(1, "The battery warranty covers the battery for years. Contact the battery maker for help."),
        _source(2, "Salt water voids the warranty of the Helios unit."),
    ]
    picked = best_sentences(["does salt water void the helios warranty"], sources, cast("Any", _Tokens()), count=1)
    assert picked == [(2, 0, "Salt water voids the warranty of the Helios unit.")]


def test_an_adjacent_chunk_is_quoted_as_a_source_of_its_own():
    """The fact lies in the chunk after the retrieved one: its sentence is quoted and cited with a new number,
    placed (ranked) as the hit it adjoins; an adjacent chunk that is not quoted is not listed."""
    sources = [
        _source(1, "The Helios battery is installed by a certified electrician in one day."),
        _source(2, "Inverters convert direct current to alternating current for the home."),
    ]
    after = _source(9, "The Helios battery warranty lasts twelve years from installation.").hit.model_copy(
        update={"id": "id-1-next", "context_of": "id-1", "char_start": 70, "char_end": 140}
    )
    unrelated = _source(9, "Inverters hum quietly while they work.").hit.model_copy(
        update={"id": "id-2-next", "context_of": "id-2"}
    )
    embedder = cast("Any", _Tokens())
    found = answer(["how long does the helios battery warranty last"], sources, embedder, adjacent=[after, unrelated])
    assert found is not None
    text, cited, final = found
    assert [c.number for c in final] == [1, 2, 3] and final[2].hit.id == "id-1-next"
    assert "The Helios battery warranty lasts twelve years from installation. [3]" in text
    assert 3 in cited
    # A chunk already among the sources is not a candidate twice.
    twice = answer(["helios warranty"], sources, embedder, adjacent=[sources[0].hit])
    assert twice is not None and [c.number for c in twice[2]] == [1, 2]
