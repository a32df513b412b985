"""LiteLLMGenerator against a local OpenAI-compatible stub: requests, streaming, retries, timeouts."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rag.config import GenerationSettings
from rag.errors import ConfigError, GenerationError
from rag.generator import Generator, LiteLLMGenerator
from rag.prompt import build_messages, encode_image
from rag.records import Citation, Hit
from rag.testing.openai_stub import OpenAIStub, split_pieces

# Integration tests: litellm against a local OpenAI-compatible server over HTTP (and importing litellm takes ~5 s
# a process, so `make test-fast` leaves them to `make test`).
pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Item .* is using the `ReadOnly` qualifier:UserWarning"),
]

REPO = Path(__file__).resolve().parents[2]
REPLY = "The Helios battery warranty lasts five years [1]."
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "Answer from the sources."},
    {"role": "user", "content": [{"type": "text", "text": "How long is the warranty?"}]},
]


_CHILD = textwrap.dedent(
    """
    import json, os, socket, sys

    seen = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        seen.append(["resolve", str(host)])
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            seen.append(["connect", str(address[0])])
        return real_connect(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect

    import rag.generator
    from rag.config import GenerationSettings

    lazy = "litellm" not in sys.modules
    settings = GenerationSettings(model="openai/test-model", api_base=sys.argv[1], api_key="sk-test", max_retries=0)
    text = rag.generator.LiteLLMGenerator(settings).complete([{"role": "user", "content": "hi"}])
    env = os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP")
    print(json.dumps({"lazy": lazy, "text": text, "seen": seen, "env": env}))
    """
)


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(REPLY) as server:
        yield server


def _generator(stub: OpenAIStub, backoffs: list[int] | None = None, **overrides: Any) -> LiteLLMGenerator:
    values: dict[str, Any] = {
        "model": "openai/test-model",
        "api_base": stub.base_url,
        "api_key": "sk-test",
        "timeout_s": 10.0,
        "max_retries": 3,
    }
    values.update(overrides)

    def backoff(attempt: int) -> float:
        if backoffs is not None:
            backoffs.append(attempt)
        return 0.0

    return LiteLLMGenerator(GenerationSettings(**values), backoff=backoff)


# --- the role ---


def test_generator_satisfies_the_protocol_and_needs_a_model() -> None:
    generator = LiteLLMGenerator(GenerationSettings(model="openai/test-model"))
    assert isinstance(generator, Generator)
    assert generator.model == "openai/test-model"
    with pytest.raises(ConfigError, match="RAG_GENERATION__MODEL"):
        LiteLLMGenerator(GenerationSettings())


# --- answers ---


def test_complete_sends_one_request_with_the_settings(stub: OpenAIStub) -> None:
    generator = _generator(stub, temperature=0.3, max_tokens=77)
    assert generator.complete(MESSAGES) == REPLY
    assert len(stub.requests) == 1
    body = stub.requests[0]
    assert body["model"] == "test-model"
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0.3 and body["max_tokens"] == 77
    assert not body.get("stream")
    assert stub.headers[0].get("Authorization") == "Bearer sk-test"


def test_stream_yields_the_reply_piece_by_piece(stub: OpenAIStub) -> None:
    pieces = list(_generator(stub).stream(MESSAGES))
    assert pieces == split_pieces(REPLY) and len(pieces) > 3
    assert "".join(pieces) == REPLY
    assert len(stub.requests) == 1 and stub.requests[0]["stream"] is True


def test_reply_can_depend_on_the_request(stub: OpenAIStub) -> None:
    stub.reply = lambda body: f"echo: {body['messages'][-1]['content'][0]['text']}"
    assert _generator(stub).complete(MESSAGES) == "echo: How long is the warranty?"


def test_image_parts_reach_the_server_byte_exact(stub: OpenAIStub) -> None:
    page = Image.new("RGB", (1600, 1200), (250, 250, 250))
    for x in range(0, 1600, 100):  # some structure, so the JPEG is not trivial
        page.paste((x // 8, 40, 200), (x, 0, x + 50, 1200))
    hit = Hit(
        id="p1",
        rank=1,
        score=1.0,
        modality="image",
        kind="page",
        source_id="/docs/manual.pdf",
        path="/docs/manual.pdf",
        mime_type="application/pdf",
        page=3,
        text="Wiring diagram of the Helios pack.",
        image_ref="k/h/page-3.jpg",
        tenant="default",
    )
    settings = GenerationSettings(model="openai/test-model", image_max_side=640)
    messages = build_messages(
        "Show the wiring.", [Citation(number=1, hit=hit)], load_image=lambda ref: page, settings=settings
    )
    _generator(stub).complete(messages)

    sent = stub.requests[0]["messages"][1]["content"]
    images = [part["image_url"]["url"] for part in sent if part["type"] == "image_url"]
    assert images == [encode_image(page, 640)]
    prefix = "data:image/jpeg;base64,"
    assert images[0].startswith(prefix)
    decoded = Image.open(io.BytesIO(base64.b64decode(images[0][len(prefix) :])))
    assert decoded.format == "JPEG" and decoded.size == (640, 480)


# --- failures ---


def test_a_503_is_retried_then_succeeds(stub: OpenAIStub, caplog: pytest.LogCaptureFixture) -> None:
    stub.fail_next(503)
    backoffs: list[int] = []
    with caplog.at_level(logging.WARNING, logger="rag.generator"):
        assert _generator(stub, backoffs).complete(MESSAGES) == REPLY
    assert len(stub.requests) == 2
    assert backoffs == [1]
    warnings = [r.getMessage() for r in caplog.records if r.name == "rag.generator"]
    assert len(warnings) == 1 and "attempt 1 of 4" in warnings[0] and "503" in warnings[0]


def test_a_429_is_retried(stub: OpenAIStub) -> None:
    stub.fail_next(429, times=2)
    assert _generator(stub).complete(MESSAGES) == REPLY
    assert len(stub.requests) == 3


def test_a_400_fails_at_once(stub: OpenAIStub) -> None:
    stub.fail_next(400, times=5, message="messages[1].content is invalid")
    with pytest.raises(GenerationError, match=r"rejected the request \(400\).*content is invalid") as caught:
        _generator(stub).complete(MESSAGES)
    assert len(stub.requests) == 1
    assert type(caught.value.__cause__).__name__ == "BadRequestError"
    assert caught.value.stage == "generation"


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (401, None, "authentication failed.*RAG_GENERATION__API_KEY"),
        (403, None, r"denied access.*\(403\).*RAG_GENERATION__API_KEY"),
        (404, None, "not found.*RAG_GENERATION__MODEL"),
        (400, "This model's maximum context length is 8192 tokens.", "too long.*RAG_GENERATION__CONTEXT_HITS"),
    ],
)
def test_permanent_errors_fail_at_once_with_a_hint(
    stub: OpenAIStub, status: int, message: str | None, hint: str
) -> None:
    stub.fail_next(status, times=5, message=message)
    with pytest.raises(GenerationError, match=hint):
        _generator(stub).complete(MESSAGES)
    assert len(stub.requests) == 1


def test_retries_are_exhausted_after_max_retries_plus_one(stub: OpenAIStub) -> None:
    stub.fail_next(503, times=10)
    backoffs: list[int] = []
    with pytest.raises(GenerationError, match=r"failed after 3 attempts.*MAX_RETRIES=2.*503") as caught:
        _generator(stub, backoffs, max_retries=2).complete(MESSAGES)
    assert len(stub.requests) == 3
    assert backoffs[:2] == [1, 2]
    assert type(caught.value.__cause__).__name__ == "ServiceUnavailableError"


def test_no_retries_means_exactly_one_request(stub: OpenAIStub) -> None:
    stub.fail_next(503, times=10)
    with pytest.raises(GenerationError, match="after 1 attempt "):
        _generator(stub, max_retries=0).complete(MESSAGES)
    assert len(stub.requests) == 1


def test_the_timeout_fires(stub: OpenAIStub) -> None:
    stub.delay_s = 5.0
    started = time.monotonic()
    with pytest.raises(GenerationError, match=r"timed out after 0.5 s \(RAG_GENERATION__TIMEOUT_S\)"):
        _generator(stub, timeout_s=0.5, max_retries=0).complete(MESSAGES)
    assert time.monotonic() - started < 2.5
    assert len(stub.requests) == 1


def test_a_timeout_is_retried(stub: OpenAIStub) -> None:
    stub.delay_s = 5.0
    generator = _generator(stub, timeout_s=0.5, max_retries=1)
    started = time.monotonic()
    with pytest.raises(GenerationError, match=r"after 2 attempts.*timed out after 0.5 s"):
        generator.complete(MESSAGES)
    assert time.monotonic() - started < 3.0
    assert len(stub.requests) == 2


# --- failures while streaming ---


def test_stream_retries_a_failure_before_the_first_piece(stub: OpenAIStub) -> None:
    stub.fail_next(503)
    assert "".join(_generator(stub).stream(MESSAGES)) == REPLY
    stub.fail_stream_after(0)  # the stream opens, then breaks before any text
    assert "".join(_generator(stub).stream(MESSAGES)) == REPLY
    assert len(stub.requests) == 4


def test_stream_broken_after_the_first_piece_raises(stub: OpenAIStub) -> None:
    stub.fail_stream_after(2, times=5)
    received: list[str] = []
    with pytest.raises(GenerationError, match="broke after it had started"):
        for piece in _generator(stub).stream(MESSAGES):
            received.append(piece)
    assert received == split_pieces(REPLY)[:2]
    assert len(stub.requests) == 1


def test_stream_gives_up_after_max_retries(stub: OpenAIStub) -> None:
    stub.fail_next(503, times=10)
    with pytest.raises(GenerationError, match="failed after 2 attempts"):
        list(_generator(stub, max_retries=1).stream(MESSAGES))
    assert len(stub.requests) == 2


# --- the stub itself ---


def test_stub_lists_models_and_shuts_down_quickly_with_a_sleeping_handler() -> None:
    import httpx

    with OpenAIStub(model="m1") as server:
        listing = httpx.get(f"{server.base_url}/models", timeout=5).json()
        assert [m["id"] for m in listing["data"]] == ["m1"]
        server.delay_s = 30.0
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.base_url}/chat/completions", json={"messages": []}, timeout=0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 1.5


# --- isolation ---


def test_import_is_cheap_and_litellm_never_leaves_localhost(stub: OpenAIStub, tmp_path: Path) -> None:
    """In a fresh Python process without LITELLM_LOCAL_MODEL_COST_MAP: importing rag.generator does not import
    litellm, and a full request resolves and connects to 127.0.0.1 only (no price-list fetch)."""
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP" and not k.startswith("RAG_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, stub.base_url],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert ["connect", "127.0.0.1"] in report["seen"]
    assert {host for _, host in report["seen"]} <= {"127.0.0.1"}, report["seen"]
    assert report["lazy"] is True
    assert report["text"] == REPLY
    assert report["env"] == "True"
    assert len(stub.requests) == 1
