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

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.config import Settings
from rag.errors import GenerationError
from rag.media import MediaStore
from rag.records import Answer, Citation, Hit, RerankInfo, SearchFilters, Turn
from rag.regions import ground
from rag.retriever import Retriever

if TYPE_CHECKING:
    from PIL import Image

    from rag.generator import Generator
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

    def _sources(self, retrieved: Retrieved) -> list[Citation]:
        limit = self.settings.generation.context_hits
        return [Citation(number=i, hit=h) for i, h in enumerate(retrieved.relevant[:limit], start=1)]

    def _without_model(
        self, question: str, retrieved: Retrieved, query: str | None = None, turns: Sequence[Turn] = ()
    ) -> Answer | None:
        """The answer when the model is not to be asked (nothing relevant, or no model); else None. ``query``:
        what was searched (a follow-up's rewritten or combined query), which the extractive answer uses too,
        leaving out what the earlier answers of ``turns`` showed."""

        sources = self._sources(retrieved)
        if not sources:
            notes = (
                [
                    f"all {len(retrieved.hits)} candidates scored under the relevance threshold "
                    f"{self._threshold(retrieved)}"
                ]
                if retrieved.hits
                else []
            )
            return Answer(
                question=question,
                text=NOTHING_RELEVANT,
                outcome="nothing_relevant",
                notes=notes,
                rerank=retrieved.rerank,
            )
        if self.generator is None:
            shown = " ".join(t.text for t in turns if t.role == "assistant")
            text, cited = self._extract(question, query or question, sources, shown)
            return ground(
                Answer(
                    question=question,
                    text=text,
                    outcome="extractive",
                    sources=sources,
                    cited=cited,
                    notes=[NO_LLM_NOTE],
                    rerank=retrieved.rerank,
                )
            )
        return None

    def _extract(self, question: str, query: str, sources: list[Citation], shown: str) -> tuple[str, list[int]]:
        """The extractive answer's text and cited numbers: best sentences when a text model is loaded, else
        each source's first lines."""
        from rag.extractive import best_sentences, extractive_text
        from rag.prompt import extractive_answer

        embedder = self.retriever.embedders.get("text")
        if embedder is not None and "text" in embedder.modalities:
            picked = best_sentences([question, query], sources, embedder, shown=shown)
            if picked:
                return extractive_text(picked, sources)
        return extractive_answer(sources), [s.number for s in sources]

    def _threshold(self, retrieved: Retrieved) -> str:
        if retrieved.rerank.applied:
            return f"{self.settings.rerank.threshold} (RAG_RERANK__THRESHOLD)"
        return f"{self.settings.retrieval.relevance_threshold} (RAG_RETRIEVAL__RELEVANCE_THRESHOLD)"

    def _messages(
        self,
        question: str,
        sources: list[Citation],
        image: Image.Image | None = None,
        history: Sequence[Turn] = (),
    ) -> list[dict[str, object]]:
        from rag.prompt import build_messages

        return build_messages(
            question,
            sources,
            load_image=self.media.open_image,
            settings=self.settings.generation,
            query_image=image,
            history=history,
        )

    # -- follow-ups ------------------------------------------------------------------------------

    def _turns(self, history: Sequence[Turn]) -> list[Turn]:
        from rag.prompt import recent_history

        return recent_history(history, self.settings.generation)

    def _rewrite_messages(self, question: str, turns: list[Turn]) -> list[dict[str, object]] | None:
        """The request for a standalone query, or None when none is needed or no model can make one."""
        from rag.prompt import standalone_question_messages

        if not turns or not question.strip() or self.generator is None:
            return None
        return standalone_question_messages(question, turns)

    def _search_text(self, question: str, turns: list[Turn], reply: str | None, why: str) -> tuple[str, list[str]]:
        """What to search for a (follow-up) question, and the note that says so. ``reply``: the model's
        standalone query, if it gave one; ``why``: why the fallback is used when it is not usable."""
        from rag.prompt import follow_up_query

        if not turns or not question.strip():
            return question, []
        query = " ".join((reply or "").split()).strip("\"'")
        if query and len(query) <= _MAX_QUERY_CHARS:
            return query, ([] if query == question.strip() else [f"follow-up searched as: {query}"])
        fallback = follow_up_query(question, turns)
        if fallback == question:
            return question, []
        return fallback, [f"follow-up searched together with the previous question ({why})"]

    def _standalone(self, question: str, turns: list[Turn]) -> tuple[str, list[str]]:
        messages = self._rewrite_messages(question, turns)
        if messages is None:
            return self._search_text(question, turns, None, "no model to rewrite it")
        assert self.generator is not None
        try:
            reply = self.generator.complete(messages)
        except GenerationError as exc:
            log.warning("could not rewrite a follow-up question: %s", exc)
            return self._search_text(question, turns, None, f"the model could not rewrite it ({exc.message})")
        return self._search_text(question, turns, reply, _UNUSABLE_REWRITE)

    async def _astandalone(self, question: str, turns: list[Turn]) -> tuple[str, list[str]]:
        messages = self._rewrite_messages(question, turns)
        if messages is None:
            return self._search_text(question, turns, None, "no model to rewrite it")
        assert self.generator is not None
        try:
            reply = await self.generator.acomplete(messages)
        except GenerationError as exc:
            log.warning("could not rewrite a follow-up question: %s", exc)
            return self._search_text(question, turns, None, f"the model could not rewrite it ({exc.message})")
        return self._search_text(question, turns, reply, _UNUSABLE_REWRITE)

    def _finish(
        self, question: str, text: str, sources: list[Citation], retrieved: Retrieved, notes: Sequence[str] = ()
    ) -> Answer:
        from rag.prompt import parse_citations

        assert self.generator is not None
        cited = parse_citations(text, [s.number for s in sources])
        notes = [*notes] if cited else [*notes, "the answer cites no source"]
        answer = Answer(
            question=question,
            text=text,
            outcome="answered",
            sources=sources,
            cited=cited,
            model=self.generator.model,
            notes=notes,
            rerank=retrieved.rerank,
        )
        return ground(answer)  # each cited source's regions narrowed to the sentences the answer relies on

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
        turns = self._turns(history)
        query, notes = self._standalone(question, turns)
        retrieved = self.retrieve(query, tenant=tenant, filters=filters, image=image)
        ready = self._without_model(question, retrieved, query, turns)
        if ready is not None:
            return _noted(ready, notes)
        assert self.generator is not None
        sources = self._sources(retrieved)
        text = self.generator.complete(self._messages(question, sources, image, turns))
        return self._finish(question, text, sources, retrieved, notes)

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
        turns = self._turns(history)
        query, notes = self._standalone(question, turns)
        retrieved = self.retrieve(query, tenant=tenant, filters=filters, image=image)
        ready = self._without_model(question, retrieved, query, turns)
        if ready is not None:
            yield ready.text
            yield _noted(ready, notes)
            return
        assert self.generator is not None
        sources = self._sources(retrieved)
        pieces: list[str] = []
        for piece in self.generator.stream(self._messages(question, sources, image, turns)):
            pieces.append(piece)
            yield piece
        yield self._finish(question, "".join(pieces), sources, retrieved, notes)

    async def aanswer(
        self,
        question: str,
        *,
        tenant: str,
        filters: SearchFilters | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        turns = self._turns(history)
        query, notes = await self._astandalone(question, turns)
        # Encoding, search and reranking are CPU-bound: keep them off the event loop.
        retrieved = await asyncio.to_thread(self.retrieve, query, tenant=tenant, filters=filters)
        ready = await asyncio.to_thread(self._without_model, question, retrieved, query, turns)
        if ready is not None:
            return _noted(ready, notes)
        assert self.generator is not None
        sources = self._sources(retrieved)
        messages = await asyncio.to_thread(self._messages, question, sources, None, turns)
        text = await self.generator.acomplete(messages)
        return self._finish(question, text, sources, retrieved, notes)

    async def aanswer_stream(
        self,
        question: str,
        *,
        tenant: str,
        filters: SearchFilters | None = None,
        history: Sequence[Turn] = (),
    ) -> AsyncIterator[str | Answer]:
        turns = self._turns(history)
        query, notes = await self._astandalone(question, turns)
        retrieved = await asyncio.to_thread(self.retrieve, query, tenant=tenant, filters=filters)
        ready = await asyncio.to_thread(self._without_model, question, retrieved, query, turns)
        if ready is not None:
            yield ready.text
            yield _noted(ready, notes)
            return
        assert self.generator is not None
        sources = self._sources(retrieved)
        messages = await asyncio.to_thread(self._messages, question, sources, None, turns)
        pieces: list[str] = []
        async for piece in self.generator.astream(messages):
            pieces.append(piece)
            yield piece
        yield self._finish(question, "".join(pieces), sources, retrieved, notes)


def _noted(answer: Answer, notes: Sequence[str]) -> Answer:
    return answer.model_copy(update={"notes": [*notes, *answer.notes]}) if notes else answer
