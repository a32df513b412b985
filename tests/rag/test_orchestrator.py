"""retrieve → rerank → answer, through the RAG facade, with the real MiniLM and the tiny reranker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rag.errors import GenerationError
from rag.orchestrator import NOTHING_RELEVANT
from rag.prompt import _STANDALONE_PROMPT
from rag.records import Answer, Turn
from rag.testing.fakes import FakeGenerator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def reranker(tiny_models: dict[str, Path]) -> Any:
    from rag.config import Settings
    from rag.loading import load_reranker

    def make(**rerank: Any) -> Any:
        settings = Settings(_env_file=None, rerank={"model": {"name": str(tiny_models["qwen3vl_reranker"])}, **rerank})  # type: ignore[call-arg]
        model, _ = load_reranker(settings, "offline", load_image=lambda ref: None)
        return model

    return make


def test_without_llm_the_answer_is_extractive_with_correct_citations(make_ingested_rag):
    rag = make_ingested_rag("minilm", ("docs", "reports"))
    answer = rag.answer("How long is the warranty on the Helios battery?")
    assert answer.outcome == "extractive" and answer.model is None
    assert any("no LLM configured" in n for n in answer.notes)
    top = answer.citation(1).hit
    assert Path(top.path).name == "battery-warranty.md"  # real semantics: MiniLM ranks the right file first
    assert "12-year" in top.text or "12 year" in top.text or "twelve" in top.text.lower()
    assert "[1]" in answer.text and set(answer.cited) <= {s.number for s in answer.sources}
    for source in answer.sources:
        assert source.hit.location in source.label
    # The answer shows the sentence that answers, not the first lines of the passage (a heading, an intro).
    assert "The Helios 400 battery carries a 12-year warranty from the date of installation." in answer.text
    assert re.search(r"12-year warranty from the date of installation\.[^\[\n]*\[1\]", answer.text)  # cited [1]
    assert "#" not in answer.text


def test_without_llm_a_follow_up_does_not_repeat_the_previous_answer(make_ingested_rag):
    rag = make_ingested_rag("minilm", ("docs", "reports"))
    first = rag.answer("How long is the warranty on the Helios battery?")
    history = [Turn(role="user", text=first.question), Turn(role="assistant", text=first.text)]
    follow = rag.answer("What voids it?", history=history)
    assert follow.outcome == "extractive" and follow.text != first.text
    assert "12-year warranty from the date" not in follow.text


@pytest.mark.parametrize(
    "question", ["How long does a male emperor penguin incubate its egg?", "Who won the 1998 football world cup?"]
)
def test_without_a_reranker_off_topic_questions_find_nothing_relevant(make_ingested_rag, question):
    generator = FakeGenerator("should not be called [1]")
    rag = make_ingested_rag("minilm", ("docs", "reports"), generator=generator)
    answer = rag.answer(question)
    assert answer.outcome == "nothing_relevant" and answer.sources == [] and generator.calls == []
    assert any("RAG_RETRIEVAL__RELEVANCE_THRESHOLD" in n for n in answer.notes)
    assert rag.answer("How long is the warranty on the Helios battery?").outcome == "answered"


def test_every_hit_has_a_calibrated_relevance_and_raw_scores(make_rag, tmp_path: Path):
    """Plumbing with the tiny CLIP (random weights: the values mean nothing, their presence and range do)."""
    from PIL import Image

    folder = tmp_path / "colours"
    folder.mkdir()
    for i in range(20):
        Image.new("RGB", (32, 32), (i * 12, 255 - i * 12, (i * 37) % 256)).save(folder / f"c{i:02d}.png")
    rag = make_rag("clip")
    rag.ingest([EXAMPLES / "docs", folder], progress=False)
    for query in ["solar panels on a roof", Image.open(folder / "c03.png")]:
        hits = rag.search(query, limit=40)
        assert {h.modality for h in hits} == ({"text", "image"} if isinstance(query, str) else {"image"})
        for hit in hits:
            assert hit.relevance is not None and 0.0 <= hit.relevance <= 1.0
            assert set(hit.scores) == {hit.modality}  # the raw cosine of the hit's own dense vector


def test_a_vector_with_too_few_points_is_not_gated(make_rag):
    rag = make_rag("clip")
    rag.ingest([EXAMPLES / "images"], progress=False)  # 4 images: no usable null
    hits = rag.search("a wiring diagram", limit=4)
    assert len(hits) == 4 and all(h.relevance is None and h.scores for h in hits)
    assert rag.answer("a wiring diagram").outcome == "extractive"


def test_page_specific_question_cites_the_right_pdf_page(make_ingested_rag):
    rag = make_ingested_rag("minilm", ("docs", "reports"))
    answer = rag.answer("How much did revenue grow in 2025?")
    top = answer.citation(1).hit
    assert (Path(top.path).name, top.page) == ("annual-report-2025.pdf", 3)
    assert top.image_ref and rag.media_file(top.image_ref).is_file()


def test_llm_answer_maps_citation_numbers_to_sources(make_ingested_rag):
    generator = FakeGenerator("The Helios battery has a 12-year warranty [1]. Panels differ [3][9].")
    rag = make_ingested_rag("minilm", ("docs",), generator=generator)
    answer = rag.answer("How long is the warranty on the Helios battery?")
    assert answer.outcome == "answered" and answer.model == "fake/model"
    assert answer.cited == [1, 3]  # [9] is not a source number and is dropped
    assert Path(answer.citation(1).hit.path).name == "battery-warranty.md"
    assert len(generator.calls) == 1


def test_streaming_gives_the_same_answer(make_ingested_rag):
    generator = FakeGenerator("Twelve years [1].")
    rag = make_ingested_rag("minilm", ("docs",), generator=generator)
    question = "How long is the warranty on the Helios battery?"
    items = list(rag.answer_stream(question))
    *pieces, final = items
    assert all(isinstance(p, str) for p in pieces) and len(pieces) > 1
    assert isinstance(final, Answer) and "".join(pieces) == final.text == "Twelve years [1]."
    whole = rag.answer(question)
    assert whole.text == final.text and whole.cited == final.cited == [1]
    assert [s.hit.id for s in whole.sources] == [s.hit.id for s in final.sources]


def test_reranked_hits_carry_both_ranks_and_calibrated_scores(make_ingested_rag, reranker):
    rerank = {"candidates": 8, "top_k": 4, "threshold": 0.0}
    rag = make_ingested_rag("minilm", ("docs",), reranker=reranker(**rerank), rerank=rerank)
    retrieved = rag.retrieve("How often should the solar panels be cleaned?")
    assert retrieved.rerank.applied and retrieved.rerank.candidates == 8 and retrieved.rerank.scored == 8
    assert [h.rank for h in retrieved.hits] == [1, 2, 3, 4]
    assert all(h.fused_rank is not None and 0 <= (h.rerank_score or -1) <= 1 for h in retrieved.hits)


def test_nothing_relevant_outcome_does_not_ask_the_model(make_ingested_rag, reranker):
    generator = FakeGenerator("should not be called [1]")
    rag = make_ingested_rag("minilm", ("docs",), reranker=reranker(), generator=generator, rerank={"threshold": 0.99})
    answer = rag.answer("What is the airspeed velocity of an unladen swallow?")
    assert answer.outcome == "nothing_relevant" and answer.text == NOTHING_RELEVANT
    assert answer.sources == [] and generator.calls == []
    assert "threshold" in answer.notes[0]
    streamed = list(rag.answer_stream("What is the airspeed velocity of an unladen swallow?"))
    assert streamed[0] == NOTHING_RELEVANT and streamed[-1].outcome == "nothing_relevant"


@pytest.mark.integration  # litellm against a local OpenAI-compatible server
def test_answer_through_litellm_against_a_local_server_sends_page_images(make_ingested_rag):
    import base64
    import io

    from PIL import Image as PILImage

    from rag.config import GenerationSettings
    from rag.generator import LiteLLMGenerator
    from rag.testing.openai_stub import OpenAIStub

    with OpenAIStub(reply="Revenue grew 18% [1].") as stub:
        generation = {"model": "openai/test-model", "api_base": stub.base_url, "api_key": "sk-test"}
        generator = LiteLLMGenerator(GenerationSettings(**generation))
        rag = make_ingested_rag("minilm", ("reports",), generator=generator, generation=generation)
        answer = rag.answer("How much did revenue grow in 2025?")
        request = stub.last_request
    assert answer.outcome == "answered" and answer.cited == [1]
    cited = answer.citation(1).hit
    assert (Path(cited.path).name, cited.page) == ("annual-report-2025.pdf", 3)
    parts = request["messages"][1]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert urls, "the page renders travel as image parts"
    image = PILImage.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1])))
    assert image.format == "JPEG" and max(image.size) <= rag.settings.generation.image_max_side


# -- follow-up questions (chat history) ------------------------------------------------------------

HISTORY = [
    Turn(role="user", text="How long is the warranty on the Helios battery?"),
    Turn(role="assistant", text="The Helios 400 has a twelve-year warranty [1][2]."),
]


class RewritingGenerator(FakeGenerator):
    """Answers the standalone-query request with ``rewrite`` (or fails it), everything else with ``text``."""

    def __init__(self, text: str, rewrite: str | None) -> None:
        super().__init__(text)
        self.rewrite = rewrite

    def complete(self, messages: list[dict[str, Any]]) -> str:
        if messages[0]["content"] == _STANDALONE_PROMPT:
            self.calls.append(messages)
            if self.rewrite is None:
                raise GenerationError("upstream model unavailable (503)")
            return self.rewrite
        return super().complete(messages)


def test_without_llm_a_follow_up_is_searched_with_the_previous_question(make_ingested_rag):
    rag = make_ingested_rag("minilm", ("docs", "reports"))
    alone = rag.answer("What voids it?")
    assert not any("follow-up" in n for n in alone.notes)
    answer = rag.answer("What voids it?", history=HISTORY)
    assert answer.question == "What voids it?"
    assert any("searched together with the previous question" in n for n in answer.notes)
    assert Path(answer.citation(1).hit.path).name == "battery-warranty.md"


def test_a_follow_up_is_rewritten_then_answered_with_the_conversation(make_ingested_rag):
    generator = RewritingGenerator("Flooding and fire void it [1].", "What voids the Helios battery warranty?")
    rag = make_ingested_rag("minilm", ("docs", "reports"), generator=generator)
    results = [
        rag.answer("What voids it?", history=HISTORY),
        list(rag.answer_stream("What voids it?", history=HISTORY))[-1],
    ]
    for answer in results:
        assert answer.outcome == "answered" and answer.cited == [1]
        assert "follow-up searched as: What voids the Helios battery warranty?" in answer.notes
        assert Path(answer.citation(1).hit.path).name == "battery-warranty.md"
    rewrite, final = generator.calls[0], generator.calls[1]
    assert "How long is the warranty on the Helios battery?" in rewrite[1]["content"]
    assert "Last message: What voids it?" in rewrite[1]["content"]
    # The answer request: system prompt, the earlier turns (old citation numbers removed), then the sources.
    assert [m["role"] for m in final] == ["system", "user", "assistant", "user"]
    assert final[2]["content"] == "The Helios 400 has a twelve-year warranty ."
    assert "Question: What voids it?" in final[-1]["content"][-1]["text"]


def test_a_failed_rewrite_falls_back_to_searching_with_the_previous_question(make_ingested_rag):
    generator = RewritingGenerator("Flooding and fire void it [1].", None)
    rag = make_ingested_rag("minilm", ("docs",), generator=generator)
    answer = rag.answer("What voids it?", history=HISTORY)
    assert answer.outcome == "answered"
    assert any("could not rewrite it" in n and "503" in n for n in answer.notes)
    assert Path(answer.citation(1).hit.path).name == "battery-warranty.md"


def test_history_can_be_turned_off(make_ingested_rag):
    generator = RewritingGenerator("Twelve years [1].", "unused")
    rag = make_ingested_rag("minilm", ("docs",), generator=generator, generation={"history_turns": 0})
    answer = rag.answer("How long is the warranty on the Helios battery?", history=HISTORY)
    assert len(generator.calls) == 1 and [m["role"] for m in generator.calls[0]] == ["system", "user"]
    assert not any("follow-up" in n for n in answer.notes)


def test_an_empty_rewrite_falls_back_too(make_ingested_rag):
    generator = RewritingGenerator("Flooding and fire void it [1].", '  ""  ')
    rag = make_ingested_rag("minilm", ("docs",), generator=generator)
    answer = rag.answer("What voids it?", history=HISTORY)
    assert any("rewrite was empty or too long" in n for n in answer.notes)
    assert Path(answer.citation(1).hit.path).name == "battery-warranty.md"


def test_the_orchestrator_gets_the_reason_there_is_no_reranker_from_loading_it(make_settings, loaded_models):
    """Not by finding the word in the facade's notes: other notes may mention reranking too."""
    from rag.engine import RAG

    rag = RAG(make_settings("minilm"), models=loaded_models("minilm"), generator=None, speech=None)
    rag.notes.append("a note that mentions reranking and is not about the reranker")
    try:
        rag.warm_up()
        note = rag._orchestrator.rerank_note
    finally:
        rag.close()
    assert note is not None and note.startswith("no reranker in profile offline")


