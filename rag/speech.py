"""The speech recogniser role: 16 kHz mono samples of one window in, timed transcript segments out.

A recogniser sees one window at a time (Whisper: 30 s), never a whole file: the caller
(:mod:`ingest.transcripts`) decodes a file window by window and carries over what the model did not finish
(the words after the last complete segment), as Whisper's own long-form algorithm does, so memory stays
flat whatever the length and words at a window's edge are not cut in half.

:class:`WhisperRecognizer` runs ``WhisperForConditionalGeneration.generate`` with timestamps directly
rather than transformers' ASR ``pipeline``: the pipeline (chunked or sequential long-form) wants the whole
waveform in memory, which a 3-hour file must not be, and its chunk stitching hides where a window ended.
Timestamps of a window are parsed from the tokens and cleaned (clamped to the window, put in order, empty text
dropped), because a model may emit anything, a random test model most of all. Only Whisper-family checkpoints
load: another architecture is refused at load, naming the setting to change (:func:`_require_whisper`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Segment", "SpeechRecognizer", "WhisperRecognizer", "WindowTranscript"]

log = logging.getLogger(__name__)

_MIN_ADVANCE_S = 1.0  # a window always moves the stream on by at least this much
_TIME_PRECISION = 0.02  # Whisper's timestamp tokens are 20 ms apart


@dataclass(frozen=True, slots=True)
class Segment:
    """Words spoken between ``start_s`` and ``end_s`` (seconds, from the start of the window or file)."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class WindowTranscript:
    """What a recogniser heard in one window.

    ``heard_s``: how far into the window the transcript is complete; the next window starts there (the
    rest is decoded again with what follows). At least a second, at most the window's length.
    """

    segments: tuple[Segment, ...]
    heard_s: float


@runtime_checkable
class SpeechRecognizer(Protocol):
    model_id: str
    sample_rate: int  # samples per second the model reads (mono float32 in [-1, 1])
    window_s: float  # the longest window it reads at once

    def detect_language(self, samples: np.ndarray) -> str | None:
        """The language code (``"en"``) spoken in ``samples``, or None when the model cannot tell."""
        ...

    def transcribe(self, samples: np.ndarray, *, language: str | None) -> WindowTranscript:
        """Segments of one window of at most ``window_s`` seconds, times relative to its start."""
        ...


class WhisperRecognizer:
    """A Whisper-family checkpoint (``WhisperForConditionalGeneration`` + ``WhisperProcessor``)."""

    def __init__(self, model: Any, processor: Any, *, model_id: str) -> None:
        self._model = model
        self._processor = processor
        self.model_id = model_id
        extractor = processor.feature_extractor
        self.sample_rate = int(extractor.sampling_rate)
        self.window_s = float(extractor.chunk_length)
        generation = model.generation_config
        self._lang_ids: dict[int, str] = {
            int(token_id): token.strip("<|>")
            for token, token_id in (getattr(generation, "lang_to_id", None) or {}).items()
        }
        no_timestamps = getattr(generation, "no_timestamps_token_id", None)
        self._timestamp_begin = int(no_timestamps) + 1 if no_timestamps is not None else None
        self._multilingual = bool(getattr(generation, "is_multilingual", False)) and bool(self._lang_ids)
        self._lock = threading.Lock()  # one generate at a time per model

    @classmethod
    def load(cls, path: str, *, model_id: str, device: str) -> WhisperRecognizer:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        _require_whisper(path)
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        model = WhisperForConditionalGeneration.from_pretrained(path, dtype=dtype)
        model = model.to(device).eval()  # type: ignore[arg-type]
        return cls(model, WhisperProcessor.from_pretrained(path), model_id=model_id)

    def _features(self, samples: np.ndarray) -> Any:
        features = self._processor.feature_extractor(
            samples, sampling_rate=self.sample_rate, return_tensors="pt"
        ).input_features
        return features.to(self._model.device, dtype=self._model.dtype)

    def detect_language(self, samples: np.ndarray) -> str | None:
        import torch

        if not self._multilingual:
            return "en"  # Whisper's English-only checkpoints (*.en)
        with self._lock, torch.inference_mode():
            token = int(self._model.detect_language(self._features(samples))[0])
        return self._lang_ids.get(token)

    def transcribe(self, samples: np.ndarray, *, language: str | None) -> WindowTranscript:
        import torch

        length_s = len(samples) / self.sample_rate
        if length_s <= 0:
            return WindowTranscript((), 0.0)
        options: dict[str, Any] = {"return_timestamps": self._timestamp_begin is not None}
        if self._multilingual:
            options.update(task="transcribe", language=language)
        with self._lock, torch.inference_mode():
            tokens = self._model.generate(self._features(samples), **options)
        ids = [int(t) for t in tokens[0]]
        return self._segments(ids, length_s)

    def _segments(self, ids: list[int], length_s: float) -> WindowTranscript:
        """Parse ``<|t0|> words <|t1|><|t1|> words <|t2|>`` into segments; see the module docstring."""
        begin = self._timestamp_begin
        tokenizer = self._processor.tokenizer
        specials = set(tokenizer.all_special_ids)
        pieces: list[tuple[float | None, float | None, list[int]]] = []
        start: float | None = None
        words: list[int] = []
        closed = False
        last = 0.0  # where the last segment ended: words without an opening timestamp start there
        for token in ids:
            if begin is not None and token >= begin:
                time = min(max((token - begin) * _TIME_PRECISION, 0.0), length_s)
                if start is None:
                    start, words = time, []
                else:
                    pieces.append((start, time, words))
                    start, words, closed, last = None, [], True, time
            elif token not in specials:
                if start is None:
                    start = last
                words.append(token)
        heard = length_s
        if start is not None and words:
            # An unfinished segment at the end: unless it began at the very start, hear it again next window.
            if start >= _MIN_ADVANCE_S and closed:
                heard = start
            else:
                pieces.append((start, length_s, words))
        segments: list[Segment] = []
        for seg_start, seg_end, seg_words in pieces:
            text = " ".join(tokenizer.decode(seg_words, skip_special_tokens=True).split())
            if not text:
                continue
            a = seg_start or 0.0
            b = seg_end if seg_end is not None else length_s
            segments.append(Segment(round(min(a, b), 3), round(max(a, b), 3), text))
        segments.sort(key=lambda s: (s.start_s, s.end_s))
        return WindowTranscript(tuple(segments), heard)


def _require_whisper(path: str) -> None:
    """Refuse a checkpoint of another architecture before its weights are read.

    Other ASR models (wav2vec2/CTC, Seamless, Parakeet) have no timestamp tokens to parse and no 30 s window
    with a carry-over; fed through :class:`WhisperRecognizer` they would fail deep inside ``generate`` or,
    worse, load with random heads. Raises ``ValueError``, which the loader reports naming the setting.
    """
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    if config.model_type != "whisper":
        architectures = ", ".join(getattr(config, "architectures", None) or []) or "no architecture named"
        raise ValueError(
            f"a {config.model_type} checkpoint ({architectures}); speech recognition takes Whisper-family "
            "checkpoints only (WhisperForConditionalGeneration, e.g. openai/whisper-base or a fine-tune of it)"
        )
