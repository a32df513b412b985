"""The query orchestrator: retrieve (fused search) → rerank → answer with numbered, cited sources.

It never imports FastAPI; the HTTP layer and the CLI call it through :class:`rag.RAG`.

Outcomes of the answer step:

* ``answered`` — the model answered from the numbered sources; ``Answer.cited`` lists the numbers it used.
* ``extractive`` — no model is configured: the top passages, each with its citation.
* ``nothing_relevant`` — no candidate passed the reranker's relevance threshold (or nothing was found):
  the model is not asked, so it cannot answer from irrelevant material.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.config import Settings
from rag.media import MediaStore
from rag.records import Answer, Citation, Hit, RerankInfo, SearchFilters
from rag.retriever import Retriever

if TYPE_CHECKING:
    from PIL import Image

    from rag.generator import Generator
    from rag.reranker import Reranker

__all__ = ["NOTHING_RELEVANT", "QueryOrchestrator", "Retrieved"]

log = logging.getLogger(__name__)

NOTHING_RELEVANT = "Nothing relevant to this question was found in the indexed sources."
NO_LLM_NOTE = "no LLM configured (RAG_GENERATION__MODEL): showing the most relevant passages instead of an answer"


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
            return Retrieved(hits=hits, rerank=info, relevant=hits)
        candidates = self.retriever.search(queries, tenant=tenant, filters=filters, limit=max(rerank.candidates, top_k))
        hits, info = self.reranker.rerank(question, candidates, top_k=top_k)
        relevant = [h for h in hits if h.rerank_score is None or h.rerank_score >= rerank.threshold]
        return Retrieved(hits=hits, rerank=info, relevant=relevant)

    # -- answer ----------------------------------------------------------------------------------

    def _sources(self, retrieved: Retrieved) -> list[Citation]:
        limit = self.settings.generation.context_hits
        return [Citation(number=i, hit=h) for i, h in enumerate(retrieved.relevant[:limit], start=1)]

    def _without_model(self, question: str, retrieved: Retrieved) -> Answer | None:
        """The answer when the model is not to be asked (nothing relevant, or no model); else None."""
        from rag.prompt import extractive_answer

        sources = self._sources(retrieved)
        if not sources:
            notes = (
                [
                    f"all {len(retrieved.hits)} candidates scored under the relevance threshold "
                    f"{self.settings.rerank.threshold}"
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
            return Answer(
                question=question,
                text=extractive_answer(sources),
                outcome="extractive",
                sources=sources,
                cited=[s.number for s in sources],
                notes=[NO_LLM_NOTE],
                rerank=retrieved.rerank,
            )
        return None

    def _messages(
        self, question: str, sources: list[Citation], image: Image.Image | None = None
    ) -> list[dict[str, object]]:
        from rag.prompt import build_messages

        return build_messages(
            question, sources, load_image=self.media.open_image, settings=self.settings.generation, query_image=image
        )

    def _finish(self, question: str, text: str, sources: list[Citation], retrieved: Retrieved) -> Answer:
        from rag.prompt import parse_citations

        assert self.generator is not None
        cited = parse_citations(text, [s.number for s in sources])
        notes = [] if cited else ["the answer cites no source"]
        return Answer(
            question=question,
            text=text,
            outcome="answered",
            sources=sources,
            cited=cited,
            model=self.generator.model,
            notes=notes,
            rerank=retrieved.rerank,
        )

    def answer(
        self,
        question: str,
        *,
        tenant: str,
        filters: SearchFilters | None = None,
        image: Image.Image | None = None,
    ) -> Answer:
        """Answer ``question`` (optionally about ``image``, which is also a query) from the tenant's sources."""
        retrieved = self.retrieve(question, tenant=tenant, filters=filters, image=image)
        ready = self._without_model(question, retrieved)
        if ready is not None:
            return ready
        assert self.generator is not None
        sources = self._sources(retrieved)
        text = self.generator.complete(self._messages(question, sources, image))
        return self._finish(question, text, sources, retrieved)

    def answer_stream(
        self,
        question: str,
        *,
        tenant: str,
        filters: SearchFilters | None = None,
        image: Image.Image | None = None,
    ) -> Iterator[str | Answer]:
        """Text pieces as they arrive, then the complete :class:`Answer` as the last item."""
        retrieved = self.retrieve(question, tenant=tenant, filters=filters, image=image)
        ready = self._without_model(question, retrieved)
        if ready is not None:
            yield ready.text
            yield ready
            return
        assert self.generator is not None
        sources = self._sources(retrieved)
        pieces: list[str] = []
        for piece in self.generator.stream(self._messages(question, sources, image)):
            pieces.append(piece)
            yield piece
        yield self._finish(question, "".join(pieces), sources, retrieved)

    async def aanswer(self, question: str, *, tenant: str, filters: SearchFilters | None = None) -> Answer:
        # Encoding, search and reranking are CPU-bound: keep them off the event loop.
        retrieved = await asyncio.to_thread(self.retrieve, question, tenant=tenant, filters=filters)
        ready = self._without_model(question, retrieved)
        if ready is not None:
            return ready
        assert self.generator is not None
        sources = self._sources(retrieved)
        messages = await asyncio.to_thread(self._messages, question, sources)
        text = await self.generator.acomplete(messages)
        return self._finish(question, text, sources, retrieved)

    async def aanswer_stream(
        self, question: str, *, tenant: str, filters: SearchFilters | None = None
    ) -> AsyncIterator[str | Answer]:
        retrieved = await asyncio.to_thread(self.retrieve, question, tenant=tenant, filters=filters)
        ready = self._without_model(question, retrieved)
        if ready is not None:
            yield ready.text
            yield ready
            return
        assert self.generator is not None
        sources = self._sources(retrieved)
        messages = await asyncio.to_thread(self._messages, question, sources)
        pieces: list[str] = []
        async for piece in self.generator.astream(messages):
            pieces.append(piece)
            yield piece
        yield self._finish(question, "".join(pieces), sources, retrieved)