def test_adjacent_chunks_are_found_by_their_ids_and_quoted_with_their_own_citation(make_rag, tmp_path: Path):
    """Each text hit's chunks before and after (same source, same version) come back with the hit they adjoin;
    a hit's own neighbours among the hits are not repeated; an extractive answer quoting one cites it apart."""
    paragraphs = [
        "The Heron pump moves rain water from the tank to the garden beds every morning.",
        "Its impeller seal must be replaced every eighteen months, or sooner when it drips.",
        "The tank holds four thousand litres and has an overflow pipe to the street drain.",
        "Gutters should be cleared of leaves each autumn so the tank keeps filling.",
    ]
    (tmp_path / "pump.md").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    rag = make_rag("minilm", data_dir=tmp_path / "data", chunking={"tokens": 24, "overlap": 0})
    assert rag.ingest([tmp_path / "pump.md"], progress=False).ok
    retriever, _ = rag.search_roles()
    hits = retriever.search("the tank's overflow pipe to the street drain", tenant="default", limit=4)
    by_locator = {h.locator: h for h in hits}
    assert sorted(by_locator) == ["chunk-0", "chunk-1", "chunk-2", "chunk-3"]
    middle = by_locator["chunk-2"]
    found = retriever.adjacent([middle])
    assert sorted((h.locator, h.context_of) for h in found) == [("chunk-1", middle.id), ("chunk-3", middle.id)]
    assert all(h.rank == middle.rank and h.relevance == middle.relevance for h in found)
    assert "impeller seal" in next(h.text for h in found if h.locator == "chunk-1")
    assert retriever.adjacent([by_locator["chunk-0"], by_locator["chunk-1"]]) == [
        h for h in retriever.adjacent([by_locator["chunk-1"]]) if h.locator == "chunk-2"
    ]
    # The answer step asks for them and cites a quoted one after the retrieved sources.
    said = "The overflow pipe of the rain water tank drains into the street drain."

    def adjacent(hits: list[Any]) -> list[Any]:
        return [hits[0].model_copy(update={"id": "next-to-first", "text": said, "context_of": hits[0].id})]

    retriever.adjacent = adjacent  # type: ignore[method-assign]
    answer = rag.answer("Where does the overflow pipe of the rain water tank drain?")
    assert answer.outcome == "extractive"
    last = answer.sources[-1]
    assert last.hit.id == "next-to-first" and f"{said} [{last.number}]" in answer.text
    assert last.number in answer.cited and last.number == len(answer.sources)
