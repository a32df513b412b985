"""Helper tasks: the side requests that chat clients send to the chat model, which are no questions.

After each answer Open WebUI asks the same model for a chat title, tags, follow-up suggestions and (when its
own search is on) search queries; LibreChat asks for a title. Each is a chat request whose message is a prompt
template with the conversation quoted inside, and the client expects JSON (``{"title": ...}``) or a bare title
back. Searched as a question it returns excerpts, and the chat gets no title. So they are recognised here
(a table of :class:`Recogniser`, one per known template) and never searched: the route passes them to the answer
model as a plain chat when one is configured, and otherwise sends :attr:`HelperTask.reply`, a valid answer
built cheaply from the quoted question (a title of its first words, empty lists).

The templates are matched on what every version of them keeps (Open WebUI: ``### Task:``, a quoted
``<chat_history>`` and the JSON key of the output; LibreChat: its title instruction), so that a customised
wording still matches as long as it keeps the output format the client parses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from rag.api.chat_input import strip_wrappers

__all__ = ["RECOGNISERS", "HelperTask", "Recogniser", "recognise"]

_TITLE_WORDS = 8
_UNTITLED = "New chat"


@dataclass(frozen=True)
class HelperTask:
    """A recognised side request: which client and task, the question it quotes, the reply without a model."""

    client: str
    kind: str
    question: str
    reply: str


@dataclass(frozen=True)
class Recogniser:
    client: str
    kind: str
    matches: Callable[[str], bool]
    question: Callable[[str], str]
    reply: Callable[[str], str]

    def recognise(self, prompt: str) -> HelperTask | None:
        if not self.matches(prompt):
            return None
        question = self.question(prompt)
        return HelperTask(client=self.client, kind=self.kind, question=question, reply=self.reply(question))


def title_of(question: str) -> str:
    """A title from the question's first words: at most eight, no closing punctuation, no quotes."""
    words = " ".join(question.replace('"', "").split()).split(" ")[:_TITLE_WORDS]
    title = " ".join(words).rstrip("?.!,;:…").strip()
    return title or _UNTITLED


def _json(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False)


# -- Open WebUI ----------------------------------------------------------------------------------

_OUTPUT_KEY = re.compile(r'\{\s*"(\w+)"\s*:')
_CHAT_HISTORY = re.compile(r"<chat_history>(.*?)</chat_history>", re.S)
_OPEN_WEBUI_USER = re.compile(r"^USER:[ \t]*(.*?)(?=^(?:USER|ASSISTANT|SYSTEM):|\Z)", re.S | re.M)


def _open_webui_task(key: str) -> Callable[[str], bool]:
    """An Open WebUI task template (``### Task:``, a ``<chat_history>``) whose output is JSON with ``key``; the
    first JSON object after ``### Output`` (or anywhere) names it. Its RAG template also starts with
    ``### Task:`` but quotes no chat history and asks for no JSON, so it is no task."""

    def matches(prompt: str) -> bool:
        if not prompt.lstrip().startswith("### Task:") or "<chat_history>" not in prompt:
            return False
        output = prompt.find("### Output")
        found = _OUTPUT_KEY.search(prompt, output if output >= 0 else 0) or _OUTPUT_KEY.search(prompt)
        return found is not None and found.group(1) == key

    return matches


def _open_webui_question(prompt: str) -> str:
    """The last user message of the quoted history (``USER: ...`` lines), without the client's wrappers."""
    history = _CHAT_HISTORY.search(prompt)
    users = _OPEN_WEBUI_USER.findall(history.group(1)) if history else []
    return strip_wrappers(users[-1]) if users else ""


# -- LibreChat -----------------------------------------------------------------------------------

_LIBRECHAT_TITLE = re.compile(r"5-word-or-less title for the conversation", re.I)
_LIBRECHAT_USER = re.compile(r"^User:[ \t]*(.*?)(?=^(?:AI|Assistant|User):|\Z)", re.S | re.M)


def _librechat_question(prompt: str) -> str:
    """The first user message of the quoted conversation (``User: ...``; ``AI: ...``)."""
    users = _LIBRECHAT_USER.findall(prompt)
    return strip_wrappers(users[0]) if users else ""


def _open_webui(kind: str, key: str, reply: Callable[[str], str]) -> Recogniser:
    return Recogniser("Open WebUI", kind, _open_webui_task(key), _open_webui_question, reply)


RECOGNISERS: tuple[Recogniser, ...] = (
    _open_webui("title", "title", lambda q: _json(title=title_of(q))),
    _open_webui("tags", "tags", lambda q: _json(tags=[])),
    _open_webui("follow_ups", "follow_ups", lambda q: _json(follow_ups=[])),
    _open_webui("queries", "queries", lambda q: _json(queries=[q] if q else [])),
    _open_webui("autocomplete", "text", lambda q: _json(text="")),
    _open_webui("image_prompt", "prompt", lambda q: _json(prompt=q)),
    Recogniser("LibreChat", "title", lambda p: bool(_LIBRECHAT_TITLE.search(p)), _librechat_question, title_of),
)
"""Known helper tasks, tried in order; the first that matches wins."""


def recognise(prompt: str) -> HelperTask | None:
    """The helper task ``prompt`` (the text of the request's last message) asks for, or None for a question."""
    for recogniser in RECOGNISERS:
        task = recogniser.recognise(prompt)
        if task is not None:
            return task
    return None
