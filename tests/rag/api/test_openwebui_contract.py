"""Contract tests: requests shaped as Open WebUI 0.12 sends them, and the response shapes it reads.

Open WebUI reads ``delta.annotations`` of type ``url_citation`` (one source chip each, numbered by arrival,
merged when URLs are equal), expects JSON from its helper tasks, prefixes files with ``<attached_files>`` and
attaches images as data URLs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from rag.api.routes.openai import IMAGE_NOT_SEARCHED
from rag.config import GenerationSettings
from rag.generator import LiteLLMGenerator
from rag.testing.fakes import FakeGenerator
from rag.testing.openai_stub import OpenAIStub
from tests.rag.api.openwebui_bodies import (
    ATTACHED,
    LIBRECHAT_TITLE,
    QUESTION,
    RAG_TEMPLATE,
    TASK_KEYS,
    TASKS,
    chat_body,
    task_body,
)
from tests.rag.api.support import ACME, EXAMPLES, upload

WARRANTY = b"# Helios warranty\n\nThe Helios battery carries a ten year warranty on parts and labour.\n"
CLAIMS = b"<h2>Claims</h2><p>Misuse or water damage voids the Helios warranty.</p>\n"
SOLAR = b"## Aurora panels\n\nThe Aurora solar panels are guaranteed for twenty five years.\n"


def _stream(client: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("POST", "/v1/chat/completions", headers=ACME, json=body) as response:
        assert response.status_code == 200, response.read()
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]


def _content(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


def _retrievals(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the orchestrator searches from now on."""
    orchestrator = client.app.state.services.rag._orchestrator
    searched: list[str] = []
    retrieve = orchestrator.retrieve

    def spy(question: str, **kwargs: Any) -> Any:
        searched.append(question)
        return retrieve(question, **kwargs)

    monkeypatch.setattr(orchestrator, "retrieve", spy)
    return searched


def _check_annotations(notes: list[dict[str, Any]], sources: list[dict[str, Any]], content: str) -> None:
    assert [n["type"] for n in notes] == ["url_citation"] * len(sources) and sources
    citations = [n["url_citation"] for n in notes]
    assert all(set(c) == {"url", "title", "start_index", "end_index"} for c in citations)
    assert [c["title"] for c in citations] == [s["hit"]["location"] for s in sources]  # in order: [n] is chip n
    assert len({c["url"] for c in citations}) == len(citations)  # Open WebUI merges chips that share a URL
    for source, citation in zip(sources, citations, strict=True):
        span = content[citation["start_index"] : citation["end_index"]]
        assert span == (f"[{source['number']}]" if f"[{source['number']}]" in content else "")


