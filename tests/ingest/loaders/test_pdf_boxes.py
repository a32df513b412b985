"""Line boxes of PDF text: where a known sentence is on the page render, at any DPI, rotation and crop box."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from ingest.chunking import Chunker, TokenSpans
from ingest.loaders.pdf import PdfLoader
from ingest.loaders.text import TextLoader
from rag.records import Hit, Item, Region, Source
from rag.regions import ANCHORS, MAX_ANCHOR_BYTES, hit_regions, narrow

SourceFactory = Callable[[Path], Source]

SENTENCE = "Solar panels lose half a percent of output per year."
FILLER = ["The warranty covers the inverter for ten years.", "Cleaning twice a year keeps the glass clear."]


def write_pdf(path: Path, *, rotation: int = 0, crop: tuple[float, float, float, float] | None = None) -> Path:
    """A 600x800 pt page: filler lines in black, :data:`SENTENCE` alone on its line in red."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(600, 800))
    pdf.set_font("helvetica", size=14)
    pdf.add_page()
    pdf.text(60, 200, FILLER[0])
    pdf.set_text_color(255, 0, 0)
    pdf.text(60, 230, SENTENCE)
    pdf.set_text_color(0, 0, 0)
    pdf.text(60, 260, FILLER[1])
    pdf.output(str(path))
    if rotation or crop:
        doc = pdfium.PdfDocument(path)
        page = doc[0]
        page.set_rotation(rotation)
        if crop:
            page.set_cropbox(*crop)
        page.close()
        doc.save(path.with_suffix(".tmp"))
        doc.close()
        path.with_suffix(".tmp").replace(path)
    return path


def red_box(image: Image.Image) -> tuple[float, float, float, float]:
    """The box of the red ink, in fractions of the image (the sentence's true position on the render)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 110) & (pixels[..., 2] < 110)
    ys, xs = np.nonzero(red)
    assert len(xs) > 20, "no red text on the render"
    width, height = image.size
    return xs.min() / width, ys.min() / height, (xs.max() + 1) / width, (ys.max() + 1) / height


def union(regions: list[Region]) -> tuple[float, float, float, float]:
    return (
        min(r.x0 for r in regions),
        min(r.y0 for r in regions),
        max(r.x1 for r in regions),
        max(r.y1 for r in regions),
    )


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def as_hit(item: Item) -> Hit:
    anchors = [tuple(a) for a in item.extra.get(ANCHORS, ())]
    return Hit(
        id="p",
        rank=1,
        score=1.0,
        modality=item.modality,
        kind=item.kind,
        source_id="s",
        path="doc.pdf",
        mime_type="application/pdf",
        page=item.page,
        text=item.text,
        tenant="default",
        anchors=anchors,
        regions=hit_regions(item.kind, item.page, anchors),
    )


@pytest.fixture
def chunker(minilm_spans: TokenSpans) -> Chunker:
    return Chunker(minilm_spans, 256, 16)


def load(chunker: Chunker, source: Source, dpi: int) -> tuple[Image.Image, list[Item]]:
    items = list(PdfLoader(chunker, render_dpi=dpi, max_pages=5, max_pixels=20_000_000).load(source))
    page = next(i for i in items if i.kind == "page")
    assert page.image is not None
    return page.image, [i for i in items if i.kind == "text"]


def sentence_regions(chunks: list[Item]) -> list[Region]:
    [chunk] = [c for c in chunks if c.text and SENTENCE in c.text]
    assert chunk.text is not None
    start = chunk.text.index(SENTENCE)
    return narrow(as_hit(chunk), [(start, start + len(SENTENCE))]).regions


@pytest.mark.parametrize(
    ("dpi", "rotation", "crop"),
    [(72, 0, None), (200, 0, None), (110, 90, None), (110, 270, (20, 100, 560, 700)), (96, 180, None)],
)
def test_a_known_sentence_is_boxed_where_it_is_rendered(
    chunker: Chunker,
    tmp_path: Path,
    make_source: SourceFactory,
    dpi: int,
    rotation: int,
    crop: tuple[float, float, float, float] | None,
) -> None:
    image, chunks = load(chunker, make_source(write_pdf(tmp_path / "doc.pdf", rotation=rotation, crop=crop)), dpi)
    regions = sentence_regions(chunks)
    assert regions and {r.page for r in regions} == {1}
    assert iou(union(regions), red_box(image)) >= 0.8, (union(regions), red_box(image))


def test_part_of_a_line_is_cut_out_of_its_box(chunker: Chunker, tmp_path: Path, make_source: SourceFactory) -> None:
    """A sentence that shares its line: its box is the part of the line box its characters take."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(600, 800))
    pdf.set_font("courier", size=12)  # fixed width: interpolation along the line is exact
    pdf.add_page()
    pdf.text(50, 100, "First part here. ")
    pdf.set_text_color(255, 0, 0)
    pdf.text(50 + pdf.get_string_width("First part here. "), 100, "Second part there.")
    pdf.output(str(tmp_path / "line.pdf"))
    image, [chunk] = load(chunker, make_source(tmp_path / "line.pdf"), 110)
    assert chunk.text is not None
    start = chunk.text.index("Second")
    regions = narrow(as_hit(chunk), [(start, start + len("Second part there."))]).regions
    assert iou(union(regions), red_box(image)) >= 0.8


