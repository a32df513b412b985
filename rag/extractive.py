"""The answer without an answer model: the sentences of the passing sources that answer the question best.

The sources' text is made plain (:func:`rag.markdown.plain_paragraph`: nothing from a source renders as
Markdown) and split into sentences (headings left out: they name a subject, they do not state a fact); the text
model scores all of them against the question, and the best few (at most :data:`MAX_SENTENCES`, and none far below
the best) are shown in reading order (by source number, then position in the source), each source's run of
sentences followed by its ``[n]``. The chunks next to each text source are candidates too (:func:`answer`): a
passage that matched the question often has the fact asked about in the sentence just past its end. One that is
quoted becomes a source of its own, numbered after the retrieved ones, so that each citation points where its
sentence is.

How a sentence is scored depends on the text model:

* A mean-pooled text encoder (MiniLM; :attr:`~rag.embedder.SentenceTransformerEmbedder.token_level`): token by
  token. Each of the question's tokens is matched to its closest token of the sentence (cosine of the model's
  token vectors), and the sentence scores the weighted mean of those matches, a question token weighing more the
  fewer candidate sentences match it well (over :data:`TOKEN_MATCH`): a gene name or a model number counts, a word
  every sentence has does not. A sentence-vector cosine alone prefers a sentence on the question's general subject
  to the one stating the fact asked about.
* Any other model (CLS or last-token pooling): the cosine of the question's and the sentence's vectors, plus
  :data:`TERM_WEIGHT` times the share of the question's terms the sentence holds, weighted by rarity in the same way.

Both add their share of the question's terms (:data:`TOKEN_TERM_WEIGHT` for the first) and take off
:data:`RANK_PENALTY` per place its source ranks below the first. Chosen on SciFact's train claims (505 with marked
evidence sentences), checked on its test claims (188) (benchmarks/results/relevance_scifact.md): an evidence
sentence was in the answer for 61% of the train claims with the cosine, terms and ranks, 72% token by token with
the neighbouring chunks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from rag.markdown import plain_paragraph
from rag.records import Citation, Hit

if TYPE_CHECKING:
    from rag.embedder import Embedder

__all__ = ["MAX_SENTENCES", "answer", "best_sentences", "extractive_text", "split_sentences"]

MAX_SENTENCES = 3
RANK_PENALTY = 0.02
# Token by token (mean-pooled models): a question token matched over TOKEN_MATCH counts as found in a sentence
# (for its rarity weight); the term share adds TOKEN_TERM_WEIGHT; a sentence scoring under (1 - TOKEN_MARGIN) times
# the best is not shown (token scores crowd together: a fixed gap would keep weak sentences or cut good ones).
TOKEN_MATCH = 0.75
TOKEN_TERM_WEIGHT = 0.1
TOKEN_MARGIN = 0.3
# Sentence vectors (other models): the term share adds TERM_WEIGHT; a sentence _MARGIN under the best is not shown.
TERM_WEIGHT = 0.5
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
    """The best ``count`` (source number, position, sentence), in reading order; scored against ``queries`` (the
    question, and its search query when that differs; their mean) as the module docstring says. A source whose
    hit is ``context_of`` another (a neighbouring chunk) ranks as that one. ``terms``: the analyser that splits a
    text into terms (the BM25 encoder's: stop words dropped, stemmed); default, lower-cased words. Sentences in
    ``shown`` (the earlier answers of a chat) are left out: a follow-up is not answered by repeating them; a
    sentence held by two sources (overlapping chunks) is a candidate once, from the first."""
    seen = " ".join(shown.split())
    candidates: list[tuple[int, int, str]] = []
    held: set[str] = set()
    for citation in sources:
        for position, sentence in enumerate(split_sentences(citation.hit.text or "")):
            if sentence in held or (seen and sentence in seen):
                continue
            held.add(sentence)
            candidates.append((citation.number, position, sentence))
    texts = [q for q in dict.fromkeys(q.strip() for q in queries) if q]
    if not candidates or not texts:
        return []
    sentences = [c[2] for c in candidates]
    analyser = terms or _words
    if getattr(embedder, "token_level", False):
        scores = _token_scores(embedder, texts, sentences)
        scores += TOKEN_TERM_WEIGHT * _term_overlap(texts, sentences, analyser)
        relative = True
    else:
        query_vectors = _unit(embedder.encode_queries(texts))
        sentence_vectors = _unit(embedder.encode_documents(sentences))
        scores = (sentence_vectors @ query_vectors.T).mean(axis=1)
        scores += TERM_WEIGHT * _term_overlap(texts, sentences, analyser)
        relative = False
    ranks = _source_ranks(sources)
    scores -= RANK_PENALTY * np.array([ranks[c[0]] for c in candidates], dtype=np.float32)
    order = np.argsort(-scores, kind="stable")
    best = float(scores[order[0]])
    floor = best - (TOKEN_MARGIN * abs(best) if relative else _MARGIN)
    chosen = [candidates[i] for i in order[:count] if float(scores[i]) >= floor]
    return sorted(chosen)


def _source_ranks(sources: Sequence[Citation]) -> dict[int, int]:
    """Source number -> 0-based place among the retrieved sources; a neighbouring chunk takes its hit's place."""
    retrieved = [c for c in sources if c.hit.context_of is None]
    place = {c.hit.id: rank for rank, c in enumerate(retrieved)}
    ranks = {c.number: rank for rank, c in enumerate(retrieved)}
    for citation in sources:
        if citation.number not in ranks:
            ranks[citation.number] = place.get(citation.hit.context_of or "", len(retrieved))
    return ranks


def _token_scores(embedder: Embedder, queries: Sequence[str], sentences: Sequence[str]) -> np.ndarray:
    """Per sentence, the rarity-weighted mean over each query's tokens of its best match among the sentence's
    tokens (see the module docstring); the mean over ``queries``."""
    encode = embedder.encode_tokens  # type: ignore[attr-defined]
    sentence_tokens = encode(list(sentences), query=False)
    lengths = np.array([len(t) for t in sentence_tokens])
    stacked = np.concatenate(sentence_tokens) if lengths.sum() else np.zeros((0, embedder.dimension), np.float32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    total = np.zeros(len(sentences), dtype=np.float32)
    for query in encode(list(queries), query=True):
        if not len(query) or not len(stacked):
            continue
        similarity = query @ stacked.T  # (query tokens, all sentence tokens)
        best = np.full((len(sentences), len(query)), -1.0, dtype=np.float32)
        present = lengths > 0
        best[present] = np.maximum.reduceat(similarity, starts[present], axis=1).T
        weights = _rarity((best > TOKEN_MATCH).sum(axis=0), len(sentences))
        total += best @ weights / weights.sum()
    return total / len(queries)


def _rarity(found: np.ndarray, n: int) -> np.ndarray:
    """The weight of a question term or token found in ``found`` of ``n`` candidate sentences:
    ``log(1 + n / (found + 0.5))`` (BM25's IDF shape): high for what few sentences hold."""
    return np.log1p(n / (found + 0.5))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _term_overlap(
    queries: Sequence[str], sentences: Sequence[str], terms: Callable[[str], Iterable[str]]
) -> np.ndarray:
    """Per sentence, the weighted share of the queries' terms it holds; a term's weight is its :func:`_rarity`
    among ``sentences``."""
    wanted = {t for q in queries for t in terms(q)}
    held = [set(terms(s)) & wanted for s in sentences]
    n = len(sentences)
    weight = {t: float(_rarity(np.array(sum(t in h for h in held)), n)) for t in wanted}
    total = sum(weight.values())
    if total <= 0:
        return np.zeros(n, dtype=np.float32)
    return np.array([sum(weight[t] for t in h) / total for h in held], dtype=np.float32)


def answer(
    queries: Sequence[str],
    sources: Sequence[Citation],
    embedder: Embedder,
    *,
    adjacent: Sequence[Hit] = (),
    shown: str = "",
    terms: Callable[[str], Iterable[str]] | None = None,
) -> tuple[str, list[int], list[Citation]] | None:
    """The extractive answer from ``sources`` and the ``adjacent`` chunks of their hits (each ``context_of`` one
    of them): its text, the numbers it cites, and its sources (``sources``, then the adjacent chunks it quotes,
    numbered after them). None when no sentence could be chosen."""
    known = {c.hit.id for c in sources}
    extra = [h for h in dict((h.id, h) for h in adjacent).values() if h.id not in known]
    first = max((c.number for c in sources), default=0) + 1
    candidates = [*sources, *(Citation(number=first + i, hit=h) for i, h in enumerate(extra))]
    picked = best_sentences(queries, candidates, embedder, shown=shown, terms=terms)
    if not picked:
        return None
    quoted = sorted({n for n, _, _ in picked} - {c.number for c in sources})
    renumber = {old: first + i for i, old in enumerate(quoted)}
    by_number = {c.number: c for c in candidates}
    final = [*sources, *(Citation(number=renumber[n], hit=by_number[n].hit) for n in quoted)]
    picked = sorted((renumber.get(n, n), position, sentence) for n, position, sentence in picked)
    text, cited = extractive_text(picked, final)
    return text, cited, final


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
