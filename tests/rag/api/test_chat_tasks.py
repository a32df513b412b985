"""Helper tasks and client wrappers are recognised from the text of a chat request (no server needed)."""

from __future__ import annotations

import json

import pytest

from rag.api.chat_input import strip_wrappers
from rag.api.chat_tasks import recognise, title_of
from tests.rag.api.openwebui_bodies import ATTACHED, LIBRECHAT_TITLE, QUESTION, RAG_TEMPLATE, TASK_KEYS, TASKS


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_open_webui_tasks_are_recognised_with_a_valid_cheap_reply(kind: str) -> None:
    task = recognise(TASKS[kind])
    assert task is not None and task.client == "Open WebUI" and task.kind == kind
    assert task.question == QUESTION
    reply = json.loads(task.reply)
    assert list(reply) == [TASK_KEYS[kind]]
    expected = {
        "title": "How long is the warranty on the Helios",
        "tags": [],
        "follow_ups": [],
        "queries": [QUESTION],
    }[kind]
    assert reply[TASK_KEYS[kind]] == expected


def test_a_question_in_the_quoted_history_keeps_no_client_wrapper() -> None:
    task = recognise(TASKS["title"].replace(f"USER: {QUESTION}", f"USER: {ATTACHED}{QUESTION}"))
    assert task is not None and task.question == QUESTION


def test_librechat_title_is_a_bare_title() -> None:
    task = recognise(LIBRECHAT_TITLE)
    assert task is not None and (task.client, task.kind) == ("LibreChat", "title")
    assert task.reply == "How long is the warranty on the Helios"


@pytest.mark.parametrize(
    "text",
    [
        QUESTION,
        RAG_TEMPLATE,  # starts with "### Task:" too, but is Open WebUI wrapping a real question
        "### Task: what does the manual say about tasks?",
        'Explain { "title": "x" } in <chat_history> terms',  # a JSON key and a tag, but no task template
    ],
)
def test_questions_are_no_tasks(text: str) -> None:
    assert recognise(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ATTACHED + QUESTION, QUESTION),
        (RAG_TEMPLATE, QUESTION),
        (ATTACHED + RAG_TEMPLATE, QUESTION),
        ("<system_default_context>\n<user name='Ann'/>\n</system_default_context>\n\n" + QUESTION, QUESTION),
        ("Is 3 < 4 and 5 > 2?", "Is 3 < 4 and 5 > 2?"),
    ],
)
def test_client_wrappers_are_stripped(text: str, expected: str) -> None:
    assert strip_wrappers(text) == expected


def test_titles_are_short_and_never_empty() -> None:
    assert title_of('  "Warranty"   terms?? ') == "Warranty terms"
    assert title_of("") == "New chat"
    assert len(title_of("one two three four five six seven eight nine ten").split()) == 8
