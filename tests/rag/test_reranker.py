from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rag.config import RerankSettings, Settings
from rag.errors import ModelUnavailableError
from rag.loading import load_reranker
from rag.records import Hit
from rag.reranker import CrossEncoderReranker, sigmoid


def _hit(i: int, kind: str = "text", *, text: str | None = "some text", image_ref: str | None = None) -> Hit:
    modality = {"text": "text", "image": "image", "page": "image"}[kind]
    return Hit(
        id=f"id-{i}", rank=i, score=1 / (60 + i), modality=modality, kind=kind, source_id=f"/s{i}", path=f"/s{i}",
        mime_type="text/plain", text=text, image_ref=image_ref, tenant="default",
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_reranker_model(tiny_models: dict[str, Path]) -> Any:
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(tiny_models["qwen3vl_reranker"]), device="cpu")


class Spy:
    """Wraps a CrossEncoder and records what it was asked to score."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.modalities = model.modalities
        self.calls: list[list[tuple[str, Any]]] = []

    def predict(self, pairs: list[tuple[str, Any]], **kwargs: Any) -> Any:
        self.calls.append(pairs)
        return self.model.predict(pairs, **kwargs)


def _images(refs: dict[str, Image.Image]):
    return lambda ref: refs.get(ref)


def test_candidates_reach_the_model_by_modality_and_scores_are_calibrated(tiny_reranker_model: Any):
    image = Image.new("RGB", (64, 48), "red")
    spy = Spy(tiny_reranker_model)
    reranker = CrossEncoderReranker(
        spy, model_id="tiny", settings=RerankSettings(), load_image=_images({"p.jpg": image})
    )
    hits = [
        _hit(1, "text", text="plain chunk", image_ref="p.jpg"),  # a PDF text chunk: read as text only
        _hit(2, "image", text=None, image_ref="p.jpg"),
        _hit(3, "page", text="page text", image_ref="p.jpg"),
        _hit(4, "text", text="/etc/passwd"),  # a path-like text stays text
    ]
    ranked, info = reranker.rerank("question", hits, top_k=4)
    docs = [doc for _, doc in spy.calls[0]]
    assert docs[0] == {"text": "plain chunk"}
    assert isinstance(docs[1], Image.Image)
    assert docs[2]["text"] == "page text" and isinstance(docs[2]["image"], Image.Image)
    assert docs[3] == {"text": "/etc/passwd"}
    assert info.applied and info.scored == 4 and info.note is None
    assert [h.rank for h in ranked] == [1, 2, 3, 4]
    assert sorted(h.fused_rank for h in ranked) == [1, 2, 3, 4]
    scores = [h.rerank_score for h in ranked]
    assert all(s is not None and 0 < s < 1 for s in scores)
    assert scores == sorted(scores, reverse=True)
    # calibrated = sigmoid(raw logit), which is what CrossEncoder's default activation gives
    raw = tiny_reranker_model.predict([("question", {"text": "plain chunk"})])[0]
    assert next(h for h in ranked if h.id == "id-1").rerank_score == pytest.approx(float(raw), abs=1e-5)


def test_repeated_pairs_come_from_the_cache(tiny_reranker_model: Any):
    spy = Spy(tiny_reranker_model)
    reranker = CrossEncoderReranker(spy, model_id="tiny", settings=RerankSettings(), load_image=_images({}))
    hits = [_hit(i) for i in range(1, 4)]
    first, _ = reranker.rerank("q", hits, top_k=3)
    second, info = reranker.rerank("q", hits, top_k=3)
    assert len(spy.calls) == 1 and info.cache_hits == 3 and info.scored == 3
    assert [h.id for h in first] == [h.id for h in second]
    reranker.rerank("another question", hits, top_k=3)
    assert len(spy.calls) == 2


def test_latency_budget_keeps_fused_order_for_the_rest():
    class Slow:
        modalities = ("text",)

        def __init__(self) -> None:
            self.now = 0.0
            self.batches = 0

        def predict(self, pairs: list[Any], **kwargs: Any) -> list[float]:
            self.batches += 1
            self.now += 0.6  # each batch "takes" 600 ms
            return [float(i) for i in range(len(pairs))]  # later items score higher

    model = Slow()
    settings = RerankSettings(batch_size=2, budget_ms=1000)
    reranker = CrossEncoderReranker(
        model, model_id="slow", settings=settings, load_image=_images({}), clock=lambda: model.now
    )
    hits = [_hit(i) for i in range(1, 7)]
    ranked, info = reranker.rerank("q", hits, top_k=6)
    assert model.batches == 1  # a second batch would end past the budget
    assert info.scored == 2 and "budget" in (info.note or "")
    assert [h.id for h in ranked] == ["id-2", "id-1", "id-3", "id-4", "id-5", "id-6"]
    assert [h.rerank_score is None for h in ranked] == [False, False, True, True, True, True]
    assert ranked[0].rerank_score == pytest.approx(sigmoid(1.0))


def test_unreadable_candidates_keep_fused_order_with_a_note(tiny_reranker_model: Any):
    reranker = CrossEncoderReranker(
        tiny_reranker_model, model_id="t", settings=RerankSettings(), load_image=_images({})
    )
    ranked, info = reranker.rerank("q", [_hit(1, "image", text=None, image_ref="gone.jpg"), _hit(2)], top_k=2)
    assert [h.id for h in ranked] == ["id-2", "id-1"] and ranked[1].rerank_score is None
    assert "could not be read" in (info.note or "")


def test_reranker_settings_select_the_model(tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch):
    from rag import loading

    monkeypatch.setattr(loading, "_hub_reachable", lambda timeout_s=3.0: False)
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-hf-cache")
    path = str(tiny_models["qwen3vl_reranker"])
    settings = Settings(_env_file=None, rerank={"model": {"name": path}})  # type: ignore[call-arg]
    reranker, note = load_reranker(settings, "auto→offline", load_image=_images({}))
    assert isinstance(reranker, CrossEncoderReranker) and note is None and reranker.model_id == path
    off = Settings(_env_file=None, rerank={"model": {"name": "none"}})  # type: ignore[call-arg]
    assert load_reranker(off, "gpu", load_image=_images({}))[0] is None
    none, note = load_reranker(Settings(_env_file=None), "auto→offline", load_image=_images({}))  # type: ignore[call-arg]
    assert none is None and "no reranker in profile offline" in (note or "")
    # the gpu profile's default reranker cannot load here: reranking is off, with the reason
    none, note = load_reranker(Settings(_env_file=None), "gpu", load_image=_images({}))  # type: ignore[call-arg]
    assert none is None and "Qwen/Qwen3-VL-Reranker-2B" in (note or "")
    # an explicitly configured reranker that cannot load is an error naming the setting
    bad = Settings(_env_file=None, rerank={"model": {"name": "/no/such/reranker"}})  # type: ignore[call-arg]
    with pytest.raises(ModelUnavailableError, match="RAG_RERANK__MODEL__NAME"):
        load_reranker(bad, "gpu", load_image=_images({}))
