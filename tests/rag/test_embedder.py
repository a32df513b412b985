"""The embedder wrapper: chunking's tokenization runs beside an embedding in progress."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from rag.embedder import _whitespace_local


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
