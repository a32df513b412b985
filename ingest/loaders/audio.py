"""Audio files: the speech in them, transcribed with times, as text chunks that cite ``meeting.m4a 12:04–12:31``.

The recording is decoded and transcribed window by window (:class:`ingest.transcripts.Soundtrack`); the
segments are grouped into passages of about ``passage_s`` seconds, and each passage is cut into chunks in the
text model's tokens like any text. A chunk's ``start_s``/``end_s`` are those of the segments it holds; its
payload records the language spoken (forced by setting, or detected from the first window).

With an audio model (``RAG_MODELS__AUDIO__NAME``), the recording is then read once more at that model's rate in
fixed windows (:mod:`ingest.sounds`), each a ``sound`` point with the ``audio`` vector: sounds without words
(applause, music) become searchable, by text or by another recording. Either part alone is enough to load
audio files: speech only, sounds only, or both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ingest.loaders.base import require_nonempty
from ingest.sounds import Sounds
from ingest.transcripts import Soundtrack, chunk_segments, passages
from rag.records import Item, Source

if TYPE_CHECKING:
    from ingest.chunking import Chunker
    from rag.embedder import AudioFormat
    from rag.speech import SpeechRecognizer

__all__ = ["AUDIO_TYPES", "AudioLoader"]

AUDIO_TYPES = frozenset({"audio/mpeg", "audio/wav", "audio/mp4", "audio/flac", "audio/ogg", "audio/opus"})


class AudioLoader:
    name = "audio"
    mime_types = AUDIO_TYPES

    def __init__(
        self,
        chunker: Chunker,
        recognizer: SpeechRecognizer | None,
        *,
        sound: AudioFormat | None = None,
        language: str | None = None,
        passage_s: float = 30.0,
        max_duration_s: float = 6 * 3600,
    ) -> None:
        if recognizer is None and sound is None:
            raise ValueError("an audio loader needs a speech recogniser, an audio model, or both")
        self.chunker = chunker
        self.recognizer = recognizer
        self.sound = sound
        self.language = language
        self.passage_s = passage_s
        self.max_duration_s = max_duration_s

    def load(self, source: Source) -> Iterator[Item]:
        require_nonempty(source.path)
        title = source.path.stem or source.path.name
        if self.recognizer is not None:
            yield from self._speech(source, title, self.recognizer)
        if self.sound is not None:
            sounds = Sounds(source.path, self.sound, max_duration_s=self.max_duration_s)
            for n, (start, end, clip) in enumerate(sounds.windows()):
                yield Item(kind="sound", locator=f"sound-{n:05d}", audio=clip, start_s=start, end_s=end, title=title)

    def _speech(self, source: Source, title: str, recognizer: SpeechRecognizer) -> Iterator[Item]:
        track = Soundtrack(source.path, recognizer, language=self.language, max_duration_s=self.max_duration_s)
        for n, group in enumerate(passages(track.segments(), self.passage_s)):
            extra = {"language": track.language, "speech_model": recognizer.model_id}
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
