"""The sparse encoder role: BM25-style term weights for the ``sparse`` named vector (hybrid search).

:class:`SparseEncoder` is the protocol; :class:`Bm25Encoder` is the offline implementation:

* **Terms**: Unicode word tokens (letters and digits), case-folded, English stopwords dropped, each
  stemmed with the Snowball English stemmer (``snowballstemmer``, pure Python).
* **Term ids**: the first 4 bytes of BLAKE2b of the term, so no vocabulary file is needed and every
  process maps a term to the same id. Two terms sharing an id (about one pair per 100k-term vocabulary)
  only blur each other's weights.
* **Document weights**: BM25's term-frequency saturation ``tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl))``
  with ``dl`` the document's term count and a *fixed* ``avgdl`` (:data:`DEFAULT_AVGDL`, about a full
  256-token chunk once stopwords are gone). A fixed value keeps weights independent of the rest of the
  collection, so a point never needs rewriting when others arrive.
* **Query weights**: 1 per distinct term.
* **IDF** is not ours: the collection's sparse vector uses Qdrant's IDF modifier, which multiplies each
  query term by ``ln((N − df + 0.5) / (df + 0.5) + 1)`` over the points that have a sparse vector, at
  query time (the embedded store computes it too). Sum over shared terms = BM25.

The encoder's :attr:`~Bm25Encoder.encoder_id` (tokenizer, hash, parameters) is recorded in the collection
schema: a collection whose stored weights came from another encoder is refused, not searched wrong.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_AVGDL",
    "SPARSE_VECTOR",
    "Bm25Encoder",
    "SparseEncoder",
    "SparseVector",
    "tokenize",
]

# The name of the sparse vector in the collection.
SPARSE_VECTOR = "sparse"
DEFAULT_AVGDL = 100.0
_MAX_TERM_CHARS = 40  # longer "words" are ids, hashes or base64: noise for BM25

_WORD = re.compile(r"[^\W_]+")

# English stopwords (the usual Lucene/NLTK-style list, contractions split as the tokenizer splits them).
_STOPWORDS_TEXT = """
    a about above after again against all am an and any are aren as at be because been before being below
    between both but by can cannot could couldn d did didn do does doesn doing don down during each few for
    from further had hadn has hasn have haven having he her here hers herself him himself his how i if in
    into is isn it its itself just ll m me more most mustn my myself no nor not now o of off on once only or
    other our ours ourselves out over own re s same shan she should shouldn so some such t than that the
    their theirs them themselves then there these they this those through to too under until up very was
    wasn we were weren what when where which while who whom why will with won would wouldn y you your yours
    yourself yourselves ve
"""
STOPWORDS_EN = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Term ids (ascending, unique) and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.indices)

    def as_dict(self) -> dict[int, float]:
        return dict(zip(self.indices, self.values, strict=True))


@runtime_checkable
class SparseEncoder(Protocol):
    """Turns text into sparse term weights. ``encoder_id`` names the encoding in the collection schema."""

    encoder_id: str

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]: ...

    def encode_query(self, text: str) -> SparseVector: ...

    def terms(self, text: str) -> list[str]:
        """The terms ``text`` is indexed by, in order (what the extractive answer matches questions on)."""
        ...


def tokenize(text: str) -> list[str]:
    """Case-folded Unicode word tokens (letters and digits; ``_`` and punctuation separate words)."""
    return [w for w in _WORD.findall(text.casefold()) if len(w) <= _MAX_TERM_CHARS]


def term_id(term: str) -> int:
    """Stable unsigned 32-bit id of a term."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


class Bm25Encoder:
    """BM25 document weights (TF saturation, fixed ``avgdl``) and binary query weights; IDF from Qdrant."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, avgdl: float = DEFAULT_AVGDL, stem: bool = True) -> None:
        if k1 <= 0 or not 0 <= b <= 1 or avgdl <= 0:
            raise ValueError("BM25 needs k1 > 0, 0 <= b <= 1 and avgdl > 0")
        self.k1 = k1
        self.b = b
        self.avgdl = avgdl
        self.stem = stem
        self.encoder_id = (
            f"bm25/v1 terms=unicode-words,casefold,stop-en{',snowball-en' if stem else ''} "
            f"ids=blake2b32 k1={k1:g} b={b:g} avgdl={avgdl:g}"
        )
        self._stemmer: Any = None
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()  # snowballstemmer's stemmer objects keep state between calls

    def __repr__(self) -> str:
        return f"Bm25Encoder({self.encoder_id!r})"

    def _stem_all(self, words: list[str]) -> list[str]:
        if not self.stem:
            return words
        out: list[str] = []
        with self._lock:
            if self._stemmer is None:
                import snowballstemmer

                self._stemmer = snowballstemmer.stemmer("english")
            for word in words:
                stemmed = self._cache.get(word)
                if stemmed is None:
                    stemmed = self._stemmer.stemWord(word)
                    if len(self._cache) < 200_000:
                        self._cache[word] = stemmed
                out.append(stemmed)
        return out

    def terms(self, text: str) -> list[str]:
        """The BM25 terms of ``text`` in order (stopwords removed, stemmed)."""
        return self._stem_all([w for w in tokenize(text) if w not in STOPWORDS_EN])

    def _weights(self, counts: Counter[str], dl: int) -> SparseVector:
        norm = self.k1 * (1 - self.b + self.b * dl / self.avgdl)
        by_id: dict[int, float] = {}
        for term, tf in counts.items():
            key = term_id(term)
            by_id[key] = by_id.get(key, 0.0) + tf * (self.k1 + 1) / (tf + norm)
        indices = tuple(sorted(by_id))
        return SparseVector(indices, tuple(by_id[i] for i in indices))

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        vectors: list[SparseVector] = []
        for text in texts:
            terms = self.terms(text)
            vectors.append(self._weights(Counter(terms), len(terms)))
        return vectors

    def encode_query(self, text: str) -> SparseVector:
        indices = tuple(sorted({term_id(t) for t in self.terms(text)}))
        return SparseVector(indices, tuple(1.0 for _ in indices))