def two_columns(path: Path, *, interleaved: bool) -> Path:
    from fpdf import FPDF

    left = [f"Left column line {i} talks about turbines." for i in range(6)]
    right = [f"Right column line {i} talks about batteries." for i in range(6)]
    pdf = FPDF(unit="pt", format=(600, 800))
    pdf.set_font("helvetica", size=10)
    pdf.add_page()
    order = (
        [(x, i, t) for i in range(6) for x, t in ((40, left[i]), (320, right[i]))]
        if interleaved
        else [(40, i, t) for i, t in enumerate(left)] + [(320, i, t) for i, t in enumerate(right)]
    )
    for x, i, text in order:
        pdf.text(x, 100 + 14 * i, text)
    pdf.output(str(path))
    return path


@pytest.mark.parametrize("interleaved", [False, True])
def test_two_columns_stay_apart(
    chunker: Chunker, tmp_path: Path, make_source: SourceFactory, interleaved: bool
) -> None:
    _, chunks = load(chunker, make_source(two_columns(tmp_path / "cols.pdf", interleaved=interleaved)), 110)
    for chunk in chunks:
        assert chunk.text is not None
        hit = as_hit(chunk)
        for side, sentence in (("left", "Left column line 3 talks about turbines."), ("right", "Right column line 3")):
            if sentence not in chunk.text:
                continue
            start = chunk.text.index(sentence)
            regions = narrow(hit, [(start, start + len(sentence))]).regions
            assert regions
            if side == "left":
                assert all(r.x1 < 0.5 for r in regions), regions
            else:
                assert all(r.x0 > 0.5 for r in regions), regions
            assert all(r.y1 - r.y0 < 0.03 for r in regions), "one line each, not the column"


def test_anchors_stay_under_two_kilobytes(tmp_path: Path, make_source: SourceFactory, minilm_spans: TokenSpans) -> None:
    """A dense page cut into large chunks: each chunk's boxes fit the payload budget."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(600, 800))
    pdf.set_font("helvetica", size=6)
    pdf.add_page()
    pdf.multi_cell(0, 7, text="Tiny text about solar panels and wind turbines, repeated many times. " * 300)
    pdf.output(str(tmp_path / "dense.pdf"))
    _, chunks = load(Chunker(minilm_spans, 2000, 0), make_source(tmp_path / "dense.pdf"), 72)
    assert chunks
    for chunk in chunks:
        anchors = chunk.extra[ANCHORS]
        assert len(json.dumps(anchors, separators=(",", ":"))) <= MAX_ANCHOR_BYTES
        regions = as_hit(chunk).regions
        assert regions and all(0 <= r.x0 <= r.x1 <= 1 and 0 <= r.y0 <= r.y1 <= 1 for r in regions)


def test_page_renders_are_the_whole_page_and_text_files_have_no_boxes(
    chunker: Chunker, tmp_path: Path, make_source: SourceFactory
) -> None:
    items = list(
        PdfLoader(chunker, render_dpi=72, max_pages=5, max_pixels=10**7).load(
            make_source(write_pdf(tmp_path / "doc.pdf"))
        )
    )
    [page] = [i for i in items if i.kind == "page"]
    assert as_hit(page).regions == [Region(page=1, x0=0, y0=0, x1=1, y1=1)]
    (tmp_path / "notes.md").write_text("# Notes\n\nSolar panels lose half a percent of output per year.\n")
    [chunk] = list(TextLoader(chunker).load(make_source(tmp_path / "notes.md")))
    assert ANCHORS not in chunk.extra
    assert as_hit(chunk).regions == []
