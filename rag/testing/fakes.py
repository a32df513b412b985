"""Fakes for the roles that talk to the outside world (for tests and examples; no network, no model)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from rag.speech import Segment, WindowTranscript

__all__ = ["FakeGenerator", "FakeRecognizer"]


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


class FakeRecognizer:
    """A :class:`rag.speech.SpeechRecognizer` that "hears" one segment per ``segment_s`` of each window,
    saying ``"words at <second>"``, and records the length of every window it was given.

    ``heard_s``: report only this much of each window as finished (the rest must come again in the next).
    """

    model_id = "fake/speech"

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        window_s: float = 30.0,
        segment_s: float = 5.0,
        heard_s: float | None = None,
        language: str | None = "en",
        silent: bool = False,
    ) -> None:
        self.sample_rate = sample_rate
        self.window_s = window_s
        self.segment_s = segment_s
        self.heard_s = heard_s
        self.language = language
        self.silent = silent
        self.windows: list[int] = []  # samples per window
        self.languages: list[str | None] = []

    def detect_language(self, samples: np.ndarray) -> str | None:
        return self.language

    def transcribe(self, samples: np.ndarray, *, language: str | None) -> WindowTranscript:
        self.windows.append(len(samples))
        self.languages.append(language)
        length = len(samples) / self.sample_rate
        heard = length if self.heard_s is None else min(self.heard_s, length)
        segments: list[Segment] = []
        start = 0.0
        while start < heard - 1e-6 and not self.silent:
            end = min(start + self.segment_s, heard)
            segments.append(Segment(round(start, 3), round(end, 3), f"words at {start:g}"))
            start = end
        return WindowTranscript(tuple(segments), heard)
