"""The embedder wrapper: chunking's tokenization runs beside an embedding in progress; token vectors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rag.embedder import _whitespace_local
from rag.errors import RagError


def test_token_spans_do_not_wait_for_an_embedding_in_progress(loaded_models: Callable[[str], Any]):
    embedder = loaded_models("minilm").embedders["text"]
    assert embedder.token_spans("hello world") == [(0, 5), (6, 11)]
    spans: list[list[tuple[int, int]]] = []
    with embedder._lock.hold():  # what encode_documents holds while the model runs
        reader = threading.Thread(target=lambda: spans.append(embedder.token_spans("solar panels")))
        reader.start()
        reader.join(10)
        assert spans == [[(0, 5), (6, 12)]]


@pytest.mark.slow
def test_tokenizing_and_embedding_at_once_from_two_threads(loaded_models: Callable[[str], Any]):
    embedder = loaded_models("minilm").embedders["text"]
    texts = [f"sentence number {i} about inverters and batteries" * 3 for i in range(64)]
    errors: list[BaseException] = []

    def tokenize() -> None:
        try:
            for text in texts:
                embedder.token_spans(text)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=tokenize) for _ in range(2)]
    for thread in threads:
        thread.start()
    vectors = embedder.encode_documents(texts)
    for thread in threads:
        thread.join(30)
    assert not errors and vectors.shape == (64, embedder.dimension)


def test_whitespace_local_tokens_only_for_word_level_tokenizers(loaded_models: Callable[[str], Any]):
    """WordPiece after BERT's whitespace/punctuation split (MiniLM) counts once; byte-level BPE (Qwen3-VL)
    and CLIP's BPE are re-tokenized per chunk."""
    assert loaded_models("minilm").embedders["text"].whitespace_local_tokens is True
    qwen = loaded_models("qwen").embedders["text"]
    assert qwen.whitespace_local_tokens is False
    assert _whitespace_local(object()) is False  # no backend tokenizer: unsure


def test_whitespace_local_tokens_refuse_unknown_pipeline_parts(loaded_models: Callable[[str], Any]):
    import copy

    tokenizer = copy.deepcopy(loaded_models("minilm").embedders["text"]._tokenizer)
    from tokenizers import pre_tokenizers

    tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    assert _whitespace_local(tokenizer) is False
    tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    assert _whitespace_local(tokenizer) is False  # Punctuation is not in the known-local list
    tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit()])
    assert _whitespace_local(tokenizer) is True


def test_token_vectors_only_for_mean_pooled_text_models(loaded_models: Callable[[str], Any]):
    """MiniLM mean-pools its token vectors: they can be matched one by one, without CLS/SEP; Qwen3-VL
    (last-token pooling) and CLIP (no pooling module) cannot."""
    minilm = loaded_models("minilm").embedders["text"]
    assert minilm.token_level is True
    tokens = minilm.encode_tokens(["Helios battery warranty", ""], query=True)
    words = minilm._tokenizer.tokenize("Helios battery warranty")  # WordPiece: no [CLS]/[SEP]
    assert [t.shape for t in tokens] == [(len(words), minilm.dimension), (0, minilm.dimension)]
    assert np.allclose(np.linalg.norm(tokens[0], axis=1), 1.0, atol=1e-5)
    # A word's token matches itself in another text better than another word's token does.
    other = minilm.encode_tokens(["The battery"], query=False)[0]
    battery = words.index("battery")
    assert float((tokens[0][battery] @ other.T).max()) > float((tokens[0][0] @ other.T).max())
    assert loaded_models("qwen").embedders["text"].token_level is False
    clip = loaded_models("clip").embedders["image"]
    assert clip.token_level is False
    with pytest.raises(RagError, match="no token vectors"):
        clip.encode_tokens(["a cat"], query=True)
