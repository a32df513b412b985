"""Server-sent events, the one way the answer routes stream (``/v1/answer`` and ``/v1/chat/completions``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TypeVar

from fastapi.responses import StreamingResponse

__all__ = ["SSE_HEADERS", "event_stream", "started"]

T = TypeVar("T")

# No caching, and no proxy buffering (nginx): each event reaches the client as it is written.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def started(stream: Iterator[T]) -> Iterator[T]:
    """``stream`` with its first item taken now, in the route: retrieval and the model's first words happen
    before the response starts, so that their errors still get an HTTP status (a started stream cannot)."""
    first = next(stream)
    return itertools.chain((first,), stream)


def event_stream(events: Iterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
