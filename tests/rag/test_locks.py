"""Queries go before ingest on a shared model or embedded store (rag.locks.PriorityLock)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from rag.embedder import SentenceTransformerEmbedder
from rag.locks import PriorityLock


def test_an_urgent_waiter_is_served_before_earlier_ordinary_waiters() -> None:
    lock = PriorityLock()
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with lock.hold():
            release.wait(5)

    def waiter(name: str, urgent: bool) -> None:
        with lock.hold(urgent=urgent):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    time.sleep(0.05)
    ordinary = [threading.Thread(target=waiter, args=(f"ingest-{i}", False)) for i in range(3)]
    for t in ordinary:
        t.start()
    time.sleep(0.05)
    urgent = threading.Thread(target=waiter, args=("query", True))
    urgent.start()
    time.sleep(0.05)
    release.set()
    for t in (first, *ordinary, urgent):
        t.join(5)
    assert order[0] == "query" and sorted(order[1:]) == ["ingest-0", "ingest-1", "ingest-2"]


def test_the_lock_is_reentrant_for_its_holder() -> None:
    lock = PriorityLock()
    with lock.hold(), lock.hold(urgent=True), lock.hold():
        pass
    done = threading.Event()
    threading.Thread(target=lambda: (lock.hold().__enter__(), done.set())).start()
    assert done.wait(2)


class _SlowModel:
    """Stands in for a SentenceTransformer: each call takes 50 ms and is logged."""

    max_seq_length = 128
    tokenizer = None
    modalities = ("text",)

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def get_embedding_dimension(self) -> int:
        return 4

    def _call(self, kind: str, inputs: list[Any]) -> np.ndarray:
        self.calls.append((kind, len(inputs)))
        time.sleep(0.05)
        return np.ones((len(inputs), 4), dtype=np.float32)

    def encode_document(self, inputs: list[Any], **_: Any) -> np.ndarray:
        return self._call("document", inputs)

    def encode_query(self, inputs: list[Any], **_: Any) -> np.ndarray:
        return self._call("query", inputs)


def test_a_query_waits_for_one_document_batch_not_for_a_whole_ingest_flush() -> None:
    model = _SlowModel()
    embedder = SentenceTransformerEmbedder(model, model_id="slow", batch_size=4)
    ingest = threading.Thread(target=embedder.encode_documents, args=([f"doc {i}" for i in range(40)],))
    ingest.start()
    time.sleep(0.12)  # inside the flush: 10 batches of 4 take 0.5 s
    started = time.perf_counter()
    embedder.encode_queries(["a question"])
    waited = time.perf_counter() - started
    ingest.join(5)
    kinds = [kind for kind, _ in model.calls]
    assert kinds.index("query") < len(kinds) - 1  # it went in between two document batches
    assert {n for kind, n in model.calls if kind == "document"} == {4}
    assert waited < 0.3, waited  # one batch (50 ms) plus its own call, not the rest of the flush (0.4 s)


def test_a_slow_model_holds_the_lock_for_short_turns_of_fewer_documents() -> None:
    class PerItem(_SlowModel):
        def _call(self, kind: str, inputs: list[Any]) -> np.ndarray:
            self.calls.append((kind, len(inputs)))
            time.sleep(0.03 * len(inputs))  # 30 ms a document: a turn of 0.1 s fits 3 at most
            return np.ones((len(inputs), 4), dtype=np.float32)

    model = PerItem()
    embedder = SentenceTransformerEmbedder(model, model_id="per-item", batch_size=16)
    embedder.encode_queries(["a question"])  # a query a moment ago: ingest takes short turns
    model.calls.clear()
    assert embedder.encode_documents([f"doc {i}" for i in range(24)]).shape == (24, 4)
    sizes = [n for _, n in model.calls]
    assert sizes[0] == 16 and sum(sizes) == 24  # the first turn has no pace to go by: one model batch
    assert all(1 <= n <= 3 for n in sizes[1:]), sizes  # then as many as fit in a turn


def test_without_queries_about_documents_are_encoded_in_whole_model_batches(monkeypatch) -> None:
    class PerItem(_SlowModel):
        def _call(self, kind: str, inputs: list[Any]) -> np.ndarray:
            self.calls.append((kind, len(inputs)))
            time.sleep(0.01 * len(inputs))
            return np.ones((len(inputs), 4), dtype=np.float32)

    model = PerItem()
    embedder = SentenceTransformerEmbedder(model, model_id="per-item", batch_size=16)
    embedder.encode_documents([f"doc {i}" for i in range(40)])
    assert [n for _, n in model.calls] == [16, 16, 8]  # no query ever: short turns would only cost throughput
    embedder.encode_queries(["a question"])
    model.calls.clear()
    embedder.encode_documents([f"doc {i}" for i in range(40)])
    assert max(n for _, n in model.calls[1:]) <= 10  # a query just now: turns of 0.1 s (10 documents) at most
    monkeypatch.setattr("rag.embedder._QUIET_S", 0.0)  # the query is long past
    model.calls.clear()
    embedder.encode_documents([f"doc {i}" for i in range(40)])
    assert [n for _, n in model.calls] == [16, 16, 8]


def test_documents_encoded_in_turns_keep_their_order() -> None:
    class Echo(_SlowModel):
        def _call(self, kind: str, inputs: list[Any]) -> np.ndarray:
            return np.array([[len(t), 0, 0, 0] for t in inputs], dtype=np.float32)

    embedder = SentenceTransformerEmbedder(Echo(), model_id="echo", batch_size=3)
    texts = ["a" * n for n in (5, 1, 9, 3, 7, 2, 8)]
    assert embedder.encode_documents(texts)[:, 0].tolist() == [5, 1, 9, 3, 7, 2, 8]


def test_a_steady_stream_of_queries_cannot_stop_an_ingest() -> None:
    lock = PriorityLock(max_skips=3)
    stop = threading.Event()
    turns: list[str] = []

    def query_loop() -> None:
        while not stop.is_set():
            with lock.hold(urgent=True):
                turns.append("query")
                time.sleep(0.002)

    queries = [threading.Thread(target=query_loop) for _ in range(4)]
    for t in queries:
        t.start()
    time.sleep(0.02)
    done = threading.Event()

    def ingest() -> None:
        for _ in range(5):
            with lock.hold():
                turns.append("ingest")
        done.set()

    threading.Thread(target=ingest).start()
    finished = done.wait(5)
    stop.set()
    for t in queries:
        t.join(5)
    assert finished
    first = turns.index("ingest")
    between = turns[first:]
    # after each ingest turn, at most three queries go before the next one
    gaps = [len(g) for g in "".join("q" if t == "query" else "|" for t in between).split("|")[1:-1]]
    assert gaps and max(gaps) <= 3, gaps
