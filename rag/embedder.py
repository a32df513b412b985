"""The embedder role: turn text, images (and video clips, windows of sound) into vectors.

:class:`Embedder` is the protocol; :class:`SentenceTransformerEmbedder` is the implementation over a
loaded ``sentence_transformers.SentenceTransformer``. Inputs are our own values (``str``, PIL images,
:class:`~rag.records.VideoClip`, :class:`~rag.records.AudioClip`), never file paths or URLs: sentence-transformers
would open or fetch any string that looks like one, so text always reaches it wrapped as text, and sound as
decoded samples with their rate.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rag.errors import RagError
from rag.locks import PriorityLock
from rag.records import AudioClip, VideoClip

__all__ = ["AudioFormat", "Embedder", "SentenceTransformerEmbedder", "audio_format_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """What an audio model reads: mono samples at ``sample_rate``, at most ``window_s`` seconds per input
    (CLAP: 48 kHz, 10 s; its feature extractor crops longer inputs at random, so windows are never longer)."""

    sample_rate: int
    window_s: float


_DEFAULT_AUDIO_WINDOW_S = 10.0


def audio_format_of(embedder: object) -> AudioFormat | None:
    """The audio input format of an embedder with an audio modality (None without one)."""
    if "audio" not in getattr(embedder, "modalities", ()):
        return None
    found = getattr(embedder, "audio_format", None)
    return found if isinstance(found, AudioFormat) else None


@runtime_checkable
class Embedder(Protocol):
    """One embedding model. ``model_id`` names it in the collection schema."""

    model_id: str
    dimension: int
    modalities: frozenset[str]
    max_tokens: int

    def encode_documents(self, inputs: Sequence[Any]) -> np.ndarray: ...

    def encode_queries(self, inputs: Sequence[Any]) -> np.ndarray: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...


def _modality(value: object) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, VideoClip):
        return "video"
    if isinstance(value, AudioClip):
        return "audio"
    return "image"


# How long one ingest turn of a model's lock should take while queries are about: what a query may wait for a
# document batch. With no query for _QUIET_S, turns are whole model batches again: short turns cost a third of
# the ingest throughput on 2 CPU cores (benchmarks/ingest_throughput.py: ratio 0.57 against 0.86 with whole
# batches), although a bare encode is as fast at any batch size.
_TURN_S = 0.1
_QUIET_S = 10.0
_LOCKS: weakref.WeakKeyDictionary[Any, PriorityLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _model_lock(model: Any) -> PriorityLock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = PriorityLock()
        return lock


class SentenceTransformerEmbedder:
    """Wraps a loaded SentenceTransformer; batches, normalises and guards inputs."""

    def __init__(self, model: Any, *, model_id: str, batch_size: int) -> None:
        self._model = model
        self.model_id = model_id
        self.batch_size = batch_size
        self.dimension = int(model.get_embedding_dimension())
        self.modalities = frozenset(getattr(model, "modalities", None) or ["text"])
        # The model reads at most this many tokens (special tokens included); chunks are sized below it.
        self.max_tokens = int(model.max_seq_length or 512)
        self._tokenizer = model.tokenizer
        # One lock per underlying model (the Qwen profile wraps one model as text, image and video):
        # the API runs queries and ingest jobs in threads, and a fast tokenizer shared across threads
        # fails with "Already borrowed". Queries go first: documents are encoded one model batch per turn.
        self._lock = _model_lock(model)
        # Chunking runs in the ingest loader thread while the model embeds in another: it tokenizes with
        # its own copy of the tokenizer (made on first use) under its own lock, so the two never wait on
        # each other.
        self._span_tokenizer: Any = None
        self._span_lock = threading.Lock()
        # Documents per turn of the model lock: sized from the time the last turn took (see _encode).
        self._turn_items = batch_size

    @functools.cached_property
    def audio_format(self) -> AudioFormat | None:
        """The rate and longest window the model's audio feature extractor reads; None without audio."""
        if "audio" not in self.modalities:
            return None
        for module in self._model:
            processor = getattr(module, "processor", None)
            extractor = getattr(processor, "feature_extractor", processor)
            rate = getattr(extractor, "sampling_rate", None)
            if rate:
                window = getattr(extractor, "max_length_s", None) or getattr(extractor, "chunk_length", None)
                return AudioFormat(int(rate), float(window or _DEFAULT_AUDIO_WINDOW_S))
        return None

    def __repr__(self) -> str:
        modalities = sorted(self.modalities)
        return f"SentenceTransformerEmbedder({self.model_id!r}, dim={self.dimension}, modalities={modalities})"

    def _prepare(self, inputs: Sequence[Any]) -> list[Any]:
        prepared: list[Any] = []
        for value in inputs:
            modality = _modality(value)
            if modality not in self.modalities:
                raise RagError(
                    f"{self.model_id} cannot embed {modality} inputs (it supports {sorted(self.modalities)})"
                )
            if isinstance(value, str):
                # A bare string that looks like a path or URL would be opened as an image or video.
                multimodal = len(self.modalities) > 1
                prepared.append({"text": value} if multimodal else value)
            elif isinstance(value, AudioClip):
                fmt = self.audio_format
                if fmt is not None and value.sample_rate != fmt.sample_rate:
                    raise RagError(
                        f"{self.model_id} reads audio at {fmt.sample_rate} Hz, got {value.sample_rate} Hz samples"
                    )
                prepared.append({"array": value.samples, "sampling_rate": value.sample_rate})
            elif isinstance(value, VideoClip):
                prepared.append(
                    {
                        "array": value.frames,
                        "video_metadata": {"fps": value.fps, "total_num_frames": int(value.frames.shape[0])},
                    }
                )
            else:
                prepared.append(value)
        return prepared

    def _encode(self, inputs: Sequence[Any], *, query: bool) -> np.ndarray:
        if not inputs:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prepared = self._prepare(inputs)
        if query:
            with self._lock.hold(urgent=True):
                return self._run(self._model.encode_query, prepared)
        # While queries are about (one waiting, or one within _QUIET_S), short turns of the lock, so that a query
        # waits for one short turn at most: each turn encodes as many documents (up to one model batch) as fit
        # in _TURN_S at the pace of the turn before. Otherwise whole model batches: in a pipeline, short turns
        # cost throughput (see _QUIET_S), and the first query after a quiet spell waits for one batch at most.
        # On a GPU a whole batch fits in one turn anyway. Longest texts first, as sentence-transformers orders a
        # call's inputs, so that batches pad to similar lengths.
        order = sorted(range(len(prepared)), key=lambda i: -len(inputs[i]) if isinstance(inputs[i], str) else 0)
        out = np.empty((len(prepared), self.dimension), dtype=np.float32)
        start = 0
        while start < len(order):
            turn = self._turn_items if self._lock.urgent_since(_QUIET_S) else self.batch_size
            batch = order[start : start + turn]
            with self._lock.hold():
                began = time.perf_counter()
                out[batch] = self._run(self._model.encode_document, [prepared[i] for i in batch])
                per_item = (time.perf_counter() - began) / len(batch)
            self._turn_items = max(
                1, min(self.batch_size, int(_TURN_S / per_item) if per_item > 0 else self.batch_size)
            )
            start += len(batch)
        return out

    def _run(self, method: Any, prepared: list[Any]) -> np.ndarray:
        vectors = method(
            prepared,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_documents(self, inputs: Sequence[Any]) -> np.ndarray:
        return self._encode(inputs, query=False)

    def encode_queries(self, inputs: Sequence[Any]) -> np.ndarray:
        return self._encode(inputs, query=True)

    @functools.cached_property
    def token_level(self) -> bool:
        """True when the model's text vector is the mean of its token vectors (a mean-pooled text encoder such as
        MiniLM): its token vectors then live in the space the model was trained in, and a question's tokens can
        be matched one by one (:meth:`encode_tokens`). False for CLS or last-token pooling (Qwen3-VL) and for
        models without a pooling module (CLIP)."""
        if self.modalities != frozenset({"text"}):
            return False
        modes = [getattr(module, "pooling_mode", None) for module in self._model]
        return modes.count("mean") == 1 and all(mode in (None, "mean") for mode in modes)

    def encode_tokens(self, texts: Sequence[str], *, query: bool) -> list[np.ndarray]:
        """Per text, its unit-length token vectors (special tokens left out; a text without tokens gets an
        empty ``(0, dimension)`` array). Only for a :attr:`token_level` model."""
        if not self.token_level:
            raise RagError(f"{self.model_id} has no token vectors to match (it does not mean-pool them)")
        if not texts:
            return []
        method = self._model.encode_query if query else self._model.encode_document
        with self._lock.hold(urgent=True):
            masks = self._tokenizer(
                list(texts), truncation=True, max_length=self.max_tokens, return_special_tokens_mask=True, verbose=False
            )["special_tokens_mask"]
            found = method(
                list(texts),
                batch_size=self.batch_size,
                output_value="token_embeddings",
                convert_to_numpy=False,
                show_progress_bar=False,
            )
        out: list[np.ndarray] = []
        for vectors, mask in zip(found, masks, strict=True):
            matrix = np.asarray(vectors.float().cpu().numpy() if hasattr(vectors, "cpu") else vectors, np.float32)
            if len(mask) == len(matrix):
                matrix = matrix[np.asarray(mask) == 0]
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            out.append((matrix / np.where(norms > 0, norms, 1.0)).reshape(-1, self.dimension))
        return out

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token of ``text`` in this model's tokenizer (no special tokens)."""
        with self._span_lock:
            if self._span_tokenizer is None:
                with self._lock.hold():
                    self._span_tokenizer = copy.deepcopy(self._tokenizer)
            encoded = self._span_tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False, verbose=False
            )
        offsets = encoded["offset_mapping"]
        # A fast tokenizer gives a list of (int, int) tuples already: converting each one again cost a tenth
        # of the loader's time on long documents.
        if offsets and type(offsets[0]) is not tuple:
            return [(int(s), int(e)) for s, e in offsets]
        return list(offsets)

    @functools.cached_property
    def whitespace_local_tokens(self) -> bool:
        """True when the tokenizer splits text at whitespace and tokenizes each word on its own, with
        character-local normalisation (BERT's WordPiece): a substring cut at whitespace then has exactly its
        tokens in context, which lets the chunker count tokens once. False when unsure. Read once: the
        tokenizer's config is parsed from JSON (megabytes for a large vocabulary)."""
        return _whitespace_local(self._tokenizer)

    @property
    def special_tokens(self) -> int:
        """How many special tokens the tokenizer adds around one text (CLS/SEP, BOS/EOS)."""
        with self._lock.hold():
            return len(self._tokenizer("", add_special_tokens=True)["input_ids"])


