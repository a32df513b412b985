"""The OpenAI-compatible routes through TestClient: model check, sources list, query by image, upstream errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from rag.config import GenerationSettings
from rag.generator import LiteLLMGenerator
from rag.testing.fakes import FakeGenerator
from rag.testing.openai_stub import OpenAIStub
from tests.rag.api.support import ACME, EXAMPLES, upload

WARRANTY = b"# Warranty\n\nThe Helios battery carries a ten year warranty on parts and labour.\n"


def _chat(client: Any, content: Any, **extra: Any) -> Any:
    body = {"model": "rag", "messages": [{"role": "user", "content": content}], **extra}
    return client.post("/v1/chat/completions", headers=ACME, json=body)


def test_models_and_unknown_model(make_client: Any) -> None:
    client = make_client("minilm", api={"model_name": "helios-docs"})
    listed = client.get("/v1/models", headers=ACME).json()
    assert listed["object"] == "list" and [m["id"] for m in listed["data"]] == ["helios-docs"]
    missing = client.post(
        "/v1/chat/completions", headers=ACME, json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_the_answer_ends_with_its_cited_sources_and_image_links(make_client: Any) -> None:
    generator = FakeGenerator("Revenue grew [1]. The warranty is ten years [2].")
    client = make_client("clip", generator=generator)
    pdf = (EXAMPLES / "reports" / "annual-report-2025.pdf").read_bytes()
    upload(client, ACME, {"warranty.md": WARRANTY, "annual.pdf": pdf})
    history = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Hi! Ask me about your documents."},
        {"role": "user", "content": [{"type": "text", "text": "What does the annual report say about revenue?"}]},
    ]
    response = client.post(
        "/v1/chat/completions", headers=ACME, json={"model": "rag", "messages": history, "temperature": 0.2}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    content = body["choices"][0]["message"]["content"]
    assert content.startswith(generator.text) and "\n\n**Sources**\n\n1. " in content
    cited = [s for s in body["sources"] if s["cited"]]
    assert [s["number"] for s in cited] == [1, 2]
    for source in cited:
        assert f"{source['number']}. {source['hit']['location']}" in content
        shown = source["hit"]["crop_url"] or source["hit"]["thumbnail_url"]  # a PDF passage: its highlighted crop
        if shown:
            assert f"]({shown})" in content
            assert client.get(shown).status_code == 200
    # The question was the last user message, not the greeting.
    assert "revenue" in json.dumps(generator.calls[-1][-1]["content"][-1]).lower()


def test_an_image_in_the_chat_is_the_query(make_client: Any) -> None:
    generator = FakeGenerator("That is the wiring diagram [1].")
    client = make_client("clip", generator=generator)
    images = {p.name: p.read_bytes() for p in sorted((EXAMPLES / "images").iterdir())}
    upload(client, ACME, {"warranty.md": WARRANTY, **images})
    data = base64.b64encode((EXAMPLES / "images" / "wiring-diagram.png").read_bytes()).decode()
    content = [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}]
    body = _chat(client, content).json()
    assert body["sources"][0]["hit"]["path"] == "wiring-diagram.png"
    sent = generator.calls[-1][-1]["content"]
    assert sent[-1]["type"] == "image_url" and "What do the sources say about the image" in sent[-3]["text"]


def test_streamed_chat_chunks_follow_the_openai_format(make_client: Any) -> None:
    client = make_client("minilm", generator=FakeGenerator("Ten years [1]."))
    upload(client, ACME, {"warranty.md": WARRANTY})
    with client.stream(
        "POST",
        "/v1/chat/completions",
        headers=ACME,
        json={"model": "rag", "stream": True, "messages": [{"role": "user", "content": "warranty?"}]},
    ) as response:
        headers = response.headers
        lines = [line for line in response.iter_lines() if line]
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache" and headers["x-accel-buffering"] == "no"
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text.startswith("Ten years [1].") and "1. warranty.md" in text
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["sources"][0]["cited"]


@pytest.mark.integration  # litellm against a local OpenAI-compatible server
def test_model_failures_are_a_502_before_streaming_and_an_error_event_after(make_client: Any) -> None:
    with OpenAIStub(reply="The warranty lasts ten years [1].") as stub:
        generation = GenerationSettings(
            model="openai/test-model", api_base=stub.base_url, api_key="sk-test-stub", max_retries=0
        )
        client = make_client("minilm", generator=LiteLLMGenerator(generation))
        upload(client, ACME, {"warranty.md": WARRANTY})

        stub.fail_next(500, times=2)
        failed = _chat(client, "warranty?")
        assert failed.status_code == 502 and failed.json()["error"]["type"] == "upstream_error"
        streamed = _chat(client, "warranty?", stream=True)
        assert streamed.status_code == 502

        stub.fail_stream_after(2)
        with client.stream(
            "POST",
            "/v1/chat/completions",
            headers=ACME,
            json={"model": "rag", "stream": True, "messages": [{"role": "user", "content": "warranty?"}]},
        ) as response:
            assert response.status_code == 200
            lines = [line for line in response.iter_lines() if line]
        assert lines[-1] == "data: [DONE]"
        assert json.loads(lines[-2].removeprefix("data: "))["error"]["type"] == "upstream_error"

        answer = client.post("/v1/answer", headers=ACME, json={"question": "warranty?"})
        assert answer.status_code == 200 and answer.json()["outcome"] == "answered"


def test_earlier_chat_turns_reach_the_model_without_their_source_lists(make_client: Any) -> None:
    generator = FakeGenerator("Ten years [1].")
    client = make_client("minilm", generator=generator)
    upload(client, ACME, {"warranty.md": WARRANTY})
    messages = [
        {"role": "system", "content": "Client rules that the server does not use."},
        {"role": "user", "content": [{"type": "text", "text": "Tell me about the Helios battery."}]},
        {"role": "assistant", "content": "It stores energy [1].\n\n**Sources**\n\n1. warranty.md chars 0-80"},
        {"role": "user", "content": "How long is its warranty?"},
    ]
    response = client.post("/v1/chat/completions", headers=ACME, json={"model": "rag", "messages": messages})
    assert response.status_code == 200, response.text
    rewrite, final = generator.calls  # the standalone-query request, then the answer
    assert "user: Tell me about the Helios battery." in rewrite[1]["content"]
    assert [m["role"] for m in final] == ["system", "user", "assistant", "user"]
    assert final[1]["content"] == "Tell me about the Helios battery."
    assert final[2]["content"] == "It stores energy ."  # our source list and old citation numbers are gone
    assert "Client rules" not in json.dumps(final)


def test_the_answer_route_takes_history(make_client: Any) -> None:
    client = make_client("minilm")
    upload(client, ACME, {"warranty.md": WARRANTY})
    body = {
        "question": "How long is it?",
        "history": [{"role": "user", "content": "What warranty does the Helios battery have?"}],
    }
    answer = client.post("/v1/answer", headers=ACME, json=body).json()
    assert answer["outcome"] == "extractive"
    assert any("searched together with the previous question" in n for n in answer["notes"])
    bad = client.post("/v1/answer", headers=ACME, json={**body, "history": [{"role": "system", "content": "x"}]})
    assert bad.status_code in (400, 422) and "error" in bad.json()
