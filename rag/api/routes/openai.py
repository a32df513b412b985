"""OpenAI-compatible chat: ``POST /v1/chat/completions`` (streaming or not) and ``GET /v1/models``.

Open WebUI, LibreChat or any OpenAI SDK can use the system as a model. The last user message is the
question, once the client's wrappers are taken off (:mod:`rag.api.chat_input`: Open WebUI's
``<attached_files>`` and RAG template); an image in it (a base64 data URL) is searched with the question and
shown to the answer model. When no loaded model can search by image, the text alone is searched and the
answer says so. The user and assistant messages before it are the conversation so far (their text only; our
own source lists are taken off the assistant's): a follow-up is rewritten into a standalone search and
answered with that context. System messages from the client are not used: the grounding rules are ours.

Helper tasks (a chat title, tags, follow-up suggestions: :mod:`rag.api.chat_tasks`) are not searched: they go
to the answer model as a plain chat, or without one get a valid reply built from the question.

Sources come three ways: as ``url_citation`` annotations, one per numbered source in order, each with its own
signed link to the excerpt and its location as the title (Open WebUI turns them into source chips, which
``[n]`` in the text points at); as a numbered Markdown list after the answer, with the signed links and
thumbnails of their images (for a PDF passage, the crop of its page with the cited sentences highlighted),
which every client renders (``RAG_API__SOURCES_MARKDOWN``); and as structured
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
from pydantic import BaseModel, ConfigDict, Field

from rag.api.chat_input import strip_wrappers
from rag.api.chat_tasks import HelperTask, recognise
from rag.api.deps import CallerDep, ServicesDep, StoreReady
from rag.api.errors import ApiError, brief, error_body
from rag.api.presenter import Presenter
from rag.api.schemas import AnswerOut, Text
from rag.api.streaming import event_stream, started
from rag.errors import GenerationError, RagError
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
    presenter = Presenter(services, caller.tenant, str(request.base_url))
    completion = _Completion(name, presenter, markdown=services.settings.api.sources_markdown)
    task = recognise(_text_of(body.messages[-1].content))
    if task is not None:
        return completion.reply(_helper_reply(task, body.messages, services), stream=body.stream, task=task.kind)
    text, image_url = _last_user_message(body.messages)
    text = strip_wrappers(text)
    notice = ""
    if image_url is not None and not presenter.can_search_images():
        presenter.check_image(image_url)
        image_url, notice = None, IMAGE_NOT_SEARCHED
        if not text.strip():
            return completion.reply(f"{notice} Ask the question in words to search the documents.", stream=body.stream)
    image = presenter.query_image(image_url)
    question = presenter.query_text(text, image=image is not None)
    history = _history(body.messages)
    if not body.stream:
        answer = presenter.answer(services.rag.answer(question, tenant=caller.tenant, image=image, history=history))
        return completion.full(answer, notice)
    stream = services.rag.answer_stream(question, tenant=caller.tenant, image=image, history=history)
    return event_stream(completion.chunks(started(stream), notice))


IMAGE_NOT_SEARCHED = (
    "The attached image could not be used: none of the models loaded on this server can search by image, "
    "so only the words of the question were searched."
)


def _helper_reply(task: HelperTask, messages: list[ChatMessage], services: ServicesDep) -> str:
    """The answer model's reply to a helper task, asked as a plain chat (no retrieval, no grounding rules), or
    the task's own cheap reply when there is no model or the model fails (a missing title is no error)."""
    plain = [
        {"role": m.role, "content": _text_of(m.content)} for m in messages if m.role in ("system", "user", "assistant")
    ]
    try:
        reply = services.rag.chat(plain)
    except GenerationError as exc:
        log.warning("%s %s task: the answer model failed, replying without it: %s", task.client, task.kind, exc)
        return task.reply
    if reply is None or not reply.strip():
        log.info("%s %s task answered without a model and without retrieval", task.client, task.kind)
        return task.reply
    log.info("%s %s task answered by the model, without retrieval", task.client, task.kind)
    return reply


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
    this server appends to its answers is taken off, since earlier sources are not this request's, and so are
    the client's wrappers around earlier questions."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=0)
    turns: list[Turn] = []
    for message in messages[:last]:
        if message.role not in ("user", "assistant"):
            continue
        text = _text_of(message.content)
        text = text.split(_SOURCES_HEADING, 1)[0] if message.role == "assistant" else strip_wrappers(text)
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
            line += f" — [image]({hit.highlight_url or hit.image_url})"
        lines.append(line)
    # A PDF passage shows the highlighted crop of its page (where it is); other images their thumbnail.
    images = [s.hit for s in shown if s.hit.crop_url or s.hit.thumbnail_url]
    if images:
        lines.append("")
        lines.extend(f"![{h.location}]({h.crop_url or h.thumbnail_url})" for h in images)
    return "\n".join(lines)


def citation_annotations(answer: AnswerOut, content: str, presenter: Presenter) -> list[dict[str, Any]]:
    """One OpenAI ``url_citation`` per numbered source, in order (clients number their chips by arrival, so
    ``[n]`` points at the n-th), each with its own signed excerpt link and its location as the title; the
    indexes span the first ``[n]`` in ``content``, or are empty at its end when the text does not cite it."""
    notes: list[dict[str, Any]] = []
    for source in answer.sources:
        marker = f"[{source.number}]"
        start = content.find(marker)
        start, end = (start, start + len(marker)) if start >= 0 else (len(content), len(content))
        citation = {"url": presenter.excerpt_url(source.hit), "title": source.hit.location}
        notes.append({"type": "url_citation", "url_citation": {**citation, "start_index": start, "end_index": end}})
    return notes


class _Completion:
    def __init__(self, model: str, presenter: Presenter, *, markdown: bool) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.presenter = presenter
        self.markdown = markdown

    def _tail(self, answer: AnswerOut) -> str:
        return sources_markdown(answer) if self.markdown else ""

    def _full(self, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
            **extra,
        }

    def full(self, answer: AnswerOut, notice: str = "") -> dict[str, Any]:
        text = _noticed(notice) + answer.text
        message = {
            "content": text + self._tail(answer),
            "annotations": citation_annotations(answer, text, self.presenter),
        }
        sources = [s.model_dump(mode="json") for s in answer.sources]
        return self._full(message, sources=sources, outcome=answer.outcome)

    def reply(self, text: str, *, stream: bool, task: str | None = None) -> Any:
        """A reply that is no answer from the sources (a helper task's, a notice), streamed or not."""
        extra = {"task": task} if task else {}
        if not stream:
            return self._full({"content": text}, **extra)
        return event_stream(self._events(iter((text,)), extra))

    def _events(self, pieces: Iterator[str], extra: dict[str, Any]) -> Iterator[str]:
        yield self._chunk({"role": "assistant", "content": ""})
        for piece in pieces:
            yield self._chunk({"content": piece})
        yield self._chunk({}, "stop", **extra)
        yield "data: [DONE]\n\n"

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

    def chunks(self, stream: Iterator[str | Answer], notice: str = "") -> Iterator[str]:
        yield self._chunk({"role": "assistant", "content": ""})
        if notice:
            yield self._chunk({"content": _noticed(notice)})
        try:
            for item in stream:
                if isinstance(item, Answer):
                    answer = self.presenter.answer(item)
                    notes = citation_annotations(answer, _noticed(notice) + answer.text, self.presenter)
                    if notes:
                        yield self._chunk({"annotations": notes})
                    tail = self._tail(answer)
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


def _noticed(notice: str) -> str:
    return f"{notice}\n\n" if notice else ""
