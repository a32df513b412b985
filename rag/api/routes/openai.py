"""OpenAI-compatible chat: ``POST /v1/chat/completions`` (streaming or not) and ``GET /v1/models``.

Open WebUI, LibreChat or any OpenAI SDK can use the system as a model. The last user message is the
question; an image in it (a base64 data URL) is searched with the question and shown to the answer model.
The user and assistant messages before it are the conversation so far (their text only; our own source
lists are taken off the assistant's): a follow-up is rewritten into a standalone search and answered with
that context. System messages from the client are not used: the grounding rules are ours.
The answer ends with a numbered source list in Markdown (file, page or time range, and a signed link to
the image of each cited source), which these clients display as is; the same sources come as structured
data in a ``sources`` field that SDKs keep as an extra attribute.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from rag.api.deps import CallerDep, ServicesDep, StoreReady
from rag.api.errors import ApiError, brief, error_body
from rag.api.schemas import AnswerOut, Text
from rag.api.views import View
from rag.errors import RagError
from rag.records import Answer, Turn

router = APIRouter(prefix="/v1", tags=["openai"])

log = logging.getLogger(__name__)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Text
    content: Text | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The fields this server reads; the others that clients send (temperature, user, ...) are accepted."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    stream: bool = False


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "rag"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


_STARTED = int(time.time())


@router.get("/models", summary="OpenAI-compatible model list (one model: this RAG system)")
def list_models(caller: CallerDep, services: ServicesDep) -> ModelList:
    return ModelList(data=[ModelCard(id=services.settings.api.model_name, created=_STARTED)])


@router.post(
    "/chat/completions",
    summary="OpenAI-compatible chat completion over the caller's sources",
    dependencies=[StoreReady],
)
def chat_completions(body: ChatRequest, request: Request, caller: CallerDep, services: ServicesDep) -> Any:
    name = services.settings.api.model_name
    if body.model != name:
        raise ApiError(
            404, f"the model {brief(body.model)} does not exist; this server offers {name!r}", code="model_not_found"
        )
    view = View(services, caller.tenant, str(request.base_url))
    text, image_url = _last_user_message(body.messages)
    image = view.query_image(image_url)
    question = view.query_text(text, image=image is not None)
    history = _history(body.messages)
    completion = _Completion(name)
    if not body.stream:
        answer = view.answer(services.rag.answer(question, tenant=caller.tenant, image=image, history=history))
        return completion.full(answer)
    stream = services.rag.answer_stream(question, tenant=caller.tenant, image=image, history=history)
    first = next(stream)  # retrieval and the model's first words: errors here still get an HTTP status
    return StreamingResponse(
        completion.chunks(first, stream, view),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _last_user_message(messages: list[ChatMessage]) -> tuple[str, str | None]:
    """The text and the first image (data URL) of the last user message."""
    last = next((m for m in reversed(messages) if m.role == "user"), None)
    if last is None:
        raise ApiError(400, "no user message", code="no_user_message")
    if isinstance(last.content, str) or last.content is None:
        return last.content or "", None
    texts: list[str] = []
    image: str | None = None
    for part in last.content:
        kind = part.get("type")
        if kind == "text":
            text = part.get("text", "")
            if not isinstance(text, str) or not _is_unicode(text):
                raise ApiError(400, "messages: a text part's text must be a string of text", code="bad_message")
            texts.append(text)
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str):
                raise ApiError(
                    400, "messages: an image_url part needs its URL as a string (image_url.url)", code="bad_image"
                )
            image = image if image is not None else url
    return "\n".join(texts), image


def _is_unicode(text: str) -> bool:
    """False for text with lone surrogates (JSON can escape them; no model or reply takes them)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


_SOURCES_HEADING = "\n\n**Sources**\n"


def _text_of(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = (part.get("text") for part in content if part.get("type") == "text")
    return "\n".join(t for t in texts if isinstance(t, str) and _is_unicode(t))


def _history(messages: list[ChatMessage]) -> list[Turn]:
    """The user and assistant turns before the last user message (text only, oldest first); the source list
    this server appends to its answers is taken off, since earlier sources are not this request's."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=0)
    turns: list[Turn] = []
    for message in messages[:last]:
        if message.role not in ("user", "assistant"):
            continue
        text = _text_of(message.content)
        if message.role == "assistant":
            text = text.split(_SOURCES_HEADING, 1)[0]
        if text.strip():
            turns.append(Turn(role=message.role, text=text))  # type: ignore[arg-type]
    return turns


def sources_markdown(answer: AnswerOut) -> str:
    """The numbered source list shown after the answer (only the cited ones, when the answer cites)."""
    shown = [s for s in answer.sources if s.cited] or (answer.sources if answer.outcome != "answered" else [])
    if not shown:
        return ""
    lines = [_SOURCES_HEADING.rstrip("\n"), ""]
    for source in shown:
        hit = source.hit
        line = f"{source.number}. {hit.location}"
        if hit.image_url:
            line += f" — [image]({hit.image_url})"
        lines.append(line)
    images = [s.hit for s in shown if s.hit.thumbnail_url]
    if images:
        lines.append("")
        lines.extend(f"![{h.location}]({h.thumbnail_url})" for h in images)
    return "\n".join(lines)


class _Completion:
    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def full(self, answer: AnswerOut) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text + sources_markdown(answer)},
                    "finish_reason": "stop",
                }
            ],
            "sources": [s.model_dump(mode="json") for s in answer.sources],
            "outcome": answer.outcome,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    def chunks(self, first: str | Answer, rest: Iterator[str | Answer], view: View) -> Iterator[str]:
        yield self._chunk({"role": "assistant", "content": ""})
        try:
            for item in _chain(first, rest):
                if isinstance(item, Answer):
                    answer = view.answer(item)
                    tail = sources_markdown(answer)
                    if tail:
                        yield self._chunk({"content": tail})
                    sources = [s.model_dump(mode="json") for s in answer.sources]
                    yield self._chunk({}, "stop", sources=sources, outcome=answer.outcome)
                elif item:
                    yield self._chunk({"content": item})
        except RagError as exc:
            log.warning("chat stream failed: %s", exc)
            yield f"data: {json.dumps(error_body(502, str(exc), type(exc).__name__))}\n\n"
        yield "data: [DONE]\n\n"


def _chain(first: str | Answer, rest: Iterator[str | Answer]) -> Iterator[str | Answer]:
    yield first
    yield from rest
