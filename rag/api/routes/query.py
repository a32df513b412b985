"""Search (retrieval only) and answers (JSON, or server-sent events while the model writes)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request

from rag.api.deps import CallerDep, ServicesDep
from rag.api.presenter import Presenter
from rag.api.schemas import AnswerIn, AnswerOut, SearchIn, SearchOut
from rag.api.streaming import event_stream, started
from rag.errors import RagError
from rag.records import Answer, Turn

router = APIRouter(prefix="/v1", tags=["query"])

log = logging.getLogger(__name__)


@router.post("/search", summary="Fused search over every vector; retrieval only")
def search(body: SearchIn, request: Request, caller: CallerDep, services: ServicesDep) -> SearchOut:
    presenter = Presenter(services, caller.tenant, str(request.base_url))
    image = presenter.query_image(body.image)
    audio = presenter.query_audio(body.audio)
    query = presenter.query_text(body.query, image=image is not None or audio is not None)
    filters = presenter.filters(body.filters)
    rag = services.rag
    if body.rerank and audio is None:
        retrieved = rag.retrieve(query, tenant=caller.tenant, filters=filters, limit=body.limit, image=image)
        return SearchOut(hits=[presenter.hit(h) for h in retrieved.hits], rerank=retrieved.rerank)
    queries: list[Any] = [q for q in (query, image, audio) if q is not None and q != ""]
    hits = rag.search(queries, tenant=caller.tenant, filters=filters, limit=body.limit)
    notes = ["not reranked: the reranker reads no audio query"] if body.rerank else []
    return SearchOut(hits=[presenter.hit(h) for h in hits], notes=notes)


@router.post(
    "/answer",
    summary="Answer a question from the caller's sources, with numbered citations",
    response_model=AnswerOut,
    responses={200: {"content": {"text/event-stream": {"description": "With stream=true: delta…, answer"}}}},
)
def answer(body: AnswerIn, request: Request, caller: CallerDep, services: ServicesDep) -> Any:
    presenter = Presenter(services, caller.tenant, str(request.base_url))
    image = presenter.query_image(body.image)
    question = presenter.query_text(body.question, image=image is not None)
    filters = presenter.filters(body.filters)
    history = [Turn(role=t.role, text=t.content) for t in body.history]
    if not body.stream:
        answer = services.rag.answer(question, tenant=caller.tenant, filters=filters, image=image, history=history)
        return presenter.answer(answer)
    stream = services.rag.answer_stream(question, tenant=caller.tenant, filters=filters, image=image, history=history)
    return event_stream(_events(started(stream), presenter))


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _events(stream: Iterator[str | Answer], presenter: Presenter) -> Iterator[str]:
    try:
        for item in stream:
            if isinstance(item, Answer):
                yield sse("answer", presenter.answer(item).model_dump(mode="json"))
            elif item:
                yield sse("delta", {"text": item})
    except RagError as exc:
        log.warning("answer stream failed: %s", exc)
        yield sse("error", {"type": type(exc).__name__, "message": str(exc)})