def test_a_streamed_chat_with_tools_and_attached_files(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = FakeGenerator("Ten years [1], unless it is misused [2].")
    client = make_client("minilm", generator=generator)
    upload(client, ACME, {"warranty.md": WARRANTY, "claims.html": CLAIMS, "solar.md": SOLAR})
    searched = _retrievals(client, monkeypatch)

    chunks = _stream(client, chat_body(ATTACHED + QUESTION))

    assert searched == [QUESTION]  # the <attached_files> block is not part of the search
    assert "attached_files" not in json.dumps(generator.calls)
    content = _content(chunks)
    assert content.startswith(generator.text) and "**Sources**" in content
    notes = [a for c in chunks for a in c["choices"][0]["delta"].get("annotations", [])]
    sources = chunks[-1]["sources"]
    _check_annotations(notes, sources, generator.text)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"

    # Each chip's link opens its excerpt without the API key, and only with its signature.
    first = notes[0]["url_citation"]
    page = client.get(first["url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (
        sources[0]["hit"]["text"].split()[0] in page.text
        and "default-src 'none'" in page.headers["content-security-policy"]
    )
    tampered = first["url"].replace("sig=", "sig=0")
    assert client.get(tampered).status_code == 401
    other = notes[1]["url_citation"]["url"]
    swapped = first["url"].split("?")[0] + "?" + other.split("?")[1]  # a signature of another excerpt
    assert client.get(swapped).status_code == 401


def test_excerpt_pages_escape_the_document(make_client: Any) -> None:
    client = make_client("minilm")
    upload(client, ACME, {"evil.md": b"Helios warranty <script>alert(1)</script> ten years.\n"})
    body = client.post("/v1/chat/completions", headers=ACME, json=chat_body(QUESTION, stream=False)).json()
    url = body["choices"][0]["message"]["annotations"][0]["url_citation"]["url"]
    page = client.get(url).text
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_a_full_answer_carries_the_annotations_and_the_markdown_list_is_optional(make_client: Any) -> None:
    client = make_client("minilm", api={"sources_markdown": False})
    upload(client, ACME, {"warranty.md": WARRANTY, "claims.html": CLAIMS})
    body = client.post("/v1/chat/completions", headers=ACME, json=chat_body(QUESTION, stream=False)).json()
    message = body["choices"][0]["message"]
    assert body["outcome"] == "extractive" and "**Sources**" not in message["content"]
    _check_annotations(message["annotations"], body["sources"], message["content"])
    # The extractive answer renders as plain paragraphs: no heading, no HTML from the sources.
    assert "#" not in message["content"] and "<h2>" not in message["content"]
    streamed = _stream(client, chat_body(QUESTION))
    assert "**Sources**" not in _content(streamed)


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_open_webui_tasks_without_a_model_get_json_and_no_search(
    kind: str, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client("minilm")
    searched = _retrievals(client, monkeypatch)
    response = client.post("/v1/chat/completions", headers=ACME, json=task_body(TASKS[kind]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["task"] == kind
    reply = json.loads(body["choices"][0]["message"]["content"])
    assert TASK_KEYS[kind] in reply
    assert searched == []


def test_tasks_go_to_the_answer_model_as_a_plain_chat(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = FakeGenerator('{"title": "Helios Battery Warranty"}')
    client = make_client("minilm", generator=generator)
    searched = _retrievals(client, monkeypatch)
    body = client.post("/v1/chat/completions", headers=ACME, json=task_body(TASKS["title"])).json()
    assert body["choices"][0]["message"]["content"] == generator.text
    assert generator.calls == [[{"role": "user", "content": TASKS["title"]}]]  # no grounding rules, no sources
    chunks = _stream(client, task_body(LIBRECHAT_TITLE, stream=True))  # streamed tasks too
    assert _content(chunks) == generator.text and chunks[-1]["task"] == "title"
    assert searched == []


def test_the_rag_template_of_open_webui_is_searched_as_the_typed_question(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client("minilm")
    upload(client, ACME, {"warranty.md": WARRANTY})
    searched = _retrievals(client, monkeypatch)
    response = client.post("/v1/chat/completions", headers=ACME, json=chat_body(RAG_TEMPLATE, stream=False))
    assert response.status_code == 200 and searched == [QUESTION]


def _png() -> str:
    return (
        "data:image/png;base64," + base64.b64encode((EXAMPLES / "images" / "wiring-diagram.png").read_bytes()).decode()
    )


def test_an_image_without_an_image_model_searches_the_text_and_says_so(make_client: Any) -> None:
    client = make_client("minilm")  # a text-only model
    upload(client, ACME, {"warranty.md": WARRANTY})
    body = client.post("/v1/chat/completions", headers=ACME, json=chat_body(QUESTION, image=_png(), stream=False))
    assert body.status_code == 200, body.text
    content = body.json()["choices"][0]["message"]["content"]
    assert content.startswith(IMAGE_NOT_SEARCHED + "\n\n") and "ten year warranty" in content
    streamed = _content(_stream(client, chat_body(QUESTION, image=_png())))
    assert streamed.startswith(IMAGE_NOT_SEARCHED)
    alone = client.post("/v1/chat/completions", headers=ACME, json=chat_body("", image=_png(), stream=False))
    assert alone.status_code == 200 and alone.json()["choices"][0]["message"]["content"].startswith(IMAGE_NOT_SEARCHED)
    # The search routes still refuse it (they have no answer to carry a note).
    refused = client.post("/v1/search", headers=ACME, json={"query": "x", "image": _png()})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "image_query_unsupported"


@pytest.mark.integration  # litellm against a local OpenAI-compatible server
def test_a_failing_answer_model_still_gives_a_task_its_cheap_reply(make_client: Any) -> None:
    with OpenAIStub(reply='{"title": "never"}') as stub:
        generation = GenerationSettings(
            model="openai/test-model", api_base=stub.base_url, api_key="sk-test-stub", max_retries=0
        )
        client = make_client("minilm", generator=LiteLLMGenerator(generation))
        stub.fail_next(500, times=2)
        body = client.post("/v1/chat/completions", headers=ACME, json=task_body(TASKS["title"])).json()
    assert json.loads(body["choices"][0]["message"]["content"]) == {"title": "How long is the warranty on the Helios"}


def test_a_signed_token_that_is_no_excerpt_is_refused(make_client: Any) -> None:
    client = make_client("minilm")
    links = client.app.state.services.links
    for token in ("not-base64!", "AAAA", "eJzLSM3JyQcABiwCFQ"):  # garbage, bad zlib, zlib of a non-JSON text
        query = links.query("excerpt:" + token)
        response = client.get(f"/v1/excerpts/{token}", params=query)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
