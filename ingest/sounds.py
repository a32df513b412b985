"""Windows of sound for the ``audio`` vector: what a recording (or a video's soundtrack) sounds like, not what
is said in it.

The windows are fixed, back to back, of the audio model's own input length (CLAP: 10 s at 48 kHz), decoded one
at a time at the model's rate. Why not the transcript's passages: those exist only where someone speaks (a
concert, applause or an alarm has none) and run to 30 s, which CLAP's feature extractor would crop at random,
so the same file would embed differently each time. Fixed windows of the model's length cover every second,
embed deterministically, and cite ``concert.mp3 00:40–00:50``. Memory stays one window (about 2 MB) whatever
the length of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ingest.transcripts import _why, open_audio, read_range, too_long
from rag.embedder import AudioFormat
from rag.errors import RetrievalError
from rag.records import AudioClip

__all__ = ["SoundWindow", "Sounds", "query_clip"]

_END_SLACK_S = 0.1  # a read this much shorter than asked for is the end of the stream
_MIN_TAIL_S = 0.05  # a last window shorter than this (a few codec frames) holds no sound worth a point


SoundWindow = tuple[float, float, AudioClip]


class Sounds:
    """The audio stream of ``path`` at the audio model's rate, opened (and checked) on construction;
    :meth:`windows` reads it.

    Raises :class:`~rag.errors.SourceLoadError`: no audio stream, not decodable, zero length, longer than
    ``max_duration_s``. ``origin_s``: the stream time that times are measured from (a video's picture start);
    default the audio stream's own start.
    """

    def __init__(
        self,
        path: Path,
        fmt: AudioFormat,
        *,
        max_duration_s: float,
        setting: str = "audio.max_duration_s",
        origin_s: float | None = None,
    ) -> None:
        self.path = path
        self.fmt = fmt
        self.max_duration_s = max_duration_s
        self._setting = setting
        self._decoder, self.begin_s, self.duration_s = open_audio(
            path, fmt.sample_rate, max_duration_s=max_duration_s, setting=setting
        )
        self.origin_s = self.begin_s if origin_s is None else origin_s

    def windows(self) -> Iterator[SoundWindow]:
        """``(start_s, end_s, clip)`` back to back, seconds from ``origin_s``; raises :class:`SourceLoadError`
        mid-way for a stream that turns out damaged or longer than the cap."""
        fmt, begin = self.fmt, self.begin_s
        end = begin + self.duration_s if self.duration_s is not None else None
        start = begin
        while end is None or start < end - 1e-6:
            stop = start + fmt.window_s if end is None else min(start + fmt.window_s, end)
            samples = read_range(self._decoder, self.path, begin, start, stop)
            length_s = len(samples) / fmt.sample_rate
            if start - begin + length_s > self.max_duration_s + fmt.window_s:
                raise too_long(self.path, start - begin + length_s, self.max_duration_s, self._setting)
            if len(samples) and (length_s >= _MIN_TAIL_S or start == begin):
                a = max(0.0, round(start - self.origin_s, 3))
                b = max(a, round(start - self.origin_s + length_s, 3))
                yield a, b, AudioClip(samples, fmt.sample_rate)
            if length_s < (stop - start) - _END_SLACK_S:
                return  # the stream ended before its header said (or it did not say)
            start = stop


def query_clip(data: bytes | Path, fmt: AudioFormat) -> AudioClip:
    """The first window of a recording to search with (query by audio), decoded at the audio model's rate.

    Only one window is decoded whatever the recording's length: a query is one sound, and the points it is
    compared with are windows of the same length. Raises :class:`RetrievalError` for anything not decodable.
    """
    from torchcodec.decoders import AudioDecoder

    what = "the query audio"
    try:
        decoder = AudioDecoder(
            data if isinstance(data, bytes) else str(data), sample_rate=fmt.sample_rate, num_channels=1
        )
    except ValueError as exc:
        raise RetrievalError(f"{what} has no audio stream") from exc
    except RuntimeError as exc:
        raise RetrievalError(f"{what} is not a readable audio file: {_why(exc)}") from exc
    begin = float(decoder.metadata.begin_stream_seconds or 0.0)
    try:
        samples = decoder.get_samples_played_in_range(begin, begin + fmt.window_s)
    except RuntimeError as exc:
        raise RetrievalError(f"{what} has no samples or is damaged: {_why(exc)}") from exc
    array = np.ascontiguousarray(samples.data[0].numpy(), dtype=np.float32)
    if not len(array):
        raise RetrievalError(f"{what} has no samples (zero length)")
    return AudioClip(array, fmt.sample_rate)
