"""A small OpenAI-compatible HTTP server for tests: no network, no model, scriptable replies and failures.

::

    with OpenAIStub(reply="The warranty is 5 years [1].") as stub:
        settings = GenerationSettings(model="openai/test-model", api_base=stub.base_url, api_key="sk-test")
        ...
        stub.requests[-1]["messages"]  # what the client sent

Endpoints: ``POST /v1/chat/completions`` (``stream: false`` → one JSON completion; ``stream: true`` →
server-sent events ``data: {chunk}`` with one word-ish piece of the reply per event, then ``data: [DONE]``)
and ``GET /v1/models``. Every request body is recorded, parsed, in :attr:`OpenAIStub.requests`.

Scripting: :attr:`OpenAIStub.reply` (a string or ``callable(request) -> str``), :meth:`OpenAIStub.fail_next`
(answer the next requests with an HTTP error), :meth:`OpenAIStub.fail_stream_after` (break the next streams
with an error event after some pieces), :attr:`OpenAIStub.delay_s` (sleep before answering; wakes up at
shutdown). It is a real server on ``127.0.0.1``, so another process can use it too; ``python -m
rag.testing.openai_stub`` runs one in the foreground.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["OpenAIStub", "Reply", "split_pieces"]

log = logging.getLogger(__name__)

Reply = str | Callable[[dict[str, Any]], str]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def split_pieces(text: str) -> list[str]:
    """The pieces a streamed reply is sent in: each word with the whitespace after it."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


@dataclass(slots=True)
class _Failure:
    status: int
    message: str


@dataclass(slots=True)
class _StreamBreak:
    after_pieces: int
    message: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, stub: OpenAIStub) -> None:
        super().__init__(("127.0.0.1", stub.requested_port), _Handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30  # seconds a client may stay silent before its connection is dropped
    server_version = "OpenAIStub/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("openai stub: " + format, *args)

    # --- routes ---

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            stub = self.server.stub
            self._send_json(200, {"object": "list", "data": [{"id": stub.model, "object": "model", "created": 0}]})
        else:
            self._send_error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, f"no route {self.path}")
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._send_error(400, f"invalid JSON body: {exc}")
            return
        stub = self.server.stub
        failure, stream_break = stub._record(body, dict(self.headers.items()))
        if stub.delay_s > 0 and stub._stopping.wait(stub.delay_s):
            return  # shutting down: drop the request unanswered
        if failure is not None:
            self._send_error(failure.status, failure.message)
            return
        text = stub._render(body)
        try:
            if body.get("stream"):
                self._send_stream(body, text, stream_break)
            else:
                self._send_json(200, stub._completion(body, text))
        except (BrokenPipeError, ConnectionResetError):
            log.debug("openai stub: client went away before the reply was sent")

    # --- writers ---

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str) -> None:
        error_type = _ERROR_TYPES.get(status, "server_error")
        payload = {"error": {"message": message, "type": error_type, "param": None, "code": str(status)}}
        try:
            self._send_json(status, payload)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("openai stub: client went away before the error was sent")

    def _send_stream(self, body: dict[str, Any], text: str, stream_break: _StreamBreak | None) -> None:
        stub = self.server.stub
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        self._event(stub._chunk(body, completion_id, {"role": "assistant", "content": ""}, None))
        for index, piece in enumerate(split_pieces(text)):
            if stream_break is not None and index >= stream_break.after_pieces:
                break
            self._event(stub._chunk(body, completion_id, {"content": piece}, None))
        if stream_break is not None:
            self._event({"error": {"message": stream_break.message, "type": "server_error", "code": "500"}})
            return
        self._event(stub._chunk(body, completion_id, {}, "stop"))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, payload: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()


class OpenAIStub:
    """An OpenAI-compatible chat completions server on ``127.0.0.1`` in a background thread.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`). Attributes may be changed while
    it runs; they are read per request.
    """

    def __init__(self, reply: Reply = "OK", *, model: str = "test-model", port: int = 0, delay_s: float = 0.0) -> None:
        self.reply: Reply = reply
        self.model = model
        self.delay_s = delay_s
        self.requested_port = port
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._failures: deque[_Failure] = deque()
        self._stream_breaks: deque[_StreamBreak] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> OpenAIStub:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-stub", daemon=True
        )
        self._thread.start()
        log.debug("openai stub listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in delay_s
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stub is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` — what an OpenAI client takes as its base URL / ``api_base``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # --- scripting ---

    def fail_next(self, status: int = 503, times: int = 1, message: str | None = None) -> None:
        """Answer the next ``times`` chat requests with HTTP ``status`` and an OpenAI-style error body."""
        failure = _Failure(status, message or f"stub failure ({status})")
        with self._lock:
            self._failures.extend(failure for _ in range(times))

    def fail_stream_after(self, pieces: int, times: int = 1, message: str = "stub stream broke") -> None:
        """Break the next ``times`` streamed replies with an error event after ``pieces`` content pieces."""
        with self._lock:
            self._stream_breaks.extend(_StreamBreak(pieces, message) for _ in range(times))

    @property
    def last_request(self) -> dict[str, Any]:
        with self._lock:
            return self.requests[-1]

    # --- used by the handler ---

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[_Failure | None, _StreamBreak | None]:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            failure = self._failures.popleft() if self._failures else None
            stream_break = None
            if failure is None and body.get("stream") and self._stream_breaks:
                stream_break = self._stream_breaks.popleft()
            return failure, stream_break

    def _render(self, body: dict[str, Any]) -> str:
        reply = self.reply
        return reply if isinstance(reply, str) else reply(body)

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        prompt_tokens = len(json.dumps(body.get("messages", []))) // 4
        completion_tokens = len(split_pieces(text))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _chunk(
        self, body: dict[str, Any], completion_id: str, delta: dict[str, Any], finish_reason: str | None
    ) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }


def main(argv: list[str] | None = None) -> None:
    """Run a stub in the foreground: ``python -m rag.testing.openai_stub --port 8099 --reply "..."``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--reply", default="OK", help="the text every completion returns")
    parser.add_argument("--model", default="test-model")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    with OpenAIStub(args.reply, model=args.model, port=args.port) as stub:
        sys.stdout.write(stub.base_url + "\n")  # the one line a parent process reads
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    log.info("openai stub stopped")


if __name__ == "__main__":
    main()
