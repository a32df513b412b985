"""The speech recogniser role: 16 kHz mono samples of one window in, timed transcript segments out.

A recogniser sees one window at a time (Whisper: 30 s), never a whole file: the caller
(:mod:`ingest.transcripts`) decodes a file window by window and carries over what the model did not finish
(the words after the last complete segment), as Whisper's own long-form algorithm does, so memory stays
flat whatever the length and words at a window's edge are not cut in half.

:class:`WhisperRecognizer` runs ``WhisperForConditionalGeneration.generate`` with timestamps directly
rather than transformers' ASR ``pipeline``: the pipeline (chunked or sequential long-form) wants the whole
waveform in memory, which a 3-hour file must not be, and its chunk stitching hides where a window ended.
Timestamps of a window are parsed from the tokens and cleaned (clamped to the window, put in order, empty text
dropped), because a model may emit anything, a random test model most of all.

:class:`CtcRecognizer` runs a CTC checkpoint (``AutoModelForCTC``: wav2vec2, HuBERT, WavLM, Wav2Vec2-BERT, ...)
over the same windows. CTC has no timestamp tokens, but every output frame is a fixed stretch of audio
(``inputs_to_logits_ratio`` samples, 20 ms), so the frames where the greedy path spells each character time the
words (split at the word delimiter, or at a pause where the model spelled none); words are grouped into segments
at pauses, sentence ends or every few seconds (:func:`group_words`), and a segment running into the end of a
full window is heard again with the next, as Whisper's unfinished segment is.

:func:`load_speech_model` tells the two apart from the checkpoint's config and refuses anything else (a
seq2seq model that is not Whisper, an encoder without a CTC head) before its weights are read, naming what is
supported; the loader reports it naming the setting to change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "CtcRecognizer",
    "Segment",
    "SpeechRecognizer",
    "WhisperRecognizer",
    "WindowTranscript",
    "group_words",
    "load_speech_model",
]

log = logging.getLogger(__name__)

_MIN_ADVANCE_S = 1.0  # a window always moves the stream on by at least this much
_TIME_PRECISION = 0.02  # Whisper's timestamp tokens are 20 ms apart
_PAUSE_S = 0.5  # CTC: a silence this long between two words ends a segment
_SEGMENT_S = 8.0  # CTC: a segment holds words spanning at most this long (unless one word is longer)
_SENTENCE_ENDS = (".", "?", "!")  # CTC vocabularies with punctuation: a word ending so ends a segment


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

        _require(path, "whisper")
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


class CtcRecognizer:
    """A CTC checkpoint (``AutoModelForCTC`` + ``AutoProcessor`` with a ``Wav2Vec2CTCTokenizer``): wav2vec2,
    HuBERT, WavLM, Wav2Vec2-BERT and other CTC heads. Greedy decoding; see the module docstring for the times.

    ``window_s`` is 30 s: long enough that few words sit at a window's edge (those are heard again anyway), short
    enough for the encoder's attention over 1,500 frames to stay cheap (its cost grows with the square of the
    window), and within the utterance lengths CTC models are fine-tuned on (LibriSpeech, Common Voice: up to
    ~30 s), past which their accuracy is untested. The same window as Whisper, so a file costs the same windows.
    CTC models do not identify the language: :meth:`detect_language` returns None and the configured
    ``RAG_AUDIO__LANGUAGE``, if any, is what the payload records.
    """

    window_s = 30.0

    def __init__(self, model: Any, processor: Any, *, model_id: str) -> None:
        self._model = model
        self._processor = processor
        self._tokenizer = processor.tokenizer
        self.model_id = model_id
        self.sample_rate = int(processor.feature_extractor.sampling_rate)
        ratio = getattr(model.config, "inputs_to_logits_ratio", None)
        self._frame_s = float(ratio) / self.sample_rate if ratio else None  # else: measured per window
        delimiter = self._tokenizer.word_delimiter_token
        self._specials = [t for t in self._tokenizer.all_special_tokens if t != delimiter]
        self._lock = threading.Lock()  # one forward pass at a time per model

    @classmethod
    def load(cls, path: str, *, model_id: str, device: str) -> CtcRecognizer:
        import torch
        from transformers import AutoModelForCTC, AutoProcessor, Wav2Vec2CTCTokenizer

        _require(path, "ctc")
        processor = AutoProcessor.from_pretrained(path)
        tokenizer = getattr(processor, "tokenizer", None)
        if not isinstance(tokenizer, Wav2Vec2CTCTokenizer) or getattr(processor, "feature_extractor", None) is None:
            raise ValueError(
                f"a CTC checkpoint whose processor ({type(processor).__name__}) has no Wav2Vec2CTCTokenizer and "
                "feature extractor; speech recognition needs both to time words (save them with the model)"
            )
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        model = AutoModelForCTC.from_pretrained(path, dtype=dtype)
        model = model.to(device).eval()
        return cls(model, processor, model_id=model_id)

    def detect_language(self, samples: np.ndarray) -> str | None:
        return None  # a CTC head has no language output

    def transcribe(self, samples: np.ndarray, *, language: str | None) -> WindowTranscript:
        import torch

        length_s = len(samples) / self.sample_rate
        if length_s <= 0:
            return WindowTranscript((), 0.0)
        inputs = self._processor.feature_extractor(samples, sampling_rate=self.sample_rate, return_tensors="pt")
        model_inputs = {
            key: value.to(self._model.device, dtype=self._model.dtype if value.is_floating_point() else None)
            for key, value in inputs.items()
        }
        with self._lock, torch.inference_mode():
            frames = self._model(**model_inputs).logits[0].argmax(dim=-1)
        return self._window([int(t) for t in frames], length_s)

    def _window(self, ids: list[int], length_s: float) -> WindowTranscript:
        """The greedy CTC path ``ids`` (one token per frame) of a window ``length_s`` long, as timed segments."""
        if not ids:
            return WindowTranscript((), length_s)
        frame_s = self._frame_s or length_s / len(ids)
        # Special tokens are kept while decoding: skipping them would shift the frame offsets of what follows.
        decoded = self._tokenizer.decode(ids, skip_special_tokens=False, output_char_offsets=True)
        delimiter = self._tokenizer.replace_word_delimiter_char
        gap = _PAUSE_S / frame_s  # a pause ends a word even when the model spelled no delimiter there
        words: list[tuple[str, float, float]] = []
        word: list[str] = []
        first = last = 0
        for offset in decoded.char_offsets:
            char, start, end = str(offset["char"]), int(offset["start_offset"]), int(offset["end_offset"])
            if word and (char == delimiter or start - last >= gap):
                words.append(("".join(word), first * frame_s, last * frame_s))
                word = []
            if char == delimiter or char in self._specials:
                continue
            if not word:
                first = start
            word.append(char)
            last = end
        if word:
            words.append(("".join(word), first * frame_s, last * frame_s))
        words = [(text, min(start, length_s), min(end, length_s)) for text, start, end in words]
        segments = group_words(words)
        heard = length_s
        # A full window stopped mid-stream: a segment running into its end may hold a word cut in half.
        if segments and length_s >= self.window_s - frame_s:
            edge = segments[-1]
            if edge.end_s >= length_s - _PAUSE_S and edge.start_s >= _MIN_ADVANCE_S:
                segments, heard = segments[:-1], edge.start_s
        return WindowTranscript(tuple(segments), heard)


def group_words(
    words: Iterable[tuple[str, float, float]], *, pause_s: float = _PAUSE_S, max_s: float = _SEGMENT_S
) -> list[Segment]:
    """Timed words ``(text, start_s, end_s)``, in time order, grouped into segments: a segment ends at a pause of
    at least ``pause_s``, after a word that ends a sentence, or before a word that would make it span more than
    ``max_s`` (short enough to cite, long enough to read). Empty words are dropped."""
    segments: list[Segment] = []
    group: list[tuple[str, float, float]] = []

    def close() -> None:
        if group:
            start, end = group[0][1], max(w[2] for w in group)
            segments.append(Segment(round(start, 3), round(end, 3), " ".join(w[0] for w in group)))
            group.clear()

    for text, start, end in words:
        text = text.strip()
        if not text:
            continue
        if group and (start - group[-1][2] >= pause_s or end - group[0][1] > max_s):
            close()
        group.append((text, start, end))
        if text.endswith(_SENTENCE_ENDS):
            close()
    close()
    return segments


_Kind = Literal["whisper", "ctc"]


def load_speech_model(path: str, *, model_id: str, device: str) -> SpeechRecognizer:
    """The recogniser for the checkpoint at ``path``: Whisper or CTC, by its config (see :func:`_kind`)."""
    if _kind(path) == "whisper":
        return WhisperRecognizer.load(path, model_id=model_id, device=device)
    return CtcRecognizer.load(path, model_id=model_id, device=device)


def _kind(path: str) -> _Kind:
    """Which recogniser reads the checkpoint at ``path``, from its config alone (before any weights are read).

    Whisper: ``model_type`` whisper. CTC: an architecture named ``*ForCTC`` or, with none named, a model type
    that has a CTC head in transformers. Anything else is refused: a seq2seq model that is not Whisper (Seamless,
    Speech2Text) has no timestamp tokens in Whisper's form, and an encoder saved without a CTC head (a
    pre-training checkpoint) would load with a random one. Raises ``ValueError``, which the loader reports
    naming the setting.
    """
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CTC_MAPPING_NAMES

    config = AutoConfig.from_pretrained(path)
    architectures = list(getattr(config, "architectures", None) or [])
    if config.model_type == "whisper":
        return "whisper"
    if any(name.endswith("ForCTC") for name in architectures) or (
        not architectures and config.model_type in MODEL_FOR_CTC_MAPPING_NAMES
    ):
        return "ctc"
    named = ", ".join(architectures) or "no architecture named"
    raise ValueError(
        f"a {config.model_type} checkpoint ({named}); speech recognition takes Whisper-family checkpoints "
        "(WhisperForConditionalGeneration, e.g. openai/whisper-base) or CTC checkpoints (AutoModelForCTC: "
        "wav2vec2, HuBERT, WavLM, Wav2Vec2-BERT, e.g. facebook/wav2vec2-base-960h)"
    )


def _require(path: str, kind: _Kind) -> None:
    found = _kind(path)
    if found != kind:
        raise ValueError(f"a {found} checkpoint, not {kind}; load it with load_speech_model")
