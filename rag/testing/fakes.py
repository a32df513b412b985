"""Fakes for the roles that talk to the outside world (for tests and examples; no network, no model)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

__all__ = ["FakeGenerator"]


class FakeGenerator:
    """A :class:`rag.generator.Generator` that answers with a fixed text and records the messages it got."""

    model = "fake/model"

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[list[dict[str, Any]]] = []

    def complete(self, messages: list[dict[str, Any]]) -> str:
        self.calls.append(messages)
        return self.text

    def stream(self, messages: list[dict[str, Any]]) -> Iterator[str]:
        self.calls.append(messages)
        words = self.text.split(" ")
        yield words[0]
        for word in words[1:]:
            yield " " + word

    async def acomplete(self, messages: list[dict[str, Any]]) -> str:
        return self.complete(messages)

    async def astream(self, messages: list[dict[str, Any]]) -> AsyncIterator[str]:
        for piece in self.stream(messages):
            yield piece
