"""One real `rag serve` process on 127.0.0.1, driven by the `openai` client (streaming and not)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.testing.openai_stub import OpenAIStub

REPO = Path(__file__).resolve().parents[3]
KEY = "key-acme-0123456789abcdef"
WARRANTY = b"# Warranty\n\nThe Helios battery carries a ten year warranty on parts and labour.\n"
PANELS = b"# Panels\n\nEach solar panel is cleaned twice a year with soft brushes and rain water.\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, OpenAIStub]]:
    with OpenAIStub(reply="The warranty lasts ten years [1].") as stub:
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
            "PYTHONPATH": str(REPO),
            "HF_HUB_OFFLINE": "1",
            "RAG_DATA_DIR": str(tmp_path / "data"),
            "RAG_MODELS__PROFILE": "offline",
            "RAG_GENERATION__MODEL": "openai/test-model",
            "RAG_GENERATION__API_BASE": stub.base_url,
            "RAG_GENERATION__API_KEY": "sk-test-stub",
            "RAG_API__KEYS": json.dumps({KEY: "acme"}),
            "RAG_API__PORT": str(port),
        }
        log = (tmp_path / "server.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, process, tmp_path / "server.log")
            yield base, stub
        finally:
            process.terminate()
            process.wait(30)
            log.close()


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not ready in {timeout}s:\n{log.read_text()}")


@pytest.mark.integration
def test_openai_client_chats_with_the_server(server: tuple[str, OpenAIStub]) -> None:
    import openai

    base, stub = server
    headers = {"Authorization": f"Bearer {KEY}"}
    files = [("files", ("warranty.md", WARRANTY)), ("files", ("panels.md", PANELS))]
    job = httpx.post(f"{base}/v1/ingest", headers=headers, files=files, timeout=30).json()["job"]
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
        job = httpx.get(f"{base}/v1/jobs/{job['id']}", headers=headers, timeout=10).json()
    assert job["status"] == "succeeded", job

    client = openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0, timeout=60)
    assert [m.id for m in client.models.list()] == ["rag"]

    question = [{"role": "user", "content": "How long is the battery warranty?"}]
    chunks = list(client.chat.completions.create(model="rag", messages=question, stream=True))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("The warranty lasts ten years [1].")
    assert "**Sources**" in text and "1. warranty.md" in text
    assert chunks[-1].choices[0].finish_reason == "stop"
    sources: Any = chunks[-1].model_extra["sources"]  # type: ignore[index]
    assert sources[0]["hit"]["path"] == "warranty.md" and sources[0]["cited"]
    # The answer model got the retrieved passage as a numbered source.
    sent = json.dumps(stub.last_request["messages"])
    assert "ten year warranty" in sent and "<<<SOURCE 1" in sent

    completion = client.chat.completions.create(model="rag", messages=question)  # type: ignore[arg-type]
    assert completion.choices[0].message.content is not None
    assert completion.choices[0].message.content.startswith("The warranty lasts ten years [1].")

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=question)  # type: ignore[arg-type]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{base}/v1", api_key="wrong-key-000000000000", max_retries=0).models.list()
