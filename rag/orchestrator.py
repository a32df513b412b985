"""The query orchestrator: retrieve (fused search) → rerank → answer with numbered, cited sources.

It never imports FastAPI; the HTTP layer and the CLI call it through :class:`rag.RAG`.

Outcomes of the answer step:

* ``answered`` — the model answered from the numbered sources; ``Answer.cited`` lists the numbers it used.
* ``extractive`` — no model is configured: the sentences of the passing sources that answer the question best,
  each source's followed by its citation (:mod:`rag.extractive`).
* ``nothing_relevant`` — no candidate passed the relevance gate (or nothing was found): the model is not
  asked, so it cannot answer from irrelevant material. With a reranker the gate is its calibrated score
  (``RAG_RERANK__THRESHOLD``); without one, the retriever's calibrated relevance
  (``RAG_RETRIEVAL__RELEVANCE_THRESHOLD``, :mod:`rag.relevance`), one scale for every vector and modality.

Follow-ups: with ``history`` (earlier turns of a chat), the model first rewrites the question into a
standalone search query ("and the panels?" → "warranty of the Aurora panels"), which retrieval and
reranking use; the answer step then sees the earlier turns too. Without a model, or when the rewrite fails,
the previous user message is searched together with the question. ``Answer.notes`` says which was done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag import extractive
from rag.config import Settings
from rag.errors import GenerationError
from rag.media import MediaStore
from rag.prompt import (
    build_messages,
    extractive_answer,
    follow_up_query,
    parse_citations,
    recent_history,
    standalone_question_messages,
)
from rag.records import Answer, Citation, Hit, RerankInfo, SearchFilters, Turn
from rag.regions import ground
from rag.retriever import Retriever

if TYPE_CHECKING:
    from PIL import Image

    from rag.generator import Generator, Messages
    from rag.reranker import Reranker

__all__ = ["NOTHING_RELEVANT", "QueryOrchestrator", "Retrieved"]

log = logging.getLogger(__name__)

NOTHING_RELEVANT = "Nothing relevant to this question was found in the indexed sources."
NO_LLM_NOTE = "no LLM configured (RAG_GENERATION__MODEL): showing the most relevant passages instead of an answer"
_MAX_QUERY_CHARS = 2000  # a rewritten query longer than this is not a query
_UNUSABLE_REWRITE = "the model's rewrite was empty or too long"


@dataclass
class Retrieved:
    hits: list[Hit]
    rerank: RerankInfo
    relevant: list[Hit] = field(default_factory=list)


@dataclass(frozen=True)
class _Prepared:
    """Everything before the model writes: the request for it, and what its answer is built from."""

    question: str
    generator: Generator
    messages: Messages
    sources: list[Citation]
    rerank: RerankInfo
    notes: list[str]


class QueryOrchestrator:
    def __init__(
        self,
        *,
        retriever: Retriever,
        reranker: Reranker | None,
        generator: Generator | None,
        media: MediaStore,
        settings: Settings,
        rerank_note: str | None = None,
    ) -> None:
        self.retriever = retriever
        self.reranker = reranker
        self.generator = generator
        self.media = media
        self.settings = settings
        self.rerank_note = rerank_note

    # -- retrieval + rerank ----------------------------------------------------------------------

    def retrieve(
        self,
        question: str,
        *,
        tenant: str,
        filters: SearchFilters | None = None,
        limit: int | None = None,
        image: Image.Image | None = None,
    ) -> Retrieved:
        """Fused search for the question (and the image, when one is given), then reranking."""
        rerank = self.settings.rerank
        top_k = limit or (rerank.top_k if self.reranker else self.settings.generation.context_hits)
        queries: list[str | Image.Image] = [question] if image is None else [question, image]
        if self.reranker is None or not question.strip():
            hits = self.retriever.search(queries, tenant=tenant, filters=filters, limit=top_k)
            note = "image-only query: not reranked" if self.reranker is not None else self.rerank_note
            info = RerankInfo(note=note or "no reranker")
            gate = self.settings.retrieval.relevance_threshold
            relevant = [h for h in hits if h.relevance is None or h.relevance >= gate]
            return Retrieved(hits=hits, rerank=info, relevant=relevant)
        candidates = self.retriever.search(queries, tenant=tenant, filters=filters, limit=max(rerank.candidates, top_k))
        hits, info = self.reranker.rerank(question, candidates, top_k=top_k)
        relevant = [h for h in hits if h.rerank_score is None or h.rerank_score >= rerank.threshold]
        return Retrieved(hits=hits, rerank=info, relevant=relevant)

    # -- answer ----------------------------------------------------------------------------------

    def answer(
        self,
        question: str,
        *,
        tenant: str,
        filters: SearchFilters | None = None,
        image: Image.Image | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        """Answer ``question`` (optionally about ``image``, which is also a query) from the tenant's sources;
        ``history``: the earlier turns of a chat, oldest first (see the module docstring)."""
        prepared = self._prepare(question, tenant=tenant, filters=filters, image=image, history=history)
        if isinstance(prepared, Answer):
            return prepared
        return self._model_answer(prepared, prepared.generator.complete(prepared.messages))

    def answer_stream(
        self,
        question: str,
        *,
        tenant: str,
        filters: SearchFilters | None = None,
        image: Image.Image | None = None,
        history: Sequence[Turn] = (),
    ) -> Iterator[str | Answer]:
        """Text pieces as they arrive, then the complete :class:`Answer` as the last item."""
        prepared = self._prepare(question, tenant=tenant, filters=filters, image=image, history=history)
        if isinstance(prepared, Answer):
            yield prepared.text
            yield prepared
            return
        pieces: list[str] = []
        for piece in prepared.generator.stream(prepared.messages):
            pieces.append(piece)
            yield piece
        yield self._model_answer(prepared, "".join(pieces))

    def _prepare(
        self,
        question: str,
        *,
        tenant: str,
        filters: SearchFilters | None,
        image: Image.Image | None,
        history: Sequence[Turn],
    ) -> Answer | _Prepared:
        """Everything up to the model's call: the search query (a follow-up rewritten), retrieval and reranking,
        then either the finished answer when the model is not to be asked, or the request for it."""
        turns = recent_history(history, self.settings.generation)
        query, notes = self._search_query(question, turns)
        retrieved = self.retrieve(query, tenant=tenant, filters=filters, image=image)
        sources = self._sources(retrieved)
        if not sources:
            return _with_notes(self._nothing_relevant(question, retrieved), notes)
        if self.generator is None:
            return _with_notes(self._extractive(question, query, sources, retrieved, turns), notes)
        messages = build_messages(
            question,
            sources,
            load_image=self.media.open_image,
            settings=self.settings.generation,
            query_image=image,
            history=turns,
        )
        return _Prepared(question, self.generator, messages, sources, retrieved.rerank, notes)

    def _sources(self, retrieved: Retrieved) -> list[Citation]:
        limit = self.settings.generation.context_hits
        return [Citation(number=i, hit=h) for i, h in enumerate(retrieved.relevant[:limit], start=1)]

    def _nothing_relevant(self, question: str, retrieved: Retrieved) -> Answer:
        """The answer when no candidate passed the relevance gate: the model is not asked."""
        notes = (
            [f"all {len(retrieved.hits)} candidates scored under the relevance threshold {self._threshold(retrieved)}"]
            if retrieved.hits
            else []
        )
        return Answer(
            question=question, text=NOTHING_RELEVANT, outcome="nothing_relevant", notes=notes, rerank=retrieved.rerank
        )

    def _extractive(
        self, question: str, query: str, sources: list[Citation], retrieved: Retrieved, turns: Sequence[Turn]
    ) -> Answer:
        """The answer without a model: the best sentences of the sources for the question and ``query`` (what
        was searched: a follow-up's rewritten or combined query), leaving out what the earlier answers of
        ``turns`` showed; each source's first lines when no text model is loaded."""
        shown = " ".join(t.text for t in turns if t.role == "assistant")
        text, cited = extractive_answer(sources), [s.number for s in sources]
        embedder = self.retriever.embedders.get("text")
        if embedder is not None and "text" in embedder.modalities:
            sparse = self.retriever.sparse
            adjacent = self.retriever.adjacent([s.hit for s in sources])
            found = extractive.answer(
                [question, query],
                sources,
                embedder,
                adjacent=adjacent,
                shown=shown,
                terms=sparse.terms if sparse is not None else None,
            )
            if found is not None:
                text, cited, sources = found
        answer = Answer(
            question=question,
            text=text,
            outcome="extractive",
            sources=sources,
            cited=cited,
            notes=[NO_LLM_NOTE],
            rerank=retrieved.rerank,
        )
        return ground(answer)  # each cited source's regions narrowed to the sentences quoted

    def _threshold(self, retrieved: Retrieved) -> str:
        if retrieved.rerank.applied:
            return f"{self.settings.rerank.threshold} (RAG_RERANK__THRESHOLD)"
        return f"{self.settings.retrieval.relevance_threshold} (RAG_RETRIEVAL__RELEVANCE_THRESHOLD)"

    def _model_answer(self, prepared: _Prepared, text: str) -> Answer:
        """The model's answer, with the source numbers it cited (a note when it cited none)."""
        cited = parse_citations(text, [s.number for s in prepared.sources])
        notes = prepared.notes if cited else [*prepared.notes, "the answer cites no source"]
        answer = Answer(
            question=prepared.question,
            text=text,
            outcome="answered",
            sources=prepared.sources,
            cited=cited,
            model=prepared.generator.model,
            notes=notes,
            rerank=prepared.rerank,
        )
        return ground(answer)  # each cited source's regions narrowed to the sentences the answer relies on

    # -- follow-ups ------------------------------------------------------------------------------

    def _search_query(self, question: str, turns: list[Turn]) -> tuple[str, list[str]]:
        """What to search for ``question`` (a follow-up: the model's standalone rewrite of it), and the notes
        that say so."""
        if not turns or not question.strip():
            return question, []
        if self.generator is None:
            return self._rewritten_or_combined(question, turns, None, "no model to rewrite it")
        try:
            reply = self.generator.complete(standalone_question_messages(question, turns))
        except GenerationError as exc:
            log.warning("could not rewrite a follow-up question: %s", exc)
            return self._rewritten_or_combined(question, turns, None, f"the model could not rewrite it ({exc.message})")
        return self._rewritten_or_combined(question, turns, reply, _UNUSABLE_REWRITE)

    def _rewritten_or_combined(
        self, question: str, turns: list[Turn], reply: str | None, why: str
    ) -> tuple[str, list[str]]:
        """The model's standalone query ``reply`` when it is usable, else the previous question searched together
        with this one; ``why``: why that fallback is used."""
        query = " ".join((reply or "").split()).strip("\"'")
        if query and len(query) <= _MAX_QUERY_CHARS:
            return query, ([] if query == question.strip() else [f"follow-up searched as: {query}"])
        fallback = follow_up_query(question, turns)
        if fallback == question:
            return question, []
        return fallback, [f"follow-up searched together with the previous question ({why})"]


def _with_notes(answer: Answer, notes: Sequence[str]) -> Answer:
    """``answer`` with the follow-up ``notes`` first."""
    return answer.model_copy(update={"notes": [*notes, *answer.notes]}) if notes else answer
