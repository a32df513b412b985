"""Speech of an audio file or a video's soundtrack, transcribed window by window as it is decoded.

torchcodec's ``AudioDecoder`` resamples to the recogniser's rate and downmixes to mono while it decodes;
only one window (30 s for Whisper: about 2 MB) and the part of the previous one the model did not finish
are ever held, so a 3-hour recording takes the memory of a 1-minute one. Segment times are seconds from the
start of the file, so they cite the recording directly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import SourceLoadError
from rag.speech import Segment, SpeechRecognizer

if TYPE_CHECKING:
    from ingest.chunking import Chunker

__all__ = ["Soundtrack", "chunk_segments", "open_audio", "passages", "read_range", "too_long"]

log = logging.getLogger(__name__)

_END_SLACK_S = 0.1  # a read this much shorter than asked for is the end of the stream


class Soundtrack:
    """The audio stream of ``path``, opened (and checked) on construction; :meth:`segments` transcribes it.

    Raises :class:`SourceLoadError`: no audio stream, not decodable, zero length, longer than ``max_duration_s``.
    ``language``: forced (``"en"``), or None to detect it from the first window (then :attr:`language`).
    """

    def __init__(
        self,
        path: Path,
        recognizer: SpeechRecognizer,
        *,
        language: str | None = None,
        max_duration_s: float = 6 * 3600,
        setting: str = "audio.max_duration_s",
    ) -> None:
        self.path = path
        self.recognizer = recognizer
        self.language = language
        self.max_duration_s = max_duration_s
        self._setting = setting
        self._decoder, self.begin_s, self.duration_s = self._open()
        self.windows = 0  # windows transcribed so far

    def _open(self) -> tuple[Any, float, float | None]:
        return open_audio(
            self.path, self.recognizer.sample_rate, max_duration_s=self.max_duration_s, setting=self._setting
        )

    def _too_long(self, seconds: float) -> None:
        raise too_long(self.path, seconds, self.max_duration_s, self._setting)

    def _read(self, start: float, stop: float) -> np.ndarray:
        return read_range(self._decoder, self.path, self.begin_s, start, stop)

    def segments(self) -> Iterator[Segment]:
        """Transcript segments in time order, window by window; raises :class:`SourceLoadError` mid-way for
        a stream that turns out damaged or longer than the cap."""
        rate = self.recognizer.sample_rate
        window = int(self.recognizer.window_s * rate)
        end = self.begin_s + self.duration_s if self.duration_s is not None else None
        decoded_to = self.begin_s  # the stream is decoded up to here
        carry = np.zeros(0, dtype=np.float32)  # samples after what the last window finished
        carry_from = self.begin_s
        finished = False
        while True:
            wanted = window - len(carry)
            chunk = np.zeros(0, dtype=np.float32)
            if not finished and wanted > 0:
                stop = decoded_to + wanted / rate
                if end is not None and stop >= end - 1e-6:
                    stop, finished = end, True
                if stop > decoded_to:
                    chunk = self._read(decoded_to, stop)
                if not len(chunk) or (end is None and len(chunk) < (stop - decoded_to - _END_SLACK_S) * rate):
                    finished = True
                decoded_to = stop
            samples = np.concatenate([carry, chunk]) if len(carry) else chunk
            if not len(samples):
                if self.windows == 0:
                    raise SourceLoadError("the audio has no samples (zero length)", source=str(self.path))
                return
            offset = carry_from - self.begin_s
            if offset + len(samples) / rate > self.max_duration_s + self.recognizer.window_s:
                self._too_long(offset + len(samples) / rate)
            if self.language is None and self.windows == 0:
                self.language = self.recognizer.detect_language(samples)
            heard = self.recognizer.transcribe(samples, language=self.language)
            self.windows += 1
            for segment in heard.segments:
                start = round(offset + segment.start_s, 3)
                yield Segment(start, max(start, round(offset + segment.end_s, 3)), segment.text)
            length_s = len(samples) / rate
            advance = min(max(heard.heard_s, 1.0), length_s)
            if finished and advance >= length_s - 1e-6:
                return
            cut = round(advance * rate)
            carry, carry_from = samples[cut:], carry_from + cut / rate


def open_audio(path: Path, sample_rate: int, *, max_duration_s: float, setting: str) -> tuple[Any, float, float | None]:
    """An ``AudioDecoder`` of ``path``'s audio stream that resamples to ``sample_rate`` and downmixes to mono,
    with the stream's start and duration (None when the header does not say).

    Raises :class:`SourceLoadError`: no audio stream, not decodable, zero length, longer than ``max_duration_s``.
    """
    from torchcodec.decoders import AudioDecoder

    source = str(path)
    try:
        decoder = AudioDecoder(path, sample_rate=sample_rate, num_channels=1)
    except ValueError as exc:
        raise SourceLoadError("no audio stream in the file", source=source) from exc
    except RuntimeError as exc:
        raise SourceLoadError(
            f"not a readable audio file (corrupt, truncated or unknown format): {_why(exc)}", source=source
        ) from exc
    meta = decoder.metadata
    begin = float(meta.begin_stream_seconds or 0.0)
    duration = meta.duration_seconds_from_header if meta.duration_seconds_from_header else meta.duration_seconds
    if duration is not None and float(duration) <= 0:
        raise SourceLoadError("the audio has no samples (zero length)", source=source)
    if duration is not None and float(duration) > max_duration_s:
        raise too_long(path, float(duration), max_duration_s, setting)
    return decoder, begin, float(duration) if duration is not None else None


def read_range(decoder: Any, path: Path, begin_s: float, start: float, stop: float) -> np.ndarray:
    """Mono samples played from ``start`` to ``stop`` (stream seconds); empty past the end of the stream.

    Raises :class:`SourceLoadError` for a stream with no samples at all or damaged at ``start``.
    """
    try:
        samples = decoder.get_samples_played_in_range(start, stop)
    except RuntimeError as exc:
        if "No audio frames were decoded" in str(exc):
            if start <= begin_s:
                raise SourceLoadError("the audio has no samples (zero length)", source=str(path)) from exc
            # Reads are sequential: nothing after ``start`` is the end of the stream. Headers may promise
            # more than there is (an MP3's duration is estimated from its bit rate).
            return np.zeros(0, dtype=np.float32)
        raise SourceLoadError(
            f"corrupt or truncated audio near {start - begin_s:.1f}s: {_why(exc)}", source=str(path)
        ) from exc
    return np.ascontiguousarray(samples.data[0].numpy(), dtype=np.float32)


def too_long(path: Path, seconds: float, max_duration_s: float, setting: str) -> SourceLoadError:
    return SourceLoadError(
        f"audio is {seconds / 3600:.1f} h long, over the cap of {max_duration_s / 3600:g} h ({setting})",
        source=str(path),
    )


def passages(segments: Iterator[Segment], seconds: float) -> Iterator[list[Segment]]:
    """Consecutive segments grouped into passages of about ``seconds`` (a passage closes once it spans that
    long): the unit a transcript point is cut from, long enough to say something, short enough to cite."""
    group: list[Segment] = []
    for segment in segments:
        group.append(segment)
        if group[-1].end_s - group[0].start_s >= seconds:
            yield group
            group = []
    if group:
        yield group


def _why(exc: BaseException) -> str:
    """The useful last part of a torchcodec/FFmpeg message (they start with C++ source locations)."""
    text = " ".join(str(exc).split())
    return text.rsplit(", ", 1)[-1][:200] if ", " in text else text[:200]


def chunk_segments(chunker: Chunker, segments: list[Segment]) -> list[tuple[str, float, float]]:
    """The text of ``segments`` cut into the text model's chunks, each with the time range of the segments
    it holds: ``[(text, start_s, end_s), ...]``."""
    spans: list[tuple[int, int, Segment]] = []
    parts: list[str] = []
    position = 0
    for segment in segments:
        spans.append((position, position + len(segment.text), segment))
        parts.append(segment.text)
        position += len(segment.text) + 1
    text = " ".join(parts)
    out: list[tuple[str, float, float]] = []
    for chunk in chunker.chunk(text) if text.strip() else []:
        inside = [s for a, b, s in spans if a < chunk.end and b > chunk.start] or [segments[0]]
        out.append((chunk.text, min(s.start_s for s in inside), max(s.end_s for s in inside)))
    return out
