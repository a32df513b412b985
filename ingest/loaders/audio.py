"""Audio files: the speech in them, transcribed with times, as text chunks that cite ``meeting.m4a 12:04–12:31``.

The recording is decoded and transcribed window by window (:class:`ingest.transcripts.Soundtrack`); the
segments are grouped into passages of about ``passage_s`` seconds, and each passage is cut into chunks in the
text model's tokens like any text. A chunk's ``start_s``/``end_s`` are those of the segments it holds; its
payload records the language spoken (forced by setting, or detected from the first window).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ingest.loaders.base import require_nonempty
from ingest.transcripts import Soundtrack, chunk_segments, passages
from rag.records import Item, Source

if TYPE_CHECKING:
    from ingest.chunking import Chunker
    from rag.speech import SpeechRecognizer

__all__ = ["AUDIO_TYPES", "AudioLoader"]

AUDIO_TYPES = frozenset({"audio/mpeg", "audio/wav", "audio/mp4", "audio/flac", "audio/ogg", "audio/opus"})


class AudioLoader:
    name = "audio"
    mime_types = AUDIO_TYPES

    def __init__(
        self,
        chunker: Chunker,
        recognizer: SpeechRecognizer,
        *,
        language: str | None = None,
        passage_s: float = 30.0,
        max_duration_s: float = 6 * 3600,
    ) -> None:
        self.chunker = chunker
        self.recognizer = recognizer
        self.language = language
        self.passage_s = passage_s
        self.max_duration_s = max_duration_s

    def load(self, source: Source) -> Iterator[Item]:
        require_nonempty(source.path)
        track = Soundtrack(source.path, self.recognizer, language=self.language, max_duration_s=self.max_duration_s)
        title = source.path.stem or source.path.name
        for n, group in enumerate(passages(track.segments(), self.passage_s)):
            extra = {"language": track.language, "speech_model": self.recognizer.model_id}
            for i, (text, start, end) in enumerate(chunk_segments(self.chunker, group)):
                yield Item(
                    kind="text",
                    locator=f"speech-{n:05d}/chunk-{i}",
                    text=text,
                    start_s=start,
                    end_s=end,
                    title=title,
                    extra=extra,
                )
