"""The answer without an answer model: the sentences of the passing sources that answer the question best.

The sources' text is made plain (:func:`rag.markdown.plain_paragraph`: nothing from a source renders as
Markdown) and split into sentences; the text model scores all of them against the question in one batched
encode, and the best few (at most :data:`MAX_SENTENCES`, and none far below the best) are shown in reading
order (by source number, then position in the source), each source's run of sentences followed by its ``[n]``.

A sentence's score is its cosine to the question, plus :data:`TERM_WEIGHT` times the share of the question's
terms it holds (each term weighted by how few of the candidate sentences hold it: a gene name or a model number
counts, a word every sentence has does not), less :data:`RANK_PENALTY` per place its source ranks below the
first. A sentence-embedding model alone often prefers a sentence on the question's general subject to the one
stating the fact asked about. Chosen on SciFact's train claims (505 with marked evidence sentences), checked on
its test claims (188): an evidence sentence was in the answer for 52-55% with the cosine alone, 61% with the terms
and ranks (benchmarks/results/relevance_scifact.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from rag.markdown import plain_paragraph
from rag.records import Citation

if TYPE_CHECKING:
    from rag.embedder import Embedder

__all__ = ["MAX_SENTENCES", "best_sentences", "extractive_text", "split_sentences"]

MAX_SENTENCES = 3
TERM_WEIGHT = 0.5
RANK_PENALTY = 0.02
# A sentence scoring this much under the best one is not shown.
_MARGIN = 0.4
_MIN_WORDS = 4
_MAX_SENTENCE_CHARS = 600
_HEADING = re.compile(
    r"^[ \t]{0,3}#{1,6}[ \t][^\n]*$|<h[1-6][^>]*>.*?</h[1-6]>", re.MULTILINE | re.IGNORECASE | re.DOTALL
)
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9À-Ý])")


def split_sentences(text: str) -> list[str]:
    """Plain sentences of ``text`` (Markdown, HTML or plain); headings and fragments under four words dropped."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", _HEADING.sub("\n\n", text)):
        flat = plain_paragraph(block)
        for sentence in _SENTENCE_END.split(flat):
            sentence = sentence.strip()
            if len(sentence.split()) >= _MIN_WORDS:
                out.append(sentence[:_MAX_SENTENCE_CHARS])
    return out


def best_sentences(
    queries: Sequence[str],
    sources: Sequence[Citation],
    embedder: Embedder,
    *,
    count: int = MAX_SENTENCES,
    shown: str = "",
    terms: Callable[[str], Iterable[str]] | None = None,
) -> list[tuple[int, int, str]]:
    """The best ``count`` (source number, position, sentence), in reading order; scored by the mean cosine to
    ``queries`` (the question, and its search query when that differs) with the terms and ranks of the module
    docstring. ``terms``: the analyser that splits a text into terms (the BM25 encoder's: stop words dropped,
    stemmed); default, lower-cased words. Sentences in ``shown`` (the earlier answers of a chat) are left out:
    a follow-up is not answered by repeating them."""
    seen = " ".join(shown.split())
    candidates = [
        (citation.number, position, sentence)
        for citation in sources
        for position, sentence in enumerate(split_sentences(citation.hit.text or ""))
        if not (seen and sentence in seen)
    ]
    texts = [q for q in dict.fromkeys(q.strip() for q in queries) if q]
    if not candidates or not texts:
        return []
    query_vectors = _unit(embedder.encode_queries(texts))
    sentence_vectors = _unit(embedder.encode_documents([c[2] for c in candidates]))
    scores = (sentence_vectors @ query_vectors.T).mean(axis=1)
    scores += TERM_WEIGHT * _term_overlap(texts, [c[2] for c in candidates], terms or _words)
    ranks = {number: rank for rank, number in enumerate(dict.fromkeys(c[0] for c in candidates))}
    scores -= RANK_PENALTY * np.array([ranks[c[0]] for c in candidates], dtype=np.float32)
    order = np.argsort(-scores, kind="stable")
    best = float(scores[order[0]])
    chosen = [candidates[i] for i in order[:count] if float(scores[i]) >= best - _MARGIN]
    return sorted(chosen)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _term_overlap(
    queries: Sequence[str], sentences: Sequence[str], terms: Callable[[str], Iterable[str]]
) -> np.ndarray:
    """Per sentence, the weighted share of the queries' terms it holds; a term's weight is its inverse
    frequency among ``sentences`` (``log(1 + n / (df + 0.5))``)."""
    wanted = {t for q in queries for t in terms(q)}
    held = [set(terms(s)) & wanted for s in sentences]
    n = len(sentences)
    weight = {t: math.log(1.0 + n / (sum(t in h for h in held) + 0.5)) for t in wanted}
    total = sum(weight.values())
    if total <= 0:
        return np.zeros(n, dtype=np.float32)
    return np.array([sum(weight[t] for t in h) / total for h in held], dtype=np.float32)


def extractive_text(picked: Sequence[tuple[int, int, str]], sources: Sequence[Citation]) -> tuple[str, list[int]]:
    """The answer text for ``picked`` sentences (and the sources without text) and the numbers it cites."""
    paragraphs: list[str] = []
    cited: list[int] = []
    for number in dict.fromkeys(n for n, _, _ in picked):
        paragraphs.append(" ".join(s for n, _, s in picked if n == number) + f" [{number}]")
        cited.append(number)
    for citation in sources:
        hit = citation.hit
        if not (hit.text and hit.text.strip()):
            paragraphs.append(f"({hit.modality}) {hit.location} [{citation.number}]")
            cited.append(citation.number)
    return "\n\n".join(paragraphs), sorted(cited)


def _unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)
