"""Narrowing a cited source's regions (and times) to the sentences the answer relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.records import Anchor, Answer, Citation, Hit, Region
from rag.regions import chunk_anchors, ground, hit_regions, narrow, sentence_spans, time_anchors
from rag.testing.fakes import FakeGenerator

LINES = [
    "The Helios battery stores thirteen kilowatt hours.",
    "Its warranty lasts twelve years from installation.",
    "The inverter is covered for five years only.",
]
TEXT = " ".join(LINES)


def line_anchors() -> list[Anchor]:
    """One line per sentence, 0.1 page apart."""
    out: list[Anchor] = []
    position = 0
    for i, line in enumerate(LINES):
        out.append((position, position + len(line) + 1, 0.1, 0.2 + 0.1 * i, 0.9, 0.23 + 0.1 * i))
        position += len(line) + 1
    return out


def hit(text: str = TEXT, anchors: list[Anchor] | None = None, **fields: Any) -> Hit:
    anchors = line_anchors() if anchors is None else anchors
    values: dict[str, Any] = {
        "id": "h",
        "rank": 1,
        "score": 1.0,
        "modality": "text",
        "kind": "text",
        "source_id": "s",
        "path": "doc.pdf",
        "mime_type": "application/pdf",
        "page": 2,
        "text": text,
        "tenant": "default",
        "anchors": anchors,
        "regions": hit_regions("text", 2, anchors),
        **fields,
    }
    return Hit(**values)


def answer(text: str, *hits: Hit, cited: list[int] | None = None) -> Answer:
    sources = [Citation(number=i, hit=h) for i, h in enumerate(hits, start=1)]
    return Answer(
        question="q",
        text=text,
        outcome="answered",
        sources=sources,
        cited=cited or list(range(1, len(hits) + 1)),
    )


def test_sentence_spans_cover_each_sentence() -> None:
    assert [TEXT[s:e] for s, e in sentence_spans(TEXT)] == LINES


def test_a_paraphrase_narrows_to_the_sentence_it_restates() -> None:
    grounded = ground(answer("The battery's warranty runs for twelve years [1].", hit()))
    regions = grounded.sources[0].hit.regions
    assert len(regions) == 1 and regions[0].page == 2
    assert abs(regions[0].y0 - 0.3) < 1e-6  # the second line
    assert len(hit().regions) == 3  # un-narrowed: every line of the chunk


def test_each_citation_narrows_its_own_source() -> None:
    other = hit(page=5)
    text = "It stores thirteen kilowatt hours [1]. The inverter has five years of cover [2]."
    grounded = ground(answer(text, hit(), other))
    first, second = (c.hit.regions for c in grounded.sources)
    assert [round(r.y0, 2) for r in first] == [0.2]
    assert [round(r.y0, 2) for r in second] == [0.4] and second[0].page == 5


def test_the_extractive_answer_narrows_to_the_quoted_sentences() -> None:
    text = f"{LINES[0]} {LINES[2]} [1]"
    grounded = ground(answer(text, hit()))
    assert [round(r.y0, 2) for r in grounded.sources[0].hit.regions] == [0.2, 0.4]


def test_no_match_keeps_every_region_and_uncited_sources_are_untouched() -> None:
    grounded = ground(answer("Solar panels face south [1].", hit(), hit(), cited=[1]))
    assert grounded.sources[0].hit.regions == hit().regions
    assert grounded.sources[1].hit == hit()


def test_part_of_a_line_is_interpolated_along_it() -> None:
    anchors: list[Anchor] = [(0, 100, 0.1, 0.5, 0.9, 0.52)]
    regions = narrow(hit("x" * 100, anchors), [(50, 100)]).regions
    assert regions == [Region(page=2, x0=0.5, y0=0.5, x1=0.9, y1=0.52)]
    # A page turned by 90°: the line runs down the render, its first corner at the top right.
    turned: list[Anchor] = [(0, 100, 0.52, 0.1, 0.5, 0.9)]
    regions = narrow(hit("x" * 100, turned), [(0, 50)]).regions
    assert regions == [Region(page=2, x0=0.5, y0=0.1, x1=0.52, y1=0.5)]


def test_chunk_anchors_are_relative_and_merge_to_fit() -> None:
    lines = line_anchors()
    start = len(LINES[0]) + 1
    assert chunk_anchors(lines, start, len(TEXT))[0][:2] == (0, len(LINES[1]) + 1)
    many: list[Anchor] = [(i * 10, i * 10 + 10, 0.1, i / 200, 0.9, i / 200 + 0.004) for i in range(150)]
    merged = chunk_anchors(many, 0, 1500, max_bytes=600)
    assert 1 < len(merged) < 150 and merged[0][0] == 0 and merged[-1][1] == 1500


def test_subtitle_lines_narrow_the_time_range() -> None:
    cues = [("Welcome to the tour.", 10.0, 12.5), ("The battery sits in the garage.", 12.5, 16.0)]
    text = " ".join(c[0] for c in cues)
    video = hit(text, time_anchors(cues), modality="text", kind="text", page=None, start_s=10.0, end_s=20.0, regions=[])
    grounded = ground(answer("The battery is in the garage [1].", video))
    narrowed = grounded.sources[0].hit
    assert (narrowed.start_s, narrowed.end_s) == (12.5, 16.0) and narrowed.regions == []


# -- end to end ----------------------------------------------------------------------------------


def write_pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(600, 800))
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    for i, line in enumerate(LINES):
        pdf.text(60, 200 + 40 * i, line)
    pdf.output(str(path))
    return path


def test_answers_cite_the_lines_of_a_pdf_they_rely_on(make_rag: Any, tmp_path: Path) -> None:
    generator = FakeGenerator("The warranty lasts twelve years [1].")
    rag = make_rag("minilm", generator=generator)
    rag.ingest([write_pdf(tmp_path / "helios.pdf")], progress=False)
    [hit_] = [h for h in rag.search("warranty years", limit=5) if h.kind == "text"]
    assert len(hit_.regions) == 3  # the chunk's three lines
    cited = rag.answer("How long is the warranty?").citation(1).hit
    [region] = cited.regions
    assert region.page == 1 and 200 / 800 + 0.02 < region.y1 < 240 / 800 + 0.02  # the second line
    assert Hit.model_validate_json(cited.model_dump_json()).regions == [region]  # --json carries them


def test_the_extractive_answer_cites_the_lines_it_quotes(make_rag: Any, tmp_path: Path) -> None:
    rag = make_rag("minilm")
    rag.ingest([write_pdf(tmp_path / "helios.pdf")], progress=False)
    result = rag.answer("How many kilowatt hours does the Helios battery store?")
    assert result.outcome == "extractive"
    source = next(c for c in result.sources if c.hit.kind == "text")
    quoted = [line for line in LINES if line in result.text]
    assert quoted and len(source.hit.regions) == len(quoted) < 3