# Parts of a Hugging Face ``tokenizers`` pipeline that act on each character, or on each whitespace- (and
# punctuation-) separated word, on its own. Anything else (byte-level BPE, Metaspace, Split by a pattern,
# normalisers that replace across characters) makes a word's tokens depend on its neighbours: unsure.
_LOCAL_NORMALIZERS = frozenset({"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD", "StripAccents"})
_LOCAL_PRE_TOKENIZERS = frozenset({"BertPreTokenizer", "Whitespace", "WhitespaceSplit"})


def _whitespace_local(tokenizer: Any) -> bool:
    import json

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    try:
        config = json.loads(backend.to_str())
    except (TypeError, ValueError, AttributeError):
        return False

    def parts(node: Any) -> list[str]:
        if node is None:
            return []
        if node.get("type") == "Sequence":
            children = node.get("normalizers") or node.get("pretokenizers") or []
            return [kind for child in children for kind in parts(child)]
        return [str(node.get("type"))]

    normalizers = parts(config.get("normalizer"))
    pre_tokenizers = parts(config.get("pre_tokenizer"))
    return (
        (config.get("model") or {}).get("type") == "WordPiece"
        and bool(pre_tokenizers)
        and all(kind in _LOCAL_PRE_TOKENIZERS for kind in pre_tokenizers)
        and all(kind in _LOCAL_NORMALIZERS for kind in normalizers)
    )
